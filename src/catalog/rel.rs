//! Relations a cache's definition names: their SQL names, the stored query of a view, the
//! tables a plan reads.

use pgrx::pg_sys::{self, Oid};
use std::ffi::CStr;

/// `"schema"."relation"`.
pub fn qualified_name(rel: Oid) -> String {
    unsafe {
        let nsp = pg_sys::get_namespace_name(pg_sys::get_rel_namespace(rel));
        let name = pg_sys::get_rel_name(rel);
        if nsp.is_null() || name.is_null() {
            return format!("pg_catalog.\"{}\"", rel.to_u32()); // gone: any use fails cleanly
        }
        CStr::from_ptr(pg_sys::quote_qualified_identifier(nsp, name)).to_string_lossy().into_owned()
    }
}

/// The view's parsed query as text (its stored rule), for the fingerprint.
pub unsafe fn view_query_text(view: Oid) -> Option<String> {
    unsafe {
        let rel = pg_sys::try_relation_open(view, pg_sys::AccessShareLock as i32);
        if rel.is_null() {
            return None;
        }
        let out = if (*(*rel).rd_rel).relkind as u8 == pg_sys::RELKIND_VIEW {
            let q = pg_sys::get_view_query(rel);
            let s = pg_sys::nodeToString(q as *const std::ffi::c_void);
            let t = CStr::from_ptr(s).to_string_lossy().into_owned();
            pg_sys::pfree(s.cast());
            Some(t)
        } else {
            None
        };
        pg_sys::relation_close(rel, pg_sys::AccessShareLock as i32);
        out
    }
}

/// Every table (relkind r or p) that a prepared SPI plan reads, views expanded: taken from
/// the planned statement, whose relation list is flat.
///
/// # Safety
/// `plan` is a valid, unsaved SPI plan of one statement, inside an SPI connection.
pub unsafe fn plan_tables(plan: pg_sys::SPIPlanPtr) -> Vec<Oid> {
    let mut out = Vec::new();
    unsafe {
        let cplan = pg_sys::SPI_plan_get_cached_plan(plan);
        if cplan.is_null() {
            return out;
        }
        let stmts = (*cplan).stmt_list;
        let n = if stmts.is_null() { 0 } else { (*stmts).length as usize };
        for i in 0..n {
            let stmt = (*(*stmts).elements.add(i)).ptr_value as *mut pg_sys::PlannedStmt;
            let rels = (*stmt).relationOids;
            let m = if rels.is_null() { 0 } else { (*rels).length as usize };
            for k in 0..m {
                let relid = (*(*rels).elements.add(k)).oid_value;
                let kind = pg_sys::get_rel_relkind(relid) as u8;
                if (kind == b'r' || kind == b'p') && !out.contains(&relid) {
                    out.push(relid);
                }
            }
        }
        // unsaved SPI plans are fetched without a resource owner
        pg_sys::ReleaseCachedPlan(cplan, std::ptr::null_mut());
    }
    out
}

/// Every table a prepared query reads, with the role PostgreSQL checks it as: the owner of
/// the view it is read through (a view that is not `security_invoker`), else `runner`.
/// Row-level security on such a table is that role's.
pub unsafe fn plan_table_users(plan: pg_sys::SPIPlanPtr, runner: Oid) -> Vec<(Oid, Oid)> {
    let mut out = Vec::new();
    unsafe {
        let cplan = pg_sys::SPI_plan_get_cached_plan(plan);
        if cplan.is_null() {
            return out;
        }
        let stmts = (*cplan).stmt_list;
        for i in 0..if stmts.is_null() { 0 } else { (*stmts).length as usize } {
            let stmt = (*(*stmts).elements.add(i)).ptr_value as *mut pg_sys::PlannedStmt;
            let rt = (*stmt).rtable;
            for k in 0..if rt.is_null() { 0 } else { (*rt).length as usize } {
                let rte = (*(*rt).elements.add(k)).ptr_value as *mut pg_sys::RangeTblEntry;
                if (*rte).rtekind != pg_sys::RTEKind::RTE_RELATION {
                    continue;
                }
                let kind = pg_sys::get_rel_relkind((*rte).relid) as u8;
                let user = if (*rte).checkAsUser != pg_sys::InvalidOid { (*rte).checkAsUser } else { runner };
                if (kind == b'r' || kind == b'p') && !out.contains(&((*rte).relid, user)) {
                    out.push(((*rte).relid, user));
                }
            }
        }
        pg_sys::ReleaseCachedPlan(cplan, std::ptr::null_mut());
    }
    out
}

/// Does any table inherit from `rel` (partitions included)?
pub fn has_children(rel: Oid) -> bool {
    crate::spi::select_one("SELECT EXISTS (SELECT FROM pg_catalog.pg_inherits WHERE inhparent OPERATOR(pg_catalog.=) $1)", &[rel.into()]).unwrap_or(true)
}
