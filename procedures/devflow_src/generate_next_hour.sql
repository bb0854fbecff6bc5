-- One more simulated hour of devflow activity (about one new issue with its whole flow, 12 metric
-- payloads, one issue re-prioritized), stamped now: what the hourly and 5-minute pipelines load next.
CREATE OR REPLACE PROCEDURE devflow_src.generate_next_hour()
LANGUAGE plpgsql
SET search_path = devflow_src, pg_temp
AS $$
BEGIN
    CALL devflow_src._advance(p_span => interval '1 hour', p_reprioritized => 1, p_resize => false);
END;
$$;
COMMENT ON PROCEDURE devflow_src.generate_next_hour() IS 'Add one hour of devflow activity to the demo source (stamped now).';
