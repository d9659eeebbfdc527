"""Hostile and malformed calls of every tablecache function.

Each bad call must fail with an ERROR of a fitting SQLSTATE (docs/reference.md §15), leave the
backend alive (the same connection answers `SELECT 1`) and change no cache and no shared
memory (`tablecache.caches` and `tablecache.memory` are identical before and after).

The calls are grouped in test methods; a method checks all of its calls and then fails
with the list of those that misbehaved (so one bug does not hide the others).
"""
import unittest

import psycopg2

import harness
import server_util
from harness import query, scalar

COUNT = {"bad_calls": 0}


def setUpModule():
    harness.setup_module_db(__name__)
    conn = harness.connect(__name__)
    try:
        query(conn, """
            CREATE TABLE bi_t (k bigint PRIMARY KEY, g int NOT NULL, s text NOT NULL,
                               ts timestamptz NOT NULL, p point, j json);
            INSERT INTO bi_t SELECT i, i % 10, 's' || i, now() - i * interval '1 minute',
                                    point(i, i), '{}'::json
              FROM generate_series(1, 1000) i;
            CREATE TABLE bi_victim (x int);
            INSERT INTO bi_victim VALUES (1);
        """)
        query(conn, "SELECT tablecache.create_cache('bi_c', 'SELECT k, g, s, ts FROM bi_t', ARRAY['k'], maintain => 'manual')")
        query(conn, "SELECT tablecache.create_index('bi_c', 'by_g', ARRAY['g'])")
        query(conn, "SELECT tablecache.create_index('bi_c', 'by_gs', ARRAY['g', 's'])")
        query(conn, "SELECT tablecache.create_index('bi_c', 'by_ts', ARRAY['ts'])")
        query(conn, "SELECT tablecache.load('bi_c', 'primary_key', 1, 500)")
        # a second cache, multi-column primary key, not loaded
        query(conn, "SELECT tablecache.create_cache('bi_m', 'SELECT g, k, s FROM bi_t', ARRAY['g', 'k'], maintain => 'manual')")
        # a cache whose query fails at load (division by zero in one row)
        query(conn, "SELECT tablecache.create_cache('bi_div', 'SELECT k, 1 / (k - 500) AS x FROM bi_t', ARRAY['k'], maintain => 'manual')")
        # a cache whose query yields duplicate keys
        query(conn, "SELECT tablecache.create_cache('bi_dup', 'SELECT g, s FROM bi_t', ARRAY['g'], maintain => 'manual')")
        # a cache with point and json columns
        query(conn, "SELECT tablecache.create_cache('bi_pj', 'SELECT k, p, j FROM bi_t', ARRAY['k'], maintain => 'manual')")
    finally:
        conn.close()


def tearDownModule():
    print("\n    bad calls checked: %d" % COUNT["bad_calls"])
    harness.teardown_module_db(__name__)


def snapshot(conn):
    # every column but the progress counters of the last load (a failed load may leave them)
    caches = query(conn, "SELECT name, query, primary_key, indexes, window_index, window_ge, window_lt, "
                         "loaded, rows, bytes, loading_pid, owner, rowtype FROM tablecache.caches ORDER BY name")
    memory = query(conn, "SELECT * FROM tablecache.memory")
    return caches, memory


