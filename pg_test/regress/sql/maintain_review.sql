--
-- maintain_review: the hostile review's cases for maintain => 'auto' (each was a wrong
-- answer served from the cache, or a refusal missing): outer joins through a subquery or a
-- view, LATERAL, a nullable foreign key set to NULL, a re-read table's column in the
-- cache's key, dropped partitions, TRUNCATE ... CASCADE reaching a partition, dropping a
-- referenced primary key, whole-row references, ICU-ordered keys.
--
\set VERBOSITY terse
SET client_min_messages = warning;
\getenv abs_srcdir PG_ABS_SRCDIR
\set maintain_check :abs_srcdir '/sql/include/maintain_check.psql'
\i :maintain_check

-- ---- an outer join's nullable side inside a subquery, or a view --------------------------
CREATE TABLE rv_a (id int PRIMARY KEY, v text);
CREATE TABLE rv_b (id int PRIMARY KEY, aid int UNIQUE, w text);
INSERT INTO rv_a VALUES (1, 'a1'), (2, 'a2');
INSERT INTO rv_b VALUES (10, 2, 'b10');
CREATE VIEW rv_bv AS SELECT id, aid, w FROM rv_b;
SELECT tablecache.create_cache('rv_sub', $q$SELECT rv_a.id AS aid, x.id AS bid, x.w
    FROM rv_a LEFT JOIN (SELECT id, aid, w FROM rv_b) x ON x.aid = rv_a.id$q$, ARRAY['aid']);
SELECT tablecache.create_cache('rv_view', $q$SELECT rv_a.id AS aid, bv.id AS bid, bv.w
    FROM rv_a LEFT JOIN rv_bv bv ON bv.aid = rv_a.id$q$, ARRAY['aid']);
SELECT cache, base_table, how FROM tablecache.dependencies WHERE cache IN ('rv_sub', 'rv_view')
 ORDER BY 1, 2::text;
SELECT tablecache.load('rv_sub'), tablecache.load('rv_view');
DELETE FROM rv_b WHERE id = 10;
SELECT * FROM mt_exact('rv_sub');
SELECT * FROM mt_exact('rv_view');
INSERT INTO rv_b VALUES (10, 1, 'b10');
SELECT * FROM mt_exact('rv_sub');
SELECT * FROM mt_exact('rv_view');
UPDATE rv_b SET aid = 2 WHERE id = 10;
SELECT * FROM mt_exact('rv_sub');
SELECT * FROM mt_exact('rv_view');
SELECT tablecache.drop_cache('rv_sub'), tablecache.drop_cache('rv_view');

-- ---- LATERAL and whole-row references are refused -----------------------------------------
SELECT * FROM mt_refusal($q$SELECT rv_a.id AS aid, x.id AS bid FROM rv_a
    CROSS JOIN LATERAL (SELECT rv_b.id FROM rv_b WHERE rv_b.aid = rv_a.id) x$q$, ARRAY['aid', 'bid'], 'LATERAL');
SELECT * FROM mt_refusal($q$SELECT rv_a.id, rv_b AS b FROM rv_a JOIN rv_b ON rv_b.aid = rv_a.id$q$, ARRAY['id'], 'whole row');

-- ---- a nullable foreign key set to NULL: its rows leave the cache --------------------------
CREATE TABLE rv_region (id int PRIMARY KEY, name text);
CREATE TABLE rv_customer (id int PRIMARY KEY, region_id int REFERENCES rv_region, name text);
CREATE TABLE rv_order (id int PRIMARY KEY, customer_id int NOT NULL REFERENCES rv_customer, amount int);
INSERT INTO rv_region VALUES (1, 'north');
INSERT INTO rv_customer VALUES (1, 1, 'alice'), (2, 1, 'bob');
INSERT INTO rv_order VALUES (10, 1, 100), (20, 2, 200);
SELECT tablecache.create_cache('rv_ocr', $q$SELECT o.id, o.amount, c.name, r.name AS region FROM rv_order o
    JOIN rv_customer c ON c.id = o.customer_id JOIN rv_region r ON r.id = c.region_id$q$, ARRAY['id']);
