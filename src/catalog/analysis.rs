//! Deriving a cache's invalidation from its query (`maintain => 'auto'`).
//!
//! The cache's view, rewritten (views it reads expanded), is walked along its join tree: every
//! base table instance, the columns the query reads of it, the join conditions and filters.
//! Each instance gets a way for a change of one of its rows to find the cached rows built
//! from it:
//! - `Reread`: the instance is reached through a validated foreign key onto its primary key,
//!   and nothing else in the query tests its columns but foreign-key joins: a change of it can
//!   change cached rows' values but never make one appear or disappear (the key it is joined on
//!   cannot change or vanish while referenced). Re-reading the rows built from it (a hidden
//!   column of the lineage view holds its key) is enough; it costs no memory. Inserts and
//!   deletes of it cannot affect the cache at all.
//! - `Index`: its primary key is (equal to) output columns that lead an index of the cache:
//!   the old rows are found in that index, the new ones re-read through it.
//! - `Hidden`: else its key is a hidden column of the lineage view, kept with every cached row
//!   in an internal index.

use pgrx::pg_sys::{self, NodeTag, Oid};
use std::collections::BTreeSet;
use std::ffi::CStr;

/// Why a query cannot maintain itself (the message names the construct).
pub struct Refusal(pub String);

type R<T> = Result<T, Refusal>;

fn refuse<T>(what: impl Into<String>) -> R<T> {
    Err(Refusal(what.into()))
}

/// A base table instance of the query.
pub struct Inst {
    pub relid: Oid,
    /// rtindexes from the view's query down to the one holding this table
    pub path: Vec<i32>,
    pub nullable: bool,
    /// primary key attribute numbers, in key order
    pub pk: Vec<i16>,
    /// attribute numbers the query reads (a whole-row reference reads them all)
    pub read: BTreeSet<i16>,
}

/// A column of a base table instance.
type Col = (usize, i16);

/// One AND-ed condition of a join or WHERE clause.
struct Conj {
    /// instances whose columns it mentions
    refs: BTreeSet<usize>,
    /// `a = b` between two plain columns with a mergejoinable equality operator
    eq: Option<(Col, Col)>,
}

pub struct Analysis {
    pub insts: Vec<Inst>,
    /// per output column of the cache: the base column it is, when it is a plain column
    pub outputs: Vec<Option<Col>>,
    conjs: Vec<Conj>,
}

unsafe fn list<'a>(l: *mut pg_sys::List) -> &'a [pg_sys::ListCell] {
    unsafe {
        if l.is_null() {
            &[]
        } else {
            std::slice::from_raw_parts((*l).elements, (*l).length as usize)
        }
    }
}

unsafe fn rte(q: *mut pg_sys::Query, rti: i32) -> *mut pg_sys::RangeTblEntry {
    unsafe { list((*q).rtable)[rti as usize - 1].ptr_value as *mut pg_sys::RangeTblEntry }
}

unsafe fn strip(mut n: *mut pg_sys::Node) -> *mut pg_sys::Node {
    unsafe {
        while !n.is_null() && (*n).type_ == NodeTag::T_RelabelType {
            n = (*(n as *mut pg_sys::RelabelType)).arg as *mut pg_sys::Node;
        }
        n
    }
}

fn relname(relid: Oid) -> String {
    unsafe {
        let p = pg_sys::get_rel_name(relid);
        if p.is_null() {
            format!("{}", relid.to_u32())
        } else {
            CStr::from_ptr(p).to_string_lossy().into_owned()
        }
    }
}

fn natts(relid: Oid) -> i16 {
    unsafe {
        let rel = pg_sys::relation_open(relid, pg_sys::AccessShareLock as i32);
        let n = (*(*rel).rd_att).natts as i16;
        pg_sys::relation_close(rel, pg_sys::AccessShareLock as i32);
        n
    }
}

/// The primary key columns of a table, in key order (None: it has none).
fn primary_key(relid: Oid) -> Option<Vec<i16>> {
    unsafe {
        let rel = pg_sys::relation_open(relid, pg_sys::AccessShareLock as i32);
        let pkidx = pg_sys::RelationGetPrimaryKeyIndex(rel);
        pg_sys::relation_close(rel, pg_sys::AccessShareLock as i32);
        if pkidx == pg_sys::InvalidOid {
            return None;
        }
        let idx = pg_sys::index_open(pkidx, pg_sys::AccessShareLock as i32);
        let form = (*idx).rd_index;
        let n = (*form).indnkeyatts as usize;
        let keys = (*form).indkey.values.as_slice(n).to_vec();
        pg_sys::index_close(idx, pg_sys::AccessShareLock as i32);
        Some(keys)
    }
}

