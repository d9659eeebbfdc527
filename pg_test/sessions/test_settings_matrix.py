"""Session settings never change what a cache answers (hardening spec: "Wrong answers":
invalidation keys never depend on the invalidating session's settings; "Who may do what":
a reader's session settings never change a cached row).

One session creates and loads caches keyed by date, timestamp, timestamptz, interval,
float8, numeric and text. Then, step after step, OTHER sessions with other settings
(DateStyle ISO/SQL/German/Postgres with DMY and MDY, IntervalStyle postgres/sql_standard/
iso_8601/postgres_verbose, TimeZone UTC/America/St_Johns/Asia/Kathmandu/'+14',
extra_float_digits -15/0/3, lc_monetary/lc_numeric/lc_time C/en_US.utf8/de_DE.utf8)
change the base tables behind the triggers' back and call invalidate()/invalidate_range(),
and change them through invalidate_trigger. After every step, sessions with yet other
settings read (get/range): every read must equal the cache's query run in that same session
(row by row, in order for range), and once refreshed, every read the window covers must be
a hit (tablecache.stats).

The reported bug: with DateStyle = 'SQL, DMY', invalidating 2026-02-01 dropped that row and
re-read 2026-01-02 (the key travelled as text and was parsed again under other settings).

Rows are compared through each type's binary send function (exact: two floats that print
alike under extra_float_digits = -15 still differ), plus the session's text form for
readable messages. Keys and bounds are written in forms every setting parses alike (ISO
dates, explicit UTC offsets, ISO 8601 intervals, shortest round-trip floats), typed or as
text literals (windows of load/adjust).
"""
import unittest

import psycopg2

import harness
from harness import query, scalar
import inval_util as iu


def setUpModule():
    harness.setup_module_db(__name__)


def tearDownModule():
    harness.teardown_module_db(__name__)


DATESTYLES = ["ISO, DMY", "ISO, MDY", "SQL, DMY", "SQL, MDY",
              "German, DMY", "German, MDY", "Postgres, DMY", "Postgres, MDY"]
INTERVALSTYLES = ["postgres", "sql_standard", "iso_8601", "postgres_verbose"]
TIMEZONES = ["UTC", "America/St_Johns", "Asia/Kathmandu", "+14"]
FLOAT_DIGITS = ["-15", "0", "3"]
LOCALES = ["C", "en_US.utf8", "de_DE.utf8"]


