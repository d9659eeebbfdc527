//! `invalidate`, `invalidate_range` and the trigger function. Invalidations belong to the calling
//! transaction (see `xact`): they apply at its commit and vanish on rollback.

use crate::args::{self, Args, Shape};
use crate::bound::Bound;
use crate::catalog::{self, CacheDef};
use crate::shmem;
use crate::store::inval::Inval;
use crate::xact::{self, CacheInfo};
use crate::fail;
use pgrx::pg_sys::{self, Datum, Oid};
use pgrx::prelude::*;
use std::cell::RefCell;
use std::collections::HashMap;
use std::ffi::{CStr, CString};
use std::rc::Rc;

pub fn info(def: &CacheDef) -> CacheInfo {
    // (the re-read targets too: their keys' ranges are no ranges in byte order either)
    xact::note_collated(def.id, def.indexes.iter().chain(def.reread.iter()).filter(|ix| ix.any_collated).map(|ix| ix.name.clone()).collect());
    CacheInfo { name: def.name.clone(), fingerprint: def.fingerprint, owner: def.owner }
}

/// The cache and index an explicit invalidation names (owner only).
fn target(a: &Args) -> (Rc<CacheDef>, String, usize) {
    shmem::header();
    crate::sql::window::refuse_in_cache_query("invalidate");
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
    // ROW(5, NULL) names the rows whose key is (5, NULL)
    let key = args::bound_for(&def, &def.indexes[ixp], d, t, Shape::PrefixWithNulls, "key");
    xact::add(def.id, &info(&def), Inval::point(index, key));
    Datum::from(0usize)
}

crate::finfo_v1!(pg_finfo_tablecache_invalidate_range);

#[no_mangle]
#[pg_guard]
pub unsafe extern "C-unwind" fn tablecache_invalidate_range(fcinfo: pg_sys::FunctionCallInfo) -> Datum {
    let a = Args(fcinfo);
    let (def, index, ixp) = target(&a);
    let bound = |i: usize, what: &str| a.opt(i).map(|(d, t)| args::bound_for(&def, &def.indexes[ixp], d, t, Shape::Prefix, what));
    let ge = bound(2, "ge");
    let lt = bound(3, "lt");
    args::check_order(&def, &def.indexes[ixp], &ge, &lt);
    xact::add(def.id, &info(&def), Inval { index, lo: ge, hi: lt, hi_inclusive: false });
    Datum::from(0usize)
}

// ---------------------------------------------------------------------------------------------
// The trigger: tablecache.invalidate_trigger('cache', 'index', 'col' [, 'col' ...])
//
// A write never fails because of a cache: a trigger that names a cache or index that does not
// exist does nothing; one on a table the cache may not be invalidated from (see
// `CacheDef::trigger_allowed`) does nothing; one whose columns cannot give keys of the index
// (a column missing, a type that does not fit) invalidates the whole cache.

/// A trigger key column: its attribute number, and the cast to the index column's type when
/// the types differ (only casts that cannot fail).
#[derive(Clone)]
struct KeyCol {
    attnum: i32,
    cast: Option<Oid>,
}

#[derive(Clone)]
enum Action {
    Nothing,
    All,
    Keys(Vec<KeyCol>),
}

struct TriggerPlan {
    epoch: u64,
    def: Option<Rc<CacheDef>>,
    ixp: usize,
    action: Action,
}

thread_local! {
    static PLANS: RefCell<HashMap<(u32, u32), TriggerPlan>> = RefCell::new(HashMap::new());
}

/// Widening casts that cannot fail and keep equality (the key of `5::int2` is the key of
/// `5::int8`).
pub fn safe_cast(from: Oid, to: Oid) -> Option<Oid> {
    use pg_sys::*;
    let ok = matches!(
        (from, to),
        (INT2OID, INT4OID) | (INT2OID, INT8OID) | (INT4OID, INT8OID) | (INT2OID, NUMERICOID) | (INT4OID, NUMERICOID) | (INT8OID, NUMERICOID) | (FLOAT4OID, FLOAT8OID)
    );
    if !ok {
        return None;
    }
    let mut func = InvalidOid;
    let path = unsafe { find_coercion_pathway(to, from, CoercionContext::COERCION_IMPLICIT, &mut func) };
    (path == CoercionPathType::COERCION_PATH_FUNC && func != InvalidOid).then_some(func)
}

