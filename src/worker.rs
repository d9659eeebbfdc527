//! Background workers. A launcher (started with the server) starts one worker per database
//! that uses tablecache. Each worker reloads its caches' last windows after a start (autowarm,
//! one cache at a time, progress in `tablecache.progress`); where windows slide it stays,
//! moving them and applying committed invalidations eagerly so that readers rarely meet
//! pending ones.

use crate::guc;
use crate::shmem::{self, DbState};
use pgrx::bgworkers::{BackgroundWorker, BackgroundWorkerBuilder, BgWorkerStartTime, DynamicBackgroundWorker, SignalWakeFlags};
use pgrx::pg_sys;
use pgrx::prelude::*;
use std::collections::HashMap;
use std::time::Duration;

pub fn register() {
    BackgroundWorkerBuilder::new("tablecache launcher")
        .set_type("tablecache launcher")
        .set_function("tablecache_launcher_main")
        .set_library("tablecache")
        .enable_spi_access()
        // a hot standby's caches autowarm, slide and refresh too
        .set_start_time(BgWorkerStartTime::ConsistentState)
        .set_restart_time(Some(Duration::from_secs(10)))
        .load();
}

fn naptime() -> Duration {
    Duration::from_millis(guc::NAPTIME_MS.get().max(10) as u64)
}

/// Runs `f` in its own transaction and subtransaction: an ERROR is logged and rolled back, and
/// the worker goes on with the next cache.
fn guarded(what: &str, f: impl FnOnce() + std::panic::UnwindSafe + std::panic::RefUnwindSafe) {
    BackgroundWorker::transaction(|| {
        if let Err(e) = crate::guard::subtransaction(f) {
            pgrx::warning!("tablecache worker: {} failed: {}", what, crate::guard::report_of(&e).message());
        }
    });
}

#[pg_guard]
#[no_mangle]
pub extern "C-unwind" fn tablecache_launcher_main(_arg: pg_sys::Datum) {
    BackgroundWorker::attach_signal_handlers(SignalWakeFlags::SIGHUP | SignalWakeFlags::SIGTERM);
    let db = guc::DATABASE.get().map(|c| c.to_string_lossy().into_owned()).unwrap_or_else(|| "postgres".into());
    BackgroundWorker::connect_worker_to_spi(Some(&db), None);
    // Every database that allows connections gets a worker once; those without the extension
    // mark themselves idle and exit. Databases that start using tablecache later ask for one.
    for o in database_oids() {
        shmem::want_worker(o);
    }
    let mut running: HashMap<u32, DynamicBackgroundWorker> = HashMap::new();
    crate::replication::send::at_start();
    let mut last_beat: Option<std::time::Instant> = None;
    let mut in_recovery = crate::replication::in_recovery();
    loop {
        if in_recovery && !crate::replication::in_recovery() {
            in_recovery = false;
            crate::replication::send::promoted();
        }
        if BackgroundWorker::sighup_received() {
            unsafe { pg_sys::ProcessConfigFile(pg_sys::GucContext::PGC_SIGHUP) };
        }
        // a primary that sends invalidations says so every few seconds (and its standbys trust
        // their caches only while it does)
        if crate::replication::send::sending()
            && last_beat.is_none_or(|t| t.elapsed() >= Duration::from_secs(crate::replication::HEARTBEAT_SECS as u64))
        {
            BackgroundWorker::transaction(crate::replication::send::heartbeat);
            last_beat = Some(std::time::Instant::now());
        }
        // a standby gives back the memory of caches the primary dropped
        if crate::replication::in_recovery() {
            for i in crate::store::slots_wanting_release() {
                crate::store::release_slot(i);
            }
        }
        // workers that stopped: an idle database stays idle, any other is started again unless
        // the database is gone (then its entry is freed)
        running.retain(|_, w| w.pid().is_ok());
        let existing = database_oids();
        free_dropped_databases(&existing);
        let wanted: Vec<pg_sys::Oid> = shmem::with_dbs(|dbs| {
            let mut v = Vec::new();
            for e in dbs.iter_mut() {
                if e.state != DbState::Free && !existing.contains(&e.db) {
                    e.state = DbState::Free;
                    continue;
                }
                let dead = e.state == DbState::Running && !running.contains_key(&e.db.to_u32());
                if e.state == DbState::Wanted || dead {
                    e.state = DbState::Wanted;
                    v.push(e.db);
                }
            }
            v
        });
        for db in wanted {
            if running.contains_key(&db.to_u32()) {
                continue;
            }
            let started = BackgroundWorkerBuilder::new(&format!("tablecache worker {}", db.to_u32()))
                .set_type("tablecache worker")
                .set_function("tablecache_db_worker_main")
                .set_library("tablecache")
                .enable_spi_access()
                .set_argument(Some(pg_sys::Datum::from(db.to_u32())))
                .set_start_time(BgWorkerStartTime::ConsistentState)
                .set_restart_time(None)
                .set_notify_pid(unsafe { pg_sys::MyProcPid })
                .load_dynamic();
            match started {
                Ok(w) => {
                    if w.wait_for_startup().is_ok() {
                        shmem::with_dbs(|dbs| {
                            if let Some(e) = dbs.iter_mut().find(|e| e.db == db && e.state == DbState::Wanted) {
                                e.state = DbState::Running;
                            }
                        });
                        running.insert(db.to_u32(), w);
                    }
                }
                Err(_) => pgrx::warning!("tablecache launcher: could not start a worker for database {} (raise max_worker_processes)", db.to_u32()),
            }
        }
        let nap = if crate::replication::send::sending() { naptime().min(Duration::from_secs(1)) } else { naptime() };
        if !BackgroundWorker::wait_latch(Some(nap)) || BackgroundWorker::sigterm_received() {
            break;
        }
    }
}

