"""The PetPooja stand-in over real HTTP: it validates save_order the way the sandbox does
(SO_105 for an outlet it cannot identify, SO_106 for content), stores and cancels orders,
serves the menu, injects faults, and sends PetPooja's callbacks."""

from __future__ import annotations

import copy
import json
import signal
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import PETPOOJA_KEYS, PetpoojaStandin, start_petpooja_standin

REST_ID = "ppj-4335"


def order_body(order_id: str = "ord-1", *, callback_url: str = "http://127.0.0.1:9/callback") -> dict[str, Any]:
    """A dine-in order in PetPooja's shape: a variation, an addon, item taxes and an order discount.

    Butter Chicken Full 749 + Extra Cheese 30 = 779 x 1; Masala Chai 79 x 2 = 158.
    Items 937, discount 37, CGST+SGST 2.5% each of 900 = 45, service charge 10: total 955.
    """
    return {
        **PETPOOJA_KEYS,
        "orderinfo": {"OrderInfo": {
            "Restaurant": {"details": {"res_name": "Demo Bistro", "address": "12 MG Road",
                                       "contact_information": "9800000000", "restID": REST_ID}},
            "Customer": {"details": {"email": "", "name": "Guest", "address": "", "phone": "",
                                     "latitude": "", "longitude": ""}},
            "Order": {"details": {
                "orderID": order_id, "preorder_date": "2026-12-02", "preorder_time": "19:30:00",
                "service_charge": "10.00", "sc_tax_amount": "0.00", "delivery_charges": "0.00",
                "dc_tax_amount": "0.00", "packing_charges": "0.00", "pc_tax_amount": "0.00",
                "order_type": "D", "advanced_order": "N", "payment_type": "COD", "table_no": "T1",
                "no_of_persons": "0", "discount_total": "37.00", "discount_type": "F", "tax_total": "45.00",
                "total": "955.00", "description": "", "created_on": "2026-12-02 19:30:00",
                "enable_delivery": "1", "min_prep_time": "25", "callback_url": callback_url}},
            "OrderItem": {"details": [
                {"id": "9100052", "name": "Butter Chicken", "gst_liability": "vendor",
                 "item_tax": [{"id": "11213", "name": "CGST", "amount": "18.74"},
                              {"id": "20375", "name": "SGST", "amount": "18.74"}],
                 "item_discount": "0", "price": "779.00", "final_price": "779.00", "quantity": "1",
                 "description": "", "variation_name": "Full", "variation_id": "610002",
                 "AddonItem": {"details": [{"id": "8200001", "name": "Extra Cheese", "group_name": "Extras",
                                            "price": "30.00", "group_id": "8100001", "quantity": "1"}]}},
                {"id": "9100008", "name": "Masala Chai", "gst_liability": "vendor",
                 "item_tax": [{"id": "11213", "name": "CGST", "amount": "3.76"},
                              {"id": "20375", "name": "SGST", "amount": "3.76"}],
                 "item_discount": "0", "price": "79.00", "final_price": "158.00", "quantity": "2",
                 "description": "", "variation_name": "", "variation_id": "", "AddonItem": {"details": []}},
            ]},
            "Tax": {"details": [
                {"id": "11213", "title": "CGST", "type": "P", "price": "2.5", "tax": "22.50",
                 "restaurant_liable_amt": "0.00"},
                {"id": "20375", "title": "SGST", "type": "P", "price": "2.5", "tax": "22.50",
                 "restaurant_liable_amt": "0.00"}]},
            "Discount": {"details": [{"id": "363", "title": "Discount", "type": "F", "price": "37.00"}]},
        }},
        "udid": "",
        "device_type": "Web",
    }


def details(body: dict[str, Any], part: str) -> Any:
    return body["orderinfo"]["OrderInfo"][part]["details"]


@pytest.fixture
def outlet(petpooja_standin: PetpoojaStandin) -> PetpoojaStandin:
    petpooja_standin.register(REST_ID)
    return petpooja_standin