SELECT base_table, how FROM tablecache.dependencies WHERE cache = 'rv_ocr' ORDER BY 1::text;
SELECT tablecache.load('rv_ocr');
UPDATE rv_customer SET region_id = NULL WHERE id = 1;
SELECT * FROM mt_exact('rv_ocr');
SELECT tablecache.drop_cache('rv_ocr');

-- ---- a re-read table's column in the cache's primary key ------------------------------------
SELECT tablecache.create_cache('rv_keyed', $q$SELECT c.name, o.id, o.amount FROM rv_order o
    JOIN rv_customer c ON c.id = o.customer_id$q$, ARRAY['name', 'id']);
SELECT base_table, how FROM tablecache.dependencies WHERE cache = 'rv_keyed' ORDER BY 1::text;
SELECT tablecache.load('rv_keyed');
UPDATE rv_customer SET name = 'carol' WHERE id = 2;
SELECT * FROM mt_exact('rv_keyed');

-- ---- a column of the table a re-read table's foreign key leads to, in the cache's key --------
CREATE TABLE rv_r2 (id int PRIMARY KEY, name text NOT NULL);
CREATE TABLE rv_c2 (id int PRIMARY KEY, region_id int NOT NULL REFERENCES rv_r2, name text NOT NULL);
CREATE TABLE rv_o2 (id int PRIMARY KEY, customer_id int NOT NULL REFERENCES rv_c2, amount int NOT NULL);
INSERT INTO rv_r2 VALUES (1, 'north'), (2, 'south');
INSERT INTO rv_c2 VALUES (1, 1, 'alice'), (2, 2, 'bob');
INSERT INTO rv_o2 VALUES (10, 1, 100), (20, 2, 200), (30, 1, 300);
SELECT tablecache.create_cache('rv_rkey', $q$SELECT o.id, r.id AS region, o.amount, c.name FROM rv_o2 o
    JOIN rv_c2 c ON c.id = o.customer_id JOIN rv_r2 r ON r.id = c.region_id$q$, ARRAY['id', 'region']);
SELECT base_table, how FROM tablecache.dependencies WHERE cache = 'rv_rkey' ORDER BY 1::text;
SELECT tablecache.load('rv_rkey');
UPDATE rv_c2 SET region_id = 2 WHERE id = 1;
SELECT * FROM mt_exact('rv_rkey');
SELECT tablecache.drop_cache('rv_rkey');
-- a re-read table's own foreign key, re-pointed (even at nothing) in replica mode
SELECT tablecache.create_cache('rv_rep', $q$SELECT o.id, o.amount, c.name, r.name AS region FROM rv_o2 o
    JOIN rv_c2 c ON c.id = o.customer_id JOIN rv_r2 r ON r.id = c.region_id$q$, ARRAY['id']);
SELECT base_table, how FROM tablecache.dependencies WHERE cache = 'rv_rep' ORDER BY 1::text;
SELECT tablecache.load('rv_rep');
SET session_replication_role = replica;
UPDATE rv_c2 SET region_id = 99 WHERE id = 2;
RESET session_replication_role;
SELECT * FROM mt_exact('rv_rep');
-- and that foreign key cannot be dropped while the cache relies on it
ALTER TABLE rv_c2 DROP CONSTRAINT rv_c2_region_id_fkey;
\echo SQLSTATE: :SQLSTATE
SELECT tablecache.drop_cache('rv_rep');
DROP TABLE rv_o2, rv_c2, rv_r2;

