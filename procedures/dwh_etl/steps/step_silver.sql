-- Step kind `silver`: bronze -> silver for one or more tables, by the engine's one silver loader
-- (dwh_etl._load_silver, once per entry of "loads", in order). Per table: the window of new bronze rows
-- (dwh_etl.window_bounds on _ingested_at), typing from text to the silver column types, checks,
-- quarantine with every reason, the latest state per key upserted or the changes applied as SCD2
-- history, tombstones, reconciliation (read = accepted + quarantined + duplicates), lineage, watermark.
-- An area supplies names and columns here and, where typing or business rules are needed, a view over
-- bronze (named in "source"). Spec:
--   {"loads": [{                                   -- one object per silver table (or the object alone)
--      "target": "silver.devflow_issues",          -- the silver table (also the watermark's name)
--      "bronze": "bronze.devflow_issues",          -- the bronze table: quarantine payloads, lineage
--      "source": "devflow._bronze_pull_requests",  -- optional: a view over bronze (default: bronze);
--                                                  -- it has _bronze_id, _ingested_at, a column per silver
--                                                  -- column, optionally _record_key (the quarantine key)
--      "key": ["id"],                              -- natural key (upsert mode; scd2 takes the dimension's)
--      "ts_column": "updated_at",                  -- change time: the latest per key wins (then arrival)
--      "mode": "upsert",                           -- upsert (latest state, when newer and different) or
--                                                  -- scd2: dwh_etl.apply_dimension("dimension", staged rows)
--      "dimension": "sales.silver_customers",      -- scd2: the registered dimension spec of target
--      "typing": "engine",                         -- engine: text typed after silver's column types,
--                                                  -- each failure a reason (dwh_etl._load_silver lists
--                                                  -- them); source: the view typed, the checks say why
--      "reasons_column": "_reasons",               -- typing source: the view's text[] of reasons (agents)
--      "checks": ["CASE WHEN t.x < 0 THEN 'x is negative' END"],  -- SQL yielding a reason or NULL,
--                                                  -- over t (typed row), b (source row), run (min_ts,
--                                                  -- max_ts: sane event range; run_date; max_key_length)
--      "unchanged_columns": ["source_updated_at"], -- upsert: columns whose change alone is no change
--      "ties": "quarantine",                       -- upsert: rows of a key with the same change time and
--                                                  -- other values (where arrivals do not order them): the
--                                                  -- first delivered stays, the others are quarantined
--                                                  -- (default); "latest_delivery": the later delivery
--                                                  -- wins (a change time that is the delivery's own)
--      "tombstones": {"table": "bronze.sales_deleted_records", "key": "record_id",
--                     "deleted_at": "deleted_at", "match": {"table_name": "sales"},
--                     "flag": "is_deleted"}}],     -- upsert: the flag column (no source column: false
--                                                  -- when a row loads) set on the key's row unless a later
--                                                  -- change is loaded; scd2: a deletion marker version
--    "timezone_setting": "devflow.source_timezone",     -- the setting naming the source's zone (UTC)
--    "key_length_setting": "devflow.max_key_length",    -- the setting bounding key texts (500)
--    "after": ["sales.requeue_waiting_sales"]}          -- functions (p_run_id bigint, p_run_date date)
--                                                  -- returning bigint, called in order once the loads
--                                                  -- are written, in the step's transaction (sales: the
--                                                  -- lines quarantined for a customer or product that has
--                                                  -- now arrived are replayed for the sales step; attack 15b)
-- Top-level entries other than "loads" and "after" are defaults for every load. A bad spec fails the step before
-- anything is read, with an error naming the step and what is wrong (22023).
CREATE OR REPLACE PROCEDURE dwh_etl.step_silver(
    p_run_id   bigint,
    p_run_date date,
    p_spec     jsonb
)
LANGUAGE plpgsql
SET search_path = dwh_etl, pg_temp
AS $$
DECLARE
    v_step    text := COALESCE((dwh_etl.get_run_context(p_run_id)).step_name, 'dwh_etl.step_silver');
    v_loads   jsonb;
    v_load    jsonb;
    v_problem text;
    v_rows    bigint := 0;
    v_after   text;
    v_n       bigint;
BEGIN
    v_loads := CASE WHEN p_spec ? 'loads' THEN p_spec->'loads' ELSE jsonb_build_array(p_spec) END;
    IF jsonb_typeof(v_loads) IS DISTINCT FROM 'array' OR jsonb_array_length(v_loads) = 0 THEN
        RAISE EXCEPTION 'silver step %: the spec needs "loads", a non-empty array of loads', v_step
            USING ERRCODE = 'invalid_parameter_value', DETAIL = format('spec: %s', p_spec),
                  HINT = 'see the header of procedures/dwh_etl/steps/step_silver.sql for the spec';
    END IF;
    -- every load checked before any is run
    IF p_spec ? 'after' AND (jsonb_typeof(p_spec->'after') IS DISTINCT FROM 'array' OR EXISTS (
            SELECT 1 FROM jsonb_array_elements(p_spec->'after') AS a
            WHERE jsonb_typeof(a) <> 'string' OR to_regproc(a #>> '{}') IS NULL)) THEN
        RAISE EXCEPTION 'silver step %: "after" must be an array of existing function names', v_step
            USING ERRCODE = 'invalid_parameter_value', DETAIL = format('after: %s', p_spec->'after');
    END IF;
    FOR v_load IN SELECT (p_spec - 'loads' - 'after') || e FROM jsonb_array_elements(v_loads) AS e LOOP
        v_problem := dwh_etl._silver_spec_problem(v_load);
        IF v_problem IS NOT NULL THEN
            RAISE EXCEPTION 'silver step %: %', v_step, v_problem
                USING ERRCODE = 'invalid_parameter_value', DETAIL = format('load: %s', v_load),
                      HINT = 'fix the step''s spec in the area''s registry file (see procedures/dwh_etl/steps/step_silver.sql)';
        END IF;
    END LOOP;
    FOR v_load IN SELECT (p_spec - 'loads' - 'after') || e FROM jsonb_array_elements(v_loads) AS e LOOP
        v_rows := v_rows + dwh_etl._load_silver(p_run_date, v_load, p_run_id);
    END LOOP;
    FOR v_after IN SELECT a FROM jsonb_array_elements_text(COALESCE(p_spec->'after', '[]')) AS a LOOP
        EXECUTE format('SELECT %s($1, $2)', to_regproc(v_after)) INTO v_n USING p_run_id, p_run_date;
        RAISE DEBUG 'dwh_etl.step_silver: % returned % (step %, run %)', v_after, v_n, v_step, p_run_id;
    END LOOP;
    RAISE DEBUG 'dwh_etl.step_silver: % rows written by step % (run %)', v_rows, v_step, p_run_id;
END;
$$;
COMMENT ON PROCEDURE dwh_etl.step_silver(bigint, date, jsonb) IS 'Step kind silver: bronze -> silver for the spec''s loads (target, bronze, source view, key, ts_column, mode upsert|scd2, typing, checks, tombstones): typed, validated, quarantined, deduplicated, reconciled, logged, watermarked.';
REVOKE EXECUTE ON PROCEDURE dwh_etl.step_silver(bigint, date, jsonb) FROM PUBLIC;
GRANT EXECUTE ON PROCEDURE dwh_etl.step_silver(bigint, date, jsonb) TO etl_service;
