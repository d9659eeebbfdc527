-- W2 100-row time range on by_time: [t0, t0 + span_s) seconds, inside the window.
\set t0 random(:ge_s, :lt_s - :span_s)
\set t1 :t0 + :span_s
SELECT * FROM tablecache.range(NULL::recent_orders, 'by_time', to_timestamp(:t0::float8), to_timestamp(:t1::float8));
