-- depends: 0027_file_landing
-- The citizen subject area (seed 003, issue 12): usage, content and quality analytics of a government-services
-- portal (Indian services in the 22 scheduled languages). The operational source (citizen_src), its bronze
-- and silver layers, and the star schema in schema citizen with the seed's table and column names, so the
-- seed's SQL runs with SET search_path = citizen, gold. Views, the generator and the steps live in
-- procedures/citizen_src/ and procedures/citizen/, registration in procedures/registry/citizen.sql.
-- dim_quality_metric, fct_data_quality, fct_system_performance and the dm_* marts are migration 0029.
--
-- Fixed from the seed (each has a test in tests/test_citizen_foundation.py / test_citizen_pipeline.py):
--  * integer keys "INTEGER PRIMARY KEY" with no generation and no unique natural key: surrogate keys are
--    identities, every dimension has its natural key, unique (among current versions for SCD2).
--  * no foreign keys and no CHECKs: the facts reference every dimension and gold.dim_date /
--    gold.dim_time_of_day; every range and vocabulary the seed states is a CHECK.
--  * facts without a source id (BIGSERIAL) and created_at = load time: query_id / usage_id are the portal's
--    own event ids (reloads and re-deliveries are idempotent); queried_at / used_at are the event times,
--    _loaded_at the load time.
--  * dim_content_type was referenced but never defined: defined here (procedure, document, faq, article).
--  * dim_user carried last_activity_date (changes with every visit: activity belongs in the facts) and
--    device_type / browser_type (a property of a visit, not of a person: one user has a phone and a PC):
--    both are per-event columns of the facts, parsed from the user agent; is_first_time_user likewise
--    (a mart derives it from the user's first fact). Anonymous visitors have no user row (user_key NULL) and
--    are counted by session_id, which every fact carries.
--  * ip_address / user_agent in a fact (PII): the facts keep the network prefix (ip_network: /24 IPv4,
--    /48 IPv6) and the parsed device, browser and OS; the raw values stay in bronze (ETL role only) and are
--    purged after citizen.raw_retention by the maintenance pipeline.
--  * dim_content.content_source held 'api' / 'scraped' / 'manual' (a source type) while dim_content_source
--    names sources ('apisetu', 'uidai', ...): it holds the source's name (the natural key of
--    dim_content_source); the type is dim_content_source.source_type.
--  * the seed's vocabularies are CHECKs: service_type api/scraped/document, user_type
--    citizen/admin/api_client (the seed's 'anonymous' is a visitor without a row), query_type, category,
--    complexity, content_type, source_type (the seed says 'scraped' for services and 'scraping' for sources:
--    both use 'scraped'), update_frequency, action_type; priority_level 1-5, reliability_score 0-1,
--    user_satisfaction_score 1-5, scroll_depth_percent 0-100, coverage_percentage 0-100.
--  * date / time keys: the event's date and second of day in the area's zone (setting citizen.timezone,
--    default Asia/Kolkata), never the session's; dim_date / dim_time are views over the conformed calendar
--    (dim_date adds week_of_year and the Indian fiscal year, April to March).

CREATE SCHEMA IF NOT EXISTS citizen_src;
COMMENT ON SCHEMA citizen_src IS 'Demo operational source of the citizen area (seed 003): departments, services, users, languages, query types, content types, content sources and their syncs, contents, and the web-analytics inbox (analytics_payloads: query logs and content events as JSON). Filled by CALL citizen_src.generate(), one more day by CALL citizen_src.generate_next_day().';
GRANT USAGE ON SCHEMA citizen_src TO etl_service;
GRANT ALL ON SCHEMA citizen_src TO dwh_owner;

CREATE SCHEMA IF NOT EXISTS citizen;
COMMENT ON SCHEMA citizen IS 'citizen star schema (seed 003): dim_service, dim_user, dim_content (SCD2), dim_query_type, dim_language, dim_content_source, dim_content_type (Type 1), dim_date / dim_time (views over gold), fct_service_queries, fct_content_usage (partitioned by event date), and (migration 0029) data quality, system performance and the dm_* marts. SET search_path = citizen, gold runs the seed''s SQL.';
GRANT USAGE ON SCHEMA citizen TO analyst_role, etl_service;
GRANT ALL ON SCHEMA citizen TO dwh_owner;
-- Fail-closed for analysts: the star tables are granted one by one below.
ALTER DEFAULT PRIVILEGES IN SCHEMA citizen GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO etl_service;
ALTER DEFAULT PRIVILEGES IN SCHEMA citizen GRANT EXECUTE ON FUNCTIONS TO etl_service;

-- ---------------------------------------------------------------------------------------------
-- Source (operational). No foreign keys and no checks on vocabularies or ranges: a real feed has bad rows
-- the warehouse must quarantine, so the source must be able to hold them. Every table has updated_at (the
-- change time); extraction reads the arrival column _dwh_arrived_at (procedures/citizen_src/arrival_triggers.sql).
-- ---------------------------------------------------------------------------------------------

CREATE TABLE citizen_src.departments (
    department_id       text NOT NULL,
    department_name     text,
    ministry            text,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT departments_pk PRIMARY KEY (department_id)
);
COMMENT ON TABLE citizen_src.departments IS 'Government departments that own services (e.g. MEITY, MHA); a renamed department updates the row.';

CREATE TABLE citizen_src.services (
    service_id          integer NOT NULL,
    service_name        text,
    service_category    text,
    department_id       text,
    is_active           boolean NOT NULL DEFAULT true,
    priority_level      integer,
    service_type        text,
    data_source         text,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT services_pk PRIMARY KEY (service_id)
);
COMMENT ON TABLE citizen_src.services IS 'Services of the portal (passport, Aadhaar update, PAN, ...); a move to another department or category updates the row in place.';
COMMENT ON COLUMN citizen_src.services.department_id IS 'citizen_src.departments.department_id, not enforced.';
COMMENT ON COLUMN citizen_src.services.service_type IS 'api, scraped or document (seed 003); not validated here.';
COMMENT ON COLUMN citizen_src.services.data_source IS 'citizen_src.content_sources.source_name the service''s data comes from.';

CREATE TABLE citizen_src.users (
    user_id             bigint NOT NULL,
    user_type           text,
    location_state      text,
    location_district   text,
    language_preference text,
    registration_date   date,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT users_pk PRIMARY KEY (user_id)
);
COMMENT ON TABLE citizen_src.users IS 'Registered accounts: citizens, admins and API clients. Anonymous visitors have no row: their events carry a session id only.';
COMMENT ON COLUMN citizen_src.users.user_type IS 'citizen, admin or api_client; not validated here.';

CREATE TABLE citizen_src.languages (
    language_code       text NOT NULL,
    language_name       text,
    native_name         text,
    script_type         text,
    is_rtl              boolean,
    is_supported        boolean NOT NULL DEFAULT true,
    is_scheduled        boolean NOT NULL DEFAULT true,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT languages_pk PRIMARY KEY (language_code)
);
COMMENT ON TABLE citizen_src.languages IS 'Languages of the portal: the 22 scheduled languages of the Constitution of India (Eighth Schedule) and English; script and direction (Urdu and Kashmiri are written right to left).';
COMMENT ON COLUMN citizen_src.languages.language_code IS 'ISO 639-1 code, or ISO 639-2/3 where there is none (brx Bodo, doi Dogri, kok Konkani, mai Maithili, mni Manipuri, sat Santali).';
COMMENT ON COLUMN citizen_src.languages.is_scheduled IS 'One of the 22 languages of the Eighth Schedule (English is not).';

CREATE TABLE citizen_src.query_types (
    query_type                  text NOT NULL,
    query_category              text,
    complexity_level            text,
    expected_response_time_ms   integer,
    is_api_required             boolean,
    description                 text,
    created_at                  timestamptz NOT NULL DEFAULT now(),
    updated_at                  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT query_types_pk PRIMARY KEY (query_type)
);
COMMENT ON TABLE citizen_src.query_types IS 'Kinds of query the portal answers: search, status_check, verification, information.';

CREATE TABLE citizen_src.content_types (
    content_type        text NOT NULL,
    type_name           text,
    is_downloadable     boolean,
    description         text,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT content_types_pk PRIMARY KEY (content_type)
);
COMMENT ON TABLE citizen_src.content_types IS 'Kinds of content: procedure, document, faq, article (the seed names them in dim_content but never defines dim_content_type).';

CREATE TABLE citizen_src.content_sources (
    source_name         text NOT NULL,
    source_type         text,
    reliability_score   numeric,
    update_frequency    text,
    sync_schedule       text,
    last_sync           timestamptz,
    is_active           boolean NOT NULL DEFAULT true,
    contact_info        jsonb,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT content_sources_pk PRIMARY KEY (source_name)
);
COMMENT ON TABLE citizen_src.content_sources IS 'Where content comes from (apisetu, uidai, passportindia, ...): API, scraped site, manual entry or document store, each synced on its schedule (last_sync moves with every sync).';
COMMENT ON COLUMN citizen_src.content_sources.sync_schedule IS 'cron expression (UTC) of the source''s sync job.';

CREATE TABLE citizen_src.content_syncs (
    sync_id             bigint NOT NULL,
    source_name         text,
    started_at          timestamptz NOT NULL,
    finished_at         timestamptz,
    status              text,
    items_fetched       integer,
    items_changed       integer,
    error_message       text,
    updated_at          timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT content_syncs_pk PRIMARY KEY (sync_id)
);
COMMENT ON TABLE citizen_src.content_syncs IS 'One row per sync run of a content source (status running, succeeded or failed; updated when it finishes): the freshness and reliability of each source.';

CREATE TABLE citizen_src.contents (
    content_id          bigint NOT NULL,
    content_type        text,
    title               text,
    language_code       text,
    service_id          integer,
    source_name         text,
    is_active           boolean NOT NULL DEFAULT true,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT contents_pk PRIMARY KEY (content_id)
);
COMMENT ON TABLE citizen_src.contents IS 'Content items (procedures, documents, FAQs, articles) of a service in one language, from one content source; a re-sourced item (e.g. scraped, then from the API) updates source_name.';

CREATE TABLE citizen_src.analytics_payloads (
    payload_id          bigint GENERATED ALWAYS AS IDENTITY,
    feed                text NOT NULL,
    source              text NOT NULL,
    received_at         timestamptz NOT NULL DEFAULT now(),
    payload             jsonb NOT NULL,
    CONSTRAINT analytics_payloads_pk PRIMARY KEY (payload_id),
    CONSTRAINT analytics_payloads_feed_ck CHECK (feed IN ('query_logs', 'content_events'))
);
CREATE INDEX analytics_payloads_received_at_idx ON citizen_src.analytics_payloads (feed, received_at);
COMMENT ON TABLE citizen_src.analytics_payloads IS 'Inbox of the portal''s web-analytics collector: JSON payloads (an array of events, or {"data": [...]}) of query logs and content events, with the client''s IP address and user agent. Landed in bronze by the citizen_ingest_events step through dwh_etl.ingest_json.';

CREATE TABLE citizen_src.generator_state (
    id                  boolean NOT NULL DEFAULT true,
    simulated_through   date NOT NULL,
    seed                double precision NOT NULL,
    scale               numeric NOT NULL,
    CONSTRAINT generator_state_pk PRIMARY KEY (id),
    CONSTRAINT generator_state_single_ck CHECK (id)
);
COMMENT ON TABLE citizen_src.generator_state IS 'The demo generator''s simulated clock: activity exists through simulated_through; generate_next_day adds the day after it.';

GRANT SELECT ON citizen_src.departments, citizen_src.services, citizen_src.users, citizen_src.languages,
    citizen_src.query_types, citizen_src.content_types, citizen_src.content_sources, citizen_src.content_syncs,
    citizen_src.contents, citizen_src.analytics_payloads TO etl_service;

-- ---------------------------------------------------------------------------------------------
-- Bronze: text copies of the operational tables, and the web-analytics events one row per JSON element.
-- The event tables hold the raw IP address and user agent: readable by the ETL role only (bronze's default
-- privileges; analysts have no usage on bronze), purged after citizen.raw_retention.
-- ---------------------------------------------------------------------------------------------

CALL dwh_etl.create_bronze('bronze.citizen_departments', p_like => 'citizen_src.departments');
CALL dwh_etl.create_bronze('bronze.citizen_services', p_like => 'citizen_src.services');
CALL dwh_etl.create_bronze('bronze.citizen_users', p_like => 'citizen_src.users');
CALL dwh_etl.create_bronze('bronze.citizen_languages', p_like => 'citizen_src.languages');
CALL dwh_etl.create_bronze('bronze.citizen_query_types', p_like => 'citizen_src.query_types');
CALL dwh_etl.create_bronze('bronze.citizen_content_types', p_like => 'citizen_src.content_types');
CALL dwh_etl.create_bronze('bronze.citizen_content_sources', p_like => 'citizen_src.content_sources');
CALL dwh_etl.create_bronze('bronze.citizen_content_syncs', p_like => 'citizen_src.content_syncs');
CALL dwh_etl.create_bronze('bronze.citizen_contents', p_like => 'citizen_src.contents');
CALL dwh_etl.create_bronze('bronze.citizen_query_logs',
    p_columns => ARRAY['query_id', 'occurred_at', 'service_id', 'user_id', 'session_id', 'query_type', 'language_code',
                       'response_time_ms', 'success', 'result_count', 'satisfaction_score', 'ip_address', 'user_agent'],
    p_comment => 'Query logs of the portal''s web analytics, one row per JSON element as received (values as text), landed by dwh_etl.ingest_json. Holds the raw IP address and user agent: ETL role only, purged after citizen.raw_retention.');
CALL dwh_etl.create_bronze('bronze.citizen_content_events',
    p_columns => ARRAY['event_id', 'occurred_at', 'content_id', 'service_id', 'user_id', 'session_id', 'action_type',
                       'duration_seconds', 'scroll_depth_percent', 'search_rank', 'rating', 'query_id',
                       'ip_address', 'user_agent'],
    p_comment => 'Content events (view, download, share, bookmark) of the portal''s web analytics, one row per JSON element as received, landed by dwh_etl.ingest_json. Holds the raw IP address and user agent: ETL role only, purged after citizen.raw_retention.');
-- the element as received, whole: a key the columns do not name (a renamed field, "userId") is kept, not
-- thrown away (dwh_etl.ingest_json fills _raw_payload when the table has it); purged with the row
ALTER TABLE bronze.citizen_query_logs ADD COLUMN _raw_payload jsonb;
ALTER TABLE bronze.citizen_content_events ADD COLUMN _raw_payload jsonb;
COMMENT ON COLUMN bronze.citizen_query_logs._raw_payload IS 'The JSON element as received (keys the columns do not name included); raw IP and user agent: ETL role only, purged with the row.';
COMMENT ON COLUMN bronze.citizen_content_events._raw_payload IS 'The JSON element as received (keys the columns do not name included); raw IP and user agent: ETL role only, purged with the row.';
REVOKE ALL ON bronze.citizen_query_logs, bronze.citizen_content_events FROM PUBLIC;

-- ---------------------------------------------------------------------------------------------
-- Silver: typed and validated, latest state per source key (the typing views silver.citizen_*_typed say how
-- bronze text becomes these types and why a row is rejected).
-- ---------------------------------------------------------------------------------------------

DO $silver$
DECLARE
    v_spec record;
BEGIN
    FOR v_spec IN
        SELECT * FROM (VALUES
            ('departments', 'department_id'), ('services', 'service_id'), ('users', 'user_id'),
            ('languages', 'language_code'), ('query_types', 'query_type'), ('content_types', 'content_type'),
            ('content_sources', 'source_name'), ('content_syncs', 'sync_id'), ('contents', 'content_id')
        ) AS s (source_table, natural_key)
    LOOP
        EXECUTE format(
            'CREATE TABLE silver.%1$I (LIKE citizen_src.%2$I INCLUDING DEFAULTS, _batch_id uuid NOT NULL, '
            '_loaded_at timestamptz NOT NULL DEFAULT now(), CONSTRAINT %3$I PRIMARY KEY (%4$I))',
            'citizen_' || v_spec.source_table, v_spec.source_table, 'citizen_' || v_spec.source_table || '_pk', v_spec.natural_key);
        EXECUTE format('CREATE INDEX %I ON silver.%I (_loaded_at)', 'citizen_' || v_spec.source_table || '_loaded_idx', 'citizen_' || v_spec.source_table);
        EXECUTE format('COMMENT ON TABLE silver.%I IS %L', 'citizen_' || v_spec.source_table,
                       format('citizen_src.%s typed and validated, latest state per %s.', v_spec.source_table, v_spec.natural_key));
    END LOOP;
END
$silver$;

-- The events, typed, with the personal data reduced: the network prefix instead of the address, the parsed
-- device / browser / OS instead of the user agent (silver.citizen_query_logs_typed does it).
CREATE TABLE silver.citizen_query_logs (
    query_id                bigint NOT NULL,
    queried_at              timestamptz NOT NULL,
    service_id              integer NOT NULL,
    user_id                 bigint,
    session_id              text NOT NULL,
    query_type              text NOT NULL,
    language_code           text NOT NULL,
    response_time_ms        integer,
    success_flag            boolean NOT NULL,
    result_count            integer,
    user_satisfaction_score smallint,
    ip_network              cidr,
    device_type             text NOT NULL,
    browser_type            text NOT NULL,
    os_type                 text NOT NULL,
    _batch_id               uuid NOT NULL,
    _loaded_at              timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT citizen_query_logs_pk PRIMARY KEY (query_id)
);
CREATE INDEX citizen_query_logs_loaded_idx ON silver.citizen_query_logs (_loaded_at);
CREATE INDEX citizen_query_logs_queried_idx ON silver.citizen_query_logs (queried_at);
COMMENT ON TABLE silver.citizen_query_logs IS 'Query log events typed and validated, one row per query_id; no raw IP address or user agent (network prefix and parsed device / browser / OS only).';

CREATE TABLE silver.citizen_content_events (
    usage_id                bigint NOT NULL,
    used_at                 timestamptz NOT NULL,
    content_id              bigint NOT NULL,
    service_id              integer NOT NULL,
    user_id                 bigint,
    session_id              text NOT NULL,
    action_type             text NOT NULL,
    duration_seconds        integer,
    scroll_depth_percent    smallint,
    search_rank_position    integer,
    user_rating             smallint,
    query_id                bigint,
    ip_network              cidr,
    device_type             text NOT NULL,
    browser_type            text NOT NULL,
    os_type                 text NOT NULL,
    _batch_id               uuid NOT NULL,
    _loaded_at              timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT citizen_content_events_pk PRIMARY KEY (usage_id)
);
CREATE INDEX citizen_content_events_loaded_idx ON silver.citizen_content_events (_loaded_at);
CREATE INDEX citizen_content_events_used_idx ON silver.citizen_content_events (used_at);
COMMENT ON TABLE silver.citizen_content_events IS 'Content events typed and validated, one row per usage_id (the collector''s event_id); no raw IP address or user agent.';

-- ---------------------------------------------------------------------------------------------
-- Gold: dimensions. All carry the engine's SCD columns (dwh_etl.apply_dimension); a Type 1 dimension is
-- registered with no Type 2 columns and keeps one version per key.
-- ---------------------------------------------------------------------------------------------

CREATE TABLE citizen.dim_service (
    service_key         bigint GENERATED ALWAYS AS IDENTITY,
    service_id          integer NOT NULL,
    service_name        text,
    service_category    text,
    department_id       text,
    department          text,
    is_active           boolean NOT NULL DEFAULT true,
    priority_level      integer,
    service_type        text,
    data_source         text,
    created_at          timestamptz,
    is_inferred         boolean NOT NULL DEFAULT false,
    valid_from          timestamptz NOT NULL DEFAULT now(),
    valid_to            timestamptz,
    is_current          boolean NOT NULL DEFAULT true,
    version             integer NOT NULL DEFAULT 1,
    is_deleted          boolean NOT NULL DEFAULT false,
    _batch_id           uuid NOT NULL,
    _loaded_at          timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT dim_service_pk PRIMARY KEY (service_key),
    CONSTRAINT dim_service_known_ck CHECK (is_inferred OR (service_name IS NOT NULL AND service_category IS NOT NULL
                                           AND department IS NOT NULL AND priority_level IS NOT NULL
                                           AND service_type IS NOT NULL AND data_source IS NOT NULL)),
    CONSTRAINT dim_service_priority_ck CHECK (priority_level BETWEEN 1 AND 5),
    CONSTRAINT dim_service_type_ck CHECK (service_type IN ('api', 'scraped', 'document')),
    CONSTRAINT dim_service_validity_ck CHECK (valid_to > valid_from),
    CONSTRAINT dim_service_current_ck CHECK (is_current = (valid_to IS NULL)),
    CONSTRAINT dim_service_version_ck CHECK (version >= 1),
    CONSTRAINT dim_service_version_uq UNIQUE (service_id, version),
    CONSTRAINT dim_service_no_overlap EXCLUDE USING gist (service_id WITH =, tstzrange(valid_from, valid_to) WITH &&)
);
CREATE UNIQUE INDEX dim_service_current_uq ON citizen.dim_service (service_id) WHERE is_current;
CREATE INDEX dim_service_id_idx ON citizen.dim_service (service_id, valid_from);
COMMENT ON TABLE citizen.dim_service IS 'Service dimension (seed 003), SCD Type 2 over service_id: a move to another department or category, a new priority, type or data source opens a version (queries before the move stay with the old department). name and is_active are Type 1 (a rename or a deactivation corrects every version). Inferred members (is_inferred) stand in for services an event names before the service row arrives.';

CREATE TABLE citizen.dim_user (
    user_key            bigint GENERATED ALWAYS AS IDENTITY,
    user_id             bigint NOT NULL,
    user_type           text,
    location_state      text,
    location_district   text,
    language_preference text,
    registration_date   date,
    created_at          timestamptz,
    is_inferred         boolean NOT NULL DEFAULT false,
    valid_from          timestamptz NOT NULL DEFAULT now(),
    valid_to            timestamptz,
    is_current          boolean NOT NULL DEFAULT true,
    version             integer NOT NULL DEFAULT 1,
    is_deleted          boolean NOT NULL DEFAULT false,
    _batch_id           uuid NOT NULL,
    _loaded_at          timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT dim_user_pk PRIMARY KEY (user_key),
    CONSTRAINT dim_user_known_ck CHECK (is_inferred OR user_type IS NOT NULL),
    CONSTRAINT dim_user_type_ck CHECK (user_type IN ('citizen', 'admin', 'api_client')),
    CONSTRAINT dim_user_language_ck CHECK (language_preference ~ '^[a-z]{2,3}$'),
    CONSTRAINT dim_user_validity_ck CHECK (valid_to > valid_from),
    CONSTRAINT dim_user_current_ck CHECK (is_current = (valid_to IS NULL)),
    CONSTRAINT dim_user_version_ck CHECK (version >= 1),
    CONSTRAINT dim_user_version_uq UNIQUE (user_id, version),
    CONSTRAINT dim_user_no_overlap EXCLUDE USING gist (user_id WITH =, tstzrange(valid_from, valid_to) WITH &&)
);
CREATE UNIQUE INDEX dim_user_current_uq ON citizen.dim_user (user_id) WHERE is_current;
CREATE INDEX dim_user_id_idx ON citizen.dim_user (user_id, valid_from);
COMMENT ON TABLE citizen.dim_user IS 'Registered user dimension (seed 003), SCD Type 2 over user_id: user type, state and district are history (a citizen who moves keeps the old region on old queries); language_preference is Type 1. No activity attributes (last activity, first-time visit, device, browser): those are facts. Anonymous visitors have no row (the facts'' user_key is NULL, session_id counts them).';

CREATE TABLE citizen.dim_content (
    content_key         bigint GENERATED ALWAYS AS IDENTITY,
    content_id          bigint NOT NULL,
    content_type        text,
    title               text,
    language            text,
    content_source      text,
    service_id          integer,
    is_active           boolean NOT NULL DEFAULT true,
    created_at          timestamptz,
    is_inferred         boolean NOT NULL DEFAULT false,
    valid_from          timestamptz NOT NULL DEFAULT now(),
    valid_to            timestamptz,
    is_current          boolean NOT NULL DEFAULT true,
    version             integer NOT NULL DEFAULT 1,
    is_deleted          boolean NOT NULL DEFAULT false,
    _batch_id           uuid NOT NULL,
    _loaded_at          timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT dim_content_pk PRIMARY KEY (content_key),
    CONSTRAINT dim_content_known_ck CHECK (is_inferred OR (content_type IS NOT NULL AND title IS NOT NULL
                                           AND language IS NOT NULL AND content_source IS NOT NULL)),
    CONSTRAINT dim_content_type_ck CHECK (content_type IN ('procedure', 'document', 'faq', 'article')),
    CONSTRAINT dim_content_language_ck CHECK (language ~ '^[a-z]{2,3}$'),
    CONSTRAINT dim_content_title_ck CHECK (length(title) BETWEEN 1 AND 500),
    CONSTRAINT dim_content_validity_ck CHECK (valid_to > valid_from),
    CONSTRAINT dim_content_current_ck CHECK (is_current = (valid_to IS NULL)),
    CONSTRAINT dim_content_version_ck CHECK (version >= 1),
    CONSTRAINT dim_content_version_uq UNIQUE (content_id, version),
    CONSTRAINT dim_content_no_overlap EXCLUDE USING gist (content_id WITH =, tstzrange(valid_from, valid_to) WITH &&)
);
CREATE UNIQUE INDEX dim_content_current_uq ON citizen.dim_content (content_id) WHERE is_current;
CREATE INDEX dim_content_id_idx ON citizen.dim_content (content_id, valid_from);
COMMENT ON TABLE citizen.dim_content IS 'Content dimension (seed 003), SCD Type 2 over content_id: its content source (and type, language, service) is history, so usage stays attributed to the source that delivered the content at the time; title and is_active are Type 1.';

CREATE TABLE citizen.dim_query_type (
    query_type_key              bigint GENERATED ALWAYS AS IDENTITY,
    query_type                  text NOT NULL,
    query_category              text,
    complexity_level            text,
    expected_response_time_ms   integer,
    is_api_required             boolean,
    description                 text,
    is_inferred                 boolean NOT NULL DEFAULT false,
    valid_from                  timestamptz NOT NULL DEFAULT now(),
    valid_to                    timestamptz,
    is_current                  boolean NOT NULL DEFAULT true,
    version                     integer NOT NULL DEFAULT 1,
    is_deleted                  boolean NOT NULL DEFAULT false,
    _batch_id                   uuid NOT NULL,
    _loaded_at                  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT dim_query_type_pk PRIMARY KEY (query_type_key),
    CONSTRAINT dim_query_type_uq UNIQUE (query_type),
    CONSTRAINT dim_query_type_type_ck CHECK (query_type IN ('search', 'status_check', 'verification', 'information')),
    CONSTRAINT dim_query_type_known_ck CHECK (is_inferred OR (query_category IS NOT NULL AND complexity_level IS NOT NULL AND is_api_required IS NOT NULL)),
    CONSTRAINT dim_query_type_category_ck CHECK (query_category IN ('general', 'specific', 'procedural')),
    CONSTRAINT dim_query_type_complexity_ck CHECK (complexity_level IN ('simple', 'moderate', 'complex')),
    CONSTRAINT dim_query_type_expected_ck CHECK (expected_response_time_ms > 0),
    CONSTRAINT dim_query_type_version_ck CHECK (version = 1 AND is_current AND valid_to IS NULL)
);
COMMENT ON TABLE citizen.dim_query_type IS 'Query type dimension (seed 003), Type 1: a reference list whose corrections (category, complexity, expected response time) should apply to all history; one row per query_type.';

CREATE TABLE citizen.dim_language (
    language_key        bigint GENERATED ALWAYS AS IDENTITY,
    language_code       text NOT NULL,
    language_name       text,
    native_name         text,
    script_type         text,
    is_rtl              boolean,
    is_supported        boolean NOT NULL DEFAULT true,
    is_scheduled        boolean NOT NULL DEFAULT false,
    coverage_percentage numeric(5,2),
    is_inferred         boolean NOT NULL DEFAULT false,
    valid_from          timestamptz NOT NULL DEFAULT now(),
    valid_to            timestamptz,
    is_current          boolean NOT NULL DEFAULT true,
    version             integer NOT NULL DEFAULT 1,
    is_deleted          boolean NOT NULL DEFAULT false,
    _batch_id           uuid NOT NULL,
    _loaded_at          timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT dim_language_pk PRIMARY KEY (language_key),
    CONSTRAINT dim_language_code_uq UNIQUE (language_code),
    CONSTRAINT dim_language_code_ck CHECK (language_code ~ '^[a-z]{2,3}$'),
    CONSTRAINT dim_language_known_ck CHECK (is_inferred OR (language_name IS NOT NULL AND script_type IS NOT NULL AND is_rtl IS NOT NULL)),
    CONSTRAINT dim_language_script_ck CHECK (script_type IN ('latin', 'devanagari', 'bengali', 'gujarati', 'gurmukhi', 'kannada',
                                                             'malayalam', 'odia', 'tamil', 'telugu', 'perso_arabic',
                                                             'meitei', 'ol_chiki')),
    -- Perso-Arabic (Urdu, Kashmiri) is the only right-to-left script of the list
    CONSTRAINT dim_language_rtl_ck CHECK (is_rtl = (script_type = 'perso_arabic')),
    CONSTRAINT dim_language_coverage_ck CHECK (coverage_percentage BETWEEN 0 AND 100),
    CONSTRAINT dim_language_version_ck CHECK (version = 1 AND is_current AND valid_to IS NULL)
);
COMMENT ON TABLE citizen.dim_language IS 'Language dimension (seed 003), Type 1: the 22 scheduled languages and English, with script and direction; names and support corrections apply to all history, and coverage_percentage is a current measure, overwritten by every load.';

CREATE TABLE citizen.dim_content_source (
    content_source_key  bigint GENERATED ALWAYS AS IDENTITY,
    source_name         text NOT NULL,
    source_type         text,
    reliability_score   numeric(3,2),
    update_frequency    text,
    sync_schedule       text,
    last_sync           timestamptz,
    is_active           boolean NOT NULL DEFAULT true,
    contact_info        jsonb,
    created_at          timestamptz,
    is_inferred         boolean NOT NULL DEFAULT false,
    valid_from          timestamptz NOT NULL DEFAULT now(),
    valid_to            timestamptz,
    is_current          boolean NOT NULL DEFAULT true,
    version             integer NOT NULL DEFAULT 1,
    is_deleted          boolean NOT NULL DEFAULT false,
    _batch_id           uuid NOT NULL,
    _loaded_at          timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT dim_content_source_pk PRIMARY KEY (content_source_key),
    CONSTRAINT dim_content_source_name_uq UNIQUE (source_name),
    CONSTRAINT dim_content_source_known_ck CHECK (is_inferred OR (source_type IS NOT NULL AND reliability_score IS NOT NULL AND update_frequency IS NOT NULL)),
    CONSTRAINT dim_content_source_type_ck CHECK (source_type IN ('api', 'scraped', 'manual', 'document')),
    CONSTRAINT dim_content_source_reliability_ck CHECK (reliability_score BETWEEN 0 AND 1),
    CONSTRAINT dim_content_source_frequency_ck CHECK (update_frequency IN ('real_time', 'daily', 'weekly', 'monthly')),
    CONSTRAINT dim_content_source_contact_ck CHECK (jsonb_typeof(contact_info) = 'object'),
    CONSTRAINT dim_content_source_version_ck CHECK (version = 1 AND is_current AND valid_to IS NULL)
);
COMMENT ON TABLE citizen.dim_content_source IS 'Content source dimension (seed 003), Type 1: reliability, frequency and last_sync describe the source now (last_sync moves with every sync: versioning it would add a version a day); the history of a content''s source is kept by dim_content.';

CREATE TABLE citizen.dim_content_type (
    content_type_key    bigint GENERATED ALWAYS AS IDENTITY,
    content_type        text NOT NULL,
    type_name           text,
    is_downloadable     boolean,
    description         text,
    is_inferred         boolean NOT NULL DEFAULT false,
    valid_from          timestamptz NOT NULL DEFAULT now(),
    valid_to            timestamptz,
    is_current          boolean NOT NULL DEFAULT true,
    version             integer NOT NULL DEFAULT 1,
    is_deleted          boolean NOT NULL DEFAULT false,
    _batch_id           uuid NOT NULL,
    _loaded_at          timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT dim_content_type_pk PRIMARY KEY (content_type_key),
    CONSTRAINT dim_content_type_uq UNIQUE (content_type),
    CONSTRAINT dim_content_type_type_ck CHECK (content_type IN ('procedure', 'document', 'faq', 'article')),
    CONSTRAINT dim_content_type_known_ck CHECK (is_inferred OR (type_name IS NOT NULL AND is_downloadable IS NOT NULL)),
    CONSTRAINT dim_content_type_version_ck CHECK (version = 1 AND is_current AND valid_to IS NULL)
);
COMMENT ON TABLE citizen.dim_content_type IS 'Content type dimension (referenced by seed 003, never defined there), Type 1: a fixed vocabulary whose labels and flags describe every usage the same way, past or present.';

-- The seed's dim_date and dim_time over the conformed calendar: no copy to keep in step.
CREATE VIEW citizen.dim_date AS
SELECT d.date_key,
       d.full_date,
       d.year::integer                                          AS year,
       d.quarter::integer                                       AS quarter,
       d.month::integer                                         AS month,
       d.month_name,
       d.week::integer                                          AS week_of_year,
       d.iso_year::integer                                      AS iso_year,
       d.day_of_year::integer                                   AS day_of_year,
       d.day_of_week::integer                                   AS day_of_week,
       d.day_name,
       d.is_weekend,
       d.is_holiday,
       -- India's fiscal year runs April to March, named after the year it ends in (FY 2026 = Apr 2025 - Mar 2026)
       (d.year + CASE WHEN d.month >= 4 THEN 1 ELSE 0 END)::integer AS fiscal_year,
       ((d.month + 8) % 12 / 3 + 1)::integer                     AS fiscal_quarter
FROM gold.dim_date AS d;
COMMENT ON VIEW citizen.dim_date IS 'Seed 003 dim_date over gold.dim_date: date_key YYYYMMDD; week_of_year is the ISO week (pair it with iso_year); fiscal_year / fiscal_quarter follow India''s April-March fiscal year whatever calendar.fiscal_year_start_month says.';

CREATE VIEW citizen.dim_time AS
SELECT t.time_key, t.full_time,
       t.hour::integer AS hour, t.minute::integer AS minute, t.second::integer AS second,
       t.hour_of_day::integer AS hour_of_day, t.period_of_day, t.is_business_hours, t.is_peak_hours
FROM gold.dim_time_of_day AS t;
COMMENT ON VIEW citizen.dim_time IS 'Seed 003 dim_time: exactly gold.dim_time_of_day (one row per second, time_key HHMMSS), as seen in the area''s zone (the facts'' time_key is the local time of day in citizen.timezone).';

-- ---------------------------------------------------------------------------------------------
-- Gold: facts, partitioned by event date (monthly partitions on date_key, created by the fact step),
-- each with the portal's event id (query_id / usage_id: with date_key the primary key; a reload replaces
-- the row), the event time, and date / time keys in the area's zone.
-- ---------------------------------------------------------------------------------------------

