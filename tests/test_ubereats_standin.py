"""The Uber Eats stand-in over real HTTP: it issues OAuth client-credentials tokens (and
refuses, rate-limits and expires them as Uber does), validates and replaces menu uploads,
applies sparse item updates, serves orders for accept/deny, injects faults, and sends
webhooks signed as Uber signs them."""

from __future__ import annotations

import copy
import gzip
import hashlib
import hmac
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.conftest import UBER_CLIENT, UBER_STORE_ID, Receiver, UberStandin

MenuEdit = Callable[[dict[str, Any]], None]


def tr(text: str) -> dict[str, Any]:
    return {"translations": {"en_us": text}}


def menu_payload(*item_ids: str) -> dict[str, Any]:
    """A menu in Uber's shape: one menu with hours, one category of ``item_ids`` (each priced 1000
    minor units and offering the "sides" modifier group), and the "fries" option item."""
    item_ids = item_ids or ("burger", "salad")
    return {
        "menus": [{"id": "all-day", "title": tr("All day"), "category_ids": ["mains"],
                   "service_availability": [{"day_of_week": "monday",
                                             "time_periods": [{"start_time": "08:00", "end_time": "22:00"}]}]}],
        "categories": [{"id": "mains", "title": tr("Mains"), "entities": [{"id": i, "type": "ITEM"} for i in item_ids]}],
        "items": [{"id": i, "title": tr(i.title()), "description": tr(f"A {i}"), "price_info": {"price": 1000},
                   "quantity_info": {"quantity": {"min_permitted": 0, "max_permitted": 5}},
                   "modifier_group_ids": {"ids": ["sides"]}} for i in item_ids]
                 + [{"id": "fries", "title": tr("Fries"), "price_info": {"price": 250}}],
        "modifier_groups": [{"id": "sides", "title": tr("Sides"),
                             "quantity_info": {"quantity": {"min_permitted": 0, "max_permitted": 1}},
                             "modifier_options": [{"id": "fries", "type": "ITEM"}]}],
    }


@pytest.fixture
def uber(ubereats_standin: UberStandin) -> UberStandin:
    """The stand-in with the test client registered and linked to UBER_STORE_ID."""
    ubereats_standin.register()
    return ubereats_standin


@pytest.fixture
def auth(uber: UberStandin) -> dict[str, str]:
    return {"Authorization": f"Bearer {uber.token()}"}


def token_request(standin: UberStandin, **form: str) -> httpx.Response:
    body = {"grant_type": "client_credentials", **UBER_CLIENT, "scope": "eats.store", **form}
    return httpx.post(f"{standin.url}/oauth/v2/token", data=body)


def upload(standin: UberStandin, auth: dict[str, str], menu: Any, store_id: str = UBER_STORE_ID,
           **options: Any) -> httpx.Response:
    return httpx.put(f"{standin.url}/v2/eats/stores/{store_id}/menus", json=menu, headers=auth, **options)


