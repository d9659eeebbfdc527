//! Transaction and process glue.
//!
//! Invalidations are collected per transaction (with the subtransaction level that made them)
//! and recorded in shared memory at PRE_COMMIT, before the transaction's changes become visible;
//! the COMMIT or ABORT callback then releases the slots' "committing" count. A rolled-back
//! subtransaction's invalidations are dropped; an aborted transaction's never reach shared memory.
//!
//! Memory changes that belong to a transaction (a load, an adjust, an unload, the reload after
//! an index change, a drop) take effect when it commits and are undone when it (or the
//! subtransaction that made them) aborts: they are staged, kept here with their level, and
//! published by the COMMIT callback, which cannot fail. The transaction holds the cache's
//! writer lock until then, so nobody else changes the slot under the staged contents. A
//! transaction that has written nothing publishes at once; so does one that created the cache
//! (nobody else can see it) — and if a subtransaction that wrote such a cache aborts, its
//! memory is dropped.

use crate::shmem;
pub use crate::store::inval::CacheInfo;
use crate::store::{self, inval::Inval, staging::Staged, WriterLock};
use pgrx::pg_sys;
use pgrx::{register_xact_callback, PgXactCallbackEvent};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;

mod record;
use record::{record_invals, take_invals, COLLATED};

thread_local! {
    static EPOCH_PENDING: Cell<bool> = const { Cell::new(false) };
    static CALLBACKS_REGISTERED: Cell<bool> = const { Cell::new(false) };
    static LOCAL: RefCell<Local> = RefCell::new(Local::default());
}

struct LocalInval {
    cache_id: i64,
    level: i32,
    inval: Inval,
}

/// A memory change waiting for its transaction's commit.
enum Op {
    Publish(Staged),
    Unload,
    /// the cache was dropped: free its slot
    Release,
}

struct Deferred {
    cache_id: i64,
    /// its slot (usize::MAX: look it up at commit)
    slot: usize,
    level: i32,
    op: Op,
}

/// What a cache is in this transaction's eyes, when it changed it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Pending {
    Loaded,
    Unloaded,
    Dropped,
}

struct Created {
    cache_id: i64,
    level: i32,
    /// deepest level at which its memory was written
    written: i32,
}

#[derive(Default)]
struct Local {
    invals: Vec<LocalInval>,
    /// (cache, index, point key) -> shallowest level that has it: a repeated point is skipped
    points: HashMap<(i64, String, Vec<u8>), i32>,
    caches: HashMap<i64, CacheInfo>,
    /// cache id -> invalidations added in this transaction (bulk statements switch to "all")
    counts: HashMap<i64, usize>,
    /// cache id -> shallowest level with an "everything" invalidation
    all: HashMap<i64, i32>,
    /// slots recorded at PRE_COMMIT, released at COMMIT/ABORT
    recorded: Vec<usize>,
    created: Vec<Created>,
    deferred: Vec<Deferred>,
    /// this transaction took a cache's writer lock (held to its end: it may not be prepared)
    writer: bool,
    /// databases whose caches go when this transaction commits (DROP EXTENSION, DROP
    /// DATABASE), with the level that dropped them
    dropped_dbs: Vec<(pg_sys::Oid, i32)>,
}

fn nest_level() -> i32 {
    unsafe { pg_sys::GetCurrentTransactionNestLevel() }
}

/// Has this transaction written anything (it has a transaction id)?
pub fn has_xid() -> bool {
    unsafe { pg_sys::GetTopTransactionIdIfAny() != pg_sys::InvalidTransactionId }
}

pub fn uses_xact_snapshot() -> bool {
    unsafe { pg_sys::XactIsoLevel >= pg_sys::XACT_REPEATABLE_READ as i32 }
}

/// Notes that this transaction holds a cache's writer lock (and may have changed a cache's
/// definition): it cannot be prepared.
pub fn note_writer() {
    ensure_callbacks();
    LOCAL.with(|l| l.borrow_mut().writer = true);
}

/// Notes a cache created by this transaction: if it aborts, its memory is given back.
pub fn created(cache_id: i64) {
    ensure_callbacks();
    let level = nest_level();
    LOCAL.with(|l| l.borrow_mut().created.push(Created { cache_id, level, written: 0 }));
}

