//! Cache definitions: kept in the extension's catalog tables (so they survive restarts and
//! pg_dump), read into a backend-local registry that is dropped whenever any backend changes a
//! definition (the shared `def_epoch`) or the cache's view changes (its row type's typcache
//! identifier).
//!
//! A cache's query lives in a view named like the cache: PostgreSQL parses it once, with the
//! relations resolved to OIDs, records what it depends on, and gives the cache its row type.

pub mod access;
pub mod analysis;
pub mod rel;

pub use rel::{plan_tables, qualified_name};
use rel::view_query_text;
pub mod names;
mod state;
pub use state::{catalog_state, CatalogState};
use state::require_current_catalog;
#[cfg(any(test, feature = "pg_test"))]
mod access_tests;

use crate::guard::{as_catalog_owner, parse_settings, QueryEnv};
use crate::keys::{self, KeyType};
use crate::shmem;
use crate::{fail, fail_detail};
use pgrx::pg_sys::{self, Oid};
use pgrx::prelude::*;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use tablecache_core::keys::ColKind;

pub const PRIMARY_KEY: &str = "primary_key";

pub struct Column {
    pub name: String,
    pub typid: Oid,
    pub typmod: i32,
    pub collation: Oid,
}

pub struct IndexDef {
    pub name: String,
    /// 0-based attribute numbers of the key columns
    pub cols: Vec<usize>,
    pub types: Vec<KeyType>,
    pub layout: Vec<ColKind>,
    /// per column: ordered by a collation, not by its bytes
    pub collated: Vec<bool>,
    /// any column is (then keys are compared column by column, and the index has no fences)
    pub any_collated: bool,
}

impl IndexDef {
    /// Compares two encoded keys of this index in PostgreSQL's order.
    #[inline]
    pub fn cmp(&self, a: &[u8], b: &[u8]) -> std::cmp::Ordering {
        if !self.any_collated {
            return a.cmp(b);
        }
        keys::cmp_keys(&self.types, &self.layout, &self.collated, a, b)
    }

    /// `key >= ge AND key < lt` under SQL semantics (a NULL compared is unknown: not in range).
    pub fn sql_in_range(&self, key: &[u8], ge: Option<&[u8]>, lt: Option<&[u8]>) -> bool {
        tablecache_core::keys::sql_in_range_by(key, ge, lt, &self.layout, |j, x, y| keys::cmp_column(self.types[j], x, y))
    }
}

/// A base table instance of an `auto` cache: what its trigger does (see `analysis`).
pub struct InstanceDef {
    pub relid: Oid,
    /// the table's primary key columns and the columns the query reads, by name
    pub key_columns: Vec<String>,
    pub read_columns: Vec<String>,
    pub how: analysis::How,
    /// the index (`def.indexes` or, for `reread`, `def.reread`) its changes invalidate
    pub target: String,
    /// (reread) the cache's output columns a change of it can change
    pub output_columns: Vec<String>,
}

pub struct CacheDef {
    pub id: i64,
    pub name: String,
    /// 'auto' (invalidation derived from the query, triggers installed) or 'manual'
    #[allow(dead_code)]
    pub maintain: String,
    /// the lineage view (the query plus hidden key columns of its tables), and its SQL name
    pub lineage: Option<(Oid, String)>,
    /// hidden columns of the lineage view (after `columns`; index columns count across both)
    pub hidden: Vec<Column>,
    /// some stored index keys a hidden column: loads read them and form the row without them
    pub hidden_stored: bool,
    /// re-read targets: key columns of tables found through foreign keys (no memory)
    pub reread: Vec<IndexDef>,
    pub instances: Vec<InstanceDef>,
    /// the view holding the parsed query, and its name for generated SQL (`"s"."v"`)
    pub view: Oid,
    pub view_sql: String,
    pub search_path: String,
    pub settings: Vec<(String, String)>,
    /// the view's owner
    pub owner: Oid,
    /// What the cache's memory must have been built for: the definition version, the view's
    /// parsed query and the row type. Memory built for another fingerprint is never read.
    pub fingerprint: i64,
    pub rowtype: Oid,
    /// the typcache's identifier of the row type's descriptor when this definition was read
    tupdesc_id: u64,
    pub columns: Vec<Column>,
    /// index 0 is always `primary_key`
    pub indexes: Vec<IndexDef>,
    /// Blessed copy of the row type's descriptor, in `mcx`.
    pub tupdesc: pg_sys::TupleDesc,
    /// What reading needs (see `access`), computed on first use and again after any relation
    /// or role changed.
    access: RefCell<Option<access::Needs>>,
    mcx: pg_sys::MemoryContext,
    /// (slot number, incarnation) of this cache's slot, when known
    pub slot_hint: Cell<Option<(usize, u64)>>,
    /// (user, ACL epoch, row-level security applies) for which the read privilege check passed
    acl_ok: Cell<Option<(Oid, u64, bool)>>,
}

