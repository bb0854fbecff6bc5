-- Raises DW030 "already loaded" for a duplicate file load, with the earlier load in the DETAIL. One
-- place for the message that `dwh load` turns into "skipped" and the psql recipe stops on.
CREATE OR REPLACE FUNCTION dwh_etl._file_duplicate_error(
    p_file_name text,
    p_target    text,
    p_earlier   bigint
)
RETURNS void
LANGUAGE plpgsql
SET search_path = dwh_etl, pg_temp
AS $$
DECLARE
    v_f record;
BEGIN
    SELECT f.file_id, f.file_name, f.loaded_at, f.rows_landed
    INTO v_f
    FROM dwh_etl.loaded_files AS f
    WHERE f.file_id = p_earlier;
    RAISE EXCEPTION '% was already loaded into % (file %, % rows, %)',
                    p_file_name, p_target, v_f.file_id, v_f.rows_landed,
                    to_char(v_f.loaded_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS"Z"')
        USING ERRCODE = 'DW030',
              DETAIL = format('same content (sha256) as file %s, %s, in dwh_etl.loaded_files', v_f.file_id, v_f.file_name),
              HINT = 'dwh load --force (CALL dwh_etl.file_begin(..., p_force => true)) loads it again';
END;
$$;
REVOKE EXECUTE ON FUNCTION dwh_etl._file_duplicate_error(text, text, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION dwh_etl._file_duplicate_error(text, text, bigint) TO etl_service;
COMMENT ON FUNCTION dwh_etl._file_duplicate_error(text, text, bigint) IS 'Raise DW030 (file already loaded) naming the earlier load.';
