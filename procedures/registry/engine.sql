-- Registry data of the engine (applied by dwh migrate whenever this file changes; idempotent).
CALL dwh_etl.register_pipeline(
    p_pipeline    => 'daily',
    p_description => 'Brings the whole warehouse up to date: every subject area adds its daily steps here.',
    p_schedules   => ARRAY['0 2 * * *']);
CALL dwh_etl.register_pipeline(
    p_pipeline    => 'incremental',
    p_description => 'Intra-day incremental loads (seed 004 master pipeline, every 6 hours).',
    p_schedules   => ARRAY['0 */6 * * *']);

CALL dwh_etl.register_steps(
    p_pipeline => 'daily',
    p_area     => 'engine',
    p_steps    => '[
        {"step": "calendar", "procedure": "dwh_etl.step_calendar", "layer": "ops",
         "sources": ["dwh_etl.settings"], "targets": ["gold.dim_date", "gold.dim_time_of_day"],
         "description": "extend the conformed calendar ahead"}
    ]');
