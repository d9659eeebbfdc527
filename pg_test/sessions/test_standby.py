"""Caches on hot standbys: a real primary and a streaming standby on this machine.

The primary (tablecache.wal_invalidations = on) and its standby (pg_basebackup -R) are
private servers (ports: the sessions port + 20 and + 21), both with tablecache preloaded.
Writers on the primary (self-maintained and hand-written invalidation, rollbacks, savepoints,
PREPARE TRANSACTION + COMMIT PREPARED); readers on the standby read the standby's tables first
and the cache after: a cache read is never older than the table read before it; once replay
has caught up, the standby's caches equal their queries there, and most reads were served
from memory. Then: a standby restart (autowarm), a backend killed on the standby, the
primary restarted with sending off (the standby stops trusting its caches), and promotion.
A second pair shows the safety design: a primary that does not send (the default) beside a
standby without tablecache at all, which replays everything.
"""
import os
import random
import shutil
import signal
import subprocess
import threading
import time
import unittest

import psycopg2

import harness
import server_util
from harness import query, scalar

PGBIN = os.environ.get("TABLECACHE_PGROOT", "") + "/usr/lib/postgresql/15/bin"
DB = "tc_standby"
SEED = int(os.environ.get("TABLECACHE_STANDBY_SEED", str(random.randrange(1 << 30))))


class Server(server_util.PrivateServer):
    def __init__(self, name, port, env=None, **kw):
        super().__init__(name, port, **kw)
        self.env = dict(env or {})

    def _sh(self, cmd, check=True):
        saved = {k: os.environ.get(k) for k in self.env}
        os.environ.update(self.env)
        try:
            return super()._sh(cmd, check)
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v


def make_standby(primary, name, port, env=None):
    """A streaming standby of `primary`, from pg_basebackup -R, started."""
    s = Server(name, port, env=env, memory="64MB")
    s.stop()
    shutil.rmtree(s.base, ignore_errors=True)
    os.makedirs(s.base)
    shutil.chown(s.base, "postgres", "postgres")
    cmd = [PGBIN + "/pg_basebackup", "-D", s.data, "-R", "-X", "stream", "-c", "fast",
           "-h", primary.base, "-p", str(primary.port), "-U", "postgres"]
    if os.geteuid() == 0:
        cmd = ["runuser", "-u", "postgres", "--"] + cmd
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=120)
    if p.returncode != 0:
        raise AssertionError("pg_basebackup failed:\n" + p.stdout)
    s._sh("start")
    s.wait_ready()
    return s


def wait_for(conn, sql, what, timeout=60, params=None):
    """Polls `sql` (a boolean) until true: waiting for replay or a worker, not a race."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if scalar(conn, sql, params):
            return
        time.sleep(0.05)
    raise AssertionError("timed out waiting for %s" % what)


def caught_up(primary_conn, standby_conn, timeout=60):
    lsn = scalar(primary_conn, "SELECT pg_current_wal_insert_lsn()::text")
    wait_for(standby_conn, "SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", "replay up to " + lsn, timeout, (lsn,))


SCHEMA = """
CREATE TABLE regions (id int PRIMARY KEY, name text NOT NULL, ver int NOT NULL DEFAULT 0);
CREATE TABLE customers (id int PRIMARY KEY, region_id int NOT NULL REFERENCES regions,
                        name text NOT NULL, ver int NOT NULL DEFAULT 0);
CREATE TABLE orders (id int PRIMARY KEY, customer_id int NOT NULL REFERENCES customers ON DELETE CASCADE,
                     amount int NOT NULL, ver int NOT NULL DEFAULT 0);
INSERT INTO regions SELECT i, 'r' || i FROM generate_series(1, 5) i;
INSERT INTO customers SELECT i, 1 + i % 5, 'c' || i FROM generate_series(1, 50) i;
INSERT INTO orders SELECT i, 1 + i % 50, i FROM generate_series(1, 400) i;
SELECT tablecache.create_cache('order_rows',
    'SELECT o.id, o.amount, o.ver AS over, c.name AS customer, c.ver AS cver, r.name AS region, r.ver AS rver
       FROM orders o JOIN customers c ON c.id = o.customer_id JOIN regions r ON r.id = c.region_id',
    ARRAY['id']);