-- ---- second review ---------------------------------------------------------------------------
CREATE TABLE rv_r3 (id int PRIMARY KEY, name text NOT NULL);
CREATE TABLE rv_c3 (id int PRIMARY KEY, region_id int NOT NULL REFERENCES rv_r3, name text NOT NULL, vip boolean NOT NULL);
CREATE TABLE rv_o3 (id int PRIMARY KEY, customer_id int NOT NULL REFERENCES rv_c3 DEFERRABLE INITIALLY DEFERRED, amount int NOT NULL);
CREATE TABLE rv_perk (id int PRIMARY KEY, customer_id int NOT NULL, perk text NOT NULL);
INSERT INTO rv_r3 VALUES (1, 'North'), (2, 'South');
INSERT INTO rv_c3 VALUES (1, 1, 'Ann', true), (2, 2, 'Bob', true);
INSERT INTO rv_o3 VALUES (10, 1, 100), (20, 2, 200);
INSERT INTO rv_perk VALUES (100, 1, 'free shipping');
-- a window over a column a re-read table gives: a re-read row that leaves it goes
SELECT tablecache.create_cache('rv_win', $q$SELECT o.id, c.name AS customer, r.name AS region FROM rv_o3 o
    JOIN rv_c3 c ON c.id = o.customer_id JOIN rv_r3 r ON r.id = c.region_id$q$, ARRAY['id']);
SELECT tablecache.create_index('rv_win', 'by_customer', ARRAY['customer']);
SELECT base_table, how FROM tablecache.dependencies WHERE cache = 'rv_win' ORDER BY 1::text;
SELECT tablecache.load('rv_win', 'by_customer', 'A'::text, 'M'::text);
UPDATE rv_c3 SET name = 'Zed' WHERE id = 1;
SELECT * FROM mt_exact('rv_win', 'by_customer', $$'A'::text$$, $$'M'::text$$, $$customer >= 'A' AND customer < 'M'$$);
UPDATE rv_c3 SET name = 'Ann' WHERE id = 1;
SELECT * FROM mt_exact('rv_win', 'by_customer', $$'A'::text$$, $$'M'::text$$, $$customer >= 'A' AND customer < 'M'$$);
-- a deferred foreign key: the deleting transaction reads its own change
BEGIN;
DELETE FROM rv_c3 WHERE id = 2;
SELECT count(*) AS order_20_seen FROM tablecache.range(NULL::rv_win, 'primary_key') WHERE id = 20;
ROLLBACK;
SELECT tablecache.drop_cache('rv_win');
-- a re-read table's column in an outer join's ON clause on its preserved side
SELECT tablecache.create_cache('rv_perks', $q$SELECT o.id, p.id AS perk_id, c.name, p.perk FROM rv_o3 o
    JOIN rv_c3 c ON c.id = o.customer_id LEFT JOIN rv_perk p ON p.customer_id = c.id AND c.vip
    WHERE p.id IS NOT NULL$q$, ARRAY['id', 'perk_id']);
SELECT base_table, how FROM tablecache.dependencies WHERE cache = 'rv_perks' ORDER BY 1::text;
SELECT tablecache.load('rv_perks');
UPDATE rv_c3 SET vip = false WHERE id = 1;
SELECT * FROM mt_exact('rv_perks');
SELECT tablecache.drop_cache('rv_perks');
-- NOT NULL of a re-read table's foreign key column cannot be dropped
SELECT tablecache.create_cache('rv_nn', $q$SELECT o.id, c.name, r.name AS region FROM rv_o3 o
    JOIN rv_c3 c ON c.id = o.customer_id JOIN rv_r3 r ON r.id = c.region_id$q$, ARRAY['id']);
