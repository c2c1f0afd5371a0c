//! serde support (cargo feature `serde`): a map serializes as a map, a set
//! as a sequence; [`WordMap`] and [`WordSet`] as their keys' and values'
//! own types, exactly like [`HashMap`] and [`HashSet`], so each reads its
//! sibling's output (`HashMap` and `WordMap`, `HashSet` and `WordSet`).
//!
//! Output states its length up front, as formats without delimiters need
//! (bincode, postcard): a container that other threads write to cannot
//! know the count its iteration will yield, so it is serialized from a
//! snapshot taken by one iteration (references to the entries under one
//! pin for the generic containers, copies for the word ones), which then
//! gives the exact count. The snapshot is one pointer pair (or one key and
//! value) per entry, for the duration of the call. The generic
//! containers' pin lasts the whole call, writes to the serializer's
//! output included; with the default backend a pin holds back the freeing
//! of what every map in the process removes meanwhile, so serialize one
//! into a buffer, not into a writer that can block (a socket). (The word
//! containers unpin before they write. `Debug` output, `{:?}`, is the
//! same: one pin for the whole write.)
//!
//! Deserializing inserts each element under a pin of its own: the input is
//! read between elements, which may take long (a socket), and a pin held
//! meanwhile would hold back the freeing of what every map removes.

use std::fmt;
use std::hash::{BuildHasher, Hash};
use std::marker::PhantomData;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};

use crate::map::HashMap;
use crate::raw::table::Table;
use crate::resize::Generation;
use crate::set::HashSet;
use crate::word::table::WordTable;
use crate::word::WordSized;
use crate::{WordMap, WordSet};

impl<K, V, S> Serialize for HashMap<K, V, S>
where
    K: Hash + Eq + Serialize,
    V: Serialize,
    S: BuildHasher,
{
    /// Serializes the entries an iteration yields (see the iteration
    /// guarantee: concurrent writes may or may not be included).
    ///
    /// ```
    /// let map: lfmap::HashMap<String, u32> = [("a".to_string(), 1)].into_iter().collect();
    /// assert_eq!(serde_json::to_string(&map).unwrap(), r#"{"a":1}"#);
    /// ```
    fn serialize<Ser: Serializer>(&self, serializer: Ser) -> Result<Ser::Ok, Ser::Error> {
        let m = self.pin();
        let entries: Vec<(&K, &V)> = m.iter().collect();
        let done = (|| {
            let mut out = serializer.serialize_map(Some(entries.len()))?;
            for &(k, v) in &entries {
                out.serialize_entry(k, v)?;
            }
            out.end()
        })();
        // The pin goes before the result is returned: its drop may free a
        // value whose `Drop` panics, and a result still in the call would
        // then leak (crate docs, "Bad input").
        drop(entries);
        drop(m);
        done
    }
}

impl<'de, K, V, S> Deserialize<'de> for HashMap<K, V, S>
where
    K: Hash + Eq + Deserialize<'de>,
    V: Deserialize<'de>,
    S: BuildHasher + Default,
{
    /// Reads a map; of repeated keys the last pair stays, as with
    /// `insert`.
    ///
    /// ```
    /// let map: lfmap::HashMap<String, u32> =
    ///     serde_json::from_str(r#"{"a":1,"b":2,"a":3}"#).unwrap();
    /// assert_eq!(map.len(), 2);
    /// assert_eq!(map.pin().get("a"), Some(&3));
    /// ```
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(MapVisitor(PhantomData))
    }
}

/// Builds the map; `fn() -> T` keeps the visitor `Send`/`Sync` and free of
/// drop-check obligations whatever `T` is.
type Builds<T> = PhantomData<fn() -> T>;

/// Table memory a container being deserialized may take before it has
/// read an element, on the input's claim alone: 1 MiB, as serde caps its
/// own containers' preallocation.
const PREALLOC_BYTES: usize = 1 << 20;

