"""Invalidation across real concurrent sessions (docs/reference.md §3, Invalidation and Moving
the window; §5.4; §9).

Session A writes (through tables with tablecache.invalidate_trigger), session B reads
through the cache. Events are ordered only by waiting for statements to return: "B
reads while A's transaction is open" means A's UPDATE has returned and A has not
committed; "after A commits" means A's COMMIT has returned.
"""
import unittest

import psycopg2
import psycopg2.errors

import harness
from harness import query, scalar
import inval_util as iu
from inval_util import cache_get, cache_range, stats, delta


def setUpModule():
    harness.setup_module_db(__name__)


def tearDownModule():
    harness.teardown_module_db(__name__)


class SessionsCase(unittest.TestCase):
    """Two sessions A (writer) and B (reader); subclasses create their own tables and caches."""

    caches = ()   # dropped in tearDown
    tables = ()   # dropped in tearDown (CASCADE)

    def setUp(self):
        self.a = iu.session(__name__, "session A")
        self.b = iu.session(__name__, "session B")
        self.extra = []

    def tearDown(self):
        for c in [self.a, self.b] + self.extra:
            try:
                c.rollback() if not c.autocommit else query(c, "ROLLBACK")
            except Exception:  # noqa: BLE001 - best effort, the connection may be broken
                pass
        admin = iu.session(__name__, "teardown")
        try:
            for c in self.caches:
                if scalar(admin, "SELECT count(*) FROM tablecache.caches WHERE name = %s", (c,)):
                    query(admin, "SELECT tablecache.drop_cache(%s)", (c,))
            for t in self.tables:
                query(admin, "DROP TABLE IF EXISTS %s CASCADE" % t)
        finally:
            admin.close()
            for c in [self.a, self.b] + self.extra:
                c.close()

    def new_session(self, name):
        c = iu.session(__name__, name)
        self.extra.append(c)
        return c

    def make_kv(self, table, cache, n, trigger=True):
        """table(id int pk, v text) with rows 1..n, v = 'old<id>'; cache over it, fully loaded;
        a row trigger invalidating the primary key."""
        a = self.a
        query(a, "DROP TABLE IF EXISTS %s CASCADE" % table)
        query(a, "CREATE TABLE %s (id int PRIMARY KEY, v text NOT NULL)" % table)
        query(a, "INSERT INTO %s SELECT i, 'old' || i FROM generate_series(1, %%s) i" % table, (n,))
        query(a, "SELECT tablecache.create_cache(%s, %s, ARRAY['id'], maintain => 'manual')",
              (cache, "SELECT id, v FROM %s" % table))
        self.assertEqual(scalar(a, "SELECT tablecache.load(%s)", (cache,)), n)
        if trigger:
            query(a, """CREATE TRIGGER %s_inval AFTER INSERT OR UPDATE OR DELETE ON %s
                        FOR EACH ROW EXECUTE FUNCTION tablecache.invalidate_trigger('%s', 'primary_key', 'id')"""
                  % (table, table, cache))

    def v(self, conn, cache, key):
        row = cache_get(conn, cache, key, cols="v")
        return None if row is None else row[0]


class UncommittedAndRollback(SessionsCase):
    """(a) an open transaction's change is seen only by itself; commit makes it visible to the
    next statement of every session; rollback leaves no trace (not even in the stats)."""
    caches = ("ua_c",)
    tables = ("ua_t",)

    def setUp(self):
        super().setUp()
        self.make_kv("ua_t", "ua_c", 10)

    def test_commit(self):
        a, b = self.a, self.b
        before = stats(b, "ua_c")
        query(a, "BEGIN")
        query(a, "UPDATE ua_t SET v = 'new3' WHERE id = 3")
        # A's transaction is open: B reads the committed state, A its own write
        self.assertEqual(self.v(b, "ua_c", 3), "old3")
        self.assertEqual(cache_range(b, "ua_c", cols="id, v"), [(i, "old%d" % i) for i in range(1, 11)])
        self.assertEqual(self.v(a, "ua_c", 3), "new3", "A must see its own uncommitted write through the cache")
        self.assertEqual(cache_range(a, "ua_c", "primary_key", 3, 4, cols="v"), [("new3",)])
        self.assertEqual(self.v(b, "ua_c", 3), "old3")
        self.assertEqual(delta(before, stats(b, "ua_c"))["invalidations"], 0,
                         "an open transaction's invalidation is counted before it commits")
        query(a, "COMMIT")
        # A's COMMIT has returned: B's very next statement sees it
        self.assertEqual(self.v(b, "ua_c", 3), "new3")
        self.assertEqual(self.v(a, "ua_c", 3), "new3")
        self.assertEqual(cache_range(b, "ua_c", cols="id, v"),
                         query(b, "SELECT id, v FROM ua_t ORDER BY id"))
        d = delta(before, stats(b, "ua_c"))
        self.assertEqual(d["invalidations"], 1, d)
        # once refreshed (by B's read, by the background worker or now), the row is served
        # from memory again
        query(b, "SELECT tablecache.refresh('ua_c')")
        rows, hits, misses = iu.read_counted(b, "ua_c", "SELECT v FROM tablecache.get(NULL::ua_c, 3)")
        self.assertEqual((rows, hits, misses), ([("new3",)], 1, 0))

    def test_rollback(self):
        a, b = self.a, self.b
        before = stats(b, "ua_c")
        query(a, "BEGIN")
        query(a, "UPDATE ua_t SET v = 'rolled4' WHERE id = 4")
        query(a, "DELETE FROM ua_t WHERE id = 5")
        query(a, "INSERT INTO ua_t VALUES (11, 'rolled11')")
        self.assertEqual(self.v(b, "ua_c", 4), "old4")
        self.assertEqual(self.v(b, "ua_c", 5), "old5")
        self.assertIsNone(self.v(b, "ua_c", 11))
        self.assertEqual(self.v(a, "ua_c", 4), "rolled4")
        self.assertIsNone(self.v(a, "ua_c", 5), "A must not see the row it deleted")
        self.assertEqual(self.v(a, "ua_c", 11), "rolled11", "A must see the row it inserted")
        query(a, "ROLLBACK")
        expected = [(i, "old%d" % i) for i in range(1, 11)]
        for conn in (b, a):
            self.assertEqual(self.v(conn, "ua_c", 4), "old4")
            self.assertEqual(self.v(conn, "ua_c", 5), "old5")
            self.assertIsNone(self.v(conn, "ua_c", 11))
            self.assertEqual(cache_range(conn, "ua_c", cols="id, v"), expected)
        d = delta(before, stats(b, "ua_c"))
        self.assertEqual(d["invalidations"], 0, "a rolled-back transaction's invalidations were counted: %s" % d)
        self.assertEqual(d["refreshes"], 0, "a rolled-back transaction caused a refresh: %s" % d)
        # and the cache still answers from memory
        rows, hits, misses = iu.read_counted(b, "ua_c", "SELECT id, v FROM tablecache.range(NULL::ua_c, 'primary_key')")
        self.assertEqual((rows, hits, misses), (expected, 1, 0))

    def test_error_aborts_transaction(self):
        """A transaction that fails after its UPDATE (an error, not a ROLLBACK) leaves no trace."""
        a, b = self.a, self.b
        before = stats(b, "ua_c")
        query(a, "BEGIN")
        query(a, "UPDATE ua_t SET v = 'failed6' WHERE id = 6")
        with self.assertRaises(psycopg2.errors.DivisionByZero):
            query(a, "SELECT 1 / 0")
        query(a, "ROLLBACK")
        self.assertEqual(self.v(b, "ua_c", 6), "old6")
        self.assertEqual(self.v(a, "ua_c", 6), "old6")
        self.assertEqual(delta(before, stats(b, "ua_c"))["invalidations"], 0)


