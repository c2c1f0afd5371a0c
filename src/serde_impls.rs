//! serde support (cargo feature `serde`): a map serializes as a map.

use std::fmt;
use std::hash::{BuildHasher, Hash};
use std::marker::PhantomData;

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, Serializer};

use crate::map::HashMap;

impl<K, V, S> Serialize for HashMap<K, V, S>
where
    K: Hash + Eq + Serialize,
    V: Serialize,
    S: BuildHasher,
{
    /// Serializes the entries an iteration yields (see the iteration
    /// guarantee: concurrent writes may or may not be included).
    fn serialize<Ser: Serializer>(&self, serializer: Ser) -> Result<Ser::Ok, Ser::Error> {
        let m = self.pin();
        let mut out = serializer.serialize_map(None)?;
        for (k, v) in m.iter() {
            out.serialize_entry(k, v)?;
        }
        out.end()
    }
}

impl<'de, K, V, S> Deserialize<'de> for HashMap<K, V, S>
where
    K: Hash + Eq + Deserialize<'de>,
    V: Deserialize<'de>,
    S: BuildHasher + Default,
{
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(MapVisitor(PhantomData))
    }
}

/// Builds the map; `fn() -> T` keeps the visitor `Send`/`Sync` and free of
/// drop-check obligations whatever `T` is.
type Builds<T> = PhantomData<fn() -> T>;

struct MapVisitor<K, V, S>(Builds<HashMap<K, V, S>>);

impl<'de, K, V, S> Visitor<'de> for MapVisitor<K, V, S>
where
    K: Hash + Eq + Deserialize<'de>,
    V: Deserialize<'de>,
    S: BuildHasher + Default,
{
    type Value = HashMap<K, V, S>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a map")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Self::Value, A::Error> {
        // Cap the hint: it comes from the input, which may lie.
        let hint = access.size_hint().unwrap_or(0).min(1 << 16);
        let map = HashMap::with_capacity_and_hasher(hint, S::default());
        {
            let m = map.pin();
            while let Some((k, v)) = access.next_entry()? {
                m.insert(k, v);
            }
        }
        Ok(map)
    }
}
