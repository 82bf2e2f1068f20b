"""The published contract: /openapi.json describes exactly the routes the app serves, with
the models its handlers validate with and answers that match what they return; /docs renders
it from assets this API serves; and no text field, query or path segment takes a control
character (a NUL was a 500: issue 11, finding 6).
"""

from __future__ import annotations

import ast
import copy
import functools
import inspect
import itertools
import re
import textwrap
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from schemathesis.specs.openapi.definitions import OPENAPI_31_VALIDATOR
from starlette.applications import Starlette

from api import contract, openapi
from api.routes.docs import ASSETS, DOCS_CSP
from tests.conftest import (
    DELIVERY_ADDRESS,
    DELIVERY_POINT,
    OPERATOR_KEY,
    Guest,
    MakeRestaurant,
    Restaurant,
    User,
    expect,
    order_body,
)
from tests.contract_harness import Contract, documented_keys, served_keys

Sql = Callable[..., list[dict[str, Any]]]


async def test_every_route_is_documented_and_every_documented_operation_is_served(
    client: httpx.AsyncClient, app: Starlette
) -> None:
    document = expect(await client.get("/openapi.json"), 200)
    served, documented = served_keys(app.routes), documented_keys(document)
    assert served - documented == set(), "served but not documented"
    assert documented - served == set(), "documented but not served"
    assert set(contract.OPERATIONS) == served, "api/contract.py has an entry for every operation and no other"
    undocumented = [op["operationId"] for item in document["paths"].values() for op in item.values()
                    if op.get("x-undocumented")]
    assert undocumented == []
    operation_ids = [op["operationId"] for item in document["paths"].values() for op in item.values()]
    assert len(operation_ids) == len(set(operation_ids))


async def test_the_document_is_valid_openapi_3_1_with_every_reference_resolved(app: Starlette) -> None:
    document = openapi.build(app.routes)
    errors = [str(error) for error in OPENAPI_31_VALIDATOR.iter_errors(document)]
    assert errors == []
    refs = set(re.findall(r'"\$ref": "#/components/schemas/([^"]+)"', str(document).replace("'", '"')))
    assert refs <= set(document["components"]["schemas"])
    # pydantic writes a constraint it cannot express under its own name (a validator placed before
    # Field(ge=...) made "ge": 0 of "minimum": 0): no such keyword may reach the document.
    leaked = re.findall(r"'(ge|le|gt|lt|strict|max_length|min_length)': ", str(document["components"]))
    assert leaked == []
    assert document["openapi"] == "3.1.0"


def _reads(handler: Callable[..., Any], reader: str) -> str | None:
    """The model a handler passes to json_body or query_params, read from its source. A
    handler bound to a platform (functools.partial) may pick its model from a table by it."""
    bound = handler.keywords if isinstance(handler, functools.partial) else {}
    function = handler.func if isinstance(handler, functools.partial) else handler
    tree = ast.parse(textwrap.dedent(inspect.getsource(function)))
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == reader:
            model = node.args[1]
            if isinstance(model, ast.Subscript):
                assert isinstance(model.value, ast.Name) and isinstance(model.slice, ast.Name)
                table = getattr(inspect.getmodule(function), model.value.id)
                return str(table[bound[model.slice.id]].__name__)
            assert isinstance(model, ast.Name)
            return model.id
    return None


async def test_each_operation_documents_the_body_and_query_models_its_handler_validates_with(app: Starlette) -> None:
    mismatches = []
    for key, route in openapi.operation_keys(app.routes):
        op = contract.OPERATIONS[key]
        for reader, documented in (("json_body", op.body), ("query_params", op.query)):
            read = _reads(route.endpoint, reader)
            if op.access in (contract.PARTNER, contract.UBER, contract.GRUBHUB, contract.DOORDASH, contract.VAPI) and reader == "json_body":
                continue  # partners' callbacks parse their bodies themselves, after checking who sent them
            if read != (documented.__name__ if documented else None):
                mismatches.append(f"{key}: handler {reader}s {read}, documented {documented}")
    assert mismatches == []


async def test_each_operation_states_who_may_call_it(client: httpx.AsyncClient) -> None:
    document = expect(await client.get("/openapi.json"), 200)
    me = document["paths"]["/api/auth/me"]["get"]
    assert me["security"] == [{"userToken": []}]
    order = document["paths"]["/api/restaurants/{rid}/orders"]["post"]
    assert order["security"] == [{"userToken": []}, {"guestSession": []}]
    assert set(order["responses"]) >= {"200", "201", "400", "401", "403", "404", "409", "413", "415", "422", "429"}
    codes = order["responses"]["422"]["content"]["application/problem+json"]["schema"]["allOf"][1]
    assert {"validation_error", "unknown_menu_item", "table_mismatch"} <= set(codes["properties"]["code"]["enum"])
    assert document["paths"]["/api/qr/{qr_token}/session"]["post"]["security"] == []
    callback = document["paths"]["/api/webhooks/petpooja/stock/{secret}"]["post"]
    assert callback["tags"] == ["PetPooja callbacks"] and "404" in callback["responses"]


