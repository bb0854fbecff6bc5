-- The load that already landed this content (sha256) into this table, or NULL. Takes a transaction
-- advisory lock on (table, content) first, so two sessions loading the same file at once are
-- serialised: the second sees the first's load once it commits, and is refused. An empty file (the
-- sha256 of no bytes) lands nothing and is never a duplicate.
CREATE OR REPLACE FUNCTION dwh_etl._file_duplicate(
    p_target  text,
    p_sha256  text,
    p_exclude bigint DEFAULT NULL
)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = dwh_etl, pg_temp
AS $$
DECLARE
    v_file bigint;
BEGIN
    IF p_sha256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855' THEN
        RETURN NULL;
    END IF;
    PERFORM pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtextextended('dwh_etl.loaded_files:' || p_target || ':' || p_sha256, 0));
    SELECT f.file_id
    INTO v_file
    FROM dwh_etl.loaded_files AS f
    WHERE f.target_table = p_target
      AND f.sha256 = p_sha256
      AND f.status = 'loaded'
      AND f.file_id IS DISTINCT FROM p_exclude
    ORDER BY f.file_id
    LIMIT 1;
    RETURN v_file;
END;
$$;
REVOKE EXECUTE ON FUNCTION dwh_etl._file_duplicate(text, text, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION dwh_etl._file_duplicate(text, text, bigint) TO etl_service;
COMMENT ON FUNCTION dwh_etl._file_duplicate(text, text, bigint) IS 'The file load that already landed this sha256 into this table (NULL: none); serialises concurrent loads of one content with an advisory lock.';
