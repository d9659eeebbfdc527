//! #[pg_test]s
use pgrx::prelude::*;

#[pg_test]
fn smoke() {
    Spi::run("CREATE TABLE smoke_t (id int)").unwrap();
}
