"""Where schema.sql, the readable whole of the schema, lives (db/migrate.py applies the
migrations; the test template loads this file, and a test proves the two agree)."""

from __future__ import annotations

from pathlib import Path

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "schema.sql"
