//! Defining caches and indexes. Definitions are rows of `tablecache.cache_def` and
//! `tablecache.index_def`; every change bumps the definition version (so loaded arrays built for
//! another version are never read) and the shared epoch (so other backends re-read definitions).

use crate::args::req;
use crate::catalog::{self, names, PRIMARY_KEY};
use crate::guard::{as_catalog_owner, current_pinned_settings, with_search_path, SAFE_PATH};
use crate::keys;
use crate::shmem::{self, NAME_LEN};
use crate::store::{self, window};
use crate::{fail, fail_detail};
use pgrx::pg_sys;
use pgrx::prelude::*;
use std::collections::HashSet;
use std::ffi::{CStr, CString};

struct OutCol {
    name: String,
    typid: pg_sys::Oid,
    collation: pg_sys::Oid,
}

fn check_name(what: &str, name: &str) {
    if name.is_empty() {
        fail!(ERRCODE_INVALID_PARAMETER_VALUE, "{} name must not be empty", what);
    }
    if name.len() >= NAME_LEN {
        fail!(ERRCODE_NAME_TOO_LONG, "{} name \"{}\" is too long (at most {} bytes)", what, name, NAME_LEN - 1);
    }
}

/// The text of the one SELECT statement in `query` (a trailing `;` or comment dropped), or an
/// error. The statement goes into `CREATE VIEW ... AS`, so nothing else may ride along.
fn select_statement(cache: &str, query: &str) -> String {
    let c = CString::new(query).unwrap_or_else(|_| fail!(ERRCODE_INVALID_PARAMETER_VALUE, "query of cache \"{}\" contains a NUL byte", cache));
    unsafe {
        let list = pg_sys::raw_parser(c.as_ptr(), pg_sys::RawParseMode::RAW_PARSE_DEFAULT);
        let n = if list.is_null() { 0 } else { (*list).length as usize };
        if n != 1 {
            fail!(ERRCODE_INVALID_PARAMETER_VALUE, "query of cache \"{}\" must be a single SELECT statement ({} statements given)", cache, n);
        }
        let raw = (*(*list).elements).ptr_value as *mut pg_sys::RawStmt;
        if (*(*raw).stmt).type_ != pg_sys::NodeTag::T_SelectStmt {
            fail!(ERRCODE_INVALID_PARAMETER_VALUE, "query of cache \"{}\" must be a read-only SELECT", cache);
        }
        let bytes = query.as_bytes();
        let start = ((*raw).stmt_location.max(0) as usize).min(bytes.len());
        let end = if (*raw).stmt_len > 0 { (start + (*raw).stmt_len as usize).min(bytes.len()) } else { bytes.len() };
        // a trailing "-- comment" must not swallow what follows the statement in CREATE VIEW
        format!("{}\n", String::from_utf8_lossy(&bytes[start..end]))
    }
}

