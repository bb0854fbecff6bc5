-- Runs one step inside a subtransaction: on error its writes are rolled back and the error
-- (SQLSTATE, message, detail, hint, context) is written to its dwh_lineage.step_runs row instead.
-- Returns 'completed', 'failed' or 'cancelled' (a cancel or statement_timeout during the step).
-- The caller (run_pipeline) owns the COMMIT; this function owns the EXCEPTION handler.
--
-- The step gets its run context explicitly: p_run_id (dwh_etl.get_run_context(p_run_id) gives batch,
-- pipeline, run date and step). The quality gate (write-audit-publish) evaluates the rules of the step's
-- target tables inside the step's subtransaction, on its unpublished rows, into v_quality. When an
-- error rule fails it raises a plain DW004 naming the rules: the subtransaction rolls back (nothing is
-- published), and the handler, now outside it but still in the step's transaction, records the results
-- from v_quality (a PL/pgSQL variable keeps its value across the rollback) with the run id. Nothing
-- travels through the error's DETAIL.
--
-- p_skip_reason (dwh_etl._step_unchanged, asked by run_steps): nothing the step reads changed since its
-- last success, so its body is not called; everything else happens as when it runs: what the body
-- records whatever it reads (the reconciliation of silver and fact loads, a lineage row per target
-- table: 0 rows) is recorded, its
-- quality rules are evaluated and recorded (a batch-scoped rule looks at the batch's rows there: none, read without a
-- scan) and can still refuse the step, and it is recorded 'completed' with the reason in skipped_reason.
-- The earlier signature (without p_skip_reason), replaced by this one.
DROP FUNCTION IF EXISTS dwh_etl._run_step(bigint, text, text, date);
CREATE OR REPLACE FUNCTION dwh_etl._run_step(
    p_run_id    bigint,
    p_step_name text,
    p_procedure text,
    p_run_date  date,
    p_skip_reason text DEFAULT NULL
)
RETURNS text
LANGUAGE plpgsql
SET search_path = dwh_etl, pg_temp
AS $$
DECLARE
    v_started  timestamptz := clock_timestamp();
    v_name     text[];
    v_proc     text;
    v_state    text;
    v_message  text;
    v_detail   text;
    v_hint     text;
    v_context  text;
    v_table    record;
    v_quality  jsonb;
    v_kind     text;
    v_spec     jsonb;
    v_gate     text;                -- the failed error rules, when this step's own gate refused to publish
    v_load     jsonb;
