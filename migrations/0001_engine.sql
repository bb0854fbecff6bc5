-- The engine: roles, schemas, lineage (seed 002), registry, watermarks, conformed calendar.
-- Routines live in procedures/ and are applied after the migrations.

-- Roles are cluster-wide: create them only when missing so a second database in the same cluster
-- (and every per-test clone) can run this migration.
DO $roles$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'dwh_owner') THEN
        CREATE ROLE dwh_owner NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'etl_service') THEN
        -- Seed 002 creates it with LOGIN PASSWORD; a password does not belong in a migration:
        -- ALTER ROLE etl_service LOGIN PASSWORD '...' when you deploy.
        CREATE ROLE etl_service NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'analyst_role') THEN
        CREATE ROLE analyst_role NOLOGIN;
    END IF;
END
$roles$;

-- btree_gist: exclusion constraints (natural key =, validity &&) on SCD2 dimensions.
CREATE EXTENSION IF NOT EXISTS btree_gist;

CREATE SCHEMA IF NOT EXISTS dwh_etl;
CREATE SCHEMA IF NOT EXISTS dwh_lineage;
CREATE SCHEMA IF NOT EXISTS dwh_staging;
CREATE SCHEMA IF NOT EXISTS bronze;
CREATE SCHEMA IF NOT EXISTS silver;
CREATE SCHEMA IF NOT EXISTS gold;

COMMENT ON SCHEMA dwh_etl IS 'The warehouse engine: registry of pipelines, steps, dimensions and settings; watermarks; runner and generic procedures.';
COMMENT ON SCHEMA dwh_lineage IS 'Run history and lineage: pipeline and step runs, table/column lineage, quality metrics, table dependencies.';
COMMENT ON SCHEMA dwh_staging IS 'Transient work tables of running steps.';
COMMENT ON SCHEMA bronze IS 'Raw landing layer: append-only, text-typed, with ingestion metadata (_batch_id, _ingested_at, _source).';
COMMENT ON SCHEMA silver IS 'Cleansed layer: typed, standardized, deduplicated, validated, with history.';
COMMENT ON SCHEMA gold IS 'Conformed dimensions shared by every subject area (calendar, time of day).';

-- Nothing is granted to PUBLIC: functions created by the migrating role are not executable by PUBLIC.
ALTER DEFAULT PRIVILEGES REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC;
ALTER DEFAULT PRIVILEGES IN SCHEMA dwh_etl GRANT EXECUTE ON FUNCTIONS TO etl_service;
ALTER DEFAULT PRIVILEGES IN SCHEMA dwh_lineage GRANT EXECUTE ON FUNCTIONS TO etl_service;
ALTER DEFAULT PRIVILEGES IN SCHEMA gold GRANT SELECT ON TABLES TO analyst_role;
ALTER DEFAULT PRIVILEGES IN SCHEMA dwh_etl, dwh_lineage, dwh_staging, bronze, silver, gold
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO etl_service;
ALTER DEFAULT PRIVILEGES IN SCHEMA dwh_etl, dwh_lineage, dwh_staging, bronze, silver, gold
    GRANT USAGE, SELECT ON SEQUENCES TO etl_service;
GRANT USAGE ON SCHEMA dwh_etl, dwh_lineage, dwh_staging, bronze, silver, gold TO etl_service;
GRANT USAGE ON SCHEMA gold TO analyst_role;
-- dwh_etl.safe_upper_bound reads other sessions' transaction starts in pg_stat_activity.
GRANT pg_read_all_stats TO etl_service;
GRANT ALL ON SCHEMA dwh_etl, dwh_lineage, dwh_staging, bronze, silver, gold TO dwh_owner;

-- ---------------------------------------------------------------------------------------------
-- Lineage (seed 002), extended with step runs and run dates.
-- ---------------------------------------------------------------------------------------------

