-- Seed 002. Call it in the transaction that writes the rows the new value covers. Inside a restatement
-- (dwh_etl.restate) the marks of the restated tables do not move.
CREATE OR REPLACE PROCEDURE dwh_etl.set_watermark(
    in_table_name text,
    in_column     text,
    in_value      timestamptz
)
LANGUAGE plpgsql
SET search_path = dwh_etl, pg_temp
AS $$
BEGIN
    IF in_value IS NULL THEN
        RAISE EXCEPTION 'watermark of % cannot be set to NULL', in_table_name
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    -- a restatement (dwh_etl.restate) replays what is already loaded: the mark stays where it is
    IF dwh_etl._restate_override('keep', in_table_name) IS NOT NULL THEN
        RETURN;
    END IF;
    INSERT INTO dwh_etl.watermarks (table_name, watermark_column, watermark_value)
    VALUES (in_table_name, in_column, in_value)
    ON CONFLICT (table_name) DO UPDATE
    SET watermark_column = EXCLUDED.watermark_column,
        watermark_value  = EXCLUDED.watermark_value,
        updated_at       = now();
END;
$$;
COMMENT ON PROCEDURE dwh_etl.set_watermark(text, text, timestamptz) IS 'Set the high-water mark of an incremental load (seed 002); call in the same transaction as the load.';
