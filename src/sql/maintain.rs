//! Self-maintenance (`maintain => 'auto'`): what create_cache installs — the lineage view, the
//! internal indexes, the triggers on every base table — and the trigger function, which turns
//! each change of a base table row into invalidations of exactly the cached rows built from
//! it (see `catalog::analysis` for how each table finds them).

use crate::args::{self, Shape};
use crate::catalog::analysis::{self, Analysis, How};
use crate::catalog::names::quote_ident;
use crate::catalog::{self, hidden_name, CacheDef};
use crate::guard::{as_catalog_owner, with_search_path, SAFE_PATH};
use crate::shmem;
use crate::store::inval::Inval;
use crate::xact;
use crate::fail;
use pgrx::pg_sys::{self, Datum, Oid};
use pgrx::prelude::*;
use std::cell::RefCell;
use std::collections::HashMap;
use std::ffi::{CStr, CString};
use std::rc::Rc;

unsafe fn list<'a>(l: *mut pg_sys::List) -> &'a [pg_sys::ListCell] {
    unsafe {
        if l.is_null() {
            &[]
        } else {
            std::slice::from_raw_parts((*l).elements, (*l).length as usize)
        }
    }
}

fn attname(relid: Oid, attno: i16) -> String {
    unsafe { CStr::from_ptr(pg_sys::get_attname(relid, attno, false)).to_string_lossy().into_owned() }
}

/// What create_cache records for one base table instance.
pub struct Planned {
    pub k: usize,
    pub relid: Oid,
    pub key_columns: Vec<String>,
    pub read_columns: Vec<String>,
    pub how: How,
    /// the index its changes invalidate (an internal one is created when none fits)
    pub target: String,
    /// per key column: the cache column (output or hidden) it equals
    pub target_columns: Vec<String>,
    /// an internal index to create: its columns
    pub internal: Option<Vec<String>>,
    /// (re-read instances) the cache's output columns a change of it can change
    pub output_columns: Vec<String>,
}

/// The rewritten query the cache's view expands to.
unsafe fn view_subquery(view_sql: &str) -> *mut pg_sys::Query {
    let sql = CString::new(format!("SELECT * FROM {view_sql}")).unwrap_or_default();
    unsafe {
        let plan = pg_sys::SPI_prepare(sql.as_ptr(), 0, std::ptr::null_mut());
        if plan.is_null() {
            fail!(ERRCODE_INTERNAL_ERROR, "could not analyze the view {}", view_sql);
        }
        let src = list(pg_sys::SPI_plan_get_plan_sources(plan))[0].ptr_value as *mut pg_sys::CachedPlanSource;
        let top = list((*src).query_list)[0].ptr_value as *mut pg_sys::Query;
        let rte = list((*top).rtable)[0].ptr_value as *mut pg_sys::RangeTblEntry;
        if (*rte).rtekind != pg_sys::RTEKind::RTE_SUBQUERY {
            fail!(ERRCODE_INTERNAL_ERROR, "the view {} did not expand to a query", view_sql);
        }
        pg_sys::copyObjectImpl((*rte).subquery as *const std::ffi::c_void) as *mut pg_sys::Query
    }
}

