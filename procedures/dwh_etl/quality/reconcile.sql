-- Reconciliation of one load: every bronze row of the window is accounted for as accepted,
-- quarantined or a collapsed duplicate. Recorded in dwh_lineage.quality_metrics (metric
-- 'reconciliation'); a mismatch raises DW005, which fails (and rolls back) the step. p_run_id: the run
-- the load belongs to (NULL outside a pipeline).
-- The earlier signature, replaced by this one (a new argument list would otherwise add an overload).
DROP FUNCTION IF EXISTS dwh_etl.reconcile(text, text, bigint, bigint, bigint, bigint);
CREATE OR REPLACE FUNCTION dwh_etl.reconcile(
    p_target      text,
    p_source      text,
    p_read        bigint,
    p_accepted    bigint,
    p_quarantined bigint,
    p_duplicates  bigint,
    p_run_id      bigint DEFAULT NULL
)
RETURNS void
LANGUAGE plpgsql
SET search_path = dwh_etl, pg_temp
AS $$
DECLARE
    v_diff bigint := p_read - (p_accepted + p_quarantined + p_duplicates);
    v_sample jsonb := jsonb_build_object('source', p_source, 'read', p_read, 'accepted', p_accepted,
                                         'quarantined', p_quarantined, 'duplicates', p_duplicates);
BEGIN
    IF v_diff <> 0 THEN
        RAISE EXCEPTION 'reconciliation of % failed: % rows read from %, % accepted + % quarantined + % duplicates',
                        p_target, p_read, p_source, p_accepted, p_quarantined, p_duplicates
            USING ERRCODE = 'DW005',
                  DETAIL = v_sample::text,
                  HINT = 'rows would be lost: the step is rolled back; check the load''s validation and deduplication';
    END IF;
    PERFORM dwh_etl.quality_record(jsonb_build_array(jsonb_build_object(
        'rule_name', 'reconciliation', 'table_name', p_target, 'rule_type', 'reconciliation',
        'severity', 'error', 'threshold', 0, 'threshold_type', 'count',
        'rows_checked', p_read, 'failing', 0, 'metric_value', v_diff, 'passed', true,
        'failing_sample', v_sample)), p_run_id);
END;
$$;
COMMENT ON FUNCTION dwh_etl.reconcile(text, text, bigint, bigint, bigint, bigint, bigint) IS 'Check and record that rows read = accepted + quarantined + duplicates for one load; DW005 when not.';
