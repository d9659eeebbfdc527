//! `invalidate`, `invalidate_range`, `refresh` and the trigger function. Invalidations belong to
//! the calling transaction (see `xact`): they apply at its commit and vanish on rollback.

use crate::args::{self, Args, Bound};
use crate::catalog::{self, CacheDef};
use crate::shmem::{self, SlotState};
use crate::store::{self, inval::Inval, window};
use crate::xact;
use crate::fail;
use pgrx::pg_sys::{self, Datum};
use pgrx::prelude::*;
use std::cell::RefCell;
use std::collections::HashMap;
use std::ffi::{CStr, CString};
use std::rc::Rc;

/// The cache and index an explicit invalidation names (owner only).
fn target(a: &Args) -> (Rc<CacheDef>, String, usize) {
    shmem::header();
    let def = catalog::lookup_by_name(&a.text(0, "cache"));
    def.check_owner("invalidate it");
    let index = a.text(1, "index");
    let ixp = def.index_pos(&index);
    (def, index, ixp)
}

crate::finfo_v1!(pg_finfo_tablecache_invalidate);

#[no_mangle]
#[pg_guard]
pub unsafe extern "C-unwind" fn tablecache_invalidate(fcinfo: pg_sys::FunctionCallInfo) -> Datum {
    let a = Args(fcinfo);
    let (def, index, ixp) = target(&a);
    let Some((d, t)) = a.opt(2) else {
        fail!(ERRCODE_NULL_VALUE_NOT_ALLOWED, "key to invalidate in cache \"{}\" must not be NULL", def.name);
    };
    let key = args::bound_for(&def, &def.indexes[ixp], d, t, true, "key", true);
    xact::add(def.id, &def.name, def.version, Inval::point(index, key));
    Datum::from(0usize)
}

crate::finfo_v1!(pg_finfo_tablecache_invalidate_range);

#[no_mangle]
#[pg_guard]
pub unsafe extern "C-unwind" fn tablecache_invalidate_range(fcinfo: pg_sys::FunctionCallInfo) -> Datum {
    let a = Args(fcinfo);
    let (def, index, ixp) = target(&a);
    let bound = |i: usize, what: &str| a.opt(i).map(|(d, t)| args::bound_for(&def, &def.indexes[ixp], d, t, true, what, true));
    let ge = bound(2, "ge");
    let lt = bound(3, "lt");
    args::check_order(&def, &def.indexes[ixp], &ge, &lt);
    xact::add(def.id, &def.name, def.version, Inval { index, lo: ge, hi: lt, hi_inclusive: false });
    Datum::from(0usize)
}

/// Applies every pending invalidation now; returns the rows re-read.
#[pg_extern(volatile, parallel_unsafe)]
fn refresh(cache: Option<&str>) -> i64 {
    let cache = args::req(cache, "cache");
    shmem::header();
    let def = catalog::lookup_by_name(cache);
    def.check_read_access();
    def.check_rls_for_write();
    if xact::has_local(def.id) {
        fail!(
            ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
            "cannot refresh cache \"{}\" in the transaction that invalidated it: its changes are not committed yet",
            cache
        );
    }
    let w = store::become_writer(&def);
    let s = shmem::slot(w.slot);
    if s.state != SlotState::Loaded {
        return 0;
    }
    match window::current_window(w.slot) {
        Some((ixp, ge, lt)) => window::set_window(&def, w.slot, ixp, ge, lt, window::Mode::Refresh),
        None => 0,
    }
}

// ---------------------------------------------------------------------------------------------
// The trigger: tablecache.invalidate_trigger('cache', 'index', 'col' [, 'col' ...])

struct TriggerPlan {
    epoch: u64,
    def: Rc<CacheDef>,
    ixp: usize,
    /// 1-based attribute numbers in the trigger's table
    attnums: Vec<i32>,
}

thread_local! {
    static PLANS: RefCell<HashMap<u32, TriggerPlan>> = RefCell::new(HashMap::new());
}

unsafe fn trigger_plan(td: *mut pg_sys::TriggerData) -> (Rc<CacheDef>, usize, Vec<i32>) {
    unsafe {
        let trig = (*td).tg_trigger;
        let toid = (*trig).tgoid.to_u32();
        let epoch = shmem::def_epoch();
        if let Some(p) = PLANS.with(|p| p.borrow().get(&toid).filter(|p| p.epoch == epoch).map(|p| (p.def.clone(), p.ixp, p.attnums.clone()))) {
            return p;
        }
        let nargs = (*trig).tgnargs as usize;
        let args: Vec<String> = (0..nargs).map(|i| CStr::from_ptr(*(*trig).tgargs.add(i)).to_string_lossy().into_owned()).collect();
        let tname = CStr::from_ptr((*trig).tgname).to_string_lossy().into_owned();
        if args.len() < 3 {
            fail!(
                ERRCODE_INVALID_PARAMETER_VALUE,
                "trigger \"{}\" must pass tablecache.invalidate_trigger a cache, an index and at least one column",
                tname
            );
        }
        let def = catalog::lookup_by_name(&args[0]);
        let ixp = def.index_pos(&args[1]);
        if args.len() - 2 > def.indexes[ixp].cols.len() {
            fail!(
                ERRCODE_INVALID_PARAMETER_VALUE,
                "trigger \"{}\" names {} columns but index \"{}\" of cache \"{}\" has {}",
                tname,
                args.len() - 2,
                args[1],
                args[0],
                def.indexes[ixp].cols.len()
            );
        }
        let rd = (*(*td).tg_relation).rd_att;
        let mut attnums = Vec::new();
        for c in &args[2..] {
            let cs = CString::new(c.as_str()).unwrap_or_default();
            let n = pg_sys::SPI_fnumber(rd, cs.as_ptr());
            if n <= 0 {
                fail!(ERRCODE_UNDEFINED_COLUMN, "column \"{}\" named by trigger \"{}\" does not exist in its table", c, tname);
            }
            attnums.push(n);
        }
        PLANS.with(|p| p.borrow_mut().insert(toid, TriggerPlan { epoch, def: def.clone(), ixp, attnums: attnums.clone() }));
        (def, ixp, attnums)
    }
}

