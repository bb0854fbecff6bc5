-- Personal data: the facts keep what a user agent says about the device, not the string itself (which,
-- with the address, fingerprints a person). Bots first (Googlebot says "Mobile" too), then tablets
-- (iPad; Android without "Mobile"), phones, desktops.
CREATE OR REPLACE FUNCTION citizen._device_type(p_user_agent text)
RETURNS text
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
-- No SET clause: it would stop the planner from inlining this into set-based loads.
AS $$
    SELECT CASE
        WHEN p_user_agent IS NULL OR btrim(p_user_agent) = '' THEN 'unknown'
        WHEN p_user_agent ~* '(bot|crawler|spider|slurp)' THEN 'bot'
        WHEN p_user_agent ~* '(ipad|tablet)' OR (p_user_agent ~* 'android' AND p_user_agent !~* 'mobile') THEN 'tablet'
        WHEN p_user_agent ~* '(mobi|iphone|ipod|android)' THEN 'mobile'
        WHEN p_user_agent ~* '(windows nt|macintosh|x11|linux|cros)' THEN 'desktop'
        ELSE 'unknown'
    END;
$$;
COMMENT ON FUNCTION citizen._device_type(text) IS 'Device class of a user agent: mobile, desktop, tablet, bot or unknown (API clients are unknown).';
REVOKE EXECUTE ON FUNCTION citizen._device_type(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION citizen._device_type(text) TO etl_service;