fn warn_once(key: (u32, u32), msg: String) {
    thread_local! {
        static WARNED: RefCell<std::collections::HashSet<(u32, u32)>> = RefCell::new(Default::default());
    }
    if WARNED.with(|w| w.borrow_mut().insert(key)) {
        pgrx::warning!("{}", msg);
    }
}

unsafe fn trigger_plan(td: *mut pg_sys::TriggerData) -> (Option<Rc<CacheDef>>, usize, Action) {
    unsafe {
        let trig = (*td).tg_trigger;
        let rel = (*(*td).tg_relation).rd_id;
        let pkey = ((*trig).tgoid.to_u32(), rel.to_u32());
        let epoch = shmem::def_epoch() ^ catalog::acl_epoch().rotate_left(32);
        if let Some(p) = PLANS.with(|p| p.borrow().get(&pkey).filter(|p| p.epoch == epoch).map(|p| (p.def.clone(), p.ixp, p.action.clone()))) {
            return p;
        }
        let nargs = (*trig).tgnargs as usize;
        let args: Vec<String> = (0..nargs).map(|i| CStr::from_ptr(*(*trig).tgargs.add(i)).to_string_lossy().into_owned()).collect();
        let tname = CStr::from_ptr((*trig).tgname).to_string_lossy().into_owned();
        let plan = |def: Option<Rc<CacheDef>>, ixp: usize, action: Action| {
            PLANS.with(|p| p.borrow_mut().insert(pkey, TriggerPlan { epoch, def: def.clone(), ixp, action: action.clone() }));
            (def, ixp, action)
        };
        if args.len() < 3 {
            warn_once(pkey, format!("trigger \"{tname}\" must pass tablecache.invalidate_trigger a cache, an index and at least one column; it does nothing"));
            return plan(None, 0, Action::Nothing);
        }
        let Some(def) = crate::guard::with_latest_snapshot(|| catalog::try_lookup_by_name(&args[0])) else {
            return plan(None, 0, Action::Nothing); // dropped (or never was): nothing to invalidate
        };
        if !def.trigger_allowed(rel) {
            warn_once(
                pkey,
                format!("trigger \"{}\" on a table that cache \"{}\" does not read (and whose owner may not invalidate it) does nothing", tname, def.name),
            );
            return plan(None, 0, Action::Nothing);
        }
        let Some(ixp) = def.indexes.iter().position(|ix| ix.name == args[1]) else {
            return plan(None, 0, Action::Nothing);
        };
        let ix = &def.indexes[ixp];
        let rd = (*(*td).tg_relation).rd_att;
        let mut cols = Vec::new();
        let mut all = args.len() - 2 > ix.cols.len();
        for (j, c) in args[2..].iter().enumerate() {
            if all {
                break;
            }
            let cs = CString::new(c.as_str()).unwrap_or_default();
            let n = pg_sys::SPI_fnumber(rd, cs.as_ptr());
            if n <= 0 {
                all = true;
                break;
            }
            let from = pg_sys::getBaseType((*(*rd).attrs.as_ptr().add(n as usize - 1)).atttypid);
            let to = pg_sys::getBaseType(def.col(ix.cols[j]).typid);
            let cast = if from == to || pg_sys::IsBinaryCoercible(from, to) {
                None
            } else if let Some(f) = safe_cast(from, to) {
                Some(f)
            } else {
                all = true;
                break;
            };
            cols.push(KeyCol { attnum: n, cast });
        }
        if all {
            warn_once(
                pkey,
                format!("the columns trigger \"{}\" names do not give keys of index \"{}\" of cache \"{}\"; every change invalidates the whole cache", tname, args[1], def.name),
            );
            return plan(Some(def), ixp, Action::All);
        }
        plan(Some(def), ixp, Action::Keys(cols))
    }
}

