-- Benchmark contenders besides tablecache (run after generate.sql and cache.sql):
-- the materialized view of the same 7-day window with btree indexes on the
-- same keys, the window bounds as psql/pgbench variables, and helpers.
\set ON_ERROR_STOP on
SELECT reference - interval '7 days' AS ge, reference AS lt FROM bench_meta \gset

DROP MATERIALIZED VIEW IF EXISTS bench_mv;
-- The cache's query (bench/data/cache.sql) filtered to the window.
CREATE MATERIALIZED VIEW bench_mv AS
SELECT o.id, o.customer_id, o.created_at, o.amount, o.status, c.name AS customer_name,
       r.name AS region_name, p.title AS product_title, cat.name AS category_name, o.product_id
  FROM orders o JOIN customers c ON c.id = o.customer_id JOIN regions r ON r.id = c.region_id
  JOIN products p ON p.id = o.product_id JOIN categories cat ON cat.id = p.category_id
 WHERE o.created_at >= :'ge'::timestamptz AND o.created_at < :'lt'::timestamptz;
CREATE UNIQUE INDEX bench_mv_id ON bench_mv (id);
CREATE INDEX bench_mv_created_at ON bench_mv (created_at);
CREATE INDEX bench_mv_customer_created_at ON bench_mv (customer_id, created_at);
VACUUM ANALYZE bench_mv;

\ir window.sql
