"""The benchmark's smoke mode runs end to end (it must not rot). Figures are not judged
here: no timing assertion belongs in the test suite; bench/README.md has the targets."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT


def test_the_benchmark_smoke_run_completes_every_phase_with_every_request_answered(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    done = subprocess.run(  # our own benchmark, fixed arguments
        [sys.executable, "-m", "bench.run", "--smoke", "--json", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    results = json.loads(out.read_text())

    assert all(b["tps"] > 0 for b in results["baseline_orders"])
    for run in results["orders_closed"]:
        assert run["rps"] > 0
        assert (run["non2xx"], run["errors"]) == (0, 0)
        assert run["propagation"]["orders"] > 0
    for run in [*results["orders_open"], results["orders_open_convex_hanging"]]:
        assert run["statuses"] == {"201": run["requests"]}
        assert run["errors"] == 0
    # Every order of an open-loop window reached Convex (counted by the propagation query).
    assert [r["propagation"]["orders"] for r in results["orders_open"]] == [
        r["requests"] for r in results["orders_open"]]
    recovery = results["recovery"]
    assert recovery["rows_failed_at_end_of_outage"] > 0
    assert recovery["rows_synced"] >= recovery["orders"]
    for case in results["reads"].values():
        assert case["baseline"]["tps"] > 0
        assert (case["api"]["non2xx"], case["api"]["errors"]) == (0, 0)
    for sync in [*results["fullsync"]["streaming"], *results["fullsync"]["pushed"]]:
        assert sync["summary"]["applied"] == sync["orders"]
        assert sync["summary"]["failed"] == 0
    assert {v["target"] for v in results["targets"]} and "Traceback" not in done.stderr
    assert "targets" in done.stdout
