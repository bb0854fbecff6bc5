-- depends: 0072_scd_guard_versions
-- Attack 16: deletes that never reached the warehouse.
-- - citizen_src had no tombstones at all: a user, service, content item, content source or reference code
--   deleted in the portal's database stayed current in its dimension for good (extraction follows arrival,
--   and a deleted row never arrives again). Now, as for sales, agents and devflow: deletes (and a TRUNCATE,
--   and a key changed by UPDATE) of the tables that feed the dimensions leave tombstones in
--   citizen_src.deleted_records (procedures/citizen_src/tombstone_triggers.sql), extracted into
--   bronze.citizen_deleted_records by citizen_extract; citizen_silver_entities flags the key (is_deleted,
--   false again when a later state loads), and the dimension views give the deletion its time, so
--   dwh_etl.apply_dimension closes the key: dim_user, dim_service, dim_content end their current version
--   (policy close, as agents.dim_user). The Type 1 reference lists (dim_query_type, dim_language,
--   dim_content_type, dim_content_source) keep their one open version per code (*_version_ck, 0028): the
--   facts look codes up by current version, so a deleted code is flagged in silver only. Facts are not
--   affected: they keep the version valid at their event.
-- - devflow_src.worktree_states had no tombstones (0064 left it out: its source key, id, is not silver's
--   key, worktree_path). worktree_path is unique and not null in the source too: the tombstones carry it
--   (a path renamed by UPDATE tombstones the old path); silver.devflow_worktree_states gets is_deleted,
--   dim_worktree a deleted flag (closed on delete), and a deleted worktree no longer labels its issue's
--   fact_issue_processing row.
-- Tests: tests/test_attack16_deletes.py.

CREATE TABLE citizen_src.deleted_records (
    table_name      text NOT NULL,
    record_id       text NOT NULL,
    deleted_at      timestamptz NOT NULL DEFAULT now(),
    _dwh_arrived_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    CONSTRAINT deleted_records_pk PRIMARY KEY (table_name, record_id, deleted_at)
);
CREATE INDEX deleted_records_deleted_at_idx ON citizen_src.deleted_records (deleted_at);
COMMENT ON TABLE citizen_src.deleted_records IS 'Tombstones: one row per row deleted (or truncated, or whose key was changed) from departments, services, users, languages, query_types, content_types, content_sources or contents (trigger dwh_etl.trg_source_tombstone, procedures/citizen_src/tombstone_triggers.sql); record_id is the key as text.';
GRANT SELECT ON citizen_src.deleted_records TO etl_service;

CALL dwh_etl.create_bronze('bronze.citizen_deleted_records', p_like => 'citizen_src.deleted_records',
                           p_comment => 'citizen_src.deleted_records as extracted: every column as text, append-only, with batch, ingestion time and source.');
ALTER TABLE bronze.citizen_deleted_records ADD COLUMN IF NOT EXISTS _source_arrived_at timestamptz;
COMMENT ON COLUMN bronze.citizen_deleted_records._source_arrived_at IS 'When the row reached the source table (its _dwh_arrived_at), copied by the extraction; NULL for rows of file loads and change events (migration 0049).';

DO $flags$
DECLARE
    v_table text;
BEGIN
    FOREACH v_table IN ARRAY ARRAY['citizen_departments', 'citizen_services', 'citizen_users', 'citizen_languages',
                                   'citizen_query_types', 'citizen_content_types', 'citizen_content_sources',
                                   'citizen_contents', 'devflow_worktree_states']
    LOOP
        EXECUTE format('ALTER TABLE silver.%I ADD COLUMN is_deleted boolean NOT NULL DEFAULT false', v_table);
        EXECUTE format('COMMENT ON COLUMN silver.%I.is_deleted IS %L', v_table,
                       format('The source row was deleted (a tombstone in %s_src.deleted_records); false again when a later state of the key loads.',
                              split_part(v_table, '_', 1)));
    END LOOP;
END
$flags$;

COMMENT ON TABLE devflow_src.deleted_records IS 'Tombstones: one row per row deleted from agent_execution_logs, code_gen_tasks, review_results, deployment_pipelines, issues, agents, labels, infrastructure, label_history or worktree_states (trigger dwh_etl.trg_source_tombstone, procedures/devflow_src/tombstone_triggers.sql); record_id is the key as text (for worktree_states its worktree_path).';

-- the dimension views look a key's tombstones up (the deletion's time, a restore after it)
CREATE INDEX citizen_deleted_records_key_idx ON bronze.citizen_deleted_records (table_name, record_id);
