//! Defining caches and indexes. Definitions are rows of `tablecache.cache_def` and
//! `tablecache.index_def`; every change bumps the definition version (so loaded arrays built for
//! another version are never read) and the shared epoch (so other backends re-read definitions).

use crate::catalog::{self, as_catalog_owner, with_search_path, PRIMARY_KEY, SAFE_PATH};
use crate::args::req;
use crate::keys;
use crate::shmem::{self, NAME_LEN};
use crate::sql_text::{qualified_type, quote_ident};
use crate::store::{self, window};
use crate::{fail, fail_detail};
use pgrx::pg_sys;
use pgrx::prelude::*;
use std::collections::HashSet;
use std::ffi::{CStr, CString};

struct OutCol {
    name: String,
    typid: pg_sys::Oid,
    typmod: i32,
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

/// Plans the query once to learn its output columns and to refuse anything but a plain,
/// read-only, non-volatile SELECT.
fn describe_query(cache: &str, query: &str) -> Vec<OutCol> {
    let c = CString::new(query).unwrap_or_else(|_| fail!(ERRCODE_INVALID_PARAMETER_VALUE, "query of cache \"{}\" contains a NUL byte", cache));
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
                    CStr::from_ptr(pg_sys::get_rel_name(relid)).to_string_lossy()
                );
            }
        }
        let td = (*src).resultDesc;
        let mut cols = Vec::new();
        for i in 0..(*td).natts as usize {
            let att = &*(*td).attrs.as_ptr().add(i);
            cols.push(OutCol {
                name: pg_sys::name_data_to_str(&att.attname).to_string(),
                typid: att.atttypid,
                typmod: att.atttypmod,
                collation: att.attcollation,
            });
        }
        pg_sys::SPI_finish();
        cols
    }
}

fn collation_clause(coll: pg_sys::Oid, typid: pg_sys::Oid) -> String {
    if coll == pg_sys::InvalidOid || coll == unsafe { pg_sys::get_typcollation(typid) } {
        return String::new();
    }
    let name: Option<String> = with_search_path(SAFE_PATH, || {
        Spi::get_one_with_args(
            "SELECT pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(c.collname) FROM pg_catalog.pg_collation c JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.collnamespace WHERE c.oid OPERATOR(pg_catalog.=) $1",
            &[coll.into()],
        )
        .unwrap_or(None)
    });
    name.map(|n| format!(" COLLATE {n}")).unwrap_or_default()
}

fn cache_exists(name: &str) -> bool {
    with_search_path(SAFE_PATH, || {
        Spi::get_one_with_args::<bool>("SELECT EXISTS (SELECT 1 FROM tablecache.cache_def WHERE name OPERATOR(pg_catalog.=) $1)", &[name.into()])
            .unwrap_or(None)
            .unwrap_or(false)
    })
}

/// The composite type's name, always schema-qualified (a cache name with a dot names its
/// schema; otherwise the current schema), so that a cache named like a built-in type gets its
/// own type and not the built-in one.
fn type_name_sql(cache: &str) -> String {
    let mut parts: Vec<String> = Spi::get_one_with_args::<Vec<String>>("SELECT pg_catalog.parse_ident($1)", &[cache.into()])
        .unwrap_or_else(|_| fail!(ERRCODE_INVALID_NAME, "cache name \"{}\" is not a valid type name", cache))
        .unwrap_or_default();
    if parts.len() == 1 {
        let schema: Option<String> = Spi::get_one("SELECT pg_catalog.current_schema()::pg_catalog.text").ok().flatten();
        match schema {
            Some(s) => parts.insert(0, s),
            None => fail!(ERRCODE_INVALID_SCHEMA_NAME, "no schema has been selected to create the row type of cache \"{}\" in", cache),
        }
    }
    if parts.len() != 2 {
        fail!(ERRCODE_INVALID_NAME, "cache name \"{}\" must be a name or schema.name", cache);
    }
    parts.iter().map(|p| quote_ident(p)).collect::<Vec<_>>().join(".")
}

fn definitions_changed() {
    shmem::bump_def_epoch();
    catalog::forget_all();
    crate::xact::bump_epoch_at_end();
}