/// Plans the query once to learn its output columns and to refuse anything but a plain,
/// read-only, non-volatile SELECT over permanent tables without row-level security.
fn describe_query(cache: &str, query: &str) -> Vec<OutCol> {
    let c = CString::new(query).unwrap_or_default();
    unsafe {
        if pg_sys::SPI_connect() < 0 {
            fail!(ERRCODE_INTERNAL_ERROR, "SPI_connect failed");
        }
        let plan = pg_sys::SPI_prepare(c.as_ptr(), 0, std::ptr::null_mut());
        if plan.is_null() {
            fail!(ERRCODE_INVALID_PARAMETER_VALUE, "query of cache \"{}\" cannot be prepared", cache);
        }
        let sources = pg_sys::SPI_plan_get_plan_sources(plan);
        if sources.is_null() || (*sources).length != 1 {
            fail!(ERRCODE_INVALID_PARAMETER_VALUE, "query of cache \"{}\" must be a single SELECT statement", cache);
        }
        let src = (*(*sources).elements).ptr_value as *mut pg_sys::CachedPlanSource;
        let ql = (*src).query_list;
        let ok_tag = (*src).commandTag == pg_sys::CommandTag::CMDTAG_SELECT;
        let q = if !ql.is_null() && (*ql).length == 1 { (*(*ql).elements).ptr_value as *mut pg_sys::Query } else { std::ptr::null_mut() };
        if !ok_tag || q.is_null() || (*q).commandType != pg_sys::CmdType::CMD_SELECT || !(*q).utilityStmt.is_null() || (*q).hasModifyingCTE {
            fail!(ERRCODE_INVALID_PARAMETER_VALUE, "query of cache \"{}\" must be a read-only SELECT", cache);
        }
        if !(*q).rowMarks.is_null() {
            fail!(ERRCODE_INVALID_PARAMETER_VALUE, "query of cache \"{}\" must not lock rows (FOR UPDATE/SHARE)", cache);
        }
        if pg_sys::contain_volatile_functions(q as *mut pg_sys::Node) {
            fail!(ERRCODE_INVALID_PARAMETER_VALUE, "query of cache \"{}\" calls volatile functions; its rows could not be cached", cache);
        }
        // every table the query reads, views expanded
        for relid in crate::catalog::plan_tables(plan) {
            let relname = CStr::from_ptr(pg_sys::get_rel_name(relid)).to_string_lossy().into_owned();
            // a temporary table is one session's: its rows cannot be shared
            if pg_sys::get_rel_persistence(relid) as u8 == pg_sys::RELPERSISTENCE_TEMP {
                fail!(ERRCODE_FEATURE_NOT_SUPPORTED, "query of cache \"{}\" reads temporary table {}; its rows cannot be shared", cache, relname);
            }
            // row-level security would make the shared rows depend on who loaded them
            let rls: Option<bool> = Spi::get_one_with_args(
                "SELECT relrowsecurity FROM pg_catalog.pg_class WHERE oid OPERATOR(pg_catalog.=) $1",
                &[relid.into()],
            )
            .unwrap_or(None);
            if rls == Some(true) {
                fail!(
                    ERRCODE_FEATURE_NOT_SUPPORTED,
                    "query of cache \"{}\" reads table {} which has row-level security; its rows cannot be shared",
                    cache,
                    relname
                );
            }
        }
        let td = (*src).resultDesc;
        let mut cols = Vec::new();
        for i in 0..(*td).natts as usize {
            let att = &*(*td).attrs.as_ptr().add(i);
            cols.push(OutCol { name: pg_sys::name_data_to_str(&att.attname).to_string(), typid: att.atttypid, collation: att.attcollation });
        }
        pg_sys::SPI_finish();
        cols
    }
}

fn cache_exists(name: &str) -> bool {
    as_catalog_owner(|| {
        crate::spi::select_one::<bool>("SELECT EXISTS (SELECT 1 FROM tablecache.cache_def WHERE name OPERATOR(pg_catalog.=) $1)", &[name.into()])
            .unwrap_or(false)
    })
}

/// (schema name, relation name) of the view a cache name asks for: a name with a dot names its
/// schema, a plain one the current schema. Temporary schemas are refused: a cache is shared by
/// every session and outlives its creator's.
fn view_name(cache: &str) -> (String, String) {
    let Some(mut parts) = names::parse_ident(cache).filter(|p| !p.is_empty() && p.len() <= 2) else {
        fail!(ERRCODE_INVALID_NAME, "cache name \"{}\" must be a name or schema.name", cache);
    };
    if parts.len() == 1 {
        let schema: Option<String> = crate::spi::select_one("SELECT pg_catalog.current_schema()::pg_catalog.text", &[]);
        match schema {
            Some(s) => parts.insert(0, s),
            None => fail!(ERRCODE_INVALID_SCHEMA_NAME, "no schema has been selected to create cache \"{}\" in", cache),
        }
    }
    if parts[0] == "pg_temp" || parts[0].starts_with("pg_temp_") || parts[0].starts_with("pg_toast_temp_") {
        fail!(ERRCODE_FEATURE_NOT_SUPPORTED, "cache \"{}\" cannot be temporary: a cache is shared by every session", cache);
    }
    let nsp = CString::new(parts[0].as_str()).unwrap_or_default();
    let nspid = unsafe { pg_sys::LookupExplicitNamespace(nsp.as_ptr(), false) };
    if parts[0] == "pg_temp" || parts[0].starts_with("pg_temp_") || unsafe { pg_sys::isAnyTempNamespace(nspid) } {
        fail!(ERRCODE_FEATURE_NOT_SUPPORTED, "cache \"{}\" cannot be temporary: a cache is shared by every session", cache);
    }
    (parts.remove(0), parts.remove(0))
}

