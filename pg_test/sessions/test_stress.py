"""Concurrent writers and readers over one cached table (docs/reference.md §9, §5.4).

Writers bump `version` of random rows (row trigger invalidating the primary key) and
commit, or roll back about one transaction in five; every update also writes a tag
naming its transaction into `payload`, so a row value identifies the transaction that
produced it. Readers read through the cache (get and range) in READ COMMITTED and check:

- stale: a version below the highest version whose COMMIT had returned before the read
  was issued (a commit that has returned is visible to every later statement);
- backwards: a version below one this reader already saw for that row;
- aborted / unknown: (version, tag) written by a rolled-back transaction, or by no
  transaction at all (checked at the end, when every commit is known);
- torn: a range that misses rows or repeats them.

A REPEATABLE READ reader checks that the cache and its plain SELECT of the same rows agree
within its snapshot; writers check that they read their own uncommitted write through the
cache. At the end the cache, refreshed, must equal the table exactly.

TABLECACHE_STRESS_SECONDS (default 20) sets the duration, TABLECACHE_STRESS_SEED the seed.
"""
import collections
import os
import random
import threading
import time
import unittest

import harness
from harness import query, scalar
import inval_util as iu

SECONDS = float(os.environ.get("TABLECACHE_STRESS_SECONDS", "20"))
SEED = int(os.environ.get("TABLECACHE_STRESS_SEED", "20261125"))
ROWS = 200
WRITERS = 3
READERS = 3
ROLLBACK_RATE = 0.2
MULTI_ROW_RATE = 0.15      # transactions that update 2..5 rows
OWN_READ_RATE = 0.25       # writer transactions that read their own write through the cache
RANGE_RATE = 0.1           # reader statements that read the whole cache by range
MAX_VIOLATIONS_KEPT = 50


def setUpModule():
    harness.setup_module_db(__name__)


def tearDownModule():
    harness.teardown_module_db(__name__)


class Ledger:
    """What the writers know, shared by all threads under one lock."""

    def __init__(self):
        self.lock = threading.Lock()
        self.committed_max = [0] * (ROWS + 1)          # highest version whose COMMIT returned
        self.committed = collections.defaultdict(dict)  # id -> {version: tag}
        self.aborted = set()                            # (id, version, tag) of rolled-back txns
        self.commits = 0
        self.rollbacks = 0
        self.rows_committed = 0
        self.rows_rolled_back = 0
        self.violations = []
        self.violation_count = 0

    def violation(self, text):
        with self.lock:
            self.violation_count += 1
            if len(self.violations) < MAX_VIOLATIONS_KEPT:
                self.violations.append(text)

    def floor(self, key):
        with self.lock:
            return self.committed_max[key]

    def floors(self):
        with self.lock:
            return list(self.committed_max)


