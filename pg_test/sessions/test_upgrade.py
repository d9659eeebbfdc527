"""ALTER EXTENSION tablecache UPDATE from 0.1.0: caches kept, surface identical to a fresh 0.2.0.

A database of version 0.1.0 is made from 0.1.0's install script (pg_test/upgrade/, as
`cargo pgrx schema` wrote it for that version), copied into the server's extension directory
for the duration of this module. Its caches are written the way 0.1.0's create_cache and
create_index wrote them (a composite row type, a catalog row, index rows): the 0.2.0 library
does not run 0.1.0's C functions, and the upgrade must not need them.
"""
import os
import subprocess
import unittest

import psycopg2

import harness
from harness import query, scalar

HERE = os.path.dirname(os.path.abspath(__file__))
V1_SQL = os.path.join(HERE, "..", "upgrade", "tablecache--0.1.0.sql")
DB_OLD = "tc_upgrade_old"
DB_NEW = "tc_upgrade_new"

_installed = None  # the 0.1.0 script this module put into the extension directory
_previous = None   # what was there before (a machine that had 0.1.0 installed keeps its script)


def _admin():
    return harness.connect("postgres")


def setUpModule():
    global _installed, _previous
    a = _admin()
    try:
        share = scalar(a, "SELECT setting FROM pg_config WHERE name = 'SHAREDIR'")
        for db in (DB_OLD, DB_NEW):
            query(a, "DROP DATABASE IF EXISTS %s WITH (FORCE)" % db)
            query(a, "CREATE DATABASE %s" % db)
    finally:
        a.close()
    ext = os.path.join(share, "extension")
    if not os.path.exists(os.path.join(ext, "tablecache--0.1.0--0.2.0.sql")):
        raise AssertionError("the upgrade script is not installed in %s" % ext)
    with open(V1_SQL) as f:
        sql = f.read()
    # 0.2.0's library names its create_cache differently (a database not yet upgraded must not
    # call it with 0.1.0's arguments); CREATE FUNCTION checks that the symbol exists, so the old
    # definition points at the new symbol here. It is never called: the upgrade replaces it.
    assert "'create_cache_wrapper'" in sql
    sql = sql.replace("'create_cache_wrapper'", "'create_cache_v2_wrapper'")
    target = os.path.join(ext, "tablecache--0.1.0.sql")
    if os.path.exists(target):
        with open(target) as f:
            _previous = f.read()
    with open(target, "w") as f:
        f.write(sql)
    _installed = target


def tearDownModule():
    if _installed:
        if _previous is None:
            os.remove(_installed)
        else:
            with open(_installed, "w") as f:
                f.write(_previous)
    a = _admin()
    try:
        for db in (DB_OLD, DB_NEW):
            query(a, "DROP DATABASE IF EXISTS %s WITH (FORCE)" % db)
        query(a, "DROP ROLE IF EXISTS tc_up_owner")
    finally:
        a.close()


