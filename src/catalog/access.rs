//! What reading a cache needs, and whether the current user has it. Reading through a cache
//! needs what running its query needs: SELECT on the tables and views the query names (columns
//! included) and EXECUTE on every function it calls — also when the answer comes from memory.
//!
//! Both lists come from what PostgreSQL stored when the cache's view was created (relations
//! resolved to OIDs), never from the query text parsed again under somebody's search_path.

use super::{acl_epoch, CacheDef};
use crate::fail;
use pgrx::pg_sys::{self, Oid};
use pgrx::prelude::*;
use std::ffi::CStr;

pub struct Needs {
    epoch: u64,
    /// RTE_RELATION entries of the stored query, at any depth (views not expanded), in the
    /// definition's memory context
    rtable: *mut pg_sys::List,
    /// every function the query calls, views expanded
    functions: Vec<Oid>,
    /// every table the query reads, views expanded (row-level security)
    pub relids: Vec<Oid>,
    /// row-level security applies to the cache's owner on one of them: the rows its query
    /// returns are what the owner's policies let through, not the query's rows
    owner_rls: bool,
    /// the tables whose writes invalidate the cache (partitions and children included, and
    /// tables with hand-written triggers), with their relkind
    written: Vec<(Oid, u8)>,
    /// tables (and their partitions) a hand-written statement-level `invalidate_trigger`
    /// follows: its event is queued only once the statement's rows are all written, after
    /// RETURNING ran; any change of them counts
    by_statement: Vec<Oid>,
}

/// The tables the cache's view reads (views it reads expanded) and their partitions and
/// inheritance children: the tables whose triggers may invalidate the cache. Taken from
/// pg_depend, so that a trigger locks nothing it did not lock already.
const TRIGGER_TABLES: &str = "
WITH RECURSIVE deps(rel) AS (
    SELECT d.refobjid FROM pg_catalog.pg_rewrite r
      JOIN pg_catalog.pg_depend d ON d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_rewrite'::pg_catalog.regclass
       AND d.objid OPERATOR(pg_catalog.=) r.oid AND d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass
     WHERE r.ev_class OPERATOR(pg_catalog.=) $1 AND d.refobjid OPERATOR(pg_catalog.<>) $1
    UNION
    SELECT d.refobjid FROM deps
      JOIN pg_catalog.pg_rewrite r ON r.ev_class OPERATOR(pg_catalog.=) deps.rel
      JOIN pg_catalog.pg_depend d ON d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_rewrite'::pg_catalog.regclass
       AND d.objid OPERATOR(pg_catalog.=) r.oid AND d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass
       AND d.refobjid OPERATOR(pg_catalog.<>) deps.rel
), tabs(rel) AS (
    SELECT rel FROM deps
    UNION
    SELECT i.inhrelid FROM tabs JOIN pg_catalog.pg_inherits i ON i.inhparent OPERATOR(pg_catalog.=) tabs.rel
)
SELECT rel FROM tabs";

#[derive(Default)]
struct Walk {
    rtes: Vec<*mut pg_sys::RangeTblEntry>,
    functions: Vec<Oid>,
    want_functions: bool,
}

#[pg_guard]
unsafe extern "C-unwind" fn on_function(func: Oid, cx: *mut std::ffi::c_void) -> bool {
    let w = unsafe { &mut *(cx as *mut Walk) };
    if !w.functions.contains(&func) {
        w.functions.push(func);
    }
    false
}

#[pg_guard]
unsafe extern "C-unwind" fn walker(node: *mut pg_sys::Node, cx: *mut std::ffi::c_void) -> bool {
    unsafe {
        if node.is_null() {
            return false;
        }
        let w = &mut *(cx as *mut Walk);
        match (*node).type_ {
            pg_sys::NodeTag::T_Query => {
                return pg_sys::query_tree_walker(node as *mut pg_sys::Query, Some(walker), cx, pg_sys::QTW_EXAMINE_RTES_BEFORE as i32);
            }
            pg_sys::NodeTag::T_RangeTblEntry => {
                let rte = node as *mut pg_sys::RangeTblEntry;
                if (*rte).rtekind == pg_sys::RTEKind::RTE_RELATION {
                    w.rtes.push(rte);
                }
                return false;
            }
            _ => {}
        }
        if w.want_functions {
            pg_sys::check_functions_in_node(node, Some(on_function), cx);
        }
        pg_sys::expression_tree_walker(node, Some(walker), cx)
    }
}

unsafe fn walk(query: *mut pg_sys::Query, want_functions: bool) -> Walk {
    let mut w = Walk { want_functions, ..Default::default() };
    unsafe {
        let q = pg_sys::copyObjectImpl(query as *const std::ffi::c_void) as *mut pg_sys::Node;
        pg_sys::fix_opfuncids(q);
        walker(q, &mut w as *mut Walk as *mut std::ffi::c_void);
    }
    w
}