class NoInvalidationNoChange(SessionsCase):
    """docs/reference.md §3: without an invalidation a committed change is not seen (the reads
    of the other tests really come from the cache); with one it is; a later change without one
    is not."""
    caches = ("ni_c",)
    tables = ("ni_t",)

    def test_cache_is_a_cache(self):
        a, b = self.a, self.b
        self.make_kv("ni_t", "ni_c", 5)
        query(a, "ALTER TABLE ni_t DISABLE TRIGGER ni_t_inval")
        query(a, "UPDATE ni_t SET v = 'silent2' WHERE id = 2")
        self.assertEqual(self.v(b, "ni_c", 2), "old2")
        query(a, "ALTER TABLE ni_t ENABLE TRIGGER ni_t_inval")
        query(a, "UPDATE ni_t SET v = 'loud2' WHERE id = 2")
        self.assertEqual(self.v(b, "ni_c", 2), "loud2")
        query(a, "ALTER TABLE ni_t DISABLE TRIGGER ni_t_inval")
        query(a, "UPDATE ni_t SET v = 'silent2b' WHERE id = 2")
        self.assertEqual(self.v(b, "ni_c", 2), "loud2")
        # an explicit invalidate in A's transaction works like the trigger
        query(a, "BEGIN")
        query(a, "SELECT tablecache.invalidate('ni_c', 'primary_key', 2)")
        self.assertEqual(self.v(b, "ni_c", 2), "loud2")
        query(a, "COMMIT")
        self.assertEqual(self.v(b, "ni_c", 2), "silent2b")


class RepeatableRead(SessionsCase):
    """(b) a REPEATABLE READ / SERIALIZABLE transaction never reads data newer than its
    snapshot through the cache, even after the cache was refreshed by someone else."""
    caches = ("rr_c",)
    tables = ("rr_t",)

    def setUp(self):
        super().setUp()
        self.make_kv("rr_t", "rr_c", 10)

    def check_snapshot(self, level):
        a, b = self.a, self.b
        c = self.new_session("session C")
        query(a, "UPDATE rr_t SET v = 'start5' WHERE id = 5")
        self.assertEqual(self.v(b, "rr_c", 5), "start5")
        query(b, "BEGIN ISOLATION LEVEL %s" % level)
        self.assertEqual(self.v(b, "rr_c", 5), "start5")   # takes B's snapshot
        query(a, "UPDATE rr_t SET v = 'after5' WHERE id = 5")  # committed (autocommit)
        query(a, "DELETE FROM rr_t WHERE id = 6")
        query(a, "INSERT INTO rr_t VALUES (20, 'new20')")
        # B's first read after A's commit: the cache has pending invalidations
        self.assertEqual(self.v(b, "rr_c", 5), "start5")
        self.assertEqual(cache_range(b, "rr_c", cols="id, v"), query(b, "SELECT id, v FROM rr_t ORDER BY id"))
        # C (READ COMMITTED) refreshes the cache: it now holds rows newer than B's snapshot
        self.assertEqual(self.v(c, "rr_c", 5), "after5")
        self.assertIsNone(self.v(c, "rr_c", 6))
        self.assertEqual(self.v(c, "rr_c", 20), "new20")
        query(c, "SELECT tablecache.refresh('rr_c')")
        rows, hits, _ = iu.read_counted(c, "rr_c", "SELECT v FROM tablecache.get(NULL::rr_c, 5)")
        self.assertEqual((rows, hits), ([("after5",)], 1), "C's read after the refresh is not from memory")
        # B still reads its snapshot, the same as its plain SELECT of the cache's query
        self.assertEqual(self.v(b, "rr_c", 5), "start5")
        self.assertEqual(self.v(b, "rr_c", 6), "old6")
        self.assertIsNone(self.v(b, "rr_c", 20))
        plain = query(b, "SELECT id, v FROM rr_t ORDER BY id")
        self.assertEqual(cache_range(b, "rr_c", cols="id, v"), plain)
        self.assertEqual(cache_range(b, "rr_c", "primary_key", 4, 7, cols="id, v"), [(4, "old4"), (5, "start5"), (6, "old6")])
        query(b, "COMMIT")
        self.assertEqual(self.v(b, "rr_c", 5), "after5")
        self.assertIsNone(self.v(b, "rr_c", 6))
        self.assertEqual(self.v(b, "rr_c", 20), "new20")
        self.assertEqual(cache_range(b, "rr_c", cols="id, v"), query(b, "SELECT id, v FROM rr_t ORDER BY id"))

    def test_repeatable_read(self):
        self.check_snapshot("REPEATABLE READ")

    def test_serializable(self):
        self.check_snapshot("SERIALIZABLE")

    def test_read_committed_block_sees_each_commit(self):
        """In a READ COMMITTED transaction block every statement sees the commits before it."""
        a, b = self.a, self.b
        query(b, "BEGIN ISOLATION LEVEL READ COMMITTED")
        self.assertEqual(self.v(b, "rr_c", 7), "old7")
        query(a, "UPDATE rr_t SET v = 'rc7' WHERE id = 7")
        self.assertEqual(self.v(b, "rr_c", 7), "rc7")
        query(a, "UPDATE rr_t SET v = 'rc7b' WHERE id = 7")
        self.assertEqual(self.v(b, "rr_c", 7), "rc7b")
        query(b, "COMMIT")


