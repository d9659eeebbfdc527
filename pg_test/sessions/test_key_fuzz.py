"""A seeded differential fuzz of index keys, run in the server (hardening spec: "Wrong
answers": text keys under libc collations, NULLs; "Crashes": keys of any size, `name` keys).

For every supported key type (smallint, integer, bigint, numeric, real, double precision,
date, time, timestamp, timestamptz, interval, oid, uuid, boolean, bytea, name, text,
varchar, char(n), a domain over integer and one over text) and for text under every libc
collation of the server (pg_collation with collprovider 'c', "C", "POSIX", the default of a
C.UTF-8 database and of an en_US.utf8 database), random values (special values included)
go into two tables:

    kfu_T (n int, k T PRIMARY KEY, v int, w text)     cache pk (k), a partial window
    kfm_T (id int PRIMARY KEY, k T, g int, v int)     cache pk (id), indexes by_k (k),
                                                      by_k_g (k, g), by_g_k (g, k);
                                                      k and g hold NULLs and duplicates

and every answer of the cache is compared, in the same statement, with the query's own
answer: get of every key and of absent keys (hits and misses; right after a load or adjust,
every key the window covers must be a hit), range with bounds taken from the data (NULL
sides, full rows, prefixes) on every index, after invalidate / invalidate_range / prefix
invalidations of changes made behind the triggers' back, after changes through
invalidate_trigger (NULLs in the key), and after adjusting the windows (single-column,
multi-column with NULLs, widened to everything).

Text collations get 5,000 short strings from the alphabet  0'-.Xa b  (strxfrm and strcoll
disagreed on such strings under en_US.utf8). test_huge_keys puts bytea and text keys from 0
bytes to 200 kB into caches: load either works or fails with 54000, any other error or a
crash (a lost connection, "terminated by signal" in the server log) fails.

The seed is fixed (SEED below); TABLECACHE_FUZZ_SEED overrides it. Every failure message
names the seed.
"""
import datetime
import os
import random
import struct
import time
import unittest
import uuid

import psycopg2

import harness
from harness import query, scalar

SEED = int(os.environ.get("TABLECACHE_FUZZ_SEED", "20260201"))
EN_DB = "tc_key_fuzz_en_us"
ALPHABET = "0'-.Xa b"
UNICODE = "aAbBzZ09 -'.,_~éÉèßæøåüÄÖçñǅﬁ\u0301\u00a0ıİ中文😀"
LOG = os.path.join(harness.HOST, "server.log")


def setUpModule():
    harness.setup_module_db(__name__)
    admin = harness.connect("postgres")
    try:
        query(admin, "DROP DATABASE IF EXISTS %s WITH (FORCE)" % EN_DB)
        query(admin, "CREATE DATABASE %s WITH LC_COLLATE 'en_US.utf8' LC_CTYPE 'en_US.utf8' "
                     "TEMPLATE template0" % EN_DB)
    finally:
        admin.close()
    for db in (__name__, EN_DB):
        conn = harness.connect(db)
        try:
            if db == EN_DB:
                query(conn, "CREATE EXTENSION tablecache")
            query(conn, "CREATE DOMAIN kf_dint AS integer CHECK (VALUE > -2147483648)")
            query(conn, "CREATE DOMAIN kf_dtext AS text COLLATE \"en_US.utf8\"")
        finally:
            conn.close()


def tearDownModule():
    admin = harness.connect("postgres")
    try:
        query(admin, "DROP DATABASE IF EXISTS %s WITH (FORCE)" % EN_DB)
    finally:
        admin.close()
    harness.teardown_module_db(__name__)


# --- value generators: each returns the input text of one value ---------------------------
def g_int(bits):
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    specials = [0, 1, -1, lo, hi, lo + 1, hi - 1, 255, 256, -256]

    def gen(r):
        x = r.random()
        if x < 0.25:
            return str(r.choice(specials))
        if x < 0.6:
            return str(r.randint(-1000, 1000))
        return str(r.randint(lo, hi))
    return gen


def g_dint(r):
    v = g_int(32)(r)
    return "0" if v == str(-(1 << 31)) else v


def g_numeric(r):
    x = r.random()
    if x < 0.15:
        return r.choice(["NaN", "Infinity", "-Infinity", "0", "-0", "0.0", "1", "1.0", "1.00", "-1",
                         "0.1", "1e-20", "99999999999999999999", "-0.000000001", "1e100"])
    if x < 0.35:
        return str(r.randint(-10 ** 40, 10 ** 40))
    if x < 0.9:
        s = "-" if r.random() < 0.4 else ""
        return "%s%d.%s" % (s, r.randint(0, 10 ** r.randint(0, 12)),
                            "".join(r.choice("0123456789") for _ in range(r.randint(1, 30))))
    if x < 0.95:  # huge scale
        return "%s0.%s%d" % (r.choice(["", "-"]), "0" * r.randint(100, 2000), r.randint(1, 9))
    return "%s%d%s" % (r.choice(["", "-"]), r.randint(1, 9), "0" * r.randint(100, 3000))  # huge weight


def g_float(bits):
    specials = ["NaN", "Infinity", "-Infinity", "-0", "0", "0.1", "1", "-1", "0.30000000000000004"]
    specials += (["1.4e-45", "-1.4e-45", "3.4028235e38", "-3.4028235e38", "1.1754944e-38"] if bits == 32 else
                 ["5e-324", "-5e-324", "1.7976931348623157e308", "-1.7976931348623157e308",
                  "2.2250738585072014e-308", "1.0000000000000002"])

    def gen(r):
        x = r.random()
        if x < 0.2:
            return r.choice(specials)
        if x < 0.6:
            return repr(r.uniform(-100, 100))
        while True:
            if bits == 32:
                f = struct.unpack("<f", r.getrandbits(32).to_bytes(4, "little"))[0]
            else:
                f = struct.unpack("<d", r.getrandbits(64).to_bytes(8, "little"))[0]
            if f == f and f not in (float("inf"), float("-inf")):
                return repr(f)
    return gen


EPOCH = datetime.datetime(1970, 1, 1)


def g_date(r):
    x = r.random()
    if x < 0.15:
        return r.choice(["infinity", "-infinity", "4713-11-24 BC", "0001-01-01 BC", "5874897-12-31",
                         "2000-02-29", "1970-01-01", "0001-01-01", "9999-12-31"])
    lo, hi = ((datetime.date(1, 1, 1), datetime.date(9999, 12, 31)) if x < 0.3
              else (datetime.date(1990, 1, 1), datetime.date(2040, 12, 31)))
    return datetime.date.fromordinal(r.randint(lo.toordinal(), hi.toordinal())).isoformat()


