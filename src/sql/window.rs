//! `load`, `adjust`, `unload`, `refresh` and sliding windows: the SQL face of `store::window`.
//! Every writer takes the cache's writer lock first, then touches the catalog row, in that
//! order, so that two writers can only wait for each other in a way PostgreSQL's deadlock
//! detector sees.

use crate::args::{self, Args, Shape};
use crate::bound::Bound;
use crate::catalog::{self, CacheDef};
use crate::guard::{as_catalog_owner, with_gucs, with_search_path, SAFE_PATH};
use crate::shmem::{self, SlotState};
use crate::store::{self, window};
use crate::xact::{self, Pending};
use crate::fail;
use pgrx::pg_sys::{self, Datum};
use pgrx::prelude::*;

/// Window bounds are kept in the catalog as text and parsed again by autowarm in another
/// session: produced and read with fixed styles.
const STABLE_STYLES: &[(&str, &str)] =
    &[("DateStyle", "ISO, MDY"), ("IntervalStyle", "postgres"), ("extra_float_digits", "3"), ("TimeZone", "UTC"), ("bytea_output", "hex")];

fn texts(b: &Option<Bound>) -> Option<Vec<String>> {
    b.as_ref().map(|b| with_gucs(STABLE_STYLES, || b.texts().into_iter().map(|t| t.unwrap_or_default()).collect()))
}

fn record_window(def: &CacheDef, index: Option<&str>, ge: &Option<Bound>, lt: &Option<Bound>) {
    // a standby's windows live in its memory only (its catalog is the primary's)
    if crate::replication::in_recovery() {
        return;
    }
    let (g, l) = (texts(ge), texts(lt));
    as_catalog_owner(|| {
        Spi::run_with_args(
            "UPDATE tablecache.cache_def SET window_index = $2, window_ge = $3, window_lt = $4 WHERE id OPERATOR(pg_catalog.=) $1",
            &[def.id.into(), index.into(), g.into(), l.into()],
        )
        .unwrap_or_else(|e| fail!(ERRCODE_INTERNAL_ERROR, "could not record the window of cache \"{}\": {}", def.name, e));
    });
}

fn refuse_snapshot_isolation(def: &CacheDef) {
    if xact::uses_xact_snapshot() {
        fail!(
            ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
            "cache \"{}\" can only be loaded or refreshed in a READ COMMITTED transaction (its rows are shared with every session)",
            def.name
        );
    }
}

/// Is the cache loaded, as this transaction will leave it?
fn loaded_here(def: &CacheDef, slot: usize) -> bool {
    match xact::pending(def.id) {
        Some(p) => p == Pending::Loaded,
        None => {
            let s = shmem::slot(slot);
            s.state == SlotState::Loaded && s.def_version == def.fingerprint
        }
    }
}

/// The cache's window as this transaction will leave it: (index, ge, lt).
pub fn window_here(def: &CacheDef, slot: usize) -> Option<(String, Option<Bound>, Option<Bound>)> {
    match xact::pending(def.id) {
        Some(Pending::Loaded) => xact::pending_window(def.id),
        Some(_) => None,
        None => window::window_spec(slot),
    }
}

/// One writer pass for a SQL call: the caller holds the writer lock. Publishes now or at
/// commit (see `xact`). Returns the rows that entered the window.
pub fn pass(def: &CacheDef, lock: store::WriterLock, slot: usize, ixp: usize, ge: Option<Bound>, lt: Option<Bound>, mode: window::Mode) -> i64 {
    if xact::uses_xact_snapshot() {
        // A transaction snapshot may be older than what other sessions see now: its rows may
        // not become the cache's. A reload after an index change unloads instead.
        if mode == window::Mode::Reload {
            xact::unload(def.id, slot);
            return 0;
        }
        refuse_snapshot_isolation(def);
    }
    let opts = window::PassOpts { block: true, from_scratch: xact::pending(def.id).is_some() };
    match window::write_pass(def, slot, ixp, ge, lt, mode, opts) {
        Some(staged) => xact::finish(def.id, staged, lock) as i64,
        None => {
            lock.release();
            0
        }
    }
}

