"""A Stripe stand-in: the part of Stripe's API v1 wire format Tabletop uses (PaymentIntents,
Refunds, signed webhook events) on loopback, for tests and the dev runner. Not Stripe: in
memory, test mode only, no security beyond loopback and one API key. See
scripts/stripe_standin.md for what it does, what is Stripe's documented behaviour and what
it chose.

    python -m scripts.stripe_standin --port 0 [--api-key KEY] [--webhook-secret SECRET] [--webhook-url URL]
    # stdout, exactly one line once it accepts requests:
    stripe-standin ready http://127.0.0.1:41234
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import hmac
import json
import re
import secrets
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from scripts import standin_server
from scripts.standin_server import Fault

# The development defaults (providers/payments.py uses the same ones in development and test).
DEV_API_KEY = "sk_test_tabletop_standin_0000000000000000"
DEV_WEBHOOK_SECRET = "whsec_tabletop_standin_00000000000000000000"  # noqa: S105  # published test secret
API_VERSION = "2026-10-28.endive"  # what the installed stripe library (16.1) pins

FAULTS = {"ok", "down", "http500", "http429", "hang", "drop"}
# The paths a fault can apply to, by name.
PATHS = frozenset({"create_intent", "retrieve_intent", "confirm_intent", "create_refund", "retrieve_refund"})
# Stripe's test PaymentMethods (docs.stripe.com/testing): the ones this stand-in knows, and the
# decline each one gives (None: the payment succeeds).
TEST_METHODS: dict[str, str | None] = {
    "pm_card_visa": None,
    "pm_card_mastercard": None,
    "pm_card_amex": None,
    "pm_card_chargeDeclined": "generic_decline",
    "pm_card_chargeDeclinedInsufficientFunds": "insufficient_funds",
    "pm_card_chargeDeclinedExpiredCard": "expired_card",
}
DECLINE_MESSAGES = {
    "generic_decline": "Your card was declined.",
    "insufficient_funds": "Your card has insufficient funds.",
    "expired_card": "Your card has expired.",
}
MAX_AMOUNT = 99_999_999  # Stripe's amount field takes at most eight digits
_CURRENCY = re.compile(r"^[a-z]{3}$")
_KEY = re.compile(r"^[\x20-\x7e]{1,255}$")


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_urlsafe(18).replace('-', 'A').replace('_', 'B')}"


@dataclass
class Saved:
    """An idempotency key's first request and its answer (Stripe keeps them at least 24 hours)."""

    endpoint: str
    params: list[tuple[str, str]]
    status: int | None = None  # None while the first request is still running
    body: Any = None


@dataclass
class State(standin_server.Outbound):
    api_key: str
    webhook_secret: str
    webhook_url: str | None = None
    initial_webhook_url: str | None = None  # --webhook-url: what a reset returns to
    intents: dict[str, dict[str, Any]] = field(default_factory=dict)
    refunds: dict[str, dict[str, Any]] = field(default_factory=dict)
    charges: dict[str, dict[str, Any]] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    deliveries: list[dict[str, Any]] = field(default_factory=list)
    keys: dict[str, Saved] = field(default_factory=dict)
    calls: dict[str, int] = field(default_factory=lambda: dict.fromkeys(sorted(PATHS), 0))
    fault: Fault = field(default_factory=lambda: Fault("ok", None, PATHS))
    released: asyncio.Event = field(default_factory=asyncio.Event)
    http: httpx.AsyncClient | None = None
    tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def reset(self) -> None:
        self.intents.clear()
        self.refunds.clear()
        self.charges.clear()
        self.events.clear()
        self.deliveries.clear()
        self.keys.clear()
        self.calls = dict.fromkeys(sorted(PATHS), 0)
        self.fault = Fault("ok", None, PATHS)
        self.webhook_url = self.initial_webhook_url
        self.released.set()  # answer every hanging call, then hang again for new ones
        self.released = asyncio.Event()


# ------------------------------------------------------------------------- answers


