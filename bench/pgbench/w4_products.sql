-- W4 update one random product's title (~23 cached orders each at scale 1; the table is not
-- scaled: 10,000 products).
\set pid random(1, 10000)
UPDATE products SET title = 'Product ' || :pid || ' ' || md5(random()::text) WHERE id = :pid;
