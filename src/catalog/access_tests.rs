//! In-server tests of access control (42501).
//! (Conventions: `crate::testing`.)

#[pgrx::pg_schema]
mod tests {
    use crate::testing::*;
    #[allow(unused_imports)]
    use pgrx::datum::DatumWithOid;
    use pgrx::prelude::*;

    // =========================================================================================
    // Access control (42501)
    // =========================================================================================



    #[pg_test]
    fn access_reading_needs_select_on_base_tables() {
        begin();
        run("CREATE TABLE acc1_t (id int PRIMARY KEY, v text, secret text)");
        run("CREATE TABLE acc1_u (id int PRIMARY KEY, w text)");
        run("INSERT INTO acc1_t SELECT i, 'v' || i, 's' || i FROM generate_series(1, 50) i");
        run("INSERT INTO acc1_u SELECT i, 'w' || i FROM generate_series(1, 50) i");
        run("SELECT tablecache.create_cache('acc1_c', 'SELECT t.id, t.v, u.w FROM acc1_t t JOIN acc1_u u USING (id)', ARRAY['id'], maintain => 'manual')");
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
            fails("42501", "SELECT tablecache.create_cache('acc2_d', 'SELECT id, v FROM acc2_t', ARRAY['id'], maintain => 'manual')");
        });
        run("GRANT EXECUTE ON FUNCTION tablecache.create_cache(text, text, text[], text) TO tc_acc2_owner");
        as_role("tc_acc2_owner", || {
            succeeds("SELECT tablecache.create_cache('acc2_d', 'SELECT id, v FROM acc2_t', ARRAY['id'], maintain => 'manual')");
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
}