#[pg_extern(volatile, parallel_unsafe)]
fn create_cache(cache: Option<&str>, query: Option<&str>, primary_key: Option<Vec<Option<String>>>) {
    let (cache, query, primary_key) = (req(cache, "cache"), req(query, "query"), req(primary_key, "primary_key"));
    shmem::header();
    check_name("cache", cache);
    if cache_exists(cache) {
        fail!(ERRCODE_DUPLICATE_OBJECT, "cache \"{}\" already exists", cache);
    }
    if primary_key.is_empty() {
        fail!(ERRCODE_INVALID_PARAMETER_VALUE, "primary key of cache \"{}\" must name at least one column", cache);
    }
    let pk: Vec<String> = primary_key
        .into_iter()
        .map(|c| c.unwrap_or_else(|| fail!(ERRCODE_NULL_VALUE_NOT_ALLOWED, "primary key of cache \"{}\" contains NULL", cache)))
        .collect();
    let cols = describe_query(cache, query);
    let mut seen = HashSet::new();
    for c in &cols {
        if !seen.insert(c.name.as_str()) {
            fail!(ERRCODE_DUPLICATE_COLUMN, "query of cache \"{}\" returns column \"{}\" more than once", cache, c.name);
        }
    }
    let mut pkseen = HashSet::new();
    for k in &pk {
        let Some(col) = cols.iter().find(|c| &c.name == k) else {
            fail!(ERRCODE_UNDEFINED_COLUMN, "primary key column \"{}\" is not an output column of cache \"{}\"", k, cache);
        };
        if !pkseen.insert(k.as_str()) {
            fail!(ERRCODE_DUPLICATE_COLUMN, "column \"{}\" appears twice in the primary key of cache \"{}\"", k, cache);
        }
        if let Err((code, msg)) = keys::key_type_for(col.typid, col.collation) {
            pgrx::ereport!(ERROR, code, format!("column \"{}\" of cache \"{}\" cannot be a primary key: {}", k, cache, msg));
        }
    }
    let tname = type_name_sql(cache);
    let coldefs: Vec<String> = cols
        .iter()
        .map(|c| {
            let t = unsafe { CStr::from_ptr(pg_sys::format_type_with_typemod(c.typid, c.typmod)).to_string_lossy().into_owned() };
            format!("{} {}{}", quote_ident(&c.name), t, collation_clause(c.collation, c.typid))
        })
        .collect();
    Spi::run(&format!("CREATE TYPE {} AS ({})", tname, coldefs.join(", ")))
        .unwrap_or_else(|e| fail!(ERRCODE_INTERNAL_ERROR, "could not create the row type of cache \"{}\": {}", cache, e));
    let rowtype: pg_sys::Oid = Spi::get_one_with_args("SELECT pg_catalog.to_regtype($1)::pg_catalog.oid", &[tname.clone().into()])
        .ok()
        .flatten()
        .unwrap_or_else(|| fail!(ERRCODE_INTERNAL_ERROR, "row type of cache \"{}\" was not created", cache));
    let search_path: String = Spi::get_one("SELECT pg_catalog.current_setting('search_path')").ok().flatten().unwrap_or_default();
    let owner = unsafe { pg_sys::GetUserId() };
    let id: i64 = as_catalog_owner(|| {
        Spi::get_one_with_args::<i64>(
            "INSERT INTO tablecache.cache_def (name, query, primary_key, rowtype, owner, search_path, version) \
             VALUES ($1, $2, $3, $4::pg_catalog.oid::pg_catalog.regtype, $5::pg_catalog.oid::pg_catalog.regrole, $6, pg_catalog.nextval('tablecache.def_version_seq')) RETURNING id",
            &[cache.into(), query.into(), pk.clone().into(), rowtype.into(), owner.into(), search_path.into()],
        )
        .ok()
        .flatten()
        .unwrap_or_else(|| fail!(ERRCODE_INTERNAL_ERROR, "could not record cache \"{}\"", cache))
    });
    // if this transaction (or subtransaction) aborts, whatever was loaded for it is freed
    crate::xact::created(id);
    definitions_changed();
}

/// After an index change on a loaded cache, rebuild its arrays by reloading the same window
/// (in this transaction: the caller sees the new index at once).
fn reload_if_loaded(cache: &str) {
    let def = catalog::lookup_by_name(cache);
    if store::find_slot(&def).is_none() {
        return;
    }
    let w = store::become_writer(&def);
    if let Some((ixname, ge, lt)) = window::window_spec(w.slot) {
        let ixp = def.indexes.iter().position(|ix| ix.name == ixname);
        match ixp {
            Some(ixp) => {
                window::set_window(&def, w.slot, ixp, ge, lt, window::Mode::Reload);
            }
            None => store::unload(w.slot), // the window's own index was dropped
        }
    }
}

