//! Ordered index as a sorted array of row offsets.
//!
//! A sorted `u64` array is the densest ordered structure there is, it has no
//! internal pointers (it lives in offset-addressed shared memory) and a scan
//! is a slice walk. Updates arrive in batches (a transaction's changes), so
//! they are applied by one merge pass into a new array rather than by
//! per-row inserts. The order itself is the caller's: the comparators look up
//! the rows' stored key bytes.

use std::cmp::Ordering;

/// First position whose entry is `>=` the probe; `cmp(e)` is `e.cmp(probe)`.
pub fn lower_bound(entries: &[u64], mut cmp: impl FnMut(u64) -> Ordering) -> usize {
    entries.partition_point(|&e| cmp(e) == Ordering::Less)
}

/// Positions `[start, end)` of the entries `e` with `e >= ge` and `e < lt`;
/// `ge(e)` / `lt(e)` compare the entry with the bound, None = unbounded.
/// An empty or inverted range yields `start == end`.
pub fn range_positions(
    entries: &[u64],
    ge: Option<&mut dyn FnMut(u64) -> Ordering>,
    lt: Option<&mut dyn FnMut(u64) -> Ordering>,
) -> (usize, usize) {
    let start = ge.map_or(0, |c| lower_bound(entries, c));
    let end = lt.map_or(entries.len(), |c| lower_bound(&entries[start..], c) + start);
    (start, end)
}

/// Merge a batch into a unique index: the entries of `old` (sorted) for which
/// `keep` is true (called once per entry, in order) and `add` (sorted, without
/// duplicates: see [`sort_unique`]) are written in order to `out`, whose
/// length must be exactly kept + `add.len()`. An `old`/`add` pair comparing
/// equal is a unique violation, reported as `Err((old_entry, add_entry))`;
/// `out` is then partially written.
///
/// A non-unique index uses the same function with a comparator that breaks
/// key ties by row offset, so that only a row compared with itself is equal.
pub fn merge_into(
    old: &[u64],
    mut keep: impl FnMut(u64) -> bool,
    add: &[u64],
    mut cmp: impl FnMut(u64, u64) -> Ordering,
    out: &mut [u64],
) -> Result<(), (u64, u64)> {
    let mut kept = old.iter().copied().filter(|&e| keep(e)).peekable();
    let mut add = add.iter().copied().peekable();
    let mut n = 0;
    loop {
        let next = match (kept.peek(), add.peek()) {
            (Some(&o), Some(&a)) => match cmp(o, a) {
                Ordering::Less => kept.next(),
                Ordering::Greater => add.next(),
                Ordering::Equal => return Err((o, a)),
            },
            (Some(_), None) => kept.next(),
            (None, Some(_)) => add.next(),
            (None, None) => break,
        };
        assert!(n < out.len(), "merge_into: out shorter than kept + add");
        out[n] = next.unwrap();
        n += 1;
    }
    assert_eq!(n, out.len(), "merge_into: out longer than kept + add");
    Ok(())
}

/// [`merge_into`] for a large `old` and small batches, in time proportional to the batches
/// rather than to `old` (a window that slides a little must not touch every cached row): the
/// entries at positions `skip` (sorted, unique) of `old` are left out and each `add` entry
/// (sorted, unique) finds its place by a binary search inside `locate(k, add[k])`, a range of
/// positions of `old` known to hold its lower bound (from the fences, or the exact place as
/// `(p, p)`; `(0, old.len())` always works). The
/// runs of `old` between are copied whole, without comparisons. Same contract as `merge_into`:
/// `out` must be exactly `old.len() - skip.len() + add.len()` long, and an `add` entry equal to
/// a kept `old` entry is `Err((old_entry, add_entry))`.
pub fn merge_sparse(
    old: &[u64],
    skip: &[usize],
    add: &[u64],
    mut cmp: impl FnMut(u64, u64) -> Ordering,
    mut locate: impl FnMut(usize, u64) -> (usize, usize),
    out: &mut [u64],
) -> Result<(), (u64, u64)> {
    assert_eq!(old.len() - skip.len() + add.len(), out.len(), "merge_sparse: wrong output length");
    let (mut n, mut cur, mut si) = (0usize, 0usize, 0usize);
    // copies old[cur..pos] to out, leaving out the skipped positions
    let copy_upto = |out: &mut [u64], pos: usize, n: &mut usize, cur: &mut usize, si: &mut usize| {
        while *cur < pos {
            let stop = if *si < skip.len() && skip[*si] < pos { skip[*si] } else { pos };
            let run = stop - *cur;
            out[*n..*n + run].copy_from_slice(&old[*cur..stop]);
            *n += run;
            *cur = stop;
            if stop < pos {
                *cur += 1;
                *si += 1;
            }
        }
    };
    for (k, &a) in add.iter().enumerate() {
        // Batches are often runs (the newest hour of a time index): the place of the previous
        // entry, checked first, is then the place of this one too.
        let pos = if cur == old.len() || cmp(old[cur], a) != Ordering::Less {
            cur
        } else {
            let (lo, hi) = locate(k, a);
            let lo = lo.max(cur + 1).min(old.len());
            let hi = hi.min(old.len()).max(lo);
            lo + old[lo..hi].partition_point(|&e| cmp(e, a) == Ordering::Less)
        };
        copy_upto(out, pos, &mut n, &mut cur, &mut si);
        let skipped = si < skip.len() && skip[si] == pos;
        if pos < old.len() && !skipped && cmp(old[pos], a) == Ordering::Equal {
            return Err((old[pos], a));
        }
        out[n] = a;
        n += 1;
    }
    copy_upto(out, old.len(), &mut n, &mut cur, &mut si);
    debug_assert_eq!(n, out.len());
    Ok(())
}

