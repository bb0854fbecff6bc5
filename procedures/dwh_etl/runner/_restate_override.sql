-- What a restatement (dwh_etl.restate) tells the engine for one table, in its own transaction only:
-- p_kind 'windows' -> {"from", "to"}: the window dwh_etl.window_bounds returns instead of [watermark, now);
-- 'keep' -> true: dwh_etl.set_watermark leaves the table's mark alone (a restatement replays what is
-- already loaded); 'dates' -> {"from", "to", "keys"}: dwh_etl.step_fact stages only the rows of these event
-- dates, and those of the natural keys in the temp table "keys" (the rows the restatement deleted).
-- The document is the transaction-local setting dwh.restate, stamped with the restating transaction's
-- id: a value set by hand, or left in a session, never applies to another transaction (and
-- dwh_etl.run_steps clears it). NULL when there is no override.
CREATE OR REPLACE FUNCTION dwh_etl._restate_override(
    p_kind text,
    p_name text
)
RETURNS jsonb
LANGUAGE plpgsql
STABLE
SET search_path = dwh_etl, pg_temp
AS $$
DECLARE
    v_raw text := current_setting('dwh.restate', true);
    v_doc jsonb;
BEGIN
    IF v_raw IS NULL OR v_raw = '' THEN
        RETURN NULL;
    END IF;
    v_doc := v_raw::jsonb;
    IF v_doc->>'xid' IS DISTINCT FROM pg_catalog.pg_current_xact_id_if_assigned()::text THEN
        RETURN NULL;
    END IF;
    RETURN v_doc->p_kind->p_name;
END;
$$;
COMMENT ON FUNCTION dwh_etl._restate_override(text, text) IS 'The restatement''s override for a table (windows, keep, dates) from the transaction-local setting dwh.restate; NULL outside a restatement.';
REVOKE EXECUTE ON FUNCTION dwh_etl._restate_override(text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION dwh_etl._restate_override(text, text) TO etl_service;
