//! SQL text that tablecache generates: the cache's query filtered to a window or a lookup,
//! with every identifier quoted and every value passed as a parameter.

use crate::args::Bound;
use crate::catalog::{CacheDef, IndexDef};
use pgrx::pg_sys;
use std::ffi::{CStr, CString};

pub fn quote_ident(s: &str) -> String {
    let c = CString::new(s).unwrap_or_default();
    unsafe { CStr::from_ptr(pg_sys::quote_identifier(c.as_ptr())).to_string_lossy().into_owned() }
}

pub fn qualified_type(typid: pg_sys::Oid) -> String {
    unsafe { CStr::from_ptr(pg_sys::format_type_be_qualified(typid)).to_string_lossy().into_owned() }
}

fn cols_expr(def: &CacheDef, ix: &IndexDef, n: usize) -> String {
    let cols: Vec<String> = ix.cols[..n].iter().map(|&c| format!("q.{}", quote_ident(def.col_name(c)))).collect();
    if n == 1 {
        cols[0].clone()
    } else {
        format!("ROW({})", cols.join(", "))
    }
}

/// `(q.a, q.b) >= ROW($1::text::t1, ...)`-style conditions for a window given as text values
/// (the form kept in shared memory). None: no condition (unbounded on both sides).
pub fn filter_sql(def: &CacheDef, ix: &IndexDef, ge: Option<&Bound>, lt: Option<&Bound>, lt_inclusive: bool, params: &mut Vec<String>) -> Option<String> {
    let mut conds = Vec::new();
    for (b, op) in [(ge, ">="), (lt, if lt_inclusive { "<=" } else { "<" })] {
        let Some(b) = b else { continue };
        let n = b.ncols();
        let mut vals = Vec::with_capacity(n);
        for (j, t) in b.texts.iter().enumerate() {
            params.push(t.clone());
            let col = &def.columns[ix.cols[j]];
            vals.push(format!("${}::pg_catalog.text::{}", params.len(), qualified_type(col.typid)));
        }
        let rhs = if n == 1 { vals[0].clone() } else { format!("ROW({})", vals.join(", ")) };
        conds.push(format!("{} OPERATOR(pg_catalog.{}) {}", cols_expr(def, ix, n), op, rhs));
    }
    if conds.is_empty() {
        None
    } else {
        Some(format!("({})", conds.join(" AND ")))
    }
}

/// The database's answer to a read: the query filtered by typed parameters `$1..` (ge values,
/// then lt values), in index order then primary-key order.
pub fn lookup_sql(def: &CacheDef, ix: &IndexDef, nge: usize, nlt: usize, equal: bool) -> (String, Vec<pg_sys::Oid>) {
    let mut types = Vec::new();
    let mut conds = Vec::new();
    let ops: &[(usize, &str)] = if equal { &[(nge, "=")] } else { &[(nge, ">="), (nlt, "<")] };
    for &(n, op) in ops {
        if n == 0 {
            continue;
        }
        let mut vals = Vec::new();
        for j in 0..n {
            let col = &def.columns[ix.cols[j]];
            types.push(col.typid);
            vals.push(format!("${}", types.len()));
        }
        let rhs = if n == 1 { vals[0].clone() } else { format!("ROW({})", vals.join(", ")) };
        let opname = format!("OPERATOR(pg_catalog.{op})");
        conds.push(format!("{} {} {}", cols_expr(def, ix, n), opname, rhs));
    }
    let mut order: Vec<String> = ix.cols.iter().map(|&c| format!("q.{}", quote_ident(def.col_name(c)))).collect();
    for &c in &def.indexes[0].cols {
        if !ix.cols.contains(&c) {
            order.push(format!("q.{}", quote_ident(def.col_name(c))));
        }
    }
    let mut sql = format!("SELECT q.* FROM ({}) q", def.query);
    if !conds.is_empty() {
        sql.push_str(" WHERE ");
        sql.push_str(&conds.join(" AND "));
    }
    if !equal {
        sql.push_str(" ORDER BY ");
        sql.push_str(&order.join(", "));
    }
    (sql, types)
}