def stripe_error(status: int, type_: str, message: str, *, code: str | None = None, param: str | None = None,
                 **extra: Any) -> JSONResponse:
    """Stripe's error shape: {"error": {type, code, message, param, ...}}."""
    error: dict[str, Any] = {"type": type_, "message": message}
    if code is not None:
        error["code"] = code
        error["doc_url"] = f"https://stripe.com/docs/error-codes/{code.replace('_', '-')}"
    if param is not None:
        error["param"] = param
    error.update(extra)
    return JSONResponse({"error": error}, status_code=status, headers={"Request-Id": new_id("req")})


def _missing(param: str) -> JSONResponse:
    return stripe_error(400, "invalid_request_error", f"Missing required param: {param}.", code="parameter_missing",
                        param=param)


def _invalid(param: str, message: str, code: str = "parameter_invalid_integer") -> JSONResponse:
    return stripe_error(400, "invalid_request_error", message, code=code, param=param)


def _no_such(kind: str, ident: str, param: str) -> JSONResponse:
    return stripe_error(404, "invalid_request_error", f"No such {kind}: '{ident}'", code="resource_missing",
                        param=param)


def _authorised(request: Request) -> JSONResponse | None:
    """The secret key as Stripe takes it: ``Bearer <key>``, or HTTP Basic with the key as the
    user name (``curl -u sk_test_...:``)."""
    state: State = request.app.state.standin
    scheme, _, key = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "basic":
        try:
            key = base64.b64decode(key.strip(), validate=True).decode().partition(":")[0]
        except (ValueError, UnicodeDecodeError):
            key = ""
        scheme = "bearer"
    if scheme.lower() != "bearer" or not hmac.compare_digest(key.strip().encode(), state.api_key.encode()):
        shown = key.strip()[-4:] if len(key.strip()) > 8 else ""
        return stripe_error(401, "invalid_request_error", f"Invalid API Key provided: sk_test_****{shown}")
    return None


