-- The enabled steps of a pipeline in dependency order: a step comes after every step it depends on
-- (longest dependency chain first), ties broken by name so the order is stable.
CREATE OR REPLACE FUNCTION dwh_etl._ordered_steps(p_pipeline text)
RETURNS TABLE (
    step_name      text,
    procedure_name text,
    depth          integer
)
LANGUAGE sql
STABLE
SET search_path = dwh_etl, pg_temp
AS $$
    WITH RECURSIVE chain (step_name, depth) AS (
        SELECT s.step_name, 0
        FROM dwh_etl.steps AS s
        WHERE s.pipeline_name = p_pipeline

        UNION ALL

        SELECT s.step_name, c.depth + 1
        FROM chain AS c
        JOIN dwh_etl.steps AS s
          ON s.pipeline_name = p_pipeline
         AND c.step_name = ANY (s.depends_on)
        WHERE c.depth < 1000
    ),
    depths AS (
        SELECT c.step_name, max(c.depth) AS depth
        FROM chain AS c
        GROUP BY c.step_name
    )
    SELECT s.step_name, s.procedure_name, d.depth
    FROM dwh_etl.steps AS s
    JOIN depths AS d
      ON d.step_name = s.step_name
    WHERE s.pipeline_name = p_pipeline
      AND s.is_enabled
    ORDER BY d.depth, s.step_name;
$$;
COMMENT ON FUNCTION dwh_etl._ordered_steps(text) IS 'Enabled steps of a pipeline in dependency order.';
