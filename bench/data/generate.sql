-- Deterministic benchmark data for tablecache.
--
--   psql -v scale=0.02 -f bench/data/generate.sql            (default scale 1)
--   psql -v scale=1 -v ref="'2026-11-01 00:00:00+00'" ...     (reference timestamp)
--
-- scale 1 = 1,000,000 orders spread over the 30 days before the reference
-- timestamp, 100,000 customers, 1,000 regions, 10,000 products, 100
-- categories. Orders and customers scale linearly (at least 1,000 orders and
-- 100 customers). Every value is a function of the row number through
-- hashint8extended(i, seed): the same scale gives the same data on every run.
\set ON_ERROR_STOP on
\if :{?scale}
\else
\set scale 1
\endif
\if :{?ref}
\else
\set ref '2026-11-01 00:00:00+00'
\endif
\ir schema.sql

SELECT greatest(1000, round(1000000 * :scale::numeric))::bigint AS n_orders,
       greatest(100,  round(100000  * :scale::numeric))::bigint AS n_customers
\gset

-- h(i, seed) = a non-negative 63-bit hash of i
CREATE OR REPLACE FUNCTION pg_temp.h(i bigint, seed bigint) RETURNS bigint
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT hashint8extended(i, seed) & 9223372036854775807 $$;

INSERT INTO regions (id, name)
SELECT i, 'Region ' || i || ' ' || substr(md5('region' || i), 1, 6)
FROM generate_series(1, 1000) AS i;

INSERT INTO categories (id, name)
SELECT i, 'Category ' || i || ' ' || substr(md5('category' || i), 1, 8)
FROM generate_series(1, 100) AS i;

INSERT INTO products (id, title, category_id)
SELECT i,
       'Product ' || i || ' ' || substr(md5('product' || i), 1, 16),
       1 + pg_temp.h(i, 3) % 100
FROM generate_series(1, 10000) AS i;

INSERT INTO customers (id, name, region_id)
SELECT i,
       'Customer ' || i || ' ' || substr(md5('customer' || i), 1, 10),
       1 + pg_temp.h(i, 5) % 1000
FROM generate_series(1, :n_customers) AS i;

-- created_at: reference minus 1 ms .. 30 days (so always < reference and
-- >= reference - 30 days), millisecond resolution. Order ids increase with
-- created_at (as a sequence would assign them), so the orders of any time
-- window are one contiguous id range (the benchmark draws random ids inside
-- the cached window with pgbench's random(lo, hi)); the heap stays in
-- generation order (random in time).
INSERT INTO orders (id, customer_id, product_id, created_at, amount, status)
SELECT row_number() OVER (ORDER BY created_at, i), customer_id, product_id, created_at, amount, status
FROM (
    SELECT i,
           1 + pg_temp.h(i, 11) % :n_customers AS customer_id,
           1 + pg_temp.h(i, 13) % 10000 AS product_id,
           :'ref'::timestamptz - (1 + pg_temp.h(i, 17) % (30::bigint * 86400 * 1000)) * interval '1 millisecond' AS created_at,
           (100 + pg_temp.h(i, 19) % 99900) / 100.0 AS amount,
           (ARRAY['new', 'paid', 'paid', 'shipped', 'shipped', 'delivered', 'delivered', 'delivered', 'cancelled', 'returned'])
               [1 + pg_temp.h(i, 23) % 10] AS status
    FROM generate_series(1, :n_orders) AS i
) AS g
ORDER BY i;

INSERT INTO bench_meta VALUES (:scale::numeric, :'ref'::timestamptz, :n_orders, :n_customers);

-- Indexes: orders(id) is the primary key; created_at; (customer_id, created_at)
-- (which also serves the customer_id foreign key); every other foreign key.
CREATE INDEX orders_created_at_idx           ON orders (created_at);
CREATE INDEX orders_customer_created_at_idx  ON orders (customer_id, created_at);
CREATE INDEX orders_product_id_idx           ON orders (product_id);
CREATE INDEX customers_region_id_idx         ON customers (region_id);
CREATE INDEX products_category_id_idx        ON products (category_id);

ALTER TABLE customers ADD FOREIGN KEY (region_id)   REFERENCES regions (id);
ALTER TABLE products  ADD FOREIGN KEY (category_id) REFERENCES categories (id);
ALTER TABLE orders    ADD FOREIGN KEY (customer_id) REFERENCES customers (id);
ALTER TABLE orders    ADD FOREIGN KEY (product_id)  REFERENCES products (id);

VACUUM ANALYZE regions, categories, products, customers, orders, bench_meta;

SELECT scale, reference, n_orders, n_customers,
       (SELECT count(*) FROM orders WHERE created_at >= reference - interval '7 days'
                                      AND created_at <  reference) AS orders_in_7_day_window
FROM bench_meta;
