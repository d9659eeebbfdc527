"""Hostile non-superuser roles against the hardening contract (issue 9, "Who may do what" and
the DROP/CREATE EXTENSION item).

Each test names the item of the contract it checks in its failure messages ("spec: ...").
Roles are cluster-wide: they are named hos_* and dropped at the end. Tests that need a small
region, few slots, a fast worker or a restart run on a private server (PrivateServer, port
55462 unless TABLECACHE_HOSTILE_PRIV_PORT says otherwise, tablecache.memory 16MB,
tablecache.max_caches 8, worker_naptime 200ms), restarted at the start of each class that
uses it; the others run in this module's database on the sessions server.
"""
import os
import time
import unittest

import psycopg2

import harness
import server_util
from harness import query, scalar

PRIV = None
PRIV_PORT = int(os.environ.get("TABLECACHE_HOSTILE_PRIV_PORT", "55462"))
PRIV_MEMORY = "16MB"
PRIV_MAX_CACHES = 8
OWNER_SHARE = 50  # tablecache.owner_share default, percent

SESSION_ROLES = ("hos_esc", "hos_shadow", "hos_shadow_rd", "hos_tmp", "hos_noexec", "hos_noschema",
                 "hos_victim", "hos_inv", "hos_eown", "hos_ereader", "hos_ereader_ok", "hos_nobody",
                 "hos_set_rd")
CREATE_CACHE = "tablecache.create_cache(text, text, text[], text)"
LOG_OFFSET = 0


def sessions_log():
    p = os.path.join(harness.HOST, "server.log")
    return p if os.path.isfile(p) else None


def setUpModule():
    global PRIV, LOG_OFFSET
    p = sessions_log()
    LOG_OFFSET = os.path.getsize(p) if p else 0
    harness.setup_module_db(__name__)
    admin = harness.connect(__name__)
    try:
        for r in SESSION_ROLES:
            _drop_role(admin, r)
            query(admin, "CREATE ROLE %s LOGIN" % r)
    finally:
        admin.close()
    PRIV = server_util.PrivateServer("hostile%d" % PRIV_PORT, PRIV_PORT, memory=PRIV_MEMORY,
                                     settings={"tablecache.max_caches": str(PRIV_MAX_CACHES),
                                               "tablecache.worker_naptime": "200ms"})
    PRIV.start()


def tearDownModule():
    if PRIV is not None:
        PRIV.destroy()
    harness.teardown_module_db(__name__)
    admin = harness.connect("postgres")
    try:
        for r in SESSION_ROLES:
            _drop_role(admin, r)
    finally:
        admin.close()


def _drop_role(conn, r):
    """As test_security._drop_role: DROP OWNED in every database, then DROP ROLE."""
    if scalar(conn, "SELECT count(*) FROM pg_roles WHERE rolname = %s", (r,)):
        for db in query(conn, "SELECT datname FROM pg_database WHERE datallowconn"):
            try:
                c = harness.connect(db[0])
                query(c, "DROP OWNED BY %s CASCADE" % r)
                c.close()
            except psycopg2.Error:
                pass
        query(conn, "DROP ROLE IF EXISTS %s" % r)


def as_role(role, db=None):
    conn = psycopg2.connect(host=harness.HOST, port=harness.PORT, user=role,
                            dbname=db or harness._dbs[__name__], application_name=role)
    conn.autocommit = True
    query(conn, "SET statement_timeout = 60000")
    return conn


def try_sql(conn, sql, params=None):
    """None if `sql` succeeded, else (pgcode, primary message)."""
    try:
        query(conn, sql, params)
        return None
    except psycopg2.Error as e:
        if conn.closed:
            raise
        return (e.pgcode, (e.diag.message_primary or str(e)).splitlines()[0][:160])


def short(cache):
    return cache.rsplit(".", 1)[-1]


def cache_info(conn, cache, cols="loaded, rows, bytes"):
    """A row of tablecache.caches for `cache` (schema.name), whether the build shows it
    qualified or not."""
    rows = query(conn, "SELECT %s FROM tablecache.caches WHERE name IN (%%s, %%s)" % cols, (cache, short(cache)))
    return rows[0] if rows else None


def stats(conn, cache):
    with conn.cursor() as cur:
        cur.execute("SELECT * FROM tablecache.stats WHERE cache IN (%s, %s)", (cache, short(cache)))
        row = cur.fetchone()
        assert row is not None, "no tablecache.stats row for cache %s" % cache
        return dict(zip([d[0] for d in cur.description], row))


def used_bytes(conn):
    return scalar(conn, "SELECT used_bytes FROM tablecache.memory")


def wait_for(fn, timeout):
    """Polls fn() until it returns something truthy (a background worker's effect); returns
    it, or the last value after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        v = fn()
        if v or time.monotonic() > deadline:
            return v
        time.sleep(0.05)


class HostileCase(unittest.TestCase):
    def setUp(self):
        self.admin = harness.connect(__name__)

    def tearDown(self):
        self.admin.close()

    def expect_code(self, conn, sql, code, item, params=None):
        """`sql` must fail with SQLSTATE `code` (the spec item `item` says so); the session
        stays usable."""
        got = try_sql(conn, sql, params)
        print("\n    %s %s%s -> %s" % (code, sql[:100], " %s" % (params,) if params else "", got), end="")
        self.assertIsNotNone(got, "spec: %s: expected %s, but it succeeded: %s" % (item, code, sql))
        self.assertEqual(got[0], code, "spec: %s: expected %s, got %s: %s" % (item, code, got, sql))
        self.assertEqual(scalar(conn, "SELECT 1"), 1)

    def expect_ok(self, conn, sql, item, params=None):
        got = try_sql(conn, sql, params)
        self.assertIsNone(got, "spec: %s: expected success, got %s: %s" % (item, got, sql))


# ---------------------------------------------------------------------------------------------
# 1. Escalation through a function in the cache's query

ESC_OBJECTS = """
CREATE TABLE hos_esc.t (id bigint PRIMARY KEY, ts timestamptz NOT NULL);
CREATE TABLE hos_esc.log (seq bigserial PRIMARY KEY, cu text, su text, pid int, temp_ok bool);
CREATE FUNCTION hos_esc.evil_vol(i bigint) RETURNS bigint LANGUAGE plpgsql VOLATILE AS $f$
DECLARE t bool := false;
BEGIN
  BEGIN EXECUTE 'ALTER ROLE hos_esc SUPERUSER'; EXCEPTION WHEN OTHERS THEN NULL; END;
  BEGIN
    IF pg_catalog.to_regclass('pg_temp.hos_probe') IS NULL THEN
      EXECUTE 'CREATE TEMP TABLE hos_probe (i int)';
    END IF;
    t := true;
  EXCEPTION WHEN OTHERS THEN NULL; END;
  BEGIN
    INSERT INTO hos_esc.log (cu, su, pid, temp_ok) VALUES (current_user, session_user, pg_backend_pid(), t);
  EXCEPTION WHEN OTHERS THEN NULL; END;
  RETURN i * 2;
