//! Invalidations in shared memory. A committing transaction records the key ranges it
//! invalidated in each cache's slot at PRE_COMMIT — before its changes become visible — so that
//! from the moment they are visible no reader trusts the old rows. A refresh (any writer
//! operation) collects the entries, waits until no recording transaction is between PRE_COMMIT
//! and visibility, re-reads with a snapshot taken after that, and clears exactly the entries it
//! collected: anything recorded meanwhile stays pending.

use super::window::{read_bound, try_write_bound};
use crate::bound::Bound;
use crate::shmem::{self, slot::PendingEntry, slot::MAX_PENDING, Slot, SlotState, NAME_LEN};
use pgrx::pg_sys;
use std::sync::atomic::Ordering;
use tablecache_core::alloc::Offset;

/// An invalidation as recorded by a transaction: rows of `index` with key in [lo, hi) — or
/// with key prefix in [lo, hi] when `hi_inclusive` (a point is lo = hi, inclusive). `None` for
/// both bounds and an empty index name means "everything" (TRUNCATE).
#[derive(Clone, Debug)]
pub struct Inval {
    pub index: String,
    pub lo: Option<Bound>,
    pub hi: Option<Bound>,
    pub hi_inclusive: bool,
}

impl Inval {
    /// The rows whose key (or key prefix) equals `key`.
    pub fn point(index: String, key: Bound) -> Inval {
        Inval { index, lo: Some(key.clone()), hi: Some(key), hi_inclusive: true }
    }

    /// Everything the cache holds (TRUNCATE, bulk statements).
    pub fn all() -> Inval {
        Inval { index: String::new(), lo: None, hi: None, hi_inclusive: false }
    }

    pub fn is_all(&self) -> bool {
        self.index.is_empty()
    }

    /// Does a bound hold a NULL column?
    pub fn has_nulls(&self) -> bool {
        [&self.lo, &self.hi].iter().any(|b| b.as_ref().is_some_and(|b| b.values.iter().any(|v| v.image.is_none())))
    }

    /// One key (or key prefix), not a range.
    pub fn is_point(&self) -> bool {
        self.hi_inclusive && matches!((&self.lo, &self.hi), (Some(a), Some(b)) if a.key == b.key)
    }
    /// Byte range of the encoded keys covered: [lo, end).
    pub fn byte_range(&self) -> (Option<Vec<u8>>, Option<Vec<u8>>) {
        let lo = self.lo.as_ref().map(|b| b.key.clone());
        let hi = self.hi.as_ref().map(|b| if self.hi_inclusive { tablecache_core::keys::prefix_end(&b.key) } else { b.key.clone() });
        (lo, hi)
    }
}

fn free_entry_blocks(e: &PendingEntry, out: &mut Vec<Offset>) {
    for k in [e.lo, e.hi] {
        if k.off != 0 {
            out.push(k.off);
        }
    }
}

/// A bound longer than this is not kept: the invalidation becomes "everything" (pending keys
/// take shared memory that nobody is charged for).
const MAX_BOUND_BYTES: usize = 2048;

/// How `record` went.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Recorded {
    /// one entry per invalidation
    Each,
    /// the cache re-reads everything (too many, too long, or no memory to keep them)
    Everything,
    /// (prepared transactions only) no room for even one entry: nothing recorded
    NoRoom,
    /// (WAL redo only) the slot's lock was not free: nothing recorded
    Busy,
}

/// Who records.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Origin {
    /// a committing transaction (PRE_COMMIT)
    Commit,
    /// a preparing transaction (PRE_PREPARE)
    Prepare,
    /// WAL redo on a standby: the primary's transaction `xid` (prepared or not)
    Redo { prepared: bool },
}

