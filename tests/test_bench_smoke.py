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

    assert all(b["tps"] > 0 and b["cpu_ms_per_tx"]["postgres"] > 0 for b in results["baseline_orders"])
    no_pusher = results["orders_closed_no_pusher"]
    for run in [*results["orders_closed"], no_pusher]:
        assert run["rps"] > 0
        assert (run["non2xx"], run["errors"]) == (0, 0)
        # Every answered request created an order (no key sent twice: replays are not orders);
        # wrk leaves out the requests in flight when it stops, at most one per connection.
        answered = run["requests"] - run["non2xx"]
        assert answered <= run["orders"] <= answered + run["connections"]
        assert {"web", "postgres", "convex"} <= set(run["cpu_ms_per_order"])
        assert run["cpu_ms_per_order"]["web"] > 0
    assert all(run["propagation"]["orders"] > 0 for run in results["orders_closed"])
    assert no_pusher["connections"] == max(run["connections"] for run in results["orders_closed"])
    assert "web_nopush" not in no_pusher["cpu_ms_per_order"]  # reported as the API's own figure

    tied = results["orders_open_tied"]
    assert tied["rate"] == max(10, round(0.2 * max(b["tps"] for b in results["baseline_orders"]) / 10) * 10)
    for run in [tied, *results["orders_open"], results["orders_open_convex_hanging"]]:
        assert run["statuses"] == {"201": run["requests"]}
        assert run["errors"] == 0
        assert run["cpu_ms_per_order"]["web"] > 0
    # Every order of an open-loop window is whole and reached Convex (counted by the propagation query).
    for run in [tied, *results["orders_open"]]:
        assert run["written"]["whole"]
        assert run["propagation"]["orders"] == run["requests"]

    overload = results["orders_overload"]
    best = max(run["orders_per_s"] for run in results["orders_closed"])
    assert overload["rate"] == max(10, round(2 * best / 10) * 10)
    assert overload["errors"] == 0
    assert set(overload["statuses"]) <= {"201", "503"}  # a refusal is 503, anything else is a failure
    assert overload["statuses"].get("201", 0) + overload["statuses"].get("503", 0) == overload["requests"]
    assert overload["refusals_without_retry_after"] == 0
    assert set(overload["refusal_codes"]) <= {"overloaded"}
    assert overload["written"]["whole"]
    assert overload["written"]["orders"] == overload["statuses"].get("201", 0)
    assert overload["catch_up_s"] >= 0
    recovery = results["recovery"]
    assert recovery["rows_failed_at_end_of_outage"] > 0
    assert recovery["rows_synced"] >= recovery["orders"]
    for case in results["reads"].values():
        assert case["baseline"]["tps"] > 0
        assert (case["api"]["non2xx"], case["api"]["errors"]) == (0, 0)
    menu_reads = results["menu_reads"]
    assert menu_reads["pgbench_menu_sql"]["tps"] > 0 and menu_reads["pgbench_version_sql"]["tps"] > 0
    for window in (menu_reads["api_cached"], menu_reads["api_uncached"]):
        assert window["requests"] > 0
        assert (window["non2xx"], window["errors"]) == (0, 0)
    for sync in [*results["fullsync"]["streaming"], *results["fullsync"]["pushed"]]:
        assert sync["summary"]["applied"] == sync["orders"]
        assert sync["summary"]["failed"] == 0
    # Latency to the screen (bench/screens.py): every order answered 201 and reached every screen.
    for window in results["screens"]["windows"]:
        assert window["statuses"] == {"201": window["requests"]} and window["errors"] == 0
        assert window["never_on_every_screen"] == 0 and window["to_every_screen"]["count"] == window["requests"]
        assert set(window["janitor_failures"]) <= {"503"}  # admission control: retried
    assert {v["target"] for v in results["targets"]} and "Traceback" not in done.stderr
    assert "targets" in done.stdout
