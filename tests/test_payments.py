"""Online payments through Stripe (docs/payments.md): the real app with the real Stripe client
against the Stripe stand-in process (scripts/stripe_standin.py), the Convex stand-in for the
screens, and the real database. Stripe's side of a payment (the guest's card in Stripe.js) is
the stand-in's confirm; its events reach our webhook signed as Stripe signs them."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from api.app import create_app
from api.config import Settings
from db.pool import Database
from providers.factory import Providers, build_providers
from providers.payments import DEV_SECRET_KEY, DEV_WEBHOOK_SECRET
from sync.config import PetpoojaSettings, SyncSettings, backoff_of
from sync.petpooja.client import PetpoojaClient
from sync.petpooja.target import PetpoojaTarget, payment_type
from sync.stripe_refund.target import RefundTarget, stripe_refund_target
from sync.target import Policy
from tests.conftest import (
    STANDIN_KEY,
    Guest,
    MakeRestaurant,
    MakeUser,
    PetpoojaStandin,
    Restaurant,
    Served,
    Standin,
    StripeStandin,
    expect,
    order_body,
    overrides,
    process_env,
    spawn,
    start_api,
    stop,
)

DbSql = Callable[..., list[dict[str, Any]]]
OpenGuest = Callable[[Restaurant, int], Awaitable[Guest]]


@pytest.fixture
async def providers(stripe_standin: StripeStandin) -> AsyncIterator[Providers]:
    built = build_providers({"ENV_MODE": "test", "STRIPE_API_BASE": stripe_standin.url, "STRIPE_TIMEOUT_S": "2"})
    yield built
    await built.close()


@pytest.fixture
async def app(settings: Settings, standin: Standin, providers: Providers) -> AsyncIterator[Starlette]:
    """The API with Stripe at the stand-in and its post-commit pusher writing to the Convex stand-in."""
    application = create_app(settings, SyncSettings.model_validate({
        "convex_url": standin.url, "convex_deploy_key": STANDIN_KEY, "convex_timeout_s": 2.0,
        "sync_batch_window_ms": 2}), providers=providers)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def refunds(system_db: Database, providers: Providers) -> AsyncIterator[Served]:
    """The stripe_refund target as the worker builds it (a short backoff, so a retry comes due soon)."""
    target = stripe_refund_target(system_db, SyncSettings.model_validate(
        {"sync_backoff_base_s": 0.05, "sync_backoff_max_s": 0.1}), providers)
    assert isinstance(target, RefundTarget)
    served = Served(system_db, target)
    yield served
    await served.close()


async def online_order(client: httpx.AsyncClient, r: Restaurant, guest: Guest) -> dict[str, Any]:
    return expect(await client.post(r.url("/orders"), headers=guest.headers,
                                    json={**order_body(r), "payment_method": "online"}), 201)


async def start(client: httpx.AsyncClient, r: Restaurant, order: dict[str, Any], headers: dict[str, str],
                status: int = 201) -> dict[str, Any]:
    return expect(await client.post(r.url(f"/orders/{order['id']}/payment"), headers=headers), status)


async def deliver(client: httpx.AsyncClient, stripe: StripeStandin, event_type: str, intent_id: str,
                  **signing: Any) -> httpx.Response:
    """Stripe's latest event of this type about this intent, posted to our webhook as Stripe signs it."""
    event = [e for e in stripe.events(event_type)
             if intent_id in (e["data"]["object"]["id"], e["data"]["object"].get("payment_intent"))][-1]
    body, headers = stripe.signed(event["id"], **signing)
    return await client.post("/api/webhooks/stripe", content=body, headers={
        "Content-Type": headers["Content-Type"], "Stripe-Signature": headers["Stripe-Signature"]})


def payment_events(db_sql: DbSql, order_id: str) -> list[tuple[str, str]]:
    return [(row["actor_type"], row["details"]["payment_status"]) for row in db_sql(
        "SELECT actor_type, details FROM order_events WHERE order_id = %s AND details ? 'payment_status' ORDER BY id",
        (order_id,))]


async def until(check: Callable[[], bool], timeout_s: float = 10.0) -> None:
    """Waits for an eventually-true condition (a liveness bound, not a performance claim)."""
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.05)


def convex_order(standin: Standin, order_id: str) -> dict[str, Any] | None:
    return next((d for d in standin.dump()["orders"] if d["pgId"] == order_id), None)


# ------------------------------------------------------------------------ the payment


