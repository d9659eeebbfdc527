//! In-server tests of key types: order, equality and bounds are the column type's btree ones.
//! (Conventions: `crate::testing`.)

#[pgrx::pg_schema]
mod tests {
    use crate::testing::*;
    #[allow(unused_imports)]
    use pgrx::datum::DatumWithOid;
    use pgrx::prelude::*;

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
        run(&format!("SELECT tablecache.create_cache('{c}', 'SELECT id, k, v FROM {t}', ARRAY['id'], maintain => 'manual')"));
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
        run(&format!("SELECT tablecache.create_cache('{p}', 'SELECT DISTINCT ON (k) k, id FROM {t} ORDER BY k, id', ARRAY['k'], maintain => 'manual')"));
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
        run("SELECT tablecache.create_cache('ty_eq_f', 'SELECT f FROM ty_eq', ARRAY['f'], maintain => 'manual')");
        run("SELECT tablecache.create_cache('ty_eq_n', 'SELECT n FROM ty_eq', ARRAY['n'], maintain => 'manual')");
        run("SELECT tablecache.create_cache('ty_eq_t', 'SELECT t FROM ty_eq', ARRAY['t'], maintain => 'manual')");
        fails("23505", "SELECT tablecache.load('ty_eq_f')");
        fails("23505", "SELECT tablecache.load('ty_eq_n')");
        succeeds("SELECT tablecache.load('ty_eq_t')");
        assert!(!loaded("ty_eq_f") && !loaded("ty_eq_n") && loaded("ty_eq_t"));
        drop_cache("ty_eq_f");
        drop_cache("ty_eq_n");
        drop_cache("ty_eq_t");
    }
}
