-- Step kind `mart`: REFRESH MATERIALIZED VIEW CONCURRENTLY of one registered mart view (readers are never
-- blocked; its unique index allows it), serialized with other refreshes of it (dwh_etl.lock_step),
-- through the owner-only dwh_etl.sec_refresh_mart (etl_service does not own the view), and logged as a
-- refresh from its lineage source. Spec:
--   {"view": "sales.mv_customer_lifetime_value", "lineage_source": "sales.fact_sales"}
CREATE OR REPLACE PROCEDURE dwh_etl.step_mart(
    p_run_id   bigint,
    p_run_date date,
    p_spec     jsonb
)
LANGUAGE plpgsql
SET search_path = dwh_etl, pg_temp
AS $$
DECLARE
    v_view regclass := to_regclass(p_spec->>'view');
    v_rows bigint;
BEGIN
    IF v_view IS NULL THEN
        RAISE EXCEPTION 'mart step spec names no existing view: %', p_spec
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    PERFORM dwh_etl.lock_step(p_spec->>'view');
    PERFORM dwh_etl.sec_refresh_mart(v_view);  -- owner-only REFRESH, done for etl_service
    EXECUTE format('SELECT count(*) FROM %s', v_view) INTO v_rows;
    PERFORM dwh_lineage.log_refresh(
        in_view_name    => p_spec->>'view',
        in_source_table => p_spec->>'lineage_source',
        in_row_count    => v_rows,
        in_run_id       => p_run_id);
END;
$$;
COMMENT ON PROCEDURE dwh_etl.step_mart(bigint, date, jsonb) IS 'Step kind mart: refresh one materialized view concurrently (spec: view, lineage_source) and log the refresh.';
