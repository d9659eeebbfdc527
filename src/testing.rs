//! Helpers of the in-server `#[pg_test]`s, which live beside what they test (`*_tests.rs`).
//!
//! Every test runs in its own transaction that is rolled back at the end, but the shared-memory
//! region is *not* rolled back, and tests run concurrently on several connections. Hence:
//! - every test uses its own table, cache and role names, and drops the caches it creates;
//! - every test takes a shared advisory lock (`begin`); tests that compare the region's
//!   `used_bytes` before and after, or reset statistics, take it exclusively (`begin_alone`),
//!   so no other test changes the region while they run;
//! - errors are caught with the helper `pg_temp.err(sql)` (a PL/pgSQL exception block) and
//!   compared by SQLSTATE, so many bad calls fit in one test and nothing is left behind.

use pgrx::datum::DatumWithOid;
use pgrx::prelude::*;


pub const LOCK_KEY: i64 = 7_410_301;

pub const HELPERS: &str = r#"
    CREATE FUNCTION pg_temp.err(q text) RETURNS text LANGUAGE plpgsql AS $f$
    DECLARE st text; msg text;
    BEGIN
        EXECUTE q;
        RETURN 'ok';
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
        RETURN st || ': ' || msg;
    END $f$;
"#;

/// Start of every test that leaves the region's totals alone.
pub fn begin() {
    run(&format!("SELECT pg_advisory_xact_lock_shared({LOCK_KEY})"));
    run(HELPERS);
}

/// Start of a test that compares `used_bytes` or resets statistics: no other test runs.
pub fn begin_alone() {
    run(&format!("SELECT pg_advisory_xact_lock({LOCK_KEY})"));
    run(HELPERS);
}

pub fn run(sql: &str) {
    if let Err(e) = Spi::run(sql) {
        panic!("{sql}\n  failed: {e}");
    }
}

pub fn opt<T: FromDatum + IntoDatum>(sql: &str) -> Option<T> {
    Spi::get_one::<T>(sql).unwrap_or_else(|e| panic!("{sql}\n  failed: {e}"))
}

pub fn one<T: FromDatum + IntoDatum>(sql: &str) -> T {
    opt::<T>(sql).unwrap_or_else(|| panic!("{sql}\n  returned NULL"))
}

pub fn yes(sql: &str) -> bool {
    one::<bool>(sql)
}

pub fn lit(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// `"ok"` or `"SQLSTATE: message"` of running `sql`.
pub fn err(sql: &str) -> String {
    let args: Vec<DatumWithOid> = vec![sql.into()];
    Spi::get_one_with_args::<String>("SELECT pg_temp.err($1)", &args).unwrap().unwrap()
}

/// Asserts that `sql` fails with `state`; returns the message.
#[track_caller]
pub fn fails(state: &str, sql: &str) -> String {
    let e = err(sql);
    assert!(e.starts_with(&format!("{state}: ")), "expected SQLSTATE {state} from\n  {sql}\n  got: {e}");
    e[7..].to_string()
}

/// Asserts that `sql` fails with `state` and that the message mentions `word`.
#[track_caller]
pub fn fails_naming(state: &str, word: &str, sql: &str) {
    let m = fails(state, sql);
    assert!(m.contains(word), "message of\n  {sql}\n  should name {word:?}: {m}");
}

#[track_caller]
pub fn succeeds(sql: &str) {
    let e = err(sql);
    assert_eq!(e, "ok", "expected success of\n  {sql}");
}

/// Both queries return one value; their text forms must be equal.
#[track_caller]
pub fn same(left: &str, right: &str) {
    let l = opt::<String>(&format!("SELECT ({left})::text"));
    let r = opt::<String>(&format!("SELECT ({right})::text"));
    assert_eq!(l, r, "\n  left:  {left}\n  right: {right}");
}

pub fn hits_misses(cache: &str) -> (i64, i64) {
    let args: Vec<DatumWithOid> = vec![cache.into()];
    let (h, m) = Spi::get_two_with_args::<i64, i64>("SELECT hits, misses FROM tablecache.stats WHERE cache = $1", &args).unwrap();
    (h.expect("no stats row"), m.expect("no stats row"))
}

/// Runs `f` and returns how many hits and misses it counted on `cache`.
pub fn counted(cache: &str, f: impl FnOnce()) -> (i64, i64) {
    let (h0, m0) = hits_misses(cache);
    f();
    let (h1, m1) = hits_misses(cache);
    (h1 - h0, m1 - m0)
}

#[track_caller]
pub fn assert_hit(cache: &str, f: impl FnOnce()) {
    assert_eq!(counted(cache, f), (1, 0), "expected one hit and no miss on {cache}");
}

#[track_caller]
pub fn assert_miss(cache: &str, f: impl FnOnce()) {
    assert_eq!(counted(cache, f), (0, 1), "expected one miss and no hit on {cache}");
}

pub fn used_bytes() -> i64 {
    one::<i64>("SELECT used_bytes FROM tablecache.memory")
}

pub fn cache_field<T: FromDatum + IntoDatum>(cache: &str, col: &str) -> Option<T> {
    opt::<T>(&format!("SELECT {col} FROM tablecache.caches WHERE name = {}", lit(cache)))
}

pub fn loaded(cache: &str) -> bool {
    cache_field::<bool>(cache, "loaded").expect("no such cache in tablecache.caches")
}

pub fn rows(cache: &str) -> i64 {
    cache_field::<i64>(cache, "rows").expect("no such cache in tablecache.caches")
}

pub fn stat(cache: &str, col: &str) -> i64 {
    one::<i64>(&format!("SELECT {col} FROM tablecache.stats WHERE cache = {}", lit(cache)))
}

/// Table `t` (id int primary key, grp int not null, v text) with ids 0..n except `holes`,
/// grp = id % 10, v = 'v' || id.
pub fn make_table(t: &str, n: i32, holes: &[i32]) {
    let holes = if holes.is_empty() {
        "true".to_string()
    } else {
        format!("i NOT IN ({})", holes.iter().map(|h| h.to_string()).collect::<Vec<_>>().join(","))
    };
    run(&format!("CREATE TABLE {t} (id int PRIMARY KEY, grp int NOT NULL, v text)"));
    run(&format!("INSERT INTO {t} SELECT i, i % 10, 'v' || i FROM generate_series(0, {}) i WHERE {holes}", n - 1));
}

/// A cache `c` over `make_table`'s table, primary key `id`.
pub fn make_cache(c: &str, t: &str) {
    run(&format!("SELECT tablecache.create_cache('{c}', 'SELECT id, grp, v FROM {t}', ARRAY['id'], maintain => 'manual')"));
}

pub fn drop_cache(c: &str) {
    run(&format!("SELECT tablecache.drop_cache('{c}')"));
}

pub fn as_role(role: &str, f: impl FnOnce()) {
    run(&format!("SET LOCAL ROLE {role}"));
    f();
    run("RESET ROLE");
}
