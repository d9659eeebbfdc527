-- W4 update one random customer (~2 cached orders each).
\set cid random(1, :n_customers)
UPDATE customers SET name = 'Customer ' || :cid::bigint || ' ' || md5(random()::text) WHERE id = :cid::bigint;
