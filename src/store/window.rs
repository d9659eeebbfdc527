//! Loading and moving a cache's window. The source query is streamed through an SPI cursor
//! straight into arena records; new index arrays are merged from the rows that stay and the rows
//! that enter. The result is `Staged`: published at once, or when the transaction that made it
//! commits (see `xact`). Until then readers see the old window, and any ERROR (a duplicate key,
//! a full region, a cancel) frees everything staged.

use super::inval::{self, Inval};
use super::rows::{self, Row, Search};
use super::staging::{current_window, take_staged, Alloc, Staged, StagingGuard};
use super::Contents;
use crate::bound::Bound;
use crate::catalog::CacheDef;
use crate::shmem::{self, SlotState};
use crate::sql_text::{point_sql, range_sql, Params};
use crate::{fail, fail_detail};
use pgrx::pg_sys;
use std::cmp::Ordering as Cmp;
use std::collections::HashSet;
use std::sync::atomic::Ordering;
use tablecache_core::alloc::Offset;
use tablecache_core::index;

pub use super::staging::{free_staged, read_bound, try_write_bound, window_spec};
pub use super::stream::{check_shape, pk_names, pk_text};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Mode {
    Load,
    Adjust,
    /// reload the same window from scratch (after an index definition changed)
    Reload,
    /// re-read what pending invalidations name, keep the window
    Refresh,
}

/// How a pass runs.
#[derive(Clone, Copy)]
pub struct PassOpts {
    /// wait for invalidating transactions still committing (else leave their entries pending)
    pub block: bool,
    /// build the whole window anew, ignoring the published contents (a transaction that already
    /// staged contents for this cache builds on the database, not on what it staged)
    pub from_scratch: bool,
}

/// Row offsets are already well spread: a multiply-shift hash is enough, and the merge asks the
/// set once per entry of every index.
#[derive(Default)]
struct OffsetHasher(u64);

impl std::hash::Hasher for OffsetHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ b as u64).wrapping_mul(0x100000001b3);
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = (v ^ (v >> 29)).wrapping_mul(0xbf58476d1ce4e5b9);
    }
}

/// Searches run side by side in a small index update (see `Search::positions_of`).
const SEARCH_BATCH: usize = 8;

type OffsetSet = HashSet<u64, std::hash::BuildHasherDefault<OffsetHasher>>;

/// `[a, b)` minus `[c, d)` on one index, as at most two half-open ranges (None: unbounded).
fn difference<'a>(
    cmp: impl Fn(&[u8], &[u8]) -> Cmp,
    a: Option<&'a Bound>,
    b: Option<&'a Bound>,
    c: Option<&'a Bound>,
    d: Option<&'a Bound>,
) -> Vec<(Option<&'a Bound>, Option<&'a Bound>)> {
    let lt = |x: Option<&Bound>, y: Option<&Bound>, x_is_lower: bool, y_is_lower: bool| -> bool {
        // x < y, where a lower None is -inf and an upper None is +inf
        match (x, y) {
            (Some(x), Some(y)) => cmp(&x.key, &y.key) == Cmp::Less,
            (None, None) => x_is_lower && !y_is_lower,
            (None, Some(_)) => x_is_lower,
            (Some(_), None) => !y_is_lower,
        }
    };
    let mut out = Vec::new();
    // the part below the old window: [a, min(b, c))
    if let Some(cb) = c {
        if lt(a, Some(cb), true, false) {
            let hi = if lt(b, Some(cb), false, false) { b } else { Some(cb) };
            if lt(a, hi, true, false) {
                out.push((a, hi));
            }
        }
    }
    // the part above it: [max(a, d), b)
    if let Some(db) = d {
        if lt(Some(db), b, false, false) {
            let lo = if lt(a, Some(db), true, false) { Some(db) } else { a };
            if lt(lo, b, true, false) {
                out.push((lo, b));
            }
        }
    }
    out
}

/// Can a re-read (target `target`) move a row out of the window [ge, lt) of index `ixp`?
fn window_leaves(def: &CacheDef, ixp: usize, ge: &Option<Bound>, lt: &Option<Bound>, target: &str) -> bool {
    if ge.is_none() && lt.is_none() {
        return false;
    }
    let Some(inst) = def.instances.iter().find(|i| i.target == target) else { return true };
    def.indexes[ixp].cols.iter().any(|&c| inst.output_columns.iter().any(|o| o == def.col_name(c)))
}

