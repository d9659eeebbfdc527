//! The shared-memory store of one cache: finding its slot, the writer lock, reading under a
//! shared lock, and publishing new contents (see `publish`) in a critical section that cannot
//! fail.

pub mod inval;
pub mod rows;
pub mod staging;
pub mod stream;
pub mod window;
#[cfg(any(test, feature = "pg_test"))]
mod window_tests;
#[cfg(any(test, feature = "pg_test"))]
mod rows_tests;

use crate::catalog::CacheDef;
use crate::shmem::{self, slot::KeyRef, LockGuard, Slot, SlotState};
use crate::fail;
use pgrx::pg_sys;
use std::sync::atomic::Ordering;
use tablecache_core::alloc::Offset;

pub unsafe fn tuple_type_id(h: pg_sys::HeapTupleHeader) -> pg_sys::Oid {
    unsafe { (*h).t_choice.t_datum.datum_typeid }
}
pub unsafe fn tuple_typmod(h: pg_sys::HeapTupleHeader) -> i32 {
    unsafe { (*h).t_choice.t_datum.datum_typmod }
}
pub unsafe fn tuple_datum_len(h: pg_sys::HeapTupleHeader) -> usize {
    unsafe { pgrx::varsize(h as *const pg_sys::varlena) }
}

fn my_db() -> pg_sys::Oid {
    unsafe { pg_sys::MyDatabaseId }
}

fn slot_is(s: &Slot, def: &CacheDef) -> bool {
    s.state != SlotState::Free && s.db == my_db() && s.cache_id == def.id
}

/// The slot of `def`, if it has one. Uses the backend's hint, checked under the slot lock by
/// the callers (the incarnation changes whenever a slot is reassigned).
pub fn find_slot(def: &CacheDef) -> Option<usize> {
    if let Some((i, inc)) = def.slot_hint.get() {
        let s = shmem::slot(i);
        if slot_is(s, def) && s.incarnation == inc {
            return Some(i);
        }
    }
    let i = slot_of(my_db(), def.id);
    def.slot_hint.set(i.map(|i| (i, shmem::slot(i).incarnation)));
    i
}

/// Slots whose cache the primary dropped (flagged by WAL redo on a standby).
pub fn slots_wanting_release() -> Vec<usize> {
    (0..shmem::max_caches())
        .filter(|&i| {
            let s = shmem::slot(i);
            s.release_wanted.load(Ordering::Acquire) != 0 && s.state != SlotState::Free
        })
        .collect()
}

/// Slots that belong to none of `dbs` (their database was dropped).
pub fn slots_of_other_databases(dbs: &[pg_sys::Oid]) -> Vec<usize> {
    let _g = shmem::lock_global(false);
    (0..shmem::max_caches())
        .filter(|&i| {
            let s = shmem::slot(i);
            s.state != SlotState::Free && !dbs.contains(&s.db)
        })
        .collect()
}

/// Every slot of database `db`.
pub fn slots_of_database(db: pg_sys::Oid) -> Vec<usize> {
    let _g = shmem::lock_global(false);
    (0..shmem::max_caches()).filter(|&i| shmem::slot(i).state != SlotState::Free && shmem::slot(i).db == db).collect()
}

/// The slot of cache `id` of database `db`, if any.
pub fn slot_of(db: pg_sys::Oid, id: i64) -> Option<usize> {
    let _g = shmem::lock_global(false);
    (0..shmem::max_caches()).find(|&i| {
        let s = shmem::slot(i);
        s.state != SlotState::Free && s.db == db && s.cache_id == id
    })
}

/// The share of the region's bytes and slots that the caches of one non-superuser owner may
/// take together (`tablecache.owner_share`, percent).
fn owner_limit(total: u64) -> Option<u64> {
    let share = crate::guc::OWNER_SHARE.get().clamp(1, 100) as u64;
    (share < 100).then(|| total * share / 100)
}

fn owner_bounded(owner: pg_sys::Oid) -> bool {
    !unsafe { pg_sys::superuser_arg(owner) }
}

