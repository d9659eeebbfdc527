"""Restarts, autowarm, sliding windows, crashes (SIGKILL) and interrupted writers.

Runs on its own private server (scripts/server.sh NAME reliab, port sessions + 6 =
55441) with tablecache.worker_naptime = 200ms, started and destroyed by this module;
the shared sessions server is not touched.
"""
import os
import signal
import threading
import time
import unittest

import psycopg2

import harness
import server_util
from harness import query, scalar

SRV = None
DB = "tc_reliab"
BIG = 150000  # rows of the big table: a load takes seconds in a debug build

# Waits (inside the server, one statement) until `tablecache.progress` shows a writer of
# cache c (with pid p when given) that has done at least `done` rows; returns its pid, or
# NULL after `timeout` seconds.
WAIT_PROGRESS = """
CREATE FUNCTION wait_progress(c text, p int, done bigint, timeout float8) RETURNS int
LANGUAGE plpgsql AS $$
DECLARE found int; t0 timestamptz := clock_timestamp();
BEGIN
  LOOP
    SELECT pr.pid INTO found FROM tablecache.progress pr
     WHERE pr.cache = c AND (p IS NULL OR pr.pid = p) AND pr.rows_done >= done;
    IF found IS NOT NULL THEN RETURN found; END IF;
    IF clock_timestamp() - t0 > make_interval(secs => timeout) THEN RETURN NULL; END IF;
    PERFORM pg_sleep(0.002);
  END LOOP;
END $$;
-- waits until cond (a boolean query) is true; returns the seconds waited, NULL on timeout
CREATE FUNCTION wait_until(cond text, timeout float8) RETURNS float8
LANGUAGE plpgsql AS $$
DECLARE ok boolean; t0 timestamptz := clock_timestamp();
BEGIN
  LOOP
    EXECUTE cond INTO ok;
    IF ok THEN RETURN extract(epoch FROM clock_timestamp() - t0); END IF;
    IF clock_timestamp() - t0 > make_interval(secs => timeout) THEN RETURN NULL; END IF;
    PERFORM pg_sleep(0.02);
  END LOOP;
END $$;
"""


def setUpModule():
    global SRV
    SRV = server_util.PrivateServer(server_util.private_name("reliab", 6), server_util.private_port(6),
                                    memory="256MB", settings={"tablecache.worker_naptime": "200ms",
                                              # server.sh turns it off for speed; a crash would
                                              # then lose the last commits (recorded windows too)
                                              "synchronous_commit": "on",
                                              "log_min_messages": os.environ.get("TABLECACHE_RELIAB_LOG", "warning")})
    SRV.start()


def tearDownModule():
    if SRV is not None:
        SRV.destroy()


def fresh_db(name):
    SRV.create_db(name)
    conn = SRV.connect(name)
    query(conn, WAIT_PROGRESS)
    return conn


def make_big(conn, n=BIG):
    query(conn, """
        CREATE TABLE big (k bigint PRIMARY KEY, g int NOT NULL, v text NOT NULL);
        INSERT INTO big SELECT i, i %% 1000, 'value number ' || i || repeat('x', 40)
          FROM generate_series(1, %s) i;
        ANALYZE big;
    """ % n)
    query(conn, "SELECT tablecache.create_cache('bigc', 'SELECT k, g, v FROM big', ARRAY['k'], maintain => 'manual')")
    query(conn, "SELECT tablecache.create_index('bigc', 'by_g', ARRAY['g'])")


def fingerprint_cache(conn, cache, index, ge, lt, cols):
    """count and md5 of range(NULL::cache, index, ge, lt) in the order returned."""
    return query(conn, """SELECT count(*), md5(string_agg(ROW(%s)::text, '|' ORDER BY n))
                            FROM tablecache.range(NULL::%s, %%s, %%s, %%s) WITH ORDINALITY AS r(%s, n)"""
                 % (cols, cache, cols), (index, ge, lt))[0]


def stats(conn, cache):
    return query(conn, "SELECT hits, misses FROM tablecache.stats WHERE cache = %s", (cache,))[0]


