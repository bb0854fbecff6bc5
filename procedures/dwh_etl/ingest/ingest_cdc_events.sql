-- Change events (CDC, issue 13; seed 002's ingest_cdc_event): land a batch of Debezium-shaped events in
-- bronze.cdc_events and apply them to the warehouse's mirror of the operational source (p_into, e.g.
-- sales_src), from where the area's pipeline carries them on (extract by arrival -> bronze -> silver).
--
--   SELECT * FROM dwh_etl.ingest_cdc_events('[{"op": "u", "before": ..., "after": {...},
--            "source": {"table": "customers", "lsn": 24023128, "ts_ms": 1735725600000}}]', 'sales_src');
--
-- An event is the envelope {"schema": ..., "payload": {...}} or the bare payload {"before", "after", "op",
-- "ts_ms", "source": {"schema", "table", "lsn", "ts_ms", "txId"}}. source.table names the table of p_into;
-- source.schema is recorded, not used to route. The table must be registered as a source
-- (dwh_etl.table_registry, layer source) and have a primary key; its key is read from the after image
-- (c, r, u) or the before image (d).
--
-- Order. Changes of one key are applied in the order (source.lsn, source.ts_ms, arrival): lsn is a number
-- or 'X/Y'; ties (a replayed snapshot) go to the later commit time, then to the later delivery (position in
-- the batch, later batches after earlier ones). txId is recorded, not used: transaction ids do not order
-- changes. Of the new changes of a key in a batch only the last in that order is applied, and only when
-- it is not older than the last change already applied to the key (dwh_etl.cdc_key_state, which keeps
-- deleted keys too): a late older update never resurrects a deleted row. The others are 'stale'.
-- c, r and u upsert the after image (INSERT ... ON CONFLICT (pk) DO UPDATE ... WHERE the row differs: a
-- u of a missing key inserts it, a c of an existing key updates it); d deletes the key (the mirror's
-- delete trigger writes the tombstone silver reads). A column missing from the after image keeps its
-- current value (its DEFAULT for a new row), and so does one whose value is Debezium's placeholder of an
-- unchanged TOASTed column ('__debezium_unavailable_value'); keys of the image that are not columns are ignored; columns
-- starting with _ and those listed in setting cdc.local_columns.<p_into> are left to the mirror.
--
-- Deduplication. A change is identified by target table, key, lsn, op and row image (events without a
-- usable key: by the event without its ts_ms, which differs between redeliveries); two different images
-- of one key at one lsn (a producer that gives every change of a transaction its commit LSN) are two
-- changes, ordered by source.ts_ms, then arrival. A change already applied or judged
-- stale, delivered again in the same batch or a later one, is recorded as 'duplicate' and not applied
-- again. A quarantined change delivered again is processed again (the target may have been fixed).
--
-- Bad events never fail the batch and are never lost: they are landed with status 'quarantined' and go
-- to dwh_etl.quarantine (source_table dwh_etl.ingest_cdc_events, one open entry per event, deliveries
-- counted) with their reasons: not an object, a null payload (a Kafka tombstone), no op, an unknown op,
-- op t (truncate: not applied, see below), no source.table, a table of p_into that is not a registered
-- source or has no primary key, no or an invalid source.lsn, no after (c/r/u) or before (d) image, a key
-- column missing or null, a value its column's type does not accept or would round (numeric scale), a
-- JSON array or object for a column that is not json, jsonb or an array, a date or time given as now,
-- today, tomorrow or yesterday (read as of the ingestion: a redelivery would differ), an update whose before image
-- has another key than its after image (the old row would stay), or a
-- row the target rejects (CHECK, NOT NULL, unique). Typing and applying are first tried set-based over
-- the whole batch (per table, each in a subtransaction); only when that fails, halves of the events are
-- tried, down to single events, to find the bad ones (a few bad events among thousands cost a few dozen
-- statements). When a change of a key applies, open quarantine entries of that key at or below its lsn are
-- resolved as superseded. If the newest change of a key is rejected, the newest valid one of the batch
-- (newer than the key's state) is applied instead: the same state as when the rejected change arrives in
-- a batch of its own; without one, the row keeps its last applied state until a valid change arrives.
--
-- Truncate (op t) is quarantined, not applied: emptying a mirror table writes no tombstones (TRUNCATE
-- fires no DELETE trigger), so silver would never learn of it. Re-snapshot the table (op r) instead, or
-- deliver its deletes.
--
-- Time: TimeZone, DateStyle and IntervalStyle are pinned for the call (and JIT is off: compiling the
-- generated expressions cost seconds); ts_ms are epoch milliseconds;
-- zone-less timestamp strings of an image are read in UTC.
--
-- Security: etl_service may call it; it may not write the source schemas itself, so the writes go through
-- dwh_etl.sec_cdc_apply (SECURITY DEFINER, registered source tables only, changes passed by value).
-- analyst_role may not call either. Batches into one schema are serialized (transaction advisory lock)
-- so the per-key order state stays exact.
CREATE OR REPLACE FUNCTION dwh_etl.ingest_cdc_events(
    p_events   jsonb,
    p_into     text,
    p_source   text DEFAULT 'cdc',
    p_batch_id uuid DEFAULT NULL
)
RETURNS TABLE (
    batch_id    uuid,
    events      bigint,
    applied     bigint,
    stale       bigint,
    duplicate   bigint,
    quarantined bigint
)
LANGUAGE plpgsql
SET search_path = dwh_etl, pg_temp
SET TimeZone = 'UTC'
SET DateStyle = 'ISO, YMD'
SET IntervalStyle = 'postgres'
-- the generated per-column expressions cost JIT seconds to compile for milliseconds of work (as for runs)
SET jit = off
AS $$
#variable_conflict use_column
DECLARE
    v_run    record := dwh_lineage._current_run();
    v_batch  uuid;
    v_events jsonb;
    v_t      record;
    v_applied record;
    v_n      bigint;
    v_lo     integer[];
    v_hi     integer[];
    v_a      integer;
    v_b      integer;
    v_count  record;
    v_base   integer;
    v_promoted bigint;
    v_done     bigint;
    v_retried  bigint;
BEGIN
    IF p_into IS NULL OR p_into = '' THEN
        RAISE EXCEPTION 'ingest_cdc_events needs the schema to apply the events to (p_into)'
            USING ERRCODE = 'null_value_not_allowed',
                  HINT = 'the area''s source schema, e.g. sales_src';
    END IF;
    IF current_setting('session_replication_role') <> 'origin' THEN
        RAISE EXCEPTION 'session_replication_role is %, change events are applied only with origin', current_setting('session_replication_role')
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = 'the mirror''s triggers (tombstones of deletes, arrival stamps) would not fire',
                  HINT = 'SET session_replication_role = origin, then ingest again';
    END IF;
    v_batch := COALESCE(p_batch_id, v_run.batch_id, gen_random_uuid());
    -- one batch at a time per schema: the per-key order state is read and written by the batch
    PERFORM pg_advisory_xact_lock(hashtext('dwh_etl.ingest_cdc_events'), hashtext(p_into));
    -- a batch id already used (two calls in one run step, which share the run's batch; a client that
    -- retries with its own batch id): this call's events are numbered after the batch's last event, so
    -- the redelivered ones are recorded as duplicates (it failed on bronze's unique (batch, event_no))
    v_base := COALESCE((SELECT max(b.event_no) FROM bronze.cdc_events AS b WHERE b.batch_id = v_batch), 0);

    -- the tables events may change: registered sources of p_into with a primary key
    -- (tombstones: the table is one the warehouse's delete triggers write, dwh_etl._tombstone_table: its
    -- events are quarantined, attack 13a)
    PERFORM 'PRAGMA:TABLE: _cdc_tgt (relname text, tgt regclass, tgt_name text, pk text[], n_ins bigint, n_upd bigint, n_del bigint, tombstones boolean)';
    CREATE TEMP TABLE _cdc_tgt ON COMMIT DROP AS
    SELECT c.relname::text AS relname,
           c.oid::regclass AS tgt,
           format('%I.%I', n.nspname, c.relname) AS tgt_name,
           (SELECT array_agg(a.attname::text ORDER BY k.o)
            FROM pg_catalog.pg_index AS i
            CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k (attnum, o)
            JOIN pg_catalog.pg_attribute AS a
              ON a.attrelid = i.indrelid
             AND a.attnum = k.attnum
            WHERE i.indrelid = c.oid
              AND i.indisprimary) AS pk,
           0::bigint AS n_ins, 0::bigint AS n_upd, 0::bigint AS n_del,
           dwh_etl._tombstone_table(c.oid) AS tombstones
    FROM dwh_etl.table_registry AS tr
    JOIN pg_catalog.pg_class AS c
      ON c.oid = to_regclass(tr.table_name)
    JOIN pg_catalog.pg_namespace AS n
      ON n.oid = c.relnamespace
    WHERE tr.layer = 'source'
      AND n.nspname = p_into
      AND c.relkind IN ('r', 'p');
    IF NOT EXISTS (SELECT 1 FROM _cdc_tgt) THEN
        DROP TABLE _cdc_tgt;
        RAISE EXCEPTION 'schema % has no table registered as a source: change events cannot be applied to it', quote_ident(p_into)
            USING ERRCODE = 'invalid_schema_name',
                  DETAIL = 'nothing was landed or applied',
                  HINT = 'dwh_etl.table_registry lists the source tables (layer source), e.g. of sales_src';
    END IF;

    v_events := CASE WHEN jsonb_typeof(p_events) = 'array' THEN p_events
                     WHEN p_events IS NOT NULL THEN jsonb_build_array(p_events) END;

    -- 1. unpack: the events as received (never rewritten), then one row per event with every structural
    --    reason (the rows that are updated below stay small: the raw event is not in them)
    PERFORM 'PRAGMA:TABLE: _cdc_raw (n integer, event jsonb)';
    CREATE TEMP TABLE _cdc_raw ON COMMIT DROP AS
    SELECT e.n::integer AS n, e.elem AS event
    FROM jsonb_array_elements(COALESCE(v_events, '[]'::jsonb)) WITH ORDINALITY AS e (elem, n);

    PERFORM 'PRAGMA:TABLE: _cdc_in (n integer, op text, src_schema text, src_table text, tgt regclass, tgt_name text, pk text[], lsn pg_lsn, source_ts timestamptz, event_ts timestamptz, tx_id text, img jsonb, fields jsonb, rec_key jsonb, raw_fp text, fp text, reasons text[], status text)';
    CREATE TEMP TABLE _cdc_in ON COMMIT DROP AS
    WITH el AS (
        SELECT r.n,
               r.event,
               CASE WHEN jsonb_typeof(r.event) = 'object' AND r.event ? 'payload' AND r.event ? 'schema' THEN r.event -> 'payload'
                    WHEN jsonb_typeof(r.event) = 'object' THEN r.event END AS payload,
               CASE WHEN jsonb_typeof(r.event) = 'object' AND r.event ? 'payload' AND r.event ? 'schema'
                         AND jsonb_typeof(r.event -> 'schema' -> 'fields') = 'array'
                    THEN r.event -> 'schema' -> 'fields' END AS schema_fields
        FROM _cdc_raw AS r
    ),
    parsed AS (
        SELECT el.n, el.event, el.payload, el.schema_fields,
               CASE WHEN jsonb_typeof(el.payload) = 'object' THEN el.payload ->> 'op' END AS op,
               CASE WHEN jsonb_typeof(el.payload) = 'object' AND jsonb_typeof(el.payload -> 'source') = 'object'
                    THEN el.payload -> 'source' END AS src
        FROM el
    ),
    imaged AS (
        SELECT p.*,
               p.src ->> 'table' AS src_table,
               dwh_etl._cdc_lsn(p.src -> 'lsn') AS lsn,
               CASE WHEN p.op IN ('c', 'r', 'u') THEN 'after' WHEN p.op = 'd' THEN 'before' END AS side
        FROM parsed AS p
    )
    SELECT i.n,
           i.op,
           i.src ->> 'schema' AS src_schema,
           i.src_table,
           t.tgt,
           t.tgt_name,
           t.pk,
           i.lsn,
           dwh_etl._cdc_epoch_ms(i.src -> 'ts_ms') AS source_ts,
           dwh_etl._cdc_epoch_ms(i.payload -> 'ts_ms') AS event_ts,
           i.src ->> 'txId' AS tx_id,
           CASE WHEN jsonb_typeof(i.payload -> i.side) = 'object' THEN i.payload -> i.side END AS img,
           -- the image's field schemas, by column, when the event came in its envelope
           (SELECT jsonb_object_agg(f ->> 'field', f)
            FROM jsonb_array_elements(i.schema_fields) AS s
            CROSS JOIN LATERAL jsonb_array_elements(CASE WHEN jsonb_typeof(s -> 'fields') = 'array' THEN s -> 'fields' ELSE '[]'::jsonb END) AS f
            WHERE jsonb_typeof(s) = 'object'
              AND s ->> 'field' = i.side
              AND jsonb_typeof(f) = 'object'
              AND f ->> 'field' IS NOT NULL) AS fields,
           CASE WHEN t.pk IS NOT NULL AND jsonb_typeof(i.payload -> i.side) = 'object'
                THEN (SELECT jsonb_object_agg(k, i.payload -> i.side -> k) FROM unnest(t.pk) AS k) END AS rec_key,
           -- the identity of an event that has no usable key: the event without its volatile ts_ms
           md5(concat_ws(chr(31), p_into,
                         CASE WHEN jsonb_typeof(i.event -> 'payload') = 'object' THEN i.event #- '{payload,ts_ms}'
                              WHEN jsonb_typeof(i.event) = 'object' THEN i.event - 'ts_ms'
                              ELSE i.event END::text)) AS raw_fp,
           NULL::text AS fp,
           dwh_etl.reasons(
               CASE WHEN jsonb_typeof(i.event) <> 'object'
                    THEN format('element %s of the batch is a JSON %s, not a change event', i.n, jsonb_typeof(i.event)) END,
               CASE WHEN jsonb_typeof(i.event) = 'object' AND jsonb_typeof(i.payload) <> 'object'
                    THEN 'the event''s payload is null (a Kafka tombstone carries no change)' END,
               CASE WHEN jsonb_typeof(i.payload) = 'object' AND i.op IS NULL
                    THEN 'the event has no op' END,
               CASE WHEN i.op = 't'
                    THEN format('op t (truncate) of %s is not applied: a truncate writes no tombstones, so the warehouse would never see the rows go; re-snapshot the table (op r) or deliver its deletes',
                                COALESCE(CASE WHEN i.src_table IS NOT NULL THEN format('%I.%I', p_into, i.src_table) END, quote_ident(p_into))) END,
               CASE WHEN i.op NOT IN ('c', 'u', 'd', 'r', 't')
                    THEN format('unknown op %s (expected c, u, d or r)', dwh_etl.quote_value(i.op)) END,
               CASE WHEN jsonb_typeof(i.payload) = 'object' AND i.src_table IS NULL
                    THEN 'the event has no source.table' END,
               CASE WHEN i.src_table IS NOT NULL AND t.tgt IS NULL
                    THEN format('%s is not a table of %s registered as a source (dwh_etl.table_registry, layer source)',
                                dwh_etl.quote_value(i.src_table), quote_ident(p_into)) END,
               CASE WHEN t.tombstones
                    THEN format('%s is written by the delete triggers of the tables of %s (the deletes the warehouse saw applied): a change event may not write it; deliver the delete of the row itself',
                                t.tgt_name, quote_ident(p_into)) END,
               CASE WHEN t.tgt IS NOT NULL AND t.pk IS NULL
                    THEN format('%s has no primary key: its changes cannot be applied by key', t.tgt_name) END,
               CASE WHEN jsonb_typeof(i.payload) = 'object' AND i.src IS NOT NULL AND i.src -> 'lsn' IS NULL
                    THEN 'the event has no source.lsn (the order of changes)'
                    WHEN jsonb_typeof(i.payload) = 'object' AND i.src IS NULL
                    THEN 'the event has no source block (source.table, source.lsn)'
                    WHEN jsonb_typeof(i.payload) = 'object' AND i.lsn IS NULL
                    THEN format('source.lsn %s is not an LSN (a number up to 2^64-1 or X/Y)', dwh_etl.quote_value(i.src ->> 'lsn')) END,
               CASE WHEN i.side IS NOT NULL AND jsonb_typeof(i.payload -> i.side) IS DISTINCT FROM 'object'
                    THEN format('op %s has no %s image', i.op, i.side) END,
               CASE WHEN t.pk IS NOT NULL AND jsonb_typeof(i.payload -> i.side) = 'object'
                    THEN (SELECT format('the %s image has no value for key column %s', i.side, string_agg(k, ', '))
                          FROM unnest(t.pk) AS k
                          WHERE jsonb_typeof(i.payload -> i.side -> k) IS NULL
                             OR jsonb_typeof(i.payload -> i.side -> k) = 'null'
                          HAVING count(*) > 0) END,
               -- an update whose before image has another key: upserting the after image would leave the
               -- old key's row behind (Debezium sends a key change as a delete and a create)
               CASE WHEN i.op = 'u' AND t.pk IS NOT NULL
                         AND jsonb_typeof(i.payload -> 'before') = 'object' AND jsonb_typeof(i.payload -> 'after') = 'object'
                         AND (SELECT bool_and(jsonb_typeof(i.payload -> 'before' -> k) IS NOT NULL
                                              AND jsonb_typeof(i.payload -> 'before' -> k) <> 'null'
                                              AND jsonb_typeof(i.payload -> 'after' -> k) IS NOT NULL)
                              FROM unnest(t.pk) AS k)
                         AND (SELECT bool_or((i.payload -> 'before' ->> k) IS DISTINCT FROM (i.payload -> 'after' ->> k))
                              FROM unnest(t.pk) AS k)
                    THEN format('op u changes the key from %s to %s: not applied, the old row would stay; deliver the delete of the old key and the create of the new one',
                                (SELECT jsonb_object_agg(k, i.payload -> 'before' -> k) FROM unnest(t.pk) AS k),
                                (SELECT jsonb_object_agg(k, i.payload -> 'after' -> k) FROM unnest(t.pk) AS k)) END
           ) AS reasons,
           NULL::text AS status
    FROM imaged AS i
    LEFT JOIN _cdc_tgt AS t
      ON t.relname = i.src_table;
    -- statistics, so the self-joins by event number below are hash joins, not nested loops
    CREATE INDEX ON _cdc_in (n);
    ANALYZE _cdc_in;

    -- 2. type the images of each table: set-based, one subtransaction per table; only if that fails,
    --    halves of them, down to single events, find the values the columns do not accept
    FOR v_t IN SELECT DISTINCT t.tgt, t.tgt_name, t.pk FROM _cdc_tgt AS t
               JOIN _cdc_in AS e ON e.tgt = t.tgt
               WHERE cardinality(e.reasons) = 0 LOOP
        DECLARE
            v_sql  text;
            v_cols text[];
            v_typs regtype[];
        BEGIN
            SELECT array_agg(a.attname::text ORDER BY a.attnum), array_agg(a.atttypid::regtype ORDER BY a.attnum)
            INTO v_cols, v_typs
            FROM pg_catalog.pg_attribute AS a
            WHERE a.attrelid = v_t.tgt AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = '';

            v_sql := format(
                'UPDATE _cdc_in AS e
                 SET img = x.img, rec_key = x.rec_key, reasons = e.reasons || x.reasons
                 FROM (SELECT e2.n,
                              -- the typed values (ISO text for times, whatever the session settings), only the image''s columns
                              (SELECT COALESCE(jsonb_object_agg(t.key, t.value), ''{}''::jsonb)
                               FROM jsonb_each(to_jsonb(r)) AS t
                               WHERE n2.img ? t.key) AS img,
                              jsonb_build_object(%2$s) AS rec_key,
                              dwh_etl.reasons(VARIADIC ARRAY[%3$s]::text[]) AS reasons
                       FROM _cdc_in AS e2
                       CROSS JOIN LATERAL (
                           -- only numbers into date / timestamp / numeric columns, encoded numerics and JSON sent
                           -- as a string (io.debezium.data.Json) need decoding
                           SELECT COALESCE(jsonb_object_agg(j.key,
                                      CASE WHEN c.typ IN (''date''::regtype, ''timestamp''::regtype, ''timestamptz''::regtype, ''numeric''::regtype,
                                                          ''json''::regtype, ''jsonb''::regtype)
                                                AND (jsonb_typeof(j.value) IN (''number'', ''object'') OR e2.fields IS NOT NULL)
                                           THEN dwh_etl._cdc_value(j.value, c.typ, e2.fields -> j.key)
                                           ELSE j.value END), ''{}''::jsonb) AS img
                           FROM jsonb_each(e2.img) AS j
                           JOIN unnest($2::text[], $3::regtype[]) AS c (col, typ)
                             ON c.col = j.key
                           WHERE (e2.op <> ''d'' OR c.col = ANY (e2.pk))
                             -- Debezium''s placeholder of an unchanged TOASTed column: not part of the image
                             AND j.value IS DISTINCT FROM ''"__debezium_unavailable_value"''::jsonb
                       ) AS n2
                       CROSS JOIN LATERAL jsonb_populate_record(NULL::%1$s, n2.img) AS r
                       WHERE e2.tgt = $1
                         AND cardinality(e2.reasons) = 0
                         AND %4$s) AS x
                 WHERE x.n = e.n',
                v_t.tgt,
                (SELECT string_agg(format('%L, r.%I', k, k), ', ') FROM unnest(v_t.pk) AS k),
                -- a numeric the column would round is refused, never rounded silently; a JSON array or
                -- object for a column that is no json, jsonb, array or composite is refused, never stored
                -- as its JSON text (a text column took '["Ann"]' as a name)
                COALESCE((SELECT string_agg(x.expr, ', ')
                          FROM (SELECT format(
                                       'CASE WHEN e2.op <> ''d'' AND jsonb_typeof(n2.img -> %1$L) IN (''number'', ''string'') '
                                       'AND (n2.img ->> %1$L)::numeric IS DISTINCT FROM r.%2$I::numeric '
                                       'THEN format(''%%s %%s does not fit %%s without rounding'', %1$L, dwh_etl.quote_value(n2.img ->> %1$L), %3$L) END',
                                       a.attname, a.attname, format_type(a.atttypid, a.atttypmod)) AS expr
                                FROM pg_catalog.pg_attribute AS a
                                WHERE a.attrelid = v_t.tgt AND a.attnum > 0 AND NOT a.attisdropped
                                  AND a.atttypid = 'numeric'::regtype AND a.atttypmod <> -1
                                UNION ALL
                                SELECT format(
                                       'CASE WHEN e2.op <> ''d'' AND jsonb_typeof(n2.img -> %1$L) IN (''array'', ''object'') '
                                       'THEN format(''%%s is a JSON %%s, not a value of %%s'', %1$L, jsonb_typeof(n2.img -> %1$L), %2$L) END',
                                       a.attname, format_type(a.atttypid, a.atttypmod))
                                FROM pg_catalog.pg_attribute AS a
                                JOIN pg_catalog.pg_type AS t
                                  ON t.oid = a.atttypid
                                WHERE a.attrelid = v_t.tgt AND a.attnum > 0 AND NOT a.attisdropped
                                  AND a.atttypid NOT IN ('json'::regtype, 'jsonb'::regtype)
                                  AND t.typcategory NOT IN ('A', 'C')
                                UNION ALL
                                -- now, today, tomorrow, yesterday are read as of the ingestion: the same
                                -- event delivered again would be another change (silver refuses them too)
                                SELECT format(
                                       'CASE WHEN e2.op <> ''d'' AND jsonb_typeof(n2.img -> %1$L) = ''string'' '
                                       'AND (n2.img ->> %1$L) ~* ''\m(now|today|tomorrow|yesterday)\M'' '
                                       'THEN format(''%%s %%s is relative to the time it is read, not a date or time'', %1$L, dwh_etl.quote_value(n2.img ->> %1$L)) END',
                                       a.attname)
                                FROM pg_catalog.pg_attribute AS a
                                WHERE a.attrelid = v_t.tgt AND a.attnum > 0 AND NOT a.attisdropped
                                  AND a.atttypid IN ('date'::regtype, 'timestamp'::regtype, 'timestamptz'::regtype,
                                                     'time'::regtype, 'timetz'::regtype)) AS x), 'NULL'),
                -- the event filter: all of the table's events at once; on the rare path one event (replace,
                -- not format: the statement holds other % signs)
                '/*event filter*/ true');
            BEGIN
                EXECUTE v_sql USING v_t.tgt, v_cols, v_typs;
            EXCEPTION WHEN OTHERS THEN
                -- halves of the events (by number) until the ones with a bad value are found alone
                v_sql := replace(v_sql, '/*event filter*/ true', 'e2.n BETWEEN $4 AND $5');
                SELECT ARRAY[min(e.n)], ARRAY[max(e.n)] INTO v_lo, v_hi
                FROM _cdc_in AS e WHERE e.tgt = v_t.tgt AND cardinality(e.reasons) = 0;
                WHILE cardinality(v_lo) > 0 AND v_lo[1] IS NOT NULL LOOP
                    v_a := v_lo[cardinality(v_lo)];
                    v_b := v_hi[cardinality(v_hi)];
                    v_lo := v_lo[1:cardinality(v_lo) - 1];
                    v_hi := v_hi[1:cardinality(v_hi) - 1];
                    BEGIN
                        EXECUTE v_sql USING v_t.tgt, v_cols, v_typs, v_a, v_b;
                    EXCEPTION WHEN OTHERS THEN
                        IF v_a >= v_b THEN
                            UPDATE _cdc_in AS e
                            SET reasons = e.reasons || format('a value of the %s image does not fit %s: %s',
                                                              CASE WHEN e.op = 'd' THEN 'before' ELSE 'after' END, v_t.tgt_name, left(SQLERRM, 300))
                            WHERE e.n = v_a;
                        ELSE
                            v_lo := v_lo || ARRAY[(v_a + v_b) / 2 + 1, v_a];
                            v_hi := v_hi || ARRAY[v_b, (v_a + v_b) / 2];
                        END IF;
                    END;
                END LOOP;
            END;
        END;
    END LOOP;

    -- 3. identity of each change, then what becomes of it, in one pass:
    --    duplicate: the same change earlier in the batch, or already recorded (applied or stale) by an
    --               earlier batch (a quarantined change is tried again);
    --    quarantined: it has reasons;
    --    apply / stale: per key the last change in (lsn, source_ts, arrival) order, if not older than the
    --               last change applied to the key, is applied; the others are stale
    WITH f AS (
        SELECT c.n, c.tgt, c.tgt_name, c.rec_key, c.lsn, c.source_ts, c.reasons,
               CASE WHEN cardinality(c.reasons) = 0
                    THEN md5(concat_ws(chr(31), c.tgt_name, c.rec_key::text, c.lsn::text, c.op, c.img::text))
                    ELSE c.raw_fp END AS fp
        FROM _cdc_in AS c
    ),
    judged AS (
        SELECT f.*,
               CASE WHEN row_number() OVER (PARTITION BY f.fp ORDER BY f.n) > 1
                         OR EXISTS (SELECT 1 FROM bronze.cdc_events AS b
                                    WHERE b.fingerprint = f.fp
                                      AND b.status IN ('applied', 'stale'))
                    THEN 'duplicate'
                    WHEN cardinality(f.reasons) > 0 THEN 'quarantined' END AS judged
        FROM f
    ),
    ranked AS (
        SELECT j.n, j.fp, j.judged, j.lsn, j.source_ts,
               s.lsn AS state_lsn, s.source_ts AS state_ts,
               row_number() OVER (PARTITION BY j.tgt, j.rec_key, j.judged IS NULL
                                  ORDER BY j.lsn DESC, j.source_ts DESC NULLS LAST, j.n DESC) AS rn
        FROM judged AS j
        LEFT JOIN dwh_etl.cdc_key_state AS s
          ON j.judged IS NULL
         AND s.target_table = j.tgt_name
         AND s.record_key = j.rec_key
    )
    UPDATE _cdc_in AS e
    SET fp = r.fp,
        status = COALESCE(r.judged,
                          CASE WHEN r.rn = 1
                                    AND (r.state_lsn IS NULL
                                         OR (r.lsn, COALESCE(r.source_ts, '-infinity')) >= (r.state_lsn, COALESCE(r.state_ts, '-infinity')))
                               THEN 'apply' ELSE 'stale' END)
    FROM ranked AS r
    WHERE r.n = e.n;

    -- 4. apply, table by table, through dwh_etl.sec_cdc_apply (set-based; event by event only when that
    --    fails, to find the changes the table rejects). A key whose newest change the table refused (a
    --    CHECK, a foreign key) gets its next newest change of the batch instead, if that is newer than the
    --    key's state and than what this batch applied to it; and after a pass that applied anything, the
    --    changes refused earlier are tried again (a row refused for a foreign key whose referenced key a
    --    later pass created). Pass after pass until nothing moves (each event applies at most once): the
    --    newest valid change is applied, the state the same changes give in batches of their own.
    LOOP
        FOR v_t IN SELECT t.tgt, t.tgt_name FROM _cdc_tgt AS t
                   WHERE EXISTS (SELECT 1 FROM _cdc_in AS e WHERE e.tgt = t.tgt AND e.status = 'apply')
                   ORDER BY t.tgt_name LOOP
            SELECT a.n_inserted, a.n_updated, a.n_deleted, a.rejected
            INTO v_applied
            FROM dwh_etl.sec_cdc_apply(
                     v_t.tgt,
                     (SELECT jsonb_agg(jsonb_build_object('n', e.n, 'op', e.op, 'img', e.img, 'key', e.rec_key) ORDER BY e.lsn, e.n)
                      FROM _cdc_in AS e
                      WHERE e.tgt = v_t.tgt
                        AND e.status = 'apply')) AS a;
            UPDATE _cdc_tgt AS t
            SET n_ins = COALESCE(t.n_ins, 0) + v_applied.n_inserted,
                n_upd = COALESCE(t.n_upd, 0) + v_applied.n_updated,
                n_del = COALESCE(t.n_del, 0) + v_applied.n_deleted
            WHERE t.tgt = v_t.tgt;
            UPDATE _cdc_in AS e
            SET status = 'refused',
                reasons = CASE WHEN (v_applied.rejected ->> e.n::text) = ANY (e.reasons) THEN e.reasons
                               ELSE e.reasons || (v_applied.rejected ->> e.n::text) END
            WHERE e.tgt = v_t.tgt
              AND e.status = 'apply'
              AND v_applied.rejected ? e.n::text;
        END LOOP;
        UPDATE _cdc_in AS e SET status = 'applied' WHERE e.status = 'apply';
        GET DIAGNOSTICS v_done = ROW_COUNT;
        UPDATE _cdc_in AS e
        SET status = 'apply'
        FROM (SELECT DISTINCT ON (c.tgt, c.rec_key) c.n
              FROM _cdc_in AS c
              JOIN (SELECT DISTINCT r.tgt, r.rec_key FROM _cdc_in AS r WHERE r.status = 'refused') AS r
                ON r.tgt = c.tgt
               AND r.rec_key = c.rec_key
              LEFT JOIN dwh_etl.cdc_key_state AS s
                ON s.target_table = c.tgt_name
               AND s.record_key = c.rec_key
              WHERE c.status = 'stale'
                AND (s.lsn IS NULL
                     OR (c.lsn, COALESCE(c.source_ts, '-infinity')) >= (s.lsn, COALESCE(s.source_ts, '-infinity')))
                AND NOT EXISTS (SELECT 1 FROM _cdc_in AS a
                                WHERE a.tgt = c.tgt
                                  AND a.rec_key = c.rec_key
                                  AND a.status = 'applied'
                                  AND (a.lsn, COALESCE(a.source_ts, '-infinity'), a.n)
                                      > (c.lsn, COALESCE(c.source_ts, '-infinity'), c.n))
              ORDER BY c.tgt, c.rec_key, c.lsn DESC, c.source_ts DESC NULLS LAST, c.n DESC) AS p
        WHERE e.n = p.n;
        GET DIAGNOSTICS v_promoted = ROW_COUNT;
        UPDATE _cdc_in AS e SET status = 'held' WHERE e.status = 'refused';
        v_retried := 0;
        IF v_done > 0 THEN
            UPDATE _cdc_in AS e SET status = 'apply' WHERE e.status = 'held';
            GET DIAGNOSTICS v_retried = ROW_COUNT;
        END IF;
        EXIT WHEN v_promoted = 0 AND v_retried = 0;
    END LOOP;
    UPDATE _cdc_in AS e SET status = 'quarantined' WHERE e.status = 'held';

    -- 5. record: the order state of the keys, every delivery in bronze, the rejected in quarantine
    INSERT INTO dwh_etl.cdc_key_state AS s (target_table, record_key, lsn, source_ts, op, batch_id, event_no, applied_at)
    SELECT e.tgt_name, e.rec_key, e.lsn, e.source_ts, e.op, v_batch, v_base + e.n, now()
    FROM _cdc_in AS e
    WHERE e.status = 'applied'
    ON CONFLICT (target_table, record_key) DO UPDATE
    SET lsn        = EXCLUDED.lsn,
        source_ts  = EXCLUDED.source_ts,
        op         = EXCLUDED.op,
        batch_id   = EXCLUDED.batch_id,
        event_no   = EXCLUDED.event_no,
        applied_at = EXCLUDED.applied_at;

    INSERT INTO bronze.cdc_events (batch_id, event_no, received_at, source, into_schema, source_schema, source_table,
                                   op, record_key, lsn, source_ts, event_ts, tx_id, fingerprint, status, reasons, event)
    SELECT v_batch, v_base + e.n, now(), COALESCE(p_source, 'cdc'), p_into, e.src_schema, e.src_table,
           e.op, e.rec_key, e.lsn, e.source_ts, e.event_ts, e.tx_id, e.fp, e.status,
           CASE WHEN e.status = 'quarantined' THEN e.reasons END, r.event
    FROM _cdc_in AS e
    JOIN _cdc_raw AS r
      ON r.n = e.n
    ORDER BY e.n;

    -- one open entry per change: a change delivered again (in this batch or later) counts deliveries
    INSERT INTO dwh_etl.quarantine AS q (target_table, source_table, record_key, payload, reasons, run_id, batch_id, deliveries)
    SELECT DISTINCT ON (x.qfp) x.target_table, 'dwh_etl.ingest_cdc_events', x.record_key, x.payload, x.reasons,
           v_run.run_id, v_batch, x.deliveries
    FROM (SELECT COALESCE(e.tgt_name, CASE WHEN e.src_table IS NOT NULL THEN format('%I.%I', p_into, e.src_table) END, quote_ident(p_into)) AS target_table,
                 e.rec_key::text AS record_key,
                 p.payload,
                 e.reasons,
                 e.n,
                 (SELECT count(*) FROM _cdc_in AS d WHERE d.fp = e.fp) AS deliveries,
                 dwh_etl.quarantine_fingerprint(COALESCE(e.tgt_name, CASE WHEN e.src_table IS NOT NULL THEN format('%I.%I', p_into, e.src_table) END, quote_ident(p_into)),
                                                e.rec_key::text, p.payload) AS qfp
          FROM _cdc_in AS e
          JOIN _cdc_raw AS r
            ON r.n = e.n
          CROSS JOIN LATERAL (
              -- the event without its volatile ts_ms, which goes to a technical (_) key with the
              -- position of this delivery: two deliveries of one event are one entry
              SELECT jsonb_build_object(
                         'into', p_into,
                         'event', CASE WHEN jsonb_typeof(r.event -> 'payload') = 'object' THEN r.event #- '{payload,ts_ms}'
                                       WHEN jsonb_typeof(r.event) = 'object' THEN r.event - 'ts_ms'
                                       ELSE r.event END,
                         '_ts_ms', CASE WHEN jsonb_typeof(r.event -> 'payload') = 'object' THEN r.event -> 'payload' -> 'ts_ms'
                                        WHEN jsonb_typeof(r.event) = 'object' THEN r.event -> 'ts_ms' END,
                         '_lsn', e.lsn::text,
                         '_batch_id', v_batch,
                         '_event_no', v_base + e.n) AS payload
          ) AS p
          WHERE e.status = 'quarantined') AS x
    ORDER BY x.qfp, x.n DESC
    ON CONFLICT (fingerprint) WHERE resolved_at IS NULL DO UPDATE
    SET deliveries        = q.deliveries + EXCLUDED.deliveries,
        last_delivered_at = now(),
        payload           = EXCLUDED.payload,
        reasons           = EXCLUDED.reasons,
        run_id            = EXCLUDED.run_id,
        batch_id          = EXCLUDED.batch_id;

    -- a change of a key applied: its older rejected changes are superseded
    UPDATE dwh_etl.quarantine AS q
    SET resolved_at = now(),
        resolution  = format('superseded: the change of the key at LSN %s was applied (CDC batch %s)', e.lsn, v_batch)
    FROM _cdc_in AS e
    WHERE e.status = 'applied'
      AND q.resolved_at IS NULL
      AND q.source_table = 'dwh_etl.ingest_cdc_events'
      AND q.target_table = e.tgt_name
      AND q.record_key = e.rec_key::text
      AND (q.payload ->> '_lsn' IS NULL OR (q.payload ->> '_lsn')::pg_lsn <= e.lsn);

    -- 6. lineage: the landing, and what each mirror table received from it
    SELECT count(*) AS n,
           count(*) FILTER (WHERE e.status = 'applied') AS applied,
           count(*) FILTER (WHERE e.status = 'stale') AS stale,
           count(*) FILTER (WHERE e.status = 'duplicate') AS duplicate,
           count(*) FILTER (WHERE e.status = 'quarantined') AS quarantined
    INTO v_count
    FROM _cdc_in AS e;
    PERFORM dwh_lineage.log_ingestion('bronze.cdc_events', v_batch, COALESCE(p_source, 'cdc'), v_count.n);
    FOR v_t IN SELECT t.tgt_name, t.n_ins, t.n_upd, t.n_del,
                      (SELECT count(*) FROM _cdc_in AS e WHERE e.tgt = t.tgt AND e.status = 'applied') AS n_applied,
                      (SELECT count(*) FROM _cdc_in AS e WHERE e.tgt = t.tgt AND e.status = 'quarantined') AS n_rej
               FROM _cdc_tgt AS t
               WHERE EXISTS (SELECT 1 FROM _cdc_in AS e WHERE e.tgt = t.tgt)
               ORDER BY t.tgt_name LOOP
        v_n := v_t.n_applied - v_t.n_ins - v_t.n_upd - v_t.n_del;
        PERFORM dwh_lineage.log_transformation(
            in_source_table   => 'bronze.cdc_events',
            in_target_table   => v_t.tgt_name,
            in_batch_id       => v_batch,
            in_rows_inserted  => v_t.n_ins,
            in_rows_updated   => v_t.n_upd,
            in_rows_unchanged => GREATEST(v_n, 0),
            in_rows_rejected  => v_t.n_rej,
            in_rows_deleted   => v_t.n_del,
            in_operation      => 'transform',
            in_notes          => format('CDC apply: %s change(s) applied: %s inserted, %s updated, %s deleted, %s already as the change says; %s quarantined',
                                        v_t.n_applied, v_t.n_ins, v_t.n_upd, v_t.n_del, GREATEST(v_n, 0), v_t.n_rej));
    END LOOP;

    IF v_count.quarantined > 0 THEN
        RAISE NOTICE '% change event(s) quarantined (dwh_etl.quarantine, bronze.cdc_events.reasons)', v_count.quarantined;
    END IF;
    RAISE NOTICE 'change batch % into %: % event(s): % applied, % stale, % duplicate, % quarantined',
        v_batch, p_into, v_count.n, v_count.applied, v_count.stale, v_count.duplicate, v_count.quarantined;

    DROP TABLE _cdc_in;
    DROP TABLE _cdc_raw;
    DROP TABLE _cdc_tgt;
    RETURN QUERY SELECT v_batch, v_count.n, v_count.applied, v_count.stale, v_count.duplicate, v_count.quarantined;
END;
$$;
COMMENT ON FUNCTION dwh_etl.ingest_cdc_events(jsonb, text, text, uuid) IS 'Land a batch of Debezium-shaped change events (array) in bronze.cdc_events and apply them to the registered source tables of p_into in (lsn, source ts_ms, arrival) order per key, deduplicated; bad events quarantined with reasons. Returns the batch id and the counts applied / stale / duplicate / quarantined.';
REVOKE ALL ON FUNCTION dwh_etl.ingest_cdc_events(jsonb, text, text, uuid) FROM PUBLIC;
REVOKE ALL ON FUNCTION dwh_etl.ingest_cdc_events(jsonb, text, text, uuid) FROM analyst_role;
GRANT EXECUTE ON FUNCTION dwh_etl.ingest_cdc_events(jsonb, text, text, uuid) TO etl_service;
