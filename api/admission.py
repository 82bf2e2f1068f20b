"""Admission control: under overload the excess is refused fast instead of queueing.

The process counts the HTTP requests it has in flight (from the moment RequestContext sees a
request until its response is sent). Above ``ADMISSION_MAX_IN_FLIGHT`` a new request is
answered at once with 503 ``overloaded`` and ``Retry-After``, before it is routed: it reaches
no handler, so it reads nothing and writes nothing. A request that was admitted but waits
longer than ``DB_POOL_TIMEOUT_S`` for a database connection gets the same answer
(api/errors.py): the database, not this process, is then the bottleneck.

``/health``, ``/ready`` and ``/metrics`` are never refused and not counted: an operator must
be able to see an overloaded process.
"""

from __future__ import annotations

from starlette.responses import Response

from api.errors import overloaded, problem

EXEMPT = frozenset({"/health", "/ready", "/metrics"})


class Admission:
    """The in-flight count and its limit (``max_in_flight`` 0: counted, never refused)."""

    def __init__(self, max_in_flight: int, retry_after_s: int):
        self.max_in_flight = max_in_flight
        self.retry_after_s = retry_after_s
        self.in_flight = 0
        self._refusal = overloaded(
            retry_after_s, f"the server is at capacity ({max_in_flight} requests in progress); retry shortly")

    def enter(self, path: str) -> bool | None:
        """Counts a request in: True when admitted (``leave()`` it when it ends), None when it is
        exempt (not counted), False when refused (answer ``refusal()``)."""
        if path in EXEMPT:
            return None
        if self.max_in_flight and self.in_flight >= self.max_in_flight:
            return False
        self.in_flight += 1
        return True

    def leave(self) -> None:
        self.in_flight -= 1

    def refusal(self) -> Response:
        return problem(self._refusal)
