-- Refuses a run, a restatement or a rebuild in a read-only transaction (default_transaction_read_only
-- on: PGOPTIONS, a role or database setting, a pooler's read-only port; or a standby), before any run
-- lock is taken: a write refused later, deep in the runner, would leave the session holding the lock.
-- p_action says what was refused ('run pipeline daily').
CREATE OR REPLACE FUNCTION dwh_etl._refuse_read_only(
    p_action text
)
RETURNS void
LANGUAGE plpgsql
SET search_path = dwh_etl, pg_temp
AS $$
BEGIN
    IF current_setting('transaction_read_only') = 'on' THEN
        RAISE EXCEPTION 'cannot % in a read-only transaction', p_action
            USING ERRCODE = 'read_only_sql_transaction',
                  DETAIL = CASE WHEN pg_catalog.pg_is_in_recovery()
                                THEN 'the server is a standby (in recovery): this writes, it runs on the primary'
                                ELSE format('default_transaction_read_only is %s in this session', current_setting('default_transaction_read_only')) END,
                  HINT = 'SET default_transaction_read_only = off (or take it out of PGOPTIONS or the role or database settings), then try again';
    END IF;
END;
$$;
COMMENT ON FUNCTION dwh_etl._refuse_read_only(text) IS 'Raise read_only_sql_transaction (saying what was refused, why, and what to change) when the transaction is read-only; nothing otherwise.';
REVOKE EXECUTE ON FUNCTION dwh_etl._refuse_read_only(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION dwh_etl._refuse_read_only(text) TO etl_service;