class FanOut(SessionsCase):
    """(c) a cache over orders JOIN customers; a trigger on customers invalidates by the
    index by_customer (customer_id, created_at): renaming a customer reaches every cached
    order of that customer."""
    caches = ("fo_c",)
    tables = ("fo_orders", "fo_customers")

    def setUp(self):
        super().setUp()
        a = self.a
        for t in self.tables:
            query(a, "DROP TABLE IF EXISTS %s CASCADE" % t)
        query(a, "CREATE TABLE fo_customers (id int PRIMARY KEY, name text NOT NULL)")
        query(a, """CREATE TABLE fo_orders (id int PRIMARY KEY, customer_id int NOT NULL REFERENCES fo_customers,
                                            created_at timestamptz NOT NULL, amount numeric NOT NULL)""")
        query(a, "INSERT INTO fo_customers SELECT i, 'customer ' || i FROM generate_series(1, 4) i")
        query(a, """INSERT INTO fo_orders SELECT i, 1 + i % 4, timestamptz '2026-01-01' + i * interval '1 hour', i * 1.5
                    FROM generate_series(1, 40) i""")
        query(a, """SELECT tablecache.create_cache('fo_c',
                      'SELECT o.id, o.customer_id, c.name AS customer_name, o.created_at, o.amount
                         FROM fo_orders o JOIN fo_customers c ON c.id = o.customer_id', ARRAY['id'], maintain => 'manual')""")
        query(a, "SELECT tablecache.create_index('fo_c', 'by_customer', ARRAY['customer_id', 'created_at'])")
        self.assertEqual(scalar(a, "SELECT tablecache.load('fo_c')"), 40)
        query(a, """CREATE TRIGGER fo_orders_inval AFTER INSERT OR UPDATE OR DELETE ON fo_orders
                    FOR EACH ROW EXECUTE FUNCTION tablecache.invalidate_trigger('fo_c', 'primary_key', 'id')""")
        query(a, """CREATE TRIGGER fo_customers_inval AFTER INSERT OR UPDATE OR DELETE ON fo_customers
                    FOR EACH ROW EXECUTE FUNCTION tablecache.invalidate_trigger('fo_c', 'by_customer', 'id')""")

    QUERY = """SELECT o.id, o.customer_id, c.name, o.created_at, o.amount
                 FROM fo_orders o JOIN fo_customers c ON c.id = o.customer_id"""

    def customer_orders(self, conn, cid):
        """(order id, customer_name) of customer cid by a prefix range on by_customer."""
        return query(conn, """SELECT id, customer_name FROM tablecache.range(NULL::fo_c, 'by_customer',
                                     ROW(%s, '-infinity'::timestamptz), ROW(%s, '-infinity'::timestamptz))""",
                     (cid, cid + 1))

    def names_by_order(self, conn):
        return {r[0]: r[1] for r in cache_range(conn, "fo_c", "by_customer", cols="id, customer_name")}

    def test_rename_customer(self):
        a, b = self.a, self.b
        orders_of_2 = [r[0] for r in query(b, "SELECT id FROM fo_orders WHERE customer_id = 2 ORDER BY id")]
        self.assertEqual(len(orders_of_2), 10)
        query(a, "BEGIN")
        query(a, "UPDATE fo_customers SET name = 'Renamed Two' WHERE id = 2")
        for oid in orders_of_2:
            self.assertEqual(cache_get(b, "fo_c", oid, cols="customer_name"), ("customer 2",))
            self.assertEqual(cache_get(a, "fo_c", oid, cols="customer_name"), ("Renamed Two",))
        self.assertEqual(set(self.names_by_order(b).values()), {"customer %d" % i for i in range(1, 5)})
        query(a, "COMMIT")
        names = self.names_by_order(b)
        self.assertEqual(len(names), 40)
        for oid, name in names.items():
            expected = "Renamed Two" if oid in orders_of_2 else "customer %d" % (1 + oid % 4)
            self.assertEqual(name, expected, "order %d" % oid)
        for oid in orders_of_2:
            self.assertEqual(cache_get(b, "fo_c", oid, cols="customer_name"), ("Renamed Two",))
        # every index agrees with the query, and (refreshed) the answers come from memory
        query(b, "SELECT tablecache.refresh('fo_c')")
        before = stats(b, "fo_c")
        self.assertEqual(cache_range(b, "fo_c", "by_customer"),
                         query(b, self.QUERY + " ORDER BY o.customer_id, o.created_at, o.id"))
        self.assertEqual(cache_range(b, "fo_c", "primary_key"), query(b, self.QUERY + " ORDER BY o.id"))
        self.assertEqual(self.customer_orders(b, 2),
                         query(b, "SELECT o.id, c.name FROM fo_orders o JOIN fo_customers c ON c.id = o.customer_id"
                                  " WHERE o.customer_id = 2 ORDER BY o.created_at, o.id"))
        self.assertEqual({name for _, name in self.customer_orders(b, 2)}, {"Renamed Two"})
        d = delta(before, stats(b, "fo_c"))
        self.assertEqual((d["hits"], d["misses"]), (4, 0), d)

    def test_move_order_and_delete_customer(self):
        a, b = self.a, self.b
        query(a, "BEGIN")
        query(a, "UPDATE fo_orders SET customer_id = 3 WHERE id = 5")   # was customer 2
        query(a, "UPDATE fo_customers SET name = 'Three' WHERE id = 3")
        query(a, "DELETE FROM fo_orders WHERE customer_id = 4")
        query(a, "DELETE FROM fo_customers WHERE id = 4")
        self.assertEqual(len(self.customer_orders(b, 4)), 10)
        query(a, "COMMIT")
        self.assertEqual(cache_get(b, "fo_c", 5, cols="customer_id, customer_name"), (3, "Three"))
        self.assertEqual(self.customer_orders(b, 4), [])
        self.assertEqual([oid for oid, _ in self.customer_orders(b, 3)],
                         [r[0] for r in query(b, "SELECT id FROM fo_orders WHERE customer_id = 3 ORDER BY created_at, id")])
        self.assertEqual(cache_range(b, "fo_c", "by_customer"),
                         query(b, self.QUERY + " ORDER BY o.customer_id, o.created_at, o.id"))
        self.assertEqual(cache_range(b, "fo_c", "primary_key"), query(b, self.QUERY + " ORDER BY o.id"))


