"""The tenancy attack suite: every restaurant endpoint, attacked across tenants and roles.

Two restaurants, A and B, each with menu items, an empty category, tables, guest sessions
and orders; A also has a manager, staff and kitchen. Every attack is a request that would
succeed for the right caller. The suite checks its status and problem code, that the
response carries none of the victim's ids, and that the database did not change at all (a
fingerprint of every table, before and after). After the attacks come controls: the same
requests from callers who may make them succeed, and a write control changes the
fingerprint, so neither a request nor a check can pass by accident.

Each test builds its own two restaurants, and each endpoint's attacks share one test that
reports every attack that got through. Creating and dropping a database costs more than a
whole test here, so this module's tests share one database cloned from the schema
template (the ``postgresql`` fixture below); the fingerprint compares a test's own before
and after, so rows left by earlier tests change nothing.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import jwt
import psycopg
import pytest
from psycopg import sql
from pytest_postgresql.janitor import DatabaseJanitor
from starlette.applications import Starlette
from starlette.routing import Route

from api.app import create_app
from api.config import Settings
from providers.factory import build_providers
from sync.config import PetpoojaSettings
from tests.conftest import (
    DOORDASH_CREDENTIALS,
    GRUBHUB_CREDENTIALS,
    DoorDashStandin,
    GrubhubStandin,
    Guest,
    PetpoojaStandin,
    Restaurant,
    StripeStandin,
    UberStandin,
    User,
    deliver_from,
    expect,
    order_body,
)

DbSql = Callable[..., list[dict[str, Any]]]


@pytest.fixture(scope="module")
def postgresql(postgresql_noproc: Any) -> Iterator[psycopg.Connection[Any]]:
    """One database for the whole module, cloned from the session's schema template."""
    proc = postgresql_noproc
    server = {"user": proc.user, "host": proc.host, "port": proc.port, "password": proc.password}
    with psycopg.connect(dbname="postgres", autocommit=True, **server) as conn:
        # A run that was killed leaves its database behind (conftest sweeps only its own names).
        for (name,) in conn.execute("SELECT datname FROM pg_database WHERE datname LIKE 'tabletop_tests_%_tenancy'"):
            pid = name.removeprefix("tabletop_tests_").removesuffix("_tenancy")
            if pid.isdigit() and int(pid) != os.getpid() and not Path(f"/proc/{pid}").exists():
                conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))
    janitor = DatabaseJanitor(dbname=f"tabletop_tests_{os.getpid()}_tenancy", template_dbname=proc.template_dbname,
                              **server)
    janitor.drop()
    with janitor, psycopg.connect(dbname=janitor.dbname, **server) as conn:
        yield conn


# ------------------------------------------------------------------------ the fingerprint

# An outbox row's delivery state (status, attempts, lease, errors) may be advanced by a
# pusher after an earlier commit; what an attack must not do is add or re-version one.
_SOURCES = {"sync_log": sql.SQL(
    "(SELECT id, restaurant_id, target, entity_type, entity_id, entity_version FROM sync_log)")}


def fingerprint(db_sql: DbSql) -> dict[str, tuple[int, str]]:
    """Row count and a digest of all rows of every table in the schema, read as superuser."""
    tables = [r["table_name"] for r in db_sql(
        "SELECT table_name FROM information_schema.tables"
        " WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY table_name")]
    assert {"orders", "order_items", "order_events", "sync_log", "idempotency_keys"} <= set(tables)
    query = sql.SQL(" UNION ALL ").join(
        sql.SQL("SELECT {} AS t, count(*) AS n, md5(coalesce(string_agg(x::text, '|' ORDER BY x::text), ''))"
                " AS digest FROM {} AS x").format(sql.Literal(t), _SOURCES.get(t, sql.Identifier(t)))
        for t in tables
    )
    return {r["t"]: (r["n"], r["digest"]) for r in db_sql(query)}


def changed_tables(before: dict[str, tuple[int, str]], after: dict[str, tuple[int, str]]) -> list[str]:
    return sorted(t for t in before.keys() | after.keys() if before.get(t) != after.get(t))


# ------------------------------------------------------------------------------ the world


@dataclass
class Side:
    """One restaurant with its guest sessions and their orders (and, for A, its people)."""

    r: Restaurant
    guest: Guest  # at table 0
    order: dict[str, Any]  # the guest's pending order
    empty_category_id: str
    invitation_id: str  # a pending staff invitation
    neighbour: Guest | None = None  # another session, at table 1
    neighbour_order: dict[str, Any] | None = None
    people: dict[str, User] = field(default_factory=dict)  # manager, staff, kitchen
    recruit: User | None = None  # somebody who is not a member here
    markers: set[str] = field(default_factory=set)  # ids and names only this restaurant's data holds
    reservation: dict[str, Any] = field(default_factory=dict)  # a pending reservation staff booked
    pre_ordered: dict[str, Any] = field(default_factory=dict)  # another, with a pre-order
    export: dict[str, Any] = field(default_factory=dict)  # a queued export
    online_order: dict[str, Any] = field(default_factory=dict)  # the guest's order to pay online

    @property
    def id(self) -> str:
        return self.r.id

    @property
    def owner(self) -> User:
        return self.r.owner

    def headers(self, who: str) -> dict[str, str]:
        if who == "owner":
            return self.owner.headers
        if who == "guest":
            return self.guest.headers
        return self.people[who].headers

    def ids(self) -> dict[str, str]:
        """What an endpoint path may name: each target is live and in a state the request changes."""
        return {
            "rid": self.id,
            "tid": self.r.tables[0]["id"],
            "cid": str(self.r.category_id),
            "empty_cid": self.empty_category_id,
            "iid": self.r.items["Paneer Tikka"]["id"],
            "oid": self.order["id"],
            "vid": self.invitation_id,
            "resid": self.reservation["id"],
            "preresid": self.pre_ordered["id"],
            "day": self.reservation["local_date"],
            "xid": self.export["id"],
            "poid": self.online_order["id"],
        }


