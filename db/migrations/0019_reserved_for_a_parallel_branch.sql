-- Placeholder: version 19 belongs to a branch developed in parallel with delivery zones (0020).
-- Migrations are numbered without gaps (db/migrate.py), so this branch holds the number with a
-- migration that does nothing. DELETE THIS FILE when merging with the branch that owns 0019 (and
-- its line in schema.sql's schema_migrations list).
SELECT 1;
