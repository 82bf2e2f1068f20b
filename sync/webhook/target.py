"""The ``webhook`` outbox target: order changes POSTed to a restaurant's own backend.

The engine claims due rows (an ordered target: never an order whose previous delivery is
still in flight), ``prepare`` reads every claimed order's CURRENT document and its newest
status event in the claiming transaction, and ``deliver`` POSTs one signed body per order,
all of a round's at once. Several rows of one order collapse into one delivery of its latest state;
a delivered version supersedes the order's older undelivered rows. So a receiver gets the
latest state at least once, with ``version`` to order deliveries and discard stale ones.

Signature: ``X-Tabletop-Signature: sha256=<hex HMAC-SHA256(secret, raw body)>``. The body
carries ``sent_at`` (so the signature covers the time and a replay can be refused) and a
``delivery_id`` that stays the same for every attempt at the same order version. The
contract for receivers is docs/webhooks.md.

Outcomes: 2xx is delivered; a timeout, a network error, 408, 429 and 5xx are retried with
backoff (or the receiver's Retry-After) for as long as it takes (the receiver is down); any
other answer (3xx: redirects are not followed; 4xx) is a limited retry: dead after the
maximum attempts. So is a connection the guard refused (production and staging: the host is or
resolves to a non-public address, sync/webhook/guard.py).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

import httpx
import orjson
import structlog

from db import outbound_webhooks, outbox
from db.credentials import CredentialBox, CredentialsUnreadable, worker_box
from db.envmode import production_like
from db.pool import Database
from db.queries import Conn, Row
from sync.config import SyncSettings, backoff_of
from sync.outcome import Delivered, Outcome, Retry, Skip
from sync.target import Job, Policy, by_entity
from sync.webhook.guard import AddressRefused, GuardedTransport, Resolver, system_resolver

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


def connection_limits(policy: Policy) -> httpx.Limits:
    """One connection per job of a round at most."""
    return httpx.Limits(max_connections=policy.batch_size, max_keepalive_connections=policy.batch_size)


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
class Delivery:
    """What one job sends: the order's current document and newest event, and where."""

    order: Row
    event: Row | None
    endpoint: outbound_webhooks.Endpoint


