-- What devflow.dim_agent (Type 1) is loaded from by the devflow_dimensions step (dwh_etl.step_dimension):
-- silver agent rows with the dimension's columns, the change time (creation: a Type 1 dimension keeps one
-- version per key) and the load time the step's window reads.
CREATE OR REPLACE VIEW devflow.dim_agent_changes AS
SELECT a.agent_id, a.agent_name, a.agent_type, a.agent_category, a.ai_model, a.ai_provider, a.model_version,
       a.framework_version, a.capabilities, a.max_concurrent_tasks, a.cost_per_hour_usd, a.cost_per_token_usd,
       a.is_active, a.created_at, a.updated_at,
       a.created_at AS change_ts,
       a._loaded_at,
       a._source_bronze_id
FROM silver.devflow_agents AS a;
COMMENT ON VIEW devflow.dim_agent_changes IS 'Silver agents shaped as devflow.dim_agent rows (change_ts, _loaded_at): input of the devflow_dimensions step.';
REVOKE ALL ON devflow.dim_agent_changes FROM analyst_role, PUBLIC;
GRANT SELECT ON devflow.dim_agent_changes TO etl_service;
