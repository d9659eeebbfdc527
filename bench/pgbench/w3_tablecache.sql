-- W3 one customer's orders in the window on by_customer (customer_id prefix + time range).
\set cid random(1, :n_customers)
SELECT * FROM tablecache.range(NULL::recent_orders, 'by_customer', ROW(:cid::bigint, :ge::timestamptz), ROW(:cid::bigint, :lt::timestamptz));
