//! WAL records: every encodable record decodes to itself; decoding arbitrary bytes, and
//! every corruption of a valid record (truncation, a flipped byte, bytes appended), never
//! panics and never yields a record that re-encodes to other bytes.

use proptest::prelude::*;
use tablecache_core::walrec::*;

fn bound() -> impl Strategy<Value = WalBound> {
    (
        prop::collection::vec(any::<u8>(), 0..40),
        prop::collection::vec((any::<u32>(), prop::option::of(prop::collection::vec(any::<u8>(), 0..24))), 0..4),
    )
        .prop_map(|(key, vs)| WalBound { key, values: vs.into_iter().map(|(typid, image)| WalValue { typid, image }).collect() })
}

fn inval() -> impl Strategy<Value = WalInval> {
    (prop::collection::vec(any::<u8>(), 0..=MAX_NAME), prop::option::of(bound()), prop::option::of(bound()), any::<bool>(), any::<bool>())
        .prop_map(|(index, lo, hi, hi_inclusive, no_merge)| WalInval { index, lo, hi, hi_inclusive, no_merge })
}

fn record() -> impl Strategy<Value = WalRecord> {
    let cache = (any::<i64>(), any::<bool>(), any::<bool>(), prop::collection::vec(inval(), 0..5))
        .prop_map(|(cache_id, everything, dropped, invals)| WalCache { cache_id, everything, dropped, invals: if everything { vec![] } else { invals } });
    prop_oneof![
        (any::<u32>(), any::<u32>(), any::<bool>(), any::<bool>(), prop::collection::vec(cache, 0..4))
            .prop_map(|(db, xid, prepared, all_dropped, caches)| WalRecord::Invalidations { db, xid, prepared, all_dropped, caches }),
        any::<i64>().prop_map(|now| WalRecord::Stopped { now }),
        (any::<i64>(), any::<i64>(), prop::collection::vec(any::<u32>(), 0..6))
            .prop_map(|(lifetime, now, unknown_prepared)| WalRecord::Heartbeat { lifetime, now, unknown_prepared }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn round_trip(r in record()) {
        prop_assert!(encodable(&r));
        let b = encode(&r);
        prop_assert_eq!(decode(&b), Ok(r));
    }

    #[test]
    fn corrupted_records_never_panic(r in record(), cut in any::<prop::sample::Index>(), flip in any::<prop::sample::Index>(), x in 1u8..=255, extra in prop::collection::vec(any::<u8>(), 1..8)) {
        let b = encode(&r);
        let n = cut.index(b.len() + 1);
        prop_assert!(decode(&b[..n]).is_err() || n == b.len());
        let mut f = b.clone();
        let i = flip.index(f.len());
        f[i] ^= x;
        if let Ok(d) = decode(&f) {
            // whatever it decodes to describes exactly these bytes
            prop_assert_eq!(encode(&d), f.clone());
        }
        let _ = describe(&f);
        let mut longer = b.clone();
        longer.extend_from_slice(&extra);
        prop_assert!(decode(&longer).is_err());
    }

    #[test]
    fn arbitrary_bytes_never_panic(b in prop::collection::vec(any::<u8>(), 0..200)) {
        if let Ok(d) = decode(&b) {
            prop_assert_eq!(encode(&d), b.clone());
        }
        let _ = describe(&b);
    }
}
