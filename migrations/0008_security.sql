-- depends: 0007_pg_cron
-- Security (issue 9, items 2 and 3).
--
-- A. The registry is code: only the owner may change it. etl_service could write
--    dwh_etl.quality_rules, whose custom_sql and params.where are executed verbatim by whoever runs the
--    pipeline (the owner, a superuser, or pg_cron as the user who synced): a rule written by etl_service
--    ran `SELECT current_user, rolsuper, pg_read_file(...)` as the superuser. Every table that decides
--    what SQL runs is now read-only for etl_service (SELECT stays: the runner reads it) and analyst_role:
--      settings          identifiers and values spliced into SQL (source schemas, retention.<table>, ...)
--      table_registry    which tables are refreshed, partitioned, analyzed, archived
--      pipelines, steps  which procedures are CALLed (steps.procedure_name is executed)
--      dimension_specs   identifiers of the SCD engine's generated SQL
--      quality_rules     custom_sql / params.where executed verbatim
--      applied_code      dwh migrate's record of applied procedure files (it decides what is re-applied)
--    etl_service keeps writing the run state only: dwh_etl.watermarks, dwh_etl.quarantine,
--    dwh_etl.archived_partitions, dwh_lineage.* (run history, lineage, quality metrics, dependencies: read
--    by queries, never executed), dwh_staging, bronze, silver, and the area schemas' data.
--    Registry routines (register_*, enable_scd_triggers, sync_schedules, schedule_sync, schedule_remove)
--    revoke EXECUTE from etl_service in their own files (they are created after this migration on a new
--    database, so only their files can carry it).
-- B. The few operations of a run that need ownership (REFRESH MATERIALIZED VIEW, creating partitions,
--    detaching partitions to the archive, ANALYZE) are SECURITY DEFINER routines dwh_etl.sec_* (one file
--    each in procedures/dwh_etl/), validated against the registry and executable by etl_service only.
--    Their window for partitions is configured here.
-- C. Analysts read gold only (seed 002). sales.mrr_* (bronze), sales.stg_* (silver, personal data),
--    sales.sales (the source), devflow._bronze_* and the run-history views were readable by analyst_role
--    because ALTER DEFAULT PRIVILEGES in 0003/0006 granted SELECT on every new relation of sales and
--    devflow. Views are created by procedures/ files, after the migrations, and re-applied by
--    dwh migrate, so a one-time REVOKE would not hold on a new database or for a new view. Chosen: the
--    default grant to analyst_role in sales and devflow is removed (fail-closed: a new relation there is
--    not readable by analysts until someone grants it on purpose), the star schema's tables keep the
--    grants they already have, gold-only views created by procedures/ files grant SELECT explicitly in
--    their own file, and CREATE OR REPLACE keeps a view's privileges when it is re-applied. An event
--    trigger was rejected: it needs a superuser to create, runs on every DDL of every role, and its
--    dependency analysis cannot see inside functions a view calls. tests/test_security_roles.py follows
--    every relation analyst_role can read down to its base tables and fails on any lower-layer one.

-- ---------------------------------------------------------------------------------------------
-- A. Registry read-only for everyone but the owner
-- ---------------------------------------------------------------------------------------------
REVOKE INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER
    ON dwh_etl.settings, dwh_etl.table_registry, dwh_etl.pipelines, dwh_etl.steps,
       dwh_etl.dimension_specs, dwh_etl.quality_rules, dwh_etl.applied_code
    FROM etl_service, analyst_role, PUBLIC;
REVOKE ALL ON dwh_etl.settings, dwh_etl.table_registry, dwh_etl.pipelines, dwh_etl.steps,
       dwh_etl.dimension_specs, dwh_etl.quality_rules, dwh_etl.applied_code
    FROM analyst_role, PUBLIC;
GRANT SELECT ON dwh_etl.settings, dwh_etl.table_registry, dwh_etl.pipelines, dwh_etl.steps,
      dwh_etl.dimension_specs, dwh_etl.quality_rules, dwh_etl.applied_code
    TO etl_service;
