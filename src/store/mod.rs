//! The shared-memory store of one cache: finding its slot, reading under a shared lock, and
//! publishing new contents (see `publish`) in a critical section that cannot fail.

pub mod inval;
pub mod rows;
pub mod window;

use crate::catalog::CacheDef;
use crate::shmem::{self, slot::KeyRef, LockGuard, Slot, SlotState};
use crate::fail;
use pgrx::pg_sys;
use std::cell::RefCell;
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
    let _g = shmem::lock_global(false);
    for i in 0..shmem::max_caches() {
        let s = shmem::slot(i);
        if slot_is(s, def) {
            def.slot_hint.set(Some((i, s.incarnation)));
            return Some(i);
        }
    }
    def.slot_hint.set(None);
    None
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

/// The slot of cache `id` of database `db`, if any.
pub fn slot_of(db: pg_sys::Oid, id: i64) -> Option<usize> {
    let _g = shmem::lock_global(false);
    (0..shmem::max_caches()).find(|&i| {
        let s = shmem::slot(i);
        s.state != SlotState::Free && s.db == db && s.cache_id == id
    })
}

/// The slot of `def`, assigning a free one when it has none.
pub fn ensure_slot(def: &CacheDef) -> usize {
    if let Some(i) = find_slot(def) {
        return i;
    }
    let found = {
        let _g = shmem::lock_global(true);
        let mut found = None;
        for i in 0..shmem::max_caches() {
            let s = shmem::slot(i);
            if slot_is(s, def) {
                found = Some(i);
                break;
            }
            if s.state == SlotState::Free && found.is_none() {
                found = Some(i);
            }
        }
        if let Some(i) = found {
            let s = shmem::slot(i);
            if s.state == SlotState::Free {
                init_slot(i, def.id, &def.name, def.version);
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

/// Assigns free slot `i` to a cache. Caller holds the global lock exclusively.
pub fn init_slot(i: usize, cache_id: i64, name: &str, version: i64) {
    let s = shmem::slot(i);
    s.db = my_db();
    s.cache_id = cache_id;
    s.def_version = version;
    s.incarnation = shmem::header().incarnations.fetch_add(1, Ordering::AcqRel) + 1;
    s.set_name(name);
    s.window_index = -1;
    s.nindexes = 0;
    s.rows = 0;
    s.bytes = 0;
    s.row_bytes = 0;
    s.pending_count = 0;
    s.invalid_all = 0;
    s.writer_pid.store(0, Ordering::Release);
    s.reset_counters();
    s.state = SlotState::Unloaded;
}

/// A shared lock on a loaded cache whose arrays match `def`. None: not loaded (or loaded for
/// another definition version), so the caller falls through to the database.
pub struct ReadGuard {
    _lock: LockGuard,
    pub slot: &'static Slot,
}

///
/// Also None when the cache may not answer for this transaction: it has uncommitted
/// invalidations of the cache (the database shows it its own changes), or it reads from a
/// transaction snapshot (REPEATABLE READ, SERIALIZABLE: the cache may hold newer rows). When
/// committed invalidations are pending, the reader refreshes them first if it can do so at
/// once, and falls through otherwise.
pub fn read(def: &CacheDef) -> Option<ReadGuard> {
    if crate::xact::uses_xact_snapshot() || crate::xact::has_local(def.id) || def.rls_applies() {
        return None;
    }
    let i = find_slot(def)?;
    let mut refreshed = false;
    loop {
        let lock = shmem::lock_slot(i, false);
        let s = shmem::slot(i);
        if !slot_is(s, def) || s.state != SlotState::Loaded || s.def_version != def.version {
            return None;
        }
        if !s.has_pending() {
            return Some(ReadGuard { _lock: lock, slot: s });
        }
        drop(lock);
        if refreshed || !try_refresh(def) {
            return None;
        }
        refreshed = true;
    }
}

/// A reader's refresh: only in a transaction that has written nothing (so that nothing
/// uncommitted can reach the shared cache), only if no other writer is busy, never waiting.
fn try_refresh(def: &CacheDef) -> bool {
    if unsafe { pg_sys::GetTopTransactionIdIfAny() } != pg_sys::InvalidTransactionId {
        return false;
    }
    let Some(w) = try_become_writer(def) else { return false };
    let Some((ixp, ge, lt)) = window::current_window(w.slot) else { return false };
    window::write_pass(def, w.slot, ixp, ge, lt, window::Mode::Refresh, false).is_some()
}

// ---------------------------------------------------------------------------------------------
// Writers: one at a time per cache. The role is a pid in the slot; others wait on its condition
// variable (interruptibly). A backend that exits while holding it gives it back in its exit
// callback; a crash resets all of shared memory anyway.

thread_local! {
    static WRITING: RefCell<Vec<usize>> = const { RefCell::new(Vec::new()) };
}

pub struct WriterGuard {
    pub slot: usize,
}

pub fn become_writer(def: &CacheDef) -> WriterGuard {
    crate::xact::ensure_exit_callback();
    loop {
        let i = ensure_slot(def);
        let s = shmem::slot(i);
        unsafe { pg_sys::ConditionVariablePrepareToSleep(&mut s.writer_cv) };
        loop {
            let got = {
                let _g = shmem::lock_slot(i, true);
                if !slot_is(s, def) {
                    None
                } else if s.writer_pid.load(Ordering::Acquire) == 0 {
                    s.writer_pid.store(unsafe { pg_sys::MyProcPid }, Ordering::Release);
                    Some(true)
                } else {
                    Some(false)
                }
            };
            match got {
                Some(true) => {
                    unsafe { pg_sys::ConditionVariableCancelSleep() };
                    WRITING.with(|w| w.borrow_mut().push(i));
                    return WriterGuard { slot: i };
                }
                Some(false) => unsafe { pg_sys::ConditionVariableSleep(&mut s.writer_cv, pg_sys::PG_WAIT_EXTENSION) },
                None => break, // slot was dropped and reassigned: find ours again
            }
        }
        unsafe { pg_sys::ConditionVariableCancelSleep() };
    }
}

/// The writer role if it is free right now.
pub fn try_become_writer(def: &CacheDef) -> Option<WriterGuard> {
    crate::xact::ensure_exit_callback();
    let i = find_slot(def)?;
    let s = shmem::slot(i);
    let _g = shmem::lock_slot(i, true);
    if !slot_is(s, def) || s.writer_pid.load(Ordering::Acquire) != 0 {
        return None;
    }
    s.writer_pid.store(unsafe { pg_sys::MyProcPid }, Ordering::Release);
    WRITING.with(|w| w.borrow_mut().push(i));
    Some(WriterGuard { slot: i })
}

fn release_writer_slot(i: usize) {
    let s = shmem::slot(i);
    {
        let _g = shmem::lock_slot(i, true);
        if s.writer_pid.load(Ordering::Acquire) == unsafe { pg_sys::MyProcPid } {
            s.writer_pid.store(0, Ordering::Release);
        }
    }
    unsafe { pg_sys::ConditionVariableBroadcast(&mut s.writer_cv) };
}

impl Drop for WriterGuard {
    fn drop(&mut self) {
        WRITING.with(|w| w.borrow_mut().retain(|&x| x != self.slot));
        release_writer_slot(self.slot);
    }
}

/// Exit callback: give back writer roles (a FATAL exit does not unwind Rust frames).
pub fn release_all_writers() {
    let held: Vec<usize> = WRITING.with(|w| std::mem::take(&mut *w.borrow_mut()));
    for i in held {
        release_writer_slot(i);
    }
}

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

/// Swaps `new` into slot `i` and returns the blocks of the old contents that are no longer
/// referenced (`keep_rows`: rows still referenced by the new arrays are not returned).
/// Runs under the slot's exclusive lock and cannot fail: no allocation, no ereport.
pub fn publish(i: usize, new: Contents, expired_rows: &[Offset], resolved: &inval::Collected) -> Vec<Offset> {
    let _g = shmem::lock_slot(i, true);
    let s = shmem::slot(i);
    let mut garbage: Vec<Offset> = Vec::with_capacity(expired_rows.len() + 20);
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

/// Unloads a cache (drop, or a definition change that invalidates its arrays).
pub fn unload(i: usize) {
    let garbage = {
        let _g = shmem::lock_slot(i, true);
        shmem::slot(i).take_contents()
    };
    shmem::free_many(garbage);
}

/// Unloads and frees the slot of a dropped cache.
pub fn release_slot(i: usize) {
    let garbage = {
        let _g = shmem::lock_slot(i, true);
        let s = shmem::slot(i);
        let mut g = s.take_contents();
        g.extend(s.take_pending());
        g
    };
    shmem::free_many(garbage);
    let _g = shmem::lock_global(true);
    let s = shmem::slot(i);
    shmem::tombstone(s.db, s.cache_id);
    s.state = SlotState::Free;
    s.cache_id = 0;
}
