-- Whether a quality rule's last result still holds, as a token (issue 15: a no-op run re-evaluated every
-- whole-table rule: 1.2 s for one reconciliation of agents.fact_agent_query at scale 1). The token
-- changes when anything the rule's result depends on may have changed:
--   * the rule itself (type, columns, params, threshold, scope);
--   * each table it reads, with its partitions and inheritance children: which relations they are,
--     their files (relfilenode: a TRUNCATE or a rewrite changes it), the server's write counters
--     (tuples inserted, updated, deleted: pg_stat_get_tuples_* and this transaction's
--     pg_stat_get_xact_tuples_*), and the engine's latest lineage entry that wrote rows there.
-- The tables a rule reads: its own; a relationships rule's to_table; for custom_sql and params.where,
-- every relation of the statement's plan (EXPLAIN VERBOSE: views expanded, partitions listed).
-- NULL (evaluate, never reuse): a rule whose result depends on time or on the batch (freshness,
-- volume_change, a batch-scoped rule of a table with _batch_id), whose SQL names a function any of whose
-- versions is not IMMUTABLE (it may read tables the plan does not show, or the clock: now(), to_char of
-- a timestamptz, ...) or the clock itself (CURRENT_DATE, CURRENT_TIMESTAMP, LOCALTIMESTAMP, ...), that
-- reads a foreign table (its rows change on another server, unseen here), on Citus one that reads a
-- Citus table or any SQL of its own, or whose plan fails.
-- Known limit: the write counters of another session reach the shared statistics when it commits, or
-- within 10 s for a session that goes idle (PostgreSQL's pgstat flush); a write by hand in the seconds
-- before a run can be judged unchanged until the next run (the engine's own writes are in its lineage).
-- dwh test (dwh_etl.test_rules) always evaluates.
CREATE OR REPLACE FUNCTION dwh_etl._rule_state(p_rule dwh_etl.quality_rules)
RETURNS text
LANGUAGE plpgsql
SET search_path = dwh_etl, pg_temp
AS $$
DECLARE
    v_rel    regclass := to_regclass(p_rule.table_name);
    v_prm    jsonb := COALESCE(p_rule.params, '{}');
    v_sql    text;
    v_plan   jsonb;
    v_reads  oid[];
    v_state  text;
    v_foreign boolean;
BEGIN
    IF v_rel IS NULL OR p_rule.rule_type IN ('freshness', 'volume_change') THEN
        RETURN NULL;
    END IF;
    IF p_rule.scope = 'batch' AND EXISTS (SELECT 1 FROM pg_catalog.pg_attribute AS a
                                          WHERE a.attrelid = v_rel AND a.attname = '_batch_id' AND NOT a.attisdropped) THEN
        RETURN NULL;
    END IF;
    -- on Citus the rows of a distributed table live in shards on the workers: no counter here sees
    -- their writes, and a plan does not name them (issue 17): evaluate
    IF to_regclass('pg_catalog.pg_dist_partition') IS NOT NULL
       AND (dwh_etl.is_citus_table(v_rel) OR p_rule.rule_type = 'custom_sql' OR v_prm ? 'where'
            OR (p_rule.rule_type = 'relationships' AND dwh_etl.is_citus_table(to_regclass(v_prm->>'to_table')))) THEN
        RETURN NULL;
    END IF;
    v_reads := ARRAY[v_rel::oid];
    IF p_rule.rule_type = 'relationships' THEN
        IF to_regclass(v_prm->>'to_table') IS NULL THEN
            RETURN NULL;
        END IF;
        v_reads := v_reads || to_regclass(v_prm->>'to_table')::oid;
    END IF;
    v_sql := concat_ws(' UNION ALL ',
                       CASE WHEN p_rule.rule_type = 'custom_sql' THEN format('SELECT 1 FROM (%s) AS q', v_prm->>'sql') END,
                       CASE WHEN v_prm ? 'where' THEN format('SELECT 1 FROM %s AS x WHERE (%s)', v_rel, v_prm->>'where') END);
    IF v_sql <> '' THEN
        -- a function that may read tables hides them from the plan; one that reads the clock, and the
        -- clock's keywords, make the result depend on time
        IF v_sql ~* '\m(current_date|current_time|current_timestamp|localtime|localtimestamp)\M'
           OR EXISTS (SELECT 1
                      FROM regexp_matches(v_sql, '([A-Za-z_][A-Za-z_0-9$]*)\s*\(', 'g') AS m
                      JOIN pg_catalog.pg_proc AS p ON p.proname = lower(m[1])
                      WHERE p.provolatile <> 'i') THEN
            RETURN NULL;
        END IF;
        BEGIN
            EXECUTE 'EXPLAIN (VERBOSE, FORMAT JSON) ' || v_sql INTO v_plan;
        EXCEPTION WHEN OTHERS THEN
            RETURN NULL;
        END;
        v_reads := v_reads || ARRAY(
            SELECT to_regclass(format('%I.%I', n->>'Schema', n->>'Relation Name'))::oid
            FROM jsonb_path_query(v_plan, 'lax $.** ? (exists (@."Relation Name"))') AS n
            WHERE to_regclass(format('%I.%I', n->>'Schema', n->>'Relation Name')) IS NOT NULL);
    END IF;
    WITH RECURSIVE tree (relid) AS (
        SELECT DISTINCT u FROM unnest(v_reads) AS u
        UNION
        SELECT i.inhrelid FROM pg_catalog.pg_inherits AS i JOIN tree AS t ON i.inhparent = t.relid
    )
    SELECT md5(concat_ws('|', p_rule.rule_type, p_rule.column_names::text, v_prm::text, p_rule.threshold::text,
                         p_rule.threshold_type, p_rule.scope,
                         string_agg(concat_ws(':', t.relid, c.relfilenode,
                                              pg_catalog.pg_stat_get_tuples_inserted(t.relid)
                                              + pg_catalog.pg_stat_get_tuples_updated(t.relid)
                                              + pg_catalog.pg_stat_get_tuples_deleted(t.relid)
                                              + pg_catalog.pg_stat_get_xact_tuples_inserted(t.relid)
                                              + pg_catalog.pg_stat_get_xact_tuples_updated(t.relid)
                                              + pg_catalog.pg_stat_get_xact_tuples_deleted(t.relid),
                                              (SELECT max(tl.lineage_id) FROM dwh_lineage.table_lineage AS tl
                                               WHERE tl.target_table = t.relid::regclass::text
                                                 AND COALESCE(tl.rows_inserted, 0) + COALESCE(tl.rows_updated, 0)
                                                     + COALESCE(tl.rows_deleted, 0) > 0)),
                                    ',' ORDER BY t.relid))),
           -- a foreign table's rows change on another server: no counter here sees it
           bool_or(c.relkind = 'f')
    INTO v_state, v_foreign
    FROM tree AS t
    JOIN pg_catalog.pg_class AS c ON c.oid = t.relid;
    RETURN CASE WHEN v_foreign THEN NULL ELSE v_state END;
END;
$$;
COMMENT ON FUNCTION dwh_etl._rule_state(dwh_etl.quality_rules) IS 'A token of everything a whole-table quality rule''s result depends on (the rule, the relations it reads, their files, write counters and lineage); NULL when its result cannot be reused (time- or batch-dependent, opaque functions). Used by the runner''s audit to reuse an unchanged result.';
REVOKE EXECUTE ON FUNCTION dwh_etl._rule_state(dwh_etl.quality_rules) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION dwh_etl._rule_state(dwh_etl.quality_rules) TO etl_service;