/// The first function of `node` (a query or expression) that is not immutable, by name.
fn mutable_function(node: *mut pg_sys::Node) -> Option<String> {
    #[pgrx::pg_guard]
    unsafe extern "C-unwind" fn check(func: Oid, cx: *mut std::ffi::c_void) -> bool {
        unsafe {
            if pg_sys::func_volatile(func) as u8 != pg_sys::PROVOLATILE_IMMUTABLE {
                *(cx as *mut Oid) = func;
                return true;
            }
        }
        false
    }
    #[pgrx::pg_guard]
    unsafe extern "C-unwind" fn walker(node: *mut pg_sys::Node, cx: *mut std::ffi::c_void) -> bool {
        unsafe {
            if node.is_null() {
                return false;
            }
            if (*node).type_ == NodeTag::T_Query {
                return pg_sys::query_tree_walker(node as *mut pg_sys::Query, Some(walker), cx, 0);
            }
            if pg_sys::check_functions_in_node(node, Some(check), cx) {
                return true;
            }
            pg_sys::expression_tree_walker(node, Some(walker), cx)
        }
    }
    let mut found = pg_sys::InvalidOid;
    unsafe {
        let copy = pg_sys::copyObjectImpl(node as *const std::ffi::c_void) as *mut pg_sys::Node;
        pg_sys::fix_opfuncids(copy);
        walker(copy, &mut found as *mut Oid as *mut std::ffi::c_void);
    }
    (found != pg_sys::InvalidOid).then(|| unsafe { CStr::from_ptr(pg_sys::format_procedure(found)).to_string_lossy().into_owned() })
}

/// The shape refusals of one query level.
unsafe fn check_shape(q: *mut pg_sys::Query) -> R<()> {
    unsafe {
        let q = &*q;
        let bad = if q.hasAggs || !q.groupClause.is_null() || !q.havingQual.is_null() || !q.groupingSets.is_null() {
            Some("aggregates or GROUP BY")
        } else if q.hasWindowFuncs {
            Some("window functions")
        } else if !q.distinctClause.is_null() {
            Some("DISTINCT")
        } else if !q.setOperations.is_null() {
            Some("UNION, INTERSECT or EXCEPT")
        } else if !q.limitCount.is_null() || !q.limitOffset.is_null() {
            Some("LIMIT or OFFSET")
        } else if !q.rowMarks.is_null() || q.hasForUpdate {
            Some("FOR UPDATE / FOR SHARE")
        } else if q.hasTargetSRFs {
            Some("set-returning functions in the select list")
        } else if !q.cteList.is_null() {
            Some("WITH queries")
        } else if q.hasSubLinks {
            Some("subqueries in expressions (IN, EXISTS, scalar subqueries)")
        } else {
            None
        };
        match bad {
            Some(b) => refuse(b),
            None => Ok(()),
        }
    }
}

struct Walk {
    insts: Vec<Inst>,
    conjs: Vec<Conj>,
}

impl Walk {
    fn inst_at(&self, path: &[i32]) -> Option<usize> {
        self.insts.iter().position(|i| i.path == path)
    }

    /// Every instance under `path` (a subquery): an expression over its output may read any.
    fn under(&self, path: &[i32]) -> BTreeSet<usize> {
        (0..self.insts.len()).filter(|&k| self.insts[k].path.starts_with(path)).collect()
    }