def g_time(r):
    if r.random() < 0.15:
        return r.choice(["00:00:00", "24:00:00", "23:59:59.999999", "12:00:00", "00:00:00.000001"])
    us = r.randint(0, 86400 * 10 ** 6)
    if us == 86400 * 10 ** 6:
        return "24:00:00"
    return "%02d:%02d:%02d.%06d" % (us // 3600000000, us // 60000000 % 60, us // 1000000 % 60, us % 1000000)


def _ts(r):
    x = r.random()
    if x < 0.5:
        us = r.randint(-2 * 10 ** 15, 4 * 10 ** 15)   # ~1907 .. ~2096
    else:
        us = r.randint(-62 * 10 ** 15, 253 * 10 ** 15)  # years 1 .. 9999
    return (EPOCH + datetime.timedelta(microseconds=us)).isoformat(" ")


def g_timestamp(r):
    if r.random() < 0.12:
        return r.choice(["infinity", "-infinity", "4713-11-24 00:00:00 BC", "294276-12-31 23:59:59.999999",
                         "2000-01-01 00:00:00", "1970-01-01 00:00:00.000001"])
    return _ts(r)


def g_timestamptz(r):
    if r.random() < 0.12:
        return r.choice(["infinity", "-infinity", "4713-11-24 00:00:00+00 BC", "294276-12-31 23:59:59.999999+00",
                         "2000-01-01 00:00:00+00", "2000-01-01 05:45:00+05:45"])
    return _ts(r) + r.choice(["+00", "+05:45", "-03:30", "+14", "-12", "+01"])


def g_interval(r):
    x = r.random()
    if x < 0.25:
        return r.choice(["1 day", "24 hours", "1 mon", "30 days", "720 hours", "0", "-1 day +24 hours",
                         "178000000 years", "-178000000 years", "1 microsecond", "-1 microsecond",
                         "1 year -360 days", "-1 days -2 hours", "1 day -2 hours", "86400 seconds"])
    months = r.randint(-2000, 2000) if r.random() < 0.5 else 0
    days = r.randint(-5000, 5000) if r.random() < 0.7 else 0
    us = r.randint(-10 ** 12, 10 ** 12)
    sign = "-" if us < 0 else ""
    return "%d mons %d days %s%d.%06d seconds" % (months, days, sign, abs(us) // 10 ** 6, abs(us) % 10 ** 6)


def g_oid(r):
    if r.random() < 0.2:
        return str(r.choice([0, 1, 2147483647, 2147483648, 4294967295, 4294967294]))
    return str(r.randint(0, 4294967295) if r.random() < 0.5 else r.randint(0, 100000))


def g_uuid(r):
    if r.random() < 0.15:
        return r.choice(["00000000-0000-0000-0000-000000000000", "ffffffff-ffff-ffff-ffff-ffffffffffff",
                         "80000000-0000-0000-0000-000000000000", "7fffffff-ffff-ffff-ffff-ffffffffffff"])
    return str(uuid.UUID(int=r.getrandbits(128)))


def g_bool(r):
    return r.choice(["true", "false"])


def g_bytea(r):
    x = r.random()
    n = (r.randint(0, 4) if x < 0.4 else r.randint(5, 32) if x < 0.8 else
         r.randint(33, 600) if x < 0.95 else r.randint(600, 1200))  # a btree entry holds 2704 bytes
    b = bytes(r.choice((0, 255, 1, 254, 0x80, 0x7f, r.randint(0, 255))) for _ in range(n))
    return "\\x" + b.hex()


def g_unicode(maxlen):
    def gen(r):
        n = r.randint(0, maxlen) if r.random() < 0.97 else r.randint(maxlen, maxlen * 40)
        return "".join(r.choice(UNICODE) for _ in range(n))
    return gen


def g_alphabet(r):
    return "".join(r.choice(ALPHABET) for _ in range(r.choice((0, 1, 2, 3, 4, 5, 6, 6, 7, 7, 8, 8, 8))))


def g_text_collated(r):
    """Mostly the reported alphabet, some Unicode, a few longer strings."""
    x = r.random()
    if x < 0.9:
        return g_alphabet(r)
    if x < 0.99:
        return g_unicode(12)(r)
    return "".join(r.choice(ALPHABET + "éß") for _ in range(r.randint(100, 1000)))


def g_char8(r):
    s = "".join(r.choice("a bA-") for _ in range(r.randint(0, 8)))
    return s


def g_name(r):
    return "".join(r.choice(UNICODE) for _ in range(r.randint(0, 70)))


# tag, SQL type, column collation clause, generator, unique values, kfm rows, kfm pool size
TYPES = [
    ("int2", "smallint", "", g_int(16), 300, 300, 80),
    ("int4", "integer", "", g_int(32), 300, 300, 80),
    ("int8", "bigint", "", g_int(64), 300, 300, 80),
    ("numeric", "numeric", "", g_numeric, 300, 300, 80),
    ("float4", "real", "", g_float(32), 300, 300, 80),
    ("float8", "double precision", "", g_float(64), 300, 300, 80),
    ("date", "date", "", g_date, 300, 300, 80),
    ("time", "time", "", g_time, 300, 300, 80),
    ("ts", "timestamp", "", g_timestamp, 300, 300, 80),
    ("tstz", "timestamptz", "", g_timestamptz, 300, 300, 80),
    ("interval", "interval", "", g_interval, 300, 300, 80),
    ("oid", "oid", "", g_oid, 300, 300, 80),
    ("uuid", "uuid", "", g_uuid, 300, 300, 80),
    ("bool", "boolean", "", g_bool, 10, 200, 2),
    ("bytea", "bytea", "", g_bytea, 300, 300, 80),
    ("name", "name", "", g_name, 300, 300, 80),
    ("text", "text", "", g_unicode(12), 300, 300, 80),
    ("varchar", "varchar", "", g_unicode(12), 300, 300, 80),
    ("char8", "char(8)", "", g_char8, 300, 300, 80),
    ("char8_en", "char(8)", ' COLLATE "en_US.utf8"', g_char8, 300, 300, 80),
    ("dint", "kf_dint", "", g_dint, 300, 300, 80),
    ("dtext", "kf_dtext", "", g_unicode(12), 300, 300, 80),
]
TEXT_N_UNIQUE = 5000  # the reported alphabet: 5,000 distinct strings
TEXT_N_MULTI = 1200


class Crash(Exception):
    """The connection to the server was lost (a backend crash restarts every backend)."""


def pgmsg(e):
    return getattr(e.diag, "message_primary", None) or str(e).splitlines()[0]


def clip(s, n=100):
    s = repr(s)
    return s if len(s) <= n else "%s...(%d chars)" % (s[:n], len(s))


def log_size():
    try:
        return os.path.getsize(LOG)
    except OSError:
        return None


def log_signals(offset):
    """Lines of the server log written since `offset` that report a backend killed by a
    signal (only when the log is readable: the server runs on this machine)."""
    if offset is None:
        return []
    try:
        with open(LOG, "rb") as f:
            f.seek(offset)
            text = f.read().decode("utf-8", "replace")
    except OSError:
        return []
    return [line for line in text.splitlines() if "terminated by signal" in line]


def wait_ready(db, timeout=90):
    """A connection to `db` once the server accepts them again (after a crash restart)."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            conn = harness.connect(db)
            query(conn, "SELECT 1")
            return conn
        except psycopg2.Error as e:
            last = e
            time.sleep(0.2)  # the postmaster is restarting after a crash
    raise AssertionError("server not ready within %ss: %s" % (timeout, last))


def retrying(db, fn, attempts=4):
    """fn(conn) on a fresh connection, again after a lost connection (a crash restart can
    kill a session that connected just before it)."""
    for i in range(attempts):
        conn = wait_ready(db)
        try:
            return fn(conn)
        except psycopg2.Error as e:
            if not lost(conn, e) or i == attempts - 1:
                raise
        finally:
            conn.close()


def session(db, name):
    conn = wait_ready(db)
    conn.set_session(autocommit=True)
    with conn.cursor() as cur:
        cur.execute("SET application_name = %s", (name,))
        cur.execute("SET statement_timeout = '180s'")
        cur.execute("SET DateStyle = 'ISO, MDY'")
        cur.execute("SET IntervalStyle = 'postgres'")
        cur.execute("SET TimeZone = 'UTC'")
        cur.execute("SET extra_float_digits = 1")
    return conn


def lost(conn, e):
    """Did this error end the session (a crash restarts every backend: 57P01/57P02 or no
    SQLSTATE at all)? psycopg2 raises OperationalError for 54000 too, so the class says nothing."""
    return bool(conn.closed) or e.pgcode is None or e.pgcode.startswith("57P")


class TypeFuzz:
    """The differential fuzz of one key type in one database."""

    def __init__(self, db, tag, sqltype, coll, gen, n_unique, n_multi, pool_size, seed):
        self.db, self.tag, self.sqltype, self.coll, self.gen = db, tag, sqltype, coll, gen
        self.n_unique, self.n_multi, self.pool_size = n_unique, n_multi, pool_size
        self.r = random.Random("%s:%s:%s" % (seed, db, tag))
        self.ctype = sqltype + coll           # column type with its collation
        self.tu, self.tm = "kfu_" + tag, "kfm_" + tag
        self.cu, self.cm = "kfuc_" + tag, "kfmc_" + tag
        self.qu = "SELECT n, k, v, w FROM %s" % self.tu
        self.qm = "SELECT id, k, g, v FROM %s" % self.tm
        self.failures = []    # (size, kind, text): the smallest case of each kind is reported
        self.next_n = 0
        self.next_id = 0
        self.a = session(db, "key fuzz writer " + tag)
        self.b = session(db, "key fuzz reader " + tag)

    # --- bookkeeping --------------------------------------------------------------------
    def fail(self, size, text, cat=None):
        """Records a failure; `cat` groups failures of one kind (one example of each is reported)."""
        self.failures.append((size, cat or text, text))

    def q(self, conn, sql, params=None):
        try:
            return query(conn, sql, params)
        except psycopg2.Error as e:
            if lost(conn, e):
                raise Crash("%s: %s" % (clip(sql, 300), e))
            raise

    def step(self, what, fn, *args):
        """Runs a set-up or writing step; an error is a failure (rolled back), not the end."""
        try:
            return fn(*args)
        except psycopg2.Error as e:
            if lost(self.a, e) or lost(self.b, e):
                raise Crash("%s: %s" % (what, e))
            for c in (self.a, self.b):
                try:
                    query(c, "ROLLBACK")
                except psycopg2.Error:
                    pass
            self.fail(0, "%s: ERROR %s %s" % (what, e.pgcode, pgmsg(e)), what)
            return None

    def vals(self, n):
        return [self.gen(self.r) for _ in range(n)]

    def payload(self):
        return None if self.r.random() < 0.3 else "".join(self.r.choice(UNICODE) for _ in range(self.r.randint(0, 20)))

    # --- set-up -------------------------------------------------------------------------
    def setup(self):
        a, T, CT = self.a, self.sqltype, self.ctype
        for t in (self.tu, self.tm, "kfp_" + self.tag, "kfpm_" + self.tag, "kfr_" + self.tag,
                  "kfbk_" + self.tag, "kfbkg_" + self.tag, "kfbgk_" + self.tag, "kfw_" + self.tag):
            self.q(a, "DROP TABLE IF EXISTS %s CASCADE" % t)
        self.q(a, "CREATE TABLE %s (n int NOT NULL UNIQUE, k %s PRIMARY KEY, v int NOT NULL, w text)" % (self.tu, CT))
        self.q(a, "CREATE TABLE %s (id int PRIMARY KEY, k %s, g int, v int NOT NULL)" % (self.tm, CT))
        self.q(a, "CREATE TABLE kfp_%s (i serial, k %s NOT NULL)" % (self.tag, CT))     # get probes
        self.q(a, "CREATE TABLE kfpm_%s (id int)" % self.tag)                           # get probes (kfm)
        self.q(a, "CREATE TABLE kfw_%s (ge %s, lt %s)" % (self.tag, CT, CT))             # kfu's window
        self.q(a, "CREATE TABLE kfr_%s (i int, ge %s, lt %s)" % (self.tag, CT, CT))      # kfu ranges
        self.q(a, "CREATE TABLE kfbk_%s (i int, ge_a %s, lt_a %s)" % (self.tag, CT, CT))
        self.q(a, "CREATE TABLE kfbkg_%s (i int, gkind text, ge_a %s, ge_b int, lkind text, lt_a %s, lt_b int)"
               % (self.tag, CT, CT))
        self.q(a, "CREATE TABLE kfbgk_%s (i int, gkind text, ge_a int, ge_b %s, lkind text, lt_a int, lt_b %s)"
               % (self.tag, CT, CT))
        vals = self.vals(self.n_unique)
        if self.gen is g_text_collated:
            # exactly n_unique distinct strings of the reported alphabet, then the others
            alpha = dict.fromkeys(v for v in vals if v and set(v) <= set(ALPHABET))
            while len(alpha) < self.n_unique:
                alpha[g_alphabet(self.r)] = None
            vals = list(alpha) + [v for v in vals if not (v and set(v) <= set(ALPHABET))][:self.n_unique // 10]
        self.q(a, "INSERT INTO %s (n, k, v, w) SELECT o, x::%s, 0, w FROM unnest(%%s::text[], %%s::text[]) "
                  "WITH ORDINALITY u(x, w, o) ON CONFLICT DO NOTHING" % (self.tu, T),
               (vals, [self.payload() for _ in vals]))
        self.next_n = len(vals) + 1
        self.q(a, "INSERT INTO kfp_%s (k) SELECT k FROM %s" % (self.tag, self.tu))
        self.q(a, "INSERT INTO kfp_%s (k) SELECT x::%s FROM unnest(%%s::text[]) x" % (self.tag, T), (self.vals(60),))
        self.pool = [None if self.r.random() < 0.1 else v for v in self.vals(self.pool_size)]
        ks = [self.r.choice(self.pool) for _ in range(self.n_multi)]
        gs = [None if self.r.random() < 0.1 else self.r.randint(0, 6) for _ in ks]
        self.q(a, "INSERT INTO %s (id, k, g, v) SELECT o, x::%s, g, 0 FROM unnest(%%s::text[], %%s::int[]) "
                  "WITH ORDINALITY u(x, g, o)" % (self.tm, T), (ks, gs))
        self.next_id = len(ks) + 1
        self.q(a, "INSERT INTO kfpm_%s SELECT generate_series(0, %d)" % (self.tag, self.next_id + 20))
        self.q(a, "SELECT tablecache.create_cache(%s, %s, ARRAY['k'], maintain => 'manual')", (self.cu, self.qu))
        self.q(a, "SELECT tablecache.create_cache(%s, %s, ARRAY['id'], maintain => 'manual')", (self.cm, self.qm))
        for ix, cols in (("by_k", ["k"]), ("by_k_g", ["k", "g"]), ("by_g_k", ["g", "k"])):
            self.q(a, "SELECT tablecache.create_index(%s, %s, %s)", (self.cm, ix, cols))
        self.q(a, "CREATE TRIGGER %s_tc AFTER INSERT OR UPDATE OR DELETE ON %s FOR EACH ROW "
                  "EXECUTE FUNCTION tablecache.invalidate_trigger('%s', 'by_k_g', 'k', 'g')" % (self.tm, self.tm, self.cm))
        self.make_bounds()

    def order_u(self):
        return [r[0] for r in self.q(self.b, "SELECT n FROM %s ORDER BY k, n" % self.tu)]

    def order_m(self, order, where):
        return [r[0] for r in self.q(self.b, "SELECT id FROM %s WHERE %s ORDER BY %s" % (self.tm, where, order))]

    def pick_pairs(self, n_items, count):
        """count (lo, hi) positions with lo <= hi (None = a NULL side)."""
        out = []
        if n_items == 0:
            return [(None, None)] * count
        for _ in range(count):
            x = self.r.random()
            a = self.r.randrange(n_items)
            if x < 0.1:
                out.append((None, None))
            elif x < 0.2:
                out.append((a, None))
            elif x < 0.3:
                out.append((None, a))
            else:
                b = min(n_items - 1, a + self.r.randint(0, 20)) if x < 0.75 else self.r.randrange(n_items)
                out.append((min(a, b), max(a, b)))
        return out

    def make_bounds(self):
        """Range bounds taken from the data, kept as typed values in tables."""
        a, tag = self.a, self.tag
        order = self.order_u()
        pairs = self.pick_pairs(len(order), 40)
        ge = [None if p is None else order[p] for p, _ in pairs]
        lt = [None if p is None else order[p] for _, p in pairs]
        self.q(a, "INSERT INTO kfr_%s SELECT i, (SELECT k FROM %s WHERE n = gn), (SELECT k FROM %s WHERE n = ln) "
                  "FROM unnest(%%s::int[], %%s::int[], %%s::int[]) u(i, gn, ln)" % (tag, self.tu, self.tu),
               (list(range(len(pairs))), ge, lt))
        # kfm, by_k: values of k (not NULL)
        order = self.order_m("k, id", "k IS NOT NULL")
        pairs = self.pick_pairs(len(order), 25)
        self.q(a, "INSERT INTO kfbk_%s SELECT i, (SELECT k FROM %s WHERE id = gi), (SELECT k FROM %s WHERE id = li) "
                  "FROM unnest(%%s::int[], %%s::int[], %%s::int[]) u(i, gi, li)" % (tag, self.tm, self.tm),
               (list(range(len(pairs))), [None if p is None else order[p] for p, _ in pairs],
                [None if p is None else order[p] for _, p in pairs]))
        # two-column indexes: rows with both columns set; kinds null / prefix / full
        for table, first, second in (("kfbkg", "k", "g"), ("kfbgk", "g", "k")):
            order = self.order_m("%s, %s, id" % (first, second), "k IS NOT NULL AND g IS NOT NULL")
            pairs = self.pick_pairs(len(order), 25)
            kinds = []
            for p, q in pairs:
                kinds.append(("null" if p is None else self.r.choice(["prefix", "full", "full"]),
                              "null" if q is None else self.r.choice(["prefix", "full", "full"])))
            self.q(a, """INSERT INTO {t}_{tag}
                SELECT i, gk, CASE WHEN gk <> 'null' THEN (SELECT {f} FROM {m} WHERE id = gi) END,
                              CASE WHEN gk = 'full' THEN (SELECT {s} FROM {m} WHERE id = gi) END,
                          lk, CASE WHEN lk <> 'null' THEN (SELECT {f} FROM {m} WHERE id = li) END,
                              CASE WHEN lk = 'full' THEN (SELECT {s} FROM {m} WHERE id = li) END
                FROM unnest(%s::int[], %s::text[], %s::int[], %s::text[], %s::int[]) u(i, gk, gi, lk, li)
                """.format(t=table, tag=tag, f=first, s=second, m=self.tm),
                   (list(range(len(pairs))), [k[0] for k in kinds], [None if p is None else order[p] for p, _ in pairs],
                    [k[1] for k in kinds], [None if p is None else order[p] for _, p in pairs]))
            # a full lower bound and a prefix upper bound need first(ge) < first(lt)
            self.q(a, "UPDATE %s_%s SET lkind = 'null', lt_a = NULL, lt_b = NULL "
                      "WHERE gkind = 'full' AND lkind = 'prefix' AND NOT (ge_a < lt_a)" % (table, tag))

    # --- windows ------------------------------------------------------------------------
    def set_window_u(self, fn, lo_frac, hi_frac):
        order = self.order_u()
        if not order:
            return
        gn, ln = order[int(lo_frac * (len(order) - 1))], order[int(hi_frac * (len(order) - 1))]
        self.q(self.a, "DELETE FROM kfw_%s" % self.tag)
        self.q(self.a, "INSERT INTO kfw_%s SELECT (SELECT k FROM %s WHERE n = %%s), (SELECT k FROM %s WHERE n = %%s)"
               % (self.tag, self.tu, self.tu), (gn, ln))
        self.q(self.a, "SELECT tablecache.%s(%%s, 'primary_key', w.ge, w.lt) FROM kfw_%s w" % (fn, self.tag), (self.cu,))

    def set_window_m(self, fn, index, lo_frac=None, hi_frac=None):
        if lo_frac is None:
            self.q(self.a, "SELECT tablecache.%s(%%s, %%s, NULL, NULL)" % fn, (self.cm, index))
            return
        if index == "by_k":
            order = self.order_m("k, id", "k IS NOT NULL")
            expr = "(SELECT k FROM %s WHERE id = %%s)" % self.tm
        else:
            order = self.order_m("k, g, id", "k IS NOT NULL AND g IS NOT NULL")
            expr = "(SELECT ROW(k, g) FROM %s WHERE id = %%s)" % self.tm
        if not order:
            return
        gi, li = order[int(lo_frac * (len(order) - 1))], order[int(hi_frac * (len(order) - 1))]
        self.q(self.a, "SELECT tablecache.%s(%%s, %%s, %s, %s)" % (fn, expr, expr), (self.cm, index, gi, li))

    # --- changes ------------------------------------------------------------------------
    def change_points(self, rnd):
        """kfu: updates, key moves, deletes and inserts behind no trigger, each invalidated
        with invalidate(primary_key) in the same transaction. kfm: updates (keys to and from
        NULL), deletes and inserts through invalidate_trigger on by_k_g (k, g)."""
        a, T, r = self.a, self.sqltype, self.r
        order = self.order_u()
        if order:
            upd = r.sample(order, min(len(order), 25))
            dele = r.sample(order, min(len(order), 8))
            self.q(a, "BEGIN")
            self.q(a, "WITH u AS (UPDATE {t} SET v = v + 1, w = x.w FROM unnest(%s::int[], %s::text[]) x(n, w) "
                      "WHERE {t}.n = x.n RETURNING {t}.k) "
                      "SELECT tablecache.invalidate(%s, 'primary_key', k) FROM u".format(t=self.tu),
                   (upd, [self.payload() for _ in upd], self.cu))
            self.q(a, "WITH d AS (DELETE FROM {t} WHERE n = ANY(%s) AND n <> ALL(%s) RETURNING k) "
                      "SELECT tablecache.invalidate(%s, 'primary_key', k) FROM d".format(t=self.tu),
                   (dele, upd, self.cu))
            new = self.vals(15)
            self.q(a, "WITH i AS (INSERT INTO {t} (n, k, v, w) SELECT %s + o, x::{T}, %s, NULL "
                             "FROM unnest(%s::text[]) WITH ORDINALITY u(x, o) ON CONFLICT DO NOTHING RETURNING k) "
                             "SELECT tablecache.invalidate(%s, 'primary_key', k) FROM i".format(t=self.tu, T=T),
                   (self.next_n, rnd, new, self.cu))
            self.next_n += len(new) + 1
            for n in r.sample(order, min(len(order), 5)):     # key moves: old and new key
                v = self.gen(r)
                self.q(a, "WITH old AS (SELECT k FROM {t} WHERE n = %s), "
                          "u AS (UPDATE {t} SET k = %s::{T}, v = v + 10 WHERE n = %s "
                          "AND NOT EXISTS (SELECT 1 FROM {t} z WHERE z.k = %s::{T}) RETURNING k) "
                          "SELECT tablecache.invalidate(%s, 'primary_key', k) FROM (SELECT k FROM old "
                          "WHERE EXISTS (SELECT 1 FROM u) UNION ALL SELECT k FROM u) s".format(t=self.tu, T=T),
                       (n, v, n, v, self.cu))
            self.q(a, "COMMIT")
            self.q(a, "INSERT INTO kfp_%s (k) SELECT k FROM %s t WHERE NOT EXISTS "
                      "(SELECT 1 FROM kfp_%s p WHERE p.k = t.k)" % (self.tag, self.tu, self.tag))
        # kfm through the trigger
        ids = [i for (i,) in self.q(a, "SELECT id FROM %s" % self.tm)]
        if ids:
            upd = r.sample(ids, min(len(ids), 30))
            self.q(a, "UPDATE {t} SET k = x.k::{T}, g = x.g, v = v + 1 FROM unnest(%s::int[], %s::text[], %s::int[]) "
                      "x(id, k, g) WHERE {t}.id = x.id".format(t=self.tm, T=T),
                   (upd, [self.pick_k() for _ in upd], [self.pick_g() for _ in upd]))
            self.q(a, "UPDATE {t} SET v = v + 1 WHERE id = ANY(%s)".format(t=self.tm), (r.sample(ids, min(len(ids), 10)),))
            self.q(a, "DELETE FROM {t} WHERE id = ANY(%s)".format(t=self.tm), (r.sample(ids, min(len(ids), 8)),))
        ks = [self.pick_k() for _ in range(12)]
        self.q(a, "INSERT INTO {t} (id, k, g, v) SELECT %s + o, x::{T}, g, %s FROM unnest(%s::text[], %s::int[]) "
                  "WITH ORDINALITY u(x, g, o)".format(t=self.tm, T=T),
               (self.next_id, rnd, ks, [self.pick_g() for _ in ks]))
        self.next_id += len(ks) + 1
        self.q(a, "INSERT INTO kfpm_%s SELECT generate_series(%d, %d)" % (self.tag, self.next_id - len(ks) - 1, self.next_id))

    def pick_k(self):
        return self.r.choice(self.pool) if self.r.random() < 0.8 else (None if self.r.random() < 0.3 else self.gen(self.r))

    def pick_g(self):
        return None if self.r.random() < 0.15 else self.r.randint(0, 6)

    def change_ranges(self, rnd):
        """Changes behind the triggers' back, invalidated with invalidate_range (kfu
        primary_key, kfm by_k, NULL sides included), invalidate on by_k, and prefix
        invalidations ROW(g) on by_g_k (a NULL g: invalidate the primary key)."""
        a, T, r = self.a, self.sqltype, self.r
        order = self.order_u()
        self.q(a, "BEGIN")
        self.q(a, "SET LOCAL session_replication_role = replica")
        for lo, hi in self.pick_pairs(len(order), 3) if order else []:
            ge = "NULL" if lo is None else "(SELECT k FROM %s WHERE n = %d)" % (self.tu, order[lo])
            lt = "NULL" if hi is None else "(SELECT k FROM %s WHERE n = %d)" % (self.tu, order[hi])
            self.q(a, "UPDATE {t} SET v = v + 100 WHERE ({ge} IS NULL OR k >= {ge}) AND ({lt} IS NULL OR k < {lt})"
                   .format(t=self.tu, ge=ge, lt=lt))
            self.q(a, "SELECT tablecache.invalidate_range(%%s, 'primary_key', %s, %s)" % (ge, lt), (self.cu,))
        order = self.order_m("k, id", "k IS NOT NULL")
        for lo, hi in self.pick_pairs(len(order), 3) if order else []:
            ge = "NULL" if lo is None else "(SELECT k FROM %s WHERE id = %d)" % (self.tm, order[lo])
            lt = "NULL" if hi is None else "(SELECT k FROM %s WHERE id = %d)" % (self.tm, order[hi])
            cond = ("true" if lo is None and hi is None else
                    "({ge} IS NULL OR k >= {ge}) AND ({lt} IS NULL OR k < {lt})".format(ge=ge, lt=lt))
            self.q(a, "UPDATE %s SET v = v + 100 WHERE %s" % (self.tm, cond))
            self.q(a, "SELECT tablecache.invalidate_range(%%s, 'by_k', %s, %s)" % (ge, lt), (self.cm,))
        for i in r.sample(order, min(len(order), 3)):
            self.q(a, "WITH x AS (SELECT k FROM {t} WHERE id = %s), u AS (UPDATE {t} SET v = v + 1000 "
                      "WHERE k = (SELECT k FROM x) RETURNING 1) "
                      "SELECT tablecache.invalidate(%s, 'by_k', (SELECT k FROM x)), (SELECT count(*) FROM u)"
                      .format(t=self.tm), (i, self.cm))
        ids = [i for (i,) in self.q(a, "SELECT id FROM %s" % self.tm)]
        upd = r.sample(ids, min(len(ids), 20))
        self.q(a, "WITH old AS (SELECT id, g FROM {t} WHERE id = ANY(%s)), "
                  "u AS (UPDATE {t} SET k = x.k::{T}, g = x.g, v = v + 1 FROM unnest(%s::int[], %s::text[], %s::int[]) "
                  "x(id, k, g) WHERE {t}.id = x.id RETURNING {t}.id, {t}.g), "
                  "keys AS (SELECT id, g FROM old UNION ALL SELECT id, g FROM u) "
                  "SELECT CASE WHEN g IS NULL THEN tablecache.invalidate(%s, 'primary_key', id) "
                  "ELSE tablecache.invalidate(%s, 'by_g_k', ROW(g)) END FROM keys".format(t=self.tm, T=T),
               (upd, upd, [self.pick_k() for _ in upd], [self.pick_g() for _ in upd], self.cm, self.cm))
        self.q(a, "COMMIT")

    # --- comparisons --------------------------------------------------------------------
    def stats(self, cache):
        rows = self.q(self.b, "SELECT hits, misses FROM tablecache.stats WHERE cache = %s", (cache,))
        return rows[0] if rows else (0, 0)

    def run_check(self, label, what, sql, key_cond, keys):
        """Runs a comparing statement returning (key, description, cached, truth) for every
        difference; on an error, runs it once per key to find the failing ones."""
        try:
            return self.q(self.b, sql), True
        except Crash:
            raise
        except psycopg2.Error as e:
            first = "%s %s" % (e.pgcode, pgmsg(e))
        errors = 0
        out = []
        for k in keys:
            try:
                out += self.q(self.b, sql.replace("%", "%%") + " AND " + key_cond, (k,))
            except Crash:
                raise
            except psycopg2.Error as e:
                errors += 1
                desc = self.q(self.b, *self.describe_key(what, k)) if errors <= 3 else [("?",)]
                self.fail(1, "%s: %s %s: ERROR %s %s" % (label, what, desc[0][0], e.pgcode, pgmsg(e)),
                          "%s | %s error" % (label, what))
                if errors >= 5:
                    break
        if not errors:
            self.fail(1, "%s: %s: the whole statement failed (%s) but no single read did" % (label, what, first))
        return out, False

    def describe_key(self, what, k):
        """(sql, params) naming the read `what` of key k (for messages; '%%' for psycopg2)."""
        tag = self.tag
        if what.startswith("get kfu"):
            return "SELECT 'get(' || k::text || ')' FROM kfp_{} WHERE i = %s".format(tag), (k,)
        if what.startswith("get kfm"):
            return "SELECT 'get(' || %s::text || ')'", (k,)
        if what == "range kfu":
            return "SELECT format('[%%s, %%s)', ge, lt) FROM kfr_{} WHERE i = %s".format(tag), (k,)
        if what.endswith("by_k"):
            return "SELECT format('[%%s, %%s)', ge_a, lt_a) FROM kfbk_{} WHERE i = %s".format(tag), (k,)
        t = "kfbkg" if what.endswith("by_k_g") else "kfbgk"
        return ("SELECT format('[%%s(%%s,%%s), %%s(%%s,%%s))', gkind, ge_a, ge_b, lkind, lt_a, lt_b) "
                "FROM {}_{} WHERE i = %s".format(t, tag), (k,))

    def range_failure(self, label, what, desc, cached, truth):
        cached, truth = cached or [], truth or []
        j = next((i for i, (x, y) in enumerate(zip(cached, truth)) if x != y), min(len(cached), len(truth)))
        sc, st = set(cached), set(truth)
        self.fail(len(truth) + len(cached),
                  "%s: %s %s: cache %d rows, query %d; %d only in the cache, %d only in the query%s; "
                  "first difference at #%d: cache %s, query %s"
                  % (label, what, clip(desc, 160), len(cached), len(truth), len(sc - st), len(st - sc),
                     "" if sc != st else " (same rows, other order)", j,
                     clip(cached[j] if j < len(cached) else None), clip(truth[j] if j < len(truth) else None)),
                  "%s | %s" % (label, what))

    def check(self, label, hits=False):
        tag = self.tag
        # get, kfu (primary key k): every probe, hits and misses
        before = self.stats(self.cu)
        get_u = """SELECT p.i, 'get(' || p.k::text || ')', c.x, t.x FROM kfp_{tag} p
            CROSS JOIN LATERAL (SELECT CASE WHEN r.k IS NULL THEN NULL ELSE ROW(r.n, r.k, r.v, r.w)::text END x
                                FROM tablecache.get(NULL::{c}, p.k) r) c
            CROSS JOIN LATERAL (SELECT string_agg(ROW(q.n, q.k, q.v, q.w)::text, ' | ') x
                                FROM ({q}) q WHERE q.k = p.k) t
            WHERE c.x IS DISTINCT FROM t.x""".format(tag=tag, c=self.cu, q=self.qu)
        probes = [i for (i,) in self.q(self.b, "SELECT i FROM kfp_%s ORDER BY i" % tag)]
        rows, whole = self.run_check(label, "get kfu", get_u, "p.i = %s", probes)
        for _, desc, c, t in rows:
            self.fail(1, "%s: %s %s: cache %s, query %s" % (label, self.cu, clip(desc, 160), clip(c), clip(t)),
                      "%s | get %s" % (label, self.cu))
        if hits and whole:
            d = [x - y for x, y in zip(self.stats(self.cu), before)]
            covered = scalar(self.b, "SELECT count(*) FROM kfp_%s p, kfw_%s w WHERE p.k >= w.ge AND p.k < w.lt" % (tag, tag))
            if d != [covered, len(probes) - covered]:
                self.fail(len(probes), "%s: %d gets on %s right after load/adjust: %d hits, %d misses; the window "
                                       "covers %d of the keys (every one must be a hit)"
                          % (label, len(probes), self.cu, d[0], d[1], covered), "%s | hits" % label)
        # range, kfu (primary key)
        range_u = """SELECT b.i, format('[%s, %s)', b.ge, b.lt), c.x, t.x FROM kfr_{tag} b
            CROSS JOIN LATERAL (SELECT array_agg(ROW(r.n, r.k, r.v, r.w)::text ORDER BY r.o) x
                FROM tablecache.range(NULL::{c}, 'primary_key', b.ge, b.lt) WITH ORDINALITY r(n, k, v, w, o)) c
            CROSS JOIN LATERAL (SELECT array_agg(ROW(q.n, q.k, q.v, q.w)::text ORDER BY q.k, q.n) x
                FROM ({q}) q WHERE (b.ge IS NULL OR q.k >= b.ge) AND (b.lt IS NULL OR q.k < b.lt)) t
            WHERE c.x IS DISTINCT FROM t.x""".format(tag=tag, c=self.cu, q=self.qu)
        keys = [i for (i,) in self.q(self.b, "SELECT i FROM kfr_%s ORDER BY i" % tag)]
        rows, _ = self.run_check(label, "range kfu", range_u, "b.i = %s", keys)
        for _, desc, c, t in rows:
            self.range_failure(label, "range(%s, primary_key)" % self.cu, desc, c, t)
        # get, kfm (primary key id)
        get_m = """SELECT p.id, 'get(' || p.id || ')', c.x, t.x FROM kfpm_{tag} p
            CROSS JOIN LATERAL (SELECT CASE WHEN r.id IS NULL THEN NULL ELSE ROW(r.id, r.k, r.g, r.v)::text END x
                                FROM tablecache.get(NULL::{c}, p.id) r) c
            CROSS JOIN LATERAL (SELECT string_agg(ROW(q.id, q.k, q.g, q.v)::text, ' | ') x
                                FROM ({q}) q WHERE q.id = p.id) t
            WHERE c.x IS DISTINCT FROM t.x""".format(tag=tag, c=self.cm, q=self.qm)
        ids = [i for (i,) in self.q(self.b, "SELECT id FROM kfpm_%s ORDER BY id" % tag)]
        rows, _ = self.run_check(label, "get kfm", get_m, "p.id = %s", ids)
        for _, desc, c, t in rows:
            self.fail(1, "%s: %s %s: cache %s, query %s" % (label, self.cm, desc, clip(c), clip(t)),
                      "%s | get %s" % (label, self.cm))
        # range, kfm: by_k, by_k_g, by_g_k
        for ix, btab, ge, lt, cond, order in self.kfm_range_parts():
            sql = """SELECT b.i, {desc}, c.x, t.x FROM {btab}_{tag} b
                CROSS JOIN LATERAL (SELECT array_agg(ROW(r.id, r.k, r.g, r.v)::text ORDER BY r.o) x
                    FROM tablecache.range(NULL::{c}, '{ix}', {ge}, {lt}) WITH ORDINALITY r(id, k, g, v, o)) c
                CROSS JOIN LATERAL (SELECT array_agg(ROW(q.id, q.k, q.g, q.v)::text ORDER BY {order}) x
                    FROM ({q}) q WHERE {cond}) t
                WHERE c.x IS DISTINCT FROM t.x""".format(
                desc=("format('[%s, %s)', b.ge_a, b.lt_a)" if ix == "by_k" else
                      "format('[%s(%s,%s), %s(%s,%s))', b.gkind, b.ge_a, b.ge_b, b.lkind, b.lt_a, b.lt_b)"),
                btab=btab, tag=tag, c=self.cm, ix=ix, ge=ge, lt=lt, order=order, q=self.qm, cond=cond)
            keys = [i for (i,) in self.q(self.b, "SELECT i FROM %s_%s ORDER BY i" % (btab, tag))]
            rows, _ = self.run_check(label, "range kfm " + ix, sql, "b.i = %s", keys)
            for _, desc, c, t in rows:
                self.range_failure(label, "range(%s, %s)" % (self.cm, ix), desc, c, t)

    @staticmethod
    def kfm_range_parts():
        """(index, bounds table, ge expr, lt expr, the query's condition, the query's order)."""
        out = [("by_k", "kfbk", "b.ge_a", "b.lt_a",
                "(b.ge_a IS NULL OR q.k >= b.ge_a) AND (b.lt_a IS NULL OR q.k < b.lt_a)", "q.k, q.id")]
        for ix, btab, f, s in (("by_k_g", "kfbkg", "k", "g"), ("by_g_k", "kfbgk", "g", "k")):
            bound = ("CASE b.{k}kind WHEN 'prefix' THEN ROW(b.{s}_a) WHEN 'full' THEN ROW(b.{s}_a, b.{s}_b) END")
            cond = ("(CASE b.gkind WHEN 'null' THEN true WHEN 'prefix' THEN q.{f} >= b.ge_a "
                    "ELSE (q.{f}, q.{s}) >= (b.ge_a, b.ge_b) END) AND "
                    "(CASE b.lkind WHEN 'null' THEN true WHEN 'prefix' THEN q.{f} < b.lt_a "
                    "ELSE (q.{f}, q.{s}) < (b.lt_a, b.lt_b) END)").format(f=f, s=s)
            out.append((ix, btab, bound.format(k="g", s="ge"), bound.format(k="l", s="lt"), cond,
                        "q.{f}, q.{s}, q.id".format(f=f, s=s)))
        return out

    # --- the run ------------------------------------------------------------------------
    def run(self):
        self.step("set-up", self.setup)
        if self.failures:
            return
        self.step("load", lambda: (self.set_window_u("load", 0.2, 0.8), self.set_window_m("load", "by_k")))
        self.check("loaded (kfu window [20%, 80%), kfm everything)", hits=True)
        self.step("changes 1", self.change_points, 1)
        self.check("after invalidate() and invalidate_trigger changes")
        self.step("range changes 1", self.change_ranges, 2)
        self.check("after invalidate_range() and prefix invalidations")
        self.step("adjust 1", lambda: (self.set_window_u("adjust", 0.1, 0.6),
                                       self.set_window_m("adjust", "by_k", 0.2, 0.8)))
        self.check("after adjust (kfu [10%, 60%), kfm by_k [20%, 80%))", hits=True)
        self.step("adjust 2", self.set_window_m, "adjust", "by_k_g", 0.3, 0.7)
        self.check("after adjust (kfm by_k_g rows [30%, 70%))")
        self.step("changes 2", self.change_points, 3)
        self.step("range changes 2", self.change_ranges, 4)
        self.check("after a second round of changes on the adjusted windows")
        self.step("adjust 3", self.set_window_m, "adjust", "by_k", None, None)
        self.check("after adjust (kfm by_k (NULL, NULL): NULL keys included)")

    def cleanup(self):
        for c in (self.a, self.b):
            try:
                c.close()
            except Exception:  # noqa: BLE001 - best effort
                pass
        def drop(conn):
            for c in (self.cu, self.cm):
                if scalar(conn, "SELECT count(*) FROM tablecache.caches WHERE name = %s", (c,)):
                    query(conn, "SELECT tablecache.drop_cache(%s)", (c,))
            for t in [self.tu, self.tm] + [p + self.tag for p in ("kfp_", "kfpm_", "kfr_", "kfbk_", "kfbkg_",
                                                                   "kfbgk_", "kfw_")]:
                query(conn, "DROP TABLE IF EXISTS %s CASCADE" % t)
        retrying(self.db, drop)


class KeyFuzz(unittest.TestCase):
    maxDiff = None

    def setUp(self):
        wait_ready(harness._dbs.get(__name__, __name__)).close()
        self.log_offset = log_size()

    def fuzz(self, db, tag, sqltype, coll, gen, n_unique, n_multi, pool_size):
        f = None
        crash = None
        try:
            f = TypeFuzz(db, tag, sqltype, coll, gen, n_unique, n_multi, pool_size, SEED)
            f.run()
        except Crash as e:
            crash = str(e)
        finally:
            if f is not None:
                try:
                    f.cleanup()
                except Exception as e:  # noqa: BLE001 - reported below if nothing else is
                    crash = crash or "cleanup failed: %s" % e
        problems = []
        if crash:
            problems.append("lost the connection (server crash?): %s" % clip(crash, 400))
        signals = log_signals(self.log_offset)
        if signals:
            problems.append("server log: %s" % "; ".join(signals[:3]))
        if f is not None and f.failures:
            # the smallest failing case of each kind, kinds in the order they first failed
            kinds = {}
            for size, cat, text in f.failures:
                kinds.setdefault(cat, []).append((size, text))
            for cat, items in list(kinds.items())[:12]:
                size, text = min(items, key=lambda x: x[0])
                problems.append("%s%s" % (text, "  [%d like it]" % len(items) if len(items) > 1 else ""))
            problems.append("%d failures of %d kinds in all" % (len(f.failures), len(kinds)))
            if os.environ.get("TABLECACHE_FUZZ_VERBOSE"):
                print("\n".join(t for _, _, t in f.failures))
        if problems:
            self.fail("key fuzz of %s%s (db %s) failed; reproduce with TABLECACHE_FUZZ_SEED=%d:\n  %s"
                      % (sqltype, coll, db, SEED, "\n  ".join(problems)))

    def test_text_collations(self):
        """text keys under every libc collation of the server and the database default
        (C.UTF-8 here): 5,000 strings of the alphabet 0'-.Xa b, some Unicode."""
        conn = harness.connect(__name__)
        try:
            colls = [c for (c,) in query(conn, """SELECT collname FROM pg_collation WHERE collprovider = 'c'
                AND collencoding IN (-1, pg_char_to_encoding(getdatabaseencoding())) ORDER BY collname""")]
        finally:
            conn.close()
        for c in ["C", "POSIX"]:
            if c not in colls:
                colls.append(c)
        for i, coll in enumerate([None] + colls):
            with self.subTest(collation=coll or "database default"):
                self.setUp()
                clause = "" if coll is None else ' COLLATE "%s"' % coll
                self.fuzz(harness._dbs[__name__], "tc%d" % i, "text", clause, g_text_collated,
                          TEXT_N_UNIQUE, TEXT_N_MULTI, 600)

    def test_en_us_database_default_collation(self):
        """text, varchar, char(8) and a domain over text in a database WITH LC_COLLATE
        'en_US.utf8' (the default collation goes through strxfrm of the database locale)."""
        for tag, sqltype, gen, n, m, pool in (("etext", "text", g_text_collated, TEXT_N_UNIQUE, TEXT_N_MULTI, 600),
                                              ("evarchar", "varchar", g_unicode(12), 300, 300, 80),
                                              ("echar8", "char(8)", g_char8, 300, 300, 80)):
            with self.subTest(type=sqltype):
                self.setUp()
                self.fuzz(EN_DB, tag, sqltype, "", gen, n, m, pool)

    def test_huge_keys(self):
        """bytea and text keys from 0 bytes to 200 kB (also two keys equal for the first 64 kB):
        load either works or fails with 54000; get, range, invalidate and invalidate_range
        with these keys give the query's answers; no other error, no crash."""
        r = random.Random("%s:huge" % SEED)
        problems = []
        db = harness._dbs[__name__]
        base = r.randbytes(70000)
        bytea_vals = [b"", b"\x00", r.randbytes(100), r.randbytes(65534), r.randbytes(65535), base[:65536],
                      base[:65537], base, base[:-1] + bytes([base[-1] ^ 1]), r.randbytes(200000)]
        bytea_vals += [r.randbytes(r.randint(0, 20)) for _ in range(20)]
        letters = "abcXYZ -'é"
        tbase = "".join(r.choice(letters) for _ in range(70000))
        text_vals = ["", "a", tbase[:20000], tbase[:20000] + "a", tbase[:20000] + "b", tbase[:65536], tbase,
                     tbase[:-1] + "Z", "".join(r.choice(letters) for _ in range(200000))]
        text_vals += ["".join(r.choice(letters) for _ in range(r.randint(0, 12))) for _ in range(20)]
        bytea_vals = list(dict.fromkeys(bytea_vals))   # distinct: the key is the primary key
        text_vals = list(dict.fromkeys(text_vals))
        cases = [("hb", "bytea", "", ["\\x" + v.hex() for v in bytea_vals]),
                 ("hten", "text", ' COLLATE "en_US.utf8"', text_vals),
                 ("htde", "text", ' COLLATE "de_DE.utf8"', text_vals[:5] + text_vals[9:]),
                 ("htc", "text", ' COLLATE "C"', text_vals)]
        for tag, typ, coll, vals in cases:
            with self.subTest(type=typ + coll):
                self.setUp()
                try:
                    problems = self.huge_case(db, tag, typ, coll, vals)
                except Crash as e:
                    problems = ["lost the connection (server crash?): %s" % clip(str(e), 400)]
                try:
                    self.drop_huge(db, tag)
                except Exception as e:  # noqa: BLE001 - reported with the rest
                    problems.append("cleanup failed: %s" % clip(str(e), 300))
                signals = log_signals(self.log_offset)
                if signals:
                    problems.append("server log: %s" % "; ".join(signals[:3]))
                if problems:
                    self.fail("huge %s%s keys failed; reproduce with TABLECACHE_FUZZ_SEED=%d:\n  %s"
                              % (typ, coll, SEED, "\n  ".join(problems)))

    def drop_huge(self, db, tag):
        def drop(conn):
            for c in ("khc_" + tag, "khm_" + tag):
                if scalar(conn, "SELECT count(*) FROM tablecache.caches WHERE name = %s", (c,)):
                    query(conn, "SELECT tablecache.drop_cache(%s)", (c,))
            query(conn, "DROP TABLE IF EXISTS kh_%s CASCADE" % tag)
        retrying(db, drop)

    def huge_case(self, db, tag, typ, coll, vals):
        problems = []
        a, b = session(db, "huge writer"), session(db, "huge reader")
        t, cu, cm = "kh_" + tag, "khc_" + tag, "khm_" + tag

        def q(conn, sql, params=None):
            try:
                return query(conn, sql, params)
            except psycopg2.Error as e:
                if lost(conn, e):
                    raise Crash("%s: %s" % (clip(sql, 200), e))
                raise

        def attempt(what, conn, sql, params=None, allow_54000=False):
            try:
                return q(conn, sql, params)
            except Crash:
                raise
            except psycopg2.Error as e:
                if not (allow_54000 and e.pgcode == "54000"):
                    problems.append("%s: ERROR %s %s" % (what, e.pgcode, pgmsg(e)))
                return None

        def compare(label):
            sizes = [s for (s,) in q(b, "SELECT n FROM %s ORDER BY n" % t)]
            for n in sizes + [-1]:
                key = ("(SELECT k FROM %s WHERE n = %d)" % (t, n)) if n >= 0 else "%s::%s" % ("%s", typ)
                params = None if n >= 0 else (vals[0] + ("ff" * 70000 if typ == "bytea" else "q" * 70000),)
                got = attempt("%s: get(%s n=%d)" % (label, cu, n), b,
                              "SELECT ROW(r.n, length(r.k), md5(r.k::text), r.v)::text FROM tablecache.get(NULL::%s, %s) r "
                              "WHERE r.k IS NOT NULL" % (cu, key), params)
                want = q(b, "SELECT ROW(n, length(k), md5(k::text), v)::text FROM %s WHERE k = %s" % (t, key), params)
                if got is not None and got != want:
                    problems.append("%s: get(%s, key n=%d) = %s, the query: %s" % (label, cu, n, got, want))
            order = [s for (s,) in q(b, "SELECT n FROM %s ORDER BY k, n" % t)]
            pairs = [(None, None)] + [(order[i], order[j]) for i in range(0, len(order), 3)
                                      for j in range(i, len(order), 4)]
            for ge, lt in pairs:
                gsql = "NULL" if ge is None else "(SELECT k FROM %s WHERE n = %d)" % (t, ge)
                lsql = "NULL" if lt is None else "(SELECT k FROM %s WHERE n = %d)" % (t, lt)
                cond = "true" if ge is None else "k >= %s AND k < %s" % (gsql, lsql)
                want = q(b, "SELECT array_agg(n ORDER BY k, n) FROM %s WHERE %s" % (t, cond))
                for cache, ix in ((cu, "primary_key"), (cm, "by_k")):
                    got = attempt("%s: range(%s, %s, n=%s, n=%s)" % (label, cache, ix, ge, lt), b,
                                  "SELECT array_agg(r.n ORDER BY r.o) FROM tablecache.range(NULL::%s, '%s', %s, %s) "
                                  "WITH ORDINALITY r(n, k, v, o)" % (cache, ix, gsql, lsql))
                    if got is not None and got != want:
                        problems.append("%s: range(%s, %s, [key n=%s, key n=%s)) gave n %s, the query %s"
                                        % (label, cache, ix, ge, lt, got[0][0], want[0][0]))
                        return

        q(a, "DROP TABLE IF EXISTS %s CASCADE" % t)
        q(a, "CREATE TABLE %s (n int PRIMARY KEY, k %s%s NOT NULL, v int NOT NULL)" % (t, typ, coll))
        q(a, "ALTER TABLE %s ALTER COLUMN k SET STORAGE EXTERNAL" % t)
        q(a, "INSERT INTO %s SELECT o, x::%s, 0 FROM unnest(%%s::text[]) WITH ORDINALITY u(x, o) "
             "ON CONFLICT DO NOTHING" % (t, typ), (vals,))
        q(a, "SELECT tablecache.create_cache(%s, %s, ARRAY['k'], maintain => 'manual')", (cu, "SELECT n, k, v FROM %s" % t))
        q(a, "SELECT tablecache.create_cache(%s, %s, ARRAY['n'], maintain => 'manual')", (cm, "SELECT n, k, v FROM %s" % t))
        attempt("create_index(%s, by_k)" % cm, a, "SELECT tablecache.create_index(%s, 'by_k', ARRAY['k'])", (cm,))
        for c in (cu, cm):
            attempt("load(%s)" % c, a, "SELECT tablecache.load(%s)", (c,), allow_54000=True)
        compare("loaded")
        big = [n for (n,) in q(a, "SELECT n FROM %s WHERE length(k) > 10000 ORDER BY n" % t)]
        q(a, "BEGIN")
        q(a, "SET LOCAL session_replication_role = replica")
        q(a, "UPDATE %s SET v = v + 1 WHERE n = ANY(%%s)" % t, (big,))
        for n in big:
            attempt("invalidate(%s, huge key n=%d)" % (cu, n), a,
                    "SELECT tablecache.invalidate(%%s, 'primary_key', (SELECT k FROM %s WHERE n = %d))" % (t, n), (cu,))
            attempt("invalidate(%s, by_k, huge key n=%d)" % (cm, n), a,
                    "SELECT tablecache.invalidate(%%s, 'by_k', (SELECT k FROM %s WHERE n = %d))" % (t, n), (cm,))
        q(a, "COMMIT")
        compare("after invalidate(huge keys)")
        order = [s for (s,) in q(b, "SELECT n FROM %s ORDER BY k, n" % t)]
        lo, hi = order[len(order) // 3], order[-2]
        ksql = "(SELECT k FROM %s WHERE n = %%d)" % t
        q(a, "BEGIN")
        q(a, "SET LOCAL session_replication_role = replica")
        q(a, "UPDATE %s SET v = v + 10 WHERE k >= %s AND k < %s" % (t, ksql % lo, ksql % hi))
        for c, ix in ((cu, "primary_key"), (cm, "by_k")):
            attempt("invalidate_range(%s, %s, huge bounds)" % (c, ix), a,
                    "SELECT tablecache.invalidate_range(%%s, %%s, %s, %s)" % (ksql % lo, ksql % hi), (c, ix))
        q(a, "COMMIT")
        compare("after invalidate_range(huge bounds)")
        # a window whose bounds are huge keys
        for c, ix in ((cu, "primary_key"), (cm, "by_k")):
            attempt("unload(%s)" % c, a, "SELECT tablecache.unload(%s)", (c,))
            attempt("load(%s, %s, huge bounds)" % (c, ix), a,
                    "SELECT tablecache.load(%%s, %%s, %s, %s)" % (ksql % lo, ksql % hi), (c, ix), allow_54000=True)
        compare("after load with huge window bounds")
        a.close()
        b.close()
        return problems


def _add_type_tests():
    for tag, sqltype, coll, gen, n, m, pool in TYPES:
        def fn(self, tag=tag, sqltype=sqltype, coll=coll, gen=gen, n=n, m=m, pool=pool):
            self.fuzz(harness._dbs[__name__], tag, sqltype, coll, gen, n, m, pool)
        fn.__name__ = "test_%s" % tag
        fn.__doc__ = "%s%s keys: get, range on 1- and 2-column indexes, invalidations, windows" % (sqltype, coll)
        setattr(KeyFuzz, fn.__name__, fn)


_add_type_tests()


if __name__ == "__main__":
    unittest.main()
