-- Trigger API, BEFORE INSERT FOR EACH ROW: inserting a row for a key that has a current version (the
-- seed 000 dim_issue_scd2 style) closes that version at the new row's valid_from (default now()) and
-- makes the new row version n+1. A row whose Type 2 values equal the current version's only applies
-- its Type 1 values and is not inserted (no redundant versions). A row with an explicit valid_from at or
-- before the current version's start is refused (check_violation): late changes go through apply_dimension.
CREATE OR REPLACE FUNCTION dwh_etl._scd_trg_insert()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = dwh_etl, pg_temp
AS $$
DECLARE
    v_spec  dwh_etl.dimension_specs;
    v_new   jsonb;
    v_cur   record;
    v_from  timestamptz;
BEGIN
    IF pg_trigger_depth() > 1 OR current_setting('dwh.scd_bulk', true) = 'on' THEN
        RETURN NEW;
    END IF;
    v_spec := dwh_etl._scd_spec_for(TG_RELID);
    v_new  := to_jsonb(NEW);

    -- the shape of the row read by dynamic SQL below, for plpgsql_check (sk: the surrogate key)
    PERFORM 'PRAGMA:TYPE: v_cur (sk bigint, valid_from timestamptz, is_deleted boolean, max_version integer, same boolean)';
    EXECUTE format($q$
        SELECT c.%1$I AS sk, c.valid_from, c.is_deleted,
               (SELECT max(x.version) FROM %2$s AS x WHERE %3$s) AS max_version,
               %4$s IS NOT DISTINCT FROM %5$s AS same
        FROM (SELECT 1) AS one
        CROSS JOIN jsonb_populate_record(NULL::%2$s, $1) AS n
        LEFT JOIN %2$s AS c
          ON %6$s
         AND c.is_current
        $q$,
        v_spec.surrogate_key, TG_RELID::regclass,
        dwh_etl._join_cond(v_spec.natural_key, 'x', 'n'),
        dwh_etl._row_expr(v_spec.type2_columns, 'c'), dwh_etl._row_expr(v_spec.type2_columns, 'n'),
        dwh_etl._join_cond(v_spec.natural_key, 'c', 'n'))
    INTO v_cur
    USING v_new;

    v_from := COALESCE(NEW.valid_from, now());
    IF v_cur.sk IS NOT NULL THEN
        IF v_cur.same AND NOT v_cur.is_deleted THEN
            IF cardinality(v_spec.type1_columns) > 0 THEN
                EXECUTE format('UPDATE %s AS t SET (%s) = (SELECT %s FROM jsonb_populate_record(NULL::%s, $1) AS n) WHERE %s',
                               TG_RELID::regclass, dwh_etl._col_list(v_spec.type1_columns),
                               dwh_etl._col_list(v_spec.type1_columns, 'n'), TG_RELID::regclass,
                               CASE WHEN v_spec.type1_scope = 'current_only' THEN format('t.%I = $2', v_spec.surrogate_key)
                                    ELSE format('(%s) = (SELECT %s FROM jsonb_populate_record(NULL::%s, $1) AS n)',
                                                dwh_etl._col_list(v_spec.natural_key, 't'),
                                                dwh_etl._col_list(v_spec.natural_key, 'n'), TG_RELID::regclass) END)
                USING v_new, v_cur.sk;
            END IF;
            RETURN NULL;
        END IF;
        -- A row dated at or before the current version's start (a late change) cannot become the next
        -- version: it was moved to just after that start, which truncated the current version to a
        -- microsecond and made the late values current (attack 15a). It is refused; apply_dimension
        -- places late changes in history. Without valid_from (now()) a version created in this
        -- transaction is still followed a microsecond later.
        IF NEW.valid_from IS NOT NULL AND NEW.valid_from <= v_cur.valid_from THEN
            RAISE EXCEPTION 'a new version of % must start after its current version (valid from %), not at %',
                            (SELECT string_agg(format('%s = %s', k, v_new->>k), ', ') FROM unnest(v_spec.natural_key) AS k),
                            v_cur.valid_from, NEW.valid_from
                USING ERRCODE = 'check_violation',
                      HINT = format('a late change is placed in history by dwh_etl.apply_dimension(%L, <a table of changes>)', v_spec.dimension_name);
        END IF;
        v_from := GREATEST(v_from, v_cur.valid_from + interval '1 microsecond');
        EXECUTE format('UPDATE %s SET valid_to = $1, is_current = false WHERE %I = $2',
                       TG_RELID::regclass, v_spec.surrogate_key)
        USING v_from, v_cur.sk;
    END IF;
    -- Type 1 values are the key's: the new row's overwrite every earlier version (all_versions scope)
    IF cardinality(v_spec.type1_columns) > 0 AND v_spec.type1_scope = 'all_versions' THEN
        EXECUTE format('UPDATE %1$s AS t SET (%2$s) = (SELECT %3$s)
                        FROM jsonb_populate_record(NULL::%1$s, $1) AS n
                        WHERE %4$s AND %5$s IS DISTINCT FROM %6$s',
                       TG_RELID::regclass, dwh_etl._col_list(v_spec.type1_columns),
                       dwh_etl._col_list(v_spec.type1_columns, 'n'),
                       dwh_etl._join_cond(v_spec.natural_key, 't', 'n'),
                       dwh_etl._row_expr(v_spec.type1_columns, 't'), dwh_etl._row_expr(v_spec.type1_columns, 'n'))
        USING v_new;
    END IF;

    NEW := jsonb_populate_record(NEW, jsonb_build_object(
        'valid_from', v_from,
        'valid_to', NULL,
        'is_current', true,
        'is_deleted', false,
        'version', COALESCE(v_cur.max_version, 0) + 1,
        '_batch_id', COALESCE(v_new->>'_batch_id', gen_random_uuid()::text),
        '_loaded_at', now()));
    RETURN NEW;
END;
$$;
COMMENT ON FUNCTION dwh_etl._scd_trg_insert() IS 'SCD trigger API: INSERT of an existing key closes its current version and becomes version n+1.';
