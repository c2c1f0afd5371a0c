//! The optional features: rayon and serde.

mod common;

#[cfg(feature = "rayon")]
mod rayon_support {
    use lfmap::HashMap;
    use rayon::prelude::*;

    /// Keys 0 to 9,999 (present throughout a walk) were each yielded
    /// exactly once among `yielded`.
    fn assert_each_stable_key_once(yielded: Vec<u64>) {
        let mut stable: Vec<u64> = yielded.into_iter().filter(|&k| k < 10_000).collect();
        let len = stable.len();
        stable.sort_unstable();
        stable.dedup();
        assert_eq!(stable.len(), len, "a key was yielded twice");
        assert_eq!(len, 10_000, "stable keys missed");
    }

    /// A million keys, or a tenth of them in a debug build.
    fn million_or_less() -> u64 {
        if cfg!(debug_assertions) {
            100_000
        } else {
            1_000_000
        }
    }

    #[test]
    fn par_iter_equals_sequential_on_a_million_keys() {
        let n = million_or_less();
        let map: HashMap<u64, u64> = (0..n).into_par_iter().map(|i| (i, i * 7)).collect();
        assert_eq!(map.len(), n as usize);
        let m = map.pin();
        let mut par: Vec<(u64, u64)> = m.par_iter().map(|(k, v)| (*k, *v)).collect();
        let mut seq: Vec<(u64, u64)> = m.iter().map(|(k, v)| (*k, *v)).collect();
        par.sort_unstable();
        seq.sort_unstable();
        assert_eq!(par.len(), n as usize);
        assert_eq!(par, seq);
        assert_eq!(par, (0..n).map(|i| (i, i * 7)).collect::<Vec<_>>());
    }

    /// An indexed parallel iterator's length is known: `par_extend` makes
    /// room for it first, as `extend` does (one resize, not a dozen).
    #[test]
    fn par_extend_makes_room_first() {
        let map: HashMap<u64, u64> = HashMap::new();
        (&map).par_extend((0..100_000u64).into_par_iter().map(|i| (i, i)));
        assert_eq!((map.len(), map.stats().resizes), (100_000, 1));
        let set: lfmap::HashSet<u64> = lfmap::HashSet::new();
        (&set).par_extend((0..100_000u64).into_par_iter());
        assert_eq!((set.len(), set.stats().resizes), (100_000, 1));
    }

    #[test]
    fn par_extend_and_par_iter_while_writers_grow_the_map() {
        let map: HashMap<u64, u64> = HashMap::with_capacity(0);
        (&map).par_extend((0..10_000u64).into_par_iter().map(|i| (i, i)));
        let go = std::sync::atomic::AtomicBool::new(false);
        let until = map.stats().resizes + 1;
        std::thread::scope(|s| {
            s.spawn(|| {
                crate::common::wait_for(&go);
                let m = map.pin();
                for i in 10_000..200_000u64 {
                    m.insert(i, i);
                }
            });
            let resizes = || map.stats().resizes;
            crate::common::passes_across_resizes(&go, 5, until, resizes, |_| {
                let m = map.pin();
                assert_each_stable_key_once(m.par_iter().map(|(k, _)| *k).collect());
            });
        });
    }

    /// `WordMap` and `WordSet` have the same parallel walk and collection:
    /// the walk yields what `iter` yields, and `par_extend` makes room
    /// first.
    #[test]
    fn word_containers_par_iter_equals_sequential() {
        let n = million_or_less();
        let map: lfmap::WordMap<u64, u64> = (0..n)
            .into_par_iter()
            .map(|i| (i << 8 | 0xab << 56, i * 7))
            .collect();
        assert_eq!(map.len(), n as usize);
        let mut par: Vec<(u64, u64)> = map.par_iter().collect();
        let mut seq: Vec<(u64, u64)> = map.iter().collect();
        par.sort_unstable();
        seq.sort_unstable();
        assert_eq!(par, seq);
        assert_eq!(par.len(), n as usize);

        let set: lfmap::WordSet<u32> = (0..100_000u32).into_par_iter().collect();
        assert_eq!(
            set.par_iter().map(u64::from).sum::<u64>(),
            (0..100_000u64).sum::<u64>()
        );
        let grown: lfmap::WordMap<u64, u64> = lfmap::WordMap::new();
        (&grown).par_extend((0..100_000u64).into_par_iter().map(|i| (i, i)));
        assert_eq!((grown.len(), grown.stats().resizes), (100_000, 1));
    }