END $f$;
CREATE FUNCTION hos_esc.evil_stable(i bigint) RETURNS bigint LANGUAGE plpgsql STABLE AS $f$
BEGIN RETURN hos_esc.evil_vol(i); END $f$;
INSERT INTO hos_esc.t SELECT i, now() - i * interval '2 minutes' FROM generate_series(1, 60) i;
SELECT tablecache.create_cache('hos_esc.c', 'SELECT id, ts, hos_esc.evil_stable(id) AS x FROM hos_esc.t', ARRAY['id'], maintain => 'manual');
SELECT tablecache.create_index('hos_esc.c', 'by_ts', ARRAY['ts']);
CREATE TRIGGER t_tc AFTER INSERT OR UPDATE OR DELETE ON hos_esc.t FOR EACH ROW
    EXECUTE FUNCTION tablecache.invalidate_trigger('hos_esc.c', 'primary_key', 'id');
"""


def esc_setup(admin, owner_conn_factory):
    """Role hos_esc owns schema hos_esc only, may run create_cache, builds the evil cache."""
    query(admin, "CREATE SCHEMA hos_esc AUTHORIZATION hos_esc")
    query(admin, "GRANT EXECUTE ON FUNCTION %s TO hos_esc" % CREATE_CACHE)
    o = owner_conn_factory()
    try:
        query(o, ESC_OBJECTS)
    finally:
        o.close()


class EscalationMixin:
    def esc_check(self, admin, path, seq0):
        """After `path`: hos_esc is no superuser, and every run of the evil function since
        seq0 ran as hos_esc, without being able to create a temp table."""
        su = scalar(admin, "SELECT rolsuper FROM pg_roles WHERE rolname = 'hos_esc'")
        if su:
            query(admin, "ALTER ROLE hos_esc NOSUPERUSER")  # so that the next path is tested alone
        runs = query(admin, "SELECT cu, su, temp_ok, count(*) FROM hos_esc.log WHERE seq > %s GROUP BY 1, 2, 3 ORDER BY 1, 2, 3", (seq0,))
        print("\n    %-40s rolsuper=%s evil runs (current_user, session_user, temp_ok, n): %s" % (path, su, runs), end="")
        with self.subTest(path=path):
            self.assertFalse(su, "spec 'every query the cache runs runs AS THE CACHE OWNER': %s made hos_esc a superuser "
                                 "(evil function runs: %s)" % (path, runs))
            self.assertEqual([r for r in runs if r[0] != "hos_esc"], [],
                             "spec 'runs AS THE CACHE OWNER': during %s the query's function ran as another role" % path)
            self.assertEqual([r for r in runs if r[2]], [],
                             "spec 'under SECURITY_RESTRICTED_OPERATION (no temp table creation inside it)': during %s "
                             "the query's function could create a temp table" % path)

    def seq(self, admin):
        return scalar(admin, "SELECT coalesce(max(seq), 0) FROM hos_esc.log")


class Escalation(HostileCase, EscalationMixin):
    """Superuser sessions touching a cache whose owner planted a function: load, adjust, a
    reader's refresh, refresh(), a fall-through read, create_index."""

    @classmethod
    def setUpClass(cls):
        admin = harness.connect(__name__)
        try:
            esc_setup(admin, lambda: as_role("hos_esc"))
        finally:
            admin.close()

    def test_escalation_superuser_paths(self):
        a = self.admin
        o = as_role("hos_esc")
        try:
            s = self.seq(a)
            self.expect_ok(o, "SELECT tablecache.load('hos_esc.c', 'by_ts', now() - interval '1 hour')", "owner loads")
            self.esc_check(a, "owner's own load", s)

            s = self.seq(a)
            self.expect_ok(a, "SELECT tablecache.unload('hos_esc.c')", "superuser unloads")
            self.expect_ok(a, "SELECT tablecache.load('hos_esc.c', 'by_ts', now() - interval '1 hour')", "superuser loads")
            self.esc_check(a, "load by a superuser", s)

            s = self.seq(a)
            self.expect_ok(a, "SELECT tablecache.adjust('hos_esc.c', 'by_ts', now() - interval '90 minutes')", "superuser adjusts")
            self.esc_check(a, "adjust by a superuser", s)

            # a reader's refresh: the owner's committed change, then a superuser's covered read
            query(o, "UPDATE hos_esc.t SET ts = ts + interval '1 second' WHERE id = 3")
            st0 = stats(a, "hos_esc.c")
            s = self.seq(a)
            n = scalar(a, "SELECT count(*) FROM tablecache.range(NULL::hos_esc.c, 'by_ts', now() - interval '30 minutes')")
            self.assertGreater(n, 0)
            st1 = stats(a, "hos_esc.c")
            self.esc_check(a, "a superuser reader's refresh", s)
            self.assertGreater(st1["refreshes"], st0["refreshes"], "the superuser's read did not refresh (test setup)")

            query(o, "UPDATE hos_esc.t SET ts = ts + interval '1 second' WHERE id = 4")
            s = self.seq(a)
            self.expect_ok(a, "SELECT tablecache.refresh('hos_esc.c')", "superuser refresh()")
            self.esc_check(a, "refresh() by a superuser", s)

            s = self.seq(a)
            m0 = stats(a, "hos_esc.c")["misses"]
            self.assertEqual(query(a, "SELECT id, x FROM tablecache.get(NULL::hos_esc.c, 55::bigint)"), [(55, 110)])
            self.assertEqual(stats(a, "hos_esc.c")["misses"], m0 + 1, "get(55) was not a fall-through (test setup)")
            self.esc_check(a, "a superuser's fall-through read", s)

            s = self.seq(a)
            self.expect_ok(a, "SELECT tablecache.create_index('hos_esc.c', 'by_x', ARRAY['x'])", "superuser create_index")
            self.esc_check(a, "create_index (reload) by a superuser", s)
        finally:
            o.close()
            query(a, "ALTER ROLE hos_esc NOSUPERUSER")


class EscalationWorker(HostileCase, EscalationMixin):
    """The same cache with a sliding window on the private server: the worker's slides and
    eager refreshes, and autowarm after a restart."""
    DB = "tc_hos_esc"

    @classmethod
    def setUpClass(cls):
        PRIV.restart()
        admin = PRIV.connect("postgres")
        try:
            _drop_priv_role(admin, "hos_esc")
            query(admin, "CREATE ROLE hos_esc LOGIN")
        finally:
            admin.close()
        PRIV.create_db(cls.DB)

    @classmethod
    def tearDownClass(cls):
        drop_priv_db(cls.DB, ["hos_esc.c"])

    def setUp(self):
        self.admin = PRIV.connect(self.DB)

    def test_escalation_worker_slide_refresh_autowarm(self):
        a = self.admin
        esc_setup(a, lambda: PRIV.connect(self.DB, user="hos_esc"))
        o = PRIV.connect(self.DB, user="hos_esc")
        log0 = PRIV.log_size()
        try:
            s = self.seq(a)
            self.expect_ok(o, "SELECT tablecache.set_sliding_window('hos_esc.c', 'by_ts', '1 hour', '1 second')",
                           "owner sets a sliding window")
            self.esc_check(a, "owner's set_sliding_window", s)

            # the worker slides (every second)
            s = self.seq(a)
            adj0 = stats(a, "hos_esc.c")["adjustments"]
            slid = wait_for(lambda: stats(a, "hos_esc.c")["adjustments"] > adj0, 15)
            self.assertTrue(slid, "the worker did not slide the window within 15 s (test setup)")
            self.esc_check(a, "the worker's slide", s)

            # rows entering the window: the owner's inserts, refreshed eagerly by the worker
            s = self.seq(a)
            ref0 = stats(a, "hos_esc.c")["refreshes"]
            query(o, "INSERT INTO hos_esc.t SELECT i, now() FROM generate_series(100, 104) i")
            refreshed = wait_for(lambda: stats(a, "hos_esc.c")["refreshes"] > ref0, 15)
            self.assertTrue(refreshed, "the worker did not apply the invalidations within 15 s (test setup)")
            self.esc_check(a, "the worker's eager refresh", s)

            # autowarm after a restart
            o.close()
            a.close()
            c = PRIV.connect(self.DB)
            try:
                s_before = self.seq(c)
            finally:
                c.close()
            PRIV.restart()
            self.admin = a = PRIV.connect(self.DB)
            o = PRIV.connect(self.DB, user="hos_esc")
            warm = wait_for(lambda: (cache_info(a, "hos_esc.c") or (False,))[0], 30)
            self.assertTrue(warm, "autowarm did not load hos_esc.c within 30 s after the restart (test setup)")
            self.esc_check(a, "autowarm after a restart (and the worker since)", s_before)
            log = PRIV.log_since(log0)
            self.assertNotIn("terminated by signal", log, "a backend crashed:\n" + log[-3000:])
        finally:
            o.close()
            query(a, "ALTER ROLE hos_esc NOSUPERUSER")
            query(a, "SELECT tablecache.clear_sliding_window('hos_esc.c')")


