-- Trigger API, AFTER UPDATE FOR EACH STATEMENT (transition tables, set-based): an UPDATE that changes
-- Type 2 columns of current versions, e.g. UPDATE dim SET segment = 'x' WHERE customer_id = 7, is turned
-- into history: each such row gets its old values back and is closed at now(), and a new current version
-- with the new values is inserted. Type 1 changes are copied to the key's other versions (type1_scope
-- all_versions). A version created in the same transaction is updated in place (no zero-length history).
-- Closed versions an UPDATE reached get their historical values back: history is never rewritten.
CREATE OR REPLACE FUNCTION dwh_etl._scd_trg_update()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = dwh_etl, pg_temp
AS $$
DECLARE
    v_spec  dwh_etl.dimension_specs;
    v_all   text[];
    v_restore text[];
BEGIN
    IF pg_trigger_depth() > 1 OR current_setting('dwh.scd_bulk', true) = 'on' THEN
        RETURN NULL;
    END IF;
    v_spec  := dwh_etl._scd_spec_for(TG_RELID);
    v_all   := v_spec.natural_key || v_spec.type2_columns || v_spec.type1_columns;
    -- what a closed version must keep: its Type 2 values, and its Type 1 values unless they are the key's
    v_restore := v_spec.type2_columns
                 || CASE WHEN v_spec.type1_scope = 'current_only' THEN v_spec.type1_columns ELSE '{}'::text[] END;

    -- History is not rewritten: an UPDATE that reached closed versions (no is_current filter) gets
    -- their Type 2 values (and current-only Type 1 values) put back.
    IF cardinality(v_restore) > 0 THEN
        EXECUTE format($q$
            UPDATE %1$s AS t
            SET (%2$s) = (SELECT %3$s)
            FROM old_rows AS o
            WHERE t.%4$I = o.%4$I
              AND NOT o.is_current
              AND %5$s IS DISTINCT FROM %6$s
            $q$,
            TG_RELID::regclass, dwh_etl._col_list(v_restore), dwh_etl._col_list(v_restore, 'o'),
            v_spec.surrogate_key, dwh_etl._row_expr(v_restore, 't'), dwh_etl._row_expr(v_restore, 'o'));
    END IF;

    IF to_regclass('pg_temp._scd_trg_changed') IS NOT NULL THEN DROP TABLE pg_temp._scd_trg_changed; END IF;
    EXECUTE format($q$
        CREATE TEMP TABLE _scd_trg_changed ON COMMIT DROP AS
        SELECT o.%1$I AS sk, o.valid_from AS old_from, o.version AS old_version, %2$s, %3$s
        FROM old_rows AS o
        JOIN new_rows AS n
          ON n.%1$I = o.%1$I
        WHERE o.is_current
          AND n.is_current
          AND o.valid_from < now()
          AND %4$s IS DISTINCT FROM %5$s
        $q$,
        v_spec.surrogate_key,
        (SELECT string_agg(format('o.%I AS %I', c, 'old_' || c), ', ') FROM unnest(v_spec.type2_columns || v_spec.type1_columns) AS c),
        dwh_etl._col_list(v_all, 'n'),
        dwh_etl._row_expr(v_spec.type2_columns, 'o'),
        dwh_etl._row_expr(v_spec.type2_columns, 'n'));

    -- the updated rows keep their surrogate key and become the closed old versions ...
    EXECUTE format($q$
        UPDATE %1$s AS t
        SET (%2$s) = (SELECT %3$s), valid_to = now(), is_current = false
        FROM _scd_trg_changed AS ch
        WHERE t.%4$I = ch.sk
        $q$,
        TG_RELID::regclass,
        dwh_etl._col_list(v_restore),
        (SELECT string_agg(format('ch.%I', 'old_' || c), ', ') FROM unnest(v_restore) AS c),
        v_spec.surrogate_key);
    -- ... and the new values become new current versions.
    EXECUTE format($q$
        INSERT INTO %1$s (%2$s, valid_from, valid_to, is_current, version, is_deleted, _batch_id, _loaded_at)
        SELECT %3$s, now(), NULL, true, ch.old_version + 1, false, gen_random_uuid(), now()
        FROM _scd_trg_changed AS ch
        $q$,
        TG_RELID::regclass, dwh_etl._col_list(v_all), dwh_etl._col_list(v_all, 'ch'));

    IF cardinality(v_spec.type1_columns) > 0 AND v_spec.type1_scope = 'all_versions' THEN
        EXECUTE format($q$
            UPDATE %1$s AS t
            SET (%2$s) = (SELECT %3$s)
            FROM new_rows AS n
            WHERE %4$s
              AND t.%5$I <> n.%5$I
              AND n.is_current
              AND %6$s IS DISTINCT FROM %7$s
            $q$,
            TG_RELID::regclass,
            dwh_etl._col_list(v_spec.type1_columns),
            dwh_etl._col_list(v_spec.type1_columns, 'n'),
            dwh_etl._join_cond(v_spec.natural_key, 't', 'n'),
            v_spec.surrogate_key,
            dwh_etl._row_expr(v_spec.type1_columns, 't'),
            dwh_etl._row_expr(v_spec.type1_columns, 'n'));
    END IF;
    DROP TABLE _scd_trg_changed;
    RETURN NULL;
END;
$$;
COMMENT ON FUNCTION dwh_etl._scd_trg_update() IS 'SCD trigger API: a Type 2 UPDATE of current versions becomes history (old version closed, new version inserted), set-based over the statement''s rows.';
