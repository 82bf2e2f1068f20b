"""Comparing two benchmark runs: the figures that mean something across runs on a shared,
noisy machine (same-run ratios, and latencies at rates tied to the run), then / now, and a
verdict beyond the noise band measured by running one commit several times (bench/noise.json).

Pure functions over results dicts (bench/run.py's JSON); bench/run.py does the I/O."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

# A figure absent from the noise file is judged against this band (relative change).
DEFAULT_BAND = 0.20

Results = Mapping[str, Any]


@dataclass(frozen=True)
class Figure:
    name: str
    label: str
    better: Literal["higher", "lower"]
    of: Callable[[Results], float | None]


@dataclass(frozen=True)
class Row:
    name: str
    label: str
    then: float | None
    now: float | None
    change: float | None  # relative: (now - then) / then
    band: float
    band_measured: bool
    verdict: Literal["better", "same", "worse", "n/a"]


def _best_closed(r: Results) -> dict[str, Any] | None:
    closed = r.get("orders_closed") or []
    return max(closed, key=_closed_rate) if closed else None


def _closed_rate(c: Mapping[str, Any]) -> float:
    """Orders created per s (Postgres's count); results from before it was measured have
    only wrk's responses per s."""
    return float(c.get("orders_per_s", c.get("ok_per_s", c["rps"])))


def _top_closed(r: Results) -> dict[str, Any] | None:
    closed = r.get("orders_closed") or []
    return max(closed, key=lambda c: c["connections"]) if closed else None


def _top_baseline(r: Results) -> dict[str, Any] | None:
    baseline = r.get("baseline_orders") or []
    return max(baseline, key=lambda b: b["clients"]) if baseline else None


def api_cpu_ms(window: Mapping[str, Any], process: str = "web") -> float | None:
    """CPU ms per order of ``process`` in a closed-loop window. Results from before the bench
    measured it directly have only cores used over the window: cores x 1000 / orders per s."""
    if process in window.get("cpu_ms_per_order", {}):
        value = window["cpu_ms_per_order"][process]
        return None if value is None else float(value)
    rate = _closed_rate(window)
    cores = window.get("cpu_cores", {}).get(process)
    return cores * 1000 / rate if cores is not None and rate else None


def pgbench_cpu_ms(baseline: Mapping[str, Any]) -> float | None:
    """Postgres CPU ms per pgbench transaction (the same fallback from cores / tx per s)."""
    if "postgres" in baseline.get("cpu_ms_per_tx", {}):
        return float(baseline["cpu_ms_per_tx"]["postgres"])
    cores = baseline.get("cpu_cores", {}).get("postgres")
    return cores * 1000 / baseline["tps"] if cores is not None and baseline["tps"] else None


def _ratio(top: float | None, bottom: float | None) -> float | None:
    return top / bottom if top is not None and bottom else None


def throughput_ratio(r: Results) -> float | None:
    best, baseline = _best_closed(r), r.get("baseline_orders")
    if best is None or not baseline:
        return None
    return _closed_rate(best) / max(float(b["tps"]) for b in baseline)


def api_cpu_ratio(r: Results, process: str = "web") -> float | None:
    top, base = _top_closed(r), _top_baseline(r)
    if top is None or base is None:
        return None
    return _ratio(api_cpu_ms(top, process), pgbench_cpu_ms(base))


def pusher_share_ms(r: Results) -> float | None:
    """API CPU per order with the pusher minus without it (same concurrency, same run)."""
    top, off = _top_closed(r), r.get("orders_closed_no_pusher")
    if top is None or off is None:
        return None
    with_pusher, without = api_cpu_ms(top), api_cpu_ms(off)
    return with_pusher - without if with_pusher is not None and without is not None else None


def pusher_share(r: Results) -> float | None:
    """The pusher's share as a fraction of the API's CPU per order."""
    top = _top_closed(r)
    return _ratio(pusher_share_ms(r), api_cpu_ms(top) if top is not None else None)


def _tied(r: Results, *keys: str) -> float | None:
    value: Any = r.get("orders_open_tied")
    for key in keys:
        if not isinstance(value, Mapping) or value.get(key) is None:
            return None
        value = value[key]
    return float(value)


def _ok_latencies(window: Mapping[str, Any]) -> dict[str, Any] | None:
    ok = [v for s, v in window.get("by_status", {}).items() if 200 <= int(s) < 300]
    return max(ok, key=lambda v: v["count"]) if ok else None


def overload_accepted_p99(r: Results) -> float | None:
    window = r.get("orders_overload")
    ok = _ok_latencies(window) if window else None
    return float(ok["p99_ms"]) if ok and ok["p99_ms"] is not None else None


def overload_refused_p99(r: Results) -> float | None:
    window = r.get("orders_overload")
    refused = window.get("by_status", {}).get("503") if window else None
    return float(refused["p99_ms"]) if refused and refused["count"] else None


def overload_accepted_ratio(r: Results) -> float | None:
    """Orders accepted per s under overload / the same run's best closed-loop rate."""
    window, best = r.get("orders_overload"), _best_closed(r)
    if window is None or best is None:
        return None
    return _ratio(float(window["accepted_per_s"]), _closed_rate(best))


FIGURES: tuple[Figure, ...] = (
    Figure("throughput_ratio", "API closed loop (best) / pgbench (best), orders/s over tx/s", "higher",
           throughput_ratio),
    Figure("api_cpu_ratio", "API CPU per order (top concurrency) / pgbench Postgres CPU per tx", "lower",
           api_cpu_ratio),
    Figure("postgres_cpu_ratio", "Postgres CPU per API order (top conc.) / per pgbench tx", "lower",
           lambda r: api_cpu_ratio(r, "postgres")),
    Figure("pusher_share", "pusher's share of API CPU per order", "lower", pusher_share),
    Figure("tied_p99_ms", "p99 ms at 0.2 x pgbench (open loop)", "lower", lambda r: _tied(r, "p99_ms")),
    Figure("tied_propagation_p99_ms", "propagation p99 ms at 0.2 x pgbench", "lower",
           lambda r: _tied(r, "propagation", "p99_ms")),
    Figure("overload_accepted_ratio", "overload: accepted/s / best closed-loop rate", "higher",
           overload_accepted_ratio),
    Figure("overload_accepted_p99_ms", "overload: accepted p99 ms", "lower", overload_accepted_p99),
    Figure("overload_refused_p99_ms", "overload: 503 p99 ms", "lower", overload_refused_p99),
)


def figures(r: Results) -> dict[str, float | None]:
    return {f.name: f.of(r) for f in FIGURES}


def verdict(then: float | None, now: float | None, band: float,
            better: Literal["higher", "lower"]) -> tuple[float | None, Literal["better", "same", "worse", "n/a"]]:
    """The relative change and whether it is beyond ``band`` in the better or worse direction."""
    if then is None or now is None or then <= 0:
        return None, "n/a"
    change = (now - then) / then
    if abs(change) <= band:
        return change, "same"
    return change, "better" if (change > 0) == (better == "higher") else "worse"


def compare(then: Results, now: Results, bands: Mapping[str, float]) -> list[Row]:
    before, after = figures(then), figures(now)
    rows = []
    for f in FIGURES:
        band = bands.get(f.name)
        change, judged = verdict(before[f.name], after[f.name], DEFAULT_BAND if band is None else band, f.better)
        rows.append(Row(f.name, f.label, before[f.name], after[f.name], change,
                        DEFAULT_BAND if band is None else band, band is not None, judged))
    return rows


def noise_bands(runs: Sequence[Results]) -> dict[str, float]:
    """Per figure, the widest relative spread between runs of one commit, (max - min) / min:
    the largest change `verdict` would have seen between any two of them. Figures missing
    from a run, or not positive, get no band (compare falls back to DEFAULT_BAND)."""
    bands = {}
    for name in (f.name for f in FIGURES):
        values = [v for v in (figures(r)[name] for r in runs) if v is not None]
        if len(values) == len(runs) >= 2 and min(values) > 0:
            # Rounded up, so that no two of these runs would be judged apart.
            bands[name] = math.ceil((max(values) - min(values)) / min(values) * 1000) / 1000
    return bands


def noise_values(runs: Sequence[Results]) -> dict[str, list[float | None]]:
    return {f.name: [figures(r)[f.name] for r in runs] for f in FIGURES}


def _fmt(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.3f}" if abs(value) < 10 else f"{value:.1f}"


def render(rows: Sequence[Row], then_label: str, now_label: str) -> str:
    lines = [f"then: {then_label}", f"now:  {now_label}", "",
             f"{'figure':<66} {'then':>8} {'now':>8} {'change':>8} {'band':>8}  verdict"]
    for row in rows:
        change = "-" if row.change is None else f"{row.change:+.0%}"
        band = f"±{row.band:.0%}" + ("" if row.band_measured else "*")
        lines.append(f"{row.label:<66} {_fmt(row.then):>8} {_fmt(row.now):>8} {change:>8} {band:>8}  {row.verdict}")
    if not all(row.band_measured for row in rows):
        lines.append(f"* no measured band for this figure: the default ±{DEFAULT_BAND:.0%}")
    counts = {v: sum(row.verdict == v for row in rows) for v in ("better", "same", "worse")}
    lines.append(f"verdicts: {counts['better']} better, {counts['same']} same, {counts['worse']} worse")
    return "\n".join(lines)
