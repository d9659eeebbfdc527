//! Sorted index arrays under batches of inserts and deletes, applied the way
//! the extension does (sort_unique on the batch, then merge_into the old
//! array, or merge_sparse by positions located through fences), against a
//! BTreeSet model; unique violations must be reported exactly when the model
//! has a duplicate, and lower_bound (plain and through fences) /
//! range_positions / find must agree with the model.
//!
//! Entries are row ids; each row has a small key (collisions are the point).
//! A unique index compares keys; a non-unique one breaks key ties by row id.
#![no_main]

use arbitrary::{Arbitrary, Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};
use tablecache_core::index::*;

#[derive(Arbitrary, Debug)]
struct Batch {
    /// Live rows to delete, by position (mod count).
    deletes: Vec<u16>,
    /// New rows' keys.
    inserts: Vec<u8>,
    /// Range probes: (ge, lt) keys, None = unbounded.
    probes: Vec<(Option<u8>, Option<u8>)>,
}

fn run(u: &mut Unstructured) -> Result<()> {
    let unique: bool = u.arbitrary()?;
    // Key space: small makes collisions (unique violations) common.
    let modulus = u.int_in_range(1u16..=256)?;
    let mut keys: BTreeMap<u64, u16> = BTreeMap::new(); // row id -> key, all rows ever made
    let mut next_row = 1u64;
    let mut index: Vec<u64> = Vec::new();
    let mut model: BTreeSet<(u16, u64)> = BTreeSet::new(); // (key, row)

    let nbatches = u.int_in_range(1usize..=16)?;
    for _ in 0..nbatches {
        let batch: Batch = u.arbitrary()?;
        // Deletes: chosen among the current rows (duplicates collapse).
        let live: Vec<u64> = model.iter().map(|&(_, r)| r).collect();
        let dels: BTreeSet<u64> = if live.is_empty() {
            BTreeSet::new()
        } else {
            batch.deletes.iter().map(|&i| live[i as usize % live.len()]).collect()
        };
        // Inserts: fresh rows; register their keys before comparing.
        let mut add: Vec<u64> = Vec::new();
        for &k in &batch.inserts {
            let r = next_row;
            next_row += 1;
            // Scatter row ids so that id order is not insertion order.
            let r = r.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 16;
            keys.insert(r, k as u16 % modulus);
            add.push(r);
        }
        let keys = &keys;
        let key = |r: u64| keys[&r];
        let cmp = |a: u64, b: u64| -> Ordering {
            let o = keys[&a].cmp(&keys[&b]);
            if unique { o } else { o.then(a.cmp(&b)) }
        };
        let add_keys: Vec<u16> = add.iter().map(|r| keys[r]).collect();

        // What the model says about this batch.
        let kept: Vec<(u16, u64)> = model.iter().copied().filter(|(_, r)| !dels.contains(r)).collect();
        let mut batch_dup = None;
        let mut seen = BTreeSet::new();
        for &k in &add_keys {
            if unique && !seen.insert(k) {
                batch_dup = Some(k);
            }
        }
        let kept_keys: BTreeSet<u16> = kept.iter().map(|&(k, _)| k).collect();
        let conflict = if unique { add_keys.iter().filter(|k| kept_keys.contains(k)).min().copied() } else { None };

        let mut sorted = add.clone();
        let su = sort_unique(&mut sorted, cmp);
        for w in sorted.windows(2) {
            assert_ne!(cmp(w[0], w[1]), Ordering::Greater, "sort_unique left {w:?} unsorted");
        }
        let mut a2 = add.clone();
        a2.sort();
        let mut s2 = sorted.clone();
        s2.sort();
        assert_eq!(a2, s2, "sort_unique lost or invented entries");
        match (su, batch_dup) {
            (Ok(()), None) => {}
            (Err((x, y)), Some(_)) => {
                assert_eq!(key(x), key(y), "reported duplicate {x},{y} has different keys");
                assert_ne!(x, y);
                // The first duplicate in sorted order is reported.
                let first = sorted.windows(2).find(|w| cmp(w[0], w[1]) == Ordering::Equal).unwrap();
                assert_eq!((x, y), (first[0], first[1]));
                continue; // batch rejected: index and model unchanged
            }
            (r, d) => panic!("sort_unique gave {r:?}, model duplicate key {d:?}"),
        }

        // merge_sparse, the small-update path: deleted positions skipped, new entries
        // located through fences of the key (a prefix of the order for both kinds of index).
        let nkept = kept.len();
        let prefix = |e: u64| [key(e) as u64, 0];
        let skip: Vec<usize> = (0..index.len()).filter(|&p| dels.contains(&index[p])).collect();
        let mut fences = vec![[0u64; 2]; fence_count(index.len())];
        build_fences(&index, prefix, |_| {}, &mut fences);
        let mut top = vec![[0u64; 2]; top_count(fences.len())];
        build_top(&fences, &mut top);
        let mut sparse = vec![u64::MAX; nkept + sorted.len()];
        let rs = merge_sparse(&index, &skip, &sorted, cmp, |_, a| fence_window(&fences, &top, index.len(), prefix(a)), &mut sparse);

        // merge_into: keep is called once per old entry, in order.
        let mut out = vec![u64::MAX; nkept + sorted.len()];
        let mut calls = Vec::new();
        let r = merge_into(&index, |e| {
            calls.push(e);
            !dels.contains(&e)
        }, &sorted, cmp, &mut out);
        assert_eq!(rs, r, "merge_sparse and merge_into disagree");
        match (r, conflict) {
            (Ok(()), None) => {
                assert_eq!(sparse, out, "merge_sparse differs from merge_into");
                assert_eq!(calls, index, "keep not called once per entry in order");
                let want: Vec<u64> = {
                    let mut m = model.clone();
                    m.retain(|(_, r)| !dels.contains(r));
                    for (&r, &k) in add.iter().zip(&add_keys) {
                        m.insert((k, r));
                    }
                    m.iter().map(|&(_, r)| r).collect()
                };
                assert_eq!(out, want, "merged index differs from the model");
                // merge_vec agrees.
                let mv = merge_vec(&index, |e| !dels.contains(&e), &sorted, cmp).expect("merge_vec conflict");
                assert_eq!(mv, out);
                index = out;
                model.retain(|(_, r)| !dels.contains(r));
                for (&r, &k) in add.iter().zip(&add_keys) {
                    model.insert((k, r));
                }
            }
            (Err((o, a)), Some(k)) => {
                assert_eq!((key(o), key(a)), (k, k), "violation reported on the wrong pair");
                assert!(!dels.contains(&o) && index.contains(&o) && sorted.contains(&a));
                assert!(merge_vec(&index, |e| !dels.contains(&e), &sorted, cmp).is_err());
            }
            (r, c) => panic!("merge_into gave {r:?}, model conflict key {c:?}"),
        }

        // Queries against the (possibly unchanged) index.
        let sorted_keys: Vec<u16> = index.iter().map(|&r| key(r)).collect();
        let mut fences = vec![[0u64; 2]; fence_count(index.len())];
        build_fences(&index, prefix, |_| {}, &mut fences);
        let mut top = vec![[0u64; 2]; top_count(fences.len())];
        build_top(&fences, &mut top);
        assert!(sorted_keys.windows(2).all(|w| if unique { w[0] < w[1] } else { w[0] <= w[1] }));
        for (ge, lt) in batch.probes.iter().take(16) {
            let ge = ge.map(|g| g as u16 % (modulus + 1));
            let lt = lt.map(|l| l as u16 % (modulus + 1));
            let mut gf = |e: u64| key(e).cmp(&ge.unwrap());
            let mut lf = |e: u64| key(e).cmp(&lt.unwrap());
            let (s, e) = range_positions(
                &index,
                ge.map(|_| &mut gf as &mut dyn FnMut(u64) -> Ordering),
                lt.map(|_| &mut lf as &mut dyn FnMut(u64) -> Ordering),
            );
            let below = |b: u16| model.iter().filter(|&&(k, _)| k < b).count();
            let ws = ge.map_or(0, below);
            let we = lt.map_or(model.len(), below).max(ws);
            assert_eq!((s, e), (ws, we), "range_positions({ge:?}, {lt:?}) over keys {sorted_keys:?}");
            if let Some(g) = ge {
                assert_eq!(lower_bound(&index, |e| key(e).cmp(&g)), ws);
                assert_eq!(lower_bound_fenced(&index, &fences, &top, [g as u64, 0], |e| key(e).cmp(&g)), ws, "through fences");
                assert_eq!(lower_bound_fenced(&index, &fences, &[], [g as u64, 0], |e| key(e).cmp(&g)), ws, "through fences, no top");
                let f = find(&index, |e| key(e).cmp(&g));
                match f {
                    Some(i) => assert_eq!(key(index[i]), g),
                    None => assert!(!model.iter().any(|&(k, _)| k == g)),
                }
                if let Some(i) = f {
                    assert_eq!(i, ws, "find returns the first equal entry");
                }
            }
        }
    }
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let _ = run(&mut Unstructured::new(data));
});
