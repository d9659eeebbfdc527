//! The shared-memory region: one block requested at server start, holding a header, the cache
//! directory (one slot per cache) and the arena that every cache's rows and index arrays are
//! allocated from. Everything inside is addressed by offsets (see `tablecache_core::alloc`).
//!
//! Locks (one named LWLock tranche): lock 0 guards the directory and the arena allocator; lock
//! 1 + i guards the contents of slot i. Lock order: a slot's lock before lock 0, never the reverse.

pub mod slot;
pub mod standby;
#[cfg(any(test, feature = "pg_test"))]
mod memory_tests;

use crate::guc;
use pgrx::pg_sys;
use std::sync::atomic::{AtomicU64, Ordering};
use tablecache_core::alloc::{AllocStats, Arena, Offset};

pub use slot::{Slot, SlotState, MAX_INDEXES, NAME_LEN};

const MAGIC: u64 = 0x7461_626c_6563_6163; // "tablecac"
const TRANCHE: &std::ffi::CStr = c"tablecache";

#[repr(C)]
pub struct Header {
    magic: u64,
    pub max_caches: u32,
    _pad: u32,
    /// Bumped on every definition change (and again at the end of the changing transaction) so
    /// that backends drop their cached definitions.
    pub def_epoch: AtomicU64,
    /// Bumped whenever a slot is (re)assigned; lets backends cache slot numbers safely.
    pub incarnations: AtomicU64,
    arena_size: u64,
    /// Databases that want a tablecache worker (see `worker`). Guarded by lock 0.
    pub dbs: [DbEntry; MAX_DBS],
    /// Recently dropped caches (db, id), so that a transaction committing invalidations of a
    /// cache dropped meanwhile does not give it a slot again. Guarded by lock 0.
    pub dropped: [(pg_sys::Oid, i64); 64],
    pub dropped_next: u32,
    /// Hot standby state (see `standby`).
    pub standby: standby::StandbyState,
    /// Invalidations of caches that had no slot (nothing cached, or no free slot), by
    /// transactions that may still be in progress: a load must not trust a snapshot that
    /// cannot see them. Guarded by lock 0.
    pub unslotted: [Unslotted; MAX_UNSLOTTED],
}

pub const MAX_UNSLOTTED: usize = 128;

#[repr(C)]
#[derive(Clone, Copy)]
pub struct Unslotted {
    pub db: pg_sys::Oid,
    pub xid: u32,
    pub cache_id: i64,
}

/// Notes (caller holds lock 0 exclusively) that transaction `xid` invalidated cache
/// `cache_id` of `db`, which has no slot. False when there is no room even after dropping the
/// entries of ended transactions (`in_progress` says which are still running).
pub fn note_unslotted(db: pg_sys::Oid, cache_id: i64, xid: u32, in_progress: &dyn Fn(u32) -> bool) -> bool {
    let h = unsafe { &mut *attached().header };
    if h.unslotted.iter().any(|u| u.xid == xid && u.db == db && u.cache_id == cache_id) {
        return true;
    }
    let free = |h: &Header| h.unslotted.iter().position(|u| u.xid == 0);
    let mut at = free(h);
    if at.is_none() {
        for u in h.unslotted.iter_mut() {
            if !in_progress(u.xid) {
                u.xid = 0;
            }
        }
        at = free(h);
    }
    match at {
        Some(k) => {
            h.unslotted[k] = Unslotted { db, xid, cache_id };
            true
        }
        None => false,
    }
}

/// Takes (caller holds lock 0 exclusively) the transactions noted for cache `cache_id` of `db`.
pub fn take_unslotted(db: pg_sys::Oid, cache_id: i64) -> Vec<u32> {
    let h = unsafe { &mut *attached().header };
    let mut out = Vec::new();
    for u in h.unslotted.iter_mut().filter(|u| u.xid != 0 && u.db == db && u.cache_id == cache_id) {
        out.push(u.xid);
        u.xid = 0;
    }
    out
}

pub const MAX_DBS: usize = 64;

#[repr(u32)]
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum DbState {
    Free = 0,
    /// a worker should be started
    Wanted = 1,
    Running = 2,
    /// the database has no tablecache extension
    Idle = 3,
}

#[repr(C)]
#[derive(Clone, Copy)]
pub struct DbEntry {
    pub db: pg_sys::Oid,
    pub state: DbState,
    pub pid: i32,
}