async def test_the_docs_page_renders_from_assets_this_api_serves_under_its_own_csp(client: httpx.AsyncClient) -> None:
    page = await client.get("/docs")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert page.headers["content-security-policy"] == DOCS_CSP
    loaded = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert loaded and all(url.startswith("/docs/") for url in loaded), "no CDN: every asset comes from this API"
    for url in loaded:
        asset = await client.get(url)
        assert asset.status_code == 200, url
        assert len(asset.content) > 100
    assert set(ASSETS) <= {url.removeprefix("/docs/") for url in loaded}
    init = (await client.get("/docs/init.js")).text
    assert '"/openapi.json"' in init
    assert (await client.get("/docs/swagger-ui.js.map")).status_code == 404
    # Every other route keeps the strict default.
    assert (await client.get("/health")).headers["content-security-policy"] == "default-src 'none'; frame-ancestors 'none'"


# ----------------------------------------------------------------------------- answers


class Checked:
    """A client whose every answer is checked against the document (unknown fields refused)."""

    def __init__(self, client: httpx.AsyncClient, contract_: Contract):
        self.client, self.contract, self.seen = client, contract_, set[str]()
        self.problems: list[str] = []

    async def __call__(self, method: str, url: str, status: int, **kwargs: Any) -> Any:
        response = await self.client.request(method, url, **kwargs)
        assert response.status_code == status, f"{method} {url}: {response.status_code} != {status}: {response.text}"
        body = response.json() if response.content and "json" in response.headers.get("content-type", "") else None
        path, _ = self.contract.operation(method, response.request.url.path)
        self.seen.add(f"{method} {path}")
        self.problems += self.contract.problems(method, response.request.url.path, status,
                                                response.headers.get("content-type", ""), body)
        return body


