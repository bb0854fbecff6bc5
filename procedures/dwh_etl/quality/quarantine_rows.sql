-- Moves the rows of a staged relation that carry reasons into dwh_etl.quarantine. The staged relation
-- has _reasons text[] (empty when valid), _record_key text and _bronze_id; the payload kept is the raw
-- row of p_source_table (the bronze table) with that _bronze_id, so a retry can replay it exactly.
-- Open quarantine rows of the same records delivered again later in this batch are resolved as
-- superseded: by a valid version that loads (a corrected version arrived), or by a newer rejected one. Returns the number quarantined.
-- A row a file load landed (dwh_etl.file_line knows its batch) has its file and line put in front of
-- each reason ("file sales.csv line 7: quantity 'abc' is not an integer") and in the payload (_file,
-- _line; technical keys, outside the record's fingerprint). The bronze column _source_line itself is left
-- out of the payload (NULL for every row that did not come from a file's parsing path; _line says it),
-- and _source_arrived_at (the extraction's ordering column, migration 0049: not the record's data).
-- p_run_id: the run the load belongs to (entries carry its run and batch; dwh_etl.get_run_context);
-- NULL outside a pipeline.
-- p_keep: the _bronze_id (payload) of open entries that this batch's later rows of the record do not
-- supersede: the caller's (dwh_etl._load_silver: a tie's entry whose record the batch only delivers again
-- as the state kept, no newer version). NULL: none.
-- The earlier signatures, replaced by this one (a new argument list would otherwise add an overload).
DROP FUNCTION IF EXISTS dwh_etl.quarantine_rows(text, text, text);
DROP FUNCTION IF EXISTS dwh_etl.quarantine_rows(text, text, text, bigint);
CREATE OR REPLACE FUNCTION dwh_etl.quarantine_rows(
    p_staged       text,
    p_source_table text,
    p_target_table text,
    p_run_id       bigint DEFAULT NULL,
    p_keep         bigint[] DEFAULT NULL
)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = dwh_etl, pg_temp
AS $$
DECLARE
    v_run  dwh_etl.run_context := dwh_etl.get_run_context(p_run_id);
    v_rows bigint;
    v_done bigint;
    v_lo   bigint;
    v_hi   bigint;
BEGIN
    -- The ids of the bad rows bound the bronze rows read, as constants in the statement: the indexed
    -- table is read by a range of its key, and a file load's child (no index; dwh_etl.sec_file_seal)
    -- outside the range is excluded by its CHECK instead of being scanned for every bad row.
    EXECUTE format('SELECT min(s._bronze_id), max(s._bronze_id) FROM %s AS s WHERE cardinality(s._reasons) > 0',
                   to_regclass(p_staged))
    INTO v_lo, v_hi;
    -- One open entry per record: a record delivered again (the same payload sent twice, a rewound
    -- watermark, twice in one batch) counts a delivery on its open entry instead of opening another.
    EXECUTE format(
        'INSERT INTO dwh_etl.quarantine AS q (target_table, source_table, record_key, payload, reasons, run_id, batch_id, deliveries)
         SELECT DISTINCT ON (x.fp) $1, $2, x._record_key,
                CASE WHEN o.file_name IS NULL THEN x.payload
                     ELSE x.payload || jsonb_build_object(''_file'', o.file_name, ''_line'', o.line) END,
                CASE WHEN o.file_name IS NULL THEN x._reasons
                     ELSE ARRAY(SELECT format(''file %%s%%s: %%s'', o.file_name, '' line '' || o.line, r.reason)
                                FROM unnest(x._reasons) WITH ORDINALITY AS r (reason, n)
                                ORDER BY r.n) END,
                $3, $4, count(*) OVER (PARTITION BY x.fp)
         FROM (SELECT s._record_key, s._reasons, to_jsonb(b.*) - ''_source_line'' - ''_source_arrived_at'' AS payload, b._bronze_id,
                      (to_jsonb(b.*)->>''_source_line'')::bigint AS source_line,
                      dwh_etl.quarantine_fingerprint($1, s._record_key, to_jsonb(b.*)) AS fp
               FROM %s AS s
               JOIN %s AS b
                 ON b._bronze_id = s._bronze_id
                AND b._bronze_id BETWEEN %s AND %s
               WHERE cardinality(s._reasons) > 0) AS x
         -- a row landed from a file: its reasons say where it is (file F line N)
         LEFT JOIN LATERAL dwh_etl.file_line((x.payload->>''_batch_id'')::uuid, x._bronze_id, x.source_line) AS o
           ON true
         ORDER BY x.fp, x._bronze_id DESC
         ON CONFLICT (fingerprint) WHERE resolved_at IS NULL DO UPDATE
         SET deliveries        = q.deliveries + EXCLUDED.deliveries,
             last_delivered_at = now(),
             payload           = EXCLUDED.payload,
             reasons           = EXCLUDED.reasons,
             run_id            = EXCLUDED.run_id,
             batch_id          = EXCLUDED.batch_id',
        to_regclass(p_staged), to_regclass(p_source_table), COALESCE(v_lo, 0), COALESCE(v_hi, -1))
    USING p_target_table, p_source_table, v_run.run_id, v_run.batch_id;
    GET DIAGNOSTICS v_rows = ROW_COUNT;
    IF v_rows > 0 THEN
        RAISE NOTICE '% row(s) of % quarantined (dwh_etl.quarantine; a record already open there counts one more delivery)', v_rows, p_source_table;
    END IF;

    -- One open entry per record, its newest delivery: an open entry of a record that this batch delivers
    -- again, later (a higher _bronze_id: bronze ids follow delivery), is superseded, by a valid version
    -- that loads or by a newer version that is rejected too (its own entry stays open). A valid version
    -- delivered BEFORE a rejected one in the same window supersedes nothing: the newest state of the
    -- record is the rejected one, as it would be had a run read them apart. Not the entries of p_keep.
    EXECUTE format(
        'UPDATE dwh_etl.quarantine AS q
         SET resolved_at = now(),
             resolution = CASE WHEN n.valid
                               THEN format(''superseded: a valid version of the record loaded in run %%s'', $2)
                               ELSE format(''superseded: a newer version of the record, rejected too, was quarantined in run %%s'', $2) END
         FROM (SELECT DISTINCT ON (s._record_key) s._record_key, s._bronze_id, cardinality(s._reasons) = 0 AS valid
               FROM %s AS s
               ORDER BY s._record_key, s._bronze_id DESC) AS n
         WHERE q.target_table = $1
           AND q.source_table = $3
           AND q.resolved_at IS NULL
           AND q.record_key = n._record_key
           AND COALESCE((q.payload->>''_bronze_id'')::bigint < n._bronze_id, n.valid)
           AND NOT COALESCE((q.payload->>''_bronze_id'')::bigint = ANY ($4), false)',
        to_regclass(p_staged))
    -- only entries of the same source: a valid row of the key does not supersede a refused tombstone of it
    USING p_target_table, COALESCE(v_run.run_id::text, 'outside a run'), p_source_table, COALESCE(p_keep, '{}'::bigint[]);
    GET DIAGNOSTICS v_done = ROW_COUNT;
    IF v_done > 0 THEN
        RAISE NOTICE '% quarantined row(s) of % superseded by newer versions', v_done, p_target_table;
    END IF;
    RETURN v_rows;
END;
$$;
COMMENT ON FUNCTION dwh_etl.quarantine_rows(text, text, text, bigint, bigint[]) IS 'Copy the staged rows that have reasons into dwh_etl.quarantine with their raw bronze payload and the run (p_run_id); resolve earlier quarantined versions of records delivered again later (valid, or rejected too), except the entries of p_keep (a tie''s entry that a copy of the kept state leaves open).';