#[pg_extern(volatile, parallel_unsafe)]
fn create_index(cache: Option<&str>, index: Option<&str>, columns: Option<Vec<Option<String>>>) {
    let (cache, index, columns) = (req(cache, "cache"), req(index, "index"), req(columns, "columns"));
    shmem::header();
    let def = catalog::lookup_by_name(cache);
    def.check_owner("create an index on it");
    check_name("index", index);
    if def.indexes.iter().any(|i| i.name == index) {
        fail!(ERRCODE_DUPLICATE_OBJECT, "index \"{}\" of cache \"{}\" already exists", index, cache);
    }
    if def.indexes.len() >= shmem::MAX_INDEXES {
        fail!(ERRCODE_PROGRAM_LIMIT_EXCEEDED, "cache \"{}\" already has the maximum of {} indexes", cache, shmem::MAX_INDEXES);
    }
    let cols: Vec<String> = columns
        .into_iter()
        .map(|c| c.unwrap_or_else(|| fail!(ERRCODE_NULL_VALUE_NOT_ALLOWED, "columns of index \"{}\" contain NULL", index)))
        .collect();
    catalog::build_index(&def, index, &cols);
    as_catalog_owner(|| {
        Spi::run_with_args(
            "INSERT INTO tablecache.index_def (cache, name, columns, position) \
             SELECT $1, $2, $3, COALESCE(pg_catalog.max(position) OPERATOR(pg_catalog.+) 1, 1) FROM tablecache.index_def WHERE cache OPERATOR(pg_catalog.=) $1",
            &[cache.into(), index.into(), cols.into()],
        )
        .and_then(|_| {
            Spi::run_with_args(
                "UPDATE tablecache.cache_def SET version = pg_catalog.nextval('tablecache.def_version_seq') WHERE name OPERATOR(pg_catalog.=) $1",
                &[cache.into()],
            )
        })
        .unwrap_or_else(|e| fail!(ERRCODE_INTERNAL_ERROR, "could not record index \"{}\": {}", index, e));
    });
    definitions_changed();
    reload_if_loaded(cache);
}

#[pg_extern(volatile, parallel_unsafe)]
fn drop_index(cache: Option<&str>, index: Option<&str>) {
    let (cache, index) = (req(cache, "cache"), req(index, "index"));
    shmem::header();
    let def = catalog::lookup_by_name(cache);
    def.check_owner("drop its indexes");
    if index == PRIMARY_KEY {
        fail!(ERRCODE_INVALID_PARAMETER_VALUE, "index \"{}\" of cache \"{}\" cannot be dropped", index, cache);
    }
    def.index_pos(index);
    as_catalog_owner(|| {
        Spi::run_with_args(
            "DELETE FROM tablecache.index_def WHERE cache OPERATOR(pg_catalog.=) $1 AND name OPERATOR(pg_catalog.=) $2",
            &[cache.into(), index.into()],
        )
        .and_then(|_| {
            Spi::run_with_args(
                "UPDATE tablecache.cache_def SET version = pg_catalog.nextval('tablecache.def_version_seq') WHERE name OPERATOR(pg_catalog.=) $1",
                &[cache.into()],
            )
        })
        .unwrap_or_else(|e| fail!(ERRCODE_INTERNAL_ERROR, "could not drop index \"{}\": {}", index, e));
    });
    definitions_changed();
    reload_if_loaded(cache);
}

#[pg_extern(volatile, parallel_unsafe)]
fn drop_cache(cache: Option<&str>) {
    let cache = req(cache, "cache");
    shmem::header();
    let def = catalog::lookup_by_name(cache);
    def.check_owner("drop it");
    let tname = qualified_type(def.rowtype);
    as_catalog_owner(|| {
        Spi::run_with_args("DELETE FROM tablecache.cache_def WHERE name OPERATOR(pg_catalog.=) $1", &[cache.into()])
            .unwrap_or_else(|e| fail!(ERRCODE_INTERNAL_ERROR, "could not drop cache \"{}\": {}", cache, e));
    });
    Spi::run(&format!("DROP TYPE IF EXISTS {tname}")).unwrap_or_else(|e| {
        fail_detail!(ERRCODE_DEPENDENT_OBJECTS_STILL_EXIST, e.to_string(), "could not drop the row type of cache \"{}\"", cache)
    });
    if store::find_slot(&def).is_some() {
        let w = store::become_writer(&def);
        store::release_slot(w.slot);
    }
    definitions_changed();
}
