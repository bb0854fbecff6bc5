-- depends: 0040_seed_maintenance
-- Per-record lineage (seed 002, issue 18): every silver row keeps the id of the bronze row it was typed
-- from, and every fact row and dimension version the bronze id of the silver row it was built from, so
-- dwh_lineage.trace_record(table, key, column) follows one value from gold back to the raw payload.
--   * _source_bronze_id bigint: the _bronze_id of the row in the bronze table of the silver load
--     (dwh_etl.steps, kind silver: the load with this target names it). Bronze is append-only
--     (migration 0033), so the id is the row identity that survives a rebuild of silver or gold; silver
--     rows are upserted and rebuilt, a silver surrogate key would dangle after a rebuild.
--   * silver: set by dwh_etl._load_silver (the latest delivery that changed the row; a re-delivery of
--     the same values keeps the first); for SCD2 silver the version of each bronze row, NULL for a
--     deletion marker made from a tombstone or a missing key of a snapshot.
--   * gold: copied by dwh_etl.step_fact and dwh_etl.apply_dimension when the step view exposes the
--     silver row column of that name; NULL for rows built otherwise (the trigger API, inferred members).
-- A nullable column without a default: a catalog change, no table rewrite. The engine writes it only
-- where the table has it, so an area without it keeps working.
DO $$
DECLARE
    v_table text;
BEGIN
    FOREACH v_table IN ARRAY ARRAY[
        'silver.sales_customers', 'silver.sales_products', 'silver.sales_sales',
        'silver.devflow_agent_execution_logs', 'silver.devflow_agents', 'silver.devflow_code_gen_tasks',
        'silver.devflow_deployment_pipelines', 'silver.devflow_infrastructure', 'silver.devflow_issues',
        'silver.devflow_label_history', 'silver.devflow_labels', 'silver.devflow_metric_samples',
        'silver.devflow_pull_requests', 'silver.devflow_review_results', 'silver.devflow_worktree_states',
        'silver.agents_agent_approvals', 'silver.agents_agent_feedback', 'silver.agents_agent_queries',
        'silver.agents_agents', 'silver.agents_conversations', 'silver.agents_users',
        'silver.citizen_content_events', 'silver.citizen_content_sources', 'silver.citizen_content_syncs',
        'silver.citizen_content_types', 'silver.citizen_contents', 'silver.citizen_departments',
        'silver.citizen_languages', 'silver.citizen_query_logs', 'silver.citizen_query_types',
        'silver.citizen_services', 'silver.citizen_users',
        'sales.fact_sales', 'sales.dim_customer', 'sales.dim_product',
        'devflow.fact_agent_execution', 'devflow.fact_code_generation', 'devflow.fact_deployment',
        'devflow.fact_performance_metrics', 'devflow.dim_agent', 'devflow.dim_infrastructure',
        'devflow.dim_issue', 'devflow.dim_label', 'devflow.dim_worktree',
        'agents.fact_agent_query', 'agents.fact_approval', 'agents.fact_training', 'agents.dim_agent',
        'agents.dim_user',
        'citizen.fct_content_usage', 'citizen.fct_service_queries', 'citizen.dim_content',
        'citizen.dim_content_source', 'citizen.dim_content_type', 'citizen.dim_language',
        'citizen.dim_query_type', 'citizen.dim_service', 'citizen.dim_user']
    LOOP
        IF to_regclass(v_table) IS NOT NULL THEN
            EXECUTE format('ALTER TABLE %s ADD COLUMN IF NOT EXISTS _source_bronze_id bigint', v_table);
            EXECUTE format('COMMENT ON COLUMN %s._source_bronze_id IS %L', v_table,
                           CASE WHEN v_table LIKE 'silver.%'
                                THEN 'Per-record lineage: the _bronze_id of the bronze row this row was typed from (dwh_lineage.trace_record).'
                                ELSE 'Per-record lineage: the _bronze_id of the bronze row behind the silver row this row was built from (dwh_lineage.trace_record).' END);
        END IF;
    END LOOP;
END
$$;