/// Records `invals` of transaction `xid` (0: it has none) in slot `i` (PRE_COMMIT and WAL
/// redo: must not fail); `collated(index)` says whether an index is ordered by a collation.
/// A prepared transaction's entries are kept apart and tied to its xid, and "everything" is
/// one such entry too: the slot-wide fallback cannot wait for a transaction that may stay
/// prepared. Redo never waits for the slot's lock (a backend holding it might wait for
/// something replay holds): it tries for a while, then says `Busy`.
pub fn record(i: usize, invals: &[Inval], xid: u32, origin: Origin, collated: &dyn Fn(&str) -> bool) -> Recorded {
    let everything = [Inval::all()];
    let r = record_entries(i, invals, xid, origin, collated);
    if origin == Origin::Prepare && r != Recorded::Each {
        // the entries did not fit: one entry, unbounded, tied to the transaction
        return match record_entries(i, &everything, xid, origin, &|_| false) {
            Recorded::Each => Recorded::Everything,
            _ => Recorded::NoRoom,
        };
    }
    r
}

/// The slot's lock, exclusive, as WAL redo may take it: a bounded number of attempts.
fn try_lock_for_redo(i: usize) -> Option<shmem::LockGuard> {
    for attempt in 0..2000 {
        if let Some(g) = shmem::try_lock_slot(i, true) {
            return Some(g);
        }
        if attempt % 100 == 99 {
            unsafe { pg_sys::pg_usleep(1000) };
        } else {
            std::hint::spin_loop();
        }
    }
    None
}

fn record_entries(i: usize, invals: &[Inval], xid: u32, origin: Origin, collated: &dyn Fn(&str) -> bool) -> Recorded {
    let s = shmem::slot(i);
    let (apart, redo) = match origin {
        Origin::Commit => (false, false),
        Origin::Prepare => (true, false),
        Origin::Redo { prepared } => (prepared, true),
    };
    // Blocks first, outside the slot lock; on any failure fall back to invalid_all.
    let mut prepared: Vec<PendingEntry> = Vec::with_capacity(invals.len());
    let too_long = |b: &Option<Bound>| b.as_ref().is_some_and(|b| b.key.len() + b.values.iter().map(|v| v.image.as_ref().map_or(0, Vec::len)).sum::<usize>() > MAX_BOUND_BYTES);
    let mut all = invals.len() > MAX_PENDING || invals.iter().any(|v| too_long(&v.lo) || too_long(&v.hi));
    if !all {
        for v in invals {
            let lo = v.lo.as_ref().map(try_write_bound);
            let hi = v.hi.as_ref().map(try_write_bound);
            let ok = !matches!(lo, Some(None)) && !matches!(hi, Some(None));
            let mut e = PendingEntry {
                gen: 0,
                hi_inclusive: v.hi_inclusive as u32,
                xid,
                merged: 0,
                no_merge: (v.has_nulls() || collated(&v.index)) as u32,
                prepared: apart as u32,
                redo: redo as u32,
                index: [0; NAME_LEN],
                lo: lo.flatten().unwrap_or_default(),
                hi: hi.flatten().unwrap_or_default(),
            };
            crate::shmem::slot::set_fixed(&mut e.index, &v.index);
            prepared.push(e);
            if !ok {
                all = true;
                break;
            }
        }
    }
    // sized before the lock: merging frees at most the blocks of every entry
    let mut garbage = Vec::with_capacity(2 * MAX_PENDING + 2 * prepared.len());
    let outcome;
    let guard = if redo { try_lock_for_redo(i) } else { Some(shmem::lock_slot(i, true)) };
    if let Some(_g) = guard {
        if !all && (s.pending_count as usize + prepared.len()) > MAX_PENDING {
            merge_pending(s, &mut garbage);
        }
        if !all && (s.pending_count as usize + prepared.len()) <= MAX_PENDING {
            if !redo {
                s.committing.fetch_add(1, Ordering::AcqRel);
            }
            for mut e in prepared.drain(..) {
                s.inval_gen += 1;
                e.gen = s.inval_gen;
                s.pending[s.pending_count as usize] = e;
                s.pending_count += 1;
            }
            outcome = Recorded::Each;
        } else if origin == Origin::Prepare {
            outcome = if all { Recorded::Everything } else { Recorded::NoRoom };
        } else {
            if redo {
                // resolved once every transaction up to this one has ended
                if s.invalid_all == 0 {
                    s.invalid_all_xid = 0;
                }
                if shmem::standby::xid_later(xid, s.invalid_all_xid) {
                    s.invalid_all_xid = xid;
                }
            } else {
                s.committing.fetch_add(1, Ordering::AcqRel);
            }
            s.inval_gen += 1;
            s.invalid_all = 1;
            s.invalid_all_gen = s.inval_gen;
            outcome = Recorded::Everything;
        }
    } else {
        outcome = Recorded::Busy;
    }
    for e in &prepared {
        free_entry_blocks(e, &mut garbage);
    }
    // freed after the slot lock is released (lock 0 is taken after a slot lock, never inside
    // a critical section that must stay short)
    shmem::free_many(garbage);
    outcome
}

