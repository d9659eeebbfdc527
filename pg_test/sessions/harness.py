"""Helpers for tablecache's multi-session tests.

The server is given by TABLECACHE_PGHOST (a socket directory or host) and
TABLECACHE_PGPORT; scripts/test.sh starts a private one (scripts/server.sh
start sessions). Each test module gets a fresh database with the extension:

    import harness
    def setUpModule():    harness.setup_module_db(__name__)
    def tearDownModule(): harness.teardown_module_db(__name__)
    ...  conn = harness.connect(__name__)
"""
import os
import re
import threading

import psycopg2
import psycopg2.extensions

HOST = os.environ.get("TABLECACHE_PGHOST", "/tmp/tablecache-sessions")
PORT = int(os.environ.get("TABLECACHE_PGPORT", "55435"))
USER = os.environ.get("TABLECACHE_PGUSER", "postgres")

_dbs = {}


def _dbname_for(module):
    return "tc_" + re.sub(r"[^a-z0-9_]", "_", module.lower().rsplit(".", 1)[-1])[:50]


def connect(module_or_db="postgres", autocommit=True, application_name=None):
    """A new connection to the module's database (or a database by name)."""
    dbname = _dbs.get(module_or_db, module_or_db)
    conn = psycopg2.connect(host=HOST, port=PORT, user=USER, dbname=dbname,
                            application_name=application_name or "tablecache-sessions")
    conn.autocommit = autocommit
    return conn


def setup_module_db(module):
    name = _dbname_for(module)
    admin = connect("postgres")
    try:
        with admin.cursor() as cur:
            cur.execute("DROP DATABASE IF EXISTS %s WITH (FORCE)" % name)
            cur.execute("CREATE DATABASE %s" % name)
    finally:
        admin.close()
    _dbs[module] = name
    conn = connect(module)
    try:
        with conn.cursor() as cur:
            cur.execute("CREATE EXTENSION tablecache")
    finally:
        conn.close()
    return name


def teardown_module_db(module):
    name = _dbs.pop(module, None)
    if name is None:
        return
    admin = connect("postgres")
    try:
        with admin.cursor() as cur:
            cur.execute("DROP DATABASE IF EXISTS %s WITH (FORCE)" % name)
    finally:
        admin.close()


def query(conn, sql, params=None):
    with conn.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchall() if cur.description else None


def scalar(conn, sql, params=None):
    rows = query(conn, sql, params)
    return rows[0][0]


class Worker(threading.Thread):
    """A thread running fn(stop_event) on its own; re-raises its exception in join_checked()."""

    def __init__(self, fn, name=None):
        super().__init__(name=name, daemon=True)
        self.fn = fn
        self.stop = threading.Event()
        self.error = None
        self.result = None

    def run(self):
        try:
            self.result = self.fn(self.stop)
        except BaseException as e:  # noqa: BLE001 - reported by join_checked
            self.error = e

    def join_checked(self, timeout=120):
        self.stop.set()
        self.join(timeout)
        if self.is_alive():
            raise AssertionError("worker %s did not finish within %ss" % (self.name, timeout))
        if self.error is not None:
            raise self.error
        return self.result


def drop_role(conn, role):
    """Drops a cluster-wide role: DROP OWNED in every database first (its caches, tables and
    grants), then DROP ROLE."""
    if scalar(conn, "SELECT count(*) FROM pg_roles WHERE rolname = %s", (role,)):
        for (db,) in query(conn, "SELECT datname FROM pg_database WHERE datallowconn"):
            try:
                c = connect(db)
                query(c, "DROP OWNED BY %s CASCADE" % role)
                c.close()
            except psycopg2.Error:
                pass
        query(conn, "DROP ROLE IF EXISTS %s" % role)
