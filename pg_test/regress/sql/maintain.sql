--
-- maintain: a cache created with maintain => 'auto' (the default) stays exactly what
-- its query returns through every kind of write to its base tables, by any role,
-- with no trigger written by hand; its base tables are protected like a view's
-- (DROP TABLE 2BP01, CASCADE drops the cache, no ALTER COLUMN TYPE of what the query
-- reads); drop_cache removes everything it installed; partitioned base tables.
-- Exactness: mt_exact() of include/maintain_check.psql (0 differences, read from
-- memory, as many rows as the query). Trigger names hold the cache's random id: only
-- counts are shown.
--
\set VERBOSITY terse
SET client_min_messages = warning;
\getenv abs_srcdir PG_ABS_SRCDIR
\set maintain_check :abs_srcdir '/sql/include/maintain_check.psql'
\i :maintain_check

CREATE TABLE mn_customer (id int PRIMARY KEY, name text NOT NULL, tier int NOT NULL);
CREATE TABLE mn_product (sku text PRIMARY KEY, title text NOT NULL, price int NOT NULL);
CREATE TABLE mn_order (id int PRIMARY KEY,
                       customer_id int NOT NULL REFERENCES mn_customer ON UPDATE CASCADE ON DELETE CASCADE,
                       sku text NOT NULL,          -- no foreign key
                       qty int NOT NULL, created int NOT NULL, comment text);
INSERT INTO mn_customer SELECT i, 'customer ' || i, i % 3 FROM generate_series(1, 10) i;
INSERT INTO mn_product SELECT 'sku-' || i, 'product ' || i, 10 * i FROM generate_series(1, 8) i;
INSERT INTO mn_order SELECT i, 1 + i % 10, 'sku-' || (1 + i % 9), i % 7, i, NULL FROM generate_series(1, 3000) i;

SELECT tablecache.create_cache('mn_orders', $q$
    SELECT o.id, o.customer_id, o.qty, o.created, c.name AS customer, p.title, p.price
    FROM mn_order o JOIN mn_customer c ON c.id = o.customer_id JOIN mn_product p ON p.sku = o.sku
    WHERE p.price > 0 $q$, ARRAY['id']);
SELECT tablecache.create_index('mn_orders', 'by_created', ARRAY['created']);
SELECT tablecache.create_index('mn_orders', 'by_customer', ARRAY['customer_id', 'created']);
SELECT base_table, how FROM tablecache.dependencies WHERE cache = 'mn_orders' ORDER BY base_table::text;
-- one row trigger and one TRUNCATE trigger on each base table
SELECT tgrelid::regclass AS base_table, count(*) AS triggers,
       count(*) FILTER (WHERE tgname ~ '^tablecache_[0-9]+_truncate$') AS truncate_triggers
FROM pg_trigger WHERE tgname ~ '^tablecache_[0-9]+(_truncate)?$' AND tgrelid::regclass::text LIKE 'mn\_%'
GROUP BY tgrelid ORDER BY tgrelid::regclass::text;
SELECT tablecache.load('mn_orders');
SELECT * FROM mt_exact('mn_orders');

-- ---- every kind of write ---------------------------------------------------------
INSERT INTO mn_order VALUES (3001, 1, 'sku-1', 1, 3001), (3002, 2, 'sku-9', 2, 3002);   -- sku-9: no product
UPDATE mn_order SET qty = qty + 10 WHERE id BETWEEN 10 AND 20;
UPDATE mn_order SET customer_id = 5, created = -id WHERE id IN (30, 31);
UPDATE mn_order SET id = 5000 WHERE id = 40;
DELETE FROM mn_order WHERE id IN (50, 51, 3001);
UPDATE mn_order SET comment = 'unread column' WHERE id < 100;
SELECT * FROM mt_exact('mn_orders');
-- the referenced tables: by foreign key (customers), by hidden key (products)
UPDATE mn_customer SET name = upper(name) WHERE id IN (1, 2);
UPDATE mn_customer SET id = 110 WHERE id = 10;                 -- cascades to the orders
INSERT INTO mn_customer VALUES (11, 'customer 11', 0);
DELETE FROM mn_customer WHERE id = 9;                          -- cascades to the orders
UPDATE mn_product SET price = 0 WHERE sku = 'sku-2';            -- filtered out
UPDATE mn_product SET title = 'renamed' WHERE sku = 'sku-3';
UPDATE mn_product SET sku = 'sku-44' WHERE sku = 'sku-4';       -- its orders lose it
INSERT INTO mn_product VALUES ('sku-9', 'product 9', 90);       -- orders find it
DELETE FROM mn_product WHERE sku = 'sku-5';
SELECT * FROM mt_exact('mn_orders');
UPDATE mn_product SET price = 20 WHERE sku = 'sku-2';
UPDATE mn_product SET sku = 'sku-4' WHERE sku = 'sku-44';
SELECT * FROM mt_exact('mn_orders');

