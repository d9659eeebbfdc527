--
-- window: load / adjust / get / range / covers; reads outside the window fall
-- through to the database; hit and miss counts; state and argument errors.
--
\set VERBOSITY terse
SET client_min_messages = warning;

CREATE TABLE win_t (k int PRIMARY KEY, grp int NOT NULL, v text);
-- keys 0..1999 except 777 (a hole inside the window)
INSERT INTO win_t SELECT i, i % 10, 'v' || i FROM generate_series(0, 1999) i WHERE i <> 777;
SELECT tablecache.create_cache('win_c', 'SELECT k, grp, v FROM win_t', ARRAY['k'], maintain => 'manual');
SELECT tablecache.create_index('win_c', 'by_grp', ARRAY['grp', 'k']);
SELECT tablecache.reset_stats();

-- before load every read is answered by the database (and is correct)
SELECT * FROM tablecache.get(NULL::win_c, 5);
SELECT count(*), min(k), max(k) FROM tablecache.range(NULL::win_c, 'primary_key', 10, 20);
SELECT tablecache.covers('win_c', 'primary_key', 10, 20);
SELECT hits, misses FROM tablecache.stats WHERE cache = 'win_c';

-- load [0, 1000)
SELECT tablecache.load('win_c', 'primary_key', 0, 1000);
SELECT name, window_index, window_ge, window_lt, loaded, rows FROM tablecache.caches WHERE name = 'win_c';
SELECT loads, rows_loaded, rows_expired FROM tablecache.stats WHERE cache = 'win_c';

-- 55000: load of a loaded cache
SELECT tablecache.load('win_c', 'primary_key', 0, 1000);
\echo SQLSTATE: :SQLSTATE

-- covers
SELECT tablecache.covers('win_c', 'primary_key', 0, 1000) AS whole,
       tablecache.covers('win_c', 'primary_key', 100, 200) AS inside,
       tablecache.covers('win_c', 'primary_key', 999, 1000) AS last_one,
       tablecache.covers('win_c', 'primary_key', 900, 1100) AS straddles,
       tablecache.covers('win_c', 'primary_key', 1000, 1001) AS just_after,
       tablecache.covers('win_c', 'primary_key', -1, 5) AS just_before,
       tablecache.covers('win_c', 'primary_key', NULL, 10) AS unbounded_below,
       tablecache.covers('win_c', 'primary_key', 10, NULL) AS unbounded_above,
       tablecache.covers('win_c', 'primary_key') AS everything,
       tablecache.covers('win_c', 'by_grp', ROW(1, 0), ROW(2, 0)) AS other_index;

-- reads inside the window: hits
SELECT tablecache.reset_stats();
SELECT * FROM tablecache.get(NULL::win_c, 0);
SELECT * FROM tablecache.get(NULL::win_c, 999);
SELECT * FROM tablecache.range(NULL::win_c, 'primary_key', 495, 505);
SELECT count(*), min(k), max(k) FROM tablecache.range(NULL::win_c, 'primary_key', 0, 1000);
-- a key inside the window that has no row: NULL, still a hit
SELECT tablecache.get(NULL::win_c, 777) IS NULL AS inside_and_absent;
SELECT hits, misses FROM tablecache.stats WHERE cache = 'win_c';

-- reads outside the window: answered by the database, exactly
SELECT tablecache.reset_stats();
SELECT * FROM tablecache.get(NULL::win_c, 1500);
SELECT tablecache.get(NULL::win_c, 5000) IS NULL AS absent;
SELECT * FROM tablecache.range(NULL::win_c, 'primary_key', 995, 1005);
SELECT count(*), min(k), max(k) FROM tablecache.range(NULL::win_c, 'primary_key', 900, 1100);
SELECT count(*), min(k), max(k) FROM tablecache.range(NULL::win_c, 'primary_key', NULL, NULL);
-- ranges on another index than the window's, by (grp, k): grp = 3 with
-- k in [0, 100) lies inside the window on k (a hit may be served); grp = 3
-- with k in [900, 1100) does not (from the database, all 20 rows)
SELECT tablecache.covers('win_c', 'by_grp', ROW(3, 0), ROW(3, 100)) AS inside,
       tablecache.covers('win_c', 'by_grp', ROW(3, 900), ROW(3, 1100)) AS straddles;
