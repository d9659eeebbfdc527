"""Access control, hostile search_path, row-level security and pg_dump/restore.

Roles are cluster-wide: they are named sec_* and dropped at the end. The dump/restore test
creates (and drops) a second database on the same (sessions) server.
"""
import os
import subprocess
import unittest

import psycopg2

import harness
from harness import query, scalar

BIN = "/usr/lib/postgresql/15/bin"
ROLES = ("sec_reader", "sec_writer", "sec_evil")
RESTORED = "tc_security_restored"


def setUpModule():
    harness.setup_module_db(__name__)
    conn = harness.connect(__name__)
    try:
        for r in ROLES:
            _drop_role(conn, r)
            query(conn, "CREATE ROLE %s LOGIN" % r)
        query(conn, """
            CREATE TABLE sec_t (k bigint PRIMARY KEY, g int NOT NULL, v text NOT NULL);
            INSERT INTO sec_t SELECT i, i %% 10, 'v' || i FROM generate_series(1, 200) i;
            CREATE TABLE sec_w (k bigint PRIMARY KEY, v text NOT NULL);
            INSERT INTO sec_w SELECT i, 'w' || i FROM generate_series(1, 50) i;
            GRANT SELECT, INSERT, UPDATE, DELETE ON sec_w TO sec_writer;
            CREATE TRIGGER sec_w_tc AFTER INSERT OR UPDATE OR DELETE ON sec_w FOR EACH ROW
                EXECUTE FUNCTION tablecache.invalidate_trigger('sec_wc', 'primary_key', 'k');
            GRANT CREATE ON SCHEMA public TO sec_evil;
            GRANT CREATE ON DATABASE %s TO sec_evil;
        """ % harness._dbs[__name__])
        query(conn, "SELECT tablecache.create_cache('sec_c', 'SELECT k, g, v FROM sec_t', ARRAY['k'], maintain => 'manual')")
        query(conn, "SELECT tablecache.create_index('sec_c', 'by_g', ARRAY['g'])")
        query(conn, "SELECT tablecache.load('sec_c', 'primary_key', 1, 101)")
        query(conn, "SELECT tablecache.create_cache('sec_wc', 'SELECT k, v FROM sec_w', ARRAY['k'], maintain => 'manual')")
        query(conn, "SELECT tablecache.load('sec_wc')")
    finally:
        conn.close()


def _drop_role(conn, r):
    exists = scalar(conn, "SELECT count(*) FROM pg_roles WHERE rolname = %s", (r,))
    if exists:
        for db in query(conn, "SELECT datname FROM pg_database WHERE datallowconn"):
            try:
                c = harness.connect(db[0])
                query(c, "DROP OWNED BY %s CASCADE" % r)
                c.close()
            except psycopg2.Error:
                pass
        query(conn, "DROP ROLE IF EXISTS %s" % r)


def tearDownModule():
    admin = harness.connect("postgres")
    try:
        query(admin, "DROP DATABASE IF EXISTS %s WITH (FORCE)" % RESTORED)
    finally:
        admin.close()
    harness.teardown_module_db(__name__)
    admin = harness.connect("postgres")
    try:
        for r in ROLES:
            _drop_role(admin, r)
    finally:
        admin.close()


def as_role(role):
    conn = psycopg2.connect(host=harness.HOST, port=harness.PORT, user=role,
                            dbname=harness._dbs[__name__], application_name=role)
    conn.autocommit = True
    return conn


