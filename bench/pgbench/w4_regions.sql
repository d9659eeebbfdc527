-- W4 rename one random region (~230 cached orders each at scale 1; the table is not scaled:
-- 1,000 regions).
\set rid random(1, 1000)
UPDATE regions SET name = 'Region ' || :rid || ' ' || substr(md5(random()::text), 1, 6) WHERE id = :rid;
