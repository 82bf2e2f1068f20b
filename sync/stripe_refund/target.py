"""The ``stripe_refund`` outbox target: a refund row (queued by the database when a paid online
order is cancelled or rejected) sent to Stripe as a Refund of the order's PaymentIntent.

``prepare`` reads the claimed refunds; ``deliver`` sends each one inside a transaction that
holds its refunds row (``FOR UPDATE SKIP LOCKED``: no two workers send one refund at once)
and records Stripe's answer there, with the order's move to ``refunded`` (an order event) when
the refund succeeded. Every attempt carries the idempotency key ``refund-{order_id}``, so the
case left open (Stripe refunded and the worker died before its commit, or the answer was lost)
is answered by Stripe with the first refund again: one refund, however many attempts.

Outcomes: Stripe unreachable, timing out, 5xx or 429 is retried for as long as it takes;
``charge_already_refunded`` is delivered (refunded already, from Stripe's dashboard say: the
order is marked refunded); any other refusal is a limited retry, dead after the maximum
attempts for an operator to read (and retry by hand).
"""

from __future__ import annotations

import asyncio
from typing import Any

import structlog

from db import payments as db_payments
from db.payments import Mover
from db.pool import Database
from db.queries import Conn, Row
from providers.factory import Providers
from providers.payments import Payments, PaymentsRefused, PaymentsUnavailable
from sync.config import SyncSettings, backoff_of
from sync.outcome import Delivered, Outcome, Retry, Skip
from sync.target import Job, Policy, by_entity

log = structlog.get_logger("sync")

TARGET = "stripe_refund"


class RefundTarget:
    """Sends refunds to Stripe (an engine target: sync/target.py)."""

    name = TARGET

    def __init__(self, db: Database, payments: Payments, *, policy: Policy):
        self.db, self.payments, self.policy = db, payments, policy

    async def close(self) -> None:
        return None  # the Payments client is the providers' (closed with them)

    async def probe(self) -> bool | None:
        return None  # rows are retried with backoff

    async def prepare(self, conn: Conn, rows: list[Row]) -> list[Job[Row | None]]:
        groups = by_entity(rows)
        found = await db_payments.refunds_for_send(conn, [refund_id for _, refund_id in groups])
        jobs: list[Job[Row | None]] = []
        for (_, refund_id), group in groups.items():
            job: Job[Row | None] = Job(group, found.get(refund_id))
            if job.payload is None:
                job.settled = Skip("skipped: the refund no longer exists")
            elif job.payload["status"] == "succeeded":
                job.settled = Skip("skipped: already refunded")
            jobs.append(job)
        return jobs

    async def deliver(self, jobs: list[Job[Row | None]]) -> list[Outcome]:
        return list(await asyncio.gather(*(self._deliver(job) for job in jobs)))

    async def _deliver(self, job: Job[Row | None]) -> Outcome:
        refund = job.payload
        assert refund is not None  # prepare settles every job it cannot fill
        async with self.db.system() as conn:
            held = await db_payments.refund_for_send(conn, refund["id"])
            if held is None:
                return Retry("another worker is sending this refund")
            if held["status"] == "succeeded":
                return Skip("skipped: already refunded")
            try:
                made = await self.payments.refund(order_id=refund["order_id"], intent_id=refund["intent_id"],
                                                  amount=refund["amount"])
            except PaymentsUnavailable as exc:
                log.warning("stripe_refund_unavailable", order_id=str(refund["order_id"]), error=str(exc))
                return Retry(str(exc), after_s=exc.retry_after_s)
            except PaymentsRefused as exc:
                if exc.code == "charge_already_refunded":
                    await self._refunded(conn, refund, None, "succeeded")
                    return Delivered("already refunded at Stripe")
                log.warning("stripe_refund_refused", order_id=str(refund["order_id"]), error=str(exc), code=exc.code)
                return Retry(str(exc), limited=True)
            await self._refunded(conn, refund, made.id, made.status)
        return Delivered(made.status)

    async def _refunded(self, conn: Conn, refund: Row, stripe_refund_id: str | None, status: str) -> None:
        await db_payments.record_refund(conn, refund["id"], status=status, stripe_refund_id=stripe_refund_id)
        if status == "succeeded":
            details: dict[str, Any] = {"payment_intent": refund["intent_id"], "refund": stripe_refund_id}
            await db_payments.move(conn, restaurant_id=refund["restaurant_id"], order_id=refund["order_id"],
                                   to="refunded", mover=Mover("system"), details=details)


def stripe_refund_target(db: Database, settings: SyncSettings, providers: Providers) -> RefundTarget | None:
    """The target, or None when this process has no payments provider."""
    if providers.payments is None:
        log.warning("stripe_refund_target_disabled", reason="no payments provider")
        return None
    policy = Policy(batch_size=16, lease_s=settings.sync_lease_s, backoff=backoff_of(settings))
    return RefundTarget(db, providers.payments, policy=policy)
