"""Voice ordering through Vapi's server URL (docs/voice.md): the provider's configuration, a
recorded call replayed through the real app (one order, the server's total, a retried tool call
placing nothing more, a second replay changing nothing), and every way in that must write
nothing: no or a wrong secret, bodies that are not Vapi's, tool arguments out of bounds,
another restaurant's items, unavailable items, an unconfirmed quote; a caller sees only their
own orders; owners and managers read the calls."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Callable
from copy import deepcopy
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from api.app import create_app
from api.config import Settings
from providers.config import ProviderConfigError
from providers.factory import Providers, build_providers
from providers.voice import DEV_SERVER_SECRET, VoiceSettings, load
from scripts.seed import seed
from tests.conftest import REAL_PROVIDERS, MakeRestaurant, User, expect, overrides

SECRET = "test-vapi-server-secret-0123456789"
FIXTURE = Path(__file__).parent / "fixtures" / "vapi" / "call_order.json"
Sql = Callable[..., list[dict[str, Any]]]


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[Starlette]:
    providers = Providers(voice=VoiceSettings(server_secret=SECRET))
    application = create_app(settings, providers=providers)
    async with application.router.lifespan_context(application):
        yield application


HEADERS = {"X-Vapi-Secret": SECRET, "Content-Type": "application/json"}


def url(restaurant_id: str) -> str:
    return f"/api/voice/vapi/{restaurant_id}"


def tool_message(*calls: tuple[str, str, Any], call_id: str = "call-1", caller: str | None = "+919800000001",
                 ) -> dict[str, Any]:
    """A tool-calls message as Vapi's server SDK shapes it (arguments a JSON string)."""
    customer = {"number": caller} if caller else {}
    tool_calls = [{"id": i, "type": "function",
                   "function": {"name": n, "arguments": a if isinstance(a, str) else json.dumps(a)}}
                  for i, n, a in calls]
    return {"message": {"type": "tool-calls", "timestamp": 1764853200000, "toolCallList": tool_calls,
                        "toolWithToolCallList": [{"type": "function", "toolCall": t} for t in tool_calls],
                        "customer": customer,
                        "call": {"id": call_id, "orgId": "org-1", "type": "inboundPhoneCall", "customer": customer}}}


async def tool(client: httpx.AsyncClient, restaurant_id: str, name: str, args: Any, **kw: Any) -> dict[str, Any]:
    """One tool call's result entry."""
    body = expect(await client.post(url(restaurant_id), headers=HEADERS,
                                    content=json.dumps(tool_message(("tc-1", name, args), **kw))), 200)
    assert [r["toolCallId"] for r in body["results"]] == ["tc-1"]
    result: dict[str, Any] = body["results"][0]
    return result


def counts(db_sql: Sql) -> dict[str, int]:
    row = db_sql("SELECT (SELECT count(*) FROM orders) AS orders, (SELECT count(*) FROM order_events) AS events, "
                 "(SELECT count(*) FROM idempotency_keys) AS keys, (SELECT count(*) FROM voice_orders) AS links, "
                 "(SELECT count(*) FROM voice_calls) AS calls, (SELECT count(*) FROM sync_log) AS outbox")[0]
    return {k: int(v) for k, v in row.items()}


async def quoted_and_placed(client: httpx.AsyncClient, restaurant_id: str, order: dict[str, Any],
                            **kw: Any) -> dict[str, Any]:
    quote = await tool(client, restaurant_id, "quote_order", order, **kw)
    assert "result" in quote, quote
    return await tool(client, restaurant_id, "place_order", {**order, "quote_id": quote["metadata"]["quote_id"]},
                      **kw)


# ---------------------------------------------------------------- configuration


async def test_development_and_test_run_on_a_published_default_secret_and_production_requires_one() -> None:
    assert load({}).server_secret == DEV_SERVER_SECRET
    assert load({"ENV_MODE": "test", "VAPI_SERVER_SECRET": " mine "}).server_secret == "mine"
    assert Providers().voice.server_secret == DEV_SERVER_SECRET
    with pytest.raises(ProviderConfigError) as refused:
        build_providers({**REAL_PROVIDERS, "ENV_MODE": "production", "VAPI_SERVER_SECRET": ""})
    assert str(refused.value) == "ENV_MODE=production needs VAPI_SERVER_SECRET for Vapi"
    with pytest.raises(ProviderConfigError, match="at least 16 characters") as short:
        load({"ENV_MODE": "staging", "VAPI_SERVER_SECRET": "short-secret"})
    assert "short-secret" not in str(short.value)
    real = build_providers({**REAL_PROVIDERS, "ENV_MODE": "production", "VAPI_SERVER_SECRET": SECRET})
    assert real.voice.server_secret == SECRET and SECRET not in repr(real)
    await real.close()