class Security(unittest.TestCase):
    def setUp(self):
        self.admin = harness.connect(__name__)

    def tearDown(self):
        self.admin.close()

    def assertCode(self, conn, sql, code, params=None):
        with self.assertRaises(psycopg2.Error, msg=sql) as cm:
            query(conn, sql, params)
        e = cm.exception
        print("\n    %s %s -> %s" % (e.pgcode, sql[:90], (e.diag.message_primary or "")[:90]), end="")
        self.assertEqual(e.pgcode, code, "%s: %s" % (sql, e))
        self.assertEqual(scalar(conn, "SELECT 1"), 1)

    def test_reader_without_privilege_and_revoke(self):
        r = as_role("sec_reader")
        try:
            self.assertCode(r, "SELECT * FROM tablecache.get(NULL::sec_c, 5::bigint)", "42501")
            self.assertCode(r, "SELECT * FROM tablecache.range(NULL::sec_c, 'primary_key', 1, 10)", "42501")
            self.assertCode(r, "SELECT * FROM tablecache.range(NULL::sec_c, 'by_g', 1, 2)", "42501")
            self.assertCode(r, "SELECT * FROM tablecache.range(NULL::sec_c, 'primary_key', 150, 160)", "42501")  # a miss
            # a GRANT takes effect on the next statement
            query(self.admin, "GRANT SELECT ON sec_t TO sec_reader")
            self.assertEqual(scalar(r, "SELECT (tablecache.get(NULL::sec_c, 5::bigint)).v"), "v5")
            self.assertEqual(scalar(r, "SELECT count(*) FROM tablecache.range(NULL::sec_c, 'primary_key', 1, 10)"), 9)
            # and so does a REVOKE after successful reads (the check is cached per user)
            query(self.admin, "REVOKE SELECT ON sec_t FROM sec_reader")
            self.assertCode(r, "SELECT * FROM tablecache.get(NULL::sec_c, 5::bigint)", "42501")
            self.assertCode(r, "SELECT * FROM tablecache.range(NULL::sec_c, 'primary_key', 1, 10)", "42501")
            # column privileges: SELECT on only some columns of the query is not enough
            query(self.admin, "GRANT SELECT (k, g) ON sec_t TO sec_reader")
            self.assertCode(r, "SELECT * FROM tablecache.get(NULL::sec_c, 5::bigint)", "42501")
            query(self.admin, "REVOKE SELECT (k, g) ON sec_t FROM sec_reader")
            # covers: reading is what needs the privilege; print what covers does
            try:
                print("\n    covers by a non-reader: %r" % scalar(r, "SELECT tablecache.covers('sec_c', 'primary_key', 1, 10)"), end="")
            except psycopg2.Error as e:
                print("\n    covers by a non-reader: %s %s" % (e.pgcode, e.diag.message_primary), end="")
                self.assertEqual(e.pgcode, "42501")
        finally:
            r.close()

    def test_non_owner_cannot_manage(self):
        query(self.admin, "GRANT SELECT ON sec_t TO sec_reader")
        r = as_role("sec_reader")
        before = query(self.admin, "SELECT name, window_ge, window_lt, loaded, rows, bytes FROM tablecache.caches ORDER BY name")
        try:
            for sql in ("SELECT tablecache.load('sec_c')",
                        "SELECT tablecache.adjust('sec_c', 'primary_key', 1, 50)",
                        "SELECT tablecache.invalidate('sec_c', 'primary_key', 5::bigint)",
                        "SELECT tablecache.invalidate_range('sec_c', 'primary_key', 1::bigint, 50::bigint)",
                        "SELECT tablecache.drop_cache('sec_c')",
                        "SELECT tablecache.drop_index('sec_c', 'by_g')",
                        "SELECT tablecache.create_index('sec_c', 'by_v', ARRAY['v'])",
                        "SELECT tablecache.unload('sec_c')",
                        "SELECT tablecache.set_sliding_window('sec_c', 'by_g', '1 hour')",
                        "SELECT tablecache.clear_sliding_window('sec_c')"):
                self.assertCode(r, sql, "42501")
            # the catalog cannot be written directly either
            self.assertCode(r, "UPDATE tablecache.cache_def SET query = 'SELECT 1'", "42501")
            self.assertCode(r, "DELETE FROM tablecache.index_def", "42501")
            # reads still work for a reader
            self.assertEqual(scalar(r, "SELECT count(*) FROM tablecache.range(NULL::sec_c, 'primary_key', 1, 101)"), 100)
        finally:
            r.close()
            query(self.admin, "REVOKE SELECT ON sec_t FROM sec_reader")
        after = query(self.admin, "SELECT name, window_ge, window_lt, loaded, rows, bytes FROM tablecache.caches ORDER BY name")
        self.assertEqual(after, before)

    def test_trigger_works_for_a_writer_who_does_not_own_the_cache(self):
        w = as_role("sec_writer")
        try:
            query(w, "UPDATE sec_w SET v = 'changed' WHERE k = 7")
            query(w, "INSERT INTO sec_w VALUES (1000, 'new')")
            query(w, "DELETE FROM sec_w WHERE k = 8")
            query(w, "BEGIN")
            query(w, "UPDATE sec_w SET v = 'in txn' WHERE k = 9")
            query(w, "COMMIT")
        finally:
            w.close()
        got = query(self.admin, "SELECT k, v FROM tablecache.range(NULL::sec_wc, 'primary_key')")
        self.assertEqual(got, query(self.admin, "SELECT k, v FROM sec_w ORDER BY k"))
        self.assertEqual(dict(got)[7], "changed")
        self.assertNotIn(8, dict(got))

    def test_hostile_search_path(self):
        """An unprivileged role plants look-alikes of built-ins and of the base table in a
        schema it owns, first in the caller's search_path: nothing changes."""
        e = as_role("sec_evil")
        try:
            query(e, """
                CREATE SCHEMA evil;
                CREATE TABLE evil.sec_t (k bigint, g int, v text);
                INSERT INTO evil.sec_t VALUES (5, 5, 'EVIL');
                CREATE TABLE evil.cache_def (name text);
                CREATE FUNCTION evil.now() RETURNS timestamptz LANGUAGE sql AS $$ SELECT 'epoch'::timestamptz $$;
                CREATE FUNCTION evil.lower(text) RETURNS text LANGUAGE sql AS $$ SELECT 'EVIL' $$;
                CREATE FUNCTION evil.int8eq_evil(bigint, bigint) RETURNS boolean LANGUAGE sql AS $$ SELECT true $$;
                CREATE OPERATOR evil.= (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = evil.int8eq_evil);
                CREATE OPERATOR evil.< (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = evil.int8eq_evil);
                CREATE OPERATOR evil.>= (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = evil.int8eq_evil);
                GRANT USAGE ON SCHEMA evil TO PUBLIC;
                GRANT SELECT ON ALL TABLES IN SCHEMA evil TO PUBLIC;
            """)
        finally:
            e.close()
        a = self.admin
        exp_get = query(a, "SELECT k, g, v FROM sec_t WHERE k = 5")
        exp_miss = query(a, "SELECT k, g, v FROM sec_t WHERE k >= 150 AND k < 160 ORDER BY k")
        exp_g = query(a, "SELECT k, g, v FROM sec_t WHERE g >= 3 AND g < 4 ORDER BY g, k")
        query(a, "SET search_path = evil, public, pg_catalog, tablecache")
        try:
            self.assertEqual(query(a, "SELECT k, g, v FROM tablecache.get(NULL::public.sec_c, 5::bigint)"), exp_get)
            self.assertEqual(query(a, "SELECT k, g, v FROM tablecache.range(NULL::public.sec_c, 'primary_key', 150, 160)"), exp_miss)
            self.assertEqual(query(a, "SELECT k, g, v FROM tablecache.range(NULL::public.sec_c, 'by_g', 3, 4)"), exp_g)
            # writers and definitions with the hostile path
            self.assertEqual(scalar(a, "SELECT tablecache.adjust('sec_c', 'primary_key', 100, 201)"), 100)
            self.assertEqual(query(a, "SELECT k, g, v FROM tablecache.range(NULL::public.sec_c, 'primary_key', 150, 160)"), exp_miss)
            query(a, "SELECT tablecache.invalidate('sec_c', 'primary_key', 150::bigint)")
            self.assertEqual(scalar(a, "SELECT tablecache.refresh('sec_c')"), 1)
            self.assertEqual(query(a, "SELECT k, g, v FROM tablecache.range(NULL::public.sec_c, 'primary_key', 150, 160)"), exp_miss)
            self.assertEqual(scalar(a, "SELECT rows FROM tablecache.caches WHERE name = 'sec_c'"), 101)
        finally:
            query(a, "RESET search_path")
            self.assertEqual(scalar(a, "SELECT tablecache.adjust('sec_c', 'primary_key', 1, 101)"), 99)
        # the definition still reads the real table, from a clean path too
        self.assertEqual(query(a, "SELECT k, g, v FROM tablecache.get(NULL::sec_c, 5::bigint)"), exp_get)
        self.assertEqual(query(a, "SELECT name, window_ge, window_lt, rows FROM tablecache.caches WHERE name = 'sec_c'"),
                         [("sec_c", "1", "101", 100)])
        query(a, "DROP SCHEMA evil CASCADE")

    def test_row_level_security_refused(self):
        a = self.admin
        query(a, "CREATE TABLE sec_rls (k int PRIMARY KEY, owner text)")
        query(a, "ALTER TABLE sec_rls ENABLE ROW LEVEL SECURITY")
        before = query(a, "SELECT name FROM tablecache.caches ORDER BY name")
        self.assertCode(a, "SELECT tablecache.create_cache('sec_rlsc', 'SELECT k, owner FROM sec_rls', ARRAY['k'], maintain => 'manual')", "0A000")
        # also through a view and a join
        query(a, "CREATE VIEW sec_rls_v AS SELECT k, owner FROM sec_rls")
        self.assertCode(a, "SELECT tablecache.create_cache('sec_rlsc', 'SELECT k, owner FROM sec_rls_v', ARRAY['k'], maintain => 'manual')", "0A000")
        self.assertCode(a, "SELECT tablecache.create_cache('sec_rlsc', 'SELECT t.k, r.owner FROM sec_t t JOIN sec_rls r ON r.k = t.k', ARRAY['k'], maintain => 'manual')", "0A000")
        self.assertEqual(query(a, "SELECT name FROM tablecache.caches ORDER BY name"), before)
        query(a, "DROP VIEW sec_rls_v")
        query(a, "DROP TABLE sec_rls")

    def test_pg_dump_restore(self):
        a = self.admin
        src = harness._dbs[__name__]
        defs = query(a, "SELECT name, query, primary_key, indexes FROM tablecache.caches ORDER BY name")
        admin = harness.connect("postgres")
        try:
            query(admin, "DROP DATABASE IF EXISTS %s WITH (FORCE)" % RESTORED)
            query(admin, "CREATE DATABASE %s" % RESTORED)
        finally:
            admin.close()
        common = ["-h", harness.HOST, "-p", str(harness.PORT), "-U", harness.USER]
        dump = subprocess.run([BIN + "/pg_dump"] + common + ["-Fc", src], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, timeout=120)
        self.assertEqual(dump.returncode, 0, dump.stderr.decode())
        rest = subprocess.run([BIN + "/pg_restore"] + common + ["-d", RESTORED, "--exit-on-error"],
                              input=dump.stdout, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
        self.assertEqual(rest.returncode, 0, rest.stderr.decode())
        r = harness.connect(RESTORED)
        try:
            self.assertEqual(query(r, "SELECT name, query, primary_key, indexes FROM tablecache.caches ORDER BY name"), defs)
            # a load there works (unload first: the worker may autowarm the recorded windows)
            query(r, "SELECT tablecache.unload('sec_c')")
            self.assertEqual(scalar(r, "SELECT tablecache.load('sec_c', 'by_g', 2, 5)"), 60)
            self.assertEqual(query(r, "SELECT k, g, v FROM tablecache.range(NULL::sec_c, 'by_g', 2, 5)"),
                             query(r, "SELECT k, g, v FROM sec_t WHERE g >= 2 AND g < 5 ORDER BY g, k"))
            # the restored trigger invalidates the restored cache
            query(r, "SELECT tablecache.unload('sec_wc')")
            self.assertEqual(scalar(r, "SELECT tablecache.load('sec_wc')"), scalar(r, "SELECT count(*) FROM sec_w"))
            query(r, "UPDATE sec_w SET v = 'restored' WHERE k = 3")
            self.assertEqual(scalar(r, "SELECT (tablecache.get(NULL::sec_wc, 3::bigint)).v"), "restored")
            # the two databases' caches are independent
            self.assertEqual(query(a, "SELECT window_index, window_ge, window_lt FROM tablecache.caches WHERE name = 'sec_c'"),
                             [("primary_key", "1", "101")])
        finally:
            r.close()


if __name__ == "__main__":
    unittest.main()