class Receiver:
    """A real HTTP endpoint that records what PetPooja would POST to our webhooks."""

    def __init__(self) -> None:
        self.received: list[tuple[str, dict[str, str], Any]] = []
        received = self.received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                received.append((self.path, dict(self.headers), json.loads(self.rfile.read(length))))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:  # quiet test output
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.server.shutdown()
    r.server.server_close()


def post(standin: PetpoojaStandin, path: str, body: Any, **kwargs: Any) -> httpx.Response:
    return httpx.post(f"{standin.url}/{path}", json=body, timeout=10, **kwargs)


# ------------------------------------------------------------------------------ save_order

def test_a_valid_order_is_saved_and_answered_with_petpoojas_own_id(outlet: PetpoojaStandin) -> None:
    answer = post(outlet, "save_order", order_body("ord-1"))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body == {"success": "1", "message": "Your order is saved.", "restID": REST_ID,
                    "clientOrderID": "ord-1", "orderID": body["orderID"]}
    assert body["orderID"].isdigit()
    [record] = outlet.orders()
    assert record["kind"] == "save_order" and record["clientOrderID"] == "ord-1"
    assert record["orderID"] == body["orderID"] and record["status"] == "saved"
    assert record["body"] == order_body("ord-1")


def test_a_resent_order_id_is_ignored_with_the_same_answer_and_stored_once(outlet: PetpoojaStandin) -> None:
    first = post(outlet, "save_order", order_body("ord-1")).json()
    again = post(outlet, "save_order", order_body("ord-1")).json()
    assert again == first
    changed = order_body("ord-1")
    details(changed, "Order")["description"] = "extra spicy"
    assert post(outlet, "save_order", changed).json() == first
    [record] = outlet.saved()
    assert record["resends"] == 2 and record["resent_different"] is True
    assert record["body"] == order_body("ord-1")


def test_orders_of_two_outlets_with_the_same_order_id_are_two_orders(outlet: PetpoojaStandin) -> None:
    outlet.register("other-outlet", app_key="other-key")
    other = order_body("ord-1")
    other["app_key"] = "other-key"
    details(other, "Restaurant")["restID"] = "other-outlet"
    a = post(outlet, "save_order", order_body("ord-1")).json()
    b = post(outlet, "save_order", other).json()
    assert a["orderID"] != b["orderID"]
    assert [r["restID"] for r in outlet.saved()] == [REST_ID, "other-outlet"]


@pytest.mark.parametrize(("change", "field"), [
    ({"app_key": "wrong"}, "app_key"),
    ({"app_secret": "wrong"}, "app_secret"),
    ({"access_token": "wrong"}, "access_token"),
    ({"restID": "not-registered"}, "restID"),
])
def test_an_outlet_that_cannot_be_identified_is_refused_with_so_105(
        outlet: PetpoojaStandin, change: dict[str, str], field: str) -> None:
    body = order_body()
    if "restID" in change:
        details(body, "Restaurant")["restID"] = change["restID"]
    else:
        body.update(change)
    answer = post(outlet, "save_order", body)
    assert answer.status_code == 400
    data = answer.json()
    assert data["success"] == "0" and data["errorCode"] == "SO_105"
    assert field in data["validation_errors"]
    assert outlet.orders() == []


def _drop(obj: dict[str, Any], name: str) -> None:
    del obj[name]


def _set(name: str, value: Any) -> Any:
    return lambda obj: obj.__setitem__(name, value)