# ---------------------------------------------------------------------------------------------
# 2. Temp tables named like the base tables

class TempShadowing(HostileCase):
    @classmethod
    def setUpClass(cls):
        a = harness.connect(__name__)
        try:
            query(a, """
                CREATE TABLE hos_tt (k bigint PRIMARY KEY, v text NOT NULL);
                INSERT INTO hos_tt SELECT i, 'real' || i FROM generate_series(1, 100) i;
                GRANT SELECT ON hos_tt TO hos_shadow_rd;
                CREATE TRIGGER hos_tt_tc AFTER INSERT OR UPDATE OR DELETE ON hos_tt FOR EACH ROW
                    EXECUTE FUNCTION tablecache.invalidate_trigger('public.hos_tc', 'primary_key', 'k');
            """)
            query(a, "SELECT tablecache.create_cache('public.hos_tc', 'SELECT k, v FROM hos_tt', ARRAY['k'], maintain => 'manual')")
            query(a, "SELECT tablecache.load('public.hos_tc', 'primary_key', 1, 51)")
        finally:
            a.close()

    def setUp(self):
        super().setUp()
        # each test starts from a freshly loaded cache of the real rows
        query(self.admin, "SELECT tablecache.unload('public.hos_tc')")
        query(self.admin, "SELECT tablecache.load('public.hos_tc', 'primary_key', 1, 51)")

    FAKE = """
        CREATE TEMP TABLE hos_tt (k bigint, v text);
        INSERT INTO hos_tt VALUES (5, 'FAKE5'), (7, 'FAKE7'), (9, 'FAKE9'), (80, 'FAKE80');
    """

    def real(self, where):
        return query(self.admin, "SELECT k, v FROM hos_tt WHERE %s ORDER BY k" % where)

    def assert_cache_is_real(self, what):
        """Another session's reads give the real rows, from the cache."""
        b = harness.connect(__name__)
        try:
            got = query(b, "SELECT k, v FROM tablecache.range(NULL::public.hos_tc, 'primary_key', 1, 51)")
            self.assertEqual(got, self.real("k >= 1 AND k < 51"),
                             "spec 'a temp table named like a base table, created later by anybody, is never read by "
                             "the cache': after %s another session reads %s" % (what, [r for r in got if "FAKE" in r[1]]))
            self.assertEqual(query(b, "SELECT k, v FROM tablecache.get(NULL::public.hos_tc, 80::bigint)"), self.real("k = 80"))
            self.assertTrue(cache_info(b, "public.hos_tc")[0], "cache unloaded after %s" % what)
        finally:
            b.close()

    def test_no_grants_role_with_shadow_tables(self):
        """A role without any grant shadows hos_tt with a temp table: its reads are refused
        (42501) and never put its rows into the shared cache."""
        e = as_role("hos_shadow")
        try:
            query(e, self.FAKE)
            item = "reading needs SELECT on every table the query names (42501); relations resolved at create_cache"
            for sql in ("SELECT * FROM tablecache.get(NULL::public.hos_tc, 5::bigint)",              # hit
                        "SELECT * FROM tablecache.range(NULL::public.hos_tc, 'primary_key', 1, 10)",  # hit
                        "SELECT * FROM tablecache.get(NULL::public.hos_tc, 80::bigint)",             # miss
                        "SELECT * FROM tablecache.range(NULL::public.hos_tc, 'primary_key', 70, 90)"):
                with self.subTest(sql=sql):
                    self.expect_code(e, sql, "42501", item)
            # committed invalidations, then the hostile session is the first to read or refresh
            query(self.admin, "UPDATE hos_tt SET v = 'real5b' WHERE k = 5")
            with self.subTest(sql="get after an invalidation"):
                self.expect_code(e, "SELECT * FROM tablecache.get(NULL::public.hos_tc, 5::bigint)", "42501", item)
            query(self.admin, "UPDATE hos_tt SET v = 'real7b' WHERE k = 7")
            print("\n    refresh() by the shadowing role: %s" % (try_sql(e, "SELECT tablecache.refresh('public.hos_tc')"),), end="")
            query(self.admin, "UPDATE hos_tt SET v = 'real9b' WHERE k = 9")
            print("\n    range() by the shadowing role after an invalidation: %s"
                  % (try_sql(e, "SELECT * FROM tablecache.range(NULL::public.hos_tc, 'primary_key', 1, 51)"),), end="")
        finally:
            e.close()
        self.assert_cache_is_real("reads and refresh() by a role shadowing hos_tt with a temp table")

    def test_reader_with_shadow_tables_gets_the_real_rows(self):
        """A role with SELECT on hos_tt shadows it: hits, misses and its refreshes give the real
        rows, to it and to everybody else."""
        r = as_role("hos_shadow_rd")
        try:
            query(r, self.FAKE)
            item = "relations are resolved once, at create_cache: a temp table named like a base table is never read"
            self.assertEqual(query(r, "SELECT k, v FROM tablecache.get(NULL::public.hos_tc, 5::bigint)"), self.real("k = 5"),
                             "spec: %s (hit)" % item)
            self.assertEqual(query(r, "SELECT k, v FROM tablecache.get(NULL::public.hos_tc, 80::bigint)"), self.real("k = 80"),
                             "spec: %s (fall-through get)" % item)
            self.assertEqual(query(r, "SELECT k, v FROM tablecache.range(NULL::public.hos_tc, 'primary_key', 70, 90)"),
                             self.real("k >= 70 AND k < 90"), "spec: %s (fall-through range)" % item)
            query(self.admin, "UPDATE hos_tt SET v = 'real7c' WHERE k = 7")
            self.assertEqual(query(r, "SELECT k, v FROM tablecache.get(NULL::public.hos_tc, 7::bigint)"), self.real("k = 7"),
                             "spec: %s (the reader's refresh)" % item)
        finally:
            r.close()
        self.assert_cache_is_real("reads of a reader shadowing hos_tt")


# ---------------------------------------------------------------------------------------------
# 3. Exhaustion: temp caches, create_cache's EXECUTE, owner_share, foreign invalidation