/// The one writer pass behind load, adjust, reload and refresh. The caller holds the writer
/// lock of the cache. Returns None when a non-blocking refresh found nothing it may resolve yet.
pub fn write_pass(def: &CacheDef, slot: usize, ixp: usize, ge: Option<Bound>, lt: Option<Bound>, mode: Mode, opts: PassOpts) -> Option<Staged> {
    def.check_owner_rls();
    let s: &crate::shmem::Slot = shmem::slot(slot);
    super::ensure_exit_callback();
    let _busy = super::Busy::new(slot);
    // Pending invalidations are resolved by this pass: collect them before the snapshot.
    if unsafe { pg_sys::RecoveryInProgress() } {
        shmem::standby::state().was_standby.store(1, std::sync::atomic::Ordering::Release);
    }
    inval::note_unknown_prepared(slot);
    inval::adopt_unslotted(slot);
    let col = inval::collect(slot, opts.block);
    if mode == Mode::Refresh && col.is_empty() {
        return None;
    }
    // Only writers change a slot's contents, and we hold the writer lock: reading them
    // unlocked is safe.
    let loaded = !opts.from_scratch && s.state == SlotState::Loaded && s.def_version == def.fingerprint && mode != Mode::Reload && !col.everything();
    let old = if loaded { current_window(def, slot) } else { None };

    // Entries name indexes by name; an index that no longer exists means "re-read everything".
    // (position of a stored index, or None for a re-read target, the index, the entry)
    let mut entries: Vec<(Option<usize>, &crate::catalog::IndexDef, &Inval)> = Vec::new();
    let mut everything = !loaded || old.is_none();
    for v in &col.invals {
        if v.is_all() {
            everything = true;
            continue;
        }
        match (def.indexes.iter().position(|ix| ix.name == v.index), def.target(&v.index)) {
            // A re-read finds the new rows of a key inside the window, never the old ones that
            // leave it: when the window's index is over a column the re-read table can change,
            // the whole window is read again.
            (None, Some(_)) if window_leaves(def, ixp, &ge, &lt, &v.index) => everything = true,
            (j, Some(ix)) => entries.push((j, ix, v)),
            _ => everything = true,
        }
    }
    let loaded = loaded && !everything;
    let old = if loaded { old } else { None };

    let ix = &def.indexes[ixp];
    let pk = &def.indexes[0];
    let mut params = Params::default();
    let window_sql = |params: &mut Params| range_sql(def, ix, ge.as_ref(), lt.as_ref(), false, params);
    let where_sql = match &old {
        None => window_sql(&mut params).unwrap_or_else(|| "true".into()),
        Some((oixp, oge, olt)) => {
            // Only what is new in the window, or named by an invalidation. Each alternative is
            // a selective range on its own, so the planner can use the indexes of the base
            // tables for it instead of scanning the whole new window.
            let mut alts = Vec::new();
            let unbounded = ge.is_none() && lt.is_none();
            if *oixp == ixp && ix.cols.len() == 1 && !unbounded {
                // One column, bounded: no NULL key is in either window, and what enters is the
                // difference of two ranges.
                for (lo, hi) in difference(|a, b| ix.cmp(a, b), ge.as_ref(), lt.as_ref(), oge.as_ref(), olt.as_ref()) {
                    alts.push(range_sql(def, ix, lo, hi, false, &mut params).unwrap_or_else(|| "true".into()));
                }
            } else if let Some(f) = range_sql(def, &def.indexes[*oixp], oge.as_ref(), olt.as_ref(), false, &mut params) {
                // Row comparisons with NULL columns are unknown: the difference of two ranges in
                // the index's order is not the difference of the two WHERE clauses. Ask SQL.
                let w = window_sql(&mut params).unwrap_or_else(|| "true".into());
                alts.push(format!("({w} AND NOT COALESCE({f}, false))"));
            } // else the old window was everything: nothing is new
            for (_, jx, v) in &entries {
                let w = window_sql(&mut params).unwrap_or_else(|| "true".into());
                let e = match &v.lo {
                    Some(p) if v.is_point() => point_sql(def, jx, p, &mut params),
                    _ => range_sql(def, jx, v.lo.as_ref(), v.hi.as_ref(), v.hi_inclusive, &mut params).unwrap_or_else(|| "true".into()),
                };
                alts.push(format!("({w} AND {e})"));
            }
            if alts.is_empty() {
                "false".to_string()
            } else {
                alts.join(" OR ")
            }
        }
    };
    let sql = format!("{} WHERE {}", def.source_sql(), where_sql);

    let _staging = StagingGuard;
    let kept_bytes = if loaded { s.bytes } else { 0 };
    let mut alloc = Alloc { def, budget: super::owner_budget(def, slot).map(|b| b.saturating_sub(kept_bytes)), used: 0 };
    let mut staged: Vec<Offset> = Vec::new();
    let mut bytes: u64 = 0;
    s.progress_done.store(0, Ordering::Relaxed);
    s.progress_expected.store(0, Ordering::Relaxed);
    def.env().run(|| super::stream::stream(def, &sql, &params, slot, &mut alloc, &mut staged, &mut bytes));

    if let Err((a, _)) = index::sort_unique(&mut staged, |a, b| rows::cmp_rows(pk, pk, 0, a, b)) {
        fail_detail!(
            ERRCODE_UNIQUE_VIOLATION,
            format!("Key ({})=({}) appears more than once.", pk_names(def), pk_text(def, a)),
            "query of cache \"{}\" returned two rows with the same primary key",
            def.name
        );
    }
    let old_pk: &[u64] = if loaded { s.index_entries(0) } else { &[] };
    let search = |j: usize| Search { slot: s, ix: &def.indexes[j], i: j };
    // Old rows that leave: named by an invalidation, replaced by a row just read with the same
    // primary key, or outside the new window. Found by searches where possible: an adjust
    // that moves the window a little must not walk every cached row.
    let mut drop: OffsetSet = OffsetSet::default();
    if loaded {
        // a re-read target has no memory: its rows are replaced by primary key (below)
        for (j, jx, v) in entries.iter().filter_map(|(j, jx, v)| j.map(|j| (j, jx, v))) {
            let j = &j;
            let (lo, hi) = v.byte_range();
            let arr = s.index_entries(*j);
            let a = lo.as_deref().map_or(0, |k| search(*j).lower_bound(k));
            let b = hi.as_deref().map_or(arr.len(), |k| search(*j).lower_bound(k));
            let point = v.is_point();
            for &r in &arr[a..b.max(a)] {
                let row = Row::at(r);
                // A key (prefix) names the rows that start with it, NULL columns and all; a
                // range, the rows SQL's row comparison puts inside it (the same rows its
                // refresh re-reads).
                if point || !row.has_null(*j) || sql_in_inval(jx, row.key(*j), v) {
                    drop.insert(r);
                }
            }
        }
        for &r in &staged {
            let k = Row::at(r).key(0);
            let p = search(0).lower_bound(k);
            if p < old_pk.len() && Row::at(old_pk[p]).key(0) == k {
                drop.insert(old_pk[p]);
            }
        }
        let (gk, lk) = (ge.as_ref().map(|b| &b.key[..]), lt.as_ref().map(|b| &b.key[..]));
        let same_index = old.as_ref().is_some_and(|(o, _, _)| *o == ixp);
        if same_index && ix.cols.len() == 1 {
            // one key column: the window is a contiguous run of its array. A bounded window
            // holds no NULL key (SQL comparisons with NULL are unknown); NULLs sort last.
            let arr = s.index_entries(ixp);
            let a = gk.map_or(0, |k| search(ixp).lower_bound(k));
            let b = match (gk, lk) {
                (_, Some(k)) => search(ixp).lower_bound(k),
                (Some(_), None) => search(ixp).lower_bound(&[tablecache_core::keys::TAG_NULL]),
                (None, None) => arr.len(),
            };
            drop.extend(&arr[..a.min(arr.len())]);
            drop.extend(&arr[b.max(a).min(arr.len())..]);
        } else {
            for &r in old_pk {
                if !in_window(def, ixp, Row::at(r), gk, lk) {
                    drop.insert(r);
                }
            }
        }
    }
    let keep = |r: u64| !drop.contains(&r);
    let total = old_pk.len() - drop.len() + staged.len();

    let mut index_bytes = 0u64;
    let mut arrays = Vec::with_capacity(def.indexes.len());
    for (j, jx) in def.indexes.iter().enumerate() {
        let mut add = staged.clone();
        if j != 0 {
            add.sort_unstable_by(|&a, &b| rows::cmp_rows(jx, pk, j, a, b));
        }
        let off = alloc.alloc((total * 8).max(8));
        let out = unsafe { std::slice::from_raw_parts_mut(shmem::ptr(off) as *mut u64, total) };
        let old_j: &[u64] = if loaded { s.index_entries(j) } else { &[] };
        let merged = if (add.len() + drop.len()) * 16 < old_j.len() {
            // A small change: find the leaving rows' positions and the new rows' places by
            // searches, and copy the runs between, rather than test every old entry.
            // Leaving rows usually stand together (the oldest hour): a search finds a row, and
            // its neighbours in the set join it without one. Scattered ones are searched for a
            // few at a time, their memory fetches overlapped.
            let mut skip = Vec::with_capacity(drop.len());
            let mut found = OffsetSet::default();
            let mut batch = Vec::with_capacity(SEARCH_BATCH);
            let mut pending = drop.iter().copied().peekable();
            while pending.peek().is_some() {
                batch.clear();
                batch.extend(pending.by_ref().filter(|r| !found.contains(r)).take(SEARCH_BATCH));
                for (&r, p) in batch.iter().zip(search(j).positions_of(pk, &batch)) {
                    if found.contains(&r) {
                        continue; // joined a run found earlier in this batch
                    }
                    if old_j.get(p) != Some(&r) {
                        fail!(ERRCODE_INTERNAL_ERROR, "index \"{}\" of cache \"{}\" is inconsistent", jx.name, def.name);
                    }
                    let (mut a, mut b) = (p, p + 1);
                    while a > 0 && drop.contains(&old_j[a - 1]) {
                        a -= 1;
                    }
                    while b < old_j.len() && drop.contains(&old_j[b]) {
                        b += 1;
                    }
                    skip.extend(a..b);
                    found.extend(&old_j[a..b]);
                }
            }
            skip.sort_unstable();
            // new rows' places, searched for a batch at a time when asked (a run of new rows
            // asks once: the merge places the rest of it by one comparison each)
            let (mut from, mut places) = (0usize, Vec::new());
            let locate = |k: usize, _a: u64| {
                if k < from || k >= from + places.len() {
                    from = k;
                    places = search(j).positions_of(pk, &add[k..(k + SEARCH_BATCH).min(add.len())]);
                }
                let p = places[k - from];
                (p, p)
            };
            index::merge_sparse(old_j, &skip, &add, |a, b| rows::cmp_rows(jx, pk, j, a, b), locate, out)
        } else {
            index::merge_into(old_j, keep, &add, |a, b| rows::cmp_rows(jx, pk, j, a, b), out)
        };
        if merged.is_err() {
            fail!(ERRCODE_INTERNAL_ERROR, "index \"{}\" of cache \"{}\" is inconsistent", jx.name, def.name);
        }
        // An index ordered by a collation gets no fences: byte prefixes do not follow its order.
        let nf = if jx.any_collated { 0 } else { index::fence_count(total) };
        let nt = index::top_count(nf);
        let fsize = (nf + nt) * std::mem::size_of::<index::Fence>();
        let foff = if nf == 0 { 0 } else { alloc.alloc(fsize) };
        if nf > 0 {
            let all = unsafe { std::slice::from_raw_parts_mut(shmem::ptr(foff) as *mut index::Fence, nf + nt) };
            let (f, top) = all.split_at_mut(nf);
            index::build_fences(out, |e| index::key_prefix(Row::at(e).key(j)), Row::prefetch, f);
            index::build_top(f, top);
        }
        arrays.push((off, total as u64, foff));
        index_bytes += (total * 8 + fsize) as u64;
    }
    let window_ge = ge.as_ref().map(|b| alloc.write_bound(b)).unwrap_or_default();
    let window_lt = lt.as_ref().map(|b| alloc.write_bound(b)).unwrap_or_default();

    // Every old row not kept is freed: when not `loaded`, that is all of them.
    let all_old: &[u64] = if s.state == SlotState::Loaded { s.index_entries(0) } else { &[] };
    let expired: Vec<Offset> = if loaded { drop.iter().copied().collect() } else { all_old.to_vec() };
    let row_bytes = if loaded {
        let a = shmem::arena();
        s.row_bytes.saturating_sub(expired.iter().map(|&r| a.usable_size(r) as u64).sum()) + bytes
    } else {
        bytes
    };
    // "Rows loaded" are the rows that entered the window; rows of the old window re-read for
    // pending invalidations count as refreshed (a refresh reports every row it re-read).
    let entered = match (&old, mode) {
        (_, Mode::Refresh) | (None, _) => staged.len(),
        (Some((oixp, oge, olt)), _) => {
            let (og, ol) = (oge.as_ref().map(|b| &b.key[..]), olt.as_ref().map(|b| &b.key[..]));
            staged.iter().filter(|&&r| !in_window(def, *oixp, Row::at(r), og, ol)).count()
        }
    };
    let contents = Contents {
        arrays,
        window_index: ixp as i32,
        window_name: ix.name.clone(),
        window_ge,
        window_lt,
        rows: total as u64,
        bytes: index_bytes + row_bytes,
        row_bytes,
        def_version: def.fingerprint,
    };
    // Everything is allocated and checked: the blocks now belong to the staged contents.
    let blocks = take_staged();
    Some(Staged { slot, contents: Some(contents), expired, collected: col, blocks, mode, entered: entered as u64, charged: 0 }.charge(alloc.used))
}