async def test_every_answer_of_a_walk_through_the_api_matches_the_document(
    client: httpx.AsyncClient, app: Starlette, make_restaurant: MakeRestaurant,
    make_member: Callable[[Restaurant, str], Any], open_guest: Callable[[Restaurant, int], Any],
) -> None:
    call = Checked(client, Contract(openapi.build(app.routes)))
    await call("GET", "/health", 200)
    await call("GET", "/ready", 200)
    await call("GET", "/.well-known/jwks.json", 200)
    await call("GET", "/openapi.json", 200)
    await call("GET", "/docs", 200)
    await call("GET", "/metrics", 200)
    account = await call("POST", "/api/auth/register", 201,
                         json={"email": "walk@example.com", "password": "correct horse battery", "full_name": "W"})
    await call("POST", "/api/auth/register", 409,
               json={"email": "walk@example.com", "password": "correct horse battery", "full_name": "W"})
    pair = await call("POST", "/api/auth/login", 200, json={"email": "walk@example.com",
                                                            "password": "correct horse battery"})
    await call("POST", "/api/auth/login", 401, json={"email": "walk@example.com", "password": "wrong password!"})
    pair = await call("POST", "/api/auth/refresh", 200, json={"refresh_token": pair["refresh_token"]})
    await call("POST", "/api/auth/refresh", 401, json={"refresh_token": "no-such-token"})
    owner = User(account["id"], "walk@example.com", "", pair["access_token"], pair["refresh_token"])
    await call("GET", "/api/auth/me", 200, headers=owner.headers)
    await call("GET", "/api/auth/me", 401)
    await call("PATCH", "/api/auth/me", 200, headers=owner.headers, json={"full_name": "Walker", "phone": None})
    await call("PATCH", "/api/auth/me", 422, headers=owner.headers, json={"email": "walk2@example.com"})
    await call("PATCH", "/api/auth/me", 403, headers=owner.headers,
               json={"email": "walk2@example.com", "current_password": "wrong password!"})
    await call("POST", "/api/auth/password", 403, headers=owner.headers,
               json={"current_password": "wrong password!", "new_password": "battery staple horse"})
    pair = await call("POST", "/api/auth/password", 200, headers=owner.headers,
                      json={"current_password": "correct horse battery", "new_password": "correct horse battery"})
    await call("POST", "/api/auth/password-reset", 202, json={"email": "nobody@example.com"})
    await call("POST", "/api/auth/password-reset/confirm", 400,
               json={"token": "no-such-token", "new_password": "battery staple horse"})
    r = await make_restaurant(owner)
    auth = owner.headers
    await call("POST", "/api/restaurants", 201, headers=auth,
               json={"name": "Second", "currency": "EUR", "timezone": "Europe/Paris"})
    await call("GET", r.url(), 200, headers=auth)
    await call("PATCH", r.url(), 200, headers=auth, json={"address": "1 Main St\nFloor 2", "phone": "+91 80 1234"})
    await call("PATCH", r.url(), 422, headers=auth, json={"name": "a\u0000b"})
    await call("PATCH", r.url(), 415, headers={**auth, "content-type": "text/plain"}, content=b"{}")
    await call("PATCH", r.url(), 400, headers={**auth, "content-type": "application/json"}, content=b"{")
    staff = await make_member(r, "staff")
    member_user = await make_member(r, "kitchen")
    assert member_user
    stranger = await _stranger(client)
    await call("GET", r.url(), 404, headers=stranger.headers)
    await call("PATCH", r.url(), 403, headers=staff.headers, json={"name": "Mine now"})
    invited = await call("POST", r.url("/members"), 202, headers=auth, json={"email": stranger.email, "role": "staff"})
    await call("GET", r.url("/invitations"), 200, headers=auth)
    await call("GET", "/api/auth/me", 200, headers=stranger.headers)
    await call("POST", f"/api/invitations/{invited['id']}/accept", 200, headers=stranger.headers)
    await call("POST", f"/api/invitations/{invited['id']}/decline", 409, headers=stranger.headers)
    unknown = await call("POST", r.url("/members"), 202, headers=auth, json={"email": "nobody@example.com",
                                                                             "role": "kitchen"})
    await call("POST", f"/api/invitations/{unknown['id']}/decline", 404, headers=stranger.headers)
    await call("DELETE", r.url(f"/invitations/{unknown['id']}"), 204, headers=auth)
    table = await call("POST", r.url("/tables"), 201, headers=auth, json={"label": "Patio 1"})
    await call("POST", r.url("/tables"), 409, headers=auth, json={"label": "Patio 1"})
    await call("GET", r.url("/tables"), 200, headers=staff.headers)
    await call("PATCH", r.url(f"/tables/{table['id']}"), 200, headers=auth, json={"seats": 6})
    await call("GET", r.url(f"/tables/{table['id']}/qr.svg"), 200, headers=staff.headers)
    await call("GET", r.url(f"/tables/{table['id']}/qr.png"), 200, headers=staff.headers)
    await call("GET", r.url("/tables/qr-sheet.svg"), 200, headers=staff.headers)
    await call("PATCH", r.url(), 200, headers=auth, json={"city": "Pune", "description": "Curries\nand more",
                                                         "website": "https://bistro.example", "dine_in_enabled": True})
    await call("PATCH", r.url(), 422, headers=auth, json={"logo_url": "http://insecure.example/logo.png"})
    await call("PUT", r.url("/opening-hours"), 200, headers=auth,
               json={"hours": [{"weekday": d, "opens": "00:00", "closes": "00:00"} for d in range(7)]})
    await call("PUT", r.url("/opening-hours"), 422, headers=auth, json={"hours": [
        {"weekday": 0, "opens": "10:00", "closes": "14:00"}, {"weekday": 0, "opens": "13:00", "closes": "15:00"}]})
    await call("GET", r.url("/delivery-zone"), 404, headers=staff.headers)
    await call("PUT", r.url("/delivery-zone"), 200, headers=auth, json={
        "enabled": True, "location": DELIVERY_POINT, "radius_m": 5000, "fee_bands": [{"up_to_m": 5000, "fee": 3000}]})
    await call("PUT", r.url("/delivery-zone"), 422, headers=auth, json={"enabled": True, "location": DELIVERY_POINT})
    await call("PUT", r.url("/delivery-zone"), 403, headers=staff.headers,
               json={"enabled": False, "location": DELIVERY_POINT, "radius_m": 10})
    await call("GET", r.url("/delivery-zone"), 200, headers=staff.headers)
    await call("POST", r.url("/orders"), 201, headers=staff.headers,
               json={**order_body(r), "order_type": "delivery", "delivery_address": DELIVERY_ADDRESS})
    await call("POST", r.url("/orders"), 422, headers=staff.headers, json={
        **order_body(r), "order_type": "delivery", "delivery_address": {"line1": "1 Marine Drive", "city": "Mumbai"}})
    await call("POST", r.url("/pause"), 200, headers=auth, json={"reason": "private event"})
    await call("POST", r.url("/resume"), 200, headers=auth)
    await call("POST", r.url("/pause"), 403, headers=staff.headers, json={"reason": "mine"})
    shared = await call("POST", r.url("/share-link"), 200, headers=auth)
    await call("GET", f"/api/share/{shared['token']}", 200)
    await call("GET", "/api/share/no-such-token", 404)
    takeaway = await call("POST", f"/api/share/{shared['token']}/session", 201)
    await call("POST", "/api/share/no-such-token/session", 404)
    await call("GET", "/api/venues", 200, params={"q": "Restaurant", "city": "pune", "open_now": "true", "limit": 1})
    await call("GET", "/api/venues", 422, params={"cursor": "bm90IG91cnM"})
    await call("GET", f"/api/venues/{r.id}", 200)
    await call("GET", f"/api/venues/{contract._UUID_EXAMPLE}", 404)
    await call("POST", "/api/me/saved-venues", 201, headers=stranger.headers, json={"restaurant_id": r.id})
    await call("POST", "/api/me/saved-venues", 404, headers=stranger.headers,
               json={"restaurant_id": contract._UUID_EXAMPLE})
    await call("PATCH", f"/api/me/saved-venues/{r.id}", 200, headers=stranger.headers, json={"favourite": True})
    await call("GET", "/api/me/saved-venues", 200, headers=stranger.headers)
    await call("DELETE", f"/api/me/saved-venues/{r.id}", 204, headers=stranger.headers)
    await call("DELETE", f"/api/me/saved-venues/{r.id}", 404, headers=stranger.headers)
    await call("GET", "/api/me/saved-venues", 401)
    session = await call("POST", f"/api/qr/{table['qr_token']}/session", 201)
    await call("POST", "/api/qr/not-a-token/session", 404)
    guest = Guest(session["session_token"], table["id"], r.id)
    await call("GET", r.url("/menu"), 200, headers=guest.headers)
    await call("GET", r.url("/tables"), 403, headers=guest.headers)
    category = await call("POST", r.url("/menu/categories"), 201, headers=auth, json={"name": "Desserts"})
    await call("POST", r.url("/menu/categories"), 409, headers=auth, json={"name": "Desserts"})
    await call("PATCH", r.url(f"/menu/categories/{category['id']}"), 200, headers=auth, json={"rank": 3})
    item = await call("POST", r.url("/menu/items"), 201, headers=auth,
                      json={"category_id": category["id"], "name": "Kulfi", "price": 9000})
    await call("POST", r.url("/menu/items"), 422, headers=auth,
               json={"category_id": contract._UUID_EXAMPLE, "name": "Kulfi", "price": 9000})
    await call("DELETE", r.url(f"/menu/categories/{category['id']}"), 409, headers=auth)
    await call("PATCH", r.url(f"/menu/items/{item['id']}"), 200, headers=auth, json={"description": "Saffron"})
    await call("GET", r.url("/menu/categories"), 200, headers=guest.headers)
    await call("GET", r.url(f"/menu/categories/{category['id']}"), 200, headers=guest.headers)
    await call("GET", r.url("/menu/items"), 200, headers=staff.headers)
    await call("GET", r.url(f"/menu/items/{item['id']}"), 200, headers=guest.headers)
    await call("PUT", r.url(f"/menu/items/{item['id']}/availability"), 200, headers=staff.headers,
               json={"is_available": True})
    await call("DELETE", r.url(f"/menu/items/{item['id']}"), 204, headers=auth)
    await call("DELETE", r.url(f"/menu/categories/{category['id']}"), 204, headers=auth)
    await call("PATCH", r.url(f"/menu/items/{item['id']}"), 404, headers=auth, json={"price": 1})
    body = order_body(r)
    order = await call("POST", r.url("/orders"), 201, headers={**guest.headers, "Idempotency-Key": "walk-1"},
                       json=body)
    await call("GET", "/api/qr/session/orders", 200, headers=guest.headers)
    await call("GET", "/api/qr/session/orders", 403, headers=auth)
    await call("GET", "/api/me/orders", 200, headers=auth, params={"limit": 5})
    await call("GET", "/api/me/orders", 422, headers=auth, params={"cursor": "!!"})
    await call("POST", r.url("/orders"), 200, headers={**guest.headers, "Idempotency-Key": "walk-1"}, json=body)
    pickup = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
    await call("POST", r.url("/orders"), 201, headers={"Authorization": f"Bearer {takeaway['session_token']}"},
               json={**body, "pickup_at": pickup})
    await call("POST", r.url("/orders"), 422, headers=guest.headers, json={**body, "pickup_at": pickup})
    await call("POST", r.url("/orders"), 409, headers={**guest.headers, "Idempotency-Key": "walk-1"},
               json=order_body(r, ("Dal Makhani", 3)))
    await call("POST", r.url("/orders"), 422, headers=guest.headers, json=order_body(r, ("Seasonal Special", 1)))
    await call("GET", r.url("/orders"), 200, headers=staff.headers, params={"status": "pending", "limit": 1})
    await call("GET", r.url("/orders"), 422, headers=staff.headers, params={"cursor": "bm90IG91cnM"})
    await call("GET", r.url(f"/orders/{order['id']}"), 200, headers=guest.headers)
    await call("POST", r.url(f"/orders/{order['id']}/status"), 200, headers=staff.headers,
               json={"status": "confirmed", "reason": "seen\nby the pass"})
    await call("POST", r.url(f"/orders/{order['id']}/status"), 409, headers=staff.headers, json={"status": "served"})
    await call("POST", r.url(f"/orders/{order['id']}/cancel"), 200, headers=staff.headers)
    await call("GET", r.url(f"/orders/{order['id']}/events"), 200, headers=guest.headers)
    await call("GET", r.url(f"/orders/{order['id']}/events"), 200, headers=staff.headers)
    await call("GET", r.url("/sync/status"), 200, headers=auth)
    await call("POST", r.url("/convex-token"), 200, headers=staff.headers)
    await call("GET", "/api/admin/sync/errors", 403, headers=auth)
    await call("POST", "/api/admin/sync/errors/1/retry", 403, headers=auth)
    await call("POST", "/api/admin/sync/errors/1/resolve", 403, headers=auth, json={"reason": "done by hand"})
    key = {"X-API-Key": OPERATOR_KEY}
    await call("GET", f"/admin/sync-status/{r.id}", 200, headers=key)
    await call("GET", f"/admin/sync-status/{r.id}", 401, headers=auth)
    await call("POST", f"/admin/sync/{r.id}/full-refresh", 202, headers=key, json={"platforms": ["ubereats"]})
    await call("POST", f"/admin/sync/{r.id}/full-refresh", 422, headers=key, json={"platforms": ["convex"]})
    await call("GET", "/admin/errors", 200, headers=key, params={"restaurant_id": r.id})
    await call("POST", "/admin/errors/1/retry", 404, headers=key)
    await call("POST", "/admin/errors/1/resolve", 404, headers=key, json={"reason": "done by hand"})
    await call("GET", r.url("/integrations"), 200, headers=auth)
    await call("GET", r.url("/sync/errors"), 200, headers=auth)
    await call("GET", r.url("/integrations/petpooja"), 200, headers=auth)
    connected = await call("PUT", r.url("/integrations/petpooja"), 200, headers=auth, json={
        "rest_id": "walk1", "app_key": "k", "app_secret": "s", "access_token": "t", "environment": "sandbox"})
    await call("GET", r.url("/integrations/petpooja"), 200, headers=auth)
    await call("GET", r.url("/menu/syncs"), 200, headers=auth)
    stock = connected["callback_urls"]["stock"].split("tabletop.test", 1)[-1].removeprefix("http://localhost:8000")
    stock = "/api/" + stock.split("/api/", 1)[1]
    await call("POST", stock, 200, json={"restID": "walk1", "type": "item", "inStock": False, "itemID": ["x1"]})
    await call("POST", stock, 404, json={"restID": "other", "type": "item", "inStock": False, "itemID": ["x1"]})
    await call("POST", stock, 400, json={"restID": "walk1"})
    await call("POST", stock.rsplit("/", 1)[0] + "/" + "x" * 43, 404, json={})
    status = stock.replace("/stock/", "/store-status/")
    await call("POST", status, 200, json={"restID": "walk1"})
    await call("POST", status.replace("/store-status/", "/order-status/"), 200,
               json={"restID": "walk1", "orderID": "1", "status": 1})
    await call("DELETE", r.url("/integrations/petpooja"), 204, headers=auth)
    await call("POST", r.url("/menu/sync"), 409, headers=auth)
    await call("GET", r.url("/integrations/ubereats"), 200, headers=auth)
    await call("POST", r.url("/integrations/ubereats/refresh"), 404, headers=auth)
    await call("PUT", r.url("/integrations/ubereats"), 422, headers=auth, json={"store_id": "s 1"})
    await call("PUT", r.url("/integrations/ubereats"), 503, headers=auth,  # this app's Uber is down (conftest)
               json={"store_id": "s1", "client_id": "c", "client_secret": "s"})
    await call("DELETE", r.url("/integrations/ubereats"), 204, headers=auth)
    await call("POST", "/api/webhooks/ubereats", 400, json={"event_id": "e1"})
    await call("POST", "/api/webhooks/ubereats", 401, json={"event_id": "e1", "event_type": "orders.notification",
                                                            "meta": {"user_id": "no-such-store"}})
    await call("GET", r.url("/integrations/grubhub"), 200, headers=auth)
    await call("POST", r.url("/integrations/grubhub/refresh"), 404, headers=auth)
    await call("PUT", r.url("/integrations/grubhub"), 422, headers=auth, json={"store_id": "s 1"})
    await call("PUT", r.url("/integrations/grubhub"), 503, headers=auth,  # this app's Grubhub is down (conftest)
               json={"store_id": "s1", "partner_key": "p", "client_id": "c", "secret_key": "c2VjcmV0",
                     "webhook_secret": "w"})
    await call("DELETE", r.url("/integrations/grubhub"), 204, headers=auth)
    await call("POST", "/api/webhooks/grubhub", 400, json={"event_type": "NEW_ORDER"})
    await call("POST", "/api/webhooks/grubhub", 401, json={"event_type": "NEW_ORDER", "merchant_id": "no-such",
                                                           "order_uuid": "o1"})
    await call("GET", f"/api/platform-menus/grubhub/no-such/{'0' * 64}", 404)
    await call("GET", r.url("/integrations/doordash"), 200, headers=auth)
    await call("POST", r.url("/integrations/doordash/refresh"), 404, headers=auth)
    await call("PUT", r.url("/integrations/doordash"), 422, headers=auth, json={"store_id": "s 1"})
    await call("PUT", r.url("/integrations/doordash"), 503, headers=auth,  # this app's DoorDash is down (conftest)
               json={"store_id": "s1", "developer_id": "d", "key_id": "k", "webhook_token": "t",
                     "signing_secret": "xVu_RIEHqVw0ISBOqklCrKTIrlxX47TiexoJIY8_naw"})
    await call("DELETE", r.url("/integrations/doordash"), 204, headers=auth)
    await call("POST", "/api/webhooks/doordash", 400, json={"event": {"type": "OrderCreate"}})
    await call("POST", "/api/webhooks/doordash", 401, json={"external_order_id": "o1",
                                                            "store": {"merchant_supplied_id": "no-such-store"}})
    await call("GET", r.url("/integrations/webhook"), 200, headers=auth)
    await call("PUT", r.url("/integrations/webhook"), 201, headers=auth, json={"url": "https://hooks.example.com/t"})
    await call("PUT", r.url("/integrations/webhook"), 200, headers=auth, params={"rotate": "true"},
               json={"url": "https://hooks.example.com/t"})
    await call("PUT", r.url("/integrations/webhook"), 422, headers=auth, json={"url": "ftp://hooks.example.com/t"})
    await call("GET", r.url("/integrations/webhook"), 200, headers=auth)
    await call("DELETE", r.url("/integrations/webhook"), 204, headers=auth)
    rules = {"rules": [{"weekday": d, "start_time": "12:00", "end_time": "14:00", "interval_minutes": 60,
                        "max_covers": 4} for d in range(7)]}
    await call("PUT", r.url("/slot-rules"), 200, headers=auth, json=rules)
    await call("PUT", r.url("/slot-rules"), 422, headers=auth, json={"rules": rules["rules"] * 2})
    await call("GET", r.url("/slot-rules"), 200, headers=staff.headers)
    day = (datetime.now(UTC) + timedelta(days=7)).date().isoformat()
    slots = await call("GET", r.url("/time-slots"), 200, headers=guest.headers, params={"date": day})
    booking = {"slot_start": slots["slots"][0]["slot_start"], "party_size": 3}
    customer = await _stranger(client, "customer@example.com")  # a member of nothing
    booked = await call("POST", r.url("/reservations"), 201, headers=customer.headers, json=booking)
    await call("POST", r.url("/reservations"), 409, headers=customer.headers, json=booking)
    await call("POST", r.url("/reservations"), 422, headers=customer.headers,
               json={**booking, "slot_start": "2020-01-01T06:30:00Z"})
    await call("GET", r.url("/reservations"), 200, headers=staff.headers, params={"date": booked["local_date"]})
    await call("POST", r.url(f"/reservations/{booked['id']}/status"), 409, headers=staff.headers,
               json={"status": "seated"})
    pre = {"items": order_body(r)["items"], "fire_minutes_before": 10}
    await call("POST", r.url(f"/reservations/{booked['id']}/pre-order"), 201, headers=customer.headers, json=pre)
    await call("POST", r.url(f"/reservations/{booked['id']}/pre-order"), 409, headers=customer.headers, json=pre)
    await call("GET", r.url(f"/reservations/{booked['id']}/pre-order"), 200, headers=staff.headers)
    await call("POST", r.url(f"/reservations/{booked['id']}/status"), 200, headers=customer.headers,
               json={"status": "cancelled", "reason": "plans changed"})
    await call("GET", r.url(f"/reservations/{booked['id']}/pre-order"), 404, headers=customer.headers)
    await call("GET", "/api/me/reservations", 200, headers=customer.headers)
    export = await call("POST", r.url("/exports"), 202, headers=auth, json={"from": day, "to": day, "format": "csv"})
    await call("POST", r.url("/exports"), 422, headers=auth, json={"from": day, "to": "2020-01-01"})
    await call("POST", r.url("/exports"), 403, headers=staff.headers, json={"from": day, "to": day})
    await call("GET", r.url("/exports"), 200, headers=auth)
    await call("GET", r.url(f"/exports/{export['id']}"), 200, headers=auth)
    await call("GET", f"/api/exports/{export['id']}/download", 404, params={"expires": 1, "sig": "0" * 64})
    # Notifications: staff confirming a booking tells its customer, moving an order tells its guest session.
    second = await call("POST", r.url("/reservations"), 201, headers=customer.headers,
                        json={**booking, "slot_start": slots["slots"][1]["slot_start"], "party_size": 1})
    await call("POST", r.url(f"/reservations/{second['id']}/status"), 200, headers=staff.headers,
               json={"status": "confirmed"})
    mine = await call("GET", "/api/me/notifications", 200, headers=customer.headers, params={"limit": 5})
    await call("GET", "/api/me/notifications", 422, headers=customer.headers, params={"cursor": "!!"})
    await call("POST", f"/api/me/notifications/{mine['items'][0]['id']}/read", 200, headers=customer.headers)
    await call("POST", "/api/me/notifications/read-all", 200, headers=customer.headers)
    await call("DELETE", f"/api/me/notifications/{mine['items'][0]['id']}", 204, headers=customer.headers)
    await call("DELETE", f"/api/me/notifications/{mine['items'][0]['id']}", 404, headers=customer.headers)
    await call("POST", f"/api/me/notifications/{contract._UUID_EXAMPLE}/read", 404, headers=customer.headers)
    await call("POST", "/api/me/convex-token", 200, headers=customer.headers)
    tracked = await call("POST", r.url("/orders"), 201, headers=guest.headers, json=order_body(r))
    await call("POST", r.url(f"/orders/{tracked['id']}/status"), 200, headers=staff.headers,
               json={"status": "confirmed"})
    await call("POST", r.url(f"/orders/{tracked['id']}/payment"), 409, headers=guest.headers)
    await call("POST", r.url(f"/orders/{tracked['id']}/paid"), 403, headers=guest.headers)
    await call("POST", r.url(f"/orders/{tracked['id']}/paid"), 200, headers=staff.headers, json={"method": "cash"})
    await call("POST", r.url(f"/orders/{tracked['id']}/paid"), 409, headers=staff.headers)
    await call("POST", "/api/webhooks/stripe", 400, content=b'{"id": "evt_1"}',
               headers={"Content-Type": "application/json", "Stripe-Signature": "t=1,v1=00"})
    theirs = await call("GET", "/api/qr/session/notifications", 200, headers=guest.headers)
    await call("GET", "/api/qr/session/notifications", 403, headers=auth)
    await call("POST", f"/api/qr/session/notifications/{theirs['items'][0]['id']}/read", 200, headers=guest.headers)
    await call("POST", "/api/qr/session/notifications/read-all", 200, headers=guest.headers)
    await call("DELETE", f"/api/qr/session/notifications/{theirs['items'][0]['id']}", 204, headers=guest.headers)
    await call("DELETE", f"/api/qr/session/notifications/{theirs['items'][0]['id']}", 404, headers=guest.headers)
    await call("POST", "/api/qr/session/convex-token", 200, headers=guest.headers)
    await call("POST", "/api/qr/session/convex-token", 403, headers=auth)
    # Vapi's server URL: its secret, then its messages; the calls a restaurant's owner reads.
    vapi = {"X-Vapi-Secret": app.state.services.providers.voice.server_secret}
    await call("POST", f"/api/voice/vapi/{r.id}", 401, json={"message": {"type": "status-update"}})
    await call("POST", f"/api/voice/vapi/{r.id}", 200, headers=vapi,
               json={"message": {"type": "status-update", "status": "in-progress", "call": {"id": "c1"}}})
    await call("POST", f"/api/voice/vapi/{r.id}", 200, headers=vapi, json={"message": {
        "type": "tool-calls", "call": {"id": "c1"},
        "toolCallList": [{"id": "t1", "type": "function",
                          "function": {"name": "search_menu", "arguments": '{"query": "paneer tikka"}'}}]}})
    await call("POST", f"/api/voice/vapi/{r.id}", 200, headers=vapi, json={"message": {
        "type": "end-of-call-report", "endedReason": "customer-ended-call", "call": {"id": "c1"}}})
    await call("POST", f"/api/voice/vapi/{r.id}", 400, headers=vapi, json={"message": {"type": "no-such-type"}})
    await call("POST", f"/api/voice/vapi/{contract._UUID_EXAMPLE}", 404, headers=vapi,
               json={"message": {"type": "status-update", "call": {"id": "c1"}}})
    await call("GET", r.url("/voice/calls"), 200, headers=auth)
    await call("GET", r.url("/voice/calls"), 403, headers=staff.headers)
    assert call.problems == [], "\n".join(call.problems)
    unseen = documented_keys(call.contract.document) - call.seen
    assert unseen <= {"POST /api/restaurants/{rid}/members", "PATCH /api/restaurants/{rid}/tables/{tid}",
                      "POST /api/admin/sync/errors/{id}/retry", "POST /api/webhooks/petpooja/pushmenu/{secret}"} | {
        "GET /api/admin/sync/errors"}, unseen