unsafe fn key_of(def: &CacheDef, ixp: usize, attnums: &[i32], td: pg_sys::TupleDesc, tup: pg_sys::HeapTuple) -> Option<Bound> {
    let mut values = Vec::with_capacity(attnums.len());
    for &n in attnums {
        let mut isnull = false;
        let d = unsafe { pg_sys::heap_getattr(tup, n, td, &mut isnull) };
        if isnull {
            return None; // a NULL key matches no row of the index
        }
        let typ = unsafe { (*(*td).attrs.as_ptr().add(n as usize - 1)).atttypid };
        values.push((d, typ, false));
    }
    Some(args::bound_from_values(def, &def.indexes[ixp], values, true, "trigger key", true))
}

fn add_point(def: &CacheDef, ixp: usize, b: Bound) {
    xact::add(def.id, &def.name, def.version, Inval::point(def.indexes[ixp].name.clone(), b));
}

unsafe fn add_tuplestore(def: &CacheDef, ixp: usize, attnums: &[i32], rel_td: pg_sys::TupleDesc, ts: *mut pg_sys::Tuplestorestate) {
    unsafe {
        let slot = pg_sys::MakeSingleTupleTableSlot(rel_td, &pg_sys::TTSOpsMinimalTuple);
        pg_sys::tuplestore_rescan(ts);
        while xact::wants_keys(def.id) && pg_sys::tuplestore_gettupleslot(ts, true, false, slot) {
            let mut free = false;
            let tup = pg_sys::ExecFetchSlotHeapTuple(slot, false, &mut free);
            if let Some(b) = key_of(def, ixp, attnums, rel_td, tup) {
                add_point(def, ixp, b);
            }
            if free {
                pg_sys::heap_freetuple(tup);
            }
        }
        pg_sys::ExecDropSingleTupleTableSlot(slot);
    }
}

crate::finfo_v1!(pg_finfo_tablecache_invalidate_trigger);

#[no_mangle]
#[pg_guard]
pub unsafe extern "C-unwind" fn tablecache_invalidate_trigger(fcinfo: pg_sys::FunctionCallInfo) -> Datum {
    unsafe {
        let ctx = (*fcinfo).context;
        if ctx.is_null() || (*ctx).type_ != pg_sys::NodeTag::T_TriggerData {
            fail!(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED, "tablecache.invalidate_trigger() must be called as a trigger");
        }
        shmem::header();
        let td = ctx as *mut pg_sys::TriggerData;
        let ev = (*td).tg_event;
        if ev & pg_sys::TRIGGER_EVENT_TIMINGMASK != pg_sys::TRIGGER_EVENT_AFTER {
            fail!(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED, "tablecache.invalidate_trigger() must be an AFTER trigger");
        }
        let (def, ixp, attnums) = trigger_plan(td);
        if !xact::wants_keys(def.id) {
            return Datum::from(0usize); // this transaction already invalidates the whole cache
        }
        let rel_td = (*(*td).tg_relation).rd_att;
        let op = ev & pg_sys::TRIGGER_EVENT_OPMASK;
        if op == pg_sys::TRIGGER_EVENT_TRUNCATE {
            xact::add(def.id, &def.name, def.version, Inval::all());
        } else if ev & pg_sys::TRIGGER_EVENT_ROW != 0 {
            let first = (*td).tg_trigtuple;
            if let Some(b) = key_of(&def, ixp, &attnums, rel_td, first) {
                add_point(&def, ixp, b);
            }
            if op == pg_sys::TRIGGER_EVENT_UPDATE {
                if let Some(b) = key_of(&def, ixp, &attnums, rel_td, (*td).tg_newtuple) {
                    add_point(&def, ixp, b);
                }
            }
        } else {
            // statement level: transition tables when declared, else everything
            let (old, new) = ((*td).tg_oldtable, (*td).tg_newtable);
            if old.is_null() && new.is_null() {
                xact::add(def.id, &def.name, def.version, Inval::all());
            } else {
                for ts in [old, new] {
                    if !ts.is_null() {
                        add_tuplestore(&def, ixp, &attnums, rel_td, ts);
                    }
                }
            }
        }
        Datum::from(0usize)
    }
}