/// Analyzes the query of cache `name` (view `view_sql`, output columns `cols`): what each of
/// its tables does, or the construct that keeps it from maintaining itself (0A000).
pub fn plan(name: &str, view_sql: &str, cols: &[String], pk: &[String]) -> (Vec<Planned>, Option<String>) {
    unsafe {
        if pg_sys::SPI_connect() < 0 {
            fail!(ERRCODE_INTERNAL_ERROR, "SPI_connect failed");
        }
        let q = view_subquery(view_sql);
        let a: Analysis = match analysis::analyze(q) {
            Ok(a) => a,
            Err(analysis::Refusal(what)) => crate::fail_hint!(
                ERRCODE_FEATURE_NOT_SUPPORTED,
                "Use maintain => 'manual' and invalidate it yourself (tablecache.invalidate, tablecache.invalidate_trigger).".to_string(),
                "cache \"{}\" cannot maintain itself: its query uses {}",
                name,
                what
            ),
        };
        let pk_outputs: Vec<usize> = pk.iter().filter_map(|k| cols.iter().position(|c| c == k)).collect();
        let hows = a.hows(&pk_outputs);
        let mut planned: Vec<Planned> = Vec::new();
        for (k, (inst, how)) in a.insts.iter().zip(hows).enumerate() {
            let key_columns: Vec<String> = inst.pk.iter().map(|&p| attname(inst.relid, p)).collect();
            let read_columns: Vec<String> = inst.read.iter().map(|&p| attname(inst.relid, p)).collect();
            let hidden: Vec<String> = (0..key_columns.len()).map(|i| hidden_name(k, i)).collect();
            let (target, target_columns, internal) = match &how {
                // filled in below, once the partner's target is known
                How::Partner(..) | How::Everything => (String::new(), Vec::new(), None),
                How::Reread => (format!("_tc_reread_{k}"), hidden.clone(), None),
                How::Output(outs) => {
                    let tc: Vec<String> = outs.iter().map(|&o| cols[o].clone()).collect();
                    // the primary key index when it is these columns, else an internal one
                    let is_pk = tc.len() == pk.len() && pk.iter().all(|c| tc.contains(c));
                    if is_pk {
                        (catalog::PRIMARY_KEY.to_string(), tc, None)
                    } else {
                        (format!("_tc_lineage_{k}"), tc.clone(), Some(tc))
                    }
                }
                How::Hidden => (format!("_tc_lineage_{k}"), hidden.clone(), Some(hidden.clone())),
            };
            let output_columns = if how == How::Reread { a.affected_outputs(k).into_iter().map(|o| cols[o].clone()).collect() } else { Vec::new() };
            planned.push(Planned { k, relid: inst.relid, key_columns, read_columns, how, target, target_columns, internal, output_columns });
        }
        for k in 0..planned.len() {
            if let How::Partner(p, cols) = planned[k].how.clone() {
                let inst = &a.insts[k];
                planned[k].key_columns = cols.iter().map(|&c| attname(inst.relid, c)).collect();
                planned[k].target = planned[p].target.clone();
                planned[k].target_columns = planned[p].target_columns.clone();
            }
        }
        // the lineage view: the query with the key columns of the tables that need them
        let needs: Vec<&Planned> = planned.iter().filter(|p| matches!(p.how, How::Reread | How::Hidden)).collect();
        let lineage_sql = if needs.is_empty() {
            None
        } else {
            for p in &needs {
                let inst = &a.insts[p.k];
                for (i, &attno) in inst.pk.iter().enumerate() {
                    add_hidden(q, &inst.path, attno, &hidden_name(p.k, i));
                }
            }
            let text = with_search_path("pg_catalog", || CStr::from_ptr(pg_sys::pg_get_querydef(q, false)).to_string_lossy().into_owned());
            Some(text)
        };
        pg_sys::SPI_finish();
        (planned, lineage_sql)
    }
}