/// The slot of `def`, assigning a free one when it has none (within the owner's share).
pub fn ensure_slot(def: &CacheDef) -> usize {
    if let Some(i) = find_slot(def) {
        return i;
    }
    let bounded = owner_bounded(def.owner);
    let found = {
        let _g = shmem::lock_global(true);
        let mut found = None;
        let mut owned = 0u64;
        for i in 0..shmem::max_caches() {
            let s = shmem::slot(i);
            if slot_is(s, def) {
                found = Some(i);
                break;
            }
            if s.state != SlotState::Free && s.owner == def.owner {
                owned += 1;
            }
            if s.state == SlotState::Free && found.is_none() {
                found = Some(i);
            }
        }
        if let Some(i) = found {
            let s = shmem::slot(i);
            if s.state == SlotState::Free {
                if bounded && owner_limit(shmem::max_caches() as u64).is_some_and(|lim| owned + 1 > lim.max(1)) {
                    drop(_g);
                    fail!(
                        ERRCODE_CONFIGURATION_LIMIT_EXCEEDED,
                        "the caches of role {} may take at most {}% of the {} cache slots (tablecache.owner_share); cache \"{}\" gets none",
                        crate::keys::role_name(def.owner),
                        crate::guc::OWNER_SHARE.get(),
                        shmem::max_caches(),
                        def.name
                    );
                }
                init_slot(i, def.id, &def.name, def.fingerprint, def.owner);
            }
            def.slot_hint.set(Some((i, s.incarnation)));
        }
        found
    };
    match found {
        Some(i) => i,
        None => fail!(
            ERRCODE_CONFIGURATION_LIMIT_EXCEEDED,
            "no free cache slot for cache \"{}\": all {} are in use (raise tablecache.max_caches)",
            def.name,
            shmem::max_caches()
        ),
    }
}

/// How many more bytes `def`'s cache may take before its owner passes its share of the region
/// (None: unbounded), not counting what the cache holds now.
pub fn owner_budget(def: &CacheDef, slot: usize) -> Option<u64> {
    if !owner_bounded(def.owner) {
        return None;
    }
    let limit = owner_limit(shmem::memory_stats().total_bytes as u64)?;
    // the other caches of the owner, published and staged, and what this one has staged already
    let others: u64 = {
        let _g = shmem::lock_global(false);
        (0..shmem::max_caches())
            .filter(|&i| shmem::slot(i).state != SlotState::Free && shmem::slot(i).owner == def.owner)
            .map(|i| {
                let s = shmem::slot(i);
                let staged = s.staged_bytes.load(Ordering::Acquire);
                if i == slot { staged } else { s.bytes + staged }
            })
            .sum()
    };
    Some(limit.saturating_sub(others))
}

/// Assigns free slot `i` to a cache. Caller holds the global lock exclusively.
pub fn init_slot(i: usize, cache_id: i64, name: &str, fingerprint: i64, owner: pg_sys::Oid) {
    let s = shmem::slot(i);
    s.db = my_db();
    s.cache_id = cache_id;
    s.def_version = fingerprint;
    s.owner = owner;
    s.incarnation = shmem::header().incarnations.fetch_add(1, Ordering::AcqRel) + 1;
    s.set_name(name);
    s.window_index = -1;
    s.nindexes = 0;
    s.rows = 0;
    s.bytes = 0;
    s.row_bytes = 0;
    s.staged_bytes.store(0, Ordering::Release);
    s.pending_count = 0;
    s.invalid_all = 0;
    s.invalid_all_xid = 0;
    s.global_seen = 0;
    s.release_wanted.store(0, Ordering::Release);
    s.writer_pid.store(0, Ordering::Release);
    s.reset_counters();
    s.state = SlotState::Unloaded;
}

// ---------------------------------------------------------------------------------------------
// The writer lock: one writer (load, adjust, refresh, unload, drop, index changes) per cache at
// a time. A heavyweight lock, so that PostgreSQL's deadlock detector sees every wait for it
// (a writer may wait for table locks while it holds it, and the holder of a table lock may
// want it), and so that it goes with the transaction: held to the end of a transaction whose
// memory changes are published at its commit, released at once by a pass that publishes
// itself. Its tag is an advisory lock tag with a fourth field that SQL's advisory lock
// functions never use, so it cannot collide with an application's advisory locks.

