-- Step (bronze): new GitHub pull request payloads (pulls?state=all&since=) -> bronze.devflow_pull_requests.
CREATE OR REPLACE PROCEDURE devflow.ingest_pull_requests(
    p_run_id   bigint,
    p_run_date date
)
LANGUAGE plpgsql
SET search_path = devflow, pg_temp
AS $$
BEGIN
    PERFORM devflow._ingest_feed('github_pulls', 'bronze.devflow_pull_requests', 'github', p_run_date, p_run_id);
END;
$$;
COMMENT ON PROCEDURE devflow.ingest_pull_requests(bigint, date) IS 'Step: land new GitHub pull request payloads in bronze (dwh_etl.ingest_json).';
