CREATE OR REPLACE VIEW sales.high_water_mark AS
SELECT w.table_name,
       w.watermark_column,
       w.watermark_value AS last_updated,
       w.updated_at
FROM dwh_etl.watermarks AS w;
COMMENT ON VIEW sales.high_water_mark IS 'Seed 004 high_water_mark: each incremental load''s watermark (last_updated) and when it moved.';
