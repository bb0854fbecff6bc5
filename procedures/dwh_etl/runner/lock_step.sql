-- Serializes one step's work across pipelines (daily and incremental share steps): a transaction
-- lock, released by the step's COMMIT. Take it before reading a watermark.
CREATE OR REPLACE FUNCTION dwh_etl.lock_step(p_name text)
RETURNS void
LANGUAGE sql
SET search_path = dwh_etl, pg_temp
AS $$
    SELECT pg_advisory_xact_lock(hashtextextended('dwh_etl.step:' || p_name, 0));
$$;
COMMENT ON FUNCTION dwh_etl.lock_step(text) IS 'Transaction-level advisory lock that serializes a step shared by several pipelines.';