ALTER TABLE rv_c3 ALTER COLUMN region_id DROP NOT NULL;
\echo SQLSTATE: :SQLSTATE
SELECT tablecache.drop_cache('rv_nn');
-- collated keys of a re-read table are never merged in byte order
CREATE COLLATION rv_en (provider = libc, locale = 'en_US.utf8');
CREATE TABLE rv_cust (code text COLLATE rv_en PRIMARY KEY, name text NOT NULL);
CREATE TABLE rv_ord (id int PRIMARY KEY, code text COLLATE rv_en NOT NULL REFERENCES rv_cust);
INSERT INTO rv_cust SELECT 'a' || i, 'old' FROM generate_series(0, 99) i;
INSERT INTO rv_cust SELECT 'B' || i, 'old' FROM generate_series(0, 100) i;
INSERT INTO rv_ord SELECT row_number() OVER (ORDER BY code), code FROM rv_cust;
SELECT tablecache.create_cache('rv_coll', $q$SELECT o.id, o.code, c.name FROM rv_ord o JOIN rv_cust c ON c.code = o.code$q$, ARRAY['id']);
SELECT base_table, how FROM tablecache.dependencies WHERE cache = 'rv_coll' ORDER BY 1::text;
SELECT tablecache.load('rv_coll');
UPDATE rv_cust SET name = 'new2';
SELECT * FROM mt_exact('rv_coll');
SELECT tablecache.drop_cache('rv_coll');
DROP TABLE rv_ord, rv_cust;
DROP COLLATION rv_en;
-- a partition dropped with its schema
CREATE TABLE rv_ev (id int PRIMARY KEY, v text) PARTITION BY RANGE (id);
CREATE TABLE rv_ev_p1 PARTITION OF rv_ev FOR VALUES FROM (0) TO (100);
CREATE SCHEMA rv_archive;
CREATE TABLE rv_archive.rv_ev_p2 PARTITION OF rv_ev FOR VALUES FROM (100) TO (200);
INSERT INTO rv_ev VALUES (1, 'a'), (150, 'b');
SELECT tablecache.create_cache('rv_evs', 'SELECT id, v FROM rv_ev', ARRAY['id']);
SELECT tablecache.load('rv_evs');
DROP SCHEMA rv_archive CASCADE;
SELECT * FROM mt_exact('rv_evs');
SELECT tablecache.drop_cache('rv_evs');
DROP TABLE rv_ev, rv_perk, rv_o3, rv_c3, rv_r3;

-- ---- dropping a primary key the cache relies on is refused -----------------------------------
ALTER TABLE rv_customer DROP CONSTRAINT rv_customer_pkey CASCADE;
\echo SQLSTATE: :SQLSTATE
SELECT tablecache.drop_cache('rv_keyed');

-- ---- partitions dropped, or emptied by TRUNCATE ... CASCADE ---------------------------------
CREATE TABLE rv_tag (id int PRIMARY KEY);
INSERT INTO rv_tag VALUES (1);
CREATE TABLE rv_p (id int, k int, v text, tag int, PRIMARY KEY (id, k)) PARTITION BY LIST (k);
CREATE TABLE rv_p1 PARTITION OF rv_p FOR VALUES IN (1);
CREATE TABLE rv_p2 PARTITION OF rv_p FOR VALUES IN (2);
CREATE TABLE rv_p3 PARTITION OF rv_p FOR VALUES IN (3);
ALTER TABLE rv_p3 ADD FOREIGN KEY (tag) REFERENCES rv_tag;
INSERT INTO rv_p VALUES (1, 1, 'x', NULL), (2, 2, 'y', NULL), (3, 3, 'z', 1);
SELECT tablecache.create_cache('rv_parts', 'SELECT id, k, v FROM rv_p', ARRAY['id', 'k']);
SELECT tablecache.load('rv_parts');
DROP TABLE rv_p2;
SELECT * FROM mt_exact('rv_parts');
TRUNCATE rv_tag CASCADE;
SELECT * FROM mt_exact('rv_parts');
SELECT tablecache.drop_cache('rv_parts');

-- ---- a key ordered by an ICU collation cannot be followed: refused at create_cache ---------
CREATE COLLATION rv_icu (provider = icu, locale = 'en');
CREATE TABLE rv_country (code text COLLATE rv_icu PRIMARY KEY, name text);
CREATE TABLE rv_od (id int PRIMARY KEY, country text COLLATE rv_icu NOT NULL REFERENCES rv_country);
SELECT * FROM mt_refusal($q$SELECT o.id, c.name FROM rv_od o JOIN rv_country c ON c.code = o.country$q$, ARRAY['id'], 'cannot be an index key');
INSERT INTO rv_country VALUES ('de', 'Germany');
INSERT INTO rv_od VALUES (1, 'de');

DROP TABLE rv_od, rv_country, rv_p, rv_tag, rv_order, rv_customer, rv_region, rv_a, rv_b CASCADE;
DROP COLLATION rv_icu;
DROP FUNCTION mt_exact(text, text, text, text, text), mt_refusal(text, text[], text, text), mt_reload(text);