    /// The parallel walks follow keys a resize copied forward, as `iter`
    /// does: made before the resizes, updates and removals below, they
    /// yield no removed key and each other key with its new value (each
    /// worker looks a copied key up under a pin of its own).
    #[test]
    fn par_iter_yields_keys_as_they_are_when_reached() {
        let n = 20_000u64;
        let bumped = |k: u64| k + (1 << 40);
        let expect: Vec<(u64, u64)> = (0..n)
            .filter(|k| k % 3 != 0)
            .map(|k| (k, bumped(k)))
            .collect();

        let map: HashMap<u64, u64> = (0..n).map(|k| (k, k)).collect();
        let m = map.pin();
        let walk = m.par_iter();
        map.reserve(4 * n as usize);
        for k in 0..n {
            if k % 3 == 0 {
                m.remove(&k);
            } else {
                m.insert(k, bumped(k));
            }
        }
        let mut pairs: Vec<(u64, u64)> = walk.map(|(k, v)| (*k, *v)).collect();
        pairs.sort_unstable();
        assert_eq!(pairs, expect, "HashMap");

        let map: lfmap::WordMap<u64, u64> = (0..n).map(|k| (k, k)).collect();
        let walk = map.par_iter();
        map.reserve(4 * n as usize);
        for k in 0..n {
            if k % 3 == 0 {
                map.remove(&k);
            } else {
                map.insert(k, bumped(k));
            }
        }
        let mut pairs: Vec<(u64, u64)> = walk.collect();
        pairs.sort_unstable();
        assert_eq!(pairs, expect, "WordMap");
    }

    /// A `WordMap`'s parallel walk while another thread grows the map
    /// (the walk finishes a resize in progress first, and later resizes
    /// copy from the table it walks): keys present throughout are yielded
    /// exactly once.
    #[test]
    fn word_map_par_iter_while_a_writer_grows_the_map() {
        let map: lfmap::WordMap<u64, u64> = (0..10_000u64).map(|i| (i, i)).collect();
        let go = std::sync::atomic::AtomicBool::new(false);
        let until = map.stats().resizes + 1;
        std::thread::scope(|s| {
            s.spawn(|| {
                crate::common::wait_for(&go);
                for i in 10_000..200_000u64 {
                    map.insert(i, i);
                }
            });
            let resizes = || map.stats().resizes;
            crate::common::passes_across_resizes(&go, 5, until, resizes, |_| {
                assert_each_stable_key_once(
                    map.par_iter()
                        .filter(|&(k, v)| k == v)
                        .map(|(k, _)| k)
                        .collect(),
                );
            });
        });
    }
}

#[cfg(feature = "serde")]
mod serde_support {
    use lfmap::{HashMap, HashSet, WordMap, WordSet};

    #[test]
    fn serde_round_trip() {
        let map: HashMap<String, Vec<u32>> = (0..500u32)
            .map(|i| (format!("key{i}"), vec![i, i + 1]))
            .collect();
        let json = serde_json::to_string(&map).unwrap();
        let back: HashMap<String, Vec<u32>> = serde_json::from_str(&json).unwrap();
        assert_eq!(back, map);
        assert_eq!(back.len(), 500);
        assert_eq!(back.pin().get("key42"), Some(&vec![42, 43]));
        let empty: HashMap<u8, u8> = serde_json::from_str("{}").unwrap();
        assert!(empty.is_empty());
        assert!(serde_json::from_str::<HashMap<u8, u8>>("[1,2]").is_err());
    }