/// Makes room in a full pending list: all entries of one index become one entry from the
/// lowest lower bound to the highest upper end (re-reading more rows, never fewer). The merged
/// entry takes a new generation, so a refresh that collected the old ones leaves it pending,
/// and is marked merged: it stands for several transactions. Runs under the slot's exclusive
/// lock; allocates nothing (the entries are merged in place).
fn merge_pending(s: &mut Slot, garbage: &mut Vec<Offset>) {
    let n = s.pending_count as usize;
    let key = |k: &crate::shmem::slot::KeyRef| Slot::key_bytes(k);
    let end = |e: &PendingEntry| -> Option<Vec<u8>> {
        key(&e.hi).map(|h| if e.hi_inclusive != 0 { tablecache_core::keys::prefix_end(h) } else { h.to_vec() })
    };
    let mut w = 0;
    for r in 0..n {
        let e = s.pending[r];
        if e.prepared != 0 {
            // a prepared transaction's entries become one, "everything", still its own
            if let Some(m) = s.pending[..w].iter_mut().find(|m| m.prepared != 0 && m.xid == e.xid && m.redo == e.redo) {
                garbage.extend([m.lo.off, m.hi.off, e.lo.off, e.hi.off].into_iter().filter(|&o| o != 0));
                m.index = [0; NAME_LEN];
                m.lo = Default::default();
                m.hi = Default::default();
                continue;
            }
        }
        let Some(m) = s.pending[..w].iter_mut().find(|m| e.prepared == 0 && m.prepared == 0 && m.index == e.index) else {
            s.pending[w] = e;
            w += 1;
            continue;
        };
        // a merged entry stands for several transactions: on a standby it waits for the
        // latest of them (and, by transaction id order, for every earlier one)
        let redo_xid = |x: &PendingEntry| if x.redo != 0 { x.xid } else { 0 };
        let (mx, ex) = (if m.merged != 0 { m.xid } else { redo_xid(m) }, redo_xid(&e));
        m.xid = if shmem::standby::xid_later(ex, mx) { ex } else { mx };
        m.redo = (m.xid != 0) as u32;
        m.merged = 1;
        if m.no_merge != 0 || e.no_merge != 0 {
            // cannot be a range: make it "everything" (an index no definition has)
            garbage.extend([m.lo.off, m.hi.off, e.lo.off, e.hi.off].into_iter().filter(|&o| o != 0));
            m.index = [0; NAME_LEN];
            m.lo = Default::default();
            m.hi = Default::default();
            m.no_merge = 0;
            continue;
        }
        // lower: the smaller (unbounded wins)
        let take_lo = match (key(&m.lo), key(&e.lo)) {
            (None, _) => false,
            (Some(_), None) => true,
            (Some(a), Some(b)) => b < a,
        };
        if take_lo {
            garbage.extend((m.lo.off != 0).then_some(m.lo.off));
            m.lo = e.lo;
        } else if e.lo.off != 0 {
            garbage.push(e.lo.off);
        }
        let take_hi = match (end(m), end(&e)) {
            (None, _) => false,
            (Some(_), None) => true,
            (Some(a), Some(b)) => b > a,
        };
        if take_hi {
            garbage.extend((m.hi.off != 0).then_some(m.hi.off));
            m.hi = e.hi;
            m.hi_inclusive = e.hi_inclusive;
        } else if e.hi.off != 0 {
            garbage.push(e.hi.off);
        }
    }
    for m in s.pending[..w].iter_mut().filter(|m| m.prepared == 0) {
        s.inval_gen += 1;
        m.gen = s.inval_gen;
    }
    s.pending_count = w as u32;
}

