-- The schema version now lives in schema_migrations (db/migrate.py), one row per applied
-- migration; the single-row schema_info table of the days before migrations goes.
DROP TABLE schema_info;
