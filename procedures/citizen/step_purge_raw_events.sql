-- Maintenance step (personal data): the raw web-analytics events in bronze (bronze.citizen_query_logs,
-- bronze.citizen_content_events: the client's IP address and user agent as received) are deleted once
-- older than the area's retention, setting citizen.raw_retention (an interval, default '90 days'), counted
-- from their ingestion. Silver and the facts never held them (network prefix and parsed user agent only),
-- so nothing downstream changes. A row the silver step has not read yet (ingested after its watermark) is
-- kept whatever its age: purging must never lose an event. Quarantined events (dwh_etl.quarantine keeps
-- the raw bronze row) older than the retention are scrubbed the same way: ip_address becomes its network,
-- user_agent its parsed device / browser / OS, the element as received (_raw_payload) is dropped (an entry is left as it is when the scrubbed entry would
-- duplicate another open one). Bronze is not partitioned (the engine's retention archives partitions of
-- facts, it does not delete), hence this step. Runs in the maintenance pipeline; idempotent.
--   CALL citizen.step_purge_raw_events(NULL, CURRENT_DATE);
CREATE OR REPLACE PROCEDURE citizen.step_purge_raw_events(
    p_run_id   bigint,
    p_run_date date
)
LANGUAGE plpgsql
SET search_path = citizen, pg_temp
AS $$
DECLARE
    v_setting text := dwh_etl.get_setting('citizen.raw_retention', '90 days');
    v_keep    interval;
    v_cutoff  timestamptz;
    v_safe    timestamptz;
    v_feed    record;
    v_purged  bigint;
    v_scrubbed bigint;
    v_n       bigint;
BEGIN
    BEGIN
        v_keep := v_setting::interval;
    EXCEPTION WHEN invalid_datetime_format OR datetime_field_overflow OR syntax_error THEN
        RAISE EXCEPTION 'setting citizen.raw_retention is not an interval: %', quote_literal(v_setting)
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'UPDATE dwh_etl.settings SET value = ''90 days'' WHERE key = ''citizen.raw_retention''';
    END;
    IF v_keep < interval '0' THEN
        RAISE EXCEPTION 'setting citizen.raw_retention is negative: %', quote_literal(v_setting)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- the end of the run date (never later than the end of today, UTC) minus the retention
    v_cutoff := (LEAST(COALESCE(p_run_date, (now() AT TIME ZONE 'UTC')::date), (now() AT TIME ZONE 'UTC')::date) + 1)::timestamp AT TIME ZONE 'UTC' - v_keep;

    FOR v_feed IN
        SELECT f.bronze, f.silver
        FROM (VALUES ('bronze.citizen_query_logs', 'silver.citizen_query_logs'),
                     ('bronze.citizen_content_events', 'silver.citizen_content_events')) AS f (bronze, silver)
    LOOP
        v_safe := LEAST(v_cutoff, dwh_etl.get_watermark(v_feed.silver));
        -- bronze is append-only (migration 0033): the engine's retention deletes, never past silver's watermark
        v_purged := dwh_etl.sec_purge_bronze(v_feed.bronze::regclass, v_safe, 'citizen.raw_retention');

        UPDATE dwh_etl.quarantine AS q
        SET payload = s.payload
        FROM (
            SELECT x.quarantine_id, x.payload
            FROM (
                SELECT q0.quarantine_id, q0.target_table, q0.record_key,
                       (q0.payload - '_raw_payload') || jsonb_build_object(
                           'ip_address', citizen._ip_network(q0.payload->>'ip_address')::text,
                           'user_agent', CASE WHEN q0.payload->>'user_agent' IS NOT NULL
                                              THEN format('%s/%s/%s', citizen._device_type(q0.payload->>'user_agent'),
                                                          citizen._browser_type(q0.payload->>'user_agent'),
                                                          citizen._os_type(q0.payload->>'user_agent')) END) AS payload,
                       q0.resolved_at
                FROM dwh_etl.quarantine AS q0
                WHERE q0.target_table = v_feed.silver
                  AND q0.quarantined_at < v_cutoff
                  AND jsonb_typeof(q0.payload) = 'object'
                  AND (q0.payload ? 'ip_address' OR q0.payload ? 'user_agent' OR q0.payload ? '_raw_payload')
            ) AS x
            WHERE x.resolved_at IS NOT NULL
               OR NOT EXISTS (SELECT 1 FROM dwh_etl.quarantine AS o
                              WHERE o.resolved_at IS NULL AND o.quarantine_id <> x.quarantine_id
                                AND o.fingerprint = dwh_etl.quarantine_fingerprint(x.target_table, x.record_key, x.payload))
        ) AS s
        WHERE q.quarantine_id = s.quarantine_id
          AND q.payload IS DISTINCT FROM s.payload;
        GET DIAGNOSTICS v_scrubbed = ROW_COUNT;
        -- entries dwh_etl.ingest_json recorded against the bronze table itself (an element that is not an
        -- event, a payload of another shape) hold the element as received, raw IP and user agent
        -- included: once older than the retention they are resolved and their payload removed
        UPDATE dwh_etl.quarantine AS q
        SET payload = jsonb_build_object('purged', format('payload removed after citizen.raw_retention (%s)', v_keep)),
            resolved_at = COALESCE(q.resolved_at, now()),
            resolution = COALESCE(q.resolution, 'purged: raw payload older than citizen.raw_retention')
        WHERE q.target_table = v_feed.bronze
          AND q.quarantined_at < v_cutoff
          AND NOT (jsonb_typeof(q.payload) = 'object' AND q.payload ? 'purged');
        GET DIAGNOSTICS v_n = ROW_COUNT;
        v_scrubbed := v_scrubbed + v_n;

        PERFORM dwh_lineage.log_transformation(
            in_source_table => v_feed.bronze,
            in_target_table => v_feed.bronze,
            in_batch_id     => NULL,
            in_rows_deleted => v_purged,
            in_operation    => 'delete',
            in_notes        => format('raw events ingested before %s purged (citizen.raw_retention %s); %s quarantine entries scrubbed',
                                      to_char(v_safe AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS"Z"'), v_keep, v_scrubbed),
            in_run_id       => p_run_id);
        RAISE NOTICE 'citizen: % raw event(s) purged from %, % quarantine entr(ies) scrubbed', v_purged, v_feed.bronze, v_scrubbed;
    END LOOP;
END;
$$;
COMMENT ON PROCEDURE citizen.step_purge_raw_events(bigint, date) IS 'Maintenance step: delete the raw web-analytics events (IP address, user agent) from bronze once older than citizen.raw_retention (default 90 days) and already read by silver; scrub the same fields of old quarantine entries.';
REVOKE EXECUTE ON PROCEDURE citizen.step_purge_raw_events(bigint, date) FROM PUBLIC;
GRANT EXECUTE ON PROCEDURE citizen.step_purge_raw_events(bigint, date) TO etl_service;
