//! Loading and moving a cache's window. The source query is streamed through an SPI cursor
//! straight into arena records; new index arrays are merged from the rows that stay and the rows
//! that enter; then `publish` swaps them in at once. Until then readers see the old window, and
//! any ERROR (a duplicate key, a full region, a cancel) frees everything staged.

use super::rows::{self, Row};
use super::inval::{self, Inval};
use super::{publish, Contents};
use crate::args::Bound;
use crate::catalog::{self, CacheDef};
use crate::shmem::{self, slot::KeyRef, SlotState};
use crate::sql_text::filter_sql;
use crate::{fail, fail_detail};
use pgrx::pg_sys::{self, Datum};
use std::cell::RefCell;
use std::collections::HashSet;
use std::ffi::CString;
use std::sync::atomic::Ordering;
use tablecache_core::alloc::Offset;
use tablecache_core::index;
use tablecache_core::keys::{sql_in_range, KeyEncoder};

thread_local! {
    /// Arena blocks this backend allocated for a load that is not yet published.
    static STAGED: RefCell<Vec<Offset>> = const { RefCell::new(Vec::new()) };
}

/// Frees whatever a failed or interrupted load left staged (also called at backend exit).
pub fn free_staged() {
    let blocks: Vec<Offset> = STAGED.with(|s| std::mem::take(&mut *s.borrow_mut()));
    if !blocks.is_empty() {
        shmem::free_many(blocks);
    }
}

struct StagingGuard;
impl Drop for StagingGuard {
    fn drop(&mut self) {
        free_staged();
    }
}

fn stage_alloc(def: &CacheDef, size: usize) -> Offset {
    match shmem::alloc(size) {
        Some(off) => {
            STAGED.with(|s| s.borrow_mut().push(off));
            off
        }
        None => {
            let st = shmem::memory_stats();
            fail_detail!(
                ERRCODE_OUT_OF_MEMORY,
                format!("{} of {} bytes in use, {} requested; raise tablecache.memory or load a smaller window", st.used_bytes, st.total_bytes, size),
                "tablecache memory is full while loading cache \"{}\"",
                def.name
            )
        }
    }
}

/// What a window bound block holds: the encoded key, then the column values as text (so that
/// another backend can turn the window back into SQL).
fn bound_bytes(b: &Bound) -> Vec<u8> {
    let mut buf = Vec::with_capacity(b.key.len() + 64);
    buf.extend_from_slice(&b.key);
    buf.extend_from_slice(&(b.texts.len() as u32).to_le_bytes());
    for t in &b.texts {
        buf.extend_from_slice(&(t.len() as u32).to_le_bytes());
        buf.extend_from_slice(t.as_bytes());
    }
    buf
}

fn write_bound(def: &CacheDef, b: &Bound) -> KeyRef {
    let buf = bound_bytes(b);
    let off = stage_alloc(def, buf.len());
    unsafe { std::ptr::copy_nonoverlapping(buf.as_ptr(), shmem::ptr(off), buf.len()) };
    KeyRef { off, len: b.key.len() as u32, present: 1 }
}

pub fn read_bound(k: &KeyRef) -> Option<Bound> {
    if k.present == 0 {
        return None;
    }
    let base = shmem::ptr(k.off);
    let key = unsafe { std::slice::from_raw_parts(base, k.len as usize) }.to_vec();
    let mut p = unsafe { base.add(k.len as usize) };
    let rd = |p: &mut *mut u8| -> u32 {
        let v = unsafe { (*p as *const u32).read_unaligned() };
        *p = unsafe { p.add(4) };
        v
    };
    let n = rd(&mut p);
    let mut texts = Vec::with_capacity(n as usize);
    for _ in 0..n {
        let len = rd(&mut p) as usize;
        let s = unsafe { std::slice::from_raw_parts(p, len) };
        texts.push(String::from_utf8_lossy(s).into_owned());
        p = unsafe { p.add(len) };
    }
    Some(Bound { key, texts, datums: Vec::new(), types: Vec::new() })
}

