//! Reads: `get`, `range`, `covers`. Served from shared memory when the window guarantees the
//! answer is complete, otherwise answered by the database with the same rows in the same order.

use crate::args::{self, Args, Shape};
use crate::bound::Bound;
use crate::catalog::{self, CacheDef};
use crate::fallthrough;
use crate::guc;
use crate::shmem::{self, Slot};
use crate::store::{self, rows::Row, rows::Search};
use crate::xact;
use pgrx::pg_sys::{self, Datum};
use pgrx::prelude::*;
use std::cmp::Ordering as Cmp;
use std::sync::atomic::Ordering;
use tablecache_core::keys::split_columns;

/// Is every row of index `ixp` in [ge, lt) guaranteed to be in the cached window?
pub fn covered(slot: &Slot, def: &CacheDef, ixp: usize, ge: Option<&[u8]>, lt: Option<&[u8]>) -> bool {
    if slot.window_index < 0 {
        return false;
    }
    let w = slot.window_index as usize;
    let (wge, wlt) = (Slot::key_bytes(&slot.window_ge), Slot::key_bytes(&slot.window_lt));
    if wge.is_none() && wlt.is_none() {
        return true; // the whole query is cached
    }
    let within = |cmp: &dyn Fn(&[u8], &[u8]) -> Cmp, g: Option<&[u8]>, l: Option<&[u8]>| -> bool {
        wge.is_none_or(|w| g.is_some_and(|g| cmp(g, w) != Cmp::Less)) && wlt.is_none_or(|w| l.is_some_and(|l| cmp(l, w) != Cmp::Greater))
    };
    let ix = &def.indexes[ixp];
    if ixp == w {
        return within(&|a, b| ix.cmp(a, b), ge, lt);
    }
    // A secondary index whose last column is the window's only column: covered when the request
    // fixes every other column by equality and its range on the last one lies in the window.
    let wix = &def.indexes[w];
    if wix.cols.len() != 1 || ix.cols.last() != Some(&wix.cols[0]) {
        return false;
    }
    let (Some(g), Some(l)) = (ge, lt) else { return false };
    let (gc, lc) = (split_columns(g, &ix.layout), split_columns(l, &ix.layout));
    let k = ix.cols.len();
    if gc.len() != k || lc.len() != k || gc[..k - 1] != lc[..k - 1] || gc[..k - 1].iter().any(Option::is_none) {
        return false;
    }
    within(&|a, b| wix.cmp(a, b), gc[k - 1], lc[k - 1])
}

/// Is the single key `key` of index `ixp` inside the window?
pub fn covered_point(slot: &Slot, def: &CacheDef, ixp: usize, key: &[u8]) -> bool {
    if slot.window_index < 0 {
        return false;
    }
    let (wge, wlt) = (Slot::key_bytes(&slot.window_ge), Slot::key_bytes(&slot.window_lt));
    if wge.is_none() && wlt.is_none() {
        return true;
    }
    slot.window_index as usize == ixp && def.indexes[ixp].sql_in_range(key, wge, wlt)
}

/// How many rows ahead of the copy a range scan asks for.
const PREFETCH_AHEAD: usize = 8;

/// A read answered from `slot` (whose lock the caller holds).
fn hit(slot: &Slot) {
    slot.my_reads().hits.fetch_add(1, Ordering::Relaxed);
}

/// A read answered by the database (counted only when the cache has a slot: a read never
/// takes one).
fn miss(def: &CacheDef) {
    if let Some(i) = store::find_slot(def) {
        shmem::slot(i).my_reads().misses.fetch_add(1, Ordering::Relaxed);
    }
}

fn opt_bound(def: &CacheDef, ixp: usize, a: &Args, i: usize, what: &str) -> Option<Bound> {
    a.opt(i).map(|(d, t)| args::bound_for(def, &def.indexes[ixp], d, t, Shape::Prefix, what))
}