CREATE TABLE citizen.fct_service_queries (
    query_id                bigint NOT NULL,
    date_key                integer NOT NULL,
    time_key                integer NOT NULL,
    service_key             bigint NOT NULL,
    user_key                bigint,
    query_type_key          bigint NOT NULL,
    language_key            bigint NOT NULL,
    response_time_ms        integer,
    success_flag            boolean NOT NULL,
    result_count            integer,
    user_satisfaction_score smallint,
    session_id              text NOT NULL,
    ip_network              cidr,
    device_type             text NOT NULL,
    browser_type            text NOT NULL,
    os_type                 text NOT NULL,
    queried_at              timestamptz NOT NULL,
    _batch_id               uuid NOT NULL,
    _loaded_at              timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT fct_service_queries_pk PRIMARY KEY (query_id, date_key),
    CONSTRAINT fct_service_queries_date_fk FOREIGN KEY (date_key) REFERENCES gold.dim_date (date_key),
    CONSTRAINT fct_service_queries_time_fk FOREIGN KEY (time_key) REFERENCES gold.dim_time_of_day (time_key),
    CONSTRAINT fct_service_queries_service_fk FOREIGN KEY (service_key) REFERENCES citizen.dim_service (service_key),
    CONSTRAINT fct_service_queries_user_fk FOREIGN KEY (user_key) REFERENCES citizen.dim_user (user_key),
    CONSTRAINT fct_service_queries_query_type_fk FOREIGN KEY (query_type_key) REFERENCES citizen.dim_query_type (query_type_key),
    CONSTRAINT fct_service_queries_language_fk FOREIGN KEY (language_key) REFERENCES citizen.dim_language (language_key),
    CONSTRAINT fct_service_queries_response_ck CHECK (response_time_ms >= 0),
    CONSTRAINT fct_service_queries_result_ck CHECK (result_count >= 0),
    CONSTRAINT fct_service_queries_satisfaction_ck CHECK (user_satisfaction_score BETWEEN 1 AND 5),
    CONSTRAINT fct_service_queries_session_ck CHECK (length(session_id) BETWEEN 1 AND 255),
    CONSTRAINT fct_service_queries_ip_ck CHECK ((family(ip_network) = 4 AND masklen(ip_network) = 24)
                                                OR (family(ip_network) = 6 AND masklen(ip_network) = 48)),
    CONSTRAINT fct_service_queries_device_ck CHECK (device_type IN ('mobile', 'desktop', 'tablet', 'bot', 'unknown')),
    CONSTRAINT fct_service_queries_browser_ck CHECK (browser_type IN ('chrome', 'firefox', 'safari', 'edge', 'opera', 'samsung', 'uc', 'api_client', 'other', 'unknown')),
    CONSTRAINT fct_service_queries_os_ck CHECK (os_type IN ('android', 'ios', 'windows', 'macos', 'linux', 'other', 'unknown'))
) PARTITION BY RANGE (date_key);
CREATE INDEX fct_service_queries_service_idx ON citizen.fct_service_queries (service_key, date_key);
CREATE INDEX fct_service_queries_user_idx ON citizen.fct_service_queries (user_key, date_key) WHERE user_key IS NOT NULL;
CREATE INDEX fct_service_queries_session_idx ON citizen.fct_service_queries (session_id);
COMMENT ON TABLE citizen.fct_service_queries IS 'One row per query to the portal (grain: query_id, the collector''s event id), monthly partitions on date_key. Dimension keys are the versions valid at queried_at; user_key is NULL for anonymous visitors (session_id identifies them). No raw IP or user agent: ip_network and the parsed device / browser / OS.';

