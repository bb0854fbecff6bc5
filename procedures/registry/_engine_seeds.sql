-- Registry data of the engine's seed-named operations (issue 18), applied after _engine.sql:
--   calendar_flags       daily just after midnight UTC: gold.dim_date's relative flags (seed 002's
--                        update_dim_date_flags "daily")
--   maintenance_monthly  the first of the month, 04:00 UTC (seed 000's monthly operations): VACUUM where
--                        dead rows pay, REINDEX of bloated indexes, pg_stat_statements snapshot
-- Pipelines of their own, not steps of `maintenance`: that one runs nightly, these on their own clocks.
CALL dwh_etl.register_pipeline(
    p_pipeline    => 'calendar_flags',
    p_description => 'Sets gold.dim_date''s relative flags (is_current_day/week/month/quarter/year, seed 002) for the new day.',
    p_schedules   => ARRAY['1 0 * * *']);
CALL dwh_etl.register_steps(
    p_pipeline => 'calendar_flags',
    p_area     => 'engine',
    p_steps    => '[
        {"step": "date_flags", "procedure": "dwh_etl.op_date_flags", "layer": "ops",
         "sources": ["gold.dim_date"], "targets": ["gold.dim_date"],
         "description": "gold.dim_date.is_current_* for today (calendar.timezone, default UTC)"}
    ]');

CALL dwh_etl.register_pipeline(
    p_pipeline    => 'maintenance_monthly',
    p_description => 'Monthly maintenance (seed 000): VACUUM (ANALYZE) where dead rows pay, REINDEX of bloated indexes, snapshot of pg_stat_statements when available.',
    p_schedules   => ARRAY['0 4 1 * *']);
CALL dwh_etl.register_steps(
    p_pipeline => 'maintenance_monthly',
    p_area     => 'engine',
    p_steps    => '[
        {"step": "vacuum", "procedure": "dwh_etl.op_vacuum", "layer": "ops",
         "description": "VACUUM (ANALYZE) registered tables whose dead rows exceed vacuum.min_dead_rows and vacuum.dead_fraction of live rows"},
        {"step": "reindex", "procedure": "dwh_etl.op_reindex", "layer": "ops", "depends_on": ["vacuum"],
         "description": "REINDEX btree indexes below reindex.max_leaf_density (pgstattuple)"},
        {"step": "statement_stats", "procedure": "dwh_etl.op_statement_stats", "layer": "ops", "depends_on": ["reindex"],
         "sources": ["pg_stat_statements"], "targets": ["dwh_lineage.statement_stats"],
         "description": "the most expensive statements of pg_stat_statements into dwh_lineage.statement_stats, when installed"}
    ]');