fn compute(def: &CacheDef) -> Needs {
    let epoch = acl_epoch();
    let mut rtable: *mut pg_sys::List = std::ptr::null_mut();
    unsafe {
        let rel = pg_sys::try_relation_open(def.view, pg_sys::AccessShareLock as i32);
        if rel.is_null() {
            fail!(ERRCODE_UNDEFINED_OBJECT, "the view of cache \"{}\" no longer exists", def.name);
        }
        let w = walk(pg_sys::get_view_query(rel), false);
        let old = pg_sys::MemoryContextSwitchTo(def.mcx);
        for rte in w.rtes {
            let copy = pg_sys::copyObjectImpl(rte as *const std::ffi::c_void) as *mut pg_sys::RangeTblEntry;
            (*copy).checkAsUser = pg_sys::InvalidOid; // the reader, not the view's owner
            rtable = pg_sys::lappend(rtable, copy.cast());
        }
        pg_sys::MemoryContextSwitchTo(old);
        pg_sys::relation_close(rel, pg_sys::AccessShareLock as i32);
    }
    let sql = std::ffi::CString::new(format!("SELECT * FROM {}", def.view_sql)).unwrap_or_default();
    let (functions, relids, users) = def.env().run(|| unsafe {
        if pg_sys::SPI_connect() < 0 {
            fail!(ERRCODE_INTERNAL_ERROR, "SPI_connect failed");
        }
        let plan = pg_sys::SPI_prepare(sql.as_ptr(), 0, std::ptr::null_mut());
        if plan.is_null() {
            fail!(ERRCODE_INTERNAL_ERROR, "could not prepare the query of cache \"{}\"", def.name);
        }
        let mut functions = Vec::new();
        let sources = pg_sys::SPI_plan_get_plan_sources(plan);
        for i in 0..if sources.is_null() { 0 } else { (*sources).length as usize } {
            let src = (*(*sources).elements.add(i)).ptr_value as *mut pg_sys::CachedPlanSource;
            let ql = (*src).query_list;
            for k in 0..if ql.is_null() { 0 } else { (*ql).length as usize } {
                let q = (*(*ql).elements.add(k)).ptr_value as *mut pg_sys::Query;
                for f in walk(q, true).functions {
                    if !functions.contains(&f) {
                        functions.push(f);
                    }
                }
            }
        }
        let relids = super::plan_tables(plan);
        let users = super::rel::plan_table_users(plan, def.owner);
        pg_sys::SPI_finish();
        (functions, relids, users)
    });
    // (the owner's, or that of the owner of a view the table is read through)
    let owner_rls = users.iter().any(|&(r, u)| unsafe { pg_sys::check_enable_rls(r, u, true) } == pg_sys::CheckEnableRlsResult::RLS_ENABLED as i32);
    let mut tables = trigger_tables(def.view);
    for r in invalidated_tables(false) {
        if !tables.contains(&r) {
            tables.push(r);
        }
    }
    let written = tables.into_iter().map(|r| (r, unsafe { pg_sys::get_rel_relkind(r) } as u8)).collect();
    let by_statement = invalidated_tables(true);
    Needs { epoch, rtable, functions, relids, owner_rls, written, by_statement }
}

/// Tables with a hand-written `invalidate_trigger` (a version-1 cache may be invalidated from
/// a table its query reads only through a function); with $1, only statement-level ones, and
/// the partitions and children of their tables.
const INVALIDATED_TABLES: &str = "
WITH RECURSIVE t(rel) AS (
    SELECT DISTINCT t.tgrelid FROM pg_catalog.pg_trigger t
      JOIN pg_catalog.pg_proc p ON p.oid OPERATOR(pg_catalog.=) t.tgfoid
      JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) p.pronamespace
     WHERE n.nspname OPERATOR(pg_catalog.=) 'tablecache' AND p.proname OPERATOR(pg_catalog.=) 'invalidate_trigger'
       AND (NOT $1 OR (t.tgtype::pg_catalog.int4 OPERATOR(pg_catalog.&) 1) OPERATOR(pg_catalog.=) 0)
    UNION
    SELECT i.inhrelid FROM t JOIN pg_catalog.pg_inherits i ON i.inhparent OPERATOR(pg_catalog.=) t.rel WHERE $1
)
SELECT rel FROM t";

fn invalidated_tables(statement_level: bool) -> Vec<Oid> {
    crate::guard::with_latest_snapshot(|| {
        crate::guard::with_search_path(crate::guard::SAFE_PATH, || crate::spi::select_column(INVALIDATED_TABLES, &[statement_level.into()]))
    })
}