async def test_a_guest_pays_online_the_server_side_total_once_and_the_order_is_paid_with_its_events(
    client: httpx.AsyncClient, make_restaurant: MakeRestaurant, open_guest: OpenGuest,
    stripe_standin: StripeStandin, standin: Standin, db_sql: DbSql,
) -> None:
    r = await make_restaurant()
    guest = await open_guest(r, 0)
    order = await online_order(client, r, guest)
    assert (order["payment_method"], order["payment_status"]) == ("online", "unpaid")
    started = await start(client, r, order, guest.headers)
    assert (started["amount"], started["currency"], started["payment_status"]) == (order["total"], "INR", "pending")
    intents = stripe_standin.objects("payment_intents")
    assert [(i["id"], i["amount"], i["currency"], i["metadata"]) for i in intents] == [
        (started["payment_intent_id"], order["total"], "inr", {"order_id": order["id"], "restaurant_id": r.id})]
    assert started["client_secret"] == intents[0]["client_secret"]
    # Asking again answers the same intent (200), without a second one at Stripe.
    again = await start(client, r, order, guest.headers, 200)
    assert again["payment_intent_id"] == started["payment_intent_id"]
    assert len(stripe_standin.objects("payment_intents")) == 1

    assert stripe_standin.confirm(started["payment_intent_id"]).status_code == 200
    answer = expect(await deliver(client, stripe_standin, "payment_intent.succeeded", started["payment_intent_id"]),
                    200)
    assert answer == {"received": True, "outcome": "applied"}
    paid = expect(await client.get(r.url(f"/orders/{order['id']}"), headers=guest.headers), 200)
    assert paid["payment_status"] == "paid"
    assert payment_events(db_sql, order["id"]) == [("guest", "pending"), ("stripe", "paid")]
    timeline = expect(await client.get(r.url(f"/orders/{order['id']}/events"), headers=guest.headers), 200)
    assert [e["details"].get("payment_status") for e in timeline["events"]] == [None, "pending", "paid"]
    # The screens hear of it after commit, like any other order change.
    await until(lambda: (convex_order(standin, order["id"]) or {}).get("paymentStatus") == "paid")
    # Stripe's retry of the same event is answered and changes nothing.
    replay = expect(await deliver(client, stripe_standin, "payment_intent.succeeded", started["payment_intent_id"]),
                    200)
    assert replay == {"received": True, "replayed": True}
    assert payment_events(db_sql, order["id"]) == [("guest", "pending"), ("stripe", "paid")]


async def test_concurrent_submits_of_one_order_make_one_payment_intent(
    client: httpx.AsyncClient, make_restaurant: MakeRestaurant, open_guest: OpenGuest,
    stripe_standin: StripeStandin, db_sql: DbSql,
) -> None:
    r = await make_restaurant()
    guest = await open_guest(r, 0)
    order = await online_order(client, r, guest)
    answers = await asyncio.gather(*(client.post(r.url(f"/orders/{order['id']}/payment"), headers=guest.headers)
                                      for _ in range(6)))
    assert sorted(a.status_code for a in answers) == [200] * 5 + [201]
    assert len({a.json()["payment_intent_id"] for a in answers}) == 1
    assert len(stripe_standin.objects("payment_intents")) == 1
    assert stripe_standin.stats()["calls"]["create_intent"] == 1
    assert db_sql("SELECT count(*) AS n FROM payments WHERE order_id = %s", (order["id"],)) == [{"n": 1}]


async def test_a_declined_card_fails_the_payment_and_the_guest_pays_again_with_the_same_intent(
    client: httpx.AsyncClient, make_restaurant: MakeRestaurant, open_guest: OpenGuest,
    stripe_standin: StripeStandin, db_sql: DbSql,
) -> None:
    r = await make_restaurant()
    guest = await open_guest(r, 0)
    order = await online_order(client, r, guest)
    intent_id = (await start(client, r, order, guest.headers))["payment_intent_id"]
    assert stripe_standin.confirm(intent_id, "pm_card_chargeDeclined").status_code == 402
    expect(await deliver(client, stripe_standin, "payment_intent.payment_failed", intent_id), 200)
    failed = expect(await client.get(r.url(f"/orders/{order['id']}"), headers=guest.headers), 200)
    assert failed["payment_status"] == "failed"
    again = await start(client, r, order, guest.headers, 200)
    assert (again["payment_intent_id"], again["payment_status"]) == (intent_id, "pending")
    stripe_standin.confirm(intent_id)
    expect(await deliver(client, stripe_standin, "payment_intent.succeeded", intent_id), 200)
    assert payment_events(db_sql, order["id"]) == [
        ("guest", "pending"), ("stripe", "failed"), ("guest", "pending"), ("stripe", "paid")]
    assert len(stripe_standin.objects("payment_intents")) == 1