const WRITER_TAG: u16 = 0x7443;

pub struct WriterLock {
    tag: pg_sys::LOCKTAG,
}

fn writer_tag(id: i64) -> pg_sys::LOCKTAG {
    pg_sys::LOCKTAG {
        locktag_field1: my_db().to_u32(),
        locktag_field2: ((id as u64) >> 32) as u32,
        locktag_field3: id as u32,
        locktag_field4: WRITER_TAG,
        locktag_type: pg_sys::LockTagType::LOCKTAG_ADVISORY as u8,
        locktag_lockmethodid: pg_sys::USER_LOCKMETHOD as u8,
    }
}

/// Takes cache `id`'s writer lock; without `wait`, None when somebody else holds it.
pub fn lock_writer(id: i64, wait: bool) -> Option<WriterLock> {
    let tag = writer_tag(id);
    let r = unsafe { pg_sys::LockAcquire(&tag, pg_sys::ExclusiveLock as i32, false, !wait) };
    (r != pg_sys::LockAcquireResult::LOCKACQUIRE_NOT_AVAIL).then_some(WriterLock { tag })
}

impl WriterLock {
    /// Gives the lock back before the transaction ends (a pass that published itself).
    pub fn release(self) {
        unsafe { pg_sys::LockRelease(&self.tag, pg_sys::ExclusiveLock as i32, false) };
    }
}

/// Marks slot `i` as being written by this backend while alive (the `progress` view).
pub struct Busy(usize);

impl Busy {
    pub fn new(i: usize) -> Busy {
        shmem::slot(i).writer_pid.store(unsafe { pg_sys::MyProcPid }, Ordering::Release);
        Busy(i)
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        let _ = shmem::slot(self.0).writer_pid.compare_exchange(unsafe { pg_sys::MyProcPid }, 0, Ordering::AcqRel, Ordering::Acquire);
    }
}

