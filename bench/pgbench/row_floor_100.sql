-- row floor for W2: 100 rows of the cached query's shape from a function scan (like a range
-- call), with no lookup and no copy of stored rows. Forming and sending 100 rows costs every
-- contender this much; no 100-row range can be faster.
\set id random(:id_lo, :id_hi)
SELECT :id::bigint + g AS id, 33517::bigint AS customer_id, '2026-10-25 00:00:01.354+00'::timestamptz AS created_at, 433.86::numeric AS amount, 'cancelled'::text AS status, 'Customer 33517 8999e23fa54654b272df7766e6de7b91'::text AS customer_name, 'Region 575 f2b7ef'::text AS region_name, 'Product 7267 f1e0df980e09293d'::text AS product_title, 'Category 36 88ede19a'::text AS category_name, 7267::bigint AS product_id FROM generate_series(1, 100) g;