class Stress(unittest.TestCase):

    def setUp(self):
        self.admin = iu.session(__name__, "stress admin")
        a = self.admin
        query(a, "DROP TABLE IF EXISTS st_t CASCADE")
        query(a, """CREATE TABLE st_t (id int PRIMARY KEY, version bigint NOT NULL, payload text NOT NULL,
                                       pad text NOT NULL)""")
        query(a, "INSERT INTO st_t SELECT i, 0, 'init', repeat('x', i %% 50) FROM generate_series(1, %s) i", (ROWS,))
        query(a, "SELECT tablecache.create_cache('st_c', 'SELECT id, version, payload, pad FROM st_t', ARRAY['id'], maintain => 'manual')")
        self.assertEqual(scalar(a, "SELECT tablecache.load('st_c')"), ROWS)
        query(a, """CREATE TRIGGER st_inval AFTER INSERT OR UPDATE OR DELETE ON st_t
                    FOR EACH ROW EXECUTE FUNCTION tablecache.invalidate_trigger('st_c', 'primary_key', 'id')""")
        query(a, "SELECT tablecache.reset_stats()")
        self.ledger = Ledger()
        self.observed = []   # per reader: set of (id, version, tag) seen

    def tearDown(self):
        try:
            query(self.admin, "SELECT tablecache.drop_cache('st_c')")
            query(self.admin, "DROP TABLE st_t")
        finally:
            self.admin.close()

    # -- writers ---------------------------------------------------------------------------
    def writer(self, n):
        def run(stop):
            rng = random.Random(SEED * 1000 + n)
            conn = iu.session(__name__, "writer %d" % n)
            led = self.ledger
            txn = 0
            try:
                while not stop.is_set():
                    txn += 1
                    tag = "w%d-t%d" % (n, txn)
                    k = rng.randint(2, 5) if rng.random() < MULTI_ROW_RATE else 1
                    ids = sorted(rng.sample(range(1, ROWS + 1), k))   # one lock order: no deadlocks
                    query(conn, "BEGIN")
                    written = []
                    for key in ids:
                        v = scalar(conn, "UPDATE st_t SET version = version + 1, payload = %s WHERE id = %s RETURNING version",
                                   (tag, key))
                        written.append((key, v))
                    if rng.random() < OWN_READ_RATE:
                        key, v = written[-1]
                        got = query(conn, "SELECT version, payload FROM tablecache.get(NULL::st_c, %s)", (key,))[0]
                        if tuple(got) != (v, tag):
                            led.violation("%s: own uncommitted write of id %d read through the cache as %r, wrote %r"
                                          % (tag, key, tuple(got), (v, tag)))
                    if rng.random() < ROLLBACK_RATE:
                        query(conn, "ROLLBACK")
                        with led.lock:
                            led.rollbacks += 1
                            led.rows_rolled_back += len(written)
                            for key, v in written:
                                led.aborted.add((key, v, tag))
                    else:
                        query(conn, "COMMIT")
                        # the COMMIT has returned: from now on every new statement must see it
                        with led.lock:
                            led.commits += 1
                            led.rows_committed += len(written)
                            for key, v in written:
                                led.committed[key][v] = tag
                                if v > led.committed_max[key]:
                                    led.committed_max[key] = v
            finally:
                conn.close()
            return txn
        return run

    # -- readers ---------------------------------------------------------------------------
    def check_row(self, who, seen, last, key, version, tag, floor):
        seen.add((key, version, tag))
        if version < floor:
            self.ledger.violation("%s: stale read of id %d: version %d (%s), but version %d had committed before the read"
                                  % (who, key, version, tag, floor))
        if version < last.get(key, 0):
            self.ledger.violation("%s: id %d went backwards: version %d after %d" % (who, key, version, last[key]))
        last[key] = max(last.get(key, 0), version)

    def reader(self, n):
        def run(stop):
            rng = random.Random(SEED * 2000 + n)
            conn = iu.session(__name__, "reader %d" % n)
            who = "reader %d" % n
            seen = set()
            self.observed.append(seen)
            last = {}
            reads = 0
            try:
                while not stop.is_set():
                    reads += 1
                    if rng.random() < RANGE_RATE:
                        floors = self.ledger.floors()
                        rows = query(conn, "SELECT id, version, payload FROM tablecache.range(NULL::st_c, 'primary_key')")
                        ids = [r[0] for r in rows]
                        if ids != list(range(1, ROWS + 1)):
                            self.ledger.violation("%s: range returned %d rows, ids not 1..%d in order" % (who, len(ids), ROWS))
                        for key, version, tag in rows:
                            if 1 <= key <= ROWS:
                                self.check_row(who, seen, last, key, version, tag, floors[key])
                    else:
                        key = rng.randint(1, ROWS)
                        floor = self.ledger.floor(key)
                        row = query(conn, "SELECT id, version, payload FROM tablecache.get(NULL::st_c, %s)", (key,))[0]
                        if row[0] != key:
                            self.ledger.violation("%s: get(%d) returned %r" % (who, key, row))
                            continue
                        self.check_row(who, seen, last, key, row[1], row[2], floor)
            finally:
                conn.close()
            return reads
        return run

    def rr_reader(self, stop):
        """REPEATABLE READ: the cache answers from the transaction's snapshot."""
        rng = random.Random(SEED * 3000)
        conn = iu.session(__name__, "rr reader")
        seen = set()
        self.observed.append(seen)
        txns = 0
        try:
            while not stop.is_set():
                txns += 1
                query(conn, "BEGIN ISOLATION LEVEL REPEATABLE READ")
                for _ in range(3):
                    key = rng.randint(1, ROWS)
                    c = query(conn, "SELECT version, payload FROM tablecache.get(NULL::st_c, %s)", (key,))[0]
                    t = query(conn, "SELECT version, payload FROM st_t WHERE id = %s", (key,))[0]
                    seen.add((key, c[0], c[1]))
                    if tuple(c) != tuple(t):
                        self.ledger.violation("rr reader: get(%d) = %r but the snapshot has %r" % (key, tuple(c), tuple(t)))
                if rng.random() < 0.3:
                    c = query(conn, "SELECT id, version, payload FROM tablecache.range(NULL::st_c, 'primary_key')")
                    t = query(conn, "SELECT id, version, payload FROM st_t ORDER BY id")
                    if c != t:
                        self.ledger.violation("rr reader: range differs from the snapshot in %d rows"
                                              % sum(1 for x, y in zip(c, t) if x != y))
                query(conn, "COMMIT")
        finally:
            conn.close()
        return txns

    def adjuster(self, stop):
        """Moves the window back and forth over the primary key (rows entering, leaving and
        staying), then back to everything."""
        conn = iu.session(__name__, "adjuster")
        n = 0
        try:
            while not stop.is_set():
                ge, lt = ((1, 151), (51, ROWS + 1), (None, None))[n % 3]
                query(conn, "SELECT tablecache.adjust('st_c', 'primary_key', %s::int, %s::int)", (ge, lt))
                n += 1
            query(conn, "SELECT tablecache.adjust('st_c', 'primary_key', NULL::int, NULL::int)")
        finally:
            conn.close()
        return n

    # -- the tests -------------------------------------------------------------------------
    def test_concurrent_writers_and_readers(self):
        self.run_stress(SECONDS, adjust=False)

    def test_concurrent_writers_readers_and_window_moves(self):
        self.run_stress(max(5.0, SECONDS / 2), adjust=True)

    def run_stress(self, seconds, adjust):
        led = self.ledger
        workers = ([harness.Worker(self.writer(i), name="writer%d" % i) for i in range(WRITERS)]
                   + [harness.Worker(self.reader(i), name="reader%d" % i) for i in range(READERS)]
                   + [harness.Worker(self.rr_reader, name="rr_reader")])
        if adjust:
            workers.append(harness.Worker(self.adjuster, name="adjuster"))
        t0 = time.monotonic()
        for w in workers:
            w.start()
        deadline = t0 + seconds
        while time.monotonic() < deadline and all(w.is_alive() for w in workers):
            time.sleep(0.2)   # the test's duration, not a synchronisation
        results = {}
        errors = []
        for w in workers:
            w.stop.set()
        for w in workers:
            try:
                results[w.name] = w.join_checked()
            except BaseException as e:  # noqa: BLE001 - collect, then fail with all of them
                errors.append("%s: %r" % (w.name, e))
        elapsed = time.monotonic() - t0
        self.assertEqual(errors, [], "worker errors")

        # end checks: every value read was written by a committed transaction
        for seen in self.observed:
            for key, version, tag in seen:
                if version == 0:
                    ok = tag == "init"
                else:
                    ok = led.committed[key].get(version) == tag
                if not ok:
                    kind = "aborted" if (key, version, tag) in led.aborted else "never written"
                    led.violation("read id %d version %d tag %s: %s" % (key, version, tag, kind))

        st = iu.stats(self.admin, "st_c")
        refreshed = scalar(self.admin, "SELECT tablecache.refresh('st_c')")
        before = iu.stats(self.admin, "st_c")
        cached = iu.cache_range(self.admin, "st_c", cols="id, version, payload, pad")
        after = iu.stats(self.admin, "st_c")
        table = query(self.admin, "SELECT id, version, payload, pad FROM st_t ORDER BY id")

        reads = sum(v for k, v in results.items() if k.startswith("reader"))
        print("\nstress %.1fs seed %d: %d writers, %d readers + 1 rr reader%s"
              % (elapsed, SEED, WRITERS, READERS, ", %d window moves" % results["adjuster"] if adjust else ""))
        print("  reads (reader statements): %d; rr transactions: %d" % (reads, results.get("rr_reader", 0)))
        print("  cache hits %d, misses %d, refreshes %d, invalidations %d"
              % (st["hits"], st["misses"], st["refreshes"], st["invalidations"]))
        print("  transactions committed %d (%d row updates), rolled back %d (%d row updates)"
              % (led.commits, led.rows_committed, led.rollbacks, led.rows_rolled_back))
        print("  final refresh re-read %d rows; violations %d" % (refreshed, led.violation_count))
        for v in led.violations:
            print("  VIOLATION " + v)

        self.assertEqual(led.violation_count, 0, "\n".join(led.violations))
        self.assertEqual(len(cached), ROWS)
        self.assertEqual(cached, table, "the refreshed cache differs from the table")
        self.assertEqual((after["hits"] - before["hits"], after["misses"] - before["misses"]), (1, 0),
                         "the final comparison was not served from memory")
        self.assertEqual(sum(r[1] for r in table), led.rows_committed,
                         "versions in the table do not add up to the committed updates")
        self.assertEqual(st["invalidations"], led.rows_committed,
                         "invalidations counted %d, committed row updates %d" % (st["invalidations"], led.rows_committed))
        self.assertGreater(led.commits, 0)
        self.assertGreater(led.rollbacks, 0)
        self.assertGreater(st["hits"], 0, "no read was served from memory: the test proves nothing")


if __name__ == "__main__":
    unittest.main()
