-- Column lineage derived from the registry (issue 16): which source column feeds which target column,
-- for every registered step, without running anything. The engine knows it from each typed step's spec
-- and from PostgreSQL's own catalog of the views those specs name:
--   extract    the source table's column -> the bronze column of the same name (spec "tables");
--   silver     the typing view's column -> the silver column of the same name (spec "source", "loads");
--              without a typing view (typing "engine"), bronze's column of the same name;
--   dimension  the change view's column -> the dimension's column of the same name; the change
--              timestamp -> valid_from (dwh_etl.dimension_specs);
--   fact       the fact view's column -> the fact's column of the same name; each lookup's surrogate
--              key from its dimension, looked up by the view's natural key columns; the date key from
--              the event time (spec "lookups", "date_key", "event_time");
--   mart       the rows view's column -> the mart's column (a materialized view is its own source);
--   custom     what the area declares on the step entry: "columns": {"<target table>.<column>":
--              ["<source table>.<column>", ...]} (or {"from": [...], "how": "sum"}); every other target
--              column: the same-named column of the step's source tables.
-- The views fact and mart steps read and materialized views are read precisely: each column from the
-- columns its expression uses, through joins, sub-selects and CTEs of the view's stored query tree
-- (_view_column_sources: lifetime_value from sum(line_total)). Below the other views a step reads
-- (typing views, views of views), pg_depend names the base columns the view's query references and a
-- view column takes its lineage from the referenced column of the same name (reading a tree costs
-- ~50 ms a view); a column computed there under a new name ends at the view, whose SQL the docs show.
-- Example: SELECT * FROM dwh_lineage.derive_column_lineage('sales') WHERE target_table = 'sales.fact_sales';
CREATE OR REPLACE FUNCTION dwh_lineage.derive_column_lineage(
    p_area text DEFAULT NULL
)
RETURNS TABLE (
    step_name      text,
    area           text,
    source_table   text,
    source_column  text,
    target_table   text,
    target_column  text,
    transformation text,
    is_key         boolean
)
LANGUAGE sql
STABLE
SET search_path = dwh_lineage, pg_temp
-- a catalog query the planner overprices: JIT compiling it took 0.8 s of a 0.9 s call
SET jit = off
AS $$
    WITH RECURSIVE
    step AS (
        -- a step shared by pipelines is one step: its spec is the same in each
        SELECT DISTINCT ON (s.step_name) s.step_name, s.area, s.kind, s.spec, s.source_tables, s.target_tables
        FROM dwh_etl.steps AS s
        WHERE p_area IS NULL OR s.area = p_area
        ORDER BY s.step_name, s.pipeline_name
    ),
    -- a custom step's declared columns, from its entry in the area's spec
    declared AS (
        SELECT dc.step_name, dc.area, dc.source_table, dc.source_column, dc.target_table, dc.target_column, dc.transformation
        FROM dwh_lineage._declared_columns(p_area) AS dc
        JOIN step AS st ON st.step_name = dc.step_name AND st.kind = 'custom'
    ),
    -- (step, target relation, relation whose same-named columns feed it)
    reads (step_name, area, target_table, source_table, how) AS (
        SELECT st.step_name, st.area, t->>1,
               COALESCE((SELECT g.value FROM dwh_etl.settings AS g WHERE g.key = st.spec->>'schema_setting'),
                        st.spec->>'default_schema') || '.' || (t->>0), 'same name'
        FROM step AS st
        CROSS JOIN LATERAL jsonb_array_elements(COALESCE(st.spec->'tables', '[]')) AS t
        WHERE st.kind = 'extract'
        UNION ALL
        -- typing "engine" (no source view): bronze's text column cast to the silver column's type
        SELECT st.step_name, st.area, l->>'target', COALESCE(l->>'source', l->>'bronze'),
               CASE WHEN l ? 'source' THEN 'same name' ELSE 'typed from text' END
        FROM step AS st
        CROSS JOIN LATERAL jsonb_array_elements(
            CASE WHEN jsonb_typeof(st.spec->'loads') = 'array' THEN st.spec->'loads' ELSE jsonb_build_array(st.spec) END) AS l
        WHERE st.kind = 'silver'
        UNION ALL
        SELECT st.step_name, st.area, d.target_table, x->>'view', 'same name'
        FROM step AS st
        CROSS JOIN LATERAL jsonb_array_elements(
            CASE WHEN jsonb_typeof(st.spec->'dimensions') = 'array' THEN st.spec->'dimensions' ELSE jsonb_build_array(st.spec) END) AS x
        JOIN dwh_etl.dimension_specs AS d ON d.dimension_name = x->>'dimension'
        WHERE st.kind = 'dimension'
        UNION ALL
        SELECT st.step_name, st.area, st.spec->>'target', st.spec->>'view', 'same name'
        FROM step AS st
        WHERE st.kind = 'fact'
        UNION ALL
        SELECT st.step_name, st.area, st.spec->>'table', st.spec->>'view', 'same name'
        FROM step AS st
        WHERE st.kind = 'mart' AND st.spec ? 'table'
        UNION ALL
        SELECT st.step_name, st.area, t.t, s.s, 'same name'
        FROM step AS st
        CROSS JOIN LATERAL unnest(st.target_tables) AS t(t)
        CROSS JOIN LATERAL unnest(st.source_tables) AS s(s)
        WHERE st.kind = 'custom'
    ),
    -- every view or materialized view a step reads or writes (a mart's materialized view), and the
    -- views below them
    viewrel (step_name, area, oid) AS (
        SELECT r.step_name, r.area, v.oid
        FROM (SELECT rd.step_name, rd.area, rd.source_table AS rel FROM reads AS rd
              UNION
              SELECT st.step_name, st.area, st.spec->>'view' FROM step AS st WHERE st.kind = 'mart' AND NOT st.spec ? 'table'
              UNION
              SELECT st.step_name, st.area, t.t FROM step AS st CROSS JOIN LATERAL unnest(st.target_tables) AS t(t)) AS r
        JOIN pg_class AS v ON v.oid = to_regclass(r.rel) AND v.relkind IN ('v', 'm')
        UNION
        SELECT vr.step_name, vr.area, dep.refobjid
        FROM viewrel AS vr
        JOIN pg_rewrite AS rw ON rw.ev_class = vr.oid
        JOIN pg_depend AS dep
          ON dep.classid = 'pg_rewrite'::regclass AND dep.objid = rw.oid
         AND dep.refclassid = 'pg_class'::regclass AND dep.refobjid <> vr.oid
        JOIN pg_class AS c ON c.oid = dep.refobjid AND c.relkind IN ('v', 'm')
    ),
    -- the views whose computed columns are worth reading the query tree for: what fact and mart steps
    -- read and the materialized views they refresh (measures, keys); reading a tree costs ~50 ms
    computed_views AS (
        SELECT DISTINCT vr.step_name, vr.area, vr.oid
        FROM viewrel AS vr
        JOIN step AS st ON st.step_name = vr.step_name
        JOIN pg_class AS c ON c.oid = vr.oid
        WHERE st.kind IN ('fact', 'mart') AND (c.oid = to_regclass(st.spec->>'view') OR c.relkind = 'm')
    ),
    parsed AS (
        SELECT cv.step_name, cv.area, cv.oid, vn.nspname || '.' || vc.relname AS view_name,
               vs.target_column, vs.source_table, vs.source_column, vs.transformation
        FROM computed_views AS cv
        JOIN pg_class AS vc ON vc.oid = cv.oid
        JOIN pg_namespace AS vn ON vn.oid = vc.relnamespace
        CROSS JOIN LATERAL dwh_lineage._view_column_sources(cv.oid) AS vs
    ),
    edges (step_name, area, source_table, source_column, target_table, target_column, transformation, rank) AS (
        -- by name, along what the steps read
        SELECT rd.step_name, rd.area, rd.source_table, sa.attname::text, rd.target_table, ta.attname::text, rd.how, 3
        FROM reads AS rd
        JOIN pg_attribute AS ta ON ta.attrelid = to_regclass(rd.target_table) AND ta.attnum > 0 AND NOT ta.attisdropped
        JOIN pg_attribute AS sa
          ON sa.attrelid = to_regclass(rd.source_table) AND sa.attnum > 0 AND NOT sa.attisdropped AND sa.attname = ta.attname
        UNION ALL
        -- inside views: a view column from the referenced base column of the same name
        SELECT DISTINCT vr.step_name, vr.area, sn.nspname || '.' || sc.relname, sa.attname::text,
               vn.nspname || '.' || vc.relname, va.attname::text, 'same name', 4
        FROM viewrel AS vr
        JOIN pg_class AS vc ON vc.oid = vr.oid
        JOIN pg_namespace AS vn ON vn.oid = vc.relnamespace
        JOIN pg_rewrite AS rw ON rw.ev_class = vr.oid
        JOIN pg_depend AS dep
          ON dep.classid = 'pg_rewrite'::regclass AND dep.objid = rw.oid
         AND dep.refclassid = 'pg_class'::regclass AND dep.refobjid <> vr.oid AND dep.refobjsubid > 0
        JOIN pg_class AS sc ON sc.oid = dep.refobjid
        JOIN pg_namespace AS sn ON sn.oid = sc.relnamespace
        JOIN pg_attribute AS sa ON sa.attrelid = dep.refobjid AND sa.attnum = dep.refobjsubid
        JOIN pg_attribute AS va ON va.attrelid = vr.oid AND va.attnum > 0 AND NOT va.attisdropped AND va.attname = sa.attname
        WHERE NOT EXISTS (SELECT 1 FROM parsed AS p WHERE p.oid = vr.oid)   -- its query tree says better
        UNION ALL
        -- inside those views: each column from the columns its expression uses (the query tree)
        SELECT p.step_name, p.area, p.source_table, p.source_column, p.view_name, p.target_column, p.transformation, 4
        FROM parsed AS p
        UNION ALL
        -- fact lookups: the surrogate key from its dimension, by the view's natural key columns
        SELECT st.step_name, st.area, lk.dim_table, lk.dim_key, st.spec->>'target', lk.fact_key,
               format('lookup by %s in %s', array_to_string(lk.by_columns, ', '), lk.dim_table), 1
        FROM step AS st
        CROSS JOIN LATERAL jsonb_array_elements(COALESCE(st.spec->'lookups', '[]')) AS l
        LEFT JOIN dwh_etl.dimension_specs AS d ON d.dimension_name = l->>'dimension'
        CROSS JOIN LATERAL (
            SELECT COALESCE(d.target_table, l->>'table')                           AS dim_table,
                   COALESCE(d.surrogate_key, l->>'surrogate_key')                  AS dim_key,
                   COALESCE(l->>'key', d.surrogate_key, l->>'surrogate_key')       AS fact_key,
                   COALESCE(NULLIF(ARRAY(SELECT jsonb_array_elements_text(l->'columns')), '{}'),
                            NULLIF(ARRAY(SELECT jsonb_array_elements_text(l->'natural_key')), '{}'),
                            d.natural_key)                                         AS by_columns
        ) AS lk
        WHERE st.kind = 'fact'
        UNION ALL
        SELECT st.step_name, st.area, st.spec->>'view', k.col, st.spec->>'target', lk.fact_key,
               format('lookup key of %s in %s', lk.fact_key, lk.dim_table), 2
        FROM step AS st
        CROSS JOIN LATERAL jsonb_array_elements(COALESCE(st.spec->'lookups', '[]')) AS l
        LEFT JOIN dwh_etl.dimension_specs AS d ON d.dimension_name = l->>'dimension'
        CROSS JOIN LATERAL (
            SELECT COALESCE(d.target_table, l->>'table')                           AS dim_table,
                   COALESCE(l->>'key', d.surrogate_key, l->>'surrogate_key')       AS fact_key,
                   COALESCE(NULLIF(ARRAY(SELECT jsonb_array_elements_text(l->'columns')), '{}'),
                            NULLIF(ARRAY(SELECT jsonb_array_elements_text(l->'natural_key')), '{}'),
                            d.natural_key)                                         AS by_columns
        ) AS lk
        CROSS JOIN LATERAL unnest(lk.by_columns) AS k(col)
        WHERE st.kind = 'fact'
        UNION ALL
        -- a fact's date key from its event time
        SELECT st.step_name, st.area, st.spec->>'view', st.spec->>'event_time', st.spec->>'target', st.spec->>'date_key',
               format('date key of %s', st.spec->>'event_time'), 1
        FROM step AS st
        WHERE st.kind = 'fact' AND st.spec ? 'date_key' AND st.spec ? 'event_time'
        UNION ALL
        -- a dimension version starts at its change time
        SELECT rd.step_name, rd.area, rd.source_table, d.change_ts_column, d.target_table, 'valid_from',
               format('version starts at %s', d.change_ts_column), 1
        FROM reads AS rd
        JOIN step AS st ON st.step_name = rd.step_name AND st.kind = 'dimension'
        JOIN dwh_etl.dimension_specs AS d ON d.target_table = rd.target_table
        WHERE d.change_ts_column IS NOT NULL
        UNION ALL
        SELECT dc.step_name, dc.area, dc.source_table, dc.source_column, dc.target_table, dc.target_column, dc.transformation, 0
        FROM declared AS dc
    ),
    kept AS (
        -- a custom step's declared column replaces its by-name guess; only columns that exist
        SELECT DISTINCT ON (e.step_name, e.source_table, e.source_column, e.target_table, e.target_column)
               e.step_name, e.area, e.source_table, e.source_column, e.target_table, e.target_column, e.transformation,
               tr.oid AS target_oid
        FROM edges AS e
        CROSS JOIN LATERAL (SELECT to_regclass(e.target_table)::oid AS oid) AS tr
        WHERE e.source_column IS NOT NULL
          AND EXISTS (SELECT 1 FROM pg_attribute AS ta
                      WHERE ta.attrelid = tr.oid AND ta.attname = e.target_column AND ta.attnum > 0 AND NOT ta.attisdropped)
          AND (e.rank = 0 OR NOT EXISTS (
                  SELECT 1 FROM declared AS dc
                  WHERE dc.step_name = e.step_name AND dc.target_table = e.target_table AND dc.target_column = e.target_column))
        ORDER BY e.step_name, e.source_table, e.source_column, e.target_table, e.target_column, e.rank
    )
    SELECT k.step_name, k.area, k.source_table, k.source_column, k.target_table, k.target_column, k.transformation,
           EXISTS (SELECT 1
                   FROM pg_index AS i
                   JOIN pg_attribute AS a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
                   WHERE i.indrelid = k.target_oid AND i.indisprimary AND a.attname = k.target_column)
           OR EXISTS (SELECT 1 FROM dwh_etl.dimension_specs AS d
                      WHERE d.target_table = k.target_table
                        AND (k.target_column = ANY (d.natural_key) OR k.target_column = d.surrogate_key))
    FROM kept AS k
    ORDER BY k.target_table, k.target_column, k.source_table, k.source_column;
$$;
COMMENT ON FUNCTION dwh_lineage.derive_column_lineage(text) IS 'Column lineage of every registered step (of p_area, or all), derived from the step specs, the areas'' declared custom-step columns and the views'' dependencies (pg_depend); stored by refresh_column_lineage.';
REVOKE EXECUTE ON FUNCTION dwh_lineage.derive_column_lineage(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION dwh_lineage.derive_column_lineage(text) TO etl_service;
