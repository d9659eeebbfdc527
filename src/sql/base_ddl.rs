//! DDL that changes what a base table of an `auto` cache contains without firing its triggers.
//! A partition's rows are its partitioned table's rows, but TRUNCATE of the partition fires only
//! the partition's statement triggers, and ATTACH/DETACH PARTITION move rows in or out of the
//! partitioned table with no trigger at all: each invalidates the whole of every cache reading
//! an ancestor (transactionally: at commit, gone on abort). An inheritance child would hide
//! every write to it from its parent's triggers: adding one to a base table is refused.

use crate::guard::as_catalog_owner;
use crate::store::inval::Inval;
use pgrx::pg_sys::{self, NodeTag};

unsafe fn rel_of(rv: *mut pg_sys::RangeVar) -> pg_sys::Oid {
    if rv.is_null() {
        return pg_sys::InvalidOid;
    }
    unsafe { pg_sys::RangeVarGetRelidExtended(rv, pg_sys::NoLock as i32, pg_sys::RVROption::RVR_MISSING_OK as u32, None, std::ptr::null_mut()) }
}

unsafe fn nodes(l: *mut pg_sys::List) -> Vec<*mut pg_sys::Node> {
    if l.is_null() {
        return Vec::new();
    }
    unsafe { (0..(*l).length as usize).map(|i| (*(*l).elements.add(i)).ptr_value as *mut pg_sys::Node).collect() }
}

/// The `auto` caches that read any of `rels` or a table they inherit from (a partition's
/// partitioned tables).
fn caches_reading(rels: &[pg_sys::Oid], ancestors_only: bool) -> Vec<i64> {
    let rels: Vec<pg_sys::Oid> = rels.iter().copied().filter(|&r| r != pg_sys::InvalidOid).collect();
    if rels.is_empty() {
        return Vec::new();
    }
    as_catalog_owner(|| {
        crate::spi::select_column(
            "WITH RECURSIVE up (rel, depth) AS ( \
                 SELECT r, 0 FROM pg_catalog.unnest($1::pg_catalog.oid[]) r \
                 UNION SELECT i.inhparent, up.depth OPERATOR(pg_catalog.+) 1 FROM pg_catalog.pg_inherits i \
                 JOIN up ON i.inhrelid OPERATOR(pg_catalog.=) up.rel) \
             SELECT DISTINCT l.cache_id FROM tablecache.lineage_def l JOIN up \
                 ON l.base_table::pg_catalog.oid OPERATOR(pg_catalog.=) up.rel \
              WHERE up.depth OPERATOR(pg_catalog.>) 0 OR NOT $2",
            &[rels.into(), ancestors_only.into()],
        )
    })
}

fn invalidate_all(ids: &[i64]) {
    for &id in ids {
        if let Some(def) = crate::catalog::try_lookup_by_id(id) {
            crate::xact::add(def.id, &crate::sql::inval::info(&def), Inval::all());
        }
    }
}

fn refuse_child(parent: pg_sys::Oid) {
    if let Some(&id) = caches_reading(&[parent], false).first() {
        let name = crate::catalog::try_lookup_by_id(id).map(|d| d.name.clone()).unwrap_or_default();
        crate::fail_hint!(
            ERRCODE_FEATURE_NOT_SUPPORTED,
            "Writes to an inheritance child do not fire its parent's triggers: drop the cache first, or create it with maintain => 'manual'.",
            "cannot add an inheritance child to table {}: cache \"{}\" reads it",
            crate::catalog::rel::qualified_name(parent),
            name
        );
    }
}

/// Called before a utility statement runs (in a database whose catalog is current).
pub unsafe fn before(stmt: *mut pg_sys::Node) {
    unsafe {
        match (*stmt).type_ {
            NodeTag::T_TruncateStmt => {
                let s = stmt as *mut pg_sys::TruncateStmt;
                // the truncated table's own trigger covers it; its ancestors have none that fires
                let rels: Vec<pg_sys::Oid> = nodes((*s).relations).into_iter().map(|n| rel_of(n as *mut pg_sys::RangeVar)).collect();
                invalidate_all(&caches_reading(&rels, true));
            }
            NodeTag::T_AlterTableStmt => {
                let s = stmt as *mut pg_sys::AlterTableStmt;
                for c in nodes((*s).cmds) {
                    let c = c as *mut pg_sys::AlterTableCmd;
                    match (*c).subtype {
                        pg_sys::AlterTableType::AT_AttachPartition
                        | pg_sys::AlterTableType::AT_DetachPartition
                        | pg_sys::AlterTableType::AT_DetachPartitionFinalize => {
                            invalidate_all(&caches_reading(&[rel_of((*s).relation)], false));
                        }
                        pg_sys::AlterTableType::AT_AddInherit => refuse_child(rel_of((*c).def as *mut pg_sys::RangeVar)),
                        pg_sys::AlterTableType::AT_DropInherit => {
                            invalidate_all(&caches_reading(&[rel_of((*c).def as *mut pg_sys::RangeVar)], false));
                        }
                        _ => {}
                    }
                }
            }
            NodeTag::T_CreateStmt => {
                let s = stmt as *mut pg_sys::CreateStmt;
                // CREATE TABLE ... PARTITION OF: a new, empty partition gets the row triggers
                if (*s).partbound.is_null() {
                    for n in nodes((*s).inhRelations) {
                        refuse_child(rel_of(n as *mut pg_sys::RangeVar));
                    }
                }
            }
            _ => {}
        }
    }
}
