//! Read-only SPI helpers. pgrx's `Spi::get_*` run through its "update" path, which assigns a
//! transaction id; a reader must not get one (a transaction with an xid may not refresh the
//! shared cache, and it costs a WAL record at commit).

use pgrx::datum::DatumWithOid;
use pgrx::prelude::*;

pub fn select_one<T: FromDatum + IntoDatum>(sql: &str, args: &[DatumWithOid]) -> Option<T> {
    Spi::connect(|c| c.select(sql, Some(1), args).ok().and_then(|t| t.first().get_one::<T>().ok().flatten()))
}

pub fn select_two<A: FromDatum + IntoDatum, B: FromDatum + IntoDatum>(sql: &str, args: &[DatumWithOid]) -> (Option<A>, Option<B>) {
    Spi::connect(|c| c.select(sql, Some(1), args).ok().and_then(|t| t.first().get_two::<A, B>().ok()).unwrap_or((None, None)))
}

pub fn select_three<A: FromDatum + IntoDatum, B: FromDatum + IntoDatum, C: FromDatum + IntoDatum>(
    sql: &str,
    args: &[DatumWithOid],
) -> (Option<A>, Option<B>, Option<C>) {
    Spi::connect(|c| c.select(sql, Some(1), args).ok().and_then(|t| t.first().get_three::<A, B, C>().ok()).unwrap_or((None, None, None)))
}

/// Every value of the first column.
pub fn select_column<T: FromDatum + IntoDatum>(sql: &str, args: &[DatumWithOid]) -> Vec<T> {
    Spi::connect(|c| {
        let mut v = Vec::new();
        if let Ok(t) = c.select(sql, None, args) {
            for row in t {
                if let Ok(Some(x)) = row.get::<T>(1) {
                    v.push(x);
                }
            }
        }
        v
    })
}
