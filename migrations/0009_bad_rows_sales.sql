-- depends: 0007_pg_cron
-- Settings of the row-level validation (issue 9): the sane range of event times, and the zone the
-- sales source's zone-less timestamps are written in. Re-runnable: existing values are kept.
INSERT INTO dwh_etl.settings (key, value, description) VALUES
    ('quality.min_event_date', '1990-01-01',
     'Earliest accepted event time (a date, UTC midnight): rows whose event or change time is earlier are quarantined (a 0001-01-01 timestamp must never request partitions from year 1). Read by dwh_etl.event_time_bounds.'),
    ('quality.max_future', '1 day',
     'How far ahead of the run an event or change time may be (an interval, counted from the later of now() and the end of the run date): later rows are quarantined, never accepted silently. Read by dwh_etl.event_time_bounds.'),
    ('sales.source_timezone', 'UTC',
     'Time zone of the sales source (the shop): zone-less timestamps of the source are read in it, and a sale''s business day (fact_sales.date_key, time_key) is its date there. An IANA name such as UTC or Europe/Berlin; never the session''s TimeZone.')
ON CONFLICT (key) DO NOTHING;
