-- The state of every attached source, for `dwh source status`, `dwh status` and the step `sources`:
--   SELECT * FROM dwh_etl.source_status();
-- replicate: the subscription's state (streaming, initial copy with its tables ready, disabled, or
-- stopped: enabled but no apply worker, which is what an apply error looks like; the server log has
-- it), how long since the source was last heard from (lag), and, when p_check_remote, how much WAL the
-- slot holds back on the source (retained_wal_bytes; read through the subscription's own connection).
-- fdw: when the last pull committed and how many rows it wrote; 'pull failed' when a run's pull failed
-- since (the step's record), 'unreachable' when p_check_remote and a foreign table cannot be read now.
-- warnings lists what needs a person: a disabled or stopped subscription, lag beyond sources.max_lag,
-- a slot holding more than sources.max_retained_wal (a stalled slot fills the source's disk), a slot
-- that is gone or lost its WAL, a table no longer published on the source (dropped there: its copy
-- would otherwise keep its last rows without a word), a source that cannot be reached.
-- SECURITY DEFINER: the connection string is readable by superusers only (pg_subscription.subconninfo),
-- and it is used here, never returned. Granted to etl_service, so `dwh status` shows sources to it.
CREATE OR REPLACE FUNCTION dwh_etl.source_status(
    p_check_remote boolean DEFAULT true
)
RETURNS TABLE (
    source_name        text,
    mode               text,
    remote             text,
    into_schema        text,
    state              text,
    tables_total       integer,
    tables_ready       integer,
    last_heard         timestamptz,
    lag                interval,
    retained_wal_bytes bigint,
    last_sync_at       timestamptz,
    last_sync_rows     bigint,
    warnings           text[]
)
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_src      record;
    v_max_lag  interval := dwh_etl.get_setting('sources.max_lag', '15 minutes')::interval;
    v_max_wal  bigint := pg_catalog.pg_size_bytes(dwh_etl.get_setting('sources.max_retained_wal', '1 GB'));
    v_slot     record;
    v_missing  text;
    v_msg      text;
    v_det      text;
    v_fail     record;
BEGIN
    FOR v_src IN
        SELECT s.*, sub.oid AS sub_oid, sub.subenabled, sub.subconninfo,
               (SELECT ss.pid FROM pg_catalog.pg_stat_subscription AS ss WHERE ss.subid = sub.oid AND ss.relid IS NULL) AS apply_pid,
               (SELECT ss.last_msg_receipt_time FROM pg_catalog.pg_stat_subscription AS ss WHERE ss.subid = sub.oid AND ss.relid IS NULL) AS heard,
               (SELECT count(*)::int FROM pg_catalog.pg_subscription_rel AS sr WHERE sr.srsubid = sub.oid) AS n_rel,
               (SELECT count(*)::int FROM pg_catalog.pg_subscription_rel AS sr WHERE sr.srsubid = sub.oid AND sr.srsubstate = 'r') AS n_ready,
               (SELECT st.apply_error_count + st.sync_error_count FROM pg_catalog.pg_stat_subscription_stats AS st WHERE st.subid = sub.oid) AS n_errors
        FROM dwh_etl.sources AS s
        LEFT JOIN pg_catalog.pg_subscription AS sub
          ON sub.subname = s.subscription
         AND sub.subdbid = (SELECT d.oid FROM pg_catalog.pg_database AS d WHERE d.datname = pg_catalog.current_database())
        ORDER BY s.source_name
    LOOP
        source_name := v_src.source_name;
        mode := v_src.mode;
        remote := v_src.remote;
        into_schema := v_src.into_schema;
        tables_total := cardinality(v_src.tables);
        last_sync_at := v_src.last_sync_at;
        last_sync_rows := v_src.last_sync_rows;
        warnings := '{}';
        tables_ready := NULL;
        last_heard := NULL;
        lag := NULL;
        retained_wal_bytes := NULL;
        IF v_src.mode = 'fdw' THEN
            state := CASE WHEN v_src.last_sync_at IS NULL THEN 'not pulled yet' ELSE 'pulled' END;
            -- A pull that failed rolled back with its step: only the step's record says so. The latest
            -- failure of the step `sources` naming this source since its last pull committed (a source
            -- down looked 'pulled' and healthy here while every run failed at it: review 17).
            SELECT sr.started_at, sr.error_message INTO v_fail
            FROM dwh_lineage.step_runs AS sr
            WHERE sr.step_name = 'sources'
              AND sr.status = 'failed'
              AND sr.started_at > COALESCE(v_src.last_sync_at, '-infinity'::timestamptz)
              AND sr.error_message LIKE 'source ' || replace(v_src.source_name, '_', '\_') || ' %'
            ORDER BY sr.started_at DESC
            LIMIT 1;
            IF FOUND THEN
                state := 'pull failed';
                warnings := warnings || format('the last pull failed (%s UTC): %s',
                                               to_char(v_fail.started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS'),
                                               v_fail.error_message);
            END IF;
            -- reachable now? one row of one of its foreign tables (postgres_fdw, with the server's
            -- connect_timeout, setting sources.connect_timeout)
            IF p_check_remote THEN
                BEGIN
                    EXECUTE format('SELECT 1 FROM %I.%I LIMIT 1', v_src.foreign_schema, v_src.tables[1]);
                EXCEPTION WHEN OTHERS THEN
                    GET STACKED DIAGNOSTICS v_msg = MESSAGE_TEXT, v_det = PG_EXCEPTION_DETAIL;
                    state := 'unreachable';
                    warnings := warnings || format('source unreachable: %s%s', v_msg,
                                                   COALESCE(': ' || NULLIF(split_part(v_det, E'\n', 1), ''), ''));
                END;
            END IF;
        ELSIF v_src.sub_oid IS NULL THEN
            state := 'missing';
            warnings := warnings || format('subscription %s is gone: dwh source remove %s, then add it again', v_src.subscription, v_src.source_name);
        ELSE
            tables_ready := v_src.n_ready;
            last_heard := v_src.heard;
            lag := CASE WHEN v_src.apply_pid IS NOT NULL THEN date_trunc('second', clock_timestamp() - v_src.heard) END;
            state := CASE WHEN NOT v_src.subenabled THEN 'disabled'
                          WHEN v_src.apply_pid IS NULL THEN 'stopped'
                          WHEN v_src.n_ready < v_src.n_rel THEN format('initial copy (%s of %s tables ready)', v_src.n_ready, v_src.n_rel)
                          ELSE 'streaming' END;
            IF NOT v_src.subenabled THEN
                warnings := warnings || format('subscription disabled: changes wait on the source (ALTER SUBSCRIPTION %I ENABLE)', v_src.subscription);
            ELSIF v_src.apply_pid IS NULL THEN
                warnings := warnings || format('no apply worker is running%s: see the server log', 
                                               CASE WHEN v_src.n_errors > 0 THEN format(' (%s errors so far)', v_src.n_errors) ELSE '' END);
            ELSIF lag > v_max_lag THEN
                warnings := warnings || format('nothing heard from the source for %s (sources.max_lag %s)', lag, v_max_lag);
            END IF;
            IF p_check_remote THEN
                BEGIN
                    PERFORM dwh_etl._source_connect('dwh_source_status', v_src.subconninfo, v_src.source_name);
                    SELECT * INTO v_slot
                    FROM dwh_remote.dblink('dwh_source_status', format(
                        'SELECT pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_lsn(), restart_lsn)::bigint, active, wal_status::text
                         FROM pg_catalog.pg_replication_slots WHERE slot_name = %L', v_src.slot_name))
                         AS t (retained bigint, active boolean, wal_status text);
                    -- a table dropped on the source (or taken out of the publication) leaves it silently:
                    -- its copy would keep its last rows for ever (attack 11)
                    SELECT t.missing INTO v_missing
                    FROM dwh_remote.dblink('dwh_source_status', format(
                        'SELECT pg_catalog.string_agg(t, '', '' ORDER BY t) FROM pg_catalog.unnest(%L::text[]) AS t
                         WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_publication_tables AS p
                                           WHERE p.pubname = %L AND p.schemaname = %L AND p.tablename = t)',
                        v_src.tables, v_src.publication, v_src.remote_schema)) AS t (missing text);
                    PERFORM dwh_remote.dblink_disconnect('dwh_source_status');
                    IF v_missing IS NOT NULL THEN
                        warnings := warnings || format('table(s) %s no longer published on the source (dropped there, or taken out of publication %s): their copies keep their last rows and receive no changes; remove the source and add it again with the tables it has',
                                                       v_missing, v_src.publication);
                    END IF;
                    IF v_slot IS NULL THEN
                        warnings := warnings || format('replication slot %s is gone on the source: changes are lost from then on; remove the source and add it again', v_src.slot_name);
                    ELSE
                        retained_wal_bytes := v_slot.retained;
                        IF v_slot.wal_status = 'lost' THEN
                            warnings := warnings || format('replication slot %s lost its WAL (max_slot_wal_keep_size): remove the source and add it again', v_src.slot_name);
                        ELSIF v_slot.retained > v_max_wal THEN
                            warnings := warnings || format('replication slot %s holds %s of WAL on the source (sources.max_retained_wal %s): a stalled slot fills the source''s disk',
                                                           v_src.slot_name, pg_catalog.pg_size_pretty(v_slot.retained), pg_catalog.pg_size_pretty(v_max_wal));
                        END IF;
                    END IF;
                EXCEPTION WHEN OTHERS THEN
                    GET STACKED DIAGNOSTICS v_msg = MESSAGE_TEXT;
                    IF 'dwh_source_status' = ANY (COALESCE(dwh_remote.dblink_get_connections(), '{}')) THEN
                        PERFORM dwh_remote.dblink_disconnect('dwh_source_status');
                    END IF;
                    warnings := warnings || format('source unreachable: %s', v_msg);
                END;
            END IF;
        END IF;
        RETURN NEXT;
    END LOOP;
END;
$$;
REVOKE ALL ON FUNCTION dwh_etl.source_status(boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION dwh_etl.source_status(boolean) TO etl_service;
COMMENT ON FUNCTION dwh_etl.source_status(boolean) IS 'SECURITY DEFINER: state, lag and warnings of every attached source (replicate: subscription and, with p_check_remote, WAL held by its slot on the source; fdw: last pull).';