@pytest.mark.parametrize(("part", "edit", "field"), [
    ("Order", lambda o: _drop(o, "orderID"), "Order.orderID"),
    ("Order", _set("orderID", ""), "Order.orderID"),
    ("Order", lambda o: _drop(o, "created_on"), "Order.created_on"),
    ("Order", lambda o: _drop(o, "total"), "Order.total"),
    ("Order", lambda o: _drop(o, "payment_type"), "Order.payment_type"),
    ("Customer", lambda o: _drop(o, "name"), "Customer.name"),
    ("Restaurant", lambda o: _drop(o, "res_name"), "Restaurant.res_name"),
    ("Order", _set("total", 955), "Order.total"),  # a number, not a string
    ("Order", _set("table_no", 1), "Order.table_no"),
    ("Customer", _set("phone", 9800000000), "Customer.phone"),
    ("Order", _set("order_type", "X"), "Order.order_type"),
    ("Order", _set("table_no", ""), "Order.table_no"),  # dine-in needs a table
    ("Order", _set("payment_type", "UPI"), "Order.payment_type"),
    ("Order", _set("created_on", "2026-12-02T19:30:00"), "Order.created_on"),
    ("Order", _set("created_on", "02-12-2026 19:30"), "Order.created_on"),
    ("Order", _set("preorder_time", "7:30 PM"), "Order.preorder_time"),
    ("Order", _set("tax_total", "45,00"), "Order.tax_total"),
    ("Order", _set("discount_total", "abc"), "Order.discount_total"),
])
def test_invalid_order_fields_are_refused_with_so_106_naming_the_field(
        outlet: PetpoojaStandin, part: str, edit: Any, field: str) -> None:
    body = order_body()
    edit(details(body, part))
    answer = post(outlet, "save_order", body)
    assert answer.status_code == 400, answer.text
    data = answer.json()
    assert data["success"] == "0" and data["errorCode"] == "SO_106"
    assert field in data["validation_errors"], data
    assert outlet.orders() == []


@pytest.mark.parametrize(("edit", "field"), [
    (lambda i: _drop(i, "price"), "OrderItem.details.0.price"),
    (lambda i: _drop(i, "item_tax"), "OrderItem.details.0.item_tax"),
    (lambda i: _drop(i, "id"), "OrderItem.details.0.id"),
    (_set("quantity", 1), "OrderItem.details.0.quantity"),
    (_set("quantity", "0"), "OrderItem.details.0.quantity"),
    (_set("quantity", "1.5"), "OrderItem.details.0.quantity"),
    (_set("price", "7.79e2"), "OrderItem.details.0.price"),
    (_set("final_price", "780.00"), "OrderItem.details.0.final_price"),  # not price x quantity
    (lambda i: _drop(i["AddonItem"]["details"][0], "group_name"), "OrderItem.details.0.AddonItem.details.0.group_name"),
    (lambda i: i["AddonItem"]["details"][0].__setitem__("price", "thirty"),
     "OrderItem.details.0.AddonItem.details.0.price"),
    (lambda i: _drop(i["item_tax"][0], "amount"), "OrderItem.details.0.item_tax.0.amount"),
])
def test_invalid_items_are_refused_with_so_106_naming_the_field(
        outlet: PetpoojaStandin, edit: Any, field: str) -> None:
    body = order_body()
    edit(details(body, "OrderItem")[0])
    data = post(outlet, "save_order", body).json()
    assert data["errorCode"] == "SO_106"
    assert field in data["validation_errors"], data


def test_an_order_without_items_or_without_order_info_is_refused(outlet: PetpoojaStandin) -> None:
    body = order_body()
    details(body, "OrderItem").clear()
    assert "OrderItem.details" in post(outlet, "save_order", body).json()["validation_errors"]
    body = order_body()
    del body["orderinfo"]["OrderInfo"]["Order"]
    assert "Order.details" in post(outlet, "save_order", body).json()["validation_errors"]
    answer = httpx.post(f"{outlet.url}/save_order", content=b"not json", timeout=10)
    assert answer.status_code == 400 and answer.json()["errorCode"] == "SO_106"


@pytest.mark.parametrize(("name", "value"), [
    ("total", "956.00"), ("total", "954.98"), ("tax_total", "46.00"), ("discount_total", "0.00"),
    ("service_charge", "0.00"),
])
def test_totals_that_do_not_add_up_are_refused(outlet: PetpoojaStandin, name: str, value: str) -> None:
    body = order_body()
    details(body, "Order")[name] = value
    data = post(outlet, "save_order", body).json()
    assert data["errorCode"] == "SO_106"
    assert "Order.total" in data["validation_errors"]


