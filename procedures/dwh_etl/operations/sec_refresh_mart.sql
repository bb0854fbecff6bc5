-- Refreshes one registered mart materialized view on behalf of etl_service, which does not own it
-- (REFRESH needs ownership: `SET ROLE etl_service; CALL dwh_etl.run_pipeline('daily')` failed with
-- "must be owner of materialized view ..."). SECURITY DEFINER, so it is narrow: only a materialized view
-- registered in dwh_etl.table_registry with layer 'mart' is refreshed (anything else raises 42501), by
-- OID, with the name quoted from the catalog. CONCURRENTLY when the view is populated and has a unique
-- index (readers are never blocked), plainly otherwise. Returns 'refreshed concurrently' or 'refreshed'.
--   SELECT dwh_etl.sec_refresh_mart('sales.mv_customer_lifetime_value');
CREATE OR REPLACE FUNCTION dwh_etl.sec_refresh_mart(
    p_view regclass
)
RETURNS text
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_view record;
BEGIN
    SELECT n.nspname, c.relname, c.relispopulated,
           EXISTS (SELECT 1 FROM pg_catalog.pg_index AS i
                   WHERE i.indrelid = c.oid AND i.indisunique AND i.indpred IS NULL AND i.indexprs IS NULL) AS has_unique
    INTO v_view
    FROM pg_catalog.pg_class AS c
    JOIN pg_catalog.pg_namespace AS n
      ON n.oid = c.relnamespace
    WHERE c.oid = p_view
      AND c.relkind = 'm'
      AND c.relpersistence <> 't'
      AND EXISTS (SELECT 1 FROM dwh_etl.table_registry AS tr
                  WHERE tr.layer = 'mart'
                    AND to_regclass(tr.table_name) = c.oid);
    IF NOT FOUND THEN
        RAISE EXCEPTION '% is not a registered mart materialized view', COALESCE(p_view::text, 'NULL')
            USING ERRCODE = 'insufficient_privilege',
                  HINT = format('registered marts: %s; the owner registers marts in dwh_etl.table_registry (layer ''mart'')',
                                (SELECT string_agg(tr.table_name, ', ' ORDER BY tr.table_name)
                                 FROM dwh_etl.table_registry AS tr WHERE tr.layer = 'mart'));
    END IF;
    IF v_view.relispopulated AND v_view.has_unique THEN
        EXECUTE format('REFRESH MATERIALIZED VIEW CONCURRENTLY %I.%I', v_view.nspname, v_view.relname);
        RETURN 'refreshed concurrently';
    END IF;
    EXECUTE format('REFRESH MATERIALIZED VIEW %I.%I', v_view.nspname, v_view.relname);
    RETURN 'refreshed';
END;
$$;
REVOKE ALL ON FUNCTION dwh_etl.sec_refresh_mart(regclass) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION dwh_etl.sec_refresh_mart(regclass) TO etl_service;
COMMENT ON FUNCTION dwh_etl.sec_refresh_mart(regclass) IS 'SECURITY DEFINER: refresh a registered mart materialized view (concurrently when possible) for etl_service, which does not own it. Refuses anything not registered with layer mart.';
