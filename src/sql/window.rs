//! `load` and `adjust`: the SQL face of `store::window`.

use crate::args::{self, Args, Bound};
use crate::catalog::{self, as_catalog_owner, CacheDef};
use crate::shmem::{self, SlotState};
use crate::store::{self, window};
use crate::fail;
use pgrx::pg_sys::{self, Datum};
use pgrx::prelude::*;

/// Window texts are kept in shared memory and the catalog and parsed again by other backends,
/// so they are produced and read with fixed output styles.
const STABLE_STYLES: &[(&str, &str)] = &[("DateStyle", "ISO, MDY"), ("IntervalStyle", "postgres"), ("extra_float_digits", "3")];

fn with_stable_styles<R>(f: impl FnOnce() -> R) -> R {
    catalog::with_gucs(STABLE_STYLES, f)
}

fn record_window(def: &CacheDef, index: &str, ge: &Option<Bound>, lt: &Option<Bound>) {
    let g: Option<Vec<String>> = ge.as_ref().map(|b| b.texts.clone());
    let l: Option<Vec<String>> = lt.as_ref().map(|b| b.texts.clone());
    as_catalog_owner(|| {
        Spi::run_with_args(
            "UPDATE tablecache.cache_def SET window_index = $2, window_ge = $3, window_lt = $4 WHERE id OPERATOR(pg_catalog.=) $1",
            &[def.id.into(), index.into(), g.into(), l.into()],
        )
        .unwrap_or_else(|e| fail!(ERRCODE_INTERNAL_ERROR, "could not record the window of cache \"{}\": {}", def.name, e));
    });
}

fn set_window_from_args(fcinfo: pg_sys::FunctionCallInfo, mode: window::Mode) -> Datum {
    let a = Args(fcinfo);
    shmem::header();
    let def = catalog::lookup_by_name(&a.text(0, "cache"));
    def.check_owner(if mode == window::Mode::Load { "load it" } else { "adjust it" });
    def.check_rls_for_write();
    let index = a.text(1, "index");
    let ixp = def.index_pos(&index);
    let n = with_stable_styles(|| {
        let bound = |i: usize, what: &str| a.opt(i).map(|(d, t)| args::bound_for(&def, &def.indexes[ixp], d, t, true, what, true));
        let ge = bound(2, "ge");
        let lt = bound(3, "lt");
        args::check_order(&def, &def.indexes[ixp], &ge, &lt);
        let w = store::become_writer(&def);
        let mode = if mode == window::Mode::Adjust && shmem::slot(w.slot).state != SlotState::Loaded {
            window::Mode::Load // adjusting an unloaded cache loads it
        } else {
            mode
        };
        // The catalog first: it can be interrupted (a cancel then rolls it back and nothing
        // changed in memory); the swap in memory at the end of set_window cannot.
        record_window(&def, &index, &ge, &lt);
        window::set_window(&def, w.slot, ixp, ge, lt, mode)
    });
    Datum::from(n)
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
    if store::find_slot(&def).is_some() {
        let w = store::become_writer(&def);
        store::unload(w.slot);
    }
    as_catalog_owner(|| {
        Spi::run_with_args(
            "UPDATE tablecache.cache_def SET window_index = NULL, window_ge = NULL, window_lt = NULL WHERE id OPERATOR(pg_catalog.=) $1",
            &[def.id.into()],
        )
        .unwrap_or_else(|e| fail!(ERRCODE_INTERNAL_ERROR, "could not record the window of cache \"{}\": {}", def.name, e));
    });
}

/// Parses a window bound kept as text (catalog) back into a bound of index `ixp`.
fn bound_from_texts(def: &CacheDef, ixp: usize, texts: &[String]) -> Bound {
    let ix = &def.indexes[ixp];
    let mut values = Vec::with_capacity(texts.len());
    for (j, t) in texts.iter().enumerate() {
        let col = &def.columns[ix.cols[j]];
        let c = std::ffi::CString::new(t.as_str()).unwrap_or_default();
        let (mut input, mut ioparam) = (pg_sys::InvalidOid, pg_sys::InvalidOid);
        unsafe { pg_sys::getTypeInputInfo(col.typid, &mut input, &mut ioparam) };
        let d = unsafe { pg_sys::OidInputFunctionCall(input, c.as_ptr() as *mut _, ioparam, col.typmod) };
        values.push((d, col.typid, false));
    }
    args::bound_from_values(def, ix, values, true, "recorded window bound", true)
}

