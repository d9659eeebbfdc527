"""Readers never see a partial or mixed window while another session adjusts it;
drop/re-create cycles give back all shared memory."""
import time
import unittest

import harness
from harness import query, scalar

N = 2000


def setUpModule():
    harness.setup_module_db(__name__)


def tearDownModule():
    harness.teardown_module_db(__name__)


class WindowSwitch(unittest.TestCase):
    ROUNDS = 40  # adjusts, alternating [500, 1500) and [0, 1000)

    def setUp(self):
        self.a = harness.connect(__name__, application_name="session A")
        query(self.a, "DROP TABLE IF EXISTS ws_t")
        query(self.a, "CREATE TABLE ws_t (k int PRIMARY KEY, v text NOT NULL)")
        query(self.a, "INSERT INTO ws_t SELECT i, 'v' || i FROM generate_series(0, %s) i", (N - 1,))
        query(self.a, "SELECT tablecache.create_cache('ws_c', 'SELECT k, v FROM ws_t', ARRAY['k'], maintain => 'manual')")
        query(self.a, "SELECT tablecache.create_index('ws_c', 'by_k', ARRAY['k'])")
        self.assertEqual(scalar(self.a, "SELECT tablecache.load('ws_c', 'by_k', 0, 1000)"), 1000)

    def tearDown(self):
        query(self.a, "SELECT tablecache.drop_cache('ws_c')")
        query(self.a, "DROP TABLE ws_t")
        self.a.close()

    # Every read must be the complete, exact answer, whether it is served from
    # the window (old or new) or falls through to the table.
    READ_SQL = """
        SELECT (SELECT format('%s,%s,%s,%s', count(*), min(k), max(k), bool_and(v = 'v' || k))
                  FROM tablecache.range(NULL::ws_c, 'by_k', 0, 1000)),
               (SELECT format('%s,%s,%s,%s', count(*), min(k), max(k), bool_and(v = 'v' || k))
                  FROM tablecache.range(NULL::ws_c, 'by_k', 500, 1500)),
               (SELECT format('%s,%s,%s', count(*), min(k), max(k))
                  FROM tablecache.range(NULL::ws_c, 'by_k', 500, 1000)),
               (SELECT format('%s,%s,%s', count(*), min(k), max(k))
                  FROM tablecache.range(NULL::ws_c, 'by_k', 1000, 1500)),
               (SELECT format('%s,%s,%s', count(*), min(k), max(k))
                  FROM tablecache.range(NULL::ws_c, 'by_k', 0, 500)),
               (SELECT format('%s,%s,%s', count(*), min(k), max(k))
                  FROM tablecache.range(NULL::ws_c, 'by_k', NULL, NULL)),
               (tablecache.get(NULL::ws_c, 250)).v,
               (tablecache.get(NULL::ws_c, 1250)).v,
               tablecache.covers('ws_c', 'by_k', 500, 1000),
               tablecache.covers('ws_c', 'by_k', 0, 1500)
    """
    EXPECTED = ("1000,0,999,t", "1000,500,1499,t", "500,500,999", "500,1000,1499",
                "500,0,499", "%d,0,%d" % (N, N - 1), "v250", "v1250", True, False)

    def reader(self, stop):
        conn = harness.connect(__name__, application_name="reader")
        n = 0
        try:
            while not stop.is_set() or n < 5:
                row = query(conn, self.READ_SQL)[0]
                self.assertEqual(tuple(row), self.EXPECTED, "read %d" % n)
                # (two covers calls in one statement can straddle an adjust and see
                # both windows: "never both at once" is checked inside READ_SQL by
                # covers of their union, which must always be false)
                n += 1
        finally:
            conn.close()
        return n

    def test_readers_see_whole_windows(self):
        query(self.a, "SELECT tablecache.reset_stats()")
        readers = [harness.Worker(self.reader, name="reader%d" % i) for i in range(2)]
        for r in readers:
            r.start()
        b = harness.connect(__name__, application_name="session B")
        try:
            for i in range(self.ROUNDS):
                ge, lt = (500, 1500) if i % 2 == 0 else (0, 1000)
                loaded = scalar(b, "SELECT tablecache.adjust('ws_c', 'by_k', %s, %s)", (ge, lt))
                self.assertEqual(loaded, 500, "adjust %d to [%d,%d) loaded %s rows" % (i, ge, lt, loaded))
                row = query(b, "SELECT window_ge, window_lt, rows FROM tablecache.caches WHERE name = 'ws_c'")[0]
                self.assertEqual((str(row[0]), str(row[1]), row[2]), (str(ge), str(lt), 1000))
                time.sleep(0.01)
        finally:
            b.close()
            counts = [r.join_checked() for r in readers]
        self.assertTrue(all(c >= 5 for c in counts), counts)
        hits, misses, adjustments = query(
            self.a, "SELECT hits, misses, adjustments FROM tablecache.stats WHERE cache = 'ws_c'")[0]
        print("\n    %d adjusts; reads per reader %s; hits %d, misses %d" % (self.ROUNDS, counts, hits, misses))
        self.assertEqual(adjustments, self.ROUNDS)
        self.assertGreater(hits, 0)
        self.assertGreater(misses, 0)


class MemoryReturns(unittest.TestCase):
    CYCLES = 300

    def test_drop_recreate_cycles_free_all_memory(self):
        conn = harness.connect(__name__)
        try:
            query(conn, "DROP TABLE IF EXISTS mem_t")
            query(conn, "CREATE TABLE mem_t (k int PRIMARY KEY, v text NOT NULL, t timestamptz)")
            query(conn, "INSERT INTO mem_t SELECT i, repeat('x', i % 100), now() FROM generate_series(0, 1999) i")
            start = scalar(conn, "SELECT used_bytes FROM tablecache.memory")
            after_first = None
            for i in range(self.CYCLES):
                query(conn, "SELECT tablecache.create_cache('mem_c', 'SELECT k, v, t FROM mem_t', ARRAY['k'], maintain => 'manual')")
                query(conn, "SELECT tablecache.create_index('mem_c', 'by_v', ARRAY['v', 'k'])")
                self.assertEqual(scalar(conn, "SELECT tablecache.load('mem_c', 'primary_key', 0, 1000)"), 1000)
                self.assertEqual(scalar(conn, "SELECT tablecache.adjust('mem_c', 'primary_key', 500, 1500)"), 500)
                used_loaded = scalar(conn, "SELECT used_bytes FROM tablecache.memory")
                self.assertGreater(used_loaded, start, "cycle %d: a loaded cache uses no memory?" % i)
                query(conn, "SELECT tablecache.drop_cache('mem_c')")
                used = scalar(conn, "SELECT used_bytes FROM tablecache.memory")
                if after_first is None:
                    after_first = used
                self.assertEqual(used, after_first, "cycle %d: used_bytes grew from %d to %d" % (i, after_first, used))
            end = scalar(conn, "SELECT used_bytes FROM tablecache.memory")
            print("\n    used_bytes: start %d, loaded %d, after %d cycles %d" % (start, used_loaded, self.CYCLES, end))
            self.assertEqual(end, start)
            query(conn, "DROP TABLE mem_t")
        finally:
            conn.close()


if __name__ == "__main__":
    unittest.main()
