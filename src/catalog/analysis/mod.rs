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
//! - `Partner`: on the nullable side of a LEFT/RIGHT JOIN whose ON clause equates its columns
//!   with the whole key of a preserved-side instance: a change of it changes the rows of the
//!   rows it joins (joined or NULL-extended), found by that instance's key.
//! - `Everything`: other nullable instances; any change of them re-reads the whole cache.
//!
//! Only WHERE and inner join conditions filter every row; an outer join's ON clause filters
//! only its nullable side's rows.

use pgrx::pg_sys::{self, NodeTag, Oid};
use std::collections::BTreeSet;
use std::ffi::CStr;

mod shape;
mod walk;
use shape::{collect_system_columns, has_foreign_key, mutable_function, not_null};
use walk::Walk;

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
    /// on either side of a FULL JOIN
    pub full: bool,
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
    /// from the ON clause of an outer join: the instances of its preserved side(s), whose
    /// rows it does not filter (empty for WHERE and inner joins)
    preserved: BTreeSet<usize>,
    /// from a LEFT or RIGHT JOIN's ON clause
    outer: bool,
}

pub struct Analysis {
    pub insts: Vec<Inst>,
    /// per output column of the cache: the base column it is, when it is a plain column
    pub outputs: Vec<Option<Col>>,
    /// per output column: the instances whose columns it is computed from
    pub output_refs: Vec<BTreeSet<usize>>,
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

/// Analyzes the rewritten query of a cache's view (the subquery the view expands to).
///
/// # Safety
/// `q` is a valid, rewritten query.
pub unsafe fn analyze(q: *mut pg_sys::Query) -> R<Analysis> {
    unsafe {
        if let Some(f) = mutable_function(q as *mut pg_sys::Node) {
            return refuse(f);
        }
        let mut w = Walk { insts: Vec::new(), conjs: Vec::new(), whole_row: None };
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
        if let Some(k) = w.whole_row {
            return refuse(format!("the whole row of table {} as a value (name its columns)", relname(w.insts[k].relid)));
        }
        let mut outputs = Vec::new();
        let mut output_refs = Vec::new();
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
            let mut refs = BTreeSet::new();
            w.vars(q, &[], (*te).expr as *mut pg_sys::Node, &mut |_, r| refs.extend(r));
            output_refs.push(refs);
        }
        for inst in &mut w.insts {
            inst.read.extend(inst.pk.iter().copied());
        }
        Ok(Analysis { insts: w.insts, outputs, output_refs, conjs: w.conjs })
    }
}

/// How a change of instance `k` finds the cached rows built from it.
#[derive(Clone, Debug, PartialEq)]
pub enum How {
    Reread,
    /// through output columns (positions of the cache's columns, in the instance's key order)
    Output(Vec<usize>),
    Hidden,
    /// (the nullable side of an outer join) through the rows of instance `.0` whose key equals
    /// its columns `.1` (attribute numbers, in that instance's key order)
    Partner(usize, Vec<i16>),
    /// any change re-reads the whole cache
    Everything,
}

