//! Hot standbys. A primary with `tablecache.wal_invalidations = on` writes what each
//! transaction invalidated into the WAL, in a record of tablecache's own resource manager,
//! just before the transaction's commit (or prepare) record; its launcher writes a heartbeat
//! every few seconds. A standby replays them in its startup process (`redo`): the
//! invalidations become pending entries tied to the writer's xid, in place before the commit
//! that makes the change visible there. The standby trusts its caches only once a heartbeat
//! said that its primary sends (until then, and when heartbeats stop while commits go on,
//! reads answer from its tables).
//!
//! The record format is `tablecache_core::walrec`; replay never raises an error: anything it
//! cannot apply precisely makes every cache re-read everything.

mod redo;
pub mod send;

use pgrx::pg_sys;

pub use crate::shmem::standby::HEARTBEAT_SECS;

pub fn rmgr_id() -> u8 {
    crate::guc::WAL_RMGR_ID.get().clamp(128, 255) as u8
}

static mut RMGR: Option<pg_sys::RmgrData> = None;

/// Registers the resource manager (from `_PG_init` of a preloaded library: a standby must
/// know it before it replays a record of it).
pub fn register() {
    unsafe {
        let mut r = pg_sys::RmgrData::default();
        r.rm_name = c"tablecache".as_ptr();
        r.rm_redo = Some(redo::rm_redo);
        r.rm_desc = Some(redo::rm_desc);
        r.rm_identify = Some(redo::rm_identify);
        RMGR = Some(r);
        #[allow(static_mut_refs)]
        let p = RMGR.as_mut().map_or(std::ptr::null_mut(), |r| r as *mut pg_sys::RmgrData);
        pg_sys::RegisterCustomRmgr(rmgr_id(), p);
    }
}

/// Is this server a standby in recovery?
pub fn in_recovery() -> bool {
    unsafe { pg_sys::RecoveryInProgress() }
}

/// On a standby: why its caches answer from its tables (None: they are trusted, or this is a
/// primary).
pub fn doubt() -> Option<&'static str> {
    crate::shmem::standby::reason()
}

/// Refuses, on a standby, what would write the catalog (25006).
pub fn refuse_in_recovery(what: &str) {
    if in_recovery() {
        crate::fail!(
            ERRCODE_READ_ONLY_SQL_TRANSACTION,
            "cannot run {} on a hot standby: caches are defined on the primary (the catalog replicates)",
            what
        );
    }
}
