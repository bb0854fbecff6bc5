-- depends: 0028_citizen
-- The citizen area's measurements and marts (seed 003, issue 12): dim_quality_metric, fct_data_quality,
-- fct_system_performance, the four daily marts dm_service_analytics, dm_user_analytics,
-- dm_content_analytics, dm_system_analytics, and the queues of affected days that rebuild them. The
-- rows views (silver.citizen_*_rows), the KPI views (citizen.kpi_*) and the engine-days feeder are in
-- procedures/citizen/marts_*.sql and kpi_*.sql; docs/CITIZEN.md has every measure's formula.
--
-- Fixed from the seed:
--  * Two status vocabularies (fct_data_quality pass/warning/fail, fct_system_performance
--    normal/warning/critical): ONE vocabulary for both facts, good / warning / critical, the names of
--    dim_quality_metric's thresholds. NULL status: a metric without thresholds (request_count,
--    throughput_rps) is measured, not judged.
--  * metric_value was "a quality score (0-100)" but holds hours, milliseconds and counts: every value has
--    its unit (dim_quality_metric.measurement_unit, copied into the fact's unit) and the metric says
--    whether higher is better. Two thresholds make three states; the seed's third threshold_critical
--    would be redundant (a value that misses threshold_warning is critical) and is left out.
--  * Marts without primary keys: each has a PRIMARY KEY on its grain. The facts keep the seed's
--    surrogate id and have a UNIQUE key on their grain (a re-measurement replaces the row of its grain).
--  * created_at as load time: the facts and marts carry the day they measure (date_key) and
--    _loaded_at / _batch_id for when and by which run they were computed.
--  * fct_system_performance's metric_type was free text: it is the metric's code, kept in step with
--    quality_metric_key by a composite foreign key.

-- ---------------------------------------------------------------------------------------------
-- dim_quality_metric: what is measured, in which unit, which direction is good (SCD Type 1)
-- ---------------------------------------------------------------------------------------------
CREATE TABLE citizen.dim_quality_metric (
    quality_metric_key  integer GENERATED ALWAYS AS IDENTITY,
    metric_code         text NOT NULL,
    metric_name         text NOT NULL,
    metric_category     text NOT NULL,
    measurement_unit    text NOT NULL,
    higher_is_better    boolean NOT NULL,
    threshold_good      numeric(14,4),
    threshold_warning   numeric(14,4),
    description         text NOT NULL,
    is_active           boolean NOT NULL DEFAULT true,
    _loaded_at          timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT dim_quality_metric_pk PRIMARY KEY (quality_metric_key),
    CONSTRAINT dim_quality_metric_code_uq UNIQUE (metric_code),
    CONSTRAINT dim_quality_metric_key_code_uq UNIQUE (quality_metric_key, metric_code),
    CONSTRAINT dim_quality_metric_code_ck CHECK (metric_code ~ '^[a-z][a-z0-9_]*$'),
    CONSTRAINT dim_quality_metric_category_ck CHECK (metric_category IN ('data_quality', 'content_quality', 'system_quality', 'system_performance')),
    CONSTRAINT dim_quality_metric_unit_ck CHECK (measurement_unit IN ('percent', 'hours', 'seconds', 'ms', 'rps', 'count', 'score')),
    -- both thresholds or none; the warning band lies beyond the good one in the bad direction
    CONSTRAINT dim_quality_metric_thresholds_ck CHECK (
        (threshold_good IS NULL) = (threshold_warning IS NULL)
        AND (threshold_good IS NULL
             OR (higher_is_better AND threshold_warning <= threshold_good)
             OR (NOT higher_is_better AND threshold_warning >= threshold_good))),
    CONSTRAINT dim_quality_metric_percent_ck CHECK (
        measurement_unit <> 'percent' OR (threshold_good BETWEEN 0 AND 100 AND threshold_warning BETWEEN 0 AND 100)
        OR threshold_good IS NULL)
);
COMMENT ON TABLE citizen.dim_quality_metric IS 'The metrics of fct_data_quality and fct_system_performance (seed 003, extended with the performance metrics). SCD Type 1: a metric is reference data the warehouse defines; a changed threshold overwrites the row, and each fact row keeps the threshold it was judged against (threshold_value).';
COMMENT ON COLUMN citizen.dim_quality_metric.metric_code IS 'Natural key: completeness, accuracy, freshness, consistency, response_time_ms, throughput_rps, error_rate, request_count, etl_step_seconds, etl_step_runs, etl_failed_steps, cpu_usage_percent, memory_usage_percent, disk_usage_percent.';
COMMENT ON COLUMN citizen.dim_quality_metric.metric_name IS 'The seed''s metric_name: a readable name.';
COMMENT ON COLUMN citizen.dim_quality_metric.measurement_unit IS 'Unit of metric_value: percent (0-100), hours, seconds, ms, rps (requests per second), count, score.';
COMMENT ON COLUMN citizen.dim_quality_metric.higher_is_better IS 'Direction: true when a larger value is better (completeness), false when smaller is (response time).';
COMMENT ON COLUMN citizen.dim_quality_metric.threshold_good IS 'A value at least this good (>= when higher_is_better, else <=) is good.';
COMMENT ON COLUMN citizen.dim_quality_metric.threshold_warning IS 'A value that misses threshold_good but is at least this good is warning; a value that misses it too is critical. NULL (with threshold_good): the metric is not judged (status NULL).';
COMMENT ON COLUMN citizen.dim_quality_metric.is_active IS 'false: defined but not fed (cpu/memory/disk: the sources carry no host metrics).';

INSERT INTO citizen.dim_quality_metric
    (metric_code, metric_name, metric_category, measurement_unit, higher_is_better, threshold_good, threshold_warning, is_active, description)
VALUES
    ('completeness', 'Completeness', 'data_quality', 'percent', true, 98, 95, true,
     'Percent of the day''s fact rows of a service and source with every expected field populated (queries: response_time_ms, result_count, language; content events: duration_seconds of a view, scroll_depth_percent of a view).'),
    ('accuracy', 'Accuracy', 'data_quality', 'percent', true, 99, 95, true,
     'Percent of the source rows delivered for the day that the warehouse accepted: fact rows / (fact rows + open quarantine entries of the same service and day).'),
    ('freshness', 'Freshness', 'data_quality', 'hours', false, 24, 48, true,
     'Average hours from an event to its arrival in the fact table (_loaded_at - event time), over the day''s rows of a service and source.'),
    ('consistency', 'Consistency', 'data_quality', 'percent', true, 99, 95, true,
     'Percent of row checks passed: the area''s registered row-level quality rules (dwh_etl.quality_rules on the citizen facts) evaluated by the engine (dwh_etl.quality_evaluate) on the day''s rows of each service; 100 * (1 - failing / (rows x rules)).'),
    ('response_time_ms', 'Response time', 'system_performance', 'ms', false, 1000, 3000, true,
     'Average response time of the portal''s queries of a service in an hour (fct_service_queries.response_time_ms).'),
    ('throughput_rps', 'Throughput', 'system_performance', 'rps', true, NULL, NULL, true,
     'Queries per second of a service in an hour: queries / 3600. Load, not judged.'),
    ('error_rate', 'Error rate', 'system_performance', 'percent', false, 1, 5, true,
     'Percent of a service''s queries in an hour that failed (success_flag false).'),
    ('request_count', 'Requests', 'system_performance', 'count', true, NULL, NULL, true,
     'Queries of a service in an hour (the weight of the averages above). Load, not judged.'),
    ('etl_step_seconds', 'ETL step time', 'system_performance', 'seconds', false, 300, 900, true,
     'The warehouse measuring itself: seconds spent by the citizen area''s pipeline steps that completed in the hour (dwh_lineage.step_runs.duration_ms, summed); service_key NULL.'),
    ('etl_step_runs', 'ETL step runs', 'system_performance', 'count', true, NULL, NULL, true,
     'Citizen steps that finished (completed or failed) in the hour (dwh_lineage.step_runs). Load, not judged; service_key NULL.'),
    ('etl_failed_steps', 'Failed ETL steps', 'system_performance', 'count', false, 0, 0, true,
     'Citizen steps that failed in the hour (dwh_lineage.step_runs status failed); any failure is critical. service_key NULL.'),
    ('cpu_usage_percent', 'CPU usage', 'system_quality', 'percent', false, 70, 90, false,
     'Host CPU usage. No source carries it: defined so dm_system_analytics picks it up when a feed is added; inactive.'),
    ('memory_usage_percent', 'Memory usage', 'system_quality', 'percent', false, 75, 90, false,
     'Host memory usage. No source carries it; inactive.'),
    ('disk_usage_percent', 'Disk usage', 'system_quality', 'percent', false, 80, 90, false,
     'Host disk usage. No source carries it; inactive.');

-- ---------------------------------------------------------------------------------------------
-- fct_data_quality: metric x service x source x day, the warehouse measuring its citizen data
-- ---------------------------------------------------------------------------------------------
CREATE TABLE citizen.fct_data_quality (
    quality_id          bigint GENERATED ALWAYS AS IDENTITY,
    date_key            integer NOT NULL,
    service_key         bigint NOT NULL,
    content_source_key  bigint NOT NULL,
    quality_metric_key  integer NOT NULL,
    metric_value        numeric(14,4) NOT NULL,
    unit                text NOT NULL,
    threshold_value     numeric(14,4),
    status              text,
    rows_measured       bigint NOT NULL,
    details             jsonb NOT NULL DEFAULT '{}'::jsonb,
    _batch_id           uuid NOT NULL,
    _loaded_at          timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT fct_data_quality_pk PRIMARY KEY (quality_id),
    CONSTRAINT fct_data_quality_grain_uq UNIQUE (date_key, quality_metric_key, service_key, content_source_key),
    CONSTRAINT fct_data_quality_date_fk FOREIGN KEY (date_key) REFERENCES gold.dim_date (date_key),
    CONSTRAINT fct_data_quality_service_fk FOREIGN KEY (service_key) REFERENCES citizen.dim_service (service_key),
    CONSTRAINT fct_data_quality_source_fk FOREIGN KEY (content_source_key) REFERENCES citizen.dim_content_source (content_source_key),
    CONSTRAINT fct_data_quality_metric_fk FOREIGN KEY (quality_metric_key) REFERENCES citizen.dim_quality_metric (quality_metric_key),
    CONSTRAINT fct_data_quality_status_ck CHECK (status IN ('good', 'warning', 'critical')),
    CONSTRAINT fct_data_quality_rows_ck CHECK (rows_measured >= 0),
    CONSTRAINT fct_data_quality_percent_ck CHECK (unit <> 'percent' OR metric_value BETWEEN 0 AND 100)
);
CREATE INDEX fct_data_quality_service_idx ON citizen.fct_data_quality (service_key, date_key);
COMMENT ON TABLE citizen.fct_data_quality IS 'Data quality of the citizen facts per metric (completeness, accuracy, freshness, consistency), service, content source and day, measured by the warehouse itself (its facts, its quarantine, its quality rules); rebuilt for the affected days by the mart step citizen_fct_data_quality from silver.citizen_fct_data_quality_rows.';
COMMENT ON COLUMN citizen.fct_data_quality.date_key IS 'The day measured (the events'' day in citizen.timezone), not the day of the measurement.';
COMMENT ON COLUMN citizen.fct_data_quality.content_source_key IS 'The source the rows came from: the service''s data source for queries, the content''s source for content events.';
COMMENT ON COLUMN citizen.fct_data_quality.metric_value IS 'In unit (percent 0-100, hours, ...): see dim_quality_metric.description for each formula.';
COMMENT ON COLUMN citizen.fct_data_quality.unit IS 'dim_quality_metric.measurement_unit at measurement time.';
COMMENT ON COLUMN citizen.fct_data_quality.threshold_value IS 'The metric''s threshold_good at measurement time.';
COMMENT ON COLUMN citizen.fct_data_quality.status IS 'good / warning / critical against the metric''s thresholds at measurement time (the one vocabulary of both facts).';
COMMENT ON COLUMN citizen.fct_data_quality.rows_measured IS 'The denominator: rows (or row checks, for consistency) the value was computed over.';
COMMENT ON COLUMN citizen.fct_data_quality.details IS 'The counts behind the value (e.g. failing rows per rule for consistency).';

-- ---------------------------------------------------------------------------------------------
-- fct_system_performance: metric x service x hour (the portal's and the warehouse's own)
-- ---------------------------------------------------------------------------------------------
CREATE TABLE citizen.fct_system_performance (
    performance_id      bigint GENERATED ALWAYS AS IDENTITY,
    date_key            integer NOT NULL,
    time_key            integer NOT NULL,
    service_key         bigint,
    quality_metric_key  integer NOT NULL,
    metric_type         text NOT NULL,
    metric_value        numeric(14,4) NOT NULL,
    unit                text NOT NULL,
    threshold_value     numeric(14,4),
    status              text,
    details             jsonb NOT NULL DEFAULT '{}'::jsonb,
    _batch_id           uuid NOT NULL,
    _loaded_at          timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT fct_system_performance_pk PRIMARY KEY (performance_id),
    -- service_key NULL is the warehouse itself (ETL metrics): one row per metric and hour as well
    CONSTRAINT fct_system_performance_grain_uq UNIQUE NULLS NOT DISTINCT (date_key, time_key, quality_metric_key, service_key),
    CONSTRAINT fct_system_performance_date_fk FOREIGN KEY (date_key) REFERENCES gold.dim_date (date_key),
    CONSTRAINT fct_system_performance_time_fk FOREIGN KEY (time_key) REFERENCES gold.dim_time_of_day (time_key),
    CONSTRAINT fct_system_performance_service_fk FOREIGN KEY (service_key) REFERENCES citizen.dim_service (service_key),
    CONSTRAINT fct_system_performance_metric_fk FOREIGN KEY (quality_metric_key, metric_type)
        REFERENCES citizen.dim_quality_metric (quality_metric_key, metric_code),
    CONSTRAINT fct_system_performance_hour_ck CHECK (time_key % 10000 = 0),
    CONSTRAINT fct_system_performance_status_ck CHECK (status IN ('good', 'warning', 'critical')),
    CONSTRAINT fct_system_performance_percent_ck CHECK (unit <> 'percent' OR metric_value BETWEEN 0 AND 100)
);
CREATE INDEX fct_system_performance_metric_idx ON citizen.fct_system_performance (quality_metric_key, date_key);
COMMENT ON TABLE citizen.fct_system_performance IS 'Performance per metric, service and hour: the portal''s response time, throughput, error rate and request count from fct_service_queries, and the warehouse''s own ETL step time and failures from dwh_lineage.step_runs (service_key NULL). Rebuilt for the affected days by the mart step citizen_fct_system_performance.';
COMMENT ON COLUMN citizen.fct_system_performance.time_key IS 'The hour (HH0000 in gold.dim_time_of_day) in citizen.timezone.';
COMMENT ON COLUMN citizen.fct_system_performance.service_key IS 'The portal service measured; NULL for the warehouse''s own metrics (etl_*), which belong to no service.';
COMMENT ON COLUMN citizen.fct_system_performance.metric_type IS 'The seed''s metric_type: the metric''s code (dim_quality_metric.metric_code).';
COMMENT ON COLUMN citizen.fct_system_performance.status IS 'good / warning / critical against the metric''s thresholds (the vocabulary of fct_data_quality too); NULL for a metric that is not judged.';
COMMENT ON COLUMN citizen.fct_system_performance.details IS 'The counts behind the value (queries and failures; for etl_* the seconds per step).';

-- ---------------------------------------------------------------------------------------------
-- The marts: one row per grain, every measure computed (formulas in the COMMENTs and docs/CITIZEN.md)
-- ---------------------------------------------------------------------------------------------
CREATE TABLE citizen.dm_service_analytics (
    date_key            integer NOT NULL,
    service_key         bigint NOT NULL,
    total_queries       bigint NOT NULL,
    successful_queries  bigint NOT NULL,
    failed_queries      bigint NOT NULL,
    avg_response_time_ms numeric(10,2),
    unique_users        bigint NOT NULL,
    satisfaction_score  numeric(3,2),
    content_views       bigint NOT NULL,
    content_downloads   bigint NOT NULL,
    _batch_id           uuid NOT NULL,
    _loaded_at          timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT dm_service_analytics_pk PRIMARY KEY (date_key, service_key),
    CONSTRAINT dm_service_analytics_date_fk FOREIGN KEY (date_key) REFERENCES gold.dim_date (date_key),
    CONSTRAINT dm_service_analytics_service_fk FOREIGN KEY (service_key) REFERENCES citizen.dim_service (service_key),
    CONSTRAINT dm_service_analytics_queries_ck CHECK (total_queries = successful_queries + failed_queries),
    CONSTRAINT dm_service_analytics_satisfaction_ck CHECK (satisfaction_score BETWEEN 1 AND 5)
);
COMMENT ON TABLE citizen.dm_service_analytics IS 'Service x day (seed 003 Service Analytics): queries and content use of a service version (the fact''s service_key) on a day in citizen.timezone. Queries and content events are aggregated separately, then joined on the grain (no row multiplication). Rebuilt for the affected days only.';
COMMENT ON COLUMN citizen.dm_service_analytics.total_queries IS 'count(*) of fct_service_queries.';
COMMENT ON COLUMN citizen.dm_service_analytics.successful_queries IS 'Queries with success_flag.';
COMMENT ON COLUMN citizen.dm_service_analytics.failed_queries IS 'Queries without success_flag (total = successful + failed).';
COMMENT ON COLUMN citizen.dm_service_analytics.avg_response_time_ms IS 'avg(response_time_ms) of the queries that report one; NULL when none does.';
COMMENT ON COLUMN citizen.dm_service_analytics.unique_users IS 'Distinct visitors who queried the service or used its content that day: a registered user counts once by user_key, an anonymous visitor once per session (session_id); not dropped.';
COMMENT ON COLUMN citizen.dm_service_analytics.satisfaction_score IS 'avg(user_satisfaction_score) (1-5) of the rated queries; NULL when none was rated.';
COMMENT ON COLUMN citizen.dm_service_analytics.content_views IS 'fct_content_usage rows with action_type view.';
COMMENT ON COLUMN citizen.dm_service_analytics.content_downloads IS 'fct_content_usage rows with action_type download.';

CREATE TABLE citizen.dm_user_analytics (
    date_key            integer NOT NULL,
    user_key            bigint NOT NULL,
    session_count       bigint NOT NULL,
    total_queries       bigint NOT NULL,
    content_actions     bigint NOT NULL,
    avg_session_duration_seconds integer NOT NULL,
    most_used_service   text NOT NULL,
    language_preference text,
    device_type         text,
    engagement_score    numeric(3,2) NOT NULL,
    _batch_id           uuid NOT NULL,
    _loaded_at          timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT dm_user_analytics_pk PRIMARY KEY (date_key, user_key),
    CONSTRAINT dm_user_analytics_date_fk FOREIGN KEY (date_key) REFERENCES gold.dim_date (date_key),
    CONSTRAINT dm_user_analytics_user_fk FOREIGN KEY (user_key) REFERENCES citizen.dim_user (user_key),
    CONSTRAINT dm_user_analytics_engagement_ck CHECK (engagement_score BETWEEN 0 AND 1),
    CONSTRAINT dm_user_analytics_counts_ck CHECK (session_count >= 1 AND total_queries >= 0 AND content_actions >= 0 AND avg_session_duration_seconds >= 0)
);
COMMENT ON TABLE citizen.dm_user_analytics IS 'Registered user x day (seed 003 User Analytics): sessions, queries and content actions of a user version on a day in citizen.timezone. Anonymous visitors have no user row: they are counted by session in dm_service_analytics.unique_users and kpi_user_engagement. Rebuilt for the affected days only.';
COMMENT ON COLUMN citizen.dm_user_analytics.session_count IS 'Distinct session_id over the user''s queries and content events of the day.';
COMMENT ON COLUMN citizen.dm_user_analytics.content_actions IS 'The user''s content events of the day (views, downloads, shares, bookmarks); not in the seed.';
COMMENT ON COLUMN citizen.dm_user_analytics.avg_session_duration_seconds IS 'Average over the user''s sessions of the day of (end of the last activity - first event), in whole seconds (rounded); the end of a content event is its time + duration_seconds; a single query makes a 0-second session.';
COMMENT ON COLUMN citizen.dm_user_analytics.most_used_service IS 'service_name of the service with most events (queries + content events) by the user that day; ties: the one used first that day, then the lower service_key.';
COMMENT ON COLUMN citizen.dm_user_analytics.language_preference IS 'language_code of most of the user''s queries that day (ties: lower language_code); without queries, the user''s stated preference (dim_user.language_preference).';
COMMENT ON COLUMN citizen.dm_user_analytics.device_type IS 'Device (parsed from the user agent) of most of the user''s events that day; ties: alphabetical. dim_user has no device: a person uses several.';
COMMENT ON COLUMN citizen.dm_user_analytics.engagement_score IS '0.00-1.00: 0.4 * least(total_queries, 10) / 10 + 0.3 * least(content_actions, 10) / 10 + 0.3 * least(avg_session_duration_seconds, 600) / 600, rounded to 2 decimals.';

CREATE TABLE citizen.dm_content_analytics (
    date_key            integer NOT NULL,
    content_key         bigint NOT NULL,
    view_count          bigint NOT NULL,
    download_count      bigint NOT NULL,
    share_count         bigint NOT NULL,
    bookmark_count      bigint NOT NULL,
    avg_view_duration_seconds integer,
    bounce_rate         numeric(5,2),
    search_rank_position integer,
    user_rating         numeric(3,2),
    _batch_id           uuid NOT NULL,
    _loaded_at          timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT dm_content_analytics_pk PRIMARY KEY (date_key, content_key),
    CONSTRAINT dm_content_analytics_date_fk FOREIGN KEY (date_key) REFERENCES gold.dim_date (date_key),
    CONSTRAINT dm_content_analytics_content_fk FOREIGN KEY (content_key) REFERENCES citizen.dim_content (content_key),
    CONSTRAINT dm_content_analytics_bounce_ck CHECK (bounce_rate BETWEEN 0 AND 100),
    CONSTRAINT dm_content_analytics_rank_ck CHECK (search_rank_position >= 1),
    CONSTRAINT dm_content_analytics_rating_ck CHECK (user_rating BETWEEN 1 AND 5)
);
COMMENT ON TABLE citizen.dm_content_analytics IS 'Content x day (seed 003 Content Analytics): use of a content version (the fact''s content_key) on a day in citizen.timezone. Rebuilt for the affected days only.';
COMMENT ON COLUMN citizen.dm_content_analytics.view_count IS 'Events with action_type view (likewise download_count, share_count, bookmark_count; bookmark_count is not in the seed).';
COMMENT ON COLUMN citizen.dm_content_analytics.avg_view_duration_seconds IS 'avg(duration_seconds) of the views that report one, rounded to whole seconds; NULL when none.';
COMMENT ON COLUMN citizen.dm_content_analytics.bounce_rate IS 'Percent of the content''s views that bounced: the view was the only event (query or content event) of its session that day. NULL without views.';
COMMENT ON COLUMN citizen.dm_content_analytics.search_rank_position IS 'Average position (rounded; 1 = first) at which the content was listed in the search results its visitors came from (fct_content_usage.search_rank_position); NULL when no event came from a search.';
COMMENT ON COLUMN citizen.dm_content_analytics.user_rating IS 'avg(user_rating) (1-5) of the content''s events that carry a rating; NULL when none.';

CREATE TABLE citizen.dm_system_analytics (
    date_key            integer NOT NULL,
    time_key            integer NOT NULL,
    total_requests      bigint NOT NULL,
    avg_response_time_ms numeric(10,2),
    error_rate          numeric(5,2) NOT NULL,
    throughput_rps      numeric(12,4) NOT NULL,
    cpu_usage_percent   numeric(5,2),
    memory_usage_percent numeric(5,2),
    disk_usage_percent  numeric(5,2),
    _batch_id           uuid NOT NULL,
    _loaded_at          timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT dm_system_analytics_pk PRIMARY KEY (date_key, time_key),
    CONSTRAINT dm_system_analytics_date_fk FOREIGN KEY (date_key) REFERENCES gold.dim_date (date_key),
    CONSTRAINT dm_system_analytics_time_fk FOREIGN KEY (time_key) REFERENCES gold.dim_time_of_day (time_key),
    CONSTRAINT dm_system_analytics_hour_ck CHECK (time_key % 10000 = 0),
    CONSTRAINT dm_system_analytics_rate_ck CHECK (error_rate BETWEEN 0 AND 100),
    CONSTRAINT dm_system_analytics_usage_ck CHECK (cpu_usage_percent BETWEEN 0 AND 100 AND memory_usage_percent BETWEEN 0 AND 100
                                                   AND disk_usage_percent BETWEEN 0 AND 100)
);
COMMENT ON TABLE citizen.dm_system_analytics IS 'Day x hour (seed 003 System Performance): the whole portal''s load and health per hour in citizen.timezone, from fct_service_queries; host usage from fct_system_performance. Rebuilt for the affected days only.';
COMMENT ON COLUMN citizen.dm_system_analytics.time_key IS 'The hour, HH0000 (gold.dim_time_of_day).';
COMMENT ON COLUMN citizen.dm_system_analytics.total_requests IS 'Queries of every service in the hour.';
COMMENT ON COLUMN citizen.dm_system_analytics.avg_response_time_ms IS 'avg(response_time_ms) of the hour''s queries that report one.';
COMMENT ON COLUMN citizen.dm_system_analytics.error_rate IS '100 * failed queries / total_requests.';
COMMENT ON COLUMN citizen.dm_system_analytics.throughput_rps IS 'total_requests / 3600, 4 decimals (the seed''s DECIMAL(10,2) showed an hour of a few thousand queries as 0.xx and fewer than 18 as 0.00).';
COMMENT ON COLUMN citizen.dm_system_analytics.cpu_usage_percent IS 'avg of the hour''s cpu_usage_percent rows of fct_system_performance. No source feeds host metrics today (the metric is inactive), so NULL; likewise memory and disk.';

-- ---------------------------------------------------------------------------------------------
-- Queues of affected days for the two measurement facts (the marts consume migration 0028's
-- dwh_staging.citizen_affected_days_{service,user,content,system}, fed by both fact steps). The mart kind's
-- table form consumes its queue, so each consumer has its own; citizen.marts_queue_engine_days fills these
-- from the facts' days (it copies the service queue before the marts consume it), from the days of new
-- quarantine entries and from the days of the area's step runs.
-- ---------------------------------------------------------------------------------------------
CREATE TABLE dwh_staging.citizen_dq_days (
    date_key integer NOT NULL,
    run_id   bigint,
    noted_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT citizen_dq_days_pk PRIMARY KEY (date_key)
);
COMMENT ON TABLE dwh_staging.citizen_dq_days IS 'Days whose citizen.fct_data_quality rows are to be recomputed (facts changed, rows quarantined); filled by citizen.marts_queue_engine_days, consumed by the mart step citizen_fct_data_quality.';
CREATE TABLE dwh_staging.citizen_perf_days (
    date_key integer NOT NULL,
    run_id   bigint,
    noted_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT citizen_perf_days_pk PRIMARY KEY (date_key)
);
COMMENT ON TABLE dwh_staging.citizen_perf_days IS 'Days whose citizen.fct_system_performance rows are to be recomputed (queries changed, citizen steps ran); filled by citizen.marts_queue_engine_days, consumed by the mart step citizen_fct_system_performance.';
GRANT SELECT, INSERT, UPDATE, DELETE ON dwh_staging.citizen_dq_days, dwh_staging.citizen_perf_days TO etl_service;

-- ---------------------------------------------------------------------------------------------
-- Grants: etl_service writes (the schema's default privileges), analysts read the star tables
-- ---------------------------------------------------------------------------------------------
GRANT SELECT, INSERT, UPDATE, DELETE ON citizen.dim_quality_metric, citizen.fct_data_quality, citizen.fct_system_performance,
      citizen.dm_service_analytics, citizen.dm_user_analytics, citizen.dm_content_analytics, citizen.dm_system_analytics
    TO etl_service;
GRANT SELECT ON citizen.dim_quality_metric, citizen.fct_data_quality, citizen.fct_system_performance,
      citizen.dm_service_analytics, citizen.dm_user_analytics, citizen.dm_content_analytics, citizen.dm_system_analytics
    TO analyst_role;
