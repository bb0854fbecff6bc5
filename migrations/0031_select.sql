-- depends: 0030_restate
-- Issue 14, "Choosing what runs": quality results say what they looked at.
--
-- Until now a result in dwh_lineage.quality_metrics did not say whether its rule looked at the rows of
-- one batch (the runner's gate, after an incremental load: often a handful of rows, or none) or at the
-- whole table (`dwh test`, dwh_etl.test_rules). "passed, 0 rows checked" then read like a clean table.
-- The column `scope` records it: 'batch' (the rows stamped with the result's batch) or 'table' (every
-- row of the table, a rule's params.where applied). Earlier results take their rule's declared scope
-- (a batch rule evaluated by the runner looked at its batch); results of no registered rule (seed 002's
-- ad-hoc check_* calls, evaluated on the whole table) take 'table'.
ALTER TABLE dwh_lineage.quality_metrics
    ADD COLUMN scope text,
    ADD CONSTRAINT quality_metrics_scope_ck CHECK (scope IN ('batch', 'table'));

UPDATE dwh_lineage.quality_metrics AS qm
SET scope = COALESCE((SELECT r.scope FROM dwh_etl.quality_rules AS r WHERE r.rule_id = qm.rule_id), 'table')
WHERE qm.scope IS NULL;

COMMENT ON COLUMN dwh_lineage.quality_metrics.scope IS
    'What the rule looked at: batch = the rows of the result''s batch (the runner''s gate), table = the whole table (dwh test, dwh_etl.test_rules).';