REVOKE USAGE, UPDATE ON SEQUENCE dwh_etl.quality_rules_rule_id_seq FROM etl_service;

-- A new table of dwh_etl is registry until said otherwise: etl_service gets SELECT only by default,
-- and run-state tables are granted explicitly (here for today's, in their migration for new ones).
ALTER DEFAULT PRIVILEGES IN SCHEMA dwh_etl REVOKE INSERT, UPDATE, DELETE ON TABLES FROM etl_service;
GRANT SELECT, INSERT, UPDATE, DELETE ON dwh_etl.watermarks, dwh_etl.quarantine, dwh_etl.archived_partitions
    TO etl_service;

-- ---------------------------------------------------------------------------------------------
-- B. The partition window of dwh_etl.sec_ensure_partitions
-- ---------------------------------------------------------------------------------------------
-- A bad row dated 0001-01-01 made ensure_partitions create monthly partitions from year 1 and fail
-- with "out of shared memory" after minutes. Partitions are only created inside this window.
INSERT INTO dwh_etl.settings (key, value, description) VALUES
    ('partitions.min_date', '2000-01-01',
     'No partition is created for a month before this date: a row dated earlier is refused by dwh_etl.ensure_partitions (such rows belong in quarantine).'),
    ('partitions.max_months_ahead', '24',
     'No partition is created more than this many months after the current month: a row dated later is refused by dwh_etl.ensure_partitions (such rows belong in quarantine).')
ON CONFLICT (key) DO NOTHING;

-- ---------------------------------------------------------------------------------------------
-- C. Analysts read gold only
-- ---------------------------------------------------------------------------------------------
ALTER DEFAULT PRIVILEGES IN SCHEMA sales REVOKE SELECT ON TABLES FROM analyst_role;
ALTER DEFAULT PRIVILEGES IN SCHEMA devflow REVOKE SELECT ON TABLES FROM analyst_role;

-- An existing database: revoke analyst_role (and PUBLIC) from every relation of the area and gold
-- schemas that reads, directly or through other views, a lower layer or the engine's tables. On a new
-- database the views do not exist yet (procedures/ files create them after the migrations, without the
-- grant now).
DO $analyst$
DECLARE
    v_rel record;
BEGIN
    FOR v_rel IN
        WITH RECURSIVE lower_schemas AS (
            SELECT unnest(ARRAY['bronze', 'silver', 'dwh_staging', 'dwh_etl', 'dwh_lineage',
                                'sales_src', 'devflow_src']::name[]) AS nspname
            UNION
            SELECT n.nspname
            FROM dwh_etl.table_registry AS tr
            JOIN pg_catalog.pg_class AS c ON c.oid = to_regclass(tr.table_name)
            JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
            WHERE tr.layer IN ('source', 'bronze', 'silver')
        ),
        reads (relid, base) AS (
            SELECT c.oid, c.oid
            FROM pg_catalog.pg_class AS c
            JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
            WHERE n.nspname IN ('sales', 'devflow', 'gold')
              AND c.relkind IN ('v', 'm')
            UNION
            SELECT r.relid, d.refobjid
            FROM reads AS r
            JOIN pg_catalog.pg_rewrite AS rw ON rw.ev_class = r.base
            JOIN pg_catalog.pg_depend AS d
              ON d.classid = 'pg_catalog.pg_rewrite'::regclass
             AND d.objid = rw.oid
             AND d.refclassid = 'pg_catalog.pg_class'::regclass
             AND d.refobjid <> r.base
        )
        SELECT DISTINCT r.relid::regclass AS rel
        FROM reads AS r
        JOIN pg_catalog.pg_class AS b ON b.oid = r.base
        JOIN pg_catalog.pg_namespace AS bn ON bn.oid = b.relnamespace
        WHERE bn.nspname IN (SELECT l.nspname FROM lower_schemas AS l)
    LOOP
        EXECUTE format('REVOKE ALL ON %s FROM analyst_role, PUBLIC', v_rel.rel);
    END LOOP;
END
$analyst$;
