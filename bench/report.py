"""The results table and the verdict on each target (bench/README.md lists them)."""

from __future__ import annotations

from typing import Any


def _at_rate(results: dict[str, Any], rate: int) -> dict[str, Any] | None:
    return next((r for r in results["orders_open"] if r["rate"] == rate), None)


def verdicts(r: dict[str, Any]) -> list[dict[str, Any]]:
    best = max(r["orders_closed"], key=lambda x: x["rps"])
    baseline = max(b["tps"] for b in r["baseline_orders"])
    at300 = _at_rate(r, 300)
    first_rate = r["orders_open"][0]
    hanging = r["orders_open_convex_hanging"]
    rec = r["recovery"]
    small, large = r["fullsync"]["streaming"]
    pushed_small, pushed = r["fullsync"]["pushed"]
    rss_ratio = max(large["peak_rss_mb"] / small["peak_rss_mb"], pushed["peak_rss_mb"] / pushed_small["peak_rss_mb"])
    out = [
        {"target": "order throughput >= 0.30 x pgbench (same transaction, best of each)",
         "figure": f"{best['rps']:.0f}/s vs {baseline:.0f} tx/s = {best['rps'] / baseline:.2f}",
         "met": best["rps"] / baseline >= 0.30},
        {"target": "p99 order latency < 50 ms at 300 orders/s (open loop)",
         "figure": f"{at300['p99_ms']:.1f} ms" if at300 else "not run (smoke)",
         "met": at300["p99_ms"] < 50 if at300 else None},
        {"target": "responses never wait for Convex (p99 with every push hanging vs healthy, same rate)",
         "figure": f"p99 {hanging['p99_ms']:.1f} ms hanging vs {first_rate['p99_ms']:.1f} ms healthy at "
                   f"{first_rate['rate']}/s (healthy pushing costs CPU on this machine)",
         "met": hanging["p99_ms"] <= max(1.5 * first_rate["p99_ms"], first_rate["p99_ms"] + 5)},
        {"target": "propagation p99 < 200 ms at 300 orders/s",
         "figure": f"{at300['propagation']['p99_ms']:.0f} ms" if at300 else "not run (smoke)",
         "met": at300["propagation"]["p99_ms"] < 200 if at300 else None},
        {"target": "after an outage, all synced within one retry interval + push time",
         "figure": f"{rec['seconds_until_all_synced']:.1f} s (interval {rec['retry_interval_s']:.0f} s, "
                   f"push {rec['push_seconds']:.1f} s)",
         "met": rec["seconds_until_all_synced"] <= rec["retry_interval_s"] + rec["push_seconds"]},
        {"target": "fullSync memory flat (peak RSS at the larger / the smaller size <= 1.2)",
         "figure": f"into the stand-in {pushed['peak_rss_mb']:.0f} MiB for {pushed['orders']} vs "
                   f"{pushed_small['peak_rss_mb']:.0f} MiB for {pushed_small['orders']}; into the sink "
                   f"{large['peak_rss_mb']:.0f} vs {small['peak_rss_mb']:.0f} MiB; worst ratio {rss_ratio:.2f}",
         "met": rss_ratio <= 1.2},
        {"target": "fullSync time dominated by the target, not our code",
         "figure": f"{pushed['orders']} orders: CPU s Convex {pushed['cpu_s']['convex']:.1f}, "
                   f"fullSync {pushed['cpu_s']['fullsync']:.1f}, Postgres {pushed['cpu_s']['postgres']:.1f}; "
                   f"{large['rows_per_s']}/s into a discarding sink vs {pushed['rows_per_s']}/s into the stand-in",
         "met": pushed["cpu_s"]["convex"] > pushed["cpu_s"]["fullsync"]},
        {"target": "API process RSS < 250 MB at max load",
         "figure": f"{r['api_peak_rss_mb']:.0f} MiB peak", "met": r["api_peak_rss_mb"] < 250},
    ]
    return out


def _cpu(cpu: dict[str, float]) -> str:
    return " ".join(f"{k}={v:.2f}" for k, v in sorted(cpu.items(), key=lambda kv: -kv[1]) if v >= 0.01)