async def _stranger(client: httpx.AsyncClient, email: str = "stranger@example.com") -> User:
    body = {"email": email, "password": "correct horse battery", "full_name": "S"}
    account = expect(await client.post("/api/auth/register", json=body), 201)
    tokens = expect(await client.post("/api/auth/login", json={"email": body["email"], "password": body["password"]}),
                    200)
    return User(account["id"], body["email"], body["password"], tokens["access_token"], tokens["refresh_token"])


# ------------------------------------------------------- control characters (finding 6)

NUL = "a\u0000b"


def _text_fields(schema: dict[str, Any], components: dict[str, Any], loc: tuple[str | int, ...] = ()
                 ) -> list[tuple[tuple[str | int, ...], dict[str, Any]]]:
    """Every string field a request schema has, by its path in the body (list items at index 0)."""
    if "$ref" in schema:
        return _text_fields(components[schema["$ref"].rsplit("/", 1)[-1]], components, loc)
    for branch in schema.get("anyOf", ()):
        if branch.get("type") != "null":
            return _text_fields(branch, components, loc)
    if schema.get("type") == "string" and schema.get("format") != "uuid" and "enum" not in schema:
        return [(loc, schema)]
    if schema.get("type") == "array":
        return _text_fields(schema["items"], components, (*loc, 0))
    found = []
    for name, field in schema.get("properties", {}).items():
        found += _text_fields(field, components, (*loc, name))
    return found


