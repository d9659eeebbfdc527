//! DDL on a cache's view or row type. The view holds the cache's query and its row type is the
//! cache's: renaming it, its columns or its schema, or altering its columns, would leave the
//! cache's definition (its indexes name columns) pointing at nothing. Such statements are
//! refused before they run; ALTER ... OWNER TO and view options stay allowed. (CREATE OR
//! REPLACE VIEW with another query is allowed: the cache sees a new definition and reads fall
//! through until the next load.)

use crate::guard::as_catalog_owner;
use pgrx::pg_sys::{self, NodeTag, ObjectType};
use pgrx::prelude::*;

static mut PREV: pg_sys::ProcessUtility_hook_type = None;
static mut PREV_OBJECT_ACCESS: pg_sys::object_access_hook_type = None;


pub fn install_hook() {
    unsafe {
        PREV = pg_sys::ProcessUtility_hook;
        pg_sys::ProcessUtility_hook = Some(process_utility);
        PREV_OBJECT_ACCESS = pg_sys::object_access_hook;
        pg_sys::object_access_hook = Some(object_access);
    }
}

/// Every drop of a relation, however it comes (DROP TABLE, DROP SCHEMA ... CASCADE, DROP
/// OWNED): a dropped partition takes its rows out of the tables caches read.
#[pg_guard]
unsafe extern "C-unwind" fn object_access(
    access: pg_sys::ObjectAccessType::Type,
    class_id: pg_sys::Oid,
    object_id: pg_sys::Oid,
    sub_id: i32,
    arg: *mut std::ffi::c_void,
) {
    unsafe {
        if let Some(prev) = PREV_OBJECT_ACCESS {
            prev(access, class_id, object_id, sub_id, arg);
        }
        if access == pg_sys::ObjectAccessType::OAT_DROP
            && class_id == pg_sys::RelationRelationId
            && sub_id == 0
            && crate::shmem::is_attached()
            && pg_sys::IsTransactionState()
        {
            crate::sql::base_ddl::dropping_relation(object_id);
        }
    }
}

/// (A database at version 0.1.0 has no cache views: its caches get theirs when it is updated.)
fn has_catalog() -> bool {
    crate::catalog::catalog_state() == crate::catalog::CatalogState::Current
}

/// The name of the cache whose view (or row type's relation) is `rel`, if any (and if this
/// database has the extension).
fn cache_of_view(rel: pg_sys::Oid) -> Option<String> {
    if rel == pg_sys::InvalidOid || !has_catalog() {
        return None;
    }
    as_catalog_owner(|| {
        crate::spi::select_one(
            "SELECT name FROM tablecache.cache_def WHERE view::pg_catalog.oid OPERATOR(pg_catalog.=) $1 \
             OR (SELECT typrelid FROM pg_catalog.pg_type WHERE oid OPERATOR(pg_catalog.=) rowtype) OPERATOR(pg_catalog.=) $1",
            &[rel.into()],
        )
    })
}

/// The name of a cache whose view is in schema `nsp`, if any.
fn cache_in_schema(nsp: *const std::ffi::c_char) -> Option<String> {
    if nsp.is_null() || !has_catalog() {
        return None;
    }
    let nsp = unsafe { std::ffi::CStr::from_ptr(nsp) }.to_string_lossy().into_owned();
    as_catalog_owner(|| {
        crate::spi::select_one(
            "SELECT d.name FROM tablecache.cache_def d JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) d.view \
             JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace WHERE n.nspname OPERATOR(pg_catalog.=) $1 LIMIT 1",
            &[nsp.into()],
        )
    })
}

unsafe fn rel_of(rv: *mut pg_sys::RangeVar) -> pg_sys::Oid {
    if rv.is_null() {
        return pg_sys::InvalidOid;
    }
    unsafe { pg_sys::RangeVarGetRelidExtended(rv, pg_sys::NoLock as i32, pg_sys::RVROption::RVR_MISSING_OK as u32, None, std::ptr::null_mut()) }
}