/// The transactions prepared before this server's shared memory was set up ($1, in
/// microseconds since 2000-01-01: a crash restart sets it up again, the postmaster's start
/// time stays).
pub const PREPARED_BEFORE_MEMORY: &str = "SELECT transaction::pg_catalog.text::pg_catalog.int8 FROM pg_catalog.pg_prepared_xacts \
     WHERE prepared OPERATOR(pg_catalog.<) pg_catalog.to_timestamp($1::pg_catalog.float8 OPERATOR(pg_catalog./) 1000000 OPERATOR(pg_catalog.+) 946684800)";

thread_local! {
    static TWO_PHASE: std::cell::Cell<Option<bool>> = const { std::cell::Cell::new(None) };
}

/// Transactions prepared before this server's shared memory was set up recorded their
/// invalidations in memory that is gone: each one still prepared counts as "everything" for slot `i`, tied to its
/// xid, so that COMMIT PREPARED makes the cache re-read what this pass is about to read
/// without it. (Called by every writer pass before it collects.)
pub fn note_unknown_prepared(i: usize) {
    let enabled = TWO_PHASE.with(|t| {
        *t.get().get_or_insert_with(|| {
            crate::spi::select_one::<i32>("SELECT pg_catalog.current_setting('max_prepared_transactions')::pg_catalog.int4", &[]).unwrap_or(1) > 0
        })
    });
    if !enabled {
        return;
    }
    let xids: Vec<i64> = crate::spi::select_column(PREPARED_BEFORE_MEMORY, &[shmem::standby::state().started.load(Ordering::Acquire).into()]);
    let s = shmem::slot(i);
    for x in xids {
        let xid = x as u32;
        let known = {
            let _g = shmem::lock_slot(i, false);
            s.pending[..s.pending_count as usize].iter().any(|e| e.prepared != 0 && e.xid == xid && e.index[0] == 0)
        };
        if known || !in_progress(xid) {
            continue;
        }
        if record(i, &[Inval::all()], xid, Origin::Prepare, &|_| false) == Recorded::NoRoom {
            crate::fail!(
                ERRCODE_PROGRAM_LIMIT_EXCEEDED,
                "cache \"{}\" has no room left to follow prepared transaction {}",
                s.name_str(),
                xid
            );
        }
        committed(i); // no transaction of ours is mid-commit for it
    }
}

/// The recording transaction is now visible (or aborted): let refreshes proceed.
pub fn committed(i: usize) {
    let s = shmem::slot(i);
    if s.committing.fetch_sub(1, Ordering::AcqRel) == 1 {
        unsafe { pg_sys::ConditionVariableBroadcast(&mut s.commit_cv) };
    }
}

/// What a writer collected: the entries it will resolve.
#[derive(Default)]
pub struct Collected {
    pub gens: Vec<u64>,
    pub all_gen: Option<u64>,
    /// the standby-wide "everything" generation resolved
    pub global_gen: Option<u64>,
    pub invals: Vec<Inval>,
}

impl Collected {
    pub fn is_empty(&self) -> bool {
        self.gens.is_empty() && self.all_gen.is_none() && self.global_gen.is_none()
    }

    /// Must everything be re-read?
    pub fn everything(&self) -> bool {
        self.all_gen.is_some() || self.global_gen.is_some()
    }
}

/// Has every transaction up to `xid` ended, for a snapshot taken now? (0: no wait.)
fn horizon_passed(xid: u32) -> bool {
    if xid == 0 {
        return true;
    }
    unsafe {
        let snap = pg_sys::GetLatestSnapshot();
        !snap.is_null() && pg_sys::TransactionIdPrecedes(pg_sys::TransactionId::from(xid), (*snap).xmin)
    }
}

fn in_progress(xid: u32) -> bool {
    let x = pg_sys::TransactionId::from(xid);
    unsafe { pg_sys::TransactionIdIsCurrentTransactionId(x) || pg_sys::TransactionIdIsInProgress(x) }
}

