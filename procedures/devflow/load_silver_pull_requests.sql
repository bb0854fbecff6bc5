-- Step (silver): GitHub pull requests, latest state per number.
CREATE OR REPLACE PROCEDURE devflow.load_silver_pull_requests(
    p_run_id   bigint,
    p_run_date date
)
LANGUAGE plpgsql
SET search_path = devflow, pg_temp
AS $$
BEGIN
    PERFORM devflow._load_silver('devflow._bronze_pull_requests', 'bronze.devflow_pull_requests', 'silver.devflow_pull_requests',
        '{pr_number}', 'updated_at',
        ARRAY[$c$CASE WHEN t.state NOT IN ('open', 'closed') THEN 'state ' || devflow._quote(t.state) || ' is not open or closed' END$c$],
        p_run_date);
END;
$$;
COMMENT ON PROCEDURE devflow.load_silver_pull_requests(bigint, date) IS 'Step: bronze GitHub pull requests -> silver.devflow_pull_requests.';