    /// What a column reference of query `q` (at `path`) is: a base column, or (an expression
    /// over) some instances' columns.
    unsafe fn resolve(&self, q: *mut pg_sys::Query, path: &[i32], varno: i32, attno: i16) -> (Option<Col>, BTreeSet<usize>) {
        unsafe {
            let e = rte(q, varno);
            let mut sub = path.to_vec();
            sub.push(varno);
            match (*e).rtekind {
                pg_sys::RTEKind::RTE_RELATION => match self.inst_at(&sub) {
                    Some(k) => (Some((k, attno)), BTreeSet::from([k])),
                    None => (None, BTreeSet::new()),
                },
                pg_sys::RTEKind::RTE_SUBQUERY => {
                    let sq = (*e).subquery;
                    if attno <= 0 {
                        return (None, self.under(&sub));
                    }
                    let te = list((*sq).targetList)[attno as usize - 1].ptr_value as *mut pg_sys::TargetEntry;
                    let x = strip((*te).expr as *mut pg_sys::Node);
                    if !x.is_null() && (*x).type_ == NodeTag::T_Var && (*(x as *mut pg_sys::Var)).varlevelsup == 0 {
                        let v = x as *mut pg_sys::Var;
                        self.resolve(sq, &sub, (*v).varno, (*v).varattno)
                    } else {
                        (None, self.under(&sub))
                    }
                }
                pg_sys::RTEKind::RTE_JOIN => {
                    if attno <= 0 {
                        return (None, self.under(path));
                    }
                    let x = strip(list((*e).joinaliasvars)[attno as usize - 1].ptr_value as *mut pg_sys::Node);
                    if !x.is_null() && (*x).type_ == NodeTag::T_Var {
                        let v = x as *mut pg_sys::Var;
                        self.resolve(q, path, (*v).varno, (*v).varattno)
                    } else {
                        let mut refs = BTreeSet::new();
                        self.vars(q, path, x, &mut |_, r| refs.extend(r));
                        (None, refs)
                    }
                }
                _ => (None, BTreeSet::new()),
            }
        }
    }