CREATE TABLE citizen.fct_content_usage (
    usage_id                bigint NOT NULL,
    date_key                integer NOT NULL,
    time_key                integer NOT NULL,
    content_key             bigint NOT NULL,
    service_key             bigint NOT NULL,
    user_key                bigint,
    content_type_key        bigint NOT NULL,
    action_type             text NOT NULL,
    duration_seconds        integer,
    scroll_depth_percent    smallint,
    search_rank_position    integer,
    user_rating             smallint,
    query_id                bigint,
    session_id              text NOT NULL,
    ip_network              cidr,
    device_type             text NOT NULL,
    browser_type            text NOT NULL,
    os_type                 text NOT NULL,
    used_at                 timestamptz NOT NULL,
    _batch_id               uuid NOT NULL,
    _loaded_at              timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT fct_content_usage_pk PRIMARY KEY (usage_id, date_key),
    CONSTRAINT fct_content_usage_date_fk FOREIGN KEY (date_key) REFERENCES gold.dim_date (date_key),
    CONSTRAINT fct_content_usage_time_fk FOREIGN KEY (time_key) REFERENCES gold.dim_time_of_day (time_key),
    CONSTRAINT fct_content_usage_content_fk FOREIGN KEY (content_key) REFERENCES citizen.dim_content (content_key),
    CONSTRAINT fct_content_usage_service_fk FOREIGN KEY (service_key) REFERENCES citizen.dim_service (service_key),
    CONSTRAINT fct_content_usage_user_fk FOREIGN KEY (user_key) REFERENCES citizen.dim_user (user_key),
    CONSTRAINT fct_content_usage_content_type_fk FOREIGN KEY (content_type_key) REFERENCES citizen.dim_content_type (content_type_key),
    CONSTRAINT fct_content_usage_action_ck CHECK (action_type IN ('view', 'download', 'share', 'bookmark')),
    CONSTRAINT fct_content_usage_duration_ck CHECK (duration_seconds >= 0),
    CONSTRAINT fct_content_usage_scroll_ck CHECK (scroll_depth_percent BETWEEN 0 AND 100),
    CONSTRAINT fct_content_usage_rank_ck CHECK (search_rank_position >= 1),
    CONSTRAINT fct_content_usage_rating_ck CHECK (user_rating BETWEEN 1 AND 5),
    CONSTRAINT fct_content_usage_session_ck CHECK (length(session_id) BETWEEN 1 AND 255),
    CONSTRAINT fct_content_usage_ip_ck CHECK ((family(ip_network) = 4 AND masklen(ip_network) = 24)
                                              OR (family(ip_network) = 6 AND masklen(ip_network) = 48)),
    CONSTRAINT fct_content_usage_device_ck CHECK (device_type IN ('mobile', 'desktop', 'tablet', 'bot', 'unknown')),
    CONSTRAINT fct_content_usage_browser_ck CHECK (browser_type IN ('chrome', 'firefox', 'safari', 'edge', 'opera', 'samsung', 'uc', 'api_client', 'other', 'unknown')),
    CONSTRAINT fct_content_usage_os_ck CHECK (os_type IN ('android', 'ios', 'windows', 'macos', 'linux', 'other', 'unknown'))
) PARTITION BY RANGE (date_key);
CREATE INDEX fct_content_usage_content_idx ON citizen.fct_content_usage (content_key, date_key);
CREATE INDEX fct_content_usage_service_idx ON citizen.fct_content_usage (service_key, date_key);
CREATE INDEX fct_content_usage_user_idx ON citizen.fct_content_usage (user_key, date_key) WHERE user_key IS NOT NULL;
CREATE INDEX fct_content_usage_session_idx ON citizen.fct_content_usage (session_id);
COMMENT ON TABLE citizen.fct_content_usage IS 'One row per content action (view, download, share, bookmark; grain: usage_id, the collector''s event id), monthly partitions on date_key. query_id names the search the visitor came from, when any (join to fct_service_queries by it, not by service and day). No raw IP or user agent.';