def _with(body: dict[str, Any], loc: tuple[str | int, ...], value: Any) -> dict[str, Any]:
    """``body`` with the field at ``loc`` set to ``value`` (building what is missing on the way)."""
    node: Any = body
    for step, following in itertools.pairwise(loc):
        if isinstance(step, int):
            while len(node) <= step:
                node.append({})
        elif step not in node or not isinstance(node[step], dict | list):
            node[step] = [] if isinstance(following, int) else {}
        node = node[step]
    if isinstance(loc[-1], int) and len(node) > loc[-1]:
        node[loc[-1]] = value  # a list of strings in the example: replace its first
    elif isinstance(loc[-1], int):
        node.append(value)
    else:
        node[loc[-1]] = value
    return body


def _row_counts(db_sql: Sql) -> dict[str, int]:
    tables = db_sql("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")
    counts = db_sql(" UNION ALL ".join(
        f"SELECT '{t['tablename']}' AS t, count(*) AS n FROM {t['tablename']}" for t in tables))  # noqa: S608  # catalog names
    return {row["t"]: row["n"] for row in counts}


async def test_a_control_character_in_any_text_field_of_any_body_is_a_422_naming_it_and_writes_nothing(
    client: httpx.AsyncClient, app: Starlette, make_restaurant: MakeRestaurant,
    open_guest: Callable[[Restaurant, int], Any], db_sql: Sql,
) -> None:
    r = await make_restaurant()
    guest: Guest = await open_guest(r, 0)
    order = expect(await client.post(r.url("/orders"), headers=guest.headers, json=order_body(r)), 201)
    ids = {"rid": r.id, "tid": r.tables[0]["id"], "cid": r.category_id, "iid": r.items["Paneer Tikka"]["id"],
           "oid": order["id"], "qr_token": r.tables[1]["qr_token"], "id": "1", "resid": order["id"]}
    # Platform administrators' bodies too (resolving an error): who may call is checked first.
    db_sql("UPDATE users SET is_platform_admin = true WHERE id = %s", (r.owner.id,))
    document = openapi.build(app.routes)
    components = document["components"]["schemas"]
    before = _row_counts(db_sql)
    failures, tried = [], 0
    for path, item in document["paths"].items():
        for method, op in item.items():
            content = op.get("requestBody", {}).get("content", {}).get("application/json")
            if content is None or op["tags"] == ["PetPooja callbacks"] or path.startswith("/api/voice/vapi/"):
                continue  # partners' messages: who sent them is checked first (tests/test_voice.py covers Vapi's)
            url = re.sub(r"{(\w+)}", lambda m: str(ids[m.group(1)]), path)
            example = content.get("examples", {}).get("example", {}).get("value", {})
            headers = {**r.owner.headers, "X-API-Key": OPERATOR_KEY}
            for loc, _ in _text_fields(content["schema"], components):
                for text in (NUL, "a\u0085b", "\u0007"):
                    body = _with(copy.deepcopy(example), loc, text)
                    response = await client.request(method.upper(), url, headers=headers, json=body)
                    tried += 1
                    named = [e for e in response.json().get("errors") or [] if tuple(e["loc"]) == ("body", *loc)]
                    if response.status_code != 422 or not named:
                        failures.append(f"{method.upper()} {path} {loc} {text!r}: {response.status_code} "
                                        f"{response.text[:200]}")
    assert failures == [], "\n".join(failures)
    assert tried > 60
    assert _row_counts(db_sql) == before


