-- What `dwh quarantine list` prints: open quarantined rows (or all), newest first; `deliveries` counts
-- how many times the same record arrived while its entry was open.
DROP FUNCTION IF EXISTS dwh_etl.quarantine_list(text, boolean, integer);  -- result columns changed
CREATE OR REPLACE FUNCTION dwh_etl.quarantine_list(
    p_table text DEFAULT NULL,
    p_all   boolean DEFAULT false,
    p_limit integer DEFAULT 100
)
RETURNS TABLE (
    quarantine_id  bigint,
    target_table   text,
    record_key     text,
    reasons        text,
    run_id         bigint,
    quarantined_at timestamptz,
    deliveries     integer,
    resolution     text
)
LANGUAGE sql
STABLE
SET search_path = dwh_etl, pg_temp
AS $$
    SELECT q.quarantine_id, q.target_table, q.record_key, array_to_string(q.reasons, '; '), q.run_id,
           q.quarantined_at, q.deliveries, q.resolution
    FROM dwh_etl.quarantine AS q
    WHERE (p_all OR q.resolved_at IS NULL)
      AND (p_table IS NULL OR q.target_table = p_table)
    ORDER BY q.quarantine_id DESC
    LIMIT p_limit;
$$;
COMMENT ON FUNCTION dwh_etl.quarantine_list(text, boolean, integer) IS 'Quarantined rows (open ones unless p_all), newest first.';