/// How many rows of `rel` this transaction has changed (PostgreSQL's per-transaction table
/// counters, kept as each row changes; a subtransaction's go when it aborts), None if none.
unsafe fn changes_here(rel: Oid) -> Option<i64> {
    unsafe {
        let t = pg_sys::find_tabstat_entry(rel);
        let mut x = if t.is_null() { std::ptr::null_mut() } else { (*t).trans };
        let mut n: i64 = 0;
        while !x.is_null() {
            n += (*x).tuples_inserted + (*x).tuples_updated + (*x).tuples_deleted + if (*x).truncdropped { 1 << 40 } else { 0 };
            x = (*x).upper;
        }
        (n > 0).then_some(n)
    }
}

thread_local! {
    /// rel -> (transaction, command, changes, pending) of the last look at its trigger events
    static PENDING: std::cell::RefCell<std::collections::HashMap<Oid, (u32, u32, i64, bool)>> = Default::default();
}

/// Is a trigger event of `rel` still to fire (or firing) in this transaction? Such a change
/// is visible to the transaction before the cache's AFTER trigger records it. Only a table
/// this transaction changed can have one; the event queue is scanned again only when rows
/// changed since the last look or a command ended (one statement that both writes the table
/// and reads the cache row by row scans it once, not once per row).
unsafe fn change_pending(rel: Oid, counted: bool, total: i64) -> bool {
    unsafe {
        if !pg_sys::pgstat_track_counts {
            return pg_sys::AfterTriggerPendingOnRel(rel);
        }
        // (a table without counters — partitioned: its statement triggers' events are its own
        // — is looked at whenever any table of the cache changed)
        let n = if counted { changes_here(rel) } else { (total > 0).then_some(total) };
        let Some(n) = n else { return false };
        let (xid, cid) = (pg_sys::GetTopTransactionIdIfAny().into_inner(), pg_sys::GetCurrentCommandId(false));
        if let Some((x, c, m, r)) = PENDING.with(|p| p.borrow().get(&rel).copied()) {
            // (an event can only be added by a row change, and the events of a statement fire
            // after it: a pending one stays pending while the command and its changes grow)
            if x == xid && c == cid && ((r && n >= m) || (!r && n == m)) {
                return r;
            }
        }
        let r = pg_sys::AfterTriggerPendingOnRel(rel);
        PENDING.with(|p| p.borrow_mut().insert(rel, (xid, cid, n, r)));
        r
    }
}

fn trigger_tables(view: Oid) -> Vec<Oid> {
    crate::guard::with_latest_snapshot(|| crate::guard::with_search_path(crate::guard::SAFE_PATH, || crate::spi::select_column(TRIGGER_TABLES, &[view.into()])))
}

impl CacheDef {
    /// Runs `f` on what reading needs, computed again when anything changed since.
    pub fn with_needs<R>(&self, f: impl FnOnce(&Needs) -> R) -> R {
        let epoch = acl_epoch();
        if self.access.borrow().as_ref().is_none_or(|n| n.epoch != epoch) {
            let n = compute(self);
            *self.access.borrow_mut() = Some(n);
        }
        f(self.access.borrow().as_ref().unwrap())
    }

    /// The first thing the current user lacks to read the cache, as a message; None if
    /// nothing.
    fn missing(&self) -> Option<String> {
        let user = unsafe { pg_sys::GetUserId() };
        self.with_needs(|n| unsafe {
            if !n.rtable.is_null() && !pg_sys::ExecCheckRTPerms(n.rtable, false) {
                return Some("reading it requires SELECT on the tables of its query".to_string());
            }
            for &f in &n.functions {
                if pg_sys::pg_proc_aclcheck(f, user, pg_sys::ACL_EXECUTE as pg_sys::AclMode) != pg_sys::AclResult::ACLCHECK_OK {
                    let name = CStr::from_ptr(pg_sys::format_procedure(f)).to_string_lossy().into_owned();
                    return Some(format!("reading it requires EXECUTE on function {name}"));
                }
            }
            None
        })
    }