def table(r: dict[str, Any]) -> str:
    m = r["machine"]
    lines = [f"machine: {m['cpus']} CPUs {m['cpu_model']}, {m['memory_gib']} GiB, Python {m['python']}, "
             f"PostgreSQL {m.get('postgres')}", ""]
    baseline = max(b["tps"] for b in r["baseline_orders"])
    lines.append("order creation                          per s    ratio   p50 ms   p99 ms  prop p50/p99 ms  cores")
    for b in r["baseline_orders"]:
        lines.append(f"  pgbench, same tx, {b['clients']:>2} clients          {b['tps']:>7.0f}    "
                     f"{b['tps'] / baseline:5.2f}   {b['latency_avg_ms']:6.2f} (avg)                         "
                     f"{_cpu(b['cpu_cores'])}")
    for c in r["orders_closed"]:
        p = c["propagation"]
        lines.append(f"  API closed loop, {c['connections']:>2} connections      {c['rps']:>7.0f}    "
                     f"{c['rps'] / baseline:5.2f}   {c['p50_ms']:6.1f}   {c['p99_ms']:6.1f}   "
                     f"{p['p50_ms']:6.0f}/{p['p99_ms']:<6.0f}   {_cpu(c['cpu_cores'])}"
                     + (f"  non2xx={c['non2xx']} errors={c['errors']}" if c["non2xx"] or c["errors"] else ""))
    for o in [*r["orders_open"], {**r["orders_open_convex_hanging"], "hanging": True}]:
        p = o.get("propagation")
        prop = f"{p['p50_ms']:6.0f}/{p['p99_ms']:<6.0f}" if p else "   (hanging)  "
        label = f"API open loop {o['rate']:>4}/s" + (" Convex hung" if o.get("hanging") else "            ")
        lines.append(f"  {label}         {o['achieved_per_s']:>7.0f}    {o['achieved_per_s'] / baseline:5.2f}   "
                     f"{o['p50_ms']:6.1f}   {o['p99_ms']:6.1f}   {prop}   {_cpu(o['cpu_cores'])}")
    lines.append(f"  API peak RSS {r['api_peak_rss_mb']:.0f} MiB")
    rec = r["recovery"]
    lines += ["", f"recovery: {rec['orders']} orders + {rec['status_moves']} moves while Convex was down; "
                  f"all synced {rec['seconds_until_all_synced']:.1f} s after it came back "
                  f"(waiting for the worker {rec['seconds_waiting_for_the_worker']:.1f} s, pushing "
                  f"{rec['push_seconds']:.1f} s; retry interval {rec['retry_interval_s']:.0f} s)", ""]
    lines.append("read path (8 connections)               per s    ratio   p50 ms   p99 ms")
    for name, case in r["reads"].items():
        b, a = case["baseline"], case["api"]
        lines.append(f"  {name:<20} pgbench same SQL  {b['tps']:>7.0f}     1.00   {b['latency_avg_ms']:6.2f} (avg)")
        lines.append(f"  {name:<20} API               {a['rps']:>7.0f}    {a['rps'] / b['tps']:5.2f}   "
                     f"{a['p50_ms']:6.1f}   {a['p99_ms']:6.1f}")
    lines += ["", "fullSync                                   rows/s   seconds  peak RSS MiB  "
                  "CPU s (fullSync/Convex/PG)"]
    for f in r["fullsync"]["streaming"]:
        lines.append(f"  discarding sink, {f['orders']:>7} orders   {f['rows_per_s']:>7}   {f['seconds']:7.1f}  "
                     f"{f['peak_rss_mb']:12.0f}  {f['cpu_s']:.1f}/-/-")
    for f in r["fullsync"]["pushed"]:
        lines.append(f"  into the stand-in, {f['orders']:>5} orders   {f['rows_per_s']:>7}   {f['seconds']:7.1f}  "
                     f"{f['peak_rss_mb']:12.0f}  "
                     f"{f['cpu_s']['fullsync']:.1f}/{f['cpu_s']['convex']:.1f}/{f['cpu_s']['postgres']:.1f}")
    lines += ["", "targets"]
    for v in r["targets"]:
        mark = {True: "MET ", False: "MISS", None: "n/a "}[v["met"]]
        lines.append(f"  [{mark}] {v['target']}: {v['figure']}")
    return "\n".join(lines)
