//! Error helpers: every failure is an `ereport` with a SQLSTATE that fits and a message that
//! names the cache, index or value at fault.

#[macro_export]
macro_rules! fail {
    ($code:ident, $($arg:tt)*) => {{
        pgrx::ereport!(ERROR, pgrx::PgSqlErrorCode::$code, format!($($arg)*));
        #[allow(unreachable_code)]
        { unreachable!() }
    }};
}

#[macro_export]
macro_rules! fail_detail {
    ($code:ident, $detail:expr, $($arg:tt)*) => {{
        pgrx::ereport!(ERROR, pgrx::PgSqlErrorCode::$code, format!($($arg)*), $detail);
        #[allow(unreachable_code)]
        { unreachable!() }
    }};
}

/// An ERROR with a HINT: what the user can do instead.
#[macro_export]
macro_rules! fail_hint {
    ($code:ident, $hint:expr, $($arg:tt)*) => {{
        pgrx::pg_sys::panic::ErrorReport::new(pgrx::PgSqlErrorCode::$code, format!($($arg)*), pgrx::function_name!())
            .set_hint($hint)
            .report(pgrx::PgLogLevel::ERROR);
        #[allow(unreachable_code)]
        { unreachable!() }
    }};
}

/// Declares the V1 calling-convention record PostgreSQL looks up for a C function
/// (`PG_FUNCTION_INFO_V1`): `finfo_v1!(pg_finfo_<symbol>);`.
#[macro_export]
macro_rules! finfo_v1 {
    ($name:ident) => {
        #[no_mangle]
        pub extern "C" fn $name() -> &'static pgrx::pg_sys::Pg_finfo_record {
            const V1: pgrx::pg_sys::Pg_finfo_record = pgrx::pg_sys::Pg_finfo_record { api_version: 1 };
            &V1
        }
    };
}