impl Drop for CacheDef {
    fn drop(&mut self) {
        unsafe { pg_sys::MemoryContextDelete(self.mcx) };
    }
}

impl CacheDef {
    pub fn index_pos(&self, name: &str) -> usize {
        match self.indexes.iter().position(|i| i.name == name) {
            Some(p) => p,
            None => fail!(ERRCODE_UNDEFINED_OBJECT, "index \"{}\" of cache \"{}\" does not exist", name, self.name),
        }
    }

    /// Managing the cache (load, adjust, invalidate, drop) is for its owner or a superuser.
    pub fn check_owner(&self, action: &str) {
        unsafe {
            if !pg_sys::superuser() && !pg_sys::has_privs_of_role(pg_sys::GetUserId(), self.owner) {
                fail!(ERRCODE_INSUFFICIENT_PRIVILEGE, "must be owner of cache \"{}\" to {}", self.name, action);
            }
        }
    }

    /// Column `attno` of the loaded rows: the row type's, then the hidden ones.
    pub fn col(&self, attno: usize) -> &Column {
        if attno < self.columns.len() {
            &self.columns[attno]
        } else {
            &self.hidden[attno - self.columns.len()]
        }
    }

    pub fn col_name(&self, attno: usize) -> &str {
        &self.col(attno).name
    }

    /// An index or re-read target by name.
    pub fn target(&self, name: &str) -> Option<&IndexDef> {
        self.indexes.iter().chain(self.reread.iter()).find(|ix| ix.name == name)
    }

    /// `SELECT ... FROM <source> q`: what writers read (the lineage view when there is one,
    /// with the hidden columns the stored indexes need).
    pub fn source_sql(&self) -> String {
        match &self.lineage {
            None => self.from_sql(),
            Some((_, sql)) => {
                let n = if self.hidden_stored { self.columns.len() + self.hidden.len() } else { self.columns.len() };
                let cols: Vec<String> = (0..n).map(|a| format!("q.{}", names::quote_ident(self.col_name(a)))).collect();
                format!("SELECT {} FROM {} q", cols.join(", "), sql)
            }
        }
    }

    /// Columns of what writers read.
    pub fn source_natts(&self) -> usize {
        if self.hidden_stored {
            self.columns.len() + self.hidden.len()
        } else {
            self.columns.len()
        }
    }

    /// How the cache's query runs (as its owner, with its settings).
    pub fn env(&self) -> QueryEnv<'_> {
        QueryEnv { owner: self.owner, search_path: &self.search_path, settings: &self.settings, as_session: false }
    }

    /// `SELECT * FROM <view> q`: the cache's query, as generated SQL starts it.
    pub fn from_sql(&self) -> String {
        format!("SELECT q.* FROM {} q", self.view_sql)
    }

    /// Is this definition still what the catalog and the view say? (A view replaced, renamed,
    /// given another owner or row type invalidates its relcache entry and so its typcache
    /// descriptor.)
    fn is_fresh(&self, type_known: bool) -> bool {
        unsafe {
            if !type_known && !pg_sys::SearchSysCacheExists(pg_sys::SysCacheIdentifier::TYPEOID as i32, self.rowtype.into(), 0.into(), 0.into(), 0.into()) {
                return false;
            }
            let te = pg_sys::lookup_type_cache(self.rowtype, pg_sys::TYPECACHE_TUPDESC as i32);
            !te.is_null() && (*te).tupDesc_identifier == self.tupdesc_id
        }
    }
}

#[pg_guard]
unsafe extern "C-unwind" fn acl_changed_rel(_arg: pg_sys::Datum, _rel: Oid) {
    ACL_EPOCH.with(|e| e.set(e.get() + 1));
}

