"""The PetPooja mapping: order rows -> save_order/cancel bodies, answers -> outbox outcomes."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest

from sync.outcome import Delivered, GiveUp, Retry
from sync.petpooja.payload import (
    RestaurantInfo,
    answer_excerpt,
    cancel_payload,
    classify_response,
    money,
    rate,
    save_order_payload,
    storable_answer,
)
from sync.petpooja.text import first_unstorable

OUTLET = "xk91ab"  # the outlet's mapping code; its keys are added by the client at send time
KOLKATA = RestaurantInfo(name="Demo Bistro", address="12 MG Road, Pune", phone="+919800000001",
                         timezone="Asia/Kolkata")
CALLBACK = "https://api.example.test/api/webhooks/petpooja/order-status/s3cret"
ORDER_ID = UUID("0b7f5a52-6a53-4c1e-9a6e-1d2f3a4b5c6d")
PANEER = UUID("11111111-1111-4111-8111-111111111111")
LASSI = UUID("22222222-2222-4222-8222-222222222222")


def make_order(**overrides: Any) -> dict[str, Any]:
    order: dict[str, Any] = {
        "id": ORDER_ID, "restaurant_id": UUID(int=7), "number": 42, "status": "placed",
        "order_type": "dine_in", "table_id": UUID(int=3), "table_label": "T3",
        "customer_name": None, "customer_phone": None, "notes": "No onions please",
        "subtotal": 66000, "tax": 3300, "tip": 1000, "discount": 6000, "total": 64300, "currency": "INR",
        "created_at": datetime(2026, 11, 22, 8, 15, 30, tzinfo=UTC),
        "items": [
            {"id": str(UUID(int=101)), "menu_item_id": str(PANEER), "name": "Paneer Tikka",
             "unit_price": 25000, "quantity": 2, "line_total": 50000, "notes": "extra spicy"},
            {"id": str(UUID(int=102)), "menu_item_id": str(LASSI), "name": "Sweet Lassi",
             "unit_price": 8000, "quantity": 2, "line_total": 16000, "notes": None},
        ],
    }
    order.update(overrides)
    return order


def details(payload: dict[str, Any], section: str) -> Any:
    return payload["orderinfo"]["OrderInfo"][section]["details"]


def leaves(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return [leaf for child in value.values() for leaf in leaves(child)]
    if isinstance(value, list):
        return [leaf for child in value for leaf in leaves(child)]
    return [value]


def test_a_dine_in_qr_order_maps_every_field_with_its_table_label() -> None:
    payload = save_order_payload(make_order(), OUTLET, KOLKATA, callback_url=CALLBACK)

    assert {k: v for k, v in payload.items() if k != "orderinfo"} == {"udid": "", "device_type": "Web"}
    assert details(payload, "Restaurant") == {
        "res_name": "Demo Bistro", "address": "12 MG Road, Pune", "contact_information": "+919800000001",
        "restID": "xk91ab"}
    assert details(payload, "Customer") == {
        "email": "", "name": "Guest", "address": "", "phone": "", "latitude": "", "longitude": ""}
    assert details(payload, "Order") == {
        "orderID": str(ORDER_ID),
        "preorder_date": "2026-11-22", "preorder_time": "13:45:30",
        "service_charge": "10.00", "sc_tax_amount": "0.00",
        "delivery_charges": "0.00", "dc_tax_amount": "0.00", "packing_charges": "0.00", "pc_tax_amount": "0.00",
        "order_type": "D", "advanced_order": "N", "payment_type": "COD", "table_no": "T3", "no_of_persons": "0",
        "discount_total": "60.00", "discount_type": "F", "tax_total": "33.00", "total": "643.00",
        "description": "No onions please", "created_on": "2026-11-22 13:45:30",
        "enable_delivery": "1", "min_prep_time": "20", "callback_url": CALLBACK,
    }
    assert details(payload, "OrderItem") == [
        {"id": str(PANEER), "name": "Paneer Tikka", "gst_liability": "vendor", "item_tax": [],
         "item_discount": "0", "price": "250.00", "final_price": "500.00", "quantity": "2",
         "description": "extra spicy", "variation_name": "", "variation_id": "", "AddonItem": {"details": []}},
        {"id": str(LASSI), "name": "Sweet Lassi", "gst_liability": "vendor", "item_tax": [],
         "item_discount": "0", "price": "80.00", "final_price": "160.00", "quantity": "2",
         "description": "", "variation_name": "", "variation_id": "", "AddonItem": {"details": []}},
    ]
    # Items made here pay the restaurant's rate, which has no PetPooja tax id: no Tax entry, tax_total keeps it.
    assert details(payload, "Tax") == []
    assert details(payload, "Discount") == [{"id": "", "title": "Discount", "type": "F", "price": "60.00"}]


def test_the_order_total_adds_up_from_items_discount_tax_and_service_charge() -> None:
    payload = save_order_payload(make_order(), OUTLET, KOLKATA, callback_url=CALLBACK)
    order, items = details(payload, "Order"), details(payload, "OrderItem")
    computed = (sum(Decimal(i["final_price"]) for i in items) - Decimal(order["discount_total"])
                + Decimal(order["tax_total"]) + Decimal(order["service_charge"]))
    assert computed == Decimal(order["total"])


def test_a_takeaway_order_is_pickup_with_the_guest_and_no_table() -> None:
    payload = save_order_payload(
        make_order(order_type="takeaway", table_id=None, table_label=None, customer_name="Asha Rao",
                   customer_phone="+919811112222", notes=None, tax=0, discount=0, tip=0, total=66000),
        OUTLET, KOLKATA, callback_url=CALLBACK, payment_type="ONLINE", min_prep_time=15)

    order = details(payload, "Order")
    assert (order["order_type"], order["table_no"], order["payment_type"], order["min_prep_time"]) == (
        "P", "", "ONLINE", "15")
    assert (order["description"], order["tax_total"], order["discount_total"], order["total"]) == (
        "", "0.00", "0.00", "660.00")
    assert details(payload, "Customer")["name"] == "Asha Rao"
    assert details(payload, "Customer")["phone"] == "+919811112222"
    assert details(payload, "Tax") == []
    assert details(payload, "Discount") == []


def test_a_delivery_order_is_self_delivered_and_ignores_a_stray_table_label() -> None:
    payload = save_order_payload(
        make_order(order_type="delivery", table_label="T3", customer_name="Ravi", customer_phone="+919833334444"),
        OUTLET, KOLKATA, callback_url=CALLBACK)

    order = details(payload, "Order")
    assert (order["order_type"], order["enable_delivery"], order["table_no"]) == ("H", "1", "")


def test_a_delivery_order_carries_its_address_point_and_fee_and_its_total_adds_up() -> None:
    delivery = {"address": {"line1": "Flat 3B, 4 East Street", "line2": None, "city": "Pune", "postcode": "411001",
                            "instructions": "ring twice,\n  leave with the guard"},
                "formatted_address": "4, East Street, Camp, Pune, Maharashtra 411001, India",
                "lat": 18.515, "lng": 73.881, "distance_m": 542}
    payload = save_order_payload(
        make_order(order_type="delivery", table_label=None, customer_name="Ravi", delivery=delivery,
                   delivery_fee=4000, total=64300 + 4000),
        OUTLET, KOLKATA, callback_url=CALLBACK)

    assert details(payload, "Customer") == {
        "email": "", "name": "Ravi", "phone": "",
        "address": "Flat 3B, 4 East Street, Pune, 411001 (ring twice, leave with the guard)",
        "latitude": "18.515", "longitude": "73.881"}
    order = details(payload, "Order")
    assert (order["delivery_charges"], order["dc_tax_amount"], order["total"]) == ("40.00", "0.00", "683.00")
    # items 660 - discount 60 + tax 33 + service charge (the tip) 10 + delivery 40
    assert Decimal(order["total"]) == (sum(Decimal(i["final_price"]) for i in details(payload, "OrderItem"))
                                       - Decimal(order["discount_total"]) + Decimal(order["tax_total"])
                                       + Decimal(order["service_charge"]) + Decimal(order["delivery_charges"]))


def test_items_go_out_with_petpooja_ids_when_known_and_ours_otherwise() -> None:
    order = make_order()
    order["items"][0]["item_external_id"] = "10538232"
    payload = save_order_payload(order, OUTLET, KOLKATA, callback_url=CALLBACK, discount_id="363")

    assert [i["id"] for i in details(payload, "OrderItem")] == ["10538232", str(LASSI)]
    assert details(payload, "Discount")[0]["id"] == "363"


CGST = {"id": str(UUID(int=901)), "external_id": "11213", "name": "CGST", "rate_bps": 250}
SGST = {"id": str(UUID(int=902)), "external_id": "20375", "name": "SGST", "rate_bps": 250}


def test_a_variation_with_addons_and_item_taxes_maps_to_petpooja_ids_and_unit_price() -> None:
    # Pizza Large (400.00) + Extra cheese (30.00) + Jalapenos (20.00) = 450.00 a unit, two of them;
    # CGST and SGST 2.5% each on 900.00 = 22.50 each. Lassi is taxed at the restaurant's 5%: 8.00.
    pizza = {"id": str(UUID(int=103)), "menu_item_id": str(PANEER), "item_external_id": "7765",
             "name": "Farmhouse Pizza", "unit_price": 45000, "quantity": 2, "line_total": 90000, "notes": None,
             "variation_id": str(UUID(int=501)), "variation_external_id": "7765862",
             "variation_kind_external_id": "89058", "variation_name": "Large",
             "addons": [
                 {"id": str(UUID(int=601)), "external_id": "a-1", "group_id": str(UUID(int=701)),
                  "group_external_id": "g-9", "group_name": "Toppings", "name": "Extra cheese", "price": 3000},
                 {"id": str(UUID(int=602)), "external_id": None, "group_id": str(UUID(int=701)),
                  "group_external_id": None, "group_name": "Toppings", "name": "Jalapenos", "price": 2000}],
             "taxes": [{**CGST, "amount": 2250}, {**SGST, "amount": 2250}]}
    lassi = {"id": str(UUID(int=102)), "menu_item_id": str(LASSI), "name": "Sweet Lassi", "unit_price": 8000,
             "quantity": 2, "line_total": 16000, "notes": None}
    order = make_order(items=[pizza, lassi], subtotal=106000, tax=5300, tip=0, discount=0, total=111300)

    payload = save_order_payload(order, OUTLET, KOLKATA, callback_url=CALLBACK)

    first, second = details(payload, "OrderItem")
    assert (first["id"], first["price"], first["final_price"], first["quantity"]) == (
        "7765862", "450.00", "900.00", "2")
    assert (first["variation_id"], first["variation_name"]) == ("89058", "Large")
    assert first["AddonItem"]["details"] == [
        {"id": "a-1", "name": "Extra cheese", "group_name": "Toppings", "price": "30.00", "group_id": "g-9",
         "quantity": "1"},
        {"id": str(UUID(int=602)), "name": "Jalapenos", "group_name": "Toppings", "price": "20.00",
         "group_id": str(UUID(int=701)), "quantity": "1"}]
    assert first["item_tax"] == [{"id": "11213", "name": "CGST", "amount": "22.50"},
                                 {"id": "20375", "name": "SGST", "amount": "22.50"}]
    assert (second["item_tax"], second["variation_id"], second["AddonItem"]) == ([], "", {"details": []})
    assert details(payload, "Tax") == [
        {"id": "11213", "title": "CGST", "type": "P", "price": "2.5", "tax": "22.50", "restaurant_liable_amt": "0.00"},
        {"id": "20375", "title": "SGST", "type": "P", "price": "2.5", "tax": "22.50", "restaurant_liable_amt": "0.00"}]
    # Every Tax entry names a PetPooja tax; the lassi's 8.00 at the restaurant's rate is in tax_total only.
    assert all(t["id"] for t in details(payload, "Tax"))
    assert details(payload, "Order")["tax_total"] == "53.00"
    assert sum(Decimal(t["tax"]) for t in details(payload, "Tax")) + Decimal("8.00") == Decimal("53.00")
    assert all(isinstance(v, str) for v in leaves(payload))


def test_a_tax_shared_by_lines_is_summed_into_one_entry() -> None:
    lines = [
        {"menu_item_id": str(PANEER), "name": "Paneer Tikka", "unit_price": 25000, "quantity": 1,
         "line_total": 25000, "notes": None, "taxes": [{**CGST, "amount": 625}]},
        {"menu_item_id": str(LASSI), "name": "Sweet Lassi", "unit_price": 8000, "quantity": 1,
         "line_total": 8000, "notes": None, "taxes": [{**CGST, "amount": 200}]},
    ]
    order = make_order(items=lines, subtotal=33000, tax=825, tip=0, discount=0, total=33825)
    payload = save_order_payload(order, OUTLET, KOLKATA, callback_url=CALLBACK)
    assert details(payload, "Tax") == [
        {"id": "11213", "title": "CGST", "type": "P", "price": "2.5", "tax": "8.25", "restaurant_liable_amt": "0.00"}]


@pytest.mark.parametrize(("bps", "expected"), [(250, "2.5"), (500, "5"), (1000, "10"), (1800, "18"), (0, "0"),
                                               (1234, "12.34")])
def test_tax_rates_are_percent_strings(bps: int, expected: str) -> None:
    assert rate(bps) == expected


def test_an_order_without_lines_maps_to_no_items() -> None:
    payload = save_order_payload(make_order(items=None), OUTLET, KOLKATA, callback_url=CALLBACK)
    assert details(payload, "OrderItem") == []


@pytest.mark.parametrize(("minor", "currency", "expected"), [
    (12345, "INR", "123.45"),
    (0, "INR", "0.00"),
    (5, "INR", "0.05"),
    (-250, "INR", "-2.50"),
    (1234, "JPY", "1234"),
    (1234, "jpy", "1234"),
    (1234, "KWD", "1.234"),
    (5, "BHD", "0.005"),
    (1999, "XYZ", "19.99"),
    (123456789012345678, "INR", "1234567890123456.78"),
    (10**30 + 1, "INR", "10000000000000000000000000000.01"),
])
def test_minor_units_become_exact_major_unit_strings(minor: int, currency: str, expected: str) -> None:
    assert money(minor, currency) == expected


def test_money_never_drifts_like_floats_do() -> None:
    # 0.1 + 0.2 in floats is 0.30000000000000004; summed minor units stay exact.
    assert money(10 + 20, "INR") == "0.30"
    assert all(money(n, "INR") == f"{n // 100}.{n % 100:02d}" for n in range(0, 100_000, 7))


@pytest.mark.parametrize("bad", [12.5, 12.0, True, "1250"])
def test_money_refuses_anything_but_integer_minor_units(bad: Any) -> None:
    with pytest.raises(TypeError):
        money(bad, "INR")


def test_created_on_is_kolkata_wall_time_on_the_next_day_across_midnight_utc() -> None:
    payload = save_order_payload(make_order(created_at=datetime(2026, 3, 31, 19, 0, 5, tzinfo=UTC)),
                                 OUTLET, KOLKATA, callback_url=CALLBACK)

    order = details(payload, "Order")
    assert order["created_on"] == "2026-04-01 00:30:05"
    assert (order["preorder_date"], order["preorder_time"]) == ("2026-04-01", "00:30:05")


def test_created_on_is_the_same_local_time_whatever_offset_the_row_carries() -> None:
    moment = datetime(2026, 11, 22, 20, 0, tzinfo=UTC)
    in_new_york = moment.astimezone(timezone(timedelta(hours=-5)))
    first = save_order_payload(make_order(created_at=moment), OUTLET, KOLKATA, callback_url=CALLBACK)
    second = save_order_payload(make_order(created_at=in_new_york), OUTLET, KOLKATA, callback_url=CALLBACK)

    assert details(first, "Order")["created_on"] == details(second, "Order")["created_on"] == "2026-11-23 01:30:00"


def test_a_naive_creation_time_is_refused_rather_than_guessed() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        save_order_payload(make_order(created_at=datetime(2026, 11, 22, 8, 0)), OUTLET, KOLKATA,
                           callback_url=CALLBACK)


@pytest.mark.parametrize("order_type", ["dine_in", "takeaway", "delivery"])
def test_every_value_in_the_body_is_a_string(order_type: str) -> None:
    payload = save_order_payload(make_order(order_type=order_type), OUTLET, KOLKATA, callback_url=CALLBACK)

    values = leaves(payload)
    assert values
    assert all(isinstance(value, str) for value in values), [v for v in values if not isinstance(v, str)]


def test_the_same_order_maps_to_byte_identical_json_so_a_resend_is_harmless() -> None:
    first = json.dumps(save_order_payload(make_order(), OUTLET, KOLKATA, callback_url=CALLBACK))
    # The resend reads the row again: a fresh mapping whose columns may come back in another order.
    reread = dict(reversed(list(make_order().items())))
    resent = json.dumps(save_order_payload(reread, OUTLET, KOLKATA, callback_url=CALLBACK))

    assert first.encode() == resent.encode()


def test_a_cancellation_is_update_order_status_minus_one_with_our_id_and_reason() -> None:
    assert cancel_payload(ORDER_ID, OUTLET, reason="Guest left", petpooja_order_id="8812") == {
        "restID": "xk91ab",
        "orderID": "8812", "clientorderID": str(ORDER_ID), "cancelReason": "Guest left", "status": "-1"}
    assert cancel_payload(ORDER_ID, OUTLET, reason="Out of stock")["orderID"] == ""


def test_success_with_an_order_id_is_delivered_with_petpoojas_order_id() -> None:
    body = {"success": "1", "message": "Your order is saved.", "restID": "xk91ab",
            "clientOrderID": str(ORDER_ID), "orderID": "8812"}
    assert classify_response(200, json.dumps(body).encode()) == Delivered("8812")


def test_success_with_a_blank_or_missing_order_id_is_still_delivered() -> None:
    assert classify_response(200, {"success": "1", "message": "ok", "orderID": ""}) == Delivered("")
    assert classify_response(200, '{"success": "1"}') == Delivered("")


def test_a_400_validation_failure_is_given_up_with_its_code_message_and_errors() -> None:
    body = {"success": "0", "message": "Validation failed", "errorCode": "SO_105",
            "validation_errors": {"Order.details.total": ["total does not add up"]}}

    outcome = classify_response(400, json.dumps(body))

    assert outcome == GiveUp('PetPooja rejected it: errorCode=SO_105 message=Validation failed '
                             'validation_errors={"Order.details.total": ["total does not add up"]}')


def test_a_400_without_a_readable_body_is_still_given_up() -> None:
    assert classify_response(400, b"<html>Bad Request</html>") == GiveUp(
        "PetPooja rejected it: errorCode=- message=- validation_errors=null")


def test_a_200_with_success_zero_is_given_up_not_retried() -> None:
    outcome = classify_response(200, {"success": "0", "errorCode": "SO_106", "message": "Invalid restID"})
    assert outcome == GiveUp("PetPooja rejected it: errorCode=SO_106 message=Invalid restID validation_errors=null")


@pytest.mark.parametrize("status", [500, 502, 503, 504, 429])
def test_server_errors_and_throttling_are_retried_whatever_the_body(status: int) -> None:
    outcome = classify_response(status, {"success": "0", "errorCode": "SO_105"})
    assert outcome == Retry(f"HTTP {status}")


@pytest.mark.parametrize("body", [b"upstream connect error", b"\xff\xfe", "", None, b"[1, 2]", "\"1\""])
def test_a_200_whose_body_is_not_a_json_object_is_retried(body: Any) -> None:
    assert isinstance(classify_response(200, body), Retry)


@pytest.mark.parametrize("body", [{}, {"message": "ok"}, {"success": "yes"}, {"success": True}, {"status": "1"}])
def test_a_200_with_an_unexpected_shape_is_retried_never_taken_for_delivered(body: dict[str, Any]) -> None:
    assert isinstance(classify_response(200, body), Retry)


@pytest.mark.parametrize("status", [301, 401, 403, 404])
def test_other_unexpected_statuses_are_retried(status: int) -> None:
    assert classify_response(status, {"success": "1", "orderID": "1"}) == Retry(f"HTTP {status}")


def test_petpoojas_answers_holding_nul_are_kept_escaped_so_postgres_can_store_them() -> None:
    """The worker stores PetPooja's answers (jsonb), its order id and error words (text): a NUL or lone surrogate
    in them is escaped, never stored raw (PostgreSQL refuses both) and never stops the worker."""
    rejected = json.dumps({"success": "0", "errorCode": "SO\u0000106", "message": "bad\u0000",
                           "validation_errors": {"name\u0000": "x"}}).encode()
    accepted = json.dumps({"success": "1", "orderID": "26\u0000", "message": "\ud800"}).encode()
    for body in (rejected, accepted, b"\xff\x00not json"):
        stored = storable_answer(body)
        assert first_unstorable(stored) is None
        assert "\x00" not in answer_excerpt(body)
    assert storable_answer(b'{"success": "1", "orderID": "26"}') == {"success": "1", "orderID": "26"}
    outcome = classify_response(400, rejected)
    assert isinstance(outcome, GiveUp) and "\x00" not in outcome.error and "SO\\x00106" in outcome.error
    delivered = classify_response(200, accepted)
    assert delivered == Delivered("26\\x00")
