-- The GitHub pull request elements of bronze, unpacked to silver's column names (as text): nested
-- fields from _raw_payload, the issue number from "Closes #N" in the body, else the head branch issue-N.
CREATE OR REPLACE VIEW devflow._bronze_pull_requests AS
SELECT b._bronze_id,
       b._ingested_at,
       b.number AS pr_number,
       -- GitHub's closing keywords as words (\m: a word starts), not inside one: "unresolved #4" and
       -- "prefixes #4" name no issue to close (attack 14b)
       COALESCE(substring(b.body FROM '(?i)\m(?:close[sd]?|fix(?:e[sd])?|resolve[sd]?) #(\d+)'),
                substring(b._raw_payload->'head'->>'ref' FROM 'issue-(\d+)')) AS issue_number,
       b.state,
       b.title,
       b._raw_payload->'user'->>'login' AS author,
       b._raw_payload->'head'->>'ref'   AS head_ref,
       b._raw_payload->'head'->>'sha'   AS head_sha,
       b.draft,
       b.merged,
       b.additions,
       b.deletions,
       b.changed_files,
       b.created_at,
       b.updated_at,
       b.closed_at,
       b.merged_at
FROM bronze.devflow_pull_requests AS b;
COMMENT ON VIEW devflow._bronze_pull_requests IS 'bronze.devflow_pull_requests unpacked for the silver step devflow_silver_pull_requests (dwh_etl.step_silver).';
