--
-- define: create_cache / create_index / drop_index / drop_cache, the
-- composite type, the catalog view, and the errors of bad definitions.
-- Errors are shown with their message (VERBOSITY terse) followed by
-- "SQLSTATE: xxxxx" (psql's :SQLSTATE after the statement).
--
\set VERBOSITY terse
SET client_min_messages = warning;

CREATE TABLE def_items (id int PRIMARY KEY, name text NOT NULL, price numeric(8,2), created date);
CREATE TABLE def_tags (item_id int REFERENCES def_items, tag text, PRIMARY KEY (item_id, tag));
INSERT INTO def_items SELECT i, 'item ' || i, i * 1.5, date '2026-01-01' + i FROM generate_series(1, 20) i;
INSERT INTO def_tags SELECT i, t FROM generate_series(1, 20) i, unnest(ARRAY['red', 'blue']) t;

-- a cache over a join
SELECT tablecache.create_cache('def_cache',
    'SELECT i.id, i.name, i.price, i.created, t.tag FROM def_items i JOIN def_tags t ON t.item_id = i.id',
    ARRAY['id', 'tag'], maintain => 'manual');

-- its composite type: the query's output columns, in order
SELECT a.attnum, a.attname, a.atttypid::regtype AS type
FROM pg_attribute a
WHERE a.attrelid = 'def_cache'::regclass AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum;
SELECT typtype, typnamespace::regnamespace FROM pg_type WHERE oid = 'def_cache'::regtype;

-- the catalog view: unloaded, with only the primary_key index
SELECT name, query, primary_key, indexes, window_index, window_ge, window_lt, loaded, rows
FROM tablecache.caches WHERE name = 'def_cache';
SELECT cache, hits, misses, refreshes, invalidations, loads, adjustments, rows_loaded, rows_expired
FROM tablecache.stats WHERE cache = 'def_cache';

-- indexes, single and multi-column
SELECT tablecache.create_index('def_cache', 'by_created', ARRAY['created']);
SELECT tablecache.create_index('def_cache', 'by_name_tag', ARRAY['name', 'tag']);
SELECT name, indexes FROM tablecache.caches WHERE name = 'def_cache';
SELECT tablecache.drop_index('def_cache', 'by_created');
SELECT name, indexes FROM tablecache.caches WHERE name = 'def_cache';
-- an index can be re-created after it was dropped
SELECT tablecache.create_index('def_cache', 'by_created', ARRAY['created']);

-- ---- errors ----------------------------------------------------------------
-- 42710: duplicate cache name
SELECT tablecache.create_cache('def_cache', 'SELECT id FROM def_items', ARRAY['id'], maintain => 'manual');
\echo SQLSTATE: :SQLSTATE
-- 42710: duplicate index name, and the built-in primary_key index
SELECT tablecache.create_index('def_cache', 'by_created', ARRAY['price']);
\echo SQLSTATE: :SQLSTATE
SELECT tablecache.create_index('def_cache', 'primary_key', ARRAY['price']);
\echo SQLSTATE: :SQLSTATE
-- 42704: unknown cache / unknown index
SELECT tablecache.create_index('no_such_cache', 'by_x', ARRAY['id']);
\echo SQLSTATE: :SQLSTATE
SELECT tablecache.drop_index('def_cache', 'no_such_index');
\echo SQLSTATE: :SQLSTATE
SELECT tablecache.drop_index('no_such_cache', 'by_created');
\echo SQLSTATE: :SQLSTATE
SELECT tablecache.drop_cache('no_such_cache');
\echo SQLSTATE: :SQLSTATE
-- 42703: unknown column in the primary key / in an index (a base-table column
-- that is not an output column of the query is unknown too)
SELECT tablecache.create_cache('def_bad', 'SELECT id, name FROM def_items', ARRAY['nope'], maintain => 'manual');
\echo SQLSTATE: :SQLSTATE
SELECT tablecache.create_cache('def_bad', 'SELECT id, name FROM def_items', ARRAY['price'], maintain => 'manual');
\echo SQLSTATE: :SQLSTATE
SELECT tablecache.create_index('def_cache', 'by_nope', ARRAY['created', 'nope']);
\echo SQLSTATE: :SQLSTATE
-- 42701: duplicate output column names; a column twice in a key
SELECT tablecache.create_cache('def_bad', 'SELECT i.id, t.item_id AS id FROM def_items i JOIN def_tags t ON t.item_id = i.id', ARRAY['id'], maintain => 'manual');
\echo SQLSTATE: :SQLSTATE
SELECT tablecache.create_index('def_cache', 'by_twice', ARRAY['created', 'created']);
\echo SQLSTATE: :SQLSTATE
-- 22023: bad arguments: empty key, empty index column list, not a SELECT
SELECT tablecache.create_cache('def_bad', 'SELECT id, name FROM def_items', ARRAY[]::text[], maintain => 'manual');
\echo SQLSTATE: :SQLSTATE
SELECT tablecache.create_index('def_cache', 'by_nothing', ARRAY[]::text[]);
\echo SQLSTATE: :SQLSTATE
SELECT tablecache.create_cache('def_bad', 'DELETE FROM def_items RETURNING id', ARRAY['id'], maintain => 'manual');
\echo SQLSTATE: :SQLSTATE
-- a query that does not parse or names an unknown table
SELECT tablecache.create_cache('def_bad', 'SELEC id FROM def_items', ARRAY['id'], maintain => 'manual');
\echo SQLSTATE: :SQLSTATE
SELECT tablecache.create_cache('def_bad', 'SELECT id FROM def_no_such_table', ARRAY['id'], maintain => 'manual');
\echo SQLSTATE: :SQLSTATE
-- none of the failed calls left anything behind
SELECT count(*) FROM tablecache.caches WHERE name = 'def_bad';
SELECT to_regtype('def_bad');
SELECT name, indexes FROM tablecache.caches WHERE name = 'def_cache';

-- a failed definition inside a transaction leaves nothing either, and a
-- cache created in a rolled-back transaction does not exist
BEGIN;
SELECT tablecache.create_cache('def_rolled_back', 'SELECT id FROM def_items', ARRAY['id'], maintain => 'manual');
ROLLBACK;
SELECT count(*) FROM tablecache.caches WHERE name = 'def_rolled_back';
SELECT to_regtype('def_rolled_back');
SELECT tablecache.create_cache('def_rolled_back', 'SELECT id FROM def_items', ARRAY['id'], maintain => 'manual');
SELECT tablecache.drop_cache('def_rolled_back');

-- a schema-qualified cache name puts the type in that schema
CREATE SCHEMA def_schema;
SELECT tablecache.create_cache('def_schema.def_in_schema', 'SELECT id, name FROM public.def_items', ARRAY['id'], maintain => 'manual');
SELECT typnamespace::regnamespace FROM pg_type WHERE oid = 'def_schema.def_in_schema'::regtype;
SELECT tablecache.load('def_schema.def_in_schema');
SELECT * FROM tablecache.get(NULL::def_schema.def_in_schema, 3);
SELECT tablecache.drop_cache('def_schema.def_in_schema');
SELECT to_regtype('def_schema.def_in_schema');
DROP SCHEMA def_schema;

-- ---- drop ------------------------------------------------------------------
SELECT tablecache.load('def_cache');
SELECT name, loaded, rows FROM tablecache.caches WHERE name = 'def_cache';
SELECT tablecache.drop_cache('def_cache');
SELECT count(*) FROM tablecache.caches WHERE name = 'def_cache';
SELECT count(*) FROM tablecache.stats WHERE cache = 'def_cache';
SELECT to_regtype('def_cache');
-- the name is free again
SELECT tablecache.create_cache('def_cache', 'SELECT id, name FROM def_items', ARRAY['id'], maintain => 'manual');
SELECT name, primary_key, indexes, loaded FROM tablecache.caches WHERE name = 'def_cache';
SELECT tablecache.drop_cache('def_cache');

-- the extension's memory view: one row, consistent
SELECT count(*), bool_and(total_bytes > 0), bool_and(used_bytes + free_bytes <= total_bytes)
FROM tablecache.memory;

DROP TABLE def_tags, def_items;
