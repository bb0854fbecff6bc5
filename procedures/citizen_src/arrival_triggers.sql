-- Capture by arrival order (issue 9), as the other areas' sources: every table extracted incrementally
-- gets the arrival column _dwh_arrived_at (backfilled from its change time), its index and trigger
-- zz_dwh_arrival. Extraction windows read _dwh_arrived_at; updated_at stays data (the change time of the
-- dimension history). The web-analytics inbox is read by received_at (citizen.step_ingest_events).
-- Re-applying this file is harmless.
CALL dwh_etl.track_arrival('citizen_src.departments', p_backfill_from => 'updated_at');
CALL dwh_etl.track_arrival('citizen_src.services', p_backfill_from => 'updated_at');
CALL dwh_etl.track_arrival('citizen_src.users', p_backfill_from => 'updated_at');
CALL dwh_etl.track_arrival('citizen_src.languages', p_backfill_from => 'updated_at');
CALL dwh_etl.track_arrival('citizen_src.query_types', p_backfill_from => 'updated_at');
CALL dwh_etl.track_arrival('citizen_src.content_types', p_backfill_from => 'updated_at');
CALL dwh_etl.track_arrival('citizen_src.content_sources', p_backfill_from => 'updated_at');
CALL dwh_etl.track_arrival('citizen_src.content_syncs', p_backfill_from => 'updated_at');
CALL dwh_etl.track_arrival('citizen_src.contents', p_backfill_from => 'updated_at');
-- The collector's inbox: received_at is the collector's clock; the ingest step's window reads arrival.
CALL dwh_etl.track_arrival('citizen_src.analytics_payloads', p_backfill_from => 'received_at');
-- Tombstones (migration 0074): extracted by their arrival like the rest.
CALL dwh_etl.track_arrival('citizen_src.deleted_records', p_backfill_from => 'deleted_at');
