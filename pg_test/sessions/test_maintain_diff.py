"""Differential, randomized, seeded multi-session test of self-maintenance (maintain => 'auto').

The cache: a join of eight tables (nine instances, customers twice) with inner joins and
LEFT JOINs, foreign keys with ON DELETE CASCADE / SET NULL and ON UPDATE CASCADE, one with no
action on delete (deferrable) and a nullable one under an inner join, a LEFT JOIN to a table
without a foreign key (promos, by a unique code), filters in ON clauses of inner and outer
joins, a WHERE filter, computed columns; orders is partitioned by its window column. The
tables are found in all five ways of tablecache.dependencies (WAYS: re-read through a foreign
key, an output index, a hidden lineage key, an outer join's partner, everything). Four cache
indexes: primary_key (id), by_time (created_at: the window), by_customer and by_product
((key, created_at)). The loaded window on by_time holds about a third of the orders, so rows
move in and out of it when created_at, status, a customer's tier, a warehouse's open flag or
a product's category change.

Random transactions, generated from one seed, write every base table: inserts, updates of
every column (join keys, primary keys, the window column, filter columns, values), deletes
with cascades, a referenced row deleted and inserted again (one statement, or two with the
foreign key deferred), writable CTEs over two tables, MERGE, COPY FROM STDIN, writes to one
partition, TRUNCATE (of a partition, of a table, with CASCADE), bulk transactions of more
than 2000 changed rows (the whole-cache invalidation; tablecache has no setting for that
threshold), savepoints rolled back or released, errors rolled back to a savepoint, whole
transactions rolled back, REPEATABLE READ writers, a window moved by tablecache.adjust inside
a writing transaction, and reads through the cache inside the writing transaction (they must
show its own changes). Rounds:
- pair (about half): two writer sessions (threads, one connection each) do their work, then
  are committed in a random order; a writer waiting for the other's row lock (seen in
  pg_blocking_pids) is committed after it; a deadlock or a constraint error caused by the
  other writer rolls its transaction back;
- solo: one writer (TRUNCATE, bulk and window moves run alone: an ACCESS EXCLUSIVE lock or
  the cache's writer lock would hold up the reader);
- burst (rare): 10..80 transactions committed back to back with nothing reading the cache,
  so that pending invalidations pile up past their limit; checked after the last.
Meanwhile a racing reader session reads through the cache all the time (refreshing pending
invalidations while writers commit); it is paused while the checks count hits.

After each commit (and after some rollbacks) a reader session checks, in one statement,
that every index of the cache over the whole window equals the query restricted to the
window, both ways (EXCEPT ALL):
- by_time: tablecache.range over [ge, lt), also in key order;
- by_customer / by_product: tablecache.range(ROW(k, ge), ROW(k, lt)) for every key k of the
  base table, of the cache and of the query (the "one customer in the window" shape), in key
  order;
- primary_key: tablecache.get of every id of the cache and of the query;
that every one of those reads is a hit (tablecache.stats: hits grow by the number of reads,
misses do not), and that tablecache.caches shows the window and its row count. A few more
point gets (in, outside and not in the window, absent ids) must return what the query
returns.

CI budget: 2000 transactions, fixed seed (under a minute with a debug build on 2 cores,
when the tests pass). Longer runs, on a private server of their own:

    scripts/maintain-diff.sh [--txns N] [--seed S]

or against any server: TABLECACHE_DIFF_TXNS=N TABLECACHE_DIFF_SEED=S
python3 pg_test/sessions/run.py test_maintain_diff.py. TABLECACHE_DIFF_VERBOSE=1 prints
progress, TABLECACHE_DIFF_KEEP=1 keeps the database.

A failure prints TABLECACHE_DIFF_SEED=..., the failing transaction's statements (and the
concurrent writer's), the rows that differ, and writes a replay script (TABLECACHE_DIFF_DIR,
default /tmp): the schema, the initial rows, the cache, and every committed transaction in
commit order up to the failing one (the two transactions of a pair one after the other, so
their statements may meet slightly different rows than they did concurrently).
"""
import copy
import io
import os
import random
import sys
import threading
import time
import unittest
from datetime import datetime, timedelta, timezone

import psycopg2
import psycopg2.errors

import harness
from harness import query, scalar

CACHE = "diff_c"
TXNS = int(os.environ.get("TABLECACHE_DIFF_TXNS", "2000"))
SEED = int(os.environ.get("TABLECACHE_DIFF_SEED", "20260611"))
OUT_DIR = os.environ.get("TABLECACHE_DIFF_DIR", "/tmp")
VERBOSE = os.environ.get("TABLECACHE_DIFF_VERBOSE", "") not in ("", "0")
KEEP = os.environ.get("TABLECACHE_DIFF_KEEP", "") not in ("", "0")   # keep the database after a run
GUARD_MS = 120000           # statement_timeout of every session: a hang becomes an error
WAIT_S = 180                # the coordinator's limit for a writer to finish its work

UTC = timezone.utc
T0 = datetime(2025, 12, 31, tzinfo=UTC)          # orders' created_at lie in [T0, T0 + 13 days)
SPAN_S = 13 * 86400
GE = datetime(2026, 1, 4, tzinfo=UTC)            # the first cached window [GE, LT) on by_time
LT = datetime(2026, 1, 8, tzinfo=UTC)
STATUSES = ["new", "paid", "shipped", "void"]    # 'void' orders are filtered out
CODES = ["P%d" % i for i in range(16)]           # promo codes (orders may name absent ones)
BULK = 2000                                      # invalidations past which a txn invalidates all

# The ways tablecache.dependencies finds each table's rows: the query is built to use all five.
# (products are not re-read through their foreign keys: category_id may be NULL)
WAYS = {"orders": "index", "customers": "index+reread", "customer_notes": "partner", "products": "index",
        "categories": "reread", "warehouses": "hidden", "regions": "everything", "promos": "everything"}

# target sizes; the generator steers towards them
N_REGIONS, N_CUSTOMERS, N_CATEGORIES, N_PRODUCTS, N_PROMOS, N_ORDERS = 6, 50, 6, 30, 8, 600
N_WAREHOUSES = 4
# orders' partitions: (name, from, to), None for unbounded (orders_rest is the default one)
PARTITIONS = [("orders_old", None, datetime(2026, 1, 3, tzinfo=UTC)),
              ("orders_mid", datetime(2026, 1, 3, tzinfo=UTC), datetime(2026, 1, 7, tzinfo=UTC)),
              ("orders_new", datetime(2026, 1, 7, tzinfo=UTC), datetime(2026, 1, 10, tzinfo=UTC))]

SCHEMA = """
CREATE TABLE regions (id int PRIMARY KEY, name text NOT NULL, active boolean NOT NULL);
CREATE TABLE customers (
    id int PRIMARY KEY,
    region_id int REFERENCES regions ON DELETE SET NULL ON UPDATE CASCADE,
    referrer_id int REFERENCES customers ON DELETE SET NULL ON UPDATE CASCADE,
    name text NOT NULL,
    tier int NOT NULL);
CREATE TABLE customer_notes (
    customer_id int PRIMARY KEY REFERENCES customers ON DELETE CASCADE ON UPDATE CASCADE,
    note text NOT NULL,
    visible boolean NOT NULL);
CREATE TABLE categories (id int PRIMARY KEY, name text NOT NULL);
CREATE TABLE products (
    id int PRIMARY KEY,
    -- nullable (a product without a category is not in the inner join), no action on delete
    -- (a category can be deleted and inserted again while products reference it)
    category_id int REFERENCES categories ON UPDATE CASCADE DEFERRABLE INITIALLY IMMEDIATE,
    name text NOT NULL,
    price numeric(10,2) NOT NULL);
CREATE TABLE promos (id int PRIMARY KEY, code text NOT NULL UNIQUE, discount int);
CREATE TABLE warehouses (id int PRIMARY KEY, name text NOT NULL, open boolean NOT NULL);
CREATE TABLE orders (
    id int NOT NULL,
    customer_id int NOT NULL REFERENCES customers ON DELETE CASCADE ON UPDATE CASCADE,
    -- no action on delete: a product can be deleted and inserted again in one statement (or in
    -- one transaction, the check deferred) while orders reference it
    product_id int NOT NULL REFERENCES products ON UPDATE CASCADE DEFERRABLE INITIALLY IMMEDIATE,
    promo_code text,
    created_at timestamptz NOT NULL,
    qty int NOT NULL,
    status text NOT NULL,
    warehouse_id int NOT NULL REFERENCES warehouses ON DELETE CASCADE ON UPDATE CASCADE,
    PRIMARY KEY (id, created_at)) PARTITION BY RANGE (created_at);
CREATE TABLE orders_old PARTITION OF orders FOR VALUES FROM (MINVALUE) TO ('2026-01-03 00:00+00');
CREATE TABLE orders_mid PARTITION OF orders FOR VALUES FROM ('2026-01-03 00:00+00') TO ('2026-01-07 00:00+00');
CREATE TABLE orders_new PARTITION OF orders FOR VALUES FROM ('2026-01-07 00:00+00') TO ('2026-01-10 00:00+00');
CREATE TABLE orders_rest PARTITION OF orders DEFAULT;
CREATE INDEX ON customers (region_id);
CREATE INDEX ON customers (referrer_id);
CREATE INDEX ON products (category_id);
CREATE INDEX ON orders (customer_id);
CREATE INDEX ON orders (product_id);
CREATE INDEX ON orders (promo_code);
CREATE INDEX ON orders (created_at);
CREATE INDEX ON orders (warehouse_id);
"""

