"""Prometheus metrics of the API process, in a registry of its own per app."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

CONTENT_TYPE = CONTENT_TYPE_LATEST
QUEUE_STATUSES = ("pending", "in_flight", "failed", "dead")


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "http_requests", "HTTP requests by route template, method and status.",
            ["method", "route", "status"], registry=self.registry,
        )
        self.latency = Histogram(
            "http_request_duration_seconds", "HTTP request latency by route template and method.",
            ["method", "route"], registry=self.registry,
            buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
        )

        self.queue_depth = Gauge(
            "sync_queue_depth", "Outbox rows by target and status (synced rows not counted).",
            ["target", "status"], registry=self.registry,
        )
        self.oldest_pending = Gauge(
            "sync_oldest_pending_seconds", "Age of the oldest row not yet synced, by target.",
            ["target"], registry=self.registry,
        )
        self.dead_rows = Gauge("sync_dead_rows", "Outbox rows that gave up, by target.", ["target"],
                               registry=self.registry)

    def set_queue(self, rows: list[dict[str, object]]) -> None:
        self.queue_depth.clear()
        self.oldest_pending.clear()
        self.dead_rows.clear()
        # An empty status reads 0, not absent: a drained queue is a value, not a gap.
        for status in QUEUE_STATUSES:
            self.queue_depth.labels("convex", status).set(0)
        self.dead_rows.labels("convex").set(0)
        oldest: dict[str, float] = {}
        for row in rows:
            target, status = str(row["target"]), str(row["status"])
            self.queue_depth.labels(target, status).set(float(row["n"]))  # type: ignore[arg-type]  # a count
            if status in ("pending", "failed", "in_flight"):
                oldest[target] = max(oldest.get(target, 0.0), float(row["oldest_s"]))  # type: ignore[arg-type]  # seconds
            if status == "dead":
                self.dead_rows.labels(target).set(float(row["n"]))  # type: ignore[arg-type]  # a count
        self.oldest_pending.labels("convex").set(0)
        for target, age in oldest.items():
            self.oldest_pending.labels(target).set(age)

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)