SELECT * FROM tablecache.range(NULL::win_c, 'by_grp', ROW(3, 0), ROW(3, 100));
SELECT count(*), min(k), max(k) FROM tablecache.range(NULL::win_c, 'by_grp', ROW(3, 900), ROW(3, 1100));
SELECT hits, misses FROM tablecache.stats WHERE cache = 'win_c';

-- every row and the order are exactly the query's
SELECT (SELECT array_agg(r) FROM tablecache.range(NULL::win_c, 'primary_key', 0, 1000) r)
     = (SELECT array_agg(ROW(k, grp, v)::win_c ORDER BY k) FROM win_t WHERE k >= 0 AND k < 1000) AS same_rows;

-- tablecache.enabled = off: every read goes to the database
SELECT tablecache.reset_stats();
SET tablecache.enabled = off;
SELECT * FROM tablecache.get(NULL::win_c, 10);
SELECT count(*) FROM tablecache.range(NULL::win_c, 'primary_key', 0, 100);
RESET tablecache.enabled;
SELECT hits, misses FROM tablecache.stats WHERE cache = 'win_c';

-- adjust to [500, 1500): 500 rows enter (fetched), 500 leave
SELECT tablecache.reset_stats();
SELECT tablecache.adjust('win_c', 'primary_key', 500, 1500);
SELECT name, window_index, window_ge, window_lt, loaded, rows FROM tablecache.caches WHERE name = 'win_c';
SELECT adjustments, rows_loaded, rows_expired FROM tablecache.stats WHERE cache = 'win_c';
SELECT tablecache.covers('win_c', 'primary_key', 0, 1000) AS old_window,
       tablecache.covers('win_c', 'primary_key', 500, 1500) AS new_window;
SELECT tablecache.reset_stats();
SELECT * FROM tablecache.get(NULL::win_c, 100);     -- now outside: miss
SELECT * FROM tablecache.get(NULL::win_c, 1200);    -- now inside: hit
SELECT count(*), min(k), max(k) FROM tablecache.range(NULL::win_c, 'primary_key', 500, 1500);
SELECT hits, misses FROM tablecache.stats WHERE cache = 'win_c';

-- adjust to everything: the other half of the table enters
SELECT tablecache.adjust('win_c', 'primary_key', NULL, NULL);
SELECT window_ge, window_lt, rows FROM tablecache.caches WHERE name = 'win_c';
SELECT tablecache.covers('win_c', 'primary_key') AS everything,
       tablecache.covers('win_c', 'by_grp', ROW(1, 0), ROW(2, 0)) AS other_index;
SELECT tablecache.reset_stats();
SELECT * FROM tablecache.range(NULL::win_c, 'by_grp', ROW(3, 0), ROW(3, 100));
SELECT hits, misses FROM tablecache.stats WHERE cache = 'win_c';
-- adjust to an empty window
SELECT tablecache.adjust('win_c', 'primary_key', 5000, 6000);
SELECT window_ge, window_lt, loaded, rows FROM tablecache.caches WHERE name = 'win_c';
-- and back
SELECT tablecache.adjust('win_c', 'primary_key', 0, 10);
SELECT * FROM tablecache.range(NULL::win_c, 'primary_key', NULL, 10);

