-- The data catalog as one jsonb document (issue 16): everything `dwh docs generate` renders, so the
-- site shows what SQL says and Python only draws it. Keys:
--   generated_at, database, server_version
--   areas          registered subject areas with their description and tables
--   schemas        every non-system schema with its comment
--   relations      every table, view, materialized view and foreign table of those schemas (partitions
--                  are counted on their parent): kind, comment, layer and area (table_registry), columns
--                  (type, nullable, default, comment), primary key, unique keys, foreign keys, row count
--                  (exact below p_exact_rows_below bytes, else the planner's estimate), size, a view's SQL
--   dimensions     the SCD spec of every dimension (dimension_specs)
--   table_edges    the table lineage graph (table_dependencies) with each end's layer
--   column_lineage the registered column lineage (column_lineage, lineage_id NULL)
--   pipelines      schedules (with the next run), steps in run order, the last p_runs runs with duration
--   quality        every rule with its latest result and its last p_history results
--   freshness      the freshness SLAs evaluated now (dwh_etl.freshness_sla)
-- Reads only. Example: SELECT jsonb_pretty(dwh_lineage.catalog()->'dimensions');
CREATE OR REPLACE FUNCTION dwh_lineage.catalog(
    p_runs             integer DEFAULT 30,
    p_history          integer DEFAULT 20,
    p_exact_rows_below bigint  DEFAULT 64 * 1024 * 1024
)
RETURNS jsonb
LANGUAGE plpgsql
STABLE
SET search_path = dwh_lineage, pg_temp
-- a catalog query the planner overprices: JIT compiling it took 0.8 s of a 0.9 s call
SET jit = off
AS $$
DECLARE
    v_relations jsonb;
    v_counts    jsonb := '{}'::jsonb;
    v_rel       record;
    v_count     bigint;
BEGIN
    -- exact row counts of the smaller tables (an estimate says little about a 10-row dimension)
    FOR v_rel IN
        SELECT c.oid, n.nspname, c.relname
        FROM pg_class AS c
        JOIN pg_namespace AS n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('r', 'p', 'm')
          AND NOT c.relispartition
          AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'public', 'cron')
          AND n.nspname !~ '^pg_'
          AND has_table_privilege(c.oid, 'SELECT')
          AND (c.relkind <> 'm' OR c.relispopulated)
          AND (SELECT sum(pg_total_relation_size(t.oid)) FROM pg_class AS t
               WHERE t.oid = c.oid OR t.oid IN (SELECT pt.relid FROM pg_partition_tree(c.oid) AS pt)) < p_exact_rows_below
    LOOP
        EXECUTE format('SELECT count(*) FROM %I.%I', v_rel.nspname, v_rel.relname) INTO v_count;
        v_counts := v_counts || jsonb_build_object(v_rel.oid::text, v_count);
    END LOOP;

    SELECT COALESCE(jsonb_agg(r ORDER BY r->>'name'), '[]') INTO v_relations
    FROM (
        SELECT jsonb_build_object(
            'name', n.nspname || '.' || c.relname,
            'schema', n.nspname,
            'relname', c.relname,
            'kind', CASE c.relkind WHEN 'r' THEN 'table' WHEN 'p' THEN 'partitioned table' WHEN 'v' THEN 'view'
                                   WHEN 'm' THEN 'materialized view' WHEN 'f' THEN 'foreign table' END,
            'comment', obj_description(c.oid, 'pg_class'),
            'layer', tr.layer,
            'area', tr.area,
            'description', tr.description,
            'rows', CASE WHEN v_counts ? c.oid::text THEN (v_counts->>c.oid::text)::bigint
                         WHEN c.relkind IN ('r', 'p', 'm') THEN sz.estimate END,
            'rows_exact', v_counts ? c.oid::text,
            'bytes', CASE WHEN c.relkind IN ('r', 'p', 'm') THEN sz.bytes END,
            'partitions', CASE WHEN c.relkind = 'p' THEN
                               (SELECT count(*) FROM pg_partition_tree(c.oid) AS t WHERE t.isleaf) END,
            'columns', (
                SELECT COALESCE(jsonb_agg(jsonb_build_object(
                           'name', a.attname,
                           'type', format_type(a.atttypid, a.atttypmod),
                           'nullable', NOT a.attnotnull,
                           'default', pg_get_expr(ad.adbin, ad.adrelid),
                           'generated', a.attgenerated <> '',
                           'comment', col_description(c.oid, a.attnum)) ORDER BY a.attnum), '[]')
                FROM pg_attribute AS a
                LEFT JOIN pg_attrdef AS ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
                WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped),
            'primary_key', (
                SELECT to_jsonb(ARRAY(SELECT a.attname FROM unnest(k.conkey) WITH ORDINALITY AS u(attnum, o)
                                      JOIN pg_attribute AS a ON a.attrelid = c.oid AND a.attnum = u.attnum
                                      ORDER BY u.o))
                FROM pg_constraint AS k
                WHERE k.conrelid = c.oid AND k.contype = 'p'),
            'unique_keys', (
                SELECT COALESCE(jsonb_agg(to_jsonb(ARRAY(
                           SELECT a.attname FROM unnest(k.conkey) WITH ORDINALITY AS u(attnum, o)
                           JOIN pg_attribute AS a ON a.attrelid = c.oid AND a.attnum = u.attnum
                           ORDER BY u.o)) ORDER BY k.conname), '[]')
                FROM pg_constraint AS k
                WHERE k.conrelid = c.oid AND k.contype = 'u'),
            'foreign_keys', (
                SELECT COALESCE(jsonb_agg(jsonb_build_object(
                           'name', k.conname,
                           'columns', to_jsonb(ARRAY(
                                SELECT a.attname FROM unnest(k.conkey) WITH ORDINALITY AS u(attnum, o)
                                JOIN pg_attribute AS a ON a.attrelid = c.oid AND a.attnum = u.attnum ORDER BY u.o)),
                           'references', rn.nspname || '.' || rc.relname,
                           'ref_columns', to_jsonb(ARRAY(
                                SELECT a.attname FROM unnest(k.confkey) WITH ORDINALITY AS u(attnum, o)
                                JOIN pg_attribute AS a ON a.attrelid = k.confrelid AND a.attnum = u.attnum ORDER BY u.o)))
                           ORDER BY k.conname), '[]')
                FROM pg_constraint AS k
                JOIN pg_class AS rc ON rc.oid = k.confrelid
                JOIN pg_namespace AS rn ON rn.oid = rc.relnamespace
                WHERE k.conrelid = c.oid AND k.contype = 'f'),
            'definition', CASE WHEN c.relkind IN ('v', 'm') THEN pg_get_viewdef(c.oid, true) END
        ) AS r
        FROM pg_class AS c
        JOIN pg_namespace AS n ON n.oid = c.relnamespace
        LEFT JOIN dwh_etl.table_registry AS tr ON tr.table_name = n.nspname || '.' || c.relname
        -- a partitioned table's size and estimate are its partitions'
        CROSS JOIN LATERAL (
            SELECT sum(pg_total_relation_size(t.oid))::bigint AS bytes,
                   sum(GREATEST(t.reltuples, 0))::bigint     AS estimate
            FROM pg_class AS t
            WHERE t.oid = c.oid OR t.oid IN (SELECT pt.relid FROM pg_partition_tree(c.oid) AS pt WHERE pt.isleaf)
        ) AS sz
        WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f')
          AND NOT c.relispartition
          AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'public', 'cron')
          AND n.nspname !~ '^pg_'
    ) AS x(r);

    RETURN jsonb_build_object(
        'generated_at', now(),
        'database', current_database(),
        'server_version', current_setting('server_version'),
        'areas', (
            SELECT COALESCE(jsonb_agg(jsonb_build_object(
                       'area', a.area,
                       'description', a.description,
                       'registered_at', a.registered_at,
                       'tables', (SELECT COALESCE(jsonb_agg(jsonb_build_object('table', t.table_name, 'layer', t.layer,
                                                                              'description', t.description)
                                                            ORDER BY t.table_name), '[]')
                                  FROM dwh_etl.table_registry AS t WHERE t.area = a.area)) ORDER BY a.area), '[]')
            FROM dwh_etl.areas AS a),
        'schemas', (
            SELECT COALESCE(jsonb_agg(jsonb_build_object('schema', n.nspname,
                                                         'comment', obj_description(n.oid, 'pg_namespace'))
                                      ORDER BY n.nspname), '[]')
            FROM pg_namespace AS n
            WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'public', 'cron')
              AND n.nspname !~ '^pg_'),
        'relations', v_relations,
        'dimensions', (
            SELECT COALESCE(jsonb_agg(jsonb_build_object(
                       'dimension', d.dimension_name, 'target', d.target_table, 'area', d.area,
                       'surrogate_key', d.surrogate_key, 'natural_key', to_jsonb(d.natural_key),
                       'type2_columns', to_jsonb(d.type2_columns), 'type1_columns', to_jsonb(d.type1_columns),
                       'change_ts_column', d.change_ts_column, 'deleted_flag_column', d.deleted_flag_column,
                       'delete_policy', d.delete_policy, 'type1_scope', d.type1_scope,
                       'description', d.description) ORDER BY d.dimension_name), '[]')
            FROM dwh_etl.dimension_specs AS d),
        'table_edges', (
            SELECT COALESCE(jsonb_agg(jsonb_build_object(
                       'source', g.source, 'target', g.target, 'dependency_type', g.dependency_type,
                       'source_layer', g.source_layer, 'target_layer', g.target_layer)
                       ORDER BY g.source, g.target), '[]')
            FROM dwh_lineage.v_dependency_graph AS g),
        'column_lineage', (
            SELECT COALESCE(jsonb_agg(jsonb_build_object(
                       'source_table', l.source_table, 'source_column', l.source_column,
                       'target_table', l.target_table, 'target_column', l.target_column,
                       'transformation', l.transformation, 'step', l.step_name, 'is_key', l.is_key)
                       ORDER BY l.target_table, l.target_column, l.source_table, l.source_column), '[]')
            FROM dwh_lineage.column_lineage AS l
            WHERE l.lineage_id IS NULL),
        'pipelines', (
            SELECT COALESCE(jsonb_agg(jsonb_build_object(
                       'pipeline', p.pipeline_name,
                       'description', p.description,
                       'area', p.area,
                       'is_active', p.is_active,
                       'schedules', (SELECT COALESCE(jsonb_agg(jsonb_build_object(
                                                'cron', e, 'next_run', dwh_etl._cron_next(e, now()))), '[]')
                                     FROM unnest(p.schedules) AS e),
                       'steps', (
                           SELECT COALESCE(jsonb_agg(jsonb_build_object(
                                      'step', s.step_name, 'kind', s.kind, 'layer', s.layer, 'area', s.area,
                                      'procedure', s.procedure_name, 'depends_on', to_jsonb(s.depends_on),
                                      'sources', to_jsonb(s.source_tables), 'targets', to_jsonb(s.target_tables),
                                      'enabled', s.is_enabled, 'description', s.description, 'depth', o.depth)
                                      ORDER BY o.depth, s.step_name), '[]')
                           FROM dwh_etl.steps AS s
                           LEFT JOIN dwh_etl._ordered_steps(p.pipeline_name) AS o ON o.step_name = s.step_name
                           WHERE s.pipeline_name = p.pipeline_name),
                       'runs', (
                           SELECT COALESCE(jsonb_agg(jsonb_build_object(
                                      'run_id', r.run_id, 'status', r.status, 'run_date', r.run_date,
                                      'started_at', r.started_at, 'completed_at', r.completed_at,
                                      'seconds', round(EXTRACT(EPOCH FROM (r.completed_at - r.started_at))::numeric, 3),
                                      'error', r.error_message,
                                      'rows_written', (SELECT sum(sr.rows_written) FROM dwh_lineage.step_runs AS sr
                                                       WHERE sr.run_id = r.run_id)) ORDER BY r.run_id), '[]')
                           FROM (SELECT pr.* FROM dwh_lineage.pipeline_runs AS pr
                                 WHERE pr.pipeline_name = p.pipeline_name
                                 ORDER BY pr.run_id DESC LIMIT p_runs) AS r),
                       'last_run_steps', (
                           SELECT COALESCE(jsonb_agg(jsonb_build_object(
                                      'step', sr.step_name, 'status', sr.status, 'ms', sr.duration_ms,
                                      'rows_read', sr.rows_read, 'rows_written', sr.rows_written,
                                      'error', sr.error_message) ORDER BY sr.step_order), '[]')
                           FROM dwh_lineage.step_runs AS sr
                           WHERE sr.run_id = (SELECT max(pr.run_id) FROM dwh_lineage.pipeline_runs AS pr
                                              WHERE pr.pipeline_name = p.pipeline_name))
                   ) ORDER BY p.pipeline_name), '[]')
            FROM dwh_etl.pipelines AS p),
        'quality', (
            SELECT COALESCE(jsonb_agg(jsonb_build_object(
                       'rule', q.rule_name, 'table', q.table_name, 'type', q.rule_type,
                       'columns', to_jsonb(q.column_names), 'params', q.params, 'severity', q.severity,
                       'scope', q.scope, 'enabled', q.is_enabled, 'area', q.area, 'description', q.description,
                       'history', (
                           SELECT COALESCE(jsonb_agg(jsonb_build_object(
                                      'passed', h.passed, 'value', h.metric_value, 'threshold', h.threshold,
                                      'measured_at', h.measured_at, 'run_id', h.run_id,
                                      'scope', h.details->>'scope') ORDER BY h.measured_at DESC, h.id DESC), '[]')
                           FROM (SELECT m.* FROM dwh_lineage.quality_metrics AS m
                                 WHERE m.table_name = q.table_name AND m.metric_name = q.rule_name
                                 ORDER BY m.measured_at DESC, m.id DESC LIMIT p_history) AS h)
                   ) ORDER BY q.table_name, q.rule_name), '[]')
            FROM dwh_etl.quality_rules AS q),
        'freshness', (
            SELECT COALESCE(jsonb_agg(to_jsonb(f)), '[]')
            FROM dwh_etl.freshness_sla() AS f)
    );
END;
$$;
COMMENT ON FUNCTION dwh_lineage.catalog(integer, integer, bigint) IS 'The data catalog as one jsonb document (areas, schemas, relations with columns, keys, comments, rows and size, SCD specs, table and column lineage, pipelines with steps and runs, quality rules with history, freshness): what dwh docs generate renders.';
REVOKE EXECUTE ON FUNCTION dwh_lineage.catalog(integer, integer, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION dwh_lineage.catalog(integer, integer, bigint) TO etl_service;
