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
    crate::guard::with_latest_snapshot(|| as_catalog_owner(|| {
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
    }))
}

/// The `auto` caches that read a partitioned table.
fn caches_reading_partitioned() -> Vec<i64> {
    crate::guard::with_latest_snapshot(|| as_catalog_owner(|| {
        crate::spi::select_column(
            "SELECT DISTINCT l.cache_id FROM tablecache.lineage_def l JOIN pg_catalog.pg_class c \
                 ON c.oid OPERATOR(pg_catalog.=) l.base_table::pg_catalog.oid WHERE c.relkind OPERATOR(pg_catalog.=) 'p'",
            &[],
        )
    }))
}

/// A relation is being dropped (any way: DROP TABLE, DROP SCHEMA ... CASCADE, DROP OWNED):
/// a partition takes its rows out of the tables it is a partition of. (Called while its
/// catalog rows are still there.)
pub fn dropping_relation(rel: pg_sys::Oid) {
    if unsafe { pg_sys::get_rel_relispartition(rel) } && crate::catalog::catalog_state() == crate::catalog::CatalogState::Current {
        invalidate_all(&caches_reading(&[rel], true));
    }
}

fn invalidate_all(ids: &[i64]) {
    for &id in ids {
        if let Some(def) = crate::guard::with_latest_snapshot(|| crate::catalog::try_lookup_by_id(id)) {
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

/// What to do once the statement ran.
pub enum After {
    /// a column of `rel` was renamed from `.1` to `.2`: the lineage names it anew
    RenamedColumn(pg_sys::Oid, String, String),
}

fn refuse_trigger_change(rel: pg_sys::Oid, id: i64) {
    let name = crate::catalog::try_lookup_by_id(id).map(|d| d.name.clone()).unwrap_or_default();
    crate::fail_hint!(
        ERRCODE_FEATURE_NOT_SUPPORTED,
        "Enable or disable other triggers by name, or drop the cache first.",
        "cannot rename, enable or disable the triggers of cache \"{}\" on table {}: the cache would no longer follow its changes",
        name,
        crate::catalog::rel::qualified_name(rel)
    );
}

/// The constraint `conname` of `rel`, if some cache relies on it: (the cache's id). A cache
/// relies on the primary key of every table it reads (it finds their rows by it), and on a
/// foreign key it re-reads a table through; a primary key other tables' foreign keys need
/// (dropped with CASCADE) counts as those foreign keys.
fn constraint_relied_on(rel: pg_sys::Oid, conname: &str) -> Option<i64> {
    crate::guard::with_latest_snapshot(|| constraint_relied_on_now(rel, conname))
}

fn constraint_relied_on_now(rel: pg_sys::Oid, conname: &str) -> Option<i64> {
    let (contype, referenced): (Option<String>, Option<pg_sys::Oid>) = crate::spi::select_two(
        "SELECT contype::pg_catalog.text, confrelid FROM pg_catalog.pg_constraint \
          WHERE conrelid OPERATOR(pg_catalog.=) $1 AND conname OPERATOR(pg_catalog.=) $2",
        &[rel.into(), conname.into()],
    );
    if matches!(contype.as_deref(), Some("p") | Some("u")) {
        return as_catalog_owner(|| {
            crate::spi::select_one(
                "SELECT cache_id FROM tablecache.lineage_def WHERE base_table::pg_catalog.oid OPERATOR(pg_catalog.=) $1 LIMIT 1",
                &[rel.into()],
            )
        });
    }
    if contype.as_deref() != Some("f") {
        return None;
    }
    let referenced = referenced?;
    // a foreign key between two tables of a cache, either of which it re-reads (onto it, or
    // its own, which it relies on to lead to exactly one row)
    as_catalog_owner(|| {
        crate::spi::select_one(
            "SELECT r.cache_id FROM tablecache.lineage_def r JOIN tablecache.lineage_def f ON f.cache_id OPERATOR(pg_catalog.=) r.cache_id \
              WHERE ((r.how OPERATOR(pg_catalog.=) 'reread' AND r.base_table::pg_catalog.oid OPERATOR(pg_catalog.=) $2 \
                      AND f.base_table::pg_catalog.oid OPERATOR(pg_catalog.=) $1) \
                  OR (f.how OPERATOR(pg_catalog.=) 'reread' AND f.base_table::pg_catalog.oid OPERATOR(pg_catalog.=) $1 \
                      AND r.base_table::pg_catalog.oid OPERATOR(pg_catalog.=) $2)) LIMIT 1",
            &[rel.into(), referenced.into()],
        )
    })
}

/// Runs after the statement `before` returned `a` for.
pub fn after(a: After) {
    match a {
        After::RenamedColumn(rel, old, new) => {
            let n: Option<i64> = as_catalog_owner(|| {
                crate::spi::select_one(
                    "WITH RECURSIVE down (rel) AS (SELECT $1::pg_catalog.oid UNION SELECT i.inhrelid FROM pg_catalog.pg_inherits i \
                         JOIN down ON i.inhparent OPERATOR(pg_catalog.=) down.rel), \
                     u AS (UPDATE tablecache.lineage_def SET key_columns = pg_catalog.array_replace(key_columns, $2, $3), \
                              read_columns = pg_catalog.array_replace(read_columns, $2, $3) \
                            WHERE base_table::pg_catalog.oid OPERATOR(pg_catalog.=) ANY (SELECT rel FROM down) RETURNING 1) \
                     SELECT pg_catalog.count(*) FROM u",
                    &[rel.into(), old.into(), new.into()],
                )
            });
            if n.unwrap_or(0) > 0 {
                crate::sql::define::definitions_changed();
            }
        }
    }
}

/// Called before a utility statement runs (in a database whose catalog is current).
pub unsafe fn before(stmt: *mut pg_sys::Node) -> Option<After> {
    unsafe {
        if crate::guard::in_own_ddl() {
            return None;
        }
        match (*stmt).type_ {
            NodeTag::T_RenameStmt => {
                let s = stmt as *mut pg_sys::RenameStmt;
                // the cache's triggers are found (and protected) by their names
                if (*s).renameType == pg_sys::ObjectType::OBJECT_TRIGGER && !(*s).relation.is_null() && !(*s).subname.is_null() {
                    let rel = rel_of((*s).relation);
                    let tg = std::ffi::CStr::from_ptr((*s).subname).to_string_lossy().into_owned();
                    if let Some(id) = caches_reading(&[rel], false).into_iter().find(|id| tg == format!("tablecache_{id}") || tg == format!("tablecache_{id}_truncate")) {
                        refuse_trigger_change(rel, id);
                    }
                }
                if (*s).renameType == pg_sys::ObjectType::OBJECT_COLUMN && !(*s).relation.is_null() && !(*s).subname.is_null() && !(*s).newname.is_null() {
                    // (the lineage of the table or, the rename recursing, of its partitions)
                    let rel = rel_of((*s).relation);
                    let old = std::ffi::CStr::from_ptr((*s).subname).to_string_lossy().into_owned();
                    let new = std::ffi::CStr::from_ptr((*s).newname).to_string_lossy().into_owned();
                    return Some(After::RenamedColumn(rel, old, new));
                }
            }
            NodeTag::T_TruncateStmt => {
                let s = stmt as *mut pg_sys::TruncateStmt;
                // the truncated table's own trigger covers it; its ancestors have none that fires
                let rels: Vec<pg_sys::Oid> = nodes((*s).relations).into_iter().map(|n| rel_of(n as *mut pg_sys::RangeVar)).collect();
                invalidate_all(&caches_reading(&rels, true));
                // CASCADE may reach partitions (through foreign keys declared on them) whose
                // partitioned tables are read: every cache reading a partitioned table
                if (*s).behavior == pg_sys::DropBehavior::DROP_CASCADE {
                    invalidate_all(&caches_reading_partitioned());
                }
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
                        pg_sys::AlterTableType::AT_DropConstraint if !(*c).name.is_null() => {
                            let rel = rel_of((*s).relation);
                            let con = std::ffi::CStr::from_ptr((*c).name).to_string_lossy().into_owned();
                            if let Some(id) = constraint_relied_on(rel, &con) {
                                let name = crate::catalog::try_lookup_by_id(id).map(|d| d.name.clone()).unwrap_or_default();
                                crate::fail_hint!(
                                    ERRCODE_DEPENDENT_OBJECTS_STILL_EXIST,
                                    "Drop the cache first, or create it again afterwards.",
                                    "cannot drop constraint {} on table {}: cache \"{}\" relies on it to follow its tables",
                                    con,
                                    crate::catalog::rel::qualified_name(rel),
                                    name
                                );
                            }
                        }
                        // a foreign key column a re-read relies on being NOT NULL
                        pg_sys::AlterTableType::AT_DropNotNull if !(*c).name.is_null() => {
                            let rel = rel_of((*s).relation);
                            let col = std::ffi::CStr::from_ptr((*c).name).to_string_lossy().into_owned();
                            let id: Option<i64> = as_catalog_owner(|| {
                                crate::spi::select_one(
                                    "SELECT l.cache_id FROM tablecache.lineage_def l \
                                      WHERE l.base_table::pg_catalog.oid OPERATOR(pg_catalog.=) $1 AND $2 OPERATOR(pg_catalog.=) ANY (l.read_columns) \
                                        AND EXISTS (SELECT FROM tablecache.lineage_def r WHERE r.cache_id OPERATOR(pg_catalog.=) l.cache_id \
                                                    AND r.how OPERATOR(pg_catalog.=) 'reread') LIMIT 1",
                                    &[rel.into(), col.clone().into()],
                                )
                            });
                            if let Some(id) = id {
                                let name = crate::catalog::try_lookup_by_id(id).map(|d| d.name.clone()).unwrap_or_default();
                                crate::fail_hint!(
                                    ERRCODE_FEATURE_NOT_SUPPORTED,
                                    "Drop the cache first, or create it again afterwards.",
                                    "cannot drop NOT NULL of column \"{}\" of table {}: cache \"{}\" relies on it to follow its tables",
                                    col,
                                    crate::catalog::rel::qualified_name(rel),
                                    name
                                );
                            }
                        }
                        // (ENABLE ALWAYS is what they are: pg_dump's restore says so again)
                        pg_sys::AlterTableType::AT_EnableTrig
                        | pg_sys::AlterTableType::AT_EnableReplicaTrig
                        | pg_sys::AlterTableType::AT_DisableTrig => {
                            let rel = rel_of((*s).relation);
                            let tg = if (*c).name.is_null() { String::new() } else { std::ffi::CStr::from_ptr((*c).name).to_string_lossy().into_owned() };
                            if let Some(id) = caches_reading(&[rel], false).into_iter().find(|id| tg == format!("tablecache_{id}") || tg == format!("tablecache_{id}_truncate")) {
                                refuse_trigger_change(rel, id);
                            }
                        }
                        pg_sys::AlterTableType::AT_EnableTrigAll
                        | pg_sys::AlterTableType::AT_DisableTrigAll
                        | pg_sys::AlterTableType::AT_EnableTrigUser
                        | pg_sys::AlterTableType::AT_DisableTrigUser => {
                            let rel = rel_of((*s).relation);
                            if let Some(&id) = caches_reading(&[rel], false).first() {
                                refuse_trigger_change(rel, id);
                            }
                        }
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
        None
    }
}
