-- depends: 0036_comments
-- Column lineage (issue 16). dwh_lineage.column_lineage (seed 002) had no writer: the seed meant one row
-- per (run, source column, target column), tied to a table_lineage row by lineage_id. What feeds a
-- column does not change from run to run, it changes when a step's spec or view changes, so the engine
-- writes it when an area is registered (dwh_lineage.refresh_column_lineage, called by register_area):
-- one row per (step, source column, target column) with lineage_id NULL ("registered lineage, valid for
-- every run of the step"). lineage_id stays for a per-run row, as the seed had it.
--
-- The columns below name both ends, so a row means something without its table_lineage row.
ALTER TABLE dwh_lineage.column_lineage
    ADD COLUMN step_name    text,
    ADD COLUMN area         text,
    ADD COLUMN source_table text,
    ADD COLUMN target_table text;

CREATE INDEX column_lineage_target_idx ON dwh_lineage.column_lineage (target_table, target_column);
CREATE INDEX column_lineage_source_idx ON dwh_lineage.column_lineage (source_table, source_column);

COMMENT ON TABLE dwh_lineage.column_lineage IS 'Column-level lineage: which source column feeds which target column, and how (seed 002). Rows with lineage_id NULL are registered lineage (dwh_lineage.refresh_column_lineage, from the step registry and the views steps read), valid for every run; query with dwh_lineage.column_upstream / column_downstream.';
COMMENT ON COLUMN dwh_lineage.column_lineage.lineage_id IS 'The table_lineage row (one run of one step) this row belongs to; NULL for registered lineage, true of every run of step_name.';
COMMENT ON COLUMN dwh_lineage.column_lineage.step_name IS 'The step that moves the data (for a view the step reads, the step reading it).';
COMMENT ON COLUMN dwh_lineage.column_lineage.area IS 'Subject area of the step (dwh_etl.areas).';
COMMENT ON COLUMN dwh_lineage.column_lineage.source_table IS 'Relation (schema.name: table, view or materialized view) holding source_column.';
COMMENT ON COLUMN dwh_lineage.column_lineage.target_table IS 'Relation (schema.name) holding target_column.';
COMMENT ON COLUMN dwh_lineage.column_lineage.source_column IS 'Column of source_table that feeds target_column.';
COMMENT ON COLUMN dwh_lineage.column_lineage.target_column IS 'Column of target_table that is fed.';
COMMENT ON COLUMN dwh_lineage.column_lineage.transformation IS 'How: "same name" (copied or typed through a view), "lookup" (surrogate key looked up in a dimension), "date key of <column>", or what the area declared for a custom step.';
COMMENT ON COLUMN dwh_lineage.column_lineage.is_key IS 'The target column is (part of) the target''s primary key or natural key.';
