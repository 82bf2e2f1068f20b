"""Payments through Stripe: PaymentIntents for orders, refunds, and webhook verification.

The official ``stripe`` library (``StripeClient``) over its async HTTPX client, with no
retries of its own (the caller retries: a guest's repeated submit, the outbox for refunds)
and a hard timeout. ``load(environ)`` builds it by ENV_MODE (providers/factory.py):

- staging and production: api.stripe.com with ``STRIPE_SECRET_KEY`` and
  ``STRIPE_WEBHOOK_SECRET``, both required (a startup error naming them otherwise).
- development and test: ``STRIPE_API_BASE`` (default the stand-in's port,
  http://127.0.0.1:8079; scripts/stripe_standin.py) with the stand-in's fixed test key and
  webhook secret unless ``STRIPE_SECRET_KEY`` / ``STRIPE_WEBHOOK_SECRET`` are given.

Every request that creates something carries an idempotency key derived from our own ids
(``order-{order_id}``, ``refund-{order_id}``), so a retried request never charges or
refunds twice (Stripe replays the first answer for the same key and parameters). Amounts
are integers in the currency's minor units (as our orders store them); currencies go out
in lowercase as Stripe requires. Nothing here logs a key, a client_secret or a body.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import stripe

from providers.config import real, require

STRIPE_API = "https://api.stripe.com"
DEV_API_BASE = "http://127.0.0.1:8079"
# The stand-in's fixed test credentials (scripts/stripe_standin.py): not secrets.
DEV_SECRET_KEY = "sk_test_tabletop_standin_0000000000000000"  # noqa: S105  # the stand-in's published test key
DEV_WEBHOOK_SECRET = "whsec_tabletop_standin_00000000000000000000"  # noqa: S105  # the stand-in's published secret
# How old a webhook's signature may be (stripe.Webhook.DEFAULT_TOLERANCE, Stripe's recommendation).
TOLERANCE_S = 300

# The library logs response bodies (client secrets in them) at DEBUG to the "stripe" logger:
# whatever configures the standard logging later, that logger never says more than warnings.
# (STRIPE_LOG=debug in the environment would print them too: never set it.)
logging.getLogger("stripe").setLevel(logging.WARNING)


class PaymentsError(Exception):
    """Stripe did not do what was asked. ``code`` is Stripe's error code when it gave one."""

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None):
        super().__init__(message)
        self.code, self.status = code, status


class PaymentsUnavailable(PaymentsError):
    """Stripe could not be reached, timed out, answered 5xx or 429, or refused our key: try later."""

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None,
                 retry_after_s: float | None = None):
        super().__init__(message, code=code, status=status)
        self.retry_after_s = retry_after_s


class PaymentsRefused(PaymentsError):
    """Stripe refused the request itself (4xx): the same request will not succeed."""


@dataclass(frozen=True)
class Intent:
    id: str
    status: str  # Stripe's PaymentIntent status
    amount: int
    currency: str  # upper case, as ours
    client_secret: str | None = field(repr=False)  # the guest's to confirm with: never logged
    metadata: dict[str, str]


@dataclass(frozen=True)
class Refund:
    id: str
    status: str  # pending, requires_action, succeeded, failed or canceled
    amount: int
    payment_intent: str | None


def _intent(resource: Any) -> Intent:
    obj = resource.to_dict()
    return Intent(id=obj["id"], status=obj["status"], amount=int(obj["amount"]), currency=str(obj["currency"]).upper(),
                  client_secret=obj.get("client_secret"), metadata=dict(obj.get("metadata") or {}))


def _refund(resource: Any) -> Refund:
    obj = resource.to_dict()
    return Refund(id=obj["id"], status=obj["status"], amount=int(obj["amount"]),
                  payment_intent=obj.get("payment_intent"))


def _translate(exc: stripe.StripeError) -> PaymentsError:
    """A stripe library error as ours: unavailable (retry later) or refused (do not)."""
    status = exc.http_status
    code = exc.code
    # Stripe's own message, never the request (which could carry a client_secret).
    message = f"Stripe {status or 'unreachable'}: {exc.user_message or type(exc).__name__}"
    if isinstance(exc, stripe.APIConnectionError) or status is None:
        return PaymentsUnavailable(f"Stripe unreachable: {type(exc).__name__}", code=code)
    if isinstance(exc, stripe.RateLimitError) or status == 429:
        retry_after = exc.headers.get("retry-after") if exc.headers else None
        return PaymentsUnavailable(message, code=code, status=status,
                                   retry_after_s=float(retry_after) if retry_after and retry_after.isdigit() else None)
    if status >= 500 or isinstance(exc, stripe.AuthenticationError | stripe.PermissionError):
        # A refused key is the operator's to fix; the request itself may well succeed then.
        return PaymentsUnavailable(message, code=code, status=status)
    return PaymentsRefused(message, code=code, status=status)


