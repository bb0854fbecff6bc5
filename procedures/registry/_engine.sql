-- Named with a leading underscore so it sorts (and applies) before every area's registry file.
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
         "description": "extend the conformed calendar ahead"},
        {"step": "sources", "procedure": "dwh_etl.step_sources", "layer": "bronze",
         "sources": ["dwh_etl.sources"],
         "description": "pull every fdw source into its local copies; warn about replicated sources that lag or stopped"}
    ]');
CALL dwh_etl.register_steps(
    p_pipeline => 'incremental',
    p_area     => 'engine',
    p_steps    => '[
        {"step": "sources", "procedure": "dwh_etl.step_sources", "layer": "bronze",
         "sources": ["dwh_etl.sources"],
         "description": "pull every fdw source into its local copies; warn about replicated sources that lag or stopped"}
    ]');

-- The warehouse's own operations, one step each (each procedure is also callable by hand:
-- CALL dwh_etl.op_<name>(NULL, CURRENT_DATE)). Nightly at 03:00 UTC, after the daily load.
CALL dwh_etl.register_pipeline(
    p_pipeline    => 'maintenance',
    p_description => 'Keeps the warehouse maintained: calendar (and its relative flags) and partitions ahead, retention to schema archive, compaction of file loads, mart refresh, ANALYZE, purge of run and cron history, VACUUM where it pays; monthly REINDEX of bloated indexes and pg_stat_statements snapshot.',
    p_schedules   => ARRAY['0 3 * * *']);

CALL dwh_etl.register_steps(
    p_pipeline => 'maintenance',
    p_area     => 'engine',
    p_steps    => '[
        {"step": "extend_calendar", "procedure": "dwh_etl.op_extend_calendar", "layer": "ops",
         "sources": ["dwh_etl.settings"], "targets": ["gold.dim_date", "gold.dim_time_of_day"],
         "description": "extend gold.dim_date to the calendar.days_ahead horizon"},
        {"step": "date_flags", "procedure": "dwh_etl.op_date_flags", "layer": "ops",
         "depends_on": ["extend_calendar"], "sources": ["gold.dim_date"], "targets": ["gold.dim_date"],
         "description": "gold.dim_date.is_current_day/week/month/quarter/year for today (seed 002 update_dim_date_flags)"},
        {"step": "partitions_ahead", "procedure": "dwh_etl.op_partitions_ahead", "layer": "ops",
         "depends_on": ["extend_calendar"],
         "description": "monthly partitions of every registered partitioned table, partitions.months_ahead months ahead"},
        {"step": "retention", "procedure": "dwh_etl.op_retention", "layer": "ops",
         "depends_on": ["partitions_ahead"],
         "description": "detach partitions older than retention.<table> and move them to schema archive"},
        {"step": "compact_bronze", "procedure": "dwh_etl.op_compact_bronze", "layer": "ops",
         "depends_on": ["retention"],
         "description": "fold file-load children of bronze tables older than bronze.compact_after back into their tables"},
        {"step": "refresh_marts", "procedure": "dwh_etl.op_refresh_marts", "layer": "ops",
         "depends_on": ["compact_bronze"],
         "description": "REFRESH MATERIALIZED VIEW CONCURRENTLY every registered mart view"},
        {"step": "analyze", "procedure": "dwh_etl.op_analyze", "layer": "ops",
         "depends_on": ["refresh_marts"],
         "description": "ANALYZE registered tables changed by more than analyze.threshold since their last analyze"},
        {"step": "purge_history", "procedure": "dwh_etl.op_purge_history", "layer": "ops",
         "depends_on": ["analyze"],
         "description": "delete run history older than history.keep and cron.job_run_details older than cron_history.keep"},
        {"step": "vacuum", "procedure": "dwh_etl.op_vacuum", "layer": "ops",
         "depends_on": ["purge_history"],
         "description": "VACUUM (ANALYZE) registered tables whose dead rows exceed vacuum.min_dead_rows and vacuum.dead_fraction of live rows"},
        {"step": "reindex", "procedure": "dwh_etl.op_reindex", "layer": "ops",
         "depends_on": ["vacuum"],
         "description": "monthly (maintenance.monthly_day): REINDEX btree indexes below reindex.max_leaf_density (pgstattuple)"},
        {"step": "statement_stats", "procedure": "dwh_etl.op_statement_stats", "layer": "ops",
         "depends_on": ["reindex"], "targets": ["dwh_lineage.statement_stats"],
         "description": "monthly (maintenance.monthly_day): the most expensive statements of pg_stat_statements into dwh_lineage.statement_stats, when installed"}
    ]');