def _config(i):
    """The i-th settings combination: every value of every dimension appears in 0..11."""
    lc = LOCALES[(i // 3) % 3]
    return {
        "DateStyle": DATESTYLES[i % 8],
        "IntervalStyle": INTERVALSTYLES[(i + i // 4) % 4],
        "TimeZone": TIMEZONES[(i + i // 2) % 4],
        "extra_float_digits": FLOAT_DIGITS[i % 3],
        "lc_monetary": lc,
        "lc_numeric": LOCALES[(i // 3 + 1) % 3],
        "lc_time": LOCALES[(i // 3 + 2) % 3],
    }


CONFIGS = [_config(i) for i in range(12)]
DEFAULT = {"DateStyle": "ISO, MDY", "IntervalStyle": "postgres", "TimeZone": "UTC",
           "extra_float_digits": "1", "lc_monetary": "C", "lc_numeric": "C", "lc_time": "C"}
# the setting of the report, plus everything else odd
ODD = {"DateStyle": "SQL, DMY", "IntervalStyle": "sql_standard", "TimeZone": "America/St_Johns",
       "extra_float_digits": "-15", "lc_monetary": "de_DE.utf8", "lc_numeric": "de_DE.utf8",
       "lc_time": "de_DE.utf8"}


def pgmsg(e):
    """The primary message of a server error (without pgrx's backtrace in DETAIL)."""
    return getattr(e.diag, "message_primary", None) or str(e).splitlines()[0]


def short(cfg):
    return "DateStyle=%(DateStyle)s IntervalStyle=%(IntervalStyle)s TimeZone=%(TimeZone)s " \
           "extra_float_digits=%(extra_float_digits)s lc_*=%(lc_monetary)s/%(lc_numeric)s/%(lc_time)s" % cfg


class TypeCase:
    """One key type: its rows, windows, probe keys and ranges, all as raw input strings
    written so that every setting parses them alike; lit() makes a typed SQL expression."""

    def __init__(self, tag, sqltype, send, data_sql, extra, window, alt_typed, alt_text,
                 points, ranges, upd_ranges, moves):
        self.tag, self.sqltype, self.send = tag, sqltype, send
        self.data_sql = data_sql      # SELECT of the generated keys
        self.extra = extra            # specific keys (inserted first)
        self.window = window          # (ge, lt) of the first load
        self.alt_typed = alt_typed    # a window for adjust, given typed
        self.alt_text = alt_text      # a window for adjust, given as text literals
        self.points = points          # keys for get / invalidate / trigger updates
        self.ranges = ranges          # (ge|None, lt|None) for range
        self.upd_ranges = upd_ranges  # ranges changed and invalidated together
        self.moves = moves            # (present, absent): a row's key moves back and forth

    def lit(self, x):
        return "%s '%s'" % (self.sqltype, x)

    @staticmethod
    def text_lit(x):
        return "'%s'" % x


TS_STEP = "interval '9 hours 17 minutes 33.123457 seconds'"

TYPES = [
    TypeCase(
        "date", "date", "date_send",
        "SELECT d::date FROM generate_series(date '2026-01-01', date '2026-03-31', interval '1 day') d "
        "WHERE d::date NOT IN (date '2026-02-11', date '2026-01-20', date '2026-02-20', date '2026-02-06')",
        ["-infinity", "infinity", "2025-12-02", "2026-12-01"],
        ("2026-01-03", "2026-03-01"), ("2026-01-10", "2026-03-10"), ("2026-01-02", "2026-02-12"),
        ["2026-02-01", "2026-01-02", "2026-02-03", "2026-01-12", "2026-02-10", "2026-03-02",
         "2026-02-11", "2026-01-03", "2026-02-28", "2026-12-01", "infinity", "2026-02-05"],
        [("2026-02-01", "2026-02-03"), ("2026-01-05", "2026-01-12"), ("2026-02-10", "2026-03-01"),
         ("2026-01-01", "2026-01-10"), (None, None), ("2026-02-01", None), (None, "2026-01-05"),
         ("2026-01-12", "2026-02-02")],
        [("2026-02-01", "2026-02-04"), ("2026-01-11", "2026-01-13")],
        [("2026-02-05", "2026-02-06"), ("2026-01-07", "2026-01-20")]),
    TypeCase(
        "ts", "timestamp", "timestamp_send",
        "SELECT timestamp '2026-01-01 00:00:00' + i * %s FROM generate_series(0, 299) i" % TS_STEP,
        ["2026-02-01 10:00:00.5", "2026-01-02 10:00:00.5", "2026-02-05 01:02:03.456789",
         "2026-01-12 23:59:59.999999", "-infinity", "infinity"],
        ("2026-01-03 00:00:00", "2026-03-01 00:00:00"), ("2026-01-02 10:00:00.5", "2026-03-10 12:00:00"),
        ("2026-01-12 23:59:59.999999", "2026-02-05 01:02:03.456789"),
        ["2026-02-01 10:00:00.5", "2026-01-02 10:00:00.5", "2026-01-12 23:59:59.999999",
         "2026-02-05 01:02:03.456789", "2026-02-02 10:00:00.5", "2026-01-10 05:24:37.028566",
         "2026-03-05 00:00:00", "infinity"],
        [("2026-02-01 10:00:00.5", "2026-02-03 00:00:00"), ("2026-01-05 00:00:00", "2026-01-12 23:59:59.999999"),
         ("2026-01-01 00:00:00", "2026-01-10 00:00:00"), (None, None), ("2026-02-20 00:00:00", None),
         ("2026-01-12 23:59:59.999999", "2026-01-13 00:00:00")],
        [("2026-02-01 00:00:00", "2026-02-02 00:00:00"), ("2026-01-11 00:00:00", "2026-01-13 00:00:00")],
        [("2026-02-05 01:02:03.456789", "2026-02-06 01:02:03.456789")]),
    TypeCase(
        "tstz", "timestamptz", "timestamptz_send",
        "SELECT timestamptz '2026-01-01 00:00:00+00' + i * %s FROM generate_series(0, 299) i" % TS_STEP,
        ["2026-02-01 10:00:00.5+00", "2026-01-02 10:00:00.5+00", "2026-02-01 00:00:00+05:45",
         "2026-02-05 01:02:03.456789+00", "2026-01-12 02:30:00-03:30", "-infinity", "infinity"],
        ("2026-01-03 00:00:00+00", "2026-03-01 00:00:00+00"), ("2026-01-02 10:00:00.5+00", "2026-03-10 12:00:00+14"),
        ("2026-01-12 02:30:00-03:30", "2026-02-05 01:02:03.456789+00"),
        ["2026-02-01 10:00:00.5+00", "2026-01-02 10:00:00.5+00", "2026-02-01 00:00:00+05:45",
         "2026-01-12 02:30:00-03:30", "2026-02-05 01:02:03.456789+00", "2026-02-02 00:00:00+00",
         "2026-03-05 00:00:00+00", "infinity"],
        [("2026-01-31 18:00:00+00", "2026-02-01 10:00:00.5+00"), ("2026-01-05 00:00:00+00", "2026-01-12 06:00:00+00"),
         ("2026-01-01 00:00:00+00", "2026-01-10 00:00:00+00"), (None, None), (None, "2026-01-04 00:00:00-03:30"),
         ("2026-02-01 00:00:00+05:45", "2026-02-01 00:00:00+00")],
        [("2026-01-31 12:00:00+00", "2026-02-01 12:00:00+00"), ("2026-01-11 00:00:00+14", "2026-01-13 00:00:00-03:30")],
        [("2026-02-05 01:02:03.456789+00", "2026-02-06 01:02:03.456789+00")]),
    TypeCase(
        "iv", "interval", "interval_send",
        "SELECT make_interval(months => (i % 3) - 1, days => i, hours => (i * 7) % 23 - 11, "
        "secs => i * 0.000123) FROM generate_series(-40, 40) i",
        ["P-1DT-2H", "P1DT-2H", "P-1M3D", "P1Y2M3DT4H5M6.789S", "PT0.000001S", "P5DT1H0M0.5S",
         "P-3DT-4H-5M-6.5S", "P2DT-0.25S"],
        ("P-20D", "P60D"), ("P-2DT-12H", "P1Y"), ("P-1DT-2H", "P5DT1H0M0.5S"),
        ["P-1DT-2H", "P1DT-2H", "P-1M3D", "P-3DT-4H-5M-6.5S", "P2DT-0.25S", "PT0.000001S",
         "P5DT1H0M0.5S", "P1Y2M3DT4H5M6.789S", "P-1DT-1H"],
        [("P-2D", "P2D"), ("P-1DT-3H", "P-1DT-1H"), ("P-3DT-5H", "P-1DT-2H"), (None, None),
         ("P-1M3D", None), (None, "P-25D"), ("P2DT-0.25S", "P3D")],
        [("P-1DT-2H", "P-1DT-1H"), ("P-4D", "P-3D")],
        [("P5DT1H0M0.5S", "P6DT1H0M0.5S")]),
    TypeCase(
        "f8", "float8", "float8send",
        "SELECT i::float8 / 7 FROM generate_series(-100, 100) i",
        ["0.30000000000000004", "0.3", "0.1", "1.0000000000000002", "1e300", "-1e-300", "5e-324",
         "NaN", "Infinity", "-Infinity", "2.0000000000000004"],
        ("-5", "10"), ("0.30000000000000004", "100"), ("-1e-300", "1.4285714285714286"),
        ["0.30000000000000004", "0.3", "0.1", "1.0000000000000002", "1.4285714285714286",
         "-0.42857142857142855", "2.0000000000000004", "NaN", "1e300", "5e-324", "9.857142857142858"],
        [("0.3", "0.30000000000000004"), ("0.30000000000000004", "1.0000000000000002"),
         ("0.14285714285714285", "0.2857142857142857"), (None, None), ("1e300", None),
         (None, "-4.857142857142857"), ("-1e-300", "5e-324"), ("9", "11")],
        [("0.3", "0.31"), ("1.0000000000000002", "1.2")],
        [("2.0000000000000004", "2.0000000000000009")]),
    TypeCase(
        "num", "numeric", "numeric_send",
        "SELECT round(i::numeric / 7, 20) FROM generate_series(-100, 100) i",
        ["NaN", "Infinity", "-Infinity", "0.000000000000000000000000000001",
         "123456789012345678901234567890.123456789", "0.30000000000000004", "0.3", "1.50"],
        ("-5", "10"), ("0.3", "1e40"), ("-1.5", "0.30000000000000004"),
        ["0.30000000000000004", "0.3", "1.5", "0.000000000000000000000000000001", "NaN",
         "1.42857142857142857143", "-0.42857142857142857143", "42"],
        [("0.3", "0.30000000000000004"), ("0", "1.5"), (None, None), ("1e29", None),
         (None, "-4.5"), ("-1", "1")],
        [("0.3", "0.31"), ("1.4", "1.6")],
        [("1.50", "1.55")]),
    TypeCase(
        "text", "text", "textsend",
        "SELECT 'k' || i FROM generate_series(0, 99) i",
        ["K1", "k1 ", "k-1", "é", "k1.5", "k 2", ""],
        ("k1", "k5"), ("k", "k7"), ("k-1", "k3"),
        ["k1", "K1", "k1 ", "k-1", "k10", "k25", "k49", "k5", "k99", "é", ""],
        [("k1", "k2"), ("k10", "k19"), (None, None), ("k5", None), (None, "k1"), ("k-1", "k1 ")],
        [("k3", "k31"), ("k40", "k42")],
        [("k1.5", "k1.6")]),
]


class Cache:
    def __init__(self, prefix, tc):
        self.tc = tc
        self.table = "%st_%s" % (prefix, tc.tag)
        self.name = "%sc_%s" % (prefix, tc.tag)
        self.sql = "SELECT k, v FROM %s" % self.table
        self.window = None   # (ge, lt) raw strings of the current window


def render(alias, tc):
    return "encode(%s(%s.k), 'hex'), %s.k::text, %s.v" % (tc.send, alias, alias, alias)


class SettingsMatrix(unittest.TestCase):
    maxDiff = None

    def setUp(self):
        self.conns = []
        self.caches = []
        self.labels = {}

    def tearDown(self):
        for c in self.conns:
            try:
                c.close()
            except Exception:  # noqa: BLE001 - best effort
                pass
        admin = iu.session(__name__, "teardown")
        try:
            for c in self.caches:
                if scalar(admin, "SELECT count(*) FROM tablecache.caches WHERE name = %s", (c.name,)):
                    query(admin, "SELECT tablecache.drop_cache(%s)", (c.name,))
                query(admin, "DROP TABLE IF EXISTS %s CASCADE" % c.table)
        finally:
            admin.close()

    # --- sessions -------------------------------------------------------------------
    def session(self, name, cfg):
        cfg = dict(DEFAULT, **cfg)
        conn = iu.session(__name__, name)
        for k, v in cfg.items():
            query(conn, "SELECT pg_catalog.set_config(%s, %s, false)", (k, v))
        self.labels[id(conn)] = "%s [%s]" % (name, short(cfg))
        self.conns.append(conn)
        return conn

    # --- set-up ---------------------------------------------------------------------
    def build(self, prefix, creator, types, load=True):
        """Tables, triggers and caches for each type, created (and loaded with the typed
        window) by `creator`."""
        caches = []
        for tc in types:
            c = Cache(prefix, tc)
            self.caches.append(c)
            caches.append(c)
            query(creator, "DROP TABLE IF EXISTS %s CASCADE" % c.table)
            query(creator, "CREATE TABLE %s (k %s PRIMARY KEY, v text NOT NULL)" % (c.table, tc.sqltype))
            query(creator, "INSERT INTO %s (k, v) SELECT x::%s, 'e' || o FROM unnest(%%s::text[]) WITH ORDINALITY u(x, o)"
                  % (c.table, tc.sqltype), (tc.extra,))
            query(creator, "INSERT INTO %s (k, v) SELECT x, 'r' || row_number() OVER () FROM (%s) s(x) "
                           "ON CONFLICT DO NOTHING" % (c.table, tc.data_sql))
            for a, b in tc.moves:   # the move sources exist, the targets do not
                query(creator, "INSERT INTO %s (k, v) VALUES (%s, 'move') ON CONFLICT DO NOTHING" % (c.table, tc.lit(a)))
                query(creator, "DELETE FROM %s WHERE k = %s" % (c.table, tc.lit(b)))
            query(creator, "SELECT tablecache.create_cache(%s, %s, ARRAY['k'], maintain => 'manual')", (c.name, c.sql))
            query(creator, "CREATE TRIGGER %s_tc AFTER INSERT OR UPDATE OR DELETE ON %s FOR EACH ROW "
                           "EXECUTE FUNCTION tablecache.invalidate_trigger('%s', 'primary_key', 'k')"
                  % (c.table, c.table, c.name))
            if load:
                self.set_window(creator, c, "load", tc.window, typed=True)
        return caches

    def set_window(self, conn, c, fn, window, typed):
        mk = c.tc.lit if typed else TypeCase.text_lit
        sql = "SELECT tablecache.%s(%%s, 'primary_key', %s, %s)" % (fn, mk(window[0]), mk(window[1]))
        try:
            query(conn, sql, (c.name,))
        except psycopg2.Error as e:
            self.fail("%s of %s %s by %s failed: %s %s" % (fn, c.name, window, self.labels[id(conn)], e.pgcode, pgmsg(e)))
        c.window = window

    # --- one step of another session ------------------------------------------------
    def step(self, conn, c, i):
        """Changes of session `conn`: behind the triggers' back with explicit
        invalidate/invalidate_range in the same transaction, then through the trigger."""
        tc = c.tc
        L = tc.lit
        n = len(tc.points)
        p1, p2 = tc.points[i % n], tc.points[(i + 3) % n]
        lo1, hi1 = tc.upd_ranges[i % len(tc.upd_ranges)]
        lo2, hi2 = tc.upd_ranges[(i + 1) % len(tc.upd_ranges)]
        a, b = tc.moves[i % len(tc.moves)]
        mark = ".%d" % i
        query(conn, "BEGIN")
        try:
            query(conn, "SET LOCAL session_replication_role = replica")
            query(conn, "UPDATE %s SET v = v || %%s WHERE k = %s" % (c.table, L(p1)), (mark + "i",))
            query(conn, "SELECT tablecache.invalidate(%%s, 'primary_key', %s)" % L(p1), (c.name,))
            query(conn, "UPDATE %s SET v = v || %%s WHERE k >= %s AND k < %s" % (c.table, L(lo1), L(hi1)), (mark + "r",))
            query(conn, "SELECT tablecache.invalidate_range(%%s, 'primary_key', %s, %s)" % (L(lo1), L(hi1)), (c.name,))
            query(conn, "COMMIT")
        except psycopg2.Error as e:
            query(conn, "ROLLBACK")
            self.fail("step %d on %s by %s: %s %s" % (i, c.name, self.labels[id(conn)], e.pgcode, pgmsg(e)))
        # through invalidate_trigger (autocommit statements)
        query(conn, "UPDATE %s SET v = v || %%s WHERE k = %s" % (c.table, L(p2)), (mark + "t",))
        query(conn, "UPDATE %s SET k = CASE WHEN k = %s THEN %s ELSE %s END WHERE k IN (%s, %s)"
              % (c.table, L(a), L(b), L(a), L(a), L(b)))
        query(conn, "UPDATE %s SET v = v || %%s WHERE k >= %s AND k < %s" % (c.table, L(lo2), L(hi2)), (mark + "R",))

    # --- reads ----------------------------------------------------------------------
    def reads(self, c):
        """[(kind, description, cached sql, truth sql, key or bounds)] for every probe of c."""
        tc, L = c.tc, c.tc.lit
        out = []
        for p in tc.points:
            out.append(("get", "get(%s)" % p,
                        "SELECT %s FROM tablecache.get(NULL::%s, %s) r" % (render("r", tc), c.name, L(p)),
                        "SELECT %s FROM (%s) q WHERE q.k = %s" % (render("q", tc), c.sql, L(p)), (p, p)))
        for ge, lt in tc.ranges:
            conds = []
            if ge is not None:
                conds.append("q.k >= %s" % L(ge))
            if lt is not None:
                conds.append("q.k < %s" % L(lt))
            where = (" WHERE " + " AND ".join(conds)) if conds else ""
            out.append(("range", "range[%s, %s)" % (ge, lt),
                        "SELECT %s FROM tablecache.range(NULL::%s, 'primary_key', %s, %s) r"
                        % (render("r", tc), c.name, "NULL" if ge is None else L(ge), "NULL" if lt is None else L(lt)),
                        "SELECT %s FROM (%s) q%s ORDER BY q.k" % (render("q", tc), c.sql, where), (ge, lt)))
        return out

    def covered(self, conn, c, kind, bounds):
        """Does the window cover this read (decided by SQL on typed values; a None side of
        the window or of a range is unbounded)?"""
        if c.window is None:
            return False
        L = c.tc.lit
        wge, wlt = c.window
        ge, lt = bounds
        conds = []
        if wge is not None:
            if ge is None:
                return False
            conds.append("%s >= %s" % (L(ge), L(wge)))
        if wlt is not None:
            if lt is None:
                return False
            conds.append(("%s < %s" if kind == "get" else "%s <= %s") % (L(lt), L(wlt)))
        return not conds or scalar(conn, "SELECT " + " AND ".join(conds))

    def compare(self, conn, c):
        """Every read of c in session conn against the query's answer in the same session."""
        errors = []
        for kind, desc, cached_sql, truth_sql, _ in self.reads(c):
            try:
                got = query(conn, cached_sql)
            except psycopg2.Error as e:
                errors.append("%s %s: ERROR %s %s" % (c.name, desc, e.pgcode, pgmsg(e)))
                continue
            if kind == "get":
                got = [r for r in got if r[0] is not None]
            want = query(conn, truth_sql)
            if got != want:
                extra = [r[1:] for r in got if r not in want]
                missing = [r[1:] for r in want if r not in got]
                errors.append("%s %s: cache returned %d rows, the query %d; only in the cache: %s; "
                              "only in the query: %s%s"
                              % (c.name, desc, len(got), len(want), extra[:4], missing[:4],
                                 "" if extra or missing else "; same rows, different order"))
        return errors

    def check(self, caches, readers, label):
        """Every reader (in this order: the first one meets the pending invalidations) sees
        the query's answers; then, after an explicit refresh, the first reader's covered
        reads are all hits and the others all misses."""
        errors = []
        for conn in readers:
            for c in caches:
                errors += ["%s: %s" % (self.labels[id(conn)], e) for e in self.compare(conn, c)]
        r0 = readers[0]
        for c in caches:
            try:
                query(r0, "SELECT tablecache.refresh(%s)", (c.name,))
            except psycopg2.Error as e:
                errors.append("%s: refresh(%s) failed: %s %s" % (self.labels[id(r0)], c.name, e.pgcode, pgmsg(e)))
            probes = self.reads(c)
            want_hits = sum(1 for kind, _, _, _, b in probes if self.covered(r0, c, kind, b))
            before = iu.stats(r0, c.name)
            errors += ["%s (after refresh): %s" % (self.labels[id(r0)], e) for e in self.compare(r0, c)]
            d = iu.delta(before, iu.stats(r0, c.name))
            if (d["hits"], d["misses"]) != (want_hits, len(probes) - want_hits):
                errors.append("%s: %s window %s: %d hits, %d misses for %d reads of which %d covered by the window"
                              % (self.labels[id(r0)], c.name, c.window, d["hits"], d["misses"], len(probes), want_hits))
        if errors:
            self.fail("%s: %d wrong answers:\n  %s" % (label, len(errors), "\n  ".join(errors[:25])))

    # --- the tests ------------------------------------------------------------------
    def run_matrix(self, tc, prefix, creator_cfg, configs):
        creator = self.session("creator", creator_cfg)
        caches = self.build(prefix, creator, [tc])
        self.check(caches, [creator], "after load by %s" % self.labels[id(creator)])
        for i, cfg in enumerate(configs):
            actor = self.session("actor %d" % i, cfg)
            reader = self.session("reader %d" % i, configs[(i + 5) % len(configs)])
            for c in caches:
                self.step(actor, c, i)
            self.check(caches, [reader, actor, creator],
                       "step %d (invalidations and trigger updates by %s)" % (i, self.labels[id(actor)]))
            actor.close()
            reader.close()

    def run_load_adjust(self, tc):
        creator = self.session("creator", DEFAULT)
        caches = self.build("la", creator, [tc], load=False)
        loader = self.session("loader", CONFIGS[2])
        for c in caches:
            self.set_window(loader, c, "load", c.tc.window, typed=False)
        self.check(caches, [self.session("reader a", CONFIGS[5]), creator, loader],
                   "after load with text-literal windows by %s" % self.labels[id(loader)])
        adj = self.session("adjuster", CONFIGS[7])
        for c in caches:
            self.set_window(adj, c, "adjust", c.tc.alt_typed, typed=True)
        self.check(caches, [self.session("reader b", CONFIGS[0]), adj],
                   "after adjust with typed windows by %s" % self.labels[id(adj)])
        for i, c in enumerate(caches):
            self.step(self.session("invalidator", CONFIGS[4]), c, i)
        self.check(caches, [self.session("reader c", CONFIGS[9]), creator],
                   "after invalidations by %s" % short(CONFIGS[4]))
        adj2 = self.session("adjuster 2", CONFIGS[10])
        for c in caches:
            self.set_window(adj2, c, "adjust", c.tc.alt_text, typed=False)
        self.check(caches, [self.session("reader d", CONFIGS[3]), adj2, loader],
                   "after adjust with text-literal windows by %s" % self.labels[id(adj2)])
        for i, c in enumerate(caches):
            self.step(self.session("invalidator 2", CONFIGS[11]), c, i + 5)
        self.check(caches, [self.session("reader e", CONFIGS[1]), adj2],
                   "after invalidations by %s" % short(CONFIGS[11]))
        back = self.session("adjuster 3", ODD)
        for c in caches:
            self.set_window(back, c, "adjust", c.tc.window, typed=True)
        self.check(caches, [self.session("reader f", CONFIGS[6]), creator],
                   "after adjust back by %s" % self.labels[id(back)])

    def test_reported_case_sql_dmy(self):
        """The report: invalidating 2026-02-01 under DateStyle 'SQL, DMY' must re-read
        2026-02-01 (not 2026-01-02), read back under ISO, MDY."""
        tc = TYPES[0]
        creator = self.session("creator", DEFAULT)
        c = Cache("rp", tc)
        self.caches.append(c)
        query(creator, "CREATE TABLE %s (k date PRIMARY KEY, v text NOT NULL)" % c.table)
        query(creator, "INSERT INTO %s SELECT d, 'old' FROM generate_series(date '2026-01-01', date '2026-03-01', "
                       "interval '1 day') d" % c.table)
        query(creator, "SELECT tablecache.create_cache(%s, %s, ARRAY['k'], maintain => 'manual')", (c.name, c.sql))
        query(creator, "SELECT tablecache.load(%s)", (c.name,))
        c.window = (None, None)   # everything
        dmy = self.session("sql_dmy", {"DateStyle": "SQL, DMY"})
        query(dmy, "BEGIN")
        query(dmy, "UPDATE %s SET v = 'new' WHERE k = date '2026-02-01'" % c.table)
        query(dmy, "SELECT tablecache.invalidate(%s, 'primary_key', date '2026-02-01')", (c.name,))
        query(dmy, "COMMIT")
        iso = self.session("iso_mdy", {"DateStyle": "ISO, MDY"})
        rows = query(iso, "SELECT k::text, v FROM tablecache.range(NULL::%s, 'primary_key', date '2026-01-01', "
                          "date '2026-02-03')" % c.name)
        want = query(iso, "SELECT k::text, v FROM %s WHERE k >= date '2026-01-01' AND k < date '2026-02-03' ORDER BY k"
                     % c.table)
        self.assertEqual(rows, want, "range after invalidating 2026-02-01 under DateStyle 'SQL, DMY'")
        self.assertEqual(query(iso, "SELECT k::text, v FROM tablecache.get(NULL::%s, date '2026-02-01')" % c.name),
                         [("2026-02-01", "new")])
        self.check([c], [iso, dmy], "reported case")


def _add_type_tests():
    """Per key type: test_matrix_<tag> (created by the defaults, 12 other settings act),
    test_matrix_odd_creator_<tag> (created under ODD; the defaults and 6 others act) and
    test_load_adjust_<tag> (load/adjust by sessions with odd settings, windows typed and
    as text literals, with invalidations between)."""
    for tc in TYPES:
        def matrix(self, tc=tc):
            self.run_matrix(tc, "ma", DEFAULT, CONFIGS)

        def odd(self, tc=tc):
            self.run_matrix(tc, "mb", ODD, [DEFAULT] + CONFIGS)

        def load_adjust(self, tc=tc):
            self.run_load_adjust(tc)

        for name, fn, doc in (
                ("test_matrix_%s", matrix, "created with the defaults; 12 other settings invalidate and read"),
                ("test_matrix_odd_creator_%s", odd, "created under SQL/DMY, sql_standard, St_Johns, "
                                                    "extra_float_digits -15; 13 other settings act"),
                ("test_load_adjust_%s", load_adjust, "load/adjust under odd settings, typed and text windows")):
            fn.__name__ = name % tc.tag
            fn.__doc__ = "%s keys: %s" % (tc.sqltype, doc)
            setattr(SettingsMatrix, fn.__name__, fn)


_add_type_tests()


if __name__ == "__main__":
    unittest.main()
