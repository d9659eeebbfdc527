//! Streaming the cache's query into arena records: an SPI cursor, rows deformed and their keys
//! encoded, each row copied once (detoasted) into a staged block.

use super::rows;
use super::staging::Alloc;
use crate::catalog::CacheDef;
use crate::shmem;
use crate::sql_text::Params;
use crate::{fail, fail_detail};
use pgrx::pg_sys::{self, Datum};
use std::ffi::CString;
use std::sync::atomic::Ordering;
use tablecache_core::alloc::Offset;
use tablecache_core::keys::KeyEncoder;

pub fn stream(def: &CacheDef, sql: &str, params: &Params, slot: usize, alloc: &mut Alloc, staged: &mut Vec<Offset>, bytes: &mut u64) {
    let csql = CString::new(sql).unwrap_or_default();
    let s = shmem::slot(slot);
    unsafe {
        if pg_sys::SPI_connect() < 0 {
            fail!(ERRCODE_INTERNAL_ERROR, "SPI_connect failed");
        }
        let mut argtypes = params.types.clone();
        let mut values: Vec<Datum> = params.values.clone();
        let plan = pg_sys::SPI_prepare(csql.as_ptr(), argtypes.len() as i32, argtypes.as_mut_ptr());
        if plan.is_null() {
            fail!(ERRCODE_INTERNAL_ERROR, "could not prepare the query of cache \"{}\"", def.name);
        }
        // read_only = false: a fresh snapshot, taken after `collect`
        let portal = pg_sys::SPI_cursor_open(std::ptr::null(), plan, values.as_mut_ptr(), std::ptr::null(), false);
        // even when no row comes back: a base table may have been altered since create_cache
        check_shape(def, (*portal).tupDesc, def.source_natts());
        if let Some(est) = plan_rows(portal) {
            s.progress_expected.store(est, Ordering::Relaxed);
        }
        let natts = def.source_natts();
        let mut vals = vec![Datum::from(0usize); natts];
        let mut nulls = vec![false; natts];
        let mut encs: Vec<KeyEncoder> = (0..def.indexes.len()).map(|_| KeyEncoder::new()).collect();
        loop {
            pg_sys::SPI_cursor_fetch(portal, true, 1000);
            let n = pg_sys::SPI_processed as usize;
            let tt = pg_sys::SPI_tuptable;
            if n == 0 || tt.is_null() {
                break;
            }
            let td = (*tt).tupdesc;
            for t in 0..n {
                let tup = *(*tt).vals.add(t);
                pg_sys::heap_deform_tuple(tup, td, vals.as_mut_ptr(), nulls.as_mut_ptr());
                if let Some(&c) = def.indexes[0].cols.iter().find(|&&c| nulls[c]) {
                    fail!(
                        ERRCODE_NOT_NULL_VIOLATION,
                        "query of cache \"{}\" returned a row whose primary key column \"{}\" is NULL",
                        def.name,
                        def.col_name(c)
                    );
                }
                let mut null_mask = 0u16;
                for (j, ix) in def.indexes.iter().enumerate() {
                    let e = &mut encs[j];
                    e.clear();
                    for (c, &att) in ix.cols.iter().enumerate() {
                        if nulls[att] {
                            null_mask |= 1 << j;
                        }
                        crate::keys::push_datum(e, ix.types[c], vals[att], nulls[att]);
                    }
                }
                let keys: Vec<&[u8]> = encs.iter().map(|e| e.as_bytes()).collect();
                if !rows::keys_fit(&keys) {
                    fail_detail!(
                        ERRCODE_PROGRAM_LIMIT_EXCEEDED,
                        format!("The keys of one row may take at most {} bytes together; index a shorter column (or a hash of this one).", rows::MAX_KEY_BYTES),
                        "the index keys of a row of cache \"{}\" take {} bytes, too many to cache",
                        def.name,
                        keys.iter().map(|k| k.len()).sum::<usize>()
                    );
                }
                // The stored row is of the cache's row type: without the hidden columns read
                // for internal indexes.
                let formed = def.hidden_stored.then(|| pg_sys::heap_form_tuple(def.tupdesc, vals.as_mut_ptr(), nulls.as_mut_ptr()));
                let (tup, td) = match formed {
                    Some(f) => (f, def.tupdesc),
                    None => (tup, td),
                };
                // Rows are stored detoasted: a cached row must not point into a table's TOAST.
                let (tptr, tlen, flat) = if (*(*tup).t_data).t_infomask as u32 & pg_sys::HEAP_HASEXTERNAL != 0 {
                    let d = pg_sys::heap_copy_tuple_as_datum(tup, td);
                    let h = d.cast_mut_ptr::<pg_sys::HeapTupleHeaderData>();
                    (h as *const u8, super::tuple_datum_len(h), Some(h))
                } else {
                    ((*tup).t_data as *const u8, (*tup).t_len as usize, None)
                };
                let size = rows::record_size(&keys, tlen);
                let off = alloc.alloc(size);
                rows::write(shmem::ptr(off), &keys, null_mask, tptr, tlen);
                if let Some(h) = flat {
                    pg_sys::pfree(h.cast());
                }
                if let Some(f) = formed {
                    pg_sys::heap_freetuple(f);
                }
                staged.push(off);
                *bytes += shmem::arena().usable_size(off) as u64;
            }
            pg_sys::SPI_freetuptable(tt);
            s.progress_done.store(staged.len() as u64, Ordering::Relaxed);
        }
        pg_sys::SPI_cursor_close(portal);
        pg_sys::SPI_finish();
    }
}