QUERY = """
SELECT o.id, o.customer_id, o.product_id, o.created_at, o.qty, o.status, o.promo_code,
       c.name AS customer_name, c.tier, c.region_id, r.name AS region_name,
       ref.name AS referrer_name, n.note,
       p.name AS product_name, p.price * o.qty AS total,
       cat.name AS category_name, w.name AS warehouse,
       pr.discount, upper(o.status) || ':' || coalesce(pr.code, '-') AS label
FROM orders o
JOIN customers c ON c.id = o.customer_id
LEFT JOIN regions r ON r.id = c.region_id AND r.active
LEFT JOIN customers ref ON ref.id = c.referrer_id
LEFT JOIN customer_notes n ON n.customer_id = c.id AND n.visible
JOIN products p ON p.id = o.product_id
JOIN categories cat ON cat.id = p.category_id
JOIN warehouses w ON w.id = o.warehouse_id AND w.open
LEFT JOIN promos pr ON pr.code = o.promo_code
WHERE o.status <> 'void' AND c.tier < 9
"""

INDEXES = [("by_time", ["created_at"]),
           ("by_customer", ["customer_id", "created_at"]),
           ("by_product", ["product_id", "created_at"])]

# errors a transaction may meet because of the other writer (or of the generator's
# approximate model): the transaction is rolled back. Anything else fails the test: a write
# must never fail because of a cache.
TOLERATED = {"23502", "23503", "23505", "40P01", "40001"}


def setUpModule():
    harness.setup_module_db(__name__)


def tearDownModule():
    if KEEP:
        print("test_maintain_diff: database %s kept" % harness._dbs.get(__name__), file=sys.stderr)
        return
    try:
        c = session("cleanup")
        try:
            for (name,) in query(c, "SELECT name FROM tablecache.caches"):
                query(c, "SELECT tablecache.drop_cache(%s)", (name,))
        finally:
            c.close()
    except psycopg2.Error:
        pass
    harness.teardown_module_db(__name__)


def session(name):
    conn = harness.connect(__name__, application_name=name)
    query(conn, "SET statement_timeout = %s", (GUARD_MS,))
    query(conn, "SET TimeZone = 'UTC'")
    # the checks' lateral calls of tablecache.range/get are estimated at 100 rows each: the
    # plans' costs would pass jit_above_cost, and compiling them takes seconds
    query(conn, "SET jit = off")
    return conn


# ------------------------------------------------------------------------------------------
# SQL text

def lit(v):
    if v is None:
        return "NULL"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, datetime):
        return "'%s'::timestamptz" % v.astimezone(UTC).isoformat(sep=" ")
    return "'%s'" % str(v).replace("'", "''")


def copy_text(v):
    if v is None:
        return "\\N"
    if isinstance(v, bool):
        return "t" if v else "f"
    if isinstance(v, datetime):
        return v.astimezone(UTC).isoformat(sep=" ")
    return str(v).replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


def in_list(ids):
    return "(%s)" % ", ".join(lit(i) for i in ids) if ids else "(NULL)"


class Step:
    """One statement of a planned transaction."""

    def __init__(self, sql, copy_rows=None, expect_error=False, zeros=False):
        self.sql = sql
        self.copy_rows = copy_rows        # for COPY ... FROM STDIN: the data lines
        self.expect_error = expect_error  # the statement fails on purpose (rolled back to a savepoint)
        self.zeros = zeros                # a check: the statement returns one row of zeros

    def text(self):
        if self.copy_rows is None:
            return self.sql + ";"
        return self.sql + ";\n" + "".join(line + "\n" for line in self.copy_rows) + "\\."


# ------------------------------------------------------------------------------------------
# the model: what the generator believes the tables hold (ids and references)

class Model:
    def __init__(self, conn):
        self.regions = {r[0]: r[1] for r in query(conn, "SELECT id, active FROM regions")}
        self.customers = {r[0]: [r[1], r[2]] for r in query(conn, "SELECT id, region_id, referrer_id FROM customers")}
        self.categories = {r[0] for r in query(conn, "SELECT id FROM categories")}
        self.products = {r[0]: r[1] for r in query(conn, "SELECT id, category_id FROM products")}
        self.promos = {r[0]: r[1] for r in query(conn, "SELECT id, code FROM promos")}
        self.notes = {r[0] for r in query(conn, "SELECT customer_id FROM customer_notes")}
        self.warehouses = {r[0]: r[1] for r in query(conn, "SELECT id, open FROM warehouses")}
        self.orders = {r[0]: [r[1], r[2]] for r in query(conn, "SELECT id, customer_id, product_id FROM orders")}

    def clone(self):
        return copy.deepcopy(self)

    # effects of deletes and key changes, as the foreign keys apply them
    def del_customer(self, cid):
        self.customers.pop(cid, None)
        self.notes.discard(cid)
        for c in self.customers.values():
            if c[1] == cid:
                c[1] = None
        for o in [o for o, v in self.orders.items() if v[0] == cid]:
            del self.orders[o]

    def del_product(self, pid):
        self.products.pop(pid, None)
        for o in [o for o, v in self.orders.items() if v[1] == pid]:
            del self.orders[o]

    def del_category(self, cat):
        self.categories.discard(cat)
        for p in self.products:
            if self.products[p] == cat:
                self.products[p] = None

    def del_region(self, rid):
        self.regions.pop(rid, None)
        for c in self.customers.values():
            if c[0] == rid:
                c[0] = None

    def rekey_customer(self, old, new):
        if old not in self.customers:
            return
        self.customers[new] = self.customers.pop(old)
        if old in self.notes:
            self.notes.discard(old)
            self.notes.add(new)
        for c in self.customers.values():
            if c[1] == old:
                c[1] = new
        for v in self.orders.values():
            if v[0] == old:
                v[0] = new

    def rekey_product(self, old, new):
        if old not in self.products:
            return
        self.products[new] = self.products.pop(old)
        for v in self.orders.values():
            if v[1] == old:
                v[1] = new

    def rekey_category(self, old, new):
        if old not in self.categories:
            return
        self.categories.discard(old)
        self.categories.add(new)
        for p in self.products:
            if self.products[p] == old:
                self.products[p] = new

    def rekey_region(self, old, new):
        if old not in self.regions:
            return
        self.regions[new] = self.regions.pop(old)
        for c in self.customers.values():
            if c[0] == old:
                c[0] = new


class Ids:
    """Fresh primary keys, unique across both writers and the whole run."""

    def __init__(self, conn):
        self.next = {}
        for t in ("regions", "customers", "categories", "products", "promos", "orders", "warehouses"):
            self.next[t] = scalar(conn, "SELECT coalesce(max(id), 0) + 1 FROM %s" % t)

    def take(self, table, n=1):
        first = self.next[table]
        self.next[table] += n
        return list(range(first, first + n))


# ------------------------------------------------------------------------------------------
# the generator

