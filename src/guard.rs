//! Running code under another identity or other settings, restored afterwards (and by
//! PostgreSQL's abort processing on ERROR: the user id, the security context and the GUC nest
//! level are all unwound by (sub)transaction abort).

use pgrx::pg_sys::{self, Oid};
use std::cell::Cell;
use std::ffi::{CStr, CString};

/// Our own catalog statements run with this path so that a hostile search_path cannot redirect
/// an operator or function.
pub const SAFE_PATH: &str = "pg_catalog, pg_temp";

thread_local! {
    static CATALOG_OWNER: Cell<Option<Oid>> = const { Cell::new(None) };
    /// How deep this backend is in cache queries (a cache's query may call functions that read
    /// caches): inside one, reads never use memory and writers are refused.
    static IN_QUERY: Cell<u32> = const { Cell::new(0) };
}

/// Is this backend running the query of a cache right now?
pub fn in_cache_query() -> bool {
    IN_QUERY.with(|d| d.get() > 0)
}

struct QueryDepth;

impl QueryDepth {
    fn enter() -> QueryDepth {
        IN_QUERY.with(|d| d.set(d.get() + 1));
        QueryDepth
    }
}

impl Drop for QueryDepth {
    fn drop(&mut self) {
        IN_QUERY.with(|d| d.set(d.get().saturating_sub(1)));
    }
}

fn current_value(name: &CStr) -> Option<String> {
    let p = unsafe { pg_sys::GetConfigOption(name.as_ptr(), true, false) };
    (!p.is_null()).then(|| unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned())
}

fn set(name: &CStr, value: Option<&CStr>) {
    unsafe {
        pg_sys::set_config_option(
            name.as_ptr(),
            value.map_or(std::ptr::null(), |v| v.as_ptr()),
            pg_sys::GucContext::PGC_USERSET,
            pg_sys::GucSource::PGC_S_SESSION,
            pg_sys::GucAction::GUC_ACTION_SAVE,
            true,
            0,
            false,
        );
    }
}

/// Runs `f` with the settings `gucs` (name, value); afterwards every setting — also any that
/// `f` changed, even for the session (`set_config(..., false)`) — is what it was before, as
/// after REFRESH MATERIALIZED VIEW. Settings that already have the wanted value are not
/// touched (setting TimeZone or search_path is not free).
pub fn with_gucs<R>(gucs: &[(&str, &str)], f: impl FnOnce() -> R) -> R {
    with_gucs_then(gucs, || {}, f)
}

fn with_gucs_then<R>(gucs: &[(&str, &str)], more: impl FnOnce(), f: impl FnOnce() -> R) -> R {
    let level = unsafe { pg_sys::NewGUCNestLevel() };
    for (name, value) in gucs {
        let name = CString::new(*name).unwrap_or_default();
        if current_value(&name).as_deref() == Some(*value) {
            continue;
        }
        let value = CString::new(*value).unwrap_or_default();
        set(&name, Some(&value));
    }
    more();
    let r = f();
    unsafe { pg_sys::AtEOXact_GUC(false, level) };
    r
}

/// Custom settings (`app.tag`) the session has set: reset for a cache's query, which must not
/// depend on who runs it.
fn reset_custom_settings() {
    unsafe {
        let vars = pg_sys::get_guc_variables();
        let n = pg_sys::GetNumConfigOptions() as usize;
        let mut names = Vec::new();
        for i in 0..n {
            let v = *vars.add(i);
            if v.is_null() {
                continue;
            }
            if (*v).flags as u32 & pg_sys::GUC_CUSTOM_PLACEHOLDER != 0 && (*v).source > pg_sys::GucSource::PGC_S_DEFAULT {
                names.push(CStr::from_ptr((*v).name).to_owned());
            }
        }
        for name in names {
            set(&name, None);
        }
    }
}

/// Runs `f` with `search_path` set to `path`.
pub fn with_search_path<R>(path: &str, f: impl FnOnce() -> R) -> R {
    with_gucs(&[("search_path", path)], f)
}

