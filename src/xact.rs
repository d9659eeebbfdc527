//! Transaction and process glue.
//!
//! Invalidations are collected per transaction (with the subtransaction level that made them)
//! and recorded in shared memory at PRE_COMMIT, before the transaction's changes become visible;
//! the COMMIT or ABORT callback then releases the slots' "committing" count. A rolled-back
//! subtransaction's invalidations are dropped; an aborted transaction's never reach shared memory.

use crate::shmem;
use crate::store::{self, inval::Inval};
use pgrx::pg_sys;
use pgrx::{register_xact_callback, PgXactCallbackEvent};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;

thread_local! {
    static EPOCH_PENDING: Cell<bool> = const { Cell::new(false) };
    static EXIT_REGISTERED: Cell<bool> = const { Cell::new(false) };
    static CALLBACKS_REGISTERED: Cell<bool> = const { Cell::new(false) };
    static LOCAL: RefCell<Local> = RefCell::new(Local::default());
}

struct LocalInval {
    cache_id: i64,
    level: i32,
    inval: Inval,
}

#[derive(Default)]
struct Local {
    invals: Vec<LocalInval>,
    /// (cache, index, point key) -> shallowest level that has it: a repeated point is skipped
    points: HashMap<(i64, String, Vec<u8>), i32>,
    /// cache id -> (name, definition version)
    caches: HashMap<i64, (String, i64)>,
    /// cache id -> invalidations added in this transaction (bulk statements switch to "all")
    counts: HashMap<i64, usize>,
    /// cache id -> shallowest level with an "everything" invalidation
    all: HashMap<i64, i32>,
    /// slots recorded at PRE_COMMIT, released at COMMIT/ABORT
    recorded: Vec<usize>,
    /// caches created by this transaction, with the level that created them
    created: Vec<(i64, i32)>,
}

/// Notes a cache created by this transaction: if it aborts, its memory is given back.
pub fn created(cache_id: i64) {
    ensure_callbacks();
    let level = nest_level();
    LOCAL.with(|l| l.borrow_mut().created.push((cache_id, level)));
}

/// Frees the slots of caches whose creation was rolled back.
fn release_created(ids: Vec<i64>) {
    if !shmem::is_attached() {
        return;
    }
    let db = unsafe { pg_sys::MyDatabaseId };
    for id in ids {
        if let Some(i) = store::slot_of(db, id) {
            store::release_slot(i);
        }
    }
}

pub fn uses_xact_snapshot() -> bool {
    unsafe { pg_sys::XactIsoLevel >= pg_sys::XACT_REPEATABLE_READ as i32 }
}

fn nest_level() -> i32 {
    unsafe { pg_sys::GetCurrentTransactionNestLevel() }
}

/// Past this many invalidations of one cache in one transaction, the transaction invalidates
/// the whole cache instead: a bulk statement then costs the trigger almost nothing per row, and
/// the refresh re-reads the window once.
const BULK_LIMIT: usize = 2000;

/// Does this transaction still need keys for `cache_id`? False once it invalidated everything.
pub fn wants_keys(cache_id: i64) -> bool {
    LOCAL.with(|l| !l.borrow().all.contains_key(&cache_id))
}

/// Remembers an invalidation of this transaction.
pub fn add(cache_id: i64, cache_name: &str, version: i64, inval: Inval) {
    ensure_callbacks();
    let level = nest_level();
    LOCAL.with(|l| {
        let mut l = l.borrow_mut();
        l.caches.entry(cache_id).or_insert_with(|| (cache_name.to_string(), version));
        let n = {
            let c = l.counts.entry(cache_id).or_insert(0);
            *c += 1;
            *c
        };
        if l.all.get(&cache_id).is_some_and(|&lv| lv <= level) {
            return;
        }
        if inval.is_all() || n > BULK_LIMIT {
            l.all.insert(cache_id, level);
            l.invals.push(LocalInval { cache_id, level, inval: Inval::all() });
            return;
        }
        let point = inval.hi_inclusive && inval.lo.as_ref().map(|b| &b.key) == inval.hi.as_ref().map(|b| &b.key);
        if point {
            let k = (cache_id, inval.index.clone(), inval.lo.as_ref().map(|b| b.key.clone()).unwrap_or_default());
            if l.points.get(&k).is_some_and(|&lv| lv <= level) {
                return;
            }
            l.points.insert(k, level);
        }
        l.invals.push(LocalInval { cache_id, level, inval });
    });
}

