-- depends: 0012_runner_robustness
-- Typed steps (issue 10, first slice): a step has a kind and a spec. For every kind but `custom` the
-- runner calls the engine's routine dwh_etl.step_<kind>(p_run_id, p_run_date, p_spec) with the step's
-- spec (which tables, which setting names the source schema, which view...); only `custom` calls an
-- area procedure (p_run_id, p_run_date) as before. An area declares its extraction and its mart
-- refreshes as data instead of writing a procedure for each. procedure_name stays filled (the engine
-- routine) so run history and status read the same.
ALTER TABLE dwh_etl.steps
    ADD COLUMN kind text NOT NULL DEFAULT 'custom',
    ADD COLUMN spec jsonb NOT NULL DEFAULT '{}'::jsonb,
    ADD CONSTRAINT steps_kind_ck CHECK (kind IN ('extract', 'silver', 'dimension', 'fact', 'mart', 'custom')),
    ADD CONSTRAINT steps_kind_procedure_ck CHECK (kind = 'custom' OR procedure_name = 'dwh_etl.step_' || kind),
    ADD CONSTRAINT steps_spec_ck CHECK (jsonb_typeof(spec) = 'object');
COMMENT ON COLUMN dwh_etl.steps.kind IS 'What the step does: extract, silver, dimension, fact, mart (the engine''s dwh_etl.step_<kind> runs it with spec) or custom (procedure_name, an area procedure (p_run_id bigint, p_run_date date)).';
COMMENT ON COLUMN dwh_etl.steps.spec IS 'The step''s settings for its kind''s engine routine (see dwh_etl.step_<kind>); {} for custom steps.';

-- The area procedures these kinds replace (their steps are re-registered as data by procedures/registry/).
DROP PROCEDURE IF EXISTS sales.extract_source(bigint, date);
DROP PROCEDURE IF EXISTS sales.refresh_customer_ltv(bigint, date);
DROP PROCEDURE IF EXISTS devflow.extract_entities(bigint, date);
DROP PROCEDURE IF EXISTS devflow.extract_events(bigint, date);
DROP PROCEDURE IF EXISTS devflow.refresh_mart_agent_performance(bigint, date);
DROP PROCEDURE IF EXISTS devflow.refresh_mart_development_performance(bigint, date);
DROP PROCEDURE IF EXISTS devflow.refresh_mart_infrastructure_cost(bigint, date);
