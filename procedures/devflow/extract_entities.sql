-- Step (bronze): high-water-mark delta extraction of the devflow source's entities (issues, agents,
-- labels, worktrees, infrastructure inventory, label history) into bronze, in one snapshot. The window
-- ends at the end of p_run_date at the latest, so `dwh run daily --from --to` catches missed days up.
-- Windows run on _dwh_arrived_at (when the row reached the source, stamped by trigger zz_dwh_arrival),
-- not on updated_at, which is data and may lie: a row stamped behind the watermark, or 'infinity', was
-- never extracted (issue 9).
CREATE OR REPLACE PROCEDURE devflow.extract_entities(
    p_run_id   bigint,
    p_run_date date
)
LANGUAGE plpgsql
SET search_path = devflow, pg_temp
AS $$
DECLARE
    v_schema text := dwh_etl.get_setting('devflow.source_schema', 'devflow_src');
    v_cap    timestamptz := (p_run_date + 1)::timestamptz;
    v_table  text;
BEGIN
    FOREACH v_table IN ARRAY ARRAY['issues', 'agents', 'labels', 'worktree_states', 'infrastructure', 'label_history'] LOOP
        PERFORM dwh_etl.extract_incremental(format('%I.%I', v_schema, v_table), format('bronze.%I', 'devflow_' || v_table),
                                            '_dwh_arrived_at', v_cap);
    END LOOP;
END;
$$;
COMMENT ON PROCEDURE devflow.extract_entities(bigint, date) IS 'Step: extract changed issues, agents, labels, worktrees, infrastructure and label history (setting devflow.source_schema) into bronze.';