impl Analysis {
    /// Is instance `b` reached only through validated foreign keys (see the module comment)?
    /// Every condition on its columns is an equality with one other instance, and, grouped by
    /// that instance, either joins the other's foreign key onto b's whole primary key
    /// (incoming) or b's foreign key onto the other's primary key (outgoing); and an incoming
    /// one comes from an instance that is in every row.
    fn protected(&self, b: usize, reach: &mut BTreeSet<usize>) -> bool {
        let pk = &self.insts[b].pk;
        let mut groups: std::collections::BTreeMap<usize, Vec<(i16, i16)>> = Default::default();
        // (an outer join's ON clause on b's preserved side counts too: with a filter on the
        // nullable side, or its columns in the cache's key, it decides which rows exist)
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
            } else if is_in {
                continue;
            } else if !is_out
                || !not_null(self.insts[b].relid, &pairs.iter().map(|p| p.0).collect::<Vec<_>>())
                || !self.functional(r, b, reach)
            {
                // b's foreign key may point elsewhere: the rows built from b then follow the
                // new row of r, which must exist and be the only one (nothing but foreign keys
                // from it on), or rows could appear or vanish unseen
                return false;
            }
        }
        incoming
    }

    /// Is instance `r`, reached from `from` through `from`'s foreign key onto r's primary key,
    /// a function of that key: joined by nothing but that foreign key and r's own foreign keys
    /// onto instances that are such functions too (no filter, no other table joining r)?
    fn functional(&self, r: usize, from: usize, seen: &mut BTreeSet<usize>) -> bool {
        if !seen.insert(r) {
            return false;
        }
        let mut groups: std::collections::BTreeMap<usize, Vec<(i16, i16)>> = Default::default();
        for c in self.conjs.iter().filter(|c| c.refs.contains(&r)) {
            let Some((x, y)) = c.eq else { return false };
            if c.refs.len() != 2 {
                return false;
            }
            let (mine, other) = if x.0 == r { (x, y) } else { (y, x) };
            groups.entry(other.0).or_default().push((mine.1, other.1));
        }
        groups.into_iter().all(|(t, pairs)| {
            if t == from {
                return true;
            }
            let ti = &self.insts[t];
            let keys: BTreeSet<i16> = pairs.iter().map(|p| p.1).collect();
            keys.len() == ti.pk.len()
                && ti.pk.iter().all(|k| keys.contains(k))
                && has_foreign_key(self.insts[r].relid, ti.relid, &pairs)
                && not_null(self.insts[r].relid, &pairs.iter().map(|p| p.0).collect::<Vec<_>>())
                && self.functional(t, r, seen)
        })
    }

    /// The output columns a change of re-read instance `b` can change: those computed from it
    /// or from the tables its foreign keys lead to. (A window on an index over one of them: a
    /// re-read row may leave it, and a re-read cannot remove it.)
    pub fn affected_outputs(&self, b: usize) -> Vec<usize> {
        let mut reach = BTreeSet::from([b]);
        self.protected(b, &mut reach);
        (0..self.output_refs.len()).filter(|&o| self.output_refs[o].iter().any(|k| reach.contains(k))).collect()
    }

    /// The output columns equal to instance `b`'s key, in key order, if all are.
    fn key_outputs(&self, b: usize) -> Option<Vec<usize>> {
        let mut out = Vec::new();
        for &p in &self.insts[b].pk {
            let direct = self.outputs.iter().position(|o| *o == Some((b, p)));
            // or equal (by an inner condition) to an output column of an instance that is in
            // every row: every row built from b=k has that column = k
            let via = || {
                self.conjs.iter().filter(|c| !c.preserved.contains(&b)).find_map(|c| {
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

    /// For instance `b` on the nullable side of a LEFT or RIGHT JOIN: the instance `p` of the
    /// preserved side whose whole primary key the ON clause equates with columns of b, and
    /// those pairs (b's column, p's key column) in p's key order. A change of b then changes
    /// exactly the rows of the p rows it joins (joined, or NULL-extended): those with p's key
    /// equal to b's columns.
    fn partner(&self, b: usize) -> Option<(usize, Vec<(i16, i16)>)> {
        if self.insts[b].full {
            return None;
        }
        let mut groups: std::collections::BTreeMap<usize, Vec<(i16, i16)>> = Default::default();
        for c in self.conjs.iter().filter(|c| c.outer && c.refs.contains(&b) && !c.preserved.contains(&b)) {
            let Some((x, y)) = c.eq else { continue };
            let (mine, other) = if x.0 == b { (x, y) } else { (y, x) };
            if mine.0 == b && c.preserved.contains(&other.0) {
                groups.entry(other.0).or_default().push((mine.1, other.1));
            }
        }
        groups.into_iter().find_map(|(p, pairs)| {
            let pk = &self.insts[p].pk;
            let ordered: Option<Vec<(i16, i16)>> = pk.iter().map(|k| pairs.iter().find(|(_, o)| o == k).copied()).collect();
            ordered.map(|o| (p, o))
        })
    }

    /// How each instance finds its cached rows. `pk_outputs`: the output columns of the
    /// cache's primary key. (A re-read replaces rows by primary key: it cannot remove a row
    /// whose key came from the re-read table.)
    pub fn hows(&self, pk_outputs: &[usize]) -> Vec<How> {
        let pk_from: Vec<Option<usize>> = pk_outputs.iter().map(|&o| self.outputs.get(o).copied().flatten().map(|c| c.0)).collect();
        let base: Vec<How> = (0..self.insts.len())
            .map(|b| {
                // (nor may the tables its foreign keys lead to: re-pointing one changes a key)
                let mut reach = BTreeSet::from([b]);
                if self.protected(b, &mut reach) && pk_from.iter().all(|f| f.is_some_and(|k| !reach.contains(&k))) {
                    How::Reread
                } else if self.insts[b].nullable {
                    How::Everything // refined below
                } else if let Some(cols) = self.key_outputs(b) {
                    How::Output(cols)
                } else {
                    How::Hidden
                }
            })
            .collect();
        // a nullable instance finds its rows through its partner's rows, if the partner keeps
        // an index of its key (else every change of it re-reads everything)
        (0..self.insts.len())
            .map(|b| match &base[b] {
                How::Everything => match self.partner(b) {
                    Some((p, pairs)) if matches!(base[p], How::Output(_) | How::Hidden) => How::Partner(p, pairs.into_iter().map(|(m, _)| m).collect()),
                    _ => How::Everything,
                },
                h => h.clone(),
            })
            .collect()
    }
}
