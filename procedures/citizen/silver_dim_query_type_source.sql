-- What the generic dimension step reads for citizen.dim_query_type (Type 1 over query_type).
-- A code deleted in the source (silver's is_deleted, a tombstone: attack 16) is not deleted here: a Type 1
-- reference list keeps one open version per code (its *_version_ck), and the facts look codes up by their
-- current version (a closed code would leave the events that cite it without a key).
CREATE OR REPLACE VIEW silver.citizen_dim_query_type_source AS
SELECT q.query_type,
       q.query_category,
       q.complexity_level,
       q.expected_response_time_ms,
       q.is_api_required,
       q.description,
       false        AS is_inferred,
       q.updated_at AS change_ts,
       false        AS is_deleted,
       q._loaded_at,
       q._source_bronze_id
FROM silver.citizen_query_types AS q;
COMMENT ON VIEW silver.citizen_dim_query_type_source IS 'Source of citizen.dim_query_type (natural key query_type, Type 1).';
REVOKE ALL ON silver.citizen_dim_query_type_source FROM PUBLIC, analyst_role;
