-- The dim_infrastructure version of a resource current at p_at; an event before the first version takes the first.
CREATE OR REPLACE FUNCTION devflow.infrastructure_key_at(
    p_resource_id text,
    p_at          timestamptz
)
RETURNS bigint
LANGUAGE sql
STABLE
SET search_path = devflow, pg_temp
AS $$
    SELECT d.infrastructure_key
    FROM devflow.dim_infrastructure AS d
    WHERE d.resource_id = p_resource_id
    ORDER BY d.valid_from <= p_at DESC,
             CASE WHEN d.valid_from <= p_at THEN d.valid_from END DESC,
             d.valid_from
    LIMIT 1;
$$;
COMMENT ON FUNCTION devflow.infrastructure_key_at(text, timestamptz) IS 'Surrogate key of the resource version current at p_at (the first version for an earlier p_at).';