class CreateCacheRights(HostileCase):
    @classmethod
    def setUpClass(cls):
        a = harness.connect(__name__)
        try:
            query(a, "CREATE SCHEMA hos_tmp AUTHORIZATION hos_tmp")
            query(a, "CREATE SCHEMA hos_noexec AUTHORIZATION hos_noexec")
            query(a, "GRANT EXECUTE ON FUNCTION %s TO hos_tmp, hos_noschema" % CREATE_CACHE)
        finally:
            a.close()

    def test_temporary_caches_refused(self):
        item = "a cache name in pg_temp (or any temporary schema), or a query that reads a temporary table: 0A000"
        t = as_role("hos_tmp")
        try:
            query(t, """
                CREATE TABLE hos_tmp.real (k int PRIMARY KEY);
                INSERT INTO hos_tmp.real SELECT generate_series(1, 10);
                CREATE TEMP TABLE hos_tmpt (k int PRIMARY KEY);
                INSERT INTO hos_tmpt SELECT generate_series(1, 10);
                CREATE TEMP VIEW hos_tmpv AS SELECT k FROM hos_tmpt;
            """)
            tschema = scalar(t, "SELECT nspname FROM pg_namespace WHERE oid = pg_my_temp_schema()")
            cases = [("pg_temp.hos_x1", "SELECT k FROM hos_tmp.real"),
                     ("%s.hos_x2" % tschema, "SELECT k FROM hos_tmp.real"),
                     ("hos_tmp.hos_x3", "SELECT k FROM hos_tmpt"),
                     ("hos_tmp.hos_x4", "SELECT k FROM pg_temp.hos_tmpt"),
                     ("hos_tmp.hos_x5", "SELECT r.k FROM hos_tmp.real r JOIN pg_temp.hos_tmpt x USING (k)"),
                     ("hos_tmp.hos_x6", "SELECT k FROM hos_tmpv")]
            for name, q in cases:
                with self.subTest(cache=name, query=q):
                    self.expect_code(t, "SELECT tablecache.create_cache(%s, %s, ARRAY['k'], maintain => 'manual')", "0A000", item, (name, q))
            with self.subTest(cache="pg_temp by a superuser"):
                self.expect_code(self.admin, "SELECT tablecache.create_cache('pg_temp.hos_x7', 'SELECT 1::int AS k', ARRAY['k'], maintain => 'manual')",
                                 "0A000", item)
            left = query(self.admin, "SELECT name FROM tablecache.caches WHERE name LIKE '%hos_x%' ORDER BY name")
            self.assertEqual(left, [], "spec: %s: caches were created: %s" % (item, left))
        finally:
            t.close()

    def test_create_cache_needs_execute_and_create_on_schema(self):
        with self.subTest(check="has_function_privilege"):
            self.assertFalse(scalar(self.admin, "SELECT has_function_privilege('hos_noexec', %s, 'EXECUTE')", (CREATE_CACHE,)),
                             "spec: EXECUTE on create_cache is REVOKEd from PUBLIC at CREATE EXTENSION")
        n = as_role("hos_noexec")
        try:
            with self.subTest(role="hos_noexec"):
                self.expect_code(n, "SELECT tablecache.create_cache('hos_noexec.c', 'SELECT 1::int AS k', ARRAY['k'], maintain => 'manual')", "42501",
                                 "create_cache without EXECUTE: 42501 (permission denied for function create_cache)")
        finally:
            n.close()
        s = as_role("hos_noschema")
        try:
            with self.subTest(role="hos_noschema"):
                self.expect_code(s, "SELECT tablecache.create_cache('public.hos_nsc', 'SELECT 1::int AS k', ARRAY['k'], maintain => 'manual')", "42501",
                                 "the creating role also needs CREATE on the schema of the cache")
        finally:
            s.close()
        self.assertIsNone(cache_info(self.admin, "hos_noexec.c"), "spec: a refused create_cache left a cache")
        self.assertIsNone(cache_info(self.admin, "public.hos_nsc"), "spec: a refused create_cache left a cache")


def _drop_priv_role(conn, r):
    if scalar(conn, "SELECT count(*) FROM pg_roles WHERE rolname = %s", (r,)):
        for db in query(conn, "SELECT datname FROM pg_database WHERE datallowconn"):
            try:
                c = PRIV.connect(db[0])
                query(c, "DROP OWNED BY %s CASCADE" % r)
                c.close()
            except psycopg2.Error:
                pass
        query(conn, "DROP ROLE IF EXISTS %s" % r)


def drop_priv_db(db, caches):
    """Drops the caches (so that their memory and slots are given back now, not when the
    launcher notices the dropped database), then the database."""
    try:
        c = PRIV.connect(db)
        try:
            for name in caches:
                try_sql(c, "SELECT tablecache.clear_sliding_window(%s)", (name,))
                try_sql(c, "SELECT tablecache.drop_cache(%s)", (name,))
        finally:
            c.close()
    except psycopg2.Error:
        pass
    admin = PRIV.connect("postgres")
    try:
        query(admin, "DROP DATABASE IF EXISTS %s WITH (FORCE)" % db)
    finally:
        admin.close()


