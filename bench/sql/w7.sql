-- W7: in-backend cost. bench_w7(what, n) runs n lookups and returns µs per
-- lookup (wall clock inside the backend). Keys: deterministic spread over the
-- window ((i * 7919) mod size). Kinds:
--   loop_sql        SELECT over generate_series computing the key only (the statement loop)
--   get_sql         tablecache.get in that loop, inside one statement (no SPI)
--   range_sql       100-row tablecache.range (by_time) in that loop, inside one statement
--   customer_sql    one customer's orders in the window (W3's shape: by_customer, a prefix and a
--                   time range) in that loop
--   loop_plpgsql    PL/pgSQL FOR loop computing the key only
--   get_expr        PL/pgSQL r := tablecache.get(...) (simple expression, no SPI)
--   get_tc_spi      PL/pgSQL SELECT * INTO v_r FROM tablecache.get(...) (SPI)
--   get_mv_spi      PL/pgSQL SELECT * INTO v_r FROM bench_mv WHERE id = k (SPI)
--   get_join_spi    PL/pgSQL SELECT ... INTO v_r FROM <join> WHERE o.id = k (SPI)
--   range_tc_spi    PL/pgSQL SELECT count(amount) INTO v_c FROM tablecache.range(...) (SPI)
--   range_mv_spi    ... FROM bench_mv WHERE created_at in [t0, t1) ORDER BY created_at, id (SPI)
--   range_join_spi  ... FROM <join> WHERE created_at in [t0, t1) ORDER BY created_at, id (SPI)
-- The function raises if a lookup finds nothing (all keys are in the window).
\set ON_ERROR_STOP on
CREATE OR REPLACE FUNCTION bench_w7(what text, n int) RETURNS float8
LANGUAGE plpgsql AS $fn$
DECLARE
    w bench_window;
    t_start timestamptz;
    k bigint;
    v_c bigint := 0;
    tot bigint := 0;
    v_r record;
    rr recent_orders;
    nsec bigint;
    t0 timestamptz;
    t1 timestamptz;
