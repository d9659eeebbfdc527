-- W1 point lookup by order id, a random order of the cached window.
-- Variables (pgbench -D): id_lo id_hi (window ids), ge lt (window), ge_s lt_s span_s, n_customers.
\set id random(:id_lo, :id_hi)
SELECT o.id, o.customer_id, o.created_at, o.amount, o.status, c.name AS customer_name, r.name AS region_name, p.title AS product_title, cat.name AS category_name, o.product_id FROM orders o JOIN customers c ON c.id = o.customer_id JOIN regions r ON r.id = c.region_id JOIN products p ON p.id = o.product_id JOIN categories cat ON cat.id = p.category_id WHERE o.id = :id::bigint;