class WebhookTarget:
    """Delivers order changes to restaurants' own webhooks (an engine target: sync/target.py)."""

    name = TARGET

    def __init__(self, box: CredentialBox, *, policy: Policy, timeout_s: float = TIMEOUT_S,
                 transport: httpx.AsyncBaseTransport | None = None):
        self.box, self.policy, self.timeout_s = box, policy, timeout_s
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout_s, connect=min(timeout_s, 5.0)),
            follow_redirects=False,
            limits=connection_limits(policy),  # when the client builds its transport
            headers={"User-Agent": USER_AGENT},
            transport=transport,
        )

    async def close(self) -> None:
        await self._client.aclose()

    async def probe(self) -> bool | None:
        return None  # one endpoint per restaurant: there is no target-wide outage to probe

    async def prepare(self, conn: Conn, rows: list[Row]) -> list[Job[Delivery | None]]:
        """One job per order: its CURRENT document, newest event and the restaurant's webhook."""
        groups = by_entity(rows)
        order_ids = [entity_id for _, entity_id in groups]
        orders = await outbox.entity_rows(conn, "order", order_ids)
        events = await outbound_webhooks.latest_events(conn, {(r["restaurant_id"], r["entity_id"]) for r in rows})
        sealed = await outbound_webhooks.sealed_endpoints(conn, {r["restaurant_id"] for r in rows})
        jobs: list[Job[Delivery | None]] = []
        for (_, order_id), group in groups.items():
            restaurant_id, order = group[0]["restaurant_id"], orders.get(order_id)
            job: Job[Delivery | None] = Job(group, None)
            jobs.append(job)
            if restaurant_id not in sealed:
                job.settled = Skip("skipped: the restaurant has no webhook any more")
            elif order is None:
                job.settled = Skip("skipped: the order no longer exists")
            else:
                try:
                    endpoint = outbound_webhooks.open_endpoint(self.box, sealed[restaurant_id])
                except CredentialsUnreadable as exc:
                    # A configuration problem an operator fixes, then retries the dead row.
                    job.settled = Retry(f"the webhook secret cannot be opened: {exc}", limited=True)
                    continue
                job.payload, job.version = Delivery(order, events.get(order_id), endpoint), order["version"]
        return jobs

    async def deliver(self, jobs: list[Job[Delivery | None]]) -> list[Outcome]:
        # All at once, each bounded by timeout_s in total.
        return list(await asyncio.gather(*(self._deliver(job.payload) for job in jobs)))

    async def _deliver(self, delivery: Delivery | None) -> Outcome:
        assert delivery is not None  # prepare settles every job it cannot fill
        sent_at = datetime.now(UTC)
        body = build_body(delivery.order, delivery.event, sent_at=sent_at)
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: signature(delivery.endpoint.secret, body),
            "X-Tabletop-Timestamp": str(int(sent_at.timestamp())),
            "X-Tabletop-Delivery": delivery_id(delivery.order["id"], delivery.order["version"]),
            "X-Tabletop-Event": event_name(delivery.event),
        }
        outcome = await self._post(delivery.endpoint.url, body, headers)
        if not isinstance(outcome, Delivered):
            log.warning("webhook_delivery_failed", restaurant_id=str(delivery.order["restaurant_id"]),
                        order_id=str(delivery.order["id"]), error=getattr(outcome, "error", ""))
        return outcome

    async def _post(self, url: str, body: bytes, headers: dict[str, str]) -> Outcome:
        try:
            # httpx's timeouts bound each step; this bounds the whole exchange (a receiver
            # trickling its answer byte by byte).
            async with (
                asyncio.timeout(self.timeout_s),
                self._client.stream("POST", url, content=body, headers=headers) as response,
            ):
                answer = await _read_some(response)
        except AddressRefused as exc:
            # The address is the receiver's choice and will not become public by waiting; an
            # operator's retry after the receiver fixed its DNS gets a fresh budget.
            return Retry(str(exc), limited=True)
        except httpx.TimeoutException as exc:
            return Retry(f"timeout: {type(exc).__name__}")
        except TimeoutError:
            return Retry(f"timeout: no complete answer within {self.timeout_s:g} s")
        except httpx.HTTPError as exc:
            return Retry(f"network: {type(exc).__name__}: {exc}")
        status = response.status_code
        if 200 <= status < 300:
            return Delivered(f"HTTP {status}")
        error = f"HTTP {status}: {answer.decode(errors='replace')[:ERROR_BODY_CHARS]}"
        if status in (408, 429) or status >= 500:
            return Retry(error, after_s=_retry_after(response))
        return Retry(error, limited=True)


def _retry_after(response: httpx.Response) -> float | None:
    """A receiver's Retry-After in seconds (the delta form), capped at an hour."""
    value = response.headers.get("Retry-After", "")
    return min(float(value), 3600.0) if value.isdigit() else None


async def _read_some(response: httpx.Response) -> bytes:
    """The start of the receiver's answer (for last_error), without reading a huge body."""
    chunks = bytearray()
    async for chunk in response.aiter_bytes():
        chunks += chunk
        if len(chunks) >= MAX_RESPONSE_BYTES:
            break
    return bytes(chunks[:MAX_RESPONSE_BYTES])


def webhook_target(db: Database, settings: SyncSettings, environ: Mapping[str, str] | None = None, *,
                   resolver: Resolver = system_resolver) -> WebhookTarget | None:
    """The target for this environment (always on), or None when the secrets cannot be opened
    here: production without PETPOOJA_CREDENTIALS_KEY (the API refuses to seal without it).
    In production and staging it connects through the GuardedTransport: only to public addresses,
    resolved with ``resolver`` (tests pass their own) and checked at every connection."""
    env = os.environ if environ is None else environ
    box = worker_box(env)
    if box is None:
        log.warning("webhook_target_disabled", reason="PETPOOJA_CREDENTIALS_KEY is not set")
        return None
    # ordered: one order's deliveries never overtake each other; supersede: a delivered
    # version settles the order's older undelivered rows.
    policy = Policy(batch_size=16, lease_s=settings.sync_lease_s, backoff=backoff_of(settings), ordered=True,
                    supersede=True)
    guarded = production_like(env.get("ENV_MODE"))
    transport = GuardedTransport(resolver=resolver, limits=connection_limits(policy)) if guarded else None
    return WebhookTarget(box, policy=policy, transport=transport)
