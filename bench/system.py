"""The system under test as separate processes, as the Procfile runs it, plus the
measuring tools: CPU seconds per process tree from /proc, peak RSS, and child rusage."""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
TICKS = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def _stat(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name is in parentheses and may hold spaces: split after it.
    return raw[raw.rindex(")") + 2:].split()


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := _stat(int(entry.name))) is not None:
            tree.setdefault(int(fields[1]), []).append(int(entry.name))
    return tree


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its descendants: the live ones, and the exited
    ones their parents reaped (cutime, cstime), e.g. Postgres backends of closed connections."""
    tree, total, todo = _children(), 0.0, [pid]
    while todo:
        current = todo.pop()
        fields = _stat(current)
        if fields is not None:
            total += sum(int(f) for f in fields[11:15]) / TICKS
        todo.extend(tree.get(current, []))
    return total


def peak_rss_mb(pid: int) -> float:
    """The process's high-water resident set (VmHWM) in MiB."""
    match = re.search(r"VmHWM:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text())
    return int(match.group(1)) / 1024 if match else 0.0


def rss_mb(pid: int) -> float:
    return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE / 2**20


@dataclass
class Finished:
    stdout: str
    seconds: float
    cpu_s: float
    max_rss_mb: float
    returncode: int


def run_measured(argv: list[str], env: Mapping[str, str] | None = None, timeout_s: float = 3600) -> Finished:
    """Runs a command to completion; its own CPU time and peak RSS come from wait4's rusage."""
    started = time.monotonic()
    proc = subprocess.Popen(  # noqa: S603  # the bench's own fixed tools
        argv, cwd=ROOT, env=dict(env or os.environ), stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.monotonic() - started
    if seconds > timeout_s:
        raise RuntimeError(f"{argv[0]} took {seconds:.0f}s")
    return Finished(out, seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, proc.returncode)


@dataclass
class Service:
    name: str
    proc: subprocess.Popen[bytes]
    log: Path

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@dataclass
class Processes:
    """Named long-running processes; CPU is sampled per process tree between two marks."""

    logs: Path
    services: dict[str, Service] = field(default_factory=dict)
    extra_pids: dict[str, int] = field(default_factory=dict)

    def start(self, name: str, argv: list[str], env: Mapping[str, str]) -> Service:
        log = self.logs / f"{name}.log"
        handle = log.open("ab")
        proc = subprocess.Popen(argv, cwd=ROOT, env=dict(env), stdout=handle, stderr=handle)  # noqa: S603
        service = Service(name, proc, log)
        self.services[name] = service
        return service

    def start_procfile(self, entry: str, env: Mapping[str, str], *, name: str | None = None) -> Service:
        """Starts one Procfile line exactly as written (the shell expands its ${VAR:-x}), as
        service ``name`` (the entry's own name unless given)."""
        lines = (ROOT / "Procfile").read_text().splitlines()
        line = next(text for text in lines if text.startswith(f"{entry}:"))
        command = line.split(":", 1)[1].strip()
        path = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', os.environ['PATH'])}"
        return self.start(name or entry, ["/bin/sh", "-c", f"exec {command}"], {**env, "PATH": path})

    def pids(self) -> dict[str, int]:
        return {**{n: s.proc.pid for n, s in self.services.items()}, **self.extra_pids}

    def cpu(self) -> dict[str, float]:
        return {name: tree_cpu_seconds(pid) for name, pid in self.pids().items()}

    def stop(self) -> None:
        for service in reversed(list(self.services.values())):
            service.stop()


def cpu_used(before: dict[str, float], after: dict[str, float], seconds: float) -> dict[str, float]:
    """Cores used per process over a window (1.0 = one core busy all the time)."""
    return {name: round((after[name] - before.get(name, 0.0)) / seconds, 2) for name in after}


def wait_http(url: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer 200 within {timeout_s:.0f}s")


def quote(argv: list[str]) -> str:
    return " ".join(shlex.quote(a) for a in argv)
