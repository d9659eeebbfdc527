"""Regression tests for the third hostile review's findings. One test per finding; every
assertion message starts with the finding it guards.

1. A writer under REPEATABLE READ or SERIALIZABLE whose snapshot predates a cache's creation:
   the cache's trigger fires (the relcache reads the catalog as of now) but looked the cache up
   with the transaction's snapshot, found nothing and invalidated nothing.
2. Row-level security enabled after create_cache for the cache's owner: its refreshes kept only
   the rows the owner's policies let through, served as hits to readers RLS does not apply to.
3. A writer's code running between a row change and the cache's AFTER trigger (an AFTER
   trigger whose name sorts first, a volatile function in RETURNING) read the old row from
   memory.
4. A read under a parallel plan whose cache needed a refresh failed (no subtransaction can
   start in parallel mode).
5. (review of 1-4) Row-level security applying to the owner of a view the query reads a table
   through (PostgreSQL checks it as that owner) was not seen.
6. (review of 1-4) A writer's change to a table a version-1 cache is invalidated from by a
   hand-written trigger, but reads only through a function, was read stale before the trigger
   fired; and reads in a transaction that wrote unrelated tables stay hits.
7. (review of 6) A statement-level hand-written trigger's event is queued after RETURNING ran;
   a partitioned table's statement triggers (TRUNCATE) queue their events on it, which has
   no row counters; a foreign table has none either: all three read stale.

Roles rv3_alice (owns the tables) and rv3_bob (owns a cache) are cluster-wide and dropped at
the end.
"""
import unittest

import psycopg2

import harness
from harness import query, scalar

ROLES = ("rv3_alice", "rv3_bob", "rv3_carol")
GUARD_MS = 60000


def setUpModule():
    harness.setup_module_db(__name__)
    su = harness.connect(__name__)
    try:
        for r in ROLES:
            harness.drop_role(su, r)
            query(su, "CREATE ROLE %s LOGIN" % r)
        query(su, """
            GRANT EXECUTE ON FUNCTION tablecache.create_cache(text, text, text[], text) TO rv3_bob;
            GRANT CREATE ON SCHEMA public TO rv3_alice, rv3_bob, rv3_carol;
        """)
    finally:
        su.close()


def tearDownModule():
    try:
        su = harness.connect(__name__)
        try:
            for (name,) in query(su, "SELECT name FROM tablecache.caches"):
                try:
                    query(su, "SELECT tablecache.drop_cache(%s)", (name,))
                except psycopg2.Error:
                    pass
        finally:
            su.close()
    except psycopg2.Error:
        pass
    harness.teardown_module_db(__name__)
    admin = harness.connect("postgres")
    try:
        for r in ROLES:
            harness.drop_role(admin, r)
    finally:
        admin.close()


def err(conn, sql, params=None):
    try:
        query(conn, sql, params)
        return None
    except psycopg2.Error as e:
        try:
            query(conn, "ROLLBACK")
        except psycopg2.Error:
            pass
        return (e.pgcode, (e.diag.message_primary or str(e)).splitlines()[0][:200])