    /// How a read that falls through runs its query: as the owner, like every query of the
    /// cache — but when row-level security applies (to the reader, to the owner or to the
    /// owner of a view the query reads), as the reader's own query of the view: as the reader
    /// and with its settings, as `SELECT ... FROM` the view would (policies often read
    /// settings; such answers are never shared).
    pub fn read_env(&self) -> crate::guard::QueryEnv<'_> {
        let mut env = self.env();
        if self.rls_applies() {
            env.owner = unsafe { pg_sys::GetUserId() };
            env.as_session = true;
        }
        env
    }

    /// Checks the reader's privileges; returns whether row-level security applies to it on a
    /// table of the query (then the shared rows are not for it: reads go to the database and
    /// loading or refreshing is refused). Kept per user until a relation, function or role
    /// changes anywhere, so it costs nothing on the hot path.
    fn access(&self) -> bool {
        let me = unsafe { pg_sys::GetUserId() };
        let epoch = acl_epoch();
        if let Some((u, e, rls)) = self.acl_ok.get() {
            if u == me && e == epoch {
                return rls;
            }
        }
        if let Some(why) = self.missing() {
            fail!(ERRCODE_INSUFFICIENT_PRIVILEGE, "permission denied for cache \"{}\": {}", self.name, why);
        }
        let rls = self.with_needs(|n| {
            n.owner_rls
                || n.relids
                    .iter()
                    .any(|&r| unsafe { pg_sys::check_enable_rls(r, pg_sys::InvalidOid, true) } == pg_sys::CheckEnableRlsResult::RLS_ENABLED as i32)
        });
        self.acl_ok.set(Some((me, epoch, rls)));
        rls
    }

    pub fn check_read_access(&self) {
        self.access();
    }

    pub fn rls_applies(&self) -> bool {
        self.access()
    }

    pub fn check_rls_for_write(&self) {
        self.check_owner_rls();
        if self.rls_applies() {
            fail!(
                ERRCODE_INSUFFICIENT_PRIVILEGE,
                "row-level security applies to a table of cache \"{}\" for this role; its shared rows cannot be loaded or refreshed by it",
                self.name
            );
        }
    }

    /// Refuses a writer pass when row-level security applies to the cache's owner on a table
    /// of its query (policies created after the cache): the shared rows would be the ones the
    /// owner's policies let through, served to readers whom other rows are visible to.
    pub fn check_owner_rls(&self) {
        if self.with_needs(|n| n.owner_rls) {
            fail!(
                ERRCODE_INSUFFICIENT_PRIVILEGE,
                "row-level security applies to a table of the query of cache \"{}\" for the role it is read as (the cache's owner, or the owner of a view the query reads); its shared rows cannot be loaded or refreshed",
                self.name
            );
        }
    }

    /// Has this transaction changed a row of a table whose changes invalidate the cache, whose
    /// trigger event has not fired yet? The change is visible to it before the cache's AFTER
    /// trigger records it (another AFTER trigger that fires first, a volatile function in
    /// RETURNING): such a reader reads the database.
    pub fn written_here(&self) -> bool {
        // (writing a foreign table assigns no local transaction id)
        let has_xid = unsafe { pg_sys::GetTopTransactionIdIfAny() } != pg_sys::InvalidTransactionId;
        self.with_needs(|n| unsafe {
            if !has_xid {
                return n.written.iter().any(|&(r, kind)| kind == b'f' && pg_sys::AfterTriggerPendingOnRel(r));
            }
            if n.by_statement.iter().any(|&r| changes_here(r).is_some()) {
                return true;
            }
            let total: i64 = n.written.iter().filter(|w| w.1 != b'p' && w.1 != b'f').filter_map(|w| changes_here(w.0)).sum();
            n.written.iter().any(|&(r, kind)| match kind {
                // no counters at all: its events are always looked at
                b'f' => pg_sys::AfterTriggerPendingOnRel(r),
                b'p' => change_pending(r, false, total),
                _ => change_pending(r, true, total),
            })
        })
    }

    /// May the current user read the cache? (Owner and superusers always may.)
    pub fn readable(&self) -> bool {
        unsafe {
            if pg_sys::superuser() || pg_sys::has_privs_of_role(pg_sys::GetUserId(), self.owner) {
                return true;
            }
        }
        self.missing().is_none()
    }

    /// May a trigger on `rel` invalidate this cache? Only a table its query reads (or a
    /// partition or child of one), or a table whose owner may invalidate the cache itself: a
    /// trigger elsewhere (somebody's own table pointed at another owner's cache) would let
    /// anyone force the cache to re-read its window.
    pub fn trigger_allowed(&self, rel: Oid) -> bool {
        let tables = trigger_tables(self.view);
        if tables.contains(&rel) {
            return true;
        }
        let relowner = crate::guard::rel_owner(rel);
        relowner != pg_sys::InvalidOid && unsafe { pg_sys::has_privs_of_role(relowner, self.owner) }
    }
}

/// Whether the current user may read cache `name` (for `tablecache.caches.query`).
#[pg_extern(stable, parallel_safe)]
fn may_read(name: &str) -> bool {
    if !crate::shmem::is_attached() {
        return false;
    }
    match super::try_lookup_by_name(name) {
        Some(def) => def.readable(),
        None => false,
    }
}