CREATE TABLE dwh_lineage.pipeline_runs (
    run_id          bigint GENERATED ALWAYS AS IDENTITY,
    batch_id        uuid NOT NULL DEFAULT gen_random_uuid(),
    pipeline_name   text NOT NULL,
    run_date        date,
    started_at      timestamptz NOT NULL DEFAULT now(),
    completed_at    timestamptz,
    status          text NOT NULL DEFAULT 'running',
    parameters      jsonb NOT NULL DEFAULT '{}',
    error_message   text,
    metrics         jsonb NOT NULL DEFAULT '{}',
    backend_pid     integer DEFAULT pg_backend_pid(),
    CONSTRAINT pipeline_runs_pk PRIMARY KEY (run_id),
    CONSTRAINT pipeline_runs_batch_id_uq UNIQUE (batch_id),
    -- 'skipped' added to seed 002's list: a run that found its pipeline already running.
    CONSTRAINT pipeline_runs_status_ck CHECK (status IN ('running', 'completed', 'failed', 'cancelled', 'skipped'))
);
CREATE INDEX pipeline_runs_name_idx ON dwh_lineage.pipeline_runs (pipeline_name, started_at DESC);
CREATE INDEX pipeline_runs_status_idx ON dwh_lineage.pipeline_runs (status);
CREATE INDEX pipeline_runs_started_idx ON dwh_lineage.pipeline_runs (started_at);
COMMENT ON TABLE dwh_lineage.pipeline_runs IS 'One row per pipeline run (seed 002). A run commits step by step; this row is the run''s record.';
COMMENT ON COLUMN dwh_lineage.pipeline_runs.batch_id IS 'Stamped as _batch_id on every row the run writes.';
COMMENT ON COLUMN dwh_lineage.pipeline_runs.run_date IS 'The business date the run processed (p_run_date).';
COMMENT ON COLUMN dwh_lineage.pipeline_runs.backend_pid IS 'Backend that executed the run; used to detect runs whose session died.';

CREATE TABLE dwh_lineage.step_runs (
    step_run_id     bigint GENERATED ALWAYS AS IDENTITY,
    run_id          bigint NOT NULL,
    step_name       text NOT NULL,
    procedure_name  text NOT NULL,
    step_order      integer NOT NULL,
    status          text NOT NULL DEFAULT 'running',
    started_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    completed_at    timestamptz,
    duration_ms     bigint,
    rows_read       bigint,
    rows_written    bigint,
    sqlstate        text,
    error_message   text,
    error_detail    text,
    error_hint      text,
    error_context   text,
    CONSTRAINT step_runs_pk PRIMARY KEY (run_id, step_name),
    CONSTRAINT step_runs_step_run_id_uq UNIQUE (step_run_id),
    CONSTRAINT step_runs_run_fk FOREIGN KEY (run_id) REFERENCES dwh_lineage.pipeline_runs (run_id) ON DELETE CASCADE,
    CONSTRAINT step_runs_status_ck CHECK (status IN ('running', 'completed', 'failed', 'skipped'))
);
COMMENT ON TABLE dwh_lineage.step_runs IS 'One row per step of a run: timing, rows, and on failure the full error (message, detail, hint, context).';
COMMENT ON COLUMN dwh_lineage.step_runs.rows_written IS 'Sum of rows inserted, updated and deleted by the step, from its table_lineage rows.';

