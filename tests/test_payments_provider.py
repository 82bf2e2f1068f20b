"""Stripe as the service factory builds it (providers/payments.py): the official stripe client,
over its async HTTPX client, against the Stripe stand-in (scripts/stripe_standin.py) as a real
process, with the stand-in's faults; and what a production-like mode refuses."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator

import pytest
import stripe

from providers.config import ProviderConfigError
from providers.factory import build_providers
from providers.payments import DEV_WEBHOOK_SECRET, Payments, PaymentsRefused, PaymentsUnavailable, load
from tests.conftest import REAL_PROVIDERS, StripeStandin


@pytest.fixture
async def payments(stripe_standin: StripeStandin) -> AsyncIterator[Payments]:
    built = load({"ENV_MODE": "test", "STRIPE_API_BASE": stripe_standin.url, "STRIPE_TIMEOUT_S": "2"})
    yield built
    await built.close()


RESTAURANT_ID = uuid.uuid4()


async def _intent(payments: Payments, order_id: uuid.UUID, amount: int = 52500) -> str:
    intent = await payments.create_intent(order_id=order_id, restaurant_id=RESTAURANT_ID, number=7, amount=amount,
                                          currency="INR")
    return intent.id


@pytest.mark.parametrize("mode", ["production", "staging"])
def test_a_production_like_mode_without_stripe_credentials_refuses_to_start_naming_the_variables(mode: str) -> None:
    with pytest.raises(ProviderConfigError) as refused:
        build_providers({**REAL_PROVIDERS, "ENV_MODE": mode, "STRIPE_SECRET_KEY": "sk_live_not_shown",
                         "STRIPE_WEBHOOK_SECRET": ""})
    assert str(refused.value) == f"ENV_MODE={mode} needs STRIPE_WEBHOOK_SECRET for Stripe"
    assert "sk_live_not_shown" not in str(refused.value)


async def test_production_talks_to_api_stripe_com_and_development_to_the_stand_in() -> None:
    live = build_providers({**REAL_PROVIDERS, "ENV_MODE": "production", "STRIPE_SECRET_KEY": "sk_live_x",
                            "STRIPE_WEBHOOK_SECRET": "w"})
    dev = build_providers({})
    try:
        assert live.payments is not None and live.payments.api_base == "https://api.stripe.com" and live.payments.live
        assert dev.payments is not None and dev.payments.api_base == "http://127.0.0.1:8079"
        assert not dev.payments.live
    finally:
        await live.close()
        await dev.close()


async def test_an_intent_is_in_minor_units_of_the_lowercased_currency_and_the_secret_is_never_in_its_repr(
    payments: Payments, stripe_standin: StripeStandin,
) -> None:
    order_id = uuid.uuid4()
    intent = await payments.create_intent(order_id=order_id, restaurant_id=uuid.uuid4(), number=7, amount=52500,
                                          currency="INR")
    held = stripe_standin.objects("payment_intents")
    assert [(i["id"], i["amount"], i["currency"], i["metadata"]["order_id"]) for i in held] == [
        (intent.id, 52500, "inr", str(order_id))]
    assert intent.status == "requires_payment_method" and intent.currency == "INR"
    assert intent.client_secret and intent.client_secret.startswith(f"{intent.id}_secret_")
    assert intent.client_secret not in repr(intent)


async def test_creating_an_orders_intent_again_answers_the_first_and_another_amount_is_stripes_idempotency_error(
    payments: Payments, stripe_standin: StripeStandin,
) -> None:
    order_id = uuid.uuid4()
    first = await _intent(payments, order_id)
    assert await _intent(payments, order_id) == first
    with pytest.raises(PaymentsRefused) as refused:
        await _intent(payments, order_id, amount=100)
    assert refused.value.status == 400 and "same parameters" in str(refused.value)
    assert len(stripe_standin.objects("payment_intents")) == 1


@pytest.mark.parametrize("mode", ["down", "http500", "http429", "hang"])
async def test_a_stripe_that_is_down_failing_limiting_or_hanging_is_unavailable_and_creates_nothing(
    payments: Payments, stripe_standin: StripeStandin, mode: str,
) -> None:
    stripe_standin.fault(mode, count=1)
    started = time.monotonic()
    with pytest.raises(PaymentsUnavailable):
        await _intent(payments, uuid.uuid4())
    assert time.monotonic() - started < 5  # the hard timeout (2 s here) bounds a hang
    assert stripe_standin.objects("payment_intents") == []
    stripe_standin.fault("ok")
    assert await _intent(payments, uuid.uuid4())


async def test_a_wrong_secret_key_is_unavailable_not_refused(stripe_standin: StripeStandin) -> None:
    wrong = Payments("sk_test_wrong_key_0000", DEV_WEBHOOK_SECRET, api_base=stripe_standin.url)
    try:
        with pytest.raises(PaymentsUnavailable) as refused:
            await _intent(wrong, uuid.uuid4())
        assert refused.value.status == 401
    finally:
        await wrong.close()


async def test_a_declined_card_gets_stripes_card_error_and_the_intent_can_be_paid_again(
    payments: Payments, stripe_standin: StripeStandin,
) -> None:
    intent_id = await _intent(payments, uuid.uuid4())
    declined = stripe_standin.confirm(intent_id, "pm_card_chargeDeclined")
    assert declined.status_code == 402
    error = declined.json()["error"]
    assert (error["type"], error["code"], error["decline_code"]) == ("card_error", "card_declined", "generic_decline")
    assert (await payments.retrieve_intent(intent_id)).status == "requires_payment_method"
    assert stripe_standin.confirm(intent_id, "pm_card_visa").status_code == 200
    assert (await payments.retrieve_intent(intent_id)).status == "succeeded"
    assert [e["type"] for e in stripe_standin.events() if e["type"].startswith("payment_intent.")] == [
        "payment_intent.payment_failed", "payment_intent.succeeded"]


async def test_a_refund_retried_after_its_answer_was_lost_is_one_refund(
    payments: Payments, stripe_standin: StripeStandin,
) -> None:
    order_id = uuid.uuid4()
    intent_id = await _intent(payments, order_id)
    stripe_standin.confirm(intent_id)
    stripe_standin.fault("drop", count=1, paths=["create_refund"])  # the refund is made, its answer lost
    with pytest.raises(PaymentsUnavailable):
        await payments.refund(order_id=order_id, intent_id=intent_id, amount=52500)
    refund = await payments.refund(order_id=order_id, intent_id=intent_id, amount=52500)
    assert refund.status == "succeeded" and refund.amount == 52500 and refund.payment_intent == intent_id
    assert [r["id"] for r in stripe_standin.objects("refunds")] == [refund.id]
    assert {e["type"] for e in stripe_standin.events()} >= {"refund.created", "charge.refunded"}


async def test_an_unpaid_intent_cannot_be_refunded(payments: Payments, stripe_standin: StripeStandin) -> None:
    order_id = uuid.uuid4()
    intent_id = await _intent(payments, order_id)
    with pytest.raises(PaymentsRefused) as refused:
        await payments.refund(order_id=order_id, intent_id=intent_id, amount=52500)
    assert refused.value.code == "charge_not_refundable"
    assert stripe_standin.objects("refunds") == []


async def test_a_webhook_is_verified_on_its_raw_body_and_a_forged_or_expired_signature_is_refused(
    payments: Payments, stripe_standin: StripeStandin,
) -> None:
    intent_id = await _intent(payments, uuid.uuid4())
    stripe_standin.confirm(intent_id)
    event = stripe_standin.events("payment_intent.succeeded")[0]
    body, headers = stripe_standin.signed(event["id"])
    verified = payments.construct_event(body, headers["Stripe-Signature"])
    assert (verified.id, verified.type, verified.data.object["id"]) == (event["id"], event["type"], intent_id)
    forged_body, forged = stripe_standin.signed(event["id"], secret="whsec_someone_else")
    expired_body, expired = stripe_standin.signed(event["id"], timestamp=int(time.time()) - 301)
    for raw, signature in ((forged_body, forged["Stripe-Signature"]), (expired_body, expired["Stripe-Signature"]),
                           (body.replace(b"succeeded", b"succeedeD"), headers["Stripe-Signature"]),
                           (body, None), (body, "t=abc,v1=00"), (body, "v0=deadbeef")):
        with pytest.raises(stripe.SignatureVerificationError):
            payments.construct_event(raw, signature)