/// Adds the column `attno` of the base table at `path` (rtindexes from `q` down) to the target
/// list of `q` and of every subquery between, named `name` at the top.
unsafe fn add_hidden(q: *mut pg_sys::Query, path: &[i32], attno: i16, name: &str) -> i16 {
    unsafe {
        let rti = path[0];
        let rte = list((*q).rtable)[rti as usize - 1].ptr_value as *mut pg_sys::RangeTblEntry;
        let (attno, typ, typmod, coll) = if path.len() == 1 {
            let (mut typ, mut typmod, mut coll) = (pg_sys::InvalidOid, 0, pg_sys::InvalidOid);
            pg_sys::get_atttypetypmodcoll((*rte).relid, attno, &mut typ, &mut typmod, &mut coll);
            (attno, typ, typmod, coll)
        } else {
            let sub = (*rte).subquery;
            let inner = add_hidden(sub, &path[1..], attno, name);
            let te = list((*sub).targetList)[inner as usize - 1].ptr_value as *mut pg_sys::TargetEntry;
            let e = (*te).expr as *mut pg_sys::Node;
            // the subquery's output column names, as its range table entry knows them
            let cname = CString::new(name).unwrap_or_default();
            (*(*rte).eref).colnames = pg_sys::lappend((*(*rte).eref).colnames, pg_sys::makeString(pg_sys::pstrdup(cname.as_ptr())).cast());
            (inner, pg_sys::exprType(e), pg_sys::exprTypmod(e), pg_sys::exprCollation(e))
        };
        let var = pg_sys::makeVar(rti, attno, typ, typmod, coll, 0);
        let resno = (list((*q).targetList).len() + 1) as i16;
        let cname = CString::new(name).unwrap_or_default();
        let te = pg_sys::makeTargetEntry(var.cast(), resno, pg_sys::pstrdup(cname.as_ptr()), false);
        (*q).targetList = pg_sys::lappend((*q).targetList, te.cast());
        resno
    }
}

fn qualified(relid: Oid) -> String {
    catalog::qualified_name(relid)
}

/// Creates what an `auto` cache needs once its catalog row exists: the lineage view, the
/// lineage rows and the triggers. `view` is the cache's view, `creator` the role creating it.
pub fn install(id: i64, name: &str, view: Oid, creator: Oid, planned: &[Planned], lineage_sql: Option<&str>) -> Option<Oid> {
    // the triggers: the creator must be allowed to create them
    let mut tables: Vec<Oid> = planned.iter().map(|p| p.relid).collect();
    tables.sort_by_key(|o| o.to_u32());
    tables.dedup();
    for &t in &tables {
        let ok: bool = with_search_path(SAFE_PATH, || {
            crate::spi::select_one("SELECT pg_catalog.has_table_privilege($1, $2, 'TRIGGER')", &[creator.into(), t.into()])
        })
        .unwrap_or(false);
        if !ok {
            crate::fail_hint!(
                ERRCODE_INSUFFICIENT_PRIVILEGE,
                format!("A self-maintained cache puts a trigger on every table it reads; grant TRIGGER on {} or use maintain => 'manual'.", qualified(t)),
                "permission denied to maintain cache \"{}\": creating a trigger on table {} needs the TRIGGER privilege",
                name,
                qualified(t)
            );
        }
    }
    let lineage = lineage_sql.map(|sql| {
        let lv = format!("tablecache.{}", quote_ident(&format!("lineage_{id}")));
        as_catalog_owner(|| {
            Spi::run(&format!("CREATE VIEW {lv} WITH (security_invoker = true) AS {sql}"))
                .unwrap_or_else(|e| fail!(ERRCODE_INTERNAL_ERROR, "could not create the lineage view of cache \"{}\": {}", name, e));
        });
        let oid: Oid = crate::spi::select_one("SELECT pg_catalog.to_regclass($1)::pg_catalog.oid", &[lv.clone().into()]).unwrap_or(pg_sys::InvalidOid);
        let role = crate::keys::role_name(creator);
        as_catalog_owner(|| {
            Spi::run(&format!("ALTER VIEW {lv} OWNER TO {}", quote_ident(&role)))
                .unwrap_or_else(|e| fail!(ERRCODE_INTERNAL_ERROR, "could not hand the lineage view of cache \"{}\" to its owner: {}", name, e));
        });
        depend_internal(pg_sys::RelationRelationId, oid, view);
        oid
    });
    as_catalog_owner(|| {
        for p in planned {
            let how = match p.how {
                How::Reread => "reread",
                How::Output(_) => "index",
                How::Hidden => "hidden",
                How::Partner(..) => "partner",
                How::Everything => "everything",
            };
            Spi::run_with_args(
                "INSERT INTO tablecache.lineage_def (cache_id, instance, base_table, key_columns, read_columns, how, target, target_columns, output_columns) \
                 VALUES ($1, $2, $3::pg_catalog.oid::pg_catalog.regclass, $4, $5, $6, $7, $8, $9)",
                &[
                    id.into(),
                    (p.k as i32).into(),
                    p.relid.into(),
                    p.key_columns.clone().into(),
                    p.read_columns.clone().into(),
                    how.into(),
                    p.target.clone().into(),
                    p.target_columns.clone().into(),
                    p.output_columns.clone().into(),
                ],
            )
            .unwrap_or_else(|e| fail!(ERRCODE_INTERNAL_ERROR, "could not record the lineage of cache \"{}\": {}", name, e));
            if let Some(cols) = &p.internal {
                Spi::run_with_args(
                    "INSERT INTO tablecache.index_def (cache, name, columns, position, hidden) \
                     SELECT $1, $2, $3, COALESCE(pg_catalog.max(position) OPERATOR(pg_catalog.+) 1, 1), true FROM tablecache.index_def WHERE cache OPERATOR(pg_catalog.=) $1",
                    &[name.into(), p.target.clone().into(), cols.clone().into()],
                )
                .unwrap_or_else(|e| fail!(ERRCODE_INTERNAL_ERROR, "could not record an index of cache \"{}\": {}", name, e));
            }
        }
        for &t in &tables {
            let rel = qualified(t);
            let tg = quote_ident(&format!("tablecache_{id}"));
            let tgt = quote_ident(&format!("tablecache_{id}_truncate"));
            for sql in [
                format!("CREATE TRIGGER {tg} AFTER INSERT OR UPDATE OR DELETE ON {rel} FOR EACH ROW EXECUTE FUNCTION tablecache.maintain_trigger('{id}')"),
                format!("CREATE TRIGGER {tgt} AFTER TRUNCATE ON {rel} FOR EACH STATEMENT EXECUTE FUNCTION tablecache.maintain_trigger('{id}')"),
                // fired by every writer: logical replication's apply worker too
                format!("ALTER TABLE {rel} ENABLE ALWAYS TRIGGER {tg}, ENABLE ALWAYS TRIGGER {tgt}"),
            ] {
                crate::guard::own_ddl(|| Spi::run(&sql))
                    .unwrap_or_else(|e| fail!(ERRCODE_INTERNAL_ERROR, "could not install the triggers of cache \"{}\" on {}: {}", name, rel, e));
            }
            // they go with the cache's view (drop_cache, DROP VIEW, DROP TABLE ... CASCADE)
            let trigger_oids: Vec<Oid> = crate::spi::select_column(
                "SELECT oid FROM pg_catalog.pg_trigger WHERE tgrelid OPERATOR(pg_catalog.=) $1 AND tgname OPERATOR(pg_catalog.=) ANY ($2)",
                &[t.into(), vec![format!("tablecache_{id}"), format!("tablecache_{id}_truncate")].into()],
            );
            for tr in trigger_oids {
                depend_internal(pg_sys::TriggerRelationId, tr, view);
            }
        }
    });
    lineage
}