async def test_a_failure_event_arriving_after_the_success_never_moves_a_paid_order_back(
    client: httpx.AsyncClient, make_restaurant: MakeRestaurant, open_guest: OpenGuest,
    stripe_standin: StripeStandin, db_sql: DbSql,
) -> None:
    r = await make_restaurant()
    guest = await open_guest(r, 0)
    order = await online_order(client, r, guest)
    intent_id = (await start(client, r, order, guest.headers))["payment_intent_id"]
    stripe_standin.confirm(intent_id, "pm_card_chargeDeclined")
    stripe_standin.confirm(intent_id, "pm_card_visa")
    expect(await deliver(client, stripe_standin, "payment_intent.succeeded", intent_id), 200)
    late = expect(await deliver(client, stripe_standin, "payment_intent.payment_failed", intent_id), 200)
    assert late == {"received": True, "outcome": "stale"}
    assert db_sql("SELECT payment_status FROM orders WHERE id = %s", (order["id"],)) == [{"payment_status": "paid"}]
    # The database itself refuses a backward move, whatever path tries it.
    with pytest.raises(Exception, match="payment_status cannot move from paid to pending"):
        db_sql("UPDATE orders SET payment_status = 'pending' WHERE id = %s", (order["id"],))


async def test_a_missing_forged_expired_or_unreadable_signature_is_400_and_writes_nothing(
    client: httpx.AsyncClient, make_restaurant: MakeRestaurant, open_guest: OpenGuest,
    stripe_standin: StripeStandin, db_sql: DbSql,
) -> None:
    r = await make_restaurant()
    guest = await open_guest(r, 0)
    order = await online_order(client, r, guest)
    intent_id = (await start(client, r, order, guest.headers))["payment_intent_id"]
    stripe_standin.confirm(intent_id)
    for signing in ({"secret": "whsec_not_ours"}, {"timestamp": int(time.time()) - 600}):
        refused = await deliver(client, stripe_standin, "payment_intent.succeeded", intent_id, **signing)
        assert (refused.status_code, refused.json()["code"]) == (400, "invalid_signature")
    event = stripe_standin.events("payment_intent.succeeded")[-1]
    body, headers = stripe_standin.signed(event["id"])
    json_type = {"Content-Type": "application/json"}
    for content, extra in ((body, {}), (body.replace(b"succeeded", b"succeedeX"), headers),
                           (b"\x00\xff not json", headers), (b"", headers),
                           (body, {"Stripe-Signature": "t=nan,v1=" + "0" * 64}),
                           (body, {"Stripe-Signature": "\x7f" * 300})):
        refused = await client.post("/api/webhooks/stripe", content=content, headers={**json_type, **{
            k: v for k, v in extra.items() if k == "Stripe-Signature"}})
        assert refused.status_code == 400, refused.text
    assert db_sql("SELECT count(*) AS n FROM stripe_events") == [{"n": 0}]
    assert db_sql("SELECT payment_status FROM orders WHERE id = %s", (order["id"],)) == [{"payment_status": "pending"}]


async def test_an_event_for_a_payment_that_is_not_ours_or_of_a_type_we_ignore_is_acknowledged_and_recorded(
    client: httpx.AsyncClient, make_restaurant: MakeRestaurant, open_guest: OpenGuest,
    stripe_standin: StripeStandin, db_sql: DbSql,
) -> None:
    foreign = await asyncio.to_thread(stripe_standin.http.post, f"{stripe_standin.url}/v1/payment_intents",
                                      data={"amount": "999", "currency": "usd"},
                                      headers={"Authorization": "Bearer sk_test_tabletop_standin_0000000000000000"})
    stripe_standin.confirm(foreign.json()["id"])
    unknown = expect(await deliver(client, stripe_standin, "payment_intent.succeeded", foreign.json()["id"]), 200)
    ignored = expect(await deliver(client, stripe_standin, "charge.succeeded", foreign.json()["id"]), 200)
    assert (unknown["outcome"], ignored["outcome"]) == ("unknown", "ignored")
    assert {row["outcome"] for row in db_sql("SELECT outcome FROM stripe_events")} == {"unknown", "ignored"}


