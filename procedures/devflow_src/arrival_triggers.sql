-- Capture by arrival order (issue 9): the tables extracted incrementally get trigger zz_dwh_arrival,
-- which stamps _dwh_arrived_at with clock_timestamp() whatever the writer supplied (ENABLE ALWAYS: also
-- for rows applied by logical replication). Column, backfill and index come from migration 0011;
-- dwh_etl.track_arrival finds them and only attaches the trigger. The inbox api_payloads keeps
-- received_at as its arrival column, forced the same way (its (feed, received_at) index serves the
-- per-feed windows). The generator keeps writing its simulated times into updated_at (data: the change
-- time); what it wrote arrives when it is written. Re-applying this file is harmless.
CALL dwh_etl.track_arrival('devflow_src.issues', p_backfill_from => 'updated_at');
CALL dwh_etl.track_arrival('devflow_src.agents', p_backfill_from => 'updated_at');
CALL dwh_etl.track_arrival('devflow_src.labels', p_backfill_from => 'updated_at');
CALL dwh_etl.track_arrival('devflow_src.worktree_states', p_backfill_from => 'updated_at');
CALL dwh_etl.track_arrival('devflow_src.infrastructure', p_backfill_from => 'updated_at');
CALL dwh_etl.track_arrival('devflow_src.label_history', p_backfill_from => 'updated_at');
CALL dwh_etl.track_arrival('devflow_src.agent_execution_logs', p_backfill_from => 'updated_at');
CALL dwh_etl.track_arrival('devflow_src.code_gen_tasks', p_backfill_from => 'updated_at');
CALL dwh_etl.track_arrival('devflow_src.review_results', p_backfill_from => 'updated_at');
CALL dwh_etl.track_arrival('devflow_src.deployment_pipelines', p_backfill_from => 'updated_at');
CALL dwh_etl.track_arrival('devflow_src.api_payloads', p_column => 'received_at', p_index => false);
CALL dwh_etl.track_arrival('devflow_src.deleted_records', p_backfill_from => 'deleted_at');