/// The caller's tuplestore, set up with the row type the caller expects when it says (a
/// function scan does), which spares resolving the polymorphic result type on every call.
unsafe fn init_materialize(fcinfo: pg_sys::FunctionCallInfo) -> *mut pg_sys::Tuplestorestate {
    unsafe {
        let rsinfo = (*fcinfo).resultinfo as *mut pg_sys::ReturnSetInfo;
        let expected = !rsinfo.is_null() && (*rsinfo).type_ == pg_sys::NodeTag::T_ReturnSetInfo && !(*rsinfo).expectedDesc.is_null();
        // without an expected type, InitMaterializedSRF resolves it (or reports the context)
        pg_sys::InitMaterializedSRF(fcinfo, if expected { pg_sys::MAT_SRF_USE_EXPECTED_DESC as _ } else { 0 });
        (*rsinfo).setResult
    }
}

/// The cache's memory for this read, if it may answer it.
fn read(def: &CacheDef) -> Option<store::ReadGuard> {
    // Inside a cache's query (a function of it reading a cache) memory is never used: the
    // read is answered by the database, and no refresh can start inside another one.
    if !guc::enabled() || crate::guard::in_cache_query() {
        return None;
    }
    let mut cx = xact::read_ctx(def.id);
    cx.fall_through |= def.rls_applies() || def.written_here();
    store::read(def, cx)
}

crate::finfo_v1!(pg_finfo_tablecache_get);

// `get` returns a composite datum, not a set: a function scan accepts the materialize
// protocol only from set-returning functions, and `get` must stay usable in expressions.
#[no_mangle]
#[pg_guard]
pub unsafe extern "C-unwind" fn tablecache_get(fcinfo: pg_sys::FunctionCallInfo) -> Datum {
    let a = Args(fcinfo);
    shmem::header();
    let def = catalog::lookup_by_rowtype(a.type_of(0));
    def.check_read_access();
    let Some((d, t)) = a.opt(1) else {
        unsafe { (*fcinfo).isnull = true };
        return Datum::from(0usize);
    };
    let key = args::bound_for(&def, &def.indexes[0], d, t, Shape::Full, "key");
    if let Some(g) = read(&def) {
        let arr = g.slot.index_entries(0);
        let pos = Search { slot: g.slot, ix: &def.indexes[0], i: 0 }.lower_bound(&key.key);
        if pos < arr.len() && Row::at(arr[pos]).key(0) == &key.key[..] {
            let mut t = Row::at(arr[pos]).heap_tuple();
            let d = unsafe { pg_sys::heap_copy_tuple_as_datum(&mut t, def.tupdesc) };
            hit(g.slot);
            drop(g);
            return d;
        }
        if covered_point(g.slot, &def, 0, &key.key) {
            hit(g.slot);
            drop(g);
            unsafe { (*fcinfo).isnull = true };
            return Datum::from(0usize);
        }
    }
    miss(&def);
    match fallthrough::get(&def, &key) {
        Some(d) => d,
        None => {
            unsafe { (*fcinfo).isnull = true };
            Datum::from(0usize)
        }
    }
}

/// The rows of a range, copied out of shared memory under the slot lock into one local buffer:
/// filling the tuplestore (which may spill to disk) happens after the lock is released.
struct Copied {
    /// palloc'd in the call's memory context (an oversized range is a clean ERROR, not an abort)
    buf: *mut u8,
    /// (offset in `buf`, length) of each tuple
    tuples: Vec<(usize, u32)>,
}