@dataclass
class World:
    a: Side
    b: Side


async def _order(client: httpx.AsyncClient, r: Restaurant, guest: Guest, key: str, *lines: tuple[str, int]) -> Any:
    headers = {**guest.headers, "Idempotency-Key": key}
    return expect(await client.post(r.url("/orders"), headers=headers, json=order_body(r, *lines)), 201)


def _petpooja(restaurant_id: str) -> dict[str, str]:
    # rest_id is unique per restaurant, so it serves as a marker of that restaurant's data.
    return {"rest_id": f"pp-{restaurant_id[:8]}", "app_key": "key", "app_secret": "secret", "access_token": "token",
            "environment": "sandbox"}


def _uber(restaurant_id: str) -> dict[str, str]:
    # The store id names the restaurant, so it serves as a marker of that restaurant's data.
    return {"store_id": f"uber-{restaurant_id}", "client_id": f"client-{restaurant_id}", "client_secret": "secret"}


def _doordash(restaurant_id: str) -> dict[str, str]:
    # The store id names the restaurant, so it serves as a marker of that restaurant's data.
    return {**DOORDASH_CREDENTIALS, "store_id": f"dd-{restaurant_id}"}


def _grubhub(restaurant_id: str) -> dict[str, str]:
    # The merchant id names the restaurant, so it serves as a marker of that restaurant's data.
    return {**GRUBHUB_CREDENTIALS, "store_id": f"gh-{restaurant_id}", "client_id": f"gh-client-{restaurant_id}"}


def _webhook(restaurant_id: str, path: str = "orders") -> dict[str, str]:
    # The URL names the restaurant, so it serves as a marker of that restaurant's data.
    return {"url": f"https://hooks.example.com/{restaurant_id}/{path}"}


async def _side(client: httpx.AsyncClient, make_restaurant: Any, open_guest: Any, uber: UberStandin,
                doordash: DoorDashStandin, grubhub: GrubhubStandin) -> Side:
    r = await make_restaurant()
    keys = _uber(r.id)
    uber.register(keys["client_id"], keys["client_secret"], (keys["store_id"],))
    store = expect(await client.put(r.url("/integrations/ubereats"), headers=r.owner.headers, json=keys), 200)
    dd_keys = _doordash(r.id)
    doordash.register((dd_keys["store_id"],), developer_id=f"dev-{r.id}")
    dd_store = expect(await client.put(r.url("/integrations/doordash"), headers=r.owner.headers,
                                       json={**dd_keys, "developer_id": f"dev-{r.id}"}), 200)
    gh_keys = _grubhub(r.id)
    grubhub.register((gh_keys["store_id"],), **{k: v for k, v in gh_keys.items() if k != "store_id"})
    gh_store = expect(await client.put(r.url("/integrations/grubhub"), headers=r.owner.headers, json=gh_keys), 200)
    guest = await open_guest(r, 0)
    order = await _order(client, r, guest, "guest-order-1")
    empty = expect(await client.post(r.url("/menu/categories"), headers=r.owner.headers,
                                     json={"name": "Desserts", "rank": 2}), 201)
    outlet = expect(await client.put(r.url("/integrations/petpooja"), headers=r.owner.headers,
                                     json=_petpooja(r.id)), 200)
    hook = expect(await client.put(r.url("/integrations/webhook"), headers=r.owner.headers,
                                   json=_webhook(r.id)), 201)
    # The email names the restaurant, so it serves as a marker of that restaurant's data.
    invitation = expect(await client.post(r.url("/members"), headers=r.owner.headers,
                                          json={"email": f"invitee-{r.id}@example.com", "role": "staff"}), 202)
    expect(await client.put(r.url("/slot-rules"), headers=r.owner.headers, json=_slot_rules(20)), 200)
    reservation = expect(await client.post(r.url("/reservations"), headers=r.owner.headers,
                                           json=_booking(f"Guest of {r.id}")), 201)
    pre_ordered = expect(await client.post(r.url("/reservations"), headers=r.owner.headers,
                                           json=_booking(f"Pre-order party of {r.id}")), 201)
    pre_order = expect(await client.post(r.url(f"/reservations/{pre_ordered['id']}/pre-order"),
                                         headers=r.owner.headers, json={"items": order_body(r)["items"]}), 201)
    export = expect(await client.post(r.url("/exports"), headers=r.owner.headers, json=_export_range()), 202)
    online = expect(await client.post(r.url("/orders"), headers=guest.headers,
                                      json={**order_body(r), "payment_method": "online"}), 201)
    await deliver_from(client, r)
    side = Side(r, guest, order, empty["id"], invitation["id"], reservation=reservation, pre_ordered=pre_ordered,
                export=export, online_order=online)
    side.markers = {
        r.id, r.data["name"], str(r.category_id), empty["id"], order["id"], outlet["rest_id"], store["store_id"],
        dd_store["store_id"], gh_store["store_id"],
        hook["url"], _webhook(r.id, "moved")["url"], invitation["id"], invitation["email"],
        reservation["id"], reservation["guest_name"], pre_ordered["id"], pre_order["id"], export["id"],
        online["id"], *(item["id"] for item in r.items.values()),
        *(t["id"] for t in r.tables), *(t["qr_token"] for t in r.tables),
    }
    return side


