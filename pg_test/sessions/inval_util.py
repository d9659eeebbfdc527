"""Helpers for the invalidation tests (test_invalidation.py, test_stress.py).

Builds on harness.py: every connection is a real, separate server session of the
module's database. Sessions run in autocommit mode and open transactions with an
explicit BEGIN, so that the order of events across sessions is exactly the order
in which the test's statements return.
"""
import psycopg2

import harness
from harness import query, scalar

# A statement that waits longer than this is a hang (e.g. a read blocked behind a
# writer's lock): fail instead of stalling the suite.
STATEMENT_TIMEOUT_MS = 60000


def session(module, name, autocommit=True):
    """A new connection (its own backend) with a statement timeout."""
    conn = harness.connect(module, autocommit=autocommit, application_name=name)
    with conn.cursor() as cur:
        cur.execute("SET statement_timeout = %s", (STATEMENT_TIMEOUT_MS,))
    if not autocommit:
        conn.commit()
    return conn


def session_as(module, user, name):
    """A new autocommit connection logged in as `user` (the servers trust local users)."""
    conn = psycopg2.connect(host=harness.HOST, port=harness.PORT, user=user,
                            dbname=harness._dbs.get(module, module), application_name=name)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("SET statement_timeout = %s", (STATEMENT_TIMEOUT_MS,))
    return conn


def stats(conn, cache):
    """tablecache.stats of one cache as a dict."""
    with conn.cursor() as cur:
        cur.execute("SELECT * FROM tablecache.stats WHERE cache = %s", (cache,))
        row = cur.fetchone()
        assert row is not None, "no stats row for cache %s" % cache
        return dict(zip([d[0] for d in cur.description], row))


def delta(before, after):
    """Per-counter difference of two stats() dicts (numbers only)."""
    return {k: after[k] - before[k] for k in after if isinstance(after[k], int)}


def cache_range(conn, cache, index="primary_key", ge=None, lt=None, cols="*"):
    """Rows of tablecache.range(NULL::cache, index, ge, lt), in the order returned."""
    return query(conn, "SELECT %s FROM tablecache.range(NULL::%s, %%s, %%s, %%s)" % (cols, cache),
                 (index, ge, lt))


def cache_get(conn, cache, key, cols="*"):
    """The row tablecache.get returns for `key` (a tuple of the columns), or None."""
    rows = query(conn, "SELECT %s FROM tablecache.get(NULL::%s, %%s)" % (cols, cache), (key,))
    row = rows[0]
    return None if all(v is None for v in row) else row


def read_counted(conn, cache, sql, params=None):
    """Runs a read and returns (rows, hits delta, misses delta) of `cache` (no other reader
    may use the cache meanwhile for the deltas to be exact)."""
    before = stats(conn, cache)
    rows = query(conn, sql, params)
    after = stats(conn, cache)
    return rows, after["hits"] - before["hits"], after["misses"] - before["misses"]


def create_role(conn, role):
    """A fresh login role (roles are cluster-wide: drop a leftover of an earlier run)."""
    drop_role(conn, role)
    query(conn, "CREATE ROLE %s LOGIN" % role)


def drop_role(conn, role):
    if scalar(conn, "SELECT count(*) FROM pg_roles WHERE rolname = %s", (role,)):
        query(conn, "DROP OWNED BY %s" % role)
        query(conn, "DROP ROLE %s" % role)