thread_local! {
    static EXIT_REGISTERED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

#[pgrx::pg_guard]
unsafe extern "C-unwind" fn on_exit(_code: i32, _arg: pg_sys::Datum) {
    window::free_staged();
    clear_busy_marks();
}

/// Makes sure a backend that exits mid-pass (a FATAL exit does not unwind Rust frames) gives
/// back what it staged and clears its busy marks.
pub fn ensure_exit_callback() {
    if !EXIT_REGISTERED.with(|r| r.replace(true)) {
        unsafe { pg_sys::before_shmem_exit(Some(on_exit), pg_sys::Datum::from(0usize)) };
    }
}

fn clear_busy_marks() {
    if !shmem::is_attached() {
        return;
    }
    let me = unsafe { pg_sys::MyProcPid };
    for i in 0..shmem::max_caches() {
        let _ = shmem::slot(i).writer_pid.compare_exchange(me, 0, Ordering::AcqRel, Ordering::Acquire);
    }
}

// ---------------------------------------------------------------------------------------------
// Reads

/// A shared lock on a loaded cache whose arrays match `def`. None: not loaded (or loaded for
/// another definition), so the caller falls through to the database.
pub struct ReadGuard {
    _lock: LockGuard,
    pub slot: &'static Slot,
}

/// What the reading transaction is, as far as the store must know.
#[derive(Clone, Copy, Default)]
pub struct ReadCtx {
    /// the transaction may not be answered from memory (REPEATABLE READ or SERIALIZABLE, its
    /// own uncommitted invalidations or window changes of this cache, row-level security)
    pub fall_through: bool,
    /// it may refresh pending invalidations itself: it has written nothing, so nothing
    /// uncommitted can reach the shared cache
    pub may_refresh: bool,
}

/// The cache's memory, if it may answer this read. When committed invalidations are pending,
/// the reader refreshes them first if it can do so at once, and falls through otherwise.
pub fn read(def: &CacheDef, cx: ReadCtx) -> Option<ReadGuard> {
    if cx.fall_through {
        return None;
    }
    // a hot standby whose caches cannot be trusted answers from its tables (and so does a
    // promoted one until it has looked at what they were worth)
    if unsafe { pg_sys::RecoveryInProgress() } {
        if shmem::standby::reason().is_some() {
            return None;
        }
    } else if !shmem::standby::after_promotion() {
        return None;
    }
    let i = find_slot(def)?;
    let mut refreshed = false;
    loop {
        let lock = shmem::lock_slot(i, false);
        let s = shmem::slot(i);
        if !slot_is(s, def) || s.state != SlotState::Loaded || s.def_version != def.fingerprint {
            return None;
        }
        if !s.has_pending() || !inval::blocks_readers(s) {
            return Some(ReadGuard { _lock: lock, slot: s });
        }
        drop(lock);
        if refreshed || !cx.may_refresh || !window::try_refresh(def, i) {
            return None;
        }
        refreshed = true;
    }
}

// ---------------------------------------------------------------------------------------------
// Publishing

/// New contents for a slot, fully prepared outside the lock.
pub struct Contents {
    /// (array, length, fences) per index
    pub arrays: Vec<(Offset, u64, Offset)>,
    pub window_index: i32,
    pub window_name: String,
    pub window_ge: KeyRef,
    pub window_lt: KeyRef,
    pub rows: u64,
    pub bytes: u64,
    pub row_bytes: u64,
    pub def_version: i64,
}

/// Swaps `new` into slot `i`; returns the blocks of the old contents that are no longer
/// referenced (old arrays, old window keys, `expired_rows`, resolved invalidations).
/// Runs under the slot's exclusive lock and cannot fail: no allocation (the garbage list is
/// sized first), no ereport.
pub fn publish(i: usize, new: Contents, expired_rows: &[Offset], resolved: &inval::Collected) -> Vec<Offset> {
    let mut garbage: Vec<Offset> = Vec::with_capacity(expired_rows.len() + 2 * shmem::MAX_INDEXES + 2 + 2 * resolved.gens.len());
    let _g = shmem::lock_slot(i, true);
    let s = shmem::slot(i);
    for ix in s.indexes.iter_mut() {
        garbage.extend([ix.array, ix.fences].into_iter().filter(|&o| o != 0));
        *ix = Default::default();
    }
    for k in [&s.window_ge, &s.window_lt] {
        if k.off != 0 {
            garbage.push(k.off);
        }
    }
    garbage.extend_from_slice(expired_rows);
    for (j, &(off, len, fences)) in new.arrays.iter().enumerate() {
        s.indexes[j] = shmem::slot::IndexSlot { array: off, len, fences };
    }
    s.nindexes = new.arrays.len() as u32;
    s.window_index = new.window_index;
    crate::shmem::slot::set_fixed(&mut s.window_name, &new.window_name);
    s.window_ge = new.window_ge;
    s.window_lt = new.window_lt;
    s.rows = new.rows;
    s.bytes = new.bytes;
    s.row_bytes = new.row_bytes;
    s.def_version = new.def_version;
    s.state = SlotState::Loaded;
    inval::clear_collected(s, resolved, &mut garbage);
    garbage
}

/// The old contents' blocks, sized before the slot lock is taken (the caller holds the writer
/// lock, so they cannot change meanwhile).
fn contents_garbage(i: usize) -> Vec<Offset> {
    let s = shmem::slot(i);
    let rows = if s.state == SlotState::Loaded { s.index_entries(0).len() } else { 0 };
    Vec::with_capacity(rows + 2 * shmem::MAX_INDEXES + 2 + 2 * shmem::slot::MAX_PENDING)
}

/// Unloads a cache (its definition stays). The caller holds its writer lock.
pub fn unload(i: usize) {
    let mut garbage = contents_garbage(i);
    {
        let _g = shmem::lock_slot(i, true);
        shmem::slot(i).take_contents(&mut garbage);
    }
    shmem::free_many(garbage);
}

/// Unloads and frees the slot of a dropped cache.
pub fn release_slot(i: usize) {
    let mut garbage = contents_garbage(i);
    {
        let _g = shmem::lock_slot(i, true);
        let s = shmem::slot(i);
        s.take_contents(&mut garbage);
        s.take_pending(&mut garbage);
    }
    shmem::free_many(garbage);
    let _g = shmem::lock_global(true);
    let s = shmem::slot(i);
    shmem::tombstone(s.db, s.cache_id);
    s.state = SlotState::Free;
    s.cache_id = 0;
}