fn random_id() -> i64 {
    let mut b = [0u8; 8];
    loop {
        if !unsafe { pg_sys::pg_strong_random(b.as_mut_ptr().cast(), 8) } {
            fail!(ERRCODE_INTERNAL_ERROR, "could not generate a random cache id");
        }
        let id = i64::from_le_bytes(b) & i64::MAX;
        if id != 0 {
            return id;
        }
    }
}

pub fn definitions_changed() {
    shmem::bump_def_epoch();
    catalog::forget_all();
    crate::xact::bump_epoch_at_end();
}

// Its C symbol differs from version 0.1.0's (which took three arguments): a database not yet
// upgraded (ALTER EXTENSION tablecache UPDATE) gets "could not find function", never a call
// with the wrong arguments.
#[pg_extern(volatile, parallel_unsafe, name = "create_cache")]
fn create_cache_v2(
    cache: Option<&str>,
    query: Option<&str>,
    primary_key: Option<Vec<Option<String>>>,
    maintain: default!(Option<&str>, "'auto'"),
) {
    let (cache, query, primary_key, maintain) = (req(cache, "cache"), req(query, "query"), req(primary_key, "primary_key"), req(maintain, "maintain"));
    shmem::header();
    crate::replication::refuse_in_recovery("create_cache");
    crate::sql::window::refuse_in_cache_query("create_cache");
    if maintain != "auto" && maintain != "manual" {
        fail!(ERRCODE_INVALID_PARAMETER_VALUE, "maintain must be 'auto' or 'manual', not \"{}\"", maintain);
    }
    check_name("cache", cache);
    let name = names::canonical(cache).unwrap_or_else(|| fail!(ERRCODE_INVALID_NAME, "cache name \"{}\" must be a name or schema.name", cache));
    check_name("cache", &name);
    let (schema, relname) = view_name(cache);
    if cache_exists(&name) {
        fail!(ERRCODE_DUPLICATE_OBJECT, "cache \"{}\" already exists", name);
    }
    let qualified = format!("{}.{}", names::quote_ident(&schema), names::quote_ident(&relname));
    let taken: bool = crate::spi::select_one(
        "SELECT pg_catalog.to_regclass($1) IS NOT NULL OR pg_catalog.to_regtype($1) IS NOT NULL",
        &[qualified.clone().into()],
    )
    .unwrap_or(false);
    if taken {
        fail!(ERRCODE_DUPLICATE_OBJECT, "cache \"{}\" cannot be created: a relation or type named {} already exists", name, qualified);
    }
    if primary_key.is_empty() {
        fail!(ERRCODE_INVALID_PARAMETER_VALUE, "primary key of cache \"{}\" must name at least one column", name);
    }
    let pk: Vec<String> = primary_key
        .into_iter()
        .map(|c| c.unwrap_or_else(|| fail!(ERRCODE_NULL_VALUE_NOT_ALLOWED, "primary key of cache \"{}\" contains NULL", name)))
        .collect();
    let stmt = select_statement(&name, query);
    let cols = describe_query(&name, &stmt);
    let mut seen = HashSet::new();
    for c in &cols {
        if !seen.insert(c.name.as_str()) {
            fail!(ERRCODE_DUPLICATE_COLUMN, "query of cache \"{}\" returns column \"{}\" more than once", name, c.name);
        }
    }
    let mut pkseen = HashSet::new();
    for k in &pk {
        let Some(col) = cols.iter().find(|c| &c.name == k) else {
            fail!(ERRCODE_UNDEFINED_COLUMN, "primary key column \"{}\" is not an output column of cache \"{}\"", k, name);
        };
        if !pkseen.insert(k.as_str()) {
            fail!(ERRCODE_DUPLICATE_COLUMN, "column \"{}\" appears twice in the primary key of cache \"{}\"", k, name);
        }
        if let Err((code, msg)) = keys::key_type_for(col.typid, col.collation) {
            pgrx::ereport!(ERROR, code, format!("column \"{}\" of cache \"{}\" cannot be a primary key: {}", k, name, msg));
        }
    }
    // security_invoker: whoever runs the view runs its query with their own privileges (the
    // cache runs it as its owner; a reader that row-level security applies to, as itself)
    Spi::run(&format!("CREATE VIEW {qualified} WITH (security_invoker = true) AS {stmt}"))
        .unwrap_or_else(|e| fail!(ERRCODE_INVALID_PARAMETER_VALUE, "could not create the view of cache \"{}\": {}", name, e));
    let view: pg_sys::Oid = crate::spi::select_one("SELECT pg_catalog.to_regclass($1)::pg_catalog.oid", &[qualified.clone().into()])
        .unwrap_or_else(|| fail!(ERRCODE_INTERNAL_ERROR, "the view of cache \"{}\" was not created", name));
    let rowtype = unsafe { pg_sys::get_rel_type_id(view) };
    // self-maintenance: what each table of the query does (or why it cannot), before anything
    // is recorded
    let auto = (maintain == "auto").then(|| {
        let names: Vec<String> = cols.iter().map(|c| c.name.clone()).collect();
        let (planned, lineage_sql) = crate::sql::maintain::plan(&name, &qualified, &names, &pk);
        for p in planned.iter().filter(|p| matches!(p.how, crate::catalog::analysis::How::Reread | crate::catalog::analysis::How::Hidden)) {
            for i in 0..p.key_columns.len() {
                let h = catalog::hidden_name(p.k, i);
                if names.contains(&h) {
                    fail!(ERRCODE_DUPLICATE_COLUMN, "cache \"{}\": output column \"{}\" is a name self-maintenance needs", name, h);
                }
            }
        }
        // every key an internal index (or a re-read) will be ordered by must be a key type
        // tablecache orders (an ICU collation is not): else it would fail at every write
        for p in &planned {
            let hidden = matches!(p.how, crate::catalog::analysis::How::Reread | crate::catalog::analysis::How::Hidden);
            let keys: Vec<(String, pg_sys::Oid, pg_sys::Oid)> = if hidden {
                p.key_columns
                    .iter()
                    .map(|c| {
                        let cs = std::ffi::CString::new(c.as_str()).unwrap_or_default();
                        let att = unsafe { pg_sys::get_attnum(p.relid, cs.as_ptr()) };
                        let (mut t, mut m, mut coll) = (pg_sys::InvalidOid, 0, pg_sys::InvalidOid);
                        unsafe { pg_sys::get_atttypetypmodcoll(p.relid, att, &mut t, &mut m, &mut coll) };
                        (c.clone(), t, coll)
                    })
                    .collect()
            } else if p.internal.is_some() {
                p.target_columns.iter().filter_map(|c| cols.iter().find(|o| &o.name == c).map(|o| (c.clone(), o.typid, o.collation))).collect()
            } else {
                Vec::new()
            };
            for (c, t, coll) in keys {
                if let Err((_, msg)) = keys::key_type_for(t, coll) {
                    crate::fail_hint!(
                        ERRCODE_FEATURE_NOT_SUPPORTED,
                        "Use maintain => 'manual' and invalidate it yourself (tablecache.invalidate, tablecache.invalidate_trigger).",
                        "cache \"{}\" cannot maintain itself: the rows of table {} would be found by column \"{}\", which cannot be an index key: {}",
                        name,
                        crate::catalog::rel::qualified_name(p.relid),
                        c,
                        msg
                    );
                }
            }
        }
        let internal = planned.iter().filter(|p| p.internal.is_some()).count();
        if 1 + internal > shmem::MAX_INDEXES {
            fail!(
                ERRCODE_PROGRAM_LIMIT_EXCEEDED,
                "cache \"{}\" would need {} internal indexes to maintain itself; a cache has at most {} indexes",
                name,
                internal,
                shmem::MAX_INDEXES
            );
        }
        (planned, lineage_sql)
    });
    // The view belongs to the extension's domain: DROP EXTENSION needs CASCADE while caches
    // exist, and takes their views with it.
    unsafe {
        let ext = pg_sys::get_extension_oid(c"tablecache".as_ptr(), false);
        let depender = pg_sys::ObjectAddress { classId: pg_sys::RelationRelationId, objectId: view, objectSubId: 0 };
        let referenced = pg_sys::ObjectAddress { classId: pg_sys::ExtensionRelationId, objectId: ext, objectSubId: 0 };
        pg_sys::recordDependencyOn(&depender, &referenced, pg_sys::DependencyType::DEPENDENCY_NORMAL);
    }
    let search_path: String = crate::spi::select_one("SELECT pg_catalog.current_setting('search_path')", &[]).unwrap_or_default();
    let id = random_id();
    as_catalog_owner(|| {
        Spi::run_with_args(
            "INSERT INTO tablecache.cache_def (id, name, query, primary_key, view, rowtype, search_path, settings, maintain, version) \
             VALUES ($1, $2, $3, $4, $5::pg_catalog.oid::pg_catalog.regclass, $6::pg_catalog.oid::pg_catalog.regtype, $7, $8, $9, pg_catalog.nextval('tablecache.def_version_seq'))",
            &[id.into(), name.clone().into(), query.into(), pk.clone().into(), view.into(), rowtype.into(), search_path.into(), current_pinned_settings().into(), maintain.into()],
        )
        .unwrap_or_else(|e| fail!(ERRCODE_INTERNAL_ERROR, "could not record cache \"{}\": {}", name, e))
    });
    if let Some((planned, lineage_sql)) = auto {
        let creator = unsafe { pg_sys::GetUserId() };
        if let Some(lv) = crate::sql::maintain::install(id, &name, view, creator, &planned, lineage_sql.as_deref()) {
            as_catalog_owner(|| {
                Spi::run_with_args(
                    "UPDATE tablecache.cache_def SET lineage = $2::pg_catalog.oid::pg_catalog.regclass WHERE id OPERATOR(pg_catalog.=) $1",
                    &[id.into(), lv.into()],
                )
                .unwrap_or_else(|e| fail!(ERRCODE_INTERNAL_ERROR, "could not record cache \"{}\": {}", name, e))
            });
        }
    }
    // if this transaction (or subtransaction) aborts, whatever was loaded for it is freed
    crate::xact::created(id);
    definitions_changed();
}

