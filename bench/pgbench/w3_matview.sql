-- W3 one customer's orders in the window on by_customer (customer_id prefix + time range).
\set cid random(1, :n_customers)
SELECT * FROM bench_mv WHERE customer_id = :cid::bigint AND created_at >= :ge::timestamptz AND created_at < :lt::timestamptz ORDER BY created_at, id;
