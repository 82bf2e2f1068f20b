"""The DoorDash stand-in refuses what DoorDash documents it refuses: JWTs not exactly of
DoorDash's form (header, audience, issuer and key, times, signature), calls without
auth-version v2, menus that break its schema; a create always makes a new menu."""

from __future__ import annotations

import time
from typing import Any

import httpx
import jwt
import pytest

from tests.conftest import DOORDASH_KEY, DOORDASH_STORE_ID, DOORDASH_WEBHOOK_TOKEN, DoorDashStandin

MENUS = "/marketplace/api/v1/menus"
DETAILS = f"/marketplace/api/v1/stores/{DOORDASH_STORE_ID}/store_details"


def signed(*, header: dict[str, Any] | None = None, key: bytes | None = None, **claims: Any) -> str:
    now = int(time.time())
    payload = {"aud": "doordash", "iss": DOORDASH_KEY["developer_id"], "kid": DOORDASH_KEY["key_id"],
               "iat": now, "exp": now + 300, **claims}
    payload = {k: v for k, v in payload.items() if v is not None}
    secret = key if key is not None else jwt.utils.base64url_decode(DOORDASH_KEY["signing_secret"])
    return jwt.encode(payload, secret, algorithm="HS256", headers=header if header is not None
                      else {"dd-ver": "DD-JWT-V1"})


def call(standin: DoorDashStandin, method: str, path: str, token: str, body: Any = None,
         **headers: str) -> httpx.Response:
    sent = {"Authorization": f"Bearer {token}", "auth-version": "v2", "User-Agent": "tabletop/1.0", **headers}
    return standin.http.request(method, standin.url + path, json=body, headers=sent)


def menu_body(**menu: Any) -> dict[str, Any]:
    item = {"name": "Dal", "merchant_supplied_id": "dal", "active": True, "price": 1500, "extras": []}
    return {"store": {"merchant_supplied_id": DOORDASH_STORE_ID, "provider_type": "tabletop"},
            "open_hours": [{"day_index": "MON", "start_time": "00:00", "end_time": "23:59"}], "special_hours": [],
            "menu": {"name": "Menu", "categories": [{"name": "Mains", "merchant_supplied_id": "mains", "active": True,
                                                     "sort_id": 0, "items": [item]}], **menu}}


def test_a_correct_jwt_reads_the_store(doordash_standin):
    doordash_standin.register()
    answer = call(doordash_standin, "GET", DETAILS, signed())
    assert answer.status_code == 200 and answer.json()["merchant_supplied_id"] == DOORDASH_STORE_ID


@pytest.mark.parametrize(("token", "headers"), [
    (lambda: signed(header={}), {}),  # no dd-ver
    (lambda: signed(header={"dd-ver": "DD-JWT-V2"}), {}),
    (lambda: signed(aud="somebody"), {}),
    (lambda: signed(iss="00000000-0000-0000-0000-000000000000"), {}),
    (lambda: signed(kid="00000000-0000-0000-0000-000000000000"), {}),
    (lambda: signed(iat=int(time.time()) + 600, exp=int(time.time()) + 900), {}),  # issued in the future
    (lambda: signed(exp=int(time.time()) + 3600), {}),  # lives over 30 minutes
    (lambda: signed(iat=int(time.time()) - 900, exp=int(time.time()) - 60), {}),  # expired
    (lambda: signed(exp=None), {}),
    (lambda: signed(key=b"not the signing secret, 32 bytes"), {}),
    (lambda: jwt.encode({"aud": "doordash"}, "k" * 64, algorithm="HS512", headers={"dd-ver": "DD-JWT-V1"}), {}),
    (lambda: "not.a.jwt", {}),
    (lambda: signed(), {"auth-version": "v1"}),
    (lambda: signed(), {"User-Agent": "python-httpx"}),
])
def test_a_jwt_or_header_not_of_doordashs_form_is_401(doordash_standin, token, headers):
    doordash_standin.register()
    answer = call(doordash_standin, "GET", DETAILS, token(), **headers)
    assert answer.status_code == 401 and answer.json()["code"] == "authentication_error"


def test_another_developers_store_is_404(doordash_standin):
    doordash_standin.register(("their-store",), developer_id="other-dev", key_id="other-key")
    doordash_standin.register()
    assert call(doordash_standin, "GET", "/marketplace/api/v1/stores/their-store/store_details",
                signed()).status_code == 404


@pytest.mark.parametrize(("change", "field"), [
    ({"name": ""}, "menu.name"),
    ({"categories": [{"name": "Mains", "merchant_supplied_id": "m", "items": []}]}, "menu.categories[0].items"),
    ({"categories": [{"name": "M", "merchant_supplied_id": "m", "items": [
        {"name": "Dal", "merchant_supplied_id": "dal", "price": "15.00"}]}]}, "menu.categories[0].items[0].price"),
    ({"categories": [{"name": "M", "merchant_supplied_id": "m", "items": [
        {"name": "Dal", "merchant_supplied_id": "dal", "price": 1},
        {"name": "Dal 2", "merchant_supplied_id": "dal", "price": 1}]}]}, "menu.categories[].items"),
    ({"categories": [{"name": "M", "merchant_supplied_id": "m", "items": [
        {"name": "Dal", "merchant_supplied_id": "dal", "price": 1, "extras": [
            {"name": "Size", "merchant_supplied_id": "s", "min_num_options": 2, "max_num_options": 1,
             "options": [{"name": "Half", "merchant_supplied_id": "h", "price": 0}]}]}]}]},
     "menu.categories[0].items[0].extras[0].min_num_options"),
])
def test_a_menu_breaking_doordashs_schema_is_400_naming_the_field(doordash_standin, change, field):
    doordash_standin.register()
    answer = call(doordash_standin, "POST", MENUS, signed(), menu_body(**change))
    assert answer.status_code == 400
    assert answer.json()["field_errors"][0]["field"] == field
    assert doordash_standin.menus() == []