/// Runs `f` as `user` with `flags` added to the security context.
fn as_user<R>(user: Oid, flags: u32, f: impl FnOnce() -> R) -> R {
    let (mut saved_user, mut saved_ctx) = (pg_sys::InvalidOid, 0);
    unsafe {
        pg_sys::GetUserIdAndSecContext(&mut saved_user, &mut saved_ctx);
        pg_sys::SetUserIdAndSecContext(user, saved_ctx | flags as i32);
    }
    let r = f();
    unsafe { pg_sys::SetUserIdAndSecContext(saved_user, saved_ctx) };
    r
}

/// Runs catalog DML as the owner of the catalog tables (the extension's installer), so that
/// users need no direct access to them; ownership checks are done by our functions.
pub fn as_catalog_owner<R>(f: impl FnOnce() -> R) -> R {
    let owner = CATALOG_OWNER.with(|c| c.get()).unwrap_or_else(|| {
        let ns = unsafe { pg_sys::get_namespace_oid(c"tablecache".as_ptr(), true) };
        let rel = unsafe { pg_sys::get_relname_relid(c"cache_def".as_ptr(), ns) };
        let o = if rel == pg_sys::InvalidOid { unsafe { pg_sys::GetUserId() } } else { rel_owner(rel) };
        CATALOG_OWNER.with(|c| c.set(Some(o)));
        o
    });
    as_user(owner, pg_sys::SECURITY_LOCAL_USERID_CHANGE, || with_search_path(SAFE_PATH, f))
}

/// Forgets the catalog owner (the extension was dropped or re-created).
pub fn forget_catalog_owner() {
    CATALOG_OWNER.with(|c| c.set(None));
}

pub fn rel_owner(rel: Oid) -> Oid {
    unsafe {
        let t = pg_sys::RelationIdGetRelation(rel);
        if t.is_null() {
            return pg_sys::InvalidOid;
        }
        let o = (*(*t).rd_rel).relowner;
        pg_sys::RelationClose(t);
        o
    }
}

/// How a cache's query runs, whoever triggers it: as the cache's owner, in a security-restricted
/// operation (no SET ROLE, no temporary objects, no changes to session state), with the search
/// path and settings recorded when the cache was created (`pg_temp` last, so that nobody's
/// temporary objects shadow a name a function in the query looks up). Like REFRESH
/// MATERIALIZED VIEW: the rows of a cache never depend on who loaded them.
pub struct QueryEnv<'a> {
    pub owner: Oid,
    pub search_path: &'a str,
    pub settings: &'a [(String, String)],
    /// the reader's own query of the view, with its own settings (row-level security applies:
    /// its answer is never shared, and its policies may read its settings)
    pub as_session: bool,
}

impl QueryEnv<'_> {
    pub fn run<R>(&self, f: impl FnOnce() -> R) -> R {
        if self.as_session {
            let _depth = QueryDepth::enter();
            return as_user(self.owner, pg_sys::SECURITY_RESTRICTED_OPERATION | pg_sys::SECURITY_LOCAL_USERID_CHANGE, f);
        }
        let path = format!("{}, pg_temp", if self.search_path.trim().is_empty() { "pg_catalog" } else { self.search_path });
        let mut gucs: Vec<(&str, &str)> = self.settings.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        gucs.push(("search_path", &path));
        with_gucs_then(&gucs, reset_custom_settings, || {
            let _depth = QueryDepth::enter();
            as_user(self.owner, pg_sys::SECURITY_RESTRICTED_OPERATION | pg_sys::SECURITY_LOCAL_USERID_CHANGE, f)
        })
    }
}

/// Settings that change what a query computes (casts to and from text, time zones, locales,
/// how dynamic SQL in a function parses): recorded at create_cache and applied whenever the
/// cache's query runs. (Custom settings are reset instead; session properties such as
/// `session_user` stay those of the session that runs the query, as for a materialized view.)
pub const PINNED_SETTINGS: &[&str] = &[
    "DateStyle",
    "IntervalStyle",
    "TimeZone",
    "timezone_abbreviations",
    "extra_float_digits",
    "lc_monetary",
    "lc_numeric",
    "lc_time",
    "bytea_output",
    "default_text_search_config",
    "xmloption",
    "xmlbinary",
    "array_nulls",
    "standard_conforming_strings",
    "backslash_quote",
    "transform_null_equals",
    "quote_all_identifiers",
    "gin_fuzzy_search_limit",
    "row_security",
    "plpgsql.variable_conflict",
];

