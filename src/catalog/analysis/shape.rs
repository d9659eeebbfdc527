//! What a query may not contain to maintain itself: functions that are not immutable, query
//! shapes, system columns; and the foreign keys that protect a table.

use super::{refuse, R};
use pgrx::pg_sys::{self, NodeTag, Oid};
use std::collections::BTreeSet;
use std::ffi::CStr;

/// The first function of `node` (a query or expression) that is not immutable, described.
pub(super) fn mutable_function(node: *mut pg_sys::Node) -> Option<String> {
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
            // CURRENT_DATE, CURRENT_TIMESTAMP, current_user, ...: no function call in the tree
            if (*node).type_ == NodeTag::T_SQLValueFunction {
                *(cx as *mut Oid) = pg_sys::Oid::from(u32::MAX);
                return true;
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
    if found == pg_sys::Oid::from(u32::MAX) {
        return Some("an SQL value function (CURRENT_DATE, CURRENT_TIMESTAMP, current_user, ...), whose result can change without a change of any table".into());
    }
    (found != pg_sys::InvalidOid).then(|| {
        let f = unsafe { CStr::from_ptr(pg_sys::format_procedure(found)).to_string_lossy().into_owned() };
        format!("function {f}, which is not immutable (its result can change without a change of any table)")
    })
}

/// The shape refusals of one query level.
pub(super) unsafe fn check_shape(q: *mut pg_sys::Query) -> R<()> {
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

pub(super) fn collect_system_columns(node: *mut pg_sys::Node, found: &mut Option<i16>) {
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
pub(super) fn has_foreign_key(from: Oid, to: Oid, pairs: &[(i16, i16)]) -> bool {
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

/// Are columns `atts` of `relid` all NOT NULL?
pub(super) fn not_null(relid: Oid, atts: &[i16]) -> bool {
    let atts: Vec<i16> = atts.to_vec();
    crate::guard::with_search_path(crate::guard::SAFE_PATH, || {
        crate::spi::select_one::<bool>(
            "SELECT pg_catalog.bool_and(attnotnull) FROM pg_catalog.pg_attribute \
              WHERE attrelid OPERATOR(pg_catalog.=) $1 AND attnum OPERATOR(pg_catalog.=) ANY ($2)",
            &[relid.into(), atts.into()],
        )
    })
    .unwrap_or(false)
}
