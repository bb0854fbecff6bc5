-- Detaches a source: CALL dwh_etl.source_remove('shop');
-- replicate: disables the subscription, detaches it from its slot and drops it, COMMITs (the apply
-- worker stops), then drops the slot and the publication on the source through the subscription's own
-- connection. A slot left on the source would hold its WAL forever and fill its disk: when the source
-- cannot be reached, the notice says exactly what to drop there.
-- fdw: drops the foreign schema, the user mapping and the server.
-- The local copies and their tombstones stay (the data the warehouse already has is not lost) unless
-- p_drop_tables; the area's source_schema setting is left alone (a notice says so, a warning with
-- p_drop_tables: the area's next run would fail). Superuser; call it outside an explicit
-- transaction block (it commits).
CREATE OR REPLACE PROCEDURE dwh_etl.source_remove(
    p_name        text,
    p_drop_tables boolean DEFAULT false
)
LANGUAGE plpgsql
-- No SET clause (a procedure with one cannot COMMIT): every name is qualified.
AS $$
DECLARE
    v_src      dwh_etl.sources%ROWTYPE;
    v_conninfo text;
    v_left     text;
    v_t        text;
    v_msg      text;
BEGIN
    IF NOT (SELECT r.rolsuper FROM pg_catalog.pg_roles AS r WHERE r.rolname = current_user) THEN
        RAISE EXCEPTION 'dwh source remove needs a superuser (% is not one)', current_user
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    SELECT * INTO v_src FROM dwh_etl.sources AS s WHERE s.source_name = p_name FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no source %', quote_literal(COALESCE(p_name, 'NULL'))
            USING ERRCODE = 'undefined_object',
                  HINT = COALESCE('Sources: ' || (SELECT string_agg(s.source_name, ', ' ORDER BY s.source_name) FROM dwh_etl.sources AS s), 'No source is attached.');
    END IF;

    IF v_src.mode = 'replicate' THEN
        SELECT s.subconninfo INTO v_conninfo FROM pg_catalog.pg_subscription AS s
        WHERE s.subname = v_src.subscription AND s.subdbid = (SELECT d.oid FROM pg_catalog.pg_database AS d WHERE d.datname = current_database());
        IF v_conninfo IS NOT NULL THEN
            EXECUTE format('ALTER SUBSCRIPTION %I DISABLE', v_src.subscription);
            EXECUTE format('ALTER SUBSCRIPTION %I SET (slot_name = NONE)', v_src.subscription);
            EXECUTE format('DROP SUBSCRIPTION %I', v_src.subscription);
        END IF;
    ELSE
        EXECUTE format('DROP SCHEMA IF EXISTS %I CASCADE', v_src.foreign_schema);
        EXECUTE format('DROP SERVER IF EXISTS %I CASCADE', v_src.server_name);
    END IF;
    DELETE FROM dwh_etl.sources AS s WHERE s.source_name = p_name;
    IF p_drop_tables THEN
        FOREACH v_t IN ARRAY v_src.tables LOOP
            IF v_src.landing_schema <> v_src.into_schema THEN
                EXECUTE format('DROP VIEW IF EXISTS %I.%I', v_src.into_schema, v_t);
            END IF;
            EXECUTE format('DROP TABLE IF EXISTS %I.%I', v_src.landing_schema, v_t);
        END LOOP;
        IF NOT 'deleted_records' = ANY (v_src.tables) THEN
            EXECUTE format('DROP TABLE IF EXISTS %I.deleted_records', v_src.into_schema);
        END IF;
    END IF;
    COMMIT;

    IF v_src.mode = 'replicate' AND v_conninfo IS NOT NULL THEN
        v_left := format('publication %I and replication slot %I', v_src.publication, v_src.slot_name);
        BEGIN
            PERFORM dwh_etl._source_connect('dwh_source_remove', v_conninfo, p_name);
            -- the walsender of the stopped apply worker may take a moment to exit
            FOR v_try IN 1..40 LOOP
                EXIT WHEN NOT EXISTS (
                    SELECT 1 FROM dwh_remote.dblink('dwh_source_remove',
                        format('SELECT slot_name::text FROM pg_catalog.pg_replication_slots WHERE slot_name = %L AND active', v_src.slot_name)) AS t (s text));
                PERFORM pg_catalog.pg_sleep(0.25);
            END LOOP;
            -- the slot, and the initial copy's table-sync slots should any be left (pg_<oid>_sync_...)
            PERFORM * FROM dwh_remote.dblink('dwh_source_remove',
                format('SELECT pg_catalog.pg_drop_replication_slot(slot_name)::text FROM pg_catalog.pg_replication_slots WHERE slot_name = %L', v_src.slot_name)) AS t (r text);
            PERFORM dwh_remote.dblink_exec('dwh_source_remove', format('DROP PUBLICATION IF EXISTS %I', v_src.publication));
            PERFORM dwh_remote.dblink_disconnect('dwh_source_remove');
            v_left := NULL;
        EXCEPTION WHEN OTHERS THEN
            GET STACKED DIAGNOSTICS v_msg = MESSAGE_TEXT;
            IF 'dwh_source_remove' = ANY (COALESCE(dwh_remote.dblink_get_connections(), '{}')) THEN
                PERFORM dwh_remote.dblink_disconnect('dwh_source_remove');
            END IF;
            RAISE WARNING 'source % removed here, but % are left on the source: %', p_name, v_left, v_msg
                USING HINT = format('A slot left there holds WAL and fills the source''s disk. On the source: SELECT pg_drop_replication_slot(%L); DROP PUBLICATION %I;',
                                    v_src.slot_name, v_src.publication);
        END;
    END IF;
    RAISE NOTICE 'source % removed%', p_name,
                 CASE WHEN p_drop_tables THEN ' with its tables'
                      ELSE format('; its tables stay in %s (dwh source remove --drop-tables, p_drop_tables => true, drops them)',
                                  v_src.landing_schema) END;
    -- the area attached with --area still reads the schema: say so, and how to point it elsewhere
    IF v_src.area IS NOT NULL
       AND (SELECT s.value FROM dwh_etl.settings AS s WHERE s.key = v_src.area || '.source_schema') = v_src.into_schema THEN
        v_msg := format('area %s still reads %s (setting %s.source_schema)%s', v_src.area, v_src.into_schema, v_src.area,
                        CASE WHEN p_drop_tables THEN ', which is gone: its next run fails at extraction'
                             ELSE ': its runs load no further change of the source' END);
        v_t := format('point the area at its source: UPDATE dwh_etl.settings SET value = ''<schema>'' WHERE key = %L (the demo: %L)',
                      v_src.area || '.source_schema', v_src.area || '_src');
        IF p_drop_tables THEN
            RAISE WARNING '%', v_msg USING HINT = v_t;
        ELSE
            RAISE NOTICE '%', v_msg USING HINT = v_t;
        END IF;
    END IF;
END;
$$;
REVOKE EXECUTE ON PROCEDURE dwh_etl.source_remove(text, boolean) FROM PUBLIC, etl_service;
COMMENT ON PROCEDURE dwh_etl.source_remove(text, boolean) IS 'Detach a source: drop its subscription (and its slot and publication on the source) or its foreign server; keep the local copies unless p_drop_tables. Superuser; commits.';
