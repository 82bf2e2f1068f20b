"""The benchmark's regression guard (bench/compare.py): which figures it reads from a run,
how it judges a change against a noise band, and how it measures that band. Pure functions
over results JSON; the numbers are real runs' (bench/results/2026-11-22.json, and a smoke
run of this machine), no timing is measured here."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from bench import compare
from tests.conftest import ROOT


def saved_run() -> dict[str, Any]:
    result: dict[str, Any] = json.loads((ROOT / "bench" / "results" / "2026-11-22.json").read_text())
    return result


def smoke_run() -> dict[str, Any]:
    """The order figures of a smoke run (bench/run.py's current format), trimmed."""
    return {
        "baseline_orders": [{"clients": 8, "tps": 557.5, "transactions": 1680, "cpu_cores": {"postgres": 1.15},
                             "cpu_ms_per_tx": {"postgres": 2.101, "convex": 0.202}}],
        "orders_closed": [{"connections": 8, "rps": 190.6, "ok_per_s": 190.6, "orders_per_s": 111.5,
                           "cpu_cores": {"web": 0.58, "postgres": 0.5},
                           "cpu_ms_per_order": {"web": 5.28, "postgres": 4.631, "convex": 2.065}}],
        "orders_closed_no_pusher": {"connections": 8, "rps": 465.5, "orders_per_s": 288.4,
                                    "cpu_ms_per_order": {"web": 2.535, "postgres": 2.339}},
        "orders_open_tied": {"rate": 110, "p99_ms": 105.9, "propagation": {"p99_ms": 203.0}},
        "orders_overload": {
            "rate": 380, "requests": 1140, "accepted_per_s": 236.0,
            "by_status": {"201": {"count": 764, "p50_ms": 241.6, "p99_ms": 451.9, "max_ms": 474.0},
                          "503": {"count": 376, "p50_ms": 8.7, "p99_ms": 98.9, "max_ms": 106.0}},
        },
    }


def test_a_run_from_before_cpu_per_order_was_measured_yields_its_figures_from_cores_and_rates() -> None:
    figures = compare.figures(saved_run())

    assert figures["throughput_ratio"] == pytest.approx(467.0 / 1364.5)
    # web 0.93 cores at 467/s over Postgres 1.64 cores at 1364.5 tx/s (8 clients)
    assert figures["api_cpu_ratio"] == pytest.approx((0.93 * 1000 / 467.0) / (1.64 * 1000 / 1364.5))
    assert figures["postgres_cpu_ratio"] == pytest.approx((0.46 * 1000 / 467.0) / (1.64 * 1000 / 1364.5))
    for absent in ("tied_p99_ms", "pusher_share", "overload_accepted_p99_ms", "overload_refused_p99_ms"):
        assert figures[absent] is None


def test_a_current_run_yields_orders_created_cpu_measured_and_the_tied_and_overload_windows() -> None:
    figures = compare.figures(smoke_run())

    assert figures["throughput_ratio"] == pytest.approx(111.5 / 557.5)  # orders created, not responses
    assert figures["api_cpu_ratio"] == pytest.approx(5.28 / 2.101)
    assert figures["pusher_share"] == pytest.approx((5.28 - 2.535) / 5.28)
    assert (figures["tied_p99_ms"], figures["tied_propagation_p99_ms"]) == (105.9, 203.0)
    assert figures["overload_accepted_p99_ms"] == 451.9
    assert figures["overload_refused_p99_ms"] == 98.9
    assert figures["overload_accepted_ratio"] == pytest.approx(236.0 / 111.5)


def test_a_change_within_the_band_is_the_same_and_beyond_it_better_or_worse_by_the_figures_direction() -> None:
    # The runs: throughput ratio 0.34 then 0.46 is better beyond a 12% band, 0.36 is not.
    assert compare.verdict(0.34, 0.46, 0.12, "higher")[1] == "better"
    assert compare.verdict(0.34, 0.36, 0.12, "higher")[1] == "same"
    assert compare.verdict(0.34, 0.25, 0.12, "higher")[1] == "worse"
    # p99 at the tied rate: lower is better.
    change, judged = compare.verdict(91.8, 47.0, 0.28, "lower")
    assert judged == "better"
    assert change == pytest.approx((47.0 - 91.8) / 91.8)
    assert compare.verdict(72.0, 91.8, 0.28, "lower")[1] == "same"  # the same commit, back to back
    assert compare.verdict(47.0, 91.8, 0.28, "lower")[1] == "worse"
    assert compare.verdict(None, 47.0, 0.28, "lower") == (None, "n/a")


def test_comparing_two_runs_uses_the_measured_band_per_figure_and_the_default_for_the_rest() -> None:
    then, now = saved_run(), smoke_run()
    rows = {row.name: row for row in compare.compare(then, now, {"throughput_ratio": 0.1})}

    throughput = rows["throughput_ratio"]
    assert (throughput.band, throughput.band_measured, throughput.verdict) == (0.1, True, "worse")
    cpu = rows["api_cpu_ratio"]  # 1.66 -> 2.51
    assert (cpu.band, cpu.band_measured, cpu.verdict) == (compare.DEFAULT_BAND, False, "worse")
    assert rows["tied_p99_ms"].verdict == "n/a"  # the older run has no tied window
    text = compare.render(list(rows.values()), "then.json", "now.json")
    assert "worse" in text and "default" in text


def test_a_run_compared_with_itself_is_the_same_on_every_figure_it_has() -> None:
    run = smoke_run()
    verdicts = {row.verdict for row in compare.compare(run, copy.deepcopy(run), {})}

    assert verdicts == {"same"}


def test_the_noise_band_is_the_widest_relative_spread_of_one_commits_runs() -> None:
    runs = [smoke_run() for _ in range(3)]
    # The three busy runs: pgbench 1171, 1371, 1142 tx/s; API 290, 351, 278 orders/s.
    for run, tps, rate in zip(runs, (1171.0, 1371.0, 1142.0), (290.0, 351.0, 278.0), strict=True):
        run["baseline_orders"][0]["tps"] = tps
        run["orders_closed"][0]["orders_per_s"] = rate
    del runs[2]["orders_overload"]

    bands = compare.noise_bands(runs)

    ratios = [290 / 1171, 351 / 1371, 278 / 1142]
    assert bands["throughput_ratio"] == pytest.approx((max(ratios) - min(ratios)) / min(ratios), abs=1e-3)
    assert bands["api_cpu_ratio"] == 0.0  # the same CPU figures in every run
    assert "overload_accepted_p99_ms" not in bands  # missing from one run: no band, the default applies
    # No two runs of the commit are judged apart by its own bands.
    for then in runs:
        for now in runs:
            rows = compare.compare(then, now, bands)
            assert {row.verdict for row in rows if row.name in bands} == {"same"}
