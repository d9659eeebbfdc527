//! WAL redo of tablecache's records, in a standby's startup process: no catalog, no
//! transaction, no error allowed (an error stops replay and shuts the standby down), and no
//! waiting on a lock a backend could hold while it waits for replay. What cannot be applied
//! precisely degrades to "every cache re-reads everything".

use crate::bound::{Bound, Value};
use crate::shmem::{self, standby};
use crate::store::{self, inval::Inval, inval::Origin, inval::Recorded};
use pgrx::pg_sys;
use std::sync::atomic::Ordering;
use tablecache_core::walrec::{self, WalBound, WalRecord};

fn bound(b: &WalBound) -> Bound {
    Bound {
        key: b.key.clone(),
        values: b.values.iter().map(|v| Value { typid: pg_sys::Oid::from(v.typid), image: v.image.clone() }).collect(),
    }
}

fn apply(data: &[u8], xl_xid: u32) {
    match walrec::decode(data) {
        Err(e) => {
            pgrx::log!("tablecache: a WAL record could not be decoded ({:?}): every cache re-reads everything", e);
            standby::everything(xl_xid);
        }
        Ok(WalRecord::Heartbeat { lifetime, now, unknown_prepared }) => {
            let st = standby::state();
            let trusted = standby::doubt() == standby::Doubt::Trusted;
            if !trusted || st.lifetime.load(Ordering::Acquire) != lifetime {
                // What was cached before may miss invalidations nobody sent: a primary that did
                // not send, or transactions prepared before it started (re-read once they end).
                // And this standby may have started with transactions in progress whose records
                // it replayed before its restart (or never saw): wait for every transaction
                // assigned so far.
                let next = unsafe { ((*pg_sys::ShmemVariableCache).nextXid.value & 0xffff_ffff) as u32 };
                let mut wait = if next > pg_sys::FirstNormalTransactionId.into() { next - 1 } else { 0 };
                for x in unknown_prepared {
                    if standby::xid_later(x, wait) {
                        wait = x;
                    }
                }
                standby::everything(wait);
                st.lifetime.store(lifetime, Ordering::Release);
            }
            st.last_beat.store(now, Ordering::Release);
            st.beat_local.store(unsafe { pg_sys::GetCurrentTimestamp() }, Ordering::Release);
            st.doubt.store(standby::Doubt::Trusted as u32, Ordering::Release);
        }
        Ok(WalRecord::Stopped { .. }) => {
            standby::state().doubt.store(standby::Doubt::Stopped as u32, Ordering::Release);
        }
        Ok(WalRecord::Invalidations { db, xid, prepared, all_dropped, caches }) => {
            let db = pg_sys::Oid::from(db);
            let xid = if xid != 0 { xid } else { xl_xid };
            if all_dropped {
                for i in store::slots_of_database(db) {
                    shmem::slot(i).release_wanted.store(1, Ordering::Release);
                    if store::inval::record(i, &[Inval::all()], xid, Origin::Redo { prepared }, &|_| false) == Recorded::Busy {
                        standby::everything(xid);
                    }
                }
            }
            for c in caches {
                // nothing cached here: noted apart, for a load that starts before it ends
                let Some(i) = store::inval::slot_for_redo(db, c.cache_id, xid) else { continue };
                if c.dropped {
                    shmem::slot(i).release_wanted.store(1, Ordering::Release);
                }
                let invals: Vec<Inval> = if c.everything || c.dropped {
                    vec![Inval::all()]
                } else {
                    c.invals
                        .iter()
                        .map(|v| Inval {
                            index: String::from_utf8_lossy(&v.index).into_owned(),
                            lo: v.lo.as_ref().map(bound),
                            hi: v.hi.as_ref().map(bound),
                            hi_inclusive: v.hi_inclusive,
                        })
                        .collect()
                };
                // an index the primary would not merge ranges of (collated), as it said
                let no_merge: Vec<String> =
                    c.invals.iter().filter(|v| v.no_merge).map(|v| String::from_utf8_lossy(&v.index).into_owned()).collect();
                let collated = |ix: &str| no_merge.iter().any(|n| n == ix);
                if store::inval::record(i, &invals, xid, Origin::Redo { prepared }, &collated) == Recorded::Busy {
                    standby::everything(xid);
                }
            }
        }
    }
}

#[pgrx::pg_guard]
pub unsafe extern "C-unwind" fn rm_redo(record: *mut pg_sys::XLogReaderState) {
    unsafe {
        if record.is_null() || (*record).record.is_null() || !shmem::is_attached() {
            return;
        }
        let rec = (*record).record;
        let data: &[u8] = if (*rec).main_data.is_null() {
            &[]
        } else {
            std::slice::from_raw_parts((*rec).main_data as *const u8, (*rec).main_data_len as usize)
        };
        let xl_xid = u32::from((*rec).header.xl_xid);
        if std::panic::catch_unwind(|| apply(data, xl_xid)).is_err() {
            standby::everything(xl_xid);
        }
    }
}

#[pgrx::pg_guard]
pub unsafe extern "C-unwind" fn rm_desc(buf: pg_sys::StringInfo, record: *mut pg_sys::XLogReaderState) {
    unsafe {
        if buf.is_null() || record.is_null() || (*record).record.is_null() {
            return;
        }
        let rec = (*record).record;
        let data: &[u8] = if (*rec).main_data.is_null() {
            &[]
        } else {
            std::slice::from_raw_parts((*rec).main_data as *const u8, (*rec).main_data_len as usize)
        };
        let text = std::ffi::CString::new(walrec::describe(data).replace('\0', " ")).unwrap_or_default();
        pg_sys::appendStringInfoString(buf, text.as_ptr());
    }
}

#[pgrx::pg_guard]
pub unsafe extern "C-unwind" fn rm_identify(_info: u8) -> *const std::ffi::c_char {
    c"TABLECACHE".as_ptr()
}