def state(conn, cache):
    """What an interrupted writer must leave unchanged."""
    row = query(conn, """SELECT window_index, window_ge, window_lt, loaded, rows, bytes
                           FROM tablecache.caches WHERE name = %s""", (cache,))[0]
    used = scalar(conn, "SELECT used_bytes FROM tablecache.memory")
    return row, used


class RestartAutowarm(unittest.TestCase):
    def test_restart_autowarm_then_autowarm_off(self):
        conn = fresh_db("tc_rel_warm")
        try:
            make_big(conn)
            query(conn, "CREATE TABLE small (id int PRIMARY KEY, name text NOT NULL)")
            query(conn, "INSERT INTO small SELECT i, 'n' || i FROM generate_series(1, 3000) i")
            query(conn, "SELECT tablecache.create_cache('smallc', 'SELECT id, name FROM small', ARRAY['id'], maintain => 'manual')")
            self.assertEqual(scalar(conn, "SELECT tablecache.load('smallc', 'primary_key', 100, 2100)"), 2000)
            n_big = scalar(conn, "SELECT tablecache.load('bigc', 'by_g', 10, 900)")
            self.assertEqual(n_big, scalar(conn, "SELECT count(*) FROM big WHERE g >= 10 AND g < 900"))
        finally:
            conn.close()
        exp_small = None
        exp_big = None
        SRV.restart()
        t0 = time.monotonic()
        conn = SRV.connect("tc_rel_warm")
        try:
            exp_small = query(conn, """SELECT count(*), md5(string_agg(ROW(id, name)::text, '|' ORDER BY id))
                                         FROM small WHERE id >= 100 AND id < 2100""")[0]
            exp_big = query(conn, """SELECT count(*), md5(string_agg(ROW(k, g, v)::text, '|' ORDER BY g, k))
                                       FROM big WHERE g >= 10 AND g < 900""")[0]
            reads = 0
            seen_unloaded = False
            deadline = time.monotonic() + 90
            while True:
                loaded = dict(query(conn, "SELECT name, loaded FROM tablecache.caches"))
                seen_unloaded = seen_unloaded or not all(loaded.values())
                # correct whether it hits or not
                self.assertEqual(fingerprint_cache(conn, "smallc", "primary_key", 100, 2100, "id, name"), exp_small,
                                 "smallc read %d during warm-up" % reads)
                self.assertEqual(fingerprint_cache(conn, "bigc", "by_g", 10, 900, "k, g, v"), exp_big,
                                 "bigc read %d during warm-up" % reads)
                reads += 1
                if all(loaded.values()):
                    break
                if time.monotonic() > deadline:
                    self.fail("autowarm did not load both caches within 90s: %r\n%s" % (loaded, SRV.log_tail(20)))
                # a short wait for the background worker (one statement)
                query(conn, "SELECT pg_sleep(0.05)")
            print("\n    autowarm done %.1fs after the restart; %d reads during warm-up (saw unloaded: %s)"
                  % (time.monotonic() - t0, reads, seen_unloaded), end="")
            self.assertEqual(query(conn, "SELECT name, window_index, window_ge, window_lt, rows FROM tablecache.caches ORDER BY name"),
                             [("bigc", "by_g", "10", "900", n_big), ("smallc", "primary_key", "100", "2100", 2000)])
            # after warm-up: hits
            for cache, index, ge, lt, cols, exp in (("smallc", "primary_key", 100, 2100, "id, name", exp_small),
                                                    ("bigc", "by_g", 10, 900, "k, g, v", exp_big)):
                h0, m0 = stats(conn, cache)
                self.assertEqual(fingerprint_cache(conn, cache, index, ge, lt, cols), exp)
                h1, m1 = stats(conn, cache)
                self.assertEqual((h1 - h0, m1 - m0), (1, 0), "%s after warm-up: hits/misses" % cache)
        finally:
            conn.close()
        # autowarm = off: the caches stay unloaded after a restart
        SRV.alter_system("tablecache.autowarm", "off", restart=True)
        try:
            conn = SRV.connect("tc_rel_warm")
            try:
                self.assertEqual(scalar(conn, "SHOW tablecache.autowarm"), "off")
                # the worker took well under this to warm the caches when autowarm was on
                query(conn, "SELECT pg_sleep(3)")
                self.assertEqual(query(conn, "SELECT name, loaded, rows FROM tablecache.caches ORDER BY name"),
                                 [("bigc", False, 0), ("smallc", False, 0)])
                self.assertEqual(fingerprint_cache(conn, "smallc", "primary_key", 100, 2100, "id, name"), exp_small)
            finally:
                conn.close()
        finally:
            SRV.alter_system("tablecache.autowarm", None)
        admin = SRV.connect("postgres")
        query(admin, "DROP DATABASE tc_rel_warm WITH (FORCE)")
        admin.close()