/// After an index change, rebuild a loaded cache's arrays by reloading the same window with
/// the new definition (published when this transaction commits, like the catalog change). The
/// caller holds the writer lock.
fn reload_if_loaded(name: &str, lock: store::WriterLock, slot: usize) {
    let def = catalog::lookup_by_name(name);
    let Some((ixname, ge, lt)) = crate::sql::window::window_here(&def, slot) else { return };
    match def.indexes.iter().position(|ix| ix.name == ixname) {
        Some(ixp) => {
            crate::sql::window::pass(&def, lock, slot, ixp, ge, lt, window::Mode::Reload);
        }
        None => crate::xact::unload(def.id, slot), // the window's own index was dropped
    }
}

#[pg_extern(volatile, parallel_unsafe)]
fn create_index(cache: Option<&str>, index: Option<&str>, columns: Option<Vec<Option<String>>>) {
    let (cache, index, columns) = (req(cache, "cache"), req(index, "index"), req(columns, "columns"));
    shmem::header();
    crate::replication::refuse_in_recovery("create_index");
    let def = catalog::lookup_by_name(cache);
    def.check_owner("create an index on it");
    check_name("index", index);
    if catalog::is_internal_index(index) {
        fail!(ERRCODE_INVALID_PARAMETER_VALUE, "index names starting with \"_tc_\" are tablecache's own (cache \"{}\")", def.name);
    }
    if def.indexes.iter().any(|i| i.name == index) {
        fail!(ERRCODE_DUPLICATE_OBJECT, "index \"{}\" of cache \"{}\" already exists", index, def.name);
    }
    if def.indexes.len() >= shmem::MAX_INDEXES {
        fail!(ERRCODE_PROGRAM_LIMIT_EXCEEDED, "cache \"{}\" already has the maximum of {} indexes", def.name, shmem::MAX_INDEXES);
    }
    let cols: Vec<String> = columns
        .into_iter()
        .map(|c| c.unwrap_or_else(|| fail!(ERRCODE_NULL_VALUE_NOT_ALLOWED, "columns of index \"{}\" contain NULL", index)))
        .collect();
    catalog::build_index(&def, index, &cols);
    let (lock, slot) = crate::sql::window::writer(&def);
    as_catalog_owner(|| {
        Spi::run_with_args(
            "INSERT INTO tablecache.index_def (cache, name, columns, position) \
             SELECT $1, $2, $3, COALESCE(pg_catalog.max(position) OPERATOR(pg_catalog.+) 1, 1) FROM tablecache.index_def WHERE cache OPERATOR(pg_catalog.=) $1",
            &[def.name.clone().into(), index.into(), cols.into()],
        )
        .and_then(|_| {
            Spi::run_with_args(
                "UPDATE tablecache.cache_def SET version = pg_catalog.nextval('tablecache.def_version_seq') WHERE id OPERATOR(pg_catalog.=) $1",
                &[def.id.into()],
            )
        })
        .unwrap_or_else(|e| fail!(ERRCODE_INTERNAL_ERROR, "could not record index \"{}\": {}", index, e));
    });
    definitions_changed();
    reload_if_loaded(&def.name, lock, slot);
}

