//! Server settings. `tablecache.memory` and `tablecache.max_caches` size the shared region, so
//! they can only be set at server start; `tablecache.enabled` is a per-session escape hatch.

use pgrx::{GucContext, GucFlags, GucRegistry, GucSetting};

pub static MEMORY_MB: GucSetting<i32> = GucSetting::<i32>::new(64);
pub static MAX_CACHES: GucSetting<i32> = GucSetting::<i32>::new(32);
pub static ENABLED: GucSetting<bool> = GucSetting::<bool>::new(true);
pub static AUTOWARM: GucSetting<bool> = GucSetting::<bool>::new(true);
pub static WORKER: GucSetting<bool> = GucSetting::<bool>::new(true);
pub static NAPTIME_MS: GucSetting<i32> = GucSetting::<i32>::new(1000);
pub static OWNER_SHARE: GucSetting<i32> = GucSetting::<i32>::new(50);
pub static WAL_INVALIDATIONS: GucSetting<bool> = GucSetting::<bool>::new(false);
/// tablecache's WAL resource manager id: from the custom range, outside the ids listed on the
/// PostgreSQL wiki's CustomWALResourceManagers page.
pub const DEFAULT_RMGR_ID: i32 = 197;
pub static WAL_RMGR_ID: GucSetting<i32> = GucSetting::<i32>::new(DEFAULT_RMGR_ID);
pub static DATABASE: GucSetting<Option<std::ffi::CString>> = GucSetting::<Option<std::ffi::CString>>::new(Some(c"postgres"));

/// Settings every backend has. The postmaster-context ones (`init_preloaded`) can only be
/// defined while shared_preload_libraries is processed: defining them later is FATAL.
pub fn init() {
    GucRegistry::define_bool_guc(
        c"tablecache.enabled",
        c"When off, every read goes to the database.",
        c"For comparisons and emergencies; loads and definitions still work.",
        &ENABLED,
        GucContext::Userset,
        GucFlags::default(),
    );
}

pub fn init_preloaded() {
    GucRegistry::define_int_guc(
        c"tablecache.memory",
        c"Size of the shared-memory region that holds every cache.",
        c"Requested at server start; reads, loads and adjustments never grow it.",
        &MEMORY_MB,
        1,
        1024 * 1024,
        GucContext::Postmaster,
        GucFlags::UNIT_MB,
    );
    GucRegistry::define_int_guc(
        c"tablecache.owner_share",
        c"Percent of the region and of the cache slots that the caches of one non-superuser owner may take together.",
        c"Keeps one role from taking every other database's memory; superuser-owned caches are not bounded by it.",
        &OWNER_SHARE,
        1,
        100,
        GucContext::Sighup,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"tablecache.max_caches",
        c"How many caches can exist at once (across all databases).",
        c"Each cache takes one directory slot and one lock in shared memory.",
        &MAX_CACHES,
        1,
        10_000,
        GucContext::Postmaster,
        GucFlags::default(),
    );
}

pub fn init_standby() {
    GucRegistry::define_bool_guc(
        c"tablecache.wal_invalidations",
        c"On a primary: write every committed invalidation to the WAL, for hot standbys.",
        c"Every standby replaying this server's WAL must then have tablecache in shared_preload_libraries: one without it stops at the first such record. Needs a restart.",
        &WAL_INVALIDATIONS,
        GucContext::Postmaster,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"tablecache.wal_rmgr_id",
        c"The id of tablecache's custom WAL resource manager (the same on a primary and its standbys).",
        c"Change it only if another extension uses the same id.",
        &WAL_RMGR_ID,
        128,
        255,
        GucContext::Postmaster,
        GucFlags::default(),
    );
}

pub fn init_workers() {
    GucRegistry::define_bool_guc(
        c"tablecache.worker",
        c"Start tablecache's background workers (autowarm, sliding windows, eager refresh).",
        c"Needs a restart to take effect.",
        &WORKER,
        GucContext::Postmaster,
        GucFlags::default(),
    );
    GucRegistry::define_bool_guc(
        c"tablecache.autowarm",
        c"After a server start, reload every cache's last window in the background.",
        c"Caches load one at a time; reads fall through to the database until each is ready.",
        &AUTOWARM,
        GucContext::Sighup,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"tablecache.worker_naptime",
        c"How often the per-database worker slides windows and applies pending invalidations.",
        c"",
        &NAPTIME_MS,
        10,
        3_600_000,
        GucContext::Sighup,
        GucFlags::UNIT_MS,
    );
    GucRegistry::define_string_guc(
        c"tablecache.database",
        c"Database the tablecache launcher connects to, to list the other databases.",
        c"",
        &DATABASE,
        GucContext::Postmaster,
        GucFlags::default(),
    );
}

pub fn enabled() -> bool {
    ENABLED.get()
}
