//! Coverage sets: unions of half-open `[ge, lt)` intervals over byte-string
//! keys, used to record which key ranges of a cache are loaded (and so may
//! answer a query without going to the tables).
//!
//! The set is kept canonical (sorted, disjoint, non-adjacent, non-empty
//! intervals) so that equal coverage has one representation and `covers`
//! only ever needs to look at a single interval.

use std::cmp::Ordering;

/// None = -infinity.
pub type Lower = Option<Vec<u8>>;
/// None = +infinity.
pub type Upper = Option<Vec<u8>>;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IntervalSet {
    ivs: Vec<(Lower, Upper)>,
}

/// A boundary on the extended key line; the derived order is the line order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Pt<'a> {
    NegInf,
    Key(&'a [u8]),
    PosInf,
}

fn lo(b: Option<&[u8]>) -> Pt<'_> {
    b.map_or(Pt::NegInf, Pt::Key)
}

fn hi(b: Option<&[u8]>) -> Pt<'_> {
    b.map_or(Pt::PosInf, Pt::Key)
}

fn owned(p: Pt<'_>) -> Option<Vec<u8>> {
    match p {
        Pt::Key(k) => Some(k.to_vec()),
        _ => None,
    }
}

impl IntervalSet {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn full() -> Self {
        IntervalSet { ivs: vec![(None, None)] }
    }

    pub fn is_empty(&self) -> bool {
        self.ivs.is_empty()
    }

    pub fn is_full(&self) -> bool {
        self.ivs == [(None, None)]
    }

    /// Number of disjoint intervals.
    pub fn len(&self) -> usize {
        self.ivs.len()
    }

    pub fn iter(&self) -> impl Iterator<Item = (Option<&[u8]>, Option<&[u8]>)> {
        self.ivs.iter().map(|(g, l)| (g.as_deref(), l.as_deref()))
    }