#[pg_extern(volatile, parallel_unsafe)]
fn drop_index(cache: Option<&str>, index: Option<&str>) {
    let (cache, index) = (req(cache, "cache"), req(index, "index"));
    shmem::header();
    crate::replication::refuse_in_recovery("drop_index");
    let def = catalog::lookup_by_name(cache);
    def.check_owner("drop its indexes");
    if index == PRIMARY_KEY || catalog::is_internal_index(index) {
        fail!(ERRCODE_INVALID_PARAMETER_VALUE, "index \"{}\" of cache \"{}\" cannot be dropped", index, def.name);
    }
    def.index_pos(index);
    let (lock, slot) = crate::sql::window::writer(&def);
    as_catalog_owner(|| {
        Spi::run_with_args(
            "DELETE FROM tablecache.index_def WHERE cache OPERATOR(pg_catalog.=) $1 AND name OPERATOR(pg_catalog.=) $2",
            &[def.name.clone().into(), index.into()],
        )
        .and_then(|_| {
            Spi::run_with_args(
                "UPDATE tablecache.cache_def SET version = pg_catalog.nextval('tablecache.def_version_seq') WHERE id OPERATOR(pg_catalog.=) $1",
                &[def.id.into()],
            )
        })
        .unwrap_or_else(|e| fail!(ERRCODE_INTERNAL_ERROR, "could not drop index \"{}\": {}", index, e));
    });
    definitions_changed();
    reload_if_loaded(&def.name, lock, slot);
}

