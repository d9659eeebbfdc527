--
-- access: reading through a cache needs the privileges its query needs
-- (42501 otherwise); only the cache's owner or a superuser may load, adjust,
-- invalidate or drop it.
--
\set VERBOSITY terse
SET client_min_messages = warning;

CREATE ROLE regress_tc_owner;
CREATE ROLE regress_tc_reader;
CREATE ROLE regress_tc_partial;
CREATE ROLE regress_tc_nobody;
CREATE SCHEMA regress_tc AUTHORIZATION regress_tc_owner;
GRANT USAGE ON SCHEMA regress_tc TO regress_tc_reader, regress_tc_partial, regress_tc_nobody;
-- creating caches is a privilege a superuser grants
GRANT EXECUTE ON FUNCTION tablecache.create_cache(text, text, text[], text) TO regress_tc_owner;

-- the owner defines and loads a cache over its own tables
SET ROLE regress_tc_owner;
SET search_path = regress_tc, public;
CREATE TABLE acc_t (id int PRIMARY KEY, secret text, grp int);
CREATE TABLE acc_g (grp int PRIMARY KEY, label text);
INSERT INTO acc_t SELECT i, 'secret ' || i, i % 3 FROM generate_series(1, 100) i;
INSERT INTO acc_g VALUES (0, 'zero'), (1, 'one'), (2, 'two');
SELECT tablecache.create_cache('regress_tc.acc_c',
    'SELECT t.id, t.secret, g.label FROM regress_tc.acc_t t JOIN regress_tc.acc_g g USING (grp)', ARRAY['id'], maintain => 'manual');
SELECT tablecache.load('regress_tc.acc_c', 'primary_key', 1, 51);
SELECT * FROM tablecache.get(NULL::acc_c, 1);
GRANT SELECT ON acc_t, acc_g TO regress_tc_reader;
GRANT SELECT ON acc_g TO regress_tc_partial;
GRANT SELECT (id, grp) ON acc_t TO regress_tc_partial;
RESET ROLE;

-- a role with SELECT on every base table reads (hit and miss)
SET ROLE regress_tc_reader;
SELECT * FROM tablecache.get(NULL::regress_tc.acc_c, 2);
SELECT * FROM tablecache.get(NULL::regress_tc.acc_c, 77);
SELECT count(*) FROM tablecache.range(NULL::regress_tc.acc_c, 'primary_key', NULL, NULL);
-- but may not change the cache
SELECT tablecache.adjust('regress_tc.acc_c', 'primary_key', 1, 101);
\echo SQLSTATE: :SQLSTATE
SELECT tablecache.load('regress_tc.acc_c');
\echo SQLSTATE: :SQLSTATE
SELECT tablecache.invalidate('regress_tc.acc_c', 'primary_key', 5);
\echo SQLSTATE: :SQLSTATE
SELECT tablecache.create_index('regress_tc.acc_c', 'by_secret', ARRAY['secret']);
\echo SQLSTATE: :SQLSTATE
SELECT tablecache.drop_index('regress_tc.acc_c', 'primary_key');
\echo SQLSTATE: :SQLSTATE
SELECT tablecache.drop_cache('regress_tc.acc_c');
\echo SQLSTATE: :SQLSTATE
RESET ROLE;

-- a role without SELECT on the base tables gets 42501, in and out of the window
SET ROLE regress_tc_nobody;
SELECT * FROM tablecache.get(NULL::regress_tc.acc_c, 2);
\echo SQLSTATE: :SQLSTATE
SELECT * FROM tablecache.get(NULL::regress_tc.acc_c, 77);
\echo SQLSTATE: :SQLSTATE
SELECT count(*) FROM tablecache.range(NULL::regress_tc.acc_c, 'primary_key', 1, 10);
\echo SQLSTATE: :SQLSTATE
SELECT count(*) FROM tablecache.range(NULL::regress_tc.acc_c, 'primary_key', NULL, NULL);
\echo SQLSTATE: :SQLSTATE
SELECT tablecache.drop_cache('regress_tc.acc_c');
\echo SQLSTATE: :SQLSTATE
RESET ROLE;

-- a role that may read only some of the columns the query uses gets 42501 too
SET ROLE regress_tc_partial;
SELECT * FROM tablecache.get(NULL::regress_tc.acc_c, 2);
\echo SQLSTATE: :SQLSTATE
SELECT count(*) FROM tablecache.range(NULL::regress_tc.acc_c, 'primary_key', 1, 10);
\echo SQLSTATE: :SQLSTATE
RESET ROLE;

-- privileges are checked at every read: a REVOKE takes effect at once
REVOKE SELECT ON regress_tc.acc_g FROM regress_tc_reader;
SET ROLE regress_tc_reader;
SELECT * FROM tablecache.get(NULL::regress_tc.acc_c, 2);
\echo SQLSTATE: :SQLSTATE
RESET ROLE;

-- the cache is unchanged by all the refused calls
SELECT name, window_ge, window_lt, loaded, rows FROM tablecache.caches WHERE name LIKE '%acc_c';

-- the owner adjusts and drops; a superuser may too
SET ROLE regress_tc_owner;
SELECT tablecache.adjust('regress_tc.acc_c', 'primary_key', 1, 101);
RESET ROLE;
SELECT tablecache.adjust('regress_tc.acc_c', 'primary_key', 1, 11);
SET ROLE regress_tc_owner;
SELECT tablecache.drop_cache('regress_tc.acc_c');
RESET ROLE;

DROP SCHEMA regress_tc CASCADE;
REVOKE EXECUTE ON FUNCTION tablecache.create_cache(text, text, text[], text) FROM regress_tc_owner;
DROP ROLE regress_tc_owner, regress_tc_reader, regress_tc_partial, regress_tc_nobody;
