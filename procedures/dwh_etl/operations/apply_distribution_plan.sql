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
-- Triggers (the bronze append-only guard, the SCD2 no-overlap guard) make Citus refuse a table unless
-- citus.enable_unsafe_triggers is on: it is set for this transaction only. The triggers then fire on
-- each shard placement, on the workers.
DECLARE
    v_plan record;
    v_fk   record;
    v_type text;
    v_fks  text[] := '{}'::text[];
    v_sql  text;
    v_n    integer := 0;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus') THEN
        RAISE NOTICE 'distribution plan not applied: the citus extension is not installed in database %',
            current_database();
        RETURN;
    END IF;
    PERFORM set_config('citus.enable_unsafe_triggers', 'on', true);

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
            FOR v_fk IN
                SELECT c.conname, pg_get_constraintdef(c.oid) AS def
                FROM pg_constraint AS c
                WHERE c.conrelid = v_plan.table_name::regclass
                  AND c.contype = 'f'
                  AND c.conparentid = 0
                ORDER BY c.conname
            LOOP
                v_fks := v_fks || format('ALTER TABLE %s ADD CONSTRAINT %I %s',
                                         v_plan.table_name::regclass, v_fk.conname, v_fk.def);
                EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', v_plan.table_name::regclass, v_fk.conname);
            END LOOP;
            RAISE NOTICE 'distributing % by % %', v_plan.table_name, v_plan.distribution_column,
                COALESCE('colocated with ' || v_plan.colocate_with, '(default colocation)');
            EXECUTE format('SELECT pg_catalog.%I($1::regclass, $2, colocate_with => $3)', 'create_distributed_table')
                USING v_plan.table_name, v_plan.distribution_column, COALESCE(v_plan.colocate_with, 'default');
        ELSE
            RAISE NOTICE 'making % a reference table', v_plan.table_name;
            EXECUTE format('SELECT pg_catalog.%I($1::regclass)', 'create_reference_table') USING v_plan.table_name;
        END IF;
        UPDATE dwh_etl.distribution_plan SET applied_at = now() WHERE table_name = v_plan.table_name;
        v_n := v_n + 1;
    END LOOP;

    FOREACH v_sql IN ARRAY v_fks LOOP
        EXECUTE v_sql;
    END LOOP;
    IF v_n > 0 THEN
        RAISE NOTICE 'distribution plan applied: % tables changed, % foreign keys restored', v_n, cardinality(v_fks);
    END IF;
END
$$;
COMMENT ON PROCEDURE dwh_etl.apply_distribution_plan() IS 'Applies dwh_etl.distribution_plan on a Citus coordinator (distributed and reference tables, foreign keys kept); does nothing without the citus extension. Idempotent.';
REVOKE ALL ON PROCEDURE dwh_etl.apply_distribution_plan() FROM PUBLIC;