/// How many elements a container being deserialized makes room for before
/// reading them, given the input's claim `hint` and `slot_bytes`, the size
/// of a slot of its table. The claim may lie and costs the input nothing
/// (bincode passes any length through, a zero-sized element takes no byte,
/// and repeated keys claim room they never fill), so the room is at most:
///
/// * as many keys as the key type `K` has distinct values: one for a
///   zero-sized type, `2^(8·n)` for one of `n < 8` bytes (more elements
///   than that repeat keys);
/// * [`PREALLOC_BYTES`] of table at the half load a reserved table has
///   (`policy::try_slots_for_capacity`).
///
/// Elements past the room grow the map as inserts do. (An untrusted
/// 8-byte bincode input claiming 65,536 `()` elements took 2 MiB of
/// `WordSet` table for one element before; 1,000 of them in a `Vec`, 2 GB
/// from 8 KB of input.)
fn room<K>(hint: Option<usize>, slot_bytes: usize) -> usize {
    let size = std::mem::size_of::<K>();
    let distinct = if size < std::mem::size_of::<usize>() {
        1usize << (8 * size)
    } else {
        usize::MAX
    };
    let budget = PREALLOC_BYTES / (2 * slot_bytes.max(1));
    hint.unwrap_or(0).min(distinct).min(budget)
}

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
        let hint = room::<K>(access.size_hint(), <Table<K, V> as Generation>::SLOT_BYTES);
        let map = HashMap::with_hasher(S::default());
        // Room as `extend` makes it: no floor, so the map shrinks as usual
        // once emptied.
        map.pin().room_for_extend((hint, Some(hint)));
        // A pin per entry, not across the reads (module docs).
        while let Some((k, v)) = access.next_entry()? {
            map.pin().insert(k, v);
        }
        Ok(map)
    }
}

impl<T, S> Serialize for HashSet<T, S>
where
    T: Hash + Eq + Serialize,
    S: BuildHasher,
{
    /// Serializes the elements an iteration yields, as a sequence (see the
    /// iteration guarantee: concurrent writes may or may not be included).
    ///
    /// ```
    /// let set: lfmap::HashSet<u8> = [7].into_iter().collect();
    /// assert_eq!(serde_json::to_string(&set).unwrap(), "[7]");
    /// ```
    fn serialize<Ser: Serializer>(&self, serializer: Ser) -> Result<Ser::Ok, Ser::Error> {
        let s = self.pin();
        let elements: Vec<&T> = s.iter().collect();
        let done = (|| {
            let mut out = serializer.serialize_seq(Some(elements.len()))?;
            for &x in &elements {
                out.serialize_element(x)?;
            }
            out.end()
        })();
        // The pin goes first, as `HashMap`'s.
        drop(elements);
        drop(s);
        done
    }
}

impl<'de, T, S> Deserialize<'de> for HashSet<T, S>
where
    T: Hash + Eq + Deserialize<'de>,
    S: BuildHasher + Default,
{
    /// Deserializes a sequence; repeated elements are kept once.
    ///
    /// ```
    /// let set: lfmap::HashSet<u8> = serde_json::from_str("[1, 2, 2]").unwrap();
    /// assert_eq!(set.len(), 2);
    /// ```
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_seq(SetVisitor(PhantomData))
    }
}

struct SetVisitor<T, S>(Builds<HashSet<T, S>>);

impl<'de, T, S> Visitor<'de> for SetVisitor<T, S>
where
    T: Hash + Eq + Deserialize<'de>,
    S: BuildHasher + Default,
{
    type Value = HashSet<T, S>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a sequence")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut access: A) -> Result<Self::Value, A::Error> {
        let hint = room::<T>(access.size_hint(), <Table<T, ()> as Generation>::SLOT_BYTES);
        let set = HashSet::with_hasher(S::default());
        // Room as `extend` makes it (no floor).
        set.pin().room_for_extend((hint, Some(hint)));
        // A pin per element, not across the reads (module docs).
        while let Some(x) = access.next_element()? {
            set.pin().insert(x);
        }
        Ok(set)
    }
}