CREATE TABLE dwh_lineage.table_lineage (
    lineage_id      bigint GENERATED ALWAYS AS IDENTITY,
    run_id          bigint,
    batch_id        uuid NOT NULL,
    step_name       text,
    source_table    text NOT NULL,
    target_table    text NOT NULL,
    operation       text NOT NULL,
    rows_read       bigint,
    rows_inserted   bigint,
    rows_updated    bigint,
    rows_deleted    bigint,
    rows_rejected   bigint,
    rows_unchanged  bigint,
    started_at      timestamptz NOT NULL DEFAULT now(),
    completed_at    timestamptz,
    -- Seed 002 used EXTRACT(MILLISECONDS ...), which only counts the seconds field of the interval
    -- (a 2-minute step showed as a few ms). Epoch covers the whole interval.
    duration_ms     bigint GENERATED ALWAYS AS ((EXTRACT(EPOCH FROM (completed_at - started_at)) * 1000)::bigint) STORED,
    sql_hash        text,
    notes           text,
    CONSTRAINT table_lineage_pk PRIMARY KEY (lineage_id),
    CONSTRAINT table_lineage_run_fk FOREIGN KEY (run_id) REFERENCES dwh_lineage.pipeline_runs (run_id) ON DELETE CASCADE,
    CONSTRAINT table_lineage_operation_ck CHECK (operation IN ('ingest', 'transform', 'aggregate', 'refresh', 'delete'))
);
CREATE INDEX table_lineage_source_idx ON dwh_lineage.table_lineage (source_table);
CREATE INDEX table_lineage_target_idx ON dwh_lineage.table_lineage (target_table);
CREATE INDEX table_lineage_batch_idx ON dwh_lineage.table_lineage (batch_id);
CREATE INDEX table_lineage_run_idx ON dwh_lineage.table_lineage (run_id, step_name);
COMMENT ON TABLE dwh_lineage.table_lineage IS 'What each step read and wrote: source -> target, row counts, timing (seed 002).';

CREATE TABLE dwh_lineage.column_lineage (
    id              bigint GENERATED ALWAYS AS IDENTITY,
    lineage_id      bigint,
    source_column   text NOT NULL,
    target_column   text NOT NULL,
    transformation  text,
    is_key          boolean NOT NULL DEFAULT false,
    notes           text,
    CONSTRAINT column_lineage_pk PRIMARY KEY (id),
    CONSTRAINT column_lineage_lineage_fk FOREIGN KEY (lineage_id) REFERENCES dwh_lineage.table_lineage (lineage_id) ON DELETE CASCADE
);
COMMENT ON TABLE dwh_lineage.column_lineage IS 'Column-level lineage: which source column feeds which target column, and how (seed 002).';

CREATE TABLE dwh_lineage.quality_metrics (
    id              bigint GENERATED ALWAYS AS IDENTITY,
    run_id          bigint,
    batch_id        uuid NOT NULL,
    table_name      text NOT NULL,
    metric_name     text NOT NULL,
    metric_value    numeric,
    threshold       numeric,
    passed          boolean,
    details         jsonb,
    measured_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT quality_metrics_pk PRIMARY KEY (id),
    CONSTRAINT quality_metrics_run_fk FOREIGN KEY (run_id) REFERENCES dwh_lineage.pipeline_runs (run_id) ON DELETE CASCADE
);
CREATE INDEX quality_metrics_table_idx ON dwh_lineage.quality_metrics (table_name, measured_at DESC);
COMMENT ON TABLE dwh_lineage.quality_metrics IS 'Every evaluation of a quality check, kept as history (seed 002).';

CREATE TABLE dwh_lineage.table_dependencies (
    id              bigint GENERATED ALWAYS AS IDENTITY,
    upstream_table  text NOT NULL,
    downstream_table text NOT NULL,
    dependency_type text NOT NULL DEFAULT 'data',
    created_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT table_dependencies_pk PRIMARY KEY (id),
    CONSTRAINT table_dependencies_uq UNIQUE (upstream_table, downstream_table),
    CONSTRAINT table_dependencies_type_ck CHECK (dependency_type IN ('data', 'reference', 'optional'))
);
CREATE INDEX table_dependencies_downstream_idx ON dwh_lineage.table_dependencies (downstream_table);
COMMENT ON TABLE dwh_lineage.table_dependencies IS 'Table dependency graph for impact analysis (get_upstream / get_downstream); filled from the step registry and from every logged transformation.';

