-- The constraint of the database that already guarantees a quality rule, or NULL (issue 15: at the first
-- load of 1M sales lines the rules of sales.fact_sales took 11 s, 8.5 s of it the three relationships
-- rules its own validated foreign keys already guarantee). Such a rule cannot fail: the runner records it
-- passed without scanning for failures (dwh_etl.quality_check_table; its result names the constraint).
--   not_null       every column is NOT NULL
--   unique         a valid, non-partial unique index on plain columns, all of them among the rule's (the
--                  rule, like the index, ignores keys with a NULL part: NULL IN (...) is not true)
--   relationships  a validated foreign key of exactly the rule's column to to_table(to_column), its
--                  triggers enabled (the rule, like MATCH SIMPLE, ignores NULL keys)
-- Not for range/accepted_values/regex (a CHECK's expression would have to be proven equivalent) nor
-- custom SQL. Writes made with session_replication_role = replica skip foreign-key triggers: a
-- superuser doing that bypasses the guarantee and this shortcut alike.
CREATE OR REPLACE FUNCTION dwh_etl._rule_enforced(p_rule dwh_etl.quality_rules)
RETURNS text
LANGUAGE sql
STABLE
SET search_path = dwh_etl, pg_temp
AS $$
    WITH rel AS (
        SELECT to_regclass(p_rule.table_name) AS relid
    ),
    cols AS (
        SELECT a.attnum, a.attnotnull
        FROM rel
        JOIN pg_catalog.pg_attribute AS a ON a.attrelid = rel.relid
        WHERE a.attname = ANY (p_rule.column_names) AND a.attnum > 0 AND NOT a.attisdropped
    )
    SELECT CASE p_rule.rule_type
        WHEN 'not_null' THEN
            CASE WHEN cardinality(p_rule.column_names) > 0
                      AND (SELECT count(*) FILTER (WHERE c.attnotnull) FROM cols AS c) = cardinality(p_rule.column_names)
                 THEN 'NOT NULL' END
        WHEN 'unique' THEN
            (SELECT format('unique index %s', i.indexrelid::regclass)
             FROM rel
             JOIN pg_catalog.pg_index AS i ON i.indrelid = rel.relid
             WHERE i.indisunique AND i.indisvalid AND i.indpred IS NULL AND i.indexprs IS NULL
               AND cardinality(p_rule.column_names) = (SELECT count(*) FROM cols)
               AND (i.indkey::int2[])[0:i.indnkeyatts - 1] <@ ARRAY(SELECT c.attnum FROM cols AS c)
             ORDER BY i.indexrelid
             LIMIT 1)
        WHEN 'relationships' THEN
            (SELECT format('foreign key %I', k.conname)
             FROM rel
             JOIN pg_catalog.pg_constraint AS k ON k.conrelid = rel.relid
             JOIN pg_catalog.pg_attribute AS fa
               ON fa.attrelid = k.confrelid AND fa.attnum = k.confkey[1]
             WHERE k.contype = 'f' AND k.convalidated
               AND cardinality(k.conkey) = 1
               AND cardinality(p_rule.column_names) = 1
               AND k.conkey[1] = (SELECT c.attnum FROM cols AS c)
               AND k.confrelid = to_regclass(p_rule.params->>'to_table')
               AND fa.attname = p_rule.params->>'to_column'
               AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_trigger AS g
                               WHERE g.tgconstraint = k.oid AND g.tgenabled = 'D')
             ORDER BY k.conname
             LIMIT 1)
    END;
$$;
COMMENT ON FUNCTION dwh_etl._rule_enforced(dwh_etl.quality_rules) IS 'The constraint that already guarantees a not_null, unique or relationships quality rule (NOT NULL columns, a unique index, a validated foreign key), or NULL: such a rule is recorded passed without scanning for failures.';
REVOKE EXECUTE ON FUNCTION dwh_etl._rule_enforced(dwh_etl.quality_rules) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION dwh_etl._rule_enforced(dwh_etl.quality_rules) TO etl_service;