/// Convenience form of [`merge_into`] that sizes the output itself.
pub fn merge_vec(
    old: &[u64],
    keep: impl FnMut(u64) -> bool,
    add: &[u64],
    cmp: impl FnMut(u64, u64) -> Ordering,
) -> Result<Vec<u64>, (u64, u64)> {
    let kept: Vec<u64> = {
        let mut keep = keep;
        old.iter().copied().filter(|&e| keep(e)).collect()
    };
    let mut out = vec![0; kept.len() + add.len()];
    merge_into(&kept, |_| true, add, cmp, &mut out)?;
    Ok(out)
}

/// Sort with `cmp` and report the first adjacent equal pair, i.e. a
/// duplicate key, as `Err((a, b))`; the slice is sorted either way.
pub fn sort_unique(entries: &mut [u64], mut cmp: impl FnMut(u64, u64) -> Ordering) -> Result<(), (u64, u64)> {
    entries.sort_unstable_by(|&a, &b| cmp(a, b));
    match entries.windows(2).find(|w| cmp(w[0], w[1]) == Ordering::Equal) {
        Some(w) => Err((w[0], w[1])),
        None => Ok(()),
    }
}

/// Position of an entry equal to the probe, if any.
pub fn find(entries: &[u64], mut cmp: impl FnMut(u64) -> Ordering) -> Option<usize> {
    let i = lower_bound(entries, &mut cmp);
    (i < entries.len() && cmp(entries[i]) == Ordering::Equal).then_some(i)
}

/// Entries per fence: a search first narrows to one block of this many entries using the
/// fences, which sit together in memory, and only then compares rows, which do not. 16 keeps a
/// block small enough to fetch all its rows at once (see `lower_bound_fenced`) for one byte of
/// fence per entry.
pub const FENCE_STRIDE: usize = 16;

/// A fence: the first 16 bytes of a key, big-endian, as (high, low) halves, which compare
/// lexicographically like the bytes. 16 bytes hold a whole single-column integer, date or
/// timestamp key and a two-column integer key up to most of its second column, so fences of
/// such keys differ wherever the keys do.
pub type Fence = [u64; 2];

/// The first 16 bytes of a key (zero-padded): monotone in key order, so
/// `key_prefix(a) < key_prefix(b)` implies `a < b`.
#[inline]
pub fn key_prefix(key: &[u8]) -> Fence {
    let mut b = [0u8; 16];
    let n = key.len().min(16);
    b[..n].copy_from_slice(&key[..n]);
    [u64::from_be_bytes(b[..8].try_into().unwrap()), u64::from_be_bytes(b[8..].try_into().unwrap())]
}

/// Number of fences for `len` entries.
pub fn fence_count(len: usize) -> usize {
    len.div_ceil(FENCE_STRIDE)
}

/// Number of top fences (every `FENCE_STRIDE`-th fence) for `nf` fences. They are few enough
/// to stay in the CPU cache, and narrow a search to `FENCE_STRIDE` fences (four cache lines),
/// so that a lookup in a large index waits on about one cache miss among the fences instead
/// of one per halving step.
pub fn top_count(nf: usize) -> usize {
    nf.div_ceil(FENCE_STRIDE)
}

