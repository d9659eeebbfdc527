//! Random alloc/free sequences checked against a model of live blocks.

use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};
use std::collections::BTreeMap;
use tablecache_core::alloc::{Arena, Offset};

const ARENA_BYTES: usize = 4 << 20;

#[derive(Debug, Clone)]
enum Op {
    Alloc(usize),
    /// Free the live block at this index (mod the number of live blocks).
    Free(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0usize..=64 * 1024).prop_map(Op::Alloc),
        2 => (0usize..64).prop_map(Op::Alloc),
        1 => (256 * 1024usize..3 << 20).prop_map(Op::Alloc),
        6 => any::<usize>().prop_map(Op::Free),
    ]
}

fn pattern(off: Offset, i: usize) -> u8 {
    (off as usize).wrapping_mul(31).wrapping_add(i) as u8 | 1
}

fn fill(a: &Arena, off: Offset, len: usize) {
    // Safety: [off, off+len) is a live block of the arena we own.
    let s = unsafe { std::slice::from_raw_parts_mut(a.ptr(off), len) };
    for (i, b) in s.iter_mut().enumerate() {
        *b = pattern(off, i);
    }
}

fn verify(a: &Arena, off: Offset, len: usize) -> bool {
    let s = unsafe { std::slice::from_raw_parts(a.ptr(off), len) };
    s.iter().enumerate().all(|(i, b)| *b == pattern(off, i))
}

fn config() -> Config {
    Config {
        cases: 200,
        rng_seed: RngSeed::Fixed(0x7ab1eca),
        failure_persistence: None,
        ..Config::default()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn alloc_free_matches_model(ops in proptest::collection::vec(op(), 1..600)) {
        let mut mem = vec![0u64; ARENA_BYTES / 8];
        let a = unsafe { Arena::from_raw(mem.as_mut_ptr() as *mut u8, ARENA_BYTES) };
        a.format();
        let start = a.stats();
        // offset -> requested size
        let mut live: BTreeMap<Offset, usize> = BTreeMap::new();
        for op in ops {
            match op {
                Op::Alloc(n) => {
                    let before = a.stats();
                    let fits = a.largest_free().is_some_and(|l| n <= l);
                    prop_assert_eq!(a.alloc(n).map(|o| a.free(o)).is_some(), fits);
                    prop_assert_eq!(a.stats(), before);
                    match a.alloc(n) {
                        Some(off) => {
                            prop_assert!(off != 0 && off % 8 == 0);
                            let usable = a.usable_size(off);
                            prop_assert!(usable >= n);
                            // No overlap with either neighbour in the model.
                            if let Some((&p, _)) = live.range(..off).next_back() {
                                prop_assert!(p + a.usable_size(p) as u64 <= off);
                            }
                            if let Some((&q, _)) = live.range(off..).next() {
                                prop_assert!(off + usable as u64 <= q);
                            }
                            fill(&a, off, usable);
                            live.insert(off, usable);
                            let s = a.stats();
                            prop_assert_eq!(s.allocations, before.allocations + 1);
                            prop_assert!(s.used_bytes >= before.used_bytes + n as u64 + 8);
                        }
                        None => prop_assert_eq!(a.stats(), before),
                    }
                }
                Op::Free(i) => {
                    if !live.is_empty() {
                        let off = *live.keys().nth(i % live.len()).unwrap();
                        let len = live.remove(&off).unwrap();
                        prop_assert!(verify(&a, off, len));
                        a.free(off);
                    }
                }
            }
            if let Err(e) = a.check() { prop_assert!(false, "check: {}", e); }
            let s = a.stats();
            prop_assert_eq!(s.allocations, live.len() as u64);
            prop_assert_eq!(s.used_bytes + s.free_bytes, s.total_bytes);
        }
        for (&off, &len) in &live {
            prop_assert!(verify(&a, off, len), "block {} overwritten", off);
        }
        for &off in live.keys() {
            a.free(off);
            if let Err(e) = a.check() { prop_assert!(false, "check: {}", e); }
        }
        prop_assert_eq!(a.stats(), start);
        prop_assert_eq!(a.free_block_count(), 1);
    }
}
