-- Blank is blank whatever the space character: empty, or only ASCII or Unicode white space (U+00A0,
-- U+2000..U+200B, U+3000, ...). An issue id of three spaces, or of U+3000 spaces, used to be accepted
-- ([[:space:]] only knows ASCII in the C locale). Moved from devflow._is_blank (dwh_etl.step_silver).
CREATE OR REPLACE FUNCTION dwh_etl.is_blank(p_value text)
RETURNS boolean
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
-- No SET clause: it would stop the planner from inlining this into set-based loads (names are qualified).
AS $$
    SELECT p_value ~ '^[\s\u0085\u00a0\u1680\u180e\u2000-\u200d\u2028\u2029\u202f\u205f\u2060\u3000\ufeff]*$';
$$;
COMMENT ON FUNCTION dwh_etl.is_blank(text) IS 'true when p_value is empty or only white space (ASCII or Unicode); NULL for NULL.';
REVOKE EXECUTE ON FUNCTION dwh_etl.is_blank(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION dwh_etl.is_blank(text) TO etl_service;
