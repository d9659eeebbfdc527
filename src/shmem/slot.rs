//! One cache's state in shared memory: which cache it is, its index arrays, its window and its
//! counters. A loaded cache is published as a whole: a writer prepares new arrays outside the
//! slot lock and swaps them in under it, so readers see either the old or the new state.

use pgrx::pg_sys;
use std::sync::atomic::{AtomicI32, AtomicU64, Ordering};
use tablecache_core::alloc::Offset;
use tablecache_core::index::{self, Fence};

pub const MAX_INDEXES: usize = 16;
/// Committed invalidations waiting for a refresh. Beyond this, a cache falls back to "refresh the
/// whole window" (`invalid_all`), which needs no memory.
pub const MAX_PENDING: usize = 512;
pub const NAME_LEN: usize = 64;

#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SlotState {
    Free = 0,
    Unloaded = 1,
    Loaded = 2,
}

/// A sorted array of row offsets in the arena.
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct IndexSlot {
    pub array: Offset,
    pub len: u64,
    /// key prefixes of every FENCE_STRIDE-th entry (see `tablecache_core::index`)
    pub fences: Offset,
}

/// An encoded key in the arena (`off == 0`: unbounded).
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct KeyRef {
    pub off: Offset,
    pub len: u32,
    pub present: u32,
}

/// One committed (or committing) invalidation: the rows of `index` whose key is in
/// [lo, hi) — or [lo, hi] on the key prefix when `hi_inclusive` — must be re-read.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct PendingEntry {
    pub gen: u64,
    pub hi_inclusive: u32,
    /// The top transaction id of the recording transaction (0: it had none). A writer resolves
    /// the entry only once that transaction has ended, so the snapshot it re-reads with shows
    /// the change.
    pub xid: u32,
    /// Non-zero: several entries of different transactions merged into this one (the list was
    /// full); it may only be resolved when no recording transaction is mid-commit.
    pub merged: u32,
    /// Non-zero: the entry may not be widened into a range by merging — a bound holds a NULL
    /// column (SQL's comparisons would not find its rows), or its index is ordered by a
    /// collation (byte order is not its order).
    pub no_merge: u32,
    /// Non-zero: recorded by a prepared transaction (PREPARE TRANSACTION), which may stay in
    /// progress for long and end in another backend, or after a restart: kept apart (never
    /// merged) and resolved only once its own xid has ended.
    pub prepared: u32,
    /// Non-zero: replayed from the WAL on a standby (`xid` is the primary's). A merged entry's
    /// `xid` is then the latest of those it stands for, and it is resolved once every
    /// transaction up to it has ended (there is no end-of-transaction callback to count them).
    pub redo: u32,
    pub index: [u8; NAME_LEN],
    pub lo: KeyRef,
    pub hi: KeyRef,
}

#[repr(C)]
pub struct Counters {
    pub refreshes: AtomicU64,
    pub invalidations: AtomicU64,
    pub loads: AtomicU64,
    pub adjustments: AtomicU64,
    pub rows_loaded: AtomicU64,
    pub rows_expired: AtomicU64,
}

/// Stripes of the read counters: every read bumps one, and backends on other CPUs bumping the
/// same cache line would pass it back and forth on every lookup.
pub const READ_STRIPES: usize = 8;

#[repr(C, align(64))]
pub struct ReadCounters {
    pub hits: AtomicU64,
    pub misses: AtomicU64,
}

