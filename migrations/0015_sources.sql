-- depends: 0012_runner_robustness
-- Real sources (issue 13): an operational PostgreSQL on another server, attached with one call
-- (CALL dwh_etl.source_add(...), or `dwh source add`), either by PostgreSQL's own logical replication
-- (a publication on the source, a subscription here) or through postgres_fdw foreign tables pulled
-- into local copies by a pipeline step. Either way the area reads ordinary local tables that carry
-- _dwh_arrived_at (capture by arrival order, see dwh_etl.track_arrival) and whose deletes leave
-- tombstones, so the area's extraction is the same for the demo source and a real one.
--
-- dblink (installed by 0004 for pg_cron's database) and postgres_fdw live in their own schema,
-- dwh_remote, out of public. Moving dblink keeps its functions' privileges as they were (the cron
-- routines find its schema from the catalog); etl_service keeps USAGE for them.

CREATE SCHEMA IF NOT EXISTS dwh_remote;
REVOKE ALL ON SCHEMA dwh_remote FROM PUBLIC;
GRANT USAGE ON SCHEMA dwh_remote TO etl_service;
COMMENT ON SCHEMA dwh_remote IS 'Extensions that reach other databases and servers (dblink, postgres_fdw). Used by the pg_cron routines and by dwh_etl.source_* to set up, pull and watch real sources.';
CREATE EXTENSION IF NOT EXISTS dblink WITH SCHEMA dwh_remote;
DO $move$
BEGIN
    IF (SELECT e.extnamespace::regnamespace::text FROM pg_catalog.pg_extension AS e WHERE e.extname = 'dblink') <> 'dwh_remote' THEN
        ALTER EXTENSION dblink SET SCHEMA dwh_remote;
    END IF;
END
$move$;
CREATE EXTENSION IF NOT EXISTS postgres_fdw WITH SCHEMA dwh_remote;
REVOKE EXECUTE ON FUNCTION dwh_remote.postgres_fdw_handler(), dwh_remote.postgres_fdw_validator(text[], oid) FROM PUBLIC;

CREATE TABLE dwh_etl.sources (
    source_name      text NOT NULL,
    mode             text NOT NULL,
    remote           text NOT NULL,
    remote_schema    text NOT NULL,
    tables           text[] NOT NULL,
    landing_schema   text NOT NULL,
    into_schema      text NOT NULL,
    area             text,
    publication      text,
    subscription     text,
    slot_name        text,
    server_name      text,
    foreign_schema   text,
    change_column    text NOT NULL DEFAULT 'updated_at',
    created_at       timestamptz NOT NULL DEFAULT now(),
    created_by       text NOT NULL DEFAULT current_user,
    last_sync_at     timestamptz,
    last_sync_rows   bigint,
    CONSTRAINT sources_pk PRIMARY KEY (source_name),
    CONSTRAINT sources_name_ck CHECK (source_name ~ '^[a-z][a-z0-9_]{0,39}$'),
    CONSTRAINT sources_mode_ck CHECK (mode IN ('replicate', 'fdw')),
    CONSTRAINT sources_tables_ck CHECK (cardinality(tables) > 0),
    CONSTRAINT sources_replicate_ck CHECK (mode <> 'replicate' OR (publication IS NOT NULL AND subscription IS NOT NULL AND slot_name IS NOT NULL)),
    CONSTRAINT sources_fdw_ck CHECK (mode <> 'fdw' OR (server_name IS NOT NULL AND foreign_schema IS NOT NULL))
);
CREATE UNIQUE INDEX sources_into_uq ON dwh_etl.sources (into_schema);
COMMENT ON TABLE dwh_etl.sources IS 'Operational databases attached as sources (dwh_etl.source_add): how (logical replication or postgres_fdw), which tables, where they land. No credentials: those live in the subscription''s connection, the user mapping, ~/.pgpass or a service file.';
COMMENT ON COLUMN dwh_etl.sources.remote IS 'Where the source is, for people: host, port, database and user of the conninfo (never its password).';
COMMENT ON COLUMN dwh_etl.sources.landing_schema IS 'Local schema holding the copies of the source tables. Logical replication matches tables by schema-qualified name (no renaming in PostgreSQL 15), so in replicate mode it is the source''s schema name; in fdw mode it is into_schema.';
COMMENT ON COLUMN dwh_etl.sources.into_schema IS 'The schema the area reads (its <area>.source_schema setting): the landing tables themselves, or views over them when the landing schema differs; also holds the tombstone table deleted_records.';
COMMENT ON COLUMN dwh_etl.sources.change_column IS 'fdw mode: the source''s change timestamp the pull window runs on (the window reaches back sources.fdw_overlap for late commits).';
COMMENT ON COLUMN dwh_etl.sources.last_sync_at IS 'fdw mode: when the last pull committed (a failed pull leaves its error in the run''s step record).';

-- fdw mode: per source table, how far the pull has read the source's change timestamp
CREATE TABLE dwh_etl.source_watermarks (
    source_name      text NOT NULL,
    table_name       text NOT NULL,
    watermark_value  timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT source_watermarks_pk PRIMARY KEY (source_name, table_name),
    CONSTRAINT source_watermarks_source_fk FOREIGN KEY (source_name) REFERENCES dwh_etl.sources (source_name) ON DELETE CASCADE
);
COMMENT ON TABLE dwh_etl.source_watermarks IS 'fdw sources: the highest change timestamp pulled per table (never ahead of the pull''s own clock); the next pull reads from it minus sources.fdw_overlap.';

INSERT INTO dwh_etl.settings (key, value, description) VALUES
    ('sources.fdw_overlap', '1 hour', 'fdw sources: how far each pull reaches back behind its watermark, for rows a long source transaction commits late with an older change timestamp. Rows re-read are merged by key (no-ops when unchanged).'),
    ('sources.max_lag', '15 minutes', 'A replicated source whose subscription has not heard from the source for longer is reported (dwh status).'),
    ('sources.max_retained_wal', '1 GB', 'A replicated source whose replication slot holds more WAL on the source is reported: a stalled slot fills the source''s disk.'),
    ('sources.connect_timeout', '5', 'Seconds dwh waits for a source to answer when it sets it up or checks it.')
ON CONFLICT (key) DO NOTHING;
