-- The dim_issue version of an issue current at p_at; an event before the first version takes the first.
CREATE OR REPLACE FUNCTION devflow.issue_key_at(
    p_issue_id text,
    p_at       timestamptz
)
RETURNS bigint
LANGUAGE sql
STABLE
SET search_path = devflow, pg_temp
AS $$
    SELECT d.issue_key
    FROM devflow.dim_issue AS d
    WHERE d.issue_id = p_issue_id
    ORDER BY d.valid_from <= p_at DESC,
             CASE WHEN d.valid_from <= p_at THEN d.valid_from END DESC,
             d.valid_from
    LIMIT 1;
$$;
COMMENT ON FUNCTION devflow.issue_key_at(text, timestamptz) IS 'Surrogate key of the issue version current at p_at (the first version for an earlier p_at).';
