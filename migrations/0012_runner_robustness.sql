-- depends: 0007_pg_cron
-- Runner robustness (issue: nothing a bad row, a client setting or a role does may stop the warehouse).
--
-- 1. Steps can end 'cancelled' (Ctrl-C, pg_cancel_backend, statement_timeout): recorded, not left
--    'running'. Steps downstream of a failed one end 'skipped' with the reason.
-- 2. The quarantine is idempotent: one open entry per record (target table + record key + the raw row
--    without its technical columns), its deliveries counted. A record delivered twice (a payload sent
--    again, a rewound watermark) no longer gets a second open entry.

ALTER TABLE dwh_lineage.step_runs DROP CONSTRAINT step_runs_status_ck;
ALTER TABLE dwh_lineage.step_runs ADD CONSTRAINT step_runs_status_ck
    CHECK (status IN ('running', 'completed', 'failed', 'cancelled', 'skipped'));

-- The identity of a quarantined record. Keys starting with '_' are technical (bronze id, batch, ingest
-- time, source): two deliveries of the same record differ only there. Non-object payloads (a JSON element
-- of the wrong shape) are their own identity. Defined here, not in procedures/, because the generated
-- column below depends on it and must exist before it.
CREATE OR REPLACE FUNCTION dwh_etl.quarantine_fingerprint(p_target text, p_key text, p_payload jsonb)
RETURNS text
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
AS $$
    SELECT md5(concat_ws(chr(31), p_target, COALESCE(p_key, chr(30)),
                         CASE WHEN jsonb_typeof(p_payload) = 'object'
                              THEN (SELECT COALESCE(jsonb_object_agg(e.key, e.value), '{}'::jsonb)::text
                                    FROM jsonb_each(p_payload) AS e
                                    WHERE left(e.key, 1) <> '_')
                              ELSE p_payload::text END));
$$;
REVOKE EXECUTE ON FUNCTION dwh_etl.quarantine_fingerprint(text, text, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION dwh_etl.quarantine_fingerprint(text, text, jsonb) TO etl_service;
COMMENT ON FUNCTION dwh_etl.quarantine_fingerprint(text, text, jsonb) IS 'Identity of a quarantined record: target table, record key and the raw row without its technical (_-prefixed) columns.';

ALTER TABLE dwh_etl.quarantine
    ADD COLUMN fingerprint text GENERATED ALWAYS AS (dwh_etl.quarantine_fingerprint(target_table, record_key, payload)) STORED,
    ADD COLUMN deliveries integer NOT NULL DEFAULT 1,
    ADD COLUMN last_delivered_at timestamptz,
    ADD CONSTRAINT quarantine_deliveries_ck CHECK (deliveries >= 1);
COMMENT ON COLUMN dwh_etl.quarantine.fingerprint IS 'dwh_etl.quarantine_fingerprint(target_table, record_key, payload): at most one open entry per fingerprint.';
COMMENT ON COLUMN dwh_etl.quarantine.deliveries IS 'How many times this record arrived and was rejected while the entry was open.';
COMMENT ON COLUMN dwh_etl.quarantine.last_delivered_at IS 'When the latest delivery arrived (NULL: only one).';

-- Entries quarantined twice before this migration: the newest stays open and counts the others.
WITH ranked AS (
    SELECT q.quarantine_id,
           first_value(q.quarantine_id) OVER w AS keep_id,
           count(*) OVER (PARTITION BY q.fingerprint) AS n
    FROM dwh_etl.quarantine AS q
    WHERE q.resolved_at IS NULL
    WINDOW w AS (PARTITION BY q.fingerprint ORDER BY q.quarantine_id DESC)
),
dup AS (
    UPDATE dwh_etl.quarantine AS q
    SET resolved_at = now(),
        resolution = format('duplicate: the same record is quarantined as entry %s', r.keep_id)
    FROM ranked AS r
    WHERE r.quarantine_id = q.quarantine_id
      AND r.quarantine_id <> r.keep_id
    RETURNING q.quarantine_id
)
UPDATE dwh_etl.quarantine AS q
SET deliveries = r.n
FROM ranked AS r
WHERE r.quarantine_id = q.quarantine_id
  AND r.quarantine_id = r.keep_id
  AND r.n > 1;

CREATE UNIQUE INDEX quarantine_open_fingerprint_uq ON dwh_etl.quarantine (fingerprint) WHERE resolved_at IS NULL;