/// Does this transaction have uncommitted invalidations on the cache? (Then its reads go to
/// the database, which shows it its own changes.)
pub fn has_local(cache_id: i64) -> bool {
    LOCAL.with(|l| {
        let l = l.borrow();
        !l.invals.is_empty() && l.invals.iter().any(|v| v.cache_id == cache_id)
    })
}

pub fn local_count() -> usize {
    LOCAL.with(|l| l.borrow().invals.len())
}

/// Coalesces many invalidations of one cache into at most `max` ranges: sorted by lower
/// bound, consecutive ones merged into one range from the first lower bound to the greatest
/// upper end. A wider range re-reads more rows but never misses one.
fn coalesce(mut v: Vec<Inval>, max: usize) -> Vec<Inval> {
    let mut by_index: HashMap<String, Vec<Inval>> = HashMap::new();
    for i in v.drain(..) {
        by_index.entry(i.index.clone()).or_default().push(i);
    }
    let per_index = (max / by_index.len().max(1)).max(1);
    let mut out = Vec::new();
    for (_, mut list) in by_index {
        if list.iter().any(|i| i.is_all()) {
            out.push(list.into_iter().find(|i| i.is_all()).unwrap());
            continue;
        }
        if list.len() <= per_index {
            out.extend(list);
            continue;
        }
        list.sort_by(|a, b| match (&a.lo, &b.lo) {
            (None, None) => std::cmp::Ordering::Equal,
            (None, _) => std::cmp::Ordering::Less,
            (_, None) => std::cmp::Ordering::Greater,
            (Some(x), Some(y)) => x.key.cmp(&y.key),
        });
        let chunk = list.len().div_ceil(per_index);
        for group in list.chunks(chunk) {
            let lo = group[0].lo.clone();
            let mut best: Option<&Inval> = None;
            let mut best_end: Option<Option<Vec<u8>>> = None;
            for g in group {
                let (_, end) = g.byte_range();
                let better = match (&best_end, &end) {
                    (None, _) => true,
                    (Some(None), _) => false,
                    (Some(Some(_)), None) => true,
                    (Some(Some(b)), Some(e)) => e > b,
                };
                if better {
                    best = Some(g);
                    best_end = Some(end);
                }
            }
            let b = best.unwrap();
            out.push(Inval { index: b.index.clone(), lo, hi: b.hi.clone(), hi_inclusive: b.hi_inclusive });
        }
    }
    out
}

fn pre_commit() {
    let (invals, caches) = LOCAL.with(|l| {
        let mut l = l.borrow_mut();
        l.points.clear();
        l.counts.clear();
        l.all.clear();
        (std::mem::take(&mut l.invals), std::mem::take(&mut l.caches))
    });
    if invals.is_empty() || !shmem::is_attached() {
        return;
    }
    let mut per_cache: HashMap<i64, Vec<Inval>> = HashMap::new();
    for v in invals {
        per_cache.entry(v.cache_id).or_default().push(v.inval);
    }
    for (cache_id, list) in per_cache {
        let (name, version) = caches.get(&cache_id).cloned().unwrap_or_default();
        let n = list.len() as u64;
        let Some(i) = store::inval::slot_for_commit(cache_id, &name, version) else {
            // dropped meanwhile, or no free slot at all (then there is nothing cached either)
            continue;
        };
        let list = coalesce(list, shmem::slot::MAX_PENDING / 4);
        // remembered before recording: the ABORT/COMMIT callback must release what was counted
        LOCAL.with(|l| l.borrow_mut().recorded.push(i));
        if !store::inval::record(i, &list) {
            pgrx::log!("tablecache: cache \"{}\" will re-read its whole window (too many invalidations or no memory to record them)", name);
        }
        shmem::slot(i).counters.invalidations.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
    }
}

fn end_of_xact(aborted: bool) {
    let created: Vec<i64> = LOCAL.with(|l| l.borrow_mut().created.drain(..).map(|(id, _)| id).collect());
    if aborted {
        release_created(created);
    }
    let recorded = LOCAL.with(|l| {
        let mut l = l.borrow_mut();
        l.invals.clear();
        l.points.clear();
        l.caches.clear();
        l.counts.clear();
        l.all.clear();
        std::mem::take(&mut l.recorded)
    });
    for i in recorded {
        store::inval::committed(i);
    }
}