async def test_who_may_start_a_payment_and_for_which_orders(
    client: httpx.AsyncClient, make_restaurant: MakeRestaurant, open_guest: OpenGuest, make_user: MakeUser,
    stripe_standin: StripeStandin,
) -> None:
    r, other = await make_restaurant(), await make_restaurant()
    guest, neighbour = await open_guest(r, 0), await open_guest(r, 1)
    order = await online_order(client, r, guest)
    url = r.url(f"/orders/{order['id']}/payment")
    assert (await client.post(url, headers=neighbour.headers)).status_code == 404  # another session's order
    assert (await client.post(url, headers=other.owner.headers)).status_code == 404  # another restaurant's staff
    assert (await client.post(url, headers=(await make_user()).headers)).status_code == 404
    assert (await client.post(url)).status_code == 401
    assert (await client.post(other.url(f"/orders/{order['id']}/payment"), headers=other.owner.headers)
            ).status_code == 404
    counter = expect(await client.post(r.url("/orders"), headers=guest.headers, json=order_body(r)), 201)
    refused = await client.post(r.url(f"/orders/{counter['id']}/payment"), headers=guest.headers)
    assert (refused.status_code, refused.json()["code"]) == (409, "not_online")
    expect(await client.post(r.url(f"/orders/{order['id']}/cancel"), headers=guest.headers), 200)
    closed = await client.post(url, headers=guest.headers)
    assert (closed.status_code, closed.json()["code"]) == (409, "order_closed")
    assert stripe_standin.objects("payment_intents") == []
    bad = await client.post(r.url("/orders"), headers=guest.headers, json={**order_body(r), "payment_method": "card"})
    assert bad.status_code == 422


@pytest.mark.parametrize("mode", ["down", "http500", "hang"])
async def test_a_stripe_that_cannot_be_reached_is_a_503_with_retry_after_and_the_order_stays_unpaid(
    client: httpx.AsyncClient, make_restaurant: MakeRestaurant, open_guest: OpenGuest,
    stripe_standin: StripeStandin, mode: str,
) -> None:
    r = await make_restaurant()
    guest = await open_guest(r, 0)
    order = await online_order(client, r, guest)
    stripe_standin.fault(mode, count=1)
    refused = await client.post(r.url(f"/orders/{order['id']}/payment"), headers=guest.headers)
    assert (refused.status_code, refused.json()["code"]) == (503, "payments_unavailable")
    assert refused.headers["retry-after"] == "1"
    unpaid = expect(await client.get(r.url(f"/orders/{order['id']}"), headers=guest.headers), 200)
    assert unpaid["payment_status"] == "unpaid"
    assert (await start(client, r, order, guest.headers))["payment_status"] == "pending"


# ---------------------------------------------------------------------- refunds


async def test_cancelling_a_paid_order_refunds_it_through_the_outbox_exactly_once_despite_stripe_failing(
    client: httpx.AsyncClient, make_restaurant: MakeRestaurant, open_guest: OpenGuest,
    stripe_standin: StripeStandin, refunds: Served, db_sql: DbSql,
) -> None:
    r = await make_restaurant()
    guest = await open_guest(r, 0)
    order = await online_order(client, r, guest)
    intent_id = (await start(client, r, order, guest.headers))["payment_intent_id"]
    stripe_standin.confirm(intent_id)
    expect(await deliver(client, stripe_standin, "payment_intent.succeeded", intent_id), 200)
    expect(await client.post(r.url(f"/orders/{order['id']}/cancel"), headers=r.owner.headers,
                             json={"reason": "kitchen closed"}), 200)
    queued = db_sql("SELECT id, status, amount FROM refunds WHERE order_id = %s", (order["id"],))
    assert [(q["status"], q["amount"]) for q in queued] == [("queued", order["total"])]
    stripe_standin.fault("http500", count=1, paths=["create_refund"])
    assert (await refunds.round()).failed == 1
    stripe_standin.fault("down", count=1, paths=["create_refund"])
    await asyncio.sleep(0.2)
    assert (await refunds.round()).failed == 1
    # Made at Stripe, but the answer is lost: the next attempt's idempotency key finds it.
    stripe_standin.fault("drop", count=1, paths=["create_refund"])
    await asyncio.sleep(0.2)
    assert (await refunds.round()).failed == 1
    await asyncio.sleep(0.2)
    assert (await refunds.round()).synced == 1
    made = stripe_standin.objects("refunds")
    assert [(f["payment_intent"], f["amount"]) for f in made] == [(intent_id, order["total"])]
    assert db_sql("SELECT status, stripe_refund_id FROM refunds WHERE order_id = %s", (order["id"],)) == [
        {"status": "succeeded", "stripe_refund_id": made[0]["id"]}]
    refunded = expect(await client.get(r.url(f"/orders/{order['id']}"), headers=guest.headers), 200)
    assert (refunded["status"], refunded["payment_status"]) == ("cancelled", "refunded")
    assert payment_events(db_sql, order["id"]) == [("guest", "pending"), ("stripe", "paid"), ("system", "refunded")]
    # Stripe's own events about the refund come later and change nothing more.
    late = expect(await deliver(client, stripe_standin, "charge.refunded", intent_id), 200)
    assert late["outcome"] == "stale"
    assert (await refunds.round()).claimed == 0
    assert len(stripe_standin.objects("refunds")) == 1
    # The cancel reason stays the order's status reason on the screens.
    assert db_sql("SELECT order_status_reason(restaurant_id, id) AS r FROM orders WHERE id = %s",
                  (order["id"],)) == [{"r": "kitchen closed"}]