    /// `WordMap` and `WordSet` serialize as `HashMap` and `HashSet` do, so
    /// each reads the other's output; a round trip keeps every pair,
    /// including keys with a top byte and values of every width.
    #[test]
    fn word_containers_round_trip_and_match_the_generic_ones() {
        let words: WordMap<u64, i32> = (0..5_000u64)
            .map(|i| (i.wrapping_mul(0x9E37_79B9_7F4A_7C15), -(i as i32)))
            .collect();
        let json = serde_json::to_string(&words).unwrap();
        let back: WordMap<u64, i32> = serde_json::from_str(&json).unwrap();
        assert_eq!(back, words);
        let generic: HashMap<u64, i32> = serde_json::from_str(&json).unwrap();
        assert_eq!(generic.len(), 5_000);
        let again: WordMap<u64, i32> =
            serde_json::from_str(&serde_json::to_string(&generic).unwrap()).unwrap();
        assert_eq!(again, words);

        let set: WordSet<char> = "concurrent".chars().collect();
        let json = serde_json::to_string(&set).unwrap();
        let back: WordSet<char> = serde_json::from_str(&json).unwrap();
        assert_eq!(back, set);
        let generic: HashSet<char> = serde_json::from_str(&json).unwrap();
        assert_eq!(generic.len(), set.len());

        assert!(serde_json::from_str::<WordMap<u8, u8>>("[1,2]").is_err());
        assert!(serde_json::from_str::<WordMap<u8, u8>>(r#"{"1": 300}"#).is_err());
        assert!(serde_json::from_str::<WordSet<u8>>("{}").is_err());
        assert!(serde_json::from_str::<WordSet<u8>>("[]")
            .unwrap()
            .is_empty());
    }

    /// Formats that write a length before the elements (postcard, bincode)
    /// refuse a sequence or map of unknown length: every container states
    /// its exact length, and reads its own output back.
    #[test]
    fn length_prefixed_formats_round_trip() {
        let map: HashMap<String, u32> = (0..300u32).map(|i| (format!("k{i}"), i)).collect();
        let bytes = postcard::to_stdvec(&map).unwrap();
        assert_eq!(
            postcard::from_bytes::<HashMap<String, u32>>(&bytes).unwrap(),
            map
        );

        let set: HashSet<u64> = (0..300u64).collect();
        let bytes = postcard::to_stdvec(&set).unwrap();
        assert_eq!(postcard::from_bytes::<HashSet<u64>>(&bytes).unwrap(), set);

        let words: WordMap<u64, i64> = (0..300u64).map(|i| (i << 40, -(i as i64))).collect();
        let bytes = postcard::to_stdvec(&words).unwrap();
        assert_eq!(
            postcard::from_bytes::<WordMap<u64, i64>>(&bytes).unwrap(),
            words
        );
        // The same form as the generic map's.
        let generic: HashMap<u64, i64> = postcard::from_bytes(&bytes).unwrap();
        assert_eq!(generic.len(), 300);

        let word_set: WordSet<u32> = (0..300u32).collect();
        let bytes = postcard::to_stdvec(&word_set).unwrap();
        assert_eq!(
            postcard::from_bytes::<WordSet<u32>>(&bytes).unwrap(),
            word_set
        );
    }

    /// The length stated up front is the count written, also while other
    /// threads insert and remove: the output always reads back.
    #[test]
    fn a_stated_length_holds_while_other_threads_write() {
        let map: HashMap<u64, u64> = (0..2_000u64).map(|i| (i, i)).collect();
        let words: WordMap<u64, u64> = (0..2_000u64).map(|i| (i, i)).collect();
        let stop = std::sync::atomic::AtomicBool::new(false);
        let go = std::sync::atomic::AtomicBool::new(false);
        let until = map.stats().resizes + 1;
        let words_until = words.stats().resizes + 1;
        std::thread::scope(|s| {
            s.spawn(|| {
                crate::common::wait_for(&go);
                let mut i = 2_000u64;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    map.pin().insert(i, i);
                    words.insert(i, i);
                    map.pin().remove(&(i - 1_000));
                    words.remove(&(i - 1_000));
                    i += 1;
                }
            });
            let _stop = crate::common::StopOnDrop(&stop);
            // Both maps resized since the passes began: 1.
            let resizes =
                || u64::from(map.stats().resizes >= until && words.stats().resizes >= words_until);
            crate::common::passes_across_resizes(&go, 20, 1, resizes, |_| {
                let back: HashMap<u64, u64> =
                    postcard::from_bytes(&postcard::to_stdvec(&map).unwrap()).unwrap();
                assert!(back.pin().iter().all(|(k, v)| k == v));
                let back: WordMap<u64, u64> =
                    postcard::from_bytes(&postcard::to_stdvec(&words).unwrap()).unwrap();
                assert!(back.iter().all(|(k, v)| k == v));
            });
        });
    }

    /// Serializing while other threads write: no panic, and the output
    /// holds every key present throughout (the iteration guarantee).
    #[test]
    fn a_word_map_serializes_while_it_grows() {
        let map: WordMap<u64, u64> = (0..1_000u64).map(|i| (i, i)).collect();
        let go = std::sync::atomic::AtomicBool::new(false);
        let until = map.stats().resizes + 1;
        std::thread::scope(|s| {
            s.spawn(|| {
                crate::common::wait_for(&go);
                for i in 1_000..50_000u64 {
                    map.insert(i, i);
                }
            });
            let resizes = || map.stats().resizes;
            crate::common::passes_across_resizes(&go, 5, until, resizes, |_| {
                let json = serde_json::to_string(&map).unwrap();
                let seen: std::collections::HashMap<u64, u64> =
                    serde_json::from_str(&json).unwrap();
                assert!((0..1_000).all(|i| seen.get(&i) == Some(&i)));
            });
        });
    }
}
