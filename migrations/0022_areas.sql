-- depends: 0016_step_kinds
-- Subject areas as data (issue 10): an area is a row of dwh_etl.areas, written with everything else it
-- declares by ONE call, dwh_etl.register_area(area, spec). The registry rows an area owns carry its name,
-- so a new call can remove what the spec no longer lists: dimension specs and area pipelines get an
-- `area` column here (tables, steps and quality rules have one already).
CREATE TABLE dwh_etl.areas (
    area            text NOT NULL,
    description     text,
    demo            jsonb NOT NULL DEFAULT '{}'::jsonb,
    spec            jsonb NOT NULL DEFAULT '{}'::jsonb,
    registered_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT areas_pk PRIMARY KEY (area),
    CONSTRAINT areas_name_ck CHECK (area ~ '^[a-z][a-z0-9_]*$'),
    CONSTRAINT areas_demo_ck CHECK (jsonb_typeof(demo) = 'object'),
    CONSTRAINT areas_spec_ck CHECK (jsonb_typeof(spec) = 'object')
);
COMMENT ON TABLE dwh_etl.areas IS 'Subject areas of the warehouse, each declared by one CALL dwh_etl.register_area(area, spec); spec is the last one registered.';
COMMENT ON COLUMN dwh_etl.areas.demo IS 'How `dwh demo` fills the area''s demo source: {"generate": procedure, "args": {...}, "next_day": procedure, "generated_when": table that has rows once generated, "order": n}. {}: the area has no demo source.';
COMMENT ON COLUMN dwh_etl.areas.spec IS 'The jsonb spec of the last dwh_etl.register_area call (settings, tables, dimensions, pipelines, steps, rules).';

-- Registry: the owner writes it, etl_service reads it, analysts do not see it (as 0008 does for the others).
REVOKE ALL ON dwh_etl.areas FROM analyst_role, PUBLIC;
REVOKE INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER ON dwh_etl.areas FROM etl_service;
GRANT SELECT ON dwh_etl.areas TO etl_service;

ALTER TABLE dwh_etl.dimension_specs ADD COLUMN area text;
COMMENT ON COLUMN dwh_etl.dimension_specs.area IS 'The subject area that declared this dimension (register_area removes the ones its spec no longer lists); NULL: declared outside any area.';
UPDATE dwh_etl.dimension_specs AS d
SET area = r.area
FROM dwh_etl.table_registry AS r
WHERE r.table_name = d.target_table;

ALTER TABLE dwh_etl.pipelines ADD COLUMN area text;
COMMENT ON COLUMN dwh_etl.pipelines.area IS 'The subject area that owns this pipeline (e.g. devflow_hourly); NULL: an engine pipeline that areas add steps to (daily, incremental, maintenance).';
UPDATE dwh_etl.pipelines SET area = 'devflow' WHERE pipeline_name IN ('devflow_hourly', 'devflow_5min', 'devflow_weekly');