async def test_an_unpaid_or_cash_order_cancelled_queues_no_refund(
    client: httpx.AsyncClient, make_restaurant: MakeRestaurant, open_guest: OpenGuest, refunds: Served,
    db_sql: DbSql,
) -> None:
    r = await make_restaurant()
    guest = await open_guest(r, 0)
    unpaid = await online_order(client, r, guest)
    cash = expect(await client.post(r.url("/orders"), headers=guest.headers, json=order_body(r)), 201)
    expect(await client.post(r.url(f"/orders/{cash['id']}/paid"), headers=r.owner.headers), 200)
    for order in (unpaid, cash):
        expect(await client.post(r.url(f"/orders/{order['id']}/cancel"), headers=r.owner.headers), 200)
    assert db_sql("SELECT count(*) AS n FROM refunds") == [{"n": 0}]
    assert (await refunds.round()).claimed == 0


# ------------------------------------------------------------------ cash and counter


async def test_staff_mark_an_order_paid_in_cash_and_only_staff_of_its_restaurant_may(
    client: httpx.AsyncClient, make_restaurant: MakeRestaurant, open_guest: OpenGuest, db_sql: DbSql,
) -> None:
    r, other = await make_restaurant(), await make_restaurant()
    guest = await open_guest(r, 0)
    order = expect(await client.post(r.url("/orders"), headers=guest.headers, json=order_body(r)), 201)
    url = r.url(f"/orders/{order['id']}/paid")
    assert (await client.post(url, headers=guest.headers)).status_code == 403
    assert (await client.post(url, headers=other.owner.headers)).status_code == 404
    assert (await client.post(url, headers=r.owner.headers, json={"method": "card"})).status_code == 422
    assert (await client.post(url, headers=r.owner.headers, content=b"\x00")).status_code in (400, 415)
    paid = expect(await client.post(url, headers=r.owner.headers, json={"method": "counter"}), 200)
    assert (paid["payment_status"], paid["payment_method"]) == ("paid", "counter")
    again = await client.post(url, headers=r.owner.headers)
    assert (again.status_code, again.json()["code"]) == (409, "already_paid")
    assert payment_events(db_sql, order["id"]) == [("user", "paid")]


async def test_an_online_payment_under_way_cannot_be_marked_paid_by_hand(
    client: httpx.AsyncClient, make_restaurant: MakeRestaurant, open_guest: OpenGuest,
    stripe_standin: StripeStandin,
) -> None:
    r = await make_restaurant()
    guest = await open_guest(r, 0)
    order = await online_order(client, r, guest)
    await start(client, r, order, guest.headers)
    refused = await client.post(r.url(f"/orders/{order['id']}/paid"), headers=r.owner.headers)
    assert (refused.status_code, refused.json()["code"]) == (409, "payment_in_progress")


def test_petpooja_hears_online_for_an_online_order_and_cod_for_cash_or_counter() -> None:
    assert payment_type({"payment_method": "online", "payment_status": "paid"}) == "ONLINE"
    assert payment_type({"payment_method": "cash", "payment_status": "paid"}) == "COD"
    assert payment_type({"payment_method": "counter", "payment_status": "unpaid"}) == "COD"


# ---------------------------------------------------------- payment before the kitchen