/// Gives back the memory of caches whose database was dropped (nobody else would).
fn free_dropped_databases(existing: &[pg_sys::Oid]) {
    let all_dbs: Vec<pg_sys::Oid> = BackgroundWorker::transaction(|| {
        Spi::connect(|c| {
            let mut v = Vec::new();
            if let Ok(t) = c.select("SELECT oid FROM pg_catalog.pg_database", None, &[]) {
                for row in t {
                    if let Ok(Some(o)) = row.get::<pg_sys::Oid>(1) {
                        v.push(o);
                    }
                }
            }
            v
        })
    });
    if all_dbs.is_empty() || existing.is_empty() {
        return; // could not read the list: do nothing rather than free live caches
    }
    for i in crate::store::slots_of_other_databases(&all_dbs) {
        crate::store::release_slot(i);
    }
}

/// Databases a worker can connect to.
fn database_oids() -> Vec<pg_sys::Oid> {
    BackgroundWorker::transaction(|| {
        Spi::connect(|c| {
            let mut v = Vec::new();
            if let Ok(t) = c.select("SELECT oid FROM pg_catalog.pg_database WHERE datallowconn AND NOT datistemplate", None, &[]) {
                for row in t {
                    if let Ok(Some(o)) = row.get::<pg_sys::Oid>(1) {
                        v.push(o);
                    }
                }
            }
            v
        })
    })
}

#[pg_guard]
#[no_mangle]
pub extern "C-unwind" fn tablecache_db_worker_main(arg: pg_sys::Datum) {
    BackgroundWorker::attach_signal_handlers(SignalWakeFlags::SIGHUP | SignalWakeFlags::SIGTERM);
    let db = pg_sys::Oid::from(arg.value() as u32);
    BackgroundWorker::connect_worker_to_spi_by_oid(Some(db), None);
    let has_ext: bool = BackgroundWorker::transaction(|| {
        // (read-only: pgrx's get_one would give the transaction an id, impossible on a standby)
        crate::spi::select_one::<bool>("SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_extension WHERE extname OPERATOR(pg_catalog.=) 'tablecache')", &[])
            .unwrap_or(false)
    });
    let old_catalog = has_ext && BackgroundWorker::transaction(|| crate::catalog::catalog_state() == crate::catalog::CatalogState::Old);
    if old_catalog {
        pgrx::log!("tablecache: the catalog of database {} is of version 0.1.0: no autowarm until ALTER EXTENSION tablecache UPDATE", db.to_u32());
    }
    if !has_ext || old_catalog {
        shmem::with_dbs(|dbs| {
            if let Some(e) = dbs.iter_mut().find(|e| e.db == db) {
                e.state = DbState::Idle;
            }
        });
        return;
    }
    shmem::with_dbs(|dbs| {
        if let Some(e) = dbs.iter_mut().find(|e| e.db == db) {
            e.pid = unsafe { pg_sys::MyProcPid };
        }
    });
    if guc::AUTOWARM.get() {
        autowarm();
    }
    // Stay connected only while a window has to slide: a connected worker keeps DROP DATABASE
    // (without FORCE) from succeeding.
    while has_sliding_windows() && BackgroundWorker::wait_latch(Some(naptime())) && !BackgroundWorker::sigterm_received() {
        if BackgroundWorker::sighup_received() {
            unsafe { pg_sys::ProcessConfigFile(pg_sys::GucContext::PGC_SIGHUP) };
        }
        maintain();
    }
    shmem::with_dbs(|dbs| {
        if let Some(e) = dbs.iter_mut().find(|e| e.db == db) {
            e.state = DbState::Idle;
            e.pid = 0;
        }
    });
}