V1_CACHES = """
CREATE ROLE tc_up_owner;
GRANT CREATE ON SCHEMA public TO tc_up_owner;
CREATE SCHEMA "Sales" AUTHORIZATION tc_up_owner;
CREATE TABLE up_t (id int PRIMARY KEY, v text, secret text);
CREATE TABLE up_u (id int PRIMARY KEY, w text);
CREATE TABLE up_gone (id int PRIMARY KEY);
INSERT INTO up_t SELECT i, 'v' || i, 's' || i FROM generate_series(1, 100) i;
INSERT INTO up_u SELECT i, 'w' || i FROM generate_series(1, 100) i;
ALTER TABLE up_t OWNER TO tc_up_owner;
ALTER TABLE up_u OWNER TO tc_up_owner;
ALTER TABLE up_gone OWNER TO tc_up_owner;

-- what 0.1.0's create_cache('up_c', ..., ARRAY['id']) and create_index(..., 'by_v') wrote
SET ROLE tc_up_owner;
CREATE TYPE public.up_c AS (id int, v text, w text);
CREATE TYPE "Sales"."Daily" AS (id int, v text);
CREATE TYPE public.up_broken AS (id int);
RESET ROLE;
INSERT INTO tablecache.cache_def (name, query, primary_key, rowtype, owner, search_path, version)
VALUES ('up_c', 'SELECT t.id, t.v, u.w FROM up_t t JOIN up_u u USING (id)', '{id}',
        'public.up_c', 'tc_up_owner', '"$user", public', nextval('tablecache.def_version_seq')),
       ('"Sales"."Daily"', 'SELECT id, v FROM up_t WHERE id <= 10;', '{id}',
        '"Sales"."Daily"', 'tc_up_owner', 'public', nextval('tablecache.def_version_seq')),
       ('up_broken', 'SELECT id FROM up_gone', '{id}',
        'public.up_broken', 'tc_up_owner', 'public', nextval('tablecache.def_version_seq'));
INSERT INTO tablecache.index_def (cache, name, columns, position) VALUES ('up_c', 'by_v', '{v}', 1);
UPDATE tablecache.cache_def SET window_index = 'primary_key', window_ge = '{1}', window_lt = '{51}'
 WHERE name = 'up_c';
CREATE TRIGGER up_t_inval AFTER INSERT OR UPDATE OR DELETE ON up_t
    FOR EACH ROW EXECUTE FUNCTION tablecache.invalidate_trigger('up_c', 'primary_key', 'id');
DROP TABLE up_gone CASCADE;
"""


def surface(conn):
    """Everything of the extension a user can see, as comparable text."""
    return {
        "functions": query(conn, """
            SELECT p.proname, pg_get_function_identity_arguments(p.oid), pg_get_function_result(p.oid),
                   p.prosrc, p.provolatile, p.proparallel, p.proisstrict, p.prosecdef,
                   coalesce(p.proacl, acldefault('f', p.proowner))::text, pg_get_function_arguments(p.oid)
              FROM pg_proc p WHERE p.pronamespace = 'tablecache'::regnamespace ORDER BY 1, 2"""),
        "views": query(conn, """
            SELECT c.relname, pg_get_viewdef(c.oid), coalesce(c.relacl, acldefault('r', c.relowner))::text
              FROM pg_class c JOIN pg_depend d ON d.objid = c.oid AND d.deptype = 'e'
             WHERE c.relnamespace = 'tablecache'::regnamespace AND c.relkind = 'v' ORDER BY 1"""),
        "columns": query(conn, """
            SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
                   coalesce(pg_get_expr(ad.adbin, ad.adrelid), '')
              FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
              LEFT JOIN pg_attrdef ad ON ad.adrelid = c.oid AND ad.adnum = a.attnum
             WHERE c.relnamespace = 'tablecache'::regnamespace AND c.relkind = 'r' ORDER BY 1, 2"""),
        "constraints": query(conn, """
            SELECT conrelid::regclass::text, pg_get_constraintdef(oid) FROM pg_constraint
             WHERE connamespace = 'tablecache'::regnamespace ORDER BY 1, 2"""),
        "tables": query(conn, """
            SELECT relname, coalesce(relacl, acldefault('r', relowner))::text FROM pg_class
             WHERE relnamespace = 'tablecache'::regnamespace AND relkind IN ('r', 'S') ORDER BY 1"""),
        "members": query(conn, """
            SELECT pg_describe_object(classid, objid, objsubid) FROM pg_depend
             WHERE refclassid = 'pg_extension'::regclass AND deptype = 'e'
               AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'tablecache') ORDER BY 1"""),
        "event_triggers": query(conn, "SELECT evtname, evtevent, evtfoid::regproc::text, evtenabled FROM pg_event_trigger ORDER BY 1"),
        "config_dump": query(conn, """
            SELECT unnest(extconfig)::regclass::text FROM pg_extension WHERE extname = 'tablecache' ORDER BY 1"""),
    }


