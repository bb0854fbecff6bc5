-- Rejects, when steps are written or deleted, steps that depend on a step their pipeline does not have
-- and dependency cycles, so a pipeline can always be ordered.
CREATE OR REPLACE FUNCTION dwh_etl._check_step_graph()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = dwh_etl, pg_temp
AS $$
DECLARE
    v_bad record;
BEGIN
    SELECT s.pipeline_name, s.step_name, d.dep
    INTO v_bad
    FROM dwh_etl.steps AS s
    CROSS JOIN LATERAL unnest(s.depends_on) AS d (dep)
    WHERE NOT EXISTS (
        SELECT 1
        FROM dwh_etl.steps AS t
        WHERE t.pipeline_name = s.pipeline_name
          AND t.step_name = d.dep
    )
    LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'step %.% depends on unknown step %', v_bad.pipeline_name, v_bad.step_name, v_bad.dep
            USING ERRCODE = 'foreign_key_violation',
                  HINT = 'register the step it depends on first (dwh_etl.steps), or fix depends_on';
    END IF;

    WITH RECURSIVE walk (pipeline_name, start_step, step_name) AS (
        SELECT s.pipeline_name, s.step_name, d.dep
        FROM dwh_etl.steps AS s
        CROSS JOIN LATERAL unnest(s.depends_on) AS d (dep)

        UNION ALL

        SELECT w.pipeline_name, w.start_step, d.dep
        FROM walk AS w
        JOIN dwh_etl.steps AS s
          ON s.pipeline_name = w.pipeline_name
         AND s.step_name = w.step_name
        CROSS JOIN LATERAL unnest(s.depends_on) AS d (dep)
        WHERE w.step_name <> w.start_step
    ) CYCLE step_name SET is_cycle USING path
    SELECT w.pipeline_name, w.start_step, w.path::text AS path
    INTO v_bad
    FROM walk AS w
    WHERE w.step_name = w.start_step
    LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'dependency cycle in pipeline %: step % depends on itself', v_bad.pipeline_name, v_bad.start_step
            USING ERRCODE = 'invalid_recursion',
                  DETAIL = format('path: %s', v_bad.path),
                  HINT = 'remove one of the dependencies in dwh_etl.steps.depends_on';
    END IF;
    RETURN NULL;
END;
$$;
COMMENT ON FUNCTION dwh_etl._check_step_graph() IS 'Trigger: rejects unknown step dependencies and dependency cycles in dwh_etl.steps.';

CREATE OR REPLACE TRIGGER steps_check_graph
AFTER INSERT OR UPDATE OR DELETE ON dwh_etl.steps
FOR EACH STATEMENT
EXECUTE FUNCTION dwh_etl._check_step_graph();
