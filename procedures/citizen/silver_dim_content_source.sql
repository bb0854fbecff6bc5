-- What the generic dimension step reads for citizen.dim_content (SCD Type 2 over content_id: its source,
-- type, language and service are history; title and is_active Type 1). content_source is the source's
-- name (dim_content_source's natural key), not the seed's api/scraped/manual (that is the source's type).
CREATE OR REPLACE VIEW silver.citizen_dim_content_source AS
SELECT c.content_id,
       c.content_type,
       c.title,
       c.language_code AS language,
       c.source_name   AS content_source,
       c.service_id,
       c.is_active,
       c.created_at,
       false           AS is_inferred,
       c.updated_at    AS change_ts,
       false           AS is_deleted,
       c._loaded_at,
       c._source_bronze_id
FROM silver.citizen_contents AS c;
COMMENT ON VIEW silver.citizen_dim_content_source IS 'Source of citizen.dim_content (natural key content_id; change_ts = updated_at).';
REVOKE ALL ON silver.citizen_dim_content_source FROM PUBLIC, analyst_role;
