"""Transactional behaviour of cache writers (issue 9 hardening, /tmp/hardening-spec.md):

1. uncommitted changes are never published into the shared cache by load/adjust/refresh/
   create_index/drop_index ("Wrong answers": the BEGIN; DELETE; load; ROLLBACK rule);
2. memory changes of load/adjust/unload/create_index/drop_index/drop_cache/
   set_sliding_window take effect at COMMIT, are undone at ROLLBACK (also ROLLBACK TO
   SAVEPOINT), and PREPARE TRANSACTION after them fails with 0A000 without leaking memory;
3. a refresh that cannot complete (region full, duplicate primary key) never fails a read;
4. ALTER TYPE <cache> fails, CREATE OR REPLACE VIEW <cache> gives the new query's rows;
5. writer/table-lock cycles end in 40P01 (or success), never a hang;
6. a writer is not starved by sessions committing invalidations continuously;
7. smaller items: trailing ';' / '-- comment', identifier folding of cache names,
   set_sliding_window with non-positive intervals (22023), triggers naming dropped caches or
   indexes, int8 trigger values for an int4 key.

Every assertion message starts with the spec item it checks ("spec 1: ..."). Every session
has a statement_timeout, so no test can hang: a hang shows up as 57014 in a message.
Items 2 (PREPARE) and 3 (region full) run on private servers (ports 55481 and 55482 beside
the suite's sessions server, sessions port + 5/+6 otherwise); the rest uses the module's
database on the sessions server, and drops its caches after every test (max_caches is 64).
TABLECACHE_TXN_VERBOSE=1 prints the outcome of each deadlock and starvation run.
"""
import os
import random
import threading
import time
import unittest

import psycopg2
import psycopg2.errors

import harness
import server_util
from harness import query, scalar
import inval_util as iu

GUARD_MS = 30000            # statement_timeout of ordinary sessions
DEADLOCK_TIMEOUT_MS = 200
DEADLOCK_GUARD_MS = 8000    # < deadlock_timeout + 10 s: a timeout here is a hang
# private servers: 55481/55482 beside the suite's sessions server (55435); beside any other
# sessions port P, P+5/P+6 (so that two runs with different sessions ports never share one)
_BASE_PRIV = 55481 if harness.PORT == 55435 else harness.PORT + 5
PREP_PORT = int(os.environ.get("TABLECACHE_TXN_PREP_PORT", str(_BASE_PRIV)))
SMALL_PORT = int(os.environ.get("TABLECACHE_TXN_SMALL_PORT", str(_BASE_PRIV + 1)))

CANARY = None
LOG = None
LOG0 = 0


def setUpModule():
    global CANARY, LOG, LOG0
    harness.setup_module_db(__name__)
    CANARY = session("canary")
    cand = os.path.join(harness.HOST, "server.log")
    if os.path.isfile(cand):
        LOG = cand
        LOG0 = os.path.getsize(cand)


def tearDownModule():
    if CANARY is not None:
        try:
            CANARY.close()
        except Exception:  # noqa: BLE001
            pass
    # free the shared memory now: a dropped database's caches are only reclaimed later by the
    # launcher, which would disturb the memory figures of the next module
    drop_all_caches()
    harness.teardown_module_db(__name__)


def drop_all_caches():
    """Drops every cache of the module's database (best effort)."""
    try:
        admin = session("cleanup")
    except psycopg2.Error:
        return
    try:
        for (name,) in query(admin, "SELECT name FROM tablecache.caches"):
            for arg in ('"%s"' % name.replace('"', '""'), name):
                try:
                    query(admin, "SELECT tablecache.drop_cache(%s)", (arg,))
                    break
                except psycopg2.Error:
                    pass
    except psycopg2.Error:
        pass
    finally:
        admin.close()


# ------------------------------------------------------------------------------------------
# helpers

