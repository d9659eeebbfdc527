//! tablecache: the result of an expensive join kept in PostgreSQL shared memory, ordered by
//! one or more indexes, with a movable window and transparent fall-through to the database.
//!
//! Layout: `sql/` is the SQL surface; `catalog` holds definitions; `store/` and `shmem/` are the
//! shared-memory store; `xact` is transaction glue; the pure core (allocator, key encoding,
//! index arrays, coverage sets) is the `tablecache-core` crate beside this one.

use pgrx::prelude::*;

mod args;
mod bound;
mod catalog;
mod error;
mod fallthrough;
mod guard;
mod guc;
mod keys;
mod replication;
mod shmem;
mod sql;
mod spi;
mod sql_text;
mod store;
mod worker;
mod xact;

pgrx::pg_module_magic!(name, version);

#[pg_guard]
pub extern "C-unwind" fn _PG_init() {
    guc::init();
    // Without shared_preload_libraries there is no region: every function then says so clearly.
    if unsafe { pg_sys::process_shared_preload_libraries_in_progress } {
        guc::init_preloaded();
        guc::init_standby();
        replication::register();
        guc::init_workers();
        shmem::install_hooks();
        xact::install_hooks();
        sql::ddl::install_hook();
        if guc::WORKER.get() {
            worker::register();
        }
    }
}

#[cfg(any(test, feature = "pg_test"))]
mod testing;
#[cfg(any(test, feature = "pg_test"))]
mod keys_tests;

/// Required by `cargo pgrx test`.
#[cfg(test)]
pub mod pg_test {
    pub fn setup(_options: Vec<&str>) {}

    #[must_use]
    pub fn postgresql_conf_options() -> Vec<&'static str> {
        vec!["shared_preload_libraries = 'tablecache'", "tablecache.memory = '64MB'", "tablecache.max_caches = 32"]
    }
}