-- rolled back: nothing changes; the writer sees its own changes
BEGIN;
UPDATE mn_customer SET name = 'rolled back' WHERE id = 3;
DELETE FROM mn_product WHERE sku = 'sku-6';
SELECT customer FROM tablecache.get(NULL::mn_orders, 2);
SELECT differences FROM mt_exact('mn_orders', 'by_customer', 'ROW(3)', 'ROW(4)', 'customer_id = 3');
ROLLBACK;
SELECT * FROM mt_exact('mn_orders');
SELECT customer FROM tablecache.get(NULL::mn_orders, 2);
-- a savepoint rolled back, the rest committed
BEGIN;
UPDATE mn_customer SET name = 'kept' WHERE id = 4;
SAVEPOINT s;
UPDATE mn_customer SET name = 'not kept' WHERE id = 5;
DELETE FROM mn_order WHERE id = 60;
ROLLBACK TO s;
UPDATE mn_order SET qty = 99 WHERE id = 61;
COMMIT;
SELECT * FROM mt_exact('mn_orders');
SELECT customer, qty FROM tablecache.get(NULL::mn_orders, 61);
-- one statement changing more rows than are invalidated one by one
UPDATE mn_order SET qty = qty + 1;
SELECT * FROM mt_exact('mn_orders');
-- COPY, MERGE, a writable CTE over two tables, another trigger's changes
COPY mn_order (id, customer_id, sku, qty, created) FROM stdin;
4001	1	sku-1	4	4001
4002	2	sku-7	4	4002
\.
MERGE INTO mn_product p
USING (VALUES ('sku-1', 'merged', 11), ('sku-10', 'product 10', 100)) AS m(sku, title, price) ON p.sku = m.sku
WHEN MATCHED THEN UPDATE SET title = m.title
WHEN NOT MATCHED THEN INSERT VALUES (m.sku, m.title, m.price);
WITH c AS (UPDATE mn_customer SET name = 'cte' WHERE id = 6 RETURNING id)
INSERT INTO mn_order SELECT 4003, id, 'sku-10', 1, 4003 FROM c;
CREATE TABLE mn_audit (order_id int, qty int);
CREATE FUNCTION mn_audit_apply() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE mn_order SET qty = NEW.qty WHERE id = NEW.order_id;
    RETURN NULL;
END $$;
CREATE TRIGGER mn_audit_apply AFTER INSERT ON mn_audit FOR EACH ROW EXECUTE FUNCTION mn_audit_apply();
INSERT INTO mn_audit VALUES (70, 700), (71, 710);
SELECT * FROM mt_exact('mn_orders');
-- TRUNCATE, then the rows come back
TRUNCATE mn_product;
SELECT * FROM mt_exact('mn_orders');
INSERT INTO mn_product SELECT 'sku-' || i, 'product ' || i, 10 * i FROM generate_series(1, 10) i;
SELECT * FROM mt_exact('mn_orders');