def wait_server(timeout=60):
    """Waits until the sessions server accepts connections (after a crash restart)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            c = harness.connect(__name__)
            c.close()
            return
        except psycopg2.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)  # waiting for the postmaster's crash recovery


def session(name, timeout_ms=GUARD_MS, conn_factory=None):
    """A new autocommit session with a statement_timeout guard."""
    if conn_factory is None:
        wait_server()
        conn = harness.connect(__name__, application_name=name)
    else:
        conn = conn_factory(name)
    query(conn, "SET statement_timeout = %s", (timeout_ms,))
    return conn


def code_of(fn, *args):
    """Runs fn(*args); returns None or the SQLSTATE of the error it raised."""
    try:
        fn(*args)
        return None
    except psycopg2.Error as e:
        return e.pgcode or "connection lost: %s" % first_line(e)


def first_line(e):
    return (str(e).strip().splitlines() or [""])[0]


def err_of(conn, sql, params=None):
    """(SQLSTATE or None, first line of the message) of running sql."""
    try:
        query(conn, sql, params)
        return None, ""
    except psycopg2.Error as e:
        return e.pgcode or "connection lost", first_line(e)


def end_txn(conn, how="ROLLBACK"):
    try:
        query(conn, how)
    except psycopg2.Error:
        pass


def make_table(conn, p, n=100, trigger=True):
    """Table {p}_t(id int pk, grp int, ts timestamptz, v text): rows 1..n, grp = id % 10,
    ts = now() - id minutes, v = 'v<id>'; cache {p}_c over it with index by_grp; a row
    trigger invalidating the primary key (and by_grp) when `trigger`."""
    t, c = p + "_t", p + "_c"
    query(conn, "DROP TABLE IF EXISTS %s CASCADE" % t)
    query(conn, "CREATE TABLE %s (id int PRIMARY KEY, grp int NOT NULL, ts timestamptz NOT NULL, v text NOT NULL)" % t)
    query(conn, "INSERT INTO %s SELECT i, mod(i, 10), now() - i * interval '1 minute', 'v' || i "
                "FROM generate_series(1, %%s) i" % t, (n,))
    query(conn, "SELECT tablecache.create_cache(%s, %s, ARRAY['id'], maintain => 'manual')", (c, "SELECT id, grp, ts, v FROM %s" % t))
    query(conn, "SELECT tablecache.create_index(%s, 'by_grp', ARRAY['grp'])", (c,))
    if trigger:
        query(conn, """CREATE TRIGGER %s_pk AFTER INSERT OR UPDATE OR DELETE ON %s FOR EACH ROW
                       EXECUTE FUNCTION tablecache.invalidate_trigger('%s', 'primary_key', 'id')""" % (t, t, c))
        query(conn, """CREATE TRIGGER %s_grp AFTER INSERT OR UPDATE OR DELETE ON %s FOR EACH ROW
                       EXECUTE FUNCTION tablecache.invalidate_trigger('%s', 'by_grp', 'grp')""" % (t, t, c))
    return t, c


def get_row(conn, c, key, cols="id, grp, v"):
    row = query(conn, "SELECT %s FROM tablecache.get(NULL::%s, %%s)" % (cols, c), (key,))[0]
    return None if all(v is None for v in row) else row


def table_row(conn, t, key, cols="id, grp, v"):
    rows = query(conn, "SELECT %s FROM %s WHERE id = %%s" % (cols, t), (key,))
    return rows[0] if rows else None


def cache_range(conn, c, index="primary_key", ge=None, lt=None, cols="id, grp, v"):
    return query(conn, "SELECT %s FROM tablecache.range(NULL::%s, %%s, %%s, %%s)" % (cols, c), (index, ge, lt))


def table_range(conn, t, col="id", ge=None, lt=None, cols="id, grp, v"):
    conds = ["true"]
    params = []
    if ge is not None:
        conds.append("%s >= %%s" % col)
        params.append(ge)
    if lt is not None:
        conds.append("%s < %%s" % col)
        params.append(lt)
    order = "id" if col == "id" else "%s, id" % col
    return query(conn, "SELECT %s FROM %s WHERE %s ORDER BY %s" % (cols, t, " AND ".join(conds), order), params)


def state(conn, c):
    """What a rolled-back writer must leave unchanged: window, loaded, rows, indexes, bytes."""
    rows = query(conn, """SELECT window_index, window_ge, window_lt, loaded, rows, indexes, bytes
                            FROM tablecache.caches WHERE name = %s""", (c,))
    return rows[0] if rows else None


def used_bytes(conn):
    return scalar(conn, "SELECT used_bytes FROM tablecache.memory")


def hits_misses(conn, c):
    return tuple(query(conn, "SELECT hits, misses FROM tablecache.stats WHERE cache = %s", (c,))[0])


def counted(conn, c, fn):
    """(result of fn(), hits delta, misses delta) of cache c."""
    h0, m0 = hits_misses(conn, c)
    r = fn()
    h1, m1 = hits_misses(conn, c)
    return r, h1 - h0, m1 - m0


def listed(conn, c):
    return scalar(conn, "SELECT count(*) FROM tablecache.caches WHERE name = %s", (c,)) == 1


class Async(threading.Thread):
    """Runs one statement on conn in a thread; records rows, SQLSTATE and elapsed seconds."""

    def __init__(self, conn, sql, params=None):
        super().__init__(daemon=True)
        self.conn, self.sql, self.params = conn, sql, params
        self.rows = None
        self.code = None
        self.msg = ""
        self.elapsed = None
        self.start()

    def run(self):
        t0 = time.monotonic()
        try:
            self.rows = query(self.conn, self.sql, self.params)
        except psycopg2.Error as e:
            self.code = e.pgcode or "connection lost"
            self.msg = first_line(e)
        except BaseException as e:  # noqa: BLE001
            self.code = "python: %r" % e
        self.end = time.monotonic()
        self.elapsed = self.end - t0

    def wait(self, timeout):
        self.join(timeout)
        return not self.is_alive()


def wait_lock_wait(mon, conn, th, timeout=5.0):
    """Waits until the backend of conn waits on a heavyweight lock (or th finished)."""
    pid = conn.get_backend_pid()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not th.is_alive():
            return False
        if scalar(mon, "SELECT count(*) FROM pg_stat_activity WHERE pid = %s AND wait_event_type = 'Lock'", (pid,)):
            return True
        time.sleep(0.02)  # polling another backend's state
    return False


class Base(unittest.TestCase):
    maxDiff = None

    def setUp(self):
        self.conns = []
        self.a = self.new("A")
        self.b = self.new("B")

    def new(self, name, timeout_ms=GUARD_MS):
        c = session(name, timeout_ms)
        self.conns.append(c)
        return c

    def tearDown(self):
        for c in self.conns:
            try:
                if not c.closed:
                    end_txn(c)
                    c.close()
            except Exception:  # noqa: BLE001
                pass
        drop_all_caches()   # tablecache.max_caches is 64 on the sessions server

    def assertNoCrash(self, what):
        try:
            alive = scalar(CANARY, "SELECT 1") == 1
        except psycopg2.Error:
            alive = False
        log = ""
        if LOG is not None:
            with open(LOG, "rb") as f:
                f.seek(LOG0)
                log = f.read().decode("utf-8", "replace")
        crashes = [l for l in log.splitlines() if "terminated by signal" in l or "PANIC" in l]
        self.assertTrue(alive and not crashes, "%s: the server crashed (canary alive: %s): %s"
                        % (what, alive, crashes[:3]))


# ------------------------------------------------------------------------------------------
# 1. uncommitted changes are never published

class T1Uncommitted(Base):
    """spec 'Wrong answers': a load/adjust/refresh/create_index/drop_index in a transaction
    that changed a base table never puts those uncommitted rows where other sessions (or the
    same session after ROLLBACK) can read them."""

    def run_case(self, op, change, savepoint=False, trigger=True, ok_codes=()):
        """ok_codes: SQLSTATEs the op may fail with (e.g. refresh in the transaction that
        invalidated the cache); B's reads and the reads after the rollback must be right then too."""
        a, b = self.a, self.b
        if trigger and not ok_codes:
            # a writer call in the transaction that invalidated the cache may be refused as
            # "wrong state" (the spec does not require it to run); without a trigger it must run
            ok_codes = ("55000",)
        p = "u_%s_%s%s%s" % (op, change, "_sp" if savepoint else "", "" if trigger else "_nt")
        what = "spec 1 (%s after an uncommitted %s%s%s)" % (
            op, change, ", rolled back to a savepoint" if savepoint else "", ", no trigger" if not trigger else "")
        t, c = make_table(a, p, 100, trigger=trigger)
        if op == "drop_index":
            query(a, "SELECT tablecache.create_index(%s, 'by_v', ARRAY['v'])", (c,))
        if op == "adjust":
            query(a, "SELECT tablecache.load(%s, 'primary_key', 1, 40)", (c,))
        elif op != "load":
            query(a, "SELECT tablecache.load(%s)", (c,))
        committed42 = table_row(a, t, 42)
        committed_all = table_range(a, t)
        committed_mid = table_range(a, t, "id", 30, 60)

        query(a, "BEGIN")
        if savepoint:
            query(a, "SAVEPOINT s1")
        if change == "delete":
            query(a, "DELETE FROM %s WHERE id = 42" % t)
        else:
            query(a, "UPDATE %s SET v = 'uncommitted42', grp = 77 WHERE id = 42" % t)
        if op == "refresh":
            # a committed invalidation of key 42, so that A's refresh re-reads it
            query(b, "SELECT tablecache.invalidate(%s, 'primary_key', 42)", (c,))
        stmt = {
            "load": "SELECT tablecache.load(%s)",
            "adjust": "SELECT tablecache.adjust(%s, 'primary_key', 1, 60)",
            "refresh": "SELECT tablecache.refresh(%s)",
            "create_index": "SELECT tablecache.create_index(%s, 'by_v', ARRAY['v'])",
            "drop_index": "SELECT tablecache.drop_index(%s, 'by_v')",
        }[op]
        code, msg = err_of(a, stmt, (c,))
        if code not in ok_codes:
            self.assertIsNone(code, "%s: the %s itself failed: %s %s" % (what, op, code, msg))
        # A's transaction is open: B reads committed data only
        self.assertEqual(get_row(b, c, 42), committed42,
                         "%s: while A's transaction is open, B's get(42) must return the committed row" % what)
        self.assertEqual(cache_range(b, c, "primary_key", 30, 60), committed_mid,
                         "%s: while A's transaction is open, B's range [30, 60) must give the committed rows" % what)
        if trigger and code is None:
            own = None if change == "delete" else (42, 77, "uncommitted42")
            self.assertEqual(get_row(a, c, 42), own, "%s: A must read its own uncommitted change" % what)
        if savepoint and code is None:
            query(a, "ROLLBACK TO SAVEPOINT s1")
            self.assertEqual(get_row(a, c, 42), committed42,
                             "%s: after ROLLBACK TO SAVEPOINT, A's get(42) must return the committed row" % what)
            query(a, "COMMIT")
        else:
            query(a, "ROLLBACK")
        for name, conn in (("B", b), ("A", a)):
            for rnd in range(2):
                self.assertEqual(get_row(conn, c, 42), committed42,
                                 "%s: after the rollback, %s's get(42) (read %d) must return the row" % (what, name, rnd))
                self.assertEqual(cache_range(conn, c), committed_all,
                                 "%s: after the rollback, %s's full range must equal the table" % (what, name))
        self.assertEqual(cache_range(b, c, "by_grp", 2, 3), table_range(b, t, "grp", 2, 3),
                         "%s: after the rollback, range by_grp [2, 3) must equal the table" % what)

    def test_load_delete(self):
        self.run_case("load", "delete")

    def test_load_delete_no_trigger(self):
        self.run_case("load", "delete", trigger=False)

    def test_load_update(self):
        self.run_case("load", "update")

    def test_load_savepoint(self):
        self.run_case("load", "delete", savepoint=True)

    def test_adjust_delete(self):
        self.run_case("adjust", "delete")

    def test_adjust_update(self):
        self.run_case("adjust", "update")

    def test_adjust_savepoint(self):
        self.run_case("adjust", "update", savepoint=True)

    def test_refresh_delete(self):
        self.run_case("refresh", "delete", trigger=False)

    def test_refresh_update(self):
        self.run_case("refresh", "update", trigger=False)

    def test_refresh_update_trigger(self):
        # the current build refuses (55000) a refresh in the transaction that invalidated
        # the cache; either that or a refresh that publishes nothing uncommitted
        self.run_case("refresh", "update", ok_codes=("55000",))

    def test_refresh_savepoint(self):
        self.run_case("refresh", "delete", savepoint=True, trigger=False)

    def test_create_index_no_trigger(self):
        self.run_case("create_index", "delete", trigger=False)

    def test_drop_index_no_trigger(self):
        self.run_case("drop_index", "update", trigger=False)

    def test_adjust_no_trigger(self):
        self.run_case("adjust", "delete", trigger=False)

    def test_create_index_delete(self):
        self.run_case("create_index", "delete")

    def test_create_index_update(self):
        self.run_case("create_index", "update")

    def test_create_index_savepoint(self):
        self.run_case("create_index", "delete", savepoint=True)

    def test_drop_index_delete(self):
        self.run_case("drop_index", "delete")

    def test_drop_index_update(self):
        self.run_case("drop_index", "update")

    def test_committed_load_after_delete(self):
        """The committed version: BEGIN; DELETE 42 (trigger); load; COMMIT -> 42 is gone for
        everybody right after COMMIT, and the other rows are there."""
        a, b = self.a, self.b
        t, c = make_table(a, "u_commit", 100)
        query(a, "BEGIN")
        query(a, "DELETE FROM %s WHERE id = 42" % t)
        query(a, "SELECT tablecache.load(%s)" % "%s", (c,))
        query(a, "COMMIT")
        for name, conn in (("B", b), ("A", a)):
            self.assertIsNone(get_row(conn, c, 42), "spec 1/2: committed DELETE + load: %s still reads row 42" % name)
            self.assertEqual(cache_range(conn, c), table_range(conn, t),
                             "spec 1/2: committed DELETE + load: %s's full range differs from the table" % name)
        self.assertTrue(state(b, c)[3], "spec 2: a committed load must leave the cache loaded for other sessions")