/// Writers cannot run inside a cache's query (a function of it calling load or invalidate).
pub fn refuse_in_cache_query(what: &str) {
    if crate::guard::in_cache_query() {
        fail!(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE, "tablecache.{} cannot be called inside the query of a cache", what);
    }
}

pub fn writer(def: &CacheDef) -> (store::WriterLock, usize) {
    refuse_in_cache_query("load, adjust, refresh or a definition change");
    xact::note_writer();
    let lock = store::lock_writer(def.id, true).expect("a waiting lock request returns only when granted");
    (lock, store::ensure_slot(def))
}

fn set_window_from_args(fcinfo: pg_sys::FunctionCallInfo, mode: window::Mode) -> Datum {
    let a = Args(fcinfo);
    shmem::header();
    let def = catalog::lookup_by_name(&a.text(0, "cache"));
    def.check_owner(if mode == window::Mode::Load { "load it" } else { "adjust it" });
    def.check_rls_for_write();
    refuse_snapshot_isolation(&def);
    let index = a.text(1, "index");
    let ixp = def.index_pos(&index);
    let bound = |i: usize, what: &str| a.opt(i).map(|(d, t)| args::bound_for(&def, &def.indexes[ixp], d, t, Shape::Prefix, what));
    let ge = bound(2, "ge");
    let lt = bound(3, "lt");
    args::check_order(&def, &def.indexes[ixp], &ge, &lt);
    let (lock, slot) = writer(&def);
    let loaded = loaded_here(&def, slot);
    if mode == window::Mode::Load && loaded {
        fail!(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE, "cache \"{}\" is already loaded; use tablecache.adjust to move its window", def.name);
    }
    // adjusting an unloaded cache loads it
    let mode = if mode == window::Mode::Adjust && !loaded { window::Mode::Load } else { mode };
    record_window(&def, Some(&index), &ge, &lt);
    Datum::from(pass(&def, lock, slot, ixp, ge, lt, mode))
}

crate::finfo_v1!(pg_finfo_tablecache_load);

#[no_mangle]
#[pg_guard]
pub unsafe extern "C-unwind" fn tablecache_load(fcinfo: pg_sys::FunctionCallInfo) -> Datum {
    set_window_from_args(fcinfo, window::Mode::Load)
}

crate::finfo_v1!(pg_finfo_tablecache_adjust);

#[no_mangle]
#[pg_guard]
pub unsafe extern "C-unwind" fn tablecache_adjust(fcinfo: pg_sys::FunctionCallInfo) -> Datum {
    set_window_from_args(fcinfo, window::Mode::Adjust)
}

/// Unloads a cache (its definition stays): reads fall through until the next load.
#[pg_extern(volatile, parallel_unsafe)]
fn unload(cache: Option<&str>) {
    let cache = args::req(cache, "cache");
    shmem::header();
    let def = catalog::lookup_by_name(cache);
    def.check_owner("unload it");
    let (lock, slot) = writer(&def);
    record_window(&def, None, &None, &None);
    xact::unload(def.id, slot);
    drop(lock); // held to the end of the transaction (the unload is published at its commit)
}

/// Applies every pending invalidation now; returns the rows re-read.
#[pg_extern(volatile, parallel_unsafe)]
fn refresh(cache: Option<&str>) -> i64 {
    let cache = args::req(cache, "cache");
    shmem::header();
    let def = catalog::lookup_by_name(cache);
    def.check_read_access();
    def.check_rls_for_write();
    refuse_snapshot_isolation(&def);
    if xact::has_local(def.id) {
        fail!(
            ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
            "cannot refresh cache \"{}\" in the transaction that invalidated it: its changes are not committed yet",
            cache
        );
    }
    let (lock, slot) = writer(&def);
    if !loaded_here(&def, slot) {
        lock.release();
        return 0;
    }
    let Some((ixname, ge, lt)) = window_here(&def, slot) else {
        lock.release();
        return 0;
    };
    let ixp = def.index_pos(&ixname);
    pass(&def, lock, slot, ixp, ge, lt, window::Mode::Refresh)
}