#[repr(C)]
pub struct Slot {
    pub state: SlotState,
    pub db: pg_sys::Oid,
    pub cache_id: i64,
    /// Definition fingerprint the arrays were built for; readers of another fall through.
    pub def_version: i64,
    pub incarnation: u64,
    /// The cache's owner (the per-owner share of the region is counted by it).
    pub owner: pg_sys::Oid,
    /// Backend running a load, adjust or refresh of this cache (0: none), for the progress view.
    pub writer_pid: AtomicI32,
    pub name: [u8; NAME_LEN],
    pub nindexes: u32,
    /// Position (in the definition's index list) of the window's index; -1 when unloaded.
    pub window_index: i32,
    /// The window index's name (positions change when a definition changes; names do not).
    pub window_name: [u8; NAME_LEN],
    pub window_ge: KeyRef,
    pub window_lt: KeyRef,
    pub indexes: [IndexSlot; MAX_INDEXES],
    pub rows: u64,
    /// Bytes of the arena held by this cache: row records, index arrays, window keys.
    pub bytes: u64,
    /// The row records' share of `bytes` (kept so that an adjust need not sum every row).
    pub row_bytes: u64,
    /// Bytes allocated for contents staged but not yet published (a load in an open
    /// transaction): they count against the owner's share too.
    pub staged_bytes: AtomicU64,
    /// Generation of the last recorded invalidation (entries carry theirs).
    pub inval_gen: u64,
    pub pending_count: u32,
    /// Non-zero: everything must be re-read (too many invalidations, TRUNCATE, or no memory to
    /// record one); `invalid_all_gen` is the generation that set it.
    pub invalid_all: u32,
    pub invalid_all_gen: u64,
    /// For an "everything" set by WAL redo: resolved once every transaction up to this one has
    /// ended (0: no such wait).
    pub invalid_all_xid: u32,
    /// The standby-wide "everything" generation (`standby::StandbyState::all_gen`) this slot's
    /// contents have resolved.
    pub global_seen: u64,
    /// Set by WAL redo when the primary dropped the cache: the launcher gives the slot back.
    pub release_wanted: std::sync::atomic::AtomicU32,
    /// Transactions that recorded invalidations here and are not yet visible to new snapshots
    /// (between their PRE_COMMIT and COMMIT callbacks). A refresh may only trust a snapshot taken
    /// while this is zero; `commit_cv` is broadcast when it drops.
    pub committing: std::sync::atomic::AtomicU32,
    pub commit_cv: pg_sys::ConditionVariable,
    pub pending: [PendingEntry; MAX_PENDING],
    pub progress_done: AtomicU64,
    pub progress_expected: AtomicU64,
    pub counters: Counters,
    pub reads: [ReadCounters; READ_STRIPES],
}

impl Slot {
    /// This backend's stripe of the read counters.
    #[inline]
    pub fn my_reads(&self) -> &ReadCounters {
        let id = unsafe { pg_sys::MyBackendId };
        let n = if id > 0 { id as usize } else { (unsafe { pg_sys::MyProcPid }) as usize };
        &self.reads[n % READ_STRIPES]
    }

    /// hits, misses, refreshes, invalidations, loads, adjustments, rows_loaded, rows_expired
    pub fn counter_values(&self) -> [u64; 8] {
        let sum = |f: fn(&ReadCounters) -> &AtomicU64| self.reads.iter().map(|r| f(r).load(Ordering::Relaxed)).sum();
        let c = &self.counters;
        [
            sum(|r| &r.hits),
            sum(|r| &r.misses),
            c.refreshes.load(Ordering::Relaxed),
            c.invalidations.load(Ordering::Relaxed),
            c.loads.load(Ordering::Relaxed),
            c.adjustments.load(Ordering::Relaxed),
            c.rows_loaded.load(Ordering::Relaxed),
            c.rows_expired.load(Ordering::Relaxed),
        ]
    }

    pub fn reset_counters(&self) {
        let c = &self.counters;
        for a in [&c.refreshes, &c.invalidations, &c.loads, &c.adjustments, &c.rows_loaded, &c.rows_expired] {
            a.store(0, Ordering::Relaxed);
        }
        for r in &self.reads {
            r.hits.store(0, Ordering::Relaxed);
            r.misses.store(0, Ordering::Relaxed);
        }
    }

