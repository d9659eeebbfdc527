//! What the views `tablecache.caches`, `tablecache.stats` and `tablecache.memory` read from
//! shared memory (the views join it with the catalog).

use crate::catalog;
use crate::shmem::{self, SlotState};
use crate::store::window;
use pgrx::pg_sys;
use pgrx::prelude::*;
use std::sync::atomic::Ordering;


fn show(b: Option<crate::bound::Bound>) -> Option<String> {
    b.map(|b| b.display())
}

#[pg_extern(stable, parallel_safe)]
fn slot_info() -> TableIterator<'static, (
    name!(cache_id, i64),
    name!(loaded, bool),
    name!(rows, i64),
    name!(bytes, i64),
    name!(window_index, Option<String>),
    name!(window_ge, Option<String>),
    name!(window_lt, Option<String>),
    name!(counters, Vec<i64>),
    name!(load_rows_done, i64),
    name!(load_rows_expected, i64),
    name!(writer_pid, Option<i32>),
)> {
    let mut out = Vec::new();
    if !shmem::is_attached() {
        return TableIterator::new(out);
    }
    let db = unsafe { pg_sys::MyDatabaseId };
    for i in 0..shmem::max_caches() {
        let _g = shmem::lock_slot(i, false);
        let s = shmem::slot(i);
        if s.state == SlotState::Free || s.db != db {
            continue;
        }
        let loaded = s.state == SlotState::Loaded;
        let (wi, wg, wl) = match window::window_spec(i) {
            Some((n, g, l)) => (Some(n), show(g), show(l)),
            None => (None, None, None),
        };
        let counters = s.counter_values().iter().map(|&c| c as i64).collect();
        let writer = s.writer_pid.load(Ordering::Relaxed);
        out.push((
            s.cache_id,
            loaded,
            s.rows as i64,
            s.bytes as i64,
            wi,
            wg,
            wl,
            counters,
            s.progress_done.load(Ordering::Relaxed) as i64,
            s.progress_expected.load(Ordering::Relaxed) as i64,
            (writer != 0).then_some(writer),
        ));
    }
    TableIterator::new(out)
}

#[pg_extern(stable, parallel_safe)]
fn memory_info() -> TableIterator<'static, (name!(total_bytes, i64), name!(used_bytes, i64), name!(free_bytes, i64))> {
    let st = shmem::memory_stats();
    TableIterator::once((st.total_bytes as i64, st.used_bytes as i64, st.free_bytes as i64))
}

/// Zeroes the counters of every cache in this database that the caller owns (all of them for a
/// superuser).
#[pg_extern(volatile, parallel_unsafe)]
fn reset_stats() {
    shmem::header();
    let db = unsafe { pg_sys::MyDatabaseId };
    let names: Vec<String> = (0..shmem::max_caches())
        .filter_map(|i| {
            let _g = shmem::lock_slot(i, false);
            let s = shmem::slot(i);
            (s.state != SlotState::Free && s.db == db).then(|| s.name_str().to_string())
        })
        .collect();
    for n in names {
        if let Some(def) = catalog::try_lookup_by_name(&n) {
            let owner = unsafe { pg_sys::superuser() || pg_sys::has_privs_of_role(pg_sys::GetUserId(), def.owner) };
            if let (true, Some(i)) = (owner, crate::store::find_slot(&def)) {
                shmem::slot(i).reset_counters();
            }
        }
    }
}

/// On a hot standby: why its caches answer every read from its tables (NULL: they are
/// trusted, or this is not a standby). Shown in `tablecache.caches`.
#[pg_extern(stable, parallel_safe)]
fn standby_note() -> Option<&'static str> {
    crate::replication::doubt()
}