class Upgrade(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.old = harness.connect(DB_OLD)
        cls.new = harness.connect(DB_NEW)
        query(cls.old, "CREATE EXTENSION tablecache VERSION '0.1.0'")
        assert scalar(cls.old, "SELECT extversion FROM pg_extension WHERE extname = 'tablecache'") == "0.1.0"
        query(cls.old, V1_CACHES)
        # before the update: the new library refuses the old catalog clearly, and ordinary DDL
        # (which its hooks watch) keeps working
        try:
            query(cls.old, "SELECT tablecache.load('up_c')")
            cls.before_update = None
        except psycopg2.Error as e:
            cls.before_update = (e.pgcode, e.diag.message_hint)
        query(cls.old, "CREATE VIEW up_plain AS SELECT id FROM up_t; CREATE OR REPLACE VIEW up_plain AS SELECT id, v FROM up_t")
        cls.old.notices.clear()
        query(cls.old, "ALTER EXTENSION tablecache UPDATE TO '0.2.0'")
        cls.upgrade_notices = list(cls.old.notices)
        query(cls.new, "CREATE EXTENSION tablecache")

    @classmethod
    def tearDownClass(cls):
        cls.old.close()
        cls.new.close()

    def test_surface_is_that_of_a_fresh_install(self):
        self.assertEqual(scalar(self.old, "SELECT extversion FROM pg_extension WHERE extname = 'tablecache'"), "0.2.0")
        old, new = surface(self.old), surface(self.new)
        for part in new:
            self.assertEqual(old[part], new[part], "upgraded and fresh differ in %s" % part)

    def test_old_catalog_refused_before_the_update(self):
        self.assertEqual(self.before_update, ("55000", "Run ALTER EXTENSION tablecache UPDATE in this database."))

    def test_broken_cache_dropped_with_a_warning(self):
        self.assertTrue(any('"up_broken" cannot be kept' in n for n in self.upgrade_notices), self.upgrade_notices)
        self.assertEqual(scalar(self.old, "SELECT count(*) FROM tablecache.cache_def WHERE name = 'up_broken'"), 0)

    def test_caches_kept_as_manual_with_their_row_types(self):
        rows = query(self.old, """SELECT name, maintain, loaded FROM tablecache.caches
                                   WHERE name IN ('up_c', '"Sales"."Daily"') ORDER BY 1""")
        self.assertEqual(rows, [('"Sales"."Daily"', "manual", False), ("up_c", "manual", False)])
        # the row type is still the composite type users' code names
        self.assertEqual(scalar(self.old, "SELECT rowtype::text FROM tablecache.cache_def WHERE name = 'up_c'"), "up_c")
        self.assertEqual(scalar(self.old, "SELECT count(*) FROM tablecache.index_def WHERE cache = 'up_c' AND name = 'by_v'"), 1)
        # the hidden view is the owner's, like the view of a new cache
        self.assertEqual(scalar(self.old, """
            SELECT pg_get_userbyid(relowner) FROM pg_class WHERE oid = (SELECT view FROM tablecache.cache_def WHERE name = 'up_c')"""),
            "tc_up_owner")

    def test_caches_load_read_invalidate_and_drop(self):
        c = self.old
        query(c, "SELECT tablecache.load('up_c')")
        query(c, "SELECT tablecache.load('\"Sales\".\"Daily\"')")
        query(c, "SELECT tablecache.reset_stats()")
        self.assertEqual(scalar(c, "SELECT (tablecache.get(NULL::up_c, 7)).w"), "w7")
        self.assertEqual(scalar(c, "SELECT count(*) FROM tablecache.range(NULL::up_c, 'by_v', 'v1', 'v2')"), 12)
        self.assertEqual(scalar(c, "SELECT count(*) FROM tablecache.range(NULL::\"Sales\".\"Daily\", 'primary_key')"), 10)
        hits = scalar(c, "SELECT hits FROM tablecache.stats WHERE cache = 'up_c'")
        self.assertGreaterEqual(hits, 2)
        # the hand-written trigger of 0.1.0 still invalidates
        query(c, "UPDATE up_t SET v = 'changed' WHERE id = 7")
        self.assertEqual(scalar(c, "SELECT (tablecache.get(NULL::up_c, 7)).v"), "changed")
        self.assertEqual(scalar(c, "SELECT count(*) FROM tablecache.range(NULL::up_c, 'by_v', 'changed', 'changee')"), 1)
        # drop_cache leaves nothing: not the row type, not the hidden view
        view = scalar(c, "SELECT view::oid FROM tablecache.cache_def WHERE name = 'up_c'")
        query(c, "DROP TRIGGER up_t_inval ON up_t")
        query(c, "SELECT tablecache.drop_cache('up_c')")
        self.assertIsNone(scalar(c, "SELECT to_regtype('public.up_c')"))
        self.assertEqual(scalar(c, "SELECT count(*) FROM pg_class WHERE oid = %s", (view,)), 0)
        self.assertEqual(scalar(c, "SELECT count(*) FROM tablecache.caches WHERE name = 'up_c'"), 0)
        # and the name is free for a new cache
        query(c, "SELECT tablecache.create_cache('up_c', 'SELECT id, v FROM up_t', ARRAY['id'])")
        self.assertEqual(scalar(c, "SELECT (tablecache.get(NULL::up_c, 3)).v"), "v3")
        query(c, "SELECT tablecache.drop_cache('up_c')")

    def test_dropping_the_row_type_drops_the_cache(self):
        c = self.old
        query(c, "SELECT tablecache.create_cache('up_tmp', 'SELECT id FROM up_t', ARRAY['id'], maintain => 'manual')")
        query(c, "SELECT tablecache.drop_cache('up_tmp')")
        view = scalar(c, "SELECT view::oid FROM tablecache.cache_def WHERE name = '\"Sales\".\"Daily\"'")
        query(c, "DROP TYPE \"Sales\".\"Daily\"")
        self.assertEqual(scalar(c, "SELECT count(*) FROM pg_class WHERE oid = %s", (view,)), 0)
        self.assertEqual(scalar(c, "SELECT count(*) FROM tablecache.cache_def WHERE name = '\"Sales\".\"Daily\"'"), 0)

    def test_row_type_of_a_version_1_cache_cannot_be_altered(self):
        c = self.old
        query(c, "SET ROLE tc_up_owner")
        try:
            query(c, "CREATE TYPE up_alt AS (id int, v text)")
        finally:
            query(c, "RESET ROLE")
        # a version-1 cache whose composite type changed under it: the load refuses
        query(c, "SET ROLE tc_up_owner")
        try:
            query(c, "CREATE VIEW up_alt_v WITH (security_invoker) AS SELECT id, v FROM up_t")
        finally:
            query(c, "RESET ROLE")
        query(c, """INSERT INTO tablecache.cache_def (id, name, query, primary_key, view, rowtype, search_path, settings, version)
                    VALUES (4242, 'up_alt', 'SELECT id, v FROM up_t', '{id}', 'up_alt_v', 'up_alt', 'public', '{}',
                            nextval('tablecache.def_version_seq'))""")
        try:
            query(c, "SELECT tablecache.load('up_alt')")
            self.assertEqual(scalar(c, "SELECT (tablecache.get(NULL::up_alt, 4)).v"), "v4")
            # a version-1 cache's own composite type cannot change under it
            with self.assertRaises(psycopg2.Error) as e:
                query(c, "ALTER TYPE up_alt ADD ATTRIBUTE extra bigint")
            self.assertEqual(e.exception.pgcode, "0A000", str(e.exception))
            with self.assertRaises(psycopg2.Error) as e:
                query(c, "ALTER TYPE up_alt RENAME ATTRIBUTE v TO w")
            self.assertEqual(e.exception.pgcode, "0A000", str(e.exception))
            self.assertEqual(scalar(c, "SELECT (tablecache.get(NULL::up_alt, 4)).v"), "v4")
        finally:
            query(c, "SELECT tablecache.drop_cache('up_alt')")
        self.assertIsNone(scalar(c, "SELECT to_regtype('up_alt')"))
        self.assertIsNone(scalar(c, "SELECT to_regclass('up_alt_v')"))


class DumpRestore(unittest.TestCase):
    """pg_dump of a database with a self-maintained cache restores without an error, and the
    restored cache maintains itself (its triggers ENABLE ALWAYS again)."""

    def test_dump_and_restore(self):
        a = _admin()
        try:
            for db in ("tc_dump_src", "tc_dump_dst"):
                query(a, "DROP DATABASE IF EXISTS %s WITH (FORCE)" % db)
                query(a, "CREATE DATABASE %s" % db)
        finally:
            a.close()
        src = harness.connect("tc_dump_src")
        query(src, """
            CREATE EXTENSION tablecache;
            CREATE TABLE cu (id int PRIMARY KEY, name text NOT NULL);
            CREATE TABLE od (id int PRIMARY KEY, cu_id int NOT NULL REFERENCES cu, amount int NOT NULL);
            INSERT INTO cu SELECT i, 'c' || i FROM generate_series(1, 5) i;
            INSERT INTO od SELECT i, 1 + i % 5, i FROM generate_series(1, 50) i;
            SELECT tablecache.create_cache('dumped', 'SELECT o.id, o.amount, c.name FROM od o JOIN cu c ON c.id = o.cu_id', ARRAY['id']);
            SELECT tablecache.load('dumped');""")
        src.close()
        pgbin = os.environ.get("TABLECACHE_PGROOT", "") + "/usr/lib/postgresql/15/bin"
        dump = subprocess.run([pgbin + "/pg_dump", "-h", harness.HOST, "-p", str(harness.PORT), "-U", harness.USER, "tc_dump_src"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
        self.assertEqual(dump.returncode, 0, dump.stderr.decode())
        restore = subprocess.run([pgbin + "/psql", "-X", "-q", "-v", "ON_ERROR_STOP=0", "-h", harness.HOST, "-p", str(harness.PORT),
                                  "-U", harness.USER, "-d", "tc_dump_dst"], input=dump.stdout,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
        errors = [l for l in restore.stderr.decode().splitlines() if "ERROR" in l]
        self.assertEqual(errors, [], "the restore reported errors")
        dst = harness.connect("tc_dump_dst")
        try:
            self.assertEqual(query(dst, "SELECT DISTINCT tgenabled::text FROM pg_trigger WHERE tgname LIKE 'tablecache%'"), [("A",)])
            query(dst, "SELECT tablecache.load('dumped')")
            query(dst, "SET session_replication_role = replica")
            query(dst, "UPDATE od SET amount = 999 WHERE id = 20")
            query(dst, "UPDATE cu SET name = 'restored' WHERE id = 2")
            query(dst, "RESET session_replication_role")
            self.assertEqual(scalar(dst, "SELECT (tablecache.get(NULL::dumped, 20)).amount"), 999)
            self.assertEqual(scalar(dst, "SELECT count(*) FROM tablecache.range(NULL::dumped, 'primary_key') WHERE name = 'restored'"), 10)
        finally:
            dst.close()
            a = _admin()
            try:
                for db in ("tc_dump_src", "tc_dump_dst"):
                    query(a, "DROP DATABASE IF EXISTS %s WITH (FORCE)" % db)
            finally:
                a.close()


if __name__ == "__main__":
    unittest.main()
