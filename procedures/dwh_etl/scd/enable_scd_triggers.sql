-- Installs the SCD trigger API on a declared dimension's table, so that a DBA's plain
--   UPDATE dim SET col = ... WHERE natural_key = ...        (single- or multi-row)
--   INSERT INTO dim (...) VALUES (...) for an existing key  (seed 000 style)
-- produce correct Type 2 history. A convenience layer: apply_dimension never needs it (it sets
-- dwh.scd_bulk and the triggers step aside), and Citus reference tables, which reject triggers, can
-- leave it off. Idempotent.
CREATE OR REPLACE PROCEDURE dwh_etl.enable_scd_triggers(p_dimension text)
LANGUAGE plpgsql
SET search_path = dwh_etl, pg_temp
AS $$
DECLARE
    v_spec dwh_etl.dimension_specs;
    v_rel  regclass;
BEGIN
    SELECT * INTO v_spec FROM dwh_etl.dimension_specs AS d WHERE d.dimension_name = p_dimension;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown dimension %', quote_literal(p_dimension)
            USING ERRCODE = 'no_data_found',
                  HINT = 'dwh_etl.dimension_specs lists the declared dimensions';
    END IF;
    v_rel := to_regclass(v_spec.target_table);
    IF v_rel IS NULL THEN
        RAISE EXCEPTION 'target table % of dimension % does not exist', v_spec.target_table, p_dimension
            USING ERRCODE = 'undefined_table';
    END IF;
    EXECUTE format('CREATE OR REPLACE TRIGGER scd_before_insert BEFORE INSERT ON %s
                    FOR EACH ROW EXECUTE FUNCTION dwh_etl._scd_trg_insert()', v_rel);
    EXECUTE format('CREATE OR REPLACE TRIGGER scd_after_update AFTER UPDATE ON %s
                    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
                    FOR EACH STATEMENT EXECUTE FUNCTION dwh_etl._scd_trg_update()', v_rel);
END;
$$;
COMMENT ON PROCEDURE dwh_etl.enable_scd_triggers(text) IS 'Install the SCD trigger API (history from plain INSERT/UPDATE) on a declared dimension table.';
-- The registry is code: only the owner changes it (issue 9: etl_service could write what the pipeline
-- executes). Routines of dwh_etl are granted to etl_service by default: not this one.
REVOKE EXECUTE ON PROCEDURE dwh_etl.enable_scd_triggers(text) FROM etl_service, PUBLIC;
