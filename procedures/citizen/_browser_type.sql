-- The browser family of a user agent (see citizen._device_type for why the string is not kept). Order
-- matters: Edge, Opera, Samsung Internet and UC Browser also say "Chrome" and "Safari"; Chrome says
-- "Safari"; programmatic clients (requests, okhttp, Java, curl) are api_client.
CREATE OR REPLACE FUNCTION citizen._browser_type(p_user_agent text)
RETURNS text
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
-- No SET clause: it would stop the planner from inlining this into set-based loads.
AS $$
    SELECT CASE
        WHEN p_user_agent IS NULL OR btrim(p_user_agent) = '' THEN 'unknown'
        WHEN p_user_agent ~* '^(python-requests|okhttp|java/|curl/|postman|axios|go-http-client)' THEN 'api_client'
        WHEN p_user_agent ~ 'Edg(e|A|iOS)?/' THEN 'edge'
        WHEN p_user_agent ~ '(OPR/|Opera)' THEN 'opera'
        WHEN p_user_agent ~ 'SamsungBrowser/' THEN 'samsung'
        WHEN p_user_agent ~ 'UCBrowser/' THEN 'uc'
        WHEN p_user_agent ~ '(Firefox/|FxiOS/)' THEN 'firefox'
        WHEN p_user_agent ~ '(Chrome/|CriOS/)' THEN 'chrome'
        WHEN p_user_agent ~ 'Safari/' THEN 'safari'
        ELSE 'other'
    END;
$$;
COMMENT ON FUNCTION citizen._browser_type(text) IS 'Browser family of a user agent: chrome, firefox, safari, edge, opera, samsung, uc, api_client, other or unknown.';
REVOKE EXECUTE ON FUNCTION citizen._browser_type(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION citizen._browser_type(text) TO etl_service;