def _slot_rules(covers: int) -> dict[str, Any]:
    return {"rules": [{"weekday": d, "start_time": "12:00", "end_time": "14:00", "interval_minutes": 60,
                       "max_covers": covers} for d in range(7)]}


def _export_range() -> dict[str, Any]:
    today = datetime.now(ZoneInfo("Asia/Kolkata")).date()
    return {"from": (today - timedelta(days=30)).isoformat(), "to": today.isoformat(), "format": "xlsx"}


def _booking(name: str) -> dict[str, Any]:
    """A party of two, a week from now at 12:00 in the restaurant's zone (Asia/Kolkata)."""
    zone = ZoneInfo("Asia/Kolkata")
    day = datetime.now(zone).date() + timedelta(days=7)
    start = datetime(day.year, day.month, day.day, 12, tzinfo=zone).astimezone(UTC)
    return {"slot_start": start.isoformat(), "party_size": 2, "name": name}


@pytest.fixture
async def app(settings: Settings, petpooja_standin: PetpoojaStandin, ubereats_standin: UberStandin,
              doordash_standin: DoorDashStandin, grubhub_standin: GrubhubStandin,
              stripe_standin: StripeStandin) -> AsyncIterator[Starlette]:
    """The API calling the PetPooja, Uber Eats and Stripe stand-ins, so that a menu pull, a store
    connection and an online payment (the controls) can succeed."""
    providers = build_providers({"ENV_MODE": "test", "STRIPE_API_BASE": stripe_standin.url})
    application = create_app(settings, petpooja_settings=PetpoojaSettings.model_validate(
        {"petpooja_sandbox_url": petpooja_standin.url, "petpooja_timeout_s": 5}),
        platform_env={**ubereats_standin.env, **doordash_standin.env, **grubhub_standin.env}, providers=providers)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def world(client: httpx.AsyncClient, make_restaurant: Any, make_member: Any, open_guest: Any,
                petpooja_standin: PetpoojaStandin, ubereats_standin: UberStandin,
                doordash_standin: DoorDashStandin, grubhub_standin: GrubhubStandin) -> World:
    # Built concurrently: setup is most of this file's running time.
    platforms = (ubereats_standin, doordash_standin, grubhub_standin)
    a, b = await asyncio.gather(_side(client, make_restaurant, open_guest, *platforms),
                                _side(client, make_restaurant, open_guest, *platforms))
    for side in (a, b):
        keys = _petpooja(side.id)
        petpooja_standin.register(keys["rest_id"], app_key=keys["app_key"], app_secret=keys["app_secret"],
                                  access_token=keys["access_token"])
    roles = ("manager", "staff", "kitchen")
    people = await asyncio.gather(*(make_member(a.r, role) for role in roles))
    a.people = dict(zip(roles, people, strict=True))
    a.neighbour = await open_guest(a.r, 1)
    a.neighbour_order = await _order(client, a.r, a.neighbour, "neighbour-order-1", ("Dal Makhani", 1))
    a.markers.add(a.neighbour_order["id"])
    # Each side's recruit is the other side's owner: an attacker adding themselves as owner.
    a.recruit, b.recruit = b.owner, a.owner
    return World(a, b)


# -------------------------------------------------------------------------- the endpoints


@dataclass(frozen=True)
class Endpoint:
    key: str
    method: str
    path: str  # placeholders: {rid} {tid} {cid} {empty_cid} {iid} {oid} {poid} {vid} {resid} {preresid}
    roles: frozenset[str]  # who may call it: owner manager staff kitchen guest
    body: Callable[[Side], dict[str, Any]] | None = None
    writes: bool = True
    reveals: bool = True  # a successful response carries the restaurant's ids
    # Open to anyone signed in (a non-member is a customer there), so another restaurant's owner
    # is let in as a customer: attack 1 does not apply; the rest do.
    customers: bool = False

    def url(self, path_side: Side, resource_side: Side | None = None) -> str:
        ids = (resource_side or path_side).ids()
        ids["rid"] = path_side.id
        return self.path.format(**ids)

    def json(self, side: Side) -> dict[str, Any] | None:
        return self.body(side) if self.body else None


OM = frozenset({"owner", "manager"})
MEMBERS = frozenset({"owner", "manager", "staff", "kitchen"})
R = "/api/restaurants/{rid}"
UNKNOWN_ID = "00000000-0000-4000-8000-000000000000"


def _recruit(side: Side) -> dict[str, Any]:
    assert side.recruit is not None
    return {"email": side.recruit.email, "role": "owner"}


