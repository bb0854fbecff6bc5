-- Where the silver load writing p_target stands when rows wait for it: its watermark when its source
-- (or its tombstone table) holds rows at or past it (dwh_etl._load_silver reads [watermark, bound) on
-- _ingested_at), else NULL: the table is complete up to now (its step found nothing new, or read it
-- all), or no silver load writes it, or it was never loaded. dwh_etl._load_silver caps the window of a
-- load that validates rows against p_target (sales' lines against their customers) at this value, so
-- no row is judged against reference data that has not been loaded yet (attack 9b).
CREATE OR REPLACE FUNCTION dwh_etl._silver_pending_since(
    p_target text
)
RETURNS timestamptz
LANGUAGE plpgsql
STABLE
SET search_path = dwh_etl, pg_temp
AS $$
DECLARE
    v_load jsonb;
    v_wm   timestamptz;
    v_rel  regclass;
    v_new  boolean;
    v_match text;
BEGIN
    SELECT w.watermark_value INTO v_wm FROM dwh_etl.watermarks AS w WHERE w.table_name = p_target;
    IF v_wm IS NULL THEN
        RETURN NULL;
    END IF;
    SELECT (s.spec - 'loads') || e
    INTO v_load
    FROM dwh_etl.steps AS s
    CROSS JOIN LATERAL jsonb_array_elements(CASE WHEN s.spec ? 'loads' THEN s.spec->'loads'
                                                 ELSE jsonb_build_array(s.spec) END) AS e
    WHERE s.kind = 'silver'
      AND s.is_enabled
      AND ((s.spec - 'loads') || e)->>'target' = p_target
    ORDER BY s.pipeline_name, s.step_name
    LIMIT 1;
    IF v_load IS NULL THEN
        RETURN NULL;
    END IF;
    -- the load's source, then its tombstone table: only the tombstones the load applies (its "match",
    -- as dwh_etl._load_silver reads them: sales' one bronze table of tombstones serves three loads, and
    -- a deleted sale is nothing the customers' load waits on)
    FOR v_rel, v_match IN
        SELECT to_regclass(t.name), t.match
        FROM (VALUES (COALESCE(v_load->>'source', v_load->>'bronze'), ''),
                     (v_load#>>'{tombstones,table}',
                      (SELECT COALESCE(string_agg(format(' AND d.%I = %L', m.key, m.value), '' ORDER BY m.key), '')
                       FROM jsonb_each_text(COALESCE(v_load#>'{tombstones,match}', '{}'::jsonb)) AS m))) AS t (name, match)
        WHERE t.name IS NOT NULL
    LOOP
        CONTINUE WHEN v_rel IS NULL OR NOT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute AS a
                                                   WHERE a.attrelid = v_rel AND a.attname = '_ingested_at'
                                                     AND a.attnum > 0 AND NOT a.attisdropped);
        EXECUTE format('SELECT EXISTS (SELECT 1 FROM %s AS d WHERE d._ingested_at >= $1%s)', v_rel, v_match)
        INTO v_new USING v_wm;
        IF v_new THEN
            RETURN v_wm;
        END IF;
    END LOOP;
    RETURN NULL;
END;
$$;
COMMENT ON FUNCTION dwh_etl._silver_pending_since(text) IS 'The watermark of the silver load writing p_target when rows of its source wait at or past it, else NULL (complete up to now): how far a load validating against p_target may read.';
REVOKE EXECUTE ON FUNCTION dwh_etl._silver_pending_since(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION dwh_etl._silver_pending_since(text) TO etl_service;
