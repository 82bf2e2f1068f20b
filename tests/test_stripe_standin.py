"""The Stripe stand-in (scripts/stripe_standin.py) over real HTTP: Stripe's wire format, its
idempotency rules and its errors, as scripts/stripe_standin.md describes them."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import httpx

from tests.conftest import STRIPE_TEST_KEY, StripeStandin

AUTH = {"Authorization": f"Bearer {STRIPE_TEST_KEY}"}


def post(standin: StripeStandin, path: str, data: dict[str, str], key: str | None = None,
         auth: dict[str, str] = AUTH) -> httpx.Response:
    headers = {**auth, **({"Idempotency-Key": key} if key else {})}
    return standin.http.post(f"{standin.url}{path}", data=data, headers=headers)


def error(response: httpx.Response) -> dict[str, Any]:
    found: dict[str, Any] = response.json()["error"]
    return found


def test_a_request_without_the_secret_key_is_401_in_stripes_error_shape(stripe_standin: StripeStandin) -> None:
    refused = post(stripe_standin, "/v1/payment_intents", {"amount": "100", "currency": "inr"},
                   auth={"Authorization": "Bearer sk_test_someone_elses_key"})
    assert refused.status_code == 401
    assert error(refused)["type"] == "invalid_request_error" and "sk_test_someone" not in refused.text
    assert stripe_standin.objects("payment_intents") == []


def test_missing_or_invalid_parameters_are_400_with_the_param_named(stripe_standin: StripeStandin) -> None:
    for data, code, param in (({"currency": "inr"}, "parameter_missing", "amount"),
                              ({"amount": "12.5", "currency": "inr"}, "parameter_invalid_integer", "amount"),
                              ({"amount": "0", "currency": "inr"}, "amount_too_small", "amount"),
                              ({"amount": "100000000", "currency": "inr"}, "amount_too_large", "amount"),
                              ({"amount": "100", "currency": "INR"}, "parameter_invalid_string", "currency")):
        refused = post(stripe_standin, "/v1/payment_intents", data)
        assert (refused.status_code, error(refused)["code"], error(refused)["param"]) == (400, code, param)
    missing = stripe_standin.http.get(f"{stripe_standin.url}/v1/payment_intents/pi_nothing", headers=AUTH)
    assert (missing.status_code, error(missing)["code"]) == (404, "resource_missing")


def test_a_key_replays_its_first_answer_refuses_other_parameters_and_is_not_spent_by_a_refusal(
    stripe_standin: StripeStandin,
) -> None:
    assert post(stripe_standin, "/v1/payment_intents", {"currency": "inr"}, key="k1").status_code == 400
    first = post(stripe_standin, "/v1/payment_intents", {"amount": "100", "currency": "inr"}, key="k1")
    assert first.status_code == 200 and "idempotent-replayed" not in first.headers
    again = post(stripe_standin, "/v1/payment_intents", {"amount": "100", "currency": "inr"}, key="k1")
    assert again.headers["idempotent-replayed"] == "true" and again.json() == first.json()
    for path, data in (("/v1/payment_intents", {"amount": "101", "currency": "inr"}),
                       ("/v1/refunds", {"amount": "100", "currency": "inr"})):
        other = post(stripe_standin, path, data, key="k1")
        assert (other.status_code, error(other)["type"]) == (400, "idempotency_error")
    assert len(stripe_standin.objects("payment_intents")) == 1


def test_a_decline_is_replayed_as_a_decline_and_a_full_refund_cannot_be_made_twice(
    stripe_standin: StripeStandin,
) -> None:
    intent = post(stripe_standin, "/v1/payment_intents", {"amount": "500", "currency": "inr"}).json()
    declined = post(stripe_standin, f"/v1/payment_intents/{intent['id']}/confirm",
                    {"payment_method": "pm_card_chargeDeclinedInsufficientFunds"}, key="c1")
    replayed = post(stripe_standin, f"/v1/payment_intents/{intent['id']}/confirm",
                    {"payment_method": "pm_card_chargeDeclinedInsufficientFunds"}, key="c1")
    assert declined.status_code == replayed.status_code == 402
    assert error(replayed)["decline_code"] == "insufficient_funds"
    assert post(stripe_standin, f"/v1/payment_intents/{intent['id']}/confirm",
                {"payment_method": "pm_card_visa"}).json()["status"] == "succeeded"
    again = post(stripe_standin, f"/v1/payment_intents/{intent['id']}/confirm", {"payment_method": "pm_card_visa"})
    assert (again.status_code, error(again)["code"]) == (400, "payment_intent_unexpected_state")
    assert post(stripe_standin, "/v1/refunds", {"payment_intent": intent["id"], "amount": "200"}).status_code == 200
    assert post(stripe_standin, "/v1/refunds", {"payment_intent": intent["id"]}).json()["amount"] == 300
    done = post(stripe_standin, "/v1/refunds", {"payment_intent": intent["id"]})
    assert (done.status_code, error(done)["code"]) == (400, "charge_already_refunded")


def test_an_event_is_signed_over_its_exact_body_with_the_endpoint_secret(stripe_standin: StripeStandin) -> None:
    intent = post(stripe_standin, "/v1/payment_intents", {"amount": "500", "currency": "inr"}).json()
    stripe_standin.confirm(intent["id"])
    event = stripe_standin.events("payment_intent.succeeded")[0]
    assert (event["object"], event["data"]["object"]["id"], event["livemode"]) == ("event", intent["id"], False)
    body, headers = stripe_standin.signed(event["id"], timestamp=1700000000)
    timestamp, signature = (part.split("=", 1)[1] for part in headers["Stripe-Signature"].split(","))
    expected = hmac.new(b"whsec_tabletop_standin_00000000000000000000", f"{timestamp}.".encode() + body,
                        hashlib.sha256).hexdigest()
    assert (timestamp, signature) == ("1700000000", expected)
