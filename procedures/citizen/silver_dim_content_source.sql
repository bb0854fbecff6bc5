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
       -- a deleted row's change time is its deletion (the latest tombstone of the key): its own change time
       -- is that of its current version, so the deletion would be no change (attack 16, as agents.dim_user);
       -- a row back after deletions of its key (a restore with its old updated_at) starts just after the
       -- latest deletion that reached the source before it
       CASE WHEN c.is_deleted
            THEN GREATEST(c.updated_at,
                          (SELECT max(dwh_etl.try_timestamptz(d.deleted_at, (SELECT dwh_etl.setting_timezone('citizen.timezone', 'Asia/Kolkata'))))
                           FROM bronze.citizen_deleted_records AS d
                           WHERE d.table_name = 'contents' AND d.record_id = c.content_id::text))
            ELSE GREATEST(c.updated_at,
                          (SELECT max(dwh_etl.try_timestamptz(d.deleted_at, (SELECT dwh_etl.setting_timezone('citizen.timezone', 'Asia/Kolkata')))) + interval '1 microsecond'
                           FROM bronze.citizen_contents AS b
                           JOIN bronze.citizen_deleted_records AS d
                             ON d.table_name = 'contents'
                            AND d.record_id = c.content_id::text
                            AND d._source_arrived_at < b._source_arrived_at
                            AND dwh_etl.try_timestamptz(d.deleted_at, (SELECT dwh_etl.setting_timezone('citizen.timezone', 'Asia/Kolkata'))) <= b._source_arrived_at
                           WHERE b._bronze_id = c._source_bronze_id))
       END AS change_ts,
       c.is_deleted,
       c._loaded_at,
       c._source_bronze_id
FROM silver.citizen_contents AS c;
COMMENT ON VIEW silver.citizen_dim_content_source IS 'Source of citizen.dim_content (natural key content_id; change_ts = updated_at; for a deleted content its latest tombstone''s deleted_at, for one back after deletions just after the latest of them).';
REVOKE ALL ON silver.citizen_dim_content_source FROM PUBLIC, analyst_role;
