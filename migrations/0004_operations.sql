-- depends: 0003_sales
-- Scheduling (pg_cron) and the warehouse's own operations: the archive schema for retention, the record
-- of archived partitions, and the settings of the maintenance procedures. Routines live in procedures/.

-- dblink: pg_cron's schema lives in the database named by cron.database_name, which may be another
-- database than the warehouse; dwh_etl._cron_query reaches it through dblink over the local socket.
CREATE EXTENSION IF NOT EXISTS dblink;

CREATE SCHEMA IF NOT EXISTS archive;
COMMENT ON SCHEMA archive IS 'Partitions detached by retention (dwh_etl.op_retention), moved here as they are: no row is copied. Listed in dwh_etl.archived_partitions.';
GRANT ALL ON SCHEMA archive TO dwh_owner;

CREATE TABLE dwh_etl.archived_partitions (
    archive_id      bigint GENERATED ALWAYS AS IDENTITY,
    parent_table    text NOT NULL,
    partition_name  text NOT NULL,
    archived_table  text NOT NULL,
    range_from      text NOT NULL,
    range_to        text NOT NULL,
    row_count       bigint NOT NULL,
    retention       interval NOT NULL,
    run_id          bigint,
    archived_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT archived_partitions_pk PRIMARY KEY (archive_id),
    CONSTRAINT archived_partitions_archived_table_uq UNIQUE (archived_table)
);
COMMENT ON TABLE dwh_etl.archived_partitions IS 'One row per partition retention detached from its parent and moved to schema archive (ALTER TABLE ... SET SCHEMA: same storage, no row copied).';
COMMENT ON COLUMN dwh_etl.archived_partitions.partition_name IS 'Qualified name the partition had while attached (schema.name).';
COMMENT ON COLUMN dwh_etl.archived_partitions.archived_table IS 'Where it lives now: archive.<name>.';
COMMENT ON COLUMN dwh_etl.archived_partitions.range_from IS 'Lower bound of the partition (inclusive), as written in its partition bound.';
COMMENT ON COLUMN dwh_etl.archived_partitions.range_to IS 'Upper bound of the partition (exclusive).';
COMMENT ON COLUMN dwh_etl.archived_partitions.retention IS 'The horizon (setting retention.<table>) that the partition was entirely older than.';
COMMENT ON COLUMN dwh_etl.archived_partitions.run_id IS 'The maintenance run that archived it (NULL when called by hand outside a run).';

INSERT INTO dwh_etl.settings (key, value, description) VALUES
    ('retention.sales.fact_sales', '3 years', 'Partitions of sales.fact_sales entirely older than this (interval) are detached and moved to schema archive by the maintenance pipeline. Delete the row to keep everything.'),
    ('history.keep', '90 days', 'dwh_lineage.pipeline_runs (with their steps, lineage and quality metrics) older than this are deleted by the maintenance pipeline.'),
    ('cron_history.keep', '30 days', 'cron.job_run_details rows of this database''s jobs older than this are deleted by the maintenance pipeline.'),
    ('partitions.months_ahead', '3', 'Monthly partitions are kept this many months ahead of today for every registered partitioned table.'),
    ('analyze.threshold', '0.1', 'The maintenance pipeline ANALYZEs a registered table when rows modified since its last analyze exceed this fraction of its rows.'),
    ('schedule.grace', '1 hour', 'A scheduled pipeline is reported as having missed its schedule when no successful run started since its last expected fire time older than this grace.')
ON CONFLICT (key) DO NOTHING;