# ------------------------------------------------------------------------------------------
# 2. memory changes take effect at COMMIT, are undone at ROLLBACK

class T2MemoryAtCommit(Base):

    def assert_hits(self, conn, c, key, what):
        (row, hits, misses) = counted(conn, c, lambda: get_row(conn, c, key))
        self.assertEqual(row, table_row(conn, c[:-2] + "_t", key), "%s: get(%s) wrong" % (what, key))
        self.assertEqual((hits, misses), (1, 0), "%s: get(%s) must be served from memory (hits, misses)" % (what, key))

    def test_rollback_drop_cache(self):
        a, b = self.a, self.b
        t, c = make_table(a, "m_drop", 100)
        query(a, "SELECT tablecache.load(%s)", (c,))
        st0, used0 = state(a, c), used_bytes(a)
        query(a, "BEGIN")
        query(a, "SELECT tablecache.drop_cache(%s)", (c,))
        query(a, "ROLLBACK")
        what = "spec 2 (rolled-back drop_cache)"
        for name, conn in (("B", b), ("A", a)):
            self.assertTrue(listed(conn, c), "%s: cache not listed for %s" % (what, name))
            self.assertEqual(state(conn, c), st0, "%s: window/loaded/rows changed for %s" % (what, name))
            self.assertEqual(cache_range(conn, c), table_range(conn, t), "%s: %s's range differs from the table" % (what, name))
            self.assert_hits(conn, c, 42, "%s, %s" % (what, name))
        self.assertLessEqual(used_bytes(a), used0, "%s: tablecache.memory used_bytes grew (a leak)" % what)

    def test_rollback_create_index(self):
        a, b = self.a, self.b
        t, c = make_table(a, "m_cix", 100)
        query(a, "SELECT tablecache.load(%s)", (c,))
        covers = "SELECT tablecache.covers(%s, 'primary_key'), tablecache.covers(%s, 'by_grp', 3, 5)"
        cov0 = query(a, covers, (c, c))[0]
        st0, used0 = state(a, c), used_bytes(a)
        for sp in (False, True):
            what = "spec 2 (rolled-back create_index%s)" % (" via ROLLBACK TO SAVEPOINT" if sp else "")
            query(a, "BEGIN")
            if sp:
                query(a, "SAVEPOINT s")
            query(a, "SELECT tablecache.create_index(%s, 'by_v', ARRAY['v'])", (c,))
            query(a, "ROLLBACK TO SAVEPOINT s; COMMIT" if sp else "ROLLBACK")
            for name, conn in (("B", b), ("A", a)):
                self.assertEqual(state(conn, c), st0, "%s: indexes/window/loaded changed for %s" % (what, name))
                self.assertNotIn("by_v", state(conn, c)[5], "%s: index by_v listed for %s" % (what, name))
                self.assertEqual(query(conn, covers, (c, c))[0], cov0, "%s: tablecache.covers changed for %s" % (what, name))
                self.assert_hits(conn, c, 42, "%s, %s" % (what, name))
                rows, hits, misses = counted(conn, c, lambda: cache_range(conn, c, "by_grp", 3, 5))
                self.assertEqual(rows, table_range(conn, t, "grp", 3, 5), "%s: range by_grp wrong for %s" % (what, name))
                self.assertEqual((hits, misses), (1, 0), "%s: range by_grp must hit for %s" % (what, name))
            self.assertLessEqual(used_bytes(a), used0, "%s: used_bytes grew (a leak)" % what)

    def test_rollback_drop_index(self):
        a, b = self.a, self.b
        t, c = make_table(a, "m_dix", 100)
        query(a, "SELECT tablecache.load(%s)", (c,))
        st0, used0 = state(a, c), used_bytes(a)
        what = "spec 2 (rolled-back drop_index)"
        query(a, "BEGIN")
        query(a, "SELECT tablecache.drop_index(%s, 'by_grp')", (c,))
        query(a, "ROLLBACK")
        self.assertEqual(state(b, c), st0, "%s: indexes/window/loaded changed" % what)
        rows, hits, misses = counted(b, c, lambda: cache_range(b, c, "by_grp", 3, 5))
        self.assertEqual(rows, table_range(b, t, "grp", 3, 5), "%s: range by_grp wrong" % what)
        self.assertEqual((hits, misses), (1, 0), "%s: range by_grp must hit" % what)
        self.assertLessEqual(used_bytes(a), used0, "%s: used_bytes grew (a leak)" % what)

    def window_case(self, op, sp):
        a, b = self.a, self.b
        p = "m_%s%s" % (op, "_sp" if sp else "")
        t, c = make_table(a, p, 100)
        if op != "load":
            query(a, "SELECT tablecache.load(%s, 'primary_key', 1, 50)", (c,))
        st0, used0 = state(a, c), used_bytes(a)
        stmt = {"load": "SELECT tablecache.load(%s, 'primary_key', 1, 50)",
                "adjust": "SELECT tablecache.adjust(%s, 'primary_key', 20, 80)",
                "adjust_by_grp": "SELECT tablecache.adjust(%s, 'by_grp', 2, 5)",
                "unload": "SELECT tablecache.unload(%s)"}[op]
        what = "spec 2 (rolled-back %s%s)" % (op, " via ROLLBACK TO SAVEPOINT" if sp else "")
        query(a, "BEGIN")
        if sp:
            query(a, "SAVEPOINT s")
        query(a, stmt, (c,))
        if sp:
            query(a, "ROLLBACK TO SAVEPOINT s")
            self.assertEqual(state(a, c), st0, "%s: inside the transaction, after ROLLBACK TO SAVEPOINT the window must be the old one" % what)
            query(a, "COMMIT")
        else:
            query(a, "ROLLBACK")
        for name, conn in (("B", b), ("A", a)):
            self.assertEqual(state(conn, c), st0, "%s: window/loaded/rows for %s must be the previous ones" % (what, name))
            self.assertEqual(cache_range(conn, c, "primary_key", 1, 50), table_range(conn, t, "id", 1, 50),
                             "%s: range wrong for %s" % (what, name))
            if op != "load":
                self.assert_hits(conn, c, 10, "%s, %s" % (what, name))
        self.assertLessEqual(used_bytes(a), used0, "%s: used_bytes grew (a leak)" % what)

    def test_rollback_load(self):
        self.window_case("load", False)

    def test_rollback_adjust(self):
        self.window_case("adjust", False)

    def test_rollback_adjust_other_index(self):
        self.window_case("adjust_by_grp", False)

    def test_rollback_unload(self):
        self.window_case("unload", False)

    def test_savepoint_load(self):
        self.window_case("load", True)

    def test_savepoint_adjust(self):
        self.window_case("adjust", True)

    def test_savepoint_unload(self):
        self.window_case("unload", True)

    def test_sliding_window_then_error(self):
        a, b = self.a, self.b
        t, c = make_table(a, "m_slide", 100)
        query(a, "SELECT tablecache.create_index(%s, 'by_ts', ARRAY['ts'])", (c,))
        query(a, "SELECT tablecache.load(%s)", (c,))
        st0, used0 = state(a, c), used_bytes(a)
        what = "spec 2 (set_sliding_window, then an error in the same transaction)"
        query(a, "BEGIN")
        query(a, "SELECT tablecache.set_sliding_window(%s, 'by_ts', '10 minutes', '1 second')", (c,))
        with self.assertRaises(psycopg2.errors.DivisionByZero):
            query(a, "SELECT 1 / 0")
        query(a, "ROLLBACK")
        self.assertEqual(state(b, c), st0, "%s: the window changed (a slide happened)" % what)
        self.assertLessEqual(used_bytes(b), used0, "%s: used_bytes grew (a leak)" % what)
        time.sleep(2.5)  # the worker's naptime (1 s) and the 'every' (1 s) twice over: no slide may come
        self.assertEqual(state(b, c), st0, "%s: the window changed later (the worker slid it)" % what)
        self.assertEqual(cache_range(b, c), table_range(b, t), "%s: reads wrong" % what)
        self.assert_hits(b, c, 90, what)

    def test_committed_take_effect(self):
        """The committed versions are visible to another session right after COMMIT."""
        a, b = self.a, self.b
        t, c = make_table(a, "m_com", 100)
        query(a, "SELECT tablecache.create_index(%s, 'by_ts', ARRAY['ts'])", (c,))

        def in_txn(stmt):
            query(a, "BEGIN")
            query(a, stmt, (c,))
            query(a, "COMMIT")

        in_txn("SELECT tablecache.load(%s, 'primary_key', 1, 50)")
        self.assertEqual(state(b, c)[:5], ("primary_key", "1", "50", True, 49), "spec 2: committed load not seen by B")
        self.assert_hits(b, c, 10, "spec 2: committed load")
        in_txn("SELECT tablecache.adjust(%s, 'primary_key', 20, 80)")
        self.assertEqual(state(b, c)[:5], ("primary_key", "20", "80", True, 60), "spec 2: committed adjust not seen by B")
        self.assert_hits(b, c, 70, "spec 2: committed adjust")
        in_txn("SELECT tablecache.adjust(%s, 'primary_key', NULL, NULL)")
        self.assertEqual(state(b, c)[:5], ("primary_key", None, None, True, 100), "spec 2: committed adjust to everything not seen by B")
        in_txn("SELECT tablecache.create_index(%s, 'by_v', ARRAY['v'])")
        self.assertIn("by_v", state(b, c)[5], "spec 2: committed create_index not listed for B")
        rows, hits, misses = counted(b, c, lambda: cache_range(b, c, "by_v", "v30", "v40"))
        self.assertEqual(rows, table_range(b, t, "v", "v30", "v40"), "spec 2: committed create_index: range by_v wrong")
        self.assertEqual((hits, misses), (1, 0), "spec 2: committed create_index: range by_v must hit")
        in_txn("SELECT tablecache.drop_index(%s, 'by_v')")
        self.assertNotIn("by_v", state(b, c)[5], "spec 2: committed drop_index still listed for B")
        self.assert_hits(b, c, 70, "spec 2: committed drop_index")
        in_txn("SELECT tablecache.unload(%s)")
        self.assertFalse(state(b, c)[3], "spec 2: committed unload: B still sees the cache loaded")
        self.assertEqual(get_row(b, c, 70), table_row(b, t, 70), "spec 2: committed unload: read wrong")
        in_txn("SELECT tablecache.set_sliding_window(%s, 'by_ts', '10 minutes', '1 minute')")
        deadline = time.monotonic() + 3
        while state(b, c)[0] != "by_ts" and time.monotonic() < deadline:
            time.sleep(0.05)  # in case the worker makes the first slide after the COMMIT
        st = state(b, c)
        self.assertEqual((st[0], st[3]), ("by_ts", True), "spec 2: committed set_sliding_window: B sees no by_ts window")
        self.assertEqual(st[4], scalar(b, "SELECT count(*) FROM %s WHERE ts >= now() - interval '10 minutes'" % t),
                         "spec 2: committed set_sliding_window: rows")
        query(a, "SELECT tablecache.clear_sliding_window(%s)", (c,))
        in_txn("SELECT tablecache.drop_cache(%s)")
        self.assertFalse(listed(b, c), "spec 2: committed drop_cache: B still lists the cache")


