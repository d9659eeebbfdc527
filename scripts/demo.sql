-- Run by scripts/demo.sh (psql -e echoes every statement), after bench/data/cache.sql has
-- defined and loaded the cache recent_orders (self-maintained: no trigger written by hand).
\set ON_ERROR_STOP on
\pset pager off
SELECT reference AS ref FROM bench_meta \gset
SELECT id AS order_id, customer_id AS cust, product_id AS prod FROM orders
 WHERE created_at >= :'ref'::timestamptz - interval '1 day' ORDER BY id LIMIT 1 \gset
SELECT region_id AS reg FROM customers WHERE id = :cust \gset
SELECT id AS old_order FROM orders
 WHERE created_at < :'ref'::timestamptz - interval '10 days' ORDER BY id LIMIT 1 \gset
\timing on

\echo
\echo '-- The cache, its window (the last 7 days) and the shared memory it uses'
SELECT name, maintain, indexes, window_index, window_ge, window_lt, loaded, rows, pg_size_pretty(bytes) AS size
  FROM tablecache.caches;
SELECT pg_size_pretty(total_bytes) AS total, pg_size_pretty(used_bytes) AS used, pg_size_pretty(free_bytes) AS free
  FROM tablecache.memory;
SELECT tablecache.reset_stats();

\echo
\echo '-- Point lookup by primary key (an order of the last day): served from memory'
SELECT * FROM tablecache.get(NULL::recent_orders, :order_id::bigint);

\echo
\echo '-- The 10 first orders of the last hour, on the index by_time'
SELECT id, created_at, amount, status, customer_name, region_name, product_title
  FROM tablecache.range(NULL::recent_orders, 'by_time',
                        :'ref'::timestamptz - interval '1 hour', :'ref'::timestamptz)
 LIMIT 10;

\echo
\echo '-- One customer''s orders of the last 7 days, on the index by_customer (customer_id, created_at)'
SELECT id, created_at, amount, product_title, category_name
  FROM tablecache.range(NULL::recent_orders, 'by_customer',
                        ROW(:cust::bigint, :'ref'::timestamptz - interval '7 days'),
                        ROW(:cust::bigint, :'ref'::timestamptz));

\echo
\echo '-- Is a range inside the cached window?'
SELECT tablecache.covers('recent_orders', 'by_time', :'ref'::timestamptz - interval '1 day', :'ref'::timestamptz) AS last_day,
       tablecache.covers('recent_orders', 'by_time', :'ref'::timestamptz - interval '10 days', :'ref'::timestamptz - interval '9 days') AS ten_days_ago;

\echo
\echo '-- Reads outside the window fall through to the database, with the same answer'
SELECT id, created_at, amount, customer_name FROM tablecache.get(NULL::recent_orders, :old_order::bigint);
SELECT id, created_at, amount, customer_name
  FROM tablecache.range(NULL::recent_orders, 'by_time',
                        :'ref'::timestamptz - interval '10 days', :'ref'::timestamptz - interval '10 days' + interval '1 hour')
 LIMIT 3;

\echo
\echo '-- Hits (served from memory) and misses (answered by the database)'
SELECT cache, hits, misses, loads, adjustments, rows_loaded, rows_expired FROM tablecache.stats;

\echo
\echo '-- The cache maintains itself (maintain => ''auto'', the default of create_cache): its base'
\echo '-- tables, how a change of each finds the cached rows it affects, and the triggers it installed'
SELECT base_table, how FROM tablecache.dependencies WHERE cache = 'recent_orders';
SELECT tgrelid::regclass AS base_table, tgname AS trigger, tgenabled = 'A' AS enabled_always
  FROM pg_trigger WHERE tgname LIKE 'tablecache\_%' ORDER BY tgrelid::regclass::text, tgname;
SELECT tablecache.reset_stats();

\echo
\echo '-- A product is renamed: the next read shows the new title'
SELECT id, product_title, category_name FROM tablecache.get(NULL::recent_orders, :order_id::bigint);
UPDATE products SET title = 'Renamed product ' || id WHERE id = :prod;
SELECT id, product_title, category_name FROM tablecache.get(NULL::recent_orders, :order_id::bigint);

\echo
\echo '-- A region is renamed: the cached orders of its customers show the new name'
SELECT id, customer_name, region_name
  FROM tablecache.range(NULL::recent_orders, 'by_customer',
                        ROW(:cust::bigint, :'ref'::timestamptz - interval '7 days'),
                        ROW(:cust::bigint, :'ref'::timestamptz));
UPDATE regions SET name = 'Renamed region ' || id WHERE id = :reg;
SELECT id, customer_name, region_name
  FROM tablecache.range(NULL::recent_orders, 'by_customer',
                        ROW(:cust::bigint, :'ref'::timestamptz - interval '7 days'),
                        ROW(:cust::bigint, :'ref'::timestamptz));

\echo
\echo '-- Each UPDATE committed one invalidation; the next read refreshed the rows it names (re-read'
\echo '-- from the database: rows_loaded) and was answered from memory: every read above is a hit'
SELECT cache, hits, misses, refreshes, invalidations, rows_loaded FROM tablecache.stats;

\echo
\echo '-- An hour passes: 50 new orders arrive (the installed trigger invalidates their ids), and the'
\echo '-- window moves forward by one hour: only the new hour is read, the oldest hour expires'
INSERT INTO orders (id, customer_id, product_id, created_at, amount, status)
SELECT (SELECT max(id) FROM orders) + i, 1 + i, 1 + i, :'ref'::timestamptz + i * interval '1 minute', 10.00 + i, 'new'
  FROM generate_series(1, 50) i;
SELECT tablecache.adjust('recent_orders', 'by_time',
                         :'ref'::timestamptz - interval '7 days' + interval '1 hour',
                         :'ref'::timestamptz + interval '1 hour') AS rows_loaded;
SELECT name, window_ge, window_lt, rows FROM tablecache.caches;
SELECT cache, hits, misses, refreshes, invalidations, loads, adjustments, rows_loaded, rows_expired FROM tablecache.stats;
