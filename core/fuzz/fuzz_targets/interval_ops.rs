//! Coverage interval sets against a cell model, plus encode/decode.
//!
//! The input picks a pool of byte-string keys; every bound used is -inf, one
//! of those keys or +inf. Sorted, the bounds cut the key line into cells
//! [P_i, P_i+1) (the first starting at -inf), and every set built from such
//! bounds is a union of whole cells, so a Vec<bool> per set is an exact
//! model: membership, covers, intersects and even the canonical interval
//! list (runs of covered cells) follow from it.
//!
//! Also: IntervalSet::decode on the raw input never panics, and whatever it
//! accepts is canonical and encodes back to the same bytes.
#![no_main]

use arbitrary::{Arbitrary, Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use tablecache_core::interval::IntervalSet;

#[derive(Arbitrary, Debug)]
enum Op {
    Insert(u8, u8, u8),
    Remove(u8, u8, u8),
    Covers(u8, u8, u8),
    Intersects(u8, u8, u8),
    Contains(u8, u8, Vec<u8>),
    Union(u8, u8, u8),
    Intersection(u8, u8, u8),
    Difference(u8, u8, u8),
    Full(u8),
    Clear(u8),
    /// Replace a set by decode(encode(set)).
    Reload(u8),
}

const SLOTS: usize = 3;

struct Pool {
    /// Sorted, distinct keys g_0 < g_1 < ... ; point P_0 = -inf, P_i = g_{i-1}, P_{m+1} = +inf.
    keys: Vec<Vec<u8>>,
}

impl Pool {
    fn m(&self) -> usize {
        self.keys.len()
    }
    /// Number of cells.
    fn cells(&self) -> usize {
        self.m() + 1
    }
    /// Lower bound from a point index 0..=m (0 = -inf).
    fn lower(&self, p: usize) -> Option<&[u8]> {
        (p > 0).then(|| &self.keys[p - 1][..])
    }
    /// Upper bound from a point index 1..=m+1 (m+1 = +inf).
    fn upper(&self, p: usize) -> Option<&[u8]> {
        (p <= self.m()).then(|| &self.keys[p - 1][..])
    }
    fn lo_idx(&self, b: u8) -> usize {
        b as usize % (self.m() + 1)
    }
    fn hi_idx(&self, b: u8) -> usize {
        1 + b as usize % (self.m() + 1)
    }
    /// Cell holding an arbitrary key.
    fn cell_of(&self, k: &[u8]) -> usize {
        self.keys.partition_point(|g| &g[..] <= k)
    }
    /// The canonical interval list of a cell set.
    fn expected(&self, cells: &[bool]) -> Vec<(Option<Vec<u8>>, Option<Vec<u8>>)> {
        let mut out = Vec::new();
        let mut i = 0;
        while i < cells.len() {
            if !cells[i] {
                i += 1;
                continue;
            }
            let mut j = i;
            while j < cells.len() && cells[j] {
                j += 1;
            }
            out.push((self.lower(i).map(<[u8]>::to_vec), self.upper(j).map(<[u8]>::to_vec)));
            i = j;
        }
        out
    }
}

fn check_set(pool: &Pool, s: &IntervalSet, cells: &[bool], what: &dyn std::fmt::Debug) {
    if let Err(e) = s.validate() {
        panic!("after {what:?}: not canonical: {e}: {s:?}");
    }
    let got: Vec<(Option<Vec<u8>>, Option<Vec<u8>>)> =
        s.iter().map(|(g, l)| (g.map(<[u8]>::to_vec), l.map(<[u8]>::to_vec))).collect();
    let want = pool.expected(cells);
    assert_eq!(got, want, "after {what:?}: set {s:?} vs model cells {cells:?} over {:?}", pool.keys);
    assert_eq!(s.len(), want.len());
    assert_eq!(s.is_empty(), cells.iter().all(|c| !c));
    assert_eq!(s.is_full(), cells.iter().all(|&c| c));
    let mut buf = Vec::new();
    s.encode(&mut buf);
    assert_eq!(IntervalSet::decode(&buf).as_ref(), Ok(s), "round trip of {s:?}");
    if !buf.is_empty() {
        assert!(IntervalSet::decode(&buf[..buf.len() - 1]).is_err(), "truncated encoding accepted");
    }
    buf.push(0);
    assert!(IntervalSet::decode(&buf).is_err(), "trailing byte accepted");
}

fn key(u: &mut Unstructured) -> Result<Vec<u8>> {
    let len = u.int_in_range(0usize..=4)?;
    let small = u.arbitrary::<bool>()?;
    (0..len)
        .map(|_| u.arbitrary::<u8>().map(|b| if small { [0x00, 0x01, 0xFF][(b % 3) as usize] } else { b }))
        .collect()
}

fn run(u: &mut Unstructured) -> Result<()> {
    let n = u.int_in_range(0usize..=8)?;
    let mut keys: Vec<Vec<u8>> = (0..n).map(|_| key(u)).collect::<Result<_>>()?;
    keys.sort();
    keys.dedup();
    let pool = Pool { keys };
    let nc = pool.cells();
    let mut sets: Vec<IntervalSet> = vec![IntervalSet::new(); SLOTS];
    let mut models: Vec<Vec<bool>> = vec![vec![false; nc]; SLOTS];
    let nops = u.int_in_range(0usize..=64)?;
    for _ in 0..nops {
        if u.is_empty() {
            break;
        }
        let op: Op = u.arbitrary()?;
        let slot = |b: u8| b as usize % SLOTS;
        let changed = match &op {
            &Op::Insert(s, g, l) | &Op::Remove(s, g, l) => {
                let (s, gi, li) = (slot(s), pool.lo_idx(g), pool.hi_idx(l));
                if matches!(op, Op::Insert(..)) {
                    sets[s].insert(pool.lower(gi), pool.upper(li));
                } else {
                    sets[s].remove(pool.lower(gi), pool.upper(li));
                }
                let v = matches!(op, Op::Insert(..));
                for c in gi..li.max(gi) {
                    models[s][c] = v;
                }
                Some(s)
            }
            &Op::Covers(s, g, l) | &Op::Intersects(s, g, l) => {
                let (s, gi, li) = (slot(s), pool.lo_idx(g), pool.hi_idx(l));
                let cells = &models[s][gi..li.max(gi)];
                let (ge, lt) = (pool.lower(gi), pool.upper(li));
                if matches!(op, Op::Covers(..)) {
                    assert_eq!(sets[s].covers(ge, lt), cells.iter().all(|&c| c), "covers({ge:?}, {lt:?}) of {:?}", sets[s]);
                } else {
                    assert_eq!(sets[s].intersects(ge, lt), cells.iter().any(|&c| c), "intersects({ge:?}, {lt:?}) of {:?}", sets[s]);
                }
                None
            }
            Op::Contains(s, p, extra) => {
                let s = slot(*s);
                // A pool key, a pool key with a suffix, or any key at all.
                let k: Vec<u8> = match (pool.m(), p % 3) {
                    (m, 0) if m > 0 => pool.keys[*p as usize % m].clone(),
                    (m, 1) if m > 0 => [&pool.keys[*p as usize % m][..], extra].concat(),
                    _ => extra.clone(),
                };
                assert_eq!(sets[s].contains(&k), models[s][pool.cell_of(&k)], "contains({k:?}) of {:?}", sets[s]);
                None
            }
            &Op::Union(d, a, b) | &Op::Intersection(d, a, b) | &Op::Difference(d, a, b) => {
                let (d, a, b) = (slot(d), slot(a), slot(b));
                let (r, f): (IntervalSet, fn(bool, bool) -> bool) = match op {
                    Op::Union(..) => (sets[a].union(&sets[b]), |x, y| x || y),
                    Op::Intersection(..) => (sets[a].intersection(&sets[b]), |x, y| x && y),
                    _ => (sets[a].difference(&sets[b]), |x, y| x && !y),
                };
                let m: Vec<bool> = models[a].iter().zip(&models[b]).map(|(&x, &y)| f(x, y)).collect();
                sets[d] = r;
                models[d] = m;
                Some(d)
            }
            &Op::Full(s) => {
                let s = slot(s);
                sets[s] = IntervalSet::full();
                models[s] = vec![true; nc];
                Some(s)
            }
            &Op::Clear(s) => {
                let s = slot(s);
                sets[s] = IntervalSet::new();
                models[s] = vec![false; nc];
                Some(s)
            }
            &Op::Reload(s) => {
                let s = slot(s);
                let mut buf = Vec::new();
                sets[s].encode(&mut buf);
                sets[s] = IntervalSet::decode(&buf).expect("decode of an encoding");
                Some(s)
            }
        };
        if let Some(s) = changed {
            check_set(&pool, &sets[s], &models[s], &op);
        }
    }
    for s in 0..SLOTS {
        check_set(&pool, &sets[s], &models[s], &"end");
    }
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    // Arbitrary bytes as a stored set: no panic; accepted means canonical
    // and byte-exact on re-encoding.
    if let Ok(s) = IntervalSet::decode(data) {
        if let Err(e) = s.validate() {
            panic!("decode accepted a non-canonical set: {e}");
        }
        let mut buf = Vec::new();
        s.encode(&mut buf);
        assert_eq!(buf, data, "decode/encode not byte-exact");
    }
    let _ = run(&mut Unstructured::new(data));
});