ENDPOINTS = [
    Endpoint("get_restaurant", "GET", R, MEMBERS, writes=False),
    Endpoint("patch_restaurant", "PATCH", R, OM, lambda s: {"name": "Renamed by an attacker", "tax_rate_bps": 9999}),
    Endpoint("add_member", "POST", R + "/members", OM, _recruit),
    Endpoint("list_invitations", "GET", R + "/invitations", OM, writes=False),
    Endpoint("revoke_invitation", "DELETE", R + "/invitations/{vid}", OM),
    Endpoint("create_table", "POST", R + "/tables", OM, lambda s: {"label": "Attacker's table", "seats": 2}),
    Endpoint("list_tables", "GET", R + "/tables", MEMBERS, writes=False),
    Endpoint("patch_table", "PATCH", R + "/tables/{tid}", OM, lambda s: {"is_active": False, "rotate_qr_token": True}),
    Endpoint("table_qr_svg", "GET", R + "/tables/{tid}/qr.svg", MEMBERS, writes=False, reveals=False),
    Endpoint("table_qr_png", "GET", R + "/tables/{tid}/qr.png", MEMBERS, writes=False, reveals=False),
    Endpoint("tables_qr_sheet", "GET", R + "/tables/qr-sheet.svg", MEMBERS, writes=False),
    Endpoint("put_opening_hours", "PUT", R + "/opening-hours", OM,
             lambda s: {"hours": [{"weekday": 0, "opens": "09:00", "closes": "10:00"}]}),
    # The zone's answer holds no id (its point and bands are no marker): nothing to find.
    Endpoint("get_delivery_zone", "GET", R + "/delivery-zone", MEMBERS, writes=False, reveals=False),
    Endpoint("put_delivery_zone", "PUT", R + "/delivery-zone", OM,
             lambda s: {"enabled": False, "location": {"lat": 1.5, "lng": 2.5}, "radius_m": 10}, reveals=False),
    Endpoint("pause_orders", "POST", R + "/pause", OM, lambda s: {"reason": "closed by an attacker"}),
    # Resuming an open restaurant changes nothing; its answer is the restaurant, whose id the URL names.
    Endpoint("resume_orders", "POST", R + "/resume", OM, writes=False, reveals=False),
    Endpoint("create_share_link", "POST", R + "/share-link", OM, lambda s: {"rotate": True}, reveals=False),
    Endpoint("get_menu", "GET", R + "/menu", MEMBERS | {"guest"}, writes=False),
    Endpoint("list_categories", "GET", R + "/menu/categories", MEMBERS | {"guest"}, writes=False),
    Endpoint("get_category", "GET", R + "/menu/categories/{cid}", MEMBERS | {"guest"}, writes=False),
    Endpoint("list_items", "GET", R + "/menu/items", MEMBERS | {"guest"}, writes=False),
    Endpoint("get_item", "GET", R + "/menu/items/{iid}", MEMBERS | {"guest"}, writes=False),
    Endpoint("create_category", "POST", R + "/menu/categories", OM, lambda s: {"name": "Attacker's category"}),
    Endpoint("patch_category", "PATCH", R + "/menu/categories/{cid}", OM, lambda s: {"name": "Renamed", "rank": 9}),
    Endpoint("delete_category", "DELETE", R + "/menu/categories/{empty_cid}", OM),
    Endpoint("create_item", "POST", R + "/menu/items", OM,
             lambda s: {"category_id": str(s.r.category_id), "name": "Attacker's dish", "price": 1}),
    Endpoint("patch_item", "PATCH", R + "/menu/items/{iid}", OM, lambda s: {"price": 1, "name": "Cheap"}),
    Endpoint("delete_item", "DELETE", R + "/menu/items/{iid}", OM),
    Endpoint("set_availability", "PUT", R + "/menu/items/{iid}/availability", MEMBERS,
             lambda s: {"is_available": False}),
    Endpoint("create_order", "POST", R + "/orders", MEMBERS | {"guest"}, lambda s: order_body(s.r)),
    Endpoint("list_orders", "GET", R + "/orders", MEMBERS, writes=False),
    Endpoint("get_order", "GET", R + "/orders/{oid}", MEMBERS | {"guest"}, writes=False),
    # Its answer names the order (in the URL) and moves, none of the markers: nothing to reveal.
    Endpoint("order_events", "GET", R + "/orders/{oid}/events", MEMBERS | {"guest"}, writes=False, reveals=False),
    Endpoint("move_order", "POST", R + "/orders/{oid}/status", MEMBERS, lambda s: {"status": "confirmed"}),
    Endpoint("cancel_order", "POST", R + "/orders/{oid}/cancel", MEMBERS | {"guest"}, lambda s: {"reason": "attack"}),
    # Its answer names the order (in the URL) and Stripe's intent, none of the markers.
    Endpoint("start_payment", "POST", R + "/orders/{poid}/payment", MEMBERS | {"guest"}, reveals=False),
    Endpoint("mark_paid", "POST", R + "/orders/{oid}/paid", MEMBERS, lambda s: {"method": "cash"}),
    Endpoint("sync_status", "GET", R + "/sync/status", OM, writes=False, reveals=False),
    # Every integration's state (before the controls below disconnect the stores), and the restaurant's failed deliveries (none here: nothing to reveal).
    Endpoint("list_integrations", "GET", R + "/integrations", OM, writes=False),
    Endpoint("list_sync_errors", "GET", R + "/sync/errors", OM, writes=False, reveals=False),
    Endpoint("convex_token", "POST", R + "/convex-token", MEMBERS, writes=False, reveals=False),
    Endpoint("sync_menu", "POST", R + "/menu/sync", OM, reveals=False),
    Endpoint("list_menu_syncs", "GET", R + "/menu/syncs", OM, writes=False, reveals=False),
    # In this order: the manager's controls connect, read, then disconnect.
    Endpoint("connect_petpooja", "PUT", R + "/integrations/petpooja", OM, lambda s: _petpooja(s.id)),
    Endpoint("get_petpooja", "GET", R + "/integrations/petpooja", OM, writes=False),
    Endpoint("disconnect_petpooja", "DELETE", R + "/integrations/petpooja", OM),
    # In this order too: replace the URL registered in _side, read, delete.
    Endpoint("put_webhook", "PUT", R + "/integrations/webhook", OM, lambda s: _webhook(s.id, "moved")),
    Endpoint("get_webhook", "GET", R + "/integrations/webhook", OM, writes=False),
    Endpoint("delete_webhook", "DELETE", R + "/integrations/webhook", OM),
    # In this order too: reconnect the store connected in _side, read, refresh, disconnect.
    Endpoint("connect_ubereats", "PUT", R + "/integrations/ubereats", OM, lambda s: _uber(s.id)),
    Endpoint("get_ubereats", "GET", R + "/integrations/ubereats", OM, writes=False),
    # Its one write coalesces into the pending publish connecting queued: nothing the fingerprint sees.
    Endpoint("refresh_ubereats", "POST", R + "/integrations/ubereats/refresh", OM, writes=False, reveals=False),
    Endpoint("disconnect_ubereats", "DELETE", R + "/integrations/ubereats", OM),
    # In this order too, for DoorDash's store.
    Endpoint("connect_doordash", "PUT", R + "/integrations/doordash", OM,
             lambda s: {**_doordash(s.id), "developer_id": f"dev-{s.id}"}),
    Endpoint("get_doordash", "GET", R + "/integrations/doordash", OM, writes=False),
    Endpoint("refresh_doordash", "POST", R + "/integrations/doordash/refresh", OM, writes=False, reveals=False),
    Endpoint("disconnect_doordash", "DELETE", R + "/integrations/doordash", OM),
    # In this order too, for Grubhub's merchant.
    Endpoint("connect_grubhub", "PUT", R + "/integrations/grubhub", OM, lambda s: _grubhub(s.id)),
    Endpoint("get_grubhub", "GET", R + "/integrations/grubhub", OM, writes=False),
    Endpoint("refresh_grubhub", "POST", R + "/integrations/grubhub/refresh", OM, writes=False, reveals=False),
    Endpoint("disconnect_grubhub", "DELETE", R + "/integrations/grubhub", OM),
    Endpoint("get_slot_rules", "GET", R + "/slot-rules", MEMBERS, writes=False, reveals=False),
    Endpoint("put_slot_rules", "PUT", R + "/slot-rules", OM, lambda s: _slot_rules(40)),
    Endpoint("time_slots", "GET", R + "/time-slots?date={day}", MEMBERS | {"guest"}, writes=False, reveals=False,
             customers=True),
    Endpoint("create_reservation", "POST", R + "/reservations", MEMBERS, lambda s: _booking("Attacker's party"),
             customers=True),
    Endpoint("list_reservations", "GET", R + "/reservations?date={day}", MEMBERS, writes=False),
    Endpoint("move_reservation", "POST", R + "/reservations/{resid}/status", MEMBERS,
             lambda s: {"status": "confirmed"}),
    Endpoint("create_pre_order", "POST", R + "/reservations/{resid}/pre-order", MEMBERS,
             lambda s: {"items": order_body(s.r)["items"], "fire_minutes_before": 30}),
    Endpoint("get_pre_order", "GET", R + "/reservations/{preresid}/pre-order", MEMBERS, writes=False),
    Endpoint("create_export", "POST", R + "/exports", OM, lambda s: _export_range()),
    Endpoint("list_exports", "GET", R + "/exports", OM, writes=False),
    # Its answer names only the restaurant and the export, both in its URL: nothing more to find.
    Endpoint("get_export", "GET", R + "/exports/{xid}", OM, writes=False, reveals=False),
    # This world places no phone orders: the list is empty (tests/test_voice.py reads one with calls).
    Endpoint("list_voice_calls", "GET", R + "/voice/calls", OM, writes=False, reveals=False),
]
BY_KEY = {e.key: e for e in ENDPOINTS}
OWNER_MANAGER_ONLY = [e for e in ENDPOINTS if e.roles == OM]