-- ---- argument errors -------------------------------------------------------
-- 22023: ge > lt
SELECT tablecache.adjust('win_c', 'primary_key', 10, 5);
\echo SQLSTATE: :SQLSTATE
SELECT count(*) FROM tablecache.range(NULL::win_c, 'primary_key', 10, 5);
\echo SQLSTATE: :SQLSTATE
SELECT tablecache.covers('win_c', 'primary_key', 10, 5);
\echo SQLSTATE: :SQLSTATE
-- ge = lt is an empty interval, not an error
SELECT count(*) FROM tablecache.range(NULL::win_c, 'primary_key', 5, 5);
-- 42704: unknown cache / index; a row type that is not a cache
SELECT tablecache.adjust('no_such_cache', 'primary_key', 0, 10);
\echo SQLSTATE: :SQLSTATE
SELECT * FROM tablecache.range(NULL::win_c, 'no_such_index', 0, 10);
\echo SQLSTATE: :SQLSTATE
SELECT * FROM tablecache.get(NULL::win_t, 1);
\echo SQLSTATE: :SQLSTATE
-- 42804: key of the wrong type
SELECT * FROM tablecache.get(NULL::win_c, '2026-01-01'::date);
\echo SQLSTATE: :SQLSTATE
-- a text key is read by the key type's input function: 22P02 when it is not
-- a valid value, the row when it is
SELECT * FROM tablecache.get(NULL::win_c, 'abc'::text);
\echo SQLSTATE: :SQLSTATE
SELECT * FROM tablecache.get(NULL::win_c, '7'::text);
SELECT * FROM tablecache.range(NULL::win_c, 'primary_key', '2026-01-01'::date, NULL);
\echo SQLSTATE: :SQLSTATE
-- the cache is intact after the errors
SELECT window_ge, window_lt, loaded, rows FROM tablecache.caches WHERE name = 'win_c';
SELECT count(*) FROM tablecache.range(NULL::win_c, 'primary_key', 0, 10);
SELECT tablecache.drop_cache('win_c');

-- a window on a non-primary index
SELECT tablecache.create_cache('win_g', 'SELECT k, grp, v FROM win_t', ARRAY['k'], maintain => 'manual');
SELECT tablecache.create_index('win_g', 'by_grp', ARRAY['grp', 'k']);
SELECT tablecache.load('win_g', 'by_grp', ROW(2, 0), ROW(4, 0));
SELECT window_index, rows FROM tablecache.caches WHERE name = 'win_g';
SELECT tablecache.covers('win_g', 'by_grp', ROW(2, 0), ROW(3, 500)) AS inside,
       tablecache.covers('win_g', 'by_grp', ROW(3, 0), ROW(4, 1)) AS straddles;
SELECT tablecache.reset_stats();
SELECT count(*), min(k), max(k) FROM tablecache.range(NULL::win_g, 'by_grp', ROW(3, 100), ROW(3, 200));
SELECT * FROM tablecache.get(NULL::win_g, 12);   -- grp 2: in the window
SELECT * FROM tablecache.get(NULL::win_g, 15);   -- grp 5: not in the window
SELECT hits, misses FROM tablecache.stats WHERE cache = 'win_g';
SELECT tablecache.drop_cache('win_g');

-- ---- 23505: two rows with the same primary key at load ---------------------
CREATE TABLE win_dup (a int, b text);
INSERT INTO win_dup VALUES (1, 'x'), (2, 'y'), (1, 'z');
SELECT tablecache.create_cache('win_dup_c', 'SELECT a, b FROM win_dup', ARRAY['a'], maintain => 'manual');
SELECT tablecache.load('win_dup_c');
\echo SQLSTATE: :SQLSTATE
-- nothing was cached; the cache can be loaded once the data is fixed
SELECT loaded, rows FROM tablecache.caches WHERE name = 'win_dup_c';
DELETE FROM win_dup WHERE b = 'z';
SELECT tablecache.load('win_dup_c', 'primary_key', 0, 3);
SELECT * FROM tablecache.range(NULL::win_dup_c, 'primary_key', 0, 3);
-- duplicates that enter by adjust are refused too
INSERT INTO win_dup VALUES (5, 'p'), (5, 'q');
SELECT tablecache.adjust('win_dup_c', 'primary_key', 0, 10);
\echo SQLSTATE: :SQLSTATE
SELECT tablecache.drop_cache('win_dup_c');

DROP TABLE win_dup, win_t;
