-- Seed 002: edges of the dependency graph with their layers. Fixed from the seed: layers come from
-- the registry (dwh_etl.table_registry), not from name prefixes, which miss every area schema.
CREATE OR REPLACE VIEW dwh_lineage.v_dependency_graph AS
SELECT d.upstream_table                 AS source,
       d.downstream_table               AS target,
       d.dependency_type,
       COALESCE(src.layer, 'external')  AS source_layer,
       COALESCE(tgt.layer, 'external')  AS target_layer
FROM dwh_lineage.table_dependencies AS d
LEFT JOIN dwh_etl.table_registry AS src
  ON src.table_name = d.upstream_table
LEFT JOIN dwh_etl.table_registry AS tgt
  ON tgt.table_name = d.downstream_table
ORDER BY source_layer, target_layer, source, target;
COMMENT ON VIEW dwh_lineage.v_dependency_graph IS 'Edges of the table dependency graph with each end''s layer, for lineage diagrams (seed 002).';
