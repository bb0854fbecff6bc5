-- Refreshes one registered mart materialized view on behalf of etl_service, which does not own it
-- (REFRESH needs ownership: `SET ROLE etl_service; CALL dwh_etl.run_pipeline('daily')` failed with
-- "must be owner of materialized view ..."). SECURITY DEFINER, so it is narrow: only a materialized view
-- registered in dwh_etl.table_registry with layer 'mart' is refreshed (anything else raises 42501), by
-- OID, with the name quoted from the catalog. How, by setting marts.refresh:
--   'auto' (default)  a plain REFRESH when no other session holds a lock on the view at this instant:
--                     it is 3-4x cheaper than CONCURRENTLY, which computes the whole view again and diffs it
--                     with the old contents (sales.mv_customer_lifetime_value at scale 1, 50k customers:
--                     0.16-0.21 s against 0.52-0.69 s, the costliest step of a next day). A reader that comes
--                     while it runs waits for it (and for the step's commit, right after); a reader that
--                     holds the view (a long report, an open REPEATABLE READ transaction that read it) is
--                     never waited for: the lock is not taken, and the refresh is CONCURRENTLY. Nor is
--                     a session of this database that holds a snapshot (backend_xmin: an open REPEATABLE
--                     READ or SERIALIZABLE transaction, a statement running): a plain refresh writes the
--                     new contents frozen into a new file, so such a transaction that reads the view
--                     afterwards saw rows committed after its snapshot, next to facts as of it (review
--                     13); CONCURRENTLY keeps the view MVCC-safe for it. (A REPEATABLE READ transaction
--                     whose very first statement reads the view while the plain refresh runs takes its
--                     snapshot before it waits: PostgreSQL's caveat for TRUNCATE and plain refreshes.)
--   'concurrently'    always CONCURRENTLY when the view allows it: readers are never blocked.
-- CONCURRENTLY needs a populated view with a unique index; otherwise the refresh is plain. Returns
-- 'refreshed concurrently', 'refreshed (no reader held it)' or 'refreshed'.
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
    v_mode text;
    v_timeout text;
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
    v_mode := dwh_etl.get_setting('marts.refresh', 'auto');
    IF v_mode IS NULL OR v_mode NOT IN ('auto', 'concurrently') THEN
        RAISE EXCEPTION 'setting marts.refresh is %: it is auto or concurrently', COALESCE(quote_literal(v_mode), 'NULL')
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'UPDATE dwh_etl.settings SET value = ''auto'' WHERE key = ''marts.refresh'' (the owner)';
    END IF;
    IF v_view.relispopulated AND v_view.has_unique THEN
        -- (LOCK TABLE does not take a materialized view: pg_locks says whether another session holds it,
        -- and a short lock_timeout bounds the wait of a reader that comes between that look and the lock)
        IF v_mode = 'auto' AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_locks AS l
                                           WHERE l.locktype = 'relation'
                                             AND l.database = (SELECT d.oid FROM pg_catalog.pg_database AS d
                                                               WHERE d.datname = pg_catalog.current_database())
                                             AND l.relation = p_view
                                             AND l.pid <> pg_catalog.pg_backend_pid())
                           AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_stat_activity AS a
                                           WHERE a.datname = pg_catalog.current_database()
                                             AND a.pid <> pg_catalog.pg_backend_pid()
                                             AND a.leader_pid IS DISTINCT FROM pg_catalog.pg_backend_pid()
                                             AND a.backend_xmin IS NOT NULL
                                             AND a.backend_type NOT IN ('autovacuum worker', 'walsender')) THEN
            v_timeout := pg_catalog.current_setting('lock_timeout');
            BEGIN
                PERFORM pg_catalog.set_config('lock_timeout', '50ms', true);
                EXECUTE format('REFRESH MATERIALIZED VIEW %I.%I', v_view.nspname, v_view.relname);
                PERFORM pg_catalog.set_config('lock_timeout', v_timeout, true);
                RETURN 'refreshed (no reader held it)';
            EXCEPTION WHEN lock_not_available THEN
                NULL;  -- a reader came first: CONCURRENTLY, below (the setting is restored with the subtransaction)
            END;
        END IF;
        EXECUTE format('REFRESH MATERIALIZED VIEW CONCURRENTLY %I.%I', v_view.nspname, v_view.relname);
        RETURN 'refreshed concurrently';
    END IF;
    EXECUTE format('REFRESH MATERIALIZED VIEW %I.%I', v_view.nspname, v_view.relname);
    RETURN 'refreshed';
END;
$$;
REVOKE ALL ON FUNCTION dwh_etl.sec_refresh_mart(regclass) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION dwh_etl.sec_refresh_mart(regclass) TO etl_service;
COMMENT ON FUNCTION dwh_etl.sec_refresh_mart(regclass) IS 'SECURITY DEFINER: refresh a registered mart materialized view for etl_service, which does not own it: plainly when nobody holds it (setting marts.refresh = auto, the default), else concurrently when possible. Refuses anything not registered with layer mart.';