/// `obj` is part of the cache's view: dropped with it, never on its own (DROP TRIGGER of one
/// of its triggers fails: the cache would silently stop following its table).
fn depend_internal(class: Oid, obj: Oid, view: Oid) {
    unsafe {
        let depender = pg_sys::ObjectAddress { classId: class, objectId: obj, objectSubId: 0 };
        let referenced = pg_sys::ObjectAddress { classId: pg_sys::RelationRelationId, objectId: view, objectSubId: 0 };
        pg_sys::recordDependencyOn(&depender, &referenced, pg_sys::DependencyType::DEPENDENCY_INTERNAL);
    }
}

// ---------------------------------------------------------------------------------------------
// The trigger

/// One instance of the trigger's table in the cache's query.
#[derive(Clone)]
struct InstPlan {
    reread: bool,
    /// any change of the instance re-reads the whole cache
    everything: bool,
    target: String,
    /// the table's attribute numbers giving the target's key, in the target's column order,
    /// with the cast each needs
    key: Vec<(i32, Option<Oid>)>,
    read: Vec<i32>,
}

struct TriggerPlan {
    epoch: u64,
    def: Option<Rc<CacheDef>>,
    insts: Vec<InstPlan>,
    /// the columns any instance reads (an UPDATE changing none of them changes no cached row)
    read: Vec<i32>,
    all: bool,
}

