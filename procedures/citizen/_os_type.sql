-- The operating system family of a user agent (see citizen._device_type for why the string is not kept).
-- iOS before macOS (an iPhone says "like Mac OS X"), Android before Linux (Android says "Linux").
CREATE OR REPLACE FUNCTION citizen._os_type(p_user_agent text)
RETURNS text
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
-- No SET clause: it would stop the planner from inlining this into set-based loads.
AS $$
    SELECT CASE
        WHEN p_user_agent IS NULL OR btrim(p_user_agent) = '' THEN 'unknown'
        WHEN p_user_agent ~* 'android' THEN 'android'
        WHEN p_user_agent ~* '(iphone|ipad|ipod|ios)' THEN 'ios'
        WHEN p_user_agent ~* 'windows' THEN 'windows'
        WHEN p_user_agent ~* '(mac os x|macintosh)' THEN 'macos'
        WHEN p_user_agent ~* '(linux|x11|cros)' THEN 'linux'
        ELSE 'other'
    END;
$$;
COMMENT ON FUNCTION citizen._os_type(text) IS 'Operating system family of a user agent: android, ios, windows, macos, linux, other or unknown.';
REVOKE EXECUTE ON FUNCTION citizen._os_type(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION citizen._os_type(text) TO etl_service;
