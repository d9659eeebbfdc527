-- W2 100-row time range on by_time: [t0, t0 + span_s) seconds, inside the window.
\set t0 random(:ge_s, :lt_s - :span_s)
\set t1 :t0 + :span_s
SELECT o.id, o.customer_id, o.created_at, o.amount, o.status, c.name AS customer_name, r.name AS region_name, p.title AS product_title, cat.name AS category_name, o.product_id FROM orders o JOIN customers c ON c.id = o.customer_id JOIN regions r ON r.id = c.region_id JOIN products p ON p.id = o.product_id JOIN categories cat ON cat.id = p.category_id WHERE o.created_at >= to_timestamp(:t0::float8) AND o.created_at < to_timestamp(:t1::float8) ORDER BY o.created_at, o.id;