class Moves(SessionsCase):
    """(d) a window on index by_k: rows whose key moves leave or enter the window, deleted rows
    disappear, inserted ones appear when in the window; every index agrees with the query."""
    caches = ("mv_c",)
    tables = ("mv_t",)

    def build(self, trigger_index, trigger_col):
        a = self.a
        query(a, "DROP TABLE IF EXISTS mv_t CASCADE")
        query(a, "CREATE TABLE mv_t (id int PRIMARY KEY, k int NOT NULL, v text NOT NULL)")
        query(a, "INSERT INTO mv_t SELECT i, i % 200, 'v' || i FROM generate_series(1, 400) i")
        query(a, "SELECT tablecache.create_cache('mv_c', 'SELECT id, k, v FROM mv_t', ARRAY['id'], maintain => 'manual')")
        query(a, "SELECT tablecache.create_index('mv_c', 'by_k', ARRAY['k'])")
        self.assertEqual(scalar(a, "SELECT tablecache.load('mv_c', 'by_k', 0, 100)"), 200)
        query(a, """CREATE TRIGGER mv_inval AFTER INSERT OR UPDATE OR DELETE ON mv_t
                    FOR EACH ROW EXECUTE FUNCTION tablecache.invalidate_trigger('mv_c', %s, %s)""",
              (trigger_index, trigger_col))

    def check(self, what):
        b = self.b
        in_window = query(b, "SELECT id, k, v FROM mv_t WHERE k >= 0 AND k < 100 ORDER BY k, id")
        got = cache_range(b, "mv_c", "by_k", 0, 100)   # B's first statement after A's commit
        self.assertEqual(len(got), len(in_window), "%s: range count" % what)
        self.assertEqual(got, in_window, what)
        for ge, lt in ((0, 50), (10, 11), (20, 21), (50, 100), (100, 200), (150, 151), (90, 110)):
            self.assertEqual(cache_range(b, "mv_c", "by_k", ge, lt),
                             query(b, "SELECT id, k, v FROM mv_t WHERE k >= %s AND k < %s ORDER BY k, id", (ge, lt)),
                             "%s: by_k [%d,%d)" % (what, ge, lt))
        self.assertEqual(cache_range(b, "mv_c", "primary_key"), query(b, "SELECT id, k, v FROM mv_t ORDER BY id"), what)
        for key in (10, 150, 210, 401, 402, 403):
            self.assertEqual(cache_get(b, "mv_c", key) or None,
                             (query(b, "SELECT id, k, v FROM mv_t WHERE id = %s", (key,)) or [None])[0],
                             "%s: get(%d)" % (what, key))
        # refreshed (by B's reads, the background worker or now), the window is served from memory
        query(b, "SELECT tablecache.refresh('mv_c')")
        before = stats(b, "mv_c")
        self.assertEqual(cache_range(b, "mv_c", "by_k", 0, 100), in_window, what)
        self.assertEqual(delta(before, stats(b, "mv_c"))["hits"], 1, "%s: window range not served from memory" % what)

    def run_moves(self):
        a, b = self.a, self.b
        self.check("initial")
        steps = [
            ("row leaves the window", "UPDATE mv_t SET k = 150 WHERE id = 10"),
            ("row enters the window", "UPDATE mv_t SET k = 20 WHERE id = 150"),
            ("row moves inside the window", "UPDATE mv_t SET k = 55 WHERE id = 210"),
            ("row moves outside the window", "UPDATE mv_t SET k = 199 WHERE id = 350"),
            ("delete in window", "DELETE FROM mv_t WHERE id = 20"),
            ("delete outside window", "DELETE FROM mv_t WHERE id = 160"),
            ("insert in window", "INSERT INTO mv_t VALUES (401, 42, 'ins401')"),
            ("insert outside window", "INSERT INTO mv_t VALUES (402, 142, 'ins402')"),
            ("insert at window edges", "INSERT INTO mv_t VALUES (403, 99, 'e99'), (404, 100, 'e100'), (405, 0, 'e0')"),
            ("primary key changes", "UPDATE mv_t SET id = 403 + 10 WHERE id = 30"),
            ("many rows move", "UPDATE mv_t SET k = (k + 50) % 200 WHERE id BETWEEN 60 AND 90 OR id BETWEEN 170 AND 190"),
        ]
        for what, sql in steps:
            query(a, "BEGIN")
            query(a, sql)
            pending = query(b, "SELECT id, k, v FROM tablecache.range(NULL::mv_c, 'by_k', 0, 100)")
            self.assertEqual(pending, query(b, "SELECT id, k, v FROM mv_t WHERE k >= 0 AND k < 100 ORDER BY k, id"),
                             "%s: B saw A's uncommitted change" % what)
            query(a, "COMMIT")
            self.check(what)

    def test_moves_trigger_on_primary_key(self):
        self.build("primary_key", "id")
        self.run_moves()

    def test_moves_trigger_on_window_index(self):
        self.build("by_k", "k")
        self.run_moves()