/// The relation a qualified type name (a List of String) names as its row type, if any.
unsafe fn rel_of_type(names: *mut pg_sys::Node) -> pg_sys::Oid {
    unsafe {
        if names.is_null() || (*names).type_ != NodeTag::T_List {
            return pg_sys::InvalidOid;
        }
        let tn = pg_sys::makeTypeNameFromNameList(names as *mut pg_sys::List);
        let typ = pg_sys::LookupTypeNameOid(std::ptr::null_mut(), tn, true);
        if typ == pg_sys::InvalidOid {
            return pg_sys::InvalidOid;
        }
        pg_sys::typeidTypeRelid(typ)
    }
}

/// The cache a statement would alter in a way it cannot follow, if any.
unsafe fn refused(stmt: *mut pg_sys::Node) -> Option<String> {
    unsafe {
        match (*stmt).type_ {
            NodeTag::T_RenameStmt => {
                let s = stmt as *mut pg_sys::RenameStmt;
                match (*s).renameType {
                    // a cache's SQL names its view: the schema holding one keeps its name
                    ObjectType::OBJECT_SCHEMA => cache_in_schema((*s).subname),
                    ObjectType::OBJECT_TYPE | ObjectType::OBJECT_DOMAIN => cache_of_view(rel_of_type((*s).object)),
                    // ALTER VIEW / TABLE / INDEX / SEQUENCE ... RENAME [COLUMN], ALTER TYPE ...
                    // RENAME ATTRIBUTE: whatever the statement calls the relation
                    _ if !(*s).relation.is_null() => cache_of_view(rel_of((*s).relation)),
                    _ => None,
                }
            }
            NodeTag::T_AlterObjectSchemaStmt => {
                let s = stmt as *mut pg_sys::AlterObjectSchemaStmt;
                let rel = if !(*s).relation.is_null() {
                    rel_of((*s).relation)
                } else if matches!((*s).objectType, ObjectType::OBJECT_TYPE | ObjectType::OBJECT_DOMAIN) {
                    rel_of_type((*s).object)
                } else {
                    pg_sys::InvalidOid
                };
                cache_of_view(rel)
            }
            NodeTag::T_AlterTableStmt => {
                let s = stmt as *mut pg_sys::AlterTableStmt;
                let cmds = (*s).cmds;
                let n = if cmds.is_null() { 0 } else { (*cmds).length as usize };
                // the owner may change; not the view's options (security_invoker makes a reader
                // that row-level security applies to read as itself)
                let harmless = (0..n).all(|i| {
                    let c = (*(*cmds).elements.add(i)).ptr_value as *mut pg_sys::AlterTableCmd;
                    (*c).subtype == pg_sys::AlterTableType::AT_ChangeOwner
                });
                if harmless {
                    None
                } else {
                    cache_of_view(rel_of((*s).relation))
                }
            }
            _ => None,
        }
    }
}

/// CREATE OR REPLACE VIEW of a cache's view: a new query. The cache's memory holds the old
/// query's rows: from the moment the new view is visible they may not be read, so the
/// transaction invalidates the whole cache (recorded before its commit becomes visible).
/// Returns the cache's name, for `define::view_replaced` once the statement ran.
unsafe fn replaced_view(s: *mut pg_sys::ViewStmt) -> Option<String> {
    unsafe {
        if !(*s).replace {
            return None;
        }
        let name = cache_of_view(rel_of((*s).view))?;
        let def = crate::catalog::try_lookup_by_name(&name)?;
        if def.maintain == "auto" {
            crate::fail_hint!(
                ERRCODE_FEATURE_NOT_SUPPORTED,
                "Drop the cache (tablecache.drop_cache) and create it again with the new query.",
                "cannot replace the query of cache \"{}\": it maintains itself from the tables of its query",
                name
            );
        }
        crate::xact::add(def.id, &crate::sql::inval::info(&def), crate::store::inval::Inval::all());
        Some(name)
    }
}

/// ALTER VIEW/TABLE ... OWNER TO on a cache's view: the view, if any.
unsafe fn new_owner_of_cache_view(stmt: *mut pg_sys::Node) -> Option<pg_sys::Oid> {
    unsafe {
        if (*stmt).type_ != NodeTag::T_AlterTableStmt {
            return None;
        }
        let s = stmt as *mut pg_sys::AlterTableStmt;
        let cmds = (*s).cmds;
        let n = if cmds.is_null() { 0 } else { (*cmds).length as usize };
        let owner = (0..n).any(|i| (*((*(*cmds).elements.add(i)).ptr_value as *mut pg_sys::AlterTableCmd)).subtype == pg_sys::AlterTableType::AT_ChangeOwner);
        let rel = rel_of((*s).relation);
        (owner && cache_of_view(rel).is_some()).then_some(rel)
    }
}

