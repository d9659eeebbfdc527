--
-- types: every supported key type orders and compares exactly like its default
-- btree operator class (and collation); values come back intact; NULLs;
-- multi-column keys; TOASTed values.
--
\set VERBOSITY terse
SET client_min_messages = warning;
SET timezone = 'UTC';
SET datestyle = 'ISO, YMD';
SET extra_float_digits = 0;
-- pg_regress feeds this file on stdin, so \ir would be relative to its cwd
\getenv abs_srcdir PG_ABS_SRCDIR
\set typecheck :abs_srcdir '/sql/include/typecheck.psql'

\set typ smallint
\set vals '(0), (-32768), (32767), (1), (-1), (1), (7)'
\set ge '(-1)::smallint'
\set lt '(2)::smallint'
\i :typecheck

\set typ integer
\set vals '(0), (-2147483648), (2147483647), (42), (-42), (42), (7)'
\set ge '-42'
\set lt '43'
\i :typecheck

\set typ bigint
\set vals '(0), (-9223372036854775808), (9223372036854775807), (10), (-10), (10), (4294967296)'
\set ge '(-10)::bigint'
\set lt '4294967296::bigint'
\i :typecheck

-- numeric: trailing zeros are kept (1.0, 1.00 and 1 are equal keys but come
-- back as written), NaN sorts above everything, negative zero
\set typ numeric
\set vals '(''1.0''), (''1.00''), (''1''), (''-1.5''), (''-10''), (''NaN''), (''0''), (''-0.0''), (''123456789012345678901234567890.123''), (''1e-20''), (''-1e20''), (''2.50''), (''2.5'')'
\set ge '1::numeric'
\set lt '''NaN''::numeric'
\i :typecheck

\set typ real
\set vals '(''0''), (''-0''), (''NaN''), (''Infinity''), (''-Infinity''), (''1.5''), (''-1.5''), (''3.4028235e38''), (''1e-45'')'
\set ge '''-0''::real'
\set lt '''Infinity''::real'
\i :typecheck

\set typ 'double precision'
\set vals '(''0''), (''-0''), (''NaN''), (''Infinity''), (''-Infinity''), (''1.5''), (''-2.25''), (''1e308''), (''5e-324''), (''-0'')'
\set ge '''-0''::float8'
\set lt '''Infinity''::float8'
\i :typecheck

\set typ date
\set vals '(''2026-01-01''), (''-infinity''), (''infinity''), (''1999-12-31''), (''4713-01-01 BC''), (''2026-01-01''), (''2000-02-29'')'
\set ge 'date ''2000-01-01'''
\set lt 'date ''infinity'''
\i :typecheck

\set typ timestamp
\set vals '(''2026-01-01 00:00:00''), (''2026-01-01 00:00:00.000001''), (''-infinity''), (''infinity''), (''1970-01-01''), (''2025-12-31 23:59:59.999999'')'
\set ge 'timestamp ''2025-12-31 23:59:59.999999'''
\set lt 'timestamp ''2026-01-01 00:00:00.000001'''
\i :typecheck

-- timestamptz: the same instant written in two zones is one key
\set typ timestamptz
\set vals '(''2026-01-01 00:00:00+00''), (''2026-01-01 01:00:00+01''), (''2026-01-01 00:00:00.5+00''), (''-infinity''), (''infinity''), (''2000-02-29 12:00:00-08'')'
\set ge 'timestamptz ''2026-01-01 00:00:00+00'''
\set lt 'timestamptz ''2026-01-01 00:00:01+00'''
\i :typecheck