#[pgrx::pg_guard]
unsafe extern "C-unwind" fn xact_callback(event: pg_sys::XactEvent::Type, _arg: *mut std::ffi::c_void) {
    use pg_sys::XactEvent::*;
    match event {
        XACT_EVENT_PRE_COMMIT | XACT_EVENT_PARALLEL_PRE_COMMIT => pre_commit(),
        XACT_EVENT_PRE_PREPARE => {
            if local_count() > 0 {
                crate::fail!(
                    ERRCODE_FEATURE_NOT_SUPPORTED,
                    "cannot PREPARE a transaction that has invalidated tablecache caches"
                );
            }
        }
        XACT_EVENT_COMMIT | XACT_EVENT_PARALLEL_COMMIT | XACT_EVENT_PREPARE => end_of_xact(false),
        XACT_EVENT_ABORT | XACT_EVENT_PARALLEL_ABORT => end_of_xact(true),
        _ => {}
    }
}

#[pgrx::pg_guard]
unsafe extern "C-unwind" fn subxact_callback(
    event: pg_sys::SubXactEvent::Type,
    _my: pg_sys::SubTransactionId,
    _parent: pg_sys::SubTransactionId,
    _arg: *mut std::ffi::c_void,
) {
    use pg_sys::SubXactEvent::*;
    let level = nest_level();
    match event {
        SUBXACT_EVENT_ABORT_SUB => LOCAL.with(|l| {
            let gone: Vec<i64> = {
                let mut l = l.borrow_mut();
                let (gone, keep): (Vec<(i64, i32)>, Vec<(i64, i32)>) = l.created.drain(..).partition(|&(_, lv)| lv >= level);
                l.created = keep;
                gone.into_iter().map(|(id, _)| id).collect()
            };
            release_created(gone);
            let mut l = l.borrow_mut();
            l.invals.retain(|v| v.level < level);
            l.points.retain(|_, lv| *lv < level);
            l.all.retain(|_, lv| *lv < level);
            let mut counts: HashMap<i64, usize> = HashMap::new();
            for v in &l.invals {
                *counts.entry(v.cache_id).or_insert(0) += 1;
            }
            l.counts = counts;
        }),
        SUBXACT_EVENT_COMMIT_SUB => LOCAL.with(|l| {
            let mut l = l.borrow_mut();
            for v in l.invals.iter_mut().filter(|v| v.level >= level) {
                v.level = level - 1;
            }
            for lv in l.points.values_mut().filter(|lv| **lv >= level) {
                *lv = level - 1;
            }
            for lv in l.all.values_mut().filter(|lv| **lv >= level) {
                *lv = level - 1;
            }
            for (_, lv) in l.created.iter_mut().filter(|(_, lv)| *lv >= level) {
                *lv = level - 1;
            }
        }),
        _ => {}
    }
}

fn ensure_callbacks() {
    if !CALLBACKS_REGISTERED.with(|r| r.replace(true)) {
        unsafe {
            pg_sys::RegisterXactCallback(Some(xact_callback), std::ptr::null_mut());
            pg_sys::RegisterSubXactCallback(Some(subxact_callback), std::ptr::null_mut());
        }
    }
}

/// Bump the shared definition epoch again when this transaction ends, so that backends that
/// re-read a definition while it was uncommitted read it once more.
pub fn bump_epoch_at_end() {
    if EPOCH_PENDING.with(|p| p.replace(true)) {
        return;
    }
    let done = || {
        EPOCH_PENDING.with(|p| p.set(false));
        if shmem::is_attached() {
            shmem::bump_def_epoch();
        }
    };
    register_xact_callback(PgXactCallbackEvent::Commit, done);
    register_xact_callback(PgXactCallbackEvent::Abort, done);
}

#[pgrx::pg_guard]
unsafe extern "C-unwind" fn on_exit(_code: i32, _arg: pg_sys::Datum) {
    store::window::free_staged();
    store::release_all_writers();
}

pub fn ensure_exit_callback() {
    if !EXIT_REGISTERED.with(|r| r.replace(true)) {
        unsafe { pg_sys::before_shmem_exit(Some(on_exit), pg_sys::Datum::from(0usize)) };
    }
}
