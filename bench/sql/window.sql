-- Window facts the pgbench scripts and bench_w7 need (run after generate.sql): the
-- cache's 7-day window and, since ids increase with created_at, its id range.
\set ON_ERROR_STOP on
SELECT reference - interval '7 days' AS ge, reference AS lt FROM bench_meta \gset
DROP TABLE IF EXISTS bench_window;
CREATE TABLE bench_window AS
SELECT :'ge'::timestamptz AS ge, :'lt'::timestamptz AS lt,
       min(id) AS id_lo, max(id) AS id_hi, count(*) AS n_rows,
       extract(epoch FROM :'ge'::timestamptz)::bigint AS ge_s,
       extract(epoch FROM :'lt'::timestamptz)::bigint AS lt_s,
       -- seconds of window holding 100 rows on average
       greatest(1, round(100 * 7 * 86400 / count(*)::numeric))::bigint AS span_s
  FROM orders WHERE created_at >= :'ge'::timestamptz AND created_at < :'lt'::timestamptz;
SELECT * FROM bench_window;
