-- depends: 0003_sales
-- Quality rules as data, evaluated write-audit-publish by the runner; results history in
-- dwh_lineage.quality_metrics.

CREATE TABLE dwh_etl.quality_rules (
    rule_id         bigint GENERATED ALWAYS AS IDENTITY,
    rule_name       text NOT NULL,
    table_name      text NOT NULL,
    rule_type       text NOT NULL,
    column_names    text[] NOT NULL DEFAULT '{}',
    params          jsonb NOT NULL DEFAULT '{}',
    severity        text NOT NULL DEFAULT 'error',
    scope           text NOT NULL DEFAULT 'batch',
    threshold_type  text NOT NULL DEFAULT 'count',
    threshold       numeric NOT NULL DEFAULT 0,
    is_enabled      boolean NOT NULL DEFAULT true,
    area            text,
    description     text,
    CONSTRAINT quality_rules_pk PRIMARY KEY (rule_id),
    CONSTRAINT quality_rules_name_uq UNIQUE (rule_name),
    CONSTRAINT quality_rules_type_ck CHECK (rule_type IN (
        'not_null', 'unique', 'accepted_values', 'relationships', 'range', 'regex',
        'freshness', 'row_count', 'volume_change', 'custom_sql')),
    CONSTRAINT quality_rules_severity_ck CHECK (severity IN ('warn', 'error')),
    CONSTRAINT quality_rules_scope_ck CHECK (scope IN ('batch', 'table')),
    CONSTRAINT quality_rules_threshold_type_ck CHECK (threshold_type IN ('count', 'percent')),
    CONSTRAINT quality_rules_threshold_ck CHECK (threshold >= 0)
);
CREATE INDEX quality_rules_table_idx ON dwh_etl.quality_rules (table_name) WHERE is_enabled;
COMMENT ON TABLE dwh_etl.quality_rules IS 'Data quality rules as data. The runner evaluates the rules of a step''s target tables after the step, before its transaction commits (write-audit-publish): a failed error rule rolls the step back, a failed warn rule is recorded.';
COMMENT ON COLUMN dwh_etl.quality_rules.rule_type IS 'not_null, unique (column set), accepted_values (params.values), relationships (params.to_table, params.to_column: any row of the target, so any version of an SCD2 dimension), range (params.min / params.max), regex (params.pattern), freshness (params.max_age interval; params.column timestamp, default: the table''s last load in the lineage), row_count (params.min / params.max rows), volume_change (params.max_change_pct against params.runs recent loads), custom_sql (params.sql: a query returning the failing rows).';
COMMENT ON COLUMN dwh_etl.quality_rules.scope IS 'batch: only the rows the current run wrote (_batch_id), table: the whole table.';
COMMENT ON COLUMN dwh_etl.quality_rules.threshold IS 'Failing rows tolerated: a count, or a percentage of the rows checked (threshold_type).';
COMMENT ON COLUMN dwh_etl.quality_rules.params IS 'Rule parameters (see rule_type). params.where adds a filter on the rows checked (e.g. is_current). Rules are trusted SQL: only the owner role can write this table.';

ALTER TABLE dwh_lineage.quality_metrics
    ADD COLUMN rule_id bigint,
    ADD COLUMN severity text,
    ADD COLUMN rows_checked bigint,
    ADD COLUMN failing_sample jsonb;
COMMENT ON COLUMN dwh_lineage.quality_metrics.metric_value IS 'Failing rows (or the measured value for freshness in seconds, row_count, volume_change in percent).';
COMMENT ON COLUMN dwh_lineage.quality_metrics.failing_sample IS 'Up to 10 failing rows (their keys), to find them again.';
CREATE INDEX quality_metrics_rule_idx ON dwh_lineage.quality_metrics (rule_id, measured_at DESC);