def _has_resource(endpoint: Endpoint) -> bool:
    # A query's placeholder ({day}) is a value, not another restaurant's resource.
    return "{" in endpoint.path.split("?")[0].replace("{rid}", "")


# ------------------------------------------------------------------------------ the runner


def _leaked(response: httpx.Response, markers: set[str], sent: str) -> list[str]:
    # An id the caller put in the request is not a leak; anything else of the victim's is.
    # Markers are matched as whole JSON strings, so "Restaurant 1" is not found in "Restaurant 12".
    return sorted(m for m in markers if m not in sent and json.dumps(m) in response.text)


async def attack(
    client: httpx.AsyncClient, db_sql: DbSql, *, headers: dict[str, str], method: str, url: str,
    body: dict[str, Any] | None, status: int, code: str, victim: Side,
) -> None:
    """Sends one hostile request; asserts its refusal, that nothing leaked and nothing changed."""
    before = fingerprint(db_sql)
    response = await client.request(method, url, headers=headers, json=body)
    where = f"{method} {url}"
    assert response.status_code == status, f"{where}: {response.status_code} != {status}: {response.text}"
    assert response.headers["content-type"].startswith("application/problem+json"), where
    assert response.json()["code"] == code, f"{where}: {response.text}"
    assert _leaked(response, victim.markers, url + json.dumps(body)) == [], f"{where} leaked: {response.text}"
    assert changed_tables(before, fingerprint(db_sql)) == [], f"{where} wrote to the database"


