-- Gives a session back the settings run_pipeline pinned for the duration of a run: p_saved maps each
-- setting name to the caller's value (jsonb_object_agg of current_setting). Session-level, like the pin.
CREATE OR REPLACE FUNCTION dwh_etl._restore_settings(p_saved jsonb)
RETURNS void
LANGUAGE sql
VOLATILE
AS $$
    SELECT count(set_config(s.key, s.value, false))
    FROM jsonb_each_text(COALESCE(p_saved, '{}'::jsonb)) AS s;
$$;
COMMENT ON FUNCTION dwh_etl._restore_settings(jsonb) IS 'Restore session settings saved by run_pipeline before it pinned them ({name: value}).';
