-- The load time the engine stamps on the rows it writes (silver's and the SCD tables' _loaded_at):
-- now() (the transaction's start), except inside a rebuild that replays bronze's arrivals in several
-- passes of one transaction (dwh_etl._restate_apply): there each pass stamps its own instant, so that
-- the next layer's window (on _loaded_at) reads what that pass changed, as the day-by-day runs did.
-- Call it as (SELECT dwh_etl.load_time()) in a statement: evaluated once, not per row.
CREATE OR REPLACE FUNCTION dwh_etl.load_time()
RETURNS timestamptz
LANGUAGE sql
STABLE
SET search_path = dwh_etl, pg_temp
AS $$
    SELECT COALESCE((dwh_etl._restate_override('clock', 'load_time') #>> '{}')::timestamptz, now());
$$;
COMMENT ON FUNCTION dwh_etl.load_time() IS 'The _loaded_at stamp of engine writes: now(), or the pass instant of a replaying rebuild (dwh_etl._restate_apply).';
REVOKE EXECUTE ON FUNCTION dwh_etl.load_time() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION dwh_etl.load_time() TO etl_service;
