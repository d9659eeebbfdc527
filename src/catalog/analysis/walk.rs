//! The walk along a query's join tree: its base table instances, the columns it reads of each,
//! and its conditions (with the outer joins whose ON clause they come from).

use super::shape::check_shape;
use super::{list, natts, primary_key, refuse, relname, rte, strip, Col, Conj, Inst, R};
use pgrx::pg_sys::{self, NodeTag};
use std::collections::BTreeSet;

pub(super) struct Walk {
    pub(super) insts: Vec<Inst>,
    pub(super) conjs: Vec<Conj>,
    /// an instance whose whole row the query uses as a value
    pub(super) whole_row: Option<usize>,
}

impl Walk {
    fn inst_at(&self, path: &[i32]) -> Option<usize> {
        self.insts.iter().position(|i| i.path == path)
    }

    /// The instances of a join tree node of the query at `path`.
    unsafe fn insts_of(&self, n: *mut pg_sys::Node, path: &[i32]) -> BTreeSet<usize> {
        unsafe {
            if n.is_null() {
                return BTreeSet::new();
            }
            match (*n).type_ {
                NodeTag::T_RangeTblRef => {
                    let mut sub = path.to_vec();
                    sub.push((*(n as *mut pg_sys::RangeTblRef)).rtindex);
                    self.under(&sub)
                }
                NodeTag::T_JoinExpr => {
                    let j = n as *mut pg_sys::JoinExpr;
                    let mut v = self.insts_of((*j).larg, path);
                    v.extend(self.insts_of((*j).rarg, path));
                    v
                }
                NodeTag::T_FromExpr => list((*(n as *mut pg_sys::FromExpr)).fromlist)
                    .iter()
                    .flat_map(|c| self.insts_of(c.ptr_value as *mut pg_sys::Node, path))
                    .collect(),
                _ => BTreeSet::new(),
            }
        }
    }

    /// Every instance under `path` (a subquery): an expression over its output may read any.
    fn under(&self, path: &[i32]) -> BTreeSet<usize> {
        (0..self.insts.len()).filter(|&k| self.insts[k].path.starts_with(path)).collect()
    }

    /// What a column reference of query `q` (at `path`) is: a base column, or (an expression
    /// over) some instances' columns.
    pub(super) unsafe fn resolve(&self, q: *mut pg_sys::Query, path: &[i32], varno: i32, attno: i16) -> (Option<Col>, BTreeSet<usize>) {
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
    pub(super) unsafe fn vars(&self, q: *mut pg_sys::Query, path: &[i32], node: *mut pg_sys::Node, f: &mut dyn FnMut(Option<Col>, BTreeSet<usize>)) {
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
    pub(super) unsafe fn collect(&mut self, q: *mut pg_sys::Query, path: &[i32]) -> R<()> {
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
                    let before = self.insts.len();
                    self.from_node((*j).larg, q, path, nullable || ln)?;
                    self.from_node((*j).rarg, q, path, nullable || rn)?;
                    if ln && rn {
                        for i in &mut self.insts[before..] {
                            i.full = true;
                        }
                    }
                    Ok(())
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
                            if kind == pg_sys::RELKIND_RELATION && (*e).inh && crate::catalog::rel::has_children((*e).relid) {
                                return refuse(format!("table {} with inheritance children (read it with ONLY)", relname((*e).relid)));
                            }
                            let Some(pk) = primary_key((*e).relid) else {
                                return refuse(format!("table {} without a primary key", relname((*e).relid)));
                            };
                            self.insts.push(Inst { relid: (*e).relid, path: sub, nullable, full: false, pk, read: BTreeSet::new() });
                            Ok(())
                        }
                        // (a view, or a subquery in FROM: inside an outer join's nullable side
                        // its tables are nullable too)
                        pg_sys::RTEKind::RTE_SUBQUERY if (*e).lateral => refuse("LATERAL subqueries"),
                        pg_sys::RTEKind::RTE_SUBQUERY => {
                            let sq = (*e).subquery;
                            check_shape(sq)?;
                            self.from_node((*sq).jointree as *mut pg_sys::Node, sq, &sub, nullable)
                        }
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
    pub(super) unsafe fn conditions(&mut self, q: *mut pg_sys::Query, path: &[i32]) {
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
                // a table's whole row as a value: its columns are those of the moment (a column
                // added later would not be followed)
                Some(0) => {
                    self.whole_row.get_or_insert(k);
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
            let mut preserved = BTreeSet::new();
            let mut outer = false;
            let (quals, kids): (*mut pg_sys::Node, Vec<*mut pg_sys::Node>) = match (*n).type_ {
                NodeTag::T_FromExpr => {
                    let f = n as *mut pg_sys::FromExpr;
                    ((*f).quals, list((*f).fromlist).iter().map(|c| c.ptr_value as *mut pg_sys::Node).collect())
                }
                NodeTag::T_JoinExpr => {
                    let j = n as *mut pg_sys::JoinExpr;
                    match (*j).jointype {
                        pg_sys::JoinType::JOIN_LEFT => {
                            preserved = self.insts_of((*j).larg, path);
                            outer = true;
                        }
                        pg_sys::JoinType::JOIN_RIGHT => {
                            preserved = self.insts_of((*j).rarg, path);
                            outer = true;
                        }
                        pg_sys::JoinType::JOIN_FULL => {
                            preserved = self.insts_of((*j).larg, path);
                            preserved.extend(self.insts_of((*j).rarg, path));
                        }
                        _ => {}
                    }
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
                self.conjs.push(Conj { refs, eq, preserved: preserved.clone(), outer });
            }
        }
    }
}