class Gen:
    def __init__(self, rng, ids, window):
        self.rng = rng
        self.ids = ids
        self.window = window      # [ge, lt]: the cache's window (the test moves it)
        self.sp = 0
        self.solo = True

    # -- values
    def time(self):
        r = self.rng.random()
        if r < 0.08:
            ge, lt = self.window
            return self.rng.choice([ge, lt, lt - timedelta(microseconds=1), ge - timedelta(microseconds=1),
                                    ge + timedelta(microseconds=1)])
        t = T0 + timedelta(seconds=self.rng.randrange(SPAN_S))
        if r < 0.3:
            t += timedelta(microseconds=self.rng.randrange(1, 1000000))
        return t

    def code(self):
        r = self.rng.random()
        return None if r < 0.25 else self.rng.choice(CODES)

    def status(self):
        return self.rng.choices(STATUSES, weights=[4, 3, 3, 1])[0]

    def pick(self, d, n=1):
        keys = sorted(d)
        if not keys:
            return []
        if self.rng.random() < 0.3:
            # a few hot rows, so that two writers often meet on the same rows
            keys = keys[:max(n, 6)]
        return self.rng.sample(keys, min(n, len(keys)))

    def one(self, d):
        p = self.pick(d)
        return p[0] if p else None

    def order_row(self, m, oid):
        """(id, customer_id, product_id, promo_code, created_at, qty, status, warehouse_id)"""
        return (oid, self.one(m.customers), self.one(m.products), self.code(), self.time(),
                self.rng.randrange(1, 20), self.status(), self.one(m.warehouses))

    def customer_row(self, m, cid):
        reg = self.one(m.regions) if self.rng.random() < 0.85 else None
        ref = self.one(m.customers) if self.rng.random() < 0.5 else None
        return (cid, reg, ref, "cust%d" % cid, self.rng.choice([0, 1, 2, 3, 9]) if self.rng.random() < 0.2 else self.rng.randrange(0, 4))

    # -- operations: each returns a list of Steps and applies its effect to the model m
    def o_insert(self, m, n=None):
        n = n or self.rng.randrange(1, 5)
        if not m.customers or not m.products:
            return []
        rows = [self.order_row(m, i) for i in self.ids.take("orders", n)]
        for r in rows:
            m.orders[r[0]] = [r[1], r[2]]
        return [Step("INSERT INTO orders (id, customer_id, product_id, promo_code, created_at, qty, status, warehouse_id) VALUES "
                     + ", ".join("(%s)" % ", ".join(lit(v) for v in r) for r in rows))]

    def o_where(self, m):
        """A WHERE clause naming a few orders, or a predicate over many."""
        r = self.rng.random()
        if r < 0.6 or not m.orders:
            return "id IN %s" % in_list(self.pick(m.orders, self.rng.randrange(1, 4)))
        if r < 0.75:
            return "customer_id = %s" % lit(self.one(m.customers))
        if r < 0.85:
            return "product_id = %s" % lit(self.one(m.products))
        if r < 0.88:
            return "warehouse_id = %s" % lit(self.one(m.warehouses))
        if r < 0.93:
            a = self.time()
            return "created_at >= %s AND created_at < %s" % (lit(a), lit(a + timedelta(hours=self.rng.randrange(1, 12))))
        return "promo_code = %s" % lit(self.rng.choice(CODES))

    def o_update(self, m):
        where = self.o_where(m)
        col = self.rng.choice(["customer_id", "product_id", "promo_code", "created_at", "created_at",
                               "qty", "status", "id", "warehouse_id", "multi"])
        if col == "warehouse_id":
            s = "warehouse_id = %s" % lit(self.one(m.warehouses))
        elif col == "customer_id":
            s = "customer_id = %s" % lit(self.one(m.customers))
        elif col == "product_id":
            s = "product_id = %s" % lit(self.one(m.products))
        elif col == "promo_code":
            s = "promo_code = %s" % lit(self.code())
        elif col == "created_at":
            if self.rng.random() < 0.5:
                s = "created_at = %s" % lit(self.time())
            else:
                s = "created_at = created_at + interval '%d minutes'" % self.rng.randrange(-3000, 3000)
        elif col == "qty":
            s = "qty = qty + %d" % self.rng.randrange(1, 5)
        elif col == "status":
            s = "status = %s" % lit(self.status())
        elif col == "id":
            # a new primary key for one order
            old = self.one(m.orders)
            if old is None:
                return []
            new = self.ids.take("orders")[0]
            m.orders[new] = m.orders.pop(old)
            return [Step("UPDATE orders SET id = %d WHERE id = %d" % (new, old))]
        else:
            s = "customer_id = %s, product_id = %s, created_at = %s, status = %s, promo_code = %s" % (
                lit(self.one(m.customers)), lit(self.one(m.products)), lit(self.time()), lit(self.status()),
                lit(self.code()))
        return [Step("UPDATE orders SET %s WHERE %s" % (s, where))]

    def o_delete(self, m):
        return [Step("DELETE FROM orders WHERE %s" % self.o_where(m))]

    def c_insert(self, m):
        rows = [self.customer_row(m, i) for i in self.ids.take("customers", self.rng.randrange(1, 3))]
        for r in rows:
            m.customers[r[0]] = [r[1], r[2]]
        steps = [Step("INSERT INTO customers (id, region_id, referrer_id, name, tier) VALUES "
                      + ", ".join("(%s)" % ", ".join(lit(v) for v in r) for r in rows))]
        if self.rng.random() < 0.7:
            steps += self.o_insert(m)
        return steps

    def c_update(self, m):
        cid = self.one(m.customers)
        if cid is None:
            return []
        col = self.rng.choice(["name", "tier", "tier", "region_id", "referrer_id", "id"])
        if col == "name":
            s = "name = name || 'x'"
        elif col == "tier":
            s = "tier = %d" % self.rng.choice([0, 1, 2, 3, 9, 9])
        elif col == "region_id":
            reg = self.one(m.regions) if self.rng.random() < 0.8 else None
            m.customers[cid][0] = reg
            s = "region_id = %s" % lit(reg)
        elif col == "referrer_id":
            ref = self.one(m.customers) if self.rng.random() < 0.8 else None
            m.customers[cid][1] = ref
            s = "referrer_id = %s" % lit(ref)
        else:
            new = self.ids.take("customers")[0]
            m.rekey_customer(cid, new)
            return [Step("UPDATE customers SET id = %d WHERE id = %d" % (new, cid))]
        return [Step("UPDATE customers SET %s WHERE id = %d" % (s, cid))]

    def c_delete(self, m):
        cid = self.one(m.customers)
        if cid is None:
            return []
        m.del_customer(cid)
        return [Step("DELETE FROM customers WHERE id = %d" % cid)]

    def r_op(self, m):
        r = self.rng.random()
        if r < 0.25 or len(m.regions) < 3:
            rid = self.ids.take("regions")[0]
            m.regions[rid] = True
            return [Step("INSERT INTO regions VALUES (%d, 'region%d', %s)" % (rid, rid, lit(self.rng.random() < 0.8)))]
        rid = self.one(m.regions)
        if r < 0.45:
            return [Step("UPDATE regions SET name = name || 'x' WHERE id = %d" % rid)]
        if r < 0.65:
            return [Step("UPDATE regions SET active = NOT active WHERE id = %d" % rid)]
        if r < 0.8:
            new = self.ids.take("regions")[0]
            m.rekey_region(rid, new)
            return [Step("UPDATE regions SET id = %d WHERE id = %d" % (new, rid))]
        m.del_region(rid)
        return [Step("DELETE FROM regions WHERE id = %d" % rid)]

    def cat_op(self, m):
        r = self.rng.random()
        if r < 0.2 or len(m.categories) < 3:
            cat = self.ids.take("categories")[0]
            m.categories.add(cat)
            steps = [Step("INSERT INTO categories VALUES (%d, 'cat%d')" % (cat, cat))]
            pid = self.ids.take("products")[0]
            m.products[pid] = cat
            steps.append(Step("INSERT INTO products VALUES (%d, %d, 'prod%d', %d.%02d)" % (
                pid, cat, pid, self.rng.randrange(1, 100), self.rng.randrange(100))))
            return steps
        cat = self.one(m.categories)
        if r < 0.45:
            return [Step("UPDATE categories SET name = name || 'x' WHERE id = %d" % cat)]
        if r < 0.65:
            new = self.ids.take("categories")[0]
            m.rekey_category(cat, new)
            return [Step("UPDATE categories SET id = %d WHERE id = %d" % (new, cat))]
        if r < 0.75:
            # replaced while products reference it: deleted and inserted again, in one statement
            return [Step("WITH d AS (DELETE FROM categories WHERE id = %d RETURNING id, name) "
                         "INSERT INTO categories SELECT id, name || 'r' FROM d" % cat)]
        if r < 0.85:
            # replaced in two statements, the foreign key checked at commit
            return [Step("SET CONSTRAINTS ALL DEFERRED"),
                    Step("DELETE FROM categories WHERE id = %d" % cat),
                    Step("INSERT INTO categories VALUES (%d, 'cat%dr')" % (cat, cat))]
        # its products lose their category first (the foreign key has no action): their orders
        # leave the join
        m.del_category(cat)
        return [Step("UPDATE products SET category_id = NULL WHERE category_id = %d" % cat),
                Step("DELETE FROM categories WHERE id = %d" % cat)]

    def p_op(self, m):
        r = self.rng.random()
        if r < 0.2 or len(m.products) < N_PRODUCTS // 2:
            if not m.categories:
                return []
            pid = self.ids.take("products")[0]
            cat = self.one(m.categories)
            m.products[pid] = cat
            return [Step("INSERT INTO products VALUES (%d, %d, 'prod%d', %d.%02d)" % (
                pid, cat, pid, self.rng.randrange(1, 100), self.rng.randrange(100)))]
        pid = self.one(m.products)
        if r < 0.4:
            return [Step("UPDATE products SET name = name || 'x' WHERE id = %d" % pid)]
        if r < 0.6:
            return [Step("UPDATE products SET price = price + %d.5 WHERE id = %d" % (self.rng.randrange(0, 5), pid))]
        if r < 0.75:
            # another category, or none (the product's orders leave the join)
            cat = self.one(m.categories) if self.rng.random() < 0.85 else None
            m.products[pid] = cat
            return [Step("UPDATE products SET category_id = %s WHERE id = %d" % (lit(cat), pid))]
        if r < 0.82:
            new = self.ids.take("products")[0]
            m.rekey_product(pid, new)
            return [Step("UPDATE products SET id = %d WHERE id = %d" % (new, pid))]
        if r < 0.88:
            # replaced while orders reference it: deleted and inserted again, in one statement
            return [Step("WITH d AS (DELETE FROM products WHERE id = %d RETURNING *) "
                         "INSERT INTO products SELECT id, category_id, name || 'r', price + 1 FROM d" % pid)]
        if r < 0.94:
            # replaced in two statements, the foreign key checked at commit
            return [Step("SET CONSTRAINTS ALL DEFERRED"),
                    Step("DELETE FROM products WHERE id = %d" % pid),
                    Step("INSERT INTO products VALUES (%d, %s, 'prod%dr', %d.25)" % (pid, lit(m.products[pid]), pid, self.rng.randrange(1, 99)))]
        m.del_product(pid)
        return [Step("DELETE FROM orders WHERE product_id = %d" % pid),
                Step("DELETE FROM products WHERE id = %d" % pid)]

    def n_op(self, m):
        """customer_notes, LEFT JOINed on the customer's key."""
        r = self.rng.random()
        without = [c for c in sorted(m.customers) if c not in m.notes]
        if (r < 0.3 or not m.notes) and without:
            cid = self.rng.choice(without)
            m.notes.add(cid)
            return [Step("INSERT INTO customer_notes VALUES (%d, 'note%d', %s)" % (cid, cid, lit(self.rng.random() < 0.8)))]
        if not m.notes:
            return []
        cid = self.one(m.notes)
        if r < 0.5:
            return [Step("UPDATE customer_notes SET note = note || '+' WHERE customer_id = %d" % cid)]
        if r < 0.65:
            return [Step("UPDATE customer_notes SET visible = NOT visible WHERE customer_id = %d" % cid)]
        if r < 0.75 and without:
            # the note moves to another customer
            new = self.rng.choice(without)
            m.notes.discard(cid)
            m.notes.add(new)
            return [Step("UPDATE customer_notes SET customer_id = %d WHERE customer_id = %d" % (new, cid))]
        if r < 0.88:
            rows = [(c, "merged%d" % c, self.rng.random() < 0.7, self.rng.random() < 0.3)
                    for c in sorted(set(self.pick(m.notes, 2) + self.rng.sample(without, min(1, len(without)))))]
            for c, _, _, delete in rows:
                if delete:
                    m.notes.discard(c)
                else:
                    m.notes.add(c)
            return [Step("MERGE INTO customer_notes n USING (VALUES %s) AS v(customer_id, note, visible, del) "
                         "ON n.customer_id = v.customer_id "
                         "WHEN MATCHED AND v.del THEN DELETE "
                         "WHEN MATCHED THEN UPDATE SET note = v.note, visible = v.visible "
                         "WHEN NOT MATCHED AND NOT v.del THEN INSERT VALUES (v.customer_id, v.note, v.visible)"
                         % ", ".join("(%s)" % ", ".join(lit(v) for v in row) for row in rows))]
        m.notes.discard(cid)
        return [Step("DELETE FROM customer_notes WHERE customer_id = %d" % cid)]

    def w_op(self, m):
        """warehouses: inner-joined with a filter (open), found through a hidden key."""
        r = self.rng.random()
        if r < 0.2 or len(m.warehouses) < 2:
            wid = self.ids.take("warehouses")[0]
            m.warehouses[wid] = True
            return [Step("INSERT INTO warehouses VALUES (%d, 'wh%d', true)" % (wid, wid))]
        wid = self.one(m.warehouses)
        if r < 0.45:
            return [Step("UPDATE warehouses SET name = name || 'x' WHERE id = %d" % wid)]
        if r < 0.75:
            # closed (its orders leave the cache) or opened again
            return [Step("UPDATE warehouses SET open = NOT open WHERE id = %d" % wid)]
        if r < 0.9:
            new = self.ids.take("warehouses")[0]
            m.warehouses[new] = m.warehouses.pop(wid)
            return [Step("UPDATE warehouses SET id = %d WHERE id = %d" % (new, wid))]
        # its orders go by cascade
        del m.warehouses[wid]
        return [Step("DELETE FROM warehouses WHERE id = %d" % wid)]

    def free_code(self, m):
        free = [c for c in CODES if c not in m.promos.values()]
        return self.rng.choice(free) if free else None

    def pr_op(self, m):
        r = self.rng.random()
        if r < 0.3 or len(m.promos) < N_PROMOS // 2:
            code = self.free_code(m)
            if code is None:
                return []
            pid = self.ids.take("promos")[0]
            m.promos[pid] = code
            return [Step("INSERT INTO promos VALUES (%d, %s, %d)" % (pid, lit(code), self.rng.randrange(1, 50)))]
        pid = self.one(m.promos)
        if r < 0.45:
            return [Step("UPDATE promos SET discount = discount + 1 WHERE id = %d" % pid)]
        if r < 0.6:
            code = self.free_code(m)
            if code is None:
                return []
            m.promos[pid] = code
            return [Step("UPDATE promos SET code = %s WHERE id = %d" % (lit(code), pid))]
        if r < 0.7:
            new = self.ids.take("promos")[0]
            m.promos[new] = m.promos.pop(pid)
            return [Step("UPDATE promos SET id = %d WHERE id = %d" % (new, pid))]
        del m.promos[pid]
        return [Step("DELETE FROM promos WHERE id = %d" % pid)]

    def cte_op(self, m):
        """A writable CTE over two tables."""
        r = self.rng.random()
        cid = self.one(m.customers)
        if cid is None:
            return []
        if r < 0.25:
            for o in [o for o, v in m.orders.items() if v[0] == cid][:2]:
                del m.orders[o]
            return [Step("WITH d AS (DELETE FROM orders WHERE id IN (SELECT id FROM orders WHERE customer_id = %d "
                         "ORDER BY id LIMIT 2) RETURNING customer_id) "
                         "UPDATE customers SET tier = (tier + 1) %% 4 WHERE id IN (SELECT customer_id FROM d)" % cid)]
        if r < 0.5:
            new = self.ids.take("customers")[0]
            oids = self.ids.take("orders", 2)
            pid = self.one(m.products)
            if pid is None:
                return []
            m.customers[new] = [self.one(m.regions), None]
            for o in oids:
                m.orders[o] = [new, pid]
            return [Step("WITH n AS (INSERT INTO customers VALUES (%d, %s, %d, 'cte%d', 1) RETURNING id) "
                         "INSERT INTO orders (id, customer_id, product_id, promo_code, created_at, qty, status, warehouse_id) "
                         "SELECT o, n.id, %d, %s, %s, 3, 'new', %s FROM n, unnest(ARRAY[%d, %d]) o" % (
                             new, lit(m.customers[new][0]), cid, new, pid, lit(self.code()), lit(self.time()),
                             lit(self.one(m.warehouses)), oids[0], oids[1]))]
        if r < 0.75:
            cat = self.one(m.categories)
            return [Step("WITH u AS (UPDATE products SET price = price + 1 WHERE category_id = %s RETURNING id) "
                         "UPDATE orders SET created_at = created_at + interval '%d hours' "
                         "WHERE product_id IN (SELECT id FROM u) AND id %% 3 = 0" % (lit(cat), self.rng.randrange(-30, 30)))]
        pid = self.one(m.promos)
        code = self.free_code(m)
        if pid is None or code is None:
            return []
        m.promos[pid] = code
        oids = self.pick(m.orders, 3)
        return [Step("WITH p AS (UPDATE promos SET code = %s WHERE id = %d RETURNING code) "
                     "UPDATE orders SET promo_code = (SELECT code FROM p) WHERE id IN %s" % (lit(code), pid, in_list(oids)))]

    def merge_op(self, m):
        r = self.rng.random()
        if r < 0.7:
            rows = []
            for oid in self.pick(m.orders, self.rng.randrange(1, 4)):
                if self.rng.random() < 0.3:
                    rows.append((oid,) + self.order_row(m, oid)[1:] + (True,))
                    del m.orders[oid]
                else:
                    row = self.order_row(m, oid)
                    m.orders[oid] = [row[1], row[2]]
                    rows.append(row + (False,))
            for oid in self.ids.take("orders", self.rng.randrange(0, 3)):
                row = self.order_row(m, oid)
                m.orders[oid] = [row[1], row[2]]
                rows.append(row + (False,))
            if not rows or not m.customers or not m.products:
                return []
            vals = ", ".join("(%s)" % ", ".join(lit(v) for v in row) for row in rows)
            return [Step("MERGE INTO orders o USING (VALUES %s) "
                         "AS v(id, customer_id, product_id, promo_code, created_at, qty, status, warehouse_id, del) ON o.id = v.id "
                         "WHEN MATCHED AND v.del THEN DELETE "
                         "WHEN MATCHED THEN UPDATE SET customer_id = v.customer_id, product_id = v.product_id, "
                         "promo_code = v.promo_code, created_at = v.created_at, qty = v.qty, status = v.status, "
                         "warehouse_id = v.warehouse_id "
                         "WHEN NOT MATCHED AND NOT v.del THEN INSERT VALUES "
                         "(v.id, v.customer_id, v.product_id, v.promo_code, v.created_at, v.qty, v.status, v.warehouse_id)" % vals)]
        # MERGE into customers: update some, insert one
        rows = [(cid, "merged%d" % cid, self.rng.randrange(0, 4)) for cid in self.pick(m.customers, 2)]
        new = self.ids.take("customers")[0]
        rows.append((new, "merged%d" % new, 1))
        m.customers[new] = [None, None]
        vals = ", ".join("(%s)" % ", ".join(lit(v) for v in row) for row in rows)
        return [Step("MERGE INTO customers c USING (VALUES %s) AS v(id, name, tier) ON c.id = v.id "
                     "WHEN MATCHED THEN UPDATE SET name = v.name, tier = v.tier "
                     "WHEN NOT MATCHED THEN INSERT (id, name, tier) VALUES (v.id, v.name, v.tier)" % vals)]

    def copy_op(self, m):
        r = self.rng.random()
        if r < 0.6:
            if not m.customers or not m.products:
                return []
            rows = [self.order_row(m, i) for i in self.ids.take("orders", self.rng.randrange(1, 6))]
            for row in rows:
                m.orders[row[0]] = [row[1], row[2]]
            return [Step("COPY orders (id, customer_id, product_id, promo_code, created_at, qty, status, warehouse_id) FROM STDIN",
                         ["\t".join(copy_text(v) for v in row) for row in rows])]
        if r < 0.8:
            code = self.free_code(m)
            if code is None:
                return []
            pid = self.ids.take("promos")[0]
            m.promos[pid] = code
            return [Step("COPY promos (id, code, discount) FROM STDIN", ["%d\t%s\t%d" % (pid, code, self.rng.randrange(1, 50))])]
        rows = [self.customer_row(m, i) for i in self.ids.take("customers", 2)]
        for row in rows:
            m.customers[row[0]] = [row[1], row[2]]
        steps = [Step("COPY customers (id, region_id, referrer_id, name, tier) FROM STDIN",
                      ["\t".join(copy_text(v) for v in row) for row in rows])]
        return steps + self.o_insert(m)

    def part_op(self, m):
        """Writes to one partition of orders directly."""
        name, lo, hi = self.rng.choice(PARTITIONS)
        lo = lo or T0
        r = self.rng.random()
        if r < 0.4:
            if not m.customers or not m.products:
                return []
            oid = self.ids.take("orders")[0]
            row = list(self.order_row(m, oid))
            row[4] = lo + timedelta(seconds=self.rng.randrange(int((hi - lo).total_seconds())))
            m.orders[oid] = [row[1], row[2]]
            return [Step("INSERT INTO %s (id, customer_id, product_id, promo_code, created_at, qty, status, warehouse_id) VALUES (%s)"
                         % (name, ", ".join(lit(v) for v in row)))]
        if r < 0.8:
            return [Step("UPDATE %s SET qty = qty + 1, status = %s WHERE %s" % (name, lit(self.status()), self.o_where(m)))]
        return [Step("DELETE FROM %s WHERE %s" % (name, self.o_where(m)))]

    def selfcheck(self, m):
        """Inside the transaction, after its writes: the cache's answer (from the database
        now: the transaction has invalidated it) equals the query's."""
        ge, lt = lit(self.window[0]), lit(self.window[1])
        ids = self.pick(m.orders, 4)
        return [Step("WITH c AS MATERIALIZED (SELECT * FROM tablecache.range(NULL::{c}, 'by_time', {ge}, {lt})), "
                     "q AS MATERIALIZED (SELECT * FROM {c} WHERE created_at >= {ge} AND created_at < {lt}), "
                     "g AS MATERIALIZED (SELECT r.* FROM unnest(ARRAY{ids}::int[]) k, LATERAL tablecache.get(NULL::{c}, k) r "
                     "WHERE r.id IS NOT NULL), "
                     "d AS MATERIALIZED (SELECT * FROM {c} WHERE id = ANY (ARRAY{ids}::int[])) "
                     "SELECT (SELECT count(*) FROM (TABLE c EXCEPT ALL TABLE q) x), (SELECT count(*) FROM (TABLE q EXCEPT ALL TABLE c) x), "
                     "(SELECT count(*) FROM (TABLE g EXCEPT ALL TABLE d) x), (SELECT count(*) FROM (TABLE d EXCEPT ALL TABLE g) x)".format(
                         c=CACHE, ge=ge, lt=lt, ids=list(ids) or [0]), zeros=True)]

    def adjust(self, m):
        """Moves the window (inside the transaction: published at its commit)."""
        ge = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(hours=self.rng.randrange(0, 6 * 24, 6))
        lt = ge + timedelta(days=self.rng.choice([2, 3, 4, 5]))
        return [Step("SELECT tablecache.adjust(%s, 'by_time', %s, %s)" % (lit(CACHE), lit(ge), lit(lt)))], (ge, lt)

    def refill_orders(self, m, n):
        """INSERT ... SELECT of n orders over the model's customers and products."""
        if not m.customers or not m.products or not m.warehouses:
            return []
        first = self.ids.take("orders", n)[0]
        cs, ps, ws = sorted(m.customers), sorted(m.products), sorted(m.warehouses)
        for i in range(n):
            m.orders[first + i] = [cs[(i * 7) % len(cs)], ps[(i * 11) % len(ps)]]
        return [Step(
            "INSERT INTO orders (id, customer_id, product_id, promo_code, created_at, qty, status, warehouse_id) "
            "SELECT %d + i, (%s)[1 + (i * 7) %% %d], (%s)[1 + (i * 11) %% %d], "
            "CASE WHEN i %% 4 = 0 THEN NULL ELSE 'P' || (i * 13 %% %d) END, "
            "%s + (i * 7919 %% %d) * interval '1 second', 1 + i %% 17, (ARRAY['new','paid','shipped','void'])[1 + i %% 4], "
            "(%s)[1 + (i * 5) %% %d] "
            "FROM generate_series(0, %d) i" % (
                first, "ARRAY[%s]" % ",".join(map(str, cs)), len(cs), "ARRAY[%s]" % ",".join(map(str, ps)), len(ps),
                len(CODES), lit(T0), SPAN_S, "ARRAY[%s]" % ",".join(map(str, ws)), len(ws), n - 1))]

    def truncate_op(self, m):
        """TRUNCATE (alone in its round: it would block the reader's query), then new rows."""
        r = self.rng.random()
        if r < 0.1:
            m.notes.clear()
            some = self.pick(m.customers, N_CUSTOMERS // 3)
            m.notes.update(some)
            return [Step("TRUNCATE customer_notes"),
                    Step("INSERT INTO customer_notes SELECT c, 'n' || c, c %% 3 <> 0 FROM unnest(ARRAY%s::int[]) c" % (sorted(some) or [0]))]
        if r < 0.3:
            m.promos.clear()
            steps = [Step("TRUNCATE promos")]
            for code in self.rng.sample(CODES, N_PROMOS):
                pid = self.ids.take("promos")[0]
                m.promos[pid] = code
                steps.append(Step("INSERT INTO promos VALUES (%d, %s, %d)" % (pid, lit(code), self.rng.randrange(1, 50))))
            return steps
        if r < 0.38:
            m.orders.clear()
            return [Step("TRUNCATE orders")] + self.refill_orders(m, N_ORDERS)
        if r < 0.45:
            # warehouses CASCADE: orders too
            m.orders.clear()
            m.warehouses.clear()
            ws = self.ids.take("warehouses", N_WAREHOUSES)
            m.warehouses.update((w, True) for w in ws)
            return [Step("TRUNCATE warehouses CASCADE"),
                    Step("INSERT INTO warehouses SELECT i, 'wh' || i, true FROM generate_series(%d, %d) i" % (ws[0], ws[-1]))] + \
                self.refill_orders(m, N_ORDERS)
        if r < 0.6:
            # one partition of orders
            name = self.rng.choice(PARTITIONS)[0]
            return [Step("TRUNCATE %s" % name)] + self.refill_orders(m, N_ORDERS // 3)
        if r < 0.8:
            # customers CASCADE: orders and customer_notes too
            m.customers.clear()
            m.orders.clear()
            m.notes.clear()
            first = self.ids.take("customers", N_CUSTOMERS)[0]
            regs = sorted(m.regions) or [None]
            for i in range(N_CUSTOMERS):
                m.customers[first + i] = [regs[i % len(regs)], None]
            m.notes.update(c for c in m.customers if c % 4 == 0)
            return [Step("TRUNCATE customers CASCADE"),
                    Step("INSERT INTO customers SELECT %d + i, (%s)[1 + i %% %d], NULL, 'c' || i, i %% 4 "
                         "FROM generate_series(0, %d) i" % (
                             first, "ARRAY[%s]::int[]" % ",".join("NULL" if x is None else str(x) for x in regs),
                             len(regs), N_CUSTOMERS - 1)),
                    Step("UPDATE customers SET referrer_id = id - 1 WHERE id %% 3 = 0 AND id > %d" % first),
                    Step("INSERT INTO customer_notes SELECT id, 'n' || id, id % 2 = 0 FROM customers WHERE id % 4 = 0")] + \
                self.refill_orders(m, N_ORDERS)
        # categories CASCADE: products and orders too
        m.categories.clear()
        m.products.clear()
        m.orders.clear()
        cats = self.ids.take("categories", N_CATEGORIES)
        m.categories.update(cats)
        first = self.ids.take("products", N_PRODUCTS)[0]
        for i in range(N_PRODUCTS):
            m.products[first + i] = cats[i % len(cats)]
        return [Step("TRUNCATE categories CASCADE"),
                Step("INSERT INTO categories SELECT i, 'cat' || i FROM generate_series(%d, %d) i" % (cats[0], cats[-1])),
                Step("INSERT INTO products SELECT %d + i, %d + i %% %d, 'p' || i, 1 + i * 1.25 FROM generate_series(0, %d) i" % (
                    first, cats[0], len(cats), N_PRODUCTS - 1))] + self.refill_orders(m, N_ORDERS)

    def bulk_op(self, m):
        """More than BULK invalidations in one transaction: the whole cache is invalidated."""
        r = self.rng.random()
        if r < 0.5 and len(m.orders) * 3 > BULK:
            # every order changed three times: 3 * |orders| invalidations of its primary key
            return [Step("UPDATE orders SET qty = qty + 1"),
                    Step("UPDATE orders SET created_at = created_at + interval '%d minutes' WHERE id %% 2 = 0" % self.rng.randrange(-600, 600)),
                    Step("UPDATE orders SET status = %s WHERE id %% 5 = 1" % lit(self.status())),
                    Step("UPDATE orders SET qty = qty + 1")]
        # many new orders, most of them deleted again
        n = BULK + 100
        before = set(m.orders)
        steps = self.refill_orders(m, n)
        new = sorted(set(m.orders) - before)
        if not new:
            return []
        keep = {o for o in new if o % 10 == 0}
        for o in new:
            if o not in keep:
                del m.orders[o]
        steps.append(Step("DELETE FROM orders WHERE id BETWEEN %d AND %d AND id %% 10 <> 0" % (new[0], new[-1])))
        return steps

    def op(self, m):
        """One random operation, steered towards the target table sizes."""
        w = {
            "o_insert": 6 if len(m.orders) < N_ORDERS * 0.8 else 3,
            "o_update": 12,
            "o_delete": 3 if len(m.orders) > N_ORDERS * 0.8 else 1,
            "c_insert": 3 if len(m.customers) < N_CUSTOMERS else 1,
            "c_update": 6,
            "c_delete": 1 if len(m.customers) > N_CUSTOMERS * 0.6 else 0,
            "r_op": 2,
            "cat_op": 1.5,
            "p_op": 3,
            "pr_op": 3,
            "cte_op": 3,
            "merge_op": 3,
            "copy_op": 2,
            "part_op": 2,
            "n_op": 3,
            "w_op": 1.5,
        }
        if len(m.orders) < N_ORDERS * 0.6:
            w["refill"] = 4
        if self.solo:
            w["selfcheck"] = 2
        names = sorted(w)
        name = self.rng.choices(names, weights=[w[k] for k in names])[0]
        if name == "refill":
            return self.refill_orders(m, N_ORDERS // 4)
        return getattr(self, name)(m)

    def body(self, m, depth=0):
        """Operations, some of them in savepoints (rolled back or released), or failing."""
        steps = []
        for _ in range(self.rng.randrange(1, 4)):
            r = self.rng.random()
            if r < 0.15 and depth < 2:
                self.sp += 1
                name = "s%d" % self.sp
                saved = m.clone()
                steps.append(Step("SAVEPOINT %s" % name))
                steps += self.body(m, depth + 1)
                if self.rng.random() < 0.5:
                    steps.append(Step("ROLLBACK TO SAVEPOINT %s" % name))
                    m.__dict__.update(saved.__dict__)
                    steps += self.op(m) if self.rng.random() < 0.5 else []
                else:
                    steps.append(Step("RELEASE SAVEPOINT %s" % name))
            elif r < 0.22:
                # an error after some writes, rolled back to a savepoint
                self.sp += 1
                name = "e%d" % self.sp
                saved = m.clone()
                steps.append(Step("SAVEPOINT %s" % name))
                steps += self.op(m)
                steps.append(Step("SELECT 1 / 0", expect_error=True))
                steps.append(Step("ROLLBACK TO SAVEPOINT %s" % name))
                m.__dict__.update(saved.__dict__)
            else:
                steps += self.op(m)
        return steps

    def plan(self, m, kind):
        """A whole transaction: (steps, end, window) where end is 'COMMIT' or 'ROLLBACK' and
        window the new window it sets (or None)."""
        # a transaction's own reads through the cache, where nothing else reads meanwhile
        self.solo = kind not in ("pair", "burst")
        window = None
        if kind == "truncate":
            steps = self.truncate_op(m)
        elif kind == "bulk":
            steps = self.bulk_op(m)
            if self.rng.random() < 0.3:
                # in a savepoint, rolled back or released
                self.sp += 1
                saved = m.clone()
                undo = self.rng.random() < 0.5
                steps = [Step("SAVEPOINT b%d" % self.sp)] + steps + [
                    Step("%s SAVEPOINT b%d" % ("ROLLBACK TO" if undo else "RELEASE", self.sp))]
                if undo:
                    m.__dict__.update(saved.__dict__)
            steps += self.op(m)
        elif kind == "window":
            adj, window = self.adjust(m)
            steps = self.body(m) + adj + self.body(m)
        else:
            steps = self.body(m)
        end = "ROLLBACK" if self.rng.random() < 0.1 else "COMMIT"
        # now and then REPEATABLE READ (tablecache refuses to move a window there)
        begin = "BEGIN ISOLATION LEVEL REPEATABLE READ" if kind != "window" and self.rng.random() < 0.1 else "BEGIN"
        return steps, end, window, begin


# ------------------------------------------------------------------------------------------
# writers

class Writer:
    """One writer session; runs a planned transaction's statements (in a thread when two
    writers run at once) and ends it when the coordinator says so."""

    def __init__(self, name):
        self.name = name
        self.conn = session(name)
        query(self.conn, "SET deadlock_timeout = '50ms'")
        self.pid = self.conn.get_backend_pid()

    def start(self, plan, txn_no):
        self.steps, self.end, self.window, self.begin = plan
        self.open = True
        self.txn_no = txn_no
        self.log = []            # (statement text, outcome)
        self.failed = None       # (sqlstate, message) of an error that aborted the transaction
        self.fatal = None        # an error that must fail the test
        self.done = threading.Event()

    def run(self, wake=None):
        try:
            self._run()
        except BaseException as e:  # noqa: BLE001 - reported by the coordinator
            self.fatal = e
        finally:
            self.done.set()
            if wake is not None:
                wake.set()

    def _exec(self, step):
        with self.conn.cursor() as cur:
            if step.copy_rows is not None:
                cur.copy_expert(step.sql, io.StringIO("".join(line + "\n" for line in step.copy_rows)))
            else:
                cur.execute(step.sql)
            if step.zeros:
                row = cur.fetchone()
                if any(row):
                    self.log.append((step.text(), "returned %s" % (row,)))
                    raise AssertionError("%s: inside its transaction, the cache's answer differs from the query's "
                                         "(row counts cache-only, query-only, ...: %s)\n%s" % (self.name, row, self.text()))
            return cur.rowcount

    def _run(self):
        self._exec(Step(self.begin))
        self.log.append((self.begin + ";", ""))
        for step in self.steps:
            try:
                n = self._exec(step)
            except psycopg2.Error as e:
                code = e.pgcode or "?"
                msg = (e.pgerror or str(e)).strip().splitlines()[0]
                self.log.append((step.text(), "ERROR %s %s" % (code, msg)))
                if step.expect_error:
                    continue
                if code not in TOLERATED:
                    raise AssertionError("%s: statement failed with %s (unexpected: a write must not fail because of a cache): %s\n%s"
                                         % (self.name, code, msg, step.text()))
                self.failed = (code, msg)
                self._exec(Step("ROLLBACK"))
                self.log.append(("ROLLBACK;", "(after the error)"))
                return
            if step.expect_error:
                raise AssertionError("%s: statement meant to fail succeeded: %s" % (self.name, step.text()))
            self.log.append((step.text(), "%d rows" % n if n >= 0 else ""))

    def finish(self):
        """Ends the transaction as planned (a failed one is already rolled back). Returns
        whether it committed."""
        if self.failed is not None:
            return False
        try:
            self._exec(Step(self.end))
        except psycopg2.Error as e:
            # COMMIT checks the deferred foreign key (or fails a serialization)
            code = e.pgcode or "?"
            msg = (e.pgerror or str(e)).strip().splitlines()[0]
            self.log.append((self.end + ";", "ERROR %s %s" % (code, msg)))
            if code not in TOLERATED:
                raise AssertionError("%s: %s failed with %s: %s\n%s" % (self.name, self.end, code, msg, self.text()))
            self.failed = (code, msg)
            return False
        self.log.append((self.end + ";", ""))
        return self.end == "COMMIT"

    def text(self):
        out = ["-- %s, transaction %d%s" % (self.name, self.txn_no,
                                            "" if self.failed is None else " (rolled back after %s %s)" % self.failed)]
        for sql, outcome in self.log:
            out.append(sql + ("   -- " + outcome if outcome else ""))
        return "\n".join(out)

    def committed_text(self):
        """The transaction as it committed, for the replay script (failed statements left out,
        so a statement that was rolled back to a savepoint stays out too)."""
        return "\n".join(sql for sql, outcome in self.log if not outcome.startswith("ERROR") and not outcome.startswith("(after"))


# ------------------------------------------------------------------------------------------
# the checks

class Checker:
    """The reader session's checks of the whole window (see the module docstring)."""

    SOURCES = {"by_time": "c", "by_customer": "cc", "by_product": "cp", "primary_key": "g"}

    def __init__(self, conn, cols):
        self.conn = conn
        self.cols = cols

    def ctes(self, window):
        ge, lt = lit(window[0]), lit(window[1])
        return """
WITH c AS MATERIALIZED (SELECT * FROM tablecache.range(NULL::{cache}, 'by_time', {ge}, {lt}) WITH ORDINALITY),
     q AS MATERIALIZED (SELECT {cl} FROM {cache} WHERE created_at >= {ge} AND created_at < {lt}),
     ck AS MATERIALIZED (SELECT id AS k FROM customers UNION SELECT customer_id FROM c UNION SELECT customer_id FROM q),
     cc AS MATERIALIZED (SELECT r.* FROM ck, LATERAL tablecache.range(NULL::{cache}, 'by_customer',
                             ROW(ck.k, {ge}), ROW(ck.k, {lt})) WITH ORDINALITY r WHERE ck.k IS NOT NULL),
     pk AS MATERIALIZED (SELECT id AS k FROM products UNION SELECT product_id FROM c UNION SELECT product_id FROM q),
     cp AS MATERIALIZED (SELECT r.* FROM pk, LATERAL tablecache.range(NULL::{cache}, 'by_product',
                             ROW(pk.k, {ge}), ROW(pk.k, {lt})) WITH ORDINALITY r WHERE pk.k IS NOT NULL),
     ik AS MATERIALIZED (SELECT id AS k FROM c UNION SELECT id FROM q),
     g AS MATERIALIZED (SELECT r.* FROM ik, LATERAL tablecache.get(NULL::{cache}, ik.k) r)
""".format(cache=CACHE, ge=ge, lt=lt, cl=", ".join(self.cols))

    def sql(self, window):
        cl = ", ".join(self.cols)
        parts = []
        for src in self.SOURCES.values():
            flt = " WHERE id IS NOT NULL" if src == "g" else ""
            parts.append("(SELECT count(*) FROM (SELECT {cl} FROM {s}{f} EXCEPT ALL SELECT {cl} FROM q) x)".format(cl=cl, s=src, f=flt))
            parts.append("(SELECT count(*) FROM (SELECT {cl} FROM q EXCEPT ALL SELECT {cl} FROM {s}{f}) x)".format(cl=cl, s=src, f=flt))
        # key order: by_time by (created_at, id); the others by (created_at, id) within one key
        parts.append("(SELECT count(*) FROM (SELECT created_at, id, lag(created_at) OVER w AS pc, lag(id) OVER w AS pi "
                     "FROM c WINDOW w AS (ORDER BY ordinality)) s WHERE (pc, pi) >= (created_at, id))")
        for src, key in (("cc", "customer_id"), ("cp", "product_id")):
            parts.append("(SELECT count(*) FROM (SELECT created_at, id, lag(created_at) OVER w AS pc, lag(id) OVER w AS pi, "
                         "lag({k}) OVER w AS pk, {k} AS k FROM {s} WINDOW w AS (ORDER BY {k}, ordinality)) s "
                         "WHERE pk = k AND (pc, pi) >= (created_at, id))".format(s=src, k=key))
        parts.append("(SELECT count(*) FROM q)")
        # the reads: one range of by_time, one range per key of by_customer and by_product, one get per id
        parts.append("1 + (SELECT count(*) FROM ck WHERE k IS NOT NULL) + (SELECT count(*) FROM pk WHERE k IS NOT NULL)"
                     " + (SELECT count(*) FROM ik)")
        return self.ctes(window) + "SELECT " + ",\n       ".join(parts)

    def stats(self):
        return query(self.conn, "SELECT hits, misses FROM tablecache.stats WHERE cache = %s", (CACHE,))[0]

    def check(self, window):
        """Problems found (empty when the cache equals the query)."""
        problems = []
        h0, m0 = self.stats()
        row = query(self.conn, self.sql(window))[0]
        h1, m1 = self.stats()
        n = len(self.SOURCES)
        for i, name in enumerate(self.SOURCES):
            extra, missing = row[2 * i], row[2 * i + 1]
            if extra or missing:
                problems.append("index %s: %d row(s) in the cache and not in the query, %d in the query and not in the cache"
                                % (name, extra, missing))
        for name, bad in zip(("by_time", "by_customer", "by_product"), row[2 * n:2 * n + 3]):
            if bad:
                problems.append("index %s: %d row(s) out of key order" % (name, bad))
        window_rows, reads = row[2 * n + 3], row[2 * n + 4]
        if (h1 - h0, m1 - m0) != (reads, 0):
            problems.append("reads inside the window: %d reads gave %d hits and %d misses (expected %d hits, 0 misses)"
                            % (reads, h1 - h0, m1 - m0, reads))
        cached = query(self.conn, "SELECT loaded, rows, window_index, window_ge::timestamptz, window_lt::timestamptz "
                                  "FROM tablecache.caches WHERE name = %s", (CACHE,))[0]
        if cached != (True, window_rows, "by_time", window[0], window[1]):
            problems.append("tablecache.caches says loaded=%s rows=%s window %s [%s, %s); expected %d rows, window by_time [%s, %s)"
                            % (cached + (window_rows,) + tuple(window)))
        return problems, window_rows

    def point_gets(self, ids):
        """Ids whose tablecache.get differs from the query (reads may miss here)."""
        return [r[0] for r in query(self.conn, """
            SELECT k FROM unnest(%s::int[]) k
            WHERE (SELECT g::text FROM tablecache.get(NULL::{c}, k) g WHERE g.id IS NOT NULL)
                  IS DISTINCT FROM (SELECT d::text FROM {c} d WHERE d.id = k)""".format(c=CACHE), (ids,))]

    def diff_rows(self, window, limit=15):
        """The differing rows of every index, for the report."""
        cl = ", ".join(self.cols)
        out = []
        for name, src in self.SOURCES.items():
            flt = " WHERE id IS NOT NULL" if src == "g" else ""
            for label, a, b in (("in the cache only", src, "q"), ("in the query only", "q", src)):
                rows = query(self.conn, self.ctes(window) + "SELECT {cl} FROM (SELECT {cl} FROM {a}{fa} EXCEPT ALL SELECT {cl} FROM {b}{fb}) x "
                             "ORDER BY id LIMIT {n}".format(cl=cl, a=a, b=b, n=limit,
                                                            fa=flt if a == src else "", fb=flt if b == src else ""))
                for r in rows:
                    out.append("  %s, %s: %s" % (name, label, r))
        return out


class Racer:
    """A third session reading through the cache all the time (its reads refresh pending
    invalidations while writers commit); paused while the checker counts hits."""

    def __init__(self, seed):
        self.conn = session("diff racer")
        self.rng = random.Random(seed)
        self.cv = threading.Condition()
        self.want_pause = True
        self.paused = False
        self.stopped = False
        self.window = (GE, LT)
        self.reads = 0
        self.error = None
        self.thread = threading.Thread(target=self.run, name="racer", daemon=True)
        self.thread.start()

    def run(self):
        try:
            while True:
                with self.cv:
                    while self.want_pause and not self.stopped:
                        self.paused = True
                        self.cv.notify_all()
                        self.cv.wait()
                    self.paused = False
                    if self.stopped:
                        return
                    ge, lt = self.window
                self.read(ge, lt)
        except BaseException as e:  # noqa: BLE001 - raised by pause()
            self.error = e
            with self.cv:
                self.paused = True
                self.cv.notify_all()

    def read(self, ge, lt):
        r = self.rng.random()
        k = self.rng.randrange(1, 60)
        if r < 0.3:
            query(self.conn, "SELECT count(*) FROM tablecache.range(NULL::%s, 'by_time', %s, %s)" % (CACHE, lit(ge), lit(lt)))
        elif r < 0.6:
            query(self.conn, "SELECT count(*) FROM tablecache.range(NULL::%s, 'by_customer', ROW(%d, %s), ROW(%d, %s))"
                  % (CACHE, k, lit(ge), k, lit(lt)))
        elif r < 0.9:
            query(self.conn, "SELECT * FROM tablecache.get(NULL::%s, %d)" % (CACHE, self.rng.randrange(1, 800)))
        else:
            query(self.conn, "SELECT tablecache.refresh(%s)" % lit(CACHE))
        self.reads += 1

    def pause(self):
        with self.cv:
            self.want_pause = True
            if not self.cv.wait_for(lambda: self.paused, timeout=WAIT_S):
                raise AssertionError("the racing reader did not pause within %ss" % WAIT_S)
        if self.error is not None:
            raise self.error

    def resume(self, window):
        with self.cv:
            self.window = window
            self.want_pause = False
            self.cv.notify_all()

    def stop(self):
        with self.cv:
            self.stopped = True
            self.cv.notify_all()
        self.thread.join(WAIT_S)
        self.conn.close()


# ------------------------------------------------------------------------------------------
# the test

class MaintainDiff(unittest.TestCase):

    def setUp(self):
        self.admin = session("diff admin")
        self.reader = session("diff reader")
        self.monitor = session("diff monitor")
        self.writers = [Writer("writer A"), Writer("writer B")]
        self.racer = None
        self.replay = []         # the replay script: setup, then committed transactions
        self.window = [GE, LT]   # the committed window (Gen reads it too)
        self.unchecked = []      # texts of the transactions ended since the last check

    def tearDown(self):
        if self.racer is not None:
            try:
                self.racer.stop()
            except Exception:  # noqa: BLE001 - best effort
                pass
        for w in self.writers:
            try:
                if hasattr(w, "done"):
                    w.done.wait(5)
                w.conn.close()
            except Exception:  # noqa: BLE001 - best effort
                pass
        for c in (self.admin, self.reader, self.monitor):
            c.close()

    def setup_data(self, rng):
        a = self.admin
        stmts = [s.strip() for s in SCHEMA.split(";") if s.strip()]
        regions = [(i, "region%d" % i, i % 5 != 0) for i in range(1, N_REGIONS + 1)]
        customers = []
        for i in range(1, N_CUSTOMERS + 1):
            customers.append((i, rng.choice([None] + [r[0] for r in regions] * 3),
                              rng.randrange(1, i) if i > 1 and rng.random() < 0.5 else None,
                              "cust%d" % i, rng.choice([0, 1, 2, 3, 0, 1, 2, 9])))
        categories = [(i, "cat%d" % i) for i in range(1, N_CATEGORIES + 1)]
        products = [(i, rng.randrange(1, N_CATEGORIES + 1) if i % 10 else None, "prod%d" % i,
                     "%d.%02d" % (rng.randrange(1, 100), rng.randrange(100))) for i in range(1, N_PRODUCTS + 1)]
        promos = [(i, c, rng.randrange(1, 50)) for i, c in enumerate(rng.sample(CODES, N_PROMOS), 1)]
        notes = [(i, "note%d" % i, rng.random() < 0.8) for i in sorted(rng.sample(range(1, N_CUSTOMERS + 1), N_CUSTOMERS // 2))]
        warehouses = [(i, "wh%d" % i, i != N_WAREHOUSES) for i in range(1, N_WAREHOUSES + 1)]
        g = Gen(rng, None, self.window)
        orders = [(i, rng.randrange(1, N_CUSTOMERS + 1), rng.randrange(1, N_PRODUCTS + 1), g.code(), g.time(),
                   rng.randrange(1, 20), g.status(), rng.randrange(1, N_WAREHOUSES + 1)) for i in range(1, N_ORDERS + 1)]
        for t, rows in (("regions", regions), ("customers", customers), ("categories", categories),
                        ("products", products), ("promos", promos), ("warehouses", warehouses), ("orders", orders),
                        ("customer_notes", notes)):
            stmts.append("INSERT INTO %s VALUES %s" % (t, ", ".join("(%s)" % ", ".join(lit(v) for v in r) for r in rows)))
        stmts.append("SELECT tablecache.create_cache(%s, %s, ARRAY['id'])" % (lit(CACHE), lit(QUERY)))
        for name, cols in INDEXES:
            stmts.append("SELECT tablecache.create_index(%s, %s, ARRAY[%s])" % (lit(CACHE), lit(name), ", ".join(lit(c) for c in cols)))
        stmts.append("SELECT tablecache.load(%s, 'by_time', %s, %s)" % (lit(CACHE), lit(GE), lit(LT)))
        for s in stmts:
            query(a, s)
        self.replay += ["SET TimeZone = 'UTC';", "CREATE EXTENSION IF NOT EXISTS tablecache;"] + [s + ";" for s in stmts]

    def report(self, round_no, txn_no, problems, writer, other):
        path = os.path.join(OUT_DIR, "tablecache-maintain-diff-%d.sql" % SEED)
        ge, lt = lit(self.window[0]), lit(self.window[1])
        try:
            with open(path, "w") as f:
                f.write("-- tablecache maintain-diff replay, TABLECACHE_DIFF_SEED=%d: run in a new database with\n"
                        "-- psql -X -v ON_ERROR_STOP=1 -f %s\n" % (SEED, path))
                f.write("\n".join(self.replay) + "\n")
                f.write("-- the cache against the query, both ways:\n"
                        "SELECT 'cache only' AS side, * FROM (SELECT * FROM tablecache.range(NULL::{c}, 'by_time', {ge}, {lt}) "
                        "EXCEPT ALL SELECT * FROM {c} WHERE created_at >= {ge} AND created_at < {lt}) x\n"
                        "UNION ALL SELECT 'query only', * FROM (SELECT * FROM {c} WHERE created_at >= {ge} AND created_at < {lt} "
                        "EXCEPT ALL SELECT * FROM tablecache.range(NULL::{c}, 'by_time', {ge}, {lt})) y;\n".format(c=CACHE, ge=ge, lt=lt))
        except OSError:
            path = "(not written)"
        lines = ["", "=" * 100,
                 "tablecache maintain-diff FAILED: TABLECACHE_DIFF_SEED=%d (round %d, after transaction %d of %d; window [%s, %s))"
                 % (SEED, round_no, txn_no, TXNS, self.window[0], self.window[1])]
        lines += ["  " + p for p in problems]
        if self.unchecked:
            lines += ["", "the failing transaction%s (ended since the last check, in this order):"
                      % ("s" if len(self.unchecked) > 1 else "")] + self.unchecked
        if other is not None:
            lines += ["", "the concurrent writer's transaction (%s):" % ("still open" if other.open else "ended and checked before"),
                      other.text()]
        try:
            lines += ["", "differing rows (columns: %s):" % ", ".join(self.checker.cols)] + self.checker.diff_rows(self.window)
        except psycopg2.Error as e:
            lines.append("(could not list the differing rows: %s)" % e)
        lines += ["", "replay script (setup and every committed transaction in commit order): %s" % path,
                  "rerun: scripts/maintain-diff.sh --seed %d --txns %d" % (SEED, TXNS), "=" * 100]
        return "\n".join(lines)

    def verify(self, round_no, txn_no, writer, other, rng):
        """The checks, with the racing reader paused (its reads would count in the stats)."""
        if self.racer is not None:
            self.racer.pause()
        problems, rows = self.checker.check(self.window)
        if not problems:
            ids = sorted(rng.sample(range(1, self.ids.next["orders"] + 3), min(6, self.ids.next["orders"] + 2)))
            bad = self.checker.point_gets(ids)
            if bad:
                problems.append("tablecache.get differs from the query for id(s) %s" % bad)
        if problems:
            self.fail(self.report(round_no, txn_no, problems, writer, other))
        self.unchecked = []
        self.window_rows.append(rows)
        if self.racer is not None:
            self.racer.resume(tuple(self.window))

    def ended(self, w):
        """Bookkeeping after a writer's transaction ended; True when it committed."""
        committed = w.finish()
        w.open = False
        self.unchecked.append(w.text())
        if committed:
            self.replay.append(w.committed_text())
            if w.window is not None:
                self.window[:] = w.window
        return committed

    def run_pair(self, plans, round_no, first_txn, order_rng):
        """Both writers work at once; each is committed when it is done, in a random order
        among those done; one that waits for the other's lock is committed after it."""
        wake = threading.Event()
        threads = []
        for i, (w, plan) in enumerate(zip(self.writers, plans)):
            w.start(plan, first_txn + i)
            threads.append(threading.Thread(target=w.run, args=(wake,), name=w.name, daemon=True))
        for t in threads:
            t.start()
        remaining = list(self.writers)
        while remaining:
            deadline = time.monotonic() + WAIT_S
            while True:
                wake.clear()
                done = [w for w in remaining if w.done.is_set()]
                pending = [w for w in remaining if not w.done.is_set()]
                if not pending:
                    break
                if done:
                    blocked = {r[0] for r in query(self.monitor,
                               "SELECT pid FROM unnest(%s::int[]) pid WHERE cardinality(pg_blocking_pids(pid)) > 0",
                               ([w.pid for w in pending],))}
                    if all(w.pid in blocked for w in pending):
                        self.counts["waited"] += 1
                        break
                if time.monotonic() > deadline:
                    self.fail("TABLECACHE_DIFF_SEED=%d round %d: a writer did not finish its work in %ss:\n%s"
                              % (SEED, round_no, WAIT_S, "\n".join(w.text() for w in self.writers)))
                wake.wait(0.005)  # a writer finishing sets it; otherwise look at the locks again
            for w in done:
                if w.fatal is not None:
                    raise w.fatal
            w = order_rng.choice(done)
            self.ended(w)
            remaining.remove(w)
            other = [x for x in self.writers if x is not w][0]
            self.verify(round_no, w.txn_no, w, other, order_rng)
        for t in threads:
            t.join(WAIT_S)

    def tally(self, w):
        if w.failed is not None:
            self.counts["failed"] += 1
            self.errors[w.failed[0]] = self.errors.get(w.failed[0], 0) + 1
        else:
            self.counts["commit" if w.end == "COMMIT" else "rollback"] += 1

    def run_burst(self, gen, model, n, round_no, first_txn, order_rng):
        """n transactions of one writer back to back, nothing reading the cache in between
        (their invalidations pile up, past the limit of pending entries), then the checks."""
        self.racer.pause()
        w = self.writers[0]
        for i in range(n):
            w.start(gen.plan(model, "burst"), first_txn + i)
            w.run()
            if w.fatal is not None:
                raise w.fatal
            self.ended(w)
            self.tally(w)
        self.verify(round_no, first_txn + n - 1, w, None, order_rng)
        return n

    def run_solo(self, plan, round_no, txn_no, order_rng):
        w = self.writers[0]
        w.start(plan, txn_no)
        w.run()
        if w.fatal is not None:
            raise w.fatal
        committed = self.ended(w)
        # every commit is checked; a rollback now and then (it must leave the cache as it was)
        if committed or order_rng.random() < 0.3:
            self.verify(round_no, txn_no, w, None, order_rng)

    def test_differential(self):
        print("\ntest_maintain_diff: TABLECACHE_DIFF_SEED=%d TABLECACHE_DIFF_TXNS=%d" % (SEED, TXNS), file=sys.stderr)
        rng = random.Random(SEED)
        self.setup_data(rng)
        ways = {}
        for table, how in query(self.admin, "SELECT l.base_table::text, l.how FROM tablecache.lineage_def l "
                                            "JOIN tablecache.cache_def d ON d.id = l.cache_id WHERE d.name = %s ORDER BY 2", (CACHE,)):
            ways[table] = "+".join(filter(None, [ways.get(table), how]))
        self.assertEqual(ways, WAYS, "the query is meant to use every way a table's rows are found (tablecache.dependencies):\n%s"
                         % "\n".join("%s: %s" % r for r in query(self.admin, "SELECT base_table::text, how FROM tablecache.dependencies "
                                                                              "WHERE cache = %s ORDER BY 1", (CACHE,))))
        self.assertEqual(scalar(self.admin, "SELECT indexes FROM tablecache.caches WHERE name = %s", (CACHE,)),
                         ["primary_key"] + [n for n, _ in INDEXES])
        cols = [r[0] for r in query(self.admin, "SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass "
                                                "AND attnum > 0 AND NOT attisdropped ORDER BY attnum", (CACHE,))]
        self.checker = Checker(self.reader, cols)
        self.ids = Ids(self.admin)
        self.window_rows = []
        self.errors = {}         # SQLSTATE -> transactions rolled back after that error
        self.counts = {"commit": 0, "rollback": 0, "failed": 0, "waited": 0,
                       "pair": 0, "solo": 0, "truncate": 0, "bulk": 0, "window": 0, "burst": 0}
        gen = Gen(rng, self.ids, self.window)
        self.verify(0, 0, None, None, random.Random(SEED))  # the loaded window itself
        self.racer = Racer(SEED + 1)
        self.racer.resume(tuple(self.window))

        txn = 0
        round_no = 0
        started = time.monotonic()
        while txn < TXNS:
            round_no += 1
            round_start = time.monotonic()
            order_rng = random.Random("%d/%d" % (SEED, round_no))
            model = Model(self.admin)
            r = rng.random()
            kind = ("truncate" if r < 0.012 else "bulk" if r < 0.025 else "window" if r < 0.04
                    else "burst" if r < 0.045 else "pair" if r < 0.6 else "solo")
            self.counts[kind] += 1
            if kind == "pair":
                plans = [gen.plan(model.clone(), kind), gen.plan(model.clone(), kind)]
                self.run_pair(plans, round_no, txn + 1, order_rng)
                ended = self.writers
            elif kind == "burst":
                n = self.run_burst(gen, model, rng.randrange(10, 80), round_no, txn + 1, order_rng)
                txn += n - 1
                ended = self.writers[:1]
            else:
                self.run_solo(gen.plan(model, kind), round_no, txn + 1, order_rng)
                ended = self.writers[:1]
            txn += len(ended)
            for w in ended if kind != "burst" else ():
                self.tally(w)
            if VERBOSE and time.monotonic() - round_start > 1:
                print("  slow round %d (%s): %.1fs\n%s" % (round_no, kind, time.monotonic() - round_start,
                                                          "\n".join(w.text()[:3000] for w in ended)), file=sys.stderr)
            if VERBOSE and round_no % 100 == 0:
                print("  round %d, %d transactions, %.1fs, %s; orders %d, window rows %d, racer reads %d"
                      % (round_no, txn, time.monotonic() - started, self.counts, len(model.orders),
                         self.window_rows[-1], self.racer.reads), file=sys.stderr)
        elapsed = time.monotonic() - started
        wr = self.window_rows
        print("test_maintain_diff: %d transactions in %d rounds, %.1fs: %s; errors %s; rows in the window %d..%d (mean %d); "
              "racing reads %d" % (txn, round_no, elapsed, self.counts, self.errors, min(wr), max(wr), sum(wr) // len(wr),
                                   self.racer.reads), file=sys.stderr)
        self.assertGreater(self.counts["commit"], txn // 2, self.counts)


if __name__ == "__main__":
    unittest.main()
