-- Run by scripts/demo.sh (psql -e echoes every statement).
\set ON_ERROR_STOP on
\pset pager off
SELECT reference AS ref FROM bench_meta \gset
SELECT id AS order_id, customer_id AS cust FROM orders
 WHERE created_at >= :'ref'::timestamptz - interval '1 day' ORDER BY id LIMIT 1 \gset
SELECT id AS old_order FROM orders
 WHERE created_at < :'ref'::timestamptz - interval '10 days' ORDER BY id LIMIT 1 \gset
\timing on

\echo
\echo '-- The cache, its window (the last 7 days) and the shared memory it uses'
SELECT name, indexes, window_index, window_ge, window_lt, loaded, rows, pg_size_pretty(bytes) AS size
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
\echo '-- An hour passes: 50 new orders arrive, and the window moves forward by one hour'
INSERT INTO orders (id, customer_id, product_id, created_at, amount, status)
SELECT (SELECT max(id) FROM orders) + i, 1 + i, 1 + i, :'ref'::timestamptz + i * interval '1 minute', 10.00 + i, 'new'
  FROM generate_series(1, 50) i;
SELECT tablecache.adjust('recent_orders', 'by_time',
                         :'ref'::timestamptz - interval '7 days' + interval '1 hour',
                         :'ref'::timestamptz + interval '1 hour') AS rows_loaded;
SELECT name, window_ge, window_lt, rows FROM tablecache.caches;
SELECT cache, hits, misses, loads, adjustments, rows_loaded, rows_expired FROM tablecache.stats;
