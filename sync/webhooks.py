"""The ``webhook`` outbox target: order changes POSTed to a restaurant's own backend.

Each round claims due rows (db/outbound_webhooks.claim_due: no grace period, never an
order whose previous delivery is still in flight), reads every claimed order's CURRENT
document and its newest status event in the claiming transaction, and POSTs one signed
body per order. Several rows of one order collapse into one delivery of its latest state;
a delivered version supersedes the order's older undelivered rows. So a receiver gets the
latest state at least once, with ``version`` to order deliveries and discard stale ones.

Signature: ``X-Tabletop-Signature: sha256=<hex HMAC-SHA256(secret, raw body)>``. The body
carries ``sent_at`` (so the signature covers the time and a replay can be refused) and a
``delivery_id`` that stays the same for every attempt at the same order version. The
contract for receivers is docs/webhooks.md.

Outcomes: 2xx is delivered; a timeout, a network error, 408, 429 and 5xx are retried with
backoff for as long as it takes (the receiver is down); any other answer (3xx: redirects
are not followed; 4xx) is retried with backoff too but goes dead after the maximum attempts.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

import httpx
import orjson
import structlog

from db import outbound_webhooks, outbox
from db.credentials import CredentialBox, CredentialsUnreadable, worker_box
from db.outbox import Backoff
from db.pool import Database
from db.queries import Conn, Row
from sync.config import SyncSettings, backoff_of
from sync.metrics import PushMetrics
from sync.targets import TargetReport

log = structlog.get_logger("sync")

TARGET = outbound_webhooks.TARGET
USER_AGENT = "tabletop-webhooks/1"
SIGNATURE_HEADER = "X-Tabletop-Signature"
# delivery_id = uuid5(DELIVERY_NAMESPACE, "<order id>:<version>"): the same for every attempt
# at one order version, whichever outbox row carries it.
DELIVERY_NAMESPACE = uuid.UUID("6f1c2a52-5b0e-4d43-9f7e-2d1b8f0c7a11")
# Fields of the order document the API does not show either.
HIDDEN_FIELDS = frozenset({"session_id"})
ERROR_BODY_CHARS = 200
MAX_RESPONSE_BYTES = 4096
TIMEOUT_S = 10.0


def delivery_id(order_id: UUID, version: int) -> str:
    return str(uuid.uuid5(DELIVERY_NAMESPACE, f"{order_id}:{version}"))


def event_name(event: Row | None) -> str:
    """order.created while the order's newest event is its creation (from no status)."""
    return "order.created" if event is None or event["from_status"] is None else "order.status_changed"


def build_body(order: Row, event: Row | None, *, sent_at: datetime) -> bytes:
    """The delivery body as compact JSON bytes (the exact bytes that are signed and sent)."""
    document = {k: v for k, v in order.items() if k not in HIDDEN_FIELDS}
    body = {
        "event": event_name(event),
        "delivery_id": delivery_id(order["id"], order["version"]),
        "sent_at": sent_at,
        "restaurant_id": order["restaurant_id"],
        "order": document,
        "status": order["status"],
        "previous_status": None if event is None else event["from_status"],
        "changed_at": order["created_at"] if event is None else event["created_at"],
        "version": order["version"],
    }
    return orjson.dumps(body, option=orjson.OPT_UTC_Z)


