-- Step citizen_quality_days (custom, after the fact steps, before the marts): queues the days whose
-- measurement facts must be recomputed, from what no fact step queues:
--  * the days the fact steps queued (dwh_staging.citizen_affected_days_service, read, not consumed: its
--    mart step consumes it later) -> citizen_dq_days and citizen_perf_days;
--  * the days of the citizen event feeds' quarantine entries opened or resolved since the last call (the
--    day of the raw payload's occurred_at in citizen.timezone) -> citizen_dq_days (accuracy counts them;
--    a re-delivery of an open entry only counts a delivery on it, which accuracy does not count: no day);
--  * the days (citizen.timezone) in which a citizen step finished since the last call
--    -> citizen_perf_days (the warehouse's own ETL metrics).
-- Why custom: no step kind reads the engine's run history or quarantine, or copies a queue without
-- consuming it. The two high-water marks are watermarks (dwh_etl.watermarks), advanced in this step's
-- transaction to the latest time seen. Idempotent: queues are sets (ON CONFLICT DO NOTHING).
CREATE OR REPLACE PROCEDURE citizen.marts_queue_engine_days(
    p_run_id   bigint,
    p_run_date date
)
LANGUAGE plpgsql
SET search_path = citizen, pg_temp
AS $$
DECLARE
    v_zone      text := dwh_etl.setting_timezone('citizen.timezone', 'Asia/Kolkata');
    v_q_mark    timestamptz := dwh_etl.get_watermark('citizen.fct_data_quality');
    v_s_mark    timestamptz := dwh_etl.get_watermark('citizen.fct_system_performance');
    v_q_latest  timestamptz;
    v_s_latest  timestamptz;
    v_queued    bigint := 0;
    v_rows      bigint;
BEGIN
    PERFORM dwh_etl.lock_step('citizen.marts_queue_engine_days');

    INSERT INTO dwh_staging.citizen_dq_days (date_key, run_id)
    SELECT a.date_key, p_run_id FROM dwh_staging.citizen_affected_days_service AS a
    ON CONFLICT (date_key) DO NOTHING;
    GET DIAGNOSTICS v_rows = ROW_COUNT;
    v_queued := v_queued + v_rows;
    INSERT INTO dwh_staging.citizen_perf_days (date_key, run_id)
    SELECT a.date_key, p_run_id FROM dwh_staging.citizen_affected_days_service AS a
    ON CONFLICT (date_key) DO NOTHING;
    GET DIAGNOSTICS v_rows = ROW_COUNT;
    v_queued := v_queued + v_rows;

    -- quarantine entries of the event feeds that changed since the mark
    WITH changed AS (
        SELECT GREATEST(qe.quarantined_at, qe.resolved_at) AS changed_at,
               dwh_etl.try_timestamptz(qe.payload->>'occurred_at', v_zone) AS occurred_at
        FROM dwh_etl.quarantine AS qe
        WHERE qe.target_table IN ('silver.citizen_query_logs', 'silver.citizen_content_events')
          AND GREATEST(qe.quarantined_at, qe.resolved_at) > v_q_mark
    ),
    queued AS (
        INSERT INTO dwh_staging.citizen_dq_days (date_key, run_id)
        SELECT DISTINCT to_char(c.occurred_at AT TIME ZONE v_zone, 'YYYYMMDD')::integer, p_run_id
        FROM changed AS c
        JOIN gold.dim_date AS d
          ON d.date_key = to_char(c.occurred_at AT TIME ZONE v_zone, 'YYYYMMDD')::integer
        WHERE c.occurred_at IS NOT NULL
        ON CONFLICT (date_key) DO NOTHING
        RETURNING 1
    )
    SELECT (SELECT max(c.changed_at) FROM changed AS c), (SELECT count(*) FROM queued)
    INTO v_q_latest, v_rows;
    v_queued := v_queued + v_rows;

    -- citizen steps that finished since the mark
    WITH finished AS (
        SELECT sr.completed_at
        FROM dwh_lineage.step_runs AS sr
        JOIN dwh_lineage.pipeline_runs AS pr
          ON pr.run_id = sr.run_id
        WHERE sr.completed_at > v_s_mark
          AND sr.status IN ('completed', 'failed')
          AND EXISTS (SELECT 1 FROM dwh_etl.steps AS st
                      WHERE st.pipeline_name = pr.pipeline_name AND st.step_name = sr.step_name AND st.area = 'citizen')
    ),
    queued AS (
        INSERT INTO dwh_staging.citizen_perf_days (date_key, run_id)
        SELECT DISTINCT to_char(f.completed_at AT TIME ZONE v_zone, 'YYYYMMDD')::integer, p_run_id
        FROM finished AS f
        ON CONFLICT (date_key) DO NOTHING
        RETURNING 1
    )
    SELECT (SELECT max(f.completed_at) FROM finished AS f), (SELECT count(*) FROM queued)
    INTO v_s_latest, v_rows;
    v_queued := v_queued + v_rows;

    IF v_q_latest IS NOT NULL THEN
        CALL dwh_etl.set_watermark('citizen.fct_data_quality', 'dwh_etl.quarantine changes', v_q_latest);
    END IF;
    IF v_s_latest IS NOT NULL THEN
        CALL dwh_etl.set_watermark('citizen.fct_system_performance', 'dwh_lineage.step_runs.completed_at', v_s_latest);
    END IF;
    RAISE DEBUG 'citizen.marts_queue_engine_days: % days queued', v_queued;
END;
$$;
COMMENT ON PROCEDURE citizen.marts_queue_engine_days(bigint, date) IS 'Step citizen_quality_days: queue the days of citizen.fct_data_quality and citizen.fct_system_performance to recompute (the facts'' affected days, changed quarantine entries of the event feeds, finished citizen steps).';
REVOKE EXECUTE ON PROCEDURE citizen.marts_queue_engine_days(bigint, date) FROM PUBLIC;
GRANT EXECUTE ON PROCEDURE citizen.marts_queue_engine_days(bigint, date) TO etl_service;
