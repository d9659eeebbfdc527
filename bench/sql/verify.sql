-- Before timing: every contender must return the same rows (same order) for
-- sampled keys of each workload and for the whole window, and tablecache must
-- answer them from memory (no miss). Fails (ERROR) otherwise. psql -v samples=N
-- (default 200). Creates nothing (no temporary table or view): it runs on a hot
-- standby too (W9); the sampled results are kept in a session setting.
\set ON_ERROR_STOP on
\if :{?samples}
\else
\set samples 200
\endif
-- -v check_matview=0: skip the matview (stale after the W4 writes)
\if :{?check_matview}
\else
\set check_matview 1
\endif
-- -v allow_misses=1: reads may fall through to the database (invalidations pending)
\if :{?allow_misses}
\else
\set allow_misses 0
\endif
SELECT * FROM bench_window \gset
SELECT setseed(0.42);
SELECT tablecache.reset_stats();

WITH bench_join AS NOT MATERIALIZED (
SELECT o.id, o.customer_id, o.created_at, o.amount, o.status, c.name AS customer_name,
       r.name AS region_name, p.title AS product_title, cat.name AS category_name, o.product_id
  FROM orders o JOIN customers c ON c.id = o.customer_id JOIN regions r ON r.id = c.region_id
  JOIN products p ON p.id = o.product_id JOIN categories cat ON cat.id = p.category_id),
-- the keys, drawn in this order (one random() per sample)
w1_keys AS MATERIALIZED (
SELECT :id_lo + floor(random() * (:id_hi - :id_lo + 1))::bigint AS k FROM generate_series(1, :samples)),
w2_keys AS MATERIALIZED (
SELECT to_timestamp(s::float8) AS t0, to_timestamp((s + :span_s)::float8) AS t1
  FROM (SELECT :ge_s + floor(random() * (:lt_s - :span_s - :ge_s + 1))::bigint AS s
          FROM generate_series(1, :samples)) AS a),
w3_keys AS MATERIALIZED (
SELECT 1 + floor(random() * (SELECT n_customers FROM bench_meta))::bigint AS cid FROM generate_series(1, :samples)),
v AS (
-- W1
SELECT 'W1' AS w, k::text AS key,
       (SELECT md5(string_agg(x::text, '|' ORDER BY x.id)) FROM bench_join x WHERE x.id = k) AS j,
       (SELECT md5(string_agg(x::text, '|' ORDER BY x.id)) FROM bench_mv x WHERE x.id = k) AS m,
       (SELECT md5(string_agg(x::text, '|')) FROM tablecache.get(NULL::recent_orders, k) x) AS t,
       1::bigint AS n
  FROM w1_keys
UNION ALL
-- W2
SELECT 'W2', t0::text,
       (SELECT md5(string_agg(x::text, '|' ORDER BY x.created_at, x.id)) FROM bench_join x WHERE x.created_at >= t0 AND x.created_at < t1),
       (SELECT md5(string_agg(x::text, '|' ORDER BY x.created_at, x.id)) FROM bench_mv x WHERE x.created_at >= t0 AND x.created_at < t1),
       (SELECT md5(string_agg(x::text, '|')) FROM tablecache.range(NULL::recent_orders, 'by_time', t0, t1) x),
       (SELECT count(*) FROM bench_mv x WHERE x.created_at >= t0 AND x.created_at < t1)
  FROM w2_keys
UNION ALL
-- W3
SELECT 'W3', cid::text,
       (SELECT md5(string_agg(x::text, '|' ORDER BY x.created_at, x.id)) FROM bench_join x
         WHERE x.customer_id = cid AND x.created_at >= :'ge'::timestamptz AND x.created_at < :'lt'::timestamptz),
       (SELECT md5(string_agg(x::text, '|' ORDER BY x.created_at, x.id)) FROM bench_mv x
         WHERE x.customer_id = cid AND x.created_at >= :'ge'::timestamptz AND x.created_at < :'lt'::timestamptz),
       (SELECT md5(string_agg(x::text, '|')) FROM tablecache.range(NULL::recent_orders, 'by_customer',
                ROW(cid, :'ge'::timestamptz), ROW(cid, :'lt'::timestamptz)) x),
       (SELECT count(*) FROM bench_mv x
         WHERE x.customer_id = cid AND x.created_at >= :'ge'::timestamptz AND x.created_at < :'lt'::timestamptz)
  FROM w3_keys
UNION ALL
-- the whole window, in the by_time index's order
SELECT 'window', '[' || :'ge' || ', ' || :'lt' || ')',
       (SELECT md5(string_agg(x::text, '|' ORDER BY x.created_at, x.id)) FROM bench_join x
         WHERE x.created_at >= :'ge'::timestamptz AND x.created_at < :'lt'::timestamptz),
       (SELECT md5(string_agg(x::text, '|' ORDER BY x.created_at, x.id)) FROM bench_mv x),
       (SELECT md5(string_agg(x::text, '|')) FROM tablecache.range(NULL::recent_orders, 'by_time',
                :'ge'::timestamptz, :'lt'::timestamptz) x),
       (SELECT count(*) FROM bench_join x
         WHERE x.created_at >= :'ge'::timestamptz AND x.created_at < :'lt'::timestamptz))
SELECT set_config('bench.verify', (SELECT json_agg(v)::text FROM v), false) IS NOT NULL AS sampled;

SELECT w, count(*) AS samples,
       count(*) FILTER (WHERE j IS DISTINCT FROM m) AS join_ne_matview,
       count(*) FILTER (WHERE j IS DISTINCT FROM t) AS join_ne_tablecache,
       count(*) FILTER (WHERE j IS NULL) AS empty,
       round(avg(n), 1) AS avg_rows
  FROM json_to_recordset(current_setting('bench.verify')::json) AS v(w text, key text, j text, m text, t text, n bigint)
 GROUP BY w ORDER BY w;
SELECT hits, misses FROM tablecache.stats WHERE cache = 'recent_orders' \gset
\echo tablecache hits :hits misses :misses
SELECT :check_matview::int AS check_matview \gset
SET bench.check_matview = :'check_matview';
SET bench.allow_misses = :'allow_misses';
DO $$
DECLARE bad bigint; ms bigint;
BEGIN
  SELECT count(*) INTO bad
    FROM json_to_recordset(current_setting('bench.verify')::json) AS v(w text, key text, j text, m text, t text, n bigint)
   WHERE j IS DISTINCT FROM t OR (current_setting('bench.check_matview') = '1' AND j IS DISTINCT FROM m);
  IF bad > 0 THEN
    RAISE EXCEPTION 'verify: % sampled lookups differ between contenders (see table above)', bad;
  END IF;
  SELECT misses INTO ms FROM tablecache.stats WHERE cache = 'recent_orders';
  IF ms > 0 AND current_setting('bench.allow_misses') <> '1' THEN
    RAISE EXCEPTION 'verify: tablecache answered % sampled lookups from the database (misses), expected 0', ms;
  END IF;
END $$;
\echo verify: OK