thread_local! {
    static PLANS: RefCell<HashMap<(u32, u32), Rc<TriggerPlan>>> = RefCell::new(HashMap::new());
}

/// The relation and its ancestors (a partition's parents).
fn with_ancestors(rel: Oid) -> Vec<Oid> {
    with_search_path(SAFE_PATH, || {
        crate::spi::select_column(
            "WITH RECURSIVE a(r) AS (SELECT $1::pg_catalog.oid UNION SELECT i.inhparent FROM pg_catalog.pg_inherits i JOIN a ON i.inhrelid OPERATOR(pg_catalog.=) a.r) SELECT r FROM a",
            &[rel.into()],
        )
    })
}

unsafe fn plan_for(td: *mut pg_sys::TriggerData) -> Rc<TriggerPlan> {
    unsafe {
        let trig = (*td).tg_trigger;
        let rel = (*(*td).tg_relation).rd_id;
        let key = ((*trig).tgoid.to_u32(), rel.to_u32());
        let epoch = shmem::def_epoch() ^ catalog::acl_epoch().rotate_left(32);
        if let Some(p) = PLANS.with(|p| p.borrow().get(&key).filter(|p| p.epoch == epoch).cloned()) {
            return p;
        }
        let nothing = |epoch| Rc::new(TriggerPlan { epoch, def: None, insts: Vec::new(), read: Vec::new(), all: false });
        let id: Option<i64> = ((*trig).tgnargs >= 1).then(|| CStr::from_ptr(*(*trig).tgargs).to_string_lossy().parse().ok()).flatten();
        // (a snapshot taken now: under REPEATABLE READ the transaction's own may predate the
        // cache whose trigger fires)
        let plan = crate::guard::with_latest_snapshot(|| match id.and_then(catalog::try_lookup_by_id) {
            None => nothing(epoch),
            // only on a table the cache reads (anyone may name the function in a trigger of
            // their own table: it must not let them make someone's cache re-read everything)
            Some(def) if !def.instances.iter().any(|i| with_ancestors(rel).contains(&i.relid)) => nothing(epoch),
            Some(def) => {
                let rels = with_ancestors(rel);
                let rd = (*(*td).tg_relation).rd_att;
                let attnum = |c: &str| {
                    let cs = CString::new(c).unwrap_or_default();
                    pg_sys::SPI_fnumber(rd, cs.as_ptr())
                };
                let (mut insts, mut read, mut all) = (Vec::new(), Vec::new(), false);
                let lineage = lineage_columns(def.id);
                for (inst, target_columns) in def.instances.iter().zip(lineage) {
                    if !rels.contains(&inst.relid) {
                        continue;
                    }
                    if inst.how == How::Everything {
                        let r: Vec<i32> = inst.read_columns.iter().map(|c| attnum(c)).filter(|&a| a > 0).collect();
                        read.extend(r.iter().copied());
                        // a read column it cannot find (renamed): every update counts
                        if r.len() != inst.read_columns.len() {
                            all = true;
                        }
                        insts.push(InstPlan { reread: false, everything: true, target: String::new(), key: Vec::new(), read: r });
                        continue;
                    }
                    let Some(ix) = def.target(&inst.target) else {
                        all = true;
                        continue;
                    };
                    let mut keyv = Vec::new();
                    for &c in ix.cols.iter().take(inst.key_columns.len()) {
                        let cname = def.col_name(c);
                        let Some(i) = target_columns.iter().position(|t| t == cname) else { break };
                        let a = attnum(&inst.key_columns[i]);
                        let from = pg_sys::getBaseType((*(*rd).attrs.as_ptr().add(a.max(1) as usize - 1)).atttypid);
                        let to = pg_sys::getBaseType(def.col(c).typid);
                        let cast = if from == to || pg_sys::IsBinaryCoercible(from, to) { None } else { crate::sql::inval::safe_cast(from, to) };
                        if a <= 0 || (from != to && !pg_sys::IsBinaryCoercible(from, to) && cast.is_none()) {
                            break;
                        }
                        keyv.push((a, cast));
                    }
                    if keyv.len() != inst.key_columns.len() {
                        all = true;
                        continue;
                    }
                    let r: Vec<i32> = inst.read_columns.iter().map(|c| attnum(c)).filter(|&a| a > 0).collect();
                    if r.len() != inst.read_columns.len() {
                        all = true;
                    }
                    read.extend(r.iter().copied());
                    insts.push(InstPlan { reread: inst.how == How::Reread, everything: false, target: inst.target.clone(), key: keyv, read: r });
                }
                read.sort_unstable();
                read.dedup();
                Rc::new(TriggerPlan { epoch, def: Some(def), insts, read, all })
            }
        });
        PLANS.with(|p| p.borrow_mut().insert(key, plan.clone()));
        plan
    }
}