#[pg_extern(volatile, parallel_unsafe)]
fn drop_cache(cache: Option<&str>) {
    let cache = req(cache, "cache");
    shmem::header();
    crate::replication::refuse_in_recovery("drop_cache");
    let def = catalog::lookup_by_name(cache);
    def.check_owner("drop it");
    // the writer lock first, in the order every writer takes it (then the catalog row)
    crate::sql::window::refuse_in_cache_query("drop_cache");
    crate::xact::note_writer();
    let _lock = store::lock_writer(def.id, true);
    let slot = store::find_slot(&def).unwrap_or(usize::MAX);
    as_catalog_owner(|| {
        Spi::run_with_args("DELETE FROM tablecache.cache_def WHERE id OPERATOR(pg_catalog.=) $1", &[def.id.into()])
            .unwrap_or_else(|e| fail!(ERRCODE_INTERNAL_ERROR, "could not drop cache \"{}\": {}", def.name, e));
    });
    // a cache from version 0.1.0 has a composite type of its own as its row type
    let own_row_type = (unsafe { pg_sys::typeidTypeRelid(def.rowtype) } != def.view)
        .then(|| unsafe { CStr::from_ptr(pg_sys::format_type_be_qualified(def.rowtype)) }.to_string_lossy().into_owned());
    Spi::run(&format!("DROP VIEW IF EXISTS {}", def.view_sql)).unwrap_or_else(|e| {
        fail_detail!(ERRCODE_DEPENDENT_OBJECTS_STILL_EXIST, e.to_string(), "could not drop the view of cache \"{}\"", def.name)
    });
    if let Some(t) = own_row_type {
        Spi::run(&format!("DROP TYPE IF EXISTS {t}")).unwrap_or_else(|e| {
            fail_detail!(ERRCODE_DEPENDENT_OBJECTS_STILL_EXIST, e.to_string(), "could not drop the row type of cache \"{}\"", def.name)
        });
    }
    // the memory goes when the drop commits
    crate::xact::release_at_commit(def.id, slot);
    definitions_changed();
}

