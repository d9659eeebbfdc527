//! In-server tests of moving the window (adjust) and of secondary and multi-column indexes.
//! (Conventions: `crate::testing`.)

#[pgrx::pg_schema]
mod tests {
    use crate::testing::*;
    #[allow(unused_imports)]
    use pgrx::datum::DatumWithOid;
    use pgrx::prelude::*;

    // =========================================================================================
    // Moving the window: adjust (docs/reference.md §3, §5.2)
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
        run("SELECT tablecache.create_cache('win5_c', 'SELECT id, grp, ts, v FROM win5_t', ARRAY['id'], maintain => 'manual')");
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
    // Secondary and multi-column indexes: coverage rules (docs/reference.md §5.3), prefix bounds
    // =========================================================================================

    #[pg_test]
    fn index_secondary_coverage_rules() {
        begin();
        run("CREATE TABLE ix1_t (id int PRIMARY KEY, grp int NOT NULL, ts int NOT NULL)");
        run("INSERT INTO ix1_t SELECT i, i % 7, (i * 37) % 500 FROM generate_series(1, 1000) i");
        run("SELECT tablecache.create_cache('ix1_c', 'SELECT id, grp, ts FROM ix1_t', ARRAY['id'], maintain => 'manual')");
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
        run("SELECT tablecache.create_cache('ix2_c', 'SELECT id, a, b, c FROM ix2_t', ARRAY['id'], maintain => 'manual')");
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
}