async def test_single_line_fields_refuse_line_breaks_and_multi_line_fields_keep_them(
    client: httpx.AsyncClient, make_restaurant: MakeRestaurant, open_guest: Callable[[Restaurant, int], Any],
) -> None:
    r = await make_restaurant()
    guest: Guest = await open_guest(r, 0)
    refused = expect(await client.post(r.url("/menu/categories"), headers=r.owner.headers,
                                       json={"name": "Two\nlines"}), 422)
    assert refused["errors"][0]["loc"] == ["body", "name"]
    assert refused["errors"][0]["msg"] == "must be one line of text without control characters"
    line = {"menu_item_id": r.items["Paneer Tikka"]["id"], "quantity": 1, "notes": "no onion\n\tno garlic"}
    order = expect(await client.post(r.url("/orders"), headers=guest.headers,
                                     json={"items": [line], "notes": "birthday:\r\ncandles"}), 201)
    assert order["items"][0]["notes"] == "no onion\n\tno garlic"
    assert order["notes"] == "birthday:\r\ncandles"


async def test_a_control_character_in_a_query_or_path_is_a_4xx_and_writes_nothing(
    client: httpx.AsyncClient, make_restaurant: MakeRestaurant, db_sql: Sql,
) -> None:
    r = await make_restaurant()
    before = _row_counts(db_sql)
    for name in ("cursor", "since", "status", "limit"):
        answer = expect(await client.get(r.url("/orders"), headers=r.owner.headers, params={name: NUL}), 422)
        assert any(e["loc"][:2] == ["query", name] for e in answer["errors"]), answer
    for path in ("/api/qr/a%00b/session", "/api/qr/%00/session", "/api/qr/a%1bb/session", "/api/qr/%7f/session",
                 f"/api/webhooks/petpooja/stock/{'x' * 42}%00", "/docs/%00", r.url("/tables/%00")):
        response = await client.post(path, headers=r.owner.headers, json={})
        assert response.status_code == 404, (path, response.status_code, response.text)
        assert response.json()["code"] == "not_found"
    # Unicode that is not a control character is just an unknown token.
    assert (await client.post("/api/qr/%F0%9F%8D%95%E2%80%AE/session")).status_code == 404
    assert (await client.post("/api/qr/%FF%FE/session")).status_code == 404
    assert _row_counts(db_sql) == before