async def test_with_payment_required_the_pos_gets_an_online_order_once_paid_as_online_and_a_cash_one_as_cod(
    client: httpx.AsyncClient, app: Starlette, system_db: Database, make_restaurant: MakeRestaurant,
    open_guest: OpenGuest, stripe_standin: StripeStandin, petpooja_standin: PetpoojaStandin,
) -> None:
    r = await make_restaurant()
    rest_id = f"out{r.id[:8]}"
    expect(await client.put(r.url("/integrations/petpooja"), headers=r.owner.headers, json={
        "rest_id": rest_id, "environment": "sandbox", **petpooja_standin.register(rest_id)}), 200)
    expect(await client.patch(r.url(), headers=r.owner.headers, json={"payment_required": True}), 200)
    guest = await open_guest(r, 0)
    online = await online_order(client, r, guest)
    cash = expect(await client.post(r.url("/orders"), headers=guest.headers,
                                    json={**order_body(r), "payment_method": "cash"}), 201)
    pos = Served(system_db, PetpoojaTarget(
        system_db, PetpoojaClient(PetpoojaSettings(petpooja_sandbox_url=petpooja_standin.url, petpooja_timeout_s=2)),
        app.state.services.credentials, callback_base_url="http://tabletop.test",
        policy=Policy(batch_size=10, lease_s=30, backoff=backoff_of(SyncSettings()))))
    try:
        assert (await pos.round()).synced == 1  # the cash order; the online one waits for its payment
        intent_id = (await start(client, r, online, guest.headers))["payment_intent_id"]
        stripe_standin.confirm(intent_id, "pm_card_chargeDeclined")
        expect(await deliver(client, stripe_standin, "payment_intent.payment_failed", intent_id), 200)
        assert (await pos.round()).claimed == 0
        stripe_standin.confirm(intent_id)
        expect(await deliver(client, stripe_standin, "payment_intent.succeeded", intent_id), 200)
        assert (await pos.round()).synced == 1
    finally:
        await pos.close()
    sent = {s["clientOrderID"]: s["body"]["orderinfo"]["OrderInfo"]["Order"]["details"]["payment_type"]
            for s in petpooja_standin.saved()}
    assert sent == {cash["id"]: "COD", online["id"]: "ONLINE"}


async def test_with_payment_required_an_online_order_reaches_the_kitchen_only_once_paid(
    client: httpx.AsyncClient, make_restaurant: MakeRestaurant, open_guest: OpenGuest, make_member: Any,
    stripe_standin: StripeStandin, standin: Standin, db_sql: DbSql,
) -> None:
    r = await make_restaurant()
    staff = await make_member(r, "staff")
    assert (await client.patch(r.url(), headers=staff.headers, json={"payment_required": True})).status_code == 403
    assert expect(await client.patch(r.url(), headers=r.owner.headers, json={"payment_required": True}),
                  200)["payment_required"] is True
    guest = await open_guest(r, 0)
    order = await online_order(client, r, guest)
    counter = expect(await client.post(r.url("/orders"), headers=guest.headers, json=order_body(r)), 201)

    def held() -> list[str]:
        return [row["target"] for row in db_sql(
            "SELECT target FROM sync_log WHERE entity_id = %s AND status = 'pending' AND next_attempt_at > now()",
            (order["id"],))]

    await until(lambda: convex_order(standin, counter["id"]) is not None)  # the counter order is not held
    assert held() == ["convex"] and convex_order(standin, order["id"]) is None
    intent_id = (await start(client, r, order, guest.headers))["payment_intent_id"]
    stripe_standin.confirm(intent_id, "pm_card_chargeDeclined")
    expect(await deliver(client, stripe_standin, "payment_intent.payment_failed", intent_id), 200)
    await asyncio.sleep(0.2)
    assert held() == ["convex"] and convex_order(standin, order["id"]) is None  # a failed payment releases nothing
    stripe_standin.confirm(intent_id)
    expect(await deliver(client, stripe_standin, "payment_intent.succeeded", intent_id), 200)
    assert held() == []
    await until(lambda: (convex_order(standin, order["id"]) or {}).get("paymentStatus") == "paid")


async def test_with_payment_required_an_unpaid_order_cancelled_never_reaches_a_target(
    client: httpx.AsyncClient, make_restaurant: MakeRestaurant, open_guest: OpenGuest, standin: Standin,
    db_sql: DbSql,
) -> None:
    r = await make_restaurant()
    expect(await client.patch(r.url(), headers=r.owner.headers, json={"payment_required": True}), 200)
    guest = await open_guest(r, 0)
    order = await online_order(client, r, guest)
    expect(await client.post(r.url(f"/orders/{order['id']}/cancel"), headers=guest.headers), 200)
    rows = db_sql("SELECT target, status, last_error FROM sync_log WHERE entity_id = %s", (order["id"],))
    assert [(row["target"], row["status"]) for row in rows] == [("convex", "synced")]
    assert "cancelled before it was paid" in rows[0]["last_error"]
    await asyncio.sleep(0.2)
    assert convex_order(standin, order["id"]) is None


async def test_staff_taking_cash_for_a_held_online_order_releases_it(
    client: httpx.AsyncClient, make_restaurant: MakeRestaurant, open_guest: OpenGuest, standin: Standin,
    db_sql: DbSql,
) -> None:
    r = await make_restaurant()
    expect(await client.patch(r.url(), headers=r.owner.headers, json={"payment_required": True}), 200)
    guest = await open_guest(r, 0)
    order = await online_order(client, r, guest)
    paid = expect(await client.post(r.url(f"/orders/{order['id']}/paid"), headers=r.owner.headers), 200)
    assert (paid["payment_method"], paid["payment_status"]) == ("cash", "paid")
    await until(lambda: (convex_order(standin, order["id"]) or {}).get("paymentStatus") == "paid")


