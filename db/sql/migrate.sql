-- Bookkeeping of the migration runner (db/migrate.py) and the version /ready checks.

-- name: migrate_lock
-- Serialises migration runs on this database; a session lock, released by migrate_unlock or when the session ends.
SELECT pg_advisory_lock(%(key)s);

-- name: migrate_unlock
-- Releases migrate_lock.
SELECT pg_advisory_unlock(%(key)s);

-- name: migrate_create_history
-- The history table, the same DDL as in schema.sql (tests/test_migrations.py compares them).
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    int PRIMARY KEY,
    name       text NOT NULL,
    checksum   text,
    applied_at timestamptz NOT NULL DEFAULT now()
);

-- name: migrate_has_history
-- Whether the database has a migration history at all (one made before migrations has not).
SELECT to_regclass('public.schema_migrations') IS NOT NULL AS present;

-- name: migrate_history
-- Every recorded migration, oldest first.
SELECT version, name, checksum, applied_at FROM schema_migrations ORDER BY version;

-- name: migrate_record
-- Records one migration as applied, in the transaction that applied it.
INSERT INTO schema_migrations (version, name, checksum) VALUES (%(version)s, %(name)s, %(checksum)s);

-- name: migrate_history_revoke
-- The app role reads the history and never writes it, whatever a migration's blanket GRANT gave it ...
REVOKE ALL ON schema_migrations FROM tabletop_app;

-- name: migrate_history_grant
-- ... (the same privileges schema.sql leaves it: SELECT, for /ready).
GRANT SELECT ON schema_migrations TO tabletop_app;

-- name: migrate_has_schema_info
-- Whether the database has the schema_info table of the days before migrations.
SELECT to_regclass('public.schema_info') IS NOT NULL AS present;

-- name: migrate_schema_info_version
-- The version schema.sql recorded when it was applied whole, before migrations.
SELECT schema_version FROM schema_info WHERE id = 1;

-- name: migrate_other_relations
-- Relations in the public schema besides the history: an empty database has none.
SELECT c.relname
  FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
   AND c.relname <> 'schema_migrations'
 ORDER BY c.relname
 LIMIT 5;

-- name: schema_version
-- The newest migration the database has; /ready compares it with the newest file in db/migrations.
SELECT max(version) AS version FROM schema_migrations;