-- ---------------------------------------------------------------------------------------------
-- Registry
-- ---------------------------------------------------------------------------------------------

CREATE TABLE dwh_etl.applied_code (
    path            text NOT NULL,
    sha256          text NOT NULL,
    applied_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT applied_code_pk PRIMARY KEY (path)
);
COMMENT ON TABLE dwh_etl.applied_code IS 'Hash of each procedures/ file as last applied by dwh migrate; unchanged files are not re-applied.';

CREATE TABLE dwh_etl.settings (
    key             text NOT NULL,
    value           text NOT NULL,
    description     text,
    CONSTRAINT settings_pk PRIMARY KEY (key)
);
COMMENT ON TABLE dwh_etl.settings IS 'Engine and area settings (key/value). Read with dwh_etl.get_setting(key).';
INSERT INTO dwh_etl.settings (key, value, description) VALUES
    ('calendar.fiscal_year_start_month', '4', 'First month of the fiscal year in gold.dim_date (seed 000: April). Fiscal year N ends in calendar year N.'),
    ('calendar.start_date', '2020-01-01', 'First date of gold.dim_date.'),
    ('calendar.days_ahead', '730', 'gold.dim_date is kept this many days ahead of today.');

CREATE TABLE dwh_etl.table_registry (
    table_name      text NOT NULL,
    layer           text NOT NULL,
    area            text NOT NULL,
    description     text,
    CONSTRAINT table_registry_pk PRIMARY KEY (table_name),
    CONSTRAINT table_registry_layer_ck CHECK (layer IN ('source', 'bronze', 'silver', 'gold', 'mart', 'engine'))
);
COMMENT ON TABLE dwh_etl.table_registry IS 'Which layer and subject area every warehouse table belongs to (never inferred from names).';

CREATE TABLE dwh_etl.pipelines (
    pipeline_name   text NOT NULL,
    description     text,
    schedules       text[] NOT NULL DEFAULT '{}',
    is_active       boolean NOT NULL DEFAULT true,
    created_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pipelines_pk PRIMARY KEY (pipeline_name),
    CONSTRAINT pipelines_name_ck CHECK (pipeline_name ~ '^[a-z][a-z0-9_]*$')
);
COMMENT ON TABLE dwh_etl.pipelines IS 'Registered pipelines. Run with CALL dwh_etl.run_pipeline(p_pipeline => name).';
COMMENT ON COLUMN dwh_etl.pipelines.schedules IS 'Cron expressions in UTC (pg_cron 1.4 has no time zones).';

CREATE TABLE dwh_etl.steps (
    pipeline_name   text NOT NULL,
    step_name       text NOT NULL,
    procedure_name  text NOT NULL,
    depends_on      text[] NOT NULL DEFAULT '{}',
    source_tables   text[] NOT NULL DEFAULT '{}',
    target_tables   text[] NOT NULL DEFAULT '{}',
    layer           text NOT NULL,
    area            text NOT NULL,
    is_enabled      boolean NOT NULL DEFAULT true,
    description     text,
    CONSTRAINT steps_pk PRIMARY KEY (pipeline_name, step_name),
    CONSTRAINT steps_pipeline_fk FOREIGN KEY (pipeline_name) REFERENCES dwh_etl.pipelines (pipeline_name) ON DELETE CASCADE,
    CONSTRAINT steps_layer_ck CHECK (layer IN ('bronze', 'silver', 'gold', 'mart', 'ops')),
    CONSTRAINT steps_name_ck CHECK (step_name ~ '^[a-z][a-z0-9_]*$')
);
COMMENT ON TABLE dwh_etl.steps IS 'Steps of each pipeline: the procedure to CALL (signature (p_run_id bigint, p_run_date date)), the steps it depends on, its tables. Dependency cycles and unknown dependencies are rejected on write.';