/// Autowarm: loads the window recorded in the catalog, unless the cache is loaded already.
/// Returns the rows loaded, None when there was nothing to do.
pub fn warm(name: &str) -> Option<i64> {
    let def = catalog::lookup_by_name(name);
    let (index, ge, lt): (Option<String>, Option<Vec<String>>, Option<Vec<String>>) = catalog::with_search_path(catalog::SAFE_PATH, || {
        catalog::select_three("SELECT window_index, window_ge, window_lt FROM tablecache.cache_def WHERE id OPERATOR(pg_catalog.=) $1", &[def.id.into()])
    });
    let index = index?;
    let ixp = def.indexes.iter().position(|i| i.name == index)?;
    if store::read(&def).is_some() {
        return None;
    }
    with_stable_styles(|| {
        let ge = ge.map(|t| bound_from_texts(&def, ixp, &t));
        let lt = lt.map(|t| bound_from_texts(&def, ixp, &t));
        let w = store::become_writer(&def);
        if shmem::slot(w.slot).state == SlotState::Loaded {
            return None;
        }
        Some(window::set_window(&def, w.slot, ixp, ge, lt, window::Mode::Load))
    })
}

/// Moves a sliding window to [now() - length, unbounded) and records when.
pub fn slide(name: &str) {
    let def = catalog::lookup_by_name(name);
    let (index, ge_text): (Option<String>, Option<String>) = catalog::with_search_path(catalog::SAFE_PATH, || {
        catalog::select_two(
            "SELECT slide_index, (pg_catalog.now() OPERATOR(pg_catalog.-) slide_length)::pg_catalog.text FROM tablecache.cache_def WHERE id OPERATOR(pg_catalog.=) $1",
            &[def.id.into()],
        )
    });

    let (Some(index), Some(ge_text)) = (index, ge_text) else { return };
    let Some(ixp) = def.indexes.iter().position(|i| i.name == index) else { return };
    with_stable_styles(|| {
        let ge = Some(bound_from_texts(&def, ixp, &[ge_text]));
        let w = store::become_writer(&def);
        let mode = if shmem::slot(w.slot).state == SlotState::Loaded { window::Mode::Adjust } else { window::Mode::Load };
        record_window(&def, &index, &ge, &None);
        window::set_window(&def, w.slot, ixp, ge, None, mode);
    });
    as_catalog_owner(|| {
        let _ = Spi::run_with_args("UPDATE tablecache.cache_def SET slide_last = pg_catalog.now() WHERE id OPERATOR(pg_catalog.=) $1", &[def.id.into()]);
    });
}

/// Applies pending invalidations of a loaded cache if there are any (eager refresh).
pub fn refresh_if_pending(name: &str) {
    let Some(def) = catalog::try_lookup_by_name(name) else { return };
    let Some(i) = store::find_slot(&def) else { return };
    let s = shmem::slot(i);
    if s.state != SlotState::Loaded || !s.has_pending() {
        return;
    }
    let Some(w) = store::try_become_writer(&def) else { return };
    if let Some((ixp, ge, lt)) = window::current_window(w.slot) {
        window::write_pass(&def, w.slot, ixp, ge, lt, window::Mode::Refresh, false);
    }
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
    let def = catalog::lookup_by_name(cache);
    def.check_owner("give it a sliding window");
    let ixp = def.index_pos(index);
    let ix = &def.indexes[ixp];
    let col = &def.columns[ix.cols[0]];
    if ix.cols.len() != 1 || ![pg_sys::TIMESTAMPTZOID, pg_sys::TIMESTAMPOID, pg_sys::DATEOID].contains(&col.typid) {
        fail!(
            ERRCODE_INVALID_PARAMETER_VALUE,
            "index \"{}\" of cache \"{}\" must have one timestamp, timestamptz or date column to slide",
            index,
            cache
        );
    }
    as_catalog_owner(|| {
        Spi::run_with_args(
            "UPDATE tablecache.cache_def SET slide_index = $2, slide_length = $3, slide_every = $4, slide_last = NULL WHERE id OPERATOR(pg_catalog.=) $1",
            &[def.id.into(), index.into(), length.into(), every.into()],
        )
        .unwrap_or_else(|e| fail!(ERRCODE_INTERNAL_ERROR, "could not record the sliding window of cache \"{}\": {}", cache, e));
    });
    shmem::want_worker(unsafe { pg_sys::MyDatabaseId });
    slide(cache);
    store::find_slot(&def).map(|i| shmem::slot(i).rows as i64).unwrap_or(0)
}

/// Stops sliding the window of `cache` (the window stays where it is).
#[pg_extern(volatile, parallel_unsafe)]
fn clear_sliding_window(cache: Option<&str>) {
    let cache = args::req(cache, "cache");
    shmem::header();
    let def = catalog::lookup_by_name(cache);
    def.check_owner("change its window");
    as_catalog_owner(|| {
        Spi::run_with_args(
            "UPDATE tablecache.cache_def SET slide_index = NULL, slide_length = NULL, slide_every = NULL, slide_last = NULL WHERE id OPERATOR(pg_catalog.=) $1",
            &[def.id.into()],
        )
        .unwrap_or_else(|e| fail!(ERRCODE_INTERNAL_ERROR, "could not clear the sliding window of cache \"{}\": {}", cache, e));
    });
}