#[pg_guard]
unsafe extern "C-unwind" fn acl_changed_sys(_arg: pg_sys::Datum, _cache: i32, _hash: u32) {
    ACL_EPOCH.with(|e| e.set(e.get() + 1));
}

/// Bumped (in this backend) whenever a relation, a function or a role changes anywhere: the
/// read privilege check is redone then.
pub fn acl_epoch() -> u64 {
    if !ACL_CALLBACKS.with(|c| c.replace(true)) {
        unsafe {
            pg_sys::CacheRegisterRelcacheCallback(Some(acl_changed_rel), pg_sys::Datum::from(0usize));
            for id in [pg_sys::SysCacheIdentifier::AUTHMEMROLEMEM, pg_sys::SysCacheIdentifier::AUTHOID, pg_sys::SysCacheIdentifier::PROCOID] {
                pg_sys::CacheRegisterSyscacheCallback(id as i32, Some(acl_changed_sys), pg_sys::Datum::from(0usize));
            }
        }
        ACL_EPOCH.with(|e| e.set(e.get() + 1));
    }
    ACL_EPOCH.with(|e| e.get())
}

struct Registry {
    epoch: u64,
    by_name: HashMap<String, Rc<CacheDef>>,
    by_type: HashMap<u32, Rc<CacheDef>>,
}

thread_local! {
    static ACL_EPOCH: Cell<u64> = const { Cell::new(0) };
    static ACL_CALLBACKS: Cell<bool> = const { Cell::new(false) };
    static REGISTRY: RefCell<Registry> = RefCell::new(Registry { epoch: u64::MAX, by_name: HashMap::new(), by_type: HashMap::new() });
}

fn fresh_registry() {
    let epoch = shmem::def_epoch();
    REGISTRY.with(|r| {
        let mut r = r.borrow_mut();
        if r.epoch != epoch {
            r.by_name.clear();
            r.by_type.clear();
            r.epoch = epoch;
        }
    });
}

/// Forget every cached definition in this backend (after this backend changed one).
pub fn forget_all() {
    REGISTRY.with(|r| {
        let mut r = r.borrow_mut();
        r.by_name.clear();
        r.by_type.clear();
        r.epoch = u64::MAX;
    });
}

fn forget(def: &CacheDef) {
    REGISTRY.with(|r| {
        let mut r = r.borrow_mut();
        r.by_name.remove(&def.name);
        r.by_type.remove(&def.rowtype.to_u32());
    });
}

/// The registry's definition if it is still fresh (`type_known`: its row type surely exists,
/// the caller holds a value of it).
fn registered(type_known: bool, find: impl FnOnce(&Registry) -> Option<Rc<CacheDef>>) -> Option<Rc<CacheDef>> {
    fresh_registry();
    let d = REGISTRY.with(|r| find(&r.borrow()))?;
    if d.is_fresh(type_known) {
        return Some(d);
    }
    forget(&d);
    None
}

pub fn lookup_by_name(name: &str) -> Rc<CacheDef> {
    match try_lookup_by_name(name) {
        Some(d) => d,
        None => fail!(ERRCODE_UNDEFINED_OBJECT, "cache \"{}\" does not exist", name),
    }
}

pub fn try_lookup_by_name(given: &str) -> Option<Rc<CacheDef>> {
    let name = names::canonical(given)?;
    if let Some(d) = registered(false, |r| r.by_name.get(&name).cloned()) {
        return Some(d);
    }
    let id: Option<i64> = as_catalog_owner(|| {
        crate::spi::select_one("SELECT id FROM tablecache.cache_def WHERE name OPERATOR(pg_catalog.=) $1", &[name.into()])
    });
    // else the name as a relation name, resolved like any other ('public.c' for the cache 'c')
    let id = id.or_else(|| {
        let rel: Option<Oid> = crate::spi::select_one("SELECT pg_catalog.to_regclass($1)::pg_catalog.oid", &[given.into()]);
        let rel = rel.filter(|&r| r != pg_sys::InvalidOid)?;
        as_catalog_owner(|| crate::spi::select_one("SELECT id FROM tablecache.cache_def WHERE view::pg_catalog.oid OPERATOR(pg_catalog.=) $1", &[rel.into()]))
    });
    id.map(load_def)
}

