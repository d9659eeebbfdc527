//! What a hot standby knows of its primary's invalidations, kept in the region's header and
//! changed only through atomics: the startup process (WAL redo) writes it without taking any
//! lock a backend could hold.

use super::header;
use pgrx::pg_sys;
use std::sync::atomic::{AtomicI64, AtomicU32, AtomicU64, Ordering};

/// Why a standby's caches answer from its tables.
#[repr(u32)]
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Doubt {
    /// no heartbeat of a sending primary replayed yet
    NotYet = 0,
    Trusted = 1,
    /// the primary was started with tablecache.wal_invalidations off
    Stopped = 2,
}

#[repr(C)]
pub struct StandbyState {
    pub doubt: AtomicU32,
    /// The sending primary's start time (its heartbeats carry it): a new one means a restart.
    pub lifetime: AtomicI64,
    /// The primary's clock at its last replayed heartbeat.
    pub last_beat: AtomicI64,
    /// "Everything, in every cache": bumped (after `all_xid` is raised) when trust begins or
    /// when redo could not record something precisely; resolved per slot, by a writer pass
    /// whose snapshot is later than every transaction up to `all_xid`.
    pub all_gen: AtomicU64,
    pub all_xid: AtomicU32,
    /// On a primary: this lifetime's first heartbeat is written.
    pub announced: AtomicU32,
    /// On a primary started with sending off after a lifetime with it on: the record that says
    /// so is still to be written (before any transaction that invalidated a cache commits).
    pub stop_pending: AtomicU32,
    /// When this shared memory was set up (a crash restart sets it up again): transactions
    /// prepared before it recorded their invalidations in memory that is gone.
    pub started: AtomicI64,
    /// This server's own clock when it replayed the last heartbeat.
    pub beat_local: AtomicI64,
    /// 1: caches were read here while this server was a standby.
    pub was_standby: AtomicU32,
    /// After a promotion: 0 not looked at yet, 1 being looked at, 2 done.
    pub promotion: AtomicU32,
}

/// The file, in the data directory, that says this server sent invalidations.
pub const SENT_MARKER: &str = "tablecache_wal_sent";

/// At shared memory set-up (postmaster).
pub fn init(state: &StandbyState, sending: bool) {
    state.started.store(unsafe { pg_sys::GetCurrentTimestamp() }, Ordering::Release);
    if !sending && std::path::Path::new(SENT_MARKER).exists() {
        state.stop_pending.store(1, Ordering::Release);
    }
}

pub fn state() -> &'static StandbyState {
    &header().standby
}

/// Is `a` later than `b` (transaction id order, wraparound aware; 0 is earliest)?
pub fn xid_later(a: u32, b: u32) -> bool {
    a != 0 && (b == 0 || unsafe { pg_sys::TransactionIdFollows(pg_sys::TransactionId::from(a), pg_sys::TransactionId::from(b)) })
}

/// Raises an atomic xid to at least `xid`.
pub fn raise_xid(x: &AtomicU32, xid: u32) {
    let mut cur = x.load(Ordering::Acquire);
    while xid_later(xid, cur) {
        match x.compare_exchange(cur, xid, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => return,
            Err(c) => cur = c,
        }
    }
}

/// Every cache must re-read everything once every transaction up to `xid` has ended.
pub fn everything(xid: u32) {
    let s = state();
    raise_xid(&s.all_xid, xid);
    s.all_gen.fetch_add(1, Ordering::AcqRel);
}

/// The pending "everything" generation and the xid it waits for.
pub fn everything_pending() -> (u64, u32) {
    let s = state();
    let g = s.all_gen.load(Ordering::Acquire);
    (g, s.all_xid.load(Ordering::Acquire))
}

pub fn doubt() -> Doubt {
    match state().doubt.load(Ordering::Acquire) {
        1 => Doubt::Trusted,
        2 => Doubt::Stopped,
        _ => Doubt::NotYet,
    }
}

/// A primary writes a heartbeat every this many seconds; past three of them without one while
/// commits go on being replayed, a standby stops trusting its caches.
pub const HEARTBEAT_SECS: i64 = 5;

/// On a standby: why its caches must answer from its tables (None: they may be read, or this
/// is not a standby).
pub fn reason() -> Option<&'static str> {
    if !unsafe { pg_sys::RecoveryInProgress() } || !super::is_attached() {
        return None;
    }
    state().was_standby.store(1, Ordering::Release);
    doubt_now()
}

/// Why this server's caches cannot be trusted as a standby's (whether or not it still is one).
fn doubt_now() -> Option<&'static str> {
    match doubt() {
        Doubt::NotYet => Some(
            "no heartbeat from a primary that sends invalidations has been replayed (on the primary: tablecache.wal_invalidations = on, and its tablecache launcher running)",
        ),
        Doubt::Stopped => Some("the primary was started with tablecache.wal_invalidations off"),
        Doubt::Trusted => {
            // transactions replayed since the last heartbeat, and no heartbeat for a while: by
            // the primary's clock (their commit times) or by this server's
            let last = state().last_beat.load(Ordering::Acquire);
            let latest = unsafe { pg_sys::GetLatestXTime() };
            let local = state().beat_local.load(Ordering::Acquire);
            let now = unsafe { pg_sys::GetCurrentTimestamp() };
            let limit = 3 * HEARTBEAT_SECS * 1_000_000;
            (latest > last && (latest - last > limit || now - local > limit))
                .then_some("the primary's heartbeats stopped while its transactions go on being replayed")
        }
    }
}

/// On a server that was a standby and is now promoted, the first reader looks at what its
/// caches were worth: if they were not trusted at the promotion (a primary that did not send,
/// no heartbeat since a restart), every cache re-reads everything once every transaction so
/// far has ended. Returns false while another reader is doing so (read from the tables).
pub fn after_promotion() -> bool {
    let st = state();
    if st.was_standby.load(Ordering::Acquire) == 0 {
        return true;
    }
    match st.promotion.load(Ordering::Acquire) {
        2 => true,
        1 => false,
        _ => {
            if st.promotion.compare_exchange(0, 1, Ordering::AcqRel, Ordering::Acquire).is_err() {
                return false;
            }
            if doubt_now().is_some() {
                let next = unsafe { ((*pg_sys::ShmemVariableCache).nextXid.value & 0xffff_ffff) as u32 };
                everything(if next > 3 { next - 1 } else { 0 });
            }
            st.promotion.store(2, Ordering::Release);
            true
        }
    }
}
