//! SQL text that tablecache generates: the cache's query (its view) filtered to a window, an
//! invalidated key or a lookup, with every identifier quoted and every value passed as a typed
//! parameter (never as text to be parsed again under somebody's settings).

use crate::bound::Bound;
use crate::catalog::names::quote_ident;
use crate::catalog::{CacheDef, IndexDef};
use pgrx::pg_sys::{self, Datum};

/// Parameters of a generated statement: type and value of `$1`, `$2`, ...
#[derive(Default)]
pub struct Params {
    pub types: Vec<pg_sys::Oid>,
    pub values: Vec<Datum>,
}

impl Params {
    fn push(&mut self, typ: pg_sys::Oid, d: Datum) -> String {
        self.types.push(typ);
        self.values.push(d);
        format!("${}", self.types.len())
    }
}

fn col(def: &CacheDef, ix: &IndexDef, j: usize) -> String {
    format!("q.{}", quote_ident(def.col_name(ix.cols[j])))
}

fn cols_expr(def: &CacheDef, ix: &IndexDef, n: usize) -> String {
    let cols: Vec<String> = (0..n).map(|j| col(def, ix, j)).collect();
    if n == 1 {
        cols[0].clone()
    } else {
        format!("ROW({})", cols.join(", "))
    }
}

/// `(q.a, q.b) >= ROW($1, $2) AND ...` for a range [ge, lt) of index `ix` under SQL row
/// comparison (bounds hold no NULL) — [ge, lt] on `lt`'s columns with `lt_inclusive`. None: no
/// condition (unbounded on both sides).
pub fn range_sql(def: &CacheDef, ix: &IndexDef, ge: Option<&Bound>, lt: Option<&Bound>, lt_inclusive: bool, params: &mut Params) -> Option<String> {
    let mut conds = Vec::new();
    for (b, op) in [(ge, ">="), (lt, if lt_inclusive { "<=" } else { "<" })] {
        let Some(b) = b else { continue };
        let n = b.ncols();
        let vals: Vec<String> = b.values.iter().map(|v| params.push(v.typid, v.datum().unwrap_or(Datum::from(0usize)))).collect();
        let rhs = if n == 1 { vals[0].clone() } else { format!("ROW({})", vals.join(", ")) };
        conds.push(format!("{} OPERATOR(pg_catalog.{}) {}", cols_expr(def, ix, n), op, rhs));
    }
    (!conds.is_empty()).then(|| format!("({})", conds.join(" AND ")))
}

/// The rows whose leading columns of `ix` equal those of `key`, NULL matching NULL (an
/// invalidated key names the rows built from a changed row, whatever their values).
pub fn point_sql(def: &CacheDef, ix: &IndexDef, key: &Bound, params: &mut Params) -> String {
    let conds: Vec<String> = key
        .values
        .iter()
        .enumerate()
        .map(|(j, v)| match v.datum() {
            Some(d) => format!("{} OPERATOR(pg_catalog.=) {}", col(def, ix, j), params.push(v.typid, d)),
            None => format!("{} IS NULL", col(def, ix, j)),
        })
        .collect();
    format!("({})", conds.join(" AND "))
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
            let c = def.col(ix.cols[j]);
            types.push(c.typid);
            vals.push(format!("${}", types.len()));
        }
        let rhs = if n == 1 { vals[0].clone() } else { format!("ROW({})", vals.join(", ")) };
        conds.push(format!("{} OPERATOR(pg_catalog.{op}) {}", cols_expr(def, ix, n), rhs));
    }
    let mut order: Vec<String> = (0..ix.cols.len()).map(|j| col(def, ix, j)).collect();
    for &c in &def.indexes[0].cols {
        if !ix.cols.contains(&c) {
            order.push(format!("q.{}", quote_ident(def.col_name(c))));
        }
    }
    let mut sql = def.from_sql();
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
