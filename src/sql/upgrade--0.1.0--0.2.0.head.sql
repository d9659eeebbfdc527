-- tablecache 0.1.0 -> 0.2.0: the catalog part (written by hand). scripts/make-upgrade.sh
-- appends every function and view of 0.2.0 and writes sql/tablecache--0.1.0--0.2.0.sql.
--
-- Version 0.1.0 kept a cache's query as text and its row type as a composite type. From 0.2.0
-- on a cache's query lives in a view (parsed once, relations resolved, dependencies recorded).
-- A version-1 cache keeps its composite type as its row type (users' code may depend on it)
-- and gets its view under a hidden name, tablecache."v1_<id>", owned by its owner; it becomes a
-- 'manual' cache, as it was. A version-1 cache whose query no longer works (a base table was
-- dropped: version 1 did not prevent it) is dropped with a WARNING.

\echo Use "ALTER EXTENSION tablecache UPDATE TO '0.2.0'" to load this file. \quit

-- what 0.2.0 defines anew
DROP VIEW IF EXISTS tablecache.caches, tablecache.stats, tablecache.memory, tablecache.progress;
DROP FUNCTION IF EXISTS tablecache.create_cache(text, text, text[]);

ALTER TABLE tablecache.cache_def ALTER COLUMN id DROP DEFAULT;
ALTER TABLE tablecache.cache_def
    ADD COLUMN view regclass,
    ADD COLUMN settings text[] NOT NULL DEFAULT '{}',
    ADD COLUMN maintain text NOT NULL DEFAULT 'manual' CHECK (maintain IN ('auto', 'manual')),
    ADD COLUMN lineage regclass;
ALTER TABLE tablecache.index_def ADD COLUMN hidden boolean NOT NULL DEFAULT false;

CREATE TABLE tablecache.lineage_def (
    cache_id bigint NOT NULL REFERENCES tablecache.cache_def (id) ON DELETE CASCADE,
    instance int NOT NULL,
    base_table regclass NOT NULL,
    key_columns text[] NOT NULL,
    read_columns text[] NOT NULL,
    how text NOT NULL CHECK (how IN ('reread', 'index', 'hidden', 'partner', 'everything')),
    target text NOT NULL,
    target_columns text[] NOT NULL,
    -- (reread) the cache's output columns a change of the table can change
    output_columns text[] NOT NULL DEFAULT '{}',
    PRIMARY KEY (cache_id, instance)
);
SELECT pg_catalog.pg_extension_config_dump('tablecache.lineage_def', '');
REVOKE SELECT ON tablecache.cache_def, tablecache.index_def FROM PUBLIC;

DO $upgrade$
DECLARE
    c record;
    v text;
    -- the extension script's own (its schema): what the rest of this script creates goes there
    script_path text := pg_catalog.current_setting('search_path');
BEGIN
    FOR c IN SELECT * FROM tablecache.cache_def ORDER BY id LOOP
        v := pg_catalog.format('tablecache.%I', 'v1_' || c.id);
        BEGIN
            PERFORM pg_catalog.set_config('search_path', c.search_path, true);
            EXECUTE pg_catalog.format('CREATE VIEW %s WITH (security_invoker = true) AS %s', v,
                                      pg_catalog.rtrim(pg_catalog.btrim(c.query), ';'));
            PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);
            EXECUTE pg_catalog.format('ALTER VIEW %s OWNER TO %s', v, c.owner);
            -- a user's object, dumped by pg_dump like any view, not a member of the extension
            EXECUTE pg_catalog.format('ALTER EXTENSION tablecache DROP VIEW %s', v);
            -- but, like the view of a cache created by 0.2.0, in the way of DROP EXTENSION
            INSERT INTO pg_catalog.pg_depend
                 VALUES ('pg_catalog.pg_class'::pg_catalog.regclass, v::pg_catalog.regclass, 0,
                         'pg_catalog.pg_extension'::pg_catalog.regclass,
                         (SELECT oid FROM pg_catalog.pg_extension WHERE extname = 'tablecache'), 0, 'n'),
                        -- and gone with the row type (DROP TYPE drops the cache: see on_sql_drop)
                        ('pg_catalog.pg_class'::pg_catalog.regclass, v::pg_catalog.regclass, 0,
                         'pg_catalog.pg_type'::pg_catalog.regclass, c.rowtype, 0, 'a');
            -- names are kept canonical from 0.2.0 on ('Sales.Daily' is sales.daily)
            UPDATE tablecache.cache_def
               SET view = v::pg_catalog.regclass,
                   name = (SELECT pg_catalog.string_agg(pg_catalog.quote_ident(p), '.' ORDER BY n)
                             FROM pg_catalog.unnest(pg_catalog.parse_ident(c.name)) WITH ORDINALITY AS x (p, n))
             WHERE id = c.id;
        EXCEPTION WHEN OTHERS THEN
            PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);
            RAISE WARNING 'tablecache: version-1 cache "%" cannot be kept and is dropped: %', c.name, SQLERRM;
            DELETE FROM tablecache.cache_def WHERE id = c.id;
        END;
    END LOOP;
    PERFORM pg_catalog.set_config('search_path', script_path, true);
END
$upgrade$;

ALTER TABLE tablecache.cache_def ALTER COLUMN view SET NOT NULL, ALTER COLUMN settings DROP DEFAULT,
    DROP COLUMN owner;