def signature(secret: str, body: bytes) -> str:
    """The X-Tabletop-Signature value: HMAC-SHA256 of the raw body under the secret (its UTF-8 bytes)."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@dataclass
class _Delivery:
    rows: list[Row]
    order: Row | None
    event: Row | None
    endpoint: outbound_webhooks.Endpoint | None
    problem: str | None = None  # why there is nothing to send, or the secret did not open

    @property
    def row_ids(self) -> list[int]:
        return [r["id"] for r in self.rows]


@dataclass(frozen=True)
class _Outcome:
    delivered: bool
    error: str = ""
    can_die: bool = False
    outcome: str = "ok"  # metrics label: ok | retry | rejected


class WebhookTarget:
    """An OutboxTarget (sync/targets.py) delivering to restaurants' own webhooks."""

    name = TARGET

    def __init__(self, db: Database, box: CredentialBox, *, backoff: Backoff, lease_s: float = 60.0,
                 batch_size: int = 16, timeout_s: float = TIMEOUT_S,
                 transport: httpx.AsyncBaseTransport | None = None, metrics: PushMetrics | None = None):
        # A round's deliveries all run at once, each bounded by timeout_s in total, so the
        # round ends before the lease of its rows does.
        if lease_s <= timeout_s + 5:
            raise ValueError("the lease must outlast a delivery's timeout")
        self.db, self.box, self.backoff = db, box, backoff
        self.lease_s, self.batch_size, self.timeout_s, self.metrics = lease_s, batch_size, timeout_s, metrics
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout_s, connect=min(timeout_s, 5.0)),
            follow_redirects=False,
            limits=httpx.Limits(max_connections=batch_size, max_keepalive_connections=batch_size),
            headers={"User-Agent": USER_AGENT},
            transport=transport,
        )

    async def close(self) -> None:
        await self._client.aclose()

    async def run_once(self, *, owner: str) -> TargetReport:
        async with self.db.system() as conn:
            rows = await outbound_webhooks.claim_due(conn, owner=owner, lease_s=self.lease_s, limit=self.batch_size)
            deliveries = await self._prepare(conn, rows) if rows else []
        report = TargetReport(claimed=len(rows))
        if not rows:
            return report
        try:
            outcomes = await asyncio.gather(*(self._deliver(d) for d in deliveries))
        except asyncio.CancelledError:
            async with self.db.system() as conn:
                await outbox.release(conn, [r["id"] for r in rows], owner=owner)
            raise
        async with self.db.system() as conn:
            await self._record(conn, deliveries, outcomes, owner=owner, report=report)
        return report

    async def _prepare(self, conn: Conn, rows: Sequence[Row]) -> list[_Delivery]:
        by_order: dict[UUID, list[Row]] = {}
        for row in rows:
            by_order.setdefault(row["entity_id"], []).append(row)
        orders = await outbox.entity_rows(conn, "order", list(by_order))
        events = await outbound_webhooks.latest_events(
            conn, {(r["restaurant_id"], r["entity_id"]) for r in rows})
        sealed = await outbound_webhooks.sealed_endpoints(conn, {r["restaurant_id"] for r in rows})
        deliveries = []
        for order_id, order_rows in by_order.items():
            restaurant_id = order_rows[0]["restaurant_id"]
            delivery = _Delivery(order_rows, orders.get(order_id), events.get(order_id), None)
            if restaurant_id not in sealed:
                delivery.problem = "skipped: the restaurant has no webhook any more"
            elif delivery.order is None:
                delivery.problem = "skipped: the order no longer exists"
            else:
                try:
                    delivery.endpoint = outbound_webhooks.open_endpoint(self.box, sealed[restaurant_id])
                except CredentialsUnreadable as exc:
                    delivery.problem = f"the webhook secret cannot be opened: {exc}"
            deliveries.append(delivery)
        return deliveries

    async def _deliver(self, delivery: _Delivery) -> _Outcome | None:
        """None when there is nothing to send."""
        if delivery.endpoint is None or delivery.order is None:
            return None
        sent_at = datetime.now(UTC)
        body = build_body(delivery.order, delivery.event, sent_at=sent_at)
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: signature(delivery.endpoint.secret, body),
            "X-Tabletop-Timestamp": str(int(sent_at.timestamp())),
            "X-Tabletop-Delivery": delivery_id(delivery.order["id"], delivery.order["version"]),
            "X-Tabletop-Event": event_name(delivery.event),
        }
        started = time.perf_counter()
        outcome = await self._post(delivery.endpoint.url, body, headers)
        if self.metrics:
            self.metrics.latency.labels(TARGET, outcome.outcome).observe(time.perf_counter() - started)
            self.metrics.results.labels(TARGET, "delivered" if outcome.delivered else "failed").inc()
        return outcome

    async def _post(self, url: str, body: bytes, headers: dict[str, str]) -> _Outcome:
        try:
            # httpx's timeouts bound each step; this bounds the whole exchange (a receiver
            # trickling its answer byte by byte).
            async with (
                asyncio.timeout(self.timeout_s),
                self._client.stream("POST", url, content=body, headers=headers) as response,
            ):
                answer = await _read_some(response)
        except httpx.TimeoutException as exc:
            return _Outcome(False, f"timeout: {type(exc).__name__}", outcome="retry")
        except TimeoutError:
            return _Outcome(False, f"timeout: no complete answer within {self.timeout_s:g} s", outcome="retry")
        except httpx.HTTPError as exc:
            return _Outcome(False, f"network: {type(exc).__name__}: {exc}", outcome="retry")
        status = response.status_code
        if 200 <= status < 300:
            return _Outcome(True)
        error = f"HTTP {status}: {answer.decode(errors='replace')[:ERROR_BODY_CHARS]}"
        if status in (408, 429) or status >= 500:
            return _Outcome(False, error, outcome="retry")
        return _Outcome(False, error, can_die=True, outcome="rejected")

    async def _record(self, conn: Conn, deliveries: list[_Delivery], outcomes: Sequence[_Outcome | None], *,
                      owner: str, report: TargetReport) -> None:
        delivered: list[tuple[UUID, UUID, int]] = []
        synced_ids: list[int] = []
        for delivery, outcome in zip(deliveries, outcomes, strict=True):
            if outcome is None:
                if delivery.problem and delivery.problem.startswith("skipped"):
                    report.synced += await outbound_webhooks.skip(conn, delivery.row_ids, owner=owner,
                                                                  reason=delivery.problem)
                    continue
                # The secret does not open under this process's key: a configuration problem an
                # operator fixes, then retries the dead row.
                outcome = _Outcome(False, delivery.problem or "nothing to send", can_die=True)
            if outcome.delivered:
                assert delivery.order is not None
                synced_ids += delivery.row_ids
                delivered.append((delivery.order["restaurant_id"], delivery.order["id"], delivery.order["version"]))
                continue
            marked = await outbox.mark_failed(conn, delivery.row_ids, owner=owner, error=outcome.error,
                                              backoff=self.backoff, can_die=outcome.can_die)
            for row in marked:
                if row["status"] == "dead":
                    report.dead += 1
                else:
                    report.failed += 1
            log.warning("webhook_delivery_failed", restaurant_id=str(delivery.rows[0]["restaurant_id"]),
                        order_id=str(delivery.rows[0]["entity_id"]), error=outcome.error,
                        dead=any(r["status"] == "dead" for r in marked))
        if synced_ids:
            report.synced += await outbox.mark_synced(conn, synced_ids, owner=owner)
            await outbound_webhooks.supersede(conn, delivered)


async def _read_some(response: httpx.Response) -> bytes:
    """The start of the receiver's answer (for last_error), without reading a huge body."""
    chunks = bytearray()
    async for chunk in response.aiter_bytes():
        chunks += chunk
        if len(chunks) >= MAX_RESPONSE_BYTES:
            break
    return bytes(chunks[:MAX_RESPONSE_BYTES])


def webhook_target(db: Database, settings: SyncSettings, environ: Mapping[str, str] | None = None,
                   ) -> WebhookTarget | None:
    """The target for this environment (always on), or None when the secrets cannot be opened
    here: production without PETPOOJA_CREDENTIALS_KEY (the API refuses to seal without it)."""
    env = os.environ if environ is None else environ
    box = worker_box(env)
    if box is None:
        log.warning("webhook_target_disabled", reason="PETPOOJA_CREDENTIALS_KEY is not set")
        return None
    # A delivery must end (by its timeout) well before its lease lets another worker take the row.
    return WebhookTarget(db, box, backoff=backoff_of(settings), lease_s=max(settings.sync_lease_s, TIMEOUT_S + 10))