/// Collects the pending entries of slot `i` whose recording transactions have ended, so that a
/// snapshot taken afterwards shows their changes. With `block`, waits for the ones still
/// committing: for each entry's own transaction (a heavyweight wait on its xid, which the
/// deadlock detector sees), never for transactions that start committing meanwhile, so a
/// writer cannot starve; merged entries and the "re-read everything" fallback, which stand for
/// several transactions, wait until none is mid-commit. Without `block`, entries whose
/// transactions are still committing stay pending.
pub fn collect(i: usize, block: bool) -> Collected {
    let s = shmem::slot(i);
    // On a standby nothing is waited for (no end-of-transaction callback there, and a wait
    // must not hold up anything replay needs): what is not ready stays pending.
    let recovery = unsafe { pg_sys::RecoveryInProgress() };
    let block = block && !recovery;
    let mut sleeping = false;
    let col = loop {
        let (all, all_xid, entries) = {
            let _g = shmem::lock_slot(i, false);
            let (a, e) = gather(s);
            (a, s.invalid_all_xid, e)
        };
        // Read after gathering: a merged entry's transactions have then all left PRE_COMMIT.
        let quiet = s.committing.load(Ordering::Acquire) == 0;
        let mut col = Collected::default();
        let (mut wait_xid, mut wait_quiet) = (None, false);
        if let Some(g) = all {
            if !quiet {
                wait_quiet = true;
            } else if horizon_passed(all_xid) {
                col.all_gen = Some(g);
            }
        }
        let (g, gx) = shmem::standby::everything_pending();
        if g > s.global_seen && horizon_passed(gx) {
            col.global_gen = Some(g);
        }
        for (e, v) in entries {
            let ready = if e.merged != 0 {
                wait_quiet |= !quiet;
                quiet && horizon_passed(if e.redo != 0 { e.xid } else { 0 })
            } else if e.xid != 0 && in_progress(e.xid) {
                // a prepared transaction may stay so for long: not waited for, it stays pending
                if e.prepared == 0 && !unsafe { pg_sys::TransactionIdIsCurrentTransactionId(pg_sys::TransactionId::from(e.xid)) } {
                    wait_xid.get_or_insert(e.xid);
                }
                false
            } else {
                true
            };
            if ready {
                col.gens.push(e.gen);
                col.invals.push(v);
            }
        }
        if !block || (wait_xid.is_none() && !wait_quiet) {
            break col;
        }
        if let Some(x) = wait_xid {
            unsafe { pg_sys::XactLockTableWait(pg_sys::TransactionId::from(x), std::ptr::null_mut(), std::ptr::null_mut(), pg_sys::XLTW_Oper::XLTW_None) };
            continue;
        }
        if !sleeping {
            unsafe { pg_sys::ConditionVariablePrepareToSleep(&mut s.commit_cv) };
            sleeping = true;
            continue;
        }
        unsafe { pg_sys::ConditionVariableSleep(&mut s.commit_cv, pg_sys::PG_WAIT_EXTENSION) };
    };
    if sleeping {
        unsafe { pg_sys::ConditionVariableCancelSleep() };
    }
    col
}

/// Must readers of slot `s` stay away from its memory? Not for an entry whose own transaction
/// is still in progress: a reader's snapshot, taken before this check, cannot see that
/// transaction's changes, and the cached rows are what it would read. (This keeps a prepared
/// transaction from sending every read to the database until COMMIT PREPARED.) Under the slot
/// lock.
pub fn blocks_readers(s: &Slot) -> bool {
    s.invalid_all != 0
        || s.global_seen < shmem::standby::everything_pending().0
        || s.pending[..s.pending_count as usize].iter().any(|e| e.merged != 0 || e.xid == 0 || !in_progress(e.xid))
}

/// The "re-read everything" generation, if set, and every pending entry. Under the slot lock.
fn gather(s: &Slot) -> (Option<u64>, Vec<(PendingEntry, Inval)>) {
    let all = (s.invalid_all != 0).then_some(s.invalid_all_gen);
    let entries = s.pending[..s.pending_count as usize]
        .iter()
        .map(|e| {
            let end = e.index.iter().position(|&b| b == 0).unwrap_or(NAME_LEN);
            let v = Inval {
                index: String::from_utf8_lossy(&e.index[..end]).into_owned(),
                lo: read_bound(&e.lo),
                hi: read_bound(&e.hi),
                hi_inclusive: e.hi_inclusive != 0,
            };
            (*e, v)
        })
        .collect();
    (all, entries)
}