DO $comments$
DECLARE
    v record;
BEGIN
    FOR v IN
        SELECT * FROM (VALUES
        ('fct_service_queries', 'query_id', 'The collector''s id of the query event: with date_key the key; a re-delivery replaces the row, never adds one.'),
        ('fct_service_queries', 'date_key', 'Date of queried_at in the area''s zone (setting citizen.timezone, default Asia/Kolkata), YYYYMMDD.'),
        ('fct_service_queries', 'time_key', 'Local time of day of queried_at in the area''s zone, HHMMSS (gold.dim_time_of_day).'),
        ('fct_service_queries', 'service_key', 'The service version valid at queried_at (its department and category then).'),
        ('fct_service_queries', 'user_key', 'The registered user''s version valid at queried_at; NULL for an anonymous visitor.'),
        ('fct_service_queries', 'response_time_ms', 'Time to answer, milliseconds; NULL when the collector did not time it.'),
        ('fct_service_queries', 'success_flag', 'The query was answered without error.'),
        ('fct_service_queries', 'result_count', 'Number of results returned.'),
        ('fct_service_queries', 'user_satisfaction_score', '1-5 rating the visitor gave, NULL when none.'),
        ('fct_service_queries', 'session_id', 'The visit (browser session): counts anonymous visitors, groups a user''s queries.'),
        ('fct_service_queries', 'ip_network', 'The client''s network, not its address: /24 for IPv4, /48 for IPv6 (NULL when the address was missing or not an address).'),
        ('fct_service_queries', 'device_type', 'Parsed from the user agent: mobile, desktop, tablet, bot or unknown.'),
        ('fct_service_queries', 'browser_type', 'Parsed from the user agent (api_client for programmatic clients).'),
        ('fct_service_queries', 'os_type', 'Parsed from the user agent.'),
        ('fct_service_queries', 'queried_at', 'When the query was made (event time, from the payload).'),
        ('fct_service_queries', '_loaded_at', 'When the row was written (load time).'),
        ('fct_content_usage', 'usage_id', 'The collector''s id of the content event: with date_key the key; a re-delivery replaces the row.'),
        ('fct_content_usage', 'date_key', 'Date of used_at in the area''s zone, YYYYMMDD.'),
        ('fct_content_usage', 'time_key', 'Local time of day of used_at in the area''s zone, HHMMSS.'),
        ('fct_content_usage', 'content_key', 'The content version valid at used_at (its source then).'),
        ('fct_content_usage', 'service_key', 'The service version valid at used_at.'),
        ('fct_content_usage', 'user_key', 'The registered user''s version valid at used_at; NULL for an anonymous visitor.'),
        ('fct_content_usage', 'content_type_key', 'The content''s type (of the content version valid at used_at).'),
        ('fct_content_usage', 'action_type', 'view, download, share or bookmark.'),
        ('fct_content_usage', 'duration_seconds', 'Time spent on the content (views), NULL when not measured.'),
        ('fct_content_usage', 'scroll_depth_percent', 'How far the visitor scrolled, 0-100 (views).'),
        ('fct_content_usage', 'search_rank_position', 'Position of the content in the search results the visitor came from (1 = first), NULL when not from a search.'),
        ('fct_content_usage', 'user_rating', '1-5 rating the visitor gave the content, NULL when none.'),
        ('fct_content_usage', 'query_id', 'The query (fct_service_queries.query_id) the visitor came from, NULL when none.'),
        ('fct_content_usage', 'session_id', 'The visit: counts anonymous visitors.'),
        ('fct_content_usage', 'ip_network', 'The client''s network (/24 IPv4, /48 IPv6), not its address.'),
        ('fct_content_usage', 'used_at', 'When the action happened (event time).'),
        ('fct_content_usage', '_loaded_at', 'When the row was written (load time).'),
        ('dim_service', 'service_id', 'Natural key: the portal''s service id.'),
        ('dim_service', 'department_id', 'Natural key of the owning department (Type 2).'),
        ('dim_service', 'department', 'Name of the owning department (Type 2: a move opens a version).'),
        ('dim_service', 'service_category', 'Category (Type 2).'),
        ('dim_service', 'priority_level', '1 (highest) to 5 (Type 2).'),
        ('dim_service', 'service_type', 'api, scraped or document (Type 2).'),
        ('dim_service', 'data_source', 'dim_content_source.source_name the service''s data comes from (Type 2).'),
        ('dim_service', 'created_at', 'When the service was created in the portal.'),
        ('dim_user', 'user_id', 'Natural key: the portal''s account id.'),
        ('dim_user', 'user_type', 'citizen, admin or api_client (Type 2).'),
        ('dim_user', 'location_state', 'State of residence (Type 2).'),
        ('dim_user', 'location_district', 'District of residence (Type 2).'),
        ('dim_user', 'language_preference', 'Preferred language code (Type 1).'),
        ('dim_content', 'content_id', 'Natural key: the portal''s content id.'),
        ('dim_content', 'language', 'Language code of the content (dim_language.language_code).'),
        ('dim_content', 'content_source', 'dim_content_source.source_name that delivered the content (Type 2: a re-sourced item opens a version).'),
        ('dim_content', 'service_id', 'The service the content belongs to.'),
        ('dim_language', 'script_type', 'Writing system: latin, devanagari, bengali, ..., perso_arabic (right to left), meitei, ol_chiki.'),
        ('dim_language', 'is_rtl', 'Written right to left (Urdu, Kashmiri: Perso-Arabic script).'),
        ('dim_language', 'is_scheduled', 'One of the 22 languages of the Eighth Schedule of the Constitution (English is not).'),
        ('dim_language', 'coverage_percentage', 'Share of active services with at least one active content item in this language, in percent (recomputed by every load).'),
        ('dim_content_source', 'reliability_score', '0.00-1.00: the source''s share of successful syncs (as the source system reports it).'),
        ('dim_content_source', 'update_frequency', 'real_time, daily, weekly or monthly.'),
        ('dim_content_source', 'sync_schedule', 'cron expression (UTC) of the source''s sync job.'),
        ('dim_content_source', 'last_sync', 'When the source last synced (Type 1: overwritten).')
        ) AS c (table_name, column_name, comment)
    LOOP
        EXECUTE format('COMMENT ON COLUMN citizen.%I.%I IS %L', v.table_name, v.column_name, v.comment);
    END LOOP;
