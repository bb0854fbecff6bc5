-- Step agents_agg_daily (custom, after the fact steps): agents.agg_agent_daily_performance for the
-- affected days only: every day queued by the three fact steps (dwh_staging.agents_affected_days: the
-- time_key of every fact row inserted or updated, old and new) is rebuilt by the seed's routine
-- agents.refresh_agg_agent_daily_performance(day), so a late approval resolution re-aggregates its own
-- day and nothing else. Why not the mart kind's table form (sales' agg_daily_sales uses it): the logic is
-- the seed's per-day function, which a DBA calls and which takes its own per-day lock; as a view its query
-- (three grouped facts, each joined twice) would not take the key filter, so it stays custom for now. The
-- queue entries are consumed in the step's transaction (a failed step leaves them for the next run).
CREATE OR REPLACE PROCEDURE agents.step_agg_daily_performance(
    p_run_id   bigint,
    p_run_date date
)
LANGUAGE plpgsql
SET search_path = agents, pg_temp
AS $$
DECLARE
    v_batch uuid := COALESCE((dwh_etl.get_run_context(p_run_id)).batch_id, gen_random_uuid());
    v_day   integer;
    v_days  bigint := 0;
    v_rows  bigint := 0;
BEGIN
    PERFORM dwh_etl.lock_step('agents.agg_agent_daily_performance');
    FOR v_day IN SELECT q.time_key FROM dwh_staging.agents_affected_days AS q ORDER BY q.time_key LOOP
        v_rows := v_rows + agents.refresh_agg_agent_daily_performance(to_date(v_day::text, 'YYYYMMDD'));
        v_days := v_days + 1;
        DELETE FROM dwh_staging.agents_affected_days AS q WHERE q.time_key = v_day;
    END LOOP;
    PERFORM dwh_lineage.log_aggregation(
        in_source_table  => 'agents.fact_agent_query',
        in_target_table  => 'agents.agg_agent_daily_performance',
        in_batch_id      => v_batch,
        in_rows_inserted => v_rows,
        in_rows_deleted  => 0::bigint,
        in_run_id        => p_run_id);
    RAISE DEBUG 'agents.step_agg_daily_performance: % days refreshed, % rows', v_days, v_rows;
END;
$$;
COMMENT ON PROCEDURE agents.step_agg_daily_performance(bigint, date) IS 'Step agents_agg_daily: rebuild agents.agg_agent_daily_performance for the days whose facts changed (dwh_staging.agents_affected_days), by agents.refresh_agg_agent_daily_performance.';
REVOKE EXECUTE ON PROCEDURE agents.step_agg_daily_performance(bigint, date) FROM PUBLIC;
GRANT EXECUTE ON PROCEDURE agents.step_agg_daily_performance(bigint, date) TO etl_service;
