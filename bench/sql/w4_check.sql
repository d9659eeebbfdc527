-- W4's check (scripts/bench.sh): writes the timed scripts do not make, run with only the
-- self-maintained cache's own triggers; verify.sql then compares tablecache with the join.
-- Every statement is its own transaction, each under the bulk limit (2000 keys): the cache
-- must follow them key by key. Orders move only inside the window, and only new orders are
-- deleted, so that every id between id_lo and id_hi stays a cached order (verify.sql's W1
-- samples must be answered from memory).
\set ON_ERROR_STOP on
SELECT * FROM bench_window \gset
SELECT n_customers FROM bench_meta \gset
SELECT max(id) AS max_id FROM orders \gset
SELECT setseed(0.17);

-- new orders inside the window (ids above every existing one)
INSERT INTO orders (id, customer_id, product_id, created_at, amount, status)
SELECT :max_id + i, 1 + (i * 7919) % :n_customers, 1 + (i * 104729) % 10000,
       :'ge'::timestamptz + (:'lt'::timestamptz - :'ge'::timestamptz) * random(), 12.34, 'new'
  FROM generate_series(1, 60) AS i;
-- half of them deleted again
DELETE FROM orders WHERE id > :max_id AND id % 2 = 0;
-- orders that change customer (by_customer keys move) and product
UPDATE orders SET customer_id = 1 + customer_id % :n_customers, product_id = 1 + product_id % 10000
 WHERE id IN (SELECT :id_lo + floor(random() * (:id_hi - :id_lo + 1))::bigint FROM generate_series(1, 40));
-- orders that move inside the window (by_time keys move)
UPDATE orders SET created_at = :'ge'::timestamptz + (:'lt'::timestamptz - :'ge'::timestamptz) * random()
 WHERE id IN (SELECT :id_lo + floor(random() * (:id_hi - :id_lo + 1))::bigint FROM generate_series(1, 40));
-- a new order that joins the window, then leaves it (its id stays outside id_lo..id_hi)
INSERT INTO orders VALUES (:max_id + 1000, 1, 1, :'lt'::timestamptz - interval '1 second', 1.00, 'new');
UPDATE orders SET created_at = :'ge'::timestamptz - interval '1 day' WHERE id = :max_id + 1000;
-- customers that move to another region, products to another category
UPDATE customers SET region_id = 1 + region_id % 1000
 WHERE id IN (SELECT 1 + floor(random() * :n_customers)::bigint FROM generate_series(1, 40));
UPDATE products SET category_id = 1 + category_id % 100
 WHERE id IN (SELECT 1 + floor(random() * 10000)::int FROM generate_series(1, 20));
-- a renamed category (the fifth table: no timed script writes it)
UPDATE categories SET name = name || ' *' WHERE id IN (3, 57);
-- several tables in one transaction
BEGIN;
UPDATE regions SET name = name || ' +' WHERE id = 7;
UPDATE customers SET name = name || ' +' WHERE id = 1 + 11 % :n_customers;
UPDATE orders SET status = 'returned' WHERE id = :id_lo;
COMMIT;
