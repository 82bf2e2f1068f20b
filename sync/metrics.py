"""Prometheus metrics of the outbox, the same in every process that delivers (the API's
pusher, the worker) and registered in that process's registry: one set of names for every
target, so a dashboard reads Convex, PetPooja and webhooks alike."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from db.pool import Database

QUEUE_STATUSES = ("pending", "in_flight", "failed", "dead")


class SyncMetrics:
    def __init__(self, registry: CollectorRegistry):
        self.push_duration = Histogram(
            "sync_push_duration_seconds", "Duration of one delivery call of a round, by target.",
            ["target"], registry=registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
        )
        self.results = Counter(
            "sync_push_results", "Deliveries by target and outcome (delivered, retry, give_up, skip).",
            ["target", "outcome"], registry=registry,
        )
        self.queue_depth = Gauge(
            "sync_queue_depth", "Outbox rows by target and status (synced rows not counted).",
            ["target", "status"], registry=registry,
        )
        self.oldest_pending = Gauge(
            "sync_oldest_pending_seconds", "Age of the oldest row not yet synced, by target.",
            ["target"], registry=registry,
        )
        self.dead_rows = Gauge("sync_dead_rows", "Outbox rows that gave up, by target.", ["target"],
                               registry=registry)
        self.target_up = Gauge(
            "sync_target_up", "1 while a target answers, 0 while the worker probes it after an outage.",
            ["target"], registry=registry,
        )
        self.rebuilds = Counter(
            "sync_convex_rebuilds", "Automatic rebuilds of a Convex deployment that lost data, by reason.",
            ["reason"], registry=registry,
        )
        self.pruned = Counter(
            "housekeeping_pruned_rows", "Rows the worker's housekeeping deleted, by table.",
            ["table"], registry=registry,
        )
        # labels() validates and locks on every call; the API's pusher records a round every
        # few milliseconds, so the engine's children are looked up once (never cleared).
        self._push_durations: dict[str, Histogram] = {}
        self._results: dict[tuple[str, str], Counter] = {}

    def push_duration_of(self, target: str) -> Histogram:
        child = self._push_durations.get(target)
        if child is None:
            child = self._push_durations[target] = self.push_duration.labels(target)
        return child

    def results_of(self, target: str, outcome: str) -> Counter:
        child = self._results.get((target, outcome))
        if child is None:
            child = self._results[(target, outcome)] = self.results.labels(target, outcome)
        return child

    def set_queue(self, rows: Iterable[Mapping[str, object]], targets: Iterable[str]) -> None:
        """Queue gauges from sync_queue_depth rows; every known target reads 0, not absent,
        when its queue is drained (a drained queue is a value, not a gap)."""
        self.queue_depth.clear()
        self.oldest_pending.clear()
        self.dead_rows.clear()
        for target in targets:
            for status in QUEUE_STATUSES:
                self.queue_depth.labels(target, status).set(0)
            self.dead_rows.labels(target).set(0)
            self.oldest_pending.labels(target).set(0)
        oldest: dict[str, float] = {}
        for row in rows:
            target, status, count = str(row["target"]), str(row["status"]), float(str(row["n"]))
            self.queue_depth.labels(target, status).set(count)
            if status in ("pending", "failed", "in_flight"):
                oldest[target] = max(oldest.get(target, 0.0), float(str(row["oldest_s"])))
            if status == "dead":
                self.dead_rows.labels(target).set(count)
        for target, age in oldest.items():
            self.oldest_pending.labels(target).set(age)


class PoolCollector(Collector):
    """The connection pool's gauges, read at scrape time: size, in use, waiting."""

    def __init__(self, db: Database):
        self.db = db

    def collect(self) -> Iterator[Metric]:
        stats = self.db.pool.get_stats()
        size, available = stats.get("pool_size", 0), stats.get("pool_available", 0)
        for name, doc, value in (
            ("db_pool_size", "Connections the pool holds.", size),
            ("db_pool_in_use", "Connections lent out right now.", size - available),
            ("db_pool_waiting", "Requests waiting for a connection.", stats.get("requests_waiting", 0)),
            ("db_pool_max", "The pool's maximum size.", stats.get("pool_max", 0)),
        ):
            yield GaugeMetricFamily(name, doc, value=float(value))