-- text and varchar in "C", in the libc collation en_US and de_DE, and in the
-- database's default collation: the cache orders like ORDER BY in the
-- column's collation
\set vals '(''a''), (''B''), (''b''), (''A''), (''ä''), (''Z''), (''z''), (''ab''), (''a b''), (''a-b''), (''''), (''Äpfel''), (''apfel''), (''10''), (''9'')'
\set typ 'text COLLATE "C"'
\set ge '''A''::text'
\set lt '''b''::text'
\i :typecheck
\set typ 'text COLLATE "en_US"'
\i :typecheck
\set typ 'text'
\i :typecheck
\set typ 'varchar(20) COLLATE "C"'
\set ge '''A''::varchar'
\set lt '''b''::varchar'
\i :typecheck
\set typ 'varchar(20) COLLATE "de_DE"'
\i :typecheck
-- the two collations really differ on these values
SELECT string_agg(k, ' | ' ORDER BY k COLLATE "C") AS c_order,
       string_agg(k, ' | ' ORDER BY k COLLATE "en_US") AS en_us_order
FROM (VALUES ('a'), ('B'), ('b'), ('A'), ('ä'), ('Z')) v(k);

\set typ uuid
\set vals '(''00000000-0000-0000-0000-000000000000''), (''ffffffff-ffff-ffff-ffff-ffffffffffff''), (''a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11''), (''0a0eebc9-9c0b-4ef8-bb6d-6bb9bd380a11''), (''80000000-0000-0000-0000-000000000000''), (''7fffffff-ffff-ffff-ffff-ffffffffffff'')'
\set ge '''0a0eebc9-9c0b-4ef8-bb6d-6bb9bd380a11''::uuid'
\set lt '''a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11''::uuid'
\i :typecheck

\set typ boolean
\set vals '(true), (false), (true), (false), (true)'
\set ge 'false'
\set lt 'true'
\i :typecheck

-- ---- multi-column keys -----------------------------------------------------
CREATE TABLE ty_multi (a int NOT NULL, b text COLLATE "en_US" NOT NULL, c timestamptz, d numeric,
                       PRIMARY KEY (a, b));
INSERT INTO ty_multi
SELECT i % 7, chr(65 + (i * 7) % 26) || chr(97 + i % 26), timestamptz '2026-01-01 00:00:00+00' + i * interval '1 hour', i / 4.0
FROM generate_series(1, 300) i
ON CONFLICT DO NOTHING;
SELECT tablecache.create_cache('ty_multi_c', 'SELECT a, b, c, d FROM ty_multi', ARRAY['a', 'b'], maintain => 'manual');
SELECT tablecache.create_index('ty_multi_c', 'by_b_a', ARRAY['b', 'a']);
SELECT tablecache.create_index('ty_multi_c', 'by_a_c', ARRAY['a', 'c']);
SELECT tablecache.load('ty_multi_c');
-- primary key (a, b): get with a row value
SELECT * FROM tablecache.get(NULL::ty_multi_c, ROW(3, 'Vd'));
SELECT tablecache.get(NULL::ty_multi_c, ROW(3, 'nope')) IS NULL AS absent;
SELECT bool_and(tablecache.get(NULL::ty_multi_c, ROW(t.a, t.b)) = t::text::ty_multi_c) AS every_row_intact
FROM ty_multi t;
-- whole-index order equals ORDER BY on those columns
SELECT (SELECT array_agg(ROW(r.a, r.b)::text) FROM tablecache.range(NULL::ty_multi_c, 'primary_key', NULL, NULL) r)
     = (SELECT array_agg(ROW(a, b)::text ORDER BY a, b) FROM ty_multi) AS pk_order,
       (SELECT array_agg(ROW(r.a, r.b)::text) FROM tablecache.range(NULL::ty_multi_c, 'by_b_a', NULL, NULL) r)
     = (SELECT array_agg(ROW(a, b)::text ORDER BY b, a) FROM ty_multi) AS b_a_order,
       (SELECT array_agg(ROW(r.a, r.b)::text) FROM tablecache.range(NULL::ty_multi_c, 'by_a_c', NULL, NULL) r)
     = (SELECT array_agg(ROW(a, b)::text ORDER BY a, c, b) FROM ty_multi) AS a_c_order;
-- bounded ranges equal the row comparison (a, b) >= ge AND (a, b) < lt
SELECT (SELECT array_agg(ROW(r.a, r.b)::text) FROM tablecache.range(NULL::ty_multi_c, 'primary_key', ROW(1, 'M'), ROW(3, 'C')) r)
     = (SELECT array_agg(ROW(a, b)::text ORDER BY a, b) FROM ty_multi WHERE (a, b) >= (1, 'M') AND (a, b) < (3, 'C')) AS pk_range,
       (SELECT array_agg(ROW(r.a, r.b)::text) FROM tablecache.range(NULL::ty_multi_c, 'by_b_a', ROW('b', 0), ROW('C', 4)) r)
     = (SELECT array_agg(ROW(a, b)::text ORDER BY b, a) FROM ty_multi WHERE (b, a) >= ('b', 0) AND (b, a) < ('C', 4)) AS b_a_range;
-- one customer-like prefix: a = 2 between two times
SELECT a, b, c FROM tablecache.range(NULL::ty_multi_c, 'by_a_c',
    ROW(2, timestamptz '2026-01-03 00:00:00+00'), ROW(2, timestamptz '2026-01-04 00:00:00+00'));
SELECT tablecache.drop_cache('ty_multi_c');
DROP TABLE ty_multi;

-- ---- NULLs -----------------------------------------------------------------
-- in non-key columns: returned as NULL; in an index key: the answer equals the
-- database's answer (compared with tablecache.enabled = off)
CREATE TABLE ty_null (id int PRIMARY KEY, k int, t text, n numeric);
INSERT INTO ty_null VALUES (1, 10, NULL, NULL), (2, NULL, 'x', 1.5), (3, 5, NULL, 2), (4, NULL, NULL, NULL), (5, 10, 'y', NULL);
SELECT tablecache.create_cache('ty_null_c', 'SELECT id, k, t, n FROM ty_null', ARRAY['id'], maintain => 'manual');
SELECT tablecache.create_index('ty_null_c', 'by_k', ARRAY['k']);
SELECT tablecache.load('ty_null_c');
SELECT id, k, t IS NULL AS t_null, n IS NULL AS n_null FROM tablecache.get(NULL::ty_null_c, 4);
SELECT * FROM tablecache.get(NULL::ty_null_c, 1);
CREATE TEMP TABLE ty_null_hit AS
    SELECT 'all' AS q, array_agg(id) AS ids FROM tablecache.range(NULL::ty_null_c, 'by_k', NULL, NULL)
    UNION ALL SELECT 'ge', array_agg(id) FROM tablecache.range(NULL::ty_null_c, 'by_k', 5, NULL)
    UNION ALL SELECT 'lt', array_agg(id) FROM tablecache.range(NULL::ty_null_c, 'by_k', NULL, 10)
    UNION ALL SELECT 'both', array_agg(id) FROM tablecache.range(NULL::ty_null_c, 'by_k', 5, 11);
SET tablecache.enabled = off;
CREATE TEMP TABLE ty_null_db AS
    SELECT 'all' AS q, array_agg(id) AS ids FROM tablecache.range(NULL::ty_null_c, 'by_k', NULL, NULL)
    UNION ALL SELECT 'ge', array_agg(id) FROM tablecache.range(NULL::ty_null_c, 'by_k', 5, NULL)
    UNION ALL SELECT 'lt', array_agg(id) FROM tablecache.range(NULL::ty_null_c, 'by_k', NULL, 10)
    UNION ALL SELECT 'both', array_agg(id) FROM tablecache.range(NULL::ty_null_c, 'by_k', 5, 11);
RESET tablecache.enabled;
SELECT h.q, h.ids AS cache_ids, d.ids AS db_ids, h.ids IS NOT DISTINCT FROM d.ids AS same
FROM ty_null_hit h JOIN ty_null_db d USING (q) ORDER BY h.q;
SELECT tablecache.drop_cache('ty_null_c');
-- a NULL in the primary key is refused at load (the cache stays unloaded)
INSERT INTO ty_null VALUES (6, 1, 'z', 0);
SELECT tablecache.create_cache('ty_null_pk', 'SELECT CASE WHEN id = 2 THEN NULL ELSE id END AS id, t FROM ty_null', ARRAY['id'], maintain => 'manual');
SELECT tablecache.load('ty_null_pk');
\echo SQLSTATE: :SQLSTATE
SELECT loaded, rows FROM tablecache.caches WHERE name = 'ty_null_pk';
SELECT tablecache.drop_cache('ty_null_pk');
DROP TABLE ty_null;

-- ---- TOASTed values --------------------------------------------------------
-- compressible (repeat) and hardly compressible (many md5s) big values, stored
-- out of line in the base table, come back intact from the cache
CREATE TABLE ty_toast (id int PRIMARY KEY, big text, small text);
INSERT INTO ty_toast
SELECT i, CASE WHEN i % 2 = 0 THEN repeat(md5(i::text), 10000)
               ELSE (SELECT string_agg(md5(i::text || '-' || j), '') FROM generate_series(1, 3000) j) END,
       'small ' || i
FROM generate_series(1, 6) i;
-- even ids compress well (stored compressed), odd ids hardly (stored out of line)
SELECT id, length(big), pg_column_size(big) AS stored_size FROM ty_toast ORDER BY id;
SELECT pg_relation_size(reltoastrelid) > 0 AS has_toast_data FROM pg_class WHERE oid = 'ty_toast'::regclass;
SELECT tablecache.create_cache('ty_toast_c', 'SELECT id, big, small FROM ty_toast', ARRAY['id'], maintain => 'manual');
SELECT tablecache.load('ty_toast_c');
SELECT r.id, length(r.big), md5(r.big) = md5(t.big) AS intact, r.small
FROM tablecache.range(NULL::ty_toast_c, 'primary_key', NULL, NULL) r JOIN ty_toast t USING (id) ORDER BY r.id;
SELECT md5((tablecache.get(NULL::ty_toast_c, 3)).big) = (SELECT md5(big) FROM ty_toast WHERE id = 3) AS get_intact;
-- the cached values stay intact after the base table's TOAST is rewritten
UPDATE ty_toast SET big = 'changed' WHERE id = 4;
VACUUM FULL ty_toast;
SELECT md5((tablecache.get(NULL::ty_toast_c, 4)).big) = md5(repeat(md5('4'), 10000)) AS stale_but_intact;
SELECT tablecache.drop_cache('ty_toast_c');
DROP TABLE ty_toast;
