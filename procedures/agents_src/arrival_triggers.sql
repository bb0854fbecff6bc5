-- Capture by arrival order (issue 9), as devflow_src and sales_src: every table extracted incrementally
-- gets the arrival column _dwh_arrived_at (backfilled from its change time), its index and trigger
-- zz_dwh_arrival (dwh_etl.trg_stamp_arrival, ENABLE ALWAYS: replicated rows too). Extraction windows read
-- _dwh_arrived_at; updated_at stays data (the change time of the dimension history). Re-applying this
-- file is harmless.
CALL dwh_etl.track_arrival('agents_src.agents', p_backfill_from => 'updated_at');
CALL dwh_etl.track_arrival('agents_src.users', p_backfill_from => 'updated_at');
CALL dwh_etl.track_arrival('agents_src.conversations', p_backfill_from => 'updated_at');
CALL dwh_etl.track_arrival('agents_src.agent_queries', p_backfill_from => 'updated_at');
CALL dwh_etl.track_arrival('agents_src.agent_approvals', p_backfill_from => 'updated_at');
CALL dwh_etl.track_arrival('agents_src.agent_feedback', p_backfill_from => 'updated_at');
CALL dwh_etl.track_arrival('agents_src.deleted_records', p_backfill_from => 'deleted_at');
