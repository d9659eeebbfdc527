//! In-process `#[pg_test]`s of tablecache: the SQL interface of `API.md`, run inside a real
//! server with the extension preloaded (see `crate::pg_test`).
//!
//! Every test runs in its own transaction that is rolled back at the end, but the shared-memory
//! region is *not* rolled back, and tests run concurrently on several connections. Hence:
//! - every test uses its own table, cache and role names, and drops the caches it creates;
//! - every test takes a shared advisory lock (`begin`); tests that compare the region's
//!   `used_bytes` before and after, or reset statistics, take it exclusively (`begin_alone`),
//!   so no other test changes the region while they run;
//! - errors are caught with the helper `pg_temp.err(sql)` (a PL/pgSQL exception block) and
//!   compared by SQLSTATE, so many bad calls fit in one test and nothing is left behind.
//!
//! The tests are grouped by area, in this order: definitions and catalog views; error classes;
//! reads (hits, misses, fall-through); moving the window; secondary and multi-column indexes;
//! key types; row contents (NULLs, TOAST); access control; memory accounting.
//!
//! Not tested here (being written elsewhere): invalidation (`invalidate`, `invalidate_range`,
//! `refresh`, `invalidate_trigger`).

use pgrx::prelude::*;

#[pg_schema]
mod tests {
    use pgrx::prelude::*;
    use pgrx::datum::DatumWithOid;

    // =========================================================================================
    // Helpers
    // =========================================================================================

    const LOCK_KEY: i64 = 7_410_301;

    const HELPERS: &str = r#"
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
    fn begin() {
        run(&format!("SELECT pg_advisory_xact_lock_shared({LOCK_KEY})"));
        run(HELPERS);
    }

    /// Start of a test that compares `used_bytes` or resets statistics: no other test runs.
    fn begin_alone() {
        run(&format!("SELECT pg_advisory_xact_lock({LOCK_KEY})"));
        run(HELPERS);
    }

    fn run(sql: &str) {
        if let Err(e) = Spi::run(sql) {
            panic!("{sql}\n  failed: {e}");
        }
    }

    fn opt<T: FromDatum + IntoDatum>(sql: &str) -> Option<T> {
        Spi::get_one::<T>(sql).unwrap_or_else(|e| panic!("{sql}\n  failed: {e}"))
    }

    fn one<T: FromDatum + IntoDatum>(sql: &str) -> T {
        opt::<T>(sql).unwrap_or_else(|| panic!("{sql}\n  returned NULL"))
    }

    fn yes(sql: &str) -> bool {
        one::<bool>(sql)
    }

    fn lit(s: &str) -> String {
        format!("'{}'", s.replace('\'', "''"))
    }

    /// `"ok"` or `"SQLSTATE: message"` of running `sql`.
    fn err(sql: &str) -> String {
        let args: Vec<DatumWithOid> = vec![sql.into()];
        Spi::get_one_with_args::<String>("SELECT pg_temp.err($1)", &args).unwrap().unwrap()
    }

    /// Asserts that `sql` fails with `state`; returns the message.
    #[track_caller]
    fn fails(state: &str, sql: &str) -> String {
        let e = err(sql);
        assert!(e.starts_with(&format!("{state}: ")), "expected SQLSTATE {state} from\n  {sql}\n  got: {e}");
        e[7..].to_string()
    }

    /// Asserts that `sql` fails with `state` and that the message mentions `word`.
    #[track_caller]
    fn fails_naming(state: &str, word: &str, sql: &str) {
        let m = fails(state, sql);
        assert!(m.contains(word), "message of\n  {sql}\n  should name {word:?}: {m}");
    }

    #[track_caller]
    fn succeeds(sql: &str) {
        let e = err(sql);
        assert_eq!(e, "ok", "expected success of\n  {sql}");
    }

    /// Both queries return one value; their text forms must be equal.
    #[track_caller]
    fn same(left: &str, right: &str) {
        let l = opt::<String>(&format!("SELECT ({left})::text"));
        let r = opt::<String>(&format!("SELECT ({right})::text"));
        assert_eq!(l, r, "\n  left:  {left}\n  right: {right}");
    }

    fn hits_misses(cache: &str) -> (i64, i64) {
        let args: Vec<DatumWithOid> = vec![cache.into()];
        let (h, m) = Spi::get_two_with_args::<i64, i64>("SELECT hits, misses FROM tablecache.stats WHERE cache = $1", &args).unwrap();
        (h.expect("no stats row"), m.expect("no stats row"))
    }

    /// Runs `f` and returns how many hits and misses it counted on `cache`.
    fn counted(cache: &str, f: impl FnOnce()) -> (i64, i64) {
        let (h0, m0) = hits_misses(cache);
        f();
        let (h1, m1) = hits_misses(cache);
        (h1 - h0, m1 - m0)
    }

    #[track_caller]
    fn assert_hit(cache: &str, f: impl FnOnce()) {
        assert_eq!(counted(cache, f), (1, 0), "expected one hit and no miss on {cache}");
    }

    #[track_caller]
    fn assert_miss(cache: &str, f: impl FnOnce()) {
        assert_eq!(counted(cache, f), (0, 1), "expected one miss and no hit on {cache}");
    }

    fn used_bytes() -> i64 {
        one::<i64>("SELECT used_bytes FROM tablecache.memory")
    }

    fn cache_field<T: FromDatum + IntoDatum>(cache: &str, col: &str) -> Option<T> {
        opt::<T>(&format!("SELECT {col} FROM tablecache.caches WHERE name = {}", lit(cache)))
    }

    fn loaded(cache: &str) -> bool {
        cache_field::<bool>(cache, "loaded").expect("no such cache in tablecache.caches")
    }

    fn rows(cache: &str) -> i64 {
        cache_field::<i64>(cache, "rows").expect("no such cache in tablecache.caches")
    }

    fn stat(cache: &str, col: &str) -> i64 {
        one::<i64>(&format!("SELECT {col} FROM tablecache.stats WHERE cache = {}", lit(cache)))
    }

    /// Table `t` (id int primary key, grp int not null, v text) with ids 0..n except `holes`,
    /// grp = id % 10, v = 'v' || id.
    fn make_table(t: &str, n: i32, holes: &[i32]) {
        let holes = if holes.is_empty() {
            "true".to_string()
        } else {
            format!("i NOT IN ({})", holes.iter().map(|h| h.to_string()).collect::<Vec<_>>().join(","))
        };
        run(&format!("CREATE TABLE {t} (id int PRIMARY KEY, grp int NOT NULL, v text)"));
        run(&format!("INSERT INTO {t} SELECT i, i % 10, 'v' || i FROM generate_series(0, {}) i WHERE {holes}", n - 1));
    }

    /// A cache `c` over `make_table`'s table, primary key `id`.
    fn make_cache(c: &str, t: &str) {
        run(&format!("SELECT tablecache.create_cache('{c}', 'SELECT id, grp, v FROM {t}', ARRAY['id'])"));
    }

    fn drop_cache(c: &str) {
        run(&format!("SELECT tablecache.drop_cache('{c}')"));
    }

    // =========================================================================================
    // Definitions and catalog views: create_cache, create_index, drop_index, drop_cache,
    // tablecache.caches / stats, the cache's composite row type.
    // =========================================================================================