/// Fills `top` (length `top_count(fences.len())`) with every `FENCE_STRIDE`-th fence.
pub fn build_top(fences: &[Fence], top: &mut [Fence]) {
    for (k, t) in top.iter_mut().enumerate() {
        *t = fences[k * FENCE_STRIDE];
    }
}

/// Fills `out` (length `fence_count(entries.len())`) with the key prefix of every
/// `FENCE_STRIDE`-th entry. `prefetch(e)` is called a few fences ahead of `prefix(e)`, so that
/// the caller can start fetching rows that lie far apart in memory.
pub fn build_fences(entries: &[u64], mut prefix: impl FnMut(u64) -> Fence, mut prefetch: impl FnMut(u64), out: &mut [Fence]) {
    const AHEAD: usize = 8;
    for j in 0..out.len().min(AHEAD) {
        prefetch(entries[j * FENCE_STRIDE]);
    }
    for j in 0..out.len() {
        if j + AHEAD < out.len() {
            prefetch(entries[(j + AHEAD) * FENCE_STRIDE]);
        }
        out[j] = prefix(entries[j * FENCE_STRIDE]);
    }
}

/// The positions `[lo, hi)` of `entries` that can hold the first entry `>= probe`, given the
/// probe's key prefix: every entry before `lo` is smaller than the probe and every entry from
/// `hi` on is greater (so a lower bound search needs only look inside, and answers `hi` when
/// nothing inside is `>=`).
/// `top` is `build_top`'s summary of `fences` (or empty: then it is not used).
#[inline]
pub fn fence_window(fences: &[Fence], top: &[Fence], len: usize, probe_prefix: Fence) -> (usize, usize) {
    // blocks whose first prefix is < probe: the lower bound is not before the last of them
    let below = if top.is_empty() {
        fences.partition_point(|f| *f < probe_prefix)
    } else {
        // top[t - 1] < probe <= top[t]: the count of fences < probe lies in
        // ((t - 1) * STRIDE, t * STRIDE]
        let t = top.partition_point(|f| *f < probe_prefix);
        let lo = t.saturating_sub(1) * FENCE_STRIDE;
        let hi = (t * FENCE_STRIDE).min(fences.len());
        lo + fences[lo..hi].partition_point(|f| *f < probe_prefix)
    };
    // blocks whose first prefix is <= probe: from the next block on, entries are > probe
    // (usually none equals the probe, and one comparison says so)
    let upto = match fences.get(below) {
        Some(f) if *f == probe_prefix => below + 1 + fences[below + 1..].partition_point(|f| *f <= probe_prefix),
        _ => below,
    };
    let lo = below.saturating_sub(1) * FENCE_STRIDE;
    let hi = (upto * FENCE_STRIDE).min(len);
    (lo.min(hi), hi)
}