class T2Prepare(unittest.TestCase):
    """spec 2: PREPARE TRANSACTION after create_cache/load/adjust/drop_cache/create_index in
    the same transaction fails with 0A000, and nothing leaks."""
    srv = None

    @classmethod
    def setUpClass(cls):
        cls.srv = server_util.PrivateServer("txnprep%d" % PREP_PORT, PREP_PORT, memory="64MB",
                                            settings={"max_prepared_transactions": "10"})
        try:
            cls.srv.start()
            cls.srv.create_db("tc_prep")
        except BaseException:
            cls.srv.destroy()
            raise

    @classmethod
    def tearDownClass(cls):
        if cls.srv is not None:
            cls.srv.destroy()

    def setUp(self):
        self.a = session("A", conn_factory=lambda n: self.srv.connect("tc_prep", application_name=n))
        self.b = session("B", conn_factory=lambda n: self.srv.connect("tc_prep", application_name=n))
        self.assertEqual(scalar(self.a, "SHOW max_prepared_transactions"), "10")

    def tearDown(self):
        for gid in [r[0] for r in query(self.a, "SELECT gid FROM pg_prepared_xacts")]:
            query(self.a, "ROLLBACK PREPARED %s", (gid,))
        self.a.close()
        self.b.close()

    def prepare(self, gid):
        code, msg = err_of(self.a, "PREPARE TRANSACTION %s", (gid,))
        end_txn(self.a)
        if code is None:  # it was prepared: roll it back so that later tests start clean
            query(self.a, "ROLLBACK PREPARED %s", (gid,))
        return code, msg

    def table(self, p):
        return make_table(self.a, p, 200, trigger=False)

    def test_create_cache_load(self):
        a, b = self.a, self.b
        query(a, "CREATE TABLE pcc_t AS SELECT i AS id, 'v' || i AS v FROM generate_series(1, 2000) i")
        used0 = used_bytes(b)
        query(a, "BEGIN")
        query(a, "SELECT tablecache.create_cache('pcc_c', 'SELECT id, v FROM pcc_t', ARRAY['id'], maintain => 'manual')")
        query(a, "SELECT tablecache.load('pcc_c')")
        code, msg = self.prepare("tc_prep_1")
        self.assertEqual(code, "0A000", "spec 2: PREPARE after create_cache+load must fail with 0A000, got %s %s" % (code, msg))
        self.assertEqual(used_bytes(b), used0, "spec 2: PREPARE after create_cache+load: used_bytes not back")
        self.assertFalse(listed(b, "pcc_c"), "spec 2: PREPARE after create_cache+load: cache still listed")

    def existing_case(self, p, stmt, what):
        a, b = self.a, self.b
        t, c = self.table(p)
        query(a, "SELECT tablecache.load(%s, 'primary_key', 1, 100)", (c,))
        used0, st0 = used_bytes(b), state(b, c)
        query(a, "BEGIN")
        query(a, stmt, (c,))
        code, msg = self.prepare("tc_" + p)
        self.assertEqual(code, "0A000", "spec 2: PREPARE after %s must fail with 0A000, got %s %s" % (what, code, msg))
        self.assertEqual(used_bytes(b), used0, "spec 2: PREPARE after %s: used_bytes not back to %d" % (what, used0))
        self.assertEqual(state(b, c), st0, "spec 2: PREPARE after %s: the cache changed" % what)
        self.assertEqual(cache_range(b, c, "primary_key", 1, 100), table_range(b, t, "id", 1, 100),
                         "spec 2: PREPARE after %s: reads wrong" % what)

    def test_drop_cache(self):
        self.existing_case("pdrop", "SELECT tablecache.drop_cache(%s)", "drop_cache")

    def test_create_index(self):
        self.existing_case("pcix", "SELECT tablecache.create_index(%s, 'by_v', ARRAY['v'])", "create_index")

    def test_adjust(self):
        self.existing_case("padj", "SELECT tablecache.adjust(%s, 'primary_key', 50, 200)", "adjust")

    def test_unloaded_load(self):
        a, b = self.a, self.b
        t, c = self.table("pload")
        used0, st0 = used_bytes(b), state(b, c)
        query(a, "BEGIN")
        query(a, "SELECT tablecache.load(%s)", (c,))
        code, msg = self.prepare("tc_pload")
        self.assertEqual(code, "0A000", "spec 2: PREPARE after load must fail with 0A000, got %s %s" % (code, msg))
        self.assertEqual(used_bytes(b), used0, "spec 2: PREPARE after load: used_bytes not back")
        self.assertEqual(state(b, c), st0, "spec 2: PREPARE after load: the cache changed")

    # --- a transaction that only invalidated prepares; its invalidations follow it --------

    def auto_cache(self, p):
        a = self.a
        query(a, "DROP TABLE IF EXISTS %s_o, %s_c CASCADE" % (p, p))
        query(a, "CREATE TABLE %s_c (id int PRIMARY KEY, name text NOT NULL)" % p)
        query(a, "CREATE TABLE %s_o (id int PRIMARY KEY, cid int NOT NULL REFERENCES %s_c, v text NOT NULL)" % (p, p))
        query(a, "INSERT INTO %s_c SELECT i, 'c' || i FROM generate_series(1, 10) i" % p)
        query(a, "INSERT INTO %s_o SELECT i, 1 + i %% 10, 'v' || i FROM generate_series(1, 200) i" % p)
        c = p + "_x"
        query(a, "SELECT tablecache.create_cache(%s, %s, ARRAY['id'])",
              (c, "SELECT o.id, o.v, c.name FROM %s_o o JOIN %s_c c ON c.id = o.cid" % (p, p)))
        query(a, "SELECT tablecache.load(%s)", (c,))
        return c

    def read(self, conn, c, key):
        return query(conn, "SELECT v, name FROM tablecache.get(NULL::%s, %%s)" % c, (key,))[0]

    def test_prepared_writes_follow_commit_prepared(self):
        a, b = self.a, self.b
        c = self.auto_cache("p2pc")
        for finish, want in (("COMMIT PREPARED", ("changed", "renamed")), ("ROLLBACK PREPARED", ("v3", "c4"))):
            query(a, "UPDATE p2pc_o SET v = 'v3' WHERE id = 3; UPDATE p2pc_c SET name = 'c4' WHERE id = 4")
            self.assertEqual(self.read(b, c, 3), ("v3", "c4"))
            query(a, "BEGIN")
            query(a, "UPDATE p2pc_o SET v = 'changed' WHERE id = 3")
            query(a, "UPDATE p2pc_c SET name = 'renamed' WHERE id = 4")
            query(a, "PREPARE TRANSACTION 'p2pc'")
            # while prepared: the old rows, from memory (nobody can see the new ones yet), and
            # neither an explicit refresh nor a load of another window waits for it
            hm = hits_misses(b, c)
            self.assertEqual(self.read(b, c, 3), ("v3", "c4"), "prepared: the cache shows uncommitted rows")
            self.assertEqual(self.read(b, c, 13), ("v13", "c4"))
            self.assertEqual(hits_misses(b, c), (hm[0] + 2, hm[1]), "prepared: reads are not hits")
            query(b, "SET statement_timeout = '5s'")
            query(b, "SELECT tablecache.refresh(%s)", (c,))
            query(b, "SELECT tablecache.adjust(%s, 'primary_key', 1, 150)", (c,))
            query(b, "SELECT tablecache.adjust(%s, 'primary_key', NULL::int, NULL::int)", (c,))
            query(b, "RESET statement_timeout")
            self.assertEqual(self.read(b, c, 3), ("v3", "c4"))
            # finished by another session
            query(b, "%s 'p2pc'" % finish)
            self.assertEqual(self.read(b, c, 3), want, "after %s: the cache is stale" % finish)
            self.assertEqual(self.read(a, c, 13)[1], want[1], "after %s: a row built from the customer is stale" % finish)
            self.assertEqual(cache_range(b, c, cols="id, v, name"),
                             query(b, "SELECT o.id, o.v, c.name FROM p2pc_o o JOIN p2pc_c c ON c.id = o.cid ORDER BY 1"),
                             "after %s: the cache differs from its query" % finish)

    def test_prepared_before_a_restart(self):
        # what a prepared transaction recorded in memory is gone after a restart; the cache
        # loaded afterwards still follows its COMMIT PREPARED
        a = self.a
        c = self.auto_cache("p2rs")
        query(a, "BEGIN")
        query(a, "UPDATE p2rs_c SET name = 'renamed' WHERE id = 4")
        query(a, "PREPARE TRANSACTION 'p2rs'")
        self.a.close()
        self.b.close()
        self.srv.restart()
        self.setUp()
        a, b = self.a, self.b
        # loaded by autowarm, or now (waiting for autowarm if it is at work)
        code, msg = err_of(b, "SELECT tablecache.load(%s)", (c,))
        self.assertIn(code, (None, "55000"), msg)
        self.assertTrue(scalar(b, "SELECT loaded FROM tablecache.caches WHERE name = %s", (c,)))
        self.assertEqual(self.read(b, c, 13), ("v13", "c4"))
        query(a, "COMMIT PREPARED 'p2rs'")
        self.assertEqual(self.read(b, c, 13), ("v13", "renamed"), "after a restart, COMMIT PREPARED left the cache stale")
        self.assertEqual(self.read(b, c, 14), ("v14", "c5"))

    def test_prepared_before_a_crash_restart(self):
        # a backend killed: PostgreSQL sets shared memory up again (the postmaster's start
        # time stays); the prepared transaction's invalidations are gone with it
        a = self.a
        c = self.auto_cache("p2cr")
        query(a, "BEGIN")
        query(a, "UPDATE p2cr_c SET name = 'renamed' WHERE id = 4")
        query(a, "PREPARE TRANSACTION 'p2cr'")
        victim = self.srv.connect("tc_prep")
        pid = scalar(victim, "SELECT pg_backend_pid()")
        self.a.close()
        self.b.close()
        self.srv.kill_backend(pid)
        victim.close()
        self.srv.wait_ready()
        self.setUp()
        a, b = self.a, self.b
        code, msg = err_of(b, "SELECT tablecache.load(%s)", (c,))
        self.assertIn(code, (None, "55000"), msg)
        self.assertEqual(self.read(b, c, 13), ("v13", "c4"))
        query(a, "COMMIT PREPARED 'p2cr'")
        self.assertEqual(self.read(b, c, 13), ("v13", "renamed"), "after a crash restart, COMMIT PREPARED left the cache stale")