/// Parses a window bound kept as text (catalog) back into a bound of index `ixp`.
fn bound_from_texts(def: &CacheDef, ixp: usize, texts: &[String]) -> Bound {
    let ix = &def.indexes[ixp];
    let mut values = Vec::with_capacity(texts.len());
    for (j, t) in texts.iter().enumerate() {
        let col = def.col(ix.cols[j]);
        let c = std::ffi::CString::new(t.as_str()).unwrap_or_default();
        let (mut input, mut ioparam) = (pg_sys::InvalidOid, pg_sys::InvalidOid);
        unsafe { pg_sys::getTypeInputInfo(col.typid, &mut input, &mut ioparam) };
        let d = unsafe { pg_sys::OidInputFunctionCall(input, c.as_ptr() as *mut _, ioparam, col.typmod) };
        values.push((d, col.typid, false));
    }
    args::bound_from_values(def, ix, values, Shape::Prefix, "recorded window bound")
}

/// Autowarm: loads the window recorded in the catalog, unless the cache is loaded already.
/// Returns the rows loaded, None when there was nothing to do.
pub fn warm(name: &str) -> Option<i64> {
    let def = catalog::lookup_by_name(name);
    let (index, ge, lt): (Option<String>, Option<Vec<String>>, Option<Vec<String>>) = as_catalog_owner(|| {
        crate::spi::select_three("SELECT window_index, window_ge, window_lt FROM tablecache.cache_def WHERE id OPERATOR(pg_catalog.=) $1", &[def.id.into()])
    });
    let index = index?;
    let ixp = def.indexes.iter().position(|i| i.name == index)?;
    let (ge, lt) = with_gucs(STABLE_STYLES, || (ge.map(|t| bound_from_texts(&def, ixp, &t)), lt.map(|t| bound_from_texts(&def, ixp, &t))));
    let (lock, slot) = writer(&def);
    if loaded_here(&def, slot) {
        lock.release();
        return None;
    }
    Some(pass(&def, lock, slot, ixp, ge, lt, window::Mode::Load))
}

/// Moves a sliding window to [now() - length, unbounded) and records when. The bound is
/// computed in the cache's own settings (its TimeZone decides what `now()` is as a
/// `timestamp` or `date`).
pub fn slide(name: &str) {
    let def = catalog::lookup_by_name(name);
    let (index, length): (Option<String>, Option<pgrx::datum::Interval>) = as_catalog_owner(|| {
        crate::spi::select_two("SELECT slide_index, slide_length FROM tablecache.cache_def WHERE id OPERATOR(pg_catalog.=) $1", &[def.id.into()])
    });
    let (Some(index), Some(length)) = (index, length) else { return };
    let Some(ixp) = def.indexes.iter().position(|i| i.name == index) else { return };
    let typ = unsafe { std::ffi::CStr::from_ptr(pg_sys::format_type_be_qualified(def.col(def.indexes[ixp].cols[0]).typid)) }.to_string_lossy().into_owned();
    let ge = Some(def.env().run(|| {
        let t: Option<String> = crate::spi::select_one(
            &format!("SELECT ((pg_catalog.now() OPERATOR(pg_catalog.-) $1)::{typ})::pg_catalog.text"),
            &[length.into()],
        );
        bound_from_texts(&def, ixp, &[t.unwrap_or_default()])
    }));
    let (lock, slot) = writer(&def);
    let mode = if loaded_here(&def, slot) { window::Mode::Adjust } else { window::Mode::Load };
    record_window(&def, Some(&index), &ge, &None);
    if !crate::replication::in_recovery() {
        as_catalog_owner(|| {
            let _ = Spi::run_with_args("UPDATE tablecache.cache_def SET slide_last = pg_catalog.now() WHERE id OPERATOR(pg_catalog.=) $1", &[def.id.into()]);
        });
    }
    pass(&def, lock, slot, ixp, ge, None, mode);
}