    #[pg_test]
    fn define_create_and_drop_cache_with_views() {
        begin();
        make_table("def1_t", 50, &[]);
        make_cache("def1_c", "def1_t");
        // the catalog view
        assert!(yes(
            "SELECT name = 'def1_c' AND query = 'SELECT id, grp, v FROM def1_t' AND primary_key = ARRAY['id']
                    AND indexes = ARRAY['primary_key'] AND window_index IS NULL AND window_ge IS NULL
                    AND window_lt IS NULL AND NOT loaded AND rows = 0 AND bytes = 0
             FROM tablecache.caches WHERE name = 'def1_c'"
        ));
        assert!(yes("SELECT hits = 0 AND misses = 0 AND loads = 0 AND adjustments = 0 AND rows_loaded = 0
                     AND rows_expired = 0 FROM tablecache.stats WHERE cache = 'def1_c'"));
        // the row type: a composite type with the query's output columns and types
        same(
            "SELECT string_agg(attname || ' ' || format_type(atttypid, atttypmod), ', ' ORDER BY attnum)
               FROM pg_attribute WHERE attrelid = (SELECT typrelid FROM pg_type WHERE oid = 'def1_c'::regtype)
                AND attnum > 0 AND NOT attisdropped",
            "SELECT 'id integer, grp integer, v text'",
        );
        // indexes appear in creation order
        run("SELECT tablecache.create_index('def1_c', 'by_grp', ARRAY['grp', 'id'])");
        run("SELECT tablecache.create_index('def1_c', 'by_v', ARRAY['v'])");
        same("SELECT indexes FROM tablecache.caches WHERE name = 'def1_c'", "SELECT ARRAY['primary_key', 'by_grp', 'by_v']");
        run("SELECT tablecache.drop_index('def1_c', 'by_grp')");
        same("SELECT indexes FROM tablecache.caches WHERE name = 'def1_c'", "SELECT ARRAY['primary_key', 'by_v']");
        // the dropped index is gone, the other still works
        fails("42704", "SELECT * FROM tablecache.range(NULL::def1_c, 'by_grp')");
        same(
            "SELECT array_agg(id) FROM tablecache.range(NULL::def1_c, 'by_v', 'v1', 'v2')",
            "SELECT array_agg(id ORDER BY v, id) FROM def1_t WHERE v >= 'v1' AND v < 'v2'",
        );
        drop_cache("def1_c");
        assert!(yes("SELECT NOT EXISTS (SELECT FROM tablecache.caches WHERE name = 'def1_c')"));
        assert!(yes("SELECT NOT EXISTS (SELECT FROM tablecache.stats WHERE cache = 'def1_c')"));
        assert!(yes("SELECT to_regtype('def1_c') IS NULL"), "the row type must be dropped with the cache");
        // the name can be used again, and the new cache starts afresh
        make_cache("def1_c", "def1_t");
        assert!(!loaded("def1_c"));
        assert_eq!(hits_misses("def1_c"), (0, 0));
        drop_cache("def1_c");
    }

    #[pg_test]
    fn define_join_query_and_multicolumn_primary_key() {
        begin();
        run("CREATE TABLE def2_cust (cid int PRIMARY KEY, cname text)");
        run("CREATE TABLE def2_ord (cid int, n int, amount numeric(10,2), PRIMARY KEY (cid, n))");
        run("INSERT INTO def2_cust SELECT i, 'cust' || i FROM generate_series(1, 20) i");
        run("INSERT INTO def2_ord SELECT c, n, c * 100 + n FROM generate_series(1, 20) c, generate_series(1, 5) n");
        run("SELECT tablecache.create_cache('def2_c',
                'SELECT o.cid, o.n, c.cname, o.amount FROM def2_ord o JOIN def2_cust c USING (cid)',
                ARRAY['cid', 'n'])");
        same(
            "SELECT string_agg(format_type(atttypid, atttypmod), ',' ORDER BY attnum) FROM pg_attribute
              WHERE attrelid = (SELECT typrelid FROM pg_type WHERE oid = 'def2_c'::regtype) AND attnum > 0",
            "SELECT 'integer,integer,text,numeric(10,2)'",
        );
        assert_eq!(one::<i64>("SELECT tablecache.load('def2_c')"), 100);
        assert_hit("def2_c", || same("SELECT tablecache.get(NULL::def2_c, ROW(7, 3))", "SELECT ROW(7, 3, 'cust7', 703.00)::def2_c"));
        assert_hit("def2_c", || assert!(yes("SELECT tablecache.get(NULL::def2_c, ROW(7, 9)) IS NULL")));
        // a bound on the leading column of the primary key (a prefix)
        assert_hit("def2_c", || {
            same(
                "SELECT array_agg(n) FROM tablecache.range(NULL::def2_c, 'primary_key', ROW(7), ROW(8))",
                "SELECT ARRAY[1,2,3,4,5]",
            )
        });
        // a get needs the whole key
        fails("22023", "SELECT tablecache.get(NULL::def2_c, ROW(7))");
        fails("22023", "SELECT tablecache.get(NULL::def2_c, 7)");
        drop_cache("def2_c");
    }

    #[pg_test]
    fn define_schema_qualified_cache() {
        begin();
        run("CREATE SCHEMA def3_s");
        make_table("def3_t", 30, &[]);
        run("SELECT tablecache.create_cache('def3_s.c', 'SELECT id, grp, v FROM def3_t', ARRAY['id'])");
        assert!(yes("SELECT to_regtype('def3_s.c') IS NOT NULL"), "the row type is created in the named schema");
        run("SELECT tablecache.load('def3_s.c')");
        assert!(loaded("def3_s.c"));
        assert_hit("def3_s.c", || same("SELECT (tablecache.get(NULL::def3_s.c, 5)).v", "SELECT 'v5'"));
        drop_cache("def3_s.c");
        assert!(yes("SELECT to_regtype('def3_s.c') IS NULL"));
    }

    #[pg_test]
    fn define_create_index_on_loaded_cache_is_usable_at_once() {
        begin();
        make_table("def4_t", 300, &[]);
        make_cache("def4_c", "def4_t");
        assert_eq!(one::<i64>("SELECT tablecache.load('def4_c', 'primary_key', 100, 200)"), 100);
        run("SELECT tablecache.create_index('def4_c', 'by_grp', ARRAY['grp', 'id'])");
        assert!(loaded("def4_c"), "creating an index keeps the cache loaded");
        assert_eq!(rows("def4_c"), 100);
        same("SELECT window_index FROM tablecache.caches WHERE name = 'def4_c'", "SELECT 'primary_key'");
        // (grp, id) with grp fixed and id inside the window: served from memory at once
        assert!(yes("SELECT tablecache.covers('def4_c', 'by_grp', ROW(3, 120), ROW(3, 180))"));
        assert_hit("def4_c", || {
            same(
                "SELECT array_agg(id) FROM tablecache.range(NULL::def4_c, 'by_grp', ROW(3, 120), ROW(3, 180))",
                "SELECT array_agg(id ORDER BY grp, id) FROM def4_t WHERE (grp, id) >= (3, 120) AND (grp, id) < (3, 180)",
            )
        });
        // a window loaded on the whole query: a new index covers everything
        run("SELECT tablecache.adjust('def4_c', 'primary_key', NULL, NULL)");
        run("SELECT tablecache.create_index('def4_c', 'by_v', ARRAY['v'])");
        assert!(yes("SELECT tablecache.covers('def4_c', 'by_v', 'v1', 'v2')"));
        assert_hit("def4_c", || {
            same(
                "SELECT array_agg(id) FROM tablecache.range(NULL::def4_c, 'by_v', 'v1', 'v2')",
                "SELECT array_agg(id ORDER BY v, id) FROM def4_t WHERE v >= 'v1' AND v < 'v2'",
            )
        });
        // dropping a secondary index keeps the cache loaded
        run("SELECT tablecache.drop_index('def4_c', 'by_v')");
        assert!(loaded("def4_c"));
        assert_eq!(rows("def4_c"), 300);
        assert_hit("def4_c", || same("SELECT (tablecache.get(NULL::def4_c, 250)).v", "SELECT 'v250'"));
        drop_cache("def4_c");
    }

    #[pg_test]
    fn define_drop_window_index_unloads_but_reads_stay_correct() {
        begin();
        make_table("def5_t", 100, &[]);
        make_cache("def5_c", "def5_t");
        run("SELECT tablecache.create_index('def5_c', 'by_grp', ARRAY['grp'])");
        run("SELECT tablecache.load('def5_c', 'by_grp', 2, 5)");
        assert_eq!(rows("def5_c"), 30);
        run("SELECT tablecache.drop_index('def5_c', 'by_grp')");
        // whatever state the cache is in now, reads return the query's answer
        same("SELECT tablecache.get(NULL::def5_c, 42)", "SELECT ROW(42, 2, 'v42')::def5_c");
        same("SELECT tablecache.get(NULL::def5_c, 47)", "SELECT ROW(47, 7, 'v47')::def5_c");
        same(
            "SELECT array_agg(id) FROM tablecache.range(NULL::def5_c, 'primary_key', 10, 60)",
            "SELECT array_agg(id ORDER BY id) FROM def5_t WHERE id >= 10 AND id < 60",
        );
        drop_cache("def5_c");
    }

    // =========================================================================================
    // Error classes and their SQLSTATEs
    // =========================================================================================

    #[pg_test]
    fn errors_unknown_cache_or_index_42704() {
        begin();
        make_table("err1_t", 20, &[]);
        make_cache("err1_c", "err1_t");
        for sql in [
            "SELECT tablecache.load('err1_nope')",
            "SELECT tablecache.adjust('err1_nope', 'primary_key', 1, 2)",
            "SELECT tablecache.drop_cache('err1_nope')",
            "SELECT tablecache.create_index('err1_nope', 'i', ARRAY['id'])",
            "SELECT tablecache.drop_index('err1_nope', 'i')",
            "SELECT tablecache.covers('err1_nope', 'primary_key', 1, 2)",
            "SELECT tablecache.unload('err1_nope')",
        ] {
            fails_naming("42704", "err1_nope", sql);
        }
        for sql in [
            "SELECT tablecache.load('err1_c', 'err1_noidx')",
            "SELECT tablecache.adjust('err1_c', 'err1_noidx', 1, 2)",
            "SELECT tablecache.drop_index('err1_c', 'err1_noidx')",
            "SELECT tablecache.covers('err1_c', 'err1_noidx', 1, 2)",
            "SELECT * FROM tablecache.range(NULL::err1_c, 'err1_noidx', 1, 2)",
        ] {
            fails_naming("42704", "err1_noidx", sql);
        }
        // a row type that is not a cache's
        fails_naming("42704", "err1_t", "SELECT tablecache.get(NULL::err1_t, 1)");
        fails("42704", "SELECT * FROM tablecache.range(NULL::err1_t, 'primary_key')");
        assert!(!loaded("err1_c"));
        drop_cache("err1_c");
    }

    #[pg_test]
    fn errors_duplicate_cache_or_index_42710() {
        begin();
        make_table("err2_t", 20, &[]);
        make_cache("err2_c", "err2_t");
        run("SELECT tablecache.create_index('err2_c', 'by_grp', ARRAY['grp'])");
        fails_naming("42710", "err2_c", "SELECT tablecache.create_cache('err2_c', 'SELECT id FROM err2_t', ARRAY['id'])");
        fails_naming("42710", "by_grp", "SELECT tablecache.create_index('err2_c', 'by_grp', ARRAY['v'])");
        fails_naming("42710", "primary_key", "SELECT tablecache.create_index('err2_c', 'primary_key', ARRAY['v'])");
        // nothing changed
        same("SELECT indexes FROM tablecache.caches WHERE name = 'err2_c'", "SELECT ARRAY['primary_key', 'by_grp']");
        same("SELECT query FROM tablecache.caches WHERE name = 'err2_c'", "SELECT 'SELECT id, grp, v FROM err2_t'");
        drop_cache("err2_c");
    }

    #[pg_test]
    fn errors_unknown_column_42703() {
        begin();
        make_table("err3_t", 20, &[]);
        fails_naming("42703", "nocol", "SELECT tablecache.create_cache('err3_a', 'SELECT id, v FROM err3_t', ARRAY['nocol'])");
        // the column is in the table but not in the query's output
        fails_naming("42703", "grp", "SELECT tablecache.create_cache('err3_b', 'SELECT id, v FROM err3_t', ARRAY['grp'])");
        assert!(yes("SELECT NOT EXISTS (SELECT FROM tablecache.caches WHERE name IN ('err3_a', 'err3_b'))"));
        assert!(yes("SELECT to_regtype('err3_a') IS NULL AND to_regtype('err3_b') IS NULL"));
        run("SELECT tablecache.create_cache('err3_c', 'SELECT id, v FROM err3_t', ARRAY['id'])");
        fails_naming("42703", "grp", "SELECT tablecache.create_index('err3_c', 'by_grp', ARRAY['grp'])");
        fails_naming("42703", "nocol", "SELECT tablecache.create_index('err3_c', 'by_x', ARRAY['v', 'nocol'])");
        same("SELECT indexes FROM tablecache.caches WHERE name = 'err3_c'", "SELECT ARRAY['primary_key']");
        drop_cache("err3_c");
    }

    #[pg_test]
    fn errors_bad_argument_22023() {
        begin();
        make_table("err4_t", 100, &[]);
        run("CREATE SEQUENCE err4_seq");
        // bad definitions: nothing is created
        for (name, query, pk) in [
            ("err4_a", "SELECT id, v FROM err4_t", "ARRAY[]::text[]"),
            ("err4_b", "INSERT INTO err4_t VALUES (1000, 0, 'x') RETURNING id, v", "ARRAY['id']"),
            ("err4_c", "DELETE FROM err4_t RETURNING id", "ARRAY['id']"),
            ("err4_d", "UPDATE err4_t SET v = v RETURNING id", "ARRAY['id']"),
            ("err4_e", "WITH d AS (DELETE FROM err4_t RETURNING *) SELECT id FROM d", "ARRAY['id']"),
            ("err4_f", "SELECT id, random() AS r FROM err4_t", "ARRAY['id']"),
            ("err4_g", "SELECT id, v FROM err4_t WHERE random() < 0.5", "ARRAY['id']"),
            ("err4_h", "SELECT id FROM err4_t; SELECT id FROM err4_t", "ARRAY['id']"),
            ("err4_i", "SELECT id, v FROM err4_t FOR UPDATE", "ARRAY['id']"),
            ("err4_j", "SELECT nextval('err4_seq') AS id", "ARRAY['id']"),
            ("err4_k", "CREATE TABLE err4_x (id int)", "ARRAY['id']"),
            ("", "SELECT id FROM err4_t", "ARRAY['id']"),
        ] {
            fails("22023", &format!("SELECT tablecache.create_cache({}, {}, {pk})", lit(name), lit(query)));
        }
        assert_eq!(one::<i64>("SELECT count(*) FROM tablecache.caches WHERE name LIKE 'err4%'"), 0);
        assert!(yes("SELECT to_regclass('err4_x') IS NULL"), "the DDL must not have run");
        assert_eq!(one::<i64>("SELECT count(*) FROM err4_t"), 100, "the DML must not have run");
        // a stable function is fine
        run("SELECT tablecache.create_cache('err4_ok', 'SELECT id, grp, v, now() AS t FROM err4_t', ARRAY['id'])");
        drop_cache("err4_ok");

        make_cache("err4_c1", "err4_t");
        run("SELECT tablecache.create_index('err4_c1', 'by_grp', ARRAY['grp', 'id'])");
        // index definitions
        fails("22023", "SELECT tablecache.create_index('err4_c1', 'empty', ARRAY[]::text[])");
        fails("22023", "SELECT tablecache.create_index('err4_c1', '', ARRAY['v'])");
        fails("22023", "SELECT tablecache.drop_index('err4_c1', 'primary_key')");
        // ge > lt, everywhere a range is given
        for sql in [
            "SELECT tablecache.load('err4_c1', 'primary_key', 10, 5)",
            "SELECT * FROM tablecache.range(NULL::err4_c1, 'primary_key', 10, 5)",
            "SELECT tablecache.covers('err4_c1', 'primary_key', 10, 5)",
            "SELECT tablecache.load('err4_c1', 'by_grp', ROW(3, 1), ROW(2, 9))",
            "SELECT tablecache.load('err4_c1', 'by_grp', ROW(3, 5), ROW(3, 4))",
            "SELECT * FROM tablecache.range(NULL::err4_c1, 'by_grp', ROW(3), ROW(2))",
        ] {
            fails_naming("22023", "err4_c1", sql);
        }
        // an empty range (ge = lt) is not an error
        same("SELECT count(*) FROM tablecache.range(NULL::err4_c1, 'primary_key', 5, 5)", "SELECT 0");
        // wrong arity: too many values, or a partial key for get
        for sql in [
            "SELECT tablecache.get(NULL::err4_c1, ROW(1, 2))",
            "SELECT * FROM tablecache.range(NULL::err4_c1, 'primary_key', ROW(1, 2), NULL)",
            "SELECT * FROM tablecache.range(NULL::err4_c1, 'by_grp', ROW(1, 2, 3), NULL)",
            "SELECT tablecache.load('err4_c1', 'by_grp', ROW(1, 2, 3), NULL)",
            "SELECT tablecache.covers('err4_c1', 'by_grp', NULL, ROW(1, 2, 3))",
        ] {
            fails("22023", sql);
        }
        assert!(!loaded("err4_c1"), "no failed call may have loaded the cache");
        // adjust after load, with bad arguments: the window stays
        run("SELECT tablecache.load('err4_c1', 'primary_key', 10, 20)");
        fails("22023", "SELECT tablecache.adjust('err4_c1', 'primary_key', 50, 40)");
        fails("22023", "SELECT tablecache.adjust('err4_c1', 'by_grp', ROW(1, 2, 3), NULL)");
        same("SELECT (window_ge, window_lt) FROM tablecache.caches WHERE name = 'err4_c1'", "SELECT ROW('10', '20')");
        drop_cache("err4_c1");
    }

    #[pg_test]
    fn errors_key_of_wrong_type_42804() {
        begin();
        make_table("err5_t", 50, &[]);
        make_cache("err5_c", "err5_t");
        run("SELECT tablecache.create_index('err5_c', 'by_v', ARRAY['v'])");
        for sql in [
            "SELECT tablecache.get(NULL::err5_c, true)",
            "SELECT tablecache.get(NULL::err5_c, '2026-01-01'::date)",
            "SELECT tablecache.get(NULL::err5_c, '10 minutes'::interval)",
            "SELECT * FROM tablecache.range(NULL::err5_c, 'primary_key', false, NULL)",
            "SELECT * FROM tablecache.range(NULL::err5_c, 'primary_key', NULL, '2026-01-01'::date)",
            "SELECT tablecache.covers('err5_c', 'primary_key', true, NULL)",
            "SELECT tablecache.load('err5_c', 'primary_key', true, NULL)",
            "SELECT tablecache.load('err5_c', 'primary_key', NULL, point(1, 2))",
        ] {
            fails_naming("42804", "err5_c", sql);
        }
        // a text that is not a number: an error (any class), not rows
        let e = err("SELECT tablecache.get(NULL::err5_c, 'abc'::text)");
        assert_ne!(e, "ok");
        // a compatible type is converted: bigint and numeric keys for an integer column
        same("SELECT (tablecache.get(NULL::err5_c, 7::bigint)).v", "SELECT 'v7'");
        same("SELECT count(*) FROM tablecache.range(NULL::err5_c, 'primary_key', 10::numeric, 20::bigint)", "SELECT 10");
        assert!(!loaded("err5_c"));
        drop_cache("err5_c");
    }

    #[pg_test]
    fn errors_duplicate_column_names_42701() {
        begin();
        make_table("err6_t", 20, &[]);
        fails_naming("42701", "id", "SELECT tablecache.create_cache('err6_a', 'SELECT id, id FROM err6_t', ARRAY['id'])");
        fails_naming("42701", "x", "SELECT tablecache.create_cache('err6_b', 'SELECT id, v AS x, grp AS x FROM err6_t', ARRAY['id'])");
        fails("42701", "SELECT tablecache.create_cache('err6_c', 'SELECT id, grp, v FROM err6_t', ARRAY['id', 'id'])");
        assert_eq!(one::<i64>("SELECT count(*) FROM tablecache.caches WHERE name LIKE 'err6%'"), 0);
        make_cache("err6_d", "err6_t");
        fails_naming("42701", "grp", "SELECT tablecache.create_index('err6_d', 'by_grp', ARRAY['grp', 'grp'])");
        same("SELECT indexes FROM tablecache.caches WHERE name = 'err6_d'", "SELECT ARRAY['primary_key']");
        drop_cache("err6_d");
    }

    #[pg_test]
    fn errors_no_btree_opclass_42883() {
        begin();
        run("CREATE TABLE err7_t (id int PRIMARY KEY, p point, j json)");
        run("INSERT INTO err7_t VALUES (1, point(1, 2), '{}'), (2, point(3, 4), '[]')");
        fails_naming("42883", "p", "SELECT tablecache.create_cache('err7_a', 'SELECT id, p FROM err7_t', ARRAY['p'])");
        run("SELECT tablecache.create_cache('err7_c', 'SELECT id, p, j FROM err7_t', ARRAY['id'])");
        fails_naming("42883", "p", "SELECT tablecache.create_index('err7_c', 'by_p', ARRAY['p'])");
        fails_naming("42883", "j", "SELECT tablecache.create_index('err7_c', 'by_j', ARRAY['id', 'j'])");
        same("SELECT indexes FROM tablecache.caches WHERE name = 'err7_c'", "SELECT ARRAY['primary_key']");
        // such columns are fine as plain (non-key) columns
        run("SELECT tablecache.load('err7_c')");
        assert_hit("err7_c", || same("SELECT (tablecache.get(NULL::err7_c, 2)).p", "SELECT point(3, 4)"));
        drop_cache("err7_c");
    }

    #[pg_test]
    fn errors_load_of_loaded_cache_55000() {
        begin();
        make_table("err8_t", 100, &[]);
        make_cache("err8_c", "err8_t");
        assert_eq!(one::<i64>("SELECT tablecache.load('err8_c', 'primary_key', 0, 10)"), 10);
        fails_naming("55000", "err8_c", "SELECT tablecache.load('err8_c', 'primary_key', 0, 10)");
        fails("55000", "SELECT tablecache.load('err8_c')");
        fails("55000", "SELECT tablecache.load('err8_c', 'primary_key', 50, 60)");
        // the window is untouched
        same("SELECT (window_ge, window_lt, rows) FROM tablecache.caches WHERE name = 'err8_c'", "SELECT ROW('0', '10', 10::bigint)");
        assert_eq!(stat("err8_c", "loads"), 1);
        // after unload, load works again
        run("SELECT tablecache.unload('err8_c')");
        assert!(!loaded("err8_c"));
        assert_eq!(one::<i64>("SELECT tablecache.load('err8_c', 'primary_key', 50, 60)"), 10);
        drop_cache("err8_c");
    }

    #[pg_test]
    fn errors_duplicate_primary_key_at_load_23505() {
        begin();
        run("CREATE TABLE err9_t (a int, b text)");
        run("INSERT INTO err9_t VALUES (1, 'x'), (2, 'y'), (3, 'z'), (1, 'w')");
        run("SELECT tablecache.create_cache('err9_c', 'SELECT a, b FROM err9_t', ARRAY['a'])");
        fails_naming("23505", "err9_c", "SELECT tablecache.load('err9_c')");
        assert!(!loaded("err9_c"));
        // a window without the duplicate loads
        assert_eq!(one::<i64>("SELECT tablecache.load('err9_c', 'primary_key', 2, 10)"), 2);
        // duplicates entering by adjust are refused, and the old window stays
        fails("23505", "SELECT tablecache.adjust('err9_c', 'primary_key', 0, 10)");
        assert!(loaded("err9_c"));
        same("SELECT (window_ge, window_lt, rows) FROM tablecache.caches WHERE name = 'err9_c'", "SELECT ROW('2', '10', 2::bigint)");
        assert_hit("err9_c", || same("SELECT (tablecache.get(NULL::err9_c, 3)).b", "SELECT 'z'"));
        // a multi-column primary key: duplicates of the whole key only
        run("CREATE TABLE err9_u (a int, b int)");
        run("INSERT INTO err9_u VALUES (1, 1), (1, 2), (2, 1), (1, 1)");
        run("SELECT tablecache.create_cache('err9_d', 'SELECT a, b FROM err9_u', ARRAY['a', 'b'])");
        fails("23505", "SELECT tablecache.load('err9_d')");
        assert!(!loaded("err9_d"));
        drop_cache("err9_c");
        drop_cache("err9_d");
    }

    /// ORIGIN 9: invalid arguments raise errors before anything changes — the window, the rows,
    /// the statistics and the region's memory are as they were.
    #[pg_test]
    fn errors_change_nothing_window_rows_or_memory() {
        begin_alone();
        make_table("err10_t", 1000, &[]);
        make_cache("err10_c", "err10_t");
        run("SELECT tablecache.create_index('err10_c', 'by_grp', ARRAY['grp', 'id'])");
        run("SELECT tablecache.load('err10_c', 'primary_key', 100, 200)");
        let before = used_bytes();
        let state = "SELECT (window_index, window_ge, window_lt, loaded, rows, bytes, indexes)::text FROM tablecache.caches WHERE name = 'err10_c'";
        let s0 = one::<String>(state);
        let stats = "SELECT (loads, adjustments, rows_loaded, rows_expired)::text FROM tablecache.stats WHERE cache = 'err10_c'";
        let st0 = one::<String>(stats);
        for (code, sql) in [
            ("22023", "SELECT tablecache.adjust('err10_c', 'primary_key', 300, 200)"),
            ("42804", "SELECT tablecache.adjust('err10_c', 'primary_key', true, NULL)"),
            ("42704", "SELECT tablecache.adjust('err10_c', 'nope', 1, 2)"),
            ("22023", "SELECT tablecache.adjust('err10_c', 'by_grp', ROW(1, 2, 3), NULL)"),
            ("55000", "SELECT tablecache.load('err10_c', 'primary_key', 0, 10)"),
            ("42703", "SELECT tablecache.create_index('err10_c', 'bad', ARRAY['nope'])"),
            ("42701", "SELECT tablecache.create_index('err10_c', 'bad', ARRAY['v', 'v'])"),
            ("42710", "SELECT tablecache.create_index('err10_c', 'by_grp', ARRAY['v'])"),
            ("22023", "SELECT tablecache.drop_index('err10_c', 'primary_key')"),
        ] {
            fails(code, sql);
            assert_eq!(one::<String>(state), s0, "after {sql}");
            assert_eq!(one::<String>(stats), st0, "after {sql}");
            assert_eq!(used_bytes(), before, "memory changed after {sql}");
        }
        // an adjust that fails half-way (duplicate primary keys among the rows entering the
        // window) keeps the old window
        run("ALTER TABLE err10_t DROP CONSTRAINT err10_t_pkey");
        run("INSERT INTO err10_t VALUES (800, 1, 'dup')");
        fails("23505", "SELECT tablecache.adjust('err10_c', 'primary_key', 0, 1000)");
        assert_eq!(one::<String>(state), s0);
        assert_eq!(used_bytes(), before, "a failed adjust must give back what it staged");
        assert_hit("err10_c", || same("SELECT (tablecache.get(NULL::err10_c, 120)).v", "SELECT 'v120'"));
        // and on an unloaded cache: a failed load leaves it unloaded, memory as before
        run("SELECT tablecache.unload('err10_c')");
        let before = used_bytes();
        fails("23505", "SELECT tablecache.load('err10_c')");
        assert!(!loaded("err10_c"));
        assert_eq!(used_bytes(), before, "a failed load must give back what it staged");
        drop_cache("err10_c");
    }

    // =========================================================================================
    // Reads: hits served from memory, misses answered by the database (ORIGIN 1, 2, 3)
    // =========================================================================================

    /// ORIGIN 1: covered reads are hits, including a covered key or range that has no rows.
    #[pg_test]
    fn reads_covered_are_hits_even_when_empty() {
        begin();
        make_table("rd1_t", 2000, &[777, 778, 779]);
        make_cache("rd1_c", "rd1_t");
        assert_eq!(one::<i64>("SELECT tablecache.load('rd1_c', 'primary_key', 0, 1000)"), 997);
        assert_hit("rd1_c", || same("SELECT tablecache.get(NULL::rd1_c, 0)", "SELECT ROW(0, 0, 'v0')::rd1_c"));
        assert_hit("rd1_c", || same("SELECT tablecache.get(NULL::rd1_c, 999)", "SELECT ROW(999, 9, 'v999')::rd1_c"));
        // a key inside the window without a row: NULL, from memory
        assert_hit("rd1_c", || assert!(yes("SELECT tablecache.get(NULL::rd1_c, 778) IS NULL")));
        // a covered range without rows: empty, from memory
        assert_hit("rd1_c", || assert_eq!(one::<i64>("SELECT count(*) FROM tablecache.range(NULL::rd1_c, 'primary_key', 777, 780)"), 0));
        assert_hit("rd1_c", || assert_eq!(one::<i64>("SELECT count(*) FROM tablecache.range(NULL::rd1_c, 'primary_key', 500, 500)"), 0));
        // a covered range with rows
        assert_hit("rd1_c", || {
            same(
                "SELECT array_agg(r) FROM tablecache.range(NULL::rd1_c, 'primary_key', 770, 790) r",
                "SELECT array_agg(ROW(id, grp, v)::rd1_c ORDER BY id) FROM rd1_t WHERE id >= 770 AND id < 790",
            )
        });
        assert_hit("rd1_c", || {
            same(
                "SELECT array_agg(r) FROM tablecache.range(NULL::rd1_c, 'primary_key', 0, 1000) r",
                "SELECT array_agg(ROW(id, grp, v)::rd1_c ORDER BY id) FROM rd1_t WHERE id < 1000",
            )
        });
        assert!(yes("SELECT tablecache.covers('rd1_c', 'primary_key', 0, 1000)"));
        assert!(yes("SELECT tablecache.covers('rd1_c', 'primary_key', 777, 780)"));
        // covers itself is not a read
        assert_eq!(counted("rd1_c", || { yes("SELECT tablecache.covers('rd1_c', 'primary_key', 5, 6)"); }), (0, 0));
        // a read of a NULL key is NULL
        assert!(yes("SELECT tablecache.get(NULL::rd1_c, NULL::int) IS NULL"));
        drop_cache("rd1_c");
    }

    /// ORIGIN 2: reads not covered, even by one key, are misses with the query's answer, and
    /// that answer is not written into the cache.
    #[pg_test]
    fn reads_outside_window_by_one_key_fall_through() {
        begin();
        make_table("rd2_t", 400, &[150]);
        make_cache("rd2_c", "rd2_t");
        run("SELECT tablecache.load('rd2_c', 'primary_key', 100, 200)");
        let range_ok = |ge: &str, lt: &str| {
            same(
                &format!("SELECT array_agg(r) FROM tablecache.range(NULL::rd2_c, 'primary_key', {ge}::int, {lt}::int) r"),
                &format!(
                    "SELECT array_agg(ROW(id, grp, v)::rd2_c ORDER BY id) FROM rd2_t WHERE ({ge}::int IS NULL OR id >= {ge}) AND ({lt}::int IS NULL OR id < {lt})"
                ),
            )
        };
        assert_hit("rd2_c", || range_ok("100", "200"));
        assert_hit("rd2_c", || range_ok("199", "200"));
        for (ge, lt) in [("99", "200"), ("100", "201"), ("NULL", "200"), ("100", "NULL"), ("NULL", "NULL"), ("200", "201"), ("99", "100"), ("0", "50")] {
            assert_miss("rd2_c", || range_ok(ge, lt));
            assert_eq!(
                one::<bool>(&format!("SELECT tablecache.covers('rd2_c', 'primary_key', {ge}::int, {lt}::int)")),
                false,
                "covers [{ge}, {lt})"
            );
        }
        assert_hit("rd2_c", || same("SELECT tablecache.get(NULL::rd2_c, 100)", "SELECT ROW(100, 0, 'v100')::rd2_c"));
        assert_hit("rd2_c", || same("SELECT tablecache.get(NULL::rd2_c, 199)", "SELECT ROW(199, 9, 'v199')::rd2_c"));
        assert_hit("rd2_c", || assert!(yes("SELECT tablecache.get(NULL::rd2_c, 150) IS NULL")));
        assert_miss("rd2_c", || same("SELECT tablecache.get(NULL::rd2_c, 99)", "SELECT ROW(99, 9, 'v99')::rd2_c"));
        assert_miss("rd2_c", || same("SELECT tablecache.get(NULL::rd2_c, 200)", "SELECT ROW(200, 0, 'v200')::rd2_c"));
        assert_miss("rd2_c", || assert!(yes("SELECT tablecache.get(NULL::rd2_c, 5000) IS NULL")));
        // the database's answers were not cached: same reads miss again, the window is unchanged
        assert_miss("rd2_c", || same("SELECT tablecache.get(NULL::rd2_c, 200)", "SELECT ROW(200, 0, 'v200')::rd2_c"));
        assert_miss("rd2_c", || range_ok("100", "201"));
        assert_eq!(rows("rd2_c"), 99);
        same("SELECT (window_ge, window_lt) FROM tablecache.caches WHERE name = 'rd2_c'", "SELECT ROW('100', '200')");
        drop_cache("rd2_c");
    }

    /// ORIGIN 3: reading an unloaded cache is answered by the database; adjusting an unloaded
    /// cache loads it; loading a loaded one is an error; unload goes back to the database.
    #[pg_test]
    fn reads_unloaded_cache_and_unload() {
        begin();
        make_table("rd3_t", 300, &[]);
        make_cache("rd3_c", "rd3_t");
        run("SELECT tablecache.create_index('rd3_c', 'by_grp', ARRAY['grp'])");
        assert_miss("rd3_c", || same("SELECT tablecache.get(NULL::rd3_c, 5)", "SELECT ROW(5, 5, 'v5')::rd3_c"));
        assert_miss("rd3_c", || {
            same(
                "SELECT array_agg(id) FROM tablecache.range(NULL::rd3_c, 'by_grp', 3, 5)",
                "SELECT array_agg(id ORDER BY grp, id) FROM rd3_t WHERE grp >= 3 AND grp < 5",
            )
        });
        assert_miss("rd3_c", || {
            same("SELECT array_agg(id) FROM tablecache.range(NULL::rd3_c, 'primary_key')", "SELECT array_agg(id ORDER BY id) FROM rd3_t")
        });
        assert!(!yes("SELECT tablecache.covers('rd3_c', 'primary_key')"));
        assert!(!loaded("rd3_c"));
        // adjust of an unloaded cache loads the window
        assert_eq!(one::<i64>("SELECT tablecache.adjust('rd3_c', 'primary_key', 0, 50)"), 50);
        assert!(loaded("rd3_c"));
        assert_hit("rd3_c", || same("SELECT tablecache.get(NULL::rd3_c, 5)", "SELECT ROW(5, 5, 'v5')::rd3_c"));
        fails("55000", "SELECT tablecache.load('rd3_c')");
        // unload: the definition stays, reads go to the database
        run("SELECT tablecache.unload('rd3_c')");
        assert!(yes("SELECT NOT loaded AND rows = 0 AND window_index IS NULL FROM tablecache.caches WHERE name = 'rd3_c'"));
        assert_miss("rd3_c", || same("SELECT tablecache.get(NULL::rd3_c, 5)", "SELECT ROW(5, 5, 'v5')::rd3_c"));
        same("SELECT indexes FROM tablecache.caches WHERE name = 'rd3_c'", "SELECT ARRAY['primary_key', 'by_grp']");
        drop_cache("rd3_c");
    }

    /// `tablecache.enabled = off` sends every read to the database.
    #[pg_test]
    fn reads_disabled_go_to_database() {
        begin();
        make_table("rd4_t", 100, &[]);
        make_cache("rd4_c", "rd4_t");
        run("SELECT tablecache.load('rd4_c')");
        run("SET LOCAL tablecache.enabled = off");
        assert_miss("rd4_c", || same("SELECT tablecache.get(NULL::rd4_c, 10)", "SELECT ROW(10, 0, 'v10')::rd4_c"));
        assert_miss("rd4_c", || {
            same("SELECT array_agg(id) FROM tablecache.range(NULL::rd4_c, 'primary_key', 5, 15)", "SELECT array_agg(i) FROM generate_series(5, 14) i")
        });
        // the database's current answer, not the cached one
        run("UPDATE rd4_t SET v = 'changed' WHERE id = 10");
        assert_miss("rd4_c", || same("SELECT (tablecache.get(NULL::rd4_c, 10)).v", "SELECT 'changed'"));
        run("SET LOCAL tablecache.enabled = on");
        // without an invalidation the cache still holds what it loaded (ORIGIN 4, first half)
        assert_hit("rd4_c", || same("SELECT (tablecache.get(NULL::rd4_c, 10)).v", "SELECT 'v10'"));
        drop_cache("rd4_c");
    }

    /// Reads run from a plain SQL query of several rows each with its own key.
    #[pg_test]
    fn reads_many_gets_in_one_statement() {
        begin();
        make_table("rd5_t", 500, &[]);
        make_cache("rd5_c", "rd5_t");
        run("SELECT tablecache.load('rd5_c', 'primary_key', 0, 250)");
        let (h, m) = counted("rd5_c", || {
            same(
                "SELECT array_agg((tablecache.get(NULL::rd5_c, i)).v ORDER BY i) FROM generate_series(200, 299) i",
                "SELECT array_agg(v ORDER BY id) FROM rd5_t WHERE id BETWEEN 200 AND 299",
            )
        });
        assert_eq!((h, m), (50, 50));
        drop_cache("rd5_c");
    }

    // =========================================================================================
    // Moving the window: adjust (ORIGIN 6)
    // =========================================================================================

    #[pg_test]
    fn window_adjust_rows_leave_enter_and_stay() {
        begin();
        make_table("win1_t", 300, &[]);
        make_cache("win1_c", "win1_t");
        assert_eq!(one::<i64>("SELECT tablecache.load('win1_c', 'primary_key', 0, 100)"), 100);
        // change rows in the database without telling the cache: a row that stays keeps its cached
        // value (it is not re-read), a row that enters is read now
        run("UPDATE win1_t SET v = 'new' WHERE id IN (60, 120)");
        assert_eq!(one::<i64>("SELECT tablecache.adjust('win1_c', 'primary_key', 50, 150)"), 50, "only the new rows are loaded");
        assert!(yes("SELECT loaded AND rows = 100 AND window_index = 'primary_key' AND window_ge = '50' AND window_lt = '150'
                     FROM tablecache.caches WHERE name = 'win1_c'"));
        assert_eq!(stat("win1_c", "loads"), 1);
        assert_eq!(stat("win1_c", "adjustments"), 1);
        assert_eq!(stat("win1_c", "rows_loaded"), 150);
        assert_eq!(stat("win1_c", "rows_expired"), 50);
        assert_hit("win1_c", || same("SELECT (tablecache.get(NULL::win1_c, 60)).v", "SELECT 'v60'"));
        assert_hit("win1_c", || same("SELECT (tablecache.get(NULL::win1_c, 120)).v", "SELECT 'new'"));
        // a row that left comes from the database
        assert_miss("win1_c", || same("SELECT (tablecache.get(NULL::win1_c, 10)).v", "SELECT 'v10'"));
        assert!(!yes("SELECT tablecache.covers('win1_c', 'primary_key', 0, 100)"));
        assert!(yes("SELECT tablecache.covers('win1_c', 'primary_key', 50, 150)"));
        assert_hit("win1_c", || {
            same(
                "SELECT array_agg(r) FROM tablecache.range(NULL::win1_c, 'primary_key', 50, 150) r",
                "SELECT array_agg(ROW(id, grp, CASE WHEN id = 60 THEN 'v60' ELSE v END)::win1_c ORDER BY id) FROM win1_t WHERE id >= 50 AND id < 150",
            )
        });
        // the same window again: nothing to load
        assert_eq!(one::<i64>("SELECT tablecache.adjust('win1_c', 'primary_key', 50, 150)"), 0);
        // a narrower window: nothing to load, rows expire
        assert_eq!(one::<i64>("SELECT tablecache.adjust('win1_c', 'primary_key', 60, 70)"), 0);
        assert_eq!(rows("win1_c"), 10);
        assert_eq!(stat("win1_c", "rows_expired"), 50 + 90);
        // a disjoint window: everything new
        assert_eq!(one::<i64>("SELECT tablecache.adjust('win1_c', 'primary_key', 200, 250)"), 50);
        assert_eq!(rows("win1_c"), 50);
        // everything: only what is missing is loaded
        assert_eq!(one::<i64>("SELECT tablecache.adjust('win1_c', 'primary_key', NULL, NULL)"), 250);
        assert!(yes("SELECT rows = 300 AND window_ge IS NULL AND window_lt IS NULL FROM tablecache.caches WHERE name = 'win1_c'"));
        assert!(yes("SELECT tablecache.covers('win1_c', 'primary_key')"));
        // from everything to a part of it: nothing new
        assert_eq!(one::<i64>("SELECT tablecache.adjust('win1_c', 'primary_key', NULL, 30)"), 0);
        assert_eq!(rows("win1_c"), 30);
        assert_hit("win1_c", || same("SELECT count(*) FROM tablecache.range(NULL::win1_c, 'primary_key', NULL, 30)", "SELECT 30"));
        assert_miss("win1_c", || same("SELECT count(*) FROM tablecache.range(NULL::win1_c, 'primary_key', NULL, 31)", "SELECT 31"));
        // an empty window is loaded and covers its range
        assert_eq!(one::<i64>("SELECT tablecache.adjust('win1_c', 'primary_key', 1000, 2000)"), 0);
        assert!(yes("SELECT loaded AND rows = 0 FROM tablecache.caches WHERE name = 'win1_c'"));
        assert_hit("win1_c", || same("SELECT count(*) FROM tablecache.range(NULL::win1_c, 'primary_key', 1500, 1600)", "SELECT 0"));
        drop_cache("win1_c");
    }

    /// Small slides of a large window take the sparse merge (leaving rows found by search and
    /// extended to runs, new rows placed by search through the fences; scattered in `by_grp`):
    /// every index must still hold exactly the window's rows in its order, answered from memory.
    #[pg_test]
    fn window_small_slides_keep_every_index_exact() {
        begin();
        run("CREATE TABLE win5_t (id int PRIMARY KEY, grp int NOT NULL, ts int NOT NULL, v text)");
        // grp scatters consecutive ts over the by_grp index; ids run against ts
        run("INSERT INTO win5_t SELECT i, (i * 7919) % 97, 20000 - i, 'v' || i FROM generate_series(1, 20000) i");
        run("SELECT tablecache.create_cache('win5_c', 'SELECT id, grp, ts, v FROM win5_t', ARRAY['id'])");
        run("SELECT tablecache.create_index('win5_c', 'by_ts', ARRAY['ts'])");
        run("SELECT tablecache.create_index('win5_c', 'by_grp', ARRAY['grp', 'ts'])");
        assert_eq!(one::<i64>("SELECT tablecache.load('win5_c', 'by_ts', 5000, 15000)"), 10000);
        let check = |lo: i32, hi: i32| {
            assert_hit("win5_c", || {
                same(
                    &format!("SELECT array_agg(id) FROM tablecache.range(NULL::win5_c, 'by_ts', {lo}, {hi})"),
                    &format!("SELECT array_agg(id ORDER BY ts) FROM win5_t WHERE ts >= {lo} AND ts < {hi}"),
                )
            });
            let by_grp = counted("win5_c", || {
                same(
                    &format!("SELECT array_agg(r.id) FROM generate_series(0, 96) g,
                                LATERAL tablecache.range(NULL::win5_c, 'by_grp', ROW(g, {lo}), ROW(g, {hi})) r"),
                    &format!("SELECT array_agg(id ORDER BY grp, ts) FROM win5_t WHERE ts >= {lo} AND ts < {hi}"),
                )
            });
            assert_eq!(by_grp, (97, 0), "every by_grp range from memory");
            // the primary key index holds the same rows: every one found by get
            let by_pk = counted("win5_c", || {
                same(
                    &format!("SELECT count(*) FROM win5_t t WHERE t.ts >= {lo} AND t.ts < {hi}
                                AND (tablecache.get(NULL::win5_c, t.id)).v = t.v"),
                    &format!("SELECT {}", hi - lo),
                )
            });
            assert_eq!(by_pk, ((hi - lo) as i64, 0), "every get from memory");
        };
        let (mut lo, mut hi) = (5000, 15000);
        for step in [40i32, 40, 40, -30, -30, 200, -200, 7] {
            lo += step;
            hi += step;
            assert_eq!(one::<i64>(&format!("SELECT tablecache.adjust('win5_c', 'by_ts', {lo}, {hi})")), step.abs() as i64);
            assert_eq!(rows("win5_c"), 10000);
            check(lo, hi);
        }
        drop_cache("win5_c");
    }

    /// A window on a secondary index, moved to another index.
    #[pg_test]
    fn window_adjust_between_indexes() {
        begin();
        make_table("win2_t", 200, &[]);
        make_cache("win2_c", "win2_t");
        run("SELECT tablecache.create_index('win2_c', 'by_grp', ARRAY['grp', 'id'])");
        assert_eq!(one::<i64>("SELECT tablecache.load('win2_c', 'by_grp', ROW(2), ROW(4))"), 40);
        same("SELECT window_index FROM tablecache.caches WHERE name = 'win2_c'", "SELECT 'by_grp'");
        // a primary key whose row is in the window is a hit; one outside is a miss
        assert_hit("win2_c", || same("SELECT (tablecache.get(NULL::win2_c, 12)).v", "SELECT 'v12'"));
        assert_miss("win2_c", || same("SELECT (tablecache.get(NULL::win2_c, 15)).v", "SELECT 'v15'"));
        // move the window to the primary key: rows that were cached already are not loaded again
        // ids 0..99 hold grp 2 and 3 for 20 ids
        assert_eq!(one::<i64>("SELECT tablecache.adjust('win2_c', 'primary_key', 0, 100)"), 80);
        assert_eq!(rows("win2_c"), 100);
        assert_eq!(stat("win2_c", "rows_expired"), 20);
        assert_hit("win2_c", || same("SELECT (tablecache.get(NULL::win2_c, 15)).v", "SELECT 'v15'"));
        assert_miss("win2_c", || same("SELECT (tablecache.get(NULL::win2_c, 112)).v", "SELECT 'v112'"));
        drop_cache("win2_c");
    }

    // =========================================================================================
    // Secondary and multi-column indexes: coverage rules (ORIGIN 8), prefix bounds
    // =========================================================================================

    #[pg_test]
    fn index_secondary_coverage_rules() {
        begin();
        run("CREATE TABLE ix1_t (id int PRIMARY KEY, grp int NOT NULL, ts int NOT NULL)");
        run("INSERT INTO ix1_t SELECT i, i % 7, (i * 37) % 500 FROM generate_series(1, 1000) i");
        run("SELECT tablecache.create_cache('ix1_c', 'SELECT id, grp, ts FROM ix1_t', ARRAY['id'])");
        run("SELECT tablecache.create_index('ix1_c', 'by_ts', ARRAY['ts'])");
        run("SELECT tablecache.create_index('ix1_c', 'by_grp_ts', ARRAY['grp', 'ts'])");
        run("SELECT tablecache.create_index('ix1_c', 'by_grp', ARRAY['grp'])");
        assert_eq!(
            one::<i64>("SELECT tablecache.load('ix1_c', 'by_ts', 100, 200)"),
            one::<i64>("SELECT count(*) FROM ix1_t WHERE ts >= 100 AND ts < 200")
        );
        let check = |ge: &str, lt: &str, hit: bool| {
            let q = format!("SELECT array_agg(id) FROM tablecache.range(NULL::ix1_c, 'by_grp_ts', {ge}, {lt})");
            let want = format!(
                "SELECT array_agg(id ORDER BY grp, ts, id) FROM ix1_t WHERE ({ge} IS NULL OR ROW(grp, ts) >= {ge}) AND ({lt} IS NULL OR ROW(grp, ts) < {lt})"
            )
            .replace("ROW(grp, ts) >= ROW(3)", "grp >= 3")
            .replace("ROW(grp, ts) < ROW(4)", "grp < 4");
            let c = counted("ix1_c", || same(&q, &want));
            assert_eq!(c, if hit { (1, 0) } else { (0, 1) }, "range by_grp_ts [{ge}, {lt}) hit = {hit}");
            let cov = one::<bool>(&format!("SELECT tablecache.covers('ix1_c', 'by_grp_ts', {ge}, {lt})"));
            assert_eq!(cov, hit, "covers by_grp_ts [{ge}, {lt})");
        };
        // equality prefix on grp and a ts range inside the window: from memory
        check("ROW(3, 120)", "ROW(3, 150)", true);
        check("ROW(3, 100)", "ROW(3, 200)", true);
        check("ROW(0, 100)", "ROW(0, 101)", true);
        // not an equality prefix, a ts range outside the window, or a bare prefix: the database
        check("ROW(3, 120)", "ROW(4, 150)", false);
        check("ROW(3, 99)", "ROW(3, 150)", false);
        check("ROW(3, 150)", "ROW(3, 201)", false);
        check("ROW(3)", "ROW(4)", false);
        check("NULL::record", "ROW(3, 150)", false);
        // an index whose last column is not the window's column
        assert_miss("ix1_c", || {
            same(
                "SELECT array_agg(id) FROM tablecache.range(NULL::ix1_c, 'by_grp', 3, 4)",
                "SELECT array_agg(id ORDER BY grp, id) FROM ix1_t WHERE grp = 3",
            )
        });
        assert!(!yes("SELECT tablecache.covers('ix1_c', 'by_grp', 3, 4)"));
        // the primary key: a key whose row is cached is a hit, any range is a miss
        let cached_id = one::<i32>("SELECT min(id) FROM ix1_t WHERE ts >= 100 AND ts < 200");
        assert_hit("ix1_c", || same(&format!("SELECT (tablecache.get(NULL::ix1_c, {cached_id})).ts"), &format!("SELECT ts FROM ix1_t WHERE id = {cached_id}")));
        assert_miss("ix1_c", || same("SELECT count(*) FROM tablecache.range(NULL::ix1_c, 'primary_key', 1, 3)", "SELECT 2"));
        // the whole query loaded: every index is complete
        run("SELECT tablecache.adjust('ix1_c', 'by_ts', NULL, NULL)");
        check("ROW(3, 120)", "ROW(4, 150)", true);
        check("ROW(3)", "ROW(4)", true);
        check("NULL::record", "ROW(3, 150)", true);
        assert_hit("ix1_c", || {
            same(
                "SELECT array_agg(id) FROM tablecache.range(NULL::ix1_c, 'by_grp', 3, 5)",
                "SELECT array_agg(id ORDER BY grp, id) FROM ix1_t WHERE grp >= 3 AND grp < 5",
            )
        });
        assert_hit("ix1_c", || assert!(yes("SELECT tablecache.get(NULL::ix1_c, 5000) IS NULL")));
        drop_cache("ix1_c");
    }

    #[pg_test]
    fn index_multicolumn_window_with_prefix_bounds() {
        begin();
        run("CREATE TABLE ix2_t (id int PRIMARY KEY, a int NOT NULL, b text NOT NULL, c timestamptz NOT NULL)");
        run("INSERT INTO ix2_t SELECT i, i % 6, chr(97 + i % 5), timestamptz '2026-01-01 00:00+00' + i * interval '1 hour'
             FROM generate_series(1, 600) i");
        run("SELECT tablecache.create_cache('ix2_c', 'SELECT id, a, b, c FROM ix2_t', ARRAY['id'])");
        run("SELECT tablecache.create_index('ix2_c', 'abc', ARRAY['a', 'b', 'c'])");
        // a window given by one-column prefixes: a in [2, 4)
        assert_eq!(one::<i64>("SELECT tablecache.load('ix2_c', 'abc', ROW(2), ROW(4))"), 200);
        let q = |ge: &str, lt: &str| format!("SELECT array_agg(id) FROM tablecache.range(NULL::ix2_c, 'abc', {ge}, {lt})");
        let want = |cond: &str| format!("SELECT array_agg(id ORDER BY a, b, c, id) FROM ix2_t WHERE {cond}");
        assert_hit("ix2_c", || same(&q("ROW(2)", "ROW(4)"), &want("a >= 2 AND a < 4")));
        assert_hit("ix2_c", || same(&q("ROW(3)", "ROW(4)"), &want("a = 3")));
        assert_hit("ix2_c", || same(&q("ROW(2, 'c')", "ROW(3, 'b')"), &want("(a, b) >= (2, 'c') AND (a, b) < (3, 'b')")));
        assert_hit("ix2_c", || {
            same(
                &q("ROW(2, 'c', '2026-01-05 00:00+00'::timestamptz)", "ROW(3, 'b')"),
                &want("(a, b, c) >= (2, 'c', '2026-01-05 00:00+00') AND (a, b) < (3, 'b')"),
            )
        });
        // full-width bounds with the timestamp given in another time zone and as text
        assert_hit("ix2_c", || {
            same(
                &q("ROW(2, 'a', '2026-01-03 02:00+02'::timestamptz)", "ROW(2, 'a', '2026-01-10 00:00+00')"),
                &want("(a, b, c) >= (2, 'a', '2026-01-03 00:00+00') AND (a, b, c) < (2, 'a', '2026-01-10 00:00+00')"),
            )
        });
        assert_miss("ix2_c", || same(&q("ROW(1, 'z')", "ROW(3)"), &want("(a, b) >= (1, 'z') AND a < 3")));
        assert_miss("ix2_c", || same(&q("ROW(3)", "ROW(4, 'a')"), &want("a >= 3 AND (a, b) < (4, 'a')")));
        assert_miss("ix2_c", || same(&q("NULL::record", "ROW(2, 'b')"), &want("(a, b) < (2, 'b')")));
        assert!(yes("SELECT tablecache.covers('ix2_c', 'abc', ROW(2, 'e'), ROW(3, 'a', now()))"));
        assert!(!yes("SELECT tablecache.covers('ix2_c', 'abc', ROW(2, 'e'), ROW(4, 'a'))"));
        // the window as shown in the view
        assert!(yes("SELECT window_index = 'abc' AND window_ge IS NOT NULL AND window_lt IS NOT NULL FROM tablecache.caches WHERE name = 'ix2_c'"));
        // move the window with two-column bounds
        let n = one::<i64>("SELECT tablecache.adjust('ix2_c', 'abc', ROW(3, 'c'), ROW(5, 'b'))");
        assert_eq!(n, one::<i64>("SELECT count(*) FROM ix2_t WHERE (a, b) >= (3, 'c') AND (a, b) < (5, 'b') AND a >= 4"));
        assert_eq!(rows("ix2_c"), one::<i64>("SELECT count(*) FROM ix2_t WHERE (a, b) >= (3, 'c') AND (a, b) < (5, 'b')"));
        assert_hit("ix2_c", || same(&q("ROW(4)", "ROW(5)"), &want("a = 4")));
        assert_miss("ix2_c", || same(&q("ROW(3)", "ROW(4)"), &want("a = 3")));
        drop_cache("ix2_c");
    }

    // =========================================================================================
    // Key types: the cache's order, equality and bounds are the column type's btree ones.
    // For each type: a secondary index `by_k` (ties broken by the primary key) compared with
    // ORDER BY over the whole table and over every pair of values as bounds (all hits); a
    // window loaded between two values (its text form must round-trip); and a cache whose
    // primary key is the column (get of every value, including equal-but-different spellings).
    // =========================================================================================

    fn check_key_type(tag: &str, coltype: &str, values: &[&str], lo: &str, hi: &str) {
        let t = format!("ty_{tag}");
        let c = format!("ty_{tag}_c");
        let p = format!("ty_{tag}_p");
        run(&format!("CREATE TABLE {t} (id int PRIMARY KEY, k {coltype}, v text)"));
        let vals: Vec<String> = values.iter().enumerate().map(|(i, v)| format!("({}, {v}, 'v{}')", i + 1, i + 1)).collect();
        run(&format!("INSERT INTO {t} VALUES {}", vals.join(", ")));
        run(&format!("SELECT tablecache.create_cache('{c}', 'SELECT id, k, v FROM {t}', ARRAY['id'])"));
        run(&format!("SELECT tablecache.create_index('{c}', 'by_k', ARRAY['k'])"));
        assert_eq!(one::<i64>(&format!("SELECT tablecache.load('{c}')")), values.len() as i64);

        // whole order, and the values intact
        let (h, m) = counted(&c, || {
            same(
                &format!("SELECT array_agg(ROW(r.id, r.k::text)) FROM tablecache.range(NULL::{c}, 'by_k') r"),
                &format!("SELECT array_agg(ROW(id, k::text) ORDER BY k, id) FROM {t}"),
            )
        });
        assert_eq!((h, m), (1, 0), "{tag}: the whole range is a hit");

        // every pair of values as bounds
        let pairs = format!("(SELECT DISTINCT k FROM {t}) g, (SELECT DISTINCT k FROM {t}) l WHERE g.k <= l.k");
        let npairs = one::<i64>(&format!("SELECT count(*) FROM {pairs}"));
        let (h, m) = counted(&c, || {
            let bad = opt::<String>(&format!(
                "SELECT string_agg(format('[%s, %s)', g.k, l.k), ' ') FROM {pairs}
                   AND (SELECT array_agg(r.id) FROM tablecache.range(NULL::{c}, 'by_k', g.k, l.k) r)
                       IS DISTINCT FROM (SELECT array_agg(x.id ORDER BY x.k, x.id) FROM {t} x WHERE x.k >= g.k AND x.k < l.k)"
            ));
            assert_eq!(bad, None, "{tag}: ranges that differ from the query");
            // one-sided bounds
            let bad = opt::<String>(&format!(
                "SELECT string_agg(g.k::text, ' ') FROM (SELECT DISTINCT k FROM {t}) g
                  WHERE (SELECT array_agg(r.id) FROM tablecache.range(NULL::{c}, 'by_k', g.k, NULL) r)
                        IS DISTINCT FROM (SELECT array_agg(x.id ORDER BY x.k, x.id) FROM {t} x WHERE x.k >= g.k)
                     OR (SELECT array_agg(r.id) FROM tablecache.range(NULL::{c}, 'by_k', NULL, g.k) r)
                        IS DISTINCT FROM (SELECT array_agg(x.id ORDER BY x.k, x.id) FROM {t} x WHERE x.k < g.k)"
            ));
            assert_eq!(bad, None, "{tag}: one-sided ranges that differ from the query");
        });
        let ndistinct = one::<i64>(&format!("SELECT count(DISTINCT k) FROM {t}"));
        assert_eq!((h, m), (npairs + 2 * ndistinct, 0), "{tag}: all ranges of a fully loaded cache are hits");

        // a window between two values
        run(&format!("SELECT tablecache.unload('{c}')"));
        let n = one::<i64>(&format!("SELECT tablecache.load('{c}', 'by_k', ({lo})::{coltype}, ({hi})::{coltype})"));
        let want_n = one::<i64>(&format!("SELECT count(*) FROM {t} WHERE k >= ({lo})::{coltype} AND k < ({hi})::{coltype}"));
        assert_eq!(n, want_n, "{tag}: rows loaded in [{lo}, {hi})");
        assert_eq!(rows(&c), want_n);
        let (h, m) = counted(&c, || {
            same(
                &format!("SELECT array_agg(ROW(r.id, r.k::text)) FROM tablecache.range(NULL::{c}, 'by_k', ({lo})::{coltype}, ({hi})::{coltype}) r"),
                &format!("SELECT array_agg(ROW(id, k::text) ORDER BY k, id) FROM {t} WHERE k >= ({lo})::{coltype} AND k < ({hi})::{coltype}"),
            )
        });
        assert_eq!((h, m), (1, 0), "{tag}: the window itself is a hit");
        assert!(yes(&format!("SELECT tablecache.covers('{c}', 'by_k', ({lo})::{coltype}, ({hi})::{coltype})")), "{tag}: covers the window");
        // every pair inside the window is a hit, every pair reaching outside is a miss; all correct
        let bad = opt::<String>(&format!(
            "SELECT string_agg(format('[%s, %s)', g.k, l.k), ' ') FROM {pairs}
               AND tablecache.covers('{c}', 'by_k', g.k, l.k)
                   IS DISTINCT FROM (g.k >= ({lo})::{coltype} AND l.k <= ({hi})::{coltype})"
        ));
        assert_eq!(bad, None, "{tag}: covers() disagrees with the window [{lo}, {hi})");
        let bad = opt::<String>(&format!(
            "SELECT string_agg(format('[%s, %s)', g.k, l.k), ' ') FROM {pairs}
               AND (SELECT array_agg(r.id) FROM tablecache.range(NULL::{c}, 'by_k', g.k, l.k) r)
                   IS DISTINCT FROM (SELECT array_agg(x.id ORDER BY x.k, x.id) FROM {t} x WHERE x.k >= g.k AND x.k < l.k)"
        ));
        assert_eq!(bad, None, "{tag}: ranges (window loaded) that differ from the query");
        drop_cache(&c);

        // the column as primary key: get every value
        run(&format!("SELECT tablecache.create_cache('{p}', 'SELECT DISTINCT ON (k) k, id FROM {t} ORDER BY k, id', ARRAY['k'])"));
        run(&format!("SELECT tablecache.load('{p}')"));
        let (h, m) = counted(&p, || {
            let bad = opt::<String>(&format!(
                "SELECT string_agg(t.k::text, ' ') FROM {t} t
                  WHERE (tablecache.get(NULL::{p}, t.k)).id IS DISTINCT FROM (SELECT min(u.id) FROM {t} u WHERE u.k = t.k)"
            ));
            assert_eq!(bad, None, "{tag}: get by primary key");
        });
        assert_eq!((h, m), (values.len() as i64, 0), "{tag}: gets of a fully loaded cache are hits");
        drop_cache(&p);
    }

    #[pg_test]
    fn types_integers() {
        begin();
        check_key_type("i2", "smallint", &["5", "-32768", "32767", "0", "-1", "1", "5", "300", "-300", "255", "256"], "-1", "256");
        check_key_type(
            "i4",
            "integer",
            &["42", "-2147483648", "2147483647", "0", "-1", "1", "42", "65536", "-65536", "16777216", "255"],
            "-65536",
            "2147483647",
        );
        check_key_type(
            "i8",
            "bigint",
            &["-9223372036854775808", "9223372036854775807", "0", "-1", "1", "4294967296", "-4294967296", "4294967295", "1"],
            "-4294967296",
            "4294967296",
        );
    }

    #[pg_test]
    fn types_numeric() {
        begin();
        check_key_type(
            "num",
            "numeric",
            &[
                "'NaN'", "1.00", "1", "1.0", "-1.5", "-1.50", "0", "0.000", "-0.001", "-1e20", "1e-10", "10", "9.99", "2.5",
                "123456789012345678901234567890.123", "-123456789012345678901234567890.123", "'NaN'", "0.1", "0.01", "100",
                "-100", "-10", "-9.99", "99999999999999999999", "1e20", "-0.1", "1e-100", "1e100", "-1e100", "-1e-100",
            ],
            "-1.50",
            "10.0",
        );
        // a window reaching NaN (NaN is larger than every number)
        check_key_type("num2", "numeric(12,3)", &["'NaN'", "1.5", "-2.25", "0", "1.500", "7", "'NaN'"], "-2.250", "'NaN'");
    }

    #[pg_test]
    fn types_floats() {
        begin();
        check_key_type(
            "f4",
            "real",
            &["0", "'-0'", "'NaN'", "'Infinity'", "'-Infinity'", "-1.5", "1e-30", "-1e-30", "3.4e38", "-3.4e38", "1.1", "'-0'", "0", "'NaN'"],
            "'-0'",
            "'Infinity'",
        );
        check_key_type(
            "f8",
            "double precision",
            &[
                "'-0'", "0", "'NaN'", "'Infinity'", "'-Infinity'", "0.1", "0.30000000000000004", "-1.7976931348623157e308",
                "1.7976931348623157e308", "'5e-324'", "'-5e-324'", "'-0'", "'NaN'", "2", "-2",
            ],
            "-2",
            "'NaN'",
        );
    }

    #[pg_test]
    fn types_dates_and_times() {
        begin();
        check_key_type(
            "date",
            "date",
            &["'2000-01-01'", "'1999-12-31'", "'4713-01-01 BC'", "'-infinity'", "'infinity'", "'2026-02-28'", "'1970-01-01'", "'5874897-12-31'", "'2000-01-01'"],
            "'1970-01-01'",
            "'infinity'",
        );
        check_key_type(
            "ts",
            "timestamp",
            &[
                "'2000-01-01 00:00:00'", "'2000-01-01 00:00:00.000001'", "'1999-12-31 23:59:59.999999'", "'-infinity'", "'infinity'",
                "'1900-01-01'", "'294276-12-31 23:59:59'", "'4713-01-01 00:00 BC'", "'2026-03-29 02:30'", "'2000-01-01 00:00:00'",
            ],
            "'1999-12-31 23:59:59.999999'",
            "'2026-03-29 02:30'",
        );
        check_key_type(
            "tstz",
            "timestamptz",
            &[
                "'2026-03-29 01:30:00+00'", "'2026-03-29 03:30:00+02'", "'2026-03-29 01:30:00.5+00'", "'1999-12-31 23:59:59.999999-12'",
                "'-infinity'", "'infinity'", "'2000-01-01 00:00+14'", "'1970-01-01 00:00+00'", "'2026-03-29 00:30:00-01'",
            ],
            "'2026-03-29 03:30:00+02'",
            "'2026-03-29 01:30:00.5+00'",
        );
    }

    const STRINGS: &[&str] = &[
        "'b'", "'a'", "'B'", "'A'", "''", "'aa'", "'a b'", "'ab'", "'abc'", "'abcd'", "'Ä'", "'é'", "'e'", "'f'", "'z'", "'Z'",
        "'ä'", "'a-b'", "'ab '", "'10'", "'9'", "'~'", "E'\\t'", "'😀'", "'ß'", "'ss'", "'a'",
    ];

    #[pg_test]
    fn types_text_c_collation() {
        begin();
        check_key_type("txt_c", "text COLLATE \"C\"", STRINGS, "'B'", "'ab '");
        check_key_type("vc_c", "varchar(10) COLLATE \"C\"", STRINGS, "'Z'", "'é'");
    }

    #[pg_test]
    fn types_text_default_collation() {
        begin();
        check_key_type("txt_d", "text", STRINGS, "'B'", "'ab '");
        check_key_type("vc_d", "varchar(10)", STRINGS, "'a'", "'z'");
    }

    /// A libc collation other than C (if the server knows one): strxfrm order must match.
    #[pg_test]
    fn types_text_libc_collation() {
        begin();
        for (tag, coll) in [("txt_en", "en_US.utf8"), ("txt_de", "de_DE.utf8")] {
            let known = yes(&format!(
                "SELECT EXISTS (SELECT FROM pg_collation WHERE collprovider = 'c' AND collname = '{coll}'
                   AND collencoding IN (-1, pg_char_to_encoding(getdatabaseencoding())))"
            ));
            if known {
                check_key_type(tag, &format!("text COLLATE \"{coll}\""), STRINGS, "'a'", "'Z'");
            }
        }
    }

    #[pg_test]
    fn types_uuid_and_boolean() {
        begin();
        check_key_type(
            "uuid",
            "uuid",
            &[
                "'00000000-0000-0000-0000-000000000000'", "'ffffffff-ffff-ffff-ffff-ffffffffffff'", "'7fffffff-ffff-ffff-ffff-ffffffffffff'",
                "'80000000-0000-0000-0000-000000000000'", "'00000000-0000-0000-0000-000000000001'", "'00000000-0000-0000-8000-000000000000'",
                "'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'", "'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11'", "'12345678-1234-5678-1234-567812345678'",
            ],
            "'00000000-0000-0000-0000-000000000001'",
            "'80000000-0000-0000-0000-000000000000'",
        );
        check_key_type("bool", "boolean", &["true", "false", "true", "false", "false"], "false", "true");
    }

    /// Types beyond the required list that the key encoder supports.
    #[pg_test]
    fn types_more_key_types() {
        begin();
        check_key_type("bytea", "bytea", &["'\\x00'", "''", "'\\xff'", "'\\x0000'", "'\\x7f'", "'\\x80'", "'\\x00ff'", "'\\x00'"], "'\\x00'", "'\\x80'");
        check_key_type("bpchar", "char(4)", &["'a'", "'a '", "'b'", "''", "'ab'", "'a  b'", "'A'"], "'a'", "'b'");
        check_key_type(
            "interval",
            "interval",
            &["'1 month'", "'30 days'", "'-1 day'", "'1 day'", "'24 hours'", "'1 year'", "'0'", "'-1 year'", "'1 microsecond'", "'1 mon 1 day'"],
            "'-1 day'",
            "'30 days'",
        );
        check_key_type("time", "time", &["'00:00'", "'23:59:59.999999'", "'12:00'", "'24:00'", "'00:00:00.000001'"], "'00:00:00.000001'", "'24:00'");
        check_key_type("oid", "oid", &["0", "1", "4294967295", "2147483648", "2147483647", "1"], "1", "4294967295");
    }

    /// Ties in btree equality are one key: 0 and -0, 1 and 1.00 collide as primary keys.
    #[pg_test]
    fn types_equal_values_are_duplicate_primary_keys() {
        begin();
        run("CREATE TABLE ty_eq (f float8, n numeric, t text)");
        run("INSERT INTO ty_eq VALUES (0, 1, 'a'), ('-0', 1.00, 'b')");
        run("SELECT tablecache.create_cache('ty_eq_f', 'SELECT f FROM ty_eq', ARRAY['f'])");
        run("SELECT tablecache.create_cache('ty_eq_n', 'SELECT n FROM ty_eq', ARRAY['n'])");
        run("SELECT tablecache.create_cache('ty_eq_t', 'SELECT t FROM ty_eq', ARRAY['t'])");
        fails("23505", "SELECT tablecache.load('ty_eq_f')");
        fails("23505", "SELECT tablecache.load('ty_eq_n')");
        succeeds("SELECT tablecache.load('ty_eq_t')");
        assert!(!loaded("ty_eq_f") && !loaded("ty_eq_n") && loaded("ty_eq_t"));
        drop_cache("ty_eq_f");
        drop_cache("ty_eq_n");
        drop_cache("ty_eq_t");
    }

    // =========================================================================================
    // Row contents: NULLs, TOASTed values, every column type returned intact
    // =========================================================================================

    #[pg_test]
    fn rows_nulls_in_non_key_columns() {
        begin();
        run("CREATE TABLE row1_t (id int PRIMARY KEY, a text, b numeric, c timestamptz, d int[], e jsonb, f bool, g float4)");
        run("INSERT INTO row1_t VALUES
               (1, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
               (2, 'x', 1.50, '2026-01-01 00:00+00', ARRAY[1, NULL, 3], '{\"k\": null}', true, '-0'),
               (3, '', 0, NULL, '{}', 'null', false, 'NaN'),
               (4, NULL, 'NaN', 'infinity', ARRAY[NULL]::int[], NULL, NULL, NULL)");
        run("SELECT tablecache.create_cache('row1_c', 'SELECT * FROM row1_t', ARRAY['id'])");
        run("SELECT tablecache.load('row1_c')");
        for id in 1..=4 {
            assert_hit("row1_c", || {
                same(&format!("SELECT tablecache.get(NULL::row1_c, {id})"), &format!("SELECT t::text::row1_c FROM row1_t t WHERE id = {id}"))
            });
        }
        assert!(yes("SELECT (tablecache.get(NULL::row1_c, 1)).a IS NULL AND (tablecache.get(NULL::row1_c, 3)).a = ''"));
        assert_hit("row1_c", || {
            same(
                "SELECT array_agg(r::text) FROM tablecache.range(NULL::row1_c, 'primary_key') r",
                "SELECT array_agg(t::text ORDER BY id) FROM row1_t t",
            )
        });
        drop_cache("row1_c");
    }

    /// NULLs in a secondary index column: they sort last (like ORDER BY), and a bounded range
    /// never returns them.
    #[pg_test]
    fn rows_nulls_in_secondary_index_key() {
        begin();
        run("CREATE TABLE row2_t (id int PRIMARY KEY, k int, s text)");
        run("INSERT INTO row2_t SELECT i, CASE WHEN i % 4 = 0 THEN NULL ELSE i % 9 END, CASE WHEN i % 3 = 0 THEN NULL ELSE 's' || (i % 5) END
             FROM generate_series(1, 100) i");
        run("SELECT tablecache.create_cache('row2_c', 'SELECT id, k, s FROM row2_t', ARRAY['id'])");
        run("SELECT tablecache.create_index('row2_c', 'by_k', ARRAY['k'])");
        run("SELECT tablecache.create_index('row2_c', 'by_k_s', ARRAY['k', 's'])");
        run("SELECT tablecache.load('row2_c')");
        assert_hit("row2_c", || {
            same("SELECT array_agg(id) FROM tablecache.range(NULL::row2_c, 'by_k')", "SELECT array_agg(id ORDER BY k, id) FROM row2_t")
        });
        assert_hit("row2_c", || {
            same("SELECT array_agg(id) FROM tablecache.range(NULL::row2_c, 'by_k_s')", "SELECT array_agg(id ORDER BY k, s, id) FROM row2_t")
        });
        assert_hit("row2_c", || {
            same("SELECT array_agg(id) FROM tablecache.range(NULL::row2_c, 'by_k', 3, NULL)", "SELECT array_agg(id ORDER BY k, id) FROM row2_t WHERE k >= 3")
        });
        assert_hit("row2_c", || {
            same("SELECT array_agg(id) FROM tablecache.range(NULL::row2_c, 'by_k', NULL, 3)", "SELECT array_agg(id ORDER BY k, id) FROM row2_t WHERE k < 3")
        });
        assert_hit("row2_c", || {
            same(
                "SELECT array_agg(id) FROM tablecache.range(NULL::row2_c, 'by_k_s', ROW(2), ROW(5, 's3'))",
                "SELECT array_agg(id ORDER BY k, s, id) FROM row2_t WHERE k >= 2 AND (k, s) < (5, 's3')",
            )
        });
        assert_hit("row2_c", || {
            same(
                "SELECT array_agg(id) FROM tablecache.range(NULL::row2_c, 'by_k_s', ROW(2, 's1'), ROW(2, 's4'))",
                "SELECT array_agg(id ORDER BY k, s, id) FROM row2_t WHERE (k, s) >= (2, 's1') AND (k, s) < (2, 's4')",
            )
        });
        // a window on the index: rows whose key is NULL are not in [ge, lt)
        run("SELECT tablecache.unload('row2_c')");
        assert_eq!(
            one::<i64>("SELECT tablecache.load('row2_c', 'by_k', 2, 6)"),
            one::<i64>("SELECT count(*) FROM row2_t WHERE k >= 2 AND k < 6")
        );
        assert_hit("row2_c", || {
            same("SELECT array_agg(id) FROM tablecache.range(NULL::row2_c, 'by_k', 2, 6)", "SELECT array_agg(id ORDER BY k, id) FROM row2_t WHERE k >= 2 AND k < 6")
        });
        // a NULL in a bound is refused
        let e = err("SELECT * FROM tablecache.range(NULL::row2_c, 'by_k_s', ROW(2, NULL::text), NULL)");
        assert_ne!(e, "ok", "a bound containing NULL");
        drop_cache("row2_c");
    }

    /// A value of about 1.3 MB, stored TOASTed and compressed in the table, is returned intact.
    #[pg_test]
    fn rows_toasted_value_intact() {
        begin();
        run("CREATE TABLE row3_t (id int PRIMARY KEY, big text, small text)");
        run("INSERT INTO row3_t SELECT i, repeat(md5(i::text), 40000), 's' || i FROM generate_series(1, 3) i");
        run("INSERT INTO row3_t VALUES (4, NULL, 's4')");
        assert!(yes("SELECT pg_column_size(big) < octet_length(big) FROM row3_t WHERE id = 1"), "the value should be compressed");
        run("SELECT tablecache.create_cache('row3_c', 'SELECT id, big, small FROM row3_t', ARRAY['id'])");
        run("SELECT tablecache.load('row3_c')");
        assert!(one::<i64>("SELECT bytes FROM tablecache.caches WHERE name = 'row3_c'") > 3 * 1_280_000, "rows are kept detoasted");
        for id in 1..=3 {
            assert_hit("row3_c", || {
                same(
                    &format!("SELECT md5(r.big) || octet_length(r.big) FROM tablecache.get(NULL::row3_c, {id}) r"),
                    &format!("SELECT md5(big) || octet_length(big) FROM row3_t WHERE id = {id}"),
                )
            });
        }
        assert_hit("row3_c", || {
            same(
                "SELECT string_agg(md5(big) || coalesce(small, '-'), ',') FROM tablecache.range(NULL::row3_c, 'primary_key') r",
                "SELECT string_agg(md5(big) || coalesce(small, '-'), ',' ORDER BY id) FROM row3_t",
            )
        });
        // the table changes (and its TOAST is rewritten): the cache still has its own copy
        run("UPDATE row3_t SET big = 'short' WHERE id = 2");
        assert_hit("row3_c", || {
            same("SELECT md5((tablecache.get(NULL::row3_c, 2)).big)", "SELECT md5(repeat(md5('2'), 40000))")
        });
        drop_cache("row3_c");
    }

    /// A base table altered under a defined cache: load refuses with 42804 ("no longer returns
    /// the columns of its row type"); reads that fall through must refuse the same way, never
    /// return a row misread with the old row type.
    #[pg_test]
    fn rows_base_table_column_used_by_a_cache_cannot_change_type() {
        begin();
        run("CREATE TABLE row4_t (id int PRIMARY KEY, v text)");
        run("INSERT INTO row4_t SELECT i, 'v' || i FROM generate_series(1, 20) i");
        run("SELECT tablecache.create_cache('row4_c', 'SELECT id, v FROM row4_t', ARRAY['id'])");
        run("SELECT tablecache.load('row4_c')");
        // the cache's view depends on the column, like any view
        fails("0A000", "ALTER TABLE row4_t ALTER COLUMN v TYPE int USING id * 1000");
        // nor can the cache's row type or view be altered under it
        fails("0A000", "ALTER TYPE row4_c RENAME ATTRIBUTE v TO w");
        fails("0A000", "ALTER VIEW row4_c RENAME COLUMN v TO w");
        fails("0A000", "ALTER VIEW row4_c RENAME TO row4_d");
        assert_hit("row4_c", || same("SELECT (tablecache.get(NULL::row4_c, 3)).v", "SELECT 'v3'"));
        drop_cache("row4_c");
    }

    // =========================================================================================
    // Access control (42501)
    // =========================================================================================

    fn as_role(role: &str, f: impl FnOnce()) {
        run(&format!("SET LOCAL ROLE {role}"));
        f();
        run("RESET ROLE");
    }

    #[pg_test]
    fn access_reading_needs_select_on_base_tables() {
        begin();
        run("CREATE TABLE acc1_t (id int PRIMARY KEY, v text, secret text)");
        run("CREATE TABLE acc1_u (id int PRIMARY KEY, w text)");
        run("INSERT INTO acc1_t SELECT i, 'v' || i, 's' || i FROM generate_series(1, 50) i");
        run("INSERT INTO acc1_u SELECT i, 'w' || i FROM generate_series(1, 50) i");
        run("SELECT tablecache.create_cache('acc1_c', 'SELECT t.id, t.v, u.w FROM acc1_t t JOIN acc1_u u USING (id)', ARRAY['id'])");
        run("SELECT tablecache.create_index('acc1_c', 'by_v', ARRAY['v'])");
        run("CREATE ROLE tc_acc1_none");
        run("CREATE ROLE tc_acc1_one");
        run("CREATE ROLE tc_acc1_cols");
        run("CREATE ROLE tc_acc1_all");
        run("GRANT USAGE ON SCHEMA tablecache TO tc_acc1_none, tc_acc1_one, tc_acc1_cols, tc_acc1_all");
        run("GRANT SELECT ON acc1_t TO tc_acc1_one");
        run("GRANT SELECT (id, secret) ON acc1_t TO tc_acc1_cols");
        run("GRANT SELECT ON acc1_u TO tc_acc1_cols");
        run("GRANT SELECT ON acc1_t, acc1_u TO tc_acc1_all");
        let reads = [
            "SELECT tablecache.get(NULL::acc1_c, 5)",
            "SELECT * FROM tablecache.range(NULL::acc1_c, 'primary_key', 1, 10)",
            "SELECT * FROM tablecache.range(NULL::acc1_c, 'by_v')",
            "SELECT * FROM tablecache.range(NULL::acc1_c, 'primary_key')",
        ];
        for pass in ["unloaded", "loaded"] {
            for role in ["tc_acc1_none", "tc_acc1_one", "tc_acc1_cols"] {
                as_role(role, || {
                    for sql in reads {
                        let e = err(sql);
                        assert!(e.starts_with("42501: "), "{pass}, {role}: {sql}\n  should be refused with 42501, got {e}");
                    }
                });
            }
            as_role("tc_acc1_all", || {
                same("SELECT (tablecache.get(NULL::acc1_c, 5)).w", "SELECT 'w5'");
                same("SELECT count(*) FROM tablecache.range(NULL::acc1_c, 'primary_key', 1, 10)", "SELECT 9");
            });
            if pass == "unloaded" {
                run("SELECT tablecache.load('acc1_c')");
            }
        }
        // served from memory for the role that may read
        as_role("tc_acc1_all", || assert_hit("acc1_c", || same("SELECT (tablecache.get(NULL::acc1_c, 7)).v", "SELECT 'v7'")));
        drop_cache("acc1_c");
    }

    #[pg_test]
    fn access_only_owner_manages_cache() {
        begin();
        make_table("acc2_t", 100, &[]);
        make_cache("acc2_c", "acc2_t");
        run("SELECT tablecache.create_index('acc2_c', 'by_grp', ARRAY['grp'])");
        run("SELECT tablecache.load('acc2_c', 'primary_key', 0, 50)");
        run("CREATE ROLE tc_acc2_other");
        run("GRANT USAGE ON SCHEMA tablecache TO tc_acc2_other");
        run("GRANT SELECT ON acc2_t TO tc_acc2_other");
        as_role("tc_acc2_other", || {
            for sql in [
                "SELECT tablecache.load('acc2_c', 'primary_key', 0, 10)",
                "SELECT tablecache.adjust('acc2_c', 'primary_key', 0, 10)",
                "SELECT tablecache.unload('acc2_c')",
                "SELECT tablecache.drop_cache('acc2_c')",
                "SELECT tablecache.create_index('acc2_c', 'by_v', ARRAY['v'])",
                "SELECT tablecache.drop_index('acc2_c', 'by_grp')",
            ] {
                fails_naming("42501", "acc2_c", sql);
            }
            // reading is allowed (SELECT on the table)
            assert_hit("acc2_c", || same("SELECT (tablecache.get(NULL::acc2_c, 5)).v", "SELECT 'v5'"));
        });
        assert!(yes("SELECT loaded AND rows = 50 AND window_ge = '0' AND window_lt = '50' AND indexes = ARRAY['primary_key', 'by_grp']
                     FROM tablecache.caches WHERE name = 'acc2_c'"));
        // a cache created by a non-superuser: that role manages it, another one may not
        run("CREATE ROLE tc_acc2_owner");
        run("GRANT USAGE ON SCHEMA tablecache TO tc_acc2_owner");
        run("GRANT SELECT ON acc2_t TO tc_acc2_owner");
        run("GRANT CREATE ON SCHEMA public TO tc_acc2_owner");
        // creating caches is a privilege a superuser grants
        as_role("tc_acc2_owner", || {
            fails("42501", "SELECT tablecache.create_cache('acc2_d', 'SELECT id, v FROM acc2_t', ARRAY['id'])");
        });
        run("GRANT EXECUTE ON FUNCTION tablecache.create_cache(text, text, text[]) TO tc_acc2_owner");
        as_role("tc_acc2_owner", || {
            succeeds("SELECT tablecache.create_cache('acc2_d', 'SELECT id, v FROM acc2_t', ARRAY['id'])");
            succeeds("SELECT tablecache.load('acc2_d', 'primary_key', 0, 20)");
        });
        as_role("tc_acc2_other", || {
            fails_naming("42501", "acc2_d", "SELECT tablecache.adjust('acc2_d', 'primary_key', 0, 30)");
            fails_naming("42501", "acc2_d", "SELECT tablecache.drop_cache('acc2_d')");
        });
        assert_eq!(rows("acc2_d"), 20);
        as_role("tc_acc2_owner", || {
            assert_eq!(one::<i64>("SELECT tablecache.adjust('acc2_d', 'primary_key', 0, 30)"), 10);
            succeeds("SELECT tablecache.drop_cache('acc2_d')");
        });
        drop_cache("acc2_c");
    }

    // =========================================================================================
    // Memory accounting: the region gives back everything (tests run alone)
    // =========================================================================================

    #[pg_test]
    fn memory_returns_to_start_after_load_and_drop() {
        begin_alone();
        let start = used_bytes();
        assert!(yes("SELECT total_bytes >= 32 * 1024 * 1024 AND used_bytes >= 0 AND free_bytes > 0
                     AND used_bytes + free_bytes <= total_bytes FROM tablecache.memory"));
        make_table("mem1_t", 5000, &[]);
        make_cache("mem1_c", "mem1_t");
        run("SELECT tablecache.create_index('mem1_c', 'by_grp', ARRAY['grp', 'id'])");
        assert_eq!(used_bytes(), start, "defining a cache takes no region memory");
        run("SELECT tablecache.load('mem1_c')");
        let full = used_bytes();
        let bytes = cache_field::<i64>("mem1_c", "bytes").unwrap();
        assert!(bytes > 5000 * 16, "bytes of a 5000-row cache: {bytes}");
        assert!(full - start >= bytes, "used_bytes grew by {} but the cache holds {bytes}", full - start);
        // reads allocate nothing
        same("SELECT count(*) FROM tablecache.range(NULL::mem1_c, 'by_grp', ROW(3), ROW(4))", "SELECT 500");
        assert_eq!(used_bytes(), full);
        // a smaller window holds less; back to everything holds the same again
        run("SELECT tablecache.adjust('mem1_c', 'primary_key', 0, 1000)");
        assert!(used_bytes() < full);
        run("SELECT tablecache.adjust('mem1_c', 'primary_key', NULL, NULL)");
        assert_eq!(used_bytes(), full, "same window, same memory");
        // create_index on a loaded cache rebuilds its arrays without leaking the old ones
        run("SELECT tablecache.create_index('mem1_c', 'by_v', ARRAY['v'])");
        let with_ix = used_bytes();
        run("SELECT tablecache.drop_index('mem1_c', 'by_v')");
        assert_eq!(used_bytes(), full, "create_index + drop_index on a loaded cache");
        assert!(with_ix > full);
        // unload gives everything back
        run("SELECT tablecache.unload('mem1_c')");
        assert_eq!(used_bytes(), start, "after unload");
        // load again, then drop: back to the start
        run("SELECT tablecache.load('mem1_c', 'by_grp', ROW(1), ROW(5))");
        assert!(used_bytes() > start);
        drop_cache("mem1_c");
        assert_eq!(used_bytes(), start, "after drop_cache");
    }

    /// A load larger than the region fails with SQLSTATE 53200 (API.md: "53200 region full"),
    /// gives back what it staged and leaves the cache unloaded.
    #[pg_test]
    fn memory_region_full_leaves_nothing_behind() {
        begin_alone();
        let start = used_bytes();
        let total = one::<i64>("SELECT total_bytes FROM tablecache.memory");
        // rows of 1.28 MB each, together larger than the region (compressed small in the table)
        let n = total / 1_280_000 + 10;
        run("CREATE TABLE mem2_t (id int PRIMARY KEY, big text)");
        run(&format!("INSERT INTO mem2_t SELECT i, repeat(md5(i::text), 40000) FROM generate_series(1, {n}) i"));
        run("SELECT tablecache.create_cache('mem2_c', 'SELECT id, big FROM mem2_t', ARRAY['id'])");
        let e = err("SELECT tablecache.load('mem2_c')");
        assert!(e.starts_with("53"), "a load larger than the region must fail with an insufficient-resources error: {e}");
        assert!(e.contains("mem2_c"), "the message names the cache: {e}");
        assert!(!loaded("mem2_c"));
        assert_eq!(used_bytes(), start, "a failed load gives back everything");
        // a window that fits loads, and reads are right
        assert_eq!(one::<i64>("SELECT tablecache.load('mem2_c', 'primary_key', 1, 6)"), 5);
        assert_hit("mem2_c", || same("SELECT md5((tablecache.get(NULL::mem2_c, 3)).big)", "SELECT md5(big) FROM mem2_t WHERE id = 3"));
        // an adjust that does not fit keeps the old window
        let e = err("SELECT tablecache.adjust('mem2_c', 'primary_key', NULL, NULL)");
        assert!(e.starts_with("53"), "{e}");
        same("SELECT (window_ge, window_lt, rows) FROM tablecache.caches WHERE name = 'mem2_c'", "SELECT ROW('1', '6', 5::bigint)");
        assert_hit("mem2_c", || same("SELECT md5((tablecache.get(NULL::mem2_c, 3)).big)", "SELECT md5(big) FROM mem2_t WHERE id = 3"));
        drop_cache("mem2_c");
        assert_eq!(used_bytes(), start);
    }

    /// API.md names 53200 (out of memory) for a full region.
    #[pg_test]
    fn memory_region_full_is_53200() {
        begin_alone();
        let total = one::<i64>("SELECT total_bytes FROM tablecache.memory");
        let n = total / 1_280_000 + 10;
        run("CREATE TABLE mem3_t (id int PRIMARY KEY, big text)");
        run(&format!("INSERT INTO mem3_t SELECT i, repeat(md5(i::text), 40000) FROM generate_series(1, {n}) i"));
        run("SELECT tablecache.create_cache('mem3_c', 'SELECT id, big FROM mem3_t', ARRAY['id'])");
        let e = err("SELECT tablecache.load('mem3_c')");
        drop_cache("mem3_c");
        assert!(e.starts_with("53200: "), "expected 53200, got {e}");
    }

    /// A cache created and loaded in a subtransaction that rolls back no longer exists; the
    /// memory its rows held must be given back (API.md: no bad call leaks shared memory).
    #[pg_test]
    fn memory_aborted_create_and_load_gives_memory_back() {
        begin_alone();
        make_table("mem4_t", 2000, &[]);
        let start = used_bytes();
        run("DO $$ BEGIN
               PERFORM tablecache.create_cache('mem4_c', 'SELECT id, grp, v FROM mem4_t', ARRAY['id']);
               PERFORM tablecache.load('mem4_c');
               RAISE EXCEPTION 'roll back';
             EXCEPTION WHEN raise_exception THEN NULL;
             END $$");
        assert!(yes("SELECT NOT EXISTS (SELECT FROM tablecache.caches WHERE name = 'mem4_c')"));
        assert_eq!(used_bytes(), start, "the rows of a cache that never existed are still in the region");
    }

    /// A drop_cache that rolls back leaves a working cache: reads are still right.
    #[pg_test]
    fn define_aborted_drop_leaves_a_working_cache() {
        begin();
        make_table("def6_t", 100, &[]);
        make_cache("def6_c", "def6_t");
        run("SELECT tablecache.load('def6_c', 'primary_key', 0, 50)");
        run("DO $$ BEGIN
               PERFORM tablecache.drop_cache('def6_c');
               RAISE EXCEPTION 'roll back';
             EXCEPTION WHEN raise_exception THEN NULL;
             END $$");
        assert!(yes("SELECT EXISTS (SELECT FROM tablecache.caches WHERE name = 'def6_c')"));
        same("SELECT tablecache.get(NULL::def6_c, 10)", "SELECT ROW(10, 0, 'v10')::def6_c");
        same("SELECT tablecache.get(NULL::def6_c, 70)", "SELECT ROW(70, 0, 'v70')::def6_c");
        same(
            "SELECT array_agg(id) FROM tablecache.range(NULL::def6_c, 'primary_key', 40, 60)",
            "SELECT array_agg(i) FROM generate_series(40, 59) i",
        );
        // and it can be loaded (again) and dropped
        run("SELECT tablecache.unload('def6_c')");
        assert_eq!(one::<i64>("SELECT tablecache.load('def6_c', 'primary_key', 0, 50)"), 50);
        assert_hit("def6_c", || same("SELECT (tablecache.get(NULL::def6_c, 10)).v", "SELECT 'v10'"));
        drop_cache("def6_c");
    }

    #[pg_test]
    fn stats_reset_and_counters() {
        begin_alone();
        make_table("st1_t", 100, &[]);
        make_cache("st1_c", "st1_t");
        run("SELECT tablecache.load('st1_c', 'primary_key', 0, 50)");
        run("SELECT tablecache.get(NULL::st1_c, 1)");
        run("SELECT tablecache.get(NULL::st1_c, 99)");
        run("SELECT count(*) FROM tablecache.range(NULL::st1_c, 'primary_key', 0, 10)");
        run("SELECT tablecache.adjust('st1_c', 'primary_key', 25, 75)");
        assert!(yes("SELECT hits = 2 AND misses = 1 AND loads = 1 AND adjustments = 1 AND rows_loaded = 75 AND rows_expired = 25
                     FROM tablecache.stats WHERE cache = 'st1_c'"));
        run("SELECT tablecache.reset_stats()");
        assert!(yes("SELECT hits = 0 AND misses = 0 AND loads = 0 AND adjustments = 0 AND rows_loaded = 0 AND rows_expired = 0
                     FROM tablecache.stats WHERE cache = 'st1_c'"));
        assert!(loaded("st1_c"), "reset_stats does not touch the cache");
        assert_hit("st1_c", || same("SELECT (tablecache.get(NULL::st1_c, 30)).v", "SELECT 'v30'"));
        drop_cache("st1_c");
    }
}
