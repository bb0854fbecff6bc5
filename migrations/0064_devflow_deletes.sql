-- depends: 0065_run_records_guard
-- Attack 14b: devflow saw no deletes. A row deleted from devflow_src (an agent execution, a code
-- generation, a review or a deployment run recorded by mistake; an issue, agent, label or resource)
-- stayed in silver, in gold's facts and dimensions and in the DORA and cost marts for good: extraction
-- follows arrival, and a deleted row never arrives again. Now, as for sales and agents: deletes of those
-- tables leave tombstones in devflow_src.deleted_records (trigger dwh_etl.trg_source_tombstone,
-- procedures/devflow_src/tombstone_triggers.sql), extracted into bronze.devflow_deleted_records; the
-- silver steps flag the key (is_deleted), the fact steps remove its fact row, the dimensions close it,
-- devflow.load_fact_issue_processing recomputes its issue without it. (worktree_states is left out: its
-- source key, id, is not silver's key, worktree_path.)
-- Also: an event moved to another issue (its issue_id updated) left its old issue's processing row
-- counting it (only the new issue was recomputed). The silver tables note the old issue of such a change
-- in dwh_staging.devflow_affected_issues (trigger devflow.trg_note_affected_issue), which
-- load_fact_issue_processing recomputes and empties.

CREATE TABLE devflow_src.deleted_records (
    table_name      text NOT NULL,
    record_id       text NOT NULL,
    deleted_at      timestamptz NOT NULL DEFAULT now(),
    _dwh_arrived_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    CONSTRAINT deleted_records_pk PRIMARY KEY (table_name, record_id, deleted_at)
);
CREATE INDEX deleted_records_deleted_at_idx ON devflow_src.deleted_records (deleted_at);
COMMENT ON TABLE devflow_src.deleted_records IS 'Tombstones: one row per row deleted from agent_execution_logs, code_gen_tasks, review_results, deployment_pipelines, issues, agents, labels or infrastructure (trigger dwh_etl.trg_source_tombstone, procedures/devflow_src/tombstone_triggers.sql); record_id is the key as text.';
GRANT SELECT ON devflow_src.deleted_records TO etl_service;

CALL dwh_etl.create_bronze('bronze.devflow_deleted_records', p_like => 'devflow_src.deleted_records',
                           p_comment => 'devflow_src.deleted_records as extracted: every column as text, append-only, with batch, ingestion time and source.');
ALTER TABLE bronze.devflow_deleted_records ADD COLUMN IF NOT EXISTS _source_arrived_at timestamptz;
COMMENT ON COLUMN bronze.devflow_deleted_records._source_arrived_at IS 'When the row reached the source table (its _dwh_arrived_at), copied by the extraction; NULL for rows of file loads and change events (migration 0049).';

DO $flags$
DECLARE
    v_table text;
BEGIN
    FOREACH v_table IN ARRAY ARRAY['agent_execution_logs', 'code_gen_tasks', 'review_results', 'deployment_pipelines',
                                   'issues', 'agents', 'labels', 'infrastructure']
    LOOP
        EXECUTE format('ALTER TABLE silver.%I ADD COLUMN is_deleted boolean NOT NULL DEFAULT false', 'devflow_' || v_table);
        EXECUTE format('COMMENT ON COLUMN silver.%I.is_deleted IS %L', 'devflow_' || v_table,
                       'The source row was deleted (a tombstone in devflow_src.deleted_records); false again when a later state of the key loads.');
    END LOOP;
END
$flags$;

CREATE TABLE dwh_staging.devflow_affected_issues (
    issue_id  text NOT NULL,
    noted_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT devflow_affected_issues_pk PRIMARY KEY (issue_id)
);
COMMENT ON TABLE dwh_staging.devflow_affected_issues IS 'Issues an event of silver left (its issue_id, a worktree''s associated_issue_id or a pull request''s issue_number changed): their fact_issue_processing rows are recomputed by the next devflow.load_fact_issue_processing, which empties the queue.';
GRANT SELECT, INSERT, UPDATE, DELETE ON dwh_staging.devflow_affected_issues TO etl_service;