/// Per instance, the cache columns its key columns equal (lineage_def.target_columns).
fn lineage_columns(id: i64) -> Vec<Vec<String>> {
    as_catalog_owner(|| {
        Spi::connect(|c| {
            let mut out = Vec::new();
            if let Ok(t) = c.select(
                "SELECT target_columns FROM tablecache.lineage_def WHERE cache_id OPERATOR(pg_catalog.=) $1 ORDER BY instance",
                None,
                &[id.into()],
            ) {
                for row in t {
                    out.push(row.get::<Vec<String>>(1).ok().flatten().unwrap_or_default());
                }
            }
            out
        })
    })
}

unsafe fn same(a: Datum, an: bool, b: Datum, bn: bool, att: &pg_sys::FormData_pg_attribute) -> bool {
    unsafe {
        if an || bn {
            return an == bn;
        }
        if att.attbyval {
            return a.value() == b.value();
        }
        if att.attlen > 0 {
            return std::slice::from_raw_parts(a.cast_mut_ptr::<u8>(), att.attlen as usize) == std::slice::from_raw_parts(b.cast_mut_ptr::<u8>(), att.attlen as usize);
        }
        if a.value() == b.value() {
            return true;
        }
        if att.attlen == -1 {
            let (x, y) = (pg_sys::pg_detoast_datum_packed(a.cast_mut_ptr()), pg_sys::pg_detoast_datum_packed(b.cast_mut_ptr()));
            let (lx, ly) = (pgrx::varsize_any_exhdr(x), pgrx::varsize_any_exhdr(y));
            return lx == ly && std::slice::from_raw_parts(pgrx::vardata_any(x) as *const u8, lx) == std::slice::from_raw_parts(pgrx::vardata_any(y) as *const u8, ly);
        }
        CStr::from_ptr(a.cast_mut_ptr()) == CStr::from_ptr(b.cast_mut_ptr())
    }
}

unsafe fn changed(td: pg_sys::TupleDesc, old: pg_sys::HeapTuple, new: pg_sys::HeapTuple, cols: &[i32]) -> bool {
    unsafe {
        cols.iter().any(|&a| {
            let (mut on, mut nn) = (false, false);
            let o = pg_sys::heap_getattr(old, a, td, &mut on);
            let n = pg_sys::heap_getattr(new, a, td, &mut nn);
            !same(o, on, n, nn, &*(*td).attrs.as_ptr().add(a as usize - 1))
        })
    }
}

unsafe fn key(def: &CacheDef, ix: &catalog::IndexDef, p: &InstPlan, td: pg_sys::TupleDesc, tup: pg_sys::HeapTuple) -> crate::bound::Bound {
    let mut values = Vec::with_capacity(p.key.len());
    for (j, &(a, cast)) in p.key.iter().enumerate() {
        let mut isnull = false;
        let mut d = unsafe { pg_sys::heap_getattr(tup, a, td, &mut isnull) };
        if let (Some(f), false) = (cast, isnull) {
            d = unsafe { pg_sys::OidFunctionCall1Coll(f, pg_sys::InvalidOid, d) };
        }
        values.push((d, def.col(ix.cols[j]).typid, isnull));
    }
    args::bound_from_values(def, ix, values, Shape::PrefixWithNulls, "key of a changed row")
}