class _HttpxClient(stripe.HTTPXClient):
    """stripe's HTTPXClient, handing its encoded form body to httpx as ``content``: its own
    ``data=<bytes>`` is deprecated by httpx 0.28 (a DeprecationWarning on every request)."""

    def _get_request_args_kwargs(self, method: str, url: str, headers: Mapping[str, str],
                                 post_data: Any) -> list[Any]:
        args, kwargs = super()._get_request_args_kwargs(method, url, headers, post_data)
        data = kwargs.pop("data", None)
        if data:
            kwargs["content"] = data
        return [args, kwargs]


class Payments:
    """Stripe, as configured (see the module docstring)."""

    def __init__(self, secret_key: str, webhook_secret: str, *, api_base: str = STRIPE_API, timeout_s: float = 10.0,
                 live: bool = False):
        self.api_base, self.live = api_base, live
        self._webhook_secret = webhook_secret
        self._http = _HttpxClient(timeout=timeout_s)
        self._client = stripe.StripeClient(secret_key, base_addresses={"api": api_base}, http_client=self._http,
                                           max_network_retries=0)

    async def close(self) -> None:
        await self._http.close_async()  # type: ignore[no-untyped-call]  # stripe leaves it unannotated

    async def create_intent(self, *, order_id: UUID, restaurant_id: UUID, number: int, amount: int,
                            currency: str) -> Intent:
        """The order's PaymentIntent for ``amount`` minor units of ``currency`` (our server-side
        total). Idempotency key ``order-{order_id}``: a retry answers the intent the first request
        created; the same key with another amount is refused by Stripe (idempotency_error)."""
        try:
            obj = await self._client.v1.payment_intents.create_async(
                {"amount": amount, "currency": currency.lower(),
                 "automatic_payment_methods": {"enabled": True},
                 "description": f"Order #{number}",
                 "metadata": {"order_id": str(order_id), "restaurant_id": str(restaurant_id)}},
                {"idempotency_key": f"order-{order_id}"})
        except stripe.StripeError as exc:
            raise _translate(exc) from exc
        return _intent(obj)

    async def retrieve_intent(self, intent_id: str) -> Intent:
        try:
            obj = await self._client.v1.payment_intents.retrieve_async(intent_id)
        except stripe.StripeError as exc:
            raise _translate(exc) from exc
        return _intent(obj)

    async def refund(self, *, order_id: UUID, intent_id: str, amount: int) -> Refund:
        """Refunds ``amount`` of the order's payment. Idempotency key ``refund-{order_id}``: the
        outbox's retries of one refund are one refund at Stripe."""
        try:
            obj = await self._client.v1.refunds.create_async(
                {"payment_intent": intent_id, "amount": amount, "reason": "requested_by_customer",
                 "metadata": {"order_id": str(order_id)}},
                {"idempotency_key": f"refund-{order_id}"})
        except stripe.StripeError as exc:
            raise _translate(exc) from exc
        return _refund(obj)

    def construct_event(self, payload: bytes, signature: str | None) -> stripe.Event:
        """The verified event of a webhook's raw body: ``stripe.Webhook.construct_event`` with
        Stripe's 5-minute tolerance. Raises stripe.SignatureVerificationError (missing,
        malformed, forged or expired signature) or ValueError (a body that is not an event)."""
        event: stripe.Event = stripe.Webhook.construct_event(payload, signature, self._webhook_secret,
                                                             tolerance=TOLERANCE_S)
        return event


def load(environ: Mapping[str, str]) -> Payments:
    """Stripe for this configuration; ProviderConfigError in a real mode without its credentials."""
    timeout_s = float(environ.get("STRIPE_TIMEOUT_S") or 10)
    if real(environ):
        found = require(environ, "Stripe", ["STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET"])
        return Payments(found["STRIPE_SECRET_KEY"], found["STRIPE_WEBHOOK_SECRET"], api_base=STRIPE_API,
                        timeout_s=timeout_s, live=True)
    return Payments(environ.get("STRIPE_SECRET_KEY") or DEV_SECRET_KEY,
                    environ.get("STRIPE_WEBHOOK_SECRET") or DEV_WEBHOOK_SECRET,
                    api_base=(environ.get("STRIPE_API_BASE") or DEV_API_BASE).rstrip("/"), timeout_s=timeout_s)
