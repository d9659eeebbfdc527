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
