-- depends: 0016_step_kinds
-- Silver as data (issue 10): every silver step of sales and devflow is a `"kind": "silver"` step whose
-- spec the engine's one loader runs (dwh_etl.step_silver -> dwh_etl._load_silver: window, typing, checks,
-- quarantine, tombstones, upsert or SCD2, reconciliation, lineage, watermark). The area procedures it
-- replaces are dropped here; their steps are re-registered as data by procedures/registry/, and what the
-- areas still need is views (sales._typed_*, devflow._bronze_*). The devflow helpers of the old loader
-- moved into the engine: dwh_etl.is_blank, reason_length, quarantine_key, try_jsonb, try_text_array,
-- quote_reason (devflow._quote stays for the feed ingestion).
DROP PROCEDURE IF EXISTS sales.load_silver_customers(bigint, date);
DROP PROCEDURE IF EXISTS sales.load_silver_products(bigint, date);
DROP PROCEDURE IF EXISTS sales.load_silver_sales(bigint, date);
DROP PROCEDURE IF EXISTS devflow.load_silver_entities(bigint, date);
DROP PROCEDURE IF EXISTS devflow.load_silver_events(bigint, date);
DROP PROCEDURE IF EXISTS devflow.load_silver_pull_requests(bigint, date);
DROP PROCEDURE IF EXISTS devflow.load_silver_metrics(bigint, date);
DROP FUNCTION IF EXISTS devflow._load_silver(text, text, text, text[], text, text[], date);
DROP FUNCTION IF EXISTS devflow._is_blank(text);
DROP FUNCTION IF EXISTS devflow._check_length(text, text, integer);
DROP FUNCTION IF EXISTS devflow._record_key(text);
DROP FUNCTION IF EXISTS devflow._try_jsonb(text);
DROP FUNCTION IF EXISTS devflow._try_text_array(text);
