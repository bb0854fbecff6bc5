-- VACUUM (ANALYZE) of one table, partition or materialized view of a registered table (p_kind
-- 'vacuum'), or REINDEX of one index on one (p_kind 'reindex'), for the monthly maintenance, on behalf
-- of etl_service (SECURITY DEFINER: it owns no table, and VACUUM by a non-owner only warns and skips).
-- VACUUM cannot run inside a function or procedure (PostgreSQL: "cannot be executed from a function"):
-- it runs in a session of its own, opened with dblink over the local socket as this function's owner.
-- REINDEX runs here, in the caller's transaction, and not CONCURRENTLY: a concurrent rebuild waits for
-- every transaction older than it to end, the caller's included, so from a routine it waits forever.
-- A plain REINDEX blocks writes to the table and reads through that index while it rebuilds (seconds
-- for the warehouse's indexes), once a month, only for an index worth it (dwh_etl.op_reindex).
-- Narrow, like dwh_etl.sec_analyze: a registered table, a partition of one, or an index on either, by
-- OID, the name quoted from the catalog; anything else raises 42501. Returns the statement it ran.
--   SELECT dwh_etl.sec_vacuum('sales.fact_sales_p202501', 'vacuum');
CREATE OR REPLACE FUNCTION dwh_etl.sec_vacuum(
    p_object regclass,
    p_kind   text
)
RETURNS text
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_table oid;
    v_sql   text;
BEGIN
    SELECT CASE p_kind WHEN 'vacuum' THEN c.oid ELSE i.indrelid END
    INTO v_table
    FROM pg_catalog.pg_class AS c
    LEFT JOIN pg_catalog.pg_index AS i
      ON i.indexrelid = c.oid
    WHERE c.oid = p_object
      AND c.relpersistence <> 't'
      AND ((p_kind = 'vacuum' AND c.relkind IN ('r', 'm'))
           OR (p_kind = 'reindex' AND c.relkind = 'i'));
    IF v_table IS NULL
       OR NOT EXISTS (SELECT 1
                      FROM dwh_etl.table_registry AS tr
                      WHERE to_regclass(tr.table_name) = v_table
                         OR to_regclass(tr.table_name) IN (
                                SELECT a.relid FROM pg_catalog.pg_partition_ancestors(v_table) AS a)) THEN
        RAISE EXCEPTION '% is not a % of a registered table', COALESCE(p_object::text, 'NULL'),
                        CASE p_kind WHEN 'reindex' THEN 'index' ELSE 'table' END
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'dwh_etl.sec_vacuum vacuums the tables of dwh_etl.table_registry (p_kind vacuum) and reindexes their indexes (p_kind reindex) only';
    END IF;
    SELECT format(CASE p_kind WHEN 'vacuum' THEN 'VACUUM (ANALYZE) %I.%I' ELSE 'REINDEX INDEX %I.%I' END, n.nspname, c.relname)
    INTO v_sql
    FROM pg_catalog.pg_class AS c
    JOIN pg_catalog.pg_namespace AS n
      ON n.oid = c.relnamespace
    WHERE c.oid = p_object;
    IF p_kind = 'vacuum' THEN
        PERFORM dwh_remote.dblink_exec(dwh_etl._cron_conninfo(current_database()), v_sql);
    ELSE
        EXECUTE v_sql;
    END IF;
    RETURN v_sql;
END;
$$;
REVOKE ALL ON FUNCTION dwh_etl.sec_vacuum(regclass, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION dwh_etl.sec_vacuum(regclass, text) TO etl_service;
COMMENT ON FUNCTION dwh_etl.sec_vacuum(regclass, text) IS 'SECURITY DEFINER: VACUUM (ANALYZE) a registered table or partition in a dblink session of its own (p_kind vacuum; VACUUM cannot run inside a routine), or REINDEX INDEX an index of one (p_kind reindex). Refuses anything else.';
