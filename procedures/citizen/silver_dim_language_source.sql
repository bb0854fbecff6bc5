-- What the generic dimension step reads for citizen.dim_language (Type 1 over language_code), with the
-- seed's coverage_percentage defined: the share of active services that have at least one active content
-- item in the language, in percent. It depends on the contents, so a language row is "changed" whenever
-- contents load (_loaded_at is the later of the language's and the latest content's; change_ts likewise):
-- the dimension step re-reads the 23 rows and apply_dimension writes only the languages whose coverage moved.
-- Deleted services and contents (silver's is_deleted, attack 16) cover nothing.
-- A code deleted in the source (silver's is_deleted, a tombstone: attack 16) is not deleted here: a Type 1
-- reference list keeps one open version per code (its *_version_ck), and the facts look codes up by their
-- current version (a closed code would leave the events that cite it without a key).
CREATE OR REPLACE VIEW silver.citizen_dim_language_source AS
WITH services AS (
    SELECT count(*) AS n
    FROM silver.citizen_services AS s
    WHERE s.is_active AND NOT s.is_deleted
), covered AS (
    SELECT c.language_code, count(DISTINCT c.service_id) AS n
    FROM silver.citizen_contents AS c
    JOIN silver.citizen_services AS s
      ON s.service_id = c.service_id AND s.is_active AND NOT s.is_deleted
    WHERE c.is_active AND NOT c.is_deleted
    GROUP BY c.language_code
), latest AS (
    SELECT max(c._loaded_at) AS loaded_at, max(c.updated_at) AS updated_at
    FROM silver.citizen_contents AS c
)
SELECT l.language_code,
       l.language_name,
       l.native_name,
       l.script_type,
       l.is_rtl,
       l.is_supported,
       l.is_scheduled,
       round(100.0 * COALESCE(cv.n, 0) / NULLIF(sv.n, 0), 2)::numeric(5,2) AS coverage_percentage,
       false                                                              AS is_inferred,
       GREATEST(l.updated_at, lt.updated_at)                              AS change_ts,
       false                                                              AS is_deleted,
       GREATEST(l._loaded_at, lt.loaded_at)                               AS _loaded_at,
       l._source_bronze_id
FROM silver.citizen_languages AS l
CROSS JOIN services AS sv
CROSS JOIN latest AS lt
LEFT JOIN covered AS cv
  ON cv.language_code = l.language_code;
COMMENT ON VIEW silver.citizen_dim_language_source IS 'Source of citizen.dim_language (natural key language_code, Type 1); coverage_percentage = active services with active content in the language / active services, in percent.';
REVOKE ALL ON silver.citizen_dim_language_source FROM PUBLIC, analyst_role;
