-- A quarantine reason when p_value is longer than p_max characters (a varchar(n) column downstream, or
-- an indexed column: "index row requires 10000016 bytes" used to fail the step), else NULL. The wording
-- of dwh_etl.step_silver's typing ("branch_name is longer than 500 characters: "..." (600 characters)");
-- moved from devflow._check_length. dwh_etl.reason_text is the SQL-literal style.
-- STABLE, not IMMUTABLE (issue 15): format() and text || integer are STABLE, and an IMMUTABLE SQL
-- function with a STABLE call inside is never inlined: every row paid a SQL function call (11-18 us,
-- ~50 us per sales line: half the silver step). STABLE is the truth and lets the planner inline it.
CREATE OR REPLACE FUNCTION dwh_etl.reason_length(
    p_column text,
    p_value  text,
    p_max    integer
)
RETURNS text
LANGUAGE sql
STABLE
PARALLEL SAFE
-- No SET clause: it would stop the planner from inlining this into set-based loads (names are qualified).
AS $$
    SELECT CASE WHEN pg_catalog.length(p_value) > p_max
                THEN p_column || ' is longer than ' || p_max || ' characters: ' || dwh_etl.quote_reason(p_value) END;
$$;
COMMENT ON FUNCTION dwh_etl.reason_length(text, text, integer) IS 'Quarantine reason when p_value has more than p_max characters, else NULL.';
REVOKE EXECUTE ON FUNCTION dwh_etl.reason_length(text, text, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION dwh_etl.reason_length(text, text, integer) TO etl_service;