impl<K, V, S> Serialize for WordMap<K, V, S>
where
    K: WordSized + Serialize,
    V: WordSized + Serialize,
    S: BuildHasher,
{
    /// Serializes the pairs an iteration yields, as a map (see the
    /// iteration guarantee: concurrent writes may or may not be included).
    ///
    /// ```
    /// let map: lfmap::WordMap<u32, i64> = [(7, -1)].into_iter().collect();
    /// assert_eq!(serde_json::to_string(&map).unwrap(), r#"{"7":-1}"#);
    /// ```
    fn serialize<Ser: Serializer>(&self, serializer: Ser) -> Result<Ser::Ok, Ser::Error> {
        let pairs: Vec<(K, V)> = self.iter().collect();
        let mut out = serializer.serialize_map(Some(pairs.len()))?;
        for (k, v) in &pairs {
            out.serialize_entry(k, v)?;
        }
        out.end()
    }
}

impl<'de, K, V, S> Deserialize<'de> for WordMap<K, V, S>
where
    K: WordSized + Deserialize<'de>,
    V: WordSized + Deserialize<'de>,
    S: BuildHasher + Default,
{
    /// Deserializes a map; of a repeated key, the last value is kept.
    ///
    /// ```
    /// let map: lfmap::WordMap<u32, i64> = serde_json::from_str(r#"{"1": 5, "1": 6}"#).unwrap();
    /// assert_eq!((map.len(), map.get(&1)), (1, Some(6)));
    /// ```
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(WordMapVisitor(PhantomData))
    }
}

struct WordMapVisitor<K, V, S>(Builds<WordMap<K, V, S>>);

impl<'de, K, V, S> Visitor<'de> for WordMapVisitor<K, V, S>
where
    K: WordSized + Deserialize<'de>,
    V: WordSized + Deserialize<'de>,
    S: BuildHasher + Default,
{
    type Value = WordMap<K, V, S>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a map")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Self::Value, A::Error> {
        let hint = room::<K>(access.size_hint(), WordTable::SLOT_BYTES);
        let map = WordMap::with_hasher(S::default());
        map.room_for_extend((hint, Some(hint)));
        while let Some((k, v)) = access.next_entry()? {
            map.insert(k, v);
        }
        Ok(map)
    }
}

impl<T, S> Serialize for WordSet<T, S>
where
    T: WordSized + Serialize,
    S: BuildHasher,
{
    /// Serializes the elements an iteration yields, as a sequence (see the
    /// iteration guarantee: concurrent writes may or may not be included).
    ///
    /// ```
    /// let set: lfmap::WordSet<char> = ['x'].into_iter().collect();
    /// assert_eq!(serde_json::to_string(&set).unwrap(), r#"["x"]"#);
    /// ```
    fn serialize<Ser: Serializer>(&self, serializer: Ser) -> Result<Ser::Ok, Ser::Error> {
        let elements: Vec<T> = self.iter().collect();
        let mut out = serializer.serialize_seq(Some(elements.len()))?;
        for x in &elements {
            out.serialize_element(x)?;
        }
        out.end()
    }
}

impl<'de, T, S> Deserialize<'de> for WordSet<T, S>
where
    T: WordSized + Deserialize<'de>,
    S: BuildHasher + Default,
{
    /// Deserializes a sequence; repeated elements are kept once.
    ///
    /// ```
    /// let set: lfmap::WordSet<u8> = serde_json::from_str("[1, 2, 2]").unwrap();
    /// assert_eq!(set.len(), 2);
    /// ```
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_seq(WordSetVisitor(PhantomData))
    }
}

struct WordSetVisitor<T, S>(Builds<WordSet<T, S>>);