class BadCalls(unittest.TestCase):
    def setUp(self):
        self.reconnect = lambda: harness.connect(__name__, application_name="bad input")
        self.conn = self.reconnect()
        query(self.conn, "SET statement_timeout = '60s'")
        self.problems = []
        # the shared state every test starts from (a bad call that wrongly succeeded in an
        # earlier test may have changed it)
        if scalar(self.conn, "SELECT loaded FROM tablecache.caches WHERE name = 'bi_m'"):
            query(self.conn, "SELECT tablecache.unload('bi_m')")
        if query(self.conn, "SELECT window_index, window_ge, window_lt FROM tablecache.caches WHERE name = 'bi_c'") \
                != [("primary_key", "1", "500")]:
            query(self.conn, "SELECT tablecache.adjust('bi_c', 'primary_key', 1, 500)")

    def tearDown(self):
        try:
            self.conn.close()
        except psycopg2.Error:
            pass

    def bad(self, sql, codes, params=None, note=None, begin=None):
        """Runs one bad call: it must fail with one of `codes` (a str or a tuple), the backend
        must survive and nothing may change. Problems are collected in self.problems."""
        if isinstance(codes, str):
            codes = (codes,)
        COUNT["bad_calls"] += 1
        label = note or sql
        conn = self.conn
        before = snapshot(conn)
        pid = scalar(conn, "SELECT pg_backend_pid()")
        try:
            if begin:
                query(conn, begin)
            rows = query(conn, sql, params)
        except psycopg2.Error as e:
            msg = (e.diag.message_primary or str(e)).strip()
            print("\n    %-6s %s\n           -> %s" % (e.pgcode, label[:110], msg[:160]), end="")
            if e.pgcode not in codes:
                self.problems.append("%s\n      expected SQLSTATE %s, got %s: %s" % (label, "/".join(codes), e.pgcode, msg))
        else:
            print("\n    NO ERROR %s -> %r" % (label[:110], rows), end="")
            self.problems.append("%s\n      expected SQLSTATE %s, but the call succeeded and returned %r"
                                 % (label, "/".join(codes), rows))
        try:
            if begin:
                query(conn, "ROLLBACK")
            alive = scalar(conn, "SELECT 1") == 1 and scalar(conn, "SELECT pg_backend_pid()") == pid
        except psycopg2.Error as e:
            alive = False
            self.problems.append("%s\n      the backend did not survive: %s" % (label, e))
            self.conn = self.wait_ready()
        if alive:
            after = snapshot(conn)
            if after != before:
                self.problems.append("%s\n      caches/memory changed:\n        before %r\n        after  %r"
                                     % (label, before, after))

    def wait_ready(self, timeout=60):
        """A new connection that answers, once the server accepts connections again (after a
        crash, the postmaster resets every backend and recovers first)."""
        import time
        deadline = time.monotonic() + timeout
        time.sleep(0.5)
        while True:
            try:
                c = self.reconnect()
                scalar(c, "SELECT 1")
                return c
            except psycopg2.Error:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)  # the postmaster restarts after a crash

    def check(self):
        if self.problems:
            self.fail("%d bad call(s) misbehaved:\n  - %s" % (len(self.problems), "\n  - ".join(self.problems)))

    # ------------------------------------------------------------------------------
    def test_unknown_names(self):
        b = self.bad
        b("SELECT tablecache.create_index('nope', 'ix', ARRAY['k'])", "42704")
        b("SELECT tablecache.drop_cache('nope')", "42704")
        b("SELECT tablecache.drop_index('bi_c', 'nope')", "42704")
        b("SELECT tablecache.drop_index('nope', 'by_g')", "42704")
        b("SELECT tablecache.load('nope')", "42704")
        b("SELECT tablecache.load('bi_m', 'nope')", "42704")
        b("SELECT tablecache.adjust('nope', 'primary_key', 1, 2)", "42704")
        b("SELECT tablecache.adjust('bi_c', 'nope', 1, 2)", "42704")
        b("SELECT * FROM tablecache.range(NULL::bi_c, 'nope')", "42704")
        b("SELECT tablecache.covers('nope', 'primary_key')", "42704")
        b("SELECT tablecache.covers('bi_c', 'nope')", "42704")
        b("SELECT tablecache.invalidate('nope', 'primary_key', 1)", "42704")
        b("SELECT tablecache.invalidate('bi_c', 'nope', 1)", "42704")
        b("SELECT tablecache.invalidate_range('bi_c', 'nope', 1, 2)", "42704")
        b("SELECT tablecache.refresh('nope')", "42704")
        b("SELECT tablecache.unload('nope')", "42704")
        b("SELECT tablecache.set_sliding_window('nope', 'by_ts', '1 hour')", "42704")
        b("SELECT tablecache.set_sliding_window('bi_c', 'nope', '1 hour')", "42704")
        b("SELECT tablecache.clear_sliding_window('nope')", "42704")
        b("SELECT tablecache.get(NULL::bi_t, 1::bigint)", "42704", note="get with the row type of a plain table")
        b("SELECT tablecache.get(NULL::int, 1)", ("42704", "42809"), note="get with a scalar row type")
        b("SELECT tablecache.create_index('bi_c', 'ix', ARRAY['nope'])", "42703")
        b("SELECT tablecache.create_cache('bi_x', 'SELECT k FROM bi_t', ARRAY['nope'], maintain => 'manual')", "42703")
        b("SELECT tablecache.create_cache('bi_x', 'SELECT k FROM no_such_table', ARRAY['k'], maintain => 'manual')", "42P01")
        self.check()

    def test_null_arguments(self):
        b = self.bad
        nn = ("22004", "22023", "39004")
        b("SELECT tablecache.create_cache(NULL, 'SELECT k FROM bi_t', ARRAY['k'], maintain => 'manual')", nn)
        b("SELECT tablecache.create_cache('bi_x', NULL, ARRAY['k'], maintain => 'manual')", nn)
        b("SELECT tablecache.create_cache('bi_x', 'SELECT k FROM bi_t', NULL, maintain => 'manual')", nn)
        b("SELECT tablecache.create_cache('bi_x', 'SELECT k FROM bi_t', ARRAY[NULL]::text[], maintain => 'manual')", nn)
        b("SELECT tablecache.create_index(NULL, 'ix', ARRAY['k'])", nn)
        b("SELECT tablecache.create_index('bi_c', NULL, ARRAY['k'])", nn)
        b("SELECT tablecache.create_index('bi_c', 'ix', NULL)", nn)
        b("SELECT tablecache.create_index('bi_c', 'ix', ARRAY['g', NULL])", nn)
        b("SELECT tablecache.drop_cache(NULL)", nn)
        b("SELECT tablecache.drop_index(NULL, 'by_g')", nn)
        b("SELECT tablecache.drop_index('bi_c', NULL)", nn)
        b("SELECT tablecache.load(NULL)", nn)
        b("SELECT tablecache.load('bi_m', NULL)", nn, note="load('bi_m', NULL): NULL index")
        b("SELECT tablecache.adjust(NULL, 'primary_key', 1, 2)", nn)
        b("SELECT tablecache.adjust('bi_c', NULL, 1, 2)", nn, note="adjust('bi_c', NULL, 1, 2): NULL index")
        b("SELECT * FROM tablecache.range(NULL::bi_c, NULL)", nn)
        b("SELECT tablecache.covers(NULL, 'primary_key')", nn)
        b("SELECT tablecache.covers('bi_c', NULL)", nn)
        b("SELECT tablecache.invalidate(NULL, 'primary_key', 1)", nn)
        b("SELECT tablecache.invalidate('bi_c', NULL, 1)", nn)
        b("SELECT tablecache.invalidate('bi_c', 'primary_key', NULL::bigint)", nn)
        b("SELECT tablecache.invalidate_range(NULL, 'primary_key', 1, 2)", nn)
        b("SELECT tablecache.invalidate_range('bi_c', NULL, 1, 2)", nn)
        b("SELECT tablecache.refresh(NULL)", nn)
        b("SELECT tablecache.unload(NULL)", nn)
        b("SELECT tablecache.set_sliding_window(NULL, 'by_ts', '1 hour')", nn)
        b("SELECT tablecache.set_sliding_window('bi_c', NULL, '1 hour')", nn)
        b("SELECT tablecache.set_sliding_window('bi_c', 'by_ts', NULL)", nn)
        b("SELECT tablecache.set_sliding_window('bi_c', 'by_ts', '1 hour', NULL)", nn)
        b("SELECT tablecache.clear_sliding_window(NULL)", nn)
        b("SELECT tablecache.get(NULL, 1)", ("42804", "22004", "42P18"), note="get(NULL, 1): untyped row type")
        self.check()

    def test_wrong_key_types(self):
        b = self.bad
        b("SELECT tablecache.get(NULL::bi_c, true)", "42804", note="boolean key for a bigint primary key")
        b("SELECT tablecache.get(NULL::bi_c, 'abc'::text)", ("42804", "22P02"), note="text key that is no bigint")
        b("SELECT tablecache.get(NULL::bi_c, ROW(1, 2))", ("22023", "42804"), note="ROW(1, 2) for a 1-column key")
        b("SELECT tablecache.get(NULL::bi_m, ROW(1, 2, 3))", ("22023", "42804"), note="ROW of 3 for a 2-column key")
        b("SELECT * FROM tablecache.range(NULL::bi_c, 'by_gs', ROW(1, 'a', 3), NULL)", ("22023", "42804"))
        b("SELECT * FROM tablecache.range(NULL::bi_c, 'by_gs', ROW('x', 'a'), NULL)", ("42804", "22P02"))
        b("SELECT * FROM tablecache.range(NULL::bi_c, 'by_ts', 1, 2)", "42804", note="integer bounds on a timestamptz index")
        b("SELECT * FROM tablecache.range(NULL::bi_c, 'by_g', ROW(1, 2), NULL)", ("22023", "42804"))
        b("SELECT tablecache.covers('bi_c', 'primary_key', true, NULL)", "42804")
        b("SELECT tablecache.load('bi_m', 'primary_key', ROW(1, 'zz'::text), NULL)", ("42804", "22P02"))
        b("SELECT tablecache.adjust('bi_c', 'primary_key', now(), NULL)", "42804")
        b("SELECT tablecache.adjust('bi_c', 'by_gs', ROW(1), ROW(1, 'a', 'b'))", ("22023", "42804"))
        b("SELECT tablecache.invalidate('bi_c', 'primary_key', 'abc'::text)", ("42804", "22P02"))
        b("SELECT tablecache.invalidate('bi_c', 'primary_key', true)", "42804")
        b("SELECT tablecache.invalidate('bi_c', 'by_gs', ROW(1, 'a', 2))", ("22023", "42804"))
        b("SELECT tablecache.invalidate_range('bi_c', 'primary_key', now(), now())", "42804")
        b("SELECT tablecache.invalidate_range('bi_c', 'by_ts', 1, 2)", "42804")
        self.check()

    def test_bad_bounds_arrays_duplicates_states(self):
        b = self.bad
        b("SELECT * FROM tablecache.range(NULL::bi_c, 'primary_key', 10, 5)", "22023", note="range ge > lt")
        b("SELECT tablecache.adjust('bi_c', 'primary_key', 10, 5)", "22023", note="adjust ge > lt")
        b("SELECT tablecache.load('bi_m', 'primary_key', ROW(5, 1), ROW(1, 1))", "22023", note="load ge > lt (row values)")
        b("SELECT tablecache.invalidate_range('bi_c', 'primary_key', 5, 1)", "22023", note="invalidate_range ge > lt")
        b("SELECT tablecache.covers('bi_c', 'primary_key', 5, 1)", "22023", note="covers ge > lt")
        b("SELECT tablecache.create_cache('bi_x', 'SELECT k FROM bi_t', ARRAY[]::text[], maintain => 'manual')", "22023")
        b("SELECT tablecache.create_index('bi_c', 'ix', ARRAY[]::text[])", "22023")
        b("SELECT tablecache.create_cache('bi_c', 'SELECT k FROM bi_t', ARRAY['k'], maintain => 'manual')", "42710", note="duplicate cache name")
        b("SELECT tablecache.create_index('bi_c', 'by_g', ARRAY['g'])", "42710", note="duplicate index name")
        b("SELECT tablecache.create_index('bi_c', 'primary_key', ARRAY['g'])", "42710", note="index named primary_key")
        b("SELECT tablecache.create_cache('bi_x', 'SELECT k, g FROM bi_t', ARRAY['k', 'k'], maintain => 'manual')", ("42701", "22023"))
        b("SELECT tablecache.create_index('bi_c', 'ix', ARRAY['g', 'g'])", ("42701", "22023"))
        b("SELECT tablecache.create_cache('', 'SELECT k FROM bi_t', ARRAY['k'], maintain => 'manual')", ("22023", "42602"), note="empty cache name")
        b("SELECT tablecache.create_index('bi_c', '', ARRAY['g'])", ("22023", "42602"), note="empty index name")
        b("SELECT tablecache.create_cache('bi_t', 'SELECT k FROM bi_t', ARRAY['k'], maintain => 'manual')", "42710",
          note="cache named like an existing table (its row type exists)")
        b("SELECT tablecache.load('bi_c')", "55000", note="load of a loaded cache")
        b("SELECT tablecache.set_sliding_window('bi_c', 'by_g', '1 hour')", "22023", note="sliding window on an int index")
        b("SELECT tablecache.drop_index('bi_c', 'primary_key')", ("22023", "55000", "42809"), note="drop the primary_key index")
        self.check()

    def test_transaction_isolation(self):
        for level in ("REPEATABLE READ", "SERIALIZABLE"):
            for call in ("tablecache.load('bi_m')", "tablecache.adjust('bi_c', 'primary_key', 1, 5)",
                         "tablecache.refresh('bi_c')"):
                self.bad("SELECT %s" % call, ("0A000", "25001", "55000"), note="%s in %s" % (call, level),
                         begin="BEGIN ISOLATION LEVEL %s" % level)
        self.check()

    def test_bad_queries(self):
        b = self.bad
        ro = ("0A000", "22023", "42809", "25006")
        b("SELECT tablecache.create_cache('bi_x', 'INSERT INTO bi_t (k, g, s, ts) VALUES (-1, 0, '''', now()) RETURNING k', ARRAY['k'], maintain => 'manual')", ro)
        b("SELECT tablecache.create_cache('bi_x', 'UPDATE bi_t SET g = g RETURNING k', ARRAY['k'], maintain => 'manual')", ro)
        b("SELECT tablecache.create_cache('bi_x', 'WITH d AS (DELETE FROM bi_t WHERE k = 1 RETURNING k) SELECT k FROM d', ARRAY['k'], maintain => 'manual')", ro)
        b("SELECT tablecache.create_cache('bi_x', 'CREATE TABLE bi_zz AS SELECT k FROM bi_t', ARRAY['k'], maintain => 'manual')", ro)
        b("SELECT tablecache.create_cache('bi_x', 'SELECT k FROM bi_t; SELECT 1 AS k', ARRAY['k'], maintain => 'manual')", ro)
        b("SELECT tablecache.create_cache('bi_x', 'SELECT k FROM bi_t; DROP TABLE bi_victim', ARRAY['k'], maintain => 'manual')", ro)
        b("SELECT tablecache.create_cache('bi_x', 'SELECT k FROM bi_t FOR UPDATE', ARRAY['k'], maintain => 'manual')", ro)
        b("SELECT tablecache.create_cache('bi_x', 'SELECT k FROM bi_t FOR SHARE', ARRAY['k'], maintain => 'manual')", ro)
        b("SELECT tablecache.create_cache('bi_x', '', ARRAY['k'], maintain => 'manual')", ro + ("42601",))
        b("SELECT tablecache.create_cache('bi_x', 'not sql at all', ARRAY['k'], maintain => 'manual')", "42601")
        b("SELECT tablecache.create_cache('bi_x', 'SELECT k FROM bi_t WHERE k = $1', ARRAY['k'], maintain => 'manual')", ("42P02", "22023"))
        b("SELECT tablecache.create_cache('bi_x', 'SELECT k, random() AS r FROM bi_t', ARRAY['k'], maintain => 'manual')", ("0A000", "22023", "42P17"),
          note="volatile random() in the query")
        b("SELECT tablecache.create_cache('bi_x', 'SELECT k, clock_timestamp() AS r FROM bi_t', ARRAY['k'], maintain => 'manual')", ("0A000", "22023", "42P17"),
          note="volatile clock_timestamp() in the query")
        b("SELECT tablecache.create_cache('bi_x', 'SELECT k, nextval(''tablecache.def_version_seq'') AS z FROM bi_t', ARRAY['k'], maintain => 'manual')",
          ("0A000", "22023", "42P17"), note="nextval() in the query")
        b("SELECT tablecache.create_cache('bi_x', 'SELECT k, k AS k FROM bi_t', ARRAY['k'], maintain => 'manual')", "42701", note="duplicate column names")
        b("SELECT tablecache.create_cache('bi_x', 'SELECT k, g AS \"K\", g AS \"K\" FROM bi_t', ARRAY['k'], maintain => 'manual')", "42701")
        b("SELECT tablecache.load('bi_div')", "22012", note="division by zero in one row at load")
        b("SELECT tablecache.load('bi_dup')", "23505", note="duplicate primary keys at load")
        b("SELECT tablecache.create_index('bi_pj', 'by_p', ARRAY['p'])", "42883", note="index on a point column")
        b("SELECT tablecache.create_index('bi_pj', 'by_j', ARRAY['j'])", "42883", note="index on a json column")
        b("SELECT tablecache.create_cache('bi_x', 'SELECT k, p FROM bi_t', ARRAY['p'], maintain => 'manual')", "42883", note="primary key on a point column")
        # the division-by-zero cache loads fine when the bad row is outside the window
        self.assertEqual(scalar(self.conn, "SELECT tablecache.load('bi_div', 'primary_key', 1, 100)"), 99)
        b("SELECT tablecache.adjust('bi_div', 'primary_key', 400, 600)", "22012", note="division by zero at adjust")
        self.assertEqual(query(self.conn, "SELECT window_ge, window_lt, rows FROM tablecache.caches WHERE name = 'bi_div'"),
                         [("1", "100", 99)])
        query(self.conn, "SELECT tablecache.unload('bi_div')")
        self.assertEqual(scalar(self.conn, "SELECT count(*) FROM bi_victim"), 1)
        self.check()

    def test_hostile_names(self):
        """Quotes, semicolons and an injection attempt as cache and index names: refused
        cleanly, or accepted and round-tripped exactly; never executed."""
        conn = self.conn
        names = ['a"b', "a'b", "a;b", "'); DROP TABLE bi_victim; --", '"); DROP TABLE bi_victim; --',
                 "x$$; DROP TABLE bi_victim; $$", "Upper Case", "a\\b",
                 "int4", "text"]  # the last two: names of built-in types
        for name in names:
            before = snapshot(conn)
            try:
                query(conn, "SELECT tablecache.create_cache(%s, 'SELECT k, g FROM bi_t', ARRAY['k'], maintain => 'manual')", (name,))
            except psycopg2.Error as e:
                COUNT["bad_calls"] += 1
                print("\n    %-6s cache name %r -> %s" % (e.pgcode, name, e.diag.message_primary), end="")
                if e.pgcode not in ("22023", "42602", "42622"):
                    self.problems.append("cache name %r refused with %s (%s)" % (name, e.pgcode, e.diag.message_primary))
                if snapshot(conn) != before:
                    self.problems.append("cache name %r: refused but caches/memory changed" % name)
            else:
                print("\n    ok     cache name %r accepted" % name, end="")
                got = query(conn, "SELECT name, rowtype::text FROM tablecache.caches WHERE name = %s", (name,))
                if len(got) != 1:
                    self.problems.append("cache name %r accepted but caches lists %r" % (name, got))
                else:
                    rowtype = got[0][1]
                    try:
                        n = scalar(conn, "SELECT tablecache.load(%s)", (name,))
                        cnt = scalar(conn, "SELECT count(*) FROM tablecache.range(NULL::%s, 'primary_key')" % rowtype)
                        if (n, cnt) != (1000, 1000):
                            self.problems.append("cache name %r: load %s rows, range %s rows" % (name, n, cnt))
                    except psycopg2.Error as e:
                        self.problems.append("cache name %r accepted (row type %s) but unusable: %s %s"
                                             % (name, rowtype, e.pgcode, e.diag.message_primary))
                try:
                    query(conn, "SELECT tablecache.drop_cache(%s)", (name,))
                except psycopg2.Error as e:
                    self.problems.append("cache name %r accepted but drop_cache fails: %s %s"
                                         % (name, e.pgcode, e.diag.message_primary))
            self.assertEqual(scalar(conn, "SELECT count(*) FROM bi_victim"), 1, "after cache name %r" % name)
            self.assertEqual(scalar(conn, "SELECT 1"), 1)
        for name in names:
            before = snapshot(conn)
            try:
                query(conn, "SELECT tablecache.create_index('bi_c', %s, ARRAY['g'])", (name,))
            except psycopg2.Error as e:
                COUNT["bad_calls"] += 1
                print("\n    %-6s index name %r -> %s" % (e.pgcode, name, e.diag.message_primary), end="")
                if e.pgcode not in ("22023", "42602", "42622"):
                    self.problems.append("index name %r refused with %s" % (name, e.pgcode))
                if snapshot(conn) != before:
                    self.problems.append("index name %r: refused but caches/memory changed" % name)
            else:
                idx = scalar(conn, "SELECT indexes FROM tablecache.caches WHERE name = 'bi_c'")
                if name not in idx:
                    self.problems.append("index name %r accepted but indexes are %r" % (name, idx))
                got = scalar(conn, "SELECT count(*) FROM tablecache.range(NULL::bi_c, %s, 3, 4)", (name,))
                if got != 100:
                    self.problems.append("index name %r: range(3, 4) gave %s rows, not 100" % (name, got))
                query(conn, "SELECT tablecache.invalidate('bi_c', %s, 3)", (name,))
                query(conn, "SELECT tablecache.drop_index('bi_c', %s)", (name,))
            self.assertEqual(scalar(conn, "SELECT count(*) FROM bi_victim"), 1, "after index name %r" % name)
        self.assertEqual(scalar(conn, "SELECT indexes FROM tablecache.caches WHERE name = 'bi_c'"),
                         ["primary_key", "by_g", "by_gs", "by_ts"])
        self.assertEqual(scalar(conn, "SELECT count(*) FROM bi_t"), 1000)
        self.check()

    def test_dropped_and_altered_base_table(self):
        conn = self.conn
        query(conn, "CREATE TABLE bi_d (k int PRIMARY KEY, v text)")
        query(conn, "INSERT INTO bi_d SELECT i, 'v' || i FROM generate_series(1, 100) i")
        query(conn, "SELECT tablecache.create_cache('bi_dc', 'SELECT k, v FROM bi_d', ARRAY['k'], maintain => 'manual')")
        query(conn, "SELECT tablecache.create_index('bi_dc', 'by_v', ARRAY['v'])")
        # a table a cache depends on is dropped (CASCADE if the catalog records a dependency)
        try:
            query(conn, "DROP TABLE bi_d")
        except psycopg2.Error as e:
            print("\n    DROP TABLE bi_d refused: %s %s" % (e.pgcode, e.diag.message_primary), end="")
            query(conn, "DROP TABLE bi_d CASCADE")
        exists = scalar(conn, "SELECT count(*) FROM tablecache.caches WHERE name = 'bi_dc'")
        if exists:
            gone = ("42P01", "55000", "42704")
            self.bad("SELECT * FROM tablecache.get(NULL::bi_dc, 1)", gone, note="get from a cache whose table was dropped")
            self.bad("SELECT * FROM tablecache.range(NULL::bi_dc, 'primary_key', 1, 5)", gone,
                     note="range over a cache whose table was dropped")
            self.bad("SELECT tablecache.load('bi_dc')", gone, note="load of a cache whose table was dropped")
            query(conn, "SELECT tablecache.drop_cache('bi_dc')")
        self.assertEqual(scalar(conn, "SELECT count(*) FROM tablecache.caches WHERE name = 'bi_dc'"), 0)
        self.check()


    def test_altered_base_table(self):
        """A cached column would change type (text -> int): refused, like for a view. Run on a
        private server: this call has crashed backends (SIGSEGV, which restarts the whole
        server) before caches were views."""
        srv = server_util.PrivateServer(server_util.private_name("badin", 7), server_util.private_port(7), memory="64MB")
        srv.start()
        try:
            srv.create_db("tc_badin")
            self.conn.close()
            self.reconnect = lambda: srv.connect("tc_badin", application_name="bad input")
            self.conn = conn = self.reconnect()
            log0 = srv.log_size()
            query(conn, "CREATE TABLE bi_a (k int PRIMARY KEY, v text)")
            query(conn, "INSERT INTO bi_a SELECT i, 'v' || i FROM generate_series(1, 100) i")
            query(conn, "SELECT tablecache.create_cache('bi_ac', 'SELECT k, v FROM bi_a', ARRAY['k'], maintain => 'manual')")
            query(conn, "SELECT tablecache.create_cache('bi_al', 'SELECT k, v FROM bi_a', ARRAY['k'], maintain => 'manual')")
            query(conn, "SELECT tablecache.load('bi_al')")
            # the caches' views depend on the column: PostgreSQL refuses to change its type
            self.bad("ALTER TABLE bi_a ALTER COLUMN v TYPE int USING k", "0A000",
                     note="change of the type of a column a cache reads")
            self.assertEqual(query(conn, "SELECT k, v FROM tablecache.range(NULL::bi_al, 'primary_key', 1, 4)"),
                             [(1, "v1"), (2, "v2"), (3, "v3")])
            self.assertEqual(query(conn, "SELECT k, v FROM tablecache.range(NULL::bi_ac, 'primary_key', 1, 4)"),
                             [(1, "v1"), (2, "v2"), (3, "v3")])
            query(self.conn, "SELECT tablecache.drop_cache('bi_ac')")
            query(self.conn, "SELECT tablecache.drop_cache('bi_al')")
            self.assertEqual(scalar(self.conn, "SELECT count(*) FROM tablecache.caches"), 0)
            crashes = [l for l in srv.log_since(log0).splitlines() if "terminated by signal" in l or "PANIC" in l]
            if crashes:
                self.problems.append("server log:\n        " + "\n        ".join(crashes))
        finally:
            self.conn.close()
            srv.destroy()
        self.check()


if __name__ == "__main__":
    unittest.main()