/// The current values of `PINNED_SETTINGS`, as `name=value`.
pub fn current_pinned_settings() -> Vec<String> {
    PINNED_SETTINGS
        .iter()
        .filter_map(|n| {
            let c = CString::new(*n).ok()?;
            current_value(&c).map(|v| format!("{n}={v}"))
        })
        .collect()
}

pub fn parse_settings(v: &[String]) -> Vec<(String, String)> {
    v.iter().filter_map(|s| s.split_once('=').map(|(a, b)| (a.to_string(), b.to_string()))).collect()
}

thread_local! {
    static OWN_DDL: Cell<bool> = const { Cell::new(false) };
}

/// Is tablecache running its own DDL on a cache's view right now (not to be refused)?
pub fn in_own_ddl() -> bool {
    OWN_DDL.with(|o| o.get())
}

/// Runs tablecache's own DDL on a cache's view (not refused). The flag is restored on the way
/// out, an ERROR included (its unwinding drops the guard).
pub fn own_ddl<R>(f: impl FnOnce() -> R) -> R {
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            OWN_DDL.with(|o| o.set(self.0));
        }
    }
    let _restore = Restore(OWN_DDL.with(|o| o.replace(true)));
    f()
}

/// Runs `f`, whose SPI queries only read (our catalog, pg_catalog), with a snapshot taken now.
/// Under REPEATABLE READ or SERIALIZABLE every query of the transaction sees its first
/// snapshot: a trigger or a DDL check would not see a cache created since, and its writes
/// would invalidate nothing although the cache's trigger fires (the relcache reads the catalog
/// as of now). PostgreSQL's own catalog lookups use a fresh snapshot for the same reason. In a
/// subtransaction that has no transaction id yet, SPI runs read-only on the active snapshot,
/// which is the one pushed here.
pub fn with_latest_snapshot<R>(f: impl FnOnce() -> R) -> R {
    unsafe {
        if pg_sys::XactIsoLevel < pg_sys::XACT_REPEATABLE_READ as i32 || pg_sys::IsInParallelMode() || !pg_sys::IsTransactionState() {
            return f();
        }
    }
    // (an ERROR's abort pops the snapshot)
    let r = subtransaction(|| unsafe {
        pg_sys::PushActiveSnapshot(pg_sys::GetLatestSnapshot());
        let r = f();
        pg_sys::PopActiveSnapshot();
        r
    });
    match r {
        Ok(v) => v,
        Err(e) => e.rethrow(),
    }
}

/// Runs `f` in an internal subtransaction: released when it returns, rolled back on an ERROR,
/// which is returned (the caller's memory context and resource owner restored either way).
pub fn subtransaction<R>(f: impl FnOnce() -> R) -> Result<R, pg_sys::panic::CaughtError> {
    let f = std::panic::AssertUnwindSafe(f);
    unsafe {
        let cx = pg_sys::CurrentMemoryContext;
        let owner = pg_sys::CurrentResourceOwner;
        pg_sys::BeginInternalSubTransaction(std::ptr::null());
        let r: Result<R, pg_sys::panic::CaughtError> = pgrx::PgTryBuilder::new(move || {
            let f = f;
            Ok((f.0)())
        })
        .catch_others(Err)
        .execute();
        if r.is_ok() {
            pg_sys::ReleaseCurrentSubTransaction();
        } else {
            pg_sys::RollbackAndReleaseCurrentSubTransaction();
        }
        pg_sys::MemoryContextSwitchTo(cx);
        pg_sys::CurrentResourceOwner = owner;
        r
    }
}

/// The report of a caught ERROR (or panic).
pub fn report_of(e: &pg_sys::panic::CaughtError) -> &pg_sys::panic::ErrorReportWithLevel {
    match e {
        pg_sys::panic::CaughtError::PostgresError(r) | pg_sys::panic::CaughtError::ErrorReport(r) => r,
        pg_sys::panic::CaughtError::RustPanic { ereport, .. } => ereport,
    }
}