async def _form(request: Request) -> list[tuple[str, str]] | None:
    """The form-encoded parameters (what the stripe libraries send), in order; None when unreadable."""
    raw = await request.body()
    if request.method == "GET":
        raw = request.url.query.encode()
    try:
        return parse_qsl(raw.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
    except (UnicodeDecodeError, ValueError):
        return None


def _metadata(params: list[tuple[str, str]]) -> dict[str, str]:
    return {k[len("metadata["):-1]: v for k, v in params if k.startswith("metadata[") and k.endswith("]")}


def _flat(params: list[tuple[str, str]]) -> dict[str, str]:
    return dict(params)


async def _fault(request: Request, path: str) -> Response | None:
    """The injected answer for this call (None: answer normally; drop is handled after)."""
    state: State = request.app.state.standin
    state.calls[path] += 1
    mode = state.fault.take(path)
    request.state.fault = mode
    if mode == "down":
        # Before anything executes: the connection closes without an answer, as a dead host's would.
        await standin_server.abort(request)
        return Response(status_code=503)
    if mode == "http500":
        # Injected in front of the endpoint (a load balancer's 500): nothing ran, nothing is saved.
        return stripe_error(500, "api_error", "An unknown error occurred (stand-in fault http500).")
    if mode == "http429":
        return stripe_error(429, "invalid_request_error", "Too many requests hit the API too quickly.",
                            code="rate_limit")
    if mode == "hang":
        await state.released.wait()
        return stripe_error(503, "api_error", "stand-in reset while this call hung")
    return None


async def _answer(request: Request, response: Response) -> Response:
    """The drop fault: the request executed, but its answer is lost on the way."""
    if getattr(request.state, "fault", "ok") == "drop":
        await standin_server.abort(request)
    return response


Handler = Callable[[Request, list[tuple[str, str]]], Awaitable[JSONResponse]]


async def _idempotent(request: Request, path: str, endpoint: str, handler: Handler) -> Response:
    """Stripe's idempotency for a POST: the first answer of a key is saved once the endpoint
    starts executing and replayed for the same parameters (Idempotent-Replayed: true); other
    parameters or another endpoint with the same key is 400 idempotency_error; a key whose
    first request is still running is 409 idempotency_key_in_use. Validation failures are not
    saved (the endpoint never ran)."""
    refused = _authorised(request)
    if refused is not None:
        return refused
    params = await _form(request)
    if params is None:
        return stripe_error(400, "invalid_request_error", "The request body could not be decoded.")
    faulted = await _fault(request, path)
    if faulted is not None:
        return faulted
    state: State = request.app.state.standin
    key = request.headers.get("idempotency-key")
    if key is not None and not _KEY.match(key):
        return stripe_error(400, "invalid_request_error", "Idempotency keys are at most 255 characters long.",
                            param="Idempotency-Key")
    if key is not None and key in state.keys:
        saved = state.keys[key]
        if saved.endpoint != endpoint or sorted(saved.params) != sorted(params):
            return stripe_error(
                400, "idempotency_error",
                "Keys for idempotent requests can only be used with the same parameters they were first used with. "
                f"Try using a key other than '{key}' if you meant to execute a different request.")
        if saved.status is None:
            return stripe_error(409, "invalid_request_error",
                                "There is currently another in-progress request using this Idempotent Key "
                                "(that probably means you submitted twice, and the other request is still going "
                                "through).", code="idempotency_key_in_use")
        return await _answer(request, JSONResponse(saved.body, status_code=saved.status,
                                                   headers={"Idempotent-Replayed": "true"}))
    if key is not None:
        state.keys[key] = Saved(endpoint, params)
    response = await handler(request, params)
    if key is not None:
        if response.status_code == 400 and getattr(response, "validation", False):
            del state.keys[key]
        else:
            state.keys[key].status = response.status_code
            state.keys[key].body = json.loads(bytes(response.body))
    return await _answer(request, response)


# ------------------------------------------------------------------------- objects


def _intent(amount: int, currency: str, metadata: dict[str, str], description: str | None) -> dict[str, Any]:
    ident = new_id("pi")
    return {
        "id": ident, "object": "payment_intent", "amount": amount, "amount_capturable": 0, "amount_received": 0,
        "automatic_payment_methods": {"enabled": True}, "canceled_at": None, "cancellation_reason": None,
        "capture_method": "automatic", "client_secret": f"{ident}_secret_{secrets.token_urlsafe(18)}",
        "confirmation_method": "automatic", "created": int(time.time()), "currency": currency, "customer": None,
        "description": description, "last_payment_error": None, "latest_charge": None, "livemode": False,
        "metadata": metadata, "next_action": None, "payment_method": None, "payment_method_types": ["card"],
        "status": "requires_payment_method",
    }


def _event(state: State, type_: str, obj: dict[str, Any], request: Request | None) -> dict[str, Any]:
    event = {
        "id": new_id("evt"), "object": "event", "api_version": API_VERSION, "created": int(time.time()),
        "data": {"object": json.loads(json.dumps(obj))}, "livemode": False, "pending_webhooks": 1,
        "request": {"id": new_id("req") if request else None,
                    "idempotency_key": request.headers.get("idempotency-key") if request else None},
        "type": type_,
    }
    state.events.append(event)
    if state.webhook_url:
        task = asyncio.create_task(_deliver(state, event, state.webhook_url))
        state.tasks.add(task)
        task.add_done_callback(state.tasks.discard)
    return event


def sign(payload: str, secret: str, timestamp: int) -> str:
    """Stripe-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<payload>" keyed with the endpoint secret>."""
    mac = hmac.new(secret.encode(), f"{timestamp}.{payload}".encode(), hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def _signed(state: State, event: dict[str, Any], timestamp: int | None = None,
            secret: str | None = None) -> tuple[str, dict[str, str]]:
    raw = json.dumps(event, indent=2)  # Stripe's bodies are pretty-printed JSON
    return raw, {"Content-Type": "application/json; charset=utf-8", "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
                 "Stripe-Signature": sign(raw, secret or state.webhook_secret,
                                          int(time.time()) if timestamp is None else timestamp)}


async def _deliver(state: State, event: dict[str, Any], url: str) -> None:
    raw, headers = _signed(state, event)
    record: dict[str, Any] = {"event_id": event["id"], "type": event["type"], "url": url}
    try:
        answer = await state.client().post(url, content=raw.encode(), headers=headers)
        record["status_code"] = answer.status_code
    except httpx.HTTPError as exc:
        record["error"] = repr(exc)
    state.deliveries.append(record)


# ------------------------------------------------------------------ PaymentIntents


async def create_intent(request: Request) -> Response:
    return await _idempotent(request, "create_intent", "POST /v1/payment_intents", _create_intent)


async def _create_intent(request: Request, params: list[tuple[str, str]]) -> JSONResponse:
    state: State = request.app.state.standin
    flat = _flat(params)
    if "amount" not in flat:
        return _validation(_missing("amount"))
    if "currency" not in flat:
        return _validation(_missing("currency"))
    try:
        amount = int(flat["amount"])
    except ValueError:
        return _validation(_invalid("amount", "Invalid integer: " + flat["amount"][:40]))
    if amount < 1:
        return _validation(_invalid("amount", "Amount must be at least 1.", "amount_too_small"))
    if amount > MAX_AMOUNT:
        return _validation(_invalid("amount", "Amount must be no more than 99999999.", "amount_too_large"))
    if not _CURRENCY.match(flat["currency"]):
        return _validation(_invalid("currency", f"Invalid currency: {flat['currency'][:10]}.",
                                    "parameter_invalid_string"))
    intent = _intent(amount, flat["currency"], _metadata(params), flat.get("description"))
    state.intents[intent["id"]] = intent
    if flat.get("confirm") == "true" and flat.get("payment_method"):
        return _confirm(state, request, intent, flat["payment_method"])
    return JSONResponse(intent)


def _validation(response: JSONResponse) -> JSONResponse:
    response.validation = True  # type: ignore[attr-defined]  # read by _idempotent: not saved
    return response


async def retrieve_intent(request: Request) -> Response:
    refused = _authorised(request)
    if refused is not None:
        return refused
    faulted = await _fault(request, "retrieve_intent")
    if faulted is not None:
        return faulted
    state: State = request.app.state.standin
    intent = state.intents.get(request.path_params["id"])
    if intent is None:
        return _no_such("payment_intent", request.path_params["id"], "intent")
    return await _answer(request, JSONResponse(intent))


async def confirm_intent(request: Request) -> Response:
    ident = request.path_params["id"]

    async def confirm(request: Request, params: list[tuple[str, str]]) -> JSONResponse:
        state: State = request.app.state.standin
        intent = state.intents.get(ident)
        if intent is None:
            return _validation(_no_such("payment_intent", ident, "intent"))
        method = _flat(params).get("payment_method") or intent["payment_method"]
        if not method:
            return _validation(stripe_error(
                400, "invalid_request_error", "You cannot confirm this PaymentIntent because it's missing a payment "
                "method.", code="payment_intent_unexpected_state", param="payment_method"))
        return _confirm(state, request, intent, method)

    return await _idempotent(request, "confirm_intent", f"POST /v1/payment_intents/{ident}/confirm", confirm)


def _confirm(state: State, request: Request, intent: dict[str, Any], method: str) -> JSONResponse:
    if intent["status"] not in ("requires_payment_method", "requires_confirmation"):
        return stripe_error(400, "invalid_request_error",
                            f"This PaymentIntent's status is {intent['status']}; it cannot be confirmed.",
                            code="payment_intent_unexpected_state", payment_intent=intent)
    if method not in TEST_METHODS:
        return _no_such("PaymentMethod", method, "payment_method")
    intent["payment_method"] = method
    charge = {
        "id": new_id("ch"), "object": "charge", "amount": intent["amount"], "amount_captured": 0,
        "amount_refunded": 0, "captured": False, "created": int(time.time()), "currency": intent["currency"],
        "metadata": intent["metadata"], "paid": False, "payment_intent": intent["id"], "payment_method": method,
        "refunded": False, "status": "failed", "failure_code": None, "failure_message": None,
    }
    decline = TEST_METHODS[method]
    state.charges[charge["id"]] = charge
    intent["latest_charge"] = charge["id"]
    if decline is not None:
        message = DECLINE_MESSAGES[decline]
        charge.update(failure_code="card_declined", failure_message=message)
        error = {"type": "card_error", "code": "card_declined", "decline_code": decline, "message": message,
                 "charge": charge["id"], "doc_url": "https://stripe.com/docs/error-codes/card-declined"}
        # A failed attempt returns the PaymentIntent to requires_payment_method, to be tried again.
        intent.update(status="requires_payment_method", last_payment_error=error, payment_method=None)
        _event(state, "payment_intent.payment_failed", intent, request)
        return JSONResponse({"error": {**error, "payment_intent": intent}}, status_code=402)
    charge.update(status="succeeded", paid=True, captured=True, amount_captured=intent["amount"])
    intent.update(status="succeeded", amount_received=intent["amount"], last_payment_error=None)
    _event(state, "charge.succeeded", charge, request)
    _event(state, "payment_intent.succeeded", intent, request)
    return JSONResponse(intent)


# ------------------------------------------------------------------------- Refunds


async def create_refund(request: Request) -> Response:
    return await _idempotent(request, "create_refund", "POST /v1/refunds", _create_refund)


async def _create_refund(request: Request, params: list[tuple[str, str]]) -> JSONResponse:
    state: State = request.app.state.standin
    flat = _flat(params)
    charge: dict[str, Any] | None
    if flat.get("payment_intent"):
        intent = state.intents.get(flat["payment_intent"])
        if intent is None:
            return _validation(_no_such("payment_intent", flat["payment_intent"], "payment_intent"))
        charge = state.charges.get(intent["latest_charge"] or "")
        if intent["status"] != "succeeded" or charge is None:
            return _validation(stripe_error(
                400, "invalid_request_error", f"This PaymentIntent ({intent['id']}) does not have a successful "
                "charge to refund.", code="charge_not_refundable", param="payment_intent"))
    elif flat.get("charge"):
        charge = state.charges.get(flat["charge"])
        if charge is None:
            return _validation(_no_such("charge", flat["charge"], "charge"))
    else:
        return _validation(_missing("payment_intent"))
    remaining = charge["amount"] - charge["amount_refunded"]
    if remaining <= 0:
        return stripe_error(400, "invalid_request_error", f"Charge {charge['id']} has already been refunded.",
                            code="charge_already_refunded")
    try:
        amount = int(flat.get("amount", remaining))
    except ValueError:
        return _validation(_invalid("amount", "Invalid integer: " + flat["amount"][:40]))
    if not 1 <= amount <= remaining:
        return _validation(_invalid("amount", f"Refund amount ({amount}) is greater than unrefunded amount on "
                                    f"charge ({remaining})", "amount_too_large"))
    if flat.get("reason") not in (None, "duplicate", "fraudulent", "requested_by_customer"):
        return _validation(_invalid("reason", "Invalid reason.", "parameter_invalid_string"))
    refund = {
        "id": new_id("re"), "object": "refund", "amount": amount, "balance_transaction": None,
        "charge": charge["id"], "created": int(time.time()), "currency": charge["currency"],
        "metadata": _metadata(params), "payment_intent": charge["payment_intent"], "reason": flat.get("reason"),
        "receipt_number": None, "status": "succeeded",
    }
    state.refunds[refund["id"]] = refund
    charge["amount_refunded"] += amount
    charge["refunded"] = charge["amount_refunded"] >= charge["amount"]
    _event(state, "refund.created", refund, request)
    _event(state, "charge.refunded", charge, request)
    return JSONResponse(refund)


async def retrieve_refund(request: Request) -> Response:
    refused = _authorised(request)
    if refused is not None:
        return refused
    faulted = await _fault(request, "retrieve_refund")
    if faulted is not None:
        return faulted
    state: State = request.app.state.standin
    refund = state.refunds.get(request.path_params["id"])
    if refund is None:
        return _no_such("refund", request.path_params["id"], "refund")
    return await _answer(request, JSONResponse(refund))


# ------------------------------------------------------------------- control API


async def _json(request: Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.body() or b"{}")
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


async def post_faults(request: Request) -> Response:
    state: State = request.app.state.standin
    body = await _json(request)
    mode = body.get("mode", "ok")
    paths = body.get("paths") or sorted(PATHS)
    if mode not in FAULTS or not set(paths) <= PATHS:
        return JSONResponse({"error": f"mode one of {sorted(FAULTS)}, paths of {sorted(PATHS)}"}, status_code=400)
    count = body.get("count")
    state.fault = Fault(mode, count if isinstance(count, int) and count > 0 else None, frozenset(paths))
    if mode != "hang":
        state.released.set()
        state.released = asyncio.Event()
    return JSONResponse({"mode": mode, "count": state.fault.remaining, "paths": sorted(paths)})


async def put_webhook(request: Request) -> Response:
    state: State = request.app.state.standin
    body = await _json(request)
    state.webhook_url = body.get("url") or None
    if isinstance(body.get("secret"), str) and body["secret"]:
        state.webhook_secret = body["secret"]
    return JSONResponse({"url": state.webhook_url})


async def get_objects(request: Request) -> Response:
    state: State = request.app.state.standin
    kind = request.path_params["kind"]
    found = {"payment_intents": list(state.intents.values()), "refunds": list(state.refunds.values()),
             "charges": list(state.charges.values()), "events": state.events,
             "deliveries": state.deliveries}.get(kind)
    if found is None:
        return JSONResponse({"error": "unknown kind"}, status_code=404)
    return JSONResponse({"data": found})


async def get_stats(request: Request) -> Response:
    state: State = request.app.state.standin
    return JSONResponse({"calls": state.calls, "payment_intents": len(state.intents), "refunds": len(state.refunds),
                         "events": len(state.events), "idempotency_keys": len(state.keys)})


async def post_event_send(request: Request) -> Response:
    """Signs an event as Stripe would and posts it to ``url`` (the configured webhook URL unless
    given), or with ``dry_run`` only answers what would be posted: {body, headers, url}.
    ``timestamp`` and ``secret`` override the signature's (tests of expired and forged ones)."""
    state: State = request.app.state.standin
    body = await _json(request)
    event = next((e for e in state.events if e["id"] == request.path_params["id"]), None)
    if event is None:
        return JSONResponse({"error": "unknown event"}, status_code=404)
    raw, headers = _signed(state, event, body.get("timestamp"), body.get("secret"))
    url = body.get("url") or state.webhook_url or ""
    return await standin_server.send_webhook(state, url, raw.encode(), headers, dry_run=bool(body.get("dry_run")))


async def post_reset(request: Request) -> Response:
    state: State = request.app.state.standin
    state.reset()
    return JSONResponse({"reset": True})


# ---------------------------------------------------------------------------- app


def create_app(state: State) -> Callable[..., Awaitable[None]]:
    app = Starlette(lifespan=standin_server.lifespan, routes=[
        Route("/v1/payment_intents", create_intent, methods=["POST"]),
        Route("/v1/payment_intents/{id}", retrieve_intent, methods=["GET"]),
        Route("/v1/payment_intents/{id}/confirm", confirm_intent, methods=["POST"]),
        Route("/v1/refunds", create_refund, methods=["POST"]),
        Route("/v1/refunds/{id}", retrieve_refund, methods=["GET"]),
        Route("/_standin/faults", post_faults, methods=["POST"]),
        Route("/_standin/webhook", put_webhook, methods=["PUT"]),
        Route("/_standin/events/{id}/send", post_event_send, methods=["POST"]),
        Route("/_standin/stats", get_stats, methods=["GET"]),
        Route("/_standin/reset", post_reset, methods=["POST"]),
        Route("/_standin/{kind}", get_objects, methods=["GET"]),
    ])
    app.state.standin = state
    return standin_server.with_transport(app)


async def serve(port: int, state: State) -> None:
    await standin_server.serve(create_app(state), state.released, port, "stripe-standin")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=8079, help="0 picks a free one (read it from the ready line)")
    parser.add_argument("--api-key", default=DEV_API_KEY, help="the secret key callers must send")
    parser.add_argument("--webhook-secret", default=DEV_WEBHOOK_SECRET,
                        help="the endpoint secret events are signed with")
    parser.add_argument("--webhook-url", default=None, help="where events are posted as they happen (none: kept only)")
    args = parser.parse_args()
    try:
        asyncio.run(serve(args.port, State(args.api_key, args.webhook_secret, args.webhook_url,
                                           initial_webhook_url=args.webhook_url)))
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