/// Applies pending invalidations of a loaded cache if there are any (eager refresh by the
/// worker): never waits, and a refresh that cannot complete unloads the cache instead of
/// failing again at every round.
pub fn refresh_if_pending(name: &str) {
    let Some(def) = catalog::try_lookup_by_name(name) else { return };
    let Some(i) = store::find_slot(&def) else { return };
    let s = shmem::slot(i);
    if s.state != SlotState::Loaded || !s.has_pending() {
        return;
    }
    window::try_refresh(&def, i);
}

/// Keeps the window of `cache` at "the last `length` of index `index`" (a single timestamp or
/// date column), moved by the background worker every `every`.
#[pg_extern(volatile, parallel_unsafe)]
fn set_sliding_window(
    cache: Option<&str>,
    index: Option<&str>,
    length: Option<pgrx::datum::Interval>,
    every: default!(Option<pgrx::datum::Interval>, "'1 minute'"),
) -> i64 {
    let (cache, index, length, every) = (args::req(cache, "cache"), args::req(index, "index"), args::req(length, "length"), args::req(every, "every"));
    shmem::header();
    crate::replication::refuse_in_recovery("set_sliding_window");
    let def = catalog::lookup_by_name(cache);
    def.check_owner("give it a sliding window");
    let ixp = def.index_pos(index);
    let ix = &def.indexes[ixp];
    let col = def.col(ix.cols[0]);
    if ix.cols.len() != 1 || ![pg_sys::TIMESTAMPTZOID, pg_sys::TIMESTAMPOID, pg_sys::DATEOID].contains(&col.typid) {
        fail!(
            ERRCODE_INVALID_PARAMETER_VALUE,
            "index \"{}\" of cache \"{}\" must have one timestamp, timestamptz or date column to slide",
            index,
            cache
        );
    }
    let positive: (Option<bool>, Option<bool>) = with_search_path(SAFE_PATH, || {
        crate::spi::select_two(
            "SELECT $1 OPERATOR(pg_catalog.>) '0'::pg_catalog.interval, $2 OPERATOR(pg_catalog.>) '0'::pg_catalog.interval",
            &[length.into(), every.into()],
        )
    });
    if positive != (Some(true), Some(true)) {
        fail!(ERRCODE_INVALID_PARAMETER_VALUE, "the length and the period of the sliding window of cache \"{}\" must be positive intervals", def.name);
    }
    let (lock, _slot) = writer(&def);
    as_catalog_owner(|| {
        Spi::run_with_args(
            "UPDATE tablecache.cache_def SET slide_index = $2, slide_length = $3, slide_every = $4, slide_last = NULL WHERE id OPERATOR(pg_catalog.=) $1",
            &[def.id.into(), index.into(), length.into(), every.into()],
        )
        .unwrap_or_else(|e| fail!(ERRCODE_INTERNAL_ERROR, "could not record the sliding window of cache \"{}\": {}", cache, e));
    });
    drop(lock); // held to the end of the transaction
    // a worker started before this commits would find no sliding window and leave
    let db = unsafe { pg_sys::MyDatabaseId };
    pgrx::register_xact_callback(pgrx::PgXactCallbackEvent::Commit, move || shmem::want_worker(db));
    slide(&def.name);
    let slot = store::ensure_slot(&def);
    match xact::pending_rows(def.id) {
        Some(n) => n as i64,
        None => shmem::slot(slot).rows as i64,
    }
}

/// Stops sliding the window of `cache` (the window stays where it is).
#[pg_extern(volatile, parallel_unsafe)]
fn clear_sliding_window(cache: Option<&str>) {
    let cache = args::req(cache, "cache");
    shmem::header();
    crate::replication::refuse_in_recovery("clear_sliding_window");
    let def = catalog::lookup_by_name(cache);
    def.check_owner("change its window");
    let (lock, _slot) = writer(&def);
    as_catalog_owner(|| {
        Spi::run_with_args(
            "UPDATE tablecache.cache_def SET slide_index = NULL, slide_length = NULL, slide_every = NULL, slide_last = NULL WHERE id OPERATOR(pg_catalog.=) $1",
            &[def.id.into()],
        )
        .unwrap_or_else(|e| fail!(ERRCODE_INTERNAL_ERROR, "could not clear the sliding window of cache \"{}\": {}", cache, e));
    });
    drop(lock);
}
