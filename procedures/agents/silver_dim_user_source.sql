-- What the generic dimension step reads for agents.dim_user (SCD Type 2 over user_id, spec
-- "agents.dim_user"): the latest silver state of each user, change time = updated_at; an inferred member
-- is completed in place by dwh_etl.apply_dimension. _loaded_at: the window column of the dimension step.
CREATE OR REPLACE VIEW silver.agents_dim_user_source AS
SELECT s.user_id,
       s.user_type,
       s.team,
       false        AS is_inferred,
       -- a deleted row's change time is its deletion (the latest tombstone of the key): its updated_at is
       -- the time of its current version, so the deletion was no change and the version stayed current
       -- for good (attack 9a)
       CASE WHEN s.is_deleted
            THEN GREATEST(s.updated_at,
                          (SELECT max(dwh_etl.try_timestamptz(d.deleted_at, z.zone))
                           FROM bronze.agents_deleted_records AS d
                           WHERE d.table_name = 'users'
                             AND d.record_id = s.user_id))
            ELSE s.updated_at
       END AS change_ts,
       s.is_deleted,
       s._loaded_at,
       s._source_bronze_id
FROM silver.agents_users AS s
CROSS JOIN (SELECT dwh_etl.setting_timezone('agents.timezone') AS zone OFFSET 0) AS z;  -- OFFSET 0: computed once
COMMENT ON VIEW silver.agents_dim_user_source IS 'Source of agents.dim_user (natural key user_id; change_ts = the source row''s updated_at, for a deleted row its latest tombstone''s deleted_at).';
REVOKE ALL ON silver.agents_dim_user_source FROM PUBLIC, analyst_role;