def test_the_tool_budget_and_body_cap_are_numbers_within_vapis_limits() -> None:
    assert load({"VAPI_TOOL_BUDGET_S": "5", "VAPI_MAX_BODY_BYTES": "200000"}) == VoiceSettings(
        DEV_SERVER_SECRET, 5.0, 200000)
    for name, value in (("VAPI_TOOL_BUDGET_S", "25"), ("VAPI_TOOL_BUDGET_S", "soon"), ("VAPI_MAX_BODY_BYTES", "10")):
        with pytest.raises(ProviderConfigError, match=name):
            load({name: value})


# ---------------------------------------------------------------- the recorded call


def _fill(value: Any, captured: dict[str, str]) -> Any:
    """``value`` with every ${name} replaced by what was captured (in JSON-string arguments too)."""
    if isinstance(value, str):
        return re.sub(r"\$\{(\w+)\}", lambda m: captured[m.group(1)], value)
    if isinstance(value, list):
        return [_fill(v, captured) for v in value]
    if isinstance(value, dict):
        return {k: _fill(v, captured) for k, v in value.items()}
    return value


def _path(data: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        data = data[int(part)] if isinstance(data, list) else data[part]
    return data


async def replay(client: httpx.AsyncClient, fixture: dict[str, Any]) -> list[dict[str, Any]]:
    captured: dict[str, str] = {}
    answers = []
    for step in fixture["steps"]:
        response = await client.post(fixture["path"], headers=HEADERS,
                                     content=json.dumps(_fill(step["request"], captured)))
        want = step["expect"]
        body = expect(response, want["status"])
        if "body" in want:
            assert body == want["body"], step["note"]
        else:
            for name, dotted in step.get("capture", {}).items():
                captured[name] = _path(body, dotted)
            got = [{k: v for k, v in r.items() if k != "metadata"} for r in body["results"]]
            assert got == _fill(want["results"], captured), step["note"]
        answers.append(body)
    return answers


async def test_a_recorded_call_places_exactly_one_order_priced_by_the_server_and_a_replay_changes_nothing(
    client: httpx.AsyncClient, loopback_api: str, db_sql: Sql, owner_of_demo: User,
) -> None:
    """The call arrives over real HTTP (uvicorn on a loopback port), as Vapi would send it; the
    second replay goes through the ASGI client."""
    fixture = json.loads(FIXTURE.read_text())
    async with httpx.AsyncClient(base_url=loopback_api) as network:
        first = await replay(network, fixture)
    want = fixture["order"]
    orders = db_sql("SELECT * FROM orders")
    assert len(orders) == 1
    order = orders[0]
    assert (order["order_type"], order["status"], order["customer_name"], order["customer_phone"]) == (
        want["order_type"], "pending", want["customer_name"], want["customer_phone"])
    assert (order["subtotal"], order["tax"], order["total"], order["currency"]) == (
        want["subtotal"], want["tax"], want["total"], want["currency"])
    lines = db_sql("SELECT name, quantity, unit_price, line_total FROM order_items ORDER BY position")
    assert [[r["name"], r["quantity"], r["unit_price"], r["line_total"]] for r in lines] == want["lines"]
    events = db_sql("SELECT actor_type, to_status FROM order_events")
    assert [(e["actor_type"], e["to_status"]) for e in events] == [("voice", "pending")]
    assert [r["call_id"] for r in db_sql("SELECT call_id FROM voice_orders")] == [fixture["call_id"]]
    # The retried tool call answered what the first one did, and said it was a replay.
    placed = [a for step, a in zip(fixture["steps"], first, strict=True)
              if [t["function"]["name"] for t in step["request"]["message"].get("toolCallList", [])] == ["place_order"]]
    assert len(placed) == 2 and placed[0]["results"][0]["result"] == placed[1]["results"][0]["result"]

    before = counts(db_sql)
    await replay(client, fixture)  # Vapi (or a test harness) sending the whole call again
    assert counts(db_sql) == before

    # The owner reads the call: its report and the order it placed.
    calls = expect(await client.get(f"/api/restaurants/{fixture['restaurant_id']}/voice/calls",
                                    headers=owner_of_demo.headers), 200)
    assert len(calls["items"]) == 1
    report = calls["items"][0]
    assert report["call_id"] == fixture["call_id"] and report["ended_reason"] == "customer-ended-call"
    assert report["order_ids"] == [str(order["id"])] and report["cost_usd"] == 0.1234
    assert report["summary"].startswith("Asha ordered two Masala Chai")
    assert report["transcript"].startswith("AI: Hello, Demo Bistro") and not report["transcript_truncated"]


@pytest.fixture
async def owner_of_demo(client: httpx.AsyncClient, app_conninfo: str) -> User:
    """The seeded demo restaurant (scripts/seed.py), and its owner signed in."""
    from scripts.seed import DEMO_PASSWORD

    await seed(app_conninfo)
    tokens = expect(await client.post("/api/auth/login", json={"email": "owner@demo.tabletop",
                                                               "password": DEMO_PASSWORD}), 200)
    return User("", "owner@demo.tabletop", DEMO_PASSWORD, tokens["access_token"], tokens["refresh_token"])


# ---------------------------------------------------------------- ordering


async def test_an_order_by_name_is_quoted_then_placed_as_a_takeaway_through_the_order_path(
    client: httpx.AsyncClient, make_restaurant: MakeRestaurant, db_sql: Sql,
) -> None:
    r = await make_restaurant()
    order = {"items": [{"name": "paneer tika", "quantity": 2, "notes": "extra mint"}, {"name": "dal", "quantity": 1}],
             "customer_name": "Ravi", "customer_phone": "+91 98000 00002", "pickup_in_minutes": 30}
    quote = await tool(client, r.id, "quote_order", order)
    assert quote["result"].startswith("2 Paneer Tikka and 1 Dal Makhani come to 714.53 rupees including tax, "
                                      "for pickup at ")
    assert counts(db_sql)["orders"] == 0  # a quote writes nothing
    placed = await tool(client, r.id, "place_order", {**order, "quote_id": quote["metadata"]["quote_id"]})
    assert placed["result"].startswith("Order number 1 is placed: 714.53 rupees to pay at pickup, ready at ")
    order_id = placed["metadata"]["order_id"]
    seen = expect(await client.get(r.url(f"/orders/{order_id}"), headers=r.owner.headers), 200)
    assert (seen["order_type"], seen["total"], seen["customer_phone"]) == ("takeaway", 71453, "+91 98000 00002")
    assert [(i["name"], i["quantity"], i["notes"]) for i in seen["items"]] == [
        ("Paneer Tikka", 2, "extra mint"), ("Dal Makhani", 1, None)]
    assert seen["pickup_at"] is not None
    # The kitchen moves it like any order.
    expect(await client.post(r.url(f"/orders/{order_id}/status"), headers=r.owner.headers,
                             json={"status": "confirmed"}), 200)
    status = await tool(client, r.id, "order_status", {"order_number": 1})
    assert status["result"].startswith("Order number 1 is confirmed, pickup at ")


async def test_placing_the_same_order_again_in_one_call_returns_the_first_and_another_call_places_its_own(
    client: httpx.AsyncClient, make_restaurant: MakeRestaurant, db_sql: Sql,
) -> None:
    r = await make_restaurant()
    order = {"items": [{"name": "Dal Makhani", "quantity": 1}], "customer_name": "Ravi"}
    first = await quoted_and_placed(client, r.id, order)
    again = await quoted_and_placed(client, r.id, order)  # a new tool call id for the same order (the model asked twice)
    assert again["metadata"]["order_id"] == first["metadata"]["order_id"] and again["metadata"]["replayed"] is True
    other = await quoted_and_placed(client, r.id, order, call_id="call-2")
    assert other["metadata"]["order_id"] != first["metadata"]["order_id"]
    assert counts(db_sql)["orders"] == 2


async def test_an_order_not_quoted_or_changed_since_its_quote_is_refused_and_nothing_is_written(
    client: httpx.AsyncClient, make_restaurant: MakeRestaurant, db_sql: Sql,
) -> None:
    r = await make_restaurant()
    order = {"items": [{"name": "Dal Makhani", "quantity": 1}], "customer_name": "Ravi"}
    quote = await tool(client, r.id, "quote_order", order)
    assert re.fullmatch(r"1 Dal Makhani comes to 189\.53 rupees including tax\. Shall I place the order\? "
                        r"\(quote_id [0-9a-f]{16}: for place_order, not to be read out\)", quote["result"]), quote
    before = counts(db_sql)
    for args in ({**order, "quote_id": "0" * 16},
                 {**order, "items": [{"name": "Dal Makhani", "quantity": 3}], "quote_id": quote["metadata"]["quote_id"]},
                 {**order, "quote_id": quote["metadata"]["quote_id"]} | {"customer_name": "Somebody Else"}):
        answer = await tool(client, r.id, "place_order", args)
        assert answer["error"].startswith("That is not the order I quoted")
    answer = await tool(client, r.id, "place_order", {**order, "quote_id": quote["metadata"]["quote_id"]},
                        call_id="another-call")  # a quote is good for its own call only
    assert answer["error"].startswith("That is not the order I quoted")
    assert counts(db_sql) == before


async def test_ambiguous_unknown_unavailable_and_other_restaurants_items_are_asked_about_and_nothing_is_written(
    client: httpx.AsyncClient, make_restaurant: MakeRestaurant, db_sql: Sql,
) -> None:
    r, other = await make_restaurant(), await make_restaurant()
    expect(await client.post(r.url("/menu/items"), headers=r.owner.headers, json={
        "category_id": r.category_id, "name": "Paneer Butter Masala", "price": 26000}), 201)
    assert (await tool(client, r.id, "search_menu", {"query": "paneer"}))["error"] == (
        "Which one: Paneer Butter Masala (260.00 rupees) or Paneer Tikka (250.00 rupees)?")
    assert (await tool(client, r.id, "search_menu", {"query": "pizza"}))["error"] == (
        'Nothing on the menu sounds like "pizza".')
    assert (await tool(client, r.id, "search_menu", {"query": "seasonal special"}))["error"] == (
        "Seasonal Special is not available right now.")
    before = counts(db_sql)
    refusals = {
        "paneer": 'For "paneer", which one: Paneer Butter Masala or Paneer Tikka?',
        "pizza": 'Nothing on the menu sounds like "pizza".',
        "Seasonal Special": "Seasonal Special is not available right now.",
    }
    for name, said in refusals.items():
        for tool_name in ("quote_order", "place_order"):
            args: dict[str, Any] = {"items": [{"name": "Dal Makhani", "quantity": 1}, {"name": name, "quantity": 1}],
                                    "customer_name": "Ravi"}
            if tool_name == "place_order":
                args["quote_id"] = "0" * 16
            assert (await tool(client, r.id, tool_name, args))["error"] == said
    # Another restaurant's item by id: not on this menu, whatever the id.
    theirs = other.items["Dal Makhani"]["id"]
    for tool_name, extra in (("quote_order", {}), ("place_order", {"quote_id": "0" * 16})):
        answer = await tool(client, r.id, tool_name, {"items": [{"item_id": theirs, "quantity": 1}],
                                                      "customer_name": "Ravi", **extra})
        assert answer["error"] == "One of the items is not on this restaurant's menu; search for it by name."
    assert counts(db_sql) == before


@pytest.mark.parametrize(("arguments", "complaint"), [
    ('{"items": [{"name": "Dal Makhani", "quantity": 100}], "customer_name": "Ravi"}',
     "items.0.quantity: Input should be less than or equal to 99"),
    ('{"items": [{"name": "Dal Makhani", "quantity": 1000000000000}], "customer_name": "Ravi"}',
     "items.0.quantity: Input should be less than or equal to 99"),
    ('{"items": [{"name": "Dal Makhani", "quantity": 0}], "customer_name": "Ravi"}',
     "items.0.quantity: Input should be greater than or equal to 1"),
    ('{"items": [{"name": "Dal Makhani", "quantity": "2"}], "customer_name": "Ravi"}',
     "items.0.quantity: Input should be a valid integer"),
    ('{"items": [{"name": "Dal Makhani", "quantity": 1}], "customer_name": "Ra\\u0000vi"}',
     "customer_name: must be one line of text without control characters"),
    ('{"items": [{"name": "Dal\\u0000", "quantity": 1}], "customer_name": "Ravi"}',
     "items.0.name: must be one line of text without control characters"),
    ('{"items": [{"quantity": 1}], "customer_name": "Ravi"}', "items.0: Value error, each item needs its name"),
    ('{"items": [], "customer_name": "Ravi"}', "items: List should have at least 1 item"),
    ('{"items": [{"name": "Dal Makhani", "quantity": 1}]}', "customer_name: Field required"),
    ('{"items": [{"name": "Dal Makhani", "quantity": 1}], "customer_name": "Ravi", "pickup_in_minutes": -5}',
     "pickup_in_minutes: Input should be greater than or equal to 0"),
    ('{"items": "Dal Makhani", "customer_name": "Ravi"}', "items: Input should be a valid array"),
    ('{"items": [{"name": "Dal Makhani", "quantity": 1}', "The arguments are not valid JSON."),
    ('["Dal Makhani"]', "The arguments must be a JSON object."),
    ("x" * 20000, "The arguments are too long."),
])
async def test_tool_arguments_out_of_bounds_are_answered_as_the_tools_error_and_nothing_is_written(
    client: httpx.AsyncClient, make_restaurant: MakeRestaurant, db_sql: Sql, arguments: str, complaint: str,
) -> None:
    r = await make_restaurant()
    before = counts(db_sql)
    for name in ("quote_order", "place_order"):
        answer = await tool(client, r.id, name, arguments)
        assert complaint in answer["error"], answer
        assert "result" not in answer
    assert counts(db_sql) == before


async def test_a_closed_store_refuses_a_phone_order_as_it_refuses_a_guests(
    client: httpx.AsyncClient, make_restaurant: MakeRestaurant, db_sql: Sql,
) -> None:
    r = await make_restaurant()
    order = {"items": [{"name": "Dal Makhani", "quantity": 1}], "customer_name": "Ravi"}
    quote = await tool(client, r.id, "quote_order", order)
    db_sql("UPDATE restaurants SET accepting_orders = false WHERE id = %s", (r.id,))
    answer = await tool(client, r.id, "place_order", {**order, "quote_id": quote["metadata"]["quote_id"]})
    assert answer["error"] == "The restaurant is not taking orders right now."
    assert answer["metadata"] == {"code": "store_closed"}
    assert counts(db_sql)["orders"] == 0


async def test_order_status_tells_a_caller_about_their_own_orders_at_this_restaurant_only(
    client: httpx.AsyncClient, make_restaurant: MakeRestaurant, db_sql: Sql,
) -> None:
    r, other = await make_restaurant(), await make_restaurant()
    order = {"items": [{"name": "Dal Makhani", "quantity": 1}], "customer_name": "Ravi"}
    mine = await quoted_and_placed(client, r.id, order, call_id="call-a", caller="+919800000001")
    theirs = await quoted_and_placed(client, r.id, order, call_id="call-b", caller="+919800000009")
    mine_id, theirs_id = mine["metadata"]["order_id"], theirs["metadata"]["order_id"]

    said = await tool(client, r.id, "order_status", {}, call_id="call-a", caller="+919800000001")
    assert said["result"] == "Order number 1 is waiting for the restaurant."
    # A later call from the same number finds it; a call from another number does not, even by id.
    later = await tool(client, r.id, "order_status", {"order_id": mine_id}, call_id="call-c", caller="+919800000001")
    assert later["metadata"]["orders"] == [{"order_id": mine_id, "number": 1, "status": "pending"}]
    for args in ({"order_id": mine_id}, {"order_number": 1}, {}):
        stranger = await tool(client, r.id, "order_status", args, call_id="call-d", caller="+919800000005")
        assert stranger["error"] == "I cannot find an order placed from this call or this phone number."
    hidden = await tool(client, r.id, "order_status", {"order_id": theirs_id}, call_id="call-a",
                        caller="+919800000001")
    assert "error" in hidden
    # Another restaurant's server URL knows nothing of it, same caller or not.
    elsewhere = await tool(client, other.id, "order_status", {"order_id": mine_id}, call_id="call-a",
                           caller="+919800000001")
    assert "error" in elsewhere
    # A web call has no number: only its own call's orders.
    web = await tool(client, r.id, "order_status", {}, call_id="call-e", caller=None)
    assert "error" in web


# ---------------------------------------------------------------- the envelope


async def test_no_or_a_wrong_secret_is_refused_before_anything_is_read_or_written(
    client: httpx.AsyncClient, make_restaurant: MakeRestaurant, db_sql: Sql,
) -> None:
    r = await make_restaurant()
    order = {"items": [{"name": "Dal Makhani", "quantity": 1}], "customer_name": "Ravi"}
    quote = await tool(client, r.id, "quote_order", order)
    place = json.dumps(tool_message(("tc-1", "place_order", {**order, "quote_id": quote["metadata"]["quote_id"]})))
    report = json.dumps({"message": {"type": "end-of-call-report", "endedReason": "customer-ended-call",
                                     "call": {"id": "call-1"}, "artifact": {}, "analysis": {}}})
    before = counts(db_sql)
    for headers in ({}, {"X-Vapi-Secret": ""}, {"X-Vapi-Secret": SECRET[:-1]}, {"X-Vapi-Secret": SECRET + "x"},
                    {"Authorization": f"Basic {SECRET}"}, {"Authorization": "Bearer "},
                    {"X-Vapi-Secret": DEV_SERVER_SECRET}, {"x-vapi-secret": SECRET.upper()}):
        for body in (place, report, "not even json"):
            refused = await client.post(url(r.id), headers=headers, content=body)
            problem = expect(refused, 401)
            assert problem["code"] == "invalid_secret" and SECRET not in refused.text
    assert counts(db_sql) == before
    # The bearer form of Vapi's credential is the secret too.
    expect(await client.post(url(r.id), headers={"Authorization": f"Bearer {SECRET}"}, content=report), 200)
    assert counts(db_sql)["calls"] == before["calls"] + 1


@pytest.mark.parametrize(("body", "status", "code"), [
    (b"{not json", 400, "malformed_json"),
    (b"\x00\xff", 400, "malformed_json"),
    (b"[]", 400, "invalid_message"),
    (b'{"type": "tool-calls"}', 400, "invalid_message"),
    (b'{"message": {"type": 42}}', 400, "invalid_message"),
    (b'{"message": {"type": "no-such-message"}}', 400, "unknown_message_type"),
    (b'{"message": {"type": "knowledge-base-request", "call": {"id": "c"}}}', 400, "unsupported_message"),
    (b'{"message": {"type": "tool-calls", "call": {"id": "c"}}}', 400, "invalid_message"),
    (b'{"message": {"type": "tool-calls", "toolCallList": [{"id": "t", "function": {"name": "search_menu"}}]}}',
     400, "invalid_message"),
    (b'{"message": {"type": "tool-calls", "call": {"id": "c\\u0000"}, "toolCallList": '
     b'[{"id": "t", "function": {"name": "search_menu"}}]}}', 400, "invalid_message"),
    (b'{"message": {"type": "tool-calls", "call": {"id": "c"}, "toolCallList": [{"id": "t", "function": {}}]}}',
     400, "invalid_message"),
    (b'{"message": {"type": "tool-calls", "call": {"id": "c"}, "toolCallList": [{"id": "t"}]}}',
     400, "invalid_message"),
    (b'{"message": {"type": "end-of-call-report", "call": {"id": "c"}}}', 400, "invalid_message"),
    (b'{"message": {"type": "end-of-call-report", "call": {"id": "c"}, "endedReason": "x", "cost": -1}}',
     400, "invalid_message"),
    (b'{"message": {"type": "end-of-call-report", "call": {"id": "c"}, "endedReason": "x", "cost": 1e400}}',
     400, "malformed_json"),
    (b'{"message": {"type": "end-of-call-report", "call": {"id": "c"}, "endedReason": "bad\\nreason"}}',
     400, "invalid_message"),
    (b'{"message": {"type": "end-of-call-report", "endedReason": "hangup"}}', 400, "invalid_message"),
])
async def test_a_body_that_is_not_a_vapi_message_we_serve_is_a_4xx_and_writes_nothing(
    client: httpx.AsyncClient, make_restaurant: MakeRestaurant, db_sql: Sql, body: bytes, status: int, code: str,
) -> None:
    r = await make_restaurant()
    before = counts(db_sql)
    problem = expect(await client.post(url(r.id), headers=HEADERS, content=body), status)
    assert problem["code"] == code, problem
    assert counts(db_sql) == before


async def test_too_many_tool_calls_a_huge_body_and_an_unknown_restaurant_are_refused(
    client: httpx.AsyncClient, make_restaurant: MakeRestaurant, db_sql: Sql,
) -> None:
    r = await make_restaurant()
    many = tool_message(*[(f"tc-{n}", "search_menu", {"query": "dal"}) for n in range(11)])
    assert expect(await client.post(url(r.id), headers=HEADERS, json=many), 400)["code"] == "invalid_message"
    huge = tool_message(("tc-1", "search_menu", {"query": "dal"}))
    huge["message"]["artifact"] = {"messages": [{"role": "user", "message": "x" * 1000}] * 1100}
    assert expect(await client.post(url(r.id), headers=HEADERS, json=huge), 413)["code"] == "payload_too_large"
    # A tool-calls message whose later call is malformed runs none of them.
    order = {"items": [{"name": "Dal Makhani", "quantity": 1}], "customer_name": "Ravi"}
    quote = await tool(client, r.id, "quote_order", order)
    mixed = tool_message(("tc-1", "place_order", {**order, "quote_id": quote["metadata"]["quote_id"]}))
    mixed["message"]["toolCallList"].append({"id": "tc-2", "type": "function"})
    before = counts(db_sql)
    assert expect(await client.post(url(r.id), headers=HEADERS, json=mixed), 400)["code"] == "invalid_message"
    unknown = "6f1c2d3e-4b5a-4978-8695-a4b3c2d1e0f9"
    for message in (tool_message(("tc-1", "search_menu", {"query": "dal"})),
                    {"message": {"type": "status-update", "status": "in-progress", "call": {"id": "c"}}},
                    {"message": {"type": "end-of-call-report", "endedReason": "hangup", "call": {"id": "c"}}}):
        assert expect(await client.post(url(unknown), headers=HEADERS, json=message), 404)["code"] == "not_found"
    assert counts(db_sql) == before


async def test_informational_messages_are_accepted_and_an_unknown_tool_is_the_tools_error(
    client: httpx.AsyncClient, make_restaurant: MakeRestaurant, db_sql: Sql,
) -> None:
    r = await make_restaurant()
    before = counts(db_sql)
    for kind in ("status-update", "conversation-update", "speech-update", "hang", "transcript",
                 'transcript[transcriptType="final"]', "user-interrupted"):
        assert expect(await client.post(url(r.id), headers=HEADERS,
                                        json={"message": {"type": kind, "status": "ringing"}}), 200) == {}
    spoken = expect(await client.post(url(r.id), headers=HEADERS,
                                      json={"message": {"type": "assistant-request", "call": {"id": "c"}}}), 200)
    assert spoken == {"error": "Sorry, ordering by phone is not set up for this number yet."}
    answer = await tool(client, r.id, "transfer_money", {"amount": 5})
    assert answer == {"toolCallId": "tc-1", "name": "transfer_money",
                      "error": "There is no tool named transfer_money here."}
    # Vapi's docs show the name and arguments at the top of a tool call too (an object, not a string).
    docs_shape = {"message": {"type": "tool-calls", "call": {"id": "c"}, "toolCallList": [
        {"id": "abc123", "name": "search_menu", "parameters": {"query": "dal makhani"}}]}}
    body = expect(await client.post(url(r.id), headers=HEADERS, json=docs_shape), 200)
    assert body["results"][0]["result"] == "Dal Makhani, 180.50 rupees."
    assert counts(db_sql) == before


# ---------------------------------------------------------------- end-of-call reports


async def test_end_of_call_reports_are_kept_once_capped_and_read_by_owners_and_managers_only(
    client: httpx.AsyncClient, make_restaurant: MakeRestaurant, make_member: Callable[..., Any], db_sql: Sql,
) -> None:
    r, other = await make_restaurant(), await make_restaurant()
    report = {"message": {"type": "end-of-call-report", "endedReason": "customer-ended-call", "cost": 0.05,
                          "call": {"id": "call-1"}, "startedAt": "2026-12-04T10:00:00Z", "endedAt": "2026-12-04T10:02:00Z",
                          "artifact": {"transcript": "AI: Hi\x00 there\n" + "User: " + "y" * 30000},
                          "analysis": {"summary": "A caller asked about opening hours."}}}
    for _ in range(2):  # Vapi may deliver it twice
        expect(await client.post(url(r.id), headers=HEADERS, json=report), 200)
    changed = deepcopy(report)
    changed["message"]["endedReason"] = "assistant-error"
    expect(await client.post(url(r.id), headers=HEADERS, json=changed), 200)
    rows = db_sql("SELECT * FROM voice_calls")
    assert len(rows) == 1 and rows[0]["ended_reason"] == "customer-ended-call"
    assert len(rows[0]["transcript"]) == 20000 and rows[0]["transcript_truncated"]
    assert rows[0]["transcript"].startswith("AI: Hi there\nUser: yyy")

    listed = expect(await client.get(r.url("/voice/calls"), headers=r.owner.headers), 200)
    assert [c["call_id"] for c in listed["items"]] == ["call-1"] and listed["next_cursor"] is None
    assert listed["items"][0]["order_ids"] == [] and listed["items"][0]["cost_usd"] == 0.05
    manager = await make_member(r, "manager")
    expect(await client.get(r.url("/voice/calls"), headers=manager.headers), 200)
    staff = await make_member(r, "staff")
    assert expect(await client.get(r.url("/voice/calls"), headers=staff.headers), 403)["code"] == "forbidden"
    assert expect(await client.get(r.url("/voice/calls"), headers=other.owner.headers), 404)["code"] == "not_found"
    assert expect(await client.get(other.url("/voice/calls"), headers=other.owner.headers), 200)["items"] == []


async def test_the_calls_list_pages_newest_first(
    client: httpx.AsyncClient, make_restaurant: MakeRestaurant,
) -> None:
    r = await make_restaurant()
    for n in range(3):
        expect(await client.post(url(r.id), headers=HEADERS, json={"message": {
            "type": "end-of-call-report", "endedReason": "hangup", "call": {"id": f"call-{n}"}}}), 200)
    first = expect(await client.get(r.url("/voice/calls?limit=2"), headers=r.owner.headers), 200)
    assert [c["call_id"] for c in first["items"]] == ["call-2", "call-1"]
    rest = expect(await client.get(r.url(f"/voice/calls?limit=2&cursor={first['next_cursor']}"),
                                   headers=r.owner.headers), 200)
    assert [c["call_id"] for c in rest["items"]] == ["call-0"] and rest["next_cursor"] is None
    assert expect(await client.get(r.url("/voice/calls?cursor=%%%"), headers=r.owner.headers), 422)["code"] == (
        "invalid_cursor")



@overrides(log_level="INFO")
async def test_no_log_line_carries_the_secret_or_a_callers_whole_number(
    client: httpx.AsyncClient, make_restaurant: MakeRestaurant, capsys: pytest.CaptureFixture[str],
) -> None:
    r = await make_restaurant()
    caller = "+919876501234"
    await quoted_and_placed(client, r.id, {"items": [{"name": "Dal Makhani", "quantity": 1}],
                                           "customer_name": "Ravi"}, caller=caller)
    await tool(client, r.id, "order_status", {}, caller=caller)
    wrong = SECRET[:-4] + "abcd"
    expect(await client.post(url(r.id), headers={"X-Vapi-Secret": wrong}, json={"message": {"type": "hang"}}), 401)
    out = capsys.readouterr()
    logged = out.out + out.err
    assert "voice_tool" in logged and "voice_refused" in logged
    assert "*********34" in logged  # the caller, masked but recognisable
    for secret in (SECRET, wrong, caller, caller[1:]):
        assert secret not in logged


async def test_a_read_past_the_tool_budget_is_answered_in_time_as_a_retry_and_placing_is_never_cut_short(
    settings: Settings, make_restaurant: MakeRestaurant, client: httpx.AsyncClient, db_sql: Sql,
) -> None:
    r = await make_restaurant()
    order = {"items": [{"name": "Dal Makhani", "quantity": 1}], "customer_name": "Ravi"}
    quote = await tool(client, r.id, "quote_order", order)
    hurried = create_app(settings, providers=Providers(voice=VoiceSettings(server_secret=SECRET,
                                                                            tool_budget_s=1e-9)))
    async with hurried.router.lifespan_context(hurried):
        transport = httpx.ASGITransport(app=hurried)
        async with httpx.AsyncClient(transport=transport, base_url="http://tabletop.test") as rushed:
            slow = await tool(rushed, r.id, "search_menu", {"query": "dal"})
            assert slow["error"] == "That is taking too long right now; please try again in a moment."
            placed = await tool(rushed, r.id, "place_order", {**order, "quote_id": quote["metadata"]["quote_id"]})
            assert placed["result"].startswith("Order number 1 is placed")
    assert counts(db_sql)["orders"] == 1


async def test_pickup_minutes_zero_means_as_soon_as_possible_and_past_the_horizon_is_refused(
    client: httpx.AsyncClient, make_restaurant: MakeRestaurant, db_sql: Sql,
) -> None:
    r = await make_restaurant()
    order = {"items": [{"name": "Dal Makhani", "quantity": 1}], "customer_name": "Ravi", "pickup_in_minutes": 0}
    placed = await quoted_and_placed(client, r.id, order)
    assert placed["result"] == "Order number 1 is placed: 189.53 rupees to pay at pickup."
    assert db_sql("SELECT pickup_at FROM orders") == [{"pickup_at": None}]
    too_far = await tool(client, r.id, "quote_order", {**order, "pickup_in_minutes": 7 * 24 * 60})
    assert "pickup_in_minutes: Input should be less than or equal to 10075" in too_far["error"]


def _resolved(schema: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in schema:
        return _resolved(defs[schema["$ref"].rsplit("/", 1)[-1]], defs)
    branches = [b for b in schema.get("anyOf", ()) if b.get("type") != "null"]
    return _resolved(branches[0], defs) if branches else schema


def _agrees(documented: dict[str, Any], model: dict[str, Any], defs: dict[str, Any], where: str) -> list[str]:
    """Where the schema in docs/voice.md says something the model's validation does not."""
    model = _resolved(model, defs)
    problems = [f"{where}.{k}: documented {v!r}, validated {model.get(k)!r}" for k, v in documented.items()
                if k in ("type", "minimum", "maximum", "minLength", "maxLength", "minItems", "maxItems", "format",
                         "pattern") and model.get(k) != v]
    if documented.get("type") == "object":
        if set(documented["properties"]) != set(model["properties"]) or set(documented.get("required", [])) != set(
                model.get("required", [])):
            problems.append(f"{where}: documented {sorted(documented['properties'])} required "
                            f"{documented.get('required')}, validated {sorted(model['properties'])} required "
                            f"{model.get('required')}")
        for name, field in documented["properties"].items():
            if name in model["properties"]:
                problems += _agrees(field, model["properties"][name], defs, f"{where}.{name}")
    if documented.get("type") == "array":
        problems += _agrees(documented["items"], model["items"], defs, f"{where}[]")
    return problems


def test_the_tool_schemas_an_operator_copies_from_docs_voice_md_are_what_the_server_validates() -> None:
    from api import voice

    blocks = re.findall(r"```json\n(.*?)```", (Path(__file__).parents[1] / "docs" / "voice.md").read_text(), re.S)
    tools, order = json.loads(blocks[0]), json.loads(blocks[1])
    by_name = {t["name"]: t["parameters"] for t in tools}
    assert set(by_name) == {"search_menu", "quote_order", "place_order", "order_status"}
    place = by_name["place_order"]["allOf"][1]
    models: list[tuple[str, dict[str, Any], type[Any]]] = [
        ("search_menu", by_name["search_menu"], voice.SearchMenu), ("order", order, voice.OrderRequest),
        ("order_status", by_name["order_status"], voice.OrderStatus),
        ("place_order", {**order, "required": [*order["required"], *place["required"]],
                         "properties": {**order["properties"], **place["properties"]}}, voice.PlaceOrder)]
    problems = []
    for where, documented, model in models:
        schema = model.model_json_schema()
        problems += _agrees(documented, schema, schema.get("$defs", {}), where)
    assert problems == []


async def test_an_item_with_choices_is_found_but_not_ordered_by_phone(
    client: httpx.AsyncClient, make_restaurant: MakeRestaurant, db_sql: Sql,
) -> None:
    r = await make_restaurant()
    db_sql("INSERT INTO menu_variations (restaurant_id, item_id, name, price) VALUES (%s, %s, 'Large', 30000)",
           (r.id, r.items["Paneer Tikka"]["id"]))
    found = await tool(client, r.id, "search_menu", {"query": "paneer tikka"})
    assert found["result"] == "Paneer Tikka, 250.00 rupees. It comes with choices I cannot take by phone yet."
    before = counts(db_sql)
    refused = await tool(client, r.id, "quote_order", {"items": [{"name": "Paneer Tikka", "quantity": 1}],
                                                       "customer_name": "Ravi"})
    assert refused["error"] == "Paneer Tikka comes with choices I cannot take by phone yet."
    assert counts(db_sql) == before