    /// Calls `f` for every column reference in expression `node` of query `q` (at `path`).
    unsafe fn vars(&self, q: *mut pg_sys::Query, path: &[i32], node: *mut pg_sys::Node, f: &mut dyn FnMut(Option<Col>, BTreeSet<usize>)) {
        struct Cx<'a> {
            found: Vec<(i32, i16)>,
            _p: std::marker::PhantomData<&'a ()>,
        }
        #[pgrx::pg_guard]
        unsafe extern "C-unwind" fn walker(node: *mut pg_sys::Node, cx: *mut std::ffi::c_void) -> bool {
            unsafe {
                if node.is_null() {
                    return false;
                }
                if (*node).type_ == NodeTag::T_Var {
                    let v = node as *mut pg_sys::Var;
                    if (*v).varlevelsup == 0 {
                        (*(cx as *mut Cx)).found.push(((*v).varno, (*v).varattno));
                    }
                    return false;
                }
                pg_sys::expression_tree_walker(node, Some(walker), cx)
            }
        }
        let mut cx = Cx { found: Vec::new(), _p: std::marker::PhantomData };
        unsafe { walker(node, &mut cx as *mut Cx as *mut std::ffi::c_void) };
        for (varno, attno) in cx.found {
            let (col, refs) = unsafe { self.resolve(q, path, varno, attno) };
            f(col, refs);
        }
    }

    /// Collects the base instances of query `q` (at `path`), recursing into subqueries.
    unsafe fn collect(&mut self, q: *mut pg_sys::Query, path: &[i32]) -> R<()> {
        unsafe {
            check_shape(q)?;
            self.from_node((*q).jointree as *mut pg_sys::Node, q, path, false)
        }
    }

    unsafe fn from_node(&mut self, n: *mut pg_sys::Node, q: *mut pg_sys::Query, path: &[i32], nullable: bool) -> R<()> {
        unsafe {
            if n.is_null() {
                return Ok(());
            }
            match (*n).type_ {
                NodeTag::T_FromExpr => {
                    for c in list((*(n as *mut pg_sys::FromExpr)).fromlist) {
                        self.from_node(c.ptr_value as *mut pg_sys::Node, q, path, nullable)?;
                    }
                    Ok(())
                }
                NodeTag::T_JoinExpr => {
                    let j = n as *mut pg_sys::JoinExpr;
                    let (ln, rn) = match (*j).jointype {
                        pg_sys::JoinType::JOIN_INNER => (false, false),
                        pg_sys::JoinType::JOIN_LEFT => (false, true),
                        pg_sys::JoinType::JOIN_RIGHT => (true, false),
                        pg_sys::JoinType::JOIN_FULL => (true, true),
                        _ => return refuse("semi or anti joins"),
                    };
                    self.from_node((*j).larg, q, path, nullable || ln)?;
                    self.from_node((*j).rarg, q, path, nullable || rn)
                }
                NodeTag::T_RangeTblRef => {
                    let rti = (*(n as *mut pg_sys::RangeTblRef)).rtindex;
                    let e = rte(q, rti);
                    let mut sub = path.to_vec();
                    sub.push(rti);
                    if !(*e).tablesample.is_null() {
                        return refuse("TABLESAMPLE");
                    }
                    match (*e).rtekind {
                        pg_sys::RTEKind::RTE_RELATION => {
                            let kind = (*e).relkind as u8;
                            match kind {
                                pg_sys::RELKIND_RELATION | pg_sys::RELKIND_PARTITIONED_TABLE => {}
                                pg_sys::RELKIND_FOREIGN_TABLE => return refuse(format!("foreign table {}", relname((*e).relid))),
                                pg_sys::RELKIND_MATVIEW => return refuse(format!("materialized view {}", relname((*e).relid))),
                                _ => return refuse(format!("relation {} (not a table)", relname((*e).relid))),
                            }
                            // writes to an inheritance child do not fire its parent's triggers
                            if kind == pg_sys::RELKIND_RELATION && (*e).inh && super::rel::has_children((*e).relid) {
                                return refuse(format!("table {} with inheritance children (read it with ONLY)", relname((*e).relid)));
                            }
                            let Some(pk) = primary_key((*e).relid) else {
                                return refuse(format!("table {} without a primary key", relname((*e).relid)));
                            };
                            self.insts.push(Inst { relid: (*e).relid, path: sub, nullable, pk, read: BTreeSet::new() });
                            Ok(())
                        }
                        pg_sys::RTEKind::RTE_SUBQUERY => self.collect((*e).subquery, &sub),
                        pg_sys::RTEKind::RTE_FUNCTION | pg_sys::RTEKind::RTE_TABLEFUNC => refuse("functions in FROM"),
                        pg_sys::RTEKind::RTE_VALUES => refuse("VALUES in FROM"),
                        pg_sys::RTEKind::RTE_CTE => refuse("WITH queries"),
                        _ => refuse("this kind of FROM item"),
                    }
                }
                _ => refuse("this kind of FROM item"),
            }
        }
    }

    /// The conditions and column reads of query `q` (at `path`) and its subqueries.
    unsafe fn conditions(&mut self, q: *mut pg_sys::Query, path: &[i32]) {
        unsafe {
            for c in list((*q).targetList) {
                let te = c.ptr_value as *mut pg_sys::TargetEntry;
                self.note_reads(q, path, (*te).expr as *mut pg_sys::Node);
            }
            self.quals_of((*q).jointree as *mut pg_sys::Node, q, path);
            for (k, c) in list((*q).rtable).iter().enumerate() {
                let e = c.ptr_value as *mut pg_sys::RangeTblEntry;
                if (*e).rtekind == pg_sys::RTEKind::RTE_SUBQUERY {
                    let mut sub = path.to_vec();
                    sub.push(k as i32 + 1);
                    if !self.under(&sub).is_empty() {
                        self.conditions((*e).subquery, &sub);
                    }
                }
            }
        }
    }

    unsafe fn note_reads(&mut self, q: *mut pg_sys::Query, path: &[i32], node: *mut pg_sys::Node) {
        let mut reads: Vec<(usize, Option<i16>)> = Vec::new();
        unsafe {
            self.vars(q, path, node, &mut |col, refs| match col {
                Some((k, a)) => reads.push((k, Some(a))),
                None => reads.extend(refs.into_iter().map(|k| (k, None))),
            })
        };
        for (k, a) in reads {
            match a {
                Some(a) if a > 0 => {
                    self.insts[k].read.insert(a);
                }
                // a whole-row reference, or an expression over a subquery: every column
                _ => {
                    let n = natts(self.insts[k].relid);
                    self.insts[k].read.extend(1..=n);
                }
            }
        }
    }

    unsafe fn quals_of(&mut self, n: *mut pg_sys::Node, q: *mut pg_sys::Query, path: &[i32]) {
        unsafe {
            if n.is_null() {
                return;
            }
            let (quals, kids): (*mut pg_sys::Node, Vec<*mut pg_sys::Node>) = match (*n).type_ {
                NodeTag::T_FromExpr => {
                    let f = n as *mut pg_sys::FromExpr;
                    ((*f).quals, list((*f).fromlist).iter().map(|c| c.ptr_value as *mut pg_sys::Node).collect())
                }
                NodeTag::T_JoinExpr => {
                    let j = n as *mut pg_sys::JoinExpr;
                    ((*j).quals, vec![(*j).larg, (*j).rarg])
                }
                _ => return,
            };
            for k in kids {
                self.quals_of(k, q, path);
            }
            if quals.is_null() {
                return;
            }
            self.note_reads(q, path, quals);
            for c in list(pg_sys::make_ands_implicit(quals as *mut pg_sys::Expr)) {
                let conj = c.ptr_value as *mut pg_sys::Node;
                let mut refs = BTreeSet::new();
                self.vars(q, path, conj, &mut |_, r| refs.extend(r));
                let mut eq = None;
                if (*conj).type_ == NodeTag::T_OpExpr {
                    let op = conj as *mut pg_sys::OpExpr;
                    let args = list((*op).args);
                    if args.len() == 2 {
                        let (a, b) = (strip(args[0].ptr_value as *mut pg_sys::Node), strip(args[1].ptr_value as *mut pg_sys::Node));
                        let is_var = |x: *mut pg_sys::Node| !x.is_null() && (*x).type_ == NodeTag::T_Var && (*(x as *mut pg_sys::Var)).varlevelsup == 0;
                        if is_var(a) && is_var(b) && pg_sys::op_mergejoinable((*op).opno, pg_sys::exprType(a)) {
                            let (va, vb) = (a as *mut pg_sys::Var, b as *mut pg_sys::Var);
                            if let ((Some(x), _), (Some(y), _)) = (self.resolve(q, path, (*va).varno, (*va).varattno), self.resolve(q, path, (*vb).varno, (*vb).varattno)) {
                                if x.0 != y.0 {
                                    eq = Some((x, y));
                                }
                            }
                        }
                    }
                }
                self.conjs.push(Conj { refs, eq });
            }
        }
    }
}

