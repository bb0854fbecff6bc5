-- Bronze is partitioned by ingestion time (seed 002; issue 18): a bronze table bronze.<t> holds the
-- current month's extracted rows itself, and every earlier month lives in an inheritance child
-- bronze.<t>_p<YYYYMM> (UTC months) with CHECK (_ingested_at in the month), a unique btree on _bronze_id and
-- a btree on _ingested_at. Readers of bronze.<t> read its children with it, unchanged; a window on
-- _ingested_at skips the other months by their CHECK (constraint exclusion); retention drops a month whole
-- (dwh_etl.sec_purge_bronze). Rows reach a month's child through the maintenance pipeline: file loads by
-- compaction (dwh_etl.sec_compact_file_load), extracted rows once their month has ended
-- (dwh_etl.sec_seal_bronze_months). Why inheritance and not declarative partitioning: PostgreSQL 15 allows
-- no identity column on a partitioned table, and file loads attach their own children (migration 0027).
-- This function returns the child of the month of p_at, created when missing (owner only: called by the
-- SECURITY DEFINER routines above). Read-only for etl_service; append-only like its table.
CREATE OR REPLACE FUNCTION dwh_etl._bronze_period(
    p_parent regclass,
    p_at     timestamptz
)
RETURNS regclass
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_nsp   name;
    v_rel   name;
    v_month timestamp := date_trunc('month', p_at AT TIME ZONE 'UTC');
    v_name  name;
    v_child regclass;
BEGIN
    SELECT n.nspname, c.relname INTO v_nsp, v_rel
    FROM pg_catalog.pg_class AS c
    JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
    WHERE c.oid = p_parent AND n.nspname = 'bronze' AND c.relkind = 'r';
    IF v_rel IS NULL OR p_at IS NULL THEN
        RAISE EXCEPTION '_bronze_period: % is not a bronze table (or no time given)', COALESCE(p_parent::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    v_name := left(v_rel, 44) || '_p' || to_char(v_month, 'YYYYMM');
    v_child := to_regclass(format('%I.%I', v_nsp, v_name));
    IF v_child IS NOT NULL THEN
        IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_inherits AS i WHERE i.inhrelid = v_child AND i.inhparent = p_parent) THEN
            RAISE EXCEPTION '%.% exists and is not the month partition of %', v_nsp, v_name, p_parent
                USING ERRCODE = 'duplicate_table';
        END IF;
        RETURN v_child;
    END IF;
    EXECUTE format('CREATE TABLE %I.%I (CONSTRAINT %I CHECK (_ingested_at >= %L::timestamptz AND _ingested_at < %L::timestamptz)) INHERITS (%s)',
                   v_nsp, v_name, v_name || '_month',
                   to_char(v_month, 'YYYY-MM-DD') || ' 00:00:00+00',
                   to_char(v_month + interval '1 month', 'YYYY-MM-DD') || ' 00:00:00+00', p_parent);
    EXECUTE format('CREATE UNIQUE INDEX %I ON %I.%I (_bronze_id)', v_name || '_id', v_nsp, v_name);
    EXECUTE format('CREATE INDEX %I ON %I.%I (_ingested_at)', v_name || '_ingested', v_nsp, v_name);
    EXECUTE format('REVOKE ALL ON %I.%I FROM PUBLIC, etl_service', v_nsp, v_name);
    EXECUTE format('GRANT SELECT ON %I.%I TO etl_service', v_nsp, v_name);
    v_child := to_regclass(format('%I.%I', v_nsp, v_name));
    CALL dwh_etl.bronze_append_only(v_child);
    EXECUTE format('COMMENT ON TABLE %I.%I IS %L', v_nsp, v_name,
                   format('Rows of %s ingested in %s (UTC): its month partition, an inheritance child read with it; filled by the maintenance pipeline, dropped whole by retention.',
                          p_parent, to_char(v_month, 'YYYY-MM')));
    RETURN v_child;
END;
$$;
REVOKE ALL ON FUNCTION dwh_etl._bronze_period(regclass, timestamptz) FROM PUBLIC, etl_service;
COMMENT ON FUNCTION dwh_etl._bronze_period(regclass, timestamptz) IS 'The month partition (inheritance child bronze.<t>_pYYYYMM) of a bronze table for a time, created when missing. Owner only (the maintenance routines call it).';