/// Was cache `cache_id` created by this transaction (so nobody else can see it)?
pub fn created_here(cache_id: i64) -> bool {
    LOCAL.with(|l| l.borrow().created.iter().any(|c| c.cache_id == cache_id))
}

/// The change this transaction made to a cache's memory, if any, still to be published.
pub fn pending(cache_id: i64) -> Option<Pending> {
    LOCAL.with(|l| {
        l.borrow().deferred.iter().rev().find(|d| d.cache_id == cache_id).map(|d| match d.op {
            Op::Publish(_) => Pending::Loaded,
            Op::Unload => Pending::Unloaded,
            Op::Release => Pending::Dropped,
        })
    })
}

/// The window of the contents this transaction staged for `cache_id`, if it staged any.
pub fn pending_window(cache_id: i64) -> Option<(String, Option<crate::bound::Bound>, Option<crate::bound::Bound>)> {
    LOCAL.with(|l| match l.borrow().deferred.iter().rev().find(|d| d.cache_id == cache_id).map(|d| &d.op) {
        Some(Op::Publish(st)) => st.window(),
        _ => None,
    })
}

/// The rows of the contents this transaction staged for `cache_id`, if it staged any.
pub fn pending_rows(cache_id: i64) -> Option<u64> {
    LOCAL.with(|l| match l.borrow().deferred.iter().rev().find(|d| d.cache_id == cache_id).map(|d| &d.op) {
        Some(Op::Publish(st)) => Some(st.rows()),
        _ => None,
    })
}

/// What the store must know of this transaction to let it read `cache_id` from memory.
pub fn read_ctx(cache_id: i64) -> store::ReadCtx {
    store::ReadCtx {
        fall_through: uses_xact_snapshot() || has_local(cache_id),
        may_refresh: !has_xid() && pending(cache_id).is_none(),
    }
}

fn defer(cache_id: i64, slot: usize, op: Op) {
    ensure_callbacks();
    let level = nest_level();
    LOCAL.with(|l| l.borrow_mut().deferred.push(Deferred { cache_id, slot, level, op }));
}

/// Finishes a writer pass: publishes `staged` now or at commit (see the module comment), and
/// gives the writer lock back when published now. Returns the rows that entered.
pub fn finish(cache_id: i64, staged: Staged, lock: WriterLock) -> u64 {
    let entered = staged.entered;
    if created_here(cache_id) {
        staged.publish();
        let level = nest_level();
        LOCAL.with(|l| {
            for c in l.borrow_mut().created.iter_mut().filter(|c| c.cache_id == cache_id) {
                c.written = c.written.max(level);
            }
        });
    } else if has_xid() {
        let slot = staged.slot;
        defer(cache_id, slot, Op::Publish(staged));
    } else {
        staged.publish();
        lock.release();
    }
    entered
}

/// Unloads a cache's memory now or at commit (the caller holds its writer lock).
pub fn unload(cache_id: i64, slot: usize) {
    if created_here(cache_id) || !has_xid() {
        store::unload(slot);
    } else {
        defer(cache_id, slot, Op::Unload);
    }
}

/// Frees a dropped cache's slot when the drop commits (slot usize::MAX: find it then); at once
/// for a cache this transaction created (nobody else can see it).
pub fn release_at_commit(cache_id: i64, slot: usize) {
    if created_here(cache_id) {
        let slot = if slot == usize::MAX { store::slot_of(unsafe { pg_sys::MyDatabaseId }, cache_id) } else { Some(slot) };
        if let Some(i) = slot {
            store::release_slot(i);
        }
        return;
    }
    defer(cache_id, slot, Op::Release);
}

