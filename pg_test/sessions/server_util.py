"""Private PostgreSQL servers for tests that restart or crash a server
(test_reliability.py), started and stopped through scripts/server.sh with their own
NAME and port, so the shared sessions server is never disturbed.

    srv = server_util.PrivateServer("reliab", 55441, settings={"tablecache.worker_naptime": "200ms"})
    srv.start()                 # fresh data dir (initdb), settings via ALTER SYSTEM
    conn = srv.connect("postgres")
    srv.restart(); srv.kill_backend(pid); srv.wait_ready()
    srv.destroy()               # stop + remove /tmp/tablecache-NAME

The port defaults to the sessions server's port + an offset, so two suites run with
different sessions ports (TABLECACHE_PGPORT) do not share private servers either.
"""
import os
import shutil
import signal
import subprocess
import time

import psycopg2

import harness

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
SERVER_SH = os.path.join(ROOT, "scripts", "server.sh")
BIN = "/usr/lib/postgresql/15/bin"


def private_port(offset):
    """A port for a private server: the sessions port + offset (55435 + 6 = 55441)."""
    return harness.PORT + offset


def private_name(base, offset):
    """NAME for scripts/server.sh: `base` for the default sessions port, else base + port."""
    return base if harness.PORT == 55435 else "%s%d" % (base, private_port(offset))


class PrivateServer:
    def __init__(self, name, port, memory="256MB", settings=None):
        self.name = name
        self.port = port
        self.memory = memory
        self.settings = dict(settings or {})
        self.base = "/tmp/tablecache-%s" % name
        self.data = os.path.join(self.base, "data")
        self.log = os.path.join(self.base, "server.log")

    # --- server.sh -------------------------------------------------------------------
    def _sh(self, cmd, check=True):
        env = dict(os.environ, TABLECACHE_MEMORY=self.memory)
        p = subprocess.run(["bash", SERVER_SH, cmd, self.name, str(self.port)], env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=120)
        if check and p.returncode != 0:
            raise AssertionError("server.sh %s %s failed (rc %d):\n%s\n--- log tail ---\n%s"
                                 % (cmd, self.name, p.returncode, p.stdout, self.log_tail(40)))
        return p

    def start(self, fresh=True):
        """Starts the server (initdb on a fresh data dir when fresh) and applies the settings
        with ALTER SYSTEM (postgresql.auto.conf survives server.sh rewriting tablecache.conf).
        Settings of context postmaster take effect after a restart; start() restarts once
        when there are any."""
        if fresh:
            self._sh("stop", check=False)
            shutil.rmtree(self.base, ignore_errors=True)
        self._sh("start")
        self.wait_ready()
        if self.settings:
            conn = self.connect("postgres")
            try:
                for k, v in self.settings.items():
                    harness.query(conn, "ALTER SYSTEM SET %s = %%s" % k, (v,))
                harness.query(conn, "SELECT pg_reload_conf()")
                need_restart = harness.scalar(
                    conn, "SELECT count(*) FROM pg_settings WHERE name = ANY(%s) AND context = 'postmaster'",
                    (list(self.settings),))
            finally:
                conn.close()
            if need_restart:
                self.restart()

    def stop(self):
        self._sh("stop", check=False)

    def restart(self):
        self._sh("stop")
        self._sh("start")
        self.wait_ready()

    def destroy(self):
        self.stop()
        shutil.rmtree(self.base, ignore_errors=True)

    def alter_system(self, name, value, restart=False):
        conn = self.connect("postgres")
        try:
            if value is None:
                harness.query(conn, "ALTER SYSTEM RESET %s" % name)
            else:
                harness.query(conn, "ALTER SYSTEM SET %s = %%s" % name, (value,))
            harness.query(conn, "SELECT pg_reload_conf()")
        finally:
            conn.close()
        if restart:
            self.restart()

    # --- connections -----------------------------------------------------------------
    def connect(self, dbname="postgres", autocommit=True, application_name="tablecache-private", user="postgres"):
        conn = psycopg2.connect(host=self.base, port=self.port, user=user, dbname=dbname,
                                application_name=application_name, connect_timeout=10)
        conn.autocommit = autocommit
        return conn

    def wait_ready(self, timeout=60):
        """Waits until a connection succeeds and `SELECT 1` answers (after a start or a crash
        restart of the postmaster)."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            try:
                conn = self.connect("postgres")
                try:
                    if harness.scalar(conn, "SELECT 1") == 1:
                        return
                finally:
                    conn.close()
            except psycopg2.Error as e:
                last = e
            time.sleep(0.1)  # waiting for another process (the postmaster), not for a race
        raise AssertionError("server %s not ready within %ss: %s\n%s" % (self.name, timeout, last, self.log_tail(40)))

    def create_db(self, dbname, extension=True):
        admin = self.connect("postgres")
        try:
            harness.query(admin, "DROP DATABASE IF EXISTS %s WITH (FORCE)" % dbname)
            harness.query(admin, "CREATE DATABASE %s" % dbname)
        finally:
            admin.close()
        if extension:
            conn = self.connect(dbname)
            try:
                harness.query(conn, "CREATE EXTENSION tablecache")
            finally:
                conn.close()

    # --- processes and the log -------------------------------------------------------
    def postmaster_pid(self):
        with open(os.path.join(self.data, "postmaster.pid")) as f:
            return int(f.readline().strip())

    def kill_backend(self, pid, sig=signal.SIGKILL):
        os.kill(pid, sig)

    def log_size(self):
        try:
            return os.path.getsize(self.log)
        except OSError:
            return 0

    def log_since(self, offset):
        try:
            with open(self.log, "rb") as f:
                f.seek(offset)
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def log_tail(self, n=30):
        try:
            with open(self.log, "rb") as f:
                lines = f.read().decode("utf-8", "replace").splitlines()
            return "\n".join(lines[-n:])
        except OSError:
            return "(no log)"
