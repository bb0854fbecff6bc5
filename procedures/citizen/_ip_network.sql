-- Personal data: the facts never hold a client's IP address, only its network: the /24 of an IPv4
-- address, the /48 of an IPv6 one (a site, not a device), enough for regional and abuse analytics.
-- NULL when the text is missing or not an address (an unparsable address is not a reason to reject an
-- event: it only loses its network).
CREATE OR REPLACE FUNCTION citizen._ip_network(p_value text)
RETURNS cidr
LANGUAGE plpgsql
IMMUTABLE
PARALLEL UNSAFE  -- its EXCEPTION block needs a subtransaction, which a parallel query cannot start
SET search_path = citizen, pg_temp
AS $$
DECLARE
    v_ip inet;
BEGIN
    IF p_value IS NULL OR btrim(p_value) = '' OR length(p_value) > 64 THEN
        RETURN NULL;
    END IF;
    v_ip := btrim(p_value)::inet;
    RETURN network(set_masklen(v_ip, CASE family(v_ip) WHEN 4 THEN 24 ELSE 48 END));
EXCEPTION WHEN invalid_text_representation OR invalid_parameter_value OR data_exception THEN
    RETURN NULL;
END;
$$;
COMMENT ON FUNCTION citizen._ip_network(text) IS 'The network of an IP address text: /24 (IPv4) or /48 (IPv6), NULL when not an address. What the citizen facts keep instead of the address.';
REVOKE EXECUTE ON FUNCTION citizen._ip_network(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION citizen._ip_network(text) TO etl_service;
