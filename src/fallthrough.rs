//! Answers from the database: the cache's query filtered to the requested key or range, run
//! through SPI under the caller's snapshot. Plans are prepared once per backend and kept.

use crate::bound::Bound;
use crate::catalog::CacheDef;
use crate::fail;
use crate::sql_text::lookup_sql;
use pgrx::pg_sys::{self, Datum};
use std::cell::RefCell;
use std::collections::HashMap;
use std::ffi::CString;

thread_local! {
    static PLANS: RefCell<HashMap<String, usize>> = RefCell::new(HashMap::new());
}

unsafe fn plan_for(def: &CacheDef, sql: &str, types: &[pg_sys::Oid]) -> pg_sys::SPIPlanPtr {
    let key = format!("{}\u{0}{}\u{0}{}", def.id, def.fingerprint, sql);
    if let Some(p) = PLANS.with(|p| p.borrow().get(&key).copied()) {
        return p as pg_sys::SPIPlanPtr;
    }
    let c = CString::new(sql).unwrap_or_default();
    let mut types = types.to_vec();
    let plan = unsafe { pg_sys::SPI_prepare(c.as_ptr(), types.len() as i32, types.as_mut_ptr()) };
    if plan.is_null() {
        fail!(ERRCODE_INTERNAL_ERROR, "could not prepare a lookup on cache \"{}\"", def.name);
    }
    unsafe { pg_sys::SPI_keepplan(plan) };
    PLANS.with(|p| p.borrow_mut().insert(key, plan as usize));
    plan
}

/// Runs `sql` with `args` as the cache's query runs (as its owner, with its settings); calls
/// `each` for every result tuple (SPI memory; copy what you keep).
fn run(def: &CacheDef, sql: &str, types: &[pg_sys::Oid], args: &[Datum], mut each: impl FnMut(pg_sys::HeapTuple)) {
    def.read_env().run(|| unsafe {
        if pg_sys::SPI_connect() < 0 {
            fail!(ERRCODE_INTERNAL_ERROR, "SPI_connect failed");
        }
        let plan = plan_for(def, sql, types);
        let mut vals = args.to_vec();
        let rc = pg_sys::SPI_execute_plan(plan, vals.as_mut_ptr(), std::ptr::null(), true, 0);
        if rc != pg_sys::SPI_OK_SELECT as i32 {
            fail!(ERRCODE_INTERNAL_ERROR, "lookup on cache \"{}\" failed ({})", def.name, rc);
        }
        let tt = pg_sys::SPI_tuptable;
        // a base table altered since create_cache must not hand rows of another shape to the
        // cache's row type
        crate::store::window::check_shape(def, (*tt).tupdesc, def.columns.len());
        for i in 0..pg_sys::SPI_processed as usize {
            each(*(*tt).vals.add(i));
        }
        pg_sys::SPI_finish();
    })
}

/// A bound's values as parameters (bounds of reads hold no NULL).
fn datums(b: &Bound) -> Vec<Datum> {
    b.values.iter().map(|v| v.datum().unwrap_or(Datum::from(0usize))).collect()
}

/// The row with primary key `key`, as a datum of the cache's row type in the caller's context.
pub fn get(def: &CacheDef, key: &Bound) -> Option<Datum> {
    let (sql, types) = lookup_sql(def, &def.indexes[0], key.ncols(), 0, true);
    let caller = unsafe { pg_sys::CurrentMemoryContext };
    let mut out = None;
    run(def, &sql, &types, &datums(key), |t| unsafe {
        let old = pg_sys::MemoryContextSwitchTo(caller);
        out = Some(pg_sys::heap_copy_tuple_as_datum(t, def.tupdesc));
        pg_sys::MemoryContextSwitchTo(old);
    });
    out
}

/// Rows of index `ixp` in [ge, lt), appended to `store` in index order.
pub fn range(def: &CacheDef, ixp: usize, ge: Option<&Bound>, lt: Option<&Bound>, store: *mut pg_sys::Tuplestorestate) {
    let nge = ge.map_or(0, |b| b.ncols());
    let nlt = lt.map_or(0, |b| b.ncols());
    let (sql, types) = lookup_sql(def, &def.indexes[ixp], nge, nlt, false);
    let mut args: Vec<Datum> = Vec::with_capacity(nge + nlt);
    if let Some(b) = ge {
        args.extend(datums(b));
    }
    if let Some(b) = lt {
        args.extend(datums(b));
    }
    run(def, &sql, &types, &args, |t| unsafe { pg_sys::tuplestore_puttuple(store, t) });
}
