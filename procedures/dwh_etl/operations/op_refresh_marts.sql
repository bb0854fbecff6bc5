-- Maintenance step: REFRESH MATERIALIZED VIEW every materialized view registered in
-- dwh_etl.table_registry with layer 'mart', through dwh_etl.sec_refresh_mart: plainly when nobody holds
-- the view (setting marts.refresh = auto), CONCURRENTLY otherwise (readers are not blocked). A view that
-- cannot be refreshed concurrently (never populated, or without a unique index) is refreshed plainly.
-- The lineage row's notes say which.
CREATE OR REPLACE PROCEDURE dwh_etl.op_refresh_marts(
    p_run_id   bigint,
    p_run_date date
)
LANGUAGE plpgsql
SET search_path = dwh_etl, pg_temp
AS $$
DECLARE
    v_view record;
    v_rows bigint;
    v_id   bigint;
    v_how  text;
BEGIN
    FOR v_view IN
        SELECT tr.table_name, c.oid AS relid, c.relispopulated,
               EXISTS (SELECT 1 FROM pg_catalog.pg_index AS i
                       WHERE i.indrelid = c.oid AND i.indisunique AND i.indpred IS NULL AND i.indexprs IS NULL) AS has_unique
        FROM dwh_etl.table_registry AS tr
        JOIN pg_catalog.pg_class AS c
          ON c.oid = to_regclass(tr.table_name)
        WHERE tr.layer = 'mart'
          AND c.relkind = 'm'
        ORDER BY tr.table_name
    LOOP
        -- REFRESH needs ownership: the SECURITY DEFINER routine does it (etl_service runs this step) and
        -- chooses CONCURRENTLY the same way.
        v_how := dwh_etl.sec_refresh_mart(v_view.relid::regclass);
        EXECUTE format('SELECT count(*) FROM %s', v_view.relid::regclass) INTO v_rows;
        v_id := dwh_lineage.log_refresh(in_view_name => v_view.table_name, in_source_table => 'multiple', in_row_count => v_rows, in_run_id => p_run_id);
        UPDATE dwh_lineage.table_lineage
        SET notes = v_how
        WHERE lineage_id = v_id;
        RAISE NOTICE 'refreshed % (% rows)', v_view.table_name, v_rows;
    END LOOP;
END;
$$;
COMMENT ON PROCEDURE dwh_etl.op_refresh_marts(bigint, date) IS 'Maintenance step: refresh every registered mart materialized view (plainly when nobody holds it, else concurrently: dwh_etl.sec_refresh_mart). Example: CALL dwh_etl.op_refresh_marts(NULL, CURRENT_DATE);';
