//! Function arguments: reading them from `fcinfo`, and turning a user's key or bound (a scalar
//! or a ROW(...) of any compatible type) into an index key: coerced to the column types,
//! encoded, and kept as text for SQL and the catalog.

use crate::bound::{Bound, Value};
use crate::catalog::{CacheDef, IndexDef};
use crate::keys;
use crate::{fail, fail_detail};
use pgrx::pg_sys::{self, Datum, Oid};
use std::ffi::{CStr, CString};
use tablecache_core::keys::KeyEncoder;

pub struct Args(pub pg_sys::FunctionCallInfo);

/// A required argument of a pgrx function (those are declared non-STRICT so that a NULL is an
/// error, not a silent NULL result).
pub fn req<T>(v: Option<T>, what: &str) -> T {
    match v {
        Some(v) => v,
        None => fail!(ERRCODE_NULL_VALUE_NOT_ALLOWED, "{} must not be NULL", what),
    }
}

impl Args {
    pub fn count(&self) -> usize {
        unsafe { (*self.0).nargs as usize }
    }
    pub fn is_null(&self, i: usize) -> bool {
        i >= self.count() || unsafe { (*(*self.0).args.as_ptr().add(i)).isnull }
    }
    pub fn datum(&self, i: usize) -> Datum {
        unsafe { (*(*self.0).args.as_ptr().add(i)).value }
    }
    pub fn type_of(&self, i: usize) -> Oid {
        unsafe { pg_sys::get_fn_expr_argtype((*self.0).flinfo, i as i32) }
    }
    /// A text argument that must not be NULL.
    pub fn text(&self, i: usize, what: &str) -> String {
        if self.is_null(i) {
            fail!(ERRCODE_NULL_VALUE_NOT_ALLOWED, "{} must not be NULL", what);
        }
        unsafe {
            let p = pg_sys::text_to_cstring(self.datum(i).cast_mut_ptr());
            let s = CStr::from_ptr(p).to_string_lossy().into_owned();
            pg_sys::pfree(p.cast());
            s
        }
    }
    pub fn opt(&self, i: usize) -> Option<(Datum, Oid)> {
        if self.is_null(i) {
            None
        } else {
            Some((self.datum(i), self.type_of(i)))
        }
    }
}

fn is_string_type(t: Oid) -> bool {
    if t == pg_sys::UNKNOWNOID {
        return true;
    }
    let mut cat: std::ffi::c_char = 0;
    let mut pref = false;
    unsafe { pg_sys::get_type_category_preferred(t, &mut cat, &mut pref) };
    cat as u8 == b'S'
}

/// Converts `d` of type `from` to the column type `to` (typmod `typmod`), the way an assignment
/// would, accepting string literals through the type's input function. Errors name the column.
pub fn coerce(d: Datum, from: Oid, to: Oid, typmod: i32, what: &dyn Fn() -> String) -> Datum {
    unsafe {
        if from == to || pg_sys::IsBinaryCoercible(from, to) {
            return d;
        }
        let mut func = pg_sys::InvalidOid;
        let path = pg_sys::find_coercion_pathway(to, from, pg_sys::CoercionContext::COERCION_ASSIGNMENT, &mut func);
        match path {
            pg_sys::CoercionPathType::COERCION_PATH_FUNC => {
                let nargs = pg_sys::get_func_nargs(func);
                if nargs >= 2 {
                    pg_sys::OidFunctionCall3Coll(func, pg_sys::InvalidOid, d, Datum::from(typmod), Datum::from(false))
                } else {
                    pg_sys::OidFunctionCall1Coll(func, pg_sys::InvalidOid, d)
                }
            }
            pg_sys::CoercionPathType::COERCION_PATH_RELABELTYPE => d,
            pg_sys::CoercionPathType::COERCION_PATH_COERCEVIAIO => via_io(d, from, to, typmod),
            _ if is_string_type(from) => via_io(d, from, to, typmod),
            _ => fail!(
                ERRCODE_DATATYPE_MISMATCH,
                "{} is of type {}, which cannot be used as {}",
                what(),
                keys::type_name(from),
                keys::type_name(to)
            ),
        }
    }
}

unsafe fn via_io(d: Datum, from: Oid, to: Oid, typmod: i32) -> Datum {
    unsafe {
        let text = output_text(d, from);
        let c = CString::new(text).unwrap_or_default();
        let (mut input, mut ioparam) = (pg_sys::InvalidOid, pg_sys::InvalidOid);
        pg_sys::getTypeInputInfo(to, &mut input, &mut ioparam);
        pg_sys::OidInputFunctionCall(input, c.as_ptr() as *mut _, ioparam, typmod)
    }
}

