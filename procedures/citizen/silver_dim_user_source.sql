-- What the generic dimension step reads for citizen.dim_user (SCD Type 2 over user_id: type, state and
-- district are history; language preference Type 1). Only registered accounts: anonymous visitors have no
-- row (their facts have no user_key and are counted by session). No activity attributes.
CREATE OR REPLACE VIEW silver.citizen_dim_user_source AS
SELECT u.user_id,
       u.user_type,
       u.location_state,
       u.location_district,
       u.language_preference,
       u.registration_date,
       u.created_at,
       false        AS is_inferred,
       u.updated_at AS change_ts,
       false        AS is_deleted,
       u._loaded_at,
       u._source_bronze_id
FROM silver.citizen_users AS u;
COMMENT ON VIEW silver.citizen_dim_user_source IS 'Source of citizen.dim_user (natural key user_id; change_ts = updated_at).';
REVOKE ALL ON silver.citizen_dim_user_source FROM PUBLIC, analyst_role;
