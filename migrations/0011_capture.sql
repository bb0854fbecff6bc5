-- depends: 0007_pg_cron
-- Capture by arrival order (issue 9, item 5). Incremental extraction read windows on each source row's
-- own change timestamp (updated_at, deleted_at): a row written with a timestamp behind the watermark
-- (two days in the past, '-infinity', year 1) was skipped forever, one with 'infinity' never became due.
-- Every demo source table extracted incrementally gets an arrival column, _dwh_arrived_at, stamped with
-- clock_timestamp() by trigger zz_dwh_arrival (dwh_etl.trg_stamp_arrival, ENABLE ALWAYS; created by
-- procedures/sales_src/arrival_triggers.sql and procedures/devflow_src/arrival_triggers.sql through
-- dwh_etl.track_arrival, since routines are applied after the migrations). The inbox
-- devflow_src.api_payloads keeps received_at as its arrival column: the trigger forces it.
--
-- Existing rows are filled from their change timestamp capped at now(), and the extraction watermarks
-- move to the new column with their values unchanged: a row was extracted before iff its change
-- timestamp was below the watermark, and that stays true of its arrival stamp, so extraction continues
-- without a gap or a full reload. Rows stamped in the future or 'infinity' (never extracted: no window
-- passed now()) arrive now. The fill rewrites each table once (ALTER COLUMN ... TYPE ... USING) instead
-- of an UPDATE, which would fire the tables' own UPDATE triggers (sales_src's touch updated_at).

DO $capture$
DECLARE
    v_spec record;
BEGIN
    FOR v_spec IN
        SELECT * FROM (VALUES
            ('sales_src', 'customers', 'updated_at', 'bronze.sales_customers'),
            ('sales_src', 'products', 'updated_at', 'bronze.sales_products'),
            ('sales_src', 'sales', 'updated_at', 'bronze.sales_sales'),
            ('sales_src', 'deleted_records', 'deleted_at', 'bronze.sales_deleted_records'),
            ('devflow_src', 'issues', 'updated_at', 'bronze.devflow_issues'),
            ('devflow_src', 'agents', 'updated_at', 'bronze.devflow_agents'),
            ('devflow_src', 'labels', 'updated_at', 'bronze.devflow_labels'),
            ('devflow_src', 'worktree_states', 'updated_at', 'bronze.devflow_worktree_states'),
            ('devflow_src', 'infrastructure', 'updated_at', 'bronze.devflow_infrastructure'),
            ('devflow_src', 'label_history', 'updated_at', 'bronze.devflow_label_history'),
            ('devflow_src', 'agent_execution_logs', 'updated_at', 'bronze.devflow_agent_execution_logs'),
            ('devflow_src', 'code_gen_tasks', 'updated_at', 'bronze.devflow_code_gen_tasks'),
            ('devflow_src', 'review_results', 'updated_at', 'bronze.devflow_review_results'),
            ('devflow_src', 'deployment_pipelines', 'updated_at', 'bronze.devflow_deployment_pipelines')
        ) AS s (schema_name, table_name, change_column, bronze_table)
    LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute AS a
                       WHERE a.attrelid = format('%I.%I', v_spec.schema_name, v_spec.table_name)::regclass
                         AND a.attname = '_dwh_arrived_at' AND NOT a.attisdropped) THEN
            EXECUTE format('ALTER TABLE %I.%I ADD COLUMN _dwh_arrived_at timestamptz',
                           v_spec.schema_name, v_spec.table_name);
            EXECUTE format('ALTER TABLE %I.%I ALTER COLUMN _dwh_arrived_at TYPE timestamptz USING LEAST(%I, now())',
                           v_spec.schema_name, v_spec.table_name, v_spec.change_column);
            EXECUTE format('ALTER TABLE %I.%I ALTER COLUMN _dwh_arrived_at SET DEFAULT clock_timestamp(), '
                           'ALTER COLUMN _dwh_arrived_at SET NOT NULL', v_spec.schema_name, v_spec.table_name);
        END IF;
        EXECUTE format('CREATE INDEX IF NOT EXISTS %I ON %I.%I (_dwh_arrived_at)',
                       v_spec.table_name || '_arrival_idx', v_spec.schema_name, v_spec.table_name);
        EXECUTE format('COMMENT ON COLUMN %I.%I._dwh_arrived_at IS %L', v_spec.schema_name, v_spec.table_name,
                       format('When the row last reached the table: clock_timestamp(), stamped by trigger zz_dwh_arrival '
                              '(dwh_etl.trg_stamp_arrival) whatever the writer supplied, also for replicated rows. '
                              'High-water mark column of incremental extraction (%s stays data: the change time).',
                              v_spec.change_column));
        UPDATE dwh_etl.watermarks AS w
        SET watermark_column = '_dwh_arrived_at'
        WHERE w.table_name = v_spec.bronze_table
          AND w.watermark_column = v_spec.change_column;
    END LOOP;
END
$capture$;

-- The inbox: received_at is its arrival column (forced by the trigger from now on). Payloads stamped in
-- the future were never ingested yet (no window passed now()): they arrive now.
UPDATE devflow_src.api_payloads SET received_at = now() WHERE received_at > now();
COMMENT ON COLUMN devflow_src.api_payloads.received_at IS 'When the payload reached the inbox: clock_timestamp(), stamped by trigger zz_dwh_arrival (dwh_etl.trg_stamp_arrival) whatever the collector supplied. High-water mark column of the ingest steps.';

COMMENT ON COLUMN sales_src.customers.updated_at IS 'When the row was last changed: set to now() by trigger customers_touch_updated_at on every UPDATE that changes the row. The change time of the SCD history (extraction reads _dwh_arrived_at).';
COMMENT ON COLUMN sales_src.products.updated_at IS 'When the row was last changed (trigger products_touch_updated_at). The change time of the SCD history (extraction reads _dwh_arrived_at).';
COMMENT ON COLUMN sales_src.sales.updated_at IS 'When the row was last changed (trigger sales_touch_updated_at). Extraction reads _dwh_arrived_at.';
COMMENT ON COLUMN sales_src.deleted_records.deleted_at IS 'now() of the deleting transaction: the time of the delete in the history (extraction reads _dwh_arrived_at).';
