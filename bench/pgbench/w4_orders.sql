-- W4 update one random order of the cached window.
\set id random(:id_lo, :id_hi)
UPDATE orders SET amount = amount + 0.01 WHERE id = :id::bigint;