class Review3(unittest.TestCase):
    def setUp(self):
        self._conns = []
        self.su = self.conn(name="rv3_su")

    def tearDown(self):
        for c in self._conns:
            try:
                c.close()
            except Exception:  # noqa: BLE001
                pass

    def conn(self, user=None, name="rv3"):
        if user is None:
            c = harness.connect(__name__, application_name=name)
        else:
            c = psycopg2.connect(host=harness.HOST, port=harness.PORT, user=user,
                                 dbname=harness._dbs[__name__], application_name=name)
            c.autocommit = True
        query(c, "SET statement_timeout = %s", (GUARD_MS,))
        self._conns.append(c)
        return c

    def hits(self, conn, cache):
        return scalar(conn, "SELECT hits FROM tablecache.stats WHERE cache::text LIKE %s", ('%' + cache,))

    # --- finding 1 -------------------------------------------------------------------------
    def test_r1_snapshot_writers_see_a_cache_created_after_their_snapshot(self):
        F = "finding 1 (a REPEATABLE READ writer's trigger did not see a newer cache)"
        su = self.su
        query(su, """
            CREATE TABLE r1_products (id int PRIMARY KEY, title text NOT NULL);
            CREATE TABLE r1_orders (id bigint PRIMARY KEY, product_id int NOT NULL REFERENCES r1_products);
            INSERT INTO r1_products SELECT i, 'p' || i FROM generate_series(1, 20) i;
            INSERT INTO r1_orders SELECT i, 1 + i % 20 FROM generate_series(1, 200) i;
        """)
        a = self.conn(name="r1_writer")
        r = self.conn(name="r1_reader")
        auto_q = "SELECT o.id, o.product_id, p.title FROM r1_orders o JOIN r1_products p ON p.id = o.product_id"

        def exact(cache, when):
            self.assertEqual(query(r, "SELECT id, title FROM tablecache.range(NULL::%s, 'primary_key')" % cache),
                             query(r, "SELECT o.id, p.title FROM r1_orders o JOIN r1_products p ON p.id = o.product_id ORDER BY o.id"),
                             "%s: %s: the cache differs from its query" % (F, when))

        try:
            for level in ("REPEATABLE READ", "SERIALIZABLE"):
                for maintain in ("auto", "manual"):
                    cache = "r1_%s_%s" % (maintain, level.split()[0].lower())
                    query(a, "BEGIN ISOLATION LEVEL %s" % level)
                    query(a, "SELECT count(*) FROM r1_orders")  # the snapshot is taken here
                    query(su, "SELECT tablecache.create_cache(%s, %s, ARRAY['id'], maintain => %s)", (cache, auto_q, maintain))
                    if maintain == "manual":
                        query(su, """CREATE TRIGGER %s_t AFTER UPDATE ON r1_products FOR EACH ROW
                                     EXECUTE FUNCTION tablecache.invalidate_trigger('%s', 'primary_key', 'id')""" % (cache, cache))
                        # (keyed by the product id, a wrong key for orders: only its invalidation
                        # count is checked; exactness is checked on the auto caches)
                    query(su, "SELECT tablecache.load(%s)", (cache,))
                    inv0 = scalar(r, "SELECT invalidations FROM tablecache.stats WHERE cache = %s", (cache,))
                    query(a, "UPDATE r1_products SET title = title || '+' WHERE id = 7")
                    query(a, "COMMIT")
                    inv1 = scalar(r, "SELECT invalidations FROM tablecache.stats WHERE cache = %s", (cache,))
                    self.assertGreater(inv1, inv0, "%s: %s, %s cache: the writer's commit invalidated nothing" % (F, level, maintain))
                    if maintain == "auto":
                        exact(cache, "%s writer" % level)
                        # the same connection, READ COMMITTED now: its cached trigger plan
                        # must not be the empty one
                        query(a, "UPDATE r1_products SET title = title || '!' WHERE id = 8")
                        exact(cache, "a later READ COMMITTED write on the same connection")
                    query(su, "SELECT tablecache.drop_cache(%s)", (cache,))
        finally:
            err(a, "ROLLBACK")
            query(su, "DROP TABLE r1_orders, r1_products")

    # --- finding 2 -------------------------------------------------------------------------
    def test_r2_row_level_security_for_the_owner(self):
        F = "finding 2 (row-level security on the owner filtered the shared rows)"
        alice = self.conn("rv3_alice", "r2_alice")
        bob = self.conn("rv3_bob", "r2_bob")
        su = self.su
        query(alice, """
            CREATE TABLE r2_items (id int PRIMARY KEY, name text NOT NULL);
            INSERT INTO r2_items SELECT g, 'n' || g FROM generate_series(1, 20) g;
            GRANT SELECT, TRIGGER ON r2_items TO rv3_bob;
        """)
        try:
            query(bob, "SELECT tablecache.create_cache('public.r2_c', 'SELECT id, name FROM public.r2_items', ARRAY['id'])")
            query(bob, "GRANT SELECT ON public.r2_c TO rv3_alice")
            self.assertEqual(scalar(bob, "SELECT tablecache.load('public.r2_c', 'primary_key')"), 20)
            query(alice, """
                ALTER TABLE r2_items ENABLE ROW LEVEL SECURITY;
                CREATE POLICY r2_p ON r2_items FOR SELECT TO rv3_bob USING (id < 10);
                CREATE POLICY r2_all ON r2_items FOR SELECT TO rv3_alice USING (true);
                UPDATE r2_items SET name = 'changed' WHERE id = 15;
            """)
            for who, c in (("superuser", su), ("table owner", alice)):
                self.assertEqual(query(c, "SELECT id, name FROM tablecache.get(NULL::public.r2_c, 15)"), [(15, "changed")],
                                 "%s: %s: get(15)" % (F, who))
                self.assertEqual(query(c, "SELECT id, name FROM tablecache.range(NULL::public.r2_c, 'primary_key')"),
                                 query(c, "SELECT id, name FROM r2_items ORDER BY id"), "%s: %s: range" % (F, who))
            # the owner reads what its policies let it read
            self.assertEqual(query(bob, "SELECT id FROM tablecache.range(NULL::public.r2_c, 'primary_key')"),
                             [(i,) for i in range(1, 10)], "%s: the owner's own reads" % F)
            for sql in ("SELECT tablecache.refresh('public.r2_c')", "SELECT tablecache.adjust('public.r2_c', 'primary_key', 1, 30)"):
                e = err(bob, sql)
                self.assertIsNotNone(e, "%s: `%s` by the owner succeeded" % (F, sql))
                self.assertEqual(e[0], "42501", "%s: `%s`: %s" % (F, sql, e))
            # a refresh started by a reader (the superuser reads while an invalidation is
            # pending) never puts the filtered rows in memory
            query(alice, "UPDATE r2_items SET name = 'again' WHERE id = 16")
            query(su, "SELECT * FROM tablecache.get(NULL::public.r2_c, 16)")
            query(alice, "ALTER TABLE r2_items DISABLE ROW LEVEL SECURITY")
            for who, c in (("superuser", su), ("table owner", alice), ("cache owner", bob)):
                self.assertEqual(query(c, "SELECT id, name FROM tablecache.range(NULL::public.r2_c, 'primary_key')"),
                                 query(c, "SELECT id, name FROM r2_items ORDER BY id"),
                                 "%s: %s, after row-level security was disabled" % (F, who))
            if scalar(su, "SELECT loaded FROM tablecache.caches WHERE name::text LIKE '%%r2_c'"):
                h0 = self.hits(su, "r2_c")
                query(su, "SELECT * FROM tablecache.get(NULL::public.r2_c, 15)")
                self.assertGreater(self.hits(su, "r2_c"), h0, "%s: a loaded cache no longer answers from memory" % F)
        finally:
            err(bob, "SELECT tablecache.drop_cache('public.r2_c')")
            query(alice, "DROP TABLE r2_items")

    # --- finding 3 -------------------------------------------------------------------------
    def test_r3_writer_reads_its_change_before_the_cache_trigger_fires(self):
        F = "finding 3 (a writer read its old row from memory before the cache's trigger fired)"
        su = self.su
        query(su, """
            CREATE TABLE r3_products (id int PRIMARY KEY, title text NOT NULL);
            CREATE TABLE r3_orders (id bigint PRIMARY KEY, product_id int NOT NULL REFERENCES r3_products);
            INSERT INTO r3_products SELECT i, 'p' || i FROM generate_series(1, 10) i;
            INSERT INTO r3_orders SELECT i, 1 + i % 10 FROM generate_series(1, 100) i;
            SELECT tablecache.create_cache('r3_c', 'SELECT o.id, o.product_id, p.title FROM r3_orders o JOIN r3_products p ON p.id = o.product_id', ARRAY['id']);
            SELECT tablecache.load('r3_c');
            CREATE TABLE r3_seen (via text, title text);
            CREATE FUNCTION r3_audit() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
              INSERT INTO r3_seen SELECT 'cache', title FROM tablecache.get(NULL::r3_c, 17::bigint);
              INSERT INTO r3_seen SELECT 'view', title FROM r3_c WHERE id = 17;
              RETURN NULL;
            END $$;
            CREATE TRIGGER audit AFTER UPDATE ON r3_products FOR EACH ROW EXECUTE FUNCTION r3_audit();
            CREATE FUNCTION r3_both(k bigint) RETURNS text VOLATILE LANGUAGE plpgsql AS $$
            BEGIN
              RETURN (SELECT title FROM tablecache.get(NULL::r3_c, k)) || '/' || (SELECT title FROM r3_c WHERE id = k);
            END $$;
        """)
        try:
            w = self.conn(name="r3_writer")
            # (a backend that has read the cache before: its first read goes another way)
            query(w, "SELECT * FROM tablecache.get(NULL::r3_c, 1::bigint)")
            # order 17 has product 8
            query(w, "BEGIN")
            query(w, "UPDATE r3_products SET title = 'new' WHERE id = 8")
            seen = dict(query(w, "SELECT via, title FROM r3_seen"))
            query(w, "ROLLBACK")
            self.assertEqual(seen, {"cache": "new", "view": "new"}, "%s: an AFTER trigger named before the cache's" % F)
            w = self.conn(name="r3_writer2")
            query(w, "ALTER TABLE r3_products DISABLE TRIGGER audit")
            query(w, "SELECT * FROM tablecache.get(NULL::r3_c, 1::bigint)")
            query(w, "BEGIN")
            got = scalar(w, "UPDATE r3_products SET title = 'newer' WHERE id = 8 RETURNING r3_both(17)")
            query(w, "ROLLBACK")
            self.assertEqual(got, "newer/newer", "%s: a volatile function in RETURNING" % F)
            # the cache is exact and still answers from memory afterwards
            r = self.conn(name="r3_reader")
            h0 = self.hits(r, "r3_c")
            self.assertEqual(query(r, "SELECT title FROM tablecache.get(NULL::r3_c, 17::bigint)"), [("p8",)], F)
            self.assertGreater(self.hits(r, "r3_c"), h0, "%s: reads after the rollback are no longer hits" % F)
        finally:
            err(su, "SELECT tablecache.drop_cache('r3_c')")
            query(su, "DROP TABLE r3_orders, r3_products, r3_seen; DROP FUNCTION r3_audit(), r3_both(bigint)")

    # --- finding 4 -------------------------------------------------------------------------
    def test_r4_read_needing_a_refresh_under_a_parallel_plan(self):
        F = "finding 4 (a read under a parallel plan failed when its cache needed a refresh)"
        su = self.su
        query(su, """
            CREATE TABLE r4_t (id bigint PRIMARY KEY, v text NOT NULL);
            INSERT INTO r4_t SELECT i, 'v' || i FROM generate_series(1, 50000) i;
            ANALYZE r4_t;
            SELECT tablecache.create_cache('r4_c', 'SELECT id, v FROM r4_t', ARRAY['id']);
            SELECT tablecache.load('r4_c');
        """)
        try:
            r = self.conn(name="r4_reader")
            query(r, """SET max_parallel_workers_per_gather = 2; SET parallel_setup_cost = 0;
                        SET parallel_tuple_cost = 0; SET min_parallel_table_scan_size = 0""")
            q = "SELECT t.id, (tablecache.get(NULL::r4_c, t.id)).v FROM r4_t t WHERE t.id % 1000 = 0 ORDER BY 1"
            plan = "\n".join(x[0] for x in query(r, "EXPLAIN (COSTS OFF) " + q))
            if "Gather" not in plan:
                self.skipTest("no parallel plan here:\n" + plan)
            for n in range(3):
                query(su, "UPDATE r4_t SET v = v || '.' WHERE id IN (1000, 2000, 3000)")
                e = err(r, q)
                self.assertIsNone(e, "%s: round %d: %s" % (F, n, e))
                self.assertEqual(query(r, q), query(r, "SELECT id, v FROM r4_t WHERE id % 1000 = 0 ORDER BY 1"),
                                 "%s: round %d: rows differ" % (F, n))
        finally:
            err(su, "SELECT tablecache.drop_cache('r4_c')")
            query(su, "DROP TABLE r4_t")

    # --- finding 5 -------------------------------------------------------------------------
    def test_r5_row_level_security_through_another_owners_view(self):
        F = "finding 5 (row-level security for a view's owner filtered the shared rows)"
        alice = self.conn("rv3_alice", "r5_alice")
        carol = self.conn("rv3_carol", "r5_carol")
        bob = self.conn("rv3_bob", "r5_bob")
        su = self.su
        query(alice, """
            CREATE TABLE r5_docs (id int PRIMARY KEY, tenant text NOT NULL, body text NOT NULL);
            INSERT INTO r5_docs SELECT g, CASE WHEN g % 2 = 0 THEN 'a' ELSE 'b' END, 'doc' || g FROM generate_series(1, 10) g;
            GRANT SELECT ON r5_docs TO rv3_carol;
        """)
        query(carol, "CREATE VIEW r5_docs_v AS SELECT id, tenant, body FROM public.r5_docs; GRANT SELECT ON r5_docs_v TO rv3_bob")
        try:
            query(bob, "SELECT tablecache.create_cache('public.r5_c', 'SELECT id, tenant, body FROM public.r5_docs_v', ARRAY['id'], maintain => 'manual')")
            self.assertEqual(scalar(bob, "SELECT tablecache.load('public.r5_c')"), 10)
            query(alice, """
                ALTER TABLE r5_docs ENABLE ROW LEVEL SECURITY;
                CREATE POLICY r5_p ON r5_docs FOR SELECT USING (tenant = current_setting('app.tenant', true));
            """)
            query(su, "SET app.tenant = 'a'")
            e = err(bob, "SELECT tablecache.adjust('public.r5_c', 'primary_key', 1, 100)")
            self.assertIsNotNone(e, "%s: adjust by the cache's owner succeeded" % F)
            self.assertEqual(e[0], "42501", "%s: adjust: %s" % (F, e))
            for who, c in (("superuser", su), ("cache owner", bob)):
                self.assertEqual(query(c, "SELECT id, tenant, body FROM tablecache.range(NULL::public.r5_c, 'primary_key')"),
                                 query(c, "SELECT id, tenant, body FROM public.r5_c ORDER BY id"), "%s: %s: range" % (F, who))
                self.assertEqual(query(c, "SELECT id FROM tablecache.get(NULL::public.r5_c, 2)"),
                                 query(c, "SELECT id FROM public.r5_c WHERE id = 2") or [(None,)], "%s: %s: get(2)" % (F, who))
        finally:
            err(bob, "SELECT tablecache.drop_cache('public.r5_c')")
            query(carol, "DROP VIEW r5_docs_v")
            query(alice, "DROP TABLE r5_docs")

    # --- finding 6 -------------------------------------------------------------------------
    def test_r6_writer_of_a_table_read_through_a_function(self):
        F = "finding 6 (a writer read its change stale through a manual cache's function-read table)"
        su = self.su
        query(su, """
            CREATE TABLE r6_prices (id int PRIMARY KEY, price int NOT NULL);
            INSERT INTO r6_prices SELECT g, g * 10 FROM generate_series(1, 10) g;
            CREATE TABLE r6_items (id int PRIMARY KEY, pid int NOT NULL);
            INSERT INTO r6_items SELECT g, g FROM generate_series(1, 10) g;
            CREATE TABLE r6_other (id int PRIMARY KEY, pid int REFERENCES r6_prices);
            CREATE FUNCTION r6_price_of(int) RETURNS int LANGUAGE sql STABLE AS 'SELECT price FROM public.r6_prices WHERE id = $1';
            SELECT tablecache.create_cache('r6_c', 'SELECT i.id, public.r6_price_of(i.pid) AS price FROM public.r6_items i', ARRAY['id'], maintain => 'manual');
            CREATE TRIGGER zz_inv AFTER UPDATE ON r6_prices FOR EACH ROW
                EXECUTE FUNCTION tablecache.invalidate_trigger('r6_c', 'primary_key', 'id');
            SELECT tablecache.load('r6_c');
            CREATE TABLE r6_seen (via text, price int);
            CREATE FUNCTION r6_aud() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
                INSERT INTO r6_seen SELECT 'cache', price FROM tablecache.get(NULL::r6_c, 3);
                INSERT INTO r6_seen SELECT 'view', price FROM r6_c WHERE id = 3; RETURN NULL; END $$;
            CREATE TRIGGER aa_aud AFTER UPDATE ON r6_prices FOR EACH ROW EXECUTE FUNCTION r6_aud();
        """)
        try:
            w = self.conn(name="r6_writer")
            query(w, "SELECT * FROM tablecache.get(NULL::r6_c, 1)")
            query(w, "BEGIN")
            query(w, "UPDATE r6_prices SET price = 999 WHERE id = 3")
            seen = dict(query(w, "SELECT via, price FROM r6_seen"))
            query(w, "ROLLBACK")
            self.assertEqual(seen, {"cache": 999, "view": 999}, F)
            # a transaction that wrote other tables only (one with a foreign key, whose
            # checks are trigger events too) still reads from memory
            h0 = self.hits(w, "r6_c")
            query(w, "BEGIN")
            query(w, "INSERT INTO r6_other SELECT g, 1 + g % 10 FROM generate_series(1, 100) g")
            got = query(w, "SELECT price FROM tablecache.get(NULL::r6_c, 4)")
            query(w, "ROLLBACK")
            self.assertEqual(got, [(40,)], F)
            self.assertGreater(self.hits(w, "r6_c"), h0, "%s: a read after writing an unrelated table was not a hit" % F)
            # a write rolled back to a savepoint no longer counts
            query(w, "BEGIN")
            query(w, "SAVEPOINT s")
            query(w, "UPDATE r6_prices SET price = 5 WHERE id = 9")
            query(w, "ROLLBACK TO SAVEPOINT s")
            h1 = self.hits(w, "r6_c")
            got = query(w, "SELECT price FROM tablecache.get(NULL::r6_c, 9)")
            query(w, "ROLLBACK")
            self.assertEqual(got, [(90,)], F)
            self.assertGreater(self.hits(w, "r6_c"), h1, "%s: a read after a rolled-back savepoint's write was not a hit" % F)
        finally:
            err(su, "SELECT tablecache.drop_cache('r6_c')")
            query(su, "DROP TABLE r6_other, r6_items, r6_prices, r6_seen; DROP FUNCTION r6_price_of(int), r6_aud()")

    # --- finding 7 -------------------------------------------------------------------------
    def test_r7_statement_triggers_partitioned_and_foreign_tables(self):
        F = "finding 7 (a writer read stale through statement triggers, partitioned or foreign tables)"
        su = self.su
        query(su, """
            CREATE TABLE r7_b (id int PRIMARY KEY, v text);
            INSERT INTO r7_b SELECT g, 'old' FROM generate_series(1, 5) g;
            SELECT tablecache.create_cache('r7_c1', 'SELECT id, v FROM r7_b', ARRAY['id'], maintain => 'manual');
            CREATE TRIGGER inv AFTER UPDATE ON r7_b REFERENCING OLD TABLE AS o NEW TABLE AS n
                FOR EACH STATEMENT EXECUTE FUNCTION tablecache.invalidate_trigger('r7_c1', 'primary_key', 'id');
            SELECT tablecache.load('r7_c1');
            CREATE FUNCTION r7_rd(k int) RETURNS text LANGUAGE sql VOLATILE AS $$SELECT v FROM tablecache.get(NULL::r7_c1, k)$$;
            CREATE TABLE r7_q (id int PRIMARY KEY, v text) PARTITION BY RANGE (id);
            CREATE TABLE r7_q1 PARTITION OF r7_q FOR VALUES FROM (0) TO (100);
            CREATE TABLE r7_q2 PARTITION OF r7_q FOR VALUES FROM (100) TO (200);
            INSERT INTO r7_q VALUES (1, 'old'), (150, 'old');
            SELECT tablecache.create_cache('r7_c2', 'SELECT id, v FROM r7_q', ARRAY['id']);
            SELECT tablecache.load('r7_c2');
            CREATE TABLE r7_seen (n bigint, v text);
            CREATE FUNCTION r7_tr() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
                INSERT INTO r7_seen SELECT (SELECT count(*) FROM r7_q), (SELECT v FROM tablecache.get(NULL::r7_c2, 1)); RETURN NULL; END $$;
            CREATE TRIGGER a_trunc AFTER TRUNCATE ON r7_q FOR EACH STATEMENT EXECUTE FUNCTION r7_tr();
        """)
        try:
            w = self.conn(name="r7_writer")
            query(w, "SELECT * FROM tablecache.get(NULL::r7_c1, 2); SELECT * FROM tablecache.get(NULL::r7_c2, 1)")
            query(w, "BEGIN")
            got = query(w, "UPDATE r7_b SET v = 'new' WHERE id = 1 RETURNING v, r7_rd(1)")
            query(w, "ROLLBACK")
            self.assertEqual(got, [("new", "new")], "%s: RETURNING under a statement-level invalidate_trigger" % F)
            query(w, "BEGIN")
            query(w, "TRUNCATE r7_q")
            seen = query(w, "SELECT n, v FROM r7_seen")
            query(w, "ROLLBACK")
            self.assertEqual(seen, [(0, None)], "%s: an AFTER TRUNCATE trigger on a partitioned table sorting first" % F)
            if scalar(su, "SELECT count(*) FROM pg_available_extensions WHERE name = 'postgres_fdw'"):
                port = scalar(su, "SHOW port")
                host = scalar(su, "SHOW unix_socket_directories").split(",")[0].strip()
                # (committed first: the foreign server is this database, over another connection)
                query(su, "CREATE TABLE r7_rem (id int PRIMARY KEY, v text)")
                query(su, "INSERT INTO r7_rem SELECT g, 'old' FROM generate_series(1, 5) g")
                query(su, """
                    CREATE EXTENSION IF NOT EXISTS postgres_fdw;
                    CREATE SERVER r7_loop FOREIGN DATA WRAPPER postgres_fdw OPTIONS (dbname '%s', port '%s', host '%s');
                    CREATE USER MAPPING FOR CURRENT_USER SERVER r7_loop;
                    CREATE FOREIGN TABLE r7_f (id int, v text) SERVER r7_loop OPTIONS (table_name 'r7_rem');
                    SELECT tablecache.create_cache('r7_c3', 'SELECT id, v FROM r7_f', ARRAY['id'], maintain => 'manual');
                    CREATE TRIGGER inv AFTER UPDATE ON r7_f FOR EACH ROW EXECUTE FUNCTION tablecache.invalidate_trigger('r7_c3', 'primary_key', 'id');
                    SELECT tablecache.load('r7_c3');
                    CREATE FUNCTION r7_rd3(k int) RETURNS text LANGUAGE sql VOLATILE AS $$SELECT v FROM tablecache.get(NULL::r7_c3, k)$$;
                """ % (harness._dbs[__name__], port, host))
                query(w, "SELECT * FROM tablecache.get(NULL::r7_c3, 2)")
                query(w, "BEGIN")
                got = query(w, "UPDATE r7_f SET v = 'new' WHERE id = 1 RETURNING v, r7_rd3(1)")
                query(w, "ROLLBACK")
                self.assertEqual(got, [("new", "new")], "%s: a foreign table's row trigger" % F)
        finally:
            for c in ("r7_c1", "r7_c2", "r7_c3"):
                err(su, "SELECT tablecache.drop_cache('%s')" % c)
            err(su, "DROP FOREIGN TABLE IF EXISTS r7_f; DROP SERVER IF EXISTS r7_loop CASCADE; DROP TABLE IF EXISTS r7_rem")
            query(su, "DROP TABLE r7_b, r7_q, r7_seen; DROP FUNCTION r7_rd(int), r7_tr(); DROP FUNCTION IF EXISTS r7_rd3(int)")


if __name__ == "__main__":
    unittest.main()
