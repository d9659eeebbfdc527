//! The primary's side: the invalidation record of a committing (or preparing) transaction,
//! the heartbeat, and the record that says sending stopped.

use super::{in_recovery, rmgr_id};
use crate::shmem::{self, standby};
use crate::store::inval::Inval;
use pgrx::pg_sys;
use std::sync::atomic::Ordering;
use tablecache_core::walrec::{self, WalBound, WalCache, WalInval, WalRecord, WalValue};

use crate::shmem::standby::SENT_MARKER;

pub fn sending() -> bool {
    crate::guc::WAL_INVALIDATIONS.get() && shmem::is_attached() && !in_recovery()
}

fn insert(bytes: &[u8], unimportant: bool) {
    unsafe {
        pg_sys::XLogBeginInsert();
        if unimportant {
            pg_sys::XLogSetRecordFlags(pg_sys::XLOG_MARK_UNIMPORTANT as u8);
        }
        pg_sys::XLogRegisterData(bytes.as_ptr() as *mut std::ffi::c_char, bytes.len() as i32);
        pg_sys::XLogInsert(rmgr_id(), 0);
    }
}

fn wal_bound(b: &crate::bound::Bound) -> WalBound {
    WalBound {
        key: b.key.clone(),
        values: b.values.iter().map(|v| WalValue { typid: v.typid.to_u32(), image: v.image.clone() }).collect(),
    }
}

/// One cache's part of a transaction's record. `collated(index)`: ranges of that index cannot
/// be merged (the standby merges like the primary).
pub fn cache_part(cache_id: i64, invals: &[Inval], dropped: bool, collated: &dyn Fn(&str) -> bool) -> WalCache {
    let everything = dropped || invals.iter().any(Inval::is_all);
    WalCache {
        cache_id,
        everything,
        dropped,
        invals: if everything {
            Vec::new()
        } else {
            invals
                .iter()
                .map(|v| WalInval {
                    index: v.index.as_bytes().to_vec(),
                    lo: v.lo.as_ref().map(wal_bound),
                    hi: v.hi.as_ref().map(wal_bound),
                    hi_inclusive: v.hi_inclusive,
                    no_merge: collated(&v.index),
                })
                .collect()
        },
    }
}

/// Writes what transaction `xid` invalidated (PRE_COMMIT or PRE_PREPARE, before the record
/// that ends it). May raise an error: the transaction then aborts.
pub fn invalidations(xid: u32, prepared: bool, all_dropped: bool, mut caches: Vec<WalCache>) {
    if caches.is_empty() && !all_dropped {
        return;
    }
    let db = unsafe { pg_sys::MyDatabaseId }.to_u32();
    for c in &mut caches {
        let one = WalRecord::Invalidations { db, xid, prepared, all_dropped: false, caches: vec![c.clone()] };
        if !walrec::encodable(&one) {
            c.everything = true;
            c.invals.clear();
        }
    }
    let rec = WalRecord::Invalidations { db, xid, prepared, all_dropped, caches };
    if walrec::encodable(&rec) {
        insert(&walrec::encode(&rec), false);
    }
}

/// The transactions prepared before this server started (their invalidations were never
/// written). Runs a query: inside a transaction.
fn unknown_prepared() -> Vec<u32> {
    let started = standby::state().started.load(Ordering::Acquire);
    let xids: Vec<i64> = crate::spi::select_column(crate::store::inval::PREPARED_BEFORE_MEMORY, &[started.into()]);
    xids.into_iter().map(|x| x as u32).collect()
}

/// The heartbeat: this server sends, since it started. Runs a query: inside a transaction.
pub fn heartbeat() {
    if !sending() {
        return;
    }
    let rec = WalRecord::Heartbeat {
        lifetime: unsafe { pg_sys::PgStartTime },
        now: unsafe { pg_sys::GetCurrentTimestamp() },
        unknown_prepared: unknown_prepared(),
    };
    insert(&walrec::encode(&rec), true);
    standby::state().announced.store(1, Ordering::Release);
    // (a promoted standby too: if it is started with sending off, its standbys must hear it)
    let marker = std::path::Path::new(SENT_MARKER);
    if !marker.exists() {
        let _ = std::fs::write(marker, b"tablecache.wal_invalidations was on\n");
    }
}

/// Before COMMIT PREPARED of a transaction that may have been prepared before this server
/// started: the standbys must have heard this lifetime's heartbeat (which names it) first.
pub fn announce() {
    if sending() && standby::state().announced.load(Ordering::Acquire) == 0 {
        heartbeat();
    }
    stopped_if_pending();
}

/// A primary started with sending off after a lifetime with it on tells its standbys, before
/// any transaction that changed a cache commits unsent (they must stop trusting their caches).
/// Called before each such commit and by the launcher.
pub fn stopped_if_pending() {
    if !shmem::is_attached() || in_recovery() {
        return;
    }
    let st = standby::state();
    if st.stop_pending.load(Ordering::Acquire) == 0 || st.stop_pending.compare_exchange(1, 0, Ordering::AcqRel, Ordering::Acquire).is_err() {
        return;
    }
    let rec = WalRecord::Stopped { now: unsafe { pg_sys::GetCurrentTimestamp() } };
    insert(&walrec::encode(&rec), false);
    let _ = std::fs::remove_file(SENT_MARKER);
}

/// At the launcher's start: a primary remembers that it sends (or tells its standbys that it
/// stopped); a standby forgets a marker copied from its primary (it never sent).
pub fn at_start() {
    if !shmem::is_attached() {
        return;
    }
    let marker = std::path::Path::new(SENT_MARKER);
    if in_recovery() {
        standby::state().stop_pending.store(0, Ordering::Release);
        let _ = std::fs::remove_file(marker);
    } else if crate::guc::WAL_INVALIDATIONS.get() {
        if !marker.exists() {
            let _ = std::fs::write(marker, b"tablecache.wal_invalidations was on\n");
        }
    } else {
        stopped_if_pending();
    }
}

/// A standby just promoted that does not send: if it replayed a sending primary's records, its
/// own (cascading) standbys trusted their caches: they must hear that nothing comes any more.
pub fn promoted() {
    if !shmem::is_attached() || in_recovery() || crate::guc::WAL_INVALIDATIONS.get() {
        return;
    }
    if standby::state().lifetime.load(Ordering::Acquire) != 0 {
        let rec = WalRecord::Stopped { now: unsafe { pg_sys::GetCurrentTimestamp() } };
        insert(&walrec::encode(&rec), false);
    }
}