pub fn lookup_by_rowtype(rowtype: Oid) -> Rc<CacheDef> {
    if let Some(d) = registered(true, |r| r.by_type.get(&rowtype.to_u32()).cloned()) {
        return d;
    }
    let id: Option<i64> = as_catalog_owner(|| {
        crate::spi::select_one("SELECT id FROM tablecache.cache_def WHERE rowtype::pg_catalog.oid OPERATOR(pg_catalog.=) $1", &[rowtype.into()])
    });
    match id {
        Some(id) => load_def(id),
        None => fail!(
            ERRCODE_UNDEFINED_OBJECT,
            "type {} is not the row type of a cache (pass NULL::<cache name>)",
            keys::type_name(rowtype)
        ),
    }
}

/// 64-bit FNV-1a, for fingerprints (stable across backends and restarts).
pub fn fnv(bytes: &[u8], mut h: u64) -> u64 {
    for &b in bytes {
        h = (h ^ b as u64).wrapping_mul(0x100000001b3);
    }
    h
}

const FNV_START: u64 = 0xcbf29ce484222325;

/// The cache with id `id` (the triggers of `auto` caches name it so).
pub fn try_lookup_by_id(id: i64) -> Option<Rc<CacheDef>> {
    if let Some(d) = registered(false, |r| r.by_name.values().find(|d| d.id == id).cloned()) {
        return Some(d);
    }
    let exists: bool = as_catalog_owner(|| {
        crate::spi::select_one("SELECT EXISTS (SELECT 1 FROM tablecache.cache_def WHERE id OPERATOR(pg_catalog.=) $1)", &[id.into()])
    })
    .unwrap_or(false);
    exists.then(|| load_def(id))
}

