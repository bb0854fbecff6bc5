-- Whether a query_canceled (57014) error is a statement_timeout rather than a cancel (pg_cancel_backend,
-- dwh cancel, Ctrl-C): PostgreSQL gives both the same SQLSTATE and tells them apart only in the message.
-- A timeout needs statement_timeout set; its message is recognized in English (lc_messages 'C' or 'en*',
-- the warehouse's default); under another language every 57014 counts as a cancel, so a step that would
-- have skipped the timed-out part with a warning fails instead, with the error (never the other way).
CREATE OR REPLACE FUNCTION dwh_etl._is_statement_timeout(p_message text)
RETURNS boolean
LANGUAGE sql
STABLE
PARALLEL SAFE
AS $$
    SELECT pg_catalog.current_setting('statement_timeout') NOT IN ('0', '0ms', '0s')
       AND p_message LIKE '%statement timeout%';
$$;
COMMENT ON FUNCTION dwh_etl._is_statement_timeout(text) IS 'Whether a query_canceled message is a statement_timeout (English messages; otherwise false: treated as a cancel).';
