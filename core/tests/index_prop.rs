//! Batches applied through merge_into must give exactly the contents of an
//! ordered map model; range_positions must give exactly the model's range.

use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};
use std::cmp::Ordering;
use std::collections::BTreeMap;
use tablecache_core::index::*;

/// Rows are ids; several ids share a key so that duplicate keys happen.
fn key(row: u64) -> u64 {
    row >> 2
}

fn by_key(a: u64, b: u64) -> Ordering {
    key(a).cmp(&key(b))
}

#[derive(Debug, Clone)]
struct Batch {
    inserts: Vec<u64>,
    /// Delete existing rows whose key hashes into this selector.
    delete_mod: u64,
    ge: Option<u64>,
    lt: Option<u64>,
}

fn batch() -> impl Strategy<Value = Batch> {
    (
        proptest::collection::vec(0u64..400, 0..40),
        1u64..6,
        // Keys are about insert * 250, so bounds land between and on them.
        proptest::option::of((0u64..410, 0u64..3).prop_map(|(x, d)| x * 250 + d)),
        proptest::option::of((0u64..410, 0u64..3).prop_map(|(x, d)| x * 250 + d)),
    )
        .prop_map(|(inserts, delete_mod, ge, lt)| Batch { inserts, delete_mod, ge, lt })
}

fn config() -> Config {
    Config { cases: 1000, rng_seed: RngSeed::Fixed(0x696e6478), failure_persistence: None, ..Config::default() }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn batches_match_model(batches in proptest::collection::vec(batch(), 1..20), nonunique in any::<bool>()) {
        // Non-unique mode breaks key ties by row id, as documented.
        let cmp = |a: u64, b: u64| if nonunique { by_key(a, b).then(a.cmp(&b)) } else { by_key(a, b) };
        let model_key = |r: u64| if nonunique { (key(r), r) } else { (key(r), 0) };
        let mut model: BTreeMap<(u64, u64), u64> = BTreeMap::new();
        let mut index: Vec<u64> = Vec::new();
        for (round, b) in batches.into_iter().enumerate() {
            let del = |r: u64| (r + round as u64).is_multiple_of(b.delete_mod);
            // Inserted rows are new ids (row ids are never reused while live).
            let mut add: Vec<u64> = b.inserts.iter().map(|r| r * 1000 + round as u64 + 1).collect();
            add.sort();
            add.dedup();
            let sorted = sort_unique(&mut add, cmp);
            prop_assert!(add.windows(2).all(|w| cmp(w[0], w[1]) != Ordering::Greater));
            let mut next = model.clone();
            next.retain(|_, r| !del(*r));
            let mut dup = false;
            for &r in &add {
                dup |= next.insert(model_key(r), r).is_some();
            }
            // A duplicate within the batch or against a kept row is an error.
            let kept = index.iter().filter(|&&r| !del(r)).count();
            let mut out = vec![0; kept + add.len()];
            let res = sorted.and_then(|_| merge_into(&index, |r| !del(r), &add, cmp, &mut out));
            prop_assert_eq!(res.is_err(), dup);
            if let Err((x, y)) = res {
                prop_assert_eq!(cmp(x, y), Ordering::Equal);
                continue; // the batch is rejected as a whole
            }
            index = out;
            model = next;
            prop_assert_eq!(&index, &model.values().copied().collect::<Vec<_>>());
            // Ranges over the key only, as a scan with key bounds would do.
            let mut g = |e: u64| key(e).cmp(&b.ge.unwrap());
            let mut l = |e: u64| key(e).cmp(&b.lt.unwrap());
            let (s, e) = range_positions(
                &index,
                b.ge.map(|_| &mut g as &mut dyn FnMut(u64) -> Ordering),
                b.lt.map(|_| &mut l as &mut dyn FnMut(u64) -> Ordering),
            );
            let want: Vec<u64> = model.values().copied()
                .filter(|&r| b.ge.is_none_or(|g| key(r) >= g) && b.lt.is_none_or(|l| key(r) < l))
                .collect();
            prop_assert!(s <= e);
            prop_assert_eq!(&index[s..e], &want[..]);
            if let Some(g) = b.ge {
                let p = lower_bound(&index, |e| key(e).cmp(&g));
                prop_assert_eq!(p, index.iter().filter(|&&r| key(r) < g).count());
                prop_assert_eq!(find(&index, |e| key(e).cmp(&g)).is_some(), index.iter().any(|&r| key(r) == g));
            }
        }
    }
}