unsafe fn plan_rows(portal: pg_sys::Portal) -> Option<u64> {
    unsafe {
        if portal.is_null() || (*portal).stmts.is_null() || (*(*portal).stmts).length == 0 {
            return None;
        }
        let stmt = (*(*(*portal).stmts).elements).ptr_value as *mut pg_sys::PlannedStmt;
        if (*stmt).planTree.is_null() {
            return None;
        }
        Some((*(*stmt).planTree).plan_rows.max(0.0) as u64)
    }
}

/// The query must still produce the row type the cache was created with (its first `n`
/// columns, hidden ones included).
pub unsafe fn check_shape(def: &CacheDef, td: pg_sys::TupleDesc, n: usize) {
    unsafe {
        let ok = (*td).natts as usize == n && (0..n).all(|i| (*(*td).attrs.as_ptr().add(i)).atttypid == def.col(i).typid);
        if !ok {
            fail!(
                ERRCODE_DATATYPE_MISMATCH,
                "the query of cache \"{}\" no longer returns the columns of its row type (was a base table altered?)",
                def.name
            );
        }
    }
}

pub fn pk_names(def: &CacheDef) -> String {
    def.indexes[0].cols.iter().map(|&c| def.col_name(c).to_string()).collect::<Vec<_>>().join(", ")
}

/// The primary key of a stored row, as text, for messages.
pub fn pk_text(def: &CacheDef, r: u64) -> String {
    let row = rows::Row::at(r);
    // stored tuples are unaligned: deform an aligned copy
    let mut tup = row.heap_tuple();
    let copy = unsafe { pg_sys::heap_copytuple(&mut tup) };
    let mut tup = unsafe { *copy };
    let n = def.columns.len();
    let mut vals = vec![Datum::from(0usize); n];
    let mut nulls = vec![false; n];
    unsafe { pg_sys::heap_deform_tuple(&mut tup, def.tupdesc, vals.as_mut_ptr(), nulls.as_mut_ptr()) };
    def.indexes[0]
        .cols
        .iter()
        .map(|&c| if nulls[c] { "NULL".to_string() } else { crate::bound::output_text(vals[c], def.columns[c].typid) })
        .collect::<Vec<_>>()
        .join(", ")
}