fn load_def(id: i64) -> Rc<CacheDef> {
    require_current_catalog();
    type Row = (String, String, Oid, Oid, i64, Vec<String>, Vec<String>, String, Option<Oid>);
    let (name, search_path, view, rowtype, version, pk, settings, maintain, lineage): Row = as_catalog_owner(|| {
        Spi::connect(|c| {
            let t = c
                .select(
                    "SELECT name, search_path, view::pg_catalog.oid, rowtype::pg_catalog.oid, version, primary_key, settings, \
                            maintain, lineage::pg_catalog.oid \
                     FROM tablecache.cache_def WHERE id OPERATOR(pg_catalog.=) $1",
                    Some(1),
                    &[id.into()],
                )?
                .first();
            Ok::<_, pgrx::spi::Error>((
                t.get::<String>(1)?.unwrap_or_default(),
                t.get::<String>(2)?.unwrap_or_default(),
                t.get::<Oid>(3)?.unwrap_or(pg_sys::InvalidOid),
                t.get::<Oid>(4)?.unwrap_or(pg_sys::InvalidOid),
                t.get::<i64>(5)?.unwrap_or(0),
                t.get::<Vec<String>>(6)?.unwrap_or_default(),
                t.get::<Vec<String>>(7)?.unwrap_or_default(),
                t.get::<String>(8)?.unwrap_or_else(|| "manual".into()),
                t.get::<Oid>(9)?,
            ))
        })
        .unwrap_or_else(|e| fail!(ERRCODE_INTERNAL_ERROR, "could not read the definition of cache {}: {}", id, e))
    });
    type Lin = (i32, Oid, Vec<String>, Vec<String>, String, String, Vec<String>, Vec<String>);
    let lineage_rows: Vec<Lin> = as_catalog_owner(|| {
        Spi::connect(|c| {
            let mut out = Vec::new();
            for row in c.select(
                "SELECT instance, base_table::pg_catalog.oid, key_columns, read_columns, how, target, target_columns, output_columns FROM tablecache.lineage_def \
                 WHERE cache_id OPERATOR(pg_catalog.=) $1 ORDER BY instance",
                None,
                &[id.into()],
            )? {
                out.push((
                    row.get::<i32>(1)?.unwrap_or(0),
                    row.get::<Oid>(2)?.unwrap_or(pg_sys::InvalidOid),
                    row.get::<Vec<String>>(3)?.unwrap_or_default(),
                    row.get::<Vec<String>>(4)?.unwrap_or_default(),
                    row.get::<String>(5)?.unwrap_or_default(),
                    row.get::<String>(6)?.unwrap_or_default(),
                    row.get::<Vec<String>>(7)?.unwrap_or_default(),
                    row.get::<Vec<String>>(8)?.unwrap_or_default(),
                ));
            }
            Ok::<_, pgrx::spi::Error>(out)
        })
        .unwrap_or_else(|e| fail!(ERRCODE_INTERNAL_ERROR, "could not read the lineage of cache {}: {}", id, e))
    });
    let index_rows: Vec<(String, Vec<String>)> = as_catalog_owner(|| {
        Spi::connect(|c| {
            let mut out = Vec::new();
            for row in c.select(
                "SELECT name, columns FROM tablecache.index_def WHERE cache OPERATOR(pg_catalog.=) $1 ORDER BY position",
                None,
                &[name.clone().into()],
            )? {
                out.push((row.get::<String>(1)?.unwrap_or_default(), row.get::<Vec<String>>(2)?.unwrap_or_default()));
            }
            Ok::<_, pgrx::spi::Error>(out)
        })
        .unwrap_or_else(|e| fail!(ERRCODE_INTERNAL_ERROR, "could not read the indexes of cache \"{}\": {}", name, e))
    });
    let Some(view_text) = (unsafe { view_query_text(view) }) else {
        fail_detail!(
            ERRCODE_UNDEFINED_OBJECT,
            "drop it with tablecache.drop_cache and create it again".to_string(),
            "the view of cache \"{}\" no longer exists",
            name
        );
    };
    let view_sql = qualified_name(view);
    let mcx = unsafe {
        pg_sys::AllocSetContextCreateInternal(
            pg_sys::TopMemoryContext,
            c"tablecache definition".as_ptr(),
            pg_sys::ALLOCSET_SMALL_MINSIZE as usize,
            pg_sys::ALLOCSET_SMALL_INITSIZE as usize,
            pg_sys::ALLOCSET_SMALL_MAXSIZE as usize,
        )
    };
    let lineage = lineage.filter(|&o| o != pg_sys::InvalidOid).map(|o| (o, qualified_name(o)));
    let mut def = CacheDef {
        id,
        name: name.clone(),
        maintain,
        lineage,
        hidden: Vec::new(),
        hidden_stored: false,
        reread: Vec::new(),
        instances: Vec::new(),
        view,
        view_sql,
        search_path,
        settings: parse_settings(&settings),
        owner: crate::guard::rel_owner(view),
        fingerprint: 0,
        rowtype,
        tupdesc_id: 0,
        columns: Vec::new(),
        indexes: Vec::new(),
        tupdesc: std::ptr::null_mut(),
        access: RefCell::new(None),
        mcx,
        slot_hint: Cell::new(None),
        acl_ok: Cell::new(None),
    };
    let mut h = fnv(&version.to_le_bytes(), FNV_START);
    h = fnv(view_text.as_bytes(), h);
    unsafe {
        let te = pg_sys::lookup_type_cache(rowtype, pg_sys::TYPECACHE_TUPDESC as i32);
        def.tupdesc_id = (*te).tupDesc_identifier;
        let old = pg_sys::MemoryContextSwitchTo(mcx);
        let td = pg_sys::lookup_rowtype_tupdesc_copy(rowtype, -1);
        def.tupdesc = pg_sys::BlessTupleDesc(td);
        pg_sys::MemoryContextSwitchTo(old);
        let td = &*def.tupdesc;
        for i in 0..td.natts as usize {
            let att = &*td.attrs.as_ptr().add(i);
            if att.attisdropped {
                fail!(ERRCODE_DATATYPE_MISMATCH, "the row type of cache \"{}\" was altered; drop and create the cache again", name);
            }
            h = fnv(&att.atttypid.to_u32().to_le_bytes(), h);
            h = fnv(&att.atttypmod.to_le_bytes(), h);
            h = fnv(&att.attcollation.to_u32().to_le_bytes(), h);
            def.columns.push(Column {
                name: pg_sys::name_data_to_str(&att.attname).to_string(),
                typid: att.atttypid,
                typmod: att.atttypmod,
                collation: att.attcollation,
            });
        }
        // a cache from version 0.1.0 keeps its own composite type: its view must still produce it
        let vt = pg_sys::get_rel_type_id(view);
        if vt != rowtype {
            let td = pg_sys::lookup_rowtype_tupdesc(vt, -1);
            let same = (*td).natts as usize == def.columns.len()
                && def.columns.iter().enumerate().all(|(i, c)| {
                    let att = &*(*td).attrs.as_ptr().add(i);
                    !att.attisdropped && att.atttypid == c.typid && att.atttypmod == c.typmod && att.attcollation == c.collation
                });
            pg_sys::DecrTupleDescRefCount(td);
            if !same {
                fail!(ERRCODE_DATATYPE_MISMATCH, "the row type of cache \"{}\" no longer matches its query; drop and create the cache again", name);
            }
        }
    }
    if let Some((lv, _)) = def.lineage {
        if let Some(t) = unsafe { view_query_text(lv) } {
            h = fnv(t.as_bytes(), h);
        }
        unsafe {
            let td = pg_sys::lookup_rowtype_tupdesc(pg_sys::get_rel_type_id(lv), -1);
            for i in def.columns.len()..(*td).natts as usize {
                let att = &*(*td).attrs.as_ptr().add(i);
                def.hidden.push(Column {
                    name: pg_sys::name_data_to_str(&att.attname).to_string(),
                    typid: att.atttypid,
                    typmod: att.atttypmod,
                    collation: att.attcollation,
                });
            }
            pg_sys::DecrTupleDescRefCount(td);
        }
    }
    def.fingerprint = (h >> 1) as i64;
    let mut specs = vec![(PRIMARY_KEY.to_string(), pk)];
    specs.extend(index_rows.into_iter().filter(|(n, _)| n != PRIMARY_KEY));
    for (iname, cols) in specs {
        def.indexes.push(build_index(&def, &iname, &cols));
    }
    for (_, relid, key_columns, read_columns, how, target, target_columns, output_columns) in lineage_rows {
        let how = match how.as_str() {
            "reread" => analysis::How::Reread,
            "index" => analysis::How::Output(Vec::new()),
            "partner" => analysis::How::Partner(0, Vec::new()),
            "everything" => analysis::How::Everything,
            _ => analysis::How::Hidden,
        };
        if how == analysis::How::Reread {
            let ix = build_index(&def, &target, &target_columns);
            def.reread.push(ix);
        }
        def.instances.push(InstanceDef { relid, key_columns, read_columns, how, target, output_columns });
    }
    let n = def.columns.len();
    def.hidden_stored = def.indexes.iter().any(|ix| ix.cols.iter().any(|&c| c >= n));
    let def = Rc::new(def);
    REGISTRY.with(|r| {
        let mut r = r.borrow_mut();
        r.by_name.insert(name, def.clone());
        r.by_type.insert(rowtype.to_u32(), def.clone());
    });
    def
}

