-- Attack 14b: an event moved to another issue (an execution, code generation, review, deployment or label
-- change whose issue_id is updated; a worktree's associated_issue_id; a pull request's issue_number) left
-- its old issue's fact_issue_processing row counting it: load_fact_issue_processing recomputed the issues
-- of the rows silver loaded, i.e. the new one only. This row trigger (AFTER UPDATE of silver, WHEN the
-- column changed) notes the old issue in dwh_staging.devflow_affected_issues, which the fact step
-- recomputes and empties. Argument: the column; a second argument 'number' says it holds an issue number.
CREATE OR REPLACE FUNCTION devflow.trg_note_affected_issue()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = devflow, pg_temp
AS $$
DECLARE
    v_old text := to_jsonb(OLD)->>TG_ARGV[0];
BEGIN
    IF v_old IS NULL THEN
        RETURN NULL;
    END IF;
    IF TG_NARGS > 1 AND TG_ARGV[1] = 'number' THEN
        INSERT INTO dwh_staging.devflow_affected_issues AS q (issue_id)
        SELECT i.id FROM silver.devflow_issues AS i WHERE i.number::text = v_old
        ON CONFLICT (issue_id) DO NOTHING;
    ELSE
        INSERT INTO dwh_staging.devflow_affected_issues AS q (issue_id) VALUES (v_old)
        ON CONFLICT (issue_id) DO NOTHING;
    END IF;
    RETURN NULL;
END;
$$;
COMMENT ON FUNCTION devflow.trg_note_affected_issue() IS 'Row trigger (AFTER UPDATE of a silver devflow table, WHEN its issue column changed): notes the old issue in dwh_staging.devflow_affected_issues for devflow.load_fact_issue_processing.';

DO $triggers$
DECLARE
    v record;
BEGIN
    FOR v IN
        SELECT * FROM (VALUES
            ('devflow_agent_execution_logs', 'issue_id', NULL), ('devflow_code_gen_tasks', 'issue_id', NULL),
            ('devflow_review_results', 'issue_id', NULL), ('devflow_deployment_pipelines', 'issue_id', NULL),
            ('devflow_label_history', 'issue_id', NULL), ('devflow_worktree_states', 'associated_issue_id', NULL),
            ('devflow_pull_requests', 'issue_number', 'number')
        ) AS t (table_name, column_name, kind)
    LOOP
        EXECUTE format('CREATE OR REPLACE TRIGGER zz_devflow_affected_issue AFTER UPDATE ON silver.%I FOR EACH ROW '
                       'WHEN (OLD.%2$I IS DISTINCT FROM NEW.%2$I) EXECUTE FUNCTION devflow.trg_note_affected_issue(%3$s)',
                       v.table_name, v.column_name,
                       concat_ws(', ', quote_literal(v.column_name), quote_literal(v.kind)));
    END LOOP;
END
$triggers$;
