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
    v_text text := dwh_etl.try_trim(p_value);
    v_ip   inet;
BEGIN
    -- Unicode white space around the address is trimmed as in every other field of the event (btrim left
    -- a NO-BREAK SPACE and the address lost its network, attack 9a)
    IF v_text IS NULL OR length(v_text) > 64 THEN
        RETURN NULL;
    END IF;
    v_ip := v_text::inet;
    -- an IPv4-mapped IPv6 address (::ffff:a.b.c.d, as dual-stack servers log IPv4 clients) is the IPv4
    -- address: its /48 was ::/48, one network for every IPv4 visitor (attack 9a)
    IF family(v_ip) = 6 AND v_ip << inet '::ffff:0.0.0.0/96' THEN
        v_ip := (split_part(host(v_ip), ':', 4))::inet;
    END IF;
    RETURN network(set_masklen(v_ip, CASE family(v_ip) WHEN 4 THEN 24 ELSE 48 END));
EXCEPTION WHEN invalid_text_representation OR invalid_parameter_value OR data_exception THEN
    RETURN NULL;
END;
$$;
COMMENT ON FUNCTION citizen._ip_network(text) IS 'The network of an IP address text: /24 (IPv4) or /48 (IPv6), NULL when not an address. What the citizen facts keep instead of the address.';
REVOKE EXECUTE ON FUNCTION citizen._ip_network(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION citizen._ip_network(text) TO etl_service;
