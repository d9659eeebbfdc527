//! Cache definitions: kept in the extension's catalog tables (so they survive restarts and
//! pg_dump), read into a backend-local registry that is dropped whenever any backend changes a
//! definition (the shared `def_epoch`).

use crate::keys::{self, KeyType};
use crate::shmem;
use crate::{fail, fail_detail};
use pgrx::pg_sys::{self, Oid};
use pgrx::prelude::*;
use std::cell::RefCell;
use std::collections::HashMap;
use std::ffi::CString;
use std::rc::Rc;
use tablecache_core::keys::ColKind;

pub const PRIMARY_KEY: &str = "primary_key";
/// Our own catalog statements run with this path so that a hostile search_path cannot redirect
/// an operator or function.
pub const SAFE_PATH: &str = "pg_catalog, pg_temp";

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
}

pub struct CacheDef {
    pub id: i64,
    pub name: String,
    pub query: String,
    pub search_path: String,
    pub owner: Oid,
    pub version: i64,
    pub rowtype: Oid,
    pub columns: Vec<Column>,
    /// index 0 is always `primary_key`
    pub indexes: Vec<IndexDef>,
    /// Blessed copy of the row type's descriptor, in `mcx`.
    pub tupdesc: pg_sys::TupleDesc,
    /// The rewritten query's range table, for ExecCheckRTPerms at every read; planned on first
    /// use (so a cache whose base table is gone can still be dropped).
    rtable: std::cell::Cell<Option<*mut pg_sys::List>>,
    /// Every relation the query reads (views expanded), for the row-level security check.
    relids: std::cell::RefCell<Vec<Oid>>,
    mcx: pg_sys::MemoryContext,
    /// (slot number, incarnation) of this cache's slot, when known
    pub slot_hint: std::cell::Cell<Option<(usize, u64)>>,
    /// (user, ACL epoch, row-level security applies) for which the read privilege check passed
    acl_ok: std::cell::Cell<Option<(Oid, u64, bool)>>,
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

    /// Reading through the cache needs the privileges its query needs. The answer is kept per
    /// user until a relation or role membership changes anywhere (GRANT and REVOKE invalidate
    /// the relcache), so the check costs nothing on the hot path.
    pub fn check_read_access(&self) {
        self.access();
    }

    /// Does row-level security apply to this user on a table of the query? (Policies may have
    /// been enabled after create_cache.) Then the shared rows are not for this user: reads go
    /// to the database, and loading or refreshing is refused.
    pub fn rls_applies(&self) -> bool {
        self.access()
    }

    pub fn check_rls_for_write(&self) {
        if self.rls_applies() {
            fail!(
                ERRCODE_INSUFFICIENT_PRIVILEGE,
                "row-level security applies to a table of cache \"{}\" for this role; its shared rows cannot be loaded or refreshed by it",
                self.name
            );
        }
    }

    fn access(&self) -> bool {
        let me = unsafe { pg_sys::GetUserId() };
        let epoch = acl_epoch();
        if let Some((u, e, rls)) = self.acl_ok.get() {
            if u == me && e == epoch {
                return rls;
            }
        }
        let rls = self.check_read_access_now();
        self.acl_ok.set(Some((me, epoch, rls)));
        rls
    }

    fn check_read_access_now(&self) -> bool {
        let rtable = match self.rtable.get() {
            Some(r) => r,
            None => {
                let r = plan_rtable(self);
                self.rtable.set(Some(r));
                r
            }
        };
        if rtable.is_null() {
            return false;
        }
        if !unsafe { pg_sys::ExecCheckRTPerms(rtable, false) } {
            fail!(
                ERRCODE_INSUFFICIENT_PRIVILEGE,
                "permission denied for cache \"{}\": reading it requires SELECT on the tables of its query",
                self.name
            );
        }
        self.relids
            .borrow()
            .iter()
            .any(|&r| unsafe { pg_sys::check_enable_rls(r, pg_sys::InvalidOid, true) } == pg_sys::CheckEnableRlsResult::RLS_ENABLED as i32)
    }

    /// Managing the cache (load, adjust, invalidate, drop) is for its owner or a superuser.
    pub fn check_owner(&self, action: &str) {
        unsafe {
            if !pg_sys::superuser() && !pg_sys::has_privs_of_role(pg_sys::GetUserId(), self.owner) {
                fail!(ERRCODE_INSUFFICIENT_PRIVILEGE, "must be owner of cache \"{}\" to {}", self.name, action);
            }
        }
    }