impl<'de, T, S> Visitor<'de> for WordSetVisitor<T, S>
where
    T: WordSized + Deserialize<'de>,
    S: BuildHasher + Default,
{
    type Value = WordSet<T, S>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a sequence")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut access: A) -> Result<Self::Value, A::Error> {
        let hint = room::<T>(access.size_hint(), WordTable::SLOT_BYTES);
        let set = WordSet::with_hasher(S::default());
        set.room_for_extend((hint, Some(hint)));
        while let Some(x) = access.next_element()? {
            set.insert(x);
        }
        Ok(set)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::de::value::{Error, MapDeserializer, SeqDeserializer};

    /// Yields `items` while claiming `claim` elements: an input's length
    /// prefix that lies.
    struct Claims<I> {
        items: I,
        claim: usize,
    }

    impl<I: Iterator> Iterator for Claims<I> {
        type Item = I::Item;
        fn next(&mut self) -> Option<I::Item> {
            self.items.next()
        }
        fn size_hint(&self) -> (usize, Option<usize>) {
            (self.claim, Some(self.claim))
        }
    }

    fn claims<I: IntoIterator>(items: I, claim: usize) -> Claims<I::IntoIter> {
        Claims {
            items: items.into_iter(),
            claim,
        }
    }

    #[test]
    fn the_room_is_what_the_key_type_and_a_mebibyte_allow() {
        assert_eq!(room::<()>(Some(1 << 40), 16), 1);
        assert_eq!(room::<u8>(Some(1 << 40), 16), 256);
        assert_eq!(room::<u16>(Some(1 << 40), 16), 1 << 15);
        assert_eq!(room::<u64>(Some(1 << 40), 16), 1 << 15);
        assert_eq!(room::<u64>(Some(1 << 40), 8), 1 << 16);
        assert_eq!(room::<String>(Some(1_000), 8), 1_000);
        assert_eq!(room::<String>(None, 8), 0);
    }

    #[test]
    fn a_claim_of_zero_sized_elements_takes_no_table() {
        let set: WordSet<()> =
            WordSet::deserialize(SeqDeserializer::<_, Error>::new(claims([()], 1 << 40))).unwrap();
        assert_eq!(set.len(), 1);
        assert!(set.capacity() < 100, "capacity {}", set.capacity());
        let set: HashSet<()> =
            HashSet::deserialize(SeqDeserializer::<_, Error>::new(claims([()], 1 << 40))).unwrap();
        assert_eq!(set.len(), 1);
        assert!(set.capacity() < 100, "capacity {}", set.capacity());
    }

    #[test]
    fn a_false_claim_takes_at_most_a_mebibyte_of_table() {
        let map: WordMap<u64, u64> = WordMap::deserialize(MapDeserializer::<_, Error>::new(
            claims([(1u64, 2u64)], 1 << 40),
        ))
        .unwrap();
        assert_eq!(map.get(&1), Some(2));
        // 16-byte units at 3/4 of a table of at most 1 MiB.
        assert!(
            map.capacity() <= (1 << 20) / 16 / 4 * 3,
            "capacity {}",
            map.capacity()
        );
        let map: HashMap<u64, u64> = HashMap::deserialize(MapDeserializer::<_, Error>::new(
            claims([(1u64, 2u64)], 1 << 40),
        ))
        .unwrap();
        assert_eq!(map.pin().get(&1), Some(&2));
        let slot = std::mem::size_of::<usize>();
        assert!(
            map.capacity() <= (1 << 20) / slot / 4 * 3,
            "capacity {}",
            map.capacity()
        );
    }

    #[test]
    fn a_true_claim_still_makes_room() {
        let n = 10_000u64;
        let map: WordMap<u64, u64> = WordMap::deserialize(MapDeserializer::<_, Error>::new(
            claims((0..n).map(|i| (i, i)), n as usize),
        ))
        .unwrap();
        assert_eq!(map.len() as u64, n);
        // Made room once, up front: a single resize.
        assert_eq!(map.stats().resizes, 1, "{:?}", map.stats());
    }
}