-- ---- a window -----------------------------------------------------------------------
SELECT tablecache.adjust('mn_orders', 'by_created', 100, 200);
\set w '''by_created'', ''100'', ''200'', ''created >= 100 AND created < 200'''
SELECT * FROM mt_exact('mn_orders', :w);
UPDATE mn_order SET created = created + 100 WHERE id BETWEEN 150 AND 160;   -- leave it
UPDATE mn_order SET created = 150 WHERE id IN (1, 2000);                     -- enter it
UPDATE mn_customer SET name = 'windowed' WHERE id = 7;
UPDATE mn_product SET price = -1 WHERE sku = 'sku-8';
SELECT * FROM mt_exact('mn_orders', :w);
-- back to everything: what enters is what was outside the window
SELECT tablecache.adjust('mn_orders', 'by_created', NULL, NULL)
     = (SELECT count(*) FROM mn_orders WHERE created < 100 OR created >= 200) AS entered_all_outside;
SELECT * FROM mt_exact('mn_orders');

-- ---- what a foreign key proves ------------------------------------------------------
-- The children reach mn_parent through a foreign key onto its primary key: the analysis
-- re-reads children when a parent is updated and ignores inserts and deletes of parents.
-- Whatever lets a referenced key disappear and come back, or drops the foreign key,
-- must still leave the cache exact.
CREATE TABLE mn_parent (id int PRIMARY KEY, v text NOT NULL);
CREATE TABLE mn_child (id int PRIMARY KEY, parent_id int NOT NULL);
ALTER TABLE mn_child ADD CONSTRAINT mn_child_fk FOREIGN KEY (parent_id) REFERENCES mn_parent DEFERRABLE;
INSERT INTO mn_parent SELECT i, 'parent ' || i FROM generate_series(1, 4) i;
INSERT INTO mn_child SELECT i, 1 + i % 4 FROM generate_series(1, 12) i;
SELECT tablecache.create_cache('mn_family',
    'SELECT ch.id, ch.parent_id, pa.v FROM mn_child ch JOIN mn_parent pa ON pa.id = ch.parent_id', ARRAY['id']);