@overrides(log_level="DEBUG")
async def test_no_log_line_carries_a_client_secret_or_a_stripe_key(
    client: httpx.AsyncClient, make_restaurant: MakeRestaurant, open_guest: OpenGuest,
    stripe_standin: StripeStandin, capfd: pytest.CaptureFixture[str],
) -> None:
    r = await make_restaurant()
    guest = await open_guest(r, 0)
    order = await online_order(client, r, guest)
    stripe_standin.fault("http500", count=1)
    assert (await client.post(r.url(f"/orders/{order['id']}/payment"), headers=guest.headers)).status_code == 503
    started = await start(client, r, order, guest.headers)
    stripe_standin.confirm(started["payment_intent_id"])
    expect(await deliver(client, stripe_standin, "payment_intent.succeeded", started["payment_intent_id"]), 200)
    assert (await deliver(client, stripe_standin, "payment_intent.succeeded", started["payment_intent_id"],
                          secret="whsec_forged")).status_code == 400
    logged = capfd.readouterr().err
    assert "payment_provider_unavailable" in logged and "stripe_event" in logged  # the lines are there
    secret_part = started["client_secret"].split("_secret_")[1]
    for secret in (secret_part, DEV_SECRET_KEY, DEV_WEBHOOK_SECRET):
        assert secret not in logged


async def test_concurrent_deliveries_of_one_event_apply_it_once(
    client: httpx.AsyncClient, make_restaurant: MakeRestaurant, open_guest: OpenGuest,
    stripe_standin: StripeStandin, db_sql: DbSql,
) -> None:
    r = await make_restaurant()
    guest = await open_guest(r, 0)
    order = await online_order(client, r, guest)
    intent_id = (await start(client, r, order, guest.headers))["payment_intent_id"]
    stripe_standin.confirm(intent_id)
    answers = await asyncio.gather(*(deliver(client, stripe_standin, "payment_intent.succeeded", intent_id)
                                     for _ in range(4)))
    assert sorted(str(a.json().get("outcome", "replayed")) for a in answers) == ["applied"] + ["replayed"] * 3
    assert payment_events(db_sql, order["id"]) == [("guest", "pending"), ("stripe", "paid")]


async def test_a_refund_made_at_stripe_itself_marks_the_order_refunded_from_its_event(
    client: httpx.AsyncClient, make_restaurant: MakeRestaurant, open_guest: OpenGuest,
    stripe_standin: StripeStandin, db_sql: DbSql,
) -> None:
    """A refund from Stripe's dashboard: no refund of ours, Stripe's charge.refunded says it all."""
    r = await make_restaurant()
    guest = await open_guest(r, 0)
    order = await online_order(client, r, guest)
    intent_id = (await start(client, r, order, guest.headers))["payment_intent_id"]
    stripe_standin.confirm(intent_id)
    expect(await deliver(client, stripe_standin, "payment_intent.succeeded", intent_id), 200)
    made = await asyncio.to_thread(stripe_standin.http.post, f"{stripe_standin.url}/v1/refunds",
                                   data={"payment_intent": intent_id},
                                   headers={"Authorization": f"Bearer {DEV_SECRET_KEY}"})
    assert made.status_code == 200
    applied = expect(await deliver(client, stripe_standin, "charge.refunded", intent_id), 200)
    assert applied["outcome"] == "applied"
    refunded = expect(await client.get(r.url(f"/orders/{order['id']}"), headers=guest.headers), 200)
    assert (refunded["status"], refunded["payment_status"]) == ("pending", "refunded")
    assert payment_events(db_sql, order["id"])[-1] == ("stripe", "refunded")
    assert db_sql("SELECT count(*) AS n FROM refunds") == [{"n": 0}]


async def test_stripe_posts_its_signed_events_to_a_running_api_process_and_the_order_is_paid(
    client: httpx.AsyncClient, make_restaurant: MakeRestaurant, open_guest: OpenGuest,
    stripe_standin: StripeStandin, app_conninfo: str, signing_key_pem: str, tmp_path: Path,
) -> None:
    """Real processes end to end: uvicorn serving the API (its Stripe client at the stand-in) and
    the stand-in posting its events, signed, to the API's webhook URL as Stripe would."""
    r = await make_restaurant()
    guest = await open_guest(r, 0)
    order = await online_order(client, r, guest)
    api, url = await asyncio.to_thread(start_api, process_env(
        app_conninfo, signing_key_pem, STRIPE_API_BASE=stripe_standin.url), tmp_path / "api.log")
    try:
        stripe_standin.http.put(f"{stripe_standin.url}/_standin/webhook",
                                json={"url": f"{url}/api/webhooks/stripe"}).raise_for_status()
        async with httpx.AsyncClient(base_url=url, timeout=10) as live:
            started = expect(await live.post(r.url(f"/orders/{order['id']}/payment"), headers=guest.headers), 201)
            assert stripe_standin.confirm(started["payment_intent_id"]).status_code == 200
            deadline = time.monotonic() + 10
            while (await live.get(r.url(f"/orders/{order['id']}"), headers=guest.headers)).json()[
                    "payment_status"] != "paid":
                assert time.monotonic() < deadline, "the event did not reach the API"
                await asyncio.sleep(0.05)
        delivered = {(d["type"], d.get("status_code")) for d in stripe_standin.objects("deliveries")}
        assert ("payment_intent.succeeded", 200) in delivered
    finally:
        await asyncio.to_thread(stop, api)


