//! Transaction and process glue: definitions changed in a transaction are re-read by every
//! backend once it ends (commit or abort), and a backend that exits gives back what it holds.

use crate::shmem;
use crate::store;
use pgrx::pg_sys;
use pgrx::{register_xact_callback, PgXactCallbackEvent};
use std::cell::Cell;

thread_local! {
    static EPOCH_PENDING: Cell<bool> = const { Cell::new(false) };
    static EXIT_REGISTERED: Cell<bool> = const { Cell::new(false) };
}

/// Bump the shared definition epoch again when this transaction ends, so that backends that
/// re-read a definition while it was uncommitted read it once more.
pub fn bump_epoch_at_end() {
    if EPOCH_PENDING.with(|p| p.replace(true)) {
        return;
    }
    let done = || {
        EPOCH_PENDING.with(|p| p.set(false));
        if shmem::is_attached() {
            shmem::bump_def_epoch();
        }
    };
    register_xact_callback(PgXactCallbackEvent::Commit, done);
    register_xact_callback(PgXactCallbackEvent::Abort, done);
}

#[pgrx::pg_guard]
unsafe extern "C-unwind" fn on_exit(_code: i32, _arg: pg_sys::Datum) {
    store::window::free_staged();
    store::release_all_writers();
}

pub fn ensure_exit_callback() {
    if !EXIT_REGISTERED.with(|r| r.replace(true)) {
        unsafe { pg_sys::before_shmem_exit(Some(on_exit), pg_sys::Datum::from(0usize)) };
    }
}