END
$comments$;

-- ---------------------------------------------------------------------------------------------
-- Queues: the days whose facts changed, one queue per consumer (a mart step consumes its queue's rows),
-- fed by both fact steps ("affected_queue"); the marts of migration 0029 read them.
-- ---------------------------------------------------------------------------------------------

DO $queues$
DECLARE
    v_mart text;
BEGIN
    FOREACH v_mart IN ARRAY ARRAY['service', 'user', 'content', 'system']
    LOOP
        EXECUTE format(
            'CREATE TABLE dwh_staging.%1$I (date_key integer NOT NULL, run_id bigint, noted_at timestamptz NOT NULL DEFAULT now(), '
            'CONSTRAINT %2$I PRIMARY KEY (date_key))',
            'citizen_affected_days_' || v_mart, 'citizen_affected_days_' || v_mart || '_pk');
        EXECUTE format('COMMENT ON TABLE dwh_staging.%I IS %L', 'citizen_affected_days_' || v_mart,
                       format('Days (date_key) whose citizen facts changed and whose dm_%s_analytics rows are not yet recomputed; written by the fact steps, consumed by the mart step.', v_mart));
        EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON dwh_staging.%I TO etl_service', 'citizen_affected_days_' || v_mart);
    END LOOP;
END
$queues$;

-- Analysts read the star schema (and nothing else of the area); etl_service writes it.
GRANT SELECT ON citizen.dim_service, citizen.dim_user, citizen.dim_content, citizen.dim_query_type,
    citizen.dim_language, citizen.dim_content_source, citizen.dim_content_type, citizen.dim_date, citizen.dim_time,
    citizen.fct_service_queries, citizen.fct_content_usage
    TO analyst_role;
REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON citizen.dim_date, citizen.dim_time FROM etl_service;
