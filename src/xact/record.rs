//! Recording a committing (or preparing) transaction's invalidations: coalesced per cache,
//! written to each cache's slot.

use super::{CacheInfo, LocalInval, LOCAL};
use std::cell::RefCell;
use crate::shmem;
use crate::store::{self, inval::Inval, inval::Recorded};
use std::collections::HashMap;

/// Coalesces many invalidations of one cache into at most `max` ranges: sorted by lower
/// bound, consecutive ones merged into one range from the first lower bound to the greatest
/// upper end. A wider range re-reads more rows but never misses one. (Byte order of the keys:
/// for an index ordered by a collation, a merged range would not be one in its order, so the
/// cache is re-read whole instead: `collated` names those indexes.)
fn coalesce(mut v: Vec<Inval>, max: usize, collated: &dyn Fn(&str) -> bool) -> Vec<Inval> {
    let mut by_index: HashMap<String, Vec<Inval>> = HashMap::new();
    for i in v.drain(..) {
        by_index.entry(i.index.clone()).or_default().push(i);
    }
    let per_index = (max / by_index.len().max(1)).max(1);
    let mut out = Vec::new();
    for (name, mut list) in by_index {
        if list.iter().any(|i| i.is_all()) || (list.len() > per_index && (collated(&name) || list.iter().any(|i| i.has_nulls()))) {
            return vec![Inval::all()];
        }
        if list.len() <= per_index {
            out.extend(list);
            continue;
        }
        list.sort_by(|a, b| match (&a.lo, &b.lo) {
            (None, None) => std::cmp::Ordering::Equal,
            (None, _) => std::cmp::Ordering::Less,
            (_, None) => std::cmp::Ordering::Greater,
            (Some(x), Some(y)) => x.key.cmp(&y.key),
        });
        let chunk = list.len().div_ceil(per_index);
        for group in list.chunks(chunk) {
            let lo = group[0].lo.clone();
            let mut best: Option<&Inval> = None;
            let mut best_end: Option<Option<Vec<u8>>> = None;
            for g in group {
                let (_, end) = g.byte_range();
                let better = match (&best_end, &end) {
                    (None, _) => true,
                    (Some(None), _) => false,
                    (Some(Some(_)), None) => true,
                    (Some(Some(b)), Some(e)) => e > b,
                };
                if better {
                    best = Some(g);
                    best_end = Some(end);
                }
            }
            let b = best.unwrap();
            out.push(Inval { index: b.index.clone(), lo, hi: b.hi.clone(), hi_inclusive: b.hi_inclusive });
        }
    }
    out
}

// Names of indexes ordered by a collation, per cache, noted when invalidations are added.
thread_local! {
    pub(super) static COLLATED: RefCell<HashMap<i64, Vec<String>>> = RefCell::new(HashMap::new());
}


pub(super) fn take_invals() -> (Vec<LocalInval>, HashMap<i64, CacheInfo>, Vec<i64>) {
    LOCAL.with(|l| {
        let mut l = l.borrow_mut();
        l.points.clear();
        l.counts.clear();
        l.all.clear();
        (std::mem::take(&mut l.invals), std::mem::take(&mut l.caches), l.created.iter().map(|c| c.cache_id).collect::<Vec<_>>())
    })
}

/// The caches this transaction dropped, and whether it dropped the extension (every cache of
/// this database): a standby gives their memory back.
pub(super) fn drops() -> (Vec<i64>, bool) {
    let db = unsafe { pgrx::pg_sys::MyDatabaseId };
    LOCAL.with(|l| {
        let l = l.borrow();
        let ids = l.deferred.iter().filter(|d| matches!(d.op, super::Op::Release)).map(|d| d.cache_id).collect();
        (ids, l.dropped_dbs.iter().any(|&(d, _)| d == db))
    })
}

/// Records the transaction's invalidations in each cache's slot (PRE_COMMIT: cannot fail; and
/// PRE_PREPARE, where failing is still allowed: the PREPARE fails), after writing them to the
/// WAL for hot standbys when this server sends them (an error there aborts the transaction,
/// before anything is recorded). Returns the first cache that had no room for a prepared
/// transaction's entry.
pub(super) fn record_invals(invals: Vec<LocalInval>, caches: HashMap<i64, CacheInfo>, xid: u32, prepared: bool) -> Option<String> {
    let mut per_cache: HashMap<i64, Vec<Inval>> = HashMap::new();
    for v in invals {
        per_cache.entry(v.cache_id).or_default().push(v.inval);
    }
    let mut lists = Vec::with_capacity(per_cache.len());
    for (cache_id, list) in per_cache {
        let collated = COLLATED.with(|c| c.borrow().get(&cache_id).cloned().unwrap_or_default());
        let is_collated = |name: &str| collated.iter().any(|c| c == name);
        let n = list.len() as u64;
        let list = coalesce(list, shmem::slot::MAX_PENDING / 4, &is_collated);
        lists.push((cache_id, n, list, collated));
    }
    if !lists.is_empty() {
        crate::replication::send::stopped_if_pending();
    }
    if crate::replication::send::sending() {
        let (dropped, all_dropped) = if prepared { (Vec::new(), false) } else { drops() };
        let mut parts: Vec<_> = lists
            .iter()
            .map(|(id, _, list, collated)| crate::replication::send::cache_part(*id, list, dropped.contains(id), &|n: &str| collated.iter().any(|c| c == n)))
            .collect();
        for id in dropped.iter().filter(|id| !lists.iter().any(|l| l.0 == **id)) {
            parts.push(crate::replication::send::cache_part(*id, &[], true, &|_| false));
        }
        crate::replication::send::invalidations(xid, prepared, all_dropped, parts);
    }
    let mut no_room = None;
    for (cache_id, n, list, collated) in lists {
        let info = caches.get(&cache_id).cloned().unwrap_or_default();
        let Some(i) = store::inval::slot_for_commit(cache_id, &info, xid) else {
            // dropped meanwhile, or no free slot at all (then there is nothing cached either)
            continue;
        };
        let is_collated = |name: &str| collated.iter().any(|c| c == name);
        let origin = if prepared { store::inval::Origin::Prepare } else { store::inval::Origin::Commit };
        match store::inval::record(i, &list, xid, origin, &is_collated) {
            Recorded::Each => {}
            Recorded::Everything => {
                pgrx::log!("tablecache: cache \"{}\" will re-read its whole window (too many invalidations or no memory to record them)", info.name)
            }
            Recorded::NoRoom | Recorded::Busy => {
                no_room.get_or_insert(info.name.clone());
                continue;
            }
        }
        // the ABORT/COMMIT/PREPARE callback releases what was counted
        LOCAL.with(|l| l.borrow_mut().recorded.push(i));
        shmem::slot(i).counters.invalidations.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
    }
    no_room
}