@overrides(rate_limit_order_create="3/minute")
async def test_starting_payments_is_limited_per_caller_like_placing_orders(
    client: httpx.AsyncClient, make_restaurant: MakeRestaurant, open_guest: OpenGuest,
    stripe_standin: StripeStandin,
) -> None:
    r = await make_restaurant()
    guest = await open_guest(r, 0)
    order = await online_order(client, r, guest)
    await start(client, r, order, guest.headers)
    await start(client, r, order, guest.headers, 200)
    await start(client, r, order, guest.headers, 200)
    limited = await client.post(r.url(f"/orders/{order['id']}/payment"), headers=guest.headers)
    assert (limited.status_code, limited.json()["code"]) == (429, "rate_limited")
    assert int(limited.headers["retry-after"]) > 0
    assert stripe_standin.stats()["calls"]["retrieve_intent"] == 2


async def test_the_worker_process_refunds_a_cancelled_paid_order_once_stripe_answers_again(
    client: httpx.AsyncClient, make_restaurant: MakeRestaurant, open_guest: OpenGuest,
    stripe_standin: StripeStandin, standin: Standin, app_conninfo: str, signing_key_pem: str, tmp_path: Path,
) -> None:
    """The whole system as processes: uvicorn, `python -m sync.worker`, the Stripe and Convex
    stand-ins. Stripe's events reach the API by themselves; the refund goes out from the worker's
    outbox loop, through Stripe being down twice, exactly once."""
    r = await make_restaurant()
    guest = await open_guest(r, 0)
    order = await online_order(client, r, guest)
    env = process_env(app_conninfo, signing_key_pem, STRIPE_API_BASE=stripe_standin.url, LOG_LEVEL="WARNING",
                      CONVEX_URL=standin.url, CONVEX_DEPLOY_KEY=STANDIN_KEY, SYNC_GRACE_S="0",
                      SYNC_BACKOFF_BASE_S="0.05", SYNC_BACKOFF_MAX_S="0.2", SYNC_RETRY_INTERVAL_S="0.5")
    api, url = await asyncio.to_thread(start_api, env, tmp_path / "api.log")
    worker = spawn([sys.executable, "-m", "sync.worker"], env, tmp_path / "worker.log")
    try:
        stripe_standin.http.put(f"{stripe_standin.url}/_standin/webhook",
                                json={"url": f"{url}/api/webhooks/stripe"}).raise_for_status()
        async with httpx.AsyncClient(base_url=url, timeout=10) as live:

            async def payment_status() -> str:
                found: str = (await live.get(r.url(f"/orders/{order['id']}"), headers=guest.headers)).json()[
                    "payment_status"]
                return found

            async def reaches(status: str) -> None:
                deadline = time.monotonic() + 15
                while await payment_status() != status:
                    assert time.monotonic() < deadline, f"never {status}"
                    await asyncio.sleep(0.05)

            started = expect(await live.post(r.url(f"/orders/{order['id']}/payment"), headers=guest.headers), 201)
            stripe_standin.confirm(started["payment_intent_id"])
            await reaches("paid")
            stripe_standin.fault("down", count=2, paths=["create_refund"])
            expect(await live.post(r.url(f"/orders/{order['id']}/cancel"), headers=r.owner.headers,
                                   json={"reason": "out of paneer"}), 200)
            await reaches("refunded")
        assert stripe_standin.stats()["calls"]["create_refund"] == 3
        assert [f["payment_intent"] for f in stripe_standin.objects("refunds")] == [started["payment_intent_id"]]
        await until(lambda: (convex_order(standin, order["id"]) or {}).get("paymentStatus") == "refunded")
    finally:
        await asyncio.to_thread(stop, worker)
        await asyncio.to_thread(stop, api)
    assert "Traceback" not in (tmp_path / "worker.log").read_text()
