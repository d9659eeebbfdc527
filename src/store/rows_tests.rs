//! In-server tests of row contents: NULLs, TOASTed values, column types returned intact.
//! (Conventions: `crate::testing`.)

#[pgrx::pg_schema]
mod tests {
    use crate::testing::*;
    #[allow(unused_imports)]
    use pgrx::datum::DatumWithOid;
    use pgrx::prelude::*;

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
        run("SELECT tablecache.create_cache('row1_c', 'SELECT * FROM row1_t', ARRAY['id'], maintain => 'manual')");
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
        run("SELECT tablecache.create_cache('row2_c', 'SELECT id, k, s FROM row2_t', ARRAY['id'], maintain => 'manual')");
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
        run("SELECT tablecache.create_cache('row3_c', 'SELECT id, big, small FROM row3_t', ARRAY['id'], maintain => 'manual')");
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
        run("SELECT tablecache.create_cache('row4_c', 'SELECT id, v FROM row4_t', ARRAY['id'], maintain => 'manual')");
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
}
