-- Registry data of the citizen area (seed 003, issue 12), in ONE dwh_etl.register_area call (applied by
-- dwh migrate whenever this file changes; idempotent: a key present is the whole truth for its entries).
-- The spec is assembled in a DO block so that each list has a marked citizenmarts section (the data
-- quality, system performance and dm_* marts of migration 0029 add their entries there).
--
-- The steps, typed where a kind fits (the engine's dwh_etl.step_<kind> runs them from their spec):
--   citizen_extract          extract    reference tables, users, contents, content syncs and the tombstones of
--                                       citizen_src.deleted_records -> bronze, one snapshot
--   citizen_ingest_events    custom     the collector's JSON payloads -> bronze.citizen_query_logs /
--                                       content_events through dwh_etl.ingest_json (no kind lands JSON);
--                                       payloads and elements that are not events are quarantined
--   citizen_silver_entities  silver     the reference tables, users, contents, syncs: typed by the engine,
--                                       the seed's vocabularies and ranges as checks, bad rows quarantined
--   citizen_silver_events    silver     query logs and content events: the typing views give every reason
--                                       (reasons_column _reasons) and reduce the IP to its network and the
--                                       user agent to device / browser / OS; one row per event id (a
--                                       re-delivered payload changes nothing)
--   citizen_dimensions       dimension  the seven dimensions, SCD2 (service, user, content) and Type 1
--                                       (query type, language, content source, content type); a deleted
--                                       user, service or content (a tombstone: silver's is_deleted) is
--                                       closed (attack 16). The Type 1 reference lists keep one version
--                                       per code (their *_version_ck) and stay: the facts look codes up
--                                       by current version; silver flags a deleted code
--   citizen_fct_service_queries, citizen_fct_content_usage
--                            fact       replace by the event id (partitioned by event date), dimension
--                                       versions valid at the event, date / time keys in citizen.timezone,
--                                       the days touched queued for the marts (one queue per mart)
--   citizen_purge_raw_events custom     (maintenance pipeline) raw events out of bronze after
--                                       citizen.raw_retention
-- citizen_silver_events orders the versions of an event by delivery (ts_column delivered_at, migration
-- 0048): by occurred_at, a redelivery with a corrected earlier time was dropped silently (attack 9a).
-- citizen_silver_events' checks: the sane event range, and the partition window of the facts
-- (partitions.min_date, 2000, is later than quality.min_event_date, 1990: one late event of 1995 failed
-- the fact step, and with it the night; attack 9a); times quoted in UTC ISO, whatever the DateStyle.
-- Pipelines: daily (shared) and citizen_nightly (00:15 IST: the Indian day just ended) run the chain.
DO $register$
DECLARE
    v_settings jsonb := $json$[
        {"key": "citizen.source_schema", "value": "citizen_src",
         "description": "Schema of the portal's operational source (departments, services, users, languages, query_types, content_types, content_sources, content_syncs, contents, analytics_payloads, deleted_records)."},
        {"key": "citizen.timezone", "value": "Asia/Kolkata",
         "description": "Time zone of the citizen area: a fact's date_key and time_key are the date and local time of its event in this zone (India), whatever the session's TimeZone; zone-less timestamp texts of the source are read in it."},
        {"key": "citizen.raw_retention", "value": "90 days",
         "description": "How long raw web-analytics events (with IP address and user agent) stay in bronze after ingestion; the maintenance step citizen_purge_raw_events deletes older ones (only once silver has read them) and scrubs old quarantine entries."},
        {"key": "retention.citizen.fct_service_queries", "value": "3 years",
         "description": "Partitions of citizen.fct_service_queries entirely older are moved to schema archive by the maintenance pipeline."},
        {"key": "retention.citizen.fct_content_usage", "value": "3 years",
         "description": "Partitions of citizen.fct_content_usage entirely older are moved to schema archive by the maintenance pipeline."}
    ]$json$;
    v_tables jsonb := $json$[
        {"table": "citizen_src.departments", "layer": "source", "description": "operational departments"},
        {"table": "citizen_src.services", "layer": "source", "description": "operational services"},
        {"table": "citizen_src.users", "layer": "source", "description": "registered accounts (citizens, admins, API clients)"},
        {"table": "citizen_src.languages", "layer": "source", "description": "the 22 scheduled languages and English"},
        {"table": "citizen_src.query_types", "layer": "source", "description": "query types"},
        {"table": "citizen_src.content_types", "layer": "source", "description": "content types"},
        {"table": "citizen_src.content_sources", "layer": "source", "description": "content sources and their sync schedules"},
        {"table": "citizen_src.content_syncs", "layer": "source", "description": "sync runs of the content sources"},
        {"table": "citizen_src.contents", "layer": "source", "description": "content items"},
        {"table": "citizen_src.analytics_payloads", "layer": "source", "description": "web-analytics collector inbox (JSON query logs and content events)"},
        {"table": "citizen_src.deleted_records", "layer": "source", "description": "tombstones of deleted departments, services, users, reference codes, content sources and contents"},
        {"table": "bronze.citizen_departments", "layer": "bronze"},
        {"table": "bronze.citizen_services", "layer": "bronze"},
        {"table": "bronze.citizen_users", "layer": "bronze"},
        {"table": "bronze.citizen_languages", "layer": "bronze"},
        {"table": "bronze.citizen_query_types", "layer": "bronze"},
        {"table": "bronze.citizen_content_types", "layer": "bronze"},
        {"table": "bronze.citizen_content_sources", "layer": "bronze"},
        {"table": "bronze.citizen_content_syncs", "layer": "bronze"},
        {"table": "bronze.citizen_contents", "layer": "bronze"},
        {"table": "bronze.citizen_deleted_records", "layer": "bronze"},
        {"table": "bronze.citizen_query_logs", "layer": "bronze", "description": "raw query log events (IP, user agent): ETL only, purged after citizen.raw_retention"},
        {"table": "bronze.citizen_content_events", "layer": "bronze", "description": "raw content events (IP, user agent): ETL only, purged after citizen.raw_retention"},
        {"table": "silver.citizen_departments", "layer": "silver"},
        {"table": "silver.citizen_services", "layer": "silver"},
        {"table": "silver.citizen_users", "layer": "silver"},
        {"table": "silver.citizen_languages", "layer": "silver"},
        {"table": "silver.citizen_query_types", "layer": "silver"},
        {"table": "silver.citizen_content_types", "layer": "silver"},
        {"table": "silver.citizen_content_sources", "layer": "silver"},
        {"table": "silver.citizen_content_syncs", "layer": "silver"},
        {"table": "silver.citizen_contents", "layer": "silver"},
        {"table": "silver.citizen_query_logs", "layer": "silver"},
        {"table": "silver.citizen_content_events", "layer": "silver"},
        {"table": "citizen.dim_service", "layer": "gold", "description": "service dimension, SCD2"},
        {"table": "citizen.dim_user", "layer": "gold", "description": "registered user dimension, SCD2"},
        {"table": "citizen.dim_content", "layer": "gold", "description": "content dimension, SCD2"},
        {"table": "citizen.dim_query_type", "layer": "gold", "description": "query type dimension, Type 1"},
        {"table": "citizen.dim_language", "layer": "gold", "description": "language dimension, Type 1"},
        {"table": "citizen.dim_content_source", "layer": "gold", "description": "content source dimension, Type 1"},
        {"table": "citizen.dim_content_type", "layer": "gold", "description": "content type dimension, Type 1"},
        {"table": "citizen.fct_service_queries", "layer": "gold", "description": "one row per portal query, partitioned by event date"},
        {"table": "citizen.fct_content_usage", "layer": "gold", "description": "one row per content action, partitioned by event date"}
    ]$json$;
    v_dimensions jsonb := $json$[
        {"dimension": "citizen.dim_service", "target": "citizen.dim_service", "surrogate_key": "service_key",
         "natural_key": ["service_id"],
         "type2_columns": ["service_category", "department_id", "department", "priority_level", "service_type", "data_source"],
         "type1_columns": ["service_name", "is_active", "created_at"],
         "change_ts": "change_ts", "deleted_flag": "is_deleted", "delete_policy": "close",
         "description": "Service dimension (seed 003), Type 2: department, category, priority, type and data source are history; name and is_active Type 1."},
        {"dimension": "citizen.dim_user", "target": "citizen.dim_user", "surrogate_key": "user_key",
         "natural_key": ["user_id"],
         "type2_columns": ["user_type", "location_state", "location_district"],
         "type1_columns": ["language_preference", "registration_date", "created_at"],
         "change_ts": "change_ts", "deleted_flag": "is_deleted", "delete_policy": "close",
         "description": "Registered user dimension (seed 003), Type 2: type, state and district are history; no activity attributes."},
        {"dimension": "citizen.dim_content", "target": "citizen.dim_content", "surrogate_key": "content_key",
         "natural_key": ["content_id"],
         "type2_columns": ["content_type", "language", "content_source", "service_id"],
         "type1_columns": ["title", "is_active", "created_at"],
         "change_ts": "change_ts", "deleted_flag": "is_deleted", "delete_policy": "close",
         "description": "Content dimension (seed 003), Type 2: the content's source (and type, language, service) is history."},
        {"dimension": "citizen.dim_query_type", "target": "citizen.dim_query_type", "surrogate_key": "query_type_key",
         "natural_key": ["query_type"], "type2_columns": [],
         "type1_columns": ["query_category", "complexity_level", "expected_response_time_ms", "is_api_required", "description"],
         "change_ts": "change_ts", "deleted_flag": "is_deleted", "delete_policy": "close",
         "description": "Query type dimension (seed 003), Type 1: corrections apply to all history."},
        {"dimension": "citizen.dim_language", "target": "citizen.dim_language", "surrogate_key": "language_key",
         "natural_key": ["language_code"], "type2_columns": [],
         "type1_columns": ["language_name", "native_name", "script_type", "is_rtl", "is_supported", "is_scheduled", "coverage_percentage"],
         "change_ts": "change_ts", "deleted_flag": "is_deleted", "delete_policy": "close",
         "description": "Language dimension (seed 003), Type 1; coverage_percentage is recomputed by every load."},
        {"dimension": "citizen.dim_content_source", "target": "citizen.dim_content_source", "surrogate_key": "content_source_key",
         "natural_key": ["source_name"], "type2_columns": [],
         "type1_columns": ["source_type", "reliability_score", "update_frequency", "sync_schedule", "last_sync", "is_active", "contact_info", "created_at"],
         "change_ts": "change_ts", "deleted_flag": "is_deleted", "delete_policy": "close",
         "description": "Content source dimension (seed 003), Type 1: the source as it is now (last_sync moves daily)."},
        {"dimension": "citizen.dim_content_type", "target": "citizen.dim_content_type", "surrogate_key": "content_type_key",
         "natural_key": ["content_type"], "type2_columns": [],
         "type1_columns": ["type_name", "is_downloadable", "description"],
         "change_ts": "change_ts", "deleted_flag": "is_deleted", "delete_policy": "close",
         "description": "Content type dimension (referenced by seed 003, defined here), Type 1."}
    ]$json$;
    v_pipelines jsonb := $json$[
        {"pipeline": "citizen_nightly", "schedules": ["45 18 * * *"],
         "description": "The citizen area's load at 00:15 IST (18:45 UTC), when the Indian day has ended: extraction, event ingestion, silver, dimensions, facts (incremental; a missed night is caught up by the next run)."}
    ]$json$;
    v_steps jsonb := $json$[
        {"step": "citizen_extract", "kind": "extract", "layer": "bronze",
         "spec": {"schema_setting": "citizen.source_schema", "default_schema": "citizen_src",
                  "tables": [["departments", "bronze.citizen_departments"], ["services", "bronze.citizen_services"],
                             ["users", "bronze.citizen_users"], ["languages", "bronze.citizen_languages"],
                             ["query_types", "bronze.citizen_query_types"], ["content_types", "bronze.citizen_content_types"],
                             ["content_sources", "bronze.citizen_content_sources"], ["content_syncs", "bronze.citizen_content_syncs"],
                             ["contents", "bronze.citizen_contents"], ["deleted_records", "bronze.citizen_deleted_records"]]},
         "description": "reference tables, users, contents, content syncs and the tombstones of their deletes that arrived in the source, into bronze, in one snapshot",
         "sources": ["citizen_src.departments", "citizen_src.services", "citizen_src.users", "citizen_src.languages",
                     "citizen_src.query_types", "citizen_src.content_types", "citizen_src.content_sources",
                     "citizen_src.content_syncs", "citizen_src.contents", "citizen_src.deleted_records"],
         "targets": ["bronze.citizen_departments", "bronze.citizen_services", "bronze.citizen_users", "bronze.citizen_languages",
                     "bronze.citizen_query_types", "bronze.citizen_content_types", "bronze.citizen_content_sources",
                     "bronze.citizen_content_syncs", "bronze.citizen_contents", "bronze.citizen_deleted_records"],
         "feeds": [["citizen_src.departments", "bronze.citizen_departments"], ["citizen_src.services", "bronze.citizen_services"],
                   ["citizen_src.users", "bronze.citizen_users"], ["citizen_src.languages", "bronze.citizen_languages"],
                   ["citizen_src.query_types", "bronze.citizen_query_types"], ["citizen_src.content_types", "bronze.citizen_content_types"],
                   ["citizen_src.content_sources", "bronze.citizen_content_sources"], ["citizen_src.content_syncs", "bronze.citizen_content_syncs"],
                   ["citizen_src.contents", "bronze.citizen_contents"], ["citizen_src.deleted_records", "bronze.citizen_deleted_records"]]},
        {"step": "citizen_ingest_events", "procedure": "citizen.step_ingest_events", "layer": "bronze",
         "description": "the collector's JSON payloads (query logs, content events) into bronze through dwh_etl.ingest_json; what is not an event is quarantined",
         "sources": ["citizen_src.analytics_payloads"], "targets": ["bronze.citizen_query_logs", "bronze.citizen_content_events"],
         "columns": {"bronze.citizen_query_logs.*": {"from": ["citizen_src.analytics_payloads.payload"], "how": "the key of the same name in each event of a query_logs payload"},
                     "bronze.citizen_content_events.*": {"from": ["citizen_src.analytics_payloads.payload"], "how": "the key of the same name in each event of a content_events payload"}}},
        {"step": "citizen_silver_entities", "kind": "silver", "layer": "silver", "depends_on": ["citizen_extract"],
         "spec": {"typing": "engine", "ts_column": "updated_at", "timezone_setting": "citizen.timezone",
                  "loads": [
                      {"target": "silver.citizen_departments", "bronze": "bronze.citizen_departments", "key": ["department_id"],
                       "tombstones": {"table": "bronze.citizen_deleted_records", "key": "record_id", "deleted_at": "deleted_at", "match": {"table_name": "departments"}, "flag": "is_deleted"},
                       "checks": ["CASE WHEN t.department_name IS NULL THEN 'department_name is missing' END"]},
                      {"target": "silver.citizen_services", "bronze": "bronze.citizen_services", "key": ["service_id"],
                       "tombstones": {"table": "bronze.citizen_deleted_records", "key": "record_id", "deleted_at": "deleted_at", "match": {"table_name": "services"}, "flag": "is_deleted"},
                       "checks": ["CASE WHEN t.service_name IS NULL THEN 'service_name is missing' END",
                                  "CASE WHEN t.service_category IS NULL THEN 'service_category is missing' END",
                                  "CASE WHEN t.department_id IS NULL THEN 'department_id is missing' END",
                                  "CASE WHEN t.data_source IS NULL THEN 'data_source is missing' END",
                                  "CASE WHEN t.priority_level IS NULL THEN 'priority_level is missing' WHEN t.priority_level NOT BETWEEN 1 AND 5 THEN 'priority_level ' || t.priority_level || ' is not between 1 and 5' END",
                                  "CASE WHEN t.service_type IS NULL THEN 'service_type is missing' WHEN t.service_type NOT IN ('api', 'scraped', 'document') THEN 'service_type ' || dwh_etl.quote_reason(t.service_type) || ' is not api, scraped or document' END"]},
                      {"target": "silver.citizen_users", "bronze": "bronze.citizen_users", "key": ["user_id"],
                       "tombstones": {"table": "bronze.citizen_deleted_records", "key": "record_id", "deleted_at": "deleted_at", "match": {"table_name": "users"}, "flag": "is_deleted"},
                       "checks": ["CASE WHEN t.user_type IS NULL THEN 'user_type is missing' WHEN t.user_type NOT IN ('citizen', 'admin', 'api_client') THEN 'user_type ' || dwh_etl.quote_reason(t.user_type) || ' is not citizen, admin or api_client' END",
                                  "CASE WHEN t.language_preference !~ '^[a-z]{2,3}$' THEN 'language_preference ' || dwh_etl.quote_reason(t.language_preference) || ' is not an ISO 639 code' END"]},
                      {"target": "silver.citizen_languages", "bronze": "bronze.citizen_languages", "key": ["language_code"],
                       "tombstones": {"table": "bronze.citizen_deleted_records", "key": "record_id", "deleted_at": "deleted_at", "match": {"table_name": "languages"}, "flag": "is_deleted"},
                       "checks": ["CASE WHEN t.language_code !~ '^[a-z]{2,3}$' THEN 'language_code ' || dwh_etl.quote_reason(t.language_code) || ' is not an ISO 639 code' END",
                                  "CASE WHEN t.language_name IS NULL THEN 'language_name is missing' END",
                                  "CASE WHEN t.script_type IS NULL THEN 'script_type is missing' WHEN t.script_type NOT IN ('latin', 'devanagari', 'bengali', 'gujarati', 'gurmukhi', 'kannada', 'malayalam', 'odia', 'tamil', 'telugu', 'perso_arabic', 'meitei', 'ol_chiki') THEN 'script_type ' || dwh_etl.quote_reason(t.script_type) || ' is unknown' END",
                                  "CASE WHEN t.is_rtl IS NULL THEN 'is_rtl is missing' WHEN t.is_rtl <> (t.script_type = 'perso_arabic') THEN 'is_rtl ' || t.is_rtl || ' contradicts script ' || dwh_etl.quote_reason(t.script_type) END"]},
                      {"target": "silver.citizen_query_types", "bronze": "bronze.citizen_query_types", "key": ["query_type"],
                       "tombstones": {"table": "bronze.citizen_deleted_records", "key": "record_id", "deleted_at": "deleted_at", "match": {"table_name": "query_types"}, "flag": "is_deleted"},
                       "checks": ["CASE WHEN t.query_type NOT IN ('search', 'status_check', 'verification', 'information') THEN 'query_type ' || dwh_etl.quote_reason(t.query_type) || ' is not search, status_check, verification or information' END",
                                  "CASE WHEN t.query_category IS NULL THEN 'query_category is missing' WHEN t.query_category NOT IN ('general', 'specific', 'procedural') THEN 'query_category ' || dwh_etl.quote_reason(t.query_category) || ' is not general, specific or procedural' END",
                                  "CASE WHEN t.complexity_level IS NULL THEN 'complexity_level is missing' WHEN t.complexity_level NOT IN ('simple', 'moderate', 'complex') THEN 'complexity_level ' || dwh_etl.quote_reason(t.complexity_level) || ' is not simple, moderate or complex' END",
                                  "CASE WHEN t.expected_response_time_ms <= 0 THEN 'expected_response_time_ms ' || t.expected_response_time_ms || ' is not positive' END",
                                  "CASE WHEN t.is_api_required IS NULL THEN 'is_api_required is missing' END"]},
                      {"target": "silver.citizen_content_types", "bronze": "bronze.citizen_content_types", "key": ["content_type"],
                       "tombstones": {"table": "bronze.citizen_deleted_records", "key": "record_id", "deleted_at": "deleted_at", "match": {"table_name": "content_types"}, "flag": "is_deleted"},
                       "checks": ["CASE WHEN t.content_type NOT IN ('procedure', 'document', 'faq', 'article') THEN 'content_type ' || dwh_etl.quote_reason(t.content_type) || ' is not procedure, document, faq or article' END",
                                  "CASE WHEN t.type_name IS NULL THEN 'type_name is missing' END",
                                  "CASE WHEN t.is_downloadable IS NULL THEN 'is_downloadable is missing' END"]},
                      {"target": "silver.citizen_content_sources", "bronze": "bronze.citizen_content_sources", "key": ["source_name"],
                       "tombstones": {"table": "bronze.citizen_deleted_records", "key": "record_id", "deleted_at": "deleted_at", "match": {"table_name": "content_sources"}, "flag": "is_deleted"},
                       "checks": ["CASE WHEN t.source_type IS NULL THEN 'source_type is missing' WHEN t.source_type NOT IN ('api', 'scraped', 'manual', 'document') THEN 'source_type ' || dwh_etl.quote_reason(t.source_type) || ' is not api, scraped, manual or document' END",
                                  "CASE WHEN t.reliability_score IS NULL THEN 'reliability_score is missing' WHEN t.reliability_score NOT BETWEEN 0 AND 1 THEN 'reliability_score ' || t.reliability_score || ' is not between 0 and 1' END",
                                  "CASE WHEN t.update_frequency IS NULL THEN 'update_frequency is missing' WHEN t.update_frequency NOT IN ('real_time', 'daily', 'weekly', 'monthly') THEN 'update_frequency ' || dwh_etl.quote_reason(t.update_frequency) || ' is not real_time, daily, weekly or monthly' END",
                                  "CASE WHEN jsonb_typeof(t.contact_info) <> 'object' THEN 'contact_info is a JSON ' || jsonb_typeof(t.contact_info) || ', not an object' END"]},
                      {"target": "silver.citizen_content_syncs", "bronze": "bronze.citizen_content_syncs", "key": ["sync_id"],
                       "checks": ["CASE WHEN t.source_name IS NULL THEN 'source_name is missing' END",
                                  "CASE WHEN t.status IS NULL THEN 'status is missing' WHEN t.status NOT IN ('running', 'succeeded', 'failed') THEN 'status ' || dwh_etl.quote_reason(t.status) || ' is not running, succeeded or failed' END",
                                  "CASE WHEN t.finished_at < t.started_at THEN 'finished_at is before started_at' END",
                                  "CASE WHEN t.items_fetched < 0 OR t.items_changed < 0 THEN 'item counts are negative' END"]},
                      {"target": "silver.citizen_contents", "bronze": "bronze.citizen_contents", "key": ["content_id"],
                       "tombstones": {"table": "bronze.citizen_deleted_records", "key": "record_id", "deleted_at": "deleted_at", "match": {"table_name": "contents"}, "flag": "is_deleted"},
                       "checks": ["CASE WHEN t.content_type IS NULL THEN 'content_type is missing' WHEN t.content_type NOT IN ('procedure', 'document', 'faq', 'article') THEN 'content_type ' || dwh_etl.quote_reason(t.content_type) || ' is not procedure, document, faq or article' END",
                                  "CASE WHEN t.title IS NULL THEN 'title is missing' WHEN length(t.title) > 500 THEN 'title is longer than 500 characters' END",
                                  "CASE WHEN t.language_code IS NULL THEN 'language_code is missing' WHEN t.language_code !~ '^[a-z]{2,3}$' THEN 'language_code ' || dwh_etl.quote_reason(t.language_code) || ' is not an ISO 639 code' END",
                                  "CASE WHEN t.source_name IS NULL THEN 'source_name is missing' END"]}]},
         "description": "reference tables, users, contents and syncs typed, the seed's vocabularies and ranges checked, bad rows quarantined with every reason, latest state per key; the tombstones of bronze.citizen_deleted_records flag their key deleted",
         "sources": ["bronze.citizen_departments", "bronze.citizen_services", "bronze.citizen_users", "bronze.citizen_languages",
                     "bronze.citizen_query_types", "bronze.citizen_content_types", "bronze.citizen_content_sources",
                     "bronze.citizen_content_syncs", "bronze.citizen_contents", "bronze.citizen_deleted_records"],
         "targets": ["silver.citizen_departments", "silver.citizen_services", "silver.citizen_users", "silver.citizen_languages",
                     "silver.citizen_query_types", "silver.citizen_content_types", "silver.citizen_content_sources",
                     "silver.citizen_content_syncs", "silver.citizen_contents"],
         "feeds": [["bronze.citizen_departments", "silver.citizen_departments"], ["bronze.citizen_services", "silver.citizen_services"],
                   ["bronze.citizen_users", "silver.citizen_users"], ["bronze.citizen_languages", "silver.citizen_languages"],
                   ["bronze.citizen_query_types", "silver.citizen_query_types"], ["bronze.citizen_content_types", "silver.citizen_content_types"],
                   ["bronze.citizen_content_sources", "silver.citizen_content_sources"], ["bronze.citizen_content_syncs", "silver.citizen_content_syncs"],
                   ["bronze.citizen_contents", "silver.citizen_contents"]]},
        {"step": "citizen_silver_events", "kind": "silver", "layer": "silver", "depends_on": ["citizen_ingest_events"],
         "spec": {"typing": "source", "reasons_column": "_reasons", "timezone_setting": "citizen.timezone",
                  "loads": [
                      {"target": "silver.citizen_query_logs", "bronze": "bronze.citizen_query_logs", "source": "silver.citizen_query_logs_typed",
                       "key": ["query_id"], "ts_column": "delivered_at", "unchanged_columns": ["delivered_at"], "ties": "latest_delivery",
                       "checks": ["CASE WHEN t.queried_at IS NOT NULL THEN dwh_etl.reason_timestamp('occurred_at', to_char(t.queried_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') || 'Z', t.queried_at, run.min_ts, run.max_ts) END", "CASE WHEN t.queried_at < (SELECT dwh_etl.get_setting('partitions.min_date', '2000-01-01')::date) THEN format('occurred_at %s is before %s, the first month the partitioned fact holds (setting partitions.min_date)', to_char(t.queried_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') || 'Z', dwh_etl.get_setting('partitions.min_date', '2000-01-01')) END"]},
                      {"target": "silver.citizen_content_events", "bronze": "bronze.citizen_content_events", "source": "silver.citizen_content_events_typed",
                       "key": ["usage_id"], "ts_column": "delivered_at", "unchanged_columns": ["delivered_at"], "ties": "latest_delivery",
                       "checks": ["CASE WHEN t.used_at IS NOT NULL THEN dwh_etl.reason_timestamp('occurred_at', to_char(t.used_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') || 'Z', t.used_at, run.min_ts, run.max_ts) END", "CASE WHEN t.used_at < (SELECT dwh_etl.get_setting('partitions.min_date', '2000-01-01')::date) THEN format('occurred_at %s is before %s, the first month the partitioned fact holds (setting partitions.min_date)', to_char(t.used_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') || 'Z', dwh_etl.get_setting('partitions.min_date', '2000-01-01')) END"]}]},
         "description": "query logs and content events typed by their views (IP to network, user agent to device / browser / OS), bad events quarantined with every reason, one row per event id",
         "sources": ["bronze.citizen_query_logs", "bronze.citizen_content_events"],
         "targets": ["silver.citizen_query_logs", "silver.citizen_content_events"],
         "feeds": [["bronze.citizen_query_logs", "silver.citizen_query_logs"], ["bronze.citizen_content_events", "silver.citizen_content_events"]]},
        {"step": "citizen_dimensions", "kind": "dimension", "layer": "gold", "depends_on": ["citizen_silver_entities"],
         "spec": {"dimensions": [
                      {"dimension": "citizen.dim_service", "view": "silver.citizen_dim_service_source", "lineage_source": "silver.citizen_services"},
                      {"dimension": "citizen.dim_user", "view": "silver.citizen_dim_user_source", "lineage_source": "silver.citizen_users"},
                      {"dimension": "citizen.dim_content", "view": "silver.citizen_dim_content_source", "lineage_source": "silver.citizen_contents"},
                      {"dimension": "citizen.dim_query_type", "view": "silver.citizen_dim_query_type_source", "lineage_source": "silver.citizen_query_types"},
                      {"dimension": "citizen.dim_language", "view": "silver.citizen_dim_language_source", "lineage_source": "silver.citizen_languages"},
                      {"dimension": "citizen.dim_content_source", "view": "silver.citizen_dim_content_source_source", "lineage_source": "silver.citizen_content_sources"},
                      {"dimension": "citizen.dim_content_type", "view": "silver.citizen_dim_content_type_source", "lineage_source": "silver.citizen_content_types"}]},
         "description": "dim_service, dim_user, dim_content (SCD2) and dim_query_type, dim_language, dim_content_source, dim_content_type (Type 1)",
         "sources": ["silver.citizen_services", "silver.citizen_departments", "silver.citizen_users", "silver.citizen_contents",
                     "silver.citizen_query_types", "silver.citizen_languages", "silver.citizen_content_sources", "silver.citizen_content_types"],
         "targets": ["citizen.dim_service", "citizen.dim_user", "citizen.dim_content", "citizen.dim_query_type",
                     "citizen.dim_language", "citizen.dim_content_source", "citizen.dim_content_type"],
         "feeds": [["silver.citizen_services", "citizen.dim_service"], ["silver.citizen_departments", "citizen.dim_service"],
                   ["silver.citizen_users", "citizen.dim_user"], ["silver.citizen_contents", "citizen.dim_content"],
                   ["silver.citizen_query_types", "citizen.dim_query_type"], ["silver.citizen_languages", "citizen.dim_language"],
                   ["silver.citizen_contents", "citizen.dim_language"],
                   ["silver.citizen_content_sources", "citizen.dim_content_source"], ["silver.citizen_content_types", "citizen.dim_content_type"]]},
        {"step": "citizen_fct_service_queries", "kind": "fact", "layer": "gold",
         "depends_on": ["citizen_silver_events", "citizen_dimensions"],
         "spec": {"view": "silver.citizen_fct_service_queries_source", "target": "citizen.fct_service_queries", "natural_key": ["query_id"],
                  "mode": "replace", "event_time": "queried_at", "date_key": "date_key", "partitioned": true, "time_of_day": true,
                  "lookups": [{"dimension": "citizen.dim_service", "columns": ["service_id"], "inferred": true},
                              {"dimension": "citizen.dim_user", "columns": ["user_id"], "inferred": true},
                              {"dimension": "citizen.dim_query_type", "columns": ["query_type"], "current": true, "inferred": true},
                              {"dimension": "citizen.dim_language", "columns": ["language_code"], "current": true, "inferred": true}],
                  "affected_queue": [{"table": "dwh_staging.citizen_affected_days_service", "column": "date_key"},
                                     {"table": "dwh_staging.citizen_affected_days_user", "column": "date_key"},
                                     {"table": "dwh_staging.citizen_affected_days_content", "column": "date_key"},
                                     {"table": "dwh_staging.citizen_affected_days_system", "column": "date_key"}],
                  "lineage_source": "silver.citizen_query_logs"},
         "description": "one row per query (replace by query_id), service and user versions valid at queried_at, keys in citizen.timezone",
         "sources": ["silver.citizen_query_logs", "citizen.dim_service", "citizen.dim_user", "citizen.dim_query_type", "citizen.dim_language", "gold.dim_date", "gold.dim_time_of_day"],
         "targets": ["citizen.fct_service_queries"]},
        {"step": "citizen_fct_content_usage", "kind": "fact", "layer": "gold",
         "depends_on": ["citizen_silver_events", "citizen_dimensions"],
         "spec": {"view": "silver.citizen_fct_content_usage_source", "target": "citizen.fct_content_usage", "natural_key": ["usage_id"],
                  "mode": "replace", "event_time": "used_at", "date_key": "date_key", "partitioned": true, "time_of_day": true,
                  "late_window": "7 days",
                  "lookups": [{"dimension": "citizen.dim_content", "columns": ["content_id"], "wait": "always"},
                              {"dimension": "citizen.dim_service", "columns": ["service_id"], "inferred": true},
                              {"dimension": "citizen.dim_user", "columns": ["user_id"], "inferred": true},
                              {"dimension": "citizen.dim_content_type", "columns": ["content_type"], "current": true, "wait": "always"}],
                  "affected_queue": [{"table": "dwh_staging.citizen_affected_days_service", "column": "date_key"},
                                     {"table": "dwh_staging.citizen_affected_days_user", "column": "date_key"},
                                     {"table": "dwh_staging.citizen_affected_days_content", "column": "date_key"},
                                     {"table": "dwh_staging.citizen_affected_days_system", "column": "date_key"}],
                  "lineage_source": "silver.citizen_content_events"},
         "description": "one row per content action (replace by usage_id), content / service / user versions valid at used_at; an event waits for an unknown content",
         "sources": ["silver.citizen_content_events", "silver.citizen_contents", "citizen.dim_content", "citizen.dim_service", "citizen.dim_user", "citizen.dim_content_type", "gold.dim_date", "gold.dim_time_of_day"],
         "targets": ["citizen.fct_content_usage"]},
        {"step": "citizen_purge_raw_events", "procedure": "citizen.step_purge_raw_events", "layer": "ops",
         "pipelines": ["maintenance"], "depends_on": ["purge_history"],
         "description": "delete raw web-analytics events (IP, user agent) from bronze after citizen.raw_retention; scrub old quarantine entries",
         "sources": ["bronze.citizen_query_logs", "bronze.citizen_content_events"],
         "targets": ["bronze.citizen_query_logs", "bronze.citizen_content_events"]}
    ]$json$;
    v_rules jsonb := $json$[
        {"name": "citizen_dim_service_current_unique", "table": "citizen.dim_service", "type": "unique", "columns": ["service_id"],
         "params": {"where": "is_current"}, "scope": "table", "description": "one current version per service"},
        {"name": "citizen_dim_user_current_unique", "table": "citizen.dim_user", "type": "unique", "columns": ["user_id"],
         "params": {"where": "is_current"}, "scope": "table", "description": "one current version per user"},
        {"name": "citizen_dim_content_current_unique", "table": "citizen.dim_content", "type": "unique", "columns": ["content_id"],
         "params": {"where": "is_current"}, "scope": "table", "description": "one current version per content item"},
        {"name": "citizen_dim_language_scheduled", "table": "citizen.dim_language", "type": "custom_sql", "columns": [],
         "params": {"sql": "SELECT count(*) AS scheduled FROM citizen.dim_language WHERE is_scheduled AND NOT is_inferred HAVING count(*) NOT IN (0, 22)"},
         "scope": "table", "severity": "warn", "description": "the Eighth Schedule has 22 languages"},
        {"name": "citizen_fsq_unique", "table": "citizen.fct_service_queries", "type": "unique", "columns": ["query_id"],
         "scope": "table", "description": "one row per query id, across partitions (the primary key includes date_key)"},
        {"name": "citizen_fsq_keys_not_null", "table": "citizen.fct_service_queries", "type": "not_null",
         "columns": ["query_id", "date_key", "time_key", "service_key", "query_type_key", "language_key", "session_id", "queried_at"]},
        {"name": "citizen_fsq_satisfaction_range", "table": "citizen.fct_service_queries", "type": "range", "columns": ["user_satisfaction_score"],
         "params": {"min": 1, "max": 5}, "description": "seed 003: 1-5 rating"},
        {"name": "citizen_fsq_response_time_range", "table": "citizen.fct_service_queries", "type": "range", "columns": ["response_time_ms"],
         "params": {"min": 0, "max": 600000}},
        {"name": "citizen_fcu_unique", "table": "citizen.fct_content_usage", "type": "unique", "columns": ["usage_id"],
         "scope": "table", "description": "one row per usage id, across partitions"},
        {"name": "citizen_fcu_keys_not_null", "table": "citizen.fct_content_usage", "type": "not_null",
         "columns": ["usage_id", "date_key", "time_key", "content_key", "service_key", "content_type_key", "action_type", "session_id", "used_at"]},
        {"name": "citizen_fcu_action", "table": "citizen.fct_content_usage", "type": "accepted_values", "columns": ["action_type"],
         "params": {"values": ["view", "download", "share", "bookmark"]}, "description": "seed 003 action types"},
        {"name": "citizen_fcu_scroll_range", "table": "citizen.fct_content_usage", "type": "range", "columns": ["scroll_depth_percent"],
         "params": {"min": 0, "max": 100}},
        {"name": "citizen_fsq_reconciles_with_silver", "table": "citizen.fct_service_queries", "type": "custom_sql", "columns": [],
         "params": {"sql": "SELECT s.query_id FROM silver.citizen_query_logs AS s WHERE NOT EXISTS (SELECT 1 FROM citizen.fct_service_queries AS f WHERE f.query_id = s.query_id)"},
         "scope": "table", "severity": "warn", "description": "reconciliation per load: every silver query is in the fact"}
    ]$json$;

    -- ---- marts, data quality and system performance: citizenmarts ---------------------------------
    -- (dim_quality_metric, fct_data_quality, fct_system_performance, the dm_* marts and the KPI views of
    -- migration 0029 add their entries to these lists; they are appended to the area's own)
    -- Steps (in daily and citizen_nightly, after the two fact steps):
    --   citizen_quality_days            custom  queue the days of the two measurement facts: the facts'
    --                                           days (copied from the service mart's queue before it is
    --                                           consumed), changed quarantine entries, finished citizen
    --                                           steps (citizen.marts_queue_engine_days: no kind reads the
    --                                           engine's run history or quarantine)
    --   citizen_fct_data_quality        mart    table form: the queued days of fct_data_quality from
    --                                           silver.citizen_fct_data_quality_rows
    --   citizen_fct_system_performance  mart    table form: the queued days of fct_system_performance
    --   citizen_dm_service_analytics, citizen_dm_user_analytics, citizen_dm_content_analytics,
    --   citizen_dm_system_analytics     mart    table form: the days each mart's queue holds (filled by
    --                                           both fact steps), rebuilt from silver.citizen_dm_*_rows
    v_marts_settings   jsonb := '[]';
    v_marts_tables     jsonb := $json$[
        {"table": "citizen.dim_quality_metric", "layer": "gold", "description": "quality and performance metrics: unit, direction, thresholds (Type 1)"},
        {"table": "citizen.fct_data_quality", "layer": "gold", "description": "completeness, accuracy, freshness, consistency per service, source and day"},
        {"table": "citizen.fct_system_performance", "layer": "gold", "description": "portal and ETL performance per metric, service and hour"},
        {"table": "citizen.dm_service_analytics", "layer": "mart", "description": "service x day"},
        {"table": "citizen.dm_user_analytics", "layer": "mart", "description": "registered user x day"},
        {"table": "citizen.dm_content_analytics", "layer": "mart", "description": "content x day"},
        {"table": "citizen.dm_system_analytics", "layer": "mart", "description": "day x hour"}
    ]$json$;
    v_marts_dimensions jsonb := '[]';
    v_marts_pipelines  jsonb := '[]';
    v_marts_steps      jsonb := $json$[
        {"step": "citizen_quality_days", "procedure": "citizen.marts_queue_engine_days", "layer": "gold",
         "depends_on": ["citizen_fct_service_queries", "citizen_fct_content_usage"],
         "description": "queue the days of fct_data_quality and fct_system_performance: the facts' days, changed quarantine entries of the event feeds, finished citizen steps",
         "sources": ["dwh_staging.citizen_affected_days_service", "dwh_etl.quarantine", "dwh_lineage.step_runs"],
         "targets": ["dwh_staging.citizen_dq_days", "dwh_staging.citizen_perf_days"]},
        {"step": "citizen_fct_data_quality", "kind": "mart", "layer": "gold", "depends_on": ["citizen_quality_days"],
         "spec": {"table": "citizen.fct_data_quality", "view": "silver.citizen_fct_data_quality_rows", "key_column": "date_key", "rebuild_keys": "silver.citizen_mart_days",
                  "queue": {"table": "dwh_staging.citizen_dq_days", "column": "date_key"},
                  "lineage_source": "citizen.fct_service_queries"},
         "description": "completeness, accuracy, freshness and consistency of the queued days per service and content source",
         "sources": ["citizen.fct_service_queries", "citizen.fct_content_usage", "citizen.dim_service", "citizen.dim_content",
                     "citizen.dim_content_source", "citizen.dim_quality_metric", "dwh_etl.quarantine"],
         "targets": ["citizen.fct_data_quality"]},
        {"step": "citizen_fct_system_performance", "kind": "mart", "layer": "gold", "depends_on": ["citizen_quality_days"],
         "spec": {"table": "citizen.fct_system_performance", "view": "silver.citizen_fct_system_performance_rows", "key_column": "date_key", "rebuild_keys": "silver.citizen_mart_days",
                  "queue": {"table": "dwh_staging.citizen_perf_days", "column": "date_key"},
                  "lineage_source": "citizen.fct_service_queries"},
         "description": "the portal's response time, throughput, error rate per service and hour, and the citizen steps' own time and failures, for the queued days",
         "sources": ["citizen.fct_service_queries", "citizen.dim_quality_metric", "dwh_lineage.step_runs"],
         "targets": ["citizen.fct_system_performance"]},
        {"step": "citizen_dm_service_analytics", "kind": "mart", "layer": "mart", "depends_on": ["citizen_quality_days"],
         "spec": {"table": "citizen.dm_service_analytics", "view": "silver.citizen_dm_service_analytics_rows", "key_column": "date_key",
                  "queue": {"table": "dwh_staging.citizen_affected_days_service", "column": "date_key"},
                  "lineage_source": "citizen.fct_service_queries"},
         "description": "service x day for the queued days",
         "sources": ["citizen.fct_service_queries", "citizen.fct_content_usage", "citizen.dim_user"],
         "targets": ["citizen.dm_service_analytics"]},
        {"step": "citizen_dm_user_analytics", "kind": "mart", "layer": "mart",
         "depends_on": ["citizen_fct_service_queries", "citizen_fct_content_usage"],
         "spec": {"table": "citizen.dm_user_analytics", "view": "silver.citizen_dm_user_analytics_rows", "key_column": "date_key", "rebuild_keys": "silver.citizen_mart_days",
                  "queue": {"table": "dwh_staging.citizen_affected_days_user", "column": "date_key"},
                  "lineage_source": "citizen.fct_service_queries"},
         "description": "registered user x day for the queued days",
         "sources": ["citizen.fct_service_queries", "citizen.fct_content_usage", "citizen.dim_user", "citizen.dim_service", "citizen.dim_language"],
         "targets": ["citizen.dm_user_analytics"]},
        {"step": "citizen_dm_content_analytics", "kind": "mart", "layer": "mart",
         "depends_on": ["citizen_fct_service_queries", "citizen_fct_content_usage"],
         "spec": {"table": "citizen.dm_content_analytics", "view": "silver.citizen_dm_content_analytics_rows", "key_column": "date_key", "rebuild_keys": "silver.citizen_mart_days",
                  "queue": {"table": "dwh_staging.citizen_affected_days_content", "column": "date_key"},
                  "lineage_source": "citizen.fct_content_usage"},
         "description": "content x day for the queued days",
         "sources": ["citizen.fct_content_usage", "citizen.fct_service_queries"],
         "targets": ["citizen.dm_content_analytics"]},
        {"step": "citizen_dm_system_analytics", "kind": "mart", "layer": "mart", "depends_on": ["citizen_fct_system_performance"],
         "spec": {"table": "citizen.dm_system_analytics", "view": "silver.citizen_dm_system_analytics_rows", "key_column": "date_key", "rebuild_keys": "silver.citizen_mart_days",
                  "queue": {"table": "dwh_staging.citizen_affected_days_system", "column": "date_key"},
                  "lineage_source": "citizen.fct_service_queries"},
         "description": "day x hour for the queued days (host usage from fct_system_performance)",
         "sources": ["citizen.fct_service_queries", "citizen.fct_system_performance"],
         "targets": ["citizen.dm_system_analytics"]}
    ]$json$;
    v_marts_rules      jsonb := '[]';
    -- ---- end of citizenmarts -------------------------------------------------------------------------
BEGIN
    CALL dwh_etl.register_area('citizen', jsonb_build_object(
        'description', 'Seed 003: a citizen-services portal (Indian government services in the 22 scheduled languages): every query and content action, with services, users, content and its sources (star schema citizen).',
        'demo', '{"generate": "citizen_src.generate", "generated_when": "citizen_src.services",
                  "next_day": "citizen_src.generate_next_day", "clock": "citizen_src.analytics_payloads.received_at", "order": 40}'::jsonb,
        'settings', v_settings || v_marts_settings,
        'tables', v_tables || v_marts_tables,
        'dimensions', v_dimensions || v_marts_dimensions,
        'pipelines', v_pipelines || v_marts_pipelines,
        'step_pipelines', '["daily", "citizen_nightly"]'::jsonb,
        'steps', v_steps || v_marts_steps,
        'rules', v_rules || v_marts_rules));
END
$register$;
