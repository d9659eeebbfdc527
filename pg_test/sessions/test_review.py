"""Regression tests for the findings of the hostile review (and the docs review) fixed in
"Review fixes" / "Docs review fixes". One test per finding; every assertion message starts
with the finding it guards ("finding N: ...").

Roles are cluster-wide: rv_alice and rv_bob own caches (non-superusers, granted EXECUTE on
create_cache), rv_carol only reads. They are dropped at the end. Findings 8 and 10b need a
small region and max_prepared_transactions > 0: they run on a private server (port 55512,
tablecache.memory 32MB); everything else runs in this module's database on the sessions
server. No test depends on which PostgreSQL installation runs the servers.
"""
import datetime
import os
import random
import time
import unittest

import psycopg2
import psycopg2.extensions

import harness
import server_util
from harness import query, scalar

ROLES = ("rv_alice", "rv_bob", "rv_carol")
CREATE_CACHE = "tablecache.create_cache(text, text, text[], text)"
GUARD_MS = 60000            # statement_timeout of every session: a hang fails instead of stalling
PRIV_PORT = 55512
PRIV_MEMORY = "32MB"

LOG = None


def setUpModule():
    global LOG
    cand = os.path.join(harness.HOST, "server.log")
    if os.path.isfile(cand) and os.access(cand, os.R_OK):
        LOG = cand
    harness.setup_module_db(__name__)
    su = harness.connect(__name__)
    try:
        for r in ROLES:
            _drop_role(su, r)
            query(su, "CREATE ROLE %s LOGIN" % r)
        db = harness._dbs[__name__]
        query(su, """
            GRANT EXECUTE ON FUNCTION %s TO rv_alice, rv_bob;
            GRANT CREATE ON DATABASE %s TO rv_alice, rv_bob;
            GRANT CREATE ON SCHEMA public TO rv_alice;
            CREATE SCHEMA rv_al AUTHORIZATION rv_alice;
            GRANT USAGE ON SCHEMA rv_al TO rv_carol, rv_bob;
        """ % (CREATE_CACHE, db))
    finally:
        su.close()


def tearDownModule():
    # free the shared memory of this module's caches now (a dropped database's caches are
    # reclaimed later by the launcher, which would disturb the memory figures of later modules)
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


# ------------------------------------------------------------------------------------------
# helpers

def session(user=None, name="rv", timeout_ms=GUARD_MS):
    """A new autocommit connection (its own backend) to the module's database."""
    if user is None:
        conn = harness.connect(__name__, application_name=name)
    else:
        conn = psycopg2.connect(host=harness.HOST, port=harness.PORT, user=user,
                                dbname=harness._dbs[__name__], application_name=name)
        conn.autocommit = True
    query(conn, "SET statement_timeout = %s", (timeout_ms,))
    return conn


def err(conn, sql, params=None):
    """None if `sql` succeeded, else (pgcode, primary message)."""
    try:
        query(conn, sql, params)
        return None
    except psycopg2.Error as e:
        if conn.closed:
            raise
        return (e.pgcode, (e.diag.message_primary or str(e)).splitlines()[0][:200])


def end_txn(conn):
    try:
        query(conn, "ROLLBACK")
    except psycopg2.Error:
        pass


def used_bytes(conn):
    return scalar(conn, "SELECT used_bytes FROM tablecache.memory")


def wait_memory_stable(conn, quiet_s=1.5, timeout_s=20):
    """used_bytes once it has not changed for quiet_s (the launcher may still be freeing the
    caches of a database dropped by an earlier module)."""
    deadline = time.monotonic() + timeout_s
    last, since = used_bytes(conn), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.25)  # polling another process's work (the launcher), not ordering sessions
        cur = used_bytes(conn)
        if cur != last:
            last, since = cur, time.monotonic()
        elif time.monotonic() - since >= quiet_s:
            return cur
    return last


def log_offset():
    return os.path.getsize(LOG) if LOG else 0


def crashes_since(offset):
    if not LOG:
        return []
    with open(LOG, "rb") as f:
        f.seek(offset)
        text = f.read().decode("utf-8", "replace")
    return [l for l in text.splitlines() if "terminated by signal" in l or "PANIC" in l]


def loaded(conn, cache):
    rows = query(conn, "SELECT loaded FROM tablecache.caches WHERE name = %s", (cache,))
    return rows[0][0] if rows else None


def settings_of(conn):
    """Every setting of the session (pg_settings) plus the custom ones the tests use."""
    rows = query(conn, "SELECT name, setting FROM pg_settings ORDER BY name")
    rows += query(conn, "SELECT 'app.tag', current_setting('app.tag', true)")
    return rows


def settings_diff(before, after):
    b, a = dict(before), dict(after)
    return {k: (b.get(k), a.get(k)) for k in sorted(set(b) | set(a)) if b.get(k) != a.get(k)}


class Base(unittest.TestCase):
    def setUp(self):
        self.su = session(name="rv_su")
        self._conns = [self.su]
        self.log0 = log_offset()

    def tearDown(self):
        for c in self._conns:
            try:
                c.close()
            except Exception:  # noqa: BLE001
                pass

    def conn(self, user=None, name="rv", timeout_ms=GUARD_MS):
        c = session(user, name, timeout_ms)
        self._conns.append(c)
        return c

    def assertCode(self, conn, sql, codes, msg, params=None):
        if isinstance(codes, str):
            codes = (codes,)
        e = err(conn, sql, params)
        if conn.get_transaction_status() != psycopg2.extensions.TRANSACTION_STATUS_IDLE:
            end_txn(conn)
        self.assertIsNotNone(e, "%s: `%s` succeeded, expected %s" % (msg, sql, "/".join(codes)))
        self.assertIn(e[0], codes, "%s: `%s` gave %s %s, expected %s" % (msg, sql, e[0], e[1], "/".join(codes)))

    def assertNoCrash(self, finding):
        crashes = crashes_since(self.log0)
        self.assertEqual(crashes, [], "%s: the server log shows a crash:\n%s" % (finding, "\n".join(crashes[:5])))


# ------------------------------------------------------------------------------------------