class AdjustAfterInvalidation(SessionsCase):
    """docs/reference.md §5.2: pending invalidations are applied before a window adjustment: a
    row changed (and committed) in A that stays in the window is not served stale after B
    adjusts."""
    caches = ("aj_c",)
    tables = ("aj_t",)

    def test_adjust_applies_pending(self):
        a, b = self.a, self.b
        query(a, "DROP TABLE IF EXISTS aj_t CASCADE")
        query(a, "CREATE TABLE aj_t (id int PRIMARY KEY, v text NOT NULL)")
        query(a, "INSERT INTO aj_t SELECT i, 'old' || i FROM generate_series(0, 199) i")
        query(a, "SELECT tablecache.create_cache('aj_c', 'SELECT id, v FROM aj_t', ARRAY['id'], maintain => 'manual')")
        self.assertEqual(scalar(a, "SELECT tablecache.load('aj_c', 'primary_key', 0, 100)"), 100)
        query(a, """CREATE TRIGGER aj_inval AFTER INSERT OR UPDATE OR DELETE ON aj_t
                    FOR EACH ROW EXECUTE FUNCTION tablecache.invalidate_trigger('aj_c', 'primary_key', 'id')""")
        query(a, "BEGIN")
        query(a, "UPDATE aj_t SET v = 'new' || id WHERE id IN (10, 60, 120)")   # leaves, stays, enters
        query(a, "DELETE FROM aj_t WHERE id = 61")
        query(a, "INSERT INTO aj_t VALUES (250, 'new250')")
        query(a, "COMMIT")
        self.assertEqual(scalar(b, "SELECT tablecache.adjust('aj_c', 'primary_key', 50, 150)") >= 50, True)
        expected = query(b, "SELECT id, v FROM aj_t WHERE id >= 50 AND id < 150 ORDER BY id")
        before = stats(b, "aj_c")
        self.assertEqual(cache_range(b, "aj_c", "primary_key", 50, 150), expected)
        self.assertEqual(delta(before, stats(b, "aj_c"))["hits"], 1)
        self.assertEqual(self.v(b, "aj_c", 60), "new60")
        self.assertIsNone(self.v(b, "aj_c", 61))
        self.assertEqual(self.v(b, "aj_c", 120), "new120")
        self.assertEqual(self.v(b, "aj_c", 10), "new10")
        # an invalidation committed while the window is [50,150) for a row outside it, then
        # the window moves over that row
        query(a, "UPDATE aj_t SET v = 'newer' || id WHERE id IN (20, 160)")
        query(b, "SELECT tablecache.adjust('aj_c', 'primary_key', 0, 200)")
        self.assertEqual(cache_range(b, "aj_c", "primary_key", 0, 200),
                         query(b, "SELECT id, v FROM aj_t WHERE id >= 0 AND id < 200 ORDER BY id"))


class Bulk(SessionsCase):
    """Many invalidations in one transaction (past the per-transaction bulk limit the whole
    cache is invalidated); in a rolled-back savepoint they vanish and later single-row
    invalidations of the same transaction still count."""
    caches = ("bk_c",)
    tables = ("bk_t",)

    def setUp(self):
        super().setUp()
        self.make_kv("bk_t", "bk_c", 5000)

    def test_bulk_update(self):
        a, b = self.a, self.b
        query(a, "BEGIN")
        query(a, "UPDATE bk_t SET v = 'bulk' || id WHERE id <= 4000")
        self.assertEqual(self.v(b, "bk_c", 1), "old1")
        self.assertEqual(self.v(a, "bk_c", 1), "bulk1")
        query(a, "COMMIT")
        self.assertEqual(cache_range(b, "bk_c"), query(b, "SELECT id, v FROM bk_t ORDER BY id"))

    def test_bulk_in_rolled_back_savepoint(self):
        a, b = self.a, self.b
        query(a, "BEGIN")
        query(a, "SAVEPOINT s")
        query(a, "UPDATE bk_t SET v = 'gone' || id WHERE id <= 3000")
        query(a, "ROLLBACK TO SAVEPOINT s")
        query(a, "UPDATE bk_t SET v = 'kept' WHERE id = 4500")
        query(a, "COMMIT")
        self.assertEqual(self.v(b, "bk_c", 4500), "kept")
        self.assertEqual(self.v(b, "bk_c", 1), "old1")
        self.assertEqual(cache_range(b, "bk_c"), query(b, "SELECT id, v FROM bk_t ORDER BY id"))

    def test_bulk_in_released_savepoint(self):
        a, b = self.a, self.b
        query(a, "BEGIN")
        query(a, "SAVEPOINT s")
        query(a, "UPDATE bk_t SET v = 'rel' || id WHERE id <= 3000")
        query(a, "RELEASE SAVEPOINT s")
        query(a, "UPDATE bk_t SET v = 'after' WHERE id = 4999")
        self.assertEqual(self.v(b, "bk_c", 1), "old1")
        query(a, "COMMIT")
        self.assertEqual(self.v(b, "bk_c", 1), "rel1")
        self.assertEqual(self.v(b, "bk_c", 4999), "after")
        self.assertEqual(cache_range(b, "bk_c"), query(b, "SELECT id, v FROM bk_t ORDER BY id"))


