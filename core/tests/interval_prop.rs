//! Interval sets against a point-set model over a fine grid of keys.
//!
//! Bounds are 1- and 2-byte keys over a small alphabet; the grid holds every
//! key of 0 to 3 bytes over the same alphabet, so every stretch between two
//! bounds (and below the smallest) contains grid points, including points
//! between 1-byte keys (e.g. [1, 0] between [1] and [2]).

use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};
use std::collections::BTreeSet;
use std::sync::OnceLock;
use tablecache_core::interval::IntervalSet;

const ALPHABET: [u8; 4] = [0, 1, 2, 0xFF];

fn grid() -> &'static Vec<Vec<u8>> {
    static G: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    G.get_or_init(|| {
        let mut g = vec![vec![]];
        let mut last = vec![vec![]];
        for _ in 0..3 {
            last = last.iter().flat_map(|p: &Vec<u8>| ALPHABET.iter().map(move |&c| [&p[..], &[c]].concat())).collect();
            g.extend(last.iter().cloned());
        }
        g.sort();
        g
    })
}

type Model = BTreeSet<Vec<u8>>;

fn in_iv(k: &[u8], ge: &Option<Vec<u8>>, lt: &Option<Vec<u8>>) -> bool {
    ge.as_deref().is_none_or(|g| k >= g) && lt.as_deref().is_none_or(|l| k < l)
}

fn iv_points(ge: &Option<Vec<u8>>, lt: &Option<Vec<u8>>) -> Model {
    grid().iter().filter(|k| in_iv(k, ge, lt)).cloned().collect()
}

fn points(s: &IntervalSet) -> Model {
    grid().iter().filter(|k| s.contains(k)).cloned().collect()
}

fn bound() -> impl Strategy<Value = Option<Vec<u8>>> {
    proptest::option::weighted(0.85, proptest::collection::vec(proptest::sample::select(&ALPHABET[..]), 1..=2))
}

#[derive(Debug, Clone)]
enum Op {
    Insert(Option<Vec<u8>>, Option<Vec<u8>>),
    Remove(Option<Vec<u8>>, Option<Vec<u8>>),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (bound(), bound()).prop_map(|(g, l)| Op::Insert(g, l)),
        2 => (bound(), bound()).prop_map(|(g, l)| Op::Remove(g, l)),
    ]
}

/// Build a set and its model from ops, checking both stay in step.
fn build(ops: &[Op]) -> Result<(IntervalSet, Model), TestCaseError> {
    let mut s = IntervalSet::new();
    let mut m = Model::new();
    for op in ops {
        match op {
            Op::Insert(g, l) => {
                s.insert(g.as_deref(), l.as_deref());
                m.extend(iv_points(g, l));
            }
            Op::Remove(g, l) => {
                s.remove(g.as_deref(), l.as_deref());
                m.retain(|k| !in_iv(k, g, l));
            }
        }
        prop_assert!(s.validate().is_ok(), "{:?}", s);
        prop_assert_eq!(&points(&s), &m);
    }
    Ok((s, m))
}

fn config() -> Config {
    Config { cases: 3000, rng_seed: RngSeed::Fixed(0x69767373), failure_persistence: None, ..Config::default() }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn ops_match_model(a in proptest::collection::vec(op(), 0..10), b in proptest::collection::vec(op(), 0..10),
                       qg in bound(), ql in bound()) {
        let (sa, ma) = build(&a)?;
        let (sb, mb) = build(&b)?;
        prop_assert_eq!(sa.is_empty(), ma.is_empty());
        prop_assert_eq!(sa.is_full(), ma.len() == grid().len());

        let q = iv_points(&qg, &ql);
        prop_assert_eq!(sa.covers(qg.as_deref(), ql.as_deref()), q.is_subset(&ma));
        prop_assert_eq!(sa.intersects(qg.as_deref(), ql.as_deref()), !q.is_disjoint(&ma));

        let i = sa.intersection(&sb);
        prop_assert!(i.validate().is_ok());
        prop_assert_eq!(points(&i), ma.intersection(&mb).cloned().collect::<Model>());
        let d = sa.difference(&sb);
        prop_assert!(d.validate().is_ok());
        prop_assert_eq!(points(&d), ma.difference(&mb).cloned().collect::<Model>());
        let u = sa.union(&sb);
        prop_assert!(u.validate().is_ok());
        prop_assert_eq!(points(&u), ma.union(&mb).cloned().collect::<Model>());
        // Canonical form: the same coverage built two ways is the same value.
        let mut u2 = sb.clone();
        for (g, l) in sa.iter() {
            u2.insert(g, l);
        }
        prop_assert_eq!(&u, &u2);

        for s in [&sa, &sb, &i, &d] {
            let mut buf = Vec::new();
            s.encode(&mut buf);
            prop_assert_eq!(&IntervalSet::decode(&buf).unwrap(), s);
            if !buf.is_empty() {
                prop_assert!(IntervalSet::decode(&buf[..buf.len() - 1]).is_err());
            }
        }
    }
}