class SlidingWindow(unittest.TestCase):
    def test_window_slides_and_matches_query(self):
        conn = fresh_db("tc_rel_slide")
        try:
            query(conn, """
                CREATE TABLE ev (id bigint PRIMARY KEY, ts timestamptz NOT NULL, v text NOT NULL);
                INSERT INTO ev SELECT i, now() - (i * interval '10 seconds') + interval '5 seconds', 'e' || i
                  FROM generate_series(1, 1080) i;   -- 3 hours of events, one every 10 s
                CREATE SEQUENCE ev_id START 100000;
            """)
            query(conn, "SELECT tablecache.create_cache('evc', 'SELECT id, ts, v FROM ev', ARRAY['id'], maintain => 'manual')")
            query(conn, "SELECT tablecache.create_index('evc', 'by_time', ARRAY['ts'])")
            query(conn, """CREATE TRIGGER ev_tc AFTER INSERT OR UPDATE OR DELETE ON ev FOR EACH ROW
                           EXECUTE FUNCTION tablecache.invalidate_trigger('evc', 'primary_key', 'id')""")
            rows = scalar(conn, "SELECT tablecache.set_sliding_window('evc', 'by_time', '1 hour', '200 ms')")
            self.assertTrue(340 <= rows <= 362, rows)
            ge0 = scalar(conn, "SELECT window_ge::timestamptz FROM tablecache.caches WHERE name = 'evc'")
            self.assertIsNotNone(ge0)
            # new events while the window slides
            for i in range(5):
                query(conn, "INSERT INTO ev VALUES (nextval('ev_id'), now(), 'new' || %s)", (i,))
                query(conn, "INSERT INTO ev VALUES (nextval('ev_id'), now() - interval '2 hours', 'old' || %s)", (i,))
            waited = scalar(conn, """SELECT wait_until(format(
                                       'SELECT window_ge::timestamptz > %%L FROM tablecache.caches WHERE name = ''evc''', %s::timestamptz), 20)""",
                            (ge0,))
            self.assertIsNotNone(waited, "window_ge did not advance within 20s:\n" + SRV.log_tail(20))
            ge1 = scalar(conn, "SELECT window_ge::timestamptz FROM tablecache.caches WHERE name = 'evc'")
            self.assertGreater(ge1, ge0)
            # reads while sliding: exact whether they hit or not
            for _ in range(10):
                got, exp = query(conn, """
                    WITH w AS (SELECT now() - interval '50 minutes' AS ge)
                    SELECT (SELECT md5(string_agg(ROW(id, ts, v)::text, '|' ORDER BY n))
                              FROM w, tablecache.range(NULL::evc, 'by_time', w.ge, NULL) WITH ORDINALITY r(id, ts, v, n)),
                           (SELECT md5(string_agg(ROW(id, ts, v)::text, '|' ORDER BY ts, id)) FROM w, ev WHERE ts >= w.ge)""")[0]
                self.assertEqual(got, exp)
                query(conn, "SELECT pg_sleep(0.05)")
            # stop sliding: the window stays; the cache holds exactly the window's rows
            query(conn, "SELECT tablecache.clear_sliding_window('evc')")
            query(conn, "SELECT pg_sleep(0.5)")  # a slide already under way finishes
            query(conn, "SELECT tablecache.refresh('evc')")
            ge, nrows = query(conn, "SELECT window_ge, rows FROM tablecache.caches WHERE name = 'evc'")[0]
            self.assertEqual(nrows, scalar(conn, "SELECT count(*) FROM ev WHERE ts >= %s::timestamptz", (ge,)))
            h0, m0 = stats(conn, "evc")
            got = query(conn, "SELECT id, ts, v FROM tablecache.range(NULL::evc, 'by_time', %s::timestamptz, NULL)", (ge,))
            exp = query(conn, "SELECT id, ts, v FROM ev WHERE ts >= %s::timestamptz ORDER BY ts, id", (ge,))
            h1, m1 = stats(conn, "evc")
            self.assertEqual(got, exp)
            self.assertEqual((h1 - h0, m1 - m0), (1, 0), "read of the window is a hit")
            self.assertEqual(len([r for r in got if r[2].startswith("new")]), 5)
            self.assertEqual(len([r for r in got if r[2].startswith("old")]), 0)
            print("\n    window_ge advanced %s -> %s (waited %.2fs)" % (ge0, ge1, waited), end="")
        finally:
            conn.close()
        admin = SRV.connect("postgres")
        query(admin, "DROP DATABASE tc_rel_slide WITH (FORCE)")
        admin.close()


