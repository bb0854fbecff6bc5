-- Rebuilds a table or a whole area from the layer below, like a first load (dbt's --full-refresh):
-- p_target is a table (schema.name) or an area (dwh_etl.areas). The steps rebuilt are the steps of
-- p_pipeline writing the table (or every step of the area) and every step that depends on them, directly
-- or not: a rebuilt dimension gets new surrogate keys, so the facts pointing at it and the marts over
-- them are rebuilt too; and the silver steps a dimension reads from, since its history is replayed from
-- bronze's arrivals (silver may keep only the latest state). Bronze is never rebuilt (it is the record of what was extracted; the source may
-- have moved on). In dependency order: the targets are emptied (dependents first), their watermarks
-- removed, then each step reloads everything from below. A rebuilt SCD2 dimension has the same versions
-- (natural key, validity, attributes) as one loaded day by day; its surrogate keys are new.
--
-- All or nothing (one transaction: a failure or a cancel leaves the previous data intact); refused (DW002)
-- while a run holds a pipeline with one of the steps; recorded in dwh_lineage.pipeline_runs with
-- parameters {mode: rebuild, target, steps} and metrics.replaced (per table rows deleted, inserted, after).
-- p_steps: NULL = as above; else exactly these steps (the CLI's --select resolves to them).
-- Example: CALL dwh_etl.rebuild(p_target => 'sales.dim_customer');
CREATE OR REPLACE PROCEDURE dwh_etl.rebuild(
    p_target   text,
    p_pipeline text DEFAULT 'daily',
    p_steps    text[] DEFAULT NULL,
    INOUT p_run_id bigint DEFAULT NULL
)
LANGUAGE plpgsql
-- no SET clause: a procedure with one cannot COMMIT; every name is qualified
AS $$
DECLARE
    v_is_area boolean := EXISTS (SELECT 1 FROM dwh_etl.areas AS a WHERE a.area = p_target);
    v_table   text;
    v_seeds   text[];
    v_steps   text[];
    v_bronze  text;
    v_unknown text;
    v_refs    text;  -- foreign keys into the rebuilt tables from tables outside the rebuild
    v_ref_steps text;  -- the steps writing those tables
BEGIN
    IF NOT EXISTS (SELECT 1 FROM dwh_etl.pipelines WHERE pipeline_name = p_pipeline) THEN
        RAISE EXCEPTION 'unknown pipeline %', quote_literal(COALESCE(p_pipeline, 'NULL'))
            USING ERRCODE = 'DW001',
                  HINT = format('registered pipelines: %s',
                                (SELECT string_agg(pipeline_name, ', ' ORDER BY pipeline_name) FROM dwh_etl.pipelines));
    END IF;
    IF p_steps IS NOT NULL THEN
        SELECT string_agg(quote_literal(n), ', ' ORDER BY n)
        INTO v_unknown
        FROM unnest(p_steps) AS n
        WHERE NOT EXISTS (SELECT 1 FROM dwh_etl.steps AS s WHERE s.pipeline_name = p_pipeline AND s.step_name = n);
        IF v_unknown IS NOT NULL THEN
            RAISE EXCEPTION 'pipeline % has no step %', p_pipeline, v_unknown
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        v_seeds := p_steps;
    ELSIF v_is_area THEN
        SELECT array_agg(s.step_name) INTO v_seeds
        FROM dwh_etl.steps AS s
        WHERE s.pipeline_name = p_pipeline AND s.area = p_target AND s.layer <> 'bronze' AND s.is_enabled;
    ELSE
        -- a table, named as the registry names it (schema.name; quoting and case normalised)
        v_table := COALESCE((SELECT tr.table_name FROM dwh_etl.table_registry AS tr
                             WHERE to_regclass(tr.table_name) IS NOT NULL AND to_regclass(tr.table_name) = to_regclass(p_target)),
                            p_target);
        SELECT array_agg(s.step_name) INTO v_seeds
        FROM dwh_etl.steps AS s
        WHERE s.pipeline_name = p_pipeline AND v_table = ANY (s.target_tables) AND s.layer <> 'bronze' AND s.is_enabled;
        IF v_seeds IS NULL THEN
            SELECT string_agg(s.step_name, ', ') INTO v_bronze
            FROM dwh_etl.steps AS s
            WHERE s.pipeline_name = p_pipeline AND v_table = ANY (s.target_tables);
            IF v_bronze IS NOT NULL THEN
                RAISE EXCEPTION '% is loaded by extraction (%): bronze is not rebuilt', v_table, v_bronze
                    USING ERRCODE = 'invalid_parameter_value',
                          DETAIL = 'bronze keeps every row extracted so far; the source may no longer have them',
                          HINT = 'rebuild the silver tables loaded from it instead (dwh lineage TABLE --downstream lists them)';
            END IF;
            RAISE EXCEPTION 'nothing to rebuild: no step of pipeline % writes %, and it is not an area', p_pipeline, quote_literal(COALESCE(p_target, 'NULL'))
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = format('areas: %s; tables: dwh ls, or SELECT table_name FROM dwh_etl.table_registry',
                                    (SELECT string_agg(a.area, ', ' ORDER BY a.area) FROM dwh_etl.areas AS a));
        END IF;
    END IF;
    IF v_seeds IS NULL THEN
        RAISE EXCEPTION 'nothing to rebuild: area % has no step in pipeline %', p_target, p_pipeline
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    -- A dimension's history is what the runs saw of silver: when silver keeps only the latest state (devflow's
    -- issues), only replaying silver's arrivals from bronze gives the versions back. So the silver steps a
    -- dimension step reads from (directly or not) are rebuilt with it, and replayed (dwh_etl._restate_apply).
    IF p_steps IS NULL THEN
        WITH RECURSIVE up (step_name) AS (
            SELECT s.step_name
            FROM dwh_etl.steps AS s
            WHERE s.pipeline_name = p_pipeline
              AND s.step_name = ANY (v_seeds)
              AND s.kind = 'dimension'
            UNION
            SELECT d
            FROM up AS u
            JOIN dwh_etl.steps AS s
              ON s.pipeline_name = p_pipeline
             AND s.step_name = u.step_name
            CROSS JOIN LATERAL unnest(s.depends_on) AS d
        )
        SELECT array_agg(DISTINCT x) INTO v_seeds
        FROM (SELECT unnest(v_seeds) AS x
              UNION
              SELECT u.step_name
              FROM up AS u
              JOIN dwh_etl.steps AS s
                ON s.pipeline_name = p_pipeline
               AND s.step_name = u.step_name
              WHERE s.layer = 'silver'
                AND s.is_enabled) AS a;
    END IF;

    -- the seeds and (unless the steps were given) everything downstream of them, in dependency order
    WITH RECURSIVE down (step_name) AS (
        SELECT unnest(v_seeds)
        UNION
        SELECT s.step_name
        FROM down AS d
        JOIN dwh_etl.steps AS s
          ON s.pipeline_name = p_pipeline
         AND d.step_name = ANY (s.depends_on)
        WHERE p_steps IS NULL
    )
    SELECT array_agg(o.step_name ORDER BY o.depth, o.step_name)
    INTO v_steps
    FROM dwh_etl._ordered_steps(p_pipeline) AS o
    JOIN dwh_etl.steps AS s
      ON s.pipeline_name = p_pipeline
     AND s.step_name = o.step_name
    WHERE o.step_name IN (SELECT d.step_name FROM down AS d)
      AND s.layer <> 'bronze';
    IF v_steps IS NULL THEN
        RAISE EXCEPTION 'nothing to rebuild among the steps %: bronze steps are not rebuilt', array_to_string(p_steps, ', ')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    -- A rebuilt table is emptied and reloaded (a dimension with new surrogate keys): a table outside the
    -- rebuild with a foreign key into it would point at rows that are gone. The emptying failed on the
    -- key with a raw error ("violates foreign key constraint", and dwh retry repeated it) when --select
    -- chose a dimension without its facts; with ON DELETE CASCADE (a DBA's table) it would have emptied
    -- that table silently. Refused up front, naming the tables and what to add (review 17).
    SELECT string_agg(format('%s references %s (%s)', k.conrelid::regclass, k.confrelid::regclass, k.conname),
                      '; ' ORDER BY k.conrelid::regclass::text, k.conname),
           string_agg(DISTINCT w.step_name, ' ' ORDER BY w.step_name)
    INTO v_refs, v_ref_steps
    FROM (SELECT DISTINCT to_regclass(t) AS rel
          FROM dwh_etl.steps AS s
          CROSS JOIN LATERAL unnest(s.target_tables) AS t
          WHERE s.pipeline_name = p_pipeline AND s.step_name = ANY (v_steps)) AS r
    JOIN pg_catalog.pg_constraint AS k
      ON k.contype = 'f'
     AND k.conparentid = 0
     AND k.confrelid = r.rel
     AND k.conrelid <> r.rel
    LEFT JOIN dwh_etl.steps AS w
      ON w.pipeline_name = p_pipeline
     AND w.is_enabled
     AND EXISTS (SELECT 1 FROM unnest(w.target_tables) AS wt WHERE to_regclass(wt) = k.conrelid)
    WHERE NOT EXISTS (SELECT 1
                      FROM dwh_etl.steps AS s
                      CROSS JOIN LATERAL unnest(s.target_tables) AS t
                      WHERE s.pipeline_name = p_pipeline AND s.step_name = ANY (v_steps)
                        AND to_regclass(t) = k.conrelid);
    IF v_refs IS NOT NULL THEN
        RAISE EXCEPTION 'cannot rebuild %: tables outside the rebuild point at rows it would replace: %',
                        COALESCE(v_table, p_target), v_refs
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'a rebuild empties each table and reloads it (a dimension gets new surrogate keys); nothing was changed',
                  HINT = CASE WHEN v_ref_steps IS NOT NULL
                              THEN format('rebuild their steps too: add them to the selection (%s), or rebuild without --select (everything downstream is rebuilt)', v_ref_steps)
                              ELSE 'those tables are loaded by no step of this pipeline: drop or re-point their foreign keys first' END;
    END IF;

    CALL dwh_etl._restate_run(
        p_pipeline => p_pipeline,
        p_mode     => 'rebuild',
        p_steps    => v_steps,
        p_params   => jsonb_build_object('target', COALESCE(v_table, p_target)),
        p_run_date => (now() AT TIME ZONE 'UTC')::date,
        p_run_id   => p_run_id);
END;
$$;
COMMENT ON PROCEDURE dwh_etl.rebuild(text, text, text[], bigint) IS 'Full rebuild of a table or an area (and everything downstream of it) from the layer below, in dependency order and one transaction; refused while a run holds the pipeline; recorded with what it replaced. Example: CALL dwh_etl.rebuild(p_target => ''sales.dim_customer'');';
REVOKE EXECUTE ON PROCEDURE dwh_etl.rebuild(text, text, text[], bigint) FROM PUBLIC;
GRANT EXECUTE ON PROCEDURE dwh_etl.rebuild(text, text, text[], bigint) TO etl_service;