/// The current window of slot `i` as (index name, ge, lt); None when unloaded. Callers hold
/// the slot lock or the writer role.
pub fn window_spec(i: usize) -> Option<(String, Option<Bound>, Option<Bound>)> {
    let s = shmem::slot(i);
    if s.state != SlotState::Loaded || s.window_index < 0 {
        return None;
    }
    Some((s.window_name_str().to_string(), read_bound(&s.window_ge), read_bound(&s.window_lt)))
}

/// The current window of slot `i` as (index position, ge, lt); None when unloaded.
pub fn current_window(i: usize) -> Option<(usize, Option<Bound>, Option<Bound>)> {
    let s = shmem::slot(i);
    if s.state != SlotState::Loaded || s.window_index < 0 {
        return None;
    }
    Some((s.window_index as usize, read_bound(&s.window_ge), read_bound(&s.window_lt)))
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Mode {
    Load,
    Adjust,
    /// reload the same window from scratch (after an index definition changed)
    Reload,
    /// re-read what pending invalidations name, keep the window
    Refresh,
}

/// Non-failing variant of `write_bound` (PRE_COMMIT): None when the arena is full.
pub fn try_write_bound(b: &Bound) -> Option<KeyRef> {
    let buf = bound_bytes(b);
    let off = shmem::alloc(buf.len())?;
    unsafe { std::ptr::copy_nonoverlapping(buf.as_ptr(), shmem::ptr(off), buf.len()) };
    Some(KeyRef { off, len: b.key.len() as u32, present: 1 })
}

fn in_range_key(key: &[u8], has_null: bool, lo: Option<&[u8]>, hi: Option<&[u8]>, layout: &[tablecache_core::keys::ColKind]) -> bool {
    if has_null {
        return sql_in_range(key, lo, hi, layout);
    }
    lo.is_none_or(|g| key >= g) && hi.is_none_or(|l| key < l)
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

/// Searches run side by side in a small index update (see `Slot::positions_of`).
const SEARCH_BATCH: usize = 8;

type OffsetSet = HashSet<u64, std::hash::BuildHasherDefault<OffsetHasher>>;

/// `[a, b)` minus `[c, d)` on one index, as at most two half-open ranges (None: unbounded).
fn difference<'a>(a: Option<&'a Bound>, b: Option<&'a Bound>, c: Option<&'a Bound>, d: Option<&'a Bound>) -> Vec<(Option<&'a Bound>, Option<&'a Bound>)> {
    let lt = |x: Option<&Bound>, y: Option<&Bound>, x_is_lower: bool, y_is_lower: bool| -> bool {
        // x < y, where a lower None is -inf and an upper None is +inf
        match (x, y) {
            (Some(x), Some(y)) => x.key < y.key,
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

/// The one writer pass behind load, adjust, reload and refresh. The caller holds the writer
/// role of slot `slot`. `block`: wait for committing invalidators (else return None at once).
/// Returns the number of rows read from the database.
pub fn set_window(def: &CacheDef, slot: usize, ixp: usize, ge: Option<Bound>, lt: Option<Bound>, mode: Mode) -> i64 {
    write_pass(def, slot, ixp, ge, lt, mode, true).unwrap_or(0)
}

pub fn write_pass(def: &CacheDef, slot: usize, ixp: usize, ge: Option<Bound>, lt: Option<Bound>, mode: Mode, block: bool) -> Option<i64> {
    let s = shmem::slot(slot);
    if mode == Mode::Load && s.state == SlotState::Loaded {
        fail!(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE, "cache \"{}\" is already loaded; use tablecache.adjust to move its window", def.name);
    }
    if crate::xact::uses_xact_snapshot() {
        fail!(
            ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
            "cache \"{}\" can only be loaded or refreshed in a READ COMMITTED transaction (its rows are shared with every session)",
            def.name
        );
    }
    // Pending invalidations are resolved by this pass: collect them before the snapshot.
    let col = inval::collect(slot, block)?;
    // Only writers change a slot's contents, and we are the writer: reading them unlocked is safe.
    let loaded = s.state == SlotState::Loaded && s.def_version == def.version && mode != Mode::Reload && col.all_gen.is_none();
    let old = if loaded { current_window(slot) } else { None };

    // Entries name indexes by name; an index that no longer exists means "re-read everything".
    let mut entries: Vec<(usize, &Inval)> = Vec::new();
    let mut everything = !loaded;
    for v in &col.invals {
        match def.indexes.iter().position(|ix| ix.name == v.index) {
            Some(j) => entries.push((j, v)),
            None => everything = true,
        }
    }
    let loaded = loaded && !everything;
    let old = if loaded { old } else { None };

    let ix = &def.indexes[ixp];
    let mut params: Vec<String> = Vec::new();
    let window_sql = |params: &mut Vec<String>| filter_sql(def, ix, ge.as_ref(), lt.as_ref(), false, params).unwrap_or_else(|| "true".into());
    let where_sql = match &old {
        None => window_sql(&mut params),
        Some((oixp, oge, olt)) => {
            // Only what is new in the window, or named by an invalidation. Each alternative is
            // a selective range on its own, so the planner can use the indexes of the base
            // tables for it instead of scanning the whole new window.
            let mut alts = Vec::new();
            if *oixp == ixp {
                for (lo, hi) in difference(ge.as_ref(), lt.as_ref(), oge.as_ref(), olt.as_ref()) {
                    alts.push(filter_sql(def, ix, lo, hi, false, &mut params).unwrap_or_else(|| "true".into()));
                }
            } else {
                let w = window_sql(&mut params);
                match filter_sql(def, &def.indexes[*oixp], oge.as_ref(), olt.as_ref(), false, &mut params) {
                    Some(f) => alts.push(format!("({w} AND NOT COALESCE({f}, false))")),
                    None => {} // the old window was everything: nothing is new
                }
            }
            for (j, v) in &entries {
                let w = window_sql(&mut params);
                let e = filter_sql(def, &def.indexes[*j], v.lo.as_ref(), v.hi.as_ref(), v.hi_inclusive, &mut params).unwrap_or_else(|| "true".into());
                alts.push(format!("({w} AND {e})"));
            }
            if alts.is_empty() {
                "false".to_string()
            } else {
                alts.join(" OR ")
            }
        }
    };
    let sql = format!("SELECT * FROM ({}) q WHERE {}", def.query, where_sql);

    let _staging = StagingGuard;
    let mut staged: Vec<Offset> = Vec::new();
    let mut bytes: u64 = 0;
    s.progress_done.store(0, Ordering::Relaxed);
    s.progress_expected.store(0, Ordering::Relaxed);
    catalog::with_search_path(&def.search_path, || stream(def, &sql, &params, slot, &mut staged, &mut bytes));

    if let Err((a, _)) = index::sort_unique(&mut staged, |a, b| rows::cmp_rows(0, a, b)) {
        fail_detail!(
            ERRCODE_UNIQUE_VIOLATION,
            format!("Key ({})=({}) appears more than once.", pk_names(def), pk_text(def, a)),
            "query of cache \"{}\" returned two rows with the same primary key",
            def.name
        );
    }
    let old_pk: &[u64] = if loaded { s.index_entries(0) } else { &[] };
    // Old rows that leave: named by an invalidation, replaced by a row just read with the same
    // primary key, or outside the new window. Found by searches where possible: an adjust
    // that moves the window a little must not walk every cached row.
    let mut drop: OffsetSet = OffsetSet::default();
    if loaded {
        for (j, v) in &entries {
            let (lo, hi) = v.byte_range();
            let arr = s.index_entries(*j);
            let layout = &def.indexes[*j].layout;
            let a = lo.as_deref().map_or(0, |k| s.lower_bound(*j, k));
            let b = hi.as_deref().map_or(arr.len(), |k| s.lower_bound(*j, k));
            for &r in &arr[a..b.max(a)] {
                let row = Row::at(r);
                if in_range_key(row.key(*j), row.has_null(*j), lo.as_deref(), hi.as_deref(), layout) {
                    drop.insert(r);
                }
            }
        }
        for &r in &staged {
            let k = Row::at(r).key(0);
            let p = s.lower_bound(0, k);
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
            let a = gk.map_or(0, |k| s.lower_bound(ixp, k));
            let b = match (gk, lk) {
                (_, Some(k)) => s.lower_bound(ixp, k),
                (Some(_), None) => s.lower_bound(ixp, &[tablecache_core::keys::TAG_NULL]),
                (None, None) => arr.len(),
            };
            drop.extend(&arr[..a.min(arr.len())]);
            drop.extend(&arr[b.max(a).min(arr.len())..]);
        } else {
            for &r in old_pk {
                let row = Row::at(r);
                if !in_range_key(row.key(ixp), row.has_null(ixp), gk, lk, &ix.layout) {
                    drop.insert(r);
                }
            }
        }
    }
    let keep = |r: u64| !drop.contains(&r);
    let total = old_pk.len() - drop.len() + staged.len();

    let mut index_bytes = 0u64;
    let mut arrays = Vec::with_capacity(def.indexes.len());
    for j in 0..def.indexes.len() {
        let mut add = staged.clone();
        if j != 0 {
            add.sort_unstable_by(|&a, &b| rows::cmp_rows(j, a, b));
        }
        let off = stage_alloc(def, (total * 8).max(8));
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
                for (&r, p) in batch.iter().zip(s.positions_of(j, &batch)) {
                    if found.contains(&r) {
                        continue; // joined a run found earlier in this batch
                    }
                    if old_j.get(p) != Some(&r) {
                        fail!(ERRCODE_INTERNAL_ERROR, "index \"{}\" of cache \"{}\" is inconsistent", def.indexes[j].name, def.name);
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
                    places = s.positions_of(j, &add[k..(k + SEARCH_BATCH).min(add.len())]);
                }
                let p = places[k - from];
                (p, p)
            };
            index::merge_sparse(old_j, &skip, &add, |a, b| rows::cmp_rows(j, a, b), locate, out)
        } else {
            index::merge_into(old_j, keep, &add, |a, b| rows::cmp_rows(j, a, b), out)
        };
        if merged.is_err() {
            fail!(ERRCODE_INTERNAL_ERROR, "index \"{}\" of cache \"{}\" is inconsistent", def.indexes[j].name, def.name);
        }
        let nf = index::fence_count(total);
        let nt = index::top_count(nf);
        let fsize = (nf + nt) * std::mem::size_of::<index::Fence>();
        let foff = if nf == 0 { 0 } else { stage_alloc(def, fsize) };
        if nf > 0 {
            let all = unsafe { std::slice::from_raw_parts_mut(shmem::ptr(foff) as *mut index::Fence, nf + nt) };
            let (f, top) = all.split_at_mut(nf);
            index::build_fences(out, |e| index::key_prefix(Row::at(e).key(j)), Row::prefetch, f);
            index::build_top(f, top);
        }
        arrays.push((off, total as u64, foff));
        index_bytes += (total * 8 + fsize) as u64;
    }
    let window_ge = ge.as_ref().map(|b| write_bound(def, b)).unwrap_or_default();
    let window_lt = lt.as_ref().map(|b| write_bound(def, b)).unwrap_or_default();

    // Every old row not kept is freed: when not `loaded`, that is all of them.
    let all_old: &[u64] = if s.state == SlotState::Loaded { s.index_entries(0) } else { &[] };
    let expired: Vec<Offset> = if loaded { drop.iter().copied().collect() } else { all_old.to_vec() };
    let row_bytes = if loaded {
        let a = shmem::arena();
        s.row_bytes.saturating_sub(expired.iter().map(|&r| a.usable_size(r) as u64).sum()) + bytes
    } else {
        bytes
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
        def_version: def.version,
    };
    // Everything is allocated and checked: from here on nothing can fail.
    STAGED.with(|st| st.borrow_mut().clear());
    let garbage = publish(slot, contents, &expired, &col);
    shmem::free_many(garbage);

    let c = &s.counters;
    match mode {
        Mode::Load | Mode::Reload => c.loads.fetch_add(1, Ordering::Relaxed),
        Mode::Adjust => c.adjustments.fetch_add(1, Ordering::Relaxed),
        Mode::Refresh => c.refreshes.fetch_add(1, Ordering::Relaxed),
    };
    if mode != Mode::Refresh && !col.is_empty() {
        c.refreshes.fetch_add(1, Ordering::Relaxed);
    }
    // "Rows loaded" are the rows that entered the window; rows of the old window re-read for
    // pending invalidations count as refreshed (a refresh reports every row it re-read).
    let entered = match (&old, mode) {
        (_, Mode::Refresh) | (None, _) => staged.len(),
        (Some((oixp, oge, olt)), _) => {
            let layout = &def.indexes[*oixp].layout;
            let (og, ol) = (oge.as_ref().map(|b| &b.key[..]), olt.as_ref().map(|b| &b.key[..]));
            staged.iter().filter(|&&r| { let row = Row::at(r); !in_range_key(row.key(*oixp), row.has_null(*oixp), og, ol, layout) }).count()
        }
    };
    c.rows_loaded.fetch_add(entered as u64, Ordering::Relaxed);
    c.rows_expired.fetch_add(expired.len() as u64, Ordering::Relaxed);
    Some(entered as i64)
}

fn stream(def: &CacheDef, sql: &str, params: &[String], slot: usize, staged: &mut Vec<Offset>, bytes: &mut u64) {
    let csql = CString::new(sql).unwrap_or_default();
    let s = shmem::slot(slot);
    unsafe {
        if pg_sys::SPI_connect() < 0 {
            fail!(ERRCODE_INTERNAL_ERROR, "SPI_connect failed");
        }
        let mut argtypes = vec![pg_sys::TEXTOID; params.len()];
        let cparams: Vec<CString> = params.iter().map(|p| CString::new(p.as_str()).unwrap_or_default()).collect();
        let mut values: Vec<Datum> = cparams.iter().map(|c| Datum::from(pg_sys::cstring_to_text(c.as_ptr()))).collect();
        let plan = pg_sys::SPI_prepare(csql.as_ptr(), params.len() as i32, argtypes.as_mut_ptr());
        if plan.is_null() {
            fail!(ERRCODE_INTERNAL_ERROR, "could not prepare the query of cache \"{}\"", def.name);
        }
        // read_only = false: a fresh snapshot, taken after `collect` saw no transaction mid-commit
        let portal = pg_sys::SPI_cursor_open(std::ptr::null(), plan, values.as_mut_ptr(), std::ptr::null(), false);
        // even when no row comes back: a base table may have been altered since create_cache
        check_shape(def, (*portal).tupDesc);
        if let Some(est) = plan_rows(portal) {
            s.progress_expected.store(est, Ordering::Relaxed);
        }
        let natts = def.columns.len();
        let mut vals = vec![Datum::from(0usize); natts];
        let mut nulls = vec![false; natts];
        let mut encs: Vec<KeyEncoder> = (0..def.indexes.len()).map(|_| KeyEncoder::new()).collect();
        let mut checked = false;
        loop {
            pg_sys::SPI_cursor_fetch(portal, true, 1000);
            let n = pg_sys::SPI_processed as usize;
            let tt = pg_sys::SPI_tuptable;
            if n == 0 || tt.is_null() {
                break;
            }
            let td = (*tt).tupdesc;
            if !checked {
                check_shape(def, td);
                checked = true;
            }
            for t in 0..n {
                let tup = *(*tt).vals.add(t);
                pg_sys::heap_deform_tuple(tup, td, vals.as_mut_ptr(), nulls.as_mut_ptr());
                if let Some(&c) = def.indexes[0].cols.iter().find(|&&c| nulls[c]) {
                    fail!(
                        ERRCODE_NOT_NULL_VIOLATION,
                        "query of cache \"{}\" returned a row whose primary key column \"{}\" is NULL",
                        def.name,
                        def.col_name(c)
                    );
                }
                let mut null_mask = 0u16;
                for (j, ix) in def.indexes.iter().enumerate() {
                    let e = &mut encs[j];
                    e.clear();
                    for (c, &att) in ix.cols.iter().enumerate() {
                        if nulls[att] {
                            null_mask |= 1 << j;
                        }
                        crate::keys::push_datum(e, ix.types[c], vals[att], nulls[att]);
                    }
                }
                // Rows are stored detoasted: a cached row must not point into a table's TOAST.
                let (tptr, tlen, flat) = if (*(*tup).t_data).t_infomask as u32 & pg_sys::HEAP_HASEXTERNAL != 0 {
                    let d = pg_sys::heap_copy_tuple_as_datum(tup, td);
                    let h = d.cast_mut_ptr::<pg_sys::HeapTupleHeaderData>();
                    (h as *const u8, super::tuple_datum_len(h), Some(h))
                } else {
                    ((*tup).t_data as *const u8, (*tup).t_len as usize, None)
                };
                let keys: Vec<&[u8]> = encs.iter().map(|e| e.as_bytes()).collect();
                let size = rows::record_size(&keys, tlen);
                let off = stage_alloc(def, size);
                rows::write(shmem::ptr(off), &keys, null_mask, tptr, tlen);
                if let Some(h) = flat {
                    pg_sys::pfree(h.cast());
                }
                staged.push(off);
                *bytes += shmem::arena().usable_size(off) as u64;
            }
            pg_sys::SPI_freetuptable(tt);
            s.progress_done.store(staged.len() as u64, Ordering::Relaxed);
        }
        pg_sys::SPI_cursor_close(portal);
        pg_sys::SPI_finish();
    }
}

unsafe fn plan_rows(portal: pg_sys::Portal) -> Option<u64> {
    unsafe {
        if portal.is_null() || (*portal).stmts.is_null() || (*(*portal).stmts).length == 0 {
            return None;
        }
        let stmt = (*(*(*portal).stmts).elements).ptr_value as *mut pg_sys::PlannedStmt;
        if (*stmt).planTree.is_null() {
            return None;
        }
        Some((*(*stmt).planTree).plan_rows.max(0.0) as u64)
    }
}

/// The query must still produce the row type the cache was created with.
pub unsafe fn check_shape(def: &CacheDef, td: pg_sys::TupleDesc) {
    unsafe {
        let ok = (*td).natts as usize == def.columns.len()
            && def.columns.iter().enumerate().all(|(i, c)| (*(*td).attrs.as_ptr().add(i)).atttypid == c.typid);
        if !ok {
            fail!(
                ERRCODE_DATATYPE_MISMATCH,
                "the query of cache \"{}\" no longer returns the columns of its row type (was a base table altered?)",
                def.name
            );
        }
    }
}

pub fn pk_names(def: &CacheDef) -> String {
    def.indexes[0].cols.iter().map(|&c| def.col_name(c).to_string()).collect::<Vec<_>>().join(", ")
}

/// The primary key of a stored row, as text, for messages.
pub fn pk_text(def: &CacheDef, r: u64) -> String {
    let row = Row::at(r);
    // stored tuples are unaligned: deform an aligned copy
    let mut tup = row.heap_tuple();
    let copy = unsafe { pg_sys::heap_copytuple(&mut tup) };
    let mut tup = unsafe { *copy };
    let n = def.columns.len();
    let mut vals = vec![Datum::from(0usize); n];
    let mut nulls = vec![false; n];
    unsafe { pg_sys::heap_deform_tuple(&mut tup, def.tupdesc, vals.as_mut_ptr(), nulls.as_mut_ptr()) };
    def.indexes[0]
        .cols
        .iter()
        .map(|&c| if nulls[c] { "NULL".to_string() } else { crate::args::output_text(vals[c], def.columns[c].typid) })
        .collect::<Vec<_>>()
        .join(", ")
}