# ------------------------------------------------------------------------------------------
# 3. a refresh that cannot complete never fails a read

class T3RegionFull(unittest.TestCase):
    srv = None
    N = 30000

    @classmethod
    def setUpClass(cls):
        cls.srv = server_util.PrivateServer("txnsmall%d" % SMALL_PORT, SMALL_PORT, memory="16MB")
        try:
            cls.srv.start()
            cls.srv.create_db("tc_small")
        except BaseException:
            cls.srv.destroy()
            raise

    @classmethod
    def tearDownClass(cls):
        if cls.srv is not None:
            cls.srv.destroy()

    def test_refresh_does_not_fit(self):
        conn = session("A", conn_factory=lambda n: self.srv.connect("tc_small", application_name=n))
        other = session("B", conn_factory=lambda n: self.srv.connect("tc_small", application_name=n))
        try:
            query(conn, """CREATE TABLE big (id int PRIMARY KEY, g int NOT NULL, v text NOT NULL);
                           INSERT INTO big SELECT i, i %% 100, repeat(md5(i::text), 10)
                             FROM generate_series(1, %d) i;""" % self.N)
            query(conn, "SELECT tablecache.create_cache('bigc', 'SELECT id, g, v FROM big', ARRAY['id'], maintain => 'manual')")
            query(conn, "SELECT tablecache.create_index('bigc', 'by_g', ARRAY['g'])")
            query(conn, "SELECT tablecache.load('bigc')")
            total, used = query(conn, "SELECT total_bytes, used_bytes FROM tablecache.memory")[0]
            self.assertGreater(used, total // 2, "setup: the cache should use most of the region (%d of %d)" % (used, total))
            query(conn, """CREATE TRIGGER big_inval AFTER UPDATE ON big FOR EACH ROW
                           EXECUTE FUNCTION tablecache.invalidate_trigger('bigc', 'primary_key', 'id')""")
            # every row becomes ~4x longer: the refreshed window cannot fit in the region
            query(conn, "UPDATE big SET v = repeat(md5(id::text), 40)")
            cols = "id, g, md5(v)"
            rnd = random.Random(9)
            for i in range(4):
                for name, s in (("A", conn), ("B", other)):
                    k = rnd.randint(1, self.N)
                    code, msg = err_of(s, "SELECT 1 FROM tablecache.get(NULL::bigc, %s)", (k,))
                    self.assertIsNone(code, "spec 3 (region full): read %d by %s failed: %s %s" % (i, name, code, msg))
                    self.assertEqual(get_row(s, "bigc", k, cols), table_row(s, "big", k, cols),
                                     "spec 3 (region full): get(%d) (read %d by %s) is not the query's row" % (k, i, name))
                    self.assertEqual(cache_range(s, "bigc", "primary_key", k, k + 20, cols),
                                     table_range(s, "big", "id", k, k + 20, cols),
                                     "spec 3 (region full): range [%d, %d) wrong" % (k, k + 20))
                    self.assertEqual(scalar(s, "SELECT count(*) FROM tablecache.range(NULL::bigc, 'by_g', 7, 8)"),
                                     scalar(s, "SELECT count(*) FROM big WHERE g = 7"),
                                     "spec 3 (region full): range by_g [7, 8) count wrong")
        finally:
            conn.close()
            other.close()


class T3DuplicateKey(Base):
    def test_duplicate_after_invalidation(self):
        a, b = self.a, self.b
        query(a, """CREATE TABLE dk_o (id int PRIMARY KEY, k int NOT NULL, x text NOT NULL);
                    CREATE TABLE dk_m (k int NOT NULL, label text NOT NULL);
                    INSERT INTO dk_o SELECT i, i % 10, 'x' || i FROM generate_series(1, 100) i;
                    INSERT INTO dk_m SELECT i, 'label' || i FROM generate_series(0, 9) i;""")
        query(a, """SELECT tablecache.create_cache('dk_c',
                      'SELECT o.id, o.k, o.x, m.label FROM dk_o o JOIN dk_m m ON m.k = o.k', ARRAY['id'], maintain => 'manual')""")
        query(a, "SELECT tablecache.create_index('dk_c', 'by_k', ARRAY['k'])")
        query(a, "SELECT tablecache.load('dk_c')")
        query(a, """CREATE TRIGGER dk_m_inval AFTER INSERT OR UPDATE OR DELETE ON dk_m FOR EACH ROW
                    EXECUTE FUNCTION tablecache.invalidate_trigger('dk_c', 'by_k', 'k')""")
        query(a, "INSERT INTO dk_m VALUES (3, 'duplicate')")   # ids 3, 13, ... now appear twice
        q = "SELECT o.id, o.k, o.x, m.label FROM dk_o o JOIN dk_m m ON m.k = o.k"
        for i in range(3):
            for name, s in (("B", b), ("A", a)):
                for key in (1, 42, 99):
                    code, msg = err_of(s, "SELECT * FROM tablecache.get(NULL::dk_c, %s)", (key,))
                    self.assertIsNone(code, "spec 3 (duplicate key after invalidation): %s's get(%d) failed: %s %s"
                                      % (name, key, code, msg))
                    self.assertEqual(get_row(s, "dk_c", key, "id, k, x, label"),
                                     query(s, q + " WHERE o.id = %s", (key,))[0],
                                     "spec 3 (duplicate key): get(%d) wrong" % key)
                code, msg = err_of(s, "SELECT * FROM tablecache.range(NULL::dk_c, 'by_k', 5, 8)")
                self.assertIsNone(code, "spec 3 (duplicate key): range by_k [5, 8) failed: %s %s" % (code, msg))
                self.assertEqual(cache_range(s, "dk_c", "by_k", 5, 8, "id, k, x, label"),
                                 query(s, q + " WHERE o.k >= 5 AND o.k < 8 ORDER BY o.k, o.id"),
                                 "spec 3 (duplicate key): range by_k [5, 8) wrong")
        # removing the duplicate: everything right again
        query(a, "DELETE FROM dk_m WHERE label = 'duplicate'")
        self.assertEqual(cache_range(b, "dk_c", "primary_key", None, None, "id, k, x, label"),
                         query(b, q + " ORDER BY o.id"), "spec 3 (duplicate key): after removing it, range wrong")


# ------------------------------------------------------------------------------------------
# 4. the row type belongs to a view

class T4ViewDdl(Base):
    def alter_type_cases(self, prefix, variants):
        """Runs each ALTER TYPE on a fresh loaded cache; returns what went wrong."""
        a, b = self.a, self.b
        cols = "id, grp, ts, v"
        failures = []
        for i, (sql, may_succeed) in enumerate(variants):
            t, c = make_table(a, "%s%d" % (prefix, i), 100)
            query(a, "SELECT tablecache.load(%s)", (c,))
            sql = sql % c
            code, msg = err_of(a, sql)
            read_errors = []
            for name, conn in (("A", a), ("B", b)):
                try:
                    for rnd in range(2):
                        if get_row(conn, c, 42, "*") != table_row(conn, t, 42, cols):
                            read_errors.append("%s: get(42) wrong" % name)
                        if cache_range(conn, c, "by_grp", 2, 4, "*") != table_range(conn, t, "grp", 2, 4, cols):
                            read_errors.append("%s: range by_grp wrong" % name)
                        if cache_range(conn, c, "primary_key", None, None, "*") != table_range(conn, t, "id", None, None, cols):
                            read_errors.append("%s: full range wrong" % name)
                except psycopg2.Error as e:
                    read_errors.append("%s: read failed %s %s" % (name, e.pgcode, first_line(e)))
                    if conn.closed:
                        break
            self.assertNoCrash("spec 4 (%s)" % sql)
            if code is None and not may_succeed:
                failures.append("%r succeeded" % sql)
            if read_errors:
                failures.append("%r (%s): %s" % (sql, "succeeded" if code is None else "failed %s" % code, read_errors))
        return failures

    def test_alter_type_fails(self):
        """ALTER TYPE <cache> ... changing the row type fails; reads stay right, no crash."""
        failures = self.alter_type_cases("at", [
            ("ALTER TYPE %s ALTER ATTRIBUTE grp TYPE bigint", False),
            ("ALTER TYPE %s ALTER ATTRIBUTE v TYPE varchar(2)", False),
            ("ALTER TYPE %s ALTER ATTRIBUTE ts TYPE date", False),
            ("ALTER TYPE %s ADD ATTRIBUTE extra int", False),
            ("ALTER TYPE %s DROP ATTRIBUTE v", False),
        ])
        self.assertEqual(failures, [], "spec 4: ALTER TYPE <cache> must fail and reads keep working")

    def test_alter_type_rename_attribute(self):
        """RENAME ATTRIBUTE is PostgreSQL's own way to rename a view column (it works on any
        view), so it may succeed; the spec says ALTER TYPE <cache> fails. Either way the reads
        (by position) must stay right, also through an index on the renamed column."""
        failures = self.alter_type_cases("ar", [
            ("ALTER TYPE %s RENAME ATTRIBUTE v TO w", True),
            ("ALTER TYPE %s RENAME ATTRIBUTE grp TO g2", True),
        ])
        self.assertEqual(failures, [], "spec 4: ALTER TYPE <cache> RENAME ATTRIBUTE must fail or leave the reads right")

    def test_create_or_replace_view(self):
        a, b = self.a, self.b
        t, c = make_table(a, "crv", 100)
        query(a, "SELECT tablecache.load(%s)", (c,))
        self.assertEqual(get_row(b, c, 41), table_row(b, t, 41))
        code, msg = err_of(a, "CREATE OR REPLACE VIEW %s AS SELECT id, grp, ts, upper(v) AS v FROM %s WHERE id %% 2 = 0" % (c, t))
        self.assertIsNone(code, "spec 4: CREATE OR REPLACE VIEW <cache> (same columns) must work: %s %s" % (code, msg))
        newq = "SELECT id, grp, upper(v) AS v FROM %s WHERE id %% 2 = 0" % t
        for name, conn in (("B", b), ("A", a)):
            for rnd in range(2):
                self.assertEqual(get_row(conn, c, 42), (42, 2, "V42"),
                                 "spec 4: after CREATE OR REPLACE VIEW, %s's get(42) must give the new query's row" % name)
                self.assertIsNone(get_row(conn, c, 41),
                                  "spec 4: after CREATE OR REPLACE VIEW, %s's get(41) must be NULL (filtered out)" % name)
                self.assertEqual(cache_range(conn, c), query(conn, newq + " ORDER BY id"),
                                 "spec 4: after CREATE OR REPLACE VIEW, %s's range must be the new query's rows" % name)
                self.assertEqual(cache_range(conn, c, "by_grp", 2, 3), query(conn, newq + " AND grp = 2 ORDER BY id"),
                                 "spec 4: after CREATE OR REPLACE VIEW, range by_grp wrong for %s" % name)
        # loading again uses the new query
        query(a, "SELECT tablecache.unload(%s)", (c,))
        query(a, "SELECT tablecache.load(%s)", (c,))
        self.assertEqual(cache_range(b, c), query(b, newq + " ORDER BY id"),
                         "spec 4: after CREATE OR REPLACE VIEW and a new load, range wrong")
        self.assertNoCrash("spec 4 (CREATE OR REPLACE VIEW)")


# ------------------------------------------------------------------------------------------
# 5. deadlock cycles through cache writers

class T5Deadlock(Base):
    """A holds ACCESS EXCLUSIVE on the base table; B holds the cache's writer role and needs
    the table; A then calls a writer function on the cache. Both must end (40P01 in one, or
    success) within deadlock_timeout + a few seconds."""

    def setUp(self):
        super().setUp()
        self.mon = self.new("monitor")
        self.c_ = self.new("C")
        for s in (self.a, self.b):
            query(s, "SET deadlock_timeout = %s", ("%dms" % DEADLOCK_TIMEOUT_MS,))
            query(s, "SET statement_timeout = %s", (DEADLOCK_GUARD_MS,))

    A_OPS = {
        "adjust": "SELECT tablecache.adjust(%s, 'primary_key', 1, 90)",
        "refresh": "SELECT tablecache.refresh(%s)",
        "drop_cache": "SELECT tablecache.drop_cache(%s)",
        "create_index": "SELECT tablecache.create_index(%s, 'by_v', ARRAY['v'])",
    }

    def cycle(self, mode, a_op):
        a, b, c3, mon = self.a, self.b, self.c_, self.mon
        p = "dl_%s_%s" % (mode, a_op)
        what = "spec 5 (B %s, A %s)" % (mode, a_op)
        t, c = make_table(c3, p, 100)
        query(c3, "CREATE TABLE %s_x (id int)" % p)
        query(c3, "SELECT tablecache.load(%s, 'primary_key', 1, 50)", (c,))
        # both sessions have used the cache before (as an application's sessions would)
        for s in (a, b):
            self.assertEqual(get_row(s, c, 1), table_row(s, t, 1))
        if mode == "open_txn_table":
            # B holds the writer role (it adjusted in its open transaction), then needs a
            # table A has locked
            query(b, "BEGIN")
            query(b, "SELECT tablecache.adjust(%s, 'primary_key', 1, 70)", (c,))
            query(a, "BEGIN")
            query(a, "LOCK TABLE %s_x IN ACCESS EXCLUSIVE MODE" % p)
            b_sql = "SELECT count(*) FROM %s_x" % p
        elif mode == "open_txn_row":
            # the same with a row lock of the base table
            query(a, "BEGIN")
            query(a, "SELECT 1 FROM %s WHERE id = 1 FOR UPDATE" % t)
            query(b, "BEGIN")
            query(b, "SELECT tablecache.adjust(%s, 'primary_key', 1, 70)", (c,))
            b_sql = "UPDATE %s SET v = 'by B' WHERE id = 1" % t
        elif mode == "adjusting":
            # B is mid-adjust (the writer) and waits for A's table lock
            query(a, "BEGIN")
            query(a, "LOCK TABLE %s IN ACCESS EXCLUSIVE MODE" % t)
            query(b, "BEGIN")
            b_sql = "SELECT tablecache.adjust('%s', 'primary_key', 1, 70)" % c
        elif mode == "reader_refreshing":
            # B is a reader whose refresh waits for A's table lock
            query(c3, "SELECT tablecache.invalidate(%s, 'primary_key', 5)", (c,))
            query(a, "BEGIN")
            query(a, "LOCK TABLE %s IN ACCESS EXCLUSIVE MODE" % t)
            b_sql = "SELECT v FROM tablecache.get(NULL::%s, 5)" % c
        else:
            raise AssertionError(mode)
        bt = Async(b, b_sql)
        blocked = wait_lock_wait(mon, b, bt)
        if a_op == "refresh":
            query(c3, "SELECT tablecache.invalidate(%s, 'primary_key', 7)", (c,))   # something to refresh
        t0 = time.monotonic()
        bt.t0 = t0
        a_code, a_msg = err_of(a, self.A_OPS[a_op], (c,))
        a_elapsed = time.monotonic() - t0
        end_txn(a, "ROLLBACK" if a_code else "COMMIT")
        finished = bt.wait(DEADLOCK_GUARD_MS / 1000.0 + 5)
        end_txn(b, "ROLLBACK" if bt.code else "COMMIT")
        self.assertTrue(finished, "%s: B's statement did not finish after A's transaction ended (hang)" % what)
        b_after = bt.end - t0
        outcome = "A: %s %s (%.1fs); B: %s %s (ended %.1fs after A started); B was waiting on a lock: %s" % (
            a_code, a_msg, a_elapsed, bt.code, bt.msg, b_after, blocked)
        if os.environ.get("TABLECACHE_TXN_VERBOSE"):
            print("\n    %s: %s" % (what, outcome))
        self.assertNotEqual(a_code, "57014", "%s: A hung until statement_timeout: %s" % (what, outcome))
        self.assertNotEqual(bt.code, "57014", "%s: B hung until statement_timeout: %s" % (what, outcome))
        self.assertIn(a_code, (None, "40P01"), "%s: A must succeed or get 40P01: %s" % (what, outcome))
        self.assertIn(bt.code, (None, "40P01"), "%s: B must succeed or get 40P01: %s" % (what, outcome))
        limit = DEADLOCK_GUARD_MS / 1000.0 - 1   # deadlock_timeout + a few seconds
        self.assertLess(a_elapsed, limit, "%s: A's call took too long (a hang ended by the other's timeout): %s" % (what, outcome))
        self.assertLess(b_after, limit, "%s: B's statement took too long: %s" % (what, outcome))
        # and the cache is still right afterwards (when it still exists)
        if listed(mon, c):
            self.assertEqual(cache_range(mon, c), table_range(mon, t), "%s: reads wrong afterwards" % what)

    def test_open_txn_table_adjust(self):
        self.cycle("open_txn_table", "adjust")

    def test_open_txn_table_refresh(self):
        self.cycle("open_txn_table", "refresh")

    def test_open_txn_table_drop_cache(self):
        self.cycle("open_txn_table", "drop_cache")

    def test_open_txn_table_create_index(self):
        self.cycle("open_txn_table", "create_index")

    def test_open_txn_row_adjust(self):
        self.cycle("open_txn_row", "adjust")

    def test_open_txn_row_refresh(self):
        self.cycle("open_txn_row", "refresh")

    def test_open_txn_row_drop_cache(self):
        self.cycle("open_txn_row", "drop_cache")

    def test_open_txn_row_create_index(self):
        self.cycle("open_txn_row", "create_index")

    def test_adjusting_adjust(self):
        self.cycle("adjusting", "adjust")

    def test_adjusting_refresh(self):
        self.cycle("adjusting", "refresh")

    def test_adjusting_drop_cache(self):
        self.cycle("adjusting", "drop_cache")

    def test_adjusting_create_index(self):
        self.cycle("adjusting", "create_index")

    def test_reader_refresh_refresh(self):
        self.cycle("reader_refreshing", "refresh")

    def test_reader_refresh_adjust(self):
        self.cycle("reader_refreshing", "adjust")


# ------------------------------------------------------------------------------------------
# 6. no writer starvation

class T6Starvation(Base):
    HAMMER_SECONDS = 8.0

    def test_writer_completes_under_invalidation_load(self):
        """Three sessions commit invalidations in server-side loops (a procedure that
        COMMITs after every statement: two through the row trigger, one through
        tablecache.invalidate), a fourth reads (and so refreshes), while a fifth runs
        refresh and adjust."""
        a = self.a
        t, c = make_table(a, "st", 1000)
        query(a, "SELECT tablecache.load(%s)", (c,))
        query(a, """CREATE PROCEDURE st_hammer(kind int, secs float8, INOUT n int DEFAULT 0)
                    LANGUAGE plpgsql AS $$
                    DECLARE deadline timestamptz := clock_timestamp() + make_interval(secs => secs); k int;
                    BEGIN
                      LOOP
                        k := 1 + floor(random() * 1000)::int;
                        IF kind = 3 THEN
                          PERFORM * FROM tablecache.get(NULL::st_c, k);   -- a reader (refreshes)
                        ELSIF kind = 2 THEN
                          PERFORM tablecache.invalidate('st_c', 'primary_key', k);
                        ELSE
                          UPDATE st_t SET v = 'h' || kind || '_' || n WHERE id = k;
                        END IF;
                        COMMIT;
                        n := n + 1;
                        EXIT WHEN clock_timestamp() > deadline;
                      END LOOP;
                    END $$""")
        hammers = []
        for i in range(4):
            s = self.new("hammer%d" % i)
            hammers.append(Async(s, "CALL st_hammer(%s, %s)", (i, self.HAMMER_SECONDS)))
        time.sleep(0.5)  # let the committers get going
        query(a, "SET statement_timeout = 20000")
        timings = []
        try:
            for label, sql in (("refresh", "SELECT tablecache.refresh(%s)"),
                               ("adjust", "SELECT tablecache.adjust(%s, 'primary_key', 1, 900)"),
                               ("refresh", "SELECT tablecache.refresh(%s)"),
                               ("adjust", "SELECT tablecache.adjust(%s, 'primary_key', NULL, NULL)")):
                t0 = time.monotonic()
                code, msg = err_of(a, sql, (c,))
                dt = time.monotonic() - t0
                busy = sum(1 for h in hammers if h.is_alive())
                timings.append("%s %.2fs (%d committers still running)" % (label, dt, busy))
                self.assertIsNone(code, "spec 6: %s under continuous invalidations failed: %s %s (%s)" % (label, code, msg, timings))
                self.assertLess(dt, 4.0, "spec 6: %s took too long under continuous invalidations: %s" % (label, timings))
                self.assertGreater(busy, 0, "setup: the committers stopped before the writers ran: %s" % timings)
        finally:
            for h in hammers:
                h.wait(self.HAMMER_SECONDS + 20)
        if os.environ.get("TABLECACHE_TXN_VERBOSE"):
            print("\n    spec 6: %s; commits %s" % (timings, [h.rows for h in hammers]))
        for h in hammers:
            self.assertIsNone(h.code, "spec 6: a committing session failed: %s %s" % (h.code, h.msg))
            self.assertGreater(h.rows[0][0], 100, "setup: a committing session made too few commits: %s" % h.rows)
        self.assertEqual(cache_range(a, c), table_range(a, t), "spec 6: reads wrong after the load")


# ------------------------------------------------------------------------------------------
# 7. smaller items

class T7Smaller(Base):
    def test_query_endings(self):
        a, b = self.a, self.b
        query(a, "CREATE TABLE qe_t AS SELECT i AS id, 'v' || i AS v FROM generate_series(1, 50) i")
        for name, q in (("semicolon", "SELECT id, v FROM qe_t;"),
                        ("semicolon_ws", "SELECT id, v FROM qe_t ;  \n"),
                        ("comment", "SELECT id, v FROM qe_t -- a trailing comment"),
                        ("comment_newline", "SELECT id, v FROM qe_t -- a trailing comment\n")):
            c = "qe_" + name
            what = "spec 7 (query ending in %r)" % q[-12:]
            code, msg = err_of(a, "SELECT tablecache.create_cache(%s, %s, ARRAY['id'], maintain => 'manual')", (c, q))
            self.assertIsNone(code, "%s: create_cache failed: %s %s" % (what, code, msg))
            for phase in ("unloaded", "partly loaded", "loaded"):
                if phase == "partly loaded":
                    code, msg = err_of(a, "SELECT tablecache.load(%s, 'primary_key', 10, 20)", (c,))
                    self.assertIsNone(code, "%s: load failed: %s %s" % (what, code, msg))
                elif phase == "loaded":
                    code, msg = err_of(a, "SELECT tablecache.adjust(%s, 'primary_key', NULL, NULL)", (c,))
                    self.assertIsNone(code, "%s: adjust failed: %s %s" % (what, code, msg))
                for key in (5, 15):
                    code, msg = err_of(b, "SELECT * FROM tablecache.get(NULL::%s, %%s)" % c, (key,))
                    self.assertIsNone(code, "%s, %s: get(%d) failed: %s %s" % (what, phase, key, code, msg))
                    self.assertEqual(get_row(b, c, key, "id, v"), (key, "v%d" % key), "%s, %s: get wrong" % (what, phase))
                code, msg = err_of(b, "SELECT * FROM tablecache.range(NULL::%s, 'primary_key', 5, 25)" % c)
                self.assertIsNone(code, "%s, %s: range failed: %s %s" % (what, phase, code, msg))
                self.assertEqual(cache_range(b, c, "primary_key", 5, 25, "id, v"), [(i, "v%d" % i) for i in range(5, 25)],
                                 "%s, %s: range wrong" % (what, phase))

    def test_cache_name_folding(self):
        a, b = self.a, self.b
        query(a, "CREATE TABLE nf_t AS SELECT i AS id, 'lower' || i AS v FROM generate_series(1, 20) i")
        query(a, "CREATE TABLE nf_u AS SELECT i AS id, 'UPPER' || i AS v FROM generate_series(1, 20) i")
        code, msg = err_of(a, "SELECT tablecache.create_cache('MyCache', 'SELECT id, v FROM nf_t', ARRAY['id'], maintain => 'manual')")
        self.assertIsNone(code, "spec 7: create_cache('MyCache') failed: %s %s" % (code, msg))
        self.assertTrue(listed(a, "mycache"), "spec 7: create_cache('MyCache') must create the cache mycache: %s"
                        % query(a, "SELECT name FROM tablecache.caches ORDER BY 1"))
        code, msg = err_of(b, "SELECT * FROM tablecache.get(NULL::MyCache, 3)")
        self.assertIsNone(code, "spec 7: NULL::MyCache must name the cache: %s %s" % (code, msg))
        self.assertEqual(get_row(b, "MyCache", 3, "id, v"), (3, "lower3"), "spec 7: NULL::MyCache read wrong")
        code, msg = err_of(a, "SELECT tablecache.load('MyCache')")
        self.assertIsNone(code, "spec 7: load('MyCache') failed: %s %s" % (code, msg))
        self.assertTrue(state(a, "mycache")[3], "spec 7: load('MyCache') did not load mycache")
        query(a, "SELECT tablecache.unload('mycache')")
        code, msg = err_of(a, "SELECT tablecache.load('mycache')")
        self.assertIsNone(code, "spec 7: load('mycache') failed: %s %s" % (code, msg))
        self.assertEqual(err_of(a, "SELECT tablecache.load('MYCACHE')")[0], "55000",
                         "spec 7: load('MYCACHE') must name the loaded cache mycache (55000 already loaded)")
        # the quoted name is another, case-sensitive cache
        code, msg = err_of(a, """SELECT tablecache.create_cache('"MyCache"', 'SELECT id, v FROM nf_u', ARRAY['id'], maintain => 'manual')""")
        self.assertIsNone(code, "spec 7: create_cache('\"MyCache\"') must create a second cache: %s %s" % (code, msg))
        code, msg = err_of(a, """SELECT tablecache.load('"MyCache"')""")
        self.assertIsNone(code, "spec 7: load('\"MyCache\"') failed: %s %s" % (code, msg))
        self.assertEqual(get_row(b, '"MyCache"', 3, "id, v"), (3, "UPPER3"), 'spec 7: NULL::"MyCache" must read its own rows')
        self.assertEqual(get_row(b, "MyCache", 3, "id, v"), (3, "lower3"), "spec 7: NULL::MyCache must still read mycache")
        self.assertEqual(get_row(b, "mycache", 4, "id, v"), (4, "lower4"), "spec 7: NULL::mycache read wrong")
        query(a, "SELECT tablecache.drop_cache('\"MyCache\"')")
        self.assertEqual(get_row(b, "MyCache", 3, "id, v"), (3, "lower3"),
                         "spec 7: dropping \"MyCache\" must leave mycache")

    def test_sliding_window_non_positive(self):
        a = self.a
        t, c = make_table(a, "sw", 20)
        query(a, "SELECT tablecache.create_index(%s, 'by_ts', ARRAY['ts'])", (c,))
        query(a, "SELECT tablecache.load(%s)", (c,))
        st0 = state(a, c)
        for length, every in (("-1 hour", "1 minute"), ("0 seconds", "1 minute"),
                              ("1 hour", "-1 hour"), ("1 hour", "0 seconds"), ("-1 hour", "0 seconds")):
            code, msg = err_of(a, "SELECT tablecache.set_sliding_window(%s, 'by_ts', %s, %s)", (c, length, every))
            self.assertEqual(code, "22023", "spec 7: set_sliding_window(length %r, every %r) must fail with 22023, got %s %s"
                             % (length, every, code, msg))
            self.assertEqual(state(a, c), st0, "spec 7: a refused set_sliding_window changed the window")

    def test_trigger_naming_missing_index(self):
        a, b = self.a, self.b
        t, c = make_table(a, "mi", 20)
        query(a, "SELECT tablecache.load(%s)", (c,))
        query(a, """CREATE TRIGGER mi_noix AFTER INSERT OR UPDATE OR DELETE ON %s FOR EACH ROW
                    EXECUTE FUNCTION tablecache.invalidate_trigger('%s', 'no_such_index', 'id')""" % (t, c))
        code, msg = err_of(b, "UPDATE %s SET v = 'x1' WHERE id = 1" % t)
        self.assertIsNone(code, "spec 7: a write with a trigger naming a missing index must succeed: %s %s" % (code, msg))
        self.assertEqual(cache_range(b, c), table_range(b, t), "spec 7: reads wrong after the write")

    def test_trigger_on_dropped_cache(self):
        a, b = self.a, self.b
        t, c = make_table(a, "dt", 20)
        query(a, "SELECT tablecache.load(%s)", (c,))
        query(a, "SELECT tablecache.drop_cache(%s)", (c,))
        for sql in ("INSERT INTO %s VALUES (100, 0, now(), 'new')" % t,
                    "UPDATE %s SET v = 'changed' WHERE id = 2" % t,
                    "DELETE FROM %s WHERE id = 3" % t,
                    "BEGIN; UPDATE %s SET v = 'txn' WHERE id = 4; COMMIT" % t):
            code, msg = err_of(b, sql)
            end_txn(b)
            self.assertIsNone(code, "spec 7: after drop_cache, %r on a table whose trigger names the dropped cache must succeed: %s %s"
                              % (sql, code, msg))
        self.assertEqual(scalar(b, "SELECT v FROM %s WHERE id = 4" % t), "txn", "spec 7: the write was not committed")
        # a new cache with the same name: the old trigger works for it again
        query(a, "SELECT tablecache.create_cache(%s, %s, ARRAY['id'], maintain => 'manual')", (c, "SELECT id, grp, ts, v FROM %s" % t))
        query(a, "SELECT tablecache.load(%s)", (c,))
        query(b, "UPDATE %s SET v = 'again' WHERE id = 5" % t)
        self.assertEqual(get_row(b, c, 5), (5, 5, "again"), "spec 7: the trigger must invalidate the re-created cache")

    def test_int8_trigger_into_int4_key(self):
        a, b = self.a, self.b
        query(a, """CREATE TABLE i8_base (id int PRIMARY KEY, v text NOT NULL);
                    CREATE TABLE i8_note (id bigint PRIMARY KEY, note text NOT NULL);
                    INSERT INTO i8_base SELECT i, 'v' || i FROM generate_series(1, 50) i;""")
        q = "SELECT b.id, b.v, n.note FROM i8_base b LEFT JOIN i8_note n ON n.id = b.id"
        query(a, "SELECT tablecache.create_cache('i8_c', %s, ARRAY['id'], maintain => 'manual')", (q,))
        query(a, "SELECT tablecache.load('i8_c')")
        query(a, """CREATE TRIGGER i8_inval AFTER INSERT OR UPDATE OR DELETE ON i8_note FOR EACH ROW
                    EXECUTE FUNCTION tablecache.invalidate_trigger('i8_c', 'primary_key', 'id')""")
        writes = ["INSERT INTO i8_note VALUES (5, 'five')",
                  "INSERT INTO i8_note VALUES (5000000000, 'big')",
                  "INSERT INTO i8_note VALUES (-5000000000, 'negative big')",
                  "INSERT INTO i8_note VALUES (2147483647, 'int4 max')",
                  "UPDATE i8_note SET id = 4294967301 WHERE id = 5",       # in range -> out of range
                  "UPDATE i8_note SET id = 7 WHERE id = 5000000000",       # out of range -> in range
                  "UPDATE i8_note SET note = 'seven' WHERE id = 7",
                  "DELETE FROM i8_note WHERE id IN (-5000000000, 4294967301)",
                  "INSERT INTO i8_note VALUES (9, 'nine'), (9000000000, 'huge')"]
        for sql in writes:
            code, msg = err_of(b, sql)
            self.assertIsNone(code, "spec 7 (int8 trigger value into an int4 key): %r must succeed: %s %s" % (sql, code, msg))
            for key in (5, 7, 9):
                self.assertEqual(get_row(a, "i8_c", key, "id, v, note"), query(a, q + " WHERE b.id = %s", (key,))[0],
                                 "spec 7 (int8 into int4 key): after %r, get(%d) is not exact" % (sql, key))
            self.assertEqual(cache_range(a, "i8_c", cols="id, v, note"), query(a, q + " ORDER BY b.id"),
                             "spec 7 (int8 into int4 key): after %r, the cache is not exact" % sql)


if __name__ == "__main__":
    unittest.main()