/// Is `key` (which has a NULL column) inside range invalidation `v` under SQL's row comparison?
fn sql_in_inval(ix: &crate::catalog::IndexDef, key: &[u8], v: &Inval) -> bool {
    let cmp = |b: &Bound| tablecache_core::keys::sql_compare_by(key, &b.key, &ix.layout, |j, x, y| crate::keys::cmp_column(ix.types[j], x, y));
    v.lo.as_ref().is_none_or(|b| matches!(cmp(b), Some(Cmp::Greater | Cmp::Equal)))
        && v.hi.as_ref().is_none_or(|b| match cmp(b) {
            Some(Cmp::Less) => true,
            Some(Cmp::Equal) => v.hi_inclusive,
            _ => false,
        })
}

/// Is `row` inside the window [ge, lt) of index `i`? (SQL's row comparison for keys with NULLs.)
fn in_window(def: &CacheDef, i: usize, row: Row, ge: Option<&[u8]>, lt: Option<&[u8]>) -> bool {
    let ix = &def.indexes[i];
    let key = row.key(i);
    if row.has_null(i) {
        return ix.sql_in_range(key, ge, lt);
    }
    ge.is_none_or(|g| ix.cmp(key, g) != Cmp::Less) && lt.is_none_or(|l| ix.cmp(key, l) == Cmp::Less)
}