class OwnerShare(HostileCase):
    """tablecache.owner_share (default 50%) of the slots and of the region bytes, on the
    private server (16MB, 8 slots)."""
    DB = "tc_hos_share"

    @classmethod
    def setUpClass(cls):
        PRIV.restart()
        admin = PRIV.connect("postgres")
        try:
            for r in ("hos_hog_s", "hos_hog_b"):
                _drop_priv_role(admin, r)
                query(admin, "CREATE ROLE %s LOGIN" % r)
        finally:
            admin.close()
        PRIV.create_db(cls.DB)
        a = PRIV.connect(cls.DB)
        try:
            query(a, """
                CREATE SCHEMA hos_hog_s AUTHORIZATION hos_hog_s;
                CREATE SCHEMA hos_hog_b AUTHORIZATION hos_hog_b;
                GRANT EXECUTE ON FUNCTION tablecache.create_cache(text, text, text[], text) TO hos_hog_s, hos_hog_b;
                CREATE TABLE hos_small (k int PRIMARY KEY);
                INSERT INTO hos_small SELECT generate_series(1, 10);
                CREATE TABLE hos_big (k int PRIMARY KEY, v text NOT NULL);
                INSERT INTO hos_big SELECT i, repeat(md5(i::text), 31) FROM generate_series(1, 12000) i;
                ANALYZE hos_big;
                GRANT SELECT ON hos_small, hos_big TO hos_hog_s, hos_hog_b;
            """)
        finally:
            a.close()

    @classmethod
    def tearDownClass(cls):
        drop_priv_db(cls.DB, cls.CACHES)

    CACHES = (["hos_hog_s.c%d" % i for i in range(1, PRIV_MAX_CACHES + 1)]
              + ["public.hos_su%d" % i for i in range(1, PRIV_MAX_CACHES + 1)]
              + ["hos_hog_b.b1", "hos_hog_b.b2", "public.hos_sb1"])

    def setUp(self):
        self.admin = PRIV.connect(self.DB)

    def tearDown(self):
        # give the slots and bytes back: the other test of this class counts on them
        for name in self.CACHES:
            try_sql(self.admin, "SELECT tablecache.drop_cache(%s)", (name,))
        self.admin.close()

    def test_slots(self):
        share = PRIV_MAX_CACHES * OWNER_SHARE // 100
        item = ("a non-superuser owner's caches may hold at most tablecache.owner_share (50%%) of the cache slots "
                "(%d of %d): beyond it create_cache/first load fail with 53400" % (share, PRIV_MAX_CACHES))
        h = PRIV.connect(self.DB, user="hos_hog_s")
        made, err = 0, None
        try:
            for i in range(1, PRIV_MAX_CACHES + 1):
                err = try_sql(h, "SELECT tablecache.create_cache('hos_hog_s.c%d', 'SELECT k FROM public.hos_small', ARRAY['k'], maintain => 'manual')" % i)
                if err is None:
                    err = try_sql(h, "SELECT tablecache.load('hos_hog_s.c%d')" % i)
                if err is not None:
                    break
                made += 1
        finally:
            h.close()
        print("\n    hog caches loaded: %d, then %s" % (made, err), end="")
        with self.subTest(part="hog"):
            self.assertLessEqual(made, share, "spec: %s: the hog loaded %d caches" % (item, made))
            self.assertIsNotNone(err, "spec: %s: the hog loaded all %d slots" % (item, made))
            self.assertEqual(err[0], "53400", "spec: %s: got %s" % (item, err))
            self.assertGreaterEqual(made, 1, "the hog could not load even one cache (test setup)")
        # a superuser still gets the rest
        a = self.admin
        want = PRIV_MAX_CACHES - min(made, share)
        got, serr = 0, None
        for i in range(1, want + 1):
            serr = try_sql(a, "SELECT tablecache.create_cache('public.hos_su%d', 'SELECT k FROM hos_small', ARRAY['k'], maintain => 'manual')" % i)
            if serr is None:
                serr = try_sql(a, "SELECT tablecache.load('public.hos_su%d')" % i)
            if serr is not None:
                break
            got += 1
        with self.subTest(part="superuser"):
            self.assertEqual(got, want, "spec: %s: a superuser could load only %d of the %d slots the hog must leave (%s)"
                             % (item, got, want, serr))

    def test_bytes(self):
        item = ("a non-superuser owner's caches may hold at most tablecache.owner_share (50%) of the region bytes: "
                "beyond it load/adjust fail with 53200")
        a = self.admin
        total = scalar(a, "SELECT total_bytes FROM tablecache.memory")
        h = PRIV.connect(self.DB, user="hos_hog_b")
        try:
            u0 = used_bytes(a)
            self.expect_ok(h, "SELECT tablecache.create_cache('hos_hog_b.b1', 'SELECT k, v FROM public.hos_big', ARRAY['k'], maintain => 'manual')", item)
            self.assertEqual(scalar(h, "SELECT tablecache.load('hos_hog_b.b1', 'primary_key', 1, 201)"), 200)
            per_row = max(1, (used_bytes(a) - u0) // 200)
            r35 = int(total * 0.35) // per_row
            r60 = int(total * 0.60) // per_row
            self.assertLess(r60, 12000, "hos_big too small for the region (test setup)")
            print("\n    region %d bytes, %d bytes/row: 35%% = %d rows, 60%% = %d rows" % (total, per_row, r35, r60), end="")
            # 35% alone is within the share
            self.assertEqual(scalar(h, "SELECT tablecache.adjust('hos_hog_b.b1', 'primary_key', 1, %s)", (1 + r35,)), r35 - 200)
            self.expect_ok(h, "SELECT tablecache.create_cache('hos_hog_b.b2', 'SELECT k, v FROM public.hos_big', ARRAY['k'], maintain => 'manual')", item)
            before = used_bytes(a)
            with self.subTest(step="second cache to 70%"):
                self.expect_code(h, "SELECT tablecache.load('hos_hog_b.b2', 'primary_key', 1, %s)" % (1 + r35), "53200", item)
                self.assertEqual(used_bytes(a), before, "spec: a refused load left memory allocated")
            before = used_bytes(a)
            with self.subTest(step="adjust one cache to 60%"):
                self.expect_code(h, "SELECT tablecache.adjust('hos_hog_b.b1', 'primary_key', 1, %s)" % (1 + r60), "53200", item)
                self.assertEqual(used_bytes(a), before, "spec: a refused adjust left memory allocated")
            mine = (used_bytes(a) - u0) * 100 // total
            print("\n    the hog holds %d%% of the region" % mine, end="")
            with self.subTest(step="hog's share"):
                self.assertLessEqual(mine, OWNER_SHARE, "spec: %s: the hog holds %d%%" % (item, mine))
        finally:
            h.close()
        # a superuser-owned cache is not bounded, and the hog left room for it
        query(a, "SELECT tablecache.create_cache('public.hos_sb1', 'SELECT k, v FROM hos_big', ARRAY['k'], maintain => 'manual')")
        with self.subTest(step="superuser after the hog"):
            self.expect_ok(a, "SELECT tablecache.load('public.hos_sb1', 'primary_key', 1, %s)" % (1 + r35),
                           item + " (so a superuser can still load 35% of the region)")


class ForeignInvalidation(HostileCase):
    """An unprivileged role points invalidate_trigger at another owner's cache."""

    @classmethod
    def setUpClass(cls):
        a = harness.connect(__name__)
        try:
            query(a, """
                CREATE SCHEMA hos_victim AUTHORIZATION hos_victim;
                CREATE SCHEMA hos_inv AUTHORIZATION hos_inv;
                GRANT USAGE ON SCHEMA hos_victim TO PUBLIC;
                GRANT EXECUTE ON FUNCTION tablecache.create_cache(text, text, text[], text) TO hos_victim;
            """)
        finally:
            a.close()
        v = as_role("hos_victim")
        try:
            query(v, """
                CREATE TABLE hos_victim.vt (k bigint PRIMARY KEY, v text NOT NULL);
                INSERT INTO hos_victim.vt SELECT i, 'v' || i FROM generate_series(1, 50) i;
            """)
            query(v, "SELECT tablecache.create_cache('hos_victim.vc', 'SELECT k, v FROM hos_victim.vt', ARRAY['k'], maintain => 'manual')")
            query(v, "SELECT tablecache.load('hos_victim.vc')")
        finally:
            v.close()

    def test_foreign_triggers_invalidate_nothing(self):
        item = ("invalidate_trigger only acts for a table that the cache's query reads or that the cache owner owns: "
                "a trigger on any other table invalidates nothing, and its writes still succeed")
        a = self.admin
        c = "hos_victim.vc"
        exp = query(a, "SELECT k, v FROM hos_victim.vt ORDER BY k")
        self.assertEqual(query(a, "SELECT k, v FROM tablecache.range(NULL::hos_victim.vc, 'primary_key')"), exp)
        st0 = stats(a, c)
        e = as_role("hos_inv")
        try:
            query(e, """
                CREATE TEMP TABLE vt (k bigint, v text);
                CREATE TRIGGER r_tc AFTER INSERT OR UPDATE OR DELETE ON vt FOR EACH ROW
                    EXECUTE FUNCTION tablecache.invalidate_trigger('hos_victim.vc', 'primary_key', 'k');
                CREATE TRIGGER s_tc AFTER INSERT OR UPDATE OR DELETE ON vt FOR EACH STATEMENT
                    EXECUTE FUNCTION tablecache.invalidate_trigger('hos_victim.vc', 'primary_key', 'k');
                CREATE TRIGGER t_tc AFTER TRUNCATE ON vt FOR EACH STATEMENT
                    EXECUTE FUNCTION tablecache.invalidate_trigger('hos_victim.vc', 'primary_key', 'k');
                CREATE TABLE hos_inv.own (k bigint, v text);
                CREATE TRIGGER n_tc AFTER INSERT ON hos_inv.own REFERENCING NEW TABLE AS n FOR EACH STATEMENT
                    EXECUTE FUNCTION tablecache.invalidate_trigger('hos_victim.vc', 'primary_key', 'k');
                CREATE TRIGGER o_tc AFTER UPDATE ON hos_inv.own REFERENCING OLD TABLE AS o NEW TABLE AS n FOR EACH STATEMENT
                    EXECUTE FUNCTION tablecache.invalidate_trigger('hos_victim.vc', 'primary_key', 'k');
                CREATE TRIGGER r_tc AFTER DELETE ON hos_inv.own FOR EACH ROW
                    EXECUTE FUNCTION tablecache.invalidate_trigger('hos_victim.vc', 'primary_key', 'k');
            """)
            for sql in ("INSERT INTO vt SELECT i, 'x' FROM generate_series(1, 50) i",
                        "UPDATE vt SET v = 'y' WHERE k < 10",
                        "DELETE FROM vt WHERE k = 5",
                        "TRUNCATE vt",
                        "INSERT INTO hos_inv.own SELECT i, 'x' FROM generate_series(1, 3000) i",
                        "UPDATE hos_inv.own SET v = 'y' WHERE k < 20",
                        "DELETE FROM hos_inv.own WHERE k < 5"):
                with self.subTest(sql=sql):
                    self.expect_ok(e, sql, item)
            # managing someone else's cache directly is refused, too
            owner_item = "only the owner may load/adjust/unload/invalidate/drop/create_index/drop_index/set_sliding_window: 42501"
            for sql in ("SELECT tablecache.invalidate('hos_victim.vc', 'primary_key', 5::bigint)",
                        "SELECT tablecache.invalidate_range('hos_victim.vc', 'primary_key', 1::bigint, 50::bigint)",
                        "SELECT tablecache.unload('hos_victim.vc')",
                        "SELECT tablecache.load('hos_victim.vc')",
                        "SELECT tablecache.adjust('hos_victim.vc', 'primary_key', 1, 10)",
                        "SELECT tablecache.create_index('hos_victim.vc', 'by_v', ARRAY['v'])",
                        "SELECT tablecache.set_sliding_window('hos_victim.vc', 'primary_key', '1 hour')",
                        "SELECT tablecache.drop_cache('hos_victim.vc')"):
                with self.subTest(sql=sql):
                    self.expect_code(e, sql, "42501", owner_item)
        finally:
            e.close()
        st1 = stats(a, c)
        print("\n    victim stats before %s after %s" % ({k: st0[k] for k in ("invalidations", "refreshes", "hits")},
                                                       {k: st1[k] for k in ("invalidations", "refreshes", "hits")}), end="")
        with self.subTest(counter="invalidations"):
            self.assertEqual(st1["invalidations"], st0["invalidations"], "spec: %s: invalidations moved" % item)
        got = query(a, "SELECT k, v FROM tablecache.range(NULL::hos_victim.vc, 'primary_key')")
        got5 = query(a, "SELECT k, v FROM tablecache.get(NULL::hos_victim.vc, 5::bigint)")
        st2 = stats(a, c)
        self.assertEqual(got, exp)
        self.assertEqual(got5, [(5, "v5")])
        with self.subTest(counter="refreshes"):
            self.assertEqual(st2["refreshes"], st0["refreshes"], "spec: %s: the victim cache was refreshed" % item)
        with self.subTest(counter="hits"):
            self.assertEqual((st2["hits"] - st1["hits"], st2["misses"] - st1["misses"]), (2, 0),
                             "spec: %s: reads of the victim cache are no longer hits" % item)
        self.assertTrue(cache_info(a, c)[0], "spec: %s: the victim cache was unloaded" % item)


class TriggerTargets(HostileCase):
    """Triggers naming a cache or index that does not exist, or a column of another type."""

    def test_missing_cache_index_and_type_mismatch(self):
        a = self.admin
        query(a, """
            CREATE TABLE hos_mt (k bigint PRIMARY KEY, v text);
            CREATE TABLE hos_i4 (k int PRIMARY KEY, v text NOT NULL);
            CREATE TABLE hos_i8 (k bigint PRIMARY KEY, w text NOT NULL);
            INSERT INTO hos_i4 SELECT i, 'v' || i FROM generate_series(1, 20) i;
            INSERT INTO hos_i8 SELECT i, 'w' || i FROM generate_series(1, 20) i;
        """)
        query(a, "SELECT tablecache.create_cache('public.hos_i4c', 'SELECT a.k, a.v, b.w FROM hos_i4 a JOIN hos_i8 b ON b.k = a.k', ARRAY['k'], maintain => 'manual')")
        query(a, "SELECT tablecache.create_cache('public.hos_gone', 'SELECT k, v FROM hos_mt', ARRAY['k'], maintain => 'manual')")
        query(a, """
            CREATE TRIGGER nocache AFTER INSERT ON hos_mt FOR EACH ROW
                EXECUTE FUNCTION tablecache.invalidate_trigger('public.hos_nosuch', 'primary_key', 'k');
            CREATE TRIGGER noindex AFTER INSERT ON hos_mt FOR EACH ROW
                EXECUTE FUNCTION tablecache.invalidate_trigger('public.hos_i4c', 'nosuch', 'k');
            CREATE TRIGGER gone AFTER INSERT ON hos_mt FOR EACH ROW
                EXECUTE FUNCTION tablecache.invalidate_trigger('public.hos_gone', 'primary_key', 'k');
            CREATE TRIGGER i8 AFTER INSERT OR UPDATE OR DELETE ON hos_i8 FOR EACH ROW
                EXECUTE FUNCTION tablecache.invalidate_trigger('public.hos_i4c', 'primary_key', 'k');
        """)
        query(a, "SELECT tablecache.drop_cache('public.hos_gone')")
        item = "a trigger naming a cache that does not exist (dropped) or an index that does not exist: the write succeeds"
        with self.subTest(case="missing cache/index"):
            self.expect_ok(a, "INSERT INTO hos_mt VALUES (1, 'a')", item)
        query(a, "SELECT tablecache.load('public.hos_i4c')")
        item = "a trigger column whose type does not fit the index column (int8 into int4): the write succeeds and the cache stays exact"
        for sql in ("UPDATE hos_i8 SET w = 'changed' WHERE k = 5",
                    "INSERT INTO hos_i8 VALUES (5000000000, 'big')",
                    "DELETE FROM hos_i8 WHERE k = 6"):
            with self.subTest(sql=sql):
                self.expect_ok(a, sql, item)
        with self.subTest(case="cache exact after int8 trigger"):
            self.assertEqual(query(a, "SELECT k, v, w FROM tablecache.range(NULL::public.hos_i4c, 'primary_key')"),
                             query(a, "SELECT a.k, a.v, b.w FROM hos_i4 a JOIN hos_i8 b ON b.k = a.k ORDER BY a.k"),
                             "spec: %s" % item)


class ReaderSettings(HostileCase):
    """A reader's session settings never change a cached row (queries run with the creator's
    settings)."""

    def test_reader_settings_do_not_reach_cached_rows(self):
        a = self.admin
        query(a, """
            CREATE TABLE hos_st (k bigint PRIMARY KEY, ts timestamptz NOT NULL, d date NOT NULL,
                                 f float8 NOT NULL, iv interval NOT NULL);
            INSERT INTO hos_st SELECT i, timestamptz '2024-03-05 10:11:12+00' + i * interval '1 day',
                                      date '2024-03-05' + i, i / 7.0, i * interval '1 day 2 hours 3 seconds'
              FROM generate_series(1, 20) i;
            GRANT SELECT ON hos_st TO hos_set_rd;
            CREATE TRIGGER hos_st_tc AFTER INSERT OR UPDATE OR DELETE ON hos_st FOR EACH ROW
                EXECUTE FUNCTION tablecache.invalidate_trigger('public.hos_sc', 'primary_key', 'k');
        """)
        q = "SELECT k, ts::text AS ts_t, d::text AS d_t, f::text AS f_t, iv::text AS iv_t FROM hos_st"
        query(a, "SELECT tablecache.create_cache('public.hos_sc', %s, ARRAY['k'], maintain => 'manual')", (q,))
        query(a, "SELECT tablecache.load('public.hos_sc', 'primary_key', 1, 11)")
        r = as_role("hos_set_rd")
        try:
            query(r, """SET DateStyle = 'SQL, DMY'; SET TimeZone = 'Asia/Tokyo';
                        SET IntervalStyle = 'sql_standard'; SET extra_float_digits = -3""")
            query(a, "UPDATE hos_st SET ts = ts + interval '1 second' WHERE k = 3")
            query(r, "SELECT * FROM tablecache.get(NULL::public.hos_sc, 3::bigint)")  # the reader refreshes
            query(a, "UPDATE hos_st SET d = d + 1")                                      # every key
            query(r, "SELECT * FROM tablecache.range(NULL::public.hos_sc, 'primary_key', 1, 11)")
            fall = query(r, "SELECT * FROM tablecache.range(NULL::public.hos_sc, 'primary_key', 11, 21)")
        finally:
            r.close()
        b = harness.connect(__name__)
        try:
            exp = query(b, q + " ORDER BY k")
            h0 = stats(b, "public.hos_sc")["hits"]
            got = query(b, "SELECT * FROM tablecache.range(NULL::public.hos_sc, 'primary_key', 1, 11)")
            self.assertEqual(stats(b, "public.hos_sc")["hits"], h0 + 1, "range(1, 11) was not a hit (test setup)")
        finally:
            b.close()
        with self.subTest(rows="cached"):
            self.assertEqual(got, exp[:10], "spec 'a reader's session settings never change a cached row': rows differ, e.g. %s vs %s"
                             % ([g for g, e in zip(got, exp) if g != e][:1], [e for g, e in zip(got, exp) if g != e][:1]))
        with self.subTest(rows="fall-through"):
            self.assertEqual(fall, exp[10:], "spec 'every query (also fall-through reads) runs with the creator's settings': "
                             "the reader's fall-through gave %s" % (fall[:1],))


# ---------------------------------------------------------------------------------------------
# 4. EXECUTE on the query's functions, and who sees the query text

class ExecutePrivilege(HostileCase):
    @classmethod
    def setUpClass(cls):
        a = harness.connect(__name__)
        try:
            query(a, """
                CREATE SCHEMA hos_eown AUTHORIZATION hos_eown;
                GRANT EXECUTE ON FUNCTION tablecache.create_cache(text, text, text[], text) TO hos_eown;
            """)
        finally:
            a.close()
        o = as_role("hos_eown")
        try:
            query(o, """
                GRANT USAGE ON SCHEMA hos_eown TO PUBLIC;
                CREATE TABLE hos_eown.t (k bigint PRIMARY KEY, v text NOT NULL);
                INSERT INTO hos_eown.t SELECT i, 'v' || i FROM generate_series(1, 30) i;
                CREATE FUNCTION hos_eown.f(bigint) RETURNS text LANGUAGE sql STABLE AS $$ SELECT 'f' || $1 $$;
                REVOKE EXECUTE ON FUNCTION hos_eown.f(bigint) FROM PUBLIC;
                GRANT SELECT ON hos_eown.t TO hos_ereader, hos_ereader_ok;
                GRANT EXECUTE ON FUNCTION hos_eown.f(bigint) TO hos_ereader_ok;
            """)
            query(o, "SELECT tablecache.create_cache('hos_eown.c', 'SELECT k, v, hos_eown.f(k) AS fv FROM hos_eown.t', ARRAY['k'], maintain => 'manual')")
        finally:
            o.close()

    READS = ("SELECT * FROM tablecache.get(NULL::hos_eown.c, 5::bigint)",
             "SELECT * FROM tablecache.range(NULL::hos_eown.c, 'primary_key', 1, 10)")

    def test_reads_need_execute_on_the_querys_functions(self):
        item = "reading needs EXECUTE on every function the query calls (also on hits): 42501"
        r = as_role("hos_ereader")
        ok = as_role("hos_ereader_ok")
        o = as_role("hos_eown")
        try:
            for sql in self.READS:
                with self.subTest(state="not loaded", sql=sql):
                    self.expect_code(r, sql, "42501", item + " (not loaded)")
            self.assertEqual(query(ok, "SELECT k, fv FROM tablecache.get(NULL::hos_eown.c, 5::bigint)"), [(5, "f5")])
            self.assertEqual(scalar(o, "SELECT tablecache.load('hos_eown.c')"), 30)
            r2 = as_role("hos_ereader")  # a session that never planned the query
            try:
                for conn in (r, r2):
                    for sql in self.READS:
                        with self.subTest(state="loaded (hit path)", sql=sql):
                            self.expect_code(conn, sql, "42501", item + " (loaded: the hit path)")
            finally:
                r2.close()
            h0 = stats(o, "hos_eown.c")["hits"]
            self.assertEqual(query(ok, "SELECT k, fv FROM tablecache.get(NULL::hos_eown.c, 5::bigint)"), [(5, "f5")])
            self.assertEqual(stats(o, "hos_eown.c")["hits"], h0 + 1, "the permitted reader's read was not a hit (test setup)")
            # GRANT and REVOKE EXECUTE take effect on the next statement
            query(o, "GRANT EXECUTE ON FUNCTION hos_eown.f(bigint) TO hos_ereader")
            self.assertEqual(query(r, "SELECT k, fv FROM tablecache.get(NULL::hos_eown.c, 5::bigint)"), [(5, "f5")],
                             "after GRANT EXECUTE the reader can read")
            query(o, "REVOKE EXECUTE ON FUNCTION hos_eown.f(bigint) FROM hos_ereader")
            with self.subTest(state="after REVOKE EXECUTE"):
                self.expect_code(r, self.READS[0], "42501", item + " (a REVOKE after successful reads)")
        finally:
            r.close()
            ok.close()
            o.close()

    def test_query_text_and_cache_def_visibility(self):
        item = ("tablecache.caches.query is NULL for a role that may not read the cache (not owner, not superuser, "
                "lacking the privileges); the text for the owner and for a role that may")
        text = "SELECT k, v, hos_eown.f(k) AS fv FROM hos_eown.t"
        for role, visible in (("hos_eown", True), ("hos_ereader_ok", True), ("hos_ereader", False), ("hos_nobody", False)):
            c = as_role(role)
            try:
                q = cache_info(c, "hos_eown.c", "query")
                with self.subTest(role=role):
                    self.assertIsNotNone(q, "%s does not see the cache in tablecache.caches" % role)
                    if visible:
                        self.assertEqual(q[0], text, "spec: %s: %s sees %r" % (item, role, q[0]))
                    else:
                        self.assertIsNone(q[0], "spec: %s: %s sees the query text" % (item, role))
            finally:
                c.close()
        self.assertEqual(cache_info(self.admin, "hos_eown.c", "query")[0], text, "spec: %s: superuser" % item)
        for role in ("hos_nobody", "hos_ereader_ok"):
            c = as_role(role)
            try:
                with self.subTest(role=role, table="cache_def"):
                    self.expect_code(c, "SELECT * FROM tablecache.cache_def", "42501",
                                     "tablecache.cache_def is no longer readable by PUBLIC")
            finally:
                c.close()


# ---------------------------------------------------------------------------------------------
# 5. DROP EXTENSION / CREATE EXTENSION

class DropExtension(HostileCase):
    DB = "tc_hos_dropext"
    PROBE = "tc_hos_probe"  # reads tablecache.memory while DB has no extension

    @classmethod
    def setUpClass(cls):
        PRIV.restart()
        PRIV.create_db(cls.PROBE)
        PRIV.create_db(cls.DB)

    @classmethod
    def tearDownClass(cls):
        drop_priv_db(cls.DB, ["public.hos_dc"])
        drop_priv_db(cls.PROBE, [])

    def setUp(self):
        self.admin = PRIV.connect(self.DB)
        self.probe = PRIV.connect(self.PROBE)

    def tearDown(self):
        self.admin.close()
        self.probe.close()

    def test_drop_extension_frees_and_recreate_is_fresh(self):
        a, p = self.admin, self.probe
        log0 = PRIV.log_size()
        item_free = "DROP EXTENSION tablecache frees every cache of that database (used_bytes back to what it was)"
        item_fresh = ("CREATE EXTENSION again + create_cache with the same name + reads never show the old rows "
                      "(fresh cache: loaded = false, reads give the query's rows)")
        try:
            query(a, """
                CREATE TABLE hos_old (k bigint PRIMARY KEY, v text NOT NULL);
                INSERT INTO hos_old SELECT i, 'old' || i FROM generate_series(1, 2000) i;
                CREATE TABLE hos_new (k int PRIMARY KEY, d date NOT NULL, n numeric NOT NULL);
                INSERT INTO hos_new SELECT i, date '2020-01-01' + i, i * 1.5 FROM generate_series(1, 300) i;
            """)
            u0 = used_bytes(p)
            query(a, "SELECT tablecache.create_cache('public.hos_dc', 'SELECT k, v FROM hos_old', ARRAY['k'], maintain => 'manual')")
            # (no create_index: the new definition then gets the same catalog id and version as
            # the old one, the case where a stale slot would be taken for the new cache)
            self.assertEqual(scalar(a, "SELECT tablecache.load('public.hos_dc')"), 2000)
            self.assertEqual(query(a, "SELECT k, v FROM tablecache.get(NULL::public.hos_dc, 5::bigint)"), [(5, "old5")])
            u1 = used_bytes(p)
            self.assertGreater(u1, u0)
            query(a, "DROP EXTENSION tablecache CASCADE")
            u2 = used_bytes(p)
            t0 = time.monotonic()
            if u2 != u0:  # exact at once is expected; allow a few seconds for a deferred free
                wait_for(lambda: used_bytes(p) == u0, 3)
                u2 = used_bytes(p)
            print("\n    used_bytes before %d, loaded %d, after DROP EXTENSION %d (%.1fs)" % (u0, u1, u2, time.monotonic() - t0), end="")
            with self.subTest(step="DROP EXTENSION frees"):
                self.assertEqual(u2, u0, "spec: %s: %d bytes still used" % (item_free, u2 - u0))

            query(a, "CREATE EXTENSION tablecache")
            err = try_sql(a, "SELECT tablecache.create_cache('public.hos_dc', 'SELECT k, d, n FROM hos_new', ARRAY['k'], maintain => 'manual')")
            with self.subTest(step="create_cache with the same name"):
                self.assertIsNone(err, "spec: %s: create_cache failed: %s" % (item_fresh, err))
            if err is not None:
                # a row type (or view) left behind: remove it to go on and look at the rows
                kind = scalar(a, "SELECT CASE WHEN (SELECT relkind FROM pg_class WHERE oid = to_regclass('public.hos_dc')) = 'v' "
                                 "THEN 'VIEW' WHEN to_regtype('public.hos_dc') IS NOT NULL THEN 'TYPE' END")
                if kind:
                    query(a, "DROP %s public.hos_dc CASCADE" % kind)
                query(a, "SELECT tablecache.create_cache('public.hos_dc', 'SELECT k, d, n FROM hos_new', ARRAY['k'], maintain => 'manual')")
            info = cache_info(a, "public.hos_dc", "loaded, rows")
            exp5 = query(a, "SELECT k, d, n FROM hos_new WHERE k = 5")
            exp_range = query(a, "SELECT k, d, n FROM hos_new WHERE k >= 1 AND k < 100 ORDER BY k")
            exp_all = query(a, "SELECT k, d, n FROM hos_new ORDER BY k")
            got5 = try_rows(a, "SELECT k, d, n FROM tablecache.get(NULL::public.hos_dc, 5)")
            got_range = try_rows(a, "SELECT k, d, n FROM tablecache.range(NULL::public.hos_dc, 'primary_key', 1, 100)")
            got_all = try_rows(a, "SELECT k, d, n FROM tablecache.range(NULL::public.hos_dc, 'primary_key')")
            print("\n    new cache (loaded, rows) %s; get(5) %s; whole range %s..." % (info, got5, str(got_all)[:120]), end="")
            with self.subTest(step="fresh cache: loaded = false"):
                self.assertEqual(info, (False, 0), "spec: %s: the new cache is (loaded, rows) = %s" % (item_fresh, info))
            with self.subTest(step="fresh cache: reads"):
                self.assertEqual(got5, exp5, "spec: %s: get(5)" % item_fresh)
                self.assertEqual(got_range, exp_range, "spec: %s: range(1, 100) gave %s" % (item_fresh, str(got_range)[:200]))
                self.assertEqual(got_all, exp_all, "spec: %s: the whole range gave %s" % (item_fresh, str(got_all)[:200]))
            # loading it gives the new rows
            with self.subTest(step="load the new cache"):
                self.assertEqual(try_rows(a, "SELECT tablecache.load('public.hos_dc')"), [(300,)])
                self.assertEqual(try_rows(a, "SELECT k, d, n FROM tablecache.get(NULL::public.hos_dc, 5)"), exp5)
                self.assertEqual(try_rows(a, "SELECT k, d, n FROM tablecache.range(NULL::public.hos_dc, 'primary_key', 1, 100)"), exp_range)
        finally:
            log = PRIV.log_since(log0)
            self.assertNotIn("terminated by signal", log, "spec: no crash: the server log shows a crash:\n" + log[-3000:])


def try_rows(conn, sql):
    """The rows, or ('ERROR', code, message); a lost connection (a crash) raises."""
    try:
        return query(conn, sql)
    except psycopg2.Error as e:
        if conn.closed:
            raise
        return ("ERROR", e.pgcode, (e.diag.message_primary or "")[:120])


class ZSessionsServerLog(unittest.TestCase):
    """Runs last (classes run in name order): nothing above crashed the sessions server."""

    def test_no_crash_in_sessions_server_log(self):
        p = sessions_log()
        if p is None:
            self.skipTest("sessions server log not readable here")
        with open(p, "rb") as f:
            f.seek(LOG_OFFSET)
            log = f.read().decode("utf-8", "replace")
        self.assertNotIn("terminated by signal", log, "a backend of the sessions server crashed:\n" + log[-3000:])


if __name__ == "__main__":
    unittest.main()