fn copy_range(g: &store::ReadGuard, def: &CacheDef, ixp: usize, gk: Option<&[u8]>, lk: Option<&[u8]>) -> Copied {
    let slot = g.slot;
    let arr = slot.index_entries(ixp);
    let ix = &def.indexes[ixp];
    let search = Search { slot, ix, i: ixp };
    let s = gk.map_or(0, |k| search.lower_bound(k));
    let e = lk.map_or(arr.len(), |k| search.lower_bound(k));
    let rows = &arr[s..e.max(s)];
    // rows of one range lie apart in the arena: keep a few fetches in flight, of about as many
    // bytes as the cache's average record
    let rec = (slot.row_bytes / slot.rows.max(1)).clamp(64, 512) as usize;
    rows.iter().take(PREFETCH_AHEAD).for_each(|&r| Row::prefetch_bytes(r, rec));
    let mut tuples = Vec::with_capacity(rows.len());
    let mut total = 0usize;
    for (n, &r) in rows.iter().enumerate() {
        if let Some(&ahead) = rows.get(n + PREFETCH_AHEAD) {
            Row::prefetch_bytes(ahead, rec);
        }
        let row = Row::at(r);
        if row.has_null(ixp) && !ix.sql_in_range(row.key(ixp), gk, lk) {
            continue;
        }
        let len = row.tuple_len();
        tuples.push((r as usize, len as u32));
        total += len.div_ceil(8) * 8;
    }
    let base = unsafe { pg_sys::MemoryContextAllocHuge(pg_sys::CurrentMemoryContext, total.max(8)) } as *mut u8;
    let mut at = 0usize;
    for t in tuples.iter_mut() {
        let row = Row::at(t.0 as u64);
        unsafe { std::ptr::copy_nonoverlapping(row.tuple_ptr() as *const u8, base.add(at), t.1 as usize) };
        t.0 = at;
        at += (t.1 as usize).div_ceil(8) * 8;
    }
    Copied { buf: base, tuples }
}

crate::finfo_v1!(pg_finfo_tablecache_range);

#[no_mangle]
#[pg_guard]
pub unsafe extern "C-unwind" fn tablecache_range(fcinfo: pg_sys::FunctionCallInfo) -> Datum {
    let a = Args(fcinfo);
    shmem::header();
    let def = catalog::lookup_by_rowtype(a.type_of(0));
    def.check_read_access();
    let ixp = def.index_pos(&a.text(1, "index"));
    let ge = opt_bound(&def, ixp, &a, 2, "ge");
    let lt = opt_bound(&def, ixp, &a, 3, "lt");
    args::check_order(&def, &def.indexes[ixp], &ge, &lt);
    let store = unsafe { init_materialize(fcinfo) };
    let (gk, lk) = (ge.as_ref().map(|b| &b.key[..]), lt.as_ref().map(|b| &b.key[..]));
    if let Some(g) = read(&def) {
        if covered(g.slot, &def, ixp, gk, lk) {
            let copied = copy_range(&g, &def, ixp, gk, lk);
            hit(g.slot);
            drop(g);
            let base = copied.buf;
            for &(at, len) in &copied.tuples {
                let mut t: pg_sys::HeapTupleData = unsafe { std::mem::zeroed() };
                t.t_len = len;
                t.t_data = unsafe { base.add(at) } as *mut pg_sys::HeapTupleHeaderData;
                t.t_tableOid = pg_sys::InvalidOid;
                unsafe { pg_sys::tuplestore_puttuple(store, &mut t) };
            }
            return Datum::from(0usize);
        }
    }
    miss(&def);
    fallthrough::range(&def, ixp, ge.as_ref(), lt.as_ref(), store);
    Datum::from(0usize)
}

crate::finfo_v1!(pg_finfo_tablecache_covers);

#[no_mangle]
#[pg_guard]
pub unsafe extern "C-unwind" fn tablecache_covers(fcinfo: pg_sys::FunctionCallInfo) -> Datum {
    let a = Args(fcinfo);
    shmem::header();
    let def = catalog::lookup_by_name(&a.text(0, "cache"));
    let ixp = def.index_pos(&a.text(1, "index"));
    let ge = opt_bound(&def, ixp, &a, 2, "ge");
    let lt = opt_bound(&def, ixp, &a, 3, "lt");
    args::check_order(&def, &def.indexes[ixp], &ge, &lt);
    let yes = match read(&def) {
        Some(g) => covered(g.slot, &def, ixp, ge.as_ref().map(|b| &b.key[..]), lt.as_ref().map(|b| &b.key[..])),
        None => false,
    };
    Datum::from(yes)
}