/// Analyzes the rewritten query of a cache's view (the subquery the view expands to).
///
/// # Safety
/// `q` is a valid, rewritten query.
pub unsafe fn analyze(q: *mut pg_sys::Query) -> R<Analysis> {
    unsafe {
        if let Some(f) = mutable_function(q as *mut pg_sys::Node) {
            return refuse(format!("function {f}, which is not immutable (its result can change without a change of any table)"));
        }
        let mut w = Walk { insts: Vec::new(), conjs: Vec::new() };
        w.collect(q, &[])?;
        if w.insts.is_empty() {
            return refuse("a query that reads no table");
        }
        // system columns name physical row versions, not values
        let mut system = None;
        collect_system_columns(q as *mut pg_sys::Node, &mut system);
        if let Some(a) = system {
            return refuse(format!("system column (attribute {a})"));
        }
        w.conditions(q, &[]);
        let mut outputs = Vec::new();
        for c in list((*q).targetList) {
            let te = c.ptr_value as *mut pg_sys::TargetEntry;
            if (*te).resjunk {
                continue;
            }
            let x = strip((*te).expr as *mut pg_sys::Node);
            let col = if !x.is_null() && (*x).type_ == NodeTag::T_Var && (*(x as *mut pg_sys::Var)).varlevelsup == 0 {
                let v = x as *mut pg_sys::Var;
                w.resolve(q, &[], (*v).varno, (*v).varattno).0
            } else {
                None
            };
            outputs.push(col);
        }
        for inst in &mut w.insts {
            inst.read.extend(inst.pk.iter().copied());
        }
        Ok(Analysis { insts: w.insts, outputs, conjs: w.conjs })
    }
}

fn collect_system_columns(node: *mut pg_sys::Node, found: &mut Option<i16>) {
    #[pgrx::pg_guard]
    unsafe extern "C-unwind" fn walker(node: *mut pg_sys::Node, cx: *mut std::ffi::c_void) -> bool {
        unsafe {
            if node.is_null() {
                return false;
            }
            match (*node).type_ {
                NodeTag::T_Query => return pg_sys::query_tree_walker(node as *mut pg_sys::Query, Some(walker), cx, 0),
                NodeTag::T_Var => {
                    let a = (*(node as *mut pg_sys::Var)).varattno;
                    if a < 0 {
                        *(cx as *mut Option<i16>) = Some(a);
                        return true;
                    }
                    return false;
                }
                _ => {}
            }
            pg_sys::expression_tree_walker(node, Some(walker), cx)
        }
    }
    unsafe { walker(node, found as *mut Option<i16> as *mut std::ffi::c_void) };
}