def test_totals_within_a_paisa_and_charges_and_item_discounts_are_accepted(outlet: PetpoojaStandin) -> None:
    body = order_body("ord-rounding")
    details(body, "Order")["total"] = "955.01"
    assert post(outlet, "save_order", body).status_code == 200
    # Delivery with charges; an item discount lowers final_price and counts in discount_total.
    body = order_body("ord-delivery")
    order = details(body, "Order")
    order.update(order_type="H", table_no="", delivery_charges="40.00", dc_tax_amount="2.00",
                 packing_charges="20.00", pc_tax_amount="1.00", tax_total="48.00", discount_total="52.00")
    chai = details(body, "OrderItem")[1]
    chai.update(item_discount="15.00", final_price="143.00")
    # 779 + 143 - (52 - 15) + 48 + 10 + 40 + 20
    order["total"] = "1003.00"
    answer = post(outlet, "save_order", body)
    assert answer.status_code == 200, answer.text


def test_petpoojas_number_fields_may_be_json_numbers(outlet: PetpoojaStandin) -> None:
    body = order_body()
    details(body, "Order").update(enable_delivery=1, min_prep_time=20)
    details(body, "OrderItem")[0]["AddonItem"]["details"][0]["group_id"] = 8100001
    assert post(outlet, "save_order", body).status_code == 200


# ------------------------------------------------------------------------------- cancel

def cancel_body(client_id: str = "ord-1", **changes: str) -> dict[str, str]:
    return {**PETPOOJA_KEYS, "restID": REST_ID, "orderID": "", "clientorderID": client_id,
            "cancelReason": "Guest left", "status": "-1", **changes}


def test_status_minus_one_cancels_a_stored_order(outlet: PetpoojaStandin) -> None:
    own = post(outlet, "save_order", order_body("ord-1")).json()["orderID"]
    answer = post(outlet, "update_order_status", cancel_body("ord-1"))
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"success": "1", "message": "Order status updated successfully.", "restID": REST_ID,
                             "orderID": own, "clientorderID": "ord-1"}
    saved, cancel = outlet.orders()
    assert saved["status"] == "cancelled"
    assert cancel["kind"] == "cancel" and cancel["body"]["cancelReason"] == "Guest left"


@pytest.mark.parametrize(("changes", "code", "field"), [
    ({"status": "1"}, "SO_106", "status"),
    ({"clientorderID": "never-sent"}, "SO_106", "clientorderID"),
    ({"app_secret": "wrong"}, "SO_105", "app_secret"),
    ({"restID": "other"}, "SO_105", "restID"),
])
def test_a_cancel_that_cannot_apply_is_refused(
        outlet: PetpoojaStandin, changes: dict[str, str], code: str, field: str) -> None:
    post(outlet, "save_order", order_body("ord-1"))
    answer = post(outlet, "update_order_status", cancel_body(**changes))
    assert answer.status_code == 400
    assert answer.json()["errorCode"] == code and field in answer.json()["validation_errors"]
    assert [r["status"] for r in outlet.saved()] == ["saved"]


# --------------------------------------------------------------------------------- menu

def test_the_menu_is_served_to_the_outlets_header_keys(outlet: PetpoojaStandin) -> None:
    headers = {"app-key": PETPOOJA_KEYS["app_key"], "app-secret": PETPOOJA_KEYS["app_secret"],
               "access-token": PETPOOJA_KEYS["access_token"]}
    menu = post(outlet, "mapped_restaurant_menus", {"restID": REST_ID}, headers=headers)
    assert menu.status_code == 200
    data = menu.json()
    assert data["success"] == "1"
    for key in ("restaurants", "categories", "items", "variations", "addongroups", "attributes", "taxes",
                "discounts"):
        assert isinstance(data[key], list), key
    assert len(data["categories"]) > 1 and any(i["variation"] for i in data["items"])
    assert {t["taxname"] for t in data["taxes"]} >= {"CGST", "SGST"}
    wrong = post(outlet, "mapped_restaurant_menus", {"restID": REST_ID}, headers={**headers, "access-token": "x"})
    assert wrong.status_code == 400 and wrong.json()["errorCode"] == "SO_105"
    # The body's keys do not count: PetPooja reads them from the headers.
    assert post(outlet, "mapped_restaurant_menus", {"restID": REST_ID, **PETPOOJA_KEYS}).status_code == 400


