-- Defines and loads the benchmark cache (run after generate.sql, with the
-- tablecache extension created in the database):
--   psql -f bench/data/cache.sql
-- The window is the 7 days before the data set's reference timestamp
-- (bench_meta.reference), so it always matches the generated data.
\set ON_ERROR_STOP on
SELECT reference AS ref FROM bench_meta \gset

SELECT tablecache.create_cache('recent_orders', $q$SELECT o.id, o.customer_id, o.created_at, o.amount, o.status, c.name AS customer_name, r.name AS region_name, p.title AS product_title, cat.name AS category_name, o.product_id FROM orders o JOIN customers c ON c.id = o.customer_id JOIN regions r ON r.id = c.region_id JOIN products p ON p.id = o.product_id JOIN categories cat ON cat.id = p.category_id$q$, ARRAY['id']);
SELECT tablecache.create_index('recent_orders', 'by_time', ARRAY['created_at']);
SELECT tablecache.create_index('recent_orders', 'by_customer', ARRAY['customer_id', 'created_at']);
SELECT tablecache.load('recent_orders', 'by_time', :'ref'::timestamptz - interval '7 days', :'ref'::timestamptz);