/// A validated foreign key of `from` onto `to` whose column pairs (from, to) are exactly
/// `pairs`.
fn has_foreign_key(from: Oid, to: Oid, pairs: &[(i16, i16)]) -> bool {
    let want: BTreeSet<(i16, i16)> = pairs.iter().copied().collect();
    let keys: Vec<(Vec<i16>, Vec<i16>)> = crate::guard::with_search_path(crate::guard::SAFE_PATH, || {
        pgrx::spi::Spi::connect(|c| {
            let mut out = Vec::new();
            if let Ok(t) = c.select(
                "SELECT conkey, confkey FROM pg_catalog.pg_constraint WHERE contype OPERATOR(pg_catalog.=) 'f' AND convalidated \
                   AND conrelid OPERATOR(pg_catalog.=) $1 AND confrelid OPERATOR(pg_catalog.=) $2",
                None,
                &[from.into(), to.into()],
            ) {
                for row in t {
                    let k: Vec<i16> = row.get(1).ok().flatten().unwrap_or_default();
                    let f: Vec<i16> = row.get(2).ok().flatten().unwrap_or_default();
                    out.push((k, f));
                }
            }
            out
        })
    });
    keys.into_iter().any(|(k, f)| k.len() == f.len() && k.into_iter().zip(f).collect::<BTreeSet<_>>() == want)
}

/// How a change of instance `k` finds the cached rows built from it.
#[derive(Clone, Debug, PartialEq)]
pub enum How {
    Reread,
    /// through output columns (positions of the cache's columns, in the instance's key order)
    Output(Vec<usize>),
    Hidden,
}

impl Analysis {
    /// Is instance `b` reached only through validated foreign keys (see the module comment)?
    /// Every condition on its columns is an equality with one other instance, and, grouped by
    /// that instance, either joins the other's foreign key onto b's whole primary key
    /// (incoming) or b's foreign key onto the other's primary key (outgoing); and an incoming
    /// one comes from an instance that is in every row.
    fn protected(&self, b: usize) -> bool {
        let pk = &self.insts[b].pk;
        let mut groups: std::collections::BTreeMap<usize, Vec<(i16, i16)>> = Default::default();
        for c in self.conjs.iter().filter(|c| c.refs.contains(&b)) {
            let Some((x, y)) = c.eq else { return false };
            if c.refs.len() != 2 {
                return false;
            }
            let (mine, other) = if x.0 == b { (x, y) } else { (y, x) };
            groups.entry(other.0).or_default().push((mine.1, other.1));
        }
        let covers = |key: &[i16], cols: &mut dyn Iterator<Item = i16>| {
            let cols: BTreeSet<i16> = cols.collect();
            cols.len() == key.len() && key.iter().all(|k| cols.contains(k))
        };
        let mut incoming = false;
        for (r, pairs) in groups {
            let ri = &self.insts[r];
            let is_in = covers(pk, &mut pairs.iter().map(|p| p.0))
                && has_foreign_key(ri.relid, self.insts[b].relid, &pairs.iter().map(|&(mine, other)| (other, mine)).collect::<Vec<_>>());
            let is_out = covers(&ri.pk, &mut pairs.iter().map(|p| p.1)) && has_foreign_key(self.insts[b].relid, ri.relid, &pairs);
            if is_in && !ri.nullable {
                incoming = true;
            } else if !is_in && !is_out {
                return false;
            }
        }
        incoming
    }

    /// The output columns equal to instance `b`'s key, in key order, if all are.
    fn key_outputs(&self, b: usize) -> Option<Vec<usize>> {
        let mut out = Vec::new();
        for &p in &self.insts[b].pk {
            let direct = self.outputs.iter().position(|o| *o == Some((b, p)));
            // or equal (by an inner condition) to an output column of an instance that is in
            // every row: every row built from b=k has that column = k
            let via = || {
                self.conjs.iter().find_map(|c| {
                    let (x, y) = c.eq?;
                    let other = if x == (b, p) { y } else if y == (b, p) { x } else { return None };
                    if self.insts[other.0].nullable {
                        return None;
                    }
                    self.outputs.iter().position(|o| *o == Some(other))
                })
            };
            out.push(direct.or_else(via)?);
        }
        Some(out)
    }

    /// How each instance finds its cached rows.
    pub fn hows(&self) -> Vec<How> {
        (0..self.insts.len())
            .map(|b| {
                if self.protected(b) {
                    How::Reread
                } else if let Some(cols) = self.key_outputs(b) {
                    How::Output(cols)
                } else {
                    How::Hidden
                }
            })
            .collect()
    }
}
