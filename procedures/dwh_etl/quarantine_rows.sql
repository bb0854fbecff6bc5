-- Moves the rows of a staged relation that carry reasons into dwh_etl.quarantine (payload = the whole
-- staged row as jsonb minus the reasons column). The staged relation needs columns _reasons text[]
-- (empty or NULL when valid) and _record_key text. Returns the number quarantined.
CREATE OR REPLACE FUNCTION dwh_etl.quarantine_rows(
    p_staged       text,
    p_source_table text,
    p_target_table text
)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = dwh_etl, pg_temp
AS $$
DECLARE
    v_run  record := dwh_lineage._current_run();
    v_rows bigint;
BEGIN
    EXECUTE format(
        'INSERT INTO dwh_etl.quarantine (target_table, source_table, record_key, payload, reasons, run_id, batch_id)
         SELECT $1, $2, s._record_key, to_jsonb(s) - ''_reasons'' - ''_record_key'', s._reasons, $3, $4
         FROM %s AS s
         WHERE cardinality(s._reasons) > 0',
        to_regclass(p_staged))
    USING p_target_table, p_source_table, v_run.run_id, v_run.batch_id;
    GET DIAGNOSTICS v_rows = ROW_COUNT;
    IF v_rows > 0 THEN
        RAISE NOTICE '% row(s) of % quarantined (dwh_etl.quarantine)', v_rows, p_source_table;
    END IF;
    RETURN v_rows;
END;
$$;
COMMENT ON FUNCTION dwh_etl.quarantine_rows(text, text, text) IS 'Copy the staged rows that have reasons into dwh_etl.quarantine with their payload, batch and run.';