def update_item(standin: UberStandin, auth: dict[str, str], item_id: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(f"{standin.url}/v2/eats/stores/{UBER_STORE_ID}/menus/items/{item_id}", json=body, headers=auth)


# ---------------------------------------------------------------------------- OAuth

def test_token_is_issued_for_client_credentials_with_the_requested_scopes(uber: UberStandin) -> None:
    """A registered client gets a Bearer token valid for Uber's 30 days, scoped as asked."""
    response = token_request(uber, scope="eats.store eats.order")
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 2592000
    assert set(body["scope"].split()) == {"eats.store", "eats.order"}
    assert body["access_token"]


def test_token_lifetime_is_configurable_per_client(ubereats_standin: UberStandin) -> None:
    """A client registered with expires_in gets tokens of that lifetime."""
    ubereats_standin.register(expires_in=60)
    assert token_request(ubereats_standin).json()["expires_in"] == 60


@pytest.mark.parametrize(("form", "status", "error"), [
    ({"client_secret": "wrong"}, 401, "invalid_client"),
    ({"client_id": "nobody"}, 401, "invalid_client"),
    ({"grant_type": "authorization_code"}, 400, "unsupported_grant_type"),
    ({"scope": "eats.store eats.everything"}, 400, "invalid_scope"),
], ids=["wrong-secret", "unknown-client", "other-grant", "unknown-scope"])
def test_token_request_is_refused_as_oauth_refuses(uber: UberStandin, form: dict[str, str], status: int,
                                                   error: str) -> None:
    """Bad credentials are 401 invalid_client; a grant other than client_credentials or a scope the
    client lacks is 400 with OAuth's error code."""
    response = token_request(uber, **form)
    assert (response.status_code, response.json()) == (status, {"error": error})


def test_token_requests_over_the_hourly_limit_are_answered_429(ubereats_standin: UberStandin) -> None:
    """Past the client's token requests per hour (Uber: 100) the endpoint answers 429 with Retry-After."""
    ubereats_standin.register(token_limit=3)
    assert [token_request(ubereats_standin).status_code for _ in range(3)] == [200, 200, 200]
    refused = token_request(ubereats_standin)
    assert refused.status_code == 429
    assert 0 < int(refused.headers["retry-after"]) <= 3600
    assert ubereats_standin.clients()[UBER_CLIENT["client_id"]]["token_requests"] == 3


def test_client_credentials_in_a_basic_header_are_accepted(uber: UberStandin) -> None:
    """client_secret_basic works as well as Uber's documented form fields."""
    response = httpx.post(f"{uber.url}/oauth/v2/token", auth=(UBER_CLIENT["client_id"], UBER_CLIENT["client_secret"]),
                          data={"grant_type": "client_credentials", "scope": "eats.store"})
    assert response.status_code == 200


# ------------------------------------------------------------------- menu: auth

def test_menu_upload_without_a_valid_token_is_401(uber: UberStandin) -> None:
    """No token, an unknown token and an expired token are all 401."""
    valid = {"Authorization": f"Bearer {uber.token()}"}
    assert upload(uber, {}, menu_payload()).status_code == 401
    assert upload(uber, {"Authorization": "Bearer made-up"}, menu_payload()).status_code == 401
    assert uber.expire_tokens() == 1
    assert upload(uber, valid, menu_payload()).status_code == 401


def test_menu_upload_for_a_store_the_client_is_not_linked_to_is_403(uber: UberStandin,
                                                                    auth: dict[str, str]) -> None:
    """A token is good only for the stores linked to its client."""
    response = upload(uber, auth, menu_payload(), store_id="someone-elses-store")
    assert response.status_code == 403
    assert response.json()["code"] == "user_not_allowed"


def test_menu_upload_with_a_token_lacking_eats_store_is_403(uber: UberStandin) -> None:
    """The menu endpoints need scope eats.store."""
    orders_only = {"Authorization": f"Bearer {uber.token(scope='eats.order')}"}
    assert upload(uber, orders_only, menu_payload()).status_code == 403


# ------------------------------------------------------------- menu: validation

def _set(path: str, value: Any) -> MenuEdit:
    def edit(menu: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target: Any = menu
        for part in parents:
            target = target[int(part)] if part.isdigit() else target[part]
        target[int(last) if last.isdigit() else last] = value
    return edit


def _drop(name: str) -> MenuEdit:
    return lambda menu: menu.pop(name)


INVALID_MENUS: list[tuple[str, MenuEdit, dict[str, Any]]] = [
    ("missing-modifier-groups", _drop("modifier_groups"), {"field": "modifier_groups"}),
    ("missing-menus", _drop("menus"), {"field": "menus"}),
    ("items-not-array", _set("items", {"burger": {}}), {"field": "items"}),
    ("duplicate-item", lambda m: m["items"].append(copy.deepcopy(m["items"][0])),
     {"entity_type": "item", "entity_id": "burger", "field": "id"}),
    ("category-entity-unknown", _set("categories.0.entities.0.id", "pizza"),
     {"entity_type": "category", "entity_id": "mains", "field": "entities", "missing_id": "pizza"}),
    ("menu-category-unknown", _set("menus.0.category_ids", ["mains", "drinks"]),
     {"entity_type": "menu", "entity_id": "all-day", "field": "category_ids", "missing_id": "drinks"}),
    ("modifier-option-unknown", _set("modifier_groups.0.modifier_options.0.id", "onion-rings"),
     {"entity_type": "modifier_group", "entity_id": "sides", "field": "modifier_options", "missing_id": "onion-rings"}),
    ("modifier-group-id-unknown", _set("items.1.modifier_group_ids.ids", ["sides", "sauces"]),
     {"entity_type": "item", "entity_id": "salad", "field": "modifier_group_ids", "missing_id": "sauces"}),
    ("price-negative", _set("items.0.price_info.price", -1),
     {"entity_type": "item", "entity_id": "burger", "field": "price_info.price"}),
    ("price-decimal", _set("items.0.price_info.price", 9.99),
     {"entity_type": "item", "entity_id": "burger", "field": "price_info.price"}),
    ("price-string", _set("items.2.price_info.price", "250"),
     {"entity_type": "item", "entity_id": "fries", "field": "price_info.price"}),
    ("price-missing", lambda m: m["items"][1].pop("price_info"),
     {"entity_type": "item", "entity_id": "salad", "field": "price_info.price"}),
    ("title-plain-string", _set("items.0.title", "Burger"),
     {"entity_type": "item", "entity_id": "burger", "field": "title"}),
    ("title-empty-translation", _set("categories.0.title", {"translations": {"en_us": " "}}),
     {"entity_type": "category", "entity_id": "mains", "field": "title"}),
    ("title-no-translations", _set("modifier_groups.0.title", {"translations": {}}),
     {"entity_type": "modifier_group", "entity_id": "sides", "field": "title"}),
    ("quantity-min-above-max", _set("modifier_groups.0.quantity_info.quantity.min_permitted", 2),
     {"entity_type": "modifier_group", "entity_id": "sides", "field": "quantity_info.quantity"}),
    ("hours-malformed", _set("menus.0.service_availability.0.time_periods.0.end_time", "10pm"),
     {"entity_type": "menu", "entity_id": "all-day", "field": "service_availability"}),
]


@pytest.mark.parametrize(("edit", "metadata"), [(e, m) for _, e, m in INVALID_MENUS],
                         ids=[name for name, _, _ in INVALID_MENUS])
def test_invalid_menu_is_400_naming_the_entity_and_changes_nothing(uber: UberStandin, auth: dict[str, str],
                                                                   edit: MenuEdit, metadata: dict[str, Any]) -> None:
    """Each kind of invalid upload is 400 validation_failed whose metadata names the entity and field;
    the store keeps the menu it had."""
    assert upload(uber, auth, menu_payload("kebab")).status_code == 204
    menu = menu_payload()
    edit(menu)
    response = upload(uber, auth, menu)
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["code"] == "validation_failed"
    assert body["metadata"] == metadata
    assert metadata.get("entity_id", metadata.get("field")) in body["message"]
    stored = uber.menu()
    assert stored is not None and [i["id"] for i in stored["items"]] == ["kebab", "fries"]


def test_body_that_is_not_json_is_400(uber: UberStandin, auth: dict[str, str]) -> None:
    response = httpx.put(f"{uber.url}/v2/eats/stores/{UBER_STORE_ID}/menus", content=b"{nope", headers=auth)
    assert (response.status_code, response.json()["metadata"]) == (400, {"field": "body"})


# ---------------------------------------------------------------- menu: storing

def test_accepted_menu_is_stored_and_answered_204(uber: UberStandin, auth: dict[str, str]) -> None:
    """A valid upload is 204 with no body and becomes the store's menu, as sent."""
    response = upload(uber, auth, menu_payload())
    assert (response.status_code, response.content) == (204, b"")
    assert uber.menu() == menu_payload()


def test_empty_menu_is_valid(uber: UberStandin, auth: dict[str, str]) -> None:
    """The four top-level arrays are required but may be empty."""
    empty: dict[str, Any] = {"menus": [], "categories": [], "items": [], "modifier_groups": []}
    assert upload(uber, auth, empty).status_code == 204


def test_upload_replaces_the_whole_menu(uber: UberStandin, auth: dict[str, str]) -> None:
    """Entities missing from a new upload are removed: a later item update for them is 404."""
    assert upload(uber, auth, menu_payload("burger", "salad")).status_code == 204
    assert upload(uber, auth, menu_payload("burger")).status_code == 204
    stored = uber.menu()
    assert stored is not None and [i["id"] for i in stored["items"]] == ["burger", "fries"]
    assert update_item(uber, auth, "salad", {"price_info": {"price": 900}}).status_code == 404


def test_gzip_body_is_accepted(uber: UberStandin, auth: dict[str, str]) -> None:
    """Uber recommends Content-Encoding: gzip for uploads; the stand-in decodes it."""
    raw = gzip.compress(json.dumps(menu_payload()).encode())
    response = httpx.put(f"{uber.url}/v2/eats/stores/{UBER_STORE_ID}/menus", content=raw,
                         headers={**auth, "Content-Type": "application/json", "Content-Encoding": "gzip"})
    assert response.status_code == 204
    assert uber.menu() == menu_payload()


def test_empty_quantity_info_sets_no_bounds(uber: UberStandin, auth: dict[str, str]) -> None:
    """``quantity_info: {}`` is accepted (no min or max), as payloads built from Uber's examples send."""
    menu = menu_payload()
    menu["items"][0]["quantity_info"] = {}
    assert upload(uber, auth, menu).status_code == 204


def test_menus_of_different_stores_are_kept_apart(ubereats_standin: UberStandin) -> None:
    ubereats_standin.register(store_ids=("store-a", "store-b"))
    auth = {"Authorization": f"Bearer {ubereats_standin.token()}"}
    assert upload(ubereats_standin, auth, menu_payload("burger"), store_id="store-a").status_code == 204
    assert ubereats_standin.menu("store-b") is None
    assert ubereats_standin.menu("store-a") is not None


# ------------------------------------------------------------------- item update

def test_item_update_before_any_menu_is_404(uber: UberStandin, auth: dict[str, str]) -> None:
    """Uber answers 404 to an item update for a store that never had a menu uploaded."""
    response = update_item(uber, auth, "burger", {"suspension_info": {"suspension": {"suspend_until": 0}}})
    assert (response.status_code, response.json()["code"]) == (404, "resource_not_found")


def test_item_update_is_sparse(uber: UberStandin, auth: dict[str, str]) -> None:
    """Only the fields sent change: a suspension leaves the price, a price leaves the suspension."""
    assert upload(uber, auth, menu_payload()).status_code == 204
    suspension = {"suspension": {"suspend_until": 1893456000, "reason": "Out of stock"}}
    assert update_item(uber, auth, "burger", {"suspension_info": suspension}).status_code == 204
    assert update_item(uber, auth, "burger", {"price_info": {"price": 1250}}).status_code == 204
    stored = uber.menu()
    assert stored is not None
    burger = stored["items"][0]
    assert burger["suspension_info"] == suspension
    assert burger["price_info"] == {"price": 1250}
    assert burger["title"] == tr("Burger")
    assert stored["items"][1] == menu_payload()["items"][1]


def test_item_update_of_an_unknown_item_or_with_a_bad_price_is_refused(uber: UberStandin,
                                                                      auth: dict[str, str]) -> None:
    assert upload(uber, auth, menu_payload()).status_code == 204
    assert update_item(uber, auth, "pizza", {"price_info": {"price": 100}}).status_code == 404
    response = update_item(uber, auth, "burger", {"price_info": {"price": -5}})
    assert (response.status_code, response.json()["metadata"]["entity_id"]) == (400, "burger")


# ------------------------------------------------------------------------ faults

def test_http429_fault_answers_retry_after_then_recovers(uber: UberStandin, auth: dict[str, str]) -> None:
    """A counted 429 carries the configured Retry-After; the call after it succeeds."""
    uber.fault("http429", count=1, paths=["menus"], retry_after=7)
    refused = upload(uber, auth, menu_payload())
    assert (refused.status_code, refused.headers["retry-after"]) == (429, "7")
    assert upload(uber, auth, menu_payload()).status_code == 204


def test_http500_fault_lasts_count_calls_and_stores_nothing(uber: UberStandin, auth: dict[str, str]) -> None:
    uber.fault("http500", count=2, paths=["menus"])
    assert [upload(uber, auth, menu_payload()).status_code for _ in range(3)] == [500, 500, 204]
    assert [c["fault"] for c in uber.calls() if c["name"] == "menus"] == ["http500", "http500", None]


def test_fault_applies_only_to_its_paths(uber: UberStandin, auth: dict[str, str]) -> None:
    """A fault on item updates leaves uploads and tokens alone."""
    uber.fault("http500", paths=["items"])
    assert upload(uber, auth, menu_payload()).status_code == 204
    assert token_request(uber).status_code == 200
    assert update_item(uber, auth, "burger", {"price_info": {"price": 1}}).status_code == 500


def test_token_path_can_fail_too(uber: UberStandin) -> None:
    uber.fault("http429", count=1, paths=["token"], retry_after=3)
    refused = token_request(uber)
    assert (refused.status_code, refused.headers["retry-after"]) == (429, "3")
    assert token_request(uber).status_code == 200


def test_hang_fault_never_answers(uber: UberStandin, auth: dict[str, str]) -> None:
    """A hanging call times the client out; after the fault is cleared calls are answered again."""
    uber.fault("hang", count=1, paths=["menus"])
    with pytest.raises(httpx.ReadTimeout):
        upload(uber, auth, menu_payload(), timeout=0.5)
    assert upload(uber, auth, menu_payload()).status_code == 204
    assert [c["status"] for c in uber.calls() if c["name"] == "menus"] == [None, 204]


def test_reject_fault_is_a_400_naming_the_first_item(uber: UberStandin, auth: dict[str, str]) -> None:
    uber.fault("reject", count=1)
    response = upload(uber, auth, menu_payload())
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "validation_failed"
    assert body["metadata"] == {"entity_type": "item", "entity_id": "burger"}
    assert "burger" in body["message"]
    assert uber.menu() is None


def test_calls_record_every_real_call_with_status_and_item_count(uber: UberStandin, auth: dict[str, str]) -> None:
    """The calls log has the token request, refused uploads and the item count of each upload."""
    upload(uber, {}, menu_payload())
    upload(uber, auth, menu_payload("a", "b", "c"))
    calls = uber.calls()
    assert [(c["method"], c["path"], c["status"]) for c in calls] == [
        ("POST", "/oauth/v2/token", 200),
        ("PUT", f"/v2/eats/stores/{UBER_STORE_ID}/menus", 401),
        ("PUT", f"/v2/eats/stores/{UBER_STORE_ID}/menus", 204),
    ]
    assert calls[2]["items"] == 4
    assert calls[2]["client_id"] == UBER_CLIENT["client_id"]


# ------------------------------------------------------------------------ orders

def test_order_is_read_then_accepted_once(uber: UberStandin, auth: dict[str, str]) -> None:
    """An order placed at the store is readable; accept is 204 and recorded; a second decision is 409."""
    assert upload(uber, auth, menu_payload()).status_code == 204
    order = uber.create_order()
    read = httpx.get(f"{uber.url}/v2/eats/order/{order['id']}", headers=auth)
    assert read.status_code == 200
    body = read.json()
    assert (body["current_state"], body["store"]["id"]) == ("CREATED", UBER_STORE_ID)
    assert body["cart"]["items"][0]["id"] == "burger"
    accept = f"{uber.url}/v1/eats/orders/{order['id']}/accept_pos_order"
    assert httpx.post(accept, json={"reason": "accepted"}, headers=auth).status_code == 204
    again = httpx.post(f"{uber.url}/v1/eats/orders/{order['id']}/deny_pos_order",
                       json={"reason": {"explanation": "too late", "code": "STORE_CLOSED"}}, headers=auth)
    assert (again.status_code, again.json()["code"]) == (409, "resource_status_conflict")
    [stored] = uber.orders()
    assert stored["current_state"] == "ACCEPTED"
    assert [a["action"] for a in stored["actions"]] == ["accept"]


def test_deny_needs_a_reason_and_is_recorded(uber: UberStandin, auth: dict[str, str]) -> None:
    order = uber.create_order(cart_items=[{"id": "x", "quantity": 2, "price": 300}])
    deny = f"{uber.url}/v1/eats/orders/{order['id']}/deny_pos_order"
    assert httpx.post(deny, json={}, headers=auth).status_code == 400
    reason = {"explanation": "no fries", "code": "ITEM_AVAILABILITY", "out_of_stock_items": ["x"]}
    assert httpx.post(deny, json={"reason": reason}, headers=auth).status_code == 204
    [stored] = uber.orders()
    assert stored["current_state"] == "DENIED"
    assert stored["actions"][0]["body"] == {"reason": reason}
    assert stored["payment"]["charges"]["total"]["amount"] == 600


def test_unknown_order_is_404_and_another_stores_order_is_403(uber: UberStandin, auth: dict[str, str]) -> None:
    assert httpx.get(f"{uber.url}/v2/eats/order/nope", headers=auth).status_code == 404
    other = uber.create_order(store_id="someone-elses-store")
    assert httpx.get(f"{uber.url}/v2/eats/order/{other['id']}", headers=auth).status_code == 403
    assert httpx.get(f"{uber.url}/v2/eats/order/{other['id']}").status_code == 401


# ---------------------------------------------------------------------- webhooks

def test_webhook_is_signed_with_the_client_secret(uber: UberStandin, receiver: Receiver) -> None:
    """The receiver gets Uber's event body; X-Uber-Signature is the lowercase hex HMAC-SHA256 of
    the raw body keyed with the store's client secret; X-Environment is sandbox."""
    order = uber.create_order()
    answer = uber.webhook(receiver.url, "orders.notification")
    assert answer["status_code"] == 200
    [received] = receiver.requests
    expected = hmac.new(UBER_CLIENT["client_secret"].encode(), received.body, hashlib.sha256).hexdigest()
    assert received.headers["x-uber-signature"] == expected
    assert received.headers["x-environment"] == "sandbox"
    assert received.body.decode() == answer["sent"]["body"]
    event = received.json
    assert event["event_type"] == "orders.notification"
    assert event["meta"] == {"user_id": UBER_STORE_ID, "resource_id": order["id"], "status": "pos"}
    assert event["resource_href"] == f"{uber.url}/v2/eats/order/{order['id']}"
    assert isinstance(event["event_time"], int)
    assert len(event["event_id"]) == 36


def test_webhook_answers_what_the_receiver_answered(uber: UberStandin, receiver: Receiver) -> None:
    receiver.answers = [500]
    answer = uber.webhook(receiver.url, "store.provisioned")
    assert (answer["status_code"], answer["body"]) == (500, "boom")
    assert receiver.requests[0].json["meta"]["resource_id"] == UBER_STORE_ID


def test_webhook_dry_run_and_forged_secret(uber: UberStandin) -> None:
    """A dry run sends nothing and shows the signed request; ``secret`` signs with another key."""
    sent = uber.webhook_request("http://127.0.0.1:9/hooks", "store.provisioned")
    raw = sent["body"].encode()
    good = hmac.new(UBER_CLIENT["client_secret"].encode(), raw, hashlib.sha256).hexdigest()
    assert sent["headers"]["X-Uber-Signature"] == good
    forged = uber.webhook_request("http://127.0.0.1:9/hooks", "store.provisioned", secret="not-the-secret")
    assert forged["headers"]["X-Uber-Signature"] != hmac.new(
        UBER_CLIENT["client_secret"].encode(), forged["body"].encode(), hashlib.sha256).hexdigest()
    assert uber.calls() == []
