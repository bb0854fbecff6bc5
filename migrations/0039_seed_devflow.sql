-- depends: 0038_seed_sales
-- Seed 000 (devflow), what its users reach for and did not find (issue 18):
--
-- 1. The Type 1 dimensions accept the seed's own writes. Its load scripts do
--      INSERT INTO dim_agent (agent_id, agent_name, ...) VALUES (...)
--      ON CONFLICT (agent_id) DO UPDATE SET agent_name = EXCLUDED.agent_name, ...
--    which needs a unique index on exactly (agent_id) to infer (the partial "one current row per key"
--    index does not match an ON CONFLICT without its WHERE), and a plain INSERT needs defaults for the
--    engine's columns (valid_from, is_current, version, _batch_id). dim_agent, dim_label and dim_worktree
--    are Type 1 only (no Type 2 column, no deleted flag: dwh_etl.dimension_specs), so the engine keeps
--    exactly one row per key in them: a UNIQUE on the natural key states that, and the engine would fail
--    loudly (23505) rather than open a second version if its spec ever changed. The SCD2 dimensions
--    (dim_issue, dim_infrastructure) are untouched: versions keep one row per (key, version).
--    Defaults: valid_from = now() (valid since it was written), is_current = true, version = 1, a fresh
--    _batch_id; the seed's own created_at/updated_at columns keep their meaning.
-- 2. dim_issue.created_at (the issue's creation in the source, Type 1): the issue lead time (created to
--    done, devflow.kpi_issue_lead_time) needs it. Filled here from silver for the issues already loaded.
-- 3. The archive the seed's retention moves fact_issue_processing rows into (seed: "Move data older than
--    2 years to archive"): devflow.fact_issue_processing_archive, the fact's columns plus archived_at. The
--    seed declared it PARTITION BY RANGE (completed_at) with no partition, so its INSERT failed; a plain
--    table with an index on completed_at here (archived rows are read rarely, and partitions would need
--    DDL by the ETL role each year). Its key is the fact's (issue_number, started_at): archiving twice is
--    harmless. devflow.archive_issue_processing (a step of the maintenance pipeline) moves the rows.

ALTER TABLE devflow.dim_agent
    ALTER COLUMN valid_from SET DEFAULT now(),
    ALTER COLUMN is_current SET DEFAULT true,
    ALTER COLUMN version SET DEFAULT 1,
    ALTER COLUMN _batch_id SET DEFAULT gen_random_uuid();
ALTER TABLE devflow.dim_agent ADD CONSTRAINT dim_agent_agent_id_uq UNIQUE (agent_id);

ALTER TABLE devflow.dim_label
    ALTER COLUMN valid_from SET DEFAULT now(),
    ALTER COLUMN is_current SET DEFAULT true,
    ALTER COLUMN version SET DEFAULT 1,
    ALTER COLUMN _batch_id SET DEFAULT gen_random_uuid();
ALTER TABLE devflow.dim_label ADD CONSTRAINT dim_label_label_name_uq UNIQUE (label_name);

ALTER TABLE devflow.dim_worktree
    ALTER COLUMN valid_from SET DEFAULT now(),
    ALTER COLUMN is_current SET DEFAULT true,
    ALTER COLUMN version SET DEFAULT 1,
    ALTER COLUMN _batch_id SET DEFAULT gen_random_uuid();
ALTER TABLE devflow.dim_worktree ADD CONSTRAINT dim_worktree_worktree_path_uq UNIQUE (worktree_path);

COMMENT ON CONSTRAINT dim_agent_agent_id_uq ON devflow.dim_agent IS 'Type 1: one row per agent (the seed''s UNIQUE(agent_id)); lets its INSERT ... ON CONFLICT (agent_id) infer its arbiter.';
COMMENT ON CONSTRAINT dim_label_label_name_uq ON devflow.dim_label IS 'Type 1: one row per label; lets INSERT ... ON CONFLICT (label_name) infer its arbiter.';
COMMENT ON CONSTRAINT dim_worktree_worktree_path_uq ON devflow.dim_worktree IS 'Type 1: one row per worktree; lets INSERT ... ON CONFLICT (worktree_path) infer its arbiter.';

ALTER TABLE devflow.dim_issue ADD COLUMN IF NOT EXISTS created_at timestamptz;
COMMENT ON COLUMN devflow.dim_issue.created_at IS 'When the issue was created in the source (Type 1, the same on every version): the start of its lead time.';
UPDATE devflow.dim_issue AS d
SET created_at = s.created_at
FROM silver.devflow_issues AS s
WHERE s.id = d.issue_id
  AND d.created_at IS DISTINCT FROM s.created_at;

CREATE TABLE devflow.fact_issue_processing_archive (
    LIKE devflow.fact_issue_processing INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING COMMENTS,
    archived_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT fact_issue_processing_archive_pk PRIMARY KEY (issue_number, started_at)
);
-- the identity of the fact is not the archive's: rows keep the key they had
ALTER TABLE devflow.fact_issue_processing_archive ALTER COLUMN issue_processing_key DROP IDENTITY IF EXISTS;
COMMENT ON COLUMN devflow.fact_issue_processing_archive.archived_at IS 'When devflow.archive_issue_processing moved the row here from devflow.fact_issue_processing.';
CREATE INDEX fact_issue_processing_archive_completed_idx ON devflow.fact_issue_processing_archive (completed_at);
COMMENT ON TABLE devflow.fact_issue_processing_archive IS 'fact_issue_processing rows older than setting devflow.issue_processing_retention (2 years, seed 000), moved here by devflow.archive_issue_processing; keyed like the fact (issue_number, started_at).';
REVOKE ALL ON devflow.fact_issue_processing_archive FROM PUBLIC;
GRANT SELECT, INSERT ON devflow.fact_issue_processing_archive TO etl_service;
GRANT SELECT ON devflow.fact_issue_processing_archive TO analyst_role;