/// A reader's refresh of slot `i`: only if the writer lock is free right now, and publishing at
/// once (the caller's transaction has written nothing). A refresh that cannot complete — the
/// region is full, the query now returns a duplicate key, a base table was altered — must not
/// fail the read: it is rolled back, the cache is unloaded (reads then go to the database,
/// until the next load) and the read falls through.
pub fn try_refresh(def: &CacheDef, i: usize) -> bool {
    // Under a parallel plan (a Gather below the call) no subtransaction can start: the read
    // falls through instead.
    if unsafe { pg_sys::IsInParallelMode() } {
        return false;
    }
    let Some(lock) = super::lock_writer(def.id, false) else { return false };
    let Some((ixp, ge, lt)) = current_window(def, i) else {
        lock.release();
        return false;
    };
    let ok = guarded_pass(def, || {
        write_pass(def, i, ixp, ge, lt, Mode::Refresh, PassOpts { block: false, from_scratch: false }).map(Staged::publish).is_some()
    });
    lock.release();
    ok == Some(true)
}

/// Errors that are about the session, not about the cache: a cancel, a timeout, a shutdown,
/// a deadlock or serialization failure. They propagate: the cache stays as it is.
fn about_the_session(code: pgrx::PgSqlErrorCode) -> bool {
    let class = |c: pgrx::PgSqlErrorCode| (c as i32) & 0xFFF;
    [pgrx::PgSqlErrorCode::ERRCODE_OPERATOR_INTERVENTION, pgrx::PgSqlErrorCode::ERRCODE_TRANSACTION_ROLLBACK].into_iter().any(|k| class(k) == class(code))
}

/// Runs `f` in a subtransaction. On an ERROR about the cache (the region is full, a duplicate
/// key, a base table altered): the subtransaction is rolled back, the error logged as a
/// WARNING, the cache unloaded (the caller holds its writer lock), and None returned. An error
/// about the session (a cancel, a timeout, a deadlock) is rolled back and raised again.
pub fn guarded_pass<R>(def: &CacheDef, f: impl FnOnce() -> R) -> Option<R> {
    let e = match crate::guard::subtransaction(f) {
        Ok(v) => return Some(v),
        Err(e) => e,
    };
    let report = crate::guard::report_of(&e);
    if about_the_session(report.sql_error_code()) {
        e.rethrow();
    }
    pgrx::warning!(
        "tablecache: cache \"{}\" could not be refreshed and is unloaded (reads go to the database until it is loaded again): {}",
        def.name,
        report.message()
    );
    if let Some(i) = super::find_slot(def) {
        super::unload(i);
    }
    None
}