def test_an_outlet_registered_with_its_own_menu_serves_it(petpooja_standin: PetpoojaStandin) -> None:
    menu = {"success": "1", "restaurants": [], "categories": [], "items": [], "variations": [],
            "addongroups": [], "attributes": [], "taxes": [], "discounts": []}
    keys = petpooja_standin.register("tiny", menu=menu, app_key="k2")
    answer = post(petpooja_standin, "mapped_restaurant_menus", {"restID": "tiny"}, headers={
        "app-key": keys["app_key"], "app-secret": keys["app_secret"], "access-token": keys["access_token"]})
    assert answer.json() == menu


# ------------------------------------------------------------------------------- faults

def test_reject_refuses_with_so_106_for_count_calls_then_accepts(outlet: PetpoojaStandin) -> None:
    outlet.fault("reject", count=2)
    for _ in range(2):
        answer = post(outlet, "save_order", order_body())
        assert answer.status_code == 400 and answer.json()["errorCode"] == "SO_106"
    assert post(outlet, "save_order", order_body()).status_code == 200
    assert len(outlet.saved()) == 1
    assert outlet.stats()["calls"]["save_order"] == 3


def test_http500_answers_500_and_stores_nothing(outlet: PetpoojaStandin) -> None:
    outlet.fault("http500", count=1)
    assert post(outlet, "save_order", order_body()).status_code == 500
    assert outlet.orders() == []
    assert post(outlet, "save_order", order_body()).status_code == 200


def test_hang_never_answers_until_reset(outlet: PetpoojaStandin) -> None:
    outlet.fault("hang")
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(f"{outlet.url}/save_order", json=order_body(), timeout=0.5)
    assert outlet.orders() == []
    outlet.reset()
    assert outlet.stats()["fault"]["mode"] == "none"


def test_drop_stores_the_order_then_closes_without_an_answer(outlet: PetpoojaStandin) -> None:
    outlet.fault("drop", count=1)
    with pytest.raises(httpx.RemoteProtocolError):
        post(outlet, "save_order", order_body("ord-lost"))
    [record] = outlet.saved()
    # The resend after the lost answer is harmless: the same order, stored once.
    again = post(outlet, "save_order", order_body("ord-lost")).json()
    assert again["orderID"] == record["orderID"]
    assert len(outlet.saved()) == 1


def test_faults_can_target_one_path(outlet: PetpoojaStandin) -> None:
    outlet.fault("http500", paths=["update_order_status"])
    assert post(outlet, "save_order", order_body("ord-1")).status_code == 200
    assert post(outlet, "update_order_status", cancel_body("ord-1")).status_code == 500
    assert [r["status"] for r in outlet.saved()] == ["saved"]


def test_the_control_api_refuses_bad_instructions(petpooja_standin: PetpoojaStandin) -> None:
    base = f"{petpooja_standin.url}/_standin"
    assert httpx.post(f"{base}/faults", json={"mode": "explode"}).status_code == 400
    assert httpx.post(f"{base}/faults", json={"mode": "hang", "count": 0}).status_code == 400
    assert httpx.post(f"{base}/faults", json={"mode": "hang", "paths": ["elsewhere"]}).status_code == 400
    assert httpx.put(f"{base}/outlets/x", json={"app_key": "k"}).status_code == 400
    assert httpx.post(f"{base}/orders/nope/callback", json={"status": "1"}).status_code == 404


# ---------------------------------------------------------------------------- callbacks

def test_a_callback_reaches_the_orders_callback_url_in_petpoojas_shape(
        outlet: PetpoojaStandin, receiver: Receiver) -> None:
    post(outlet, "save_order", order_body("ord-1", callback_url=f"{receiver.url}/hooks/order-status/s3cret"))
    answer = outlet.callback("ord-1", "1")
    assert answer == {"status_code": 200, "body": ""}
    [(path, headers, body)] = receiver.received
    assert path == "/hooks/order-status/s3cret"
    assert headers["Content-Type"] == "application/json"
    assert body == {"restID": REST_ID, "orderID": "ord-1", "status": "1", "cancel_reason": "",
                    "minimum_prep_time": 25, "minimum_delivery_time": "", "rider_name": "",
                    "rider_phone_number": "", "is_modified": "No"}