CREATE TABLE dwh_etl.watermarks (
    table_name      text NOT NULL,
    watermark_column text NOT NULL,
    watermark_value timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT watermarks_pk PRIMARY KEY (table_name)
);
COMMENT ON TABLE dwh_etl.watermarks IS 'High-water marks of incremental steps (seed 002), advanced in the transaction that writes the data they cover.';

CREATE TABLE dwh_etl.dimension_specs (
    dimension_name  text NOT NULL,
    target_table    text NOT NULL,
    surrogate_key   text NOT NULL,
    natural_key     text[] NOT NULL,
    type2_columns   text[] NOT NULL DEFAULT '{}',
    type1_columns   text[] NOT NULL DEFAULT '{}',
    change_ts_column text,
    deleted_flag_column text,
    delete_policy   text NOT NULL DEFAULT 'close',
    type1_scope     text NOT NULL DEFAULT 'all_versions',
    description     text,
    CONSTRAINT dimension_specs_pk PRIMARY KEY (dimension_name),
    CONSTRAINT dimension_specs_target_uq UNIQUE (target_table),
    CONSTRAINT dimension_specs_delete_policy_ck CHECK (delete_policy IN ('ignore', 'close', 'close_marker')),
    CONSTRAINT dimension_specs_type1_scope_ck CHECK (type1_scope IN ('all_versions', 'current_only')),
    CONSTRAINT dimension_specs_key_ck CHECK (cardinality(natural_key) > 0)
);
COMMENT ON TABLE dwh_etl.dimension_specs IS 'Declared SCD dimensions, applied by dwh_etl.apply_dimension(name, source). The target table carries valid_from, valid_to, is_current, version, is_deleted, _batch_id, _loaded_at.';
COMMENT ON COLUMN dwh_etl.dimension_specs.change_ts_column IS 'Source column with the time the change happened; validity starts there. NULL: the load time.';
COMMENT ON COLUMN dwh_etl.dimension_specs.deleted_flag_column IS 'Boolean source column that marks a key as deleted at its change time.';

CREATE TABLE dwh_etl.quarantine (
    quarantine_id   bigint GENERATED ALWAYS AS IDENTITY,
    target_table    text NOT NULL,
    source_table    text NOT NULL,
    record_key      text,
    payload         jsonb NOT NULL,
    reasons         text[] NOT NULL,
    run_id          bigint,
    batch_id        uuid,
    quarantined_at  timestamptz NOT NULL DEFAULT now(),
    resolved_at     timestamptz,
    resolution      text,
    CONSTRAINT quarantine_pk PRIMARY KEY (quarantine_id),
    CONSTRAINT quarantine_reasons_ck CHECK (cardinality(reasons) > 0),
    CONSTRAINT quarantine_resolution_ck CHECK ((resolved_at IS NULL) = (resolution IS NULL))
);
CREATE INDEX quarantine_open_idx ON dwh_etl.quarantine (target_table, quarantined_at) WHERE resolved_at IS NULL;
COMMENT ON TABLE dwh_etl.quarantine IS 'Rows a load rejected, never dropped: the raw payload, every reason, the batch and run. Resolved rows keep their history.';
COMMENT ON COLUMN dwh_etl.quarantine.record_key IS 'Natural key of the rejected row as text, when it has one.';

-- ---------------------------------------------------------------------------------------------
-- Conformed calendar
-- ---------------------------------------------------------------------------------------------

CREATE TABLE gold.holidays (
    holiday_date    date NOT NULL,
    holiday_name    text NOT NULL,
    CONSTRAINT holidays_pk PRIMARY KEY (holiday_date)
);
COMMENT ON TABLE gold.holidays IS 'Holiday hook: rows here set is_holiday / holiday_name / is_business_day in gold.dim_date (dwh_etl.generate_dim_date re-applies them).';