class Savepoints(SessionsCase):
    """(e) invalidations inside a rolled-back savepoint vanish, inside a released one they
    stay, inside a released one within a rolled-back one they vanish."""
    caches = ("sp_c",)
    tables = ("sp_t",)

    def test_savepoints(self):
        a, b = self.a, self.b
        self.make_kv("sp_t", "sp_c", 10)
        # rows 1, 3 and 5 change in the table without an invalidation: the cache keeps the old
        # values until something invalidates them
        query(a, "ALTER TABLE sp_t DISABLE TRIGGER sp_t_inval")
        query(a, "UPDATE sp_t SET v = 'db' || id WHERE id IN (1, 3, 5)")
        query(a, "ALTER TABLE sp_t ENABLE TRIGGER sp_t_inval")
        for k in (1, 3, 5):
            self.assertEqual(self.v(b, "sp_c", k), "old%d" % k)
        before = stats(b, "sp_c")
        query(a, "BEGIN")
        query(a, "SAVEPOINT s1")
        query(a, "SELECT tablecache.invalidate('sp_c', 'primary_key', 1)")
        query(a, "UPDATE sp_t SET v = 'gone2' WHERE id = 2")
        query(a, "ROLLBACK TO SAVEPOINT s1")
        query(a, "SAVEPOINT s2")
        query(a, "SELECT tablecache.invalidate('sp_c', 'primary_key', 3)")
        query(a, "UPDATE sp_t SET v = 'kept4' WHERE id = 4")
        query(a, "RELEASE SAVEPOINT s2")
        query(a, "SAVEPOINT outer_sp")
        query(a, "SAVEPOINT inner_sp")
        query(a, "SELECT tablecache.invalidate('sp_c', 'primary_key', 5)")
        query(a, "UPDATE sp_t SET v = 'gone6' WHERE id = 6")
        query(a, "RELEASE SAVEPOINT inner_sp")
        query(a, "ROLLBACK TO SAVEPOINT outer_sp")
        self.assertEqual(self.v(a, "sp_c", 4), "kept4")
        self.assertEqual(self.v(a, "sp_c", 2), "old2")
        self.assertEqual(self.v(a, "sp_c", 6), "old6")
        for k in range(1, 7):
            self.assertEqual(self.v(b, "sp_c", k), "old%d" % k, "B sees key %d changed before A commits" % k)
        query(a, "COMMIT")
        self.assertEqual(self.v(b, "sp_c", 1), "old1", "the rolled-back savepoint's invalidation of 1 was applied")
        self.assertEqual(self.v(b, "sp_c", 2), "old2")
        self.assertEqual(self.v(b, "sp_c", 3), "db3", "the released savepoint's invalidation of 3 was lost")
        self.assertEqual(self.v(b, "sp_c", 4), "kept4", "the released savepoint's update of 4 is not seen")
        self.assertEqual(self.v(b, "sp_c", 5), "old5", "an invalidation released into a rolled-back savepoint was applied")
        self.assertEqual(self.v(b, "sp_c", 6), "old6")
        d = delta(before, stats(b, "sp_c"))
        self.assertEqual(d["invalidations"], 2, d)   # keys 3 and 4

    def test_whole_transaction_rolled_back_after_release(self):
        a, b = self.a, self.b
        self.make_kv("sp_t", "sp_c", 4)
        before = stats(b, "sp_c")
        query(a, "BEGIN")
        query(a, "SAVEPOINT s")
        query(a, "UPDATE sp_t SET v = 'x' WHERE id = 1")
        query(a, "RELEASE SAVEPOINT s")
        query(a, "ROLLBACK")
        self.assertEqual(self.v(b, "sp_c", 1), "old1")
        self.assertEqual(delta(before, stats(b, "sp_c"))["invalidations"], 0)


class Truncate(SessionsCase):
    """(f) TRUNCATE with an AFTER TRUNCATE statement trigger."""
    caches = ("tr_c",)
    tables = ("tr_t",)

    def setUp(self):
        super().setUp()
        self.make_kv("tr_t", "tr_c", 50)
        query(self.a, """CREATE TRIGGER tr_t_truncate AFTER TRUNCATE ON tr_t
                         FOR EACH STATEMENT EXECUTE FUNCTION tablecache.invalidate_trigger('tr_c', 'primary_key', 'id')""")

    def test_truncate_commit(self):
        a, b = self.a, self.b
        query(a, "BEGIN")
        query(a, "TRUNCATE tr_t")
        self.assertEqual(cache_range(a, "tr_c"), [])
        query(a, "COMMIT")
        self.assertEqual(cache_range(b, "tr_c"), [])
        self.assertEqual(cache_range(b, "tr_c"), query(b, "SELECT id, v FROM tr_t ORDER BY id"))
        self.assertIsNone(cache_get(b, "tr_c", 1))
        query(b, "SELECT tablecache.refresh('tr_c')")
        before = stats(b, "tr_c")
        self.assertEqual(cache_range(b, "tr_c", "primary_key", 1, 100), [])
        self.assertEqual(delta(before, stats(b, "tr_c"))["hits"], 1, "the empty cache is not served from memory")

    def test_truncate_then_insert(self):
        a, b = self.a, self.b
        query(a, "BEGIN")
        query(a, "TRUNCATE tr_t")
        query(a, "INSERT INTO tr_t VALUES (7, 'after7'), (70, 'after70')")
        query(a, "COMMIT")
        self.assertEqual(cache_range(b, "tr_c"), [(7, "after7"), (70, "after70")])
        self.assertEqual(cache_range(b, "tr_c"), query(b, "SELECT id, v FROM tr_t ORDER BY id"))

    def test_truncate_rollback(self):
        a, b = self.a, self.b
        before = stats(b, "tr_c")
        query(a, "BEGIN")
        query(a, "TRUNCATE tr_t")
        query(a, "ROLLBACK")
        self.assertEqual(cache_range(b, "tr_c"), [(i, "old%d" % i) for i in range(1, 51)])
        d = delta(before, stats(b, "tr_c"))
        self.assertEqual((d["invalidations"], d["refreshes"], d["hits"]), (0, 0, 1), d)


