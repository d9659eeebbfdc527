//! In-server tests of reads: hits served from memory, misses answered by the database; statistics.
//! (Conventions: `crate::testing`.)

#[pgrx::pg_schema]
mod tests {
    use crate::testing::*;
    #[allow(unused_imports)]
    use pgrx::datum::DatumWithOid;
    use pgrx::prelude::*;

    // =========================================================================================
    // Reads: hits served from memory, misses answered by the database (docs/reference.md §3)
    // =========================================================================================

    /// Covered reads are hits (docs/reference.md §3, Hits), including a covered key or range
    /// that has no rows.
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

    /// Reads not covered (docs/reference.md §3, Transparent misses), even by one key, are
    /// misses with the query's answer, and that answer is not written into the cache.
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

    /// Reading an unloaded cache is answered by the database (docs/reference.md §3, §5.2);
    /// adjusting an unloaded cache loads it; loading a loaded one is an error; unload goes back
    /// to the database.
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
        // without an invalidation the cache still holds what it loaded (docs/reference.md §3)
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