CREATE TABLE gold.dim_date (
    date_key            integer NOT NULL,
    full_date           date NOT NULL,
    year                smallint NOT NULL,
    quarter             smallint NOT NULL,
    month               smallint NOT NULL,
    week                smallint NOT NULL,
    iso_year            smallint NOT NULL,
    week_of_month       smallint NOT NULL,
    day_of_month        smallint NOT NULL,
    day_of_week         smallint NOT NULL,
    iso_day_of_week     smallint NOT NULL,
    day_of_year         smallint NOT NULL,
    month_name          text NOT NULL,
    month_short         text NOT NULL,
    day_name            text NOT NULL,
    day_short           text NOT NULL,
    quarter_name        text NOT NULL,
    is_weekend          boolean NOT NULL,
    is_holiday          boolean NOT NULL DEFAULT false,
    holiday_name        text,
    is_business_day     boolean NOT NULL,
    fiscal_year         smallint NOT NULL,
    fiscal_quarter      smallint NOT NULL,
    fiscal_month        smallint NOT NULL,
    CONSTRAINT dim_date_pk PRIMARY KEY (date_key),
    CONSTRAINT dim_date_full_date_uq UNIQUE (full_date),
    CONSTRAINT dim_date_key_ck CHECK (date_key = to_char(full_date, 'YYYYMMDD')::integer),
    CONSTRAINT dim_date_month_ck CHECK (month BETWEEN 1 AND 12 AND fiscal_month BETWEEN 1 AND 12),
    CONSTRAINT dim_date_week_ck CHECK (week BETWEEN 1 AND 53)
);
COMMENT ON TABLE gold.dim_date IS 'Conformed calendar, one row per day, generated set-based by dwh_etl.generate_dim_date. Relative flags (is_current_*) are computed in gold.v_dim_date_relative rather than stored, so they are never stale.';
COMMENT ON COLUMN gold.dim_date.date_key IS 'YYYYMMDD.';
COMMENT ON COLUMN gold.dim_date.week IS 'ISO 8601 week number (1-53); pair with iso_year.';
COMMENT ON COLUMN gold.dim_date.day_of_week IS '0 = Sunday .. 6 = Saturday (EXTRACT(dow)).';
COMMENT ON COLUMN gold.dim_date.iso_day_of_week IS '1 = Monday .. 7 = Sunday.';
COMMENT ON COLUMN gold.dim_date.is_business_day IS 'Not a weekend and not a holiday.';
COMMENT ON COLUMN gold.dim_date.fiscal_year IS 'Fiscal year, named after the calendar year it ends in; start month from setting calendar.fiscal_year_start_month.';

CREATE TABLE gold.dim_time_of_day (
    time_key            integer NOT NULL,
    full_time           time NOT NULL,
    hour                smallint NOT NULL,
    minute              smallint NOT NULL,
    second              smallint NOT NULL,
    hour_of_day         smallint NOT NULL,
    period_of_day       text NOT NULL,
    is_business_hours   boolean NOT NULL,
    is_peak_hours       boolean NOT NULL,
    CONSTRAINT dim_time_of_day_pk PRIMARY KEY (time_key),
    CONSTRAINT dim_time_of_day_full_time_uq UNIQUE (full_time),
    CONSTRAINT dim_time_of_day_period_ck CHECK (period_of_day IN ('night', 'morning', 'afternoon', 'evening'))
);
COMMENT ON TABLE gold.dim_time_of_day IS 'Conformed time of day (seed 003 dim_time), one row per second, time_key HHMMSS.';
COMMENT ON COLUMN gold.dim_time_of_day.is_business_hours IS '09:00-17:59 (seed 003).';
COMMENT ON COLUMN gold.dim_time_of_day.is_peak_hours IS '09:00-11:59 and 13:00-15:59.';

INSERT INTO dwh_etl.table_registry (table_name, layer, area, description) VALUES
    ('gold.dim_date', 'gold', 'conformed', 'Calendar'),
    ('gold.dim_time_of_day', 'gold', 'conformed', 'Time of day');