    /// # Safety
    /// `p` points at zeroed shared memory reserved for a slot.
    pub unsafe fn init(p: *mut Slot) {
        unsafe {
            (*p).state = SlotState::Free;
            (*p).window_index = -1;
            pg_sys::ConditionVariableInit(&mut (*p).commit_cv);
        }
    }

    /// Forgets every pending invalidation (the cache is being dropped); adds their blocks to
    /// `out` (sized by the caller: this runs under the slot lock).
    pub fn take_pending(&mut self, out: &mut Vec<Offset>) {
        for e in &self.pending[..self.pending_count as usize] {
            for k in [e.lo, e.hi] {
                if k.off != 0 {
                    out.push(k.off);
                }
            }
        }
        self.pending_count = 0;
        self.invalid_all = 0;
        self.invalid_all_xid = 0;
    }

    /// Is anything waiting to be re-read?
    pub fn has_pending(&self) -> bool {
        self.pending_count != 0 || self.invalid_all != 0 || self.global_seen < super::standby::everything_pending().0
    }

    pub fn name_str(&self) -> &str {
        let end = self.name.iter().position(|&b| b == 0).unwrap_or(NAME_LEN);
        std::str::from_utf8(&self.name[..end]).unwrap_or("?")
    }

    pub fn set_name(&mut self, name: &str) {
        set_fixed(&mut self.name, name);
    }

    pub fn window_name_str(&self) -> &str {
        let end = self.window_name.iter().position(|&b| b == 0).unwrap_or(NAME_LEN);
        std::str::from_utf8(&self.window_name[..end]).unwrap_or("?")
    }

    /// The fences of index `i` and, after them in the same block, their top fences.
    pub fn index_fences(&self, i: usize) -> (&'static [Fence], &'static [Fence]) {
        let ix = self.indexes[i];
        let n = index::fence_count(ix.len as usize);
        if ix.fences == 0 || n == 0 {
            return (&[], &[]);
        }
        let all = unsafe { std::slice::from_raw_parts(super::ptr(ix.fences) as *const Fence, n + index::top_count(n)) };
        all.split_at(n)
    }

    pub fn index_entries(&self, i: usize) -> &'static [u64] {
        let ix = self.indexes[i];
        if ix.len == 0 {
            return &[];
        }
        unsafe { std::slice::from_raw_parts(super::ptr(ix.array) as *const u64, ix.len as usize) }
    }

    pub fn key_bytes(k: &KeyRef) -> Option<&'static [u8]> {
        if k.present == 0 {
            None
        } else if k.len == 0 {
            Some(&[])
        } else {
            Some(unsafe { std::slice::from_raw_parts(super::ptr(k.off), k.len as usize) })
        }
    }

    /// Resets the slot's published contents; adds the arena blocks that the caller must free
    /// (outside this slot's critical section is fine: nothing references them any more) to
    /// `out`, sized by the caller.
    pub fn take_contents(&mut self, out: &mut Vec<Offset>) {
        if self.state == SlotState::Loaded {
            // every row is in the primary-key array exactly once
            out.extend_from_slice(self.index_entries(0));
        }
        for ix in self.indexes.iter_mut() {
            out.extend([ix.array, ix.fences].into_iter().filter(|&o| o != 0));
            *ix = IndexSlot::default();
        }
        for k in [&mut self.window_ge, &mut self.window_lt] {
            if k.off != 0 {
                out.push(k.off);
            }
            *k = KeyRef::default();
        }
        self.window_index = -1;
        self.rows = 0;
        self.bytes = 0;
        self.row_bytes = 0;
        if self.state == SlotState::Loaded {
            self.state = SlotState::Unloaded;
        }
    }
}

pub fn set_fixed(dst: &mut [u8; NAME_LEN], name: &str) {
    *dst = [0; NAME_LEN];
    let b = name.as_bytes();
    let n = b.len().min(NAME_LEN - 1);
    dst[..n].copy_from_slice(&b[..n]);
}
