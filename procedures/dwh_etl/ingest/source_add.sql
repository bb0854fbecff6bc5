-- Attaches an operational PostgreSQL on another server as a source, in one call:
--   CALL dwh_etl.source_add('shop', 'host=db1 dbname=shop user=dwh', p_into => 'shop',
--                           p_schema => 'public', p_tables => '{customers,products,sales}', p_area => 'sales');
-- Modes:
-- - replicate (default): PostgreSQL's logical replication. On the source: a publication of the tables
--   and a logical replication slot (both named dwh_<name>_<8 hex of this database>, so two warehouses
--   attaching one source do not collide). Here: a copy of each table (same columns; types of other
--   schemas, such as enums and domains, become text; primary key; no CHECKs or foreign keys: what the
--   source accepted is the warehouse's to judge), then a subscription that copies the rows and streams
--   every change after, deletes and TRUNCATEs included. PostgreSQL 15 matches replicated tables by
--   schema-qualified name, so the copies live in a local schema named like the source's (p_schema);
--   when p_into differs, p_into gets a view per table over them.
-- - fdw: postgres_fdw foreign tables (in the owner-only schema _dwh_fdw_<name>, with the copies'
--   columns and types: the source's enums and domains are text) for sources that do not allow replication; the copies live in p_into and the
--   pipeline step `sources` (dwh_etl.sec_source_pull) pulls the rows changed since its watermark on
--   p_change_column, minus the overlap sources.fdw_overlap, merging by key.
-- Either way every copy gets _dwh_arrived_at (dwh_etl.track_arrival: extraction follows the order rows
-- reached the warehouse, not the source's timestamps, so a long source transaction committing late is
-- not skipped) and triggers that write a tombstone per deleted or truncated row into
-- p_into.deleted_records (table_name, record_id, deleted_at), fired for replicated changes too (ENABLE
-- ALWAYS), and one per row whose primary key an UPDATE changed (the old key; attack 11). A source
-- that has its own deleted_records table attached keeps it instead. An area's
-- extraction reads p_into like it reads its demo source; p_area points the area there (setting
-- <area>.source_schema).
-- Needs a superuser (CREATE SUBSCRIPTION does in PostgreSQL 15). The conninfo is kept only in the
-- subscription (pg_subscription.subconninfo, superusers only) or the user mapping; it is never stored in
-- a table, never put in an error message. Errors say what to change on the source: wal_level,
-- REPLICATION, ownership of the tables, a primary key. Whatever was created on the source is dropped
-- again when the call fails. Call it outside an explicit transaction block (from psql with autocommit,
-- as `dwh source add` does): the subscription starts when the call commits, and a rollback after it
-- would leave the slot on the source (dwh_etl.source_remove drops it).
CREATE OR REPLACE PROCEDURE dwh_etl.source_add(
    p_name          text,
    p_conninfo      text,
    p_into          text,
    p_schema        text DEFAULT 'public',
    p_tables        text[] DEFAULT NULL,
    p_mode          text DEFAULT 'replicate',
    p_area          text DEFAULT NULL,
    p_change_column text DEFAULT 'updated_at'
)
LANGUAGE plpgsql
SET search_path = dwh_etl, pg_temp
AS $$
DECLARE
    v_conn      text := 'dwh_source_add';
    v_tag       text := format('dwh_%s_%s', p_name, left(md5(current_database() || (SELECT system_identifier::text FROM pg_catalog.pg_control_system())), 8));
    v_reserved  text[] := ARRAY['pg_catalog', 'information_schema', 'pg_toast', 'dwh_etl', 'dwh_lineage', 'dwh_remote',
                                'dwh_staging', 'bronze', 'silver', 'gold', 'archive', 'sales', 'devflow', 'cron'];
    v_remote    record;
    v_landing   text;
    v_fschema   text := '_dwh_fdw_' || p_name;
    v_tables    text[];
    v_bad       text[];
    v_tomb      boolean;
    v_t         record;
    v_pairs     jsonb;
    v_remote_made boolean := false;
    v_msg       text;
    v_det       text;
    v_hint      text;
    v_state     text;
BEGIN
    IF NOT (SELECT r.rolsuper FROM pg_catalog.pg_roles AS r WHERE r.rolname = current_user) THEN
        RAISE EXCEPTION 'dwh source add needs a superuser (% is not one)', current_user
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'PostgreSQL 15 lets only superusers create subscriptions and password-less foreign servers; run it as the cluster owner.';
    END IF;
    IF p_name IS NULL OR p_name !~ '^[a-z][a-z0-9_]{0,39}$' THEN
        RAISE EXCEPTION 'source name % is not a lower-case identifier of at most 40 characters', quote_literal(COALESCE(p_name, 'NULL'))
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_mode IS NULL OR p_mode NOT IN ('replicate', 'fdw') THEN
        RAISE EXCEPTION 'source %: mode % is not replicate or fdw', p_name, quote_literal(COALESCE(p_mode, 'NULL'))
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_into IS NULL OR p_into = '' OR p_schema IS NULL OR p_schema = '' THEN
        RAISE EXCEPTION 'source %: the source schema and the schema to load into are required', p_name
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    v_landing := CASE p_mode WHEN 'replicate' THEN p_schema ELSE p_into END;
    IF p_into = ANY (v_reserved) OR p_into LIKE 'pg\_%' OR v_landing = ANY (v_reserved) OR v_landing LIKE 'pg\_%' THEN
        RAISE EXCEPTION 'source %: schema % belongs to the warehouse or the system; the source''s tables cannot land there', p_name,
                        CASE WHEN p_into = ANY (v_reserved) OR p_into LIKE 'pg\_%' THEN p_into ELSE v_landing END
            USING ERRCODE = 'invalid_schema_name',
                  HINT = CASE WHEN v_landing <> p_into
                              THEN 'Logical replication keeps the source''s schema name (PostgreSQL 15 cannot rename); publish from another schema, or use --mode fdw.'
                              ELSE 'Choose another --into schema, e.g. ' || p_name || '_src.' END;
    END IF;
    IF EXISTS (SELECT 1 FROM dwh_etl.sources AS s WHERE s.source_name = p_name) THEN
        RAISE EXCEPTION 'source % exists', p_name
            USING ERRCODE = 'duplicate_object', HINT = format('dwh source remove %s first (or CALL dwh_etl.source_remove(%L)).', p_name, p_name);
    END IF;
    IF EXISTS (SELECT 1 FROM dwh_etl.sources AS s WHERE s.into_schema = p_into OR s.landing_schema IN (p_into, v_landing)) THEN
        RAISE EXCEPTION 'source %: schema % is already used by source %', p_name, p_into,
                        (SELECT s.source_name FROM dwh_etl.sources AS s WHERE s.into_schema = p_into OR s.landing_schema IN (p_into, v_landing) LIMIT 1)
            USING ERRCODE = 'duplicate_schema';
    END IF;
    IF p_area IS NOT NULL AND NOT EXISTS (SELECT 1 FROM dwh_etl.settings AS s WHERE s.key = p_area || '.source_schema') THEN
        RAISE EXCEPTION 'source %: area % reads no source schema (no setting %.source_schema)', p_name, p_area, p_area
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = (SELECT 'Areas with a source schema: ' || string_agg(split_part(s.key, '.', 1), ', ' ORDER BY s.key)
                          FROM dwh_etl.settings AS s WHERE s.key LIKE '%.source\_schema');
    END IF;

    PERFORM dwh_etl._source_connect(v_conn, p_conninfo, p_name);
    BEGIN
        EXECUTE format('SELECT * FROM dwh_remote.dblink(%L, %L) AS t (wal_level text, role text, is_super boolean, can_replicate boolean, free_slots integer)',
                       v_conn,
                       'SELECT current_setting(''wal_level''), current_user::text, r.rolsuper, r.rolreplication,
                               current_setting(''max_replication_slots'')::int - (SELECT count(*)::int FROM pg_catalog.pg_replication_slots)
                        FROM pg_catalog.pg_roles AS r WHERE r.rolname = current_user')
        INTO v_remote;

        -- the source's tables of p_schema: columns, their types, primary key position, privileges
        PERFORM 'PRAGMA:TABLE: _src_cols (relname text, attnum integer, attname text, typ text, key_pos integer, '
                'can_select boolean, owns boolean)';  -- tells plpgsql_check the shape of the temp table
        CREATE TEMP TABLE _src_cols (relname text, attnum integer, attname text, typ text, key_pos integer,
                                     can_select boolean, owns boolean) ON COMMIT DROP;
        EXECUTE format('INSERT INTO _src_cols SELECT * FROM dwh_remote.dblink(%L, %L) AS t (relname text, attnum integer, attname text, typ text, key_pos integer, can_select boolean, owns boolean)',
                       v_conn, format(
                       'SELECT c.relname::text, a.attnum::int, a.attname::text,
                               CASE WHEN t.typnamespace = ''pg_catalog''::regnamespace
                                     AND (t.typelem = 0 OR (SELECT e.typnamespace FROM pg_catalog.pg_type AS e WHERE e.oid = t.typelem) = ''pg_catalog''::regnamespace)
                                    THEN pg_catalog.format_type(a.atttypid, a.atttypmod) ELSE ''text'' END,
                               pg_catalog.array_position(i.indkey::int2[], a.attnum)::int,
                               pg_catalog.has_table_privilege(c.oid, ''SELECT''), pg_catalog.pg_has_role(c.relowner, ''USAGE'')
                        FROM pg_catalog.pg_class AS c
                        JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
                        JOIN pg_catalog.pg_attribute AS a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''''
                        JOIN pg_catalog.pg_type AS t ON t.oid = a.atttypid
                        LEFT JOIN pg_catalog.pg_index AS i ON i.indrelid = c.oid AND i.indisprimary
                        WHERE n.nspname = %L AND c.relkind IN (''r'', ''p'') AND NOT c.relispartition', p_schema));

        v_tables := COALESCE(p_tables, (SELECT array_agg(DISTINCT c.relname ORDER BY c.relname) FROM _src_cols AS c));
        IF v_tables IS NULL OR cardinality(v_tables) = 0 THEN
            RAISE EXCEPTION 'source %: schema % on the source has no tables (that % can see)', p_name, p_schema, v_remote.role
                USING ERRCODE = 'undefined_table';
        END IF;
        SELECT array_agg(t ORDER BY t) INTO v_bad
        FROM unnest(v_tables) AS t WHERE NOT EXISTS (SELECT 1 FROM _src_cols AS c WHERE c.relname = t);
        IF v_bad IS NOT NULL THEN
            RAISE EXCEPTION 'source %: no table % in schema % on the source', p_name, array_to_string(v_bad, ', '), p_schema
                USING ERRCODE = 'undefined_table',
                      HINT = COALESCE('Tables there: ' || (SELECT string_agg(DISTINCT c.relname, ', ') FROM _src_cols AS c), 'The schema has no tables.');
        END IF;
        SELECT array_agg(t ORDER BY t) INTO v_bad
        FROM unnest(v_tables) AS t WHERE NOT EXISTS (SELECT 1 FROM _src_cols AS c WHERE c.relname = t AND c.key_pos IS NOT NULL);
        IF v_bad IS NOT NULL THEN
            RAISE EXCEPTION 'source %: table(s) % have no primary key', p_name, array_to_string(v_bad, ', ')
                USING ERRCODE = 'invalid_table_definition',
                      HINT = 'The warehouse identifies updated and deleted rows by primary key (and a publication without one would make UPDATE and DELETE fail on the source): add one on the source.';
        END IF;
        SELECT array_agg(DISTINCT c.relname ORDER BY c.relname) INTO v_bad
        FROM _src_cols AS c WHERE c.relname = ANY (v_tables) AND NOT c.can_select;
        IF v_bad IS NOT NULL THEN
            RAISE EXCEPTION 'source %: role % may not read % on the source', p_name, v_remote.role, array_to_string(v_bad, ', ')
                USING ERRCODE = 'insufficient_privilege',
                      HINT = format('On the source: GRANT SELECT ON %s TO %I;',
                                    (SELECT string_agg(format('%I.%I', p_schema, b), ', ') FROM unnest(v_bad) AS b), v_remote.role);
        END IF;
        IF p_mode = 'fdw' THEN
            SELECT array_agg(t ORDER BY t) INTO v_bad
            FROM unnest(v_tables) AS t
            WHERE NOT EXISTS (SELECT 1 FROM _src_cols AS c WHERE c.relname = t AND c.attname = p_change_column
                                AND c.typ IN ('timestamp with time zone', 'timestamp without time zone', 'date'));
            IF v_bad IS NOT NULL THEN
                RAISE EXCEPTION 'source %: table(s) % have no timestamp column % to pull changes by', p_name, array_to_string(v_bad, ', '), quote_literal(p_change_column)
                    USING ERRCODE = 'undefined_column',
                          HINT = 'fdw mode reads the rows changed since its last pull: name the change timestamp column (--change-column), or use --mode replicate.';
            END IF;
        ELSE
            IF v_remote.wal_level <> 'logical' THEN
                RAISE EXCEPTION 'source %: wal_level is % on the source; logical replication needs wal_level = logical', p_name, v_remote.wal_level
                    USING ERRCODE = 'object_not_in_prerequisite_state',
                          HINT = 'On the source, as a superuser: ALTER SYSTEM SET wal_level = logical; then restart it. Or attach it with --mode fdw.';
            END IF;
            IF NOT (v_remote.is_super OR v_remote.can_replicate) THEN
                RAISE EXCEPTION 'source %: role % may not replicate', p_name, v_remote.role
                    USING ERRCODE = 'insufficient_privilege',
                          HINT = format('On the source: ALTER ROLE %I REPLICATION; (it must also own the tables, to publish them). Or attach it with --mode fdw.', v_remote.role);
            END IF;
            SELECT array_agg(DISTINCT c.relname ORDER BY c.relname) INTO v_bad
            FROM _src_cols AS c WHERE c.relname = ANY (v_tables) AND NOT (c.owns OR v_remote.is_super);
            IF v_bad IS NOT NULL THEN
                RAISE EXCEPTION 'source %: role % does not own % on the source, so it cannot publish them', p_name, v_remote.role, array_to_string(v_bad, ', ')
                    USING ERRCODE = 'insufficient_privilege',
                          HINT = format('On the source, connect as a superuser or the tables'' owner, or: GRANT <owner> TO %I;', v_remote.role);
            END IF;
            IF v_remote.free_slots < 1 THEN
                RAISE EXCEPTION 'source %: every replication slot of the source is taken (max_replication_slots)', p_name
                    USING ERRCODE = 'configuration_limit_exceeded',
                          HINT = 'On the source: raise max_replication_slots and restart, or drop an unused slot (SELECT * FROM pg_replication_slots).';
            END IF;
        END IF;

        -- nothing of the same name may be here already (a demo source, an earlier source's kept tables)
        SELECT array_agg(r ORDER BY r) INTO v_bad
        FROM (SELECT format('%I.%I', v_landing, t) AS r FROM unnest(v_tables) AS t
              UNION SELECT format('%I.%I', p_into, t) FROM unnest(v_tables) AS t
              UNION SELECT format('%I.deleted_records', p_into)) AS x
        WHERE to_regclass(x.r) IS NOT NULL;
        IF v_bad IS NOT NULL THEN
            RAISE EXCEPTION 'source %: % already exist(s) in this database', p_name, array_to_string(v_bad, ', ')
                USING ERRCODE = 'duplicate_table',
                      HINT = 'Load into a new schema (--into), or drop those tables first (they may be a demo source or an earlier source''s kept copies).';
        END IF;

        -- the local copies
        EXECUTE format('CREATE SCHEMA IF NOT EXISTS %I', v_landing);
        EXECUTE format('GRANT USAGE ON SCHEMA %I TO etl_service', v_landing);
        FOR v_t IN
            SELECT c.relname,
                   string_agg(format('%I %s', c.attname, c.typ), ', ' ORDER BY c.attnum) AS cols,
                   string_agg(format('%I', c.attname), ', ' ORDER BY c.key_pos) FILTER (WHERE c.key_pos IS NOT NULL) AS pk,
                   array_agg(c.attname ORDER BY c.key_pos) FILTER (WHERE c.key_pos IS NOT NULL) AS pk_cols
            FROM _src_cols AS c
            WHERE c.relname = ANY (v_tables)
            GROUP BY c.relname
            ORDER BY c.relname
        LOOP
            EXECUTE format('CREATE TABLE %I.%I (%s, PRIMARY KEY (%s))', v_landing, v_t.relname, v_t.cols, v_t.pk);
            EXECUTE format('COMMENT ON TABLE %I.%I IS %L', v_landing, v_t.relname,
                           format('Copy of %s.%s of source %s (%s), kept by %s. Do not write here.', p_schema, v_t.relname, p_name,
                                  dwh_etl._conninfo_display(p_conninfo),
                                  CASE p_mode WHEN 'replicate' THEN 'logical replication (subscription ' || v_tag || ')'
                                       ELSE 'the pipeline step sources (postgres_fdw)' END));
            EXECUTE format('GRANT SELECT ON %I.%I TO etl_service', v_landing, v_t.relname);
            CALL dwh_etl.track_arrival(format('%I.%I', v_landing, v_t.relname)::regclass);
            IF v_landing <> p_into THEN
                EXECUTE format('CREATE SCHEMA IF NOT EXISTS %I', p_into);
                EXECUTE format('GRANT USAGE ON SCHEMA %I TO etl_service', p_into);
                EXECUTE format('CREATE VIEW %I.%I AS SELECT * FROM %I.%I', p_into, v_t.relname, v_landing, v_t.relname);
                EXECUTE format('COMMENT ON VIEW %I.%I IS %L', p_into, v_t.relname,
                               format('%s.%s of source %s (replicated into %I, which keeps the source''s schema name).', p_schema, v_t.relname, p_name, v_landing));
                EXECUTE format('GRANT SELECT ON %I.%I TO etl_service', p_into, v_t.relname);
            END IF;
        END LOOP;

        v_tomb := NOT 'deleted_records' = ANY (v_tables);
        IF v_tomb THEN
            EXECUTE format('CREATE SCHEMA IF NOT EXISTS %I', p_into);
            EXECUTE format('GRANT USAGE ON SCHEMA %I TO etl_service', p_into);
            EXECUTE format('CREATE TABLE %I.deleted_records (table_name text NOT NULL, record_id text NOT NULL, '
                           'deleted_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (table_name, record_id, deleted_at))', p_into);
            EXECUTE format('COMMENT ON TABLE %I.deleted_records IS %L', p_into,
                           format('Tombstones of source %s: one row per row deleted (or truncated) on the source, written here by trigger zz_dwh_tombstone of each copy (dwh_etl.trg_source_tombstone). record_id is the primary key as text (a row literal when it has several columns).', p_name));
            EXECUTE format('GRANT SELECT ON %I.deleted_records TO etl_service', p_into);
            CALL dwh_etl.track_arrival(format('%I.deleted_records', p_into)::regclass);
            FOR v_t IN
                SELECT c.relname, string_agg(format('%L', c.attname), ', ' ORDER BY c.key_pos) AS key_args,
                       string_agg(format('OLD.%1$I IS DISTINCT FROM NEW.%1$I', c.attname), ' OR ' ORDER BY c.key_pos) AS key_changed
                FROM _src_cols AS c
                WHERE c.relname = ANY (v_tables) AND c.key_pos IS NOT NULL
                GROUP BY c.relname
            LOOP
                -- a row trigger: replication's apply worker fires no statement trigger on DELETE
                EXECUTE format('CREATE TRIGGER zz_dwh_tombstone AFTER DELETE ON %I.%I '
                               'FOR EACH ROW EXECUTE FUNCTION dwh_etl.trg_source_tombstone(%L, %s)',
                               v_landing, v_t.relname, format('%I.deleted_records', p_into), v_t.key_args);
                EXECUTE format('CREATE TRIGGER zz_dwh_tombstone_truncate BEFORE TRUNCATE ON %I.%I '
                               'FOR EACH STATEMENT EXECUTE FUNCTION dwh_etl.trg_source_tombstone(%L, %s)',
                               v_landing, v_t.relname, format('%I.deleted_records', p_into), v_t.key_args);
                -- an UPDATE of the key on the source (replicated as an UPDATE here): the old key is gone
                EXECUTE format('CREATE TRIGGER zz_dwh_tombstone_rekey AFTER UPDATE ON %I.%I '
                               'FOR EACH ROW WHEN (%s) EXECUTE FUNCTION dwh_etl.trg_source_tombstone(%L, %s)',
                               v_landing, v_t.relname, v_t.key_changed, format('%I.deleted_records', p_into), v_t.key_args);
                EXECUTE format('ALTER TABLE %I.%I ENABLE ALWAYS TRIGGER zz_dwh_tombstone, ENABLE ALWAYS TRIGGER zz_dwh_tombstone_truncate, '
                               'ENABLE ALWAYS TRIGGER zz_dwh_tombstone_rekey',
                               v_landing, v_t.relname);
            END LOOP;
        END IF;

        IF p_mode = 'fdw' THEN
            SELECT jsonb_object_agg(c.keyword, c.value) INTO v_pairs FROM dwh_etl._conninfo_parse(p_conninfo) AS c;
            BEGIN
                EXECUTE format('CREATE SERVER %I FOREIGN DATA WRAPPER postgres_fdw OPTIONS (%s)', 'dwh_src_' || p_name,
                               (SELECT string_agg(format('%I %L', e.key, e.value), ', ')
                                FROM jsonb_each_text(v_pairs || jsonb_build_object(
                                         'connect_timeout', dwh_etl.get_setting('sources.connect_timeout', '5'),
                                         'application_name', 'dwh source ' || p_name, 'fetch_size', '10000')) AS e
                                WHERE e.key NOT IN ('user', 'password', 'sslpassword', 'client_encoding', 'fallback_application_name')));
                EXECUTE format('CREATE USER MAPPING FOR PUBLIC SERVER %I%s', 'dwh_src_' || p_name,
                               COALESCE(' OPTIONS (' || (SELECT string_agg(format('%I %L', e.key, e.value), ', ')
                                                         FROM jsonb_each_text(v_pairs) AS e
                                                         WHERE e.key IN ('user', 'password', 'sslpassword')) || ')', ''));
            EXCEPTION WHEN OTHERS THEN
                -- re-raised without the statement: it holds the password
                GET STACKED DIAGNOSTICS v_msg = MESSAGE_TEXT, v_state = RETURNED_SQLSTATE;
                RAISE EXCEPTION 'source %: cannot create the foreign server: %', p_name, v_msg USING ERRCODE = v_state;
            END;
            EXECUTE format('CREATE SCHEMA %I', v_fschema);
            EXECUTE format('REVOKE ALL ON SCHEMA %I FROM PUBLIC', v_fschema);
            EXECUTE format('COMMENT ON SCHEMA %I IS %L', v_fschema, format('Foreign tables of source %s (postgres_fdw): read by dwh_etl.sec_source_pull only.', p_name));
            -- the foreign tables with the copies' columns and types, not IMPORT FOREIGN SCHEMA: that names
            -- the source's own types (enums, domains: shop.segment), which do not exist here (attack 11);
            -- such a column is text here (its values are read as text) like in the copy
            FOR v_t IN
                SELECT c.relname,
                       string_agg(format('%I %s OPTIONS (column_name %L)', c.attname, c.typ, c.attname), ', ' ORDER BY c.attnum) AS cols
                FROM _src_cols AS c
                WHERE c.relname = ANY (v_tables)
                GROUP BY c.relname
                ORDER BY c.relname
            LOOP
                EXECUTE format('CREATE FOREIGN TABLE %I.%I (%s) SERVER %I OPTIONS (schema_name %L, table_name %L)',
                               v_fschema, v_t.relname, v_t.cols, 'dwh_src_' || p_name, p_schema, v_t.relname);
            END LOOP;
        ELSE
            -- the source side: a publication and a slot, dropped again if anything below fails
            PERFORM * FROM dwh_remote.dblink(v_conn, format('SELECT pg_catalog.pg_drop_replication_slot(slot_name)::text FROM pg_catalog.pg_replication_slots WHERE slot_name = %L AND NOT active', v_tag)) AS t (r text);
            PERFORM dwh_remote.dblink_exec(v_conn, format('DROP PUBLICATION IF EXISTS %I', v_tag));
            v_remote_made := true;
            PERFORM dwh_remote.dblink_exec(v_conn, format('CREATE PUBLICATION %I FOR TABLE %s WITH (publish_via_partition_root = true)', v_tag,
                                                          (SELECT string_agg(format('%I.%I', p_schema, t), ', ') FROM unnest(v_tables) AS t)));
            PERFORM * FROM dwh_remote.dblink(v_conn, format('SELECT pg_catalog.pg_create_logical_replication_slot(%L, ''pgoutput'')::text', v_tag)) AS t (r text);
            BEGIN
                EXECUTE format('CREATE SUBSCRIPTION %I CONNECTION %L PUBLICATION %I WITH (create_slot = false, slot_name = %L, copy_data = true, enabled = true)',
                               v_tag, p_conninfo, v_tag, v_tag);
            EXCEPTION WHEN OTHERS THEN
                -- re-raised without the statement: it holds the connection string
                GET STACKED DIAGNOSTICS v_msg = MESSAGE_TEXT, v_det = PG_EXCEPTION_DETAIL, v_state = RETURNED_SQLSTATE;
                RAISE EXCEPTION 'source %: cannot create the subscription: %', p_name, v_msg
                    USING ERRCODE = v_state, DETAIL = COALESCE(v_det, '');
            END;
        END IF;

        INSERT INTO dwh_etl.sources (source_name, mode, remote, remote_schema, tables, landing_schema, into_schema, area,
                                     publication, subscription, slot_name, server_name, foreign_schema, change_column)
        VALUES (p_name, p_mode, dwh_etl._conninfo_display(p_conninfo), p_schema, v_tables, v_landing, p_into, p_area,
                CASE WHEN p_mode = 'replicate' THEN v_tag END, CASE WHEN p_mode = 'replicate' THEN v_tag END,
                CASE WHEN p_mode = 'replicate' THEN v_tag END,
                CASE WHEN p_mode = 'fdw' THEN 'dwh_src_' || p_name END, CASE WHEN p_mode = 'fdw' THEN v_fschema END,
                p_change_column);
        IF p_area IS NOT NULL THEN
            UPDATE dwh_etl.settings SET value = p_into WHERE key = p_area || '.source_schema';
        END IF;
        PERFORM dwh_remote.dblink_disconnect(v_conn);
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS v_msg = MESSAGE_TEXT, v_det = PG_EXCEPTION_DETAIL, v_hint = PG_EXCEPTION_HINT, v_state = RETURNED_SQLSTATE;
        IF v_remote_made THEN
            BEGIN
                PERFORM * FROM dwh_remote.dblink(v_conn, format('SELECT pg_catalog.pg_drop_replication_slot(slot_name)::text FROM pg_catalog.pg_replication_slots WHERE slot_name = %L', v_tag)) AS t (r text);
                PERFORM dwh_remote.dblink_exec(v_conn, format('DROP PUBLICATION IF EXISTS %I', v_tag));
            EXCEPTION WHEN OTHERS THEN
                v_hint := concat_ws(' ', v_hint, format('The source may keep publication and slot %s: drop them there (SELECT pg_drop_replication_slot(%L); DROP PUBLICATION %I;).', v_tag, v_tag, v_tag));
            END;
        END IF;
        IF v_conn = ANY (COALESCE(dwh_remote.dblink_get_connections(), '{}')) THEN
            PERFORM dwh_remote.dblink_disconnect(v_conn);
        END IF;
        RAISE EXCEPTION USING MESSAGE = v_msg, ERRCODE = v_state, DETAIL = COALESCE(v_det, ''), HINT = COALESCE(v_hint, '');
    END;
    RAISE NOTICE 'source % attached (%): % table(s) of %.% into %; %', p_name, p_mode, cardinality(v_tables),
                 dwh_etl._conninfo_display(p_conninfo), p_schema, p_into,
                 CASE WHEN p_mode = 'replicate' THEN 'the initial copy runs in the background (dwh source status)'
                      ELSE 'the pipeline step sources pulls it (dwh run daily)' END;
END;
$$;
REVOKE EXECUTE ON PROCEDURE dwh_etl.source_add(text, text, text, text, text[], text, text, text) FROM PUBLIC, etl_service;
COMMENT ON PROCEDURE dwh_etl.source_add(text, text, text, text, text[], text, text, text) IS 'Attach an operational PostgreSQL as a source (logical replication or postgres_fdw) into a local schema an area reads. Superuser; no credentials stored in tables.';
