-- depends: 0055_source_rekey_tombstones
-- Attack 13a: a feedback label is a key of the GIN index agents.fact_training_labels_gin, which holds at
-- most ~2,700 bytes per key. One label longer than that (an annotator pasting a paragraph into the label
-- field) passed silver and failed the fact step, "index row size exceeds maximum", every night after,
-- with the aggregate and the conversation counters behind it. silver.agents_agent_feedback_typed now
-- quarantines a label of more than 200 characters. Here: the rows an older version let into silver and
-- the fact does not hold (it could not) go to the quarantine with their raw bronze row and the reason,
-- and leave silver, so the next run completes; rows the fact already holds stay as they are. (Plain SQL:
-- on a fresh warehouse the procedures, dwh_etl.quote_value included, are applied after the migrations.)
INSERT INTO dwh_etl.quarantine AS q (target_table, source_table, record_key, payload, reasons)
SELECT 'silver.agents_agent_feedback', 'bronze.agents_agent_feedback', s.feedback_id::text,
       to_jsonb(b.*) - '_source_line' - '_source_arrived_at',
       ARRAY[(SELECT format('labels has a label %L… (%s characters) longer than 200 characters (found in silver by migration 0056: it failed the fact step)',
                            left(l, 50), length(l))
              FROM unnest(s.labels) AS l WHERE length(l) > 200 LIMIT 1)]
FROM silver.agents_agent_feedback AS s
JOIN bronze.agents_agent_feedback AS b ON b._bronze_id = s._source_bronze_id
WHERE EXISTS (SELECT 1 FROM unnest(s.labels) AS l WHERE length(l) > 200)
  AND NOT EXISTS (SELECT 1 FROM agents.fact_training AS f WHERE f.feedback_id = s.feedback_id)
ON CONFLICT (fingerprint) WHERE resolved_at IS NULL DO NOTHING;

DELETE FROM silver.agents_agent_feedback AS s
WHERE EXISTS (SELECT 1 FROM unnest(s.labels) AS l WHERE length(l) > 200)
  AND NOT EXISTS (SELECT 1 FROM agents.fact_training AS f WHERE f.feedback_id = s.feedback_id);
