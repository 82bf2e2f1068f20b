"""The README's first command stops everything it started, whether Ctrl-C (SIGINT) or a
process manager (SIGTERM) asks: honcho, the API, the worker, both stand-ins and the
embedded PostgreSQL, within seconds, leaving the port free."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from db import embedded
from tests.conftest import ROOT, free_port


def descendants(root: int) -> set[int]:
    """Every live process below ``root`` (from /proc: pid -> parent)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = set(), {root}
    while frontier:
        frontier = {pid for pid, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie has exited; only its parent's reaping is left


def port_free(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # as a shell starts a background job ("&")


@pytest.mark.parametrize(("signum", "started_ignoring_sigint"),
                         [(signal.SIGINT, False), (signal.SIGTERM, False), (signal.SIGINT, True)],
                         ids=["SIGINT", "SIGTERM", "SIGINT-started-in-the-background"])
def test_the_dev_runner_stops_every_process_it_started_and_its_postgres_on_a_signal(
        tmp_path, signum, started_ignoring_sigint):
    pg_dir, port = tmp_path / "pg", free_port()
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "CONVEX_URL", "PETPOOJA_SANDBOX_URL"}}
    env.update(TABLETOP_PG_DIR=str(pg_dir), PORT=str(port), WORKER_METRICS_PORT=str(free_port()),
               LOG_FORMAT="json", PYTHONUNBUFFERED="1")
    out = (tmp_path / "dev.log").open("w")
    runner = subprocess.Popen([sys.executable, "-m", "scripts.dev"], cwd=ROOT, env=env, stdout=out,
                              stderr=subprocess.STDOUT, preexec_fn=_ignore_sigint if started_ignoring_sigint else None)
    try:
        deadline = time.monotonic() + 120
        while "Ctrl-C stops everything." not in (tmp_path / "dev.log").read_text():
            assert runner.poll() is None, (tmp_path / "dev.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "the dev runner did not come up"
            time.sleep(0.2)
        children = descendants(runner.pid)
        postgres = embedded.running_pid(pg_dir)
        assert postgres is not None and not port_free(port)
        assert len(children) >= 4  # honcho, uvicorn, the worker, the stand-ins (and tsx's node)

        signalled = time.monotonic()
        runner.send_signal(signum)
        assert runner.wait(timeout=30) == 0
        took = time.monotonic() - signalled
    finally:
        if runner.poll() is None:
            runner.kill()
            runner.wait()
        out.close()
        embedded.stop(pg_dir)  # whatever happened, no server is left behind by the test
    left = sorted(pid for pid in children if alive(pid))
    assert left == [], f"still running after {signal.Signals(signum).name}: {left}"
    assert embedded.running_pid(pg_dir) is None
    assert port_free(port)
    assert took < 15, f"stopping took {took:.1f} s"
    print(f"\n{signal.Signals(signum).name}: everything stopped in {took:.2f} s")