BEGIN
    SELECT * INTO w FROM bench_window;
    nsec := w.lt_s - w.ge_s - w.span_s;
    t_start := clock_timestamp();
    CASE what
    WHEN 'loop_sql' THEN
        SELECT count(w.id_lo + (g::bigint * 7919) % (w.id_hi - w.id_lo + 1)) INTO tot
          FROM generate_series(1, n) g;
    WHEN 'get_sql' THEN
        SELECT count((tablecache.get(NULL::recent_orders, w.id_lo + (g::bigint * 7919) % (w.id_hi - w.id_lo + 1))).id) INTO tot
          FROM generate_series(1, n) g;
    WHEN 'range_sql' THEN
        SELECT count(x.amount) INTO tot
          FROM generate_series(1, n) g,
               LATERAL (SELECT w.ge + ((g::bigint * 7919) % nsec) * interval '1 second' AS t0) b,
               LATERAL tablecache.range(NULL::recent_orders, 'by_time', b.t0, b.t0 + w.span_s * interval '1 second') x;
    WHEN 'customer_sql' THEN
        SELECT count(y.c) INTO tot
          FROM generate_series(1, n) g,
               LATERAL (SELECT 1 + (g::bigint * 7919) % (SELECT n_customers FROM bench_meta) AS cust) b,
               LATERAL (SELECT count(x.id) AS c
                          FROM tablecache.range(NULL::recent_orders, 'by_customer',
                                                ROW(b.cust, w.ge), ROW(b.cust, w.lt)) x) y;
    WHEN 'loop_plpgsql' THEN
        FOR i IN 1..n LOOP
            k := w.id_lo + (i::bigint * 7919) % (w.id_hi - w.id_lo + 1);
            tot := tot + 1;
        END LOOP;
    WHEN 'get_expr' THEN
        FOR i IN 1..n LOOP
            k := w.id_lo + (i::bigint * 7919) % (w.id_hi - w.id_lo + 1);
            rr := tablecache.get(NULL::recent_orders, k);
            IF rr.id IS NOT NULL THEN tot := tot + 1; END IF;
        END LOOP;
    WHEN 'get_tc_spi' THEN
        FOR i IN 1..n LOOP
            k := w.id_lo + (i::bigint * 7919) % (w.id_hi - w.id_lo + 1);
            SELECT * INTO v_r FROM tablecache.get(NULL::recent_orders, k);
            IF v_r.id IS NOT NULL THEN tot := tot + 1; END IF;
        END LOOP;
    WHEN 'get_mv_spi' THEN
        FOR i IN 1..n LOOP
            k := w.id_lo + (i::bigint * 7919) % (w.id_hi - w.id_lo + 1);
            SELECT * INTO v_r FROM bench_mv WHERE id = k;
            IF v_r.id IS NOT NULL THEN tot := tot + 1; END IF;
        END LOOP;
    WHEN 'get_join_spi' THEN
        FOR i IN 1..n LOOP
            k := w.id_lo + (i::bigint * 7919) % (w.id_hi - w.id_lo + 1);
            SELECT o.id, o.customer_id, o.created_at, o.amount, o.status, c.name AS customer_name,
                   r.name AS region_name, p.title AS product_title, cat.name AS category_name, o.product_id
              INTO v_r
              FROM orders o JOIN customers c ON c.id = o.customer_id JOIN regions r ON r.id = c.region_id
              JOIN products p ON p.id = o.product_id JOIN categories cat ON cat.id = p.category_id
             WHERE o.id = k;
            IF v_r.id IS NOT NULL THEN tot := tot + 1; END IF;
        END LOOP;
    WHEN 'range_tc_spi' THEN
        FOR i IN 1..n LOOP
            t0 := w.ge + ((i::bigint * 7919) % nsec) * interval '1 second';
            t1 := t0 + w.span_s * interval '1 second';
            SELECT count(x.amount) INTO v_c FROM tablecache.range(NULL::recent_orders, 'by_time', t0, t1) x;
            tot := tot + v_c;
        END LOOP;
    WHEN 'range_mv_spi' THEN
        FOR i IN 1..n LOOP
            t0 := w.ge + ((i::bigint * 7919) % nsec) * interval '1 second';
            t1 := t0 + w.span_s * interval '1 second';
            SELECT count(x.amount) INTO v_c
              FROM (SELECT * FROM bench_mv WHERE created_at >= t0 AND created_at < t1 ORDER BY created_at, id) x;
            tot := tot + v_c;
        END LOOP;
    WHEN 'range_join_spi' THEN
        FOR i IN 1..n LOOP
            t0 := w.ge + ((i::bigint * 7919) % nsec) * interval '1 second';
            t1 := t0 + w.span_s * interval '1 second';
            SELECT count(x.amount) INTO v_c
              FROM (SELECT o.id, o.customer_id, o.created_at, o.amount, o.status, c.name AS customer_name,
                           r.name AS region_name, p.title AS product_title, cat.name AS category_name, o.product_id
                      FROM orders o JOIN customers c ON c.id = o.customer_id JOIN regions r ON r.id = c.region_id
                      JOIN products p ON p.id = o.product_id JOIN categories cat ON cat.id = p.category_id
                     WHERE o.created_at >= t0 AND o.created_at < t1 ORDER BY o.created_at, o.id) x;
            tot := tot + v_c;
        END LOOP;
    ELSE
        RAISE EXCEPTION 'bench_w7: unknown kind %', what;
    END CASE;
    IF what LIKE 'range%' THEN
        IF tot < n * 50 THEN
            RAISE EXCEPTION 'bench_w7 %: % rows for % ranges (expected ~100 each)', what, tot, n;
        END IF;
    ELSIF tot <> n THEN
        RAISE EXCEPTION 'bench_w7 %: % of % lookups found a row', what, tot, n;
    END IF;
    RETURN extract(epoch FROM clock_timestamp() - t_start) * 1e6 / n;
END
$fn$;