class TransitionTables(SessionsCase):
    """Statement-level triggers with REFERENCING transition tables: a bulk statement in A is
    seen by B after A commits."""
    caches = ("tt_c",)
    tables = ("tt_t",)

    def test_bulk_statements(self):
        a, b = self.a, self.b
        self.make_kv("tt_t", "tt_c", 100, trigger=False)
        for ev, ref in (("INSERT", "NEW TABLE AS n"), ("UPDATE", "OLD TABLE AS o NEW TABLE AS n"),
                        ("DELETE", "OLD TABLE AS o")):
            query(a, """CREATE TRIGGER tt_%s AFTER %s ON tt_t REFERENCING %s
                        FOR EACH STATEMENT EXECUTE FUNCTION tablecache.invalidate_trigger('tt_c', 'primary_key', 'id')"""
                  % (ev.lower(), ev, ref))
        query(a, "BEGIN")
        query(a, "UPDATE tt_t SET v = 'bulk' || id WHERE id % 3 = 0")
        query(a, "DELETE FROM tt_t WHERE id % 10 = 1")
        query(a, "INSERT INTO tt_t SELECT i, 'ins' || i FROM generate_series(101, 120) i")
        query(a, "UPDATE tt_t SET id = id + 1000 WHERE id BETWEEN 50 AND 52")
        self.assertEqual(cache_range(b, "tt_c"), [(i, "old%d" % i) for i in range(1, 101)])
        query(a, "COMMIT")
        self.assertEqual(cache_range(b, "tt_c"), query(b, "SELECT id, v FROM tt_t ORDER BY id"))
        query(b, "SELECT tablecache.refresh('tt_c')")
        before = stats(b, "tt_c")
        self.assertEqual(cache_range(b, "tt_c"), query(b, "SELECT id, v FROM tt_t ORDER BY id"))
        self.assertEqual(delta(before, stats(b, "tt_c"))["hits"], 1)


class OtherRoleWrites(SessionsCase):
    """(g) a role that does not own the cache writes the table: the trigger works for it and
    every session sees the change; the role may not invalidate by calling the function."""
    caches = ("ro_c",)
    tables = ("ro_t",)
    ROLE = "tc_inval_writer"

    def setUp(self):
        super().setUp()
        self.make_kv("ro_t", "ro_c", 10)
        iu.create_role(self.a, self.ROLE)
        query(self.a, "GRANT SELECT, INSERT, UPDATE, DELETE ON ro_t TO %s" % self.ROLE)
        self.w = iu.session_as(__name__, self.ROLE, "writer role")
        self.extra.append(self.w)

    def tearDown(self):
        try:
            super().tearDown()
        finally:
            admin = iu.session(__name__, "teardown role")
            try:
                iu.drop_role(admin, self.ROLE)
            finally:
                admin.close()

    def test_non_owner_writes(self):
        """The writer only writes (it needs nothing of the tablecache schema for that)."""
        w, b = self.w, self.b
        self.assertEqual(scalar(w, "SELECT current_user"), self.ROLE)
        before = stats(b, "ro_c")
        query(w, "BEGIN")
        query(w, "UPDATE ro_t SET v = 'by role' WHERE id = 2")
        query(w, "INSERT INTO ro_t VALUES (11, 'inserted by role')")
        query(w, "DELETE FROM ro_t WHERE id = 3")
        self.assertEqual(self.v(b, "ro_c", 2), "old2")
        query(w, "COMMIT")
        self.assertEqual(self.v(b, "ro_c", 2), "by role")
        self.assertEqual(self.v(b, "ro_c", 11), "inserted by role")
        self.assertIsNone(self.v(b, "ro_c", 3))
        self.assertEqual(cache_range(b, "ro_c"), query(b, "SELECT id, v FROM ro_t ORDER BY id"))
        self.assertEqual(delta(before, stats(b, "ro_c"))["invalidations"], 3)
        # in autocommit too
        query(w, "UPDATE ro_t SET v = 'again' WHERE id = 2")
        self.assertEqual(self.v(b, "ro_c", 2), "again")
        # a rolled-back write by the role leaves no trace
        query(w, "BEGIN")
        query(w, "UPDATE ro_t SET v = 'rolled' WHERE id = 4")
        query(w, "ROLLBACK")
        self.assertEqual(self.v(b, "ro_c", 4), "old4")

    def test_non_owner_reads_its_write_and_may_not_invalidate(self):
        """docs/reference.md §10: a role with SELECT on the base tables reads through the cache
        (and, in its open transaction, sees its own write); only the owner calls invalidate."""
        w, b = self.w, self.b
        self.assertEqual(self.v(w, "ro_c", 2), "old2")
        query(w, "BEGIN")
        query(w, "UPDATE ro_t SET v = 'by role' WHERE id = 2")
        self.assertEqual(self.v(b, "ro_c", 2), "old2")
        self.assertEqual(self.v(w, "ro_c", 2), "by role")
        query(w, "COMMIT")
        self.assertEqual(self.v(b, "ro_c", 2), "by role")
        self.assertEqual(cache_range(w, "ro_c"), query(w, "SELECT id, v FROM ro_t ORDER BY id"))
        with self.assertRaises(psycopg2.Error) as cm:
            query(w, "SELECT tablecache.invalidate('ro_c', 'primary_key', 4)")
        self.assertEqual(cm.exception.pgcode, "42501", cm.exception)
        self.assertIn("ro_c", str(cm.exception))
        with self.assertRaises(psycopg2.Error) as cm:
            query(w, "SELECT tablecache.invalidate_range('ro_c', 'primary_key', 1, 5)")
        self.assertEqual(cm.exception.pgcode, "42501", cm.exception)
        self.assertIn("ro_c", str(cm.exception))