unsafe fn key_of(def: &CacheDef, ixp: usize, cols: &[KeyCol], td: pg_sys::TupleDesc, tup: pg_sys::HeapTuple) -> Bound {
    let mut values = Vec::with_capacity(cols.len());
    for (j, c) in cols.iter().enumerate() {
        let mut isnull = false;
        let mut d = unsafe { pg_sys::heap_getattr(tup, c.attnum, td, &mut isnull) };
        let typ = def.col(def.indexes[ixp].cols[j]).typid;
        if let (Some(f), false) = (c.cast, isnull) {
            d = unsafe { pg_sys::OidFunctionCall1Coll(f, pg_sys::InvalidOid, d) };
        }
        values.push((d, typ, isnull));
    }
    args::bound_from_values(def, &def.indexes[ixp], values, Shape::PrefixWithNulls, "trigger key")
}

fn add_point(def: &CacheDef, ixp: usize, b: Bound) {
    xact::add(def.id, &info(def), Inval::point(def.indexes[ixp].name.clone(), b));
}

unsafe fn add_tuplestore(def: &CacheDef, ixp: usize, cols: &[KeyCol], rel_td: pg_sys::TupleDesc, ts: *mut pg_sys::Tuplestorestate) {
    unsafe {
        let slot = pg_sys::MakeSingleTupleTableSlot(rel_td, &pg_sys::TTSOpsMinimalTuple);
        pg_sys::tuplestore_rescan(ts);
        while xact::wants_keys(def.id) && pg_sys::tuplestore_gettupleslot(ts, true, false, slot) {
            let mut free = false;
            let tup = pg_sys::ExecFetchSlotHeapTuple(slot, false, &mut free);
            add_point(def, ixp, key_of(def, ixp, cols, rel_td, tup));
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
        let td = ctx as *mut pg_sys::TriggerData;
        let ev = (*td).tg_event;
        // A BEFORE row trigger must hand back the row, or the write would be skipped; the
        // invalidation is the same either way (it applies at commit).
        let row_event = ev & pg_sys::TRIGGER_EVENT_ROW != 0;
        let before = ev & pg_sys::TRIGGER_EVENT_TIMINGMASK == pg_sys::TRIGGER_EVENT_BEFORE;
        let result = if before && row_event {
            let op = ev & pg_sys::TRIGGER_EVENT_OPMASK;
            let t = if op == pg_sys::TRIGGER_EVENT_UPDATE { (*td).tg_newtuple } else { (*td).tg_trigtuple };
            Datum::from(t)
        } else {
            Datum::from(0usize)
        };
        if !shmem::is_attached() {
            return result; // nothing is cached without the shared region
        }
        let (def, ixp, action) = trigger_plan(td);
        let Some(def) = def else { return result };
        if !xact::wants_keys(def.id) {
            return result; // this transaction already invalidates the whole cache
        }
        let cols = match action {
            Action::Nothing => return result,
            Action::All => {
                xact::add(def.id, &info(&def), Inval::all());
                return result;
            }
            Action::Keys(cols) => cols,
        };
        let rel_td = (*(*td).tg_relation).rd_att;
        let op = ev & pg_sys::TRIGGER_EVENT_OPMASK;
        if op == pg_sys::TRIGGER_EVENT_TRUNCATE {
            xact::add(def.id, &info(&def), Inval::all());
        } else if ev & pg_sys::TRIGGER_EVENT_ROW != 0 {
            add_point(&def, ixp, key_of(&def, ixp, &cols, rel_td, (*td).tg_trigtuple));
            if op == pg_sys::TRIGGER_EVENT_UPDATE {
                add_point(&def, ixp, key_of(&def, ixp, &cols, rel_td, (*td).tg_newtuple));
            }
        } else {
            // statement level: transition tables when declared, else everything
            let (old, new) = ((*td).tg_oldtable, (*td).tg_newtable);
            if old.is_null() && new.is_null() {
                xact::add(def.id, &info(&def), Inval::all());
            } else {
                for ts in [old, new] {
                    if !ts.is_null() {
                        add_tuplestore(&def, ixp, &cols, rel_td, ts);
                    }
                }
            }
        }
        result
    }
}