/// `lower_bound` narrowed by fences.
pub fn lower_bound_fenced(entries: &[u64], fences: &[Fence], top: &[Fence], probe_prefix: Fence, cmp: impl FnMut(u64) -> Ordering) -> usize {
    let (lo, hi) = fence_window(fences, top, entries.len(), probe_prefix);
    lo + lower_bound(&entries[lo..hi], cmp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fences_narrow_like_a_plain_search() {
        // keys are u64 values; the "row" is the value itself, its key its big-endian bytes
        let mut rng = 0x9e3779b97f4a7c15u64;
        for len in [0usize, 1, 15, 16, 17, 63, 64, 65, 200, 255, 256, 257, 1000, 5000] {
            let mut v: Vec<u64> = (0..len)
                .map(|_| {
                    rng ^= rng << 13;
                    rng ^= rng >> 7;
                    rng ^= rng << 17;
                    rng % (len as u64 / 2 + 1) // many duplicates of a prefix
                })
                .collect();
            v.sort_unstable();
            let mut f = vec![[0; 2]; fence_count(len)];
            build_fences(&v, |e| [e / 7, e % 7], |_| {}, &mut f);
            let mut top = vec![[0; 2]; top_count(f.len())];
            build_top(&f, &mut top);
            for probe in 0..(len as u64 / 2 + 20) {
                let want = lower_bound(&v, |e| e.cmp(&probe));
                let got = lower_bound_fenced(&v, &f, &[], [probe / 7, probe % 7], |e| e.cmp(&probe));
                assert_eq!(got, want, "len {len} probe {probe}");
                let got = lower_bound_fenced(&v, &f, &top, [probe / 7, probe % 7], |e| e.cmp(&probe));
                assert_eq!(got, want, "len {len} probe {probe} (top fences)");
            }
        }
        assert!(key_prefix(&[1, 2]) < key_prefix(&[1, 2, 0, 0, 0, 0, 0, 0, 1]) || key_prefix(&[1, 2]) == key_prefix(&[1, 2, 0]));
        assert!(key_prefix(&[1, 2, 3]) < key_prefix(&[1, 3]));
        // a tagged bigint key is 9 bytes: its prefix is the whole key
        assert!(key_prefix(&[1, 0, 0, 0, 0, 0, 0, 0, 1]) < key_prefix(&[1, 0, 0, 0, 0, 0, 0, 0, 2]));
        assert!(key_prefix(&[0; 16]) < key_prefix(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]));
    }

    #[test]
    fn sparse_merges_like_merge_into() {
        let mut rng = 0x2545f4914f6cdd1du64;
        let mut next = || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        for round in 0..400 {
            let mut old: Vec<u64> = (0..next() % 300).map(|_| next() % 1000 * 2).collect();
            old.sort_unstable();
            old.dedup();
            let mut add: Vec<u64> = (0..next() % 20).map(|_| next() % 1000 * 2 + 1).collect();
            add.sort_unstable();
            add.dedup();
            let drop_mod = next() % 5 + 2;
            let keep = |e: u64| e % drop_mod != 0;
            let skip: Vec<usize> = (0..old.len()).filter(|&p| !keep(old[p])).collect();
            let want = merge_vec(&old, keep, &add, |a, b| a.cmp(&b)).unwrap();
            let mut f = vec![[0; 2]; fence_count(old.len())];
            build_fences(&old, |e| [e / 16, 0], |_| {}, &mut f);
            // each round locates one way: search everything, through fences, or the exact place
            let locator = |add: &[u64]| {
                let exact: Vec<usize> = add.iter().map(|&a| lower_bound(&old, |e| e.cmp(&a))).collect();
                let (f, n) = (&f, old.len());
                move |k: usize, a: u64| match round % 3 {
                    0 => (0, n),
                    1 => fence_window(f, &[], n, [a / 16, 0]),
                    _ => (exact[k], exact[k]),
                }
            };
            let locate = locator(&add);
            let mut got = vec![0; want.len()];
            merge_sparse(&old, &skip, &add, |a, b| a.cmp(&b), locate, &mut got).unwrap();
            assert_eq!(got, want);
            // an equal pair is a conflict unless the old one is skipped
            if let (Some(&o), false) = (old.first(), add.is_empty()) {
                let mut clash = add.clone();
                clash.push(o);
                clash.sort_unstable();
                let mut out = vec![0; old.len() - skip.len() + clash.len()];
                let r = merge_sparse(&old, &skip, &clash, |a, b| a.cmp(&b), locator(&clash), &mut out);
                assert_eq!(r.is_err(), keep(o));
            }
        }
    }

    #[test]
    fn basics() {
        let v = [10, 20, 20, 30];
        assert_eq!(lower_bound(&v, |e| e.cmp(&20)), 1);
        assert_eq!(lower_bound(&v, |e| e.cmp(&99)), 4);
        let (mut g, mut l) = (|e: u64| e.cmp(&15), |e: u64| e.cmp(&30));
        assert_eq!(range_positions(&v, Some(&mut g), Some(&mut l)), (1, 3));
        let mut l2 = |e: u64| e.cmp(&5);
        assert_eq!(range_positions(&v, Some(&mut g), Some(&mut l2)), (1, 1));
        assert_eq!(range_positions(&v, None, None), (0, 4));
        assert_eq!(find(&v, |e| e.cmp(&30)), Some(3));
        assert_eq!(find(&v, |e| e.cmp(&25)), None);
        let mut s = [3, 1, 2, 1];
        assert_eq!(sort_unique(&mut s, |a, b| a.cmp(&b)), Err((1, 1)));
        assert_eq!(merge_vec(&[1, 3, 5], |e| e != 3, &[2, 4], |a, b| a.cmp(&b)), Ok(vec![1, 2, 4, 5]));
        assert_eq!(merge_vec(&[1, 3], |_| true, &[3], |a, b| a.cmp(&b)), Err((3, 3)));
    }
}