async def control(
    client: httpx.AsyncClient, db_sql: DbSql, *, headers: dict[str, str], endpoint: Endpoint, url: str,
    body: dict[str, Any] | None, owner_of: Side, other: Side,
) -> None:
    """The same request from a caller allowed to make it succeeds, its effect is visible, and
    its response holds nothing of the other restaurant."""
    before = fingerprint(db_sql)
    response = await client.request(endpoint.method, url, headers=headers, json=body)
    where = f"control {endpoint.method} {url}"
    assert 200 <= response.status_code < 300, f"{where}: {response.status_code}: {response.text}"
    assert _leaked(response, other.markers, url + json.dumps(body)) == [], f"{where} leaked: {response.text}"
    if endpoint.writes:
        assert changed_tables(before, fingerprint(db_sql)), f"{where}: the fingerprint cannot see this write"
    elif endpoint.reveals:
        assert _leaked(response, owner_of.markers, url), f"{where}: the leak check cannot see this data"


class Attacks:
    """Runs attacks and collects every one that got through, so a test reports them all."""

    def __init__(self, client: httpx.AsyncClient, db_sql: DbSql):
        self.client, self.db_sql = client, db_sql
        self.failures: list[str] = []

    async def run(self, label: str, **kwargs: Any) -> None:
        try:
            await attack(self.client, self.db_sql, **kwargs)
        except AssertionError as exc:
            self.failures.append(f"{label}: {exc}")


# ------------------------------------------------------------------- the route inventory


def test_every_restaurant_route_of_the_app_is_attacked_by_this_suite(app: Starlette) -> None:
    def shape(path: str) -> str:
        # "{rid:uuid}" and "{rid}" name the same segment.
        return "/".join("{}" if part.startswith("{") else part for part in path.split("?")[0].split("/"))

    served = {
        (method, shape(route.path))
        for route in app.routes
        if isinstance(route, Route) and route.path.startswith("/api/restaurants")
        for method in (route.methods or ()) if method != "HEAD"
    }
    covered = {(e.method, shape(e.path)) for e in ENDPOINTS} | {("POST", "/api/restaurants")}
    assert served - covered == set(), "restaurant routes without a tenancy attack"
    assert covered - served == set(), "attacks on routes the app does not serve"


# -------------------------------------------------- 1-4. every endpoint, every hostile caller


@pytest.mark.parametrize("endpoint", [pytest.param(e, id=e.key) for e in ENDPOINTS])
async def test_other_tenants_get_not_found_and_unentitled_roles_forbidden_and_nothing_changes(
    client: httpx.AsyncClient, db_sql: DbSql, world: World, endpoint: Endpoint
) -> None:
    a, b = world.a, world.b
    attacks = Attacks(client, db_sql)
    method = endpoint.method
    # 1. Another restaurant's owner, on A's path with A's ids and a valid body.
    if not endpoint.customers:
        await attacks.run("B's owner on A", headers=b.owner.headers, method=method, url=endpoint.url(a),
                          body=endpoint.json(a), status=404, code="not_found", victim=a)
    # An id no restaurant has answers exactly like another tenant's.
    await attacks.run("A's owner on an unknown restaurant", headers=a.owner.headers, method=method,
                      url=endpoint.url(a).replace(a.id, UNKNOWN_ID), body=endpoint.json(a), status=404,
                      code="not_found", victim=b)
    # 3. A guest of A on B.
    await attacks.run("A's guest on B", headers=a.guest.headers, method=method, url=endpoint.url(b),
                      body=endpoint.json(b), status=404, code="not_found", victim=b)
    # 2. A's owner on A's path naming B's resource.
    if _has_resource(endpoint):
        await attacks.run("A's owner naming B's resource", headers=a.owner.headers, method=method,
                          url=endpoint.url(a, b), body=endpoint.json(a), status=404, code="not_found", victim=b)
    # 3, 4. A's own guest and people whose role is not enough.
    for who in ("guest", "manager", "staff", "kitchen"):
        if who not in endpoint.roles:
            await attacks.run(f"A's {who}", headers=a.headers(who), method=method, url=endpoint.url(a),
                              body=endpoint.json(a), status=403, code="forbidden", victim=a)
    assert attacks.failures == []
    await control(client, db_sql, headers=a.owner.headers, endpoint=endpoint, url=endpoint.url(a),
                  body=endpoint.json(a), owner_of=a, other=b)
    # B's owner making the request the attackers sent against B shows that it was a valid one.
    await control(client, db_sql, headers=b.owner.headers, endpoint=endpoint, url=endpoint.url(b),
                  body=endpoint.json(b), owner_of=b, other=a)


async def test_creating_a_restaurant_cannot_choose_its_id_and_is_closed_to_guests(
    client: httpx.AsyncClient, db_sql: DbSql, world: World
) -> None:
    a, b = world.a, world.b
    body = {"id": a.id, "name": "Hijack", "currency": "INR", "timezone": "Asia/Kolkata"}
    await attack(client, db_sql, headers=b.owner.headers, method="POST", url="/api/restaurants", body=body,
                 status=422, code="validation_error", victim=a)
    del body["id"]
    await attack(client, db_sql, headers=a.guest.headers, method="POST", url="/api/restaurants", body=body,
                 status=403, code="forbidden", victim=a)
    created = expect(await client.post("/api/restaurants", headers=b.owner.headers, json=body), 201)
    assert created["id"] not in (a.id, b.id)
    assert db_sql("SELECT role FROM memberships WHERE restaurant_id = %s", (created["id"],)) == [{"role": "owner"}]