class Interrupts(unittest.TestCase):
    """statement_timeout, pg_cancel_backend and pg_terminate_backend during writers."""

    @classmethod
    def setUpClass(cls):
        cls.conn = fresh_db("tc_rel_cancel")
        make_big(cls.conn)

    @classmethod
    def tearDownClass(cls):
        cls.conn.close()
        admin = SRV.connect("postgres")
        query(admin, "DROP DATABASE tc_rel_cancel WITH (FORCE)")
        admin.close()

    def setUp(self):
        self.w = SRV.connect("tc_rel_cancel", application_name="writer")
        self.wpid = scalar(self.w, "SELECT pg_backend_pid()")

    def tearDown(self):
        try:
            self.w.close()
        except psycopg2.Error:
            pass

    def run_interrupted(self, call, how, expect_code, prepare=None):
        """Runs `call` in the writer session, interrupts it `how` once it is running, and
        checks that it failed with expect_code and left the cache exactly as it was."""
        c = self.conn
        before = state(c, "bigc")
        win = before[0]
        fp_before = fingerprint_cache(c, "bigc", win[0], win[1], win[2], "k, g, v") if win[3] else None
        if prepare:
            query(c, prepare)
        result = {}

        def writer():
            try:
                if how == "timeout":
                    # short enough to fire inside the call in a release build too
                    query(self.w, "SET statement_timeout = '10ms'")
                result["rows"] = scalar(self.w, "SELECT " + call)
            except psycopg2.Error as e:
                result["error"] = e
            finally:
                if how == "timeout":
                    try:
                        query(self.w, "RESET statement_timeout")
                    except psycopg2.Error:
                        pass

        t = threading.Thread(target=writer, daemon=True)
        t.start()
        if how in ("cancel", "terminate"):
            pid = scalar(c, "SELECT wait_progress('bigc', %s, 1, 30)", (self.wpid,))
            self.assertEqual(pid, self.wpid, "%s: the writer never showed in tablecache.progress" % call)
            fn = "pg_cancel_backend" if how == "cancel" else "pg_terminate_backend"
            self.assertTrue(scalar(c, "SELECT %s(%%s)" % fn, (pid,)))
        t.join(60)
        self.assertFalse(t.is_alive(), "%s did not return" % call)
        err = result.get("error")
        self.assertIsNotNone(err, "%s (%s) was not interrupted: returned %r (make the table bigger)"
                             % (call, how, result.get("rows")))
        if expect_code is not None:
            self.assertEqual(err.pgcode, expect_code, "%s (%s): %s" % (call, how, err))
        if how == "terminate":
            # the backend is gone once pg_stat_activity no longer lists it
            self.assertIsNotNone(scalar(c, "SELECT wait_until(format('SELECT NOT EXISTS (SELECT 1 FROM pg_stat_activity WHERE pid = %%s)', %s), 20)",
                                        (self.wpid,)))
        self.assertEqual(query(c, "SELECT * FROM tablecache.progress"), [], "%s (%s): a loader is still shown" % (call, how))
        after = state(c, "bigc")
        self.assertEqual(after, before, "%s (%s): (window, loaded, rows, bytes), used_bytes changed" % (call, how))
        if win[3]:
            self.assertEqual(fingerprint_cache(c, "bigc", win[0], win[1], win[2], "k, g, v"), fp_before)
        print("\n    %-45s %-9s -> %s %s" % (call, how, err.pgcode, (err.diag.message_primary or "").strip()[:70]), end="")

    def test_1_load_interrupted(self):
        c = self.conn
        if scalar(c, "SELECT loaded FROM tablecache.caches WHERE name = 'bigc'"):
            query(c, "SELECT tablecache.unload('bigc')")
        self.run_interrupted("tablecache.load('bigc')", "timeout", "57014")
        self.run_interrupted("tablecache.load('bigc')", "cancel", "57014")
        self.run_interrupted("tablecache.load('bigc', 'by_g', 0, 900)", "terminate", None)
        # a new load works
        self.assertEqual(scalar(c, "SELECT tablecache.load('bigc', 'primary_key', 1, 1001)"), 1000)

    def test_2_adjust_interrupted(self):
        c = self.conn
        if scalar(c, "SELECT loaded FROM tablecache.caches WHERE name = 'bigc'"):
            query(c, "SELECT tablecache.unload('bigc')")
        self.assertEqual(scalar(c, "SELECT tablecache.load('bigc', 'primary_key', 1, 1001)"), 1000)
        self.run_interrupted("tablecache.adjust('bigc', 'primary_key', 500, NULL)", "timeout", "57014")
        self.run_interrupted("tablecache.adjust('bigc', 'primary_key', 500, NULL)", "cancel", "57014")
        self.run_interrupted("tablecache.adjust('bigc', 'by_g', 0, 900)", "terminate", None)
        self.assertEqual(scalar(c, "SELECT tablecache.adjust('bigc', 'primary_key', 501, 2001)"), 1000)
        self.assertEqual(query(c, "SELECT window_ge, window_lt, rows FROM tablecache.caches WHERE name = 'bigc'"),
                         [("501", "2001", 1500)])

    def test_3_refresh_interrupted(self):
        c = self.conn
        if scalar(c, "SELECT loaded FROM tablecache.caches WHERE name = 'bigc'"):
            query(c, "SELECT tablecache.unload('bigc')")
        n = scalar(c, "SELECT tablecache.load('bigc', 'primary_key', NULL, NULL)")
        self.assertEqual(n, BIG)
        # every row invalidated (committed) right before the call (a read refreshes them)
        inval = "SELECT tablecache.invalidate_range('bigc', 'primary_key', NULL::bigint, NULL::bigint)"
        self.run_interrupted("tablecache.refresh('bigc')", "timeout", "57014", prepare=inval)
        self.run_interrupted("tablecache.refresh('bigc')", "cancel", "57014", prepare=inval)
        query(c, inval)
        # a new adjust works (and applies the pending invalidations first)
        query(self.w, "SET statement_timeout = 0")
        self.assertEqual(scalar(c, "SELECT tablecache.adjust('bigc', 'primary_key', 1, 1001)"), 0)
        self.assertEqual(query(c, "SELECT window_ge, window_lt, rows FROM tablecache.caches WHERE name = 'bigc'"),
                         [("1", "1001", 1000)])
        exp = query(c, "SELECT count(*), md5(string_agg(ROW(k, g, v)::text, '|' ORDER BY k)) FROM big WHERE k < 1001")[0]
        self.assertEqual(fingerprint_cache(c, "bigc", "primary_key", 1, 1001, "k, g, v"), exp)