BEGIN
    BEGIN
        -- a typed step runs its kind's engine routine with its spec; a custom step its procedure
        -- (neither when the runner found nothing new for it: p_skip_reason)
        SELECT st.kind, st.spec INTO v_kind, v_spec
        FROM dwh_lineage.pipeline_runs AS pr
        JOIN dwh_etl.steps AS st
          ON st.pipeline_name = pr.pipeline_name
         AND st.step_name = p_step_name
        WHERE pr.run_id = p_run_id;
        IF p_skip_reason IS NOT NULL THEN
            -- What the body records even when it reads nothing, recorded as it would: the silver loader
            -- (dwh_etl._load_silver) and the fact loader (dwh_etl.step_fact) reconcile every load, read
            -- 0 = 0 accepted + 0 quarantined + 0 duplicates, in the order of the loads.
            IF v_kind = 'silver' THEN
                FOR v_load IN
                    SELECT (v_spec - 'loads') || e
                    FROM jsonb_array_elements(CASE WHEN v_spec ? 'loads' THEN v_spec->'loads'
                                                   ELSE jsonb_build_array(v_spec) END) AS e
                LOOP
                    PERFORM dwh_etl.reconcile(p_target => v_load->>'target', p_source => v_load->>'bronze',
                                              p_read => 0, p_accepted => 0, p_quarantined => 0,
                                              p_duplicates => 0, p_run_id => p_run_id);
                END LOOP;
            ELSIF v_kind = 'fact' THEN
                PERFORM dwh_etl.reconcile(p_target => to_regclass(v_spec->>'target')::text,
                                          p_source => COALESCE(v_spec->>'lineage_source', to_regclass(v_spec->>'view')::text),
                                          p_read => 0, p_accepted => 0, p_quarantined => 0,
                                          p_duplicates => 0, p_run_id => p_run_id);
            END IF;
            -- and the load of each target, 0 rows, as the step's own lineage says when it finds nothing:
            -- lineage-based freshness and volume rules judge a skipped step as they judged the run
            PERFORM dwh_lineage.log_transformation(
                in_source_table  => COALESCE(v_spec->>'lineage_source', st.source_tables[1], t.table_name),
                in_target_table  => t.table_name,
                in_batch_id      => (SELECT pr.batch_id FROM dwh_lineage.pipeline_runs AS pr WHERE pr.run_id = p_run_id),
                in_notes         => p_skip_reason,
                in_run_id        => p_run_id)
            FROM dwh_lineage.pipeline_runs AS pr
            JOIN dwh_etl.steps AS st
              ON st.pipeline_name = pr.pipeline_name
             AND st.step_name = p_step_name
            CROSS JOIN LATERAL unnest(st.target_tables) AS t (table_name)
            WHERE pr.run_id = p_run_id;
        ELSIF COALESCE(v_kind, 'custom') = 'custom' THEN
            v_name := parse_ident(p_procedure);
            IF cardinality(v_name) <> 2 THEN
                RAISE EXCEPTION 'step procedure % must be schema-qualified', p_procedure
                    USING ERRCODE = 'invalid_parameter_value';
            END IF;
            v_proc := format('%I.%I', v_name[1], v_name[2]);
            IF to_regprocedure(v_proc || '(bigint, date)') IS NULL THEN
                RAISE EXCEPTION 'step procedure %(p_run_id bigint, p_run_date date) does not exist', v_proc
                    USING ERRCODE = 'undefined_function',
                          HINT = 'run dwh migrate, or fix procedure_name in dwh_etl.steps';
            END IF;
            EXECUTE format('CALL %s(p_run_id => $1, p_run_date => $2)', v_proc)
            USING p_run_id, p_run_date;
        ELSE
            IF to_regprocedure(format('dwh_etl.%I(bigint, date, jsonb)', 'step_' || v_kind)) IS NULL THEN
                RAISE EXCEPTION 'the engine has no routine for step kind % (dwh_etl.step_%(bigint, date, jsonb))', v_kind, v_kind
                    USING ERRCODE = 'undefined_function', HINT = 'run dwh migrate';
            END IF;
            EXECUTE format('CALL dwh_etl.%I(p_run_id => $1, p_run_date => $2, p_spec => $3)', 'step_' || v_kind)
            USING p_run_id, p_run_date, v_spec;
        END IF;

        -- Fresh statistics for every table the step changed a lot, so the step's quality rules and the
        -- next steps plan with them. Before the audit (issue 15): a first load's rules were planned on the
        -- empty table's statistics (the batch estimated at ~1k of its 300k rows) and checked references
        -- by 300k index probes, not one hash join. A failing gate rolls the statistics back with the
        -- writes; pg_class.reltuples/relpages, written in place by ANALYZE, keep the rolled-back batch's
        -- size until the next VACUUM or ANALYZE of the table (autovacuum's, of the dead rows).
        -- Registered tables through dwh_etl.sec_analyze (etl_service does not own them: a non-owner's
        -- ANALYZE only warns and skips); other tables (an area's scratch) only when the runner owns them.
        FOR v_table IN
            SELECT c.oid::regclass AS rel,
                   EXISTS (SELECT 1 FROM dwh_etl.table_registry AS tr WHERE to_regclass(tr.table_name) = c.oid) AS registered,
                   pg_catalog.pg_has_role(c.relowner, 'USAGE') AS owned
            FROM dwh_lineage.table_lineage AS tl
            JOIN pg_catalog.pg_class AS c
              ON c.oid = to_regclass(tl.target_table)
            WHERE tl.run_id = p_run_id
              AND tl.step_name = p_step_name
              AND c.relkind IN ('r', 'p', 'm')
            GROUP BY c.oid, c.reltuples, c.relowner
            HAVING sum(COALESCE(tl.rows_inserted, 0) + COALESCE(tl.rows_updated, 0) + COALESCE(tl.rows_deleted, 0))
                   > GREATEST(1000, 0.1 * GREATEST(c.reltuples, 0))
        LOOP
            -- Citus (issue 17): a reference table written in this transaction was written through its
            -- placement on the coordinator (local execution), and Citus then refuses the ANALYZE that
            -- goes to every placement ("cannot execute command because a local execution has accessed
            -- a placement in the transaction", in sequential mode too); its shards are plain tables that
            -- autovacuum analyzes on every node. Without Citus the type is NULL and nothing is skipped.
            CONTINUE WHEN dwh_etl.citus_table_type(v_table.rel) = 'reference';
            IF v_table.registered THEN
                PERFORM dwh_etl.sec_analyze(v_table.rel, p_keys_only => true);
            ELSIF v_table.owned THEN
                EXECUTE format('ANALYZE %s', v_table.rel);
            END IF;
        END LOOP;

        -- Audit before publish: the quality rules of the step's target tables, on the rows this run
        -- wrote, while the step's writes are still uncommitted. A failed error rule raises a plain error
        -- naming the rules: the writes roll back (nothing is published) and the handler below records
        -- the results held in v_quality. A passing gate records them with the step's writes.
        v_quality := dwh_etl.quality_audit(p_run_id, p_step_name, p_skip_reason IS NOT NULL);
        v_gate := dwh_etl.quality_gate_message(v_quality);
        IF v_gate IS NOT NULL THEN
            RAISE EXCEPTION '%', v_gate
                USING ERRCODE = 'DW004',
                      HINT = 'the step''s writes were rolled back; dwh quality --failed shows the failing rows';
        END IF;
        PERFORM dwh_etl.quality_record(v_quality, p_run_id);

        UPDATE dwh_lineage.step_runs AS sr
        SET status       = 'completed',
            completed_at = clock_timestamp(),
            duration_ms  = (EXTRACT(EPOCH FROM (clock_timestamp() - v_started)) * 1000)::bigint,
            rows_read    = t.rows_read,
            rows_written = t.rows_written,
            skipped_reason = p_skip_reason
        FROM (
            SELECT COALESCE(sum(tl.rows_read), 0)::bigint AS rows_read,
                   COALESCE(sum(COALESCE(tl.rows_inserted, 0) + COALESCE(tl.rows_updated, 0)
                                + COALESCE(tl.rows_deleted, 0)), 0)::bigint AS rows_written
            FROM dwh_lineage.table_lineage AS tl
            WHERE tl.run_id = p_run_id
              AND tl.step_name = p_step_name
        ) AS t
        WHERE sr.run_id = p_run_id
          AND sr.step_name = p_step_name;
        RETURN 'completed';
    EXCEPTION WHEN query_canceled THEN
        -- Ctrl-C in psql, pg_cancel_backend, statement_timeout: not covered by OTHERS. The step's
        -- writes are rolled back; it is recorded 'cancelled' and the runner ends the run (and releases
        -- its lock) before raising the cancel again.
        GET STACKED DIAGNOSTICS
            v_message = MESSAGE_TEXT,
            v_context = PG_EXCEPTION_CONTEXT;
        UPDATE dwh_lineage.step_runs AS sr
        SET status        = 'cancelled',
            completed_at  = clock_timestamp(),
            duration_ms   = (EXTRACT(EPOCH FROM (clock_timestamp() - v_started)) * 1000)::bigint,
            sqlstate      = '57014',
            error_message = v_message,
            error_context = NULLIF(v_context, '')
        WHERE sr.run_id = p_run_id
          AND sr.step_name = p_step_name;
        RETURN 'cancelled';
    WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS
            v_state   = RETURNED_SQLSTATE,
            v_message = MESSAGE_TEXT,
            v_detail  = PG_EXCEPTION_DETAIL,
            v_hint    = PG_EXCEPTION_HINT,
            v_context = PG_EXCEPTION_CONTEXT;
        IF v_gate IS NOT NULL AND v_state = 'DW004' THEN
            -- this step's gate refused to publish: keep its results (the step's own writes are rolled
            -- back; the results are recorded here, in the step's transaction, which the runner commits)
            PERFORM dwh_etl.quality_record(v_quality, p_run_id);
            v_detail := format('quality results recorded in dwh_lineage.quality_metrics (run_id %s)', p_run_id);
        END IF;
        UPDATE dwh_lineage.step_runs AS sr
        SET status        = 'failed',
            completed_at  = clock_timestamp(),
            duration_ms   = (EXTRACT(EPOCH FROM (clock_timestamp() - v_started)) * 1000)::bigint,
            sqlstate      = v_state,
            error_message = v_message,
            error_detail  = NULLIF(v_detail, ''),
            error_hint    = NULLIF(v_hint, ''),
            error_context = NULLIF(v_context, '')
        WHERE sr.run_id = p_run_id
          AND sr.step_name = p_step_name;
        RETURN 'failed';
    END;
END;
$$;
COMMENT ON FUNCTION dwh_etl._run_step(bigint, text, text, date, text) IS 'Run one pipeline step in a subtransaction and record its outcome in dwh_lineage.step_runs; with p_skip_reason, only its quality audit (nothing it reads changed).';
REVOKE EXECUTE ON FUNCTION dwh_etl._run_step(bigint, text, text, date, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION dwh_etl._run_step(bigint, text, text, date, text) TO etl_service;
