"""Postgres: pool, schema, and one module per aggregate holding all of its SQL."""
