-- Text without the white space around it, NULL when nothing is left. "White space" is every Unicode
-- White_Space character (U+0009-000D, U+0020, U+0085, U+00A0 NO-BREAK SPACE, U+1680, U+2000-200A
-- incl. U+2003 EM SPACE, U+2028, U+2029, U+202F, U+205F, U+3000 IDEOGRAPHIC SPACE) plus the invisible
-- U+180E, U+200B ZERO WIDTH SPACE and U+FEFF BYTE ORDER MARK.
-- Why: btrim() and the casts strip ASCII spaces only, while the regex class \s matched U+2003/U+3000,
-- so a number with an ideographic space passed the try_* check and then failed the cast (the whole
-- step with it), and a name of only U+3000 spaces was accepted where ASCII spaces are refused. Every
-- try_* function and every blank check goes through this one definition: blank means blank whatever
-- the space character. btrim with a character set is linear (no regex backtracking on 10 MB values).
CREATE OR REPLACE FUNCTION dwh_etl.try_trim(p_value text)
RETURNS text
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
-- No SET clause: it would stop the planner from inlining this into set-based loads (names are qualified).
AS $$
    SELECT NULLIF(btrim(p_value, E' \t\n\u000b\f\r\u0085\u00a0\u1680\u180e\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u200b\u2028\u2029\u202f\u205f\u3000\ufeff'), '');
$$;
COMMENT ON FUNCTION dwh_etl.try_trim(text) IS 'p_value without leading and trailing Unicode white space (NBSP, EM SPACE, IDEOGRAPHIC SPACE, ZWSP, BOM ... included); NULL when it is blank.';
