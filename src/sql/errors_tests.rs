//! In-server tests of error classes and their SQLSTATEs.
//! (Conventions: `crate::testing`.)

#[pgrx::pg_schema]
mod tests {
    use crate::testing::*;
    #[allow(unused_imports)]
    use pgrx::datum::DatumWithOid;
    use pgrx::prelude::*;

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
        fails_naming("42710", "err2_c", "SELECT tablecache.create_cache('err2_c', 'SELECT id FROM err2_t', ARRAY['id'], maintain => 'manual')");
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
        fails_naming("42703", "nocol", "SELECT tablecache.create_cache('err3_a', 'SELECT id, v FROM err3_t', ARRAY['nocol'], maintain => 'manual')");
        // the column is in the table but not in the query's output
        fails_naming("42703", "grp", "SELECT tablecache.create_cache('err3_b', 'SELECT id, v FROM err3_t', ARRAY['grp'], maintain => 'manual')");
        assert!(yes("SELECT NOT EXISTS (SELECT FROM tablecache.caches WHERE name IN ('err3_a', 'err3_b'))"));
        assert!(yes("SELECT to_regtype('err3_a') IS NULL AND to_regtype('err3_b') IS NULL"));
        run("SELECT tablecache.create_cache('err3_c', 'SELECT id, v FROM err3_t', ARRAY['id'], maintain => 'manual')");
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
            fails("22023", &format!("SELECT tablecache.create_cache({}, {}, {pk}, maintain => 'manual')", lit(name), lit(query)));
        }
        assert_eq!(one::<i64>("SELECT count(*) FROM tablecache.caches WHERE name LIKE 'err4%'"), 0);
        assert!(yes("SELECT to_regclass('err4_x') IS NULL"), "the DDL must not have run");
        assert_eq!(one::<i64>("SELECT count(*) FROM err4_t"), 100, "the DML must not have run");
        // a stable function is fine
        run("SELECT tablecache.create_cache('err4_ok', 'SELECT id, grp, v, now() AS t FROM err4_t', ARRAY['id'], maintain => 'manual')");
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
        fails_naming("42701", "id", "SELECT tablecache.create_cache('err6_a', 'SELECT id, id FROM err6_t', ARRAY['id'], maintain => 'manual')");
        fails_naming("42701", "x", "SELECT tablecache.create_cache('err6_b', 'SELECT id, v AS x, grp AS x FROM err6_t', ARRAY['id'], maintain => 'manual')");
        fails("42701", "SELECT tablecache.create_cache('err6_c', 'SELECT id, grp, v FROM err6_t', ARRAY['id', 'id'], maintain => 'manual')");
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
        fails_naming("42883", "p", "SELECT tablecache.create_cache('err7_a', 'SELECT id, p FROM err7_t', ARRAY['p'], maintain => 'manual')");
        run("SELECT tablecache.create_cache('err7_c', 'SELECT id, p, j FROM err7_t', ARRAY['id'], maintain => 'manual')");
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
        run("SELECT tablecache.create_cache('err9_c', 'SELECT a, b FROM err9_t', ARRAY['a'], maintain => 'manual')");
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
        run("SELECT tablecache.create_cache('err9_d', 'SELECT a, b FROM err9_u', ARRAY['a', 'b'], maintain => 'manual')");
        fails("23505", "SELECT tablecache.load('err9_d')");
        assert!(!loaded("err9_d"));
        drop_cache("err9_c");
        drop_cache("err9_d");
    }

    /// Invalid arguments raise errors before anything changes (docs/reference.md §15) — the
    /// window, the rows, the statistics and the region's memory are as they were.
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
}