/// The lineage view of an `auto` cache belongs to the cache's owner, like its view: queries
/// run as the owner read both.
fn lineage_follows_owner(view: pg_sys::Oid) {
    let lineage: Option<pg_sys::Oid> = as_catalog_owner(|| {
        crate::spi::select_one("SELECT lineage::pg_catalog.oid FROM tablecache.cache_def WHERE view::pg_catalog.oid OPERATOR(pg_catalog.=) $1", &[view.into()])
    });
    if let Some(l) = lineage {
        let owner = crate::guard::rel_owner(view);
        let sql = format!("ALTER VIEW {} OWNER TO {}", crate::catalog::rel::qualified_name(l), crate::catalog::names::quote_ident(&crate::keys::role_name(owner)));
        crate::guard::own_ddl(|| pgrx::spi::Spi::run(&sql)).unwrap_or_else(|e| {
            crate::fail!(ERRCODE_INTERNAL_ERROR, "could not give the lineage view of the cache to its new owner: {}", e)
        });
    }
}

#[pg_guard]
#[allow(clippy::too_many_arguments)]
unsafe extern "C-unwind" fn process_utility(
    pstmt: *mut pg_sys::PlannedStmt,
    query: *const std::ffi::c_char,
    read_only_tree: bool,
    context: pg_sys::ProcessUtilityContext::Type,
    params: pg_sys::ParamListInfo,
    env: *mut pg_sys::QueryEnvironment,
    dest: *mut pg_sys::DestReceiver,
    qc: *mut pg_sys::QueryCompletion,
) {
    unsafe {
        let stmt = (*pstmt).utilityStmt;
        let watched = !stmt.is_null()
            && matches!((*stmt).type_, NodeTag::T_RenameStmt | NodeTag::T_AlterObjectSchemaStmt | NodeTag::T_AlterTableStmt | NodeTag::T_ViewStmt)
            && pg_sys::IsTransactionState()
            && !crate::guard::in_own_ddl();
        let base_ddl = !stmt.is_null()
            && matches!((*stmt).type_, NodeTag::T_TruncateStmt | NodeTag::T_AlterTableStmt | NodeTag::T_CreateStmt | NodeTag::T_RenameStmt)
            && pg_sys::IsTransactionState()
            && crate::shmem::is_attached()
            && has_catalog();
        if !stmt.is_null()
            && (*stmt).type_ == NodeTag::T_TransactionStmt
            && (*(stmt as *mut pg_sys::TransactionStmt)).kind == pg_sys::TransactionStmtKind::TRANS_STMT_COMMIT_PREPARED
            && pg_sys::IsTransactionState()
        {
            // a transaction prepared before this server started may be committed only once
            // the standbys heard that it is one whose invalidations were never sent
            crate::replication::send::announce();
        }
        let base_after = if base_ddl { crate::sql::base_ddl::before(stmt) } else { None };
        let owner_of = if watched { new_owner_of_cache_view(stmt) } else { None };
        let mut replaced = None;
        if watched && (*stmt).type_ == NodeTag::T_ViewStmt {
            replaced = replaced_view(stmt as *mut pg_sys::ViewStmt);
        } else if watched {
            if let Some(cache) = refused(stmt) {
                pgrx::ereport!(
                    ERROR,
                    pgrx::PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED,
                    format!("cannot rename or alter the view, row type or schema of cache \"{cache}\""),
                    "The cache's indexes and reads name its columns; drop the cache (tablecache.drop_cache) and create it again."
                );
            }
        }
        match PREV {
            Some(prev) => prev(pstmt, query, read_only_tree, context, params, env, dest, qc),
            None => pg_sys::standard_ProcessUtility(pstmt, query, read_only_tree, context, params, env, dest, qc),
        }
        if let Some(name) = replaced {
            crate::sql::define::view_replaced(&name);
        }
        if let Some(a) = base_after {
            crate::sql::base_ddl::after(a);
        }
        if let Some(view) = owner_of {
            lineage_follows_owner(view);
        }
    }
}