def test_each_create_is_a_new_menu_and_an_update_changes_the_one_named(doordash_standin):
    doordash_standin.register()
    first = call(doordash_standin, "POST", MENUS, signed(), menu_body()).json()["menu_id"]
    second = call(doordash_standin, "POST", MENUS, signed(), menu_body()).json()["menu_id"]
    assert first != second and len(doordash_standin.menus()) == 2  # DoorDash's duplicate menus
    assert call(doordash_standin, "PATCH", f"{MENUS}/{first}", signed(), menu_body(name="Lunch")).status_code == 202
    assert [m["versions"] for m in doordash_standin.menus()] == [2, 1]
    assert call(doordash_standin, "PATCH", f"{MENUS}/nope", signed(), menu_body()).status_code == 404


def test_item_availability_is_answered_per_item(doordash_standin):
    doordash_standin.register()
    call(doordash_standin, "POST", MENUS, signed(), menu_body())
    path = f"/marketplace/api/v1/stores/{DOORDASH_STORE_ID}/item_status"
    bad = call(doordash_standin, "PATCH", path, signed(), [{"merchant_supplied_id": "ghost", "is_active": False}])
    assert bad.status_code == 400 and bad.json() == [{"merchant_supplied_id": "ghost", "response": "Server Error"}]
    assert call(doordash_standin, "PATCH", path, signed(), [{"merchant_supplied_id": "dal", "is_active": "no"}]
                ).status_code == 400
    good = call(doordash_standin, "PATCH", path, signed(), [{"merchant_supplied_id": "dal", "is_active": False}])
    assert good.status_code == 200 and doordash_standin.item_status() == {"dal": False}


def test_faults_answer_as_injected(doordash_standin):
    doordash_standin.register()
    doordash_standin.fault("http429", count=1, paths=["menus"], retry_after=9)
    limited = call(doordash_standin, "POST", MENUS, signed(), menu_body())
    assert limited.status_code == 429 and limited.headers["retry-after"] == "9"
    doordash_standin.fault("reject", count=1, paths=["menus"])
    rejected = call(doordash_standin, "POST", MENUS, signed(), menu_body())
    assert rejected.status_code == 400 and "(dal)" in rejected.json()["field_errors"][0]["field"]
    assert call(doordash_standin, "POST", MENUS, signed(), menu_body()).status_code == 202
    assert [c["fault"] for c in doordash_standin.calls()] == ["http429", "reject", None]


def test_confirmations_and_cancellations_are_checked_and_recorded(doordash_standin):
    doordash_standin.register()
    order = doordash_standin.create_order(items=[{"merchant_supplied_id": "dal", "quantity": 1, "price": 1500}])
    path = f"/marketplace/api/v1/orders/{order['id']}"
    assert call(doordash_standin, "PATCH", path, signed(), {"merchant_supplied_id": "ours",
                                                            "order_status": "fail"}).status_code == 400
    assert call(doordash_standin, "PATCH", path, signed(), {"merchant_supplied_id": "ours",
                                                            "order_status": "success"}).status_code == 202
    assert call(doordash_standin, "PATCH", path, signed(), {"merchant_supplied_id": "ours",
                                                            "order_status": "success"}).status_code == 409
    assert call(doordash_standin, "PATCH", f"{path}/cancellation", signed(),
                {"cancel_reason": "BORED"}).status_code == 400
    assert call(doordash_standin, "PATCH", f"{path}/cancellation", signed(),
                {"cancel_reason": "KITCHEN_BUSY", "cancel_details": "rush"}).status_code == 202
    [placed] = doordash_standin.orders()
    assert placed["status"] == "CANCELLED" and [a["action"] for a in placed["actions"]] == ["confirm", "cancel"]


def test_a_menu_job_ends_with_a_status_webhook_carrying_the_stores_token(doordash_standin, receiver):
    doordash_standin.register(webhook_url=receiver.url, menu_status="FAILURE")
    answer = call(doordash_standin, "POST", MENUS, signed(), {**menu_body(), "reference": "job-1"})
    assert answer.status_code == 202
    deadline = time.monotonic() + 10
    while not receiver.requests and time.monotonic() < deadline:
        time.sleep(0.05)
    [sent] = receiver.requests
    assert sent.headers["authorization"] == f"Bearer {DOORDASH_WEBHOOK_TOKEN}"
    assert sent.json == {"event": {"type": "MenuCreate", "status": "FAILURE", "reference": "job-1",
                                   "details": "Store hours are invalid"},
                         "store": {"merchant_supplied_id": DOORDASH_STORE_ID},
                         "menu": {"id": answer.json()["menu_id"]}}