class Crash(unittest.TestCase):
    """SIGKILL of a backend while another one loads: the postmaster resets shared memory."""

    def crash_during_load(self, victim):
        conn = fresh_db("tc_rel_crash")
        try:
            make_big(conn)
            query(conn, "CREATE TABLE small (id int PRIMARY KEY, name text NOT NULL)")
            query(conn, "INSERT INTO small SELECT i, 'n' || i FROM generate_series(1, 3000) i")
            query(conn, "SELECT tablecache.create_cache('smallc', 'SELECT id, name FROM small', ARRAY['id'], maintain => 'manual')")
            self.assertEqual(scalar(conn, "SELECT tablecache.load('smallc', 'primary_key', 1, 1001)"), 1000)
            query(conn, "SELECT wait_progress('x', NULL, 0, 0)")  # compile
            loader = SRV.connect("tc_rel_crash", application_name="loader")
            idle = SRV.connect("tc_rel_crash", application_name="idle")
            lpid = scalar(loader, "SELECT pg_backend_pid()")
            ipid = scalar(idle, "SELECT pg_backend_pid()")
            result = {}

            def load():
                try:
                    result["rows"] = scalar(loader, "SELECT tablecache.load('bigc')")
                except psycopg2.Error as e:
                    result["error"] = e

            t = threading.Thread(target=load, daemon=True)
            t.start()
            self.assertEqual(scalar(conn, "SELECT wait_progress('bigc', %s, 1000, 30)", (lpid,)), lpid)
            log0 = SRV.log_size()
            SRV.kill_backend(lpid if victim == "loader" else ipid, signal.SIGKILL)
            t.join(60)
            self.assertFalse(t.is_alive())
            self.assertIn("error", result, "the load survived a crash restart?! %r" % result)
            for c in (conn, loader, idle):
                try:
                    c.close()
                except psycopg2.Error:
                    pass
            SRV.wait_ready()
            log = SRV.log_since(log0)
            self.assertIn("terminated by signal 9", log)
            conn = SRV.connect("tc_rel_crash")
            # autowarm loads smallc again (its window was recorded); bigc was never loaded
            waited = scalar(conn, """SELECT wait_until('SELECT loaded FROM tablecache.caches WHERE name = ''smallc''', 30)""")
            if waited is None:
                procs = query(conn, "SELECT pid, backend_type, datname, backend_start FROM pg_stat_activity WHERE backend_type LIKE 'tablecache%%'")
                self.fail("smallc not warmed within 30s after the crash restart; tablecache processes: %r\n%s"
                          % (procs, SRV.log_tail(30)))
            self.assertEqual(query(conn, "SELECT name, loaded, rows FROM tablecache.caches ORDER BY name"),
                             [("bigc", False, 0), ("smallc", True, 1000)])
            self.assertEqual(query(conn, "SELECT * FROM tablecache.progress"), [])
            exp = query(conn, "SELECT count(*), md5(string_agg(ROW(id, name)::text, '|' ORDER BY id)) FROM small WHERE id < 1001")[0]
            self.assertEqual(fingerprint_cache(conn, "smallc", "primary_key", 1, 1001, "id, name"), exp)
            expb = query(conn, "SELECT count(*), md5(string_agg(ROW(k, g, v)::text, '|' ORDER BY g, k)) FROM big WHERE g >= 5 AND g < 7")[0]
            self.assertEqual(fingerprint_cache(conn, "bigc", "by_g", 5, 7, "k, g, v"), expb)
            # memory: consistent, and giving back every cache returns to the empty region's use
            total, used, free = query(conn, "SELECT * FROM tablecache.memory")[0]
            self.assertEqual(total, used + free)
            b_small = scalar(conn, "SELECT bytes FROM tablecache.caches WHERE name = 'smallc'")
            query(conn, "SELECT tablecache.unload('smallc')")
            used_empty = scalar(conn, "SELECT used_bytes FROM tablecache.memory")
            self.assertLessEqual(used_empty + b_small, used + 4096)
            # a new load works, and memory comes back after an unload
            self.assertEqual(scalar(conn, "SELECT tablecache.load('bigc', 'by_g', 0, 100)"), BIG // 10)
            self.assertEqual(fingerprint_cache(conn, "bigc", "by_g", 5, 7, "k, g, v"), expb)
            query(conn, "SELECT tablecache.unload('bigc')")
            self.assertEqual(scalar(conn, "SELECT used_bytes FROM tablecache.memory"), used_empty)
            print("\n    SIGKILL of the %s during a load: server back, smallc warmed in %.2fs" % (victim, waited), end="")
        finally:
            try:
                conn.close()
            except psycopg2.Error:
                pass
            admin = SRV.connect("postgres")
            query(admin, "DROP DATABASE IF EXISTS tc_rel_crash WITH (FORCE)")
            admin.close()

    def test_kill_idle_backend_during_load(self):
        self.crash_during_load("idle backend")

    def test_kill_loader(self):
        self.crash_during_load("loader")


if __name__ == "__main__":
    unittest.main()
