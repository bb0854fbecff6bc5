CREATE OR REPLACE PROCEDURE dwh_etl.apply_distribution_plan()
LANGUAGE plpgsql
SET search_path = dwh_etl, pg_temp
AS $$
-- Makes the tables of dwh_etl.distribution_plan distributed or reference tables, where the citus
-- extension is installed; elsewhere returns with a NOTICE and changes nothing. Idempotent: a table
-- that already is what the plan says is left alone. Citus objects are reached through EXECUTE of a
-- format()ed string, so the procedure compiles, and passes plpgsql_check, without Citus.
--
-- Order, forced by Citus (measured on Citus 13.2, PostgreSQL 15):
--   1. each planned distributed table loses its foreign keys (remembered), then is distributed: once a
--      table it references becomes a reference table, Citus turns it into a "Citus local table", and
--      a Citus local table with an identity column cannot be distributed any more;
--   2. the reference tables;
--   3. the foreign keys come back (a distributed table may reference a reference table).
-- A foreign key of a distributed table to a table the plan leaves local (sales.fact_sales to the
-- calendar) cannot exist on Citus: it is dropped for good, recorded in the plan's dropped_foreign_keys,
-- and replaced by a relationships quality rule (dwh_etl.quality_rules, named citus_<constraint>, severity
-- error, batch scope, area citus: an area's registry file, which removes the rules of its area that it
-- does not list, leaves them alone): the load that writes a key the referenced table lacks fails and is
-- rolled back, as it would with the key. Only single-column keys can be replaced so: another one stops
-- the procedure.
-- Triggers (the bronze append-only guard, the SCD2 no-overlap guard of the SCD trigger API) make Citus
-- refuse a table unless citus.enable_unsafe_triggers is on; this procedure does not turn it on behind
-- the DBA's back: a planned table with triggers stops it (0A000) with a hint, and a DBA who accepts that
-- the triggers then fire per shard placement, on the workers, sets the parameter and applies again.
-- One exception: the no-overlap triggers of an SCD2 table (dwh_etl.trg_scd2_no_overlap, migration 0032)
-- on a planned reference table are replaced by the exclusion constraint they once replaced (natural
-- key WITH =, tstzrange(valid_from, valid_to) WITH &&), which Citus supports on reference tables, and
-- recorded in replaced_triggers (sales.dim_customer and sales.dim_product, migration 0046).
-- A foreign key dropped in an earlier application (recorded in dropped_foreign_keys) whose referenced
-- table has since become a reference table of the plan comes back, and its quality rule goes.
DECLARE
    v_plan record;
    v_fk   record;
    v_type text;
    v_fks  text[] := '{}'::text[];
    v_gone jsonb;
    v_rule text;
    v_sql  text;
    v_n    integer := 0;
    v_key  text[];
    v_trg  text[];
    v_con  text;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus') THEN
        RAISE NOTICE 'distribution plan not applied: the citus extension is not installed in database %',
            current_database();
        RETURN;
    END IF;
    SELECT string_agg(format('%s (%s)', p.table_name, t.tgname), ', ' ORDER BY p.table_name, t.tgname)
    INTO v_sql
    FROM dwh_etl.distribution_plan AS p
    JOIN pg_trigger AS t ON t.tgrelid = to_regclass(p.table_name) AND NOT t.tgisinternal
    WHERE NOT dwh_etl.is_citus_table(to_regclass(p.table_name))
      AND NOT (p.kind = 'reference' AND t.tgfoid = 'dwh_etl.trg_scd2_no_overlap()'::regprocedure);
    IF v_sql IS NOT NULL AND current_setting('citus.enable_unsafe_triggers', true) IS DISTINCT FROM 'on' THEN
        RAISE EXCEPTION 'distribution plan not applied: Citus refuses tables with triggers: %', v_sql
            USING ERRCODE = 'feature_not_supported',
                  DETAIL = 'On a Citus table the triggers (e.g. the SCD trigger API, dwh_etl.trg_scd2_no_overlap) fire per shard placement, on the workers, and only with citus.enable_unsafe_triggers = on.',
                  HINT = 'leave the table out of dwh_etl.distribution_plan, or SET citus.enable_unsafe_triggers = on and CALL dwh_etl.apply_distribution_plan() again';
    END IF;
    v_sql := NULL;

    FOR v_plan IN
        SELECT p.*
        FROM dwh_etl.distribution_plan AS p
        WHERE to_regclass(p.table_name) IS NOT NULL
        ORDER BY CASE p.kind WHEN 'distributed' THEN 0 ELSE 1 END, p.apply_order
    LOOP
        EXECUTE format('SELECT citus_table_type FROM %I.%I WHERE table_name = $1::regclass', 'public', 'citus_tables')
            INTO v_type USING v_plan.table_name;
        IF v_type IS NOT DISTINCT FROM v_plan.kind THEN
            UPDATE dwh_etl.distribution_plan SET applied_at = now() WHERE table_name = v_plan.table_name;
            CONTINUE;
        END IF;
        IF v_plan.kind = 'distributed' THEN
            v_gone := '[]'::jsonb;
            FOR v_fk IN
                SELECT c.conname, pg_get_constraintdef(c.oid) AS def, c.confrelid::regclass::text AS to_table,
                       ARRAY(SELECT a.attname::text FROM unnest(c.conkey) AS k (n)
                             JOIN pg_attribute AS a ON a.attrelid = c.conrelid AND a.attnum = k.n) AS cols,
                       ARRAY(SELECT a.attname::text FROM unnest(c.confkey) AS k (n)
                             JOIN pg_attribute AS a ON a.attrelid = c.confrelid AND a.attnum = k.n) AS to_cols,
                       EXISTS (SELECT 1 FROM dwh_etl.distribution_plan AS o
                               WHERE to_regclass(o.table_name) = c.confrelid) AS kept
                FROM pg_constraint AS c
                WHERE c.conrelid = v_plan.table_name::regclass
                  AND c.contype = 'f'
                  AND c.conparentid = 0
                ORDER BY c.conname
            LOOP
                IF v_fk.kept THEN
                    v_fks := v_fks || format('ALTER TABLE %s ADD CONSTRAINT %I %s',
                                             v_plan.table_name::regclass, v_fk.conname, v_fk.def);
                ELSIF cardinality(v_fk.cols) <> 1 THEN
                    RAISE EXCEPTION 'distribution plan: % cannot keep foreign key % (% stays local), and only a single-column key can become a quality rule',
                                    v_plan.table_name, v_fk.conname, v_fk.to_table
                        USING ERRCODE = 'feature_not_supported',
                              HINT = 'add the referenced table to dwh_etl.distribution_plan (reference), or drop the key first';
                ELSE
                    -- the key references a table that stays local: a quality rule takes its place
                    v_rule := left('citus_' || v_fk.conname, 63);
                    INSERT INTO dwh_etl.quality_rules (rule_name, table_name, rule_type, column_names, params,
                                                       severity, scope, area, description)
                    VALUES (v_rule, v_plan.table_name, 'relationships', v_fk.cols,
                            jsonb_build_object('to_table', v_fk.to_table, 'to_column', v_fk.to_cols[1]),
                            'error', 'batch', 'citus',
                            format('replaces foreign key %s (%s) of %s, which Citus cannot keep: %s stays local on the coordinator (dwh_etl.distribution_plan)',
                                   v_fk.conname, v_fk.def, v_plan.table_name, v_fk.to_table))
                    ON CONFLICT (rule_name) DO NOTHING;
                    v_gone := v_gone || jsonb_build_object('constraint', v_fk.conname, 'definition', v_fk.def,
                                                           'quality_rule', v_rule);
                    RAISE NOTICE 'foreign key % of % dropped (% stays local): quality rule % checks it',
                        v_fk.conname, v_plan.table_name, v_fk.to_table, v_rule;
                END IF;
                EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', v_plan.table_name::regclass, v_fk.conname);
            END LOOP;
            UPDATE dwh_etl.distribution_plan SET dropped_foreign_keys = v_gone WHERE table_name = v_plan.table_name;
            RAISE NOTICE 'distributing % by % %', v_plan.table_name, v_plan.distribution_column,
                COALESCE('colocated with ' || v_plan.colocate_with, '(default colocation)');
            EXECUTE format('SELECT pg_catalog.%I($1::regclass, $2, colocate_with => $3)', 'create_distributed_table')
                USING v_plan.table_name, v_plan.distribution_column, COALESCE(v_plan.colocate_with, 'default');
        ELSE
            -- the SCD2 no-overlap triggers become the exclusion constraint (see the header)
            SELECT array_agg(t.tgname::text ORDER BY t.tgname),
                   min(array_remove(string_to_array(encode(t.tgargs, 'escape'), '\000'), ''))
            INTO v_trg, v_key
            FROM pg_trigger AS t
            WHERE t.tgrelid = v_plan.table_name::regclass
              AND NOT t.tgisinternal
              AND t.tgfoid = 'dwh_etl.trg_scd2_no_overlap()'::regprocedure;
            IF v_trg IS NOT NULL THEN
                v_con := left(split_part(v_plan.table_name, '.', 2), 50) || '_no_overlap_ex';
                EXECUTE format('ALTER TABLE %s ADD CONSTRAINT %I EXCLUDE USING gist (%s, tstzrange(valid_from, valid_to) WITH &&)',
                               v_plan.table_name::regclass, v_con,
                               (SELECT string_agg(format('%I WITH =', k), ', ' ORDER BY o)
                                FROM unnest(v_key) WITH ORDINALITY AS a (k, o)));
                FOREACH v_sql IN ARRAY v_trg LOOP
                    EXECUTE format('DROP TRIGGER %I ON %s', v_sql, v_plan.table_name::regclass);
                END LOOP;
                v_sql := NULL;
                UPDATE dwh_etl.distribution_plan
                SET replaced_triggers = jsonb_build_array(jsonb_build_object(
                        'triggers', to_jsonb(v_trg), 'natural_key', to_jsonb(v_key), 'constraint', v_con))
                WHERE table_name = v_plan.table_name;
                RAISE NOTICE 'no-overlap triggers of % replaced by exclusion constraint % (Citus refuses triggers on reference tables)',
                    v_plan.table_name, v_con;
            END IF;
            RAISE NOTICE 'making % a reference table', v_plan.table_name;
            EXECUTE format('SELECT pg_catalog.%I($1::regclass)', 'create_reference_table') USING v_plan.table_name;
        END IF;
        UPDATE dwh_etl.distribution_plan SET applied_at = now() WHERE table_name = v_plan.table_name;
        v_n := v_n + 1;
    END LOOP;

    FOREACH v_sql IN ARRAY v_fks LOOP
        EXECUTE v_sql;
    END LOOP;
    -- keys dropped earlier whose referenced table is a reference table now: back, without their rules
    FOR v_fk IN
        SELECT p.table_name, d.value AS gone, q.params->>'to_table' AS to_table
        FROM dwh_etl.distribution_plan AS p
        CROSS JOIN LATERAL jsonb_array_elements(p.dropped_foreign_keys) AS d (value)
        JOIN dwh_etl.quality_rules AS q ON q.rule_name = d.value->>'quality_rule'
        JOIN dwh_etl.distribution_plan AS r
          ON r.kind = 'reference' AND to_regclass(r.table_name) = to_regclass(q.params->>'to_table')
        WHERE p.kind = 'distributed'
          AND to_regclass(p.table_name) IS NOT NULL
        ORDER BY p.table_name, d.value->>'constraint'
    LOOP
        EXECUTE format('ALTER TABLE %s ADD CONSTRAINT %I %s', v_fk.table_name::regclass,
                       v_fk.gone->>'constraint', v_fk.gone->>'definition');
        DELETE FROM dwh_etl.quality_rules WHERE rule_name = v_fk.gone->>'quality_rule' AND area = 'citus';
        UPDATE dwh_etl.distribution_plan
        SET dropped_foreign_keys = dropped_foreign_keys - (
                SELECT (o.n - 1)::int FROM jsonb_array_elements(dropped_foreign_keys) WITH ORDINALITY AS o (value, n)
                WHERE o.value = v_fk.gone)
        WHERE table_name = v_fk.table_name;
        RAISE NOTICE 'foreign key % of % restored (% is a reference table now), quality rule % dropped',
            v_fk.gone->>'constraint', v_fk.table_name, v_fk.to_table, v_fk.gone->>'quality_rule';
        v_fks := v_fks || (v_fk.gone->>'constraint');
    END LOOP;
    IF v_n > 0 THEN
        RAISE NOTICE 'distribution plan applied: % tables changed, % foreign keys restored', v_n, cardinality(v_fks);
    END IF;
END
$$;
COMMENT ON PROCEDURE dwh_etl.apply_distribution_plan() IS 'Applies dwh_etl.distribution_plan on a Citus coordinator (distributed and reference tables, foreign keys kept); does nothing without the citus extension. Idempotent.';
REVOKE ALL ON PROCEDURE dwh_etl.apply_distribution_plan() FROM PUBLIC;