/// Asks the launcher for a worker in database `db` (unless one runs there).
pub fn want_worker(db: pg_sys::Oid) {
    if !is_attached() {
        return;
    }
    let _g = lock_global(true);
    let h = unsafe { &mut *attached().header };
    if let Some(e) = h.dbs.iter_mut().find(|e| e.state != DbState::Free && e.db == db) {
        if e.state == DbState::Idle {
            e.state = DbState::Wanted;
        }
        return;
    }
    if let Some(e) = h.dbs.iter_mut().find(|e| e.state == DbState::Free) {
        *e = DbEntry { db, state: DbState::Wanted, pid: 0 };
    }
}

/// Remembers that cache `id` of database `db` was dropped. Caller holds lock 0.
pub fn tombstone(db: pg_sys::Oid, id: i64) {
    let h = unsafe { &mut *attached().header };
    let n = h.dropped.len();
    h.dropped[h.dropped_next as usize % n] = (db, id);
    h.dropped_next = h.dropped_next.wrapping_add(1);
}

/// Was cache `id` of `db` dropped recently? Caller holds lock 0.
pub fn is_tombstoned(db: pg_sys::Oid, id: i64) -> bool {
    header().dropped.iter().any(|&(d, i)| d == db && i == id)
}

/// Runs `f` on the database registry under the global lock.
pub fn with_dbs<R>(f: impl FnOnce(&mut [DbEntry; MAX_DBS]) -> R) -> R {
    let _g = lock_global(true);
    let h = unsafe { &mut *attached().header };
    f(&mut h.dbs)
}

struct Attached {
    header: *mut Header,
    slots: *mut Slot,
    arena: Arena,
    locks: *mut pg_sys::LWLockPadded,
}

// Process-local: set once per backend (inherited from the postmaster on fork).
static mut ATTACHED: Option<Attached> = None;
/// The arena's base address, for the hot path (`ptr`): row lookups turn offsets into pointers
/// on every key comparison.
static mut ARENA_BASE: *mut u8 = std::ptr::null_mut();
static mut PREV_REQUEST_HOOK: pg_sys::shmem_request_hook_type = None;
static mut PREV_STARTUP_HOOK: pg_sys::shmem_startup_hook_type = None;

/// Sections start on cache lines (PostgreSQL hands out cache-line aligned shared memory):
/// slots hold per-stripe counters that must not share one.
fn align64(n: usize) -> usize {
    (n + 63) & !63
}

fn layout() -> (usize, usize, usize) {
    let max = guc::MAX_CACHES.get().max(1) as usize;
    let header = align64(std::mem::size_of::<Header>());
    let slots = align64(std::mem::size_of::<Slot>() * max);
    let arena = (guc::MEMORY_MB.get().max(1) as usize) * 1024 * 1024;
    (header, slots, arena)
}

pub fn install_hooks() {
    unsafe {
        PREV_REQUEST_HOOK = pg_sys::shmem_request_hook;
        pg_sys::shmem_request_hook = Some(request_hook);
        PREV_STARTUP_HOOK = pg_sys::shmem_startup_hook;
        pg_sys::shmem_startup_hook = Some(startup_hook);
    }
}

#[pgrx::pg_guard]
unsafe extern "C-unwind" fn request_hook() {
    unsafe {
        if let Some(prev) = PREV_REQUEST_HOOK {
            prev();
        }
        let (h, s, a) = layout();
        pg_sys::RequestAddinShmemSpace(h + s + a);
        pg_sys::RequestNamedLWLockTranche(TRANCHE.as_ptr(), guc::MAX_CACHES.get() + 1);
    }
}

/// PostgreSQL's AddinShmemInitLock (a macro in C: individual LWLock 21 of the main array).
unsafe fn addin_init_lock() -> *mut pg_sys::LWLock {
    unsafe { &mut (*pg_sys::MainLWLockArray.add(21)).lock }
}

