-- What devflow.dim_issue (Type 2) is loaded from by the devflow_dimensions step (dwh_etl.step_dimension):
-- silver issue rows with the dimension's columns and the load time the step's window reads. The change
-- time: an issue's first version is valid from its creation (the facts before its first change then
-- find it), later versions from the source's updated_at. The step stages this view before it applies
-- the batch, so "already in the dimension" means before this load.
CREATE OR REPLACE VIEW devflow.dim_issue_changes AS
SELECT i.id AS issue_id, i.number AS issue_number, i.title, i.description, i.priority, i.complexity, i.issue_type,
       i.category, i.repository, i.created_by, i.assigned_to, i.labels,
       CASE WHEN EXISTS (SELECT 1 FROM devflow.dim_issue AS d WHERE d.issue_id = i.id) THEN i.updated_at
            ELSE i.created_at END AS change_ts,
       i._loaded_at,
       i.created_at,
       i._source_bronze_id
FROM silver.devflow_issues AS i;
COMMENT ON VIEW devflow.dim_issue_changes IS 'Silver issues shaped as devflow.dim_issue rows (change_ts: creation for a new issue, else updated_at; _loaded_at; created_at, Type 1, last: a view only appends columns): input of the devflow_dimensions step.';
REVOKE ALL ON devflow.dim_issue_changes FROM analyst_role, PUBLIC;
GRANT SELECT ON devflow.dim_issue_changes TO etl_service;
