"""Prometheus metrics of the API process, in a registry of its own per app."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

CONTENT_TYPE = CONTENT_TYPE_LATEST


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.queue_read_at = float("-inf")  # time.monotonic() of the last database gauge read
        self.requests = Counter(
            "http_requests", "HTTP requests by route template, method and status.",
            ["method", "route", "status"], registry=self.registry,
        )
        self.latency = Histogram(
            "http_request_duration_seconds", "HTTP request latency by route template and method.",
            ["method", "route"], registry=self.registry,
            buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
        )
        self._request_children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}
        # Admission control (api/admission.py): requests refused with 503 `overloaded`, by why:
        # in_flight (over ADMISSION_MAX_IN_FLIGHT) or pool_timeout (no connection within
        # DB_POOL_TIMEOUT_S). They are in http_requests too, with their status.
        self.refused = Counter(
            "http_requests_refused", "Requests refused with 503 overloaded, by reason (in_flight, pool_timeout).",
            ["reason"], registry=self.registry,
        )
        self.refused_in_flight = self.refused.labels("in_flight")
        self.refused_pool_timeout = self.refused.labels("pool_timeout")
        # Read at scrape time (set_function): nothing to update per request.
        self.in_flight = Gauge(
            "http_requests_in_flight", "HTTP requests in progress in this process (/health, /ready, /metrics not "
            "counted).", registry=self.registry,
        )

        # What the floor does, after commit: orders placed by channel (qr: a guest's phone,
        # staff: a member's screen) and every status move (from, to).
        self.orders_created = Counter(
            "orders_created", "Orders created, by channel (qr, staff).", ["channel"], registry=self.registry,
        )
        self.status_transitions = Counter(
            "order_status_transitions", "Order status moves, by from and to status and who made them.",
            ["from_status", "to_status", "actor"], registry=self.registry,
        )
        # The menu cache (api/menu_cache.py): hit, miss (this process read the menu of a version
        # it had not built), or off (MENU_CACHE_SIZE=0).
        self.menu_cache_reads = Counter(
            "menu_cache_reads", "Menu reads by how the menu cache answered them (hit, miss, off).", ["result"],
            registry=self.registry,
        )

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        # Label children resolved once per (method, route, status): labels() validates, converts
        # and locks on every call. As many entries as the registry has series.
        children = self._request_children.get((method, route, status))
        if children is None:
            children = self._request_children[(method, route, status)] = (
                self.requests.labels(method, route, str(status)), self.latency.labels(method, route))
        children[0].inc()
        children[1].observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)