    /// The boundaries in line order: start, end, start, end, ...
    fn points(&self) -> impl Iterator<Item = Pt<'_>> {
        self.iter().flat_map(|(g, l)| [lo(g), hi(l)])
    }

    fn single(ge: Option<&[u8]>, lt: Option<&[u8]>) -> IntervalSet {
        if lo(ge) < hi(lt) {
            IntervalSet { ivs: vec![(ge.map(<[u8]>::to_vec), lt.map(<[u8]>::to_vec))] }
        } else {
            IntervalSet::new()
        }
    }

    /// Sweep both boundary lists once; `op(in_a, in_b)` says whether the
    /// result covers a stretch, and a boundary is emitted wherever that
    /// answer changes, which also merges touching intervals.
    fn combine(&self, other: &IntervalSet, op: impl Fn(bool, bool) -> bool) -> IntervalSet {
        let (a, b): (Vec<Pt>, Vec<Pt>) = (self.points().collect(), other.points().collect());
        let (mut i, mut j) = (0, 0);
        let mut inside = false;
        let mut out: Vec<Pt> = Vec::new();
        while i < a.len() || j < b.len() {
            let x = match (a.get(i), b.get(j)) {
                (Some(p), Some(q)) => *p.min(q),
                (Some(p), None) => *p,
                (None, q) => *q.unwrap(),
            };
            while a.get(i) == Some(&x) {
                i += 1;
            }
            while b.get(j) == Some(&x) {
                j += 1;
            }
            // An odd number of boundaries passed means we are inside.
            let now = op(i % 2 == 1, j % 2 == 1);
            if now != inside {
                out.push(x);
                inside = now;
            }
        }
        IntervalSet { ivs: out.chunks(2).map(|c| (owned(c[0]), owned(c[1]))).collect() }
    }

    /// Union with `[ge, lt)`; an empty interval changes nothing.
    pub fn insert(&mut self, ge: Option<&[u8]>, lt: Option<&[u8]>) {
        *self = self.combine(&Self::single(ge, lt), |a, b| a || b);
    }

    /// Remove `[ge, lt)`.
    pub fn remove(&mut self, ge: Option<&[u8]>, lt: Option<&[u8]>) {
        *self = self.combine(&Self::single(ge, lt), |a, b| a && !b);
    }

    pub fn intersection(&self, other: &IntervalSet) -> IntervalSet {
        self.combine(other, |a, b| a && b)
    }

    pub fn union(&self, other: &IntervalSet) -> IntervalSet {
        self.combine(other, |a, b| a || b)
    }

    /// `self` minus `other`, e.g. the part of a new window not yet loaded.
    pub fn difference(&self, other: &IntervalSet) -> IntervalSet {
        self.combine(other, |a, b| a && !b)
    }

    /// Index of the last interval starting at or before `p`, if any.
    fn last_starting_at_or_before(&self, p: Pt<'_>) -> Option<usize> {
        let n = self.ivs.partition_point(|(g, _)| lo(g.as_deref()) <= p);
        n.checked_sub(1)
    }

    /// Whether `[ge, lt)` lies inside the union; an empty interval does.
    /// Canonical form means it must lie inside a single interval.
    pub fn covers(&self, ge: Option<&[u8]>, lt: Option<&[u8]>) -> bool {
        let (g, l) = (lo(ge), hi(lt));
        if g >= l {
            return true;
        }
        self.last_starting_at_or_before(g).is_some_and(|i| hi(self.ivs[i].1.as_deref()) >= l)
    }

    pub fn contains(&self, key: &[u8]) -> bool {
        let k = Pt::Key(key);
        self.last_starting_at_or_before(k).is_some_and(|i| hi(self.ivs[i].1.as_deref()) > k)
    }

    /// Whether `[ge, lt)` shares at least one point with the union.
    pub fn intersects(&self, ge: Option<&[u8]>, lt: Option<&[u8]>) -> bool {
        let (g, l) = (lo(ge), hi(lt));
        if g >= l {
            return false;
        }
        // The first interval ending after g is the only candidate.
        let i = self.ivs.partition_point(|(_, u)| hi(u.as_deref()) <= g);
        self.ivs.get(i).is_some_and(|(s, _)| lo(s.as_deref()) < l)
    }

    /// Flat little-endian bytes: u32 count, then per bound a flag byte
    /// (0 = infinite, 1 = key) and for keys a u32 length plus the bytes.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&(self.ivs.len() as u32).to_le_bytes());
        for (g, l) in &self.ivs {
            for b in [g, l] {
                match b {
                    None => out.push(0),
                    Some(k) => {
                        out.push(1);
                        out.extend_from_slice(&(k.len() as u32).to_le_bytes());
                        out.extend_from_slice(k);
                    }
                }
            }
        }
    }

    /// Inverse of `encode`; rejects truncated, trailing or non-canonical input
    /// because shared memory contents are not trusted blindly.
    pub fn decode(bytes: &[u8]) -> Result<IntervalSet, String> {
        let mut r = Reader(bytes);
        let n = r.u32()? as usize;
        let mut ivs = Vec::with_capacity(n.min(bytes.len() / 2));
        for _ in 0..n {
            ivs.push((r.bound()?, r.bound()?));
        }
        if !r.0.is_empty() {
            return Err("trailing bytes after interval set".into());
        }
        let set = IntervalSet { ivs };
        set.validate()?;
        Ok(set)
    }

    /// Check the canonical-form invariants.
    pub fn validate(&self) -> Result<(), String> {
        let mut prev_end: Option<Pt> = None;
        for (i, (g, l)) in self.iter().enumerate() {
            let (g, l) = (lo(g), hi(l));
            if g >= l {
                return Err(format!("interval {i} is empty"));
            }
            if prev_end.is_some_and(|e| e.cmp(&g) != Ordering::Less) {
                return Err(format!("interval {i} overlaps or touches its predecessor"));
            }
            if l == Pt::PosInf && i + 1 != self.ivs.len() {
                return Err(format!("interval {i} is unbounded but not last"));
            }
            prev_end = Some(l);
        }
        Ok(())
    }
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if self.0.len() < n {
            return Err("truncated interval set".into());
        }
        let (h, t) = self.0.split_at(n);
        self.0 = t;
        Ok(h)
    }

    fn u32(&mut self) -> Result<u32, String> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().unwrap()))
    }

    fn bound(&mut self) -> Result<Option<Vec<u8>>, String> {
        match self.take(1)?[0] {
            0 => Ok(None),
            1 => {
                let n = self.u32()? as usize;
                Ok(Some(self.take(n)?.to_vec()))
            }
            f => Err(format!("bad bound flag {f}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basics() {
        let mut s = IntervalSet::new();
        s.insert(Some(b"b"), Some(b"d"));
        s.insert(Some(b"d"), Some(b"f")); // touching: merges
        assert_eq!(s.len(), 1);
        assert!(s.covers(Some(b"b"), Some(b"f")));
        assert!(!s.covers(Some(b"a"), Some(b"c")));
        assert!(s.covers(Some(b"x"), Some(b"a"))); // empty
        assert!(s.contains(b"b") && !s.contains(b"f"));
        s.remove(Some(b"c"), Some(b"e"));
        assert_eq!(s.len(), 2);
        assert!(!s.intersects(Some(b"c"), Some(b"e")));
        assert!(s.intersects(None, Some(b"c\0")));
        s.insert(None, None);
        assert!(s.is_full());
        s.remove(None, Some(b"m"));
        assert_eq!(s.iter().collect::<Vec<_>>(), vec![(Some(&b"m"[..]), None)]);
        let mut buf = Vec::new();
        s.encode(&mut buf);
        assert_eq!(IntervalSet::decode(&buf), Ok(s.clone()));
        assert!(IntervalSet::decode(&buf[..buf.len() - 1]).is_err());
        assert_eq!(IntervalSet::full().difference(&s).iter().collect::<Vec<_>>(), vec![(None, Some(&b"m"[..]))]);
    }
}
