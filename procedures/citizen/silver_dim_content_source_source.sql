-- What the generic dimension step reads for citizen.dim_content_source (Type 1 over source_name: the
-- source as it is now; last_sync moves with every sync). reliability_score is the source system's own
-- figure (0-1).
-- A code deleted in the source (silver's is_deleted, a tombstone: attack 16) is not deleted here: a Type 1
-- reference list keeps one open version per code (its *_version_ck), and the facts look codes up by their
-- current version (a closed code would leave the events that cite it without a key).
CREATE OR REPLACE VIEW silver.citizen_dim_content_source_source AS
SELECT s.source_name,
       s.source_type,
       s.reliability_score,
       s.update_frequency,
       s.sync_schedule,
       s.last_sync,
       s.is_active,
       COALESCE(s.contact_info, '{}'::jsonb) AS contact_info,
       s.created_at,
       false        AS is_inferred,
       s.updated_at AS change_ts,
       false        AS is_deleted,
       s._loaded_at,
       s._source_bronze_id
FROM silver.citizen_content_sources AS s;
COMMENT ON VIEW silver.citizen_dim_content_source_source IS 'Source of citizen.dim_content_source (natural key source_name, Type 1).';
REVOKE ALL ON silver.citizen_dim_content_source_source FROM PUBLIC, analyst_role;