/// DROP EXTENSION tablecache or DROP DATABASE: every cache of database `db` goes when it
/// commits.
pub fn database_dropped(db: pg_sys::Oid) {
    ensure_callbacks();
    let level = nest_level();
    LOCAL.with(|l| l.borrow_mut().dropped_dbs.push((db, level)));
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
pub fn add(cache_id: i64, info: &CacheInfo, inval: Inval) {
    ensure_callbacks();
    let level = nest_level();
    LOCAL.with(|l| {
        let mut l = l.borrow_mut();
        l.caches.entry(cache_id).or_insert_with(|| info.clone());
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

pub fn note_collated(cache_id: i64, indexes: Vec<String>) {
    COLLATED.with(|c| {
        c.borrow_mut().entry(cache_id).or_insert(indexes);
    });
}

fn pre_commit() {
    let (invals, caches, created) = take_invals();
    if !shmem::is_attached() {
        return;
    }
    let xid = u32::from(unsafe { pg_sys::GetTopTransactionIdIfAny() });
    // A cache this transaction created and loaded read its rows while nobody else could see it,
    // so nobody else's trigger invalidated it: a change committed meanwhile is missing. It is
    // re-read once this transaction is visible (recorded now, before that).
    let db = unsafe { pg_sys::MyDatabaseId };
    for id in created {
        let Some(i) = store::slot_of(db, id) else { continue };
        if shmem::slot(i).state != shmem::SlotState::Loaded {
            continue;
        }
        LOCAL.with(|l| l.borrow_mut().recorded.push(i));
        store::inval::record(i, &[Inval::all()], xid, store::inval::Origin::Commit, &|_| false);
    }
    record_invals(invals, caches, xid, false);
}

/// Applies the memory changes of a committed transaction: for each cache the last one counts
/// (each was built on the published contents, never on an earlier staged one).
fn apply_deferred(ops: Vec<Deferred>) {
    let mut last: HashMap<i64, usize> = HashMap::new();
    for (k, d) in ops.iter().enumerate() {
        last.insert(d.cache_id, k);
    }
    let db = unsafe { pg_sys::MyDatabaseId };
    for (k, d) in ops.into_iter().enumerate() {
        if last.get(&d.cache_id) != Some(&k) {
            continue; // dropped here: a staged one gives its blocks back
        }
        let slot = if d.slot == usize::MAX { store::slot_of(db, d.cache_id) } else { Some(d.slot) };
        let Some(slot) = slot else { continue };
        match d.op {
            Op::Publish(staged) => staged.publish(),
            Op::Unload => store::unload(slot),
            Op::Release => store::release_slot(slot),
        }
    }
}

fn end_of_xact(aborted: bool) {
    let (created, deferred, dbs) = LOCAL.with(|l| {
        let mut l = l.borrow_mut();
        l.writer = false;
        (std::mem::take(&mut l.created), std::mem::take(&mut l.deferred), std::mem::take(&mut l.dropped_dbs))
    });
    if shmem::is_attached() {
        let db = unsafe { pg_sys::MyDatabaseId };
        if aborted {
            drop(deferred); // staged contents give their blocks back
            for c in created {
                if let Some(i) = store::slot_of(db, c.cache_id) {
                    store::release_slot(i);
                }
            }
        } else {
            apply_deferred(deferred);
            for (d, _) in &dbs {
                for i in store::slots_of_database(*d) {
                    store::release_slot(i);
                }
            }
        }
    }
    if !dbs.is_empty() {
        crate::guard::forget_catalog_owner();
    }
    COLLATED.with(|c| c.borrow_mut().clear());
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

/// A prepared transaction's invalidations are recorded like a committing one's, tied to its
/// xid: they take effect when COMMIT PREPARED makes it visible (in whichever backend), and
/// vanish with ROLLBACK PREPARED. What changes a cache's memory itself cannot wait for that.
fn pre_prepare() {
    let busy = LOCAL.with(|l| {
        let l = l.borrow();
        !l.created.is_empty() || !l.deferred.is_empty() || !l.dropped_dbs.is_empty() || l.writer
    });
    if busy {
        crate::fail!(
            ERRCODE_FEATURE_NOT_SUPPORTED,
            "cannot PREPARE a transaction that has created, loaded or changed tablecache caches"
        );
    }
    let (invals, caches, _) = take_invals();
    if invals.is_empty() || !shmem::is_attached() {
        return;
    }
    let xid = u32::from(unsafe { pg_sys::GetTopTransactionIdIfAny() });
    if let Some(name) = record_invals(invals, caches, xid, true) {
        crate::fail!(
            ERRCODE_PROGRAM_LIMIT_EXCEEDED,
            "cannot PREPARE this transaction: cache \"{}\" has no room left for the invalidations of prepared transactions",
            name
        );
    }
}

#[pgrx::pg_guard]
unsafe extern "C-unwind" fn xact_callback(event: pg_sys::XactEvent::Type, _arg: *mut std::ffi::c_void) {
    use pg_sys::XactEvent::*;
    match event {
        XACT_EVENT_PRE_COMMIT | XACT_EVENT_PARALLEL_PRE_COMMIT => pre_commit(),
        XACT_EVENT_PRE_PREPARE => pre_prepare(),
        XACT_EVENT_COMMIT | XACT_EVENT_PARALLEL_COMMIT | XACT_EVENT_PREPARE => end_of_xact(false),
        XACT_EVENT_ABORT | XACT_EVENT_PARALLEL_ABORT => end_of_xact(true),
        _ => {}
    }
}

fn subxact_abort(level: i32) {
    let db = unsafe { pg_sys::MyDatabaseId };
    let (gone_created, unload_created, gone_ops) = LOCAL.with(|l| {
        let mut l = l.borrow_mut();
        let (gone, keep): (Vec<Created>, Vec<Created>) = l.created.drain(..).partition(|c| c.level >= level);
        l.created = keep;
        // a cache created earlier whose memory was written inside the aborted subtransaction
        // may hold rows of its rolled-back changes
        let mut unload = Vec::new();
        for c in l.created.iter_mut().filter(|c| c.written >= level) {
            unload.push(c.cache_id);
            c.written = 0;
        }
        let (ops, keep): (Vec<Deferred>, Vec<Deferred>) = l.deferred.drain(..).partition(|d| d.level >= level);
        l.deferred = keep;
        l.dropped_dbs.retain(|&(_, lv)| lv < level);
        l.invals.retain(|v| v.level < level);
        l.points.retain(|_, lv| *lv < level);
        l.all.retain(|_, lv| *lv < level);
        let mut counts: HashMap<i64, usize> = HashMap::new();
        for v in &l.invals {
            *counts.entry(v.cache_id).or_insert(0) += 1;
        }
        l.counts = counts;
        (gone, unload, ops)
    });
    drop(gone_ops);
    if !shmem::is_attached() {
        return;
    }
    for c in gone_created {
        if let Some(i) = store::slot_of(db, c.cache_id) {
            store::release_slot(i);
        }
    }
    for id in unload_created {
        if let Some(i) = store::slot_of(db, id) {
            store::unload(i);
        }
    }
}

fn subxact_commit(level: i32) {
    LOCAL.with(|l| {
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
        for c in l.created.iter_mut() {
            if c.level >= level {
                c.level = level - 1;
            }
            if c.written >= level {
                c.written = level - 1;
            }
        }
        for d in l.deferred.iter_mut().filter(|d| d.level >= level) {
            d.level = level - 1;
        }
        for (_, lv) in l.dropped_dbs.iter_mut().filter(|(_, lv)| *lv >= level) {
            *lv = level - 1;
        }
    });
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
        SUBXACT_EVENT_ABORT_SUB => subxact_abort(level),
        SUBXACT_EVENT_COMMIT_SUB => subxact_commit(level),
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

// ---------------------------------------------------------------------------------------------
// DROP EXTENSION and DROP DATABASE: an object access hook sees the extension or database go
// (the extension's own event trigger goes with it, so cannot be relied on), and the database's
// caches are freed when that commits.

static mut PREV_OBJECT_ACCESS: pg_sys::object_access_hook_type = None;

#[pgrx::pg_guard]
unsafe extern "C-unwind" fn object_access(
    access: pg_sys::ObjectAccessType::Type,
    class_id: pg_sys::Oid,
    object_id: pg_sys::Oid,
    sub_id: i32,
    arg: *mut std::ffi::c_void,
) {
    unsafe {
        if let Some(prev) = PREV_OBJECT_ACCESS {
            prev(access, class_id, object_id, sub_id, arg);
        }
        if access != pg_sys::ObjectAccessType::OAT_DROP || !shmem::is_attached() {
            return;
        }
        if class_id == pg_sys::ExtensionRelationId && object_id == pg_sys::get_extension_oid(c"tablecache".as_ptr(), true) {
            database_dropped(pg_sys::MyDatabaseId);
            shmem::bump_def_epoch();
            crate::catalog::forget_all();
            bump_epoch_at_end();
        } else if class_id == pg_sys::DatabaseRelationId {
            database_dropped(object_id);
        }
    }
}

pub fn install_hooks() {
    unsafe {
        PREV_OBJECT_ACCESS = pg_sys::object_access_hook;
        pg_sys::object_access_hook = Some(object_access);
    }
}
