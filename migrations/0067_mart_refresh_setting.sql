-- depends: 0066_watermark_guard
-- Issue 15, the next day at scale 1: its costliest step was REFRESH ... CONCURRENTLY of
-- sales.mv_customer_lifetime_value (0.52-0.69 s: the whole view computed again and diffed with the old
-- contents; a plain refresh 0.16-0.21 s). dwh_etl.sec_refresh_mart now refreshes plainly when nobody holds
-- the view at that instant, concurrently otherwise; this setting chooses.
INSERT INTO dwh_etl.settings (key, value, description) VALUES
    ('marts.refresh', 'auto',
     'How mart materialized views are refreshed: auto = plainly when nobody holds the view at that instant (3-4x cheaper; a reader arriving meanwhile waits for it), else CONCURRENTLY; concurrently = always CONCURRENTLY when possible (readers never wait).')
ON CONFLICT (key) DO NOTHING;
