-- (file named kpi__status.sql so it sorts before the kpi_ views that call it; the marts' rows functions
-- call it too)
-- The one status vocabulary of citizen.fct_data_quality and citizen.fct_system_performance (the seed had
-- pass/warning/fail for one and normal/warning/critical for the other): good when the value is at least as
-- good as the metric's threshold_good, warning when it is at least as good as threshold_warning, critical
-- otherwise; "as good as" is >= for a metric where higher is better and <= otherwise. A metric without
-- thresholds (a load such as request_count) is measured, not judged: NULL.
CREATE OR REPLACE FUNCTION citizen.kpi_status(
    p_value            numeric,
    p_higher_is_better boolean,
    p_good             numeric,
    p_warning          numeric
)
RETURNS text
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
-- No SET clause: it would stop the planner from inlining this into the rows views.
AS $$
    SELECT CASE
        WHEN p_value IS NULL OR p_good IS NULL THEN NULL
        WHEN (p_higher_is_better AND p_value >= p_good) OR (NOT p_higher_is_better AND p_value <= p_good) THEN 'good'
        WHEN (p_higher_is_better AND p_value >= p_warning) OR (NOT p_higher_is_better AND p_value <= p_warning) THEN 'warning'
        ELSE 'critical'
    END;
$$;
COMMENT ON FUNCTION citizen.kpi_status(numeric, boolean, numeric, numeric) IS 'good / warning / critical of a measured value against a metric''s thresholds (dim_quality_metric: higher_is_better, threshold_good, threshold_warning); NULL when the metric has no thresholds.';
REVOKE EXECUTE ON FUNCTION citizen.kpi_status(numeric, boolean, numeric, numeric) FROM PUBLIC;
-- analysts too: the KPI views call it (a view runs the functions it calls with the reader's rights); it
-- reads nothing
GRANT EXECUTE ON FUNCTION citizen.kpi_status(numeric, boolean, numeric, numeric) TO etl_service, analyst_role;