SELECT base_table, how FROM tablecache.dependencies WHERE cache = 'mn_family' ORDER BY base_table::text;
SELECT tablecache.load('mn_family');
-- a referenced key deleted and inserted again in one statement (NO ACTION allows it)
WITH d AS (DELETE FROM mn_parent WHERE id = 1 RETURNING id)
INSERT INTO mn_parent SELECT id, 'reborn' FROM d;
SELECT * FROM mt_exact('mn_family');
SELECT v FROM tablecache.get(NULL::mn_family, 4);
-- the same with the check deferred to the commit
SELECT mt_reload('mn_family');
BEGIN;
SET CONSTRAINTS mn_child_fk DEFERRED;
DELETE FROM mn_parent WHERE id = 2;
INSERT INTO mn_parent VALUES (2, 'reborn at commit');
COMMIT;
SELECT * FROM mt_exact('mn_family');
-- a writer that does not enforce foreign keys (as logical replication's apply worker,
-- session_replication_role = replica: tablecache's triggers fire, foreign keys do not)
SELECT mt_reload('mn_family');
SET session_replication_role = replica;
DELETE FROM mn_parent WHERE id = 4;
RESET session_replication_role;
SELECT * FROM mt_exact('mn_family');
INSERT INTO mn_parent VALUES (4, 'parent 4');
-- the foreign key dropped (refused, or the cache no longer relies on it)
SELECT mt_reload('mn_family');
DO $$ BEGIN ALTER TABLE mn_child DROP CONSTRAINT mn_child_fk; EXCEPTION WHEN OTHERS THEN NULL; END $$;
DO $$ BEGIN INSERT INTO mn_child VALUES (100, 50); EXCEPTION WHEN OTHERS THEN NULL; END $$;
INSERT INTO mn_parent VALUES (50, 'parent 50');
DO $$ BEGIN DELETE FROM mn_parent WHERE id = 3; EXCEPTION WHEN OTHERS THEN NULL; END $$;
SELECT * FROM mt_exact('mn_family');
SELECT tablecache.drop_cache('mn_family');
DROP TABLE mn_child, mn_parent;

-- ---- DDL on base tables --------------------------------------------------------------
-- protected like a view's tables: 2BP01 without CASCADE
DROP TABLE mn_product;
\echo SQLSTATE: :SQLSTATE
ALTER TABLE mn_product DROP COLUMN title;
\echo SQLSTATE: :SQLSTATE
-- the type of a column the query reads cannot change
ALTER TABLE mn_product ALTER COLUMN title TYPE varchar(100);
\echo SQLSTATE: :SQLSTATE
ALTER TABLE mn_order ALTER COLUMN created TYPE bigint;
\echo SQLSTATE: :SQLSTATE
-- a column it does not read can, and the cache keeps following the table
ALTER TABLE mn_order ALTER COLUMN comment TYPE varchar(200);
ALTER TABLE mn_order ADD COLUMN extra int DEFAULT 7;
UPDATE mn_order SET comment = 'after alter', qty = qty + 1 WHERE id < 20;
UPDATE mn_product SET title = 'after alter' WHERE sku = 'sku-1';
SELECT * FROM mt_exact('mn_orders');
-- a column the query reads renamed (refused, or followed)
DO $$ BEGIN ALTER TABLE mn_product RENAME COLUMN title TO label; EXCEPTION WHEN OTHERS THEN NULL; END $$;
DO $$ BEGIN UPDATE mn_product SET label = 'after rename' WHERE sku = 'sku-2';
EXCEPTION WHEN undefined_column THEN UPDATE mn_product SET title = 'after rename' WHERE sku = 'sku-2'; END $$;
SELECT * FROM mt_exact('mn_orders');
DO $$ BEGIN ALTER TABLE mn_product RENAME COLUMN label TO title; EXCEPTION WHEN undefined_column THEN NULL; END $$;
SELECT mt_reload('mn_orders');
-- no inheritance child for a base table: its writes would not fire the parent's triggers
CREATE TABLE mn_product_more () INHERITS (mn_product);
\echo SQLSTATE: :SQLSTATE
CREATE TABLE mn_product_more (sku text NOT NULL, title text NOT NULL, price int NOT NULL);
ALTER TABLE mn_product_more INHERIT mn_product;
\echo SQLSTATE: :SQLSTATE
DROP TABLE mn_product_more;
-- DROP TABLE ... CASCADE rolled back: the cache is there and still maintained
BEGIN;
DROP TABLE mn_product CASCADE;
SELECT count(*) FROM tablecache.caches WHERE name = 'mn_orders';
ROLLBACK;
UPDATE mn_product SET title = 'after rollback' WHERE sku = 'sku-3';
SELECT * FROM mt_exact('mn_orders');

-- DROP TABLE ... CASCADE drops the cache and all it installed on the other tables
CREATE TABLE mn_a (id int PRIMARY KEY, v text);
CREATE TABLE mn_b (id int PRIMARY KEY, a_id int, w text);
CREATE TABLE mn_setting (id int PRIMARY KEY, active boolean);
INSERT INTO mn_a VALUES (1, 'a1'), (2, 'a2');
INSERT INTO mn_b VALUES (1, 1, 'b1'), (2, 2, 'b2');
INSERT INTO mn_setting VALUES (1, true);
SELECT (SELECT count(*) FROM tablecache.cache_def) AS caches, (SELECT count(*) FROM tablecache.index_def) AS indexes,
       (SELECT count(*) FROM tablecache.lineage_def) AS lineages, (SELECT count(*) FROM pg_trigger) AS triggers,
       (SELECT count(*) FROM pg_class WHERE relnamespace = 'tablecache'::regnamespace) AS relations
\gset cascade_
SELECT tablecache.create_cache('mn_small', $q$
    SELECT b.id, b.w, a.v FROM mn_b b JOIN mn_a a ON a.id = b.a_id CROSS JOIN mn_setting s WHERE s.active $q$, ARRAY['id']);
SELECT tablecache.create_index('mn_small', 'by_w', ARRAY['w']);
SELECT tablecache.load('mn_small');
-- mn_setting's key is read only to maintain the cache: it cannot change type either
ALTER TABLE mn_setting ALTER COLUMN id TYPE bigint;
\echo SQLSTATE: :SQLSTATE
SELECT (SELECT count(*) FROM pg_trigger) - :cascade_triggers AS triggers_added;
DROP TABLE mn_setting CASCADE;
SELECT count(*) AS caches FROM tablecache.caches WHERE name = 'mn_small';
SELECT to_regclass('mn_small') AS view;
SELECT (SELECT count(*) FROM tablecache.cache_def) - :cascade_caches AS caches,
       (SELECT count(*) FROM tablecache.index_def) - :cascade_indexes AS indexes,
       (SELECT count(*) FROM tablecache.lineage_def) - :cascade_lineages AS lineages,
       (SELECT count(*) FROM pg_trigger) - :cascade_triggers AS triggers,
       (SELECT count(*) FROM pg_class WHERE relnamespace = 'tablecache'::regnamespace) - :cascade_relations AS relations;
-- the other tables are plain tables again
UPDATE mn_a SET v = 'free';
DROP TABLE mn_a, mn_b;

-- ---- drop_cache leaves nothing behind -------------------------------------------------
-- the cache belongs to a role that is not a superuser (its objects are that role's)
CREATE ROLE regress_mt_owner;
CREATE ROLE regress_mt_writer;
GRANT EXECUTE ON FUNCTION tablecache.create_cache(text, text, text[], text) TO regress_mt_owner;
CREATE SCHEMA regress_mt AUTHORIZATION regress_mt_owner;
GRANT USAGE ON SCHEMA regress_mt TO regress_mt_writer;
SET ROLE regress_mt_owner;
CREATE TABLE regress_mt.acct (id int PRIMARY KEY, label text NOT NULL);
CREATE TABLE regress_mt.cat (code int PRIMARY KEY, name text NOT NULL);
CREATE TABLE regress_mt.tx (id int PRIMARY KEY, acct_id int NOT NULL REFERENCES regress_mt.acct,
                            cat_code int NOT NULL, amount int NOT NULL, memo text);
INSERT INTO regress_mt.acct SELECT i, 'acct ' || i FROM generate_series(1, 5) i;
INSERT INTO regress_mt.cat SELECT i, 'cat ' || i FROM generate_series(1, 4) i;
INSERT INTO regress_mt.tx SELECT i, 1 + i % 5, 1 + i % 4, i * 10, 'memo ' || i FROM generate_series(1, 40) i;
RESET ROLE;
\set cached_query 'SELECT t.id, t.amount, t.memo, a.label, c.name AS category FROM regress_mt.tx t JOIN regress_mt.acct a ON a.id = t.acct_id JOIN regress_mt.cat c ON c.code = t.cat_code'
SELECT (SELECT count(*) FROM pg_class) AS class, (SELECT count(*) FROM pg_type) AS type,
       (SELECT count(*) FROM pg_attribute) AS attribute, (SELECT count(*) FROM pg_rewrite) AS rewrite,
       (SELECT count(*) FROM pg_trigger) AS trigger, (SELECT count(*) FROM pg_proc) AS proc,
       (SELECT count(*) FROM pg_depend) AS depend,
       (SELECT count(*) FROM pg_shdepend WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())) AS shdepend,
       (SELECT count(*) FROM tablecache.cache_def) AS cache_def, (SELECT count(*) FROM tablecache.index_def) AS index_def,
       (SELECT count(*) FROM tablecache.lineage_def) AS lineage_def
\gset snap_
\set deltas 'SELECT (SELECT count(*) FROM pg_class) - :snap_class AS class, (SELECT count(*) FROM pg_type) - :snap_type AS type, (SELECT count(*) FROM pg_attribute) - :snap_attribute AS attribute, (SELECT count(*) FROM pg_rewrite) - :snap_rewrite AS rewrite, (SELECT count(*) FROM pg_trigger) - :snap_trigger AS trigger, (SELECT count(*) FROM pg_proc) - :snap_proc AS proc, (SELECT count(*) FROM pg_depend) - :snap_depend AS depend, (SELECT count(*) FROM pg_shdepend WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())) - :snap_shdepend AS shdepend, (SELECT count(*) FROM tablecache.cache_def) - :snap_cache_def AS cache_def, (SELECT count(*) FROM tablecache.index_def) - :snap_index_def AS index_def, (SELECT count(*) FROM tablecache.lineage_def) - :snap_lineage_def AS lineage_def'
SET ROLE regress_mt_owner;
SELECT tablecache.create_cache('regress_mt.cache', :'cached_query', ARRAY['id']);
SELECT tablecache.create_index('regress_mt.cache', 'by_amount', ARRAY['amount']);
SELECT tablecache.load('regress_mt.cache');
RESET ROLE;
-- installed: a view, a row type, triggers (two per table), lineage rows, dependencies
SELECT class > 0 AS class, type > 0 AS type, rewrite > 0 AS rewrite, trigger AS trigger,
       depend > 0 AS depend, shdepend > 0 AS shdepend, cache_def, lineage_def
FROM (:deltas) d;
SET ROLE regress_mt_owner;
SELECT tablecache.drop_cache('regress_mt.cache');
RESET ROLE;
:deltas;
-- the same for a cache whose view is dropped
SET ROLE regress_mt_owner;
SELECT tablecache.create_cache('regress_mt.cache', :'cached_query', ARRAY['id']);
SELECT tablecache.load('regress_mt.cache');
DROP VIEW regress_mt.cache;
RESET ROLE;
:deltas;

-- ---- a writer that is not the cache's owner -------------------------------------------
-- regress_mt_writer may INSERT, UPDATE and DELETE the base tables, nothing more: no
-- privilege on the cache, not even SELECT on the tables. Its writes never fail because
-- of the cache, and the cache stays exact.
SET ROLE regress_mt_owner;
SELECT tablecache.create_cache('regress_mt.cache', :'cached_query', ARRAY['id']);
SELECT tablecache.load('regress_mt.cache');
GRANT INSERT, UPDATE, DELETE ON regress_mt.acct, regress_mt.cat, regress_mt.tx TO regress_mt_writer;
SET ROLE regress_mt_writer;
SELECT * FROM tablecache.get(NULL::regress_mt.cache, 1);
\echo SQLSTATE: :SQLSTATE
SELECT cache, base_table FROM tablecache.dependencies WHERE cache = 'regress_mt.cache' ORDER BY base_table::text;
INSERT INTO regress_mt.tx VALUES (100, 2, 3, 1000, 'by writer');
INSERT INTO regress_mt.cat VALUES (5, 'cat 5');
UPDATE regress_mt.acct SET label = 'relabelled';
UPDATE regress_mt.cat SET name = 'renamed';
UPDATE regress_mt.tx SET memo = 'rewritten';
BEGIN;
UPDATE regress_mt.tx SET amount = 0;
ROLLBACK;
SET ROLE regress_mt_owner;
SELECT * FROM mt_exact('regress_mt.cache');
SET ROLE regress_mt_writer;
DELETE FROM regress_mt.cat;                           -- every row loses its category
SET ROLE regress_mt_owner;
SELECT * FROM mt_exact('regress_mt.cache');
SET ROLE regress_mt_writer;
INSERT INTO regress_mt.cat VALUES (1, 'one'), (2, 'two'), (3, 'three');
SET ROLE regress_mt_owner;
SELECT * FROM mt_exact('regress_mt.cache');
SET ROLE regress_mt_writer;
DELETE FROM regress_mt.tx;
SET ROLE regress_mt_owner;
SELECT * FROM mt_exact('regress_mt.cache');
SELECT tablecache.drop_cache('regress_mt.cache');
RESET ROLE;
DROP SCHEMA regress_mt CASCADE;
REVOKE EXECUTE ON FUNCTION tablecache.create_cache(text, text, text[], text) FROM regress_mt_owner;
DROP ROLE regress_mt_owner, regress_mt_writer;

-- ---- a partitioned base table -------------------------------------------------------
CREATE TABLE mn_ev (id int, region int, amount int NOT NULL, PRIMARY KEY (id, region)) PARTITION BY LIST (region);
CREATE TABLE mn_ev_1 PARTITION OF mn_ev FOR VALUES IN (1);
CREATE TABLE mn_ev_2 PARTITION OF mn_ev FOR VALUES IN (2) PARTITION BY RANGE (id);
CREATE TABLE mn_ev_2a PARTITION OF mn_ev_2 FOR VALUES FROM (0) TO (100);
CREATE TABLE mn_ev_2b PARTITION OF mn_ev_2 FOR VALUES FROM (100) TO (1000);
CREATE TABLE mn_ev_4 PARTITION OF mn_ev FOR VALUES IN (4);
CREATE TABLE mn_ev_3 (id int, region int, amount int NOT NULL, PRIMARY KEY (id, region));   -- attached later
CREATE TABLE mn_reg (region int PRIMARY KEY, rname text NOT NULL);
INSERT INTO mn_reg VALUES (1, 'one'), (2, 'two'), (3, 'three'), (4, 'four'), (5, 'five');
INSERT INTO mn_ev SELECT i, r, i * r FROM generate_series(1, 30) i, (VALUES (1), (2), (4)) v(r);
INSERT INTO mn_ev_3 SELECT i, 3, i FROM generate_series(1, 10) i;
SELECT tablecache.create_cache('mn_events', $q$
    SELECT e.id, e.region, e.amount, r.rname FROM mn_ev e JOIN mn_reg r USING (region) WHERE e.amount > 5 $q$,
    ARRAY['id', 'region']);
SELECT tablecache.create_index('mn_events', 'by_amount', ARRAY['amount']);
-- the partitioned table is the base table, not its partitions
SELECT base_table, how FROM tablecache.dependencies WHERE cache = 'mn_events' ORDER BY base_table::text;
SELECT tablecache.load('mn_events');
SELECT * FROM mt_exact('mn_events');
-- writes through the partitioned table and to partitions directly
INSERT INTO mn_ev VALUES (31, 1, 310), (31, 2, 620);
INSERT INTO mn_ev_1 VALUES (32, 1, 320);
INSERT INTO mn_ev_2b VALUES (132, 2, 264);
UPDATE mn_ev_1 SET amount = amount + 1000 WHERE id <= 3;
UPDATE mn_ev_2a SET amount = 1 WHERE id = 10;
DELETE FROM mn_ev_4 WHERE id = 4;
DELETE FROM mn_ev WHERE id = 5 AND region = 1;
UPDATE mn_reg SET rname = 'TWO' WHERE region = 2;
SELECT * FROM mt_exact('mn_events');
-- rows moving between partitions, and between sub-partitions
UPDATE mn_ev SET region = 2, id = id + 500 WHERE region = 1 AND id IN (6, 7);
UPDATE mn_ev SET id = id + 200 WHERE region = 2 AND id IN (8, 9);
UPDATE mn_ev SET region = 7 WHERE region = 4 AND id = 12;                 -- no partition for it
\echo SQLSTATE: :SQLSTATE
SELECT * FROM mt_exact('mn_events');
-- TRUNCATE of one partition, and of a sub-partition (each case starts from a fresh load)
TRUNCATE mn_ev_1;
SELECT * FROM mt_exact('mn_events');
SELECT mt_reload('mn_events');
TRUNCATE mn_ev_2a;
SELECT * FROM mt_exact('mn_events');
-- ATTACH PARTITION brings rows in; the new partition's writes are followed
SELECT mt_reload('mn_events');
ALTER TABLE mn_ev ATTACH PARTITION mn_ev_3 FOR VALUES IN (3);
SELECT * FROM mt_exact('mn_events');
SELECT mt_reload('mn_events');
UPDATE mn_ev_3 SET amount = amount * 100 WHERE id <= 2;
INSERT INTO mn_ev_3 VALUES (11, 3, 1100);
SELECT * FROM mt_exact('mn_events');
-- DETACH PARTITION takes rows out; the detached table's writes no longer matter
SELECT mt_reload('mn_events');
ALTER TABLE mn_ev DETACH PARTITION mn_ev_4;
SELECT * FROM mt_exact('mn_events');
SELECT mt_reload('mn_events');
UPDATE mn_ev_4 SET amount = amount + 1;
INSERT INTO mn_ev_4 VALUES (99, 4, 99);
SELECT * FROM mt_exact('mn_events');
SELECT mt_reload('mn_events');
ALTER TABLE mn_ev DETACH PARTITION mn_ev_3 CONCURRENTLY;
SELECT * FROM mt_exact('mn_events');
-- a new partition
SELECT mt_reload('mn_events');
CREATE TABLE mn_ev_5 PARTITION OF mn_ev FOR VALUES IN (5);
INSERT INTO mn_ev VALUES (1, 5, 50), (2, 5, 60);
SELECT * FROM mt_exact('mn_events');
-- TRUNCATE of the partitioned table
SELECT mt_reload('mn_events');
TRUNCATE mn_ev;
SELECT * FROM mt_exact('mn_events');
SELECT tablecache.drop_cache('mn_events');
SELECT count(*) AS triggers FROM pg_trigger WHERE tgname LIKE 'tablecache%'
    AND tgrelid IN (SELECT oid FROM pg_class WHERE relname LIKE 'mn\_ev%');

-- ---- the cache's triggers are protected --------------------------------------------
-- (names carry the cache's random id: found in pg_trigger, the SQLSTATE printed)
DO $$
DECLARE t text; r text;
BEGIN
  SELECT tgname INTO t FROM pg_trigger WHERE tgrelid = 'mn_customer'::regclass AND tgname LIKE 'tablecache\_%' AND tgname NOT LIKE '%truncate' LIMIT 1;
  FOREACH r IN ARRAY ARRAY[format('ALTER TRIGGER %I ON mn_customer RENAME TO mine', t),
                           format('ALTER TABLE mn_customer DISABLE TRIGGER %I', t),
                           'ALTER TABLE mn_customer DISABLE TRIGGER USER',
                           'ALTER TABLE mn_customer ENABLE TRIGGER ALL',
                           format('DROP TRIGGER %I ON mn_customer', t)] LOOP
    BEGIN
      EXECUTE r;
      RAISE WARNING '%: allowed', split_part(r, ' ', 1) || ' ' || split_part(r, ' ', 2);
    EXCEPTION WHEN OTHERS THEN
      RAISE WARNING '%: %', split_part(r, ' ', 1) || ' ' || split_part(r, ' ', 2), SQLSTATE;
    END;
  END LOOP;
END $$;
-- a renamed column the query reads is followed (an update of it invalidates only its rows)
SELECT mt_reload('mn_orders');
ALTER TABLE mn_customer RENAME COLUMN name TO cust_name;
SELECT tablecache.reset_stats();
UPDATE mn_customer SET cust_name = cust_name || '!' WHERE id = (SELECT min(id) FROM mn_customer);
SELECT * FROM mt_exact('mn_orders');
SELECT rows_loaded < (SELECT rows FROM tablecache.caches WHERE name = 'mn_orders') AS only_its_rows_reread
  FROM tablecache.stats WHERE cache = 'mn_orders';
ALTER TABLE mn_customer RENAME COLUMN cust_name TO name;

-- ---- clean up ----------------------------------------------------------------------
SELECT tablecache.drop_cache('mn_orders');
SELECT count(*) AS triggers FROM pg_trigger WHERE tgname LIKE 'tablecache%'
    AND tgrelid IN ('mn_order'::regclass, 'mn_customer'::regclass, 'mn_product'::regclass);
DROP TABLE mn_ev, mn_ev_3, mn_ev_4, mn_reg, mn_audit, mn_order, mn_customer, mn_product;
DROP FUNCTION mn_audit_apply(), mt_exact(text, text, text, text, text), mt_refusal(text, text[], text, text), mt_reload(text);
