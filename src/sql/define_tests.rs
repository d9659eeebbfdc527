//! In-server tests of definitions and catalog views: create_cache, create_index, drop_index, drop_cache, tablecache.caches / stats, the cache's row type.
//! (Conventions: `crate::testing`.)

#[pgrx::pg_schema]
mod tests {
    use crate::testing::*;
    #[allow(unused_imports)]
    use pgrx::datum::DatumWithOid;
    use pgrx::prelude::*;

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
                ARRAY['cid', 'n'], maintain => 'manual')");
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
        run("SELECT tablecache.create_cache('def3_s.c', 'SELECT id, grp, v FROM def3_t', ARRAY['id'], maintain => 'manual')");
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
}
