-- W1 point lookup by order id, a random order of the cached window.
-- Variables (pgbench -D): id_lo id_hi (window ids), ge lt (window), ge_s lt_s span_s, n_customers.
\set id random(:id_lo, :id_hi)
SELECT * FROM bench_mv WHERE id = :id::bigint;