class Review(Base):

    # --- finding 1 -------------------------------------------------------------------------
    def test_f01_query_settings_do_not_outlive_the_call(self):
        F = "finding 1 (a cache query's set_config outlived the call)"
        su = self.su
        query(su, "CREATE SCHEMA rv1 AUTHORIZATION rv_alice; GRANT USAGE ON SCHEMA rv1 TO PUBLIC")
        al = self.conn("rv_alice", "rv_alice")
        query(al, """
            CREATE TABLE rv1.t (id int PRIMARY KEY, v text NOT NULL);
            INSERT INTO rv1.t SELECT i, 'v' || i FROM generate_series(1, 100) i;
            GRANT SELECT ON rv1.t TO rv_carol;
            CREATE TABLE rv1.pwned (who text);
            GRANT INSERT, SELECT ON rv1.pwned TO PUBLIC;
            CREATE FUNCTION rv1.meddle(k int) RETURNS int STABLE LANGUAGE plpgsql AS $f$
            BEGIN
                PERFORM set_config('search_path', 'public, pg_catalog', false);
                PERFORM set_config('work_mem', '7777kB', false);
                PERFORM set_config('DateStyle', 'SQL, DMY', false);
                PERFORM set_config('TimeZone', 'America/Caracas', false);
                PERFORM set_config('app.tag', 'meddled', false);
                PERFORM set_config('enable_seqscan', 'off', true);
                PERFORM set_config('random_page_cost', '42', true);
                RETURN k;
            END $f$;
            -- planted: runs for whoever calls now() with public before pg_catalog
            CREATE FUNCTION public.now() RETURNS timestamptz LANGUAGE plpgsql AS $f$
            BEGIN
                INSERT INTO rv1.pwned VALUES (current_user::text);
                RETURN 'epoch'::timestamptz;
            END $f$;
            CREATE TRIGGER t_tc AFTER INSERT OR UPDATE OR DELETE ON rv1.t FOR EACH ROW
                EXECUTE FUNCTION tablecache.invalidate_trigger('rv1.c', 'primary_key', 'id');
        """)
        query(al, """SELECT tablecache.create_cache('rv1.c',
                     'SELECT id, v, rv1.meddle(id) AS m, current_user::text AS cu FROM rv1.t', ARRAY['id'], maintain => 'manual')""")
        try:
            query(su, "SET app.tag = 'mine'")
            car = self.conn("rv_carol", "rv_carol")
            query(car, "SET app.tag = 'carols'")
            # load PL/pgSQL in both sessions first: loading a library defines its settings
            # (plpgsql.*), which is not a change made by the cache's query
            for c in (su, car):
                query(c, "DO $$ BEGIN END $$")
            base_su, base_car = settings_of(su), settings_of(car)

            def same(conn, base, what):
                d = settings_diff(base, settings_of(conn))
                self.assertEqual(d, {}, "%s: after %s the session's settings changed: %s" % (F, what, d))

            def cus(conn, sql):
                return {r[0] for r in query(conn, sql)}

            # superuser: load, hit, miss, refresh by a read, refresh(), adjust, a covering range
            self.assertEqual(scalar(su, "SELECT tablecache.load('rv1.c', 'primary_key', 1, 50)"), 49)
            same(su, base_su, "load by the superuser")
            self.assertEqual(query(su, "SELECT id, v, m FROM tablecache.get(NULL::rv1.c, 10)"), [(10, "v10", 10)])
            same(su, base_su, "a hit")
            self.assertEqual(query(su, "SELECT id, v, m, cu FROM tablecache.get(NULL::rv1.c, 70)"),
                             [(70, "v70", 70, "rv_alice")], "%s: a miss did not run as the owner" % F)
            same(su, base_su, "a miss (fall-through read) by the superuser")
            query(al, "UPDATE rv1.t SET v = 'x10' WHERE id = 10")
            self.assertEqual(query(su, "SELECT v, cu FROM tablecache.get(NULL::rv1.c, 10)"), [("x10", "rv_alice")])
            same(su, base_su, "a read that refreshed the cache (superuser)")
            query(al, "UPDATE rv1.t SET v = 'x11' WHERE id = 11")
            self.assertEqual(scalar(su, "SELECT tablecache.refresh('rv1.c')"), 1)
            same(su, base_su, "tablecache.refresh by the superuser")
            self.assertEqual(scalar(su, "SELECT tablecache.adjust('rv1.c', 'primary_key', 1, 60)"), 10)
            same(su, base_su, "adjust by the superuser")
            self.assertEqual(scalar(su, "SELECT count(*) FROM tablecache.range(NULL::rv1.c, 'primary_key', 1, 101)"), 100)
            same(su, base_su, "a range answered by the database")
            # inside an explicit transaction, also set_config(..., true) must not stay
            query(su, "BEGIN")
            query(su, "SELECT * FROM tablecache.get(NULL::rv1.c, 80)")
            query(al, "UPDATE rv1.t SET v = 'x12' WHERE id = 12")
            self.assertEqual(scalar(su, "SELECT v FROM tablecache.get(NULL::rv1.c, 12)"), "x12")
            d = settings_diff(base_su, settings_of(su))
            query(su, "COMMIT")
            self.assertEqual(d, {}, "%s: inside a transaction, after a miss and a refresh, settings changed: %s" % (F, d))
            # the planted public.now() never runs for the superuser
            self.assertTrue(scalar(su, "SELECT now() > timestamptz '2000-01-01'"), "%s: now() is the planted function" % F)
            # plain reader: refresh by a read, refresh(), a miss
            query(al, "UPDATE rv1.t SET v = 'y20' WHERE id = 20")
            self.assertEqual(query(car, "SELECT v, cu FROM tablecache.get(NULL::rv1.c, 20)"), [("y20", "rv_alice")])
            same(car, base_car, "a read that refreshed the cache (plain reader)")
            query(al, "UPDATE rv1.t SET v = 'y21' WHERE id = 21")
            self.assertEqual(scalar(car, "SELECT tablecache.refresh('rv1.c')"), 1)
            same(car, base_car, "tablecache.refresh by a plain reader")
            self.assertEqual(query(car, "SELECT v, cu FROM tablecache.get(NULL::rv1.c, 90)"), [("v90", "rv_alice")])
            same(car, base_car, "a miss by a plain reader")
            # the owner never became superuser: every cached row was built as rv_alice
            self.assertEqual(cus(su, "SELECT DISTINCT cu FROM tablecache.range(NULL::rv1.c, 'primary_key', 1, 60)"),
                             {"rv_alice"}, "%s: some cached rows were built by another role" % F)
            self.assertEqual(scalar(su, "SELECT count(*) FROM rv1.pwned"), 0,
                             "%s: the planted public.now() ran: %r" % (F, query(su, "SELECT who FROM rv1.pwned")))
            self.assertFalse(scalar(al, "SELECT rolsuper FROM pg_roles WHERE rolname = 'rv_alice'"))
        finally:
            query(su, "RESET app.tag")
            query(su, "DROP FUNCTION IF EXISTS public.now()")
            query(su, "DROP SCHEMA rv1 CASCADE")

    # --- finding 2 -------------------------------------------------------------------------
    def test_f02_cache_query_reading_caches(self):
        F = "finding 2 (a cache's query reading a cache)"
        su = self.su
        mem0 = wait_memory_stable(su)
        query(su, """
            CREATE TABLE rv2_t (id int PRIMARY KEY, v text NOT NULL);
            INSERT INTO rv2_t SELECT i, 'v' || i FROM generate_series(1, 300) i;
            CREATE FUNCTION rv2_peek_a(k int) RETURNS text STABLE LANGUAGE plpgsql AS $f$
            DECLARE r text; s text;
            BEGIN
                IF k % 10 <> 0 THEN RETURN NULL; END IF;
                EXECUTE 'SELECT (tablecache.get(NULL::public.rv2_a, 1)).v' INTO r;
                EXECUTE 'SELECT string_agg(v, '','' ORDER BY id) FROM tablecache.range(NULL::public.rv2_a, ''primary_key'', 1, 3)' INTO s;
                RETURN coalesce(r, '<null>') || '|' || coalesce(s, '<null>');
            END $f$;
            SELECT tablecache.create_cache('rv2_a', 'SELECT id, v, rv2_peek_a(id) AS p FROM rv2_t', ARRAY['id'], maintain => 'manual');
            CREATE TRIGGER rv2_t_tc AFTER INSERT OR UPDATE OR DELETE ON rv2_t FOR EACH ROW
                EXECUTE FUNCTION tablecache.invalidate_trigger('rv2_a', 'primary_key', 'id');

            CREATE TABLE rv2_u (id int PRIMARY KEY, w text NOT NULL);
            INSERT INTO rv2_u SELECT i, 'w' || i FROM generate_series(1, 300) i;
            CREATE TABLE rv2_t2 (id int PRIMARY KEY, v text NOT NULL);
            INSERT INTO rv2_t2 SELECT i, 'b' || i FROM generate_series(1, 300) i;
            CREATE FUNCTION rv2_peek_c(k int) RETURNS text STABLE LANGUAGE plpgsql AS $f$
            DECLARE r text; s text;
            BEGIN
                EXECUTE 'SELECT (tablecache.get(NULL::public.rv2_c, $1)).w' INTO r USING k;
                EXECUTE 'SELECT string_agg(w, '','' ORDER BY id) FROM tablecache.range(NULL::public.rv2_c, ''primary_key'', $1, $1 + 1)' INTO s USING k;
                RETURN coalesce(r, '<null>') || '|' || coalesce(s, '<null>');
            END $f$;
            SELECT tablecache.create_cache('rv2_c', 'SELECT id, w FROM rv2_u', ARRAY['id'], maintain => 'manual');
            SELECT tablecache.create_cache('rv2_b', 'SELECT id, v, rv2_peek_c(id) AS p FROM rv2_t2', ARRAY['id'], maintain => 'manual');
            CREATE TRIGGER rv2_u_tc AFTER INSERT OR UPDATE OR DELETE ON rv2_u FOR EACH ROW
                EXECUTE FUNCTION tablecache.invalidate_trigger('rv2_c', 'primary_key', 'id');
            CREATE TRIGGER rv2_u_tb AFTER INSERT OR UPDATE OR DELETE ON rv2_u FOR EACH ROW
                EXECUTE FUNCTION tablecache.invalidate_trigger('rv2_b', 'primary_key', 'id');
            CREATE TRIGGER rv2_t2_tb AFTER INSERT OR UPDATE OR DELETE ON rv2_t2 FOR EACH ROW
                EXECUTE FUNCTION tablecache.invalidate_trigger('rv2_b', 'primary_key', 'id');

            -- writers inside a cache's query
            CREATE FUNCTION rv2_refresher(k int) RETURNS int STABLE LANGUAGE plpgsql AS $f$
            BEGIN PERFORM tablecache.refresh('rv2_a'); RETURN k; END $f$;
            CREATE FUNCTION rv2_invalidator(k int) RETURNS int STABLE LANGUAGE plpgsql AS $f$
            BEGIN PERFORM tablecache.invalidate('rv2_a', 'primary_key', k); RETURN k; END $f$;
            CREATE FUNCTION rv2_unloader(k int) RETURNS int STABLE LANGUAGE plpgsql AS $f$
            BEGIN PERFORM tablecache.unload('rv2_c'); RETURN k; END $f$;
            SELECT tablecache.create_cache('rv2_w1', 'SELECT id, rv2_refresher(id) AS x FROM rv2_t WHERE id <= 5', ARRAY['id'], maintain => 'manual');
            SELECT tablecache.create_cache('rv2_w2', 'SELECT id, rv2_invalidator(id) AS x FROM rv2_t WHERE id <= 5', ARRAY['id'], maintain => 'manual');
            SELECT tablecache.create_cache('rv2_w3', 'SELECT id, rv2_unloader(id) AS x FROM rv2_t WHERE id <= 5', ARRAY['id'], maintain => 'manual');
        """)
        caches = ("rv2_a", "rv2_b", "rv2_c", "rv2_w1", "rv2_w2", "rv2_w3")
        try:
            r = self.conn(name="rv2_reader")
            for c in ("rv2_a", "rv2_c", "rv2_b"):
                e = err(su, "SELECT tablecache.load(%s)", (c,))
                self.assertIsNone(e, "%s: load(%s) failed: %s" % (F, c, e))

            def check(conn, cache, when):
                view = query(conn, "SELECT * FROM %s ORDER BY id" % cache)
                got = query(conn, "SELECT * FROM tablecache.range(NULL::%s, 'primary_key')" % cache)
                self.assertEqual(len(got), len(view), "%s: %s: range(%s) has %d rows, the view %d" % (F, when, cache, len(got), len(view)))
                bad = [(g, w) for g, w in zip(got, view) if g != w]
                self.assertEqual(bad[:5], [], "%s: %s: range(%s) differs from the view" % (F, when, cache))
                for k in (1, 10, 20, 150, 299):
                    g = query(conn, "SELECT * FROM tablecache.get(NULL::%s, %s)" % (cache, k))
                    self.assertEqual(g, [view[k - 1]], "%s: %s: get(%s, %d) is not the view's row" % (F, when, cache, k))

            rnd = random.Random(2)
            for rnd_no in range(4):
                # same cache: pending key invalidations (and every other round the whole cache)
                for k in rnd.sample(range(3, 301), 25):
                    query(su, "UPDATE rv2_t SET v = %s WHERE id = %s", ("r%d_%d" % (rnd_no, k), k))
                if rnd_no % 2 == 1:
                    query(su, "BEGIN")
                    query(su, "UPDATE rv2_t SET v = %s WHERE id = 1", ("one%d" % rnd_no,))
                    query(su, "SELECT tablecache.invalidate_range('rv2_a', 'primary_key', NULL::int, NULL::int)")
                    query(su, "COMMIT")
                # two caches: pending invalidations of both B and C
                for k in rnd.sample(range(1, 301), 25):
                    query(su, "UPDATE rv2_u SET w = %s WHERE id = %s", ("u%d_%d" % (rnd_no, k), k))
                for k in rnd.sample(range(1, 301), 10):
                    query(su, "UPDATE rv2_t2 SET v = %s WHERE id = %s", ("t%d_%d" % (rnd_no, k), k))
                if rnd_no % 2 == 0:
                    # the cache is read first (its refresh runs the nested reads), then B before C
                    got = query(r, "SELECT * FROM tablecache.range(NULL::rv2_a, 'primary_key')")
                    self.assertEqual(got, query(r, "SELECT * FROM rv2_a ORDER BY id"),
                                     "%s: round %d: range(rv2_a) right after the refresh differs from the view" % (F, rnd_no))
                    check(r, "rv2_a", "round %d" % rnd_no)
                    check(r, "rv2_b", "round %d (B read before C)" % rnd_no)
                    check(r, "rv2_c", "round %d" % rnd_no)
                else:
                    check(r, "rv2_c", "round %d (C read before B)" % rnd_no)
                    check(r, "rv2_b", "round %d" % rnd_no)
                    check(r, "rv2_a", "round %d" % rnd_no)
                for c in ("rv2_a", "rv2_b", "rv2_c"):
                    self.assertTrue(loaded(su, c), "%s: round %d: %s was unloaded" % (F, rnd_no, c))

            # writers inside a cache's query are refused with 55000 (load, and a fall-through read)
            for c in ("rv2_w1", "rv2_w2", "rv2_w3"):
                self.assertCode(su, "SELECT tablecache.load('%s')" % c, "55000", "%s: a writer inside %s's query" % (F, c))
                self.assertCode(r, "SELECT * FROM tablecache.get(NULL::%s, 1)" % c, "55000",
                                "%s: a writer inside %s's query (fall-through read)" % (F, c))
                self.assertFalse(loaded(su, c), "%s: %s was loaded although its query writes caches" % (F, c))
            self.assertTrue(loaded(su, "rv2_c"), "%s: rv2_c was unloaded from inside rv2_w3's query" % F)
            check(r, "rv2_a", "after the refused writers")
            check(r, "rv2_c", "after the refused writers")
            self.assertEqual(r.closed, 0, "%s: the reader's connection was lost" % F)
            # memory back to its baseline once everything is unloaded and dropped
            for c in ("rv2_a", "rv2_b", "rv2_c"):
                query(su, "SELECT tablecache.unload(%s)", (c,))
            for c in caches:
                query(su, "SELECT tablecache.drop_cache(%s)", (c,))
            caches = ()
            self.assertEqual(used_bytes(su), mem0, "%s: tablecache.memory used_bytes is not back to its baseline" % F)
            self.assertNoCrash(F)
        finally:
            for c in caches:
                err(su, "SELECT tablecache.drop_cache(%s)", (c,))
            query(su, """DROP TABLE IF EXISTS rv2_t, rv2_u, rv2_t2 CASCADE;
                         DROP FUNCTION IF EXISTS rv2_peek_a(int), rv2_peek_c(int), rv2_refresher(int),
                                                 rv2_invalidator(int), rv2_unloader(int)""")

    # --- finding 3 -------------------------------------------------------------------------
    def test_f03_many_invalidations_on_a_collated_index(self):
        F = "finding 3 (512+ pending invalidations of a collated index merged into a byte range)"
        su = self.su
        rnd = random.Random(3)
        starts = ["a", "A", "b", "B", "z", "Z", "é", "É", "_", "-", " ", "1", "ß", "ä", "Ä", "o", "Ö", "y"]

        def name():
            return rnd.choice(starts) + "".join(rnd.choice("aAbBcC -_zZé") for _ in range(rnd.randint(0, 6)))

        query(su, 'CREATE TABLE rv3_t (id int PRIMARY KEY, name text COLLATE "en_US.utf8", g int)')
        with su.cursor() as cur:
            cur.executemany("INSERT INTO rv3_t VALUES (%s, %s, %s)",
                            [(i, name(), rnd.choice([None, rnd.randint(1, 50)])) for i in range(1, 301)])
        query(su, """
            SELECT tablecache.create_cache('rv3_c', 'SELECT id, name, g FROM rv3_t', ARRAY['id'], maintain => 'manual');
            SELECT tablecache.create_index('rv3_c', 'by_name', ARRAY['name']);
            SELECT tablecache.create_index('rv3_c', 'by_g', ARRAY['g']);
            SELECT tablecache.load('rv3_c');
            CREATE TRIGGER rv3_tn AFTER INSERT OR UPDATE OR DELETE ON rv3_t FOR EACH ROW
                EXECUTE FUNCTION tablecache.invalidate_trigger('rv3_c', 'by_name', 'name');
            CREATE TRIGGER rv3_tg AFTER INSERT OR UPDATE OR DELETE ON rv3_t FOR EACH ROW
                EXECUTE FUNCTION tablecache.invalidate_trigger('rv3_c', 'by_g', 'g');
        """)
        try:
            w = self.conn(name="rv3_writer")
            for i in range(600):  # 600 separate autocommit transactions, no read in between
                query(w, "UPDATE rv3_t SET name = %s, g = %s WHERE id = %s",
                      (name(), rnd.choice([None, rnd.randint(1, 50)]), rnd.randint(1, 300)))
            r = self.conn(name="rv3_reader")
            got = query(r, "SELECT id, name FROM tablecache.range(NULL::rv3_c, 'by_name')")
            want = query(r, "SELECT id, name FROM rv3_t ORDER BY name, id")
            self.assertEqual(len(got), len(want), "%s: range(by_name) has %d rows, the table %d" % (F, len(got), len(want)))
            bad = [(g, x) for g, x in zip(got, want) if g != x]
            self.assertEqual(bad[:5], [], "%s: range over the whole by_name index differs from the table (stale rows)" % F)
            self.assertEqual(query(r, "SELECT id, name, g FROM tablecache.range(NULL::rv3_c, 'primary_key')"),
                             query(r, "SELECT id, name, g FROM rv3_t ORDER BY id"),
                             "%s: range over primary_key differs from the table" % F)
            self.assertEqual(query(r, "SELECT id, g FROM tablecache.range(NULL::rv3_c, 'by_g')"),
                             query(r, "SELECT id, g FROM rv3_t ORDER BY g NULLS LAST, id"),
                             "%s (NULL keys): range over by_g differs from the table" % F)
            self.assertTrue(loaded(r, "rv3_c"))
        finally:
            err(su, "SELECT tablecache.drop_cache('rv3_c')")
            query(su, "DROP TABLE rv3_t")

    # --- finding 4 -------------------------------------------------------------------------
    def test_f04_renames_of_a_cache_view_refused(self):
        F = "finding 4 (renaming a cache view's schema let another role's view run as the owner)"
        su = self.su
        query(su, """
            CREATE SCHEMA app AUTHORIZATION rv_alice;
            GRANT USAGE ON SCHEMA app TO rv_carol;
            CREATE SCHEMA rv4_other AUTHORIZATION rv_alice;
            CREATE SCHEMA rv4_plain AUTHORIZATION rv_alice;
        """)
        al = self.conn("rv_alice", "rv_alice")
        query(al, """
            CREATE TABLE app.t (id int PRIMARY KEY, v text NOT NULL);
            INSERT INTO app.t SELECT i, 'alice' || i FROM generate_series(1, 20) i;
            GRANT SELECT ON app.t TO rv_carol;
            SELECT tablecache.create_cache('app.ac', 'SELECT id, v FROM app.t', ARRAY['id'], maintain => 'manual');
            SELECT tablecache.load('app.ac');
        """)
        try:
            reader = self.conn("rv_carol", "rv4_long_lived_reader")
            want = query(al, "SELECT id, v FROM app.t ORDER BY id")
            self.assertEqual(query(reader, "SELECT id, v FROM tablecache.range(NULL::app.ac, 'primary_key')"), want)
            view_oid = scalar(su, "SELECT 'app.ac'::regclass::oid")
            stmts = [
                (al, "ALTER SCHEMA app RENAME TO app_old"),
                (su, "ALTER SCHEMA app RENAME TO app_old"),
                (al, "ALTER VIEW app.ac RENAME TO ac2"),
                (al, "ALTER TABLE app.ac RENAME TO ac2"),
                (al, "ALTER INDEX app.ac RENAME TO ac2"),
                (al, "ALTER SEQUENCE app.ac RENAME TO ac2"),
                (su, "ALTER VIEW app.ac RENAME TO ac2"),
                (al, "ALTER VIEW app.ac RENAME COLUMN v TO w"),
                (al, "ALTER TABLE app.ac RENAME COLUMN v TO w"),
                (al, "ALTER TYPE app.ac RENAME ATTRIBUTE v TO w"),
                (al, "ALTER TYPE app.ac RENAME TO ac2"),
                (al, "ALTER VIEW app.ac SET SCHEMA rv4_other"),
                (al, "ALTER TABLE app.ac SET SCHEMA rv4_other"),
                (al, "ALTER TYPE app.ac SET SCHEMA rv4_other"),
                (su, "ALTER VIEW app.ac SET SCHEMA rv4_other"),
                (al, "ALTER VIEW app.ac SET (security_invoker = false)"),
                (al, "ALTER VIEW app.ac RESET (security_invoker)"),
                (al, "ALTER VIEW app.ac SET (check_option = local)"),
                (al, "ALTER TABLE app.ac SET (security_barrier = true)"),
                (su, "ALTER VIEW app.ac SET (security_invoker = false)"),
            ]
            for conn, sql in stmts:
                who = "superuser" if conn is su else "owner"
                self.assertCode(conn, sql, "0A000", "%s: %s by the %s" % (F, sql, who))
            # handing the cache over is allowed
            self.assertIsNone(err(su, "ALTER VIEW app.ac OWNER TO rv_bob"), "%s: ALTER VIEW ... OWNER TO refused" % F)
            self.assertEqual(scalar(su, "SELECT owner::text FROM tablecache.caches WHERE name = 'app.ac'"), "rv_bob",
                             "%s: OWNER TO did not hand the cache over" % F)
            self.assertIsNone(err(su, "ALTER VIEW app.ac OWNER TO rv_alice"), "%s: ALTER VIEW ... OWNER TO refused" % F)
            # a schema without cache views can still be renamed
            self.assertIsNone(err(al, "ALTER SCHEMA rv4_plain RENAME TO rv4_plain2"),
                              "%s: renaming a schema that holds no cache view was refused" % F)
            # the rest of the attack: bob cannot take the name app; his look-alike elsewhere is not read
            bob = self.conn("rv_bob", "rv_bob")
            self.assertCode(bob, "CREATE SCHEMA app", "42P06", "%s: the schema app was renamed away" % F)
            query(bob, """CREATE SCHEMA app_old;
                          CREATE VIEW app_old.ac AS SELECT i AS id, 'BOB'::text AS v FROM generate_series(1, 20) i;
                          GRANT USAGE ON SCHEMA app_old TO PUBLIC; GRANT SELECT ON app_old.ac TO PUBLIC""")
            self.assertEqual(scalar(su, "SELECT 'app.ac'::regclass::oid"), view_oid, "%s: the cache's view changed" % F)
            self.assertEqual(query(su, "SELECT name, owner::text FROM tablecache.caches WHERE name = 'app.ac'"),
                             [("app.ac", "rv_alice")])
            query(al, "UPDATE app.t SET v = 'alice-new' WHERE id = 3")
            query(al, "SELECT tablecache.invalidate('app.ac', 'primary_key', 3)")
            want = query(al, "SELECT id, v FROM app.t ORDER BY id")
            for conn, who in ((reader, "the long-lived reader"), (self.conn("rv_carol", "rv4_new_reader"), "a new reader")):
                self.assertEqual(query(conn, "SELECT id, v FROM tablecache.range(NULL::app.ac, 'primary_key')"), want,
                                 "%s: %s does not read the owner's rows" % (F, who))
                self.assertEqual(query(conn, "SELECT v FROM tablecache.get(NULL::app.ac, 3)"), [("alice-new",)],
                                 "%s: %s: get after a refresh" % (F, who))
        finally:
            err(su, "SELECT tablecache.drop_cache('app.ac')")
            query(su, """DROP SCHEMA IF EXISTS app, app_old, rv4_other, rv4_plain, rv4_plain2 CASCADE""")

    # --- finding 5 -------------------------------------------------------------------------
    def test_f05_created_and_loaded_in_one_transaction(self):
        F = "finding 5 (a cache created and loaded in one transaction missed concurrent commits)"
        su = self.su
        query(su, """
            CREATE TABLE rv5_t (id int PRIMARY KEY, v text NOT NULL);
            INSERT INTO rv5_t SELECT i, 'v' || i FROM generate_series(1, 50) i;
            CREATE TRIGGER rv5_tc AFTER INSERT OR UPDATE OR DELETE ON rv5_t FOR EACH ROW
                EXECUTE FUNCTION tablecache.invalidate_trigger('rv5_c', 'primary_key', 'id');
        """)
        try:
            a = self.conn(name="rv5_A")
            b = self.conn(name="rv5_B", timeout_ms=20000)
            query(a, "BEGIN")
            query(a, "SELECT tablecache.create_cache('rv5_c', 'SELECT id, v FROM rv5_t', ARRAY['id'], maintain => 'manual')")
            self.assertEqual(scalar(a, "SELECT tablecache.load('rv5_c')"), 50)
            # A's load has returned: B commits an update through the trigger that names the cache
            e = err(b, "UPDATE rv5_t SET v = 'B' WHERE id = 7")
            self.assertIsNone(e, "%s: B's UPDATE failed (blocked by A?): %s" % (F, e))
            e = err(b, "DELETE FROM rv5_t WHERE id = 8")
            self.assertIsNone(e, "%s: B's DELETE failed: %s" % (F, e))
            query(a, "COMMIT")
            want = query(su, "SELECT id, v FROM rv5_t ORDER BY id")
            for conn, who in ((a, "A"), (b, "B"), (self.conn(name="rv5_C"), "a third session")):
                self.assertEqual(query(conn, "SELECT v FROM tablecache.get(NULL::rv5_c, 7)"), [("B",)],
                                 "%s: %s reads the old value of id 7" % (F, who))
                self.assertEqual(query(conn, "SELECT id, v FROM tablecache.range(NULL::rv5_c, 'primary_key')"), want,
                                 "%s: %s: the cache differs from the table" % (F, who))
            self.assertTrue(loaded(su, "rv5_c"), "%s: the cache is not loaded after its transaction" % F)
        finally:
            err(su, "SELECT tablecache.drop_cache('rv5_c')")
            query(su, "DROP TABLE rv5_t")

    # --- finding 6 -------------------------------------------------------------------------
    def test_f06_reader_settings_never_reach_cached_rows(self):
        F = "finding 6 (a reader's settings reached cached rows)"
        su = self.su
        al = self.conn("rv_alice", "rv_alice")
        query(al, "SET TimeZone = 'UTC'")
        query(al, """
            CREATE TABLE rv_al.t6 (id int PRIMARY KEY, v text NOT NULL);
            INSERT INTO rv_al.t6 SELECT i, 'v' || i FROM generate_series(1, 40) i;
            GRANT SELECT ON rv_al.t6 TO rv_carol;
            CREATE TRIGGER t6_tc AFTER INSERT OR UPDATE OR DELETE ON rv_al.t6 FOR EACH ROW
                EXECUTE FUNCTION tablecache.invalidate_trigger('rv_al.c6', 'primary_key', 'id');
        """)
        query(al, r"""SELECT tablecache.create_cache('rv_al.c6', $q$
            SELECT id, v, current_setting('app.tag', true) AS tag,
                   '2026-01-01 12:00 EST'::text::timestamptz AS ts,
                   '{1,NULL}'::text::text[] AS arr
            FROM rv_al.t6 $q$, ARRAY['id'], maintain => 'manual')""")
        try:
            self.assertEqual(scalar(al, "SELECT tablecache.load('rv_al.c6', 'primary_key', 1, 30)"), 29)
            car = self.conn("rv_carol", "rv_carol_odd")
            query(car, """SET app.tag = 'carol'; SET timezone_abbreviations = 'Australia'; SET array_nulls = off;
                          SET TimeZone = 'Asia/Kolkata'; SET DateStyle = 'SQL, DMY'; SET IntervalStyle = 'sql_standard';
                          SET extra_float_digits = -3""")
            # the odd settings do change what the query gives when the reader runs it itself
            self.assertEqual(query(car, "SELECT current_setting('app.tag', true), '{1,NULL}'::text::text[]"),
                             [("carol", ["1", "NULL"])], "setup: the reader's settings are not odd")
            cols = "id, v, tag, extract(epoch FROM ts)::bigint AS ts, arr"
            expect_ts = int(datetime.datetime(2026, 1, 1, 17, 0, tzinfo=datetime.timezone.utc).timestamp())

            def rows(conn, lo, hi):
                return query(conn, "SELECT %s FROM tablecache.range(NULL::rv_al.c6, 'primary_key', %%s, %%s)" % cols, (lo, hi))

            # refreshes by the odd reader: through a read, through refresh(), and a miss
            query(al, "UPDATE rv_al.t6 SET v = v || '+' WHERE id <= 10")
            got_car = rows(car, 1, 30)
            want_first = query(al, "SELECT %s FROM rv_al.c6 WHERE id >= 1 AND id < 30 ORDER BY id" % cols)
            query(al, "SELECT tablecache.invalidate_range('rv_al.c6', 'primary_key', NULL::int, NULL::int)")
            self.assertEqual(scalar(car, "SELECT tablecache.refresh('rv_al.c6')"), 29)
            query(al, "UPDATE rv_al.t6 SET v = v || '!' WHERE id = 5")
            got_car2 = query(car, "SELECT %s FROM tablecache.get(NULL::rv_al.c6, 5)" % cols)
            miss_car = rows(car, 30, 41)
            # the superuser moves the window with odd settings too
            query(su, """SET app.tag = 'su'; SET timezone_abbreviations = 'India'; SET array_nulls = off;
                         SET TimeZone = 'Pacific/Chatham'""")
            self.assertEqual(scalar(su, "SELECT tablecache.adjust('rv_al.c6', 'primary_key', 1, 35)"), 5)
            query(su, "RESET ALL")
            self.assertTrue(loaded(su, "rv_al.c6"), "%s: the cache was unloaded" % F)
            # the owner's view with the creator's settings
            want = query(al, "SELECT %s FROM rv_al.c6 ORDER BY id" % cols)
            self.assertTrue(all(r[2] is None and r[3] == expect_ts and r[4] == ["1", None] for r in want),
                            "setup: the view with the creator's settings gives %r" % (want[:2],))
            fresh = self.conn(name="rv6_fresh")
            names = ("id", "v", "tag", "ts", "arr")
            problems = []

            def compare(got, exp, what):
                if len(got) != len(exp):
                    problems.append("%s: %d rows, the view %d" % (what, len(got), len(exp)))
                    return
                for g, x in zip(got, exp):
                    # A custom setting is reset for the cache's query: it reads '' in a session
                    # that ever defined it, NULL in one that never did (documented as a property
                    # of the running session, like session_user). A reader's value never shows.
                    diff = ["%s %r (view %r)" % (n, a, b) for n, a, b in zip(names, g, x)
                            if a != b and not (n == "tag" and a in ("", None) and b in ("", None))]
                    if diff:
                        problems.append("%s: id %s: %s" % (what, x[0], ", ".join(diff)))
                        return

            compare(got_car, want_first, "rows the odd reader refreshed through a read")
            compare(got_car2, [want[4]], "get by the odd reader after its refresh")
            compare(miss_car, want[29:40], "a miss by the odd reader")
            for conn, who in ((car, "the odd reader"), (fresh, "a default session"), (al, "the owner")):
                compare(rows(conn, 1, 35), want[0:34], "cached rows seen by %s" % who)
                compare(rows(conn, 1, 41), want, "rows (with misses) seen by %s" % who)
            self.assertEqual(problems, [], "%s: rows differ from the owner's view with the creator's settings:\n  %s"
                             % (F, "\n  ".join(problems)))
        finally:
            query(su, "RESET ALL")
            err(su, "SELECT tablecache.drop_cache('rv_al.c6')")
            query(su, "DROP TABLE rv_al.t6")

    # --- finding 7 -------------------------------------------------------------------------
    def test_f07_cancel_during_a_readers_refresh(self):
        F = "finding 7 (a cancel during a reader's refresh unloaded the cache and was swallowed)"
        su = self.su
        n = 200000
        query(su, """
            CREATE TABLE rv7_t (id int PRIMARY KEY, v text NOT NULL);
            INSERT INTO rv7_t SELECT i, md5(i::text) FROM generate_series(1, %d) i;
            SELECT tablecache.create_cache('rv7_c', 'SELECT id, v, md5(repeat(v, 20)) AS h FROM rv7_t', ARRAY['id'], maintain => 'manual');
            SELECT tablecache.load('rv7_c');
        """ % n)
        digest = "SELECT count(*), md5(string_agg(id || ':' || v || ':' || h, ',' ORDER BY id)) FROM %s"
        want_of = lambda: query(su, digest % "(SELECT id, v, md5(repeat(v, 20)) AS h FROM rv7_t) q")  # noqa: E731
        try:
            # 1. statement_timeout shorter than the refresh of the whole window
            query(su, "UPDATE rv7_t SET v = v || 'x' WHERE id % 1000 = 0")
            query(su, "SELECT tablecache.invalidate_range('rv7_c', 'primary_key', NULL::int, NULL::int)")
            r = self.conn(name="rv7_reader")
            query(r, "SET statement_timeout = 100")
            e = err(r, "SELECT * FROM tablecache.get(NULL::rv7_c, 5000)")
            self.assertIsNotNone(e, "%s: the read finished within 100 ms: the refresh of %d rows was not cancelled" % (F, n))
            self.assertEqual(e[0], "57014", "%s: statement_timeout during the refresh gave %s %s" % (F, e[0], e[1]))
            warned = [x for x in r.notices if "unloaded" in x]
            self.assertEqual(warned, [], "%s: the timeout unloaded the cache: %s" % (F, warned))
            self.assertTrue(loaded(su, "rv7_c"), "%s: the cache was unloaded by the reader's timeout" % F)
            self.assertEqual(query(su, "SELECT count(*) FROM tablecache.progress"), [(0,)])
            query(r, "SET statement_timeout = %s", (GUARD_MS,))
            self.assertEqual(scalar(r, "SELECT v FROM tablecache.get(NULL::rv7_c, 5000)"), scalar(su, "SELECT v FROM rv7_t WHERE id = 5000"),
                             "%s: after the timeout the pending invalidation was lost" % F)
            self.assertEqual(query(r, digest % "tablecache.range(NULL::rv7_c, 'primary_key')"), want_of(),
                             "%s: after the timeout the cache differs from the query" % F)
            self.assertTrue(loaded(su, "rv7_c"))

            # 2. pg_cancel_backend while the reader's refresh runs (seen in tablecache.progress)
            query(su, "UPDATE rv7_t SET v = v || 'y' WHERE id % 1000 = 7")
            query(su, "SELECT tablecache.invalidate_range('rv7_c', 'primary_key', NULL::int, NULL::int)")
            r2 = self.conn(name="rv7_reader2")
            pid = scalar(r2, "SELECT pg_backend_pid()")
            res = {}

            def read(stop):
                res["err"] = err(r2, "SELECT * FROM tablecache.get(NULL::rv7_c, 7007)")

            w = harness.Worker(read, "rv7_cancelled_reader")
            w.start()
            deadline, seen = time.monotonic() + 20, False
            while time.monotonic() < deadline and w.is_alive():
                if scalar(su, "SELECT count(*) FROM tablecache.progress WHERE cache = 'rv7_c' AND pid = %s", (pid,)):
                    seen = True
                    query(su, "SELECT pg_cancel_backend(%s)", (pid,))
                    break
                time.sleep(0.005)  # polling the refresh's progress row, the condition to cancel on
            w.join_checked(60)
            self.assertTrue(seen, "%s: the reader's refresh never showed in tablecache.progress (result %r)" % (F, res.get("err")))
            self.assertIsNotNone(res["err"], "%s: the cancelled read succeeded: the cancel was swallowed" % F)
            self.assertEqual(res["err"][0], "57014", "%s: a cancel during the refresh gave %s" % (F, res["err"]))
            self.assertTrue(loaded(su, "rv7_c"), "%s: the cache was unloaded by the cancel" % F)
            self.assertEqual(scalar(r2, "SELECT v FROM tablecache.get(NULL::rv7_c, 7007)"), scalar(su, "SELECT v FROM rv7_t WHERE id = 7007"),
                             "%s: after the cancel the pending invalidation was lost" % F)
            self.assertEqual(query(r2, digest % "tablecache.range(NULL::rv7_c, 'primary_key')"), want_of(),
                             "%s: after the cancel the cache differs from the query" % F)
        finally:
            err(su, "SELECT tablecache.drop_cache('rv7_c')")
            query(su, "DROP TABLE rv7_t")

    # --- finding 9 -------------------------------------------------------------------------
    def test_f09_huge_invalidation_keys(self):
        F = "finding 9 (huge invalidation keys took uncharged shared memory)"
        su = self.su
        query(su, """
            CREATE TABLE rv9_t (id int PRIMARY KEY, k text COLLATE "C" NOT NULL);
            INSERT INTO rv9_t SELECT i, 'k' || lpad(i::text, 4, '0') FROM generate_series(1, 200) i;
            SELECT tablecache.create_cache('rv9_c', 'SELECT id, k FROM rv9_t WHERE length(k) < 1000', ARRAY['id'], maintain => 'manual');
            SELECT tablecache.create_index('rv9_c', 'by_k', ARRAY['k']);
            SELECT tablecache.load('rv9_c');
            CREATE TRIGGER rv9_tc AFTER INSERT OR UPDATE OR DELETE ON rv9_t FOR EACH ROW
                EXECUTE FUNCTION tablecache.invalidate_trigger('rv9_c', 'by_k', 'k');
        """)
        try:
            w = self.conn(name="rv9_writer")
            mem0 = wait_memory_stable(su)
            huge = 0
            for i in range(1, 6):  # 5 MB keys through the trigger, one transaction each
                query(w, "UPDATE rv9_t SET k = repeat(chr(96 + %s), 5000000) WHERE id = %s", (i, i * 10))
                huge += 5000000
            query(w, "SELECT tablecache.invalidate('rv9_c', 'by_k', repeat('q', 3000000))")
            query(w, "SELECT tablecache.invalidate_range('rv9_c', 'by_k', repeat('a', 3000), repeat('b', 3000))")
            query(w, "SELECT tablecache.invalidate_range('rv9_c', 'by_k', NULL::text, repeat('k', 5000))")
            huge += 3000000 + 6000 + 5000
            grown = used_bytes(su) - mem0
            self.assertLess(grown, 64 * 1024, "%s: used_bytes grew by %d bytes after %d bytes of huge keys and bounds" % (F, grown, huge))
            r = self.conn(name="rv9_reader")
            self.assertEqual(query(r, "SELECT id, k FROM tablecache.range(NULL::rv9_c, 'by_k')"),
                             query(r, "SELECT id, k FROM rv9_t WHERE length(k) < 1000 ORDER BY k, id"),
                             "%s: range over by_k differs from the query after huge invalidations" % F)
            self.assertEqual(query(r, "SELECT * FROM tablecache.get(NULL::rv9_c, 10)"), [(None, None)],
                             "%s: the row whose key became huge is still served" % F)
            self.assertTrue(loaded(r, "rv9_c"))
        finally:
            err(su, "SELECT tablecache.drop_cache('rv9_c')")
            query(su, "DROP TABLE rv9_t")

    # --- finding 10a -----------------------------------------------------------------------
    def test_f10a_window_bounds_hidden_from_non_readers(self):
        F = "finding 10 (tablecache.caches showed window bounds to roles that may not read the cache)"
        su = self.su
        al = self.conn("rv_alice", "rv_alice")
        query(al, """
            CREATE TABLE rv_al.t10 (id int PRIMARY KEY, v text NOT NULL);
            INSERT INTO rv_al.t10 SELECT i, 'v' || i FROM generate_series(1, 100) i;
            SELECT tablecache.create_cache('rv_al.c10', 'SELECT id, v FROM rv_al.t10', ARRAY['id'], maintain => 'manual');
            SELECT tablecache.load('rv_al.c10', 'primary_key', 5, 50);
        """)
        try:
            sql = "SELECT query IS NOT NULL, window_ge, window_lt FROM tablecache.caches WHERE name = 'rv_al.c10'"
            self.assertEqual(query(al, sql), [(True, "5", "50")])
            car = self.conn("rv_carol", "rv_carol")
            self.assertEqual(query(car, sql), [(False, None, None)], "%s: a non-reader sees the query or the window" % F)
            bob = self.conn("rv_bob", "rv_bob")
            self.assertEqual(query(bob, sql), [(False, None, None)], "%s: another owner sees the query or the window" % F)
            query(al, "GRANT SELECT ON rv_al.t10 TO rv_carol")
            self.assertEqual(query(car, sql), [(True, "5", "50")], "%s: a reader does not see the window" % F)
        finally:
            err(su, "SELECT tablecache.drop_cache('rv_al.c10')")
            query(su, "DROP TABLE rv_al.t10")

    # --- finding 11 ------------------------------------------------------------------------
    def test_f11_snapshot_isolation_writers(self):
        F = "finding 11 (a reload in REPEATABLE READ used the transaction's old snapshot)"
        su = self.su
        query(su, """
            CREATE TABLE rv11_t (id int PRIMARY KEY, v text NOT NULL, ts timestamptz NOT NULL);
            INSERT INTO rv11_t SELECT i, 'v' || i, now() - i * interval '1 minute' FROM generate_series(1, 100) i;
            SELECT tablecache.create_cache('rv11_c', 'SELECT id, v, ts FROM rv11_t', ARRAY['id'], maintain => 'manual');
            SELECT tablecache.create_index('rv11_c', 'by_ts', ARRAY['ts']);
            SELECT tablecache.load('rv11_c');
            CREATE TRIGGER rv11_tc AFTER INSERT OR UPDATE OR DELETE ON rv11_t FOR EACH ROW
                EXECUTE FUNCTION tablecache.invalidate_trigger('rv11_c', 'primary_key', 'id');
        """)
        try:
            a = self.conn(name="rv11_A")
            b = self.conn(name="rv11_B")
            r = self.conn(name="rv11_reader")

            def check(when):
                self.assertEqual(query(r, "SELECT v FROM tablecache.get(NULL::rv11_c, 5)"), query(r, "SELECT v FROM rv11_t WHERE id = 5"),
                                 "%s: %s: get(5) is stale" % (F, when))
                self.assertEqual(query(r, "SELECT id, v FROM tablecache.range(NULL::rv11_c, 'primary_key')"),
                                 query(r, "SELECT id, v FROM rv11_t ORDER BY id"), "%s: %s: range differs from the table" % (F, when))
                if scalar(r, "SELECT 'by_v' = ANY(indexes) FROM tablecache.caches WHERE name = 'rv11_c'"):
                    self.assertEqual(query(r, "SELECT id, v FROM tablecache.range(NULL::rv11_c, 'by_v')"),
                                     query(r, "SELECT id, v FROM rv11_t ORDER BY v, id"), "%s: %s: range(by_v) differs" % (F, when))

            # create_index in REPEATABLE READ after B's committed update
            query(a, "BEGIN ISOLATION LEVEL REPEATABLE READ")
            query(a, "SELECT 1")
            query(b, "UPDATE rv11_t SET v = 'B1' WHERE id = 5")
            e = err(a, "SELECT tablecache.create_index('rv11_c', 'by_v', ARRAY['v'])")
            self.assertIsNone(e, "%s: create_index in REPEATABLE READ failed: %s" % (F, e))
            query(a, "COMMIT")
            check("after create_index in REPEATABLE READ")
            self.assertFalse(loaded(r, "rv11_c"), "%s: the reload in REPEATABLE READ did not unload the cache" % F)
            self.assertEqual(scalar(su, "SELECT tablecache.load('rv11_c')"), 100)
            check("after a new load")
            # drop_index in SERIALIZABLE, likewise
            query(a, "BEGIN ISOLATION LEVEL SERIALIZABLE")
            query(a, "SELECT 1")
            query(b, "UPDATE rv11_t SET v = 'B2' WHERE id = 5")
            e = err(a, "SELECT tablecache.drop_index('rv11_c', 'by_v')")
            self.assertIsNone(e, "%s: drop_index in SERIALIZABLE failed: %s" % (F, e))
            query(a, "COMMIT")
            check("after drop_index in SERIALIZABLE")
            self.assertFalse(loaded(r, "rv11_c"), "%s: the reload in SERIALIZABLE did not unload the cache" % F)
            # load/adjust/refresh/set_sliding_window are refused with 55000
            for level in ("REPEATABLE READ", "SERIALIZABLE"):
                for sql in ("SELECT tablecache.load('rv11_c')",
                            "SELECT tablecache.set_sliding_window('rv11_c', 'by_ts', '1 hour', '1 minute')"):
                    query(a, "BEGIN ISOLATION LEVEL %s" % level)
                    query(a, "SELECT 1")
                    self.assertCode(a, sql, "55000", "%s: %s in %s" % (F, sql, level))
            self.assertEqual(scalar(su, "SELECT tablecache.load('rv11_c')"), 100)
            for level in ("REPEATABLE READ", "SERIALIZABLE"):
                for sql in ("SELECT tablecache.adjust('rv11_c', 'primary_key', 1, 50)",
                            "SELECT tablecache.refresh('rv11_c')",
                            "SELECT tablecache.set_sliding_window('rv11_c', 'by_ts', '1 hour', '1 minute')"):
                    query(a, "BEGIN ISOLATION LEVEL %s" % level)
                    query(a, "SELECT 1")
                    query(b, "UPDATE rv11_t SET v = v || '.' WHERE id = 6")
                    self.assertCode(a, sql, "55000", "%s: %s in %s" % (F, sql, level))
            check("after the refused writers")
            self.assertEqual(query(r, "SELECT window_index, window_ge, window_lt FROM tablecache.caches WHERE name = 'rv11_c'"),
                             [("primary_key", None, None)], "%s: a refused writer moved the window" % F)
        finally:
            err(su, "SELECT tablecache.clear_sliding_window('rv11_c')")
            err(su, "SELECT tablecache.drop_cache('rv11_c')")
            query(su, "DROP TABLE rv11_t")

    # --- finding 12 ------------------------------------------------------------------------
    def test_f12_create_or_replace_view(self):
        F = "finding 12 (CREATE OR REPLACE VIEW on a cache's view)"
        su = self.su
        query(su, """
            CREATE TABLE rv12_t (id int PRIMARY KEY, v text NOT NULL);
            INSERT INTO rv12_t SELECT i, 'v' || i FROM generate_series(1, 30) i;
            SELECT tablecache.create_cache('rv12_c', 'SELECT id, v FROM rv12_t', ARRAY['id'], maintain => 'manual');
            SELECT tablecache.load('rv12_c');
        """)
        try:
            r = self.conn(name="rv12_long_lived_reader")
            self.assertEqual(len(query(r, "SELECT * FROM tablecache.range(NULL::rv12_c, 'primary_key')")), 30)

            def check(when, ncols):
                view = query(su, "SELECT * FROM rv12_c ORDER BY id")
                for conn, who in ((r, "a long-lived reader"), (self.conn(name="rv12_new"), "a new session")):
                    got = query(conn, "SELECT * FROM tablecache.range(NULL::rv12_c, 'primary_key')")
                    self.assertEqual(got, view, "%s: %s: %s does not read the new query's rows" % (F, when, who))
                    self.assertEqual(len(got[0]), ncols)
                    self.assertEqual(query(conn, "SELECT * FROM tablecache.get(NULL::rv12_c, 4)"), [view[1]],
                                     "%s: %s: get(4) by %s" % (F, when, who))
                    self.assertEqual(query(conn, "SELECT * FROM tablecache.get(NULL::rv12_c, 3)"), [(None,) * ncols],
                                     "%s: %s: get(3) by %s: the old query's row" % (F, when, who))
                q = scalar(su, "SELECT query FROM tablecache.caches WHERE name = 'rv12_c'")
                self.assertIn("'!'", q, "%s: %s: tablecache.caches.query shows the old definition: %r" % (F, when, q))

            query(su, "CREATE OR REPLACE VIEW rv12_c AS SELECT id, v || '!' AS v FROM rv12_t WHERE id % 2 = 0")
            check("same columns, other rows", 2)
            query(su, "CREATE OR REPLACE VIEW rv12_c AS SELECT id, v || '!' AS v, length(v) AS n FROM rv12_t WHERE id % 2 = 0")
            check("an added column", 3)
            self.assertTrue(loaded(su, "rv12_c"))
            before = query(su, "SELECT query FROM tablecache.caches WHERE name = 'rv12_c'")
            query(su, "CREATE TEMP TABLE rv12_tmp (id int, v text, n int)")
            # PostgreSQL itself refuses a non-temporary view over a temporary table (42P16)
            self.assertCode(su, "CREATE OR REPLACE VIEW public.rv12_c AS SELECT id, v, n FROM rv12_tmp",
                            ("0A000", "22023", "42P16"), "%s: a replacement reading a temporary table" % F)
            self.assertCode(su, "CREATE OR REPLACE VIEW rv12_c AS SELECT id, v, (random() * 0)::int AS n FROM rv12_t",
                            ("0A000", "22023"), "%s: a replacement calling a volatile function" % F)
            self.assertEqual(query(su, "SELECT query FROM tablecache.caches WHERE name = 'rv12_c'"), before,
                             "%s: a refused replacement changed the query" % F)
            check("after the refused replacements", 3)
        finally:
            err(su, "SELECT tablecache.drop_cache('rv12_c')")
            query(su, "DROP TABLE IF EXISTS rv12_tmp; DROP TABLE rv12_t")

    # --- finding 13 ------------------------------------------------------------------------
    def test_f13_before_trigger(self):
        F = "finding 13 (a BEFORE invalidate_trigger failed writes)"
        su = self.su
        query(su, """
            CREATE TABLE rv13_t (id int PRIMARY KEY, v text NOT NULL);
            INSERT INTO rv13_t SELECT i, 'v' || i FROM generate_series(1, 20) i;
            SELECT tablecache.create_cache('rv13_c', 'SELECT id, v FROM rv13_t', ARRAY['id'], maintain => 'manual');
            SELECT tablecache.load('rv13_c');
            CREATE FUNCTION rv13_upper() RETURNS trigger LANGUAGE plpgsql AS $f$
            BEGIN NEW.v := upper(NEW.v); RETURN NEW; END $f$;
            CREATE TRIGGER a_upper BEFORE INSERT OR UPDATE ON rv13_t FOR EACH ROW EXECUTE FUNCTION rv13_upper();
            CREATE TRIGGER b_tc BEFORE INSERT OR UPDATE OR DELETE ON rv13_t FOR EACH ROW
                EXECUTE FUNCTION tablecache.invalidate_trigger('rv13_c', 'primary_key', 'id');
        """)
        try:
            w = self.conn(name="rv13_writer")
            r = self.conn(name="rv13_reader")

            def check(when):
                self.assertEqual(query(r, "SELECT id, v FROM tablecache.range(NULL::rv13_c, 'primary_key')"),
                                 query(r, "SELECT id, v FROM rv13_t ORDER BY id"), "%s: %s: the cache is not exact" % (F, when))

            def write(sql, want_rows, want_count):
                with w.cursor() as cur:
                    try:
                        cur.execute(sql)
                    except psycopg2.Error as e:
                        self.fail("%s: `%s` failed: %s %s" % (F, sql, e.pgcode, e.diag.message_primary))
                    got = cur.fetchall() if cur.description else None
                    self.assertEqual(cur.rowcount, want_count, "%s: `%s` changed %d rows" % (F, sql, cur.rowcount))
                self.assertEqual(got, want_rows, "%s: `%s` returned %r" % (F, sql, got))

            write("INSERT INTO rv13_t VALUES (100, 'new') RETURNING id, v", [(100, "NEW")], 1)
            check("after INSERT")
            write("UPDATE rv13_t SET v = 'upd' WHERE id = 3 RETURNING id, v", [(3, "UPD")], 1)
            check("after UPDATE")
            write("UPDATE rv13_t SET id = 200 WHERE id = 4 RETURNING id, v", [(200, "V4")], 1)
            check("after an UPDATE of the key")
            write("DELETE FROM rv13_t WHERE id = 5 RETURNING id, v", [(5, "v5")], 1)
            check("after DELETE")
            write("UPDATE rv13_t SET v = v || 'x' WHERE id <= 10", None, 8)
            check("after a multi-row UPDATE")
            query(w, "BEGIN")
            write("DELETE FROM rv13_t WHERE id > 15 AND id < 100", None, 5)
            write("INSERT INTO rv13_t SELECT i, 'b' || i FROM generate_series(300, 305) i", None, 6)
            query(w, "COMMIT")
            check("after a transaction")
            self.assertEqual(scalar(r, "SELECT v FROM tablecache.get(NULL::rv13_c, 3)"), "UPDX")
            # a BEFORE statement-level trigger does not fail writes either (it invalidates the whole cache)
            query(su, """CREATE TRIGGER c_stmt BEFORE UPDATE ON rv13_t FOR EACH STATEMENT
                         EXECUTE FUNCTION tablecache.invalidate_trigger('rv13_c', 'primary_key', 'id')""")
            write("UPDATE rv13_t SET v = 'stmt' WHERE id = 1", None, 1)
            check("after an UPDATE with a BEFORE statement trigger")
            self.assertTrue(loaded(r, "rv13_c"))
        finally:
            err(su, "SELECT tablecache.drop_cache('rv13_c')")
            query(su, "DROP TABLE rv13_t; DROP FUNCTION rv13_upper()")

    # --- finding 14 ------------------------------------------------------------------------
    def test_f14_cache_named_by_its_relation_name(self):
        F = "finding 14 (a cache could not be named by its relation name)"
        su = self.su
        query(su, """
            CREATE TABLE rv14_t (id int PRIMARY KEY, v text NOT NULL);
            INSERT INTO rv14_t SELECT i, 'v' || i FROM generate_series(1, 10) i;
            SET search_path = public;
            SELECT tablecache.create_cache('rv_c', 'SELECT id, v FROM rv14_t', ARRAY['id'], maintain => 'manual');
            RESET search_path;
        """)
        try:
            e = err(su, "SELECT tablecache.load('public.rv_c')")
            self.assertIsNone(e, "%s: load('public.rv_c') failed: %s" % (F, e))
            self.assertTrue(loaded(su, "rv_c"), "%s: load('public.rv_c') did not load the cache rv_c" % F)
            self.assertEqual(scalar(su, "SELECT rows FROM tablecache.caches WHERE name = 'rv_c'"), 10)
            query(su, "UPDATE rv14_t SET v = 'new' WHERE id = 2")
            for sql in ("SELECT tablecache.invalidate('public.rv_c', 'primary_key', 2)",
                        "SELECT tablecache.refresh('public.rv_c')",
                        "SELECT tablecache.covers('public.rv_c', 'primary_key', 1, 5)",
                        "SELECT tablecache.adjust('public.rv_c', 'primary_key', 1, 8)"):
                e = err(su, sql)
                self.assertIsNone(e, "%s: %s failed: %s" % (F, sql, e))
            self.assertEqual(query(su, "SELECT id, v FROM tablecache.range(NULL::public.rv_c, 'primary_key', 1, 8)"),
                             query(su, "SELECT id, v FROM rv14_t WHERE id < 8 ORDER BY id"))
            self.assertEqual(query(su, "SELECT window_ge, window_lt FROM tablecache.caches WHERE name = 'rv_c'"), [("1", "8")])
            e = err(su, "SELECT tablecache.drop_cache('public.rv_c')")
            self.assertIsNone(e, "%s: drop_cache('public.rv_c') failed: %s" % (F, e))
            self.assertEqual(scalar(su, "SELECT count(*) FROM tablecache.caches WHERE name = 'rv_c'"), 0)
        finally:
            err(su, "SELECT tablecache.drop_cache('rv_c')")
            query(su, "DROP TABLE rv14_t")