/// The lineage view's hidden column holding key column `col` of base table instance `k`.
/// (By position: a column's name can be as long as an identifier, and can be renamed.)
pub fn hidden_name(k: usize, i: usize) -> String {
    format!("tc_l{k}_{i}")
}

/// Names that tablecache keeps for its own indexes (hidden from `tablecache.caches`).
pub fn is_internal_index(name: &str) -> bool {
    name.starts_with("_tc_")
}

/// Validates index columns and derives their key encodings.
pub fn build_index(def: &CacheDef, iname: &str, cols: &[String]) -> IndexDef {
    if cols.is_empty() {
        fail!(ERRCODE_INVALID_PARAMETER_VALUE, "index \"{}\" of cache \"{}\" needs at least one column", iname, def.name);
    }
    let mut ix = IndexDef { name: iname.to_string(), cols: Vec::new(), types: Vec::new(), layout: Vec::new(), collated: Vec::new(), any_collated: false };
    for c in cols {
        let Some(attno) = def.columns.iter().chain(def.hidden.iter()).position(|col| &col.name == c) else {
            fail!(ERRCODE_UNDEFINED_COLUMN, "column \"{}\" of index \"{}\" is not an output column of cache \"{}\"", c, iname, def.name);
        };
        if ix.cols.contains(&attno) {
            fail!(ERRCODE_DUPLICATE_COLUMN, "column \"{}\" appears twice in index \"{}\" of cache \"{}\"", c, iname, def.name);
        }
        let col = def.col(attno);
        let kt = match keys::key_type_for(col.typid, col.collation) {
            Ok(kt) => kt,
            Err((code, msg)) => {
                pgrx::ereport!(ERROR, code, format!("column \"{}\" of cache \"{}\" cannot be an index key: {}", c, def.name, msg));
            }
        };
        ix.cols.push(attno);
        ix.types.push(kt);
        ix.layout.push(kt.col_kind());
        ix.collated.push(kt.is_collated());
    }
    ix.any_collated = ix.collated.iter().any(|&c| c);
    ix
}

