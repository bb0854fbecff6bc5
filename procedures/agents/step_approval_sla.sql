-- Step agents_approval_sla (custom, after agents_scd_dimensions and agents_fact_approval): an approval
-- request keeps the SLA of the agent version it points at. fact_approval stores that SLA
-- (sla_target_seconds, from which the table generates sla_met) when the request is loaded; an agent
-- version that changes in place afterwards left it stale for good (attack 15d): a request whose agent
-- row arrived after it points at the agent's inferred member, which carries the seed's default 300 s,
-- and when the agent's row completed that member in place (same agent_key, its real SLA: 60 s), the
-- request kept 300 s, so sla_met (and the day's sla_compliance_pct) said met for a resolution that took
-- 200 s. Here the requests of the agent versions written since the step's watermark (dim_agent._loaded_at:
-- a completed inferred member, a Type 2 change) take their version's SLA where it differs, and their days
-- are queued for agents_agg_daily (dwh_staging.agents_affected_days). Set-based; idempotent (a rerun finds
-- nothing that differs). Custom: no kind rewrites a fact's copied dimension attribute.
CREATE OR REPLACE PROCEDURE agents.step_approval_sla(
    p_run_id   bigint,
    p_run_date date
)
LANGUAGE plpgsql
SET search_path = agents, pg_temp
AS $$
DECLARE
    v_batch   uuid := COALESCE((dwh_etl.get_run_context(p_run_id)).batch_id, gen_random_uuid());
    v_win     record := dwh_etl.window_bounds('agents.fact_approval.sla');
    v_updated bigint;
BEGIN
    WITH changed AS (
        SELECT d.agent_key, d.sla_target_seconds
        FROM agents.dim_agent AS d
        WHERE d._loaded_at >= v_win.from_ts AND d._loaded_at < v_win.to_ts
    ),
    updated AS (
        UPDATE agents.fact_approval AS f
        SET sla_target_seconds = c.sla_target_seconds,
            _batch_id          = v_batch,
            _loaded_at         = dwh_etl.load_time(),
            _updated_at        = dwh_etl.load_time()
        FROM changed AS c
        WHERE f.agent_key = c.agent_key
          AND f.sla_target_seconds IS DISTINCT FROM c.sla_target_seconds
        RETURNING f.time_key
    ),
    queued AS (
        INSERT INTO dwh_staging.agents_affected_days (time_key, run_id)
        SELECT DISTINCT u.time_key, p_run_id FROM updated AS u
        ON CONFLICT (time_key) DO NOTHING
    )
    SELECT count(*) INTO v_updated FROM updated;

    PERFORM dwh_lineage.log_transformation(
        in_source_table   => 'agents.dim_agent',
        in_target_table   => 'agents.fact_approval',
        in_batch_id       => v_batch,
        in_rows_inserted  => 0::bigint,
        in_rows_updated   => v_updated,
        in_rows_unchanged => 0::bigint,
        in_notes          => format('%s approval requests took the SLA of their agent version', v_updated),
        in_run_id         => p_run_id);
    CALL dwh_etl.set_watermark('agents.fact_approval.sla', '_loaded_at', v_win.to_ts);
END;
$$;
COMMENT ON PROCEDURE agents.step_approval_sla(bigint, date) IS 'Step agents_approval_sla: approval requests of the agent versions written since the watermark (a completed inferred member, a change) take their version''s SLA (sla_target_seconds, hence sla_met); their days are queued for agents_agg_daily.';
REVOKE EXECUTE ON PROCEDURE agents.step_approval_sla(bigint, date) FROM PUBLIC;
GRANT EXECUTE ON PROCEDURE agents.step_approval_sla(bigint, date) TO etl_service;