-- a manual cache, invalidated by hand
CREATE TABLE notes (id int PRIMARY KEY, body text NOT NULL, ver int NOT NULL DEFAULT 0);
INSERT INTO notes SELECT i, 'n' || i FROM generate_series(1, 100) i;
SELECT tablecache.create_cache('note_rows', 'SELECT id, body, ver FROM notes', ARRAY['id'], maintain => 'manual');
SELECT tablecache.load('order_rows');
SELECT tablecache.load('note_rows');
"""

CHECK = """
SELECT count(*) FROM (
  (SELECT * FROM tablecache.range(NULL::{c}, 'primary_key') EXCEPT ALL SELECT * FROM {c})
  UNION ALL
  (SELECT * FROM {c} EXCEPT ALL SELECT * FROM tablecache.range(NULL::{c}, 'primary_key'))) d
"""


class Standby(unittest.TestCase):
    primary = None
    standby = None

    @classmethod
    def setUpClass(cls):
        cls.primary = Server(server_util.private_name("sbprim", 20), server_util.private_port(20), memory="64MB",
                             settings={"tablecache.wal_invalidations": "on", "max_prepared_transactions": "10",
                                       "tablecache.worker_naptime": "200ms"})
        try:
            cls.primary.start()
            cls.primary.create_db(DB)
            p = cls.primary.connect(DB)
            query(p, SCHEMA)
            p.close()
            cls.standby = make_standby(cls.primary, server_util.private_name("sbstby", 21), server_util.private_port(21))
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        for s in (cls.standby, cls.primary):
            if s is not None:
                s.destroy()

    def p(self):
        return self.primary.connect(DB)

    def s(self):
        return self.standby.connect(DB)

    def trusted(self, s, timeout=60):
        wait_for(s, "SELECT tablecache.standby_note() IS NULL", "the standby to trust its caches", timeout)

    def load_on_standby(self, s):
        for c in ("order_rows", "note_rows"):
            if not scalar(s, "SELECT loaded FROM tablecache.caches WHERE name = %s", (c,)):
                code = None
                try:
                    query(s, "SELECT tablecache.load(%s)", (c,))
                except psycopg2.Error as e:
                    code = e.pgcode
                self.assertIn(code, (None, "55000"))  # (autowarm may have loaded it meanwhile)

    def exact(self, p, s, what):
        caught_up(p, s)
        for c in ("order_rows", "note_rows"):
            self.assertEqual(scalar(s, CHECK.format(c=c)), 0, "%s: the standby's cache %s differs from its query" % (what, c))

    # -----------------------------------------------------------------------------------------

    def test_1_standby_refuses_catalog_writes_and_reads_exactly(self):
        s = self.s()
        self.trusted(s)
        for sql in ("SELECT tablecache.create_cache('x', 'SELECT 1 AS a', ARRAY['a'])",
                    "SELECT tablecache.drop_cache('order_rows')",
                    "SELECT tablecache.create_index('order_rows', 'by_amount', ARRAY['amount'])"):
            with self.assertRaises(psycopg2.Error) as e:
                query(s, sql)
            self.assertEqual(e.exception.pgcode, "25006", sql)
        self.load_on_standby(s)
        self.assertEqual(scalar(s, "SELECT count(*) FROM tablecache.caches WHERE loaded AND standby IS NULL"), 2)
        query(s, "SELECT tablecache.reset_stats()")
        self.assertEqual(scalar(s, "SELECT (tablecache.get(NULL::order_rows, 7)).customer"),
                         scalar(s, "SELECT customer FROM order_rows WHERE id = 7"))
        self.assertEqual(scalar(s, "SELECT hits FROM tablecache.stats WHERE cache = 'order_rows'"), 1)
        # adjust and unload work there, in memory only
        self.assertGreater(scalar(s, "SELECT tablecache.adjust('order_rows', 'primary_key', 1, 200)"), -1)
        self.assertEqual(scalar(s, "SELECT count(*) FROM tablecache.range(NULL::order_rows, 'primary_key', 1, 200)"), 199)
        query(s, "SELECT tablecache.adjust('order_rows', 'primary_key', NULL::int, NULL::int)")
        s.close()

    def test_2_writers_on_primary_readers_on_standby(self):
        rng = random.Random(SEED)
        p, s = self.p(), self.s()
        self.trusted(s)
        self.load_on_standby(s)
        query(s, "SELECT tablecache.reset_stats()")
        stop = threading.Event()
        errors = []
        counts = {"reads": 0, "writes": 0}

        def writer(seed):
            r = random.Random(seed)
            c = self.p()
            try:
                n = 0
                while not stop.is_set() and n < 400:
                    n += 1
                    kind = r.random()
                    try:
                        query(c, "BEGIN")
                        if kind < 0.35:
                            query(c, "UPDATE orders SET amount = amount + 1, ver = ver + 1 WHERE id = %s", (r.randint(1, 400),))
                        elif kind < 0.55:
                            query(c, "UPDATE customers SET name = 'c' || id || '.' || ver + 1, ver = ver + 1 WHERE id = %s", (r.randint(1, 50),))
                        elif kind < 0.62:
                            query(c, "UPDATE regions SET name = 'r' || id || '.' || ver + 1, ver = ver + 1 WHERE id = %s", (r.randint(1, 5),))
                        elif kind < 0.72:
                            k = r.randint(1, 100)
                            query(c, "UPDATE notes SET body = 'n' || id || '.' || ver + 1, ver = ver + 1 WHERE id = %s", (k,))
                            query(c, "SELECT tablecache.invalidate('note_rows', 'primary_key', %s)", (k,))
                        elif kind < 0.80:
                            # a savepoint rolled back, then a change kept
                            query(c, "SAVEPOINT a")
                            query(c, "UPDATE orders SET amount = -1, ver = ver + 1000 WHERE id = %s", (r.randint(1, 400),))
                            query(c, "ROLLBACK TO a")
                            query(c, "UPDATE orders SET ver = ver + 1 WHERE id = %s", (r.randint(1, 400),))
                        elif kind < 0.88:
                            query(c, "UPDATE orders SET amount = -5, ver = ver + 1000 WHERE id = %s", (r.randint(1, 400),))
                            query(c, "ROLLBACK")
                            continue
                        else:
                            gid = "sb%d_%d" % (seed, n)
                            query(c, "UPDATE customers SET ver = ver + 1 WHERE id = %s", (r.randint(1, 50),))
                            query(c, "PREPARE TRANSACTION %s", (gid,))
                            query(c, "COMMIT PREPARED %s", (gid,))
                            counts["writes"] += 1
                            continue
                        query(c, "COMMIT")
                        counts["writes"] += 1
                    except psycopg2.Error as e:
                        if e.pgcode not in ("40001", "40P01"):
                            raise
                        query(c, "ROLLBACK")
            except BaseException as e:  # noqa: BLE001
                errors.append(e)
            finally:
                c.close()

        def reader(seed):
            r = random.Random(seed)
            c = self.s()
            try:
                while not stop.is_set():
                    k = r.randint(1, 400)
                    # the standby's tables first, the cache after: never older
                    t = query(c, "SELECT over, cver, rver FROM order_rows WHERE id = %s", (k,))[0]
                    m = query(c, "SELECT over, cver, rver FROM tablecache.get(NULL::order_rows, %s)", (k,))[0]
                    if any(a is None or a < b for a, b in zip(m, t)):
                        errors.append(AssertionError("order %d: cache read %r older than the table read %r before it (seed %d)" % (k, m, t, SEED)))
                        return
                    j = r.randint(1, 100)
                    t = scalar(c, "SELECT ver FROM notes WHERE id = %s", (j,))
                    m = scalar(c, "SELECT (tablecache.get(NULL::note_rows, %s)).ver", (j,))
                    if m is None or m < t:
                        errors.append(AssertionError("note %d: cache read %r older than the table read %r (seed %d)" % (j, m, t, SEED)))
                        return
                    counts["reads"] += 1
            except BaseException as e:  # noqa: BLE001
                errors.append(e)
            finally:
                c.close()

        threads = [threading.Thread(target=writer, args=(rng.randrange(1 << 20),)) for _ in range(2)]
        threads += [threading.Thread(target=reader, args=(rng.randrange(1 << 20),)) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads[:2]:
            t.join(300)
        stop.set()
        for t in threads[2:]:
            t.join(60)
        if errors:
            raise errors[0]
        self.assertGreater(counts["writes"], 300)
        self.assertGreater(counts["reads"], 100)
        self.exact(p, s, "after the writers")
        hits, misses = query(s, "SELECT sum(hits), sum(misses) FROM tablecache.stats")[0]
        self.assertGreater(hits, misses, "most reads on the standby should be served from memory (hits %s, misses %s)" % (hits, misses))
        p.close()
        s.close()

    def test_2b_invalidations_for_a_cache_not_loaded_on_the_standby(self):
        # the record of a prepared transaction arrives while the standby has nothing cached
        # for that cache; a load there before COMMIT PREPARED must still see it take effect
        p, s = self.p(), self.s()
        self.trusted(s)
        query(p, "SELECT tablecache.create_cache('late_rows', 'SELECT o.id, c.name FROM orders o JOIN customers c ON c.id = o.customer_id', ARRAY['id'])")
        query(p, "BEGIN")
        query(p, "UPDATE customers SET name = 'prepared-late', ver = ver + 1 WHERE id = 4")
        query(p, "PREPARE TRANSACTION 'sb_late'")
        caught_up(p, s)
        self.assertEqual(scalar(s, "SELECT count(*) FROM tablecache.caches WHERE name = 'late_rows' AND loaded"), 0)
        query(s, "SELECT tablecache.load('late_rows')")
        k = scalar(s, "SELECT min(id) FROM orders WHERE customer_id = 4")
        self.assertNotEqual(scalar(s, "SELECT (tablecache.get(NULL::late_rows, %s)).name", (k,)), "prepared-late")
        query(p, "COMMIT PREPARED 'sb_late'")
        caught_up(p, s)
        self.assertEqual(scalar(s, "SELECT (tablecache.get(NULL::late_rows, %s)).name", (k,)), "prepared-late",
                         "a cache loaded on the standby before COMMIT PREPARED missed its invalidation")
        self.assertEqual(scalar(s, CHECK.format(c="late_rows")), 0)
        query(p, "SELECT tablecache.drop_cache('late_rows')")
        p.close()
        s.close()

    def test_3_standby_restart_autowarms(self):
        p = self.p()
        # a transaction prepared before the restart, whose record the standby will not replay
        # again, committed after it
        query(p, "BEGIN")
        query(p, "UPDATE regions SET name = 'prepared-before', ver = ver + 1 WHERE id = 3")
        query(p, "PREPARE TRANSACTION 'sb_restart'")
        query(p, "CHECKPOINT")
        s = self.s()
        caught_up(p, s)
        query(s, "CHECKPOINT")
        s.close()
        self.standby.restart()
        s = self.s()
        # the primary's recorded windows are loaded again by the standby's worker
        wait_for(s, "SELECT bool_and(loaded) FROM tablecache.caches", "autowarm on the standby", 120)
        self.trusted(s)
        self.assertTrue(scalar(s, "SELECT bool_and(loaded) FROM tablecache.caches"))
        query(p, "COMMIT PREPARED 'sb_restart'")
        query(p, "UPDATE regions SET name = name || '!', ver = ver + 1 WHERE id = 2")
        self.exact(p, s, "after a standby restart")
        p.close()
        s.close()

    def test_4_backend_killed_on_standby(self):
        p, s = self.p(), self.s()
        self.load_on_standby(s)
        victim = self.s()
        pid = scalar(victim, "SELECT pg_backend_pid()")
        log0 = self.standby.log_size()
        self.standby.kill_backend(pid)
        victim.close()
        s.close()
        # the postmaster's crash restart: all backends go, shared memory is set up again
        deadline = time.monotonic() + 60
        while "reinitializing" not in self.standby.log_since(log0):
            self.assertLess(time.monotonic(), deadline, "no crash restart after a killed backend")
            time.sleep(0.05)
        self.standby.wait_ready()
        wait_for(self.standby.connect("postgres"), "SELECT NOT pg_is_in_recovery() OR pg_last_wal_replay_lsn() IS NOT NULL",
                 "the standby to accept connections again")
        s = self.s()
        self.trusted(s)
        self.load_on_standby(s)
        query(p, "UPDATE customers SET name = name || '?', ver = ver + 1 WHERE id = 3")
        self.exact(p, s, "after a backend was killed on the standby")
        p.close()
        s.close()

    def test_5_primary_restarted_without_sending(self):
        p, s = self.p(), self.s()
        self.trusted(s)
        self.primary.alter_system("tablecache.wal_invalidations", "off", restart=True)
        p = self.p()
        s = self.s()
        caught_up(p, s)
        wait_for(s, "SELECT tablecache.standby_note() LIKE '%%started with tablecache.wal_invalidations off%%'",
                 "the standby to learn that its primary stopped sending")
        self.assertTrue(all(r[0] is not None for r in query(s, "SELECT standby FROM tablecache.caches")))
        # changes are no longer sent: the standby answers from its tables, exactly
        query(p, "UPDATE orders SET amount = 424242 WHERE id = 9")
        caught_up(p, s)
        query(s, "SELECT tablecache.reset_stats()")
        self.assertEqual(scalar(s, "SELECT (tablecache.get(NULL::order_rows, 9)).amount"), 424242)
        self.assertEqual(scalar(s, "SELECT hits FROM tablecache.stats WHERE cache = 'order_rows'"), 0)
        # sending again: trusted again (after a heartbeat), and everything re-read
        self.primary.alter_system("tablecache.wal_invalidations", "on", restart=True)
        p = self.p()
        self.trusted(s)
        self.load_on_standby(s)
        query(p, "UPDATE orders SET amount = 434343, ver = ver + 1 WHERE id = 9")
        self.exact(p, s, "after sending resumed")
        p.close()
        s.close()

    def test_6_promotion(self):
        p, s = self.p(), self.s()
        self.load_on_standby(s)
        caught_up(p, s)
        p.close()
        self.primary.stop()
        self.assertTrue(scalar(s, "SELECT pg_promote(true, 60)"))
        # the promoted server's own triggers maintain its caches
        query(s, "UPDATE regions SET name = 'promoted', ver = ver + 1 WHERE id = 1")
        query(s, "UPDATE orders SET customer_id = 2, ver = ver + 1 WHERE id = 10")
        query(s, "INSERT INTO orders VALUES (401, 7, 1)")
        for c in ("order_rows", "note_rows"):
            self.assertEqual(scalar(s, CHECK.format(c=c)), 0, "after promotion: %s differs from its query" % c)
        self.assertIsNone(scalar(s, "SELECT tablecache.standby_note()"))
        query(s, "SELECT tablecache.create_cache('after_promotion', 'SELECT id, name FROM regions', ARRAY['id'])")
        s.close()


class NoSendingNoExtension(unittest.TestCase):
    """The default: a primary that does not send beside a standby without tablecache, which
    replays a primary's cache activity without trouble; and a standby with tablecache beside
    that primary answers from its tables, saying why."""

    def test_standby_without_extension_replays(self):
        prim = Server(server_util.private_name("sbprim2", 22), server_util.private_port(22), memory="32MB")
        plain = stby = None
        try:
            prim.start()
            prim.create_db(DB)
            p = prim.connect(DB)
            query(p, SCHEMA)
            plain = make_standby(prim, server_util.private_name("sbplain", 23), server_util.private_port(23),
                                 env={"TABLECACHE_NO_PRELOAD": "1"})
            stby = make_standby(prim, server_util.private_name("sbstby2", 24), server_util.private_port(24))
            for i in range(50):
                query(p, "UPDATE customers SET name = name || '.' WHERE id = %s", (1 + i % 50,))
            query(p, "SELECT tablecache.invalidate('note_rows', 'primary_key', 5)")
            query(p, "TRUNCATE notes")
            pl = plain.connect(DB)
            caught_up(p, pl)
            self.assertEqual(scalar(pl, "SELECT count(*) FROM notes"), 0)
            self.assertEqual(scalar(pl, "SELECT pg_is_in_recovery()"), True)
            s = stby.connect(DB)
            caught_up(p, s)
            note = scalar(s, "SELECT tablecache.standby_note()")
            self.assertIn("no heartbeat", note or "")
            # (autowarm loads the primary's recorded window there too)
            wait_for(s, "SELECT loaded FROM tablecache.caches WHERE name = 'order_rows'", "autowarm on the standby")
            query(s, "SELECT tablecache.reset_stats()")
            self.assertEqual(scalar(s, "SELECT (tablecache.get(NULL::order_rows, 1)).customer"),
                             scalar(s, "SELECT customer FROM order_rows WHERE id = 1"))
            self.assertEqual(scalar(s, "SELECT hits FROM tablecache.stats WHERE cache = 'order_rows'"), 0)
            # changes the standby's cache never heard of, then a promotion: its caches were
            # never trusted, so the promoted server re-reads them before answering from them
            query(p, "UPDATE customers SET name = 'AFTER' WHERE id = 2")
            query(p, "UPDATE orders SET amount = -1 WHERE id = 7")
            caught_up(p, s)
            p.close()
            prim.stop()
            self.assertTrue(scalar(s, "SELECT pg_promote(true, 60)"))
            self.assertEqual(scalar(s, "SELECT (tablecache.get(NULL::order_rows, 1)).customer"), "AFTER")
            self.assertEqual(scalar(s, "SELECT (tablecache.get(NULL::order_rows, 7)).amount"), -1)
            self.assertEqual(scalar(s, CHECK.format(c="order_rows")), 0)
            for c in (pl, s):
                c.close()
        finally:
            for x in (stby, plain, prim):
                if x is not None:
                    x.destroy()


if __name__ == "__main__":
    unittest.main()