class RowSecurityEnabledLater(SessionsCase):
    """create_cache refuses a query over a table with row-level security (its rows cannot be
    shared). When RLS is enabled on the table after the cache was created, a refresh run by a
    reader whom a policy restricts must not change what the other sessions read, and that
    reader must not be given rows its policy hides."""
    caches = ("rls_c",)
    tables = ("rls_t",)
    ROLE = "tc_inval_rls_reader"

    def setUp(self):
        super().setUp()
        a = self.a
        query(a, "DROP TABLE IF EXISTS rls_t CASCADE")
        query(a, "CREATE TABLE rls_t (id int PRIMARY KEY, v text NOT NULL, tenant text NOT NULL)")
        query(a, """INSERT INTO rls_t SELECT i, 'v' || i, CASE WHEN i %% 2 = 0 THEN 'even' ELSE 'odd' END
                    FROM generate_series(1, %s) i""", (10,))
        query(a, "SELECT tablecache.create_cache('rls_c', 'SELECT id, v, tenant FROM rls_t', ARRAY['id'], maintain => 'manual')")
        self.assertEqual(scalar(a, "SELECT tablecache.load('rls_c')"), 10)
        query(a, """CREATE TRIGGER rls_inval AFTER INSERT OR UPDATE OR DELETE ON rls_t
                    FOR EACH ROW EXECUTE FUNCTION tablecache.invalidate_trigger('rls_c', 'primary_key', 'id')""")
        iu.create_role(a, self.ROLE)
        query(a, "GRANT SELECT ON rls_t TO %s" % self.ROLE)
        query(a, "CREATE POLICY odd_only ON rls_t FOR SELECT TO %s USING (tenant = 'odd')" % self.ROLE)
        query(a, "ALTER TABLE rls_t ENABLE ROW LEVEL SECURITY")
        self.r = iu.session_as(__name__, self.ROLE, "rls reader")
        self.extra.append(self.r)

    def tearDown(self):
        try:
            super().tearDown()
        finally:
            admin = iu.session(__name__, "teardown role")
            try:
                iu.drop_role(admin, self.ROLE)
            finally:
                admin.close()

    def restricted_read(self):
        """The restricted reader's range: rows, or None when the extension refuses."""
        try:
            return query(self.r, "SELECT id, v, tenant FROM tablecache.range(NULL::rls_c, 'primary_key')")
        except psycopg2.Error:
            return None

    def test_restricted_reader_does_not_change_the_shared_cache(self):
        a, b, r = self.a, self.b, self.r
        query(a, "UPDATE rls_t SET v = 'changed' || id WHERE id IN (2, 3)")   # pending invalidations
        # r applies the pending invalidations (refresh needs only read access); refusing is fine
        try:
            query(r, "SELECT tablecache.refresh('rls_c')")
        except psycopg2.Error:
            pass
        self.assertEqual(cache_range(b, "rls_c"), query(b, "SELECT id, v, tenant FROM rls_t ORDER BY id"),
                         "a refresh by a reader restricted by row-level security changed the shared cache")

    def test_restricted_reader_gets_no_hidden_rows(self):
        r = self.r
        got = self.restricted_read()
        visible = query(r, "SELECT id, v, tenant FROM rls_t ORDER BY id")
        self.assertEqual(len(visible), 5)
        self.assertIn(got, (None, visible), "the restricted reader got rows its policy hides")


class DropWhileInvalidating(SessionsCase):
    """A cache dropped (in B) while a transaction that invalidated it is open (in A): A's
    commit succeeds and leaves nothing behind in shared memory (each cache slot is one of
    tablecache.max_caches; a slot kept for a cache that no longer exists is lost for good)."""
    caches = ("dw_c",)
    tables = ("dw_t",)

    def test_drop_during_open_invalidation(self):
        a, b = self.a, self.b
        self.make_kv("dw_t", "dw_c", 10)
        self.assertEqual(scalar(b, "SELECT count(*) FROM tablecache.slot_info()"), 1)
        query(a, "BEGIN")
        query(a, "UPDATE dw_t SET v = 'x' WHERE id = 1")
        query(b, "SELECT tablecache.drop_cache('dw_c')")
        self.assertEqual(scalar(b, "SELECT count(*) FROM tablecache.slot_info()"), 0)
        query(a, "COMMIT")
        self.assertEqual(query(b, "SELECT cache_id, loaded FROM tablecache.slot_info()"), [],
                         "the commit re-created a shared slot for the dropped cache")
        query(a, "DROP TRIGGER dw_t_inval ON dw_t")
        # a new cache of the same name is not confused with the dropped one
        query(a, "SELECT tablecache.create_cache('dw_c', 'SELECT id, v FROM dw_t', ARRAY['id'], maintain => 'manual')")
        self.assertEqual(scalar(a, "SELECT tablecache.load('dw_c')"), 10)
        self.assertEqual(cache_range(b, "dw_c"), query(b, "SELECT id, v FROM dw_t ORDER BY id"))
        self.assertEqual(scalar(b, "SELECT count(*) FROM tablecache.slot_info()"), 1)


if __name__ == "__main__":
    unittest.main()
