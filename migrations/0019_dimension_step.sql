-- depends: 0016_step_kinds
-- Step kind `dimension` (issue 10): every gold dimension load is a typed step run by the engine's
-- dwh_etl.step_dimension (window -> stage -> apply_dimension -> watermark, written once) with a spec that
-- names the registered dimension and the area's view (procedures/sales/dim_*_changes.sql,
-- procedures/devflow/dim_*_changes.sql). The area procedures it replaces are dropped; their steps are
-- re-registered as data by procedures/registry/ (same step names, dependencies, sources and targets).
DROP PROCEDURE IF EXISTS sales.load_dim_customer(bigint, date);
DROP PROCEDURE IF EXISTS sales.load_dim_product(bigint, date);
DROP PROCEDURE IF EXISTS devflow.load_dimensions(bigint, date);