# --------------------------------------------- 2. another restaurant's ids inside a request body


def _order_with_foreign_item(a: Side, b: Side) -> dict[str, Any]:
    body = order_body(a.r)
    body["items"].append({"menu_item_id": b.r.items["Dal Makhani"]["id"], "quantity": 1})
    return body


def _order_at_foreign_table(a: Side, b: Side) -> dict[str, Any]:
    return {**order_body(a.r), "table_id": b.r.tables[1]["id"]}


def _item_in_foreign_category(a: Side, b: Side) -> dict[str, Any]:
    return {"category_id": str(b.r.category_id), "name": "Smuggled", "price": 100}


def _move_item_to_foreign_category(a: Side, b: Side) -> dict[str, Any]:
    # The empty category, so that the control (B's item moved within B) is a real change.
    return {"category_id": b.empty_category_id}


BODY_ATTACKS = [
    ("owner", "create_order", _order_with_foreign_item, "unknown_menu_item"),
    ("guest", "create_order", _order_with_foreign_item, "unknown_menu_item"),
    ("owner", "create_order", _order_at_foreign_table, "unknown_table"),
    ("owner", "create_item", _item_in_foreign_category, "unknown_category"),
    ("owner", "patch_item", _move_item_to_foreign_category, "unknown_category"),
]


async def test_another_restaurants_ids_in_a_body_are_unprocessable_and_write_nothing(
    client: httpx.AsyncClient, db_sql: DbSql, world: World
) -> None:
    a, b = world.a, world.b
    attacks = Attacks(client, db_sql)
    for who, key, make_body, code in BODY_ATTACKS:
        endpoint = BY_KEY[key]
        await attacks.run(f"A's {who}: {key} {make_body.__name__}", headers=a.headers(who), method=endpoint.method,
                          url=endpoint.url(a), body=make_body(a, b), status=422, code=code, victim=b)
    assert attacks.failures == []
    # The same bodies are fine in the restaurant they belong to.
    for _who, key, make_body, _code in BODY_ATTACKS[2:]:
        endpoint = BY_KEY[key]
        await control(client, db_sql, headers=b.owner.headers, endpoint=endpoint, url=endpoint.url(b),
                      body=make_body(b, b), owner_of=b, other=a)


async def test_making_another_restaurants_owner_a_member_opens_nothing_of_their_restaurant(
    client: httpx.AsyncClient, db_sql: DbSql, world: World
) -> None:
    a, b = world.a, world.b
    invitation = expect(await client.post(a.r.url("/members"), headers=a.owner.headers,
                                          json={"email": b.owner.email, "role": "staff"}), 202)
    expect(await client.post(f"/api/invitations/{invitation['id']}/accept", headers=b.owner.headers), 200)
    expect(await client.get(a.r.url("/orders"), headers=b.owner.headers), 200)
    await attack(client, db_sql, headers=a.owner.headers, method="GET", url=b.r.url("/orders"), body=None,
                 status=404, code="not_found", victim=b)
    me = expect(await client.get("/api/auth/me", headers=a.owner.headers), 200)
    assert [m["restaurant_id"] for m in me["memberships"]] == [a.id]


# ------------------------------------------------------------------------------- 3. guests


async def test_a_guest_reaches_only_its_own_sessions_orders_and_its_own_table(
    client: httpx.AsyncClient, db_sql: DbSql, world: World
) -> None:
    a = world.a
    assert a.neighbour is not None
    assert a.neighbour_order is not None
    attacks = Attacks(client, db_sql)
    theirs = a.r.url(f"/orders/{a.neighbour_order['id']}")
    await attacks.run("read another session's order", headers=a.guest.headers, method="GET", url=theirs, body=None,
                      status=404, code="not_found", victim=a)
    await attacks.run("cancel another session's order", headers=a.guest.headers, method="POST",
                      url=theirs + "/cancel", body={}, status=404, code="not_found", victim=a)
    await attacks.run("read another session's order's timeline", headers=a.guest.headers, method="GET",
                      url=theirs + "/events", body=None, status=404, code="not_found", victim=a)
    elsewhere = {**order_body(a.r), "table_id": a.neighbour.table_id}
    await attacks.run("order for another table", headers=a.guest.headers, method="POST", url=a.r.url("/orders"),
                      body=elsewhere, status=422, code="table_mismatch", victim=a)
    assert attacks.failures == []
    # What the guest may do: read its own order and order for its own table; the other
    # session cancels its own order.
    own = expect(await client.get(a.r.url(f"/orders/{a.order['id']}"), headers=a.guest.headers), 200)
    assert own["id"] == a.order["id"]
    timeline = expect(await client.get(a.r.url(f"/orders/{a.order['id']}/events"), headers=a.guest.headers), 200)
    assert timeline["order_id"] == a.order["id"]
    placed = expect(await client.post(a.r.url("/orders"), headers=a.guest.headers,
                                      json={**elsewhere, "table_id": a.guest.table_id}), 201)
    assert placed["table_id"] == a.guest.table_id
    cancelled = expect(await client.post(theirs + "/cancel", headers=a.neighbour.headers, json={}), 200)
    assert cancelled["status"] == "cancelled"


