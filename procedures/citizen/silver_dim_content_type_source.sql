-- What the generic dimension step reads for citizen.dim_content_type (Type 1 over content_type).
-- A code deleted in the source (silver's is_deleted, a tombstone: attack 16) is not deleted here: a Type 1
-- reference list keeps one open version per code (its *_version_ck), and the facts look codes up by their
-- current version (a closed code would leave the events that cite it without a key).
CREATE OR REPLACE VIEW silver.citizen_dim_content_type_source AS
SELECT t.content_type,
       t.type_name,
       t.is_downloadable,
       t.description,
       false        AS is_inferred,
       t.updated_at AS change_ts,
       false        AS is_deleted,
       t._loaded_at,
       t._source_bronze_id
FROM silver.citizen_content_types AS t;
COMMENT ON VIEW silver.citizen_dim_content_type_source IS 'Source of citizen.dim_content_type (natural key content_type, Type 1).';
REVOKE ALL ON silver.citizen_dim_content_type_source FROM PUBLIC, analyst_role;
