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
    let level = unsafe { pg_sys::NewGUCNestLevel() };
    for (k, v) in STABLE_STYLES {
        let (k, v) = (std::ffi::CString::new(*k).unwrap(), std::ffi::CString::new(*v).unwrap());
        unsafe {
            pg_sys::set_config_option(
                k.as_ptr(),
                v.as_ptr(),
                pg_sys::GucContext::PGC_USERSET,
                pg_sys::GucSource::PGC_S_SESSION,
                pg_sys::GucAction::GUC_ACTION_SAVE,
                true,
                0,
                false,
            );
        }
    }
    let r = f();
    unsafe { pg_sys::AtEOXact_GUC(true, level) };
    r
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
    let index = if a.is_null(1) { catalog::PRIMARY_KEY.to_string() } else { a.text(1, "index") };
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
        let n = window::set_window(&def, w.slot, ixp, ge.clone(), lt.clone(), mode);
        record_window(&def, &index, &ge, &lt);
        n
    });
    Datum::from(n)
}

#[no_mangle]
pub extern "C" fn pg_finfo_tablecache_load() -> &'static pg_sys::Pg_finfo_record {
    const V1: pg_sys::Pg_finfo_record = pg_sys::Pg_finfo_record { api_version: 1 };
    &V1
}

#[no_mangle]
#[pg_guard]
pub unsafe extern "C-unwind" fn tablecache_load(fcinfo: pg_sys::FunctionCallInfo) -> Datum {
    set_window_from_args(fcinfo, window::Mode::Load)
}

#[no_mangle]
pub extern "C" fn pg_finfo_tablecache_adjust() -> &'static pg_sys::Pg_finfo_record {
    const V1: pg_sys::Pg_finfo_record = pg_sys::Pg_finfo_record { api_version: 1 };
    &V1
}

#[no_mangle]
#[pg_guard]
pub unsafe extern "C-unwind" fn tablecache_adjust(fcinfo: pg_sys::FunctionCallInfo) -> Datum {
    set_window_from_args(fcinfo, window::Mode::Adjust)
}

/// Unloads a cache (its definition stays): reads fall through until the next load.
#[pg_extern(volatile, parallel_unsafe)]
fn unload(cache: &str) {
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