crate::finfo_v1!(pg_finfo_tablecache_maintain_trigger);

/// The trigger an `auto` cache puts on each of its tables: AFTER INSERT OR UPDATE OR DELETE
/// FOR EACH ROW, and AFTER TRUNCATE. A write never fails because of it: a cache that is gone
/// is ignored, and anything it cannot follow invalidates the whole cache.
#[no_mangle]
#[pg_guard]
pub unsafe extern "C-unwind" fn tablecache_maintain_trigger(fcinfo: pg_sys::FunctionCallInfo) -> Datum {
    unsafe {
        let ctx = (*fcinfo).context;
        if ctx.is_null() || (*ctx).type_ != pg_sys::NodeTag::T_TriggerData {
            fail!(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED, "tablecache.maintain_trigger() must be called as a trigger");
        }
        let td = ctx as *mut pg_sys::TriggerData;
        let ev = (*td).tg_event;
        if !shmem::is_attached() {
            return Datum::from(0usize);
        }
        let plan = plan_for(td);
        let Some(def) = plan.def.as_ref() else { return Datum::from(0usize) };
        let info = crate::sql::inval::info(def);
        let op = ev & pg_sys::TRIGGER_EVENT_OPMASK;
        if op == pg_sys::TRIGGER_EVENT_TRUNCATE || plan.all {
            xact::add(def.id, &info, Inval::all());
            return Datum::from(0usize);
        }
        if ev & pg_sys::TRIGGER_EVENT_ROW == 0 || !xact::wants_keys(def.id) {
            return Datum::from(0usize);
        }
        let rd = (*(*td).tg_relation).rd_att;
        let (old, new) = match op {
            pg_sys::TRIGGER_EVENT_INSERT => (None, Some((*td).tg_trigtuple)),
            pg_sys::TRIGGER_EVENT_DELETE => (Some((*td).tg_trigtuple), None),
            _ => {
                let (o, n) = ((*td).tg_trigtuple, (*td).tg_newtuple);
                // an update of columns the query does not read changes no cached row
                if !changed(rd, o, n, &plan.read) {
                    return Datum::from(0usize);
                }
                (Some(o), Some(n))
            }
        };
        let is_update = old.is_some() && new.is_some();
        // replica mode (logical replication apply, or a session that set it): foreign keys are
        // not enforced, so what they guarantee cannot be relied on
        let replica = pg_sys::SessionReplicationRole == pg_sys::SESSION_REPLICATION_ROLE_REPLICA as i32;
        for p in &plan.insts {
            if is_update && !changed(rd, old.unwrap(), new.unwrap(), &p.read) {
                continue;
            }
            // (replica mode: a re-read table's own foreign key may point anywhere, even at
            // nothing, and its key may be referenced by nothing: any change re-reads all)
            if p.everything || (p.reread && replica) {
                xact::add(def.id, &info, Inval::all());
                return Datum::from(0usize);
            }
            let Some(ix) = def.target(&p.target) else { continue };
            // A table reached through a foreign key: an insert can only be a key deleted and
            // inserted again in the same statement (a NO ACTION check passes); a delete leaves
            // the cache as it is once the transaction commits (the referencing rows went too),
            // but not for the deleting transaction itself under a deferred foreign key: either
            // way the rows of the key are re-read, and the transaction reads its own changes.
            let keys: Vec<crate::bound::Bound> = [old, new].into_iter().flatten().map(|t| key(def, ix, p, rd, t)).collect();
            for (n, k) in keys.iter().enumerate() {
                if n == 1 && keys[0].key == k.key {
                    continue;
                }
                xact::add(def.id, &info, Inval::point(p.target.clone(), k.clone()));
            }
        }
        Datum::from(0usize)
    }
}