#[pgrx::pg_guard]
unsafe extern "C-unwind" fn startup_hook() {
    unsafe {
        if let Some(prev) = PREV_STARTUP_HOOK {
            prev();
        }
        let (h, s, a) = layout();
        let max = guc::MAX_CACHES.get() as u32;
        pg_sys::LWLockAcquire(addin_init_lock(), pg_sys::LWLockMode::LW_EXCLUSIVE);
        let mut found = false;
        let base = pg_sys::ShmemInitStruct(c"tablecache region".as_ptr(), h + s + a, &mut found)
            as *mut u8;
        let header = base as *mut Header;
        let slots = base.add(h) as *mut Slot;
        let arena = Arena::from_raw(base.add(h + s), a);
        if !found {
            std::ptr::write_bytes(base, 0, h + s);
            (*header).magic = MAGIC;
            (*header).max_caches = max;
            (*header).arena_size = a as u64;
            for i in 0..max as usize {
                Slot::init(slots.add(i));
            }
            standby::init(&(*header).standby, guc::WAL_INVALIDATIONS.get());
            arena.format();
        }
        let locks = pg_sys::GetNamedLWLockTranche(TRANCHE.as_ptr());
        pg_sys::LWLockRelease(addin_init_lock());
        ARENA_BASE = arena.ptr(0);
        ATTACHED = Some(Attached { header, slots, arena, locks });
    }
}

#[allow(static_mut_refs)]
fn attached() -> &'static Attached {
    unsafe {
        match ATTACHED.as_ref() {
            Some(a) => a,
            None => crate::fail_detail!(
                ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
                "add 'tablecache' to shared_preload_libraries in postgresql.conf and restart the server",
                "tablecache is not loaded through shared_preload_libraries, so it has no shared memory"
            ),
        }
    }
}

pub fn is_attached() -> bool {
    #[allow(static_mut_refs)]
    unsafe {
        ATTACHED.is_some()
    }
}

pub fn header() -> &'static Header {
    unsafe { &*attached().header }
}

pub fn max_caches() -> usize {
    header().max_caches as usize
}

/// Slot `i`. Callers hold the slot's lock for anything but its atomics.
pub fn slot(i: usize) -> &'static mut Slot {
    let a = attached();
    assert!(i < unsafe { (*a.header).max_caches } as usize);
    unsafe { &mut *a.slots.add(i) }
}

pub fn arena() -> Arena {
    attached().arena
}

fn lock_ptr(i: usize) -> *mut pg_sys::LWLock {
    unsafe { &mut (*attached().locks.add(i)).lock }
}

/// An LWLock held for the life of the guard. PostgreSQL also releases LWLocks on ERROR, so a
/// guard dropped during unwinding only releases what is still held.
pub struct LockGuard(*mut pg_sys::LWLock);

impl LockGuard {
    fn acquire(lock: *mut pg_sys::LWLock, exclusive: bool) -> LockGuard {
        let mode = if exclusive { pg_sys::LWLockMode::LW_EXCLUSIVE } else { pg_sys::LWLockMode::LW_SHARED };
        unsafe { pg_sys::LWLockAcquire(lock, mode) };
        LockGuard(lock)
    }
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        unsafe {
            if pg_sys::LWLockHeldByMe(self.0) {
                pg_sys::LWLockRelease(self.0);
            }
        }
    }
}

pub fn lock_global(exclusive: bool) -> LockGuard {
    LockGuard::acquire(lock_ptr(0), exclusive)
}

pub fn lock_slot(i: usize, exclusive: bool) -> LockGuard {
    LockGuard::acquire(lock_ptr(1 + i), exclusive)
}

/// The slot's lock if it is free now (WAL redo never waits for a lock a backend holds).
pub fn try_lock_slot(i: usize, exclusive: bool) -> Option<LockGuard> {
    let mode = if exclusive { pg_sys::LWLockMode::LW_EXCLUSIVE } else { pg_sys::LWLockMode::LW_SHARED };
    let lock = lock_ptr(1 + i);
    unsafe { pg_sys::LWLockConditionalAcquire(lock, mode) }.then_some(LockGuard(lock))
}

/// Allocates from the arena under the global lock. None when the region is full.
pub fn alloc(size: usize) -> Option<Offset> {
    let _g = lock_global(true);
    arena().alloc(size)
}

/// Frees many blocks under one acquisition of the global lock.
pub fn free_many(offs: impl IntoIterator<Item = Offset>) {
    let _g = lock_global(true);
    let a = arena();
    for off in offs {
        if off != 0 {
            a.free(off);
        }
    }
}

pub fn memory_stats() -> AllocStats {
    let _g = lock_global(false);
    arena().stats()
}

/// The address of arena offset `off` (callers only pass offsets the arena handed out).
#[inline(always)]
pub fn ptr(off: Offset) -> *mut u8 {
    unsafe { ARENA_BASE.add(off as usize) }
}

pub fn bump_def_epoch() {
    header().def_epoch.fetch_add(1, Ordering::AcqRel);
}

pub fn def_epoch() -> u64 {
    header().def_epoch.load(Ordering::Acquire)
}