/// CREATE OR REPLACE VIEW gave cache `name` a new query: checked like a new one, recorded,
/// and the cache's memory reloaded with it (published when the transaction commits).
pub fn view_replaced(name: &str) {
    definitions_changed();
    let def = catalog::lookup_by_name(name);
    // CREATE OR REPLACE VIEW resets the view's options: the cache's view runs its query with
    // its invoker's privileges (see create_cache)
    crate::guard::own_ddl(|| {
        as_catalog_owner(|| {
            Spi::run(&format!("ALTER VIEW {} SET (security_invoker = true)", def.view_sql))
                .unwrap_or_else(|e| fail!(ERRCODE_INTERNAL_ERROR, "could not restore the options of the view of cache \"{}\": {}", def.name, e));
        })
    });
    describe_query(&def.name, &format!("SELECT * FROM {}", def.view_sql));
    let (lock, slot) = crate::sql::window::writer(&def);
    as_catalog_owner(|| {
        Spi::run_with_args(
            "UPDATE tablecache.cache_def SET query = pg_catalog.pg_get_viewdef(view), version = pg_catalog.nextval('tablecache.def_version_seq') \
             WHERE id OPERATOR(pg_catalog.=) $1",
            &[def.id.into()],
        )
        .unwrap_or_else(|e| fail!(ERRCODE_INTERNAL_ERROR, "could not record the new query of cache \"{}\": {}", def.name, e));
    });
    definitions_changed();
    reload_if_loaded(&def.name, lock, slot);
}

/// Event trigger on sql_drop: a cache goes with its view (DROP VIEW, DROP TABLE ... CASCADE of a
/// base table, DROP SCHEMA ... CASCADE, DROP OWNED).
#[no_mangle]
#[pg_guard]
pub unsafe extern "C-unwind" fn tablecache_on_sql_drop(_fcinfo: pg_sys::FunctionCallInfo) -> pg_sys::Datum {
    if !shmem::is_attached() {
        return pg_sys::Datum::from(0usize);
    }
    // relations (a cache's view) and types (the row type of a cache from version 0.1.0)
    let dropped_of = |catalog: &str| -> Vec<pg_sys::Oid> {
        with_search_path(SAFE_PATH, || {
            crate::spi::select_column(
                &format!(
                    "SELECT objid FROM pg_catalog.pg_event_trigger_dropped_objects() \
                     WHERE classid OPERATOR(pg_catalog.=) 'pg_catalog.{catalog}'::pg_catalog.regclass \
                       AND objsubid OPERATOR(pg_catalog.=) 0"
                ),
                &[],
            )
        })
    };
    let views = dropped_of("pg_class");
    let types = dropped_of("pg_type");
    if views.is_empty() && types.is_empty() {
        return pg_sys::Datum::from(0usize);
    }
    let dropped: Vec<i64> = as_catalog_owner(|| {
        Spi::connect_mut(|c| {
            let mut out = Vec::new();
            if let Ok(t) = c.update(
                "DELETE FROM tablecache.cache_def WHERE view::pg_catalog.oid OPERATOR(pg_catalog.=) ANY ($1) \
                 OR rowtype::pg_catalog.oid OPERATOR(pg_catalog.=) ANY ($2) RETURNING id",
                None,
                &[views.into(), types.into()],
            ) {
                for row in t {
                    if let Ok(Some(id)) = row.get::<i64>(1) {
                        out.push(id);
                    }
                }
            }
            out
        })
    });
    for id in &dropped {
        let _lock = store::lock_writer(*id, true); // held to the end: nobody writes it meanwhile
        crate::xact::release_at_commit(*id, usize::MAX);
    }
    if !dropped.is_empty() {
        definitions_changed();
    }
    pg_sys::Datum::from(0usize)
}

crate::finfo_v1!(pg_finfo_tablecache_on_sql_drop);
