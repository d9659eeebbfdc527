//! Which version of tablecache's catalog this database has.

use pgrx::pg_sys;

/// What this database's tablecache catalog is. A database still at version 0.1.0 (the library
/// was upgraded, the extension not yet: ALTER EXTENSION tablecache UPDATE) has none of the
/// columns this library reads.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum CatalogState {
    Absent,
    Old,
    Current,
}

pub fn catalog_state() -> CatalogState {
    unsafe {
        let ns = pg_sys::get_namespace_oid(c"tablecache".as_ptr(), true);
        if ns == pg_sys::InvalidOid {
            return CatalogState::Absent;
        }
        let rel = pg_sys::get_relname_relid(c"cache_def".as_ptr(), ns);
        if rel == pg_sys::InvalidOid {
            CatalogState::Absent
        } else if pg_sys::get_attnum(rel, c"view".as_ptr()) == pg_sys::InvalidAttrNumber as i16 {
            CatalogState::Old
        } else {
            CatalogState::Current
        }
    }
}

pub fn require_current_catalog() {
    if catalog_state() == CatalogState::Old {
        crate::fail_hint!(
            ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
            "Run ALTER EXTENSION tablecache UPDATE in this database.",
            "the tablecache catalog of this database is of version 0.1.0, older than the installed library"
        );
    }
}
