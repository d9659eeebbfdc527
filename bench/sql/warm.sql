-- Load every contender's relations into shared buffers.
\set ON_ERROR_STOP on
SELECT c.relname, pg_prewarm(c.oid) AS blocks
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = 'public' AND c.relkind IN ('r', 'i', 'm')
 ORDER BY 1;