# ------------------------------------------------------------------------------------------

class ReviewPrivate(unittest.TestCase):
    """Findings 8 and 10b on a private server: tablecache.memory 32MB, max_prepared_transactions 10."""
    srv = None
    DB = "tc_review_priv"

    @classmethod
    def setUpClass(cls):
        cls.srv = server_util.PrivateServer("review%d" % PRIV_PORT, PRIV_PORT, memory=PRIV_MEMORY,
                                            settings={"max_prepared_transactions": "10"})
        try:
            cls.srv.start()
            cls.srv.create_db(cls.DB)
            c = cls.srv.connect(cls.DB)
            try:
                query(c, """CREATE ROLE rv_alice LOGIN;
                            GRANT EXECUTE ON FUNCTION %s TO rv_alice;
                            CREATE SCHEMA rv_al AUTHORIZATION rv_alice""" % CREATE_CACHE)
            finally:
                c.close()
        except BaseException:
            cls.srv.destroy()
            raise

    @classmethod
    def tearDownClass(cls):
        if cls.srv is not None:
            cls.srv.destroy()

    def connect(self, user="postgres", name="rv_priv"):
        c = self.srv.connect(self.DB, application_name=name, user=user)
        query(c, "SET statement_timeout = %s", (GUARD_MS,))
        return c

    # --- finding 8 -------------------------------------------------------------------------
    def test_f08_staged_bytes_count_against_the_owner_share(self):
        F = "finding 8 (bytes staged in an open transaction bypassed owner_share)"
        su = self.connect(name="rv8_su")
        al = self.connect("rv_alice", "rv8_alice")
        try:
            query(al, """
                CREATE TABLE rv_al.t8 (id int PRIMARY KEY, v text NOT NULL);
                INSERT INTO rv_al.t8 SELECT i, repeat(md5(i::text), 12) FROM generate_series(1, 60000) i;
                SELECT tablecache.create_cache('rv_al.c8', 'SELECT id, v FROM rv_al.t8', ARRAY['id'], maintain => 'manual');
            """)
            total = scalar(su, "SELECT total_bytes FROM tablecache.memory")
            share = total * int(scalar(su, "SHOW tablecache.owner_share")) // 100
            mem0 = wait_memory_stable(su)
            step = 8000  # about 4 MB of rows per window
            query(al, "BEGIN")
            code, steps, peak = None, 0, 0
            for i in range(7):
                fn = "load" if i == 0 else "adjust"
                e = err(al, "SELECT tablecache.%s('rv_al.c8', 'primary_key', %d, %d)" % (fn, i * step + 1, (i + 1) * step + 1))
                peak = max(peak, used_bytes(su) - mem0)
                if e is not None:
                    code = e
                    break
                steps += 1
            self.assertIsNotNone(code, "%s: %d passes of ~4 MB staged in one transaction all succeeded (share %d bytes; "
                                       "peak used %d bytes)" % (F, steps, share, peak))
            self.assertEqual(code[0], "53200", "%s: pass %d failed with %s %s, expected 53200" % (F, steps + 1, code[0], code[1]))
            self.assertLessEqual(peak, share, "%s: used_bytes reached %d, more than the owner's share %d" % (F, peak, share))
            # the region is not full: the superuser can still load a cache of ~4 MB meanwhile
            query(su, """CREATE TABLE t8s (id int PRIMARY KEY, v text NOT NULL);
                         INSERT INTO t8s SELECT i, repeat(md5(i::text), 12) FROM generate_series(1, 8000) i;
                         SELECT tablecache.create_cache('c8s', 'SELECT id, v FROM t8s', ARRAY['id'], maintain => 'manual')""")
            e = err(su, "SELECT tablecache.load('c8s')")
            self.assertIsNone(e, "%s: the region was full for the superuser while alice's transaction was open: %s" % (F, e))
            query(su, "SELECT tablecache.drop_cache('c8s')")
            print("\n    finding 8: pass %d of ~4 MB failed with %s; peak used %d bytes, share %d" % (steps + 1, code[0], peak, share), end="")
            end_txn(al)
            self.assertEqual(used_bytes(su), mem0, "%s: used_bytes is not back after ROLLBACK" % F)
            self.assertFalse(loaded(su, "rv_al.c8"))
        finally:
            end_txn(al)
            al.close()
            su.close()

    # --- finding 10b -----------------------------------------------------------------------
    def test_f10b_prepare_after_writer_lock(self):
        F = "finding 10 (PREPARE TRANSACTION after clear_sliding_window / create_index was allowed)"
        a = self.connect(name="rv10_A")
        try:
            self.assertEqual(scalar(a, "SHOW max_prepared_transactions"), "10")
            query(a, """
                CREATE TABLE t10 (id int PRIMARY KEY, ts timestamptz NOT NULL, v text NOT NULL);
                INSERT INTO t10 SELECT i, now() - i * interval '1 minute', 'v' || i FROM generate_series(1, 100) i;
                SELECT tablecache.create_cache('c10', 'SELECT id, ts, v FROM t10', ARRAY['id'], maintain => 'manual');
                SELECT tablecache.create_index('c10', 'by_ts', ARRAY['ts']);
            """)
            mem0 = used_bytes(a)

            def prepare_refused(stmt, gid):
                query(a, "BEGIN")
                query(a, stmt)
                e = err(a, "PREPARE TRANSACTION %s", (gid,))
                end_txn(a)
                if e is None:
                    query(a, "ROLLBACK PREPARED %s", (gid,))
                self.assertIsNotNone(e, "%s: PREPARE TRANSACTION after `%s` succeeded" % (F, stmt))
                self.assertEqual(e[0], "0A000", "%s: PREPARE TRANSACTION after `%s` gave %s %s" % (F, stmt, e[0], e[1]))

            # create_index on an unloaded cache
            prepare_refused("SELECT tablecache.create_index('c10', 'by_v', ARRAY['v'])", "rv10_cix")
            self.assertEqual(scalar(a, "SELECT indexes FROM tablecache.caches WHERE name = 'c10'"), ["primary_key", "by_ts"])
            # clear_sliding_window without and with a sliding window
            prepare_refused("SELECT tablecache.clear_sliding_window('c10')", "rv10_clear0")
            query(a, "SELECT tablecache.set_sliding_window('c10', 'by_ts', '30 minutes', '1 hour')")
            prepare_refused("SELECT tablecache.clear_sliding_window('c10')", "rv10_clear1")
            query(a, "SELECT tablecache.clear_sliding_window('c10')")
            self.assertEqual(scalar(a, "SELECT count(*) FROM pg_prepared_xacts"), 0)
            query(a, "SELECT tablecache.drop_cache('c10')")
            self.assertEqual(used_bytes(a), mem0)
        finally:
            end_txn(a)
            a.close()


if __name__ == "__main__":
    unittest.main()