async def test_walk_sends_accepted_food_ready_dispatched_delivered_in_order(
        outlet: PetpoojaStandin, receiver: Receiver) -> None:
    post(outlet, "save_order", order_body("ord-1", callback_url=f"{receiver.url}/cb"))
    assert await outlet.walk("ord-1") == [200, 200, 200, 200]
    assert [body["status"] for _, _, body in receiver.received] == ["1", "5", "4", "10"]


def test_callback_fields_url_and_headers_can_be_overridden(outlet: PetpoojaStandin, receiver: Receiver) -> None:
    own = post(outlet, "save_order", order_body("ord-1", callback_url=f"{receiver.url}/cb")).json()["orderID"]
    outlet.callback("ord-1", "-1", cancel_reason="Out of stock", orderID=own, url=f"{receiver.url}/forged",
                    headers={"X-Signature": "abc"})
    [(path, headers, body)] = receiver.received
    assert path == "/forged" and headers["X-Signature"] == "abc"
    assert body["orderID"] == own and body["cancel_reason"] == "Out of stock" and body["status"] == "-1"
    assert outlet.saved()[0]["status"] == "cancelled"


def test_a_dry_run_callback_is_built_but_not_sent(outlet: PetpoojaStandin, receiver: Receiver) -> None:
    post(outlet, "save_order", order_body("ord-1", callback_url=f"{receiver.url}/cb"))
    url, body = outlet.callback_request("ord-1", "5", rider_name="Ravi")
    assert url == f"{receiver.url}/cb"
    assert body["status"] == "5" and body["rider_name"] == "Ravi"
    assert receiver.received == []


def test_an_undeliverable_callback_is_reported(outlet: PetpoojaStandin) -> None:
    post(outlet, "save_order", order_body("ord-1", callback_url="http://127.0.0.1:9/closed"))
    answer = httpx.post(f"{outlet.url}/_standin/orders/ord-1/callback", json={"status": "1"}, timeout=10)
    assert answer.status_code == 502 and "could not deliver" in answer.json()["error"]


def test_send_posts_any_json_to_a_webhook(petpooja_standin: PetpoojaStandin, receiver: Receiver) -> None:
    stock = {"restID": REST_ID, "type": "item", "inStock": False, "itemID": ["9100001"]}
    assert petpooja_standin.send(f"{receiver.url}/stock/s", stock) == {"status_code": 200, "body": ""}
    assert receiver.received[0][0] == "/stock/s" and receiver.received[0][2] == copy.deepcopy(stock)


def test_reset_forgets_outlets_and_orders(outlet: PetpoojaStandin) -> None:
    post(outlet, "save_order", order_body())
    outlet.reset()
    assert outlet.orders() == []
    assert post(outlet, "save_order", order_body()).json()["errorCode"] == "SO_105"


def test_sigterm_stops_the_stand_in_promptly_even_with_a_call_hanging(tmp_path: Path) -> None:
    standin = start_petpooja_standin(tmp_path / "standin.log")
    try:
        standin.register(REST_ID)
        standin.fault("hang")
        outcome: list[object] = []

        def call() -> None:
            try:
                outcome.append(post(standin, "save_order", order_body()).status_code)
            except httpx.HTTPError as exc:
                outcome.append(exc)

        hanging = threading.Thread(target=call, daemon=True)
        hanging.start()
        time.sleep(0.3)
        started = time.monotonic()
        standin.process.terminate()
        # uvicorn shuts down gracefully, then re-raises the signal it caught.
        assert standin.process.wait(timeout=5) in {0, -signal.SIGTERM}
        assert time.monotonic() - started < 4
        hanging.join(timeout=5)
        # The hanging call ends (an answer or a closed connection) instead of outliving the process.
        assert len(outcome) == 1 and outcome[0] != 200
    finally:
        standin.stop()