pub use crate::bound::output_text;

fn is_row_type(t: Oid) -> bool {
    t == pg_sys::RECORDOID || unsafe { pg_sys::type_is_rowtype(t) }
}

/// What a key may hold.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// every column of the index
    Full,
    /// the leading columns (a bound, or the key of an invalidation)
    Prefix,
    /// the leading columns, NULLs allowed (an invalidation: a NULL key names the rows whose
    /// column is NULL)
    PrefixWithNulls,
}

/// Builds the key for `ix` from a scalar or ROW(...) value.
pub fn bound_for(def: &CacheDef, ix: &IndexDef, d: Datum, typ: Oid, shape: Shape, what: &str) -> Bound {
    let mut values: Vec<(Datum, Oid, bool)> = Vec::new();
    if is_row_type(typ) && !is_row_type(def.col(ix.cols[0]).typid) {
        unsafe {
            let hdr = pg_sys::pg_detoast_datum(d.cast_mut_ptr()) as pg_sys::HeapTupleHeader;
            let rtype = crate::store::tuple_type_id(hdr);
            let rtypmod = crate::store::tuple_typmod(hdr);
            let td = pg_sys::lookup_rowtype_tupdesc(rtype, rtypmod);
            let n = (*td).natts as usize;
            let mut tup: pg_sys::HeapTupleData = std::mem::zeroed();
            tup.t_len = crate::store::tuple_datum_len(hdr) as u32;
            tup.t_data = hdr;
            let mut vals = vec![Datum::from(0usize); n];
            let mut nulls = vec![false; n];
            pg_sys::heap_deform_tuple(&mut tup, td, vals.as_mut_ptr(), nulls.as_mut_ptr());
            for i in 0..n {
                let att = &*(*td).attrs.as_ptr().add(i);
                values.push((vals[i], att.atttypid, nulls[i]));
            }
            pg_sys::DecrTupleDescRefCount(td);
        }
    } else {
        values.push((d, typ, false));
    }
    bound_from_values(def, ix, values, shape, what)
}

/// As `bound_for`, from values already split into columns: (datum, type, is null).
pub fn bound_from_values(def: &CacheDef, ix: &IndexDef, values: Vec<(Datum, Oid, bool)>, shape: Shape, what: &str) -> Bound {
    let k = ix.cols.len();
    if values.is_empty() || values.len() > k || (shape == Shape::Full && values.len() != k) {
        fail!(
            ERRCODE_INVALID_PARAMETER_VALUE,
            "{} has {} value(s) but index \"{}\" of cache \"{}\" has {} column(s)",
            what,
            values.len(),
            ix.name,
            def.name,
            k
        );
    }
    let mut enc = KeyEncoder::new();
    let mut out = Vec::with_capacity(values.len());
    for (j, (v, t, isnull)) in values.into_iter().enumerate() {
        let col = def.col(ix.cols[j]);
        if isnull {
            if shape != Shape::PrefixWithNulls {
                fail!(ERRCODE_NULL_VALUE_NOT_ALLOWED, "{} must not contain NULL (column \"{}\" of cache \"{}\")", what, col.name, def.name);
            }
            enc.push_null();
            out.push(Value { typid: col.typid, image: None });
            continue;
        }
        let cv = coerce(v, t, col.typid, col.typmod, &|| format!("{} for column \"{}\" of index \"{}\" of cache \"{}\"", what, col.name, ix.name, def.name));
        unsafe { keys::push_datum(&mut enc, ix.types[j], cv, false) };
        out.push(Value { typid: col.typid, image: Some(unsafe { crate::bound::image_of(cv, col.typid) }) });
    }
    Bound { key: enc.as_bytes().to_vec(), values: out }
}

/// Validates an optional [ge, lt) pair: ge <= lt (an empty range is allowed, ge > lt is not).
pub fn check_order(def: &CacheDef, ix: &IndexDef, ge: &Option<Bound>, lt: &Option<Bound>) {
    if let (Some(g), Some(l)) = (ge, lt) {
        if ix.cmp(&g.key, &l.key) == std::cmp::Ordering::Greater {
            fail_detail!(
                ERRCODE_INVALID_PARAMETER_VALUE,
                format!("ge = {}, lt = {}", g.display(), l.display()),
                "lower bound is greater than upper bound for index \"{}\" of cache \"{}\"",
                ix.name,
                def.name
            );
        }
    }
}