fn has_sliding_windows() -> bool {
    !cache_names("SELECT name FROM tablecache.cache_def WHERE slide_length IS NOT NULL LIMIT 1").is_empty()
}

fn cache_names(sql: &'static str) -> Vec<String> {
    BackgroundWorker::transaction(|| {
        Spi::connect(|c| {
            let mut v = Vec::new();
            if let Ok(t) = c.select(sql, None, &[]) {
                for row in t {
                    if let Ok(Some(n)) = row.get::<String>(1) {
                        v.push(n);
                    }
                }
            }
            v
        })
    })
}

/// Reloads each cache's recorded window, one cache at a time.
fn autowarm() {
    for name in cache_names("SELECT name FROM tablecache.cache_def WHERE window_index IS NOT NULL ORDER BY id") {
        if BackgroundWorker::sigterm_received() {
            return;
        }
        let n = name.clone();
        guarded(&format!("autowarm of cache \"{name}\""), move || {
            if let Some(rows) = crate::sql::window::warm(&n) {
                pgrx::log!("tablecache: autowarm loaded {} rows into cache \"{}\"", rows, n);
            }
        });
    }
}

thread_local! {
    /// On a standby: when this worker last slid each cache's window (the catalog's slide_last
    /// is the primary's, and a standby cannot write it).
    static SLID_HERE: std::cell::RefCell<HashMap<String, std::time::Instant>> = std::cell::RefCell::new(HashMap::new());
}

/// The caches whose window is due to slide.
fn due_slides() -> Vec<String> {
    if !crate::replication::in_recovery() {
        return cache_names(
            "SELECT name FROM tablecache.cache_def WHERE slide_length IS NOT NULL \
             AND (slide_last IS NULL OR slide_last OPERATOR(pg_catalog.+) slide_every OPERATOR(pg_catalog.<=) pg_catalog.now()) ORDER BY id",
        );
    }
    let every: Vec<(String, f64)> = BackgroundWorker::transaction(|| {
        Spi::connect(|c| {
            let mut v = Vec::new();
            if let Ok(t) = c.select(
                "SELECT name, pg_catalog.date_part('epoch', slide_every)::pg_catalog.float8 FROM tablecache.cache_def WHERE slide_length IS NOT NULL ORDER BY id",
                None,
                &[],
            ) {
                for row in t {
                    if let (Ok(Some(n)), Ok(Some(e))) = (row.get::<String>(1), row.get::<f64>(2)) {
                        v.push((n, e));
                    }
                }
            }
            v
        })
    });
    SLID_HERE.with(|m| {
        let mut m = m.borrow_mut();
        let mut due = Vec::new();
        for (n, e) in every {
            if m.get(&n).is_none_or(|t| t.elapsed().as_secs_f64() >= e) {
                m.insert(n.clone(), std::time::Instant::now());
                due.push(n);
            }
        }
        due
    })
}

/// Slides due windows and applies pending invalidations.
fn maintain() {
    for name in due_slides() {
        let n = name.clone();
        guarded(&format!("sliding the window of cache \"{name}\""), move || {
            crate::sql::window::slide(&n);
        });
    }
    for name in cache_names("SELECT name FROM tablecache.cache_def ORDER BY id") {
        let n = name.clone();
        guarded(&format!("refresh of cache \"{name}\""), move || {
            crate::sql::window::refresh_if_pending(&n);
        });
    }
}