# -------------------------------------------------------------------------------- 4. roles


async def test_a_manager_may_use_every_owner_and_manager_endpoint_but_cannot_grant_owner(
    client: httpx.AsyncClient, db_sql: DbSql, world: World, make_user: Any
) -> None:
    a, b = world.a, world.b
    owner_grant = {"email": b.owner.email, "role": "owner"}
    await attack(client, db_sql, headers=a.headers("manager"), method="POST", url=a.r.url("/members"),
                 body=owner_grant, status=403, code="forbidden", victim=b)
    for endpoint in OWNER_MANAGER_ONLY:
        body = endpoint.json(a)
        if endpoint.key == "add_member":
            body = {"email": b.owner.email, "role": "manager"}
        await control(client, db_sql, headers=a.headers("manager"), endpoint=endpoint, url=endpoint.url(a),
                      body=body, owner_of=a, other=b)
    for role in ("staff", "kitchen"):
        newcomer = await make_user()
        invitation = expect(await client.post(a.r.url("/members"), headers=a.headers("manager"),
                                              json={"email": newcomer.email, "role": role}), 202)
        expect(await client.post(f"/api/invitations/{invitation['id']}/accept", headers=newcomer.headers), 200)
        assert db_sql("SELECT role FROM memberships WHERE restaurant_id = %s AND user_id = %s",
                      (a.id, newcomer.id)) == [{"role": role}]
    # Making an owner is the owner's to do.
    newcomer = await make_user()
    expect(await client.post(a.r.url("/members"), headers=a.owner.headers,
                             json={"email": newcomer.email, "role": "owner"}), 202)


@pytest.mark.parametrize("role", ["staff", "kitchen"])
async def test_staff_and_kitchen_may_read_86_items_and_move_and_cancel_orders(
    client: httpx.AsyncClient, db_sql: DbSql, world: World, role: str
) -> None:
    a = world.a
    for key in ("get_restaurant", "list_tables", "get_menu", "list_orders", "get_order", "convex_token",
                "set_availability", "move_order", "cancel_order"):
        endpoint = BY_KEY[key]
        await control(client, db_sql, headers=a.headers(role), endpoint=endpoint, url=endpoint.url(a),
                      body=endpoint.json(a), owner_of=a, other=world.b)
    order = expect(await client.get(a.r.url(f"/orders/{a.order['id']}"), headers=a.owner.headers), 200)
    assert order["status"] == "cancelled"


async def test_a_convex_token_is_not_accepted_by_the_api(client: httpx.AsyncClient, db_sql: DbSql, world: World) -> None:
    a = world.a
    issued = expect(await client.post(a.r.url("/convex-token"), headers=a.owner.headers), 200)
    claims = jwt.decode(issued["token"], options={"verify_signature": False})
    assert claims["restaurant_id"] == a.id
    assert claims["role"] == "owner"
    response = await client.get(a.r.url("/orders"), headers={"Authorization": f"Bearer {issued['token']}"})
    assert response.status_code == 401
    assert response.json()["code"] == "invalid_token"


# ------------------------------------------------------------------------ 5. platform admin


async def test_a_platform_admin_may_read_any_restaurant_and_loses_that_with_the_flag(
    client: httpx.AsyncClient, db_sql: DbSql, world: World, make_user: Any
) -> None:
    admin = await make_user()
    for side in (world.a, world.b):
        await attack(client, db_sql, headers=admin.headers, method="GET", url=side.r.url(), body=None,
                     status=404, code="not_found", victim=side)
    db_sql("UPDATE users SET is_platform_admin = true WHERE id = %s", (admin.id,))
    for side, other in ((world.a, world.b), (world.b, world.a)):
        for key in ("get_restaurant", "list_tables", "get_menu", "list_orders", "get_order", "sync_status"):
            endpoint = BY_KEY[key]
            await control(client, db_sql, headers=admin.headers, endpoint=endpoint, url=endpoint.url(side),
                          body=None, owner_of=side, other=other)
    db_sql("UPDATE users SET is_platform_admin = false WHERE id = %s", (admin.id,))
    await attack(client, db_sql, headers=admin.headers, method="GET", url=world.a.r.url(), body=None,
                 status=404, code="not_found", victim=world.a)


async def test_restaurant_owners_and_guests_are_forbidden_on_the_platform_sync_endpoints(
    client: httpx.AsyncClient, db_sql: DbSql, world: World, make_user: Any
) -> None:
    a = world.a
    sync_row = db_sql("SELECT id FROM sync_log WHERE restaurant_id = %s ORDER BY id LIMIT 1", (world.b.id,))[0]["id"]
    db_sql("UPDATE sync_log SET status = 'dead', last_error = 'boom' WHERE id = %s", (sync_row,))
    for headers in (a.owner.headers, a.guest.headers):
        await attack(client, db_sql, headers=headers, method="GET", url="/api/admin/sync/errors", body=None,
                     status=403, code="forbidden", victim=world.b)
        await attack(client, db_sql, headers=headers, method="POST", url=f"/api/admin/sync/errors/{sync_row}/retry",
                     body=None, status=403, code="forbidden", victim=world.b)
    admin = await make_user()
    db_sql("UPDATE users SET is_platform_admin = true WHERE id = %s", (admin.id,))
    errors = expect(await client.get("/api/admin/sync/errors", headers=admin.headers), 200)
    assert sync_row in [e["id"] for e in errors["items"]]
