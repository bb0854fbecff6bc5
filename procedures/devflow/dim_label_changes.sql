-- What devflow.dim_label (Type 1) is loaded from by the devflow_dimensions step (dwh_etl.step_dimension):
-- silver label rows with the dimension's columns, the change time (creation) and the load time the
-- step's window reads.
CREATE OR REPLACE VIEW devflow.dim_label_changes AS
SELECT l.label_name, l.label_category, l.label_priority, l.color, l.icon, l.description, l.usage_guidelines,
       l.is_active, l.created_at, l.updated_at,
       l.created_at AS change_ts,
       l._loaded_at,
       l._source_bronze_id
FROM silver.devflow_labels AS l;
COMMENT ON VIEW devflow.dim_label_changes IS 'Silver labels shaped as devflow.dim_label rows (change_ts, _loaded_at): input of the devflow_dimensions step.';
REVOKE ALL ON devflow.dim_label_changes FROM analyst_role, PUBLIC;
GRANT SELECT ON devflow.dim_label_changes TO etl_service;
