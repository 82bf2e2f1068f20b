"""Prometheus metrics of pushing, registered in the registry of the process that pushes."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram


class PushMetrics:
    def __init__(self, registry: CollectorRegistry):
        self.latency = Histogram(
            "sync_push_duration_seconds", "Duration of one applyBatch call by target and outcome.",
            ["target", "outcome"], registry=registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
        )
        self.results = Counter(
            "sync_push_results", "Pushed changes by target and result (applied, stale, deleted, failed).",
            ["target", "result"], registry=registry,
        )
