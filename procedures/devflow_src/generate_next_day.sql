-- One more simulated day of devflow activity (about 20 new issues with their whole flow, 288 metric
-- payloads, 3 issues re-prioritized, one production instance resized), stamped now.
CREATE OR REPLACE PROCEDURE devflow_src.generate_next_day()
LANGUAGE plpgsql
SET search_path = devflow_src, pg_temp
AS $$
BEGIN
    CALL devflow_src._advance(p_span => interval '1 day', p_reprioritized => 3, p_resize => true);
END;
$$;
COMMENT ON PROCEDURE devflow_src.generate_next_day() IS 'Add one day of devflow activity to the demo source (stamped now).';
