//! The SQL surface: every function of docs/reference.md, and the catalog and views behind them.

pub mod base_ddl;
pub mod ddl;
pub mod define;
pub mod inval;
pub mod maintain;
pub mod read;
pub mod views;
pub mod window;
#[cfg(any(test, feature = "pg_test"))]
mod define_tests;
#[cfg(any(test, feature = "pg_test"))]
mod errors_tests;
#[cfg(any(test, feature = "pg_test"))]
mod read_tests;

pgrx::extension_sql!(
    r#"
CREATE SEQUENCE tablecache.def_version_seq;

CREATE TABLE tablecache.cache_def (
    -- random: a cache re-created after DROP/CREATE EXTENSION never meets the old one's memory
    id bigint PRIMARY KEY,
    name text NOT NULL UNIQUE,
    query text NOT NULL,
    primary_key text[] NOT NULL,
    -- the view that holds the parsed query; its row type is the cache's row type and its
    -- owner the cache's owner
    view regclass NOT NULL,
    rowtype regtype NOT NULL,
    search_path text NOT NULL,
    -- 'name=value' settings of the creating session that the query runs with
    settings text[] NOT NULL,
    -- 'auto': tablecache derives and installs its invalidation; 'manual': the caller's
    maintain text NOT NULL DEFAULT 'manual' CHECK (maintain IN ('auto', 'manual')),
    -- auto caches: the query plus hidden key columns of its tables (NULL when none is needed)
    lineage regclass,
    version bigint NOT NULL,
    window_index text,
    window_ge text[],
    window_lt text[],
    slide_index text,
    slide_length interval,
    slide_every interval,
    slide_last timestamptz
);
COMMENT ON TABLE tablecache.cache_def IS 'tablecache: one row per cache (use the tablecache functions to change it)';

CREATE TABLE tablecache.index_def (
    cache text NOT NULL REFERENCES tablecache.cache_def (name) ON DELETE CASCADE ON UPDATE CASCADE,
    name text NOT NULL,
    columns text[] NOT NULL,
    position int NOT NULL,
    -- an index tablecache keeps for itself (self-maintenance), not shown
    hidden boolean NOT NULL DEFAULT false,
    PRIMARY KEY (cache, name)
);

-- How each base table instance of an auto cache finds the cached rows built from its rows.
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

SELECT pg_catalog.pg_extension_config_dump('tablecache.cache_def', '');
SELECT pg_catalog.pg_extension_config_dump('tablecache.index_def', '');
SELECT pg_catalog.pg_extension_config_dump('tablecache.lineage_def', '');
SELECT pg_catalog.pg_extension_config_dump('tablecache.def_version_seq', '');
GRANT USAGE ON SCHEMA tablecache TO PUBLIC;
"#,
    name = "catalog",
    bootstrap
);