/// Removes the collected entries from the slot (called inside `publish`'s critical section).
pub fn clear_collected(s: &mut Slot, col: &Collected, garbage: &mut Vec<Offset>) {
    if let Some(g) = col.all_gen {
        if s.invalid_all != 0 && s.invalid_all_gen <= g {
            s.invalid_all = 0;
            s.invalid_all_xid = 0;
        }
    }
    if let Some(g) = col.global_gen {
        s.global_seen = s.global_seen.max(g);
    }
    if col.gens.is_empty() {
        return;
    }
    let n = s.pending_count as usize;
    let mut w = 0;
    for r in 0..n {
        let e = s.pending[r];
        if col.gens.contains(&e.gen) {
            free_entry_blocks(&e, garbage);
        } else {
            s.pending[w] = e;
            w += 1;
        }
    }
    s.pending_count = w as u32;
}

/// What `slot_for_commit` needs to give a cache a slot.
#[derive(Clone, Default)]
pub struct CacheInfo {
    pub name: String,
    pub fingerprint: i64,
    pub owner: pg_sys::Oid,
}

/// A slot for cache `cache_id` of this database, assigned if needed, without ever raising an
/// error (PRE_COMMIT). None when every slot is taken: transaction `xid`'s invalidation is then
/// noted apart (a later load must not miss it), or, with no room for that either, every cache
/// re-reads everything once it has ended.
pub fn slot_for_commit(cache_id: i64, info: &CacheInfo, xid: u32) -> Option<usize> {
    let db = unsafe { pg_sys::MyDatabaseId };
    let _g = shmem::lock_global(true);
    let r = find_or_assign(db, cache_id, info);
    if r.is_none() && xid != 0 && !shmem::is_tombstoned(db, cache_id) && !shmem::note_unslotted(db, cache_id, xid, &in_progress) {
        shmem::standby::everything(xid);
    }
    r
}

/// WAL redo on a standby: the slot of cache `cache_id` of `db` if it has one; else the
/// transaction's invalidation is noted apart, atomically with the check (a load assigning the
/// slot meanwhile finds it there).
pub fn slot_for_redo(db: pg_sys::Oid, cache_id: i64, xid: u32) -> Option<usize> {
    let _g = shmem::lock_global(true);
    let found = (0..shmem::max_caches()).find(|&i| {
        let s = shmem::slot(i);
        s.state != SlotState::Free && s.db == db && s.cache_id == cache_id
    });
    if found.is_none() && xid != 0 && !shmem::note_unslotted(db, cache_id, xid, &in_progress) {
        shmem::standby::everything(xid);
    }
    found
}

/// Before a writer pass of slot `i`: invalidations noted apart while the cache had no slot,
/// by transactions still in progress, become "everything" entries tied to them.
pub fn adopt_unslotted(i: usize) {
    let s = shmem::slot(i);
    let xids = {
        let _g = shmem::lock_global(true);
        shmem::take_unslotted(s.db, s.cache_id)
    };
    let recovery = unsafe { pg_sys::RecoveryInProgress() };
    for xid in xids.into_iter().filter(|&x| in_progress(x)) {
        let origin = if recovery { Origin::Redo { prepared: true } } else { Origin::Prepare };
        if record(i, &[Inval::all()], xid, origin, &|_| false) == Recorded::NoRoom {
            shmem::standby::everything(xid);
        } else if !recovery {
            committed(i); // no transaction of ours is mid-commit for it
        }
    }
}

fn find_or_assign(db: pg_sys::Oid, cache_id: i64, info: &CacheInfo) -> Option<usize> {
    let mut free = None;
    for i in 0..shmem::max_caches() {
        let s = shmem::slot(i);
        if s.state != SlotState::Free && s.db == db && s.cache_id == cache_id {
            return Some(i);
        }
        if s.state == SlotState::Free && free.is_none() {
            free = Some(i);
        }
    }
    let i = free?;
    if shmem::is_tombstoned(db, cache_id) {
        return None; // dropped while this transaction was invalidating it
    }
    super::init_slot(i, cache_id, &info.name, info.fingerprint, info.owner);
    Some(i)
}