    pub fn col_name(&self, attno: usize) -> &str {
        &self.columns[attno].name
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

fn acl_epoch() -> u64 {
    if !ACL_CALLBACKS.with(|c| c.replace(true)) {
        unsafe {
            pg_sys::CacheRegisterRelcacheCallback(Some(acl_changed_rel), pg_sys::Datum::from(0usize));
            pg_sys::CacheRegisterSyscacheCallback(pg_sys::SysCacheIdentifier::AUTHMEMROLEMEM as i32, Some(acl_changed_sys), pg_sys::Datum::from(0usize));
            pg_sys::CacheRegisterSyscacheCallback(pg_sys::SysCacheIdentifier::AUTHOID as i32, Some(acl_changed_sys), pg_sys::Datum::from(0usize));
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
    static ACL_EPOCH: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
    static ACL_CALLBACKS: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    static CATALOG_OWNER: std::cell::Cell<Option<Oid>> = const { std::cell::Cell::new(None) };
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

/// Runs `f` with the settings `gucs` (name, value), restored afterwards (and by abort on
/// error, which unwinds the GUC nest level).
pub fn with_gucs<R>(gucs: &[(&str, &str)], f: impl FnOnce() -> R) -> R {
    let level = unsafe { pg_sys::NewGUCNestLevel() };
    for (name, value) in gucs {
        let name = CString::new(*name).unwrap_or_default();
        let value = CString::new(*value).unwrap_or_default();
        unsafe {
            pg_sys::set_config_option(
                name.as_ptr(),
                value.as_ptr(),
                pg_sys::GucContext::PGC_USERSET,
                pg_sys::GucSource::PGC_S_SESSION,
                pg_sys::GucAction::GUC_ACTION_SAVE,
                true,
                0,
                false,
            );
        }
    }
    let r = f();
    unsafe { pg_sys::AtEOXact_GUC(true, level) };
    r
}

/// Runs `f` with `search_path` set to `path`.
pub fn with_search_path<R>(path: &str, f: impl FnOnce() -> R) -> R {
    with_gucs(&[("search_path", path)], f)
}

/// Runs catalog DML as the owner of the catalog tables (the extension's installer), so that
/// users need no direct write access to them; ownership checks are done by our functions.
pub fn as_catalog_owner<R>(f: impl FnOnce() -> R) -> R {
    let owner = CATALOG_OWNER.with(|c| c.get()).unwrap_or_else(|| {
        let rel = unsafe { pg_sys::get_relname_relid(c"cache_def".as_ptr(), pg_sys::get_namespace_oid(c"tablecache".as_ptr(), true)) };
        let o = if rel == pg_sys::InvalidOid {
            unsafe { pg_sys::GetUserId() }
        } else {
            let t = unsafe { pg_sys::RelationIdGetRelation(rel) };
            let o = unsafe { (*(*t).rd_rel).relowner };
            unsafe { pg_sys::RelationClose(t) };
            o
        };
        CATALOG_OWNER.with(|c| c.set(Some(o)));
        o
    });
    let (mut saved_user, mut saved_ctx) = (pg_sys::InvalidOid, 0);
    unsafe {
        pg_sys::GetUserIdAndSecContext(&mut saved_user, &mut saved_ctx);
        pg_sys::SetUserIdAndSecContext(owner, saved_ctx | pg_sys::SECURITY_LOCAL_USERID_CHANGE as i32);
    }
    let r = with_search_path(SAFE_PATH, f);
    unsafe { pg_sys::SetUserIdAndSecContext(saved_user, saved_ctx) };
    r
}

// Read-only SPI helpers. pgrx's `Spi::get_*` run through its "update" path, which assigns a
// transaction id; a reader must not get one (a transaction with an xid may not refresh the
// shared cache, and it costs a WAL record at commit).
pub fn select_one<T: pgrx::FromDatum + pgrx::IntoDatum>(sql: &str, args: &[pgrx::datum::DatumWithOid]) -> Option<T> {
    Spi::connect(|c| c.select(sql, Some(1), args).ok().and_then(|t| t.first().get_one::<T>().ok().flatten()))
}

pub fn select_two<A: pgrx::FromDatum + pgrx::IntoDatum, B: pgrx::FromDatum + pgrx::IntoDatum>(
    sql: &str,
    args: &[pgrx::datum::DatumWithOid],
) -> (Option<A>, Option<B>) {
    Spi::connect(|c| c.select(sql, Some(1), args).ok().and_then(|t| t.first().get_two::<A, B>().ok()).unwrap_or((None, None)))
}

pub fn select_three<A: pgrx::FromDatum + pgrx::IntoDatum, B: pgrx::FromDatum + pgrx::IntoDatum, C: pgrx::FromDatum + pgrx::IntoDatum>(
    sql: &str,
    args: &[pgrx::datum::DatumWithOid],
) -> (Option<A>, Option<B>, Option<C>) {
    Spi::connect(|c| c.select(sql, Some(1), args).ok().and_then(|t| t.first().get_three::<A, B, C>().ok()).unwrap_or((None, None, None)))
}

pub fn lookup_by_name(name: &str) -> Rc<CacheDef> {
    match try_lookup_by_name(name) {
        Some(d) => d,
        None => fail!(ERRCODE_UNDEFINED_OBJECT, "cache \"{}\" does not exist", name),
    }
}

pub fn try_lookup_by_name(name: &str) -> Option<Rc<CacheDef>> {
    fresh_registry();
    if let Some(d) = REGISTRY.with(|r| r.borrow().by_name.get(name).cloned()) {
        return Some(d);
    }
    let id: Option<i64> = as_catalog_owner(|| {
        select_one("SELECT id FROM tablecache.cache_def WHERE name OPERATOR(pg_catalog.=) $1", &[name.into()])
    });
    id.map(load_def)
}

pub fn lookup_by_rowtype(rowtype: Oid) -> Rc<CacheDef> {
    fresh_registry();
    if let Some(d) = REGISTRY.with(|r| r.borrow().by_type.get(&rowtype.to_u32()).cloned()) {
        return d;
    }
    let id: Option<i64> = as_catalog_owner(|| {
        select_one(
            "SELECT id FROM tablecache.cache_def WHERE rowtype::pg_catalog.oid OPERATOR(pg_catalog.=) $1",
            &[rowtype.into()],
        )
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

fn load_def(id: i64) -> Rc<CacheDef> {
    type Row = (String, String, String, Oid, Oid, i64, Vec<String>);
    let (name, query, search_path, rowtype, owner, version, pk): Row = as_catalog_owner(|| {
        Spi::connect(|c| {
            let t = c
                .select(
                    "SELECT name, query, search_path, rowtype::pg_catalog.oid, owner::pg_catalog.oid, version, primary_key \
                     FROM tablecache.cache_def WHERE id OPERATOR(pg_catalog.=) $1",
                    Some(1),
                    &[id.into()],
                )?
                .first();
            Ok::<_, pgrx::spi::Error>((
                t.get::<String>(1)?.unwrap_or_default(),
                t.get::<String>(2)?.unwrap_or_default(),
                t.get::<String>(3)?.unwrap_or_default(),
                t.get::<Oid>(4)?.unwrap_or(pg_sys::InvalidOid),
                t.get::<Oid>(5)?.unwrap_or(pg_sys::InvalidOid),
                t.get::<i64>(6)?.unwrap_or(0),
                t.get::<Vec<String>>(7)?.unwrap_or_default(),
            ))
        })
        .unwrap_or_else(|e| fail!(ERRCODE_INTERNAL_ERROR, "could not read the definition of cache {}: {}", id, e))
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

    let mcx = unsafe {
        pg_sys::AllocSetContextCreateInternal(
            pg_sys::TopMemoryContext,
            c"tablecache definition".as_ptr(),
            pg_sys::ALLOCSET_SMALL_MINSIZE as usize,
            pg_sys::ALLOCSET_SMALL_INITSIZE as usize,
            pg_sys::ALLOCSET_SMALL_MAXSIZE as usize,
        )
    };
    let mut def = CacheDef {
        id,
        name: name.clone(),
        query,
        search_path,
        owner,
        version,
        rowtype,
        columns: Vec::new(),
        indexes: Vec::new(),
        tupdesc: std::ptr::null_mut(),
        rtable: std::cell::Cell::new(None),
        relids: std::cell::RefCell::new(Vec::new()),
        mcx,
        slot_hint: std::cell::Cell::new(None),
        acl_ok: std::cell::Cell::new(None),
    };
    unsafe {
        let old = pg_sys::MemoryContextSwitchTo(mcx);
        let td = pg_sys::lookup_rowtype_tupdesc_copy(rowtype, -1);
        def.tupdesc = pg_sys::BlessTupleDesc(td);
        pg_sys::MemoryContextSwitchTo(old);
        let td = &*def.tupdesc;
        for i in 0..td.natts as usize {
            let att = &*td.attrs.as_ptr().add(i);
            def.columns.push(Column {
                name: pg_sys::name_data_to_str(&att.attname).to_string(),
                typid: att.atttypid,
                typmod: att.atttypmod,
                collation: att.attcollation,
            });
        }
    }
    let mut specs = vec![(PRIMARY_KEY.to_string(), pk)];
    specs.extend(index_rows.into_iter().filter(|(n, _)| n != PRIMARY_KEY));
    for (iname, cols) in specs {
        def.indexes.push(build_index(&def, &iname, &cols));
    }
    let def = Rc::new(def);
    REGISTRY.with(|r| {
        let mut r = r.borrow_mut();
        r.by_name.insert(name, def.clone());
        r.by_type.insert(rowtype.to_u32(), def.clone());
    });
    def
}

/// Validates index columns and derives their key encodings.
pub fn build_index(def: &CacheDef, iname: &str, cols: &[String]) -> IndexDef {
    if cols.is_empty() {
        fail!(ERRCODE_INVALID_PARAMETER_VALUE, "index \"{}\" of cache \"{}\" needs at least one column", iname, def.name);
    }
    let mut ix = IndexDef { name: iname.to_string(), cols: Vec::new(), types: Vec::new(), layout: Vec::new() };
    for c in cols {
        let Some(attno) = def.columns.iter().position(|col| &col.name == c) else {
            fail!(ERRCODE_UNDEFINED_COLUMN, "column \"{}\" of index \"{}\" is not an output column of cache \"{}\"", c, iname, def.name);
        };
        if ix.cols.contains(&attno) {
            fail!(ERRCODE_DUPLICATE_COLUMN, "column \"{}\" appears twice in index \"{}\" of cache \"{}\"", c, iname, def.name);
        }
        let col = &def.columns[attno];
        let kt = match keys::key_type_for(col.typid, col.collation) {
            Ok(kt) => kt,
            Err((code, msg)) => {
                pgrx::ereport!(ERROR, code, format!("column \"{}\" of cache \"{}\" cannot be an index key: {}", c, def.name, msg));
            }
        };
        ix.cols.push(attno);
        ix.types.push(kt);
        ix.layout.push(kt.col_kind());
    }
    ix
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

fn plan_rtable(def: &CacheDef) -> *mut pg_sys::List {
    let q = CString::new(def.query.clone()).unwrap_or_default();
    with_search_path(&def.search_path, || unsafe {
        let connected = pg_sys::SPI_connect();
        if connected < 0 {
            fail!(ERRCODE_INTERNAL_ERROR, "SPI_connect failed");
        }
        let plan = pg_sys::SPI_prepare(q.as_ptr(), 0, std::ptr::null_mut());
        if plan.is_null() {
            fail_detail!(ERRCODE_INVALID_PARAMETER_VALUE, def.query.clone(), "could not prepare the query of cache \"{}\"", def.name);
        }
        let sources = pg_sys::SPI_plan_get_plan_sources(plan);
        let mut out: *mut pg_sys::List = std::ptr::null_mut();
        if !sources.is_null() && (*sources).length > 0 {
            let src = (*(*sources).elements).ptr_value as *mut pg_sys::CachedPlanSource;
            let ql = (*src).query_list;
            if !ql.is_null() && (*ql).length > 0 {
                let query = (*(*ql).elements).ptr_value as *mut pg_sys::Query;
                let old = pg_sys::MemoryContextSwitchTo(def.mcx);
                out = pg_sys::copyObjectImpl((*query).rtable.cast()) as *mut pg_sys::List;
                pg_sys::MemoryContextSwitchTo(old);
            }
            *def.relids.borrow_mut() = plan_tables(plan);
        }
        pg_sys::SPI_finish();
        out
    })
}