pgrx::extension_sql!(
    r#"
CREATE FUNCTION tablecache.get(rowtype anyelement, key anycompatible) RETURNS anyelement
    AS 'MODULE_PATHNAME', 'tablecache_get' LANGUAGE c STABLE PARALLEL RESTRICTED;
CREATE FUNCTION tablecache.range(rowtype anyelement, index text,
                                 ge anycompatible DEFAULT NULL, lt anycompatible DEFAULT NULL)
    RETURNS SETOF anyelement
    AS 'MODULE_PATHNAME', 'tablecache_range' LANGUAGE c STABLE PARALLEL RESTRICTED ROWS 100;
CREATE FUNCTION tablecache.covers(cache text, index text,
                                  ge anycompatible DEFAULT NULL, lt anycompatible DEFAULT NULL)
    RETURNS boolean
    AS 'MODULE_PATHNAME', 'tablecache_covers' LANGUAGE c STABLE PARALLEL RESTRICTED;
CREATE FUNCTION tablecache.load(cache text, index text DEFAULT 'primary_key',
                                ge anycompatible DEFAULT NULL, lt anycompatible DEFAULT NULL)
    RETURNS bigint
    AS 'MODULE_PATHNAME', 'tablecache_load' LANGUAGE c VOLATILE PARALLEL UNSAFE;
CREATE FUNCTION tablecache.adjust(cache text, index text,
                                  ge anycompatible DEFAULT NULL, lt anycompatible DEFAULT NULL)
    RETURNS bigint
    AS 'MODULE_PATHNAME', 'tablecache_adjust' LANGUAGE c VOLATILE PARALLEL UNSAFE;

CREATE FUNCTION tablecache.invalidate(cache text, index text, key anycompatible) RETURNS void
    AS 'MODULE_PATHNAME', 'tablecache_invalidate' LANGUAGE c VOLATILE PARALLEL UNSAFE;
CREATE FUNCTION tablecache.invalidate_range(cache text, index text, ge anycompatible, lt anycompatible)
    RETURNS void
    AS 'MODULE_PATHNAME', 'tablecache_invalidate_range' LANGUAGE c VOLATILE PARALLEL UNSAFE;
CREATE FUNCTION tablecache.invalidate_trigger() RETURNS trigger
    AS 'MODULE_PATHNAME', 'tablecache_invalidate_trigger' LANGUAGE c VOLATILE PARALLEL UNSAFE;

CREATE VIEW tablecache.caches AS
SELECT d.name,
       -- like a view's definition, the query is shown to those who may read the cache
       CASE WHEN tablecache.may_read(d.name) THEN d.query END AS query,
       d.primary_key,
       ARRAY['primary_key'] || ARRAY(SELECT i.name FROM tablecache.index_def i
                                     WHERE i.cache = d.name AND NOT i.hidden ORDER BY i.position) AS indexes,
       s.window_index,
       CASE WHEN tablecache.may_read(d.name) THEN s.window_ge END AS window_ge,
       CASE WHEN tablecache.may_read(d.name) THEN s.window_lt END AS window_lt,
       coalesce(s.loaded, false) AS loaded,
       coalesce(s.rows, 0) AS rows,
       coalesce(s.bytes, 0) AS bytes,
       s.load_rows_done, s.load_rows_expected, s.writer_pid AS loading_pid,
       (SELECT c.relowner::pg_catalog.regrole FROM pg_catalog.pg_class c WHERE c.oid = d.view) AS owner,
       d.rowtype, d.maintain,
       tablecache.standby_note() AS standby
FROM tablecache.cache_def d
LEFT JOIN tablecache.slot_info() s ON s.cache_id = d.id;

CREATE VIEW tablecache.stats AS
SELECT d.name AS cache,
       coalesce(s.counters[1], 0) AS hits,
       coalesce(s.counters[2], 0) AS misses,
       coalesce(s.counters[3], 0) AS refreshes,
       coalesce(s.counters[4], 0) AS invalidations,
       coalesce(s.counters[5], 0) AS loads,
       coalesce(s.counters[6], 0) AS adjustments,
       coalesce(s.counters[7], 0) AS rows_loaded,
       coalesce(s.counters[8], 0) AS rows_expired
FROM tablecache.cache_def d
LEFT JOIN tablecache.slot_info() s ON s.cache_id = d.id;

CREATE VIEW tablecache.memory AS SELECT * FROM tablecache.memory_info();

CREATE VIEW tablecache.progress AS
SELECT d.name AS cache, s.writer_pid AS pid, s.load_rows_done AS rows_done,
       s.load_rows_expected AS rows_expected
FROM tablecache.cache_def d JOIN tablecache.slot_info() s ON s.cache_id = d.id
WHERE s.writer_pid IS NOT NULL;

GRANT SELECT ON tablecache.caches, tablecache.stats, tablecache.memory, tablecache.progress TO PUBLIC;

-- Creating a cache takes shared memory from every database of the server: a privilege that a
-- superuser grants (GRANT EXECUTE ON FUNCTION tablecache.create_cache(text, text, text[], text) TO r).
REVOKE EXECUTE ON FUNCTION tablecache.create_cache(text, text, text[], text) FROM PUBLIC;

-- What an auto cache installed: one row per base table instance.
CREATE VIEW tablecache.dependencies AS
SELECT d.name AS cache, l.base_table,
       CASE l.how
           WHEN 'reread' THEN 'reached through a foreign key on its primary key: a change re-reads the rows built from it (found by its key in a hidden column, no memory)'
           WHEN 'index' THEN 'its primary key is output column(s) ' || pg_catalog.array_to_string(l.target_columns, ', ') || ': a change invalidates those keys'
           WHEN 'partner' THEN 'outer-joined on column(s) ' || pg_catalog.array_to_string(l.key_columns, ', ') || ': a change re-reads the rows of the rows it joins'
           WHEN 'everything' THEN 'outer-joined without a key to find its rows by: a change re-reads the whole cache'
           ELSE 'its primary key is kept with every cached row (hidden): a change invalidates the rows built from it'
       END AS how
FROM tablecache.lineage_def l JOIN tablecache.cache_def d ON d.id = l.cache_id;
GRANT SELECT ON tablecache.dependencies TO PUBLIC;

CREATE FUNCTION tablecache.maintain_trigger() RETURNS trigger
    AS 'MODULE_PATHNAME', 'tablecache_maintain_trigger' LANGUAGE c VOLATILE PARALLEL UNSAFE;

-- A cache goes with its view: DROP VIEW, or DROP TABLE ... CASCADE of a base table, drops it.
CREATE FUNCTION tablecache.on_sql_drop() RETURNS event_trigger
    AS 'MODULE_PATHNAME', 'tablecache_on_sql_drop' LANGUAGE c;
CREATE EVENT TRIGGER tablecache_sql_drop ON sql_drop EXECUTE FUNCTION tablecache.on_sql_drop();
"#,
    name = "surface",
    finalize
);
