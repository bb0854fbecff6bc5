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
       -- a deleted row's change time is its deletion (the latest tombstone of the key): its own change time
       -- is that of its current version, so the deletion would be no change (attack 16, as agents.dim_user);
       -- a row back after deletions of its key (a restore with its old updated_at) starts just after the
       -- latest deletion that reached the source before it
       CASE WHEN u.is_deleted
            THEN GREATEST(u.updated_at,
                          (SELECT max(dwh_etl.try_timestamptz(d.deleted_at, (SELECT dwh_etl.setting_timezone('citizen.timezone', 'Asia/Kolkata'))))
                           FROM bronze.citizen_deleted_records AS d
                           WHERE d.table_name = 'users' AND d.record_id = u.user_id::text))
            ELSE GREATEST(u.updated_at,
                          (SELECT max(dwh_etl.try_timestamptz(d.deleted_at, (SELECT dwh_etl.setting_timezone('citizen.timezone', 'Asia/Kolkata')))) + interval '1 microsecond'
                           FROM bronze.citizen_users AS b
                           JOIN bronze.citizen_deleted_records AS d
                             ON d.table_name = 'users'
                            AND d.record_id = u.user_id::text
                            AND d._source_arrived_at < b._source_arrived_at
                            AND dwh_etl.try_timestamptz(d.deleted_at, (SELECT dwh_etl.setting_timezone('citizen.timezone', 'Asia/Kolkata'))) <= b._source_arrived_at
                           WHERE b._bronze_id = u._source_bronze_id))
       END AS change_ts,
       u.is_deleted,
       u._loaded_at,
       u._source_bronze_id
FROM silver.citizen_users AS u;
COMMENT ON VIEW silver.citizen_dim_user_source IS 'Source of citizen.dim_user (natural key user_id; change_ts = updated_at; for a deleted user its latest tombstone''s deleted_at, for one back after deletions just after the latest of them).';
REVOKE ALL ON silver.citizen_dim_user_source FROM PUBLIC, analyst_role;
