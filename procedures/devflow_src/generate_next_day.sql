-- One more simulated day of devflow activity (about 20 new issues with their whole flow, 288 metric
-- payloads, 3 issues re-prioritized, one production instance resized), stamped now, or p_stamp: with
-- p_stamp and a setseed() before the call the day is reproducible at any time (scripts/table_fingerprint.py).
DROP PROCEDURE IF EXISTS devflow_src.generate_next_day();
CREATE OR REPLACE PROCEDURE devflow_src.generate_next_day(
    p_stamp timestamptz DEFAULT NULL
)
LANGUAGE plpgsql
SET search_path = devflow_src, pg_temp
AS $$
BEGIN
    CALL devflow_src._advance(p_span => interval '1 day', p_reprioritized => 3, p_resize => true, p_stamp => p_stamp);
END;
$$;
COMMENT ON PROCEDURE devflow_src.generate_next_day(timestamptz) IS 'Add one day of devflow activity to the demo source (stamped p_stamp, default now).';
