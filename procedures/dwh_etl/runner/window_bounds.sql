-- The incremental window [from, to) of a step keyed by p_name: locks the step (see lock_step), then
-- returns its watermark and the safe upper bound. Advance with set_watermark(p_name, ..., to) in the
-- same transaction as the writes. Read the window on a column the warehouse stamps itself (an arrival
-- column filled with clock_timestamp() by dwh_etl.trg_stamp_arrival, or a load time such as _ingested_at
-- / _loaded_at = now()), never on a timestamp a source writer supplies: that one can lie (issue 9).
-- Inside a restatement (dwh_etl.restate) the window is the one it set for p_name (dwh_etl._restate_override).
-- A window held back by an open transaction sets the session setting dwh.window_held_back to 'on'.
CREATE OR REPLACE FUNCTION dwh_etl.window_bounds(
    p_name      text,
    p_cap       timestamptz DEFAULT NULL,
    OUT from_ts timestamptz,
    OUT to_ts   timestamptz
)
LANGUAGE plpgsql
SET search_path = dwh_etl, pg_temp
AS $$
DECLARE
    v_override jsonb;
    v_safe     timestamptz;
BEGIN
    PERFORM dwh_etl.lock_step(p_name);
    -- a restatement (dwh_etl.restate) sets the window itself, in its own transaction only
    v_override := dwh_etl._restate_override('windows', p_name);
    IF v_override IS NOT NULL THEN
        from_ts := (v_override->>'from')::timestamptz;
        to_ts   := (v_override->>'to')::timestamptz;
        RETURN;
    END IF;
    from_ts := dwh_etl.get_watermark(p_name);
    v_safe  := dwh_etl.safe_upper_bound();
    to_ts   := GREATEST(from_ts, LEAST(v_safe, p_cap));
    -- an open transaction holds the window back (rows before now() are left for a later window): the
    -- runner must not take this step's run as having seen everything (dwh_etl._step_unchanged). Said
    -- through a session setting, which the runner reads and clears around each step; it rolls back with
    -- a failed step.
    IF v_safe < now() THEN
        PERFORM set_config('dwh.window_held_back', 'on', false);
    END IF;
END;
$$;
COMMENT ON FUNCTION dwh_etl.window_bounds(text, timestamptz) IS 'Lock a step and return its incremental window [watermark, safe upper bound).';
