//! In-server tests of memory accounting: the region gives back everything (tests run alone).
//! (Conventions: `crate::testing`.)

#[pgrx::pg_schema]
mod tests {
    use crate::testing::*;
    #[allow(unused_imports)]
    use pgrx::datum::DatumWithOid;
    use pgrx::prelude::*;

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

    /// A load larger than the region fails with SQLSTATE 53200 (docs/reference.md §13: the
    /// region is full), gives back what it staged and leaves the cache unloaded.
    #[pg_test]
    fn memory_region_full_leaves_nothing_behind() {
        begin_alone();
        let start = used_bytes();
        let total = one::<i64>("SELECT total_bytes FROM tablecache.memory");
        // rows of 1.28 MB each, together larger than the region (compressed small in the table)
        let n = total / 1_280_000 + 10;
        run("CREATE TABLE mem2_t (id int PRIMARY KEY, big text)");
        run(&format!("INSERT INTO mem2_t SELECT i, repeat(md5(i::text), 40000) FROM generate_series(1, {n}) i"));
        run("SELECT tablecache.create_cache('mem2_c', 'SELECT id, big FROM mem2_t', ARRAY['id'], maintain => 'manual')");
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

    /// docs/reference.md (§13, §15) names 53200 (out of memory) for a full region.
    #[pg_test]
    fn memory_region_full_is_53200() {
        begin_alone();
        let total = one::<i64>("SELECT total_bytes FROM tablecache.memory");
        let n = total / 1_280_000 + 10;
        run("CREATE TABLE mem3_t (id int PRIMARY KEY, big text)");
        run(&format!("INSERT INTO mem3_t SELECT i, repeat(md5(i::text), 40000) FROM generate_series(1, {n}) i"));
        run("SELECT tablecache.create_cache('mem3_c', 'SELECT id, big FROM mem3_t', ARRAY['id'], maintain => 'manual')");
        let e = err("SELECT tablecache.load('mem3_c')");
        drop_cache("mem3_c");
        assert!(e.starts_with("53200: "), "expected 53200, got {e}");
    }

    /// A cache created and loaded in a subtransaction that rolls back no longer exists; the
    /// memory its rows held must be given back (docs/reference.md §5.2: an error frees
    /// everything it had allocated).
    #[pg_test]
    fn memory_aborted_create_and_load_gives_memory_back() {
        begin_alone();
        make_table("mem4_t", 2000, &[]);
        let start = used_bytes();
        run("DO $$ BEGIN
               PERFORM tablecache.create_cache('mem4_c', 'SELECT id, grp, v FROM mem4_t', ARRAY['id'], maintain => 'manual');
               PERFORM tablecache.load('mem4_c');
               RAISE EXCEPTION 'roll back';
             EXCEPTION WHEN raise_exception THEN NULL;
             END $$");
        assert!(yes("SELECT NOT EXISTS (SELECT FROM tablecache.caches WHERE name = 'mem4_c')"));
        assert_eq!(used_bytes(), start, "the rows of a cache that never existed are still in the region");
    }

}
