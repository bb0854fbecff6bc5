-- Where the load of the dimension table p_table (dwh_etl.dimension_specs.target_table) stands when rows
-- wait for it: its watermark (keyed by the table, dwh_etl.step_dimension) when the view of an enabled
-- dimension step that loads it holds rows at or past it on the step's watermark column, else NULL: the
-- dimension is complete up to now (its step found nothing new, or read it all), or no dimension step
-- loads it, or it was never loaded. dwh_etl.step_fact caps its window at this value for the dimensions
-- it looks up, so no fact row is staged before the dimension rows it needs are loaded (race 16): each
-- load's window stops at the start of the oldest open transaction when it runs; when one (a concurrent
-- maintenance step, an analyst's query) was open while the dimensions loaded and ended before the fact
-- loaded, the dimensions' windows had stopped before the silver load of the run and the fact's had not:
-- the run's new customers had no dimension row, their sales a NULL customer_key, and the fact step
-- failed (NOT NULL of sales_affected_customers.customer_key). The same rule as the silver loads' own
-- reference cap (dwh_etl._silver_pending_since): a silver row is loaded after the reference rows it was
-- validated against, so a fact row loaded before the dimension's watermark finds its dimension row.
-- The probe is one index range read on the view's load time (silver keeps an index on _loaded_at).
CREATE OR REPLACE FUNCTION dwh_etl._dimension_pending_since(
    p_table text
)
RETURNS timestamptz
LANGUAGE plpgsql
STABLE
SET search_path = dwh_etl, pg_temp
AS $$
DECLARE
    v_wm     timestamptz;
    v_item   jsonb;
    v_view   regclass;
    v_col    text;
    v_new    boolean;
BEGIN
    SELECT w.watermark_value INTO v_wm FROM dwh_etl.watermarks AS w WHERE w.table_name = p_table;
    IF v_wm IS NULL THEN
        RETURN NULL;
    END IF;
    -- the dimension steps that load it (a step of several pipelines is registered once per pipeline,
    -- with the same spec); a spec the step would refuse is its own step's error, not this one's
    FOR v_item IN
        SELECT DISTINCT e
        FROM dwh_etl.steps AS s
        CROSS JOIN LATERAL jsonb_array_elements(CASE WHEN jsonb_typeof(s.spec->'dimensions') = 'array' THEN s.spec->'dimensions'
                                                     ELSE jsonb_build_array(s.spec) END) AS e
        WHERE s.kind = 'dimension'
          AND s.is_enabled
          AND jsonb_typeof(e) = 'object'
          AND EXISTS (SELECT 1 FROM dwh_etl.dimension_specs AS ds
                      WHERE ds.dimension_name = e->>'dimension' AND ds.target_table = p_table)
    LOOP
        BEGIN
            v_view := to_regclass(v_item->>'view');
        EXCEPTION WHEN OTHERS THEN
            v_view := NULL;
        END;
        v_col := COALESCE(v_item->>'watermark_column', '_loaded_at');
        CONTINUE WHEN v_view IS NULL OR NOT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute AS a
                                                    WHERE a.attrelid = v_view AND a.attname = v_col
                                                      AND a.atttypid = 'timestamptz'::regtype
                                                      AND a.attnum > 0 AND NOT a.attisdropped);
        EXECUTE format('SELECT EXISTS (SELECT 1 FROM %s AS v WHERE v.%I >= $1)', v_view, v_col)
        INTO v_new USING v_wm;
        IF v_new THEN
            RETURN v_wm;
        END IF;
    END LOOP;
    RETURN NULL;
END;
$$;
COMMENT ON FUNCTION dwh_etl._dimension_pending_since(text) IS 'The watermark of the load of dimension table p_table when rows of its dimension step''s view wait at or past it, else NULL (complete up to now): how far a fact load looking it up may read.';
REVOKE EXECUTE ON FUNCTION dwh_etl._dimension_pending_since(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION dwh_etl._dimension_pending_since(text) TO etl_service;
