-- The dimension spec whose target table is p_relid (for the SCD triggers).
CREATE OR REPLACE FUNCTION dwh_etl._scd_spec_for(p_relid oid)
RETURNS dwh_etl.dimension_specs
LANGUAGE plpgsql
STABLE
SET search_path = dwh_etl, pg_temp
AS $$
DECLARE
    v_spec dwh_etl.dimension_specs;
BEGIN
    SELECT * INTO v_spec
    FROM dwh_etl.dimension_specs AS d
    WHERE to_regclass(d.target_table) = p_relid;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'table % has SCD triggers but no dimension spec', p_relid::regclass
            USING ERRCODE = 'no_data_found',
                  HINT = 'declare it in dwh_etl.dimension_specs, or DROP the triggers *_scd_* on it';
    END IF;
    RETURN v_spec;
END;
$$;
COMMENT ON FUNCTION dwh_etl._scd_spec_for(oid) IS 'Dimension spec of a target table (used by the SCD trigger API).';
