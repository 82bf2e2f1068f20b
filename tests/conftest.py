"""Test harness: a real embedded Postgres, one fresh database per test cloned from a
template holding schema.sql, and the real ASGI app connected to it as the unprivileged
tabletop_app role.

Factories are fixtures returning functions with sensible defaults; they drive the API
itself, so a test's setup goes through the same code a client's would.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from itertools import count
from pathlib import Path
from typing import Any, TypeVar

import httpx
import psycopg
import pytest
import uvicorn
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from psycopg import sql
from psycopg.rows import dict_row
from pytest_postgresql import factories
from starlette.applications import Starlette

from api.app import create_app
from api.config import Settings
from db import embedded
from db.pool import Database
from db.schema import SCHEMA_PATH
from sync.config import SmtpSettings, SyncSettings
from sync.engine import Engine
from sync.outcome import Report
from sync.registry import convex_target
from sync.target import Target
from sync.worker import Worker

ROOT = Path(__file__).resolve().parent.parent
PG_DIR = ROOT / ".data" / "test-pg"
SOCKET_DIR = str(PG_DIR)

def pytest_sessionstart(session: pytest.Session) -> None:
    # Stray settings from the developer's shell must not leak into tests.
    for name in list(os.environ):
        if name in {"DATABASE_URL", "ENV_MODE", "JWT_PRIVATE_KEY", "JWT_PRIVATE_KEY_FILE", "CONVEX_URL"}:
            del os.environ[name]
    # No test reaches the real Uber Eats: an app built without a stand-in finds it down (port 9 refuses).
    for name in ("UBEREATS_API_URL", "UBEREATS_AUTH_URL"):
        os.environ[name] = "http://127.0.0.1:9"
    os.environ["GRUBHUB_API_URL"] = "http://127.0.0.1:9"
    os.environ["DOORDASH_API_URL"] = "http://127.0.0.1:9"
    # Kept running between sessions: several test runs may share it, and starting costs a second.
    # Runs start together (pytest-xdist's workers): one at a time starts the server and makes the
    # cluster-wide app role, which every worker's template (schema.sql) then finds made.
    PG_DIR.parent.mkdir(parents=True, exist_ok=True)
    with (PG_DIR.parent / "test-pg.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        embedded.start(PG_DIR, keep_running=True)
        with psycopg.connect(embedded.conninfo(SOCKET_DIR, "postgres", user="postgres"), autocommit=True) as conn:
            if conn.execute("SELECT FROM pg_roles WHERE rolname = %s", (embedded.APP_ROLE,)).fetchone() is None:
                conn.execute(sql.SQL("CREATE ROLE {} LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE").format(
                    sql.Identifier(embedded.APP_ROLE)))
    # A run that was killed leaves its databases behind; drop those of runs no longer alive.
    with psycopg.connect(embedded.conninfo(SOCKET_DIR, "postgres", user="postgres"), autocommit=True) as conn:
        for (name,) in conn.execute("SELECT datname FROM pg_database WHERE datname LIKE 'tabletop_tests_%'"):
            pid = name.removeprefix("tabletop_tests_").removesuffix("_tmpl")
            if pid.isdigit() and not Path(f"/proc/{pid}").exists():
                # Best effort: another run may be dropping it too, or it may be half-created.
                with contextlib.suppress(psycopg.Error):
                    conn.execute(sql.SQL("ALTER DATABASE {} IS_TEMPLATE false").format(sql.Identifier(name)))
                with contextlib.suppress(psycopg.Error):
                    conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


postgresql_noproc = factories.postgresql_noproc(
    host=SOCKET_DIR, port=5432, user="postgres", password="", dbname=f"tabletop_tests_{os.getpid()}", load=[SCHEMA_PATH]
)
postgresql = factories.postgresql("postgresql_noproc")


@pytest.fixture(scope="session")
def signing_key_pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


@pytest.fixture
def dbname(postgresql: psycopg.Connection[Any]) -> str:
    return str(postgresql.info.dbname)


@pytest.fixture
def admin_conninfo(dbname: str) -> str:
    return embedded.conninfo(SOCKET_DIR, dbname, user="postgres")


@pytest.fixture
def app_conninfo(dbname: str) -> str:
    return embedded.conninfo(SOCKET_DIR, dbname)


@pytest.fixture
async def system_db(app_conninfo: str) -> AsyncIterator[Database]:
    """The app's own pool on the test database, as the app role (the worker's view: system scope)."""
    db = Database(app_conninfo, min_size=1, max_size=4)
    await db.open(wait=True)
    yield db
    await db.close()


@pytest.fixture
def db_sql(admin_conninfo: str) -> Iterator[Callable[..., list[dict[str, Any]]]]:
    """Runs SQL as the superuser (outside RLS) to look at what the API really wrote."""
    conn = psycopg.connect(admin_conninfo, autocommit=True, row_factory=dict_row)

    def run(query: str, params: dict[str, Any] | tuple[Any, ...] | None = None) -> list[dict[str, Any]]:
        cur = conn.execute(query, params)  # type: ignore[arg-type]  # test-only literal SQL
        return cur.fetchall() if cur.description else []

    yield run
    conn.close()


@pytest.fixture
def settings_overrides(request: pytest.FixtureRequest) -> dict[str, Any]:
    """Override in a test module, or per test with ``@overrides(...)`` (indirect parametrisation)."""
    values: dict[str, Any] = getattr(request, "param", {})
    return values


def overrides(**values: Any) -> pytest.MarkDecorator:
    """Settings for one test: ``@overrides(admission_max_in_flight=2)``."""
    return pytest.mark.parametrize("settings_overrides", [values], indirect=True, ids=["overrides"])


OPERATOR_KEY = "test-operator-key-0123456789abcdef-not-secret"


@pytest.fixture
def settings(app_conninfo: str, signing_key_pem: str, settings_overrides: dict[str, Any]) -> Settings:
    values: dict[str, Any] = {
        "env_mode": "test",
        "database_url": app_conninfo,
        "jwt_private_key": signing_key_pem,
        "jwt_issuer": "http://tabletop.test",
        # The cheapest argon2id parameters: hashing cost is not what these tests check.
        "password_time_cost": 1,
        "password_memory_kib": 64,
        "rate_limit_login": "1000/minute",
        "rate_limit_login_failures": "1000/minute",
        "rate_limit_login_account": "1000/minute",
        "rate_limit_qr_lookup_failures": "1000/minute",
        "rate_limit_qr_session": "1000/minute",
        "rate_limit_order_create": "1000/minute",
        "rate_limit_order_table": "1000/minute",
        "rate_limit_invite": "1000/minute",
        "log_format": "json",
        "log_level": "WARNING",
        # Tests read the queue gauges right after changing the outbox: no caching between scrapes.
        "metrics_cache_s": 0,
        # The operator API's machine key (api/apikeys.py); tests of a server without one override it.
        "api_keys": [OPERATOR_KEY],
        "db_pool_min": 1,
        "db_pool_max": 8,
        **settings_overrides,
    }
    return Settings.model_validate(values)


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[Starlette]:
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://tabletop.test") as c:
        yield c


# ---------------------------------------------------------------------------- factories

_seq = count(1)


@dataclass
class User:
    id: str
    email: str
    password: str
    access_token: str
    refresh_token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}


@dataclass
class Restaurant:
    id: str
    owner: User
    data: dict[str, Any]
    items: dict[str, dict[str, Any]] = field(default_factory=dict)
    category_id: str | None = None
    tables: list[dict[str, Any]] = field(default_factory=list)

    def url(self, suffix: str = "") -> str:
        return f"/api/restaurants/{self.id}{suffix}"


@dataclass
class Guest:
    token: str
    table_id: str
    restaurant_id: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


MakeUser = Callable[..., Awaitable[User]]
MakeRestaurant = Callable[..., Awaitable[Restaurant]]


def expect(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, f"{response.status_code} != {status}: {response.text}"
    return response.json() if response.content else {}


@pytest.fixture
def make_user(client: httpx.AsyncClient) -> MakeUser:
    async def make(email: str | None = None, password: str = "correct horse battery") -> User:
        email = email or f"user{next(_seq)}@example.com"
        created = expect(await client.post("/api/auth/register", json={
            "email": email, "password": password, "full_name": "Test Person"}), 201)
        tokens = expect(await client.post("/api/auth/login", json={"email": email, "password": password}), 200)
        return User(created["id"], email, password, tokens["access_token"], tokens["refresh_token"])

    return make


@pytest.fixture
def make_restaurant(client: httpx.AsyncClient, make_user: MakeUser) -> MakeRestaurant:
    """A restaurant with a category, three items (one unavailable) and two tables."""

    async def make(owner: User | None = None, *, tax_rate_bps: int = 500, currency: str = "INR") -> Restaurant:
        owner = owner or await make_user()
        data = expect(await client.post("/api/restaurants", headers=owner.headers, json={
            "name": f"Restaurant {next(_seq)}", "currency": currency, "timezone": "Asia/Kolkata",
            "tax_rate_bps": tax_rate_bps}), 201)
        r = Restaurant(data["id"], owner, data)
        category = expect(await client.post(r.url("/menu/categories"), headers=owner.headers,
                                            json={"name": "Mains", "rank": 1}), 201)
        r.category_id = category["id"]
        for name, price, available in (("Paneer Tikka", 25000, True), ("Dal Makhani", 18050, True),
                                       ("Seasonal Special", 30000, False)):
            r.items[name] = expect(await client.post(r.url("/menu/items"), headers=owner.headers, json={
                "category_id": category["id"], "name": name, "price": price, "is_available": available}), 201)
        for label in ("T1", "T2"):
            r.tables.append(expect(await client.post(r.url("/tables"), headers=owner.headers,
                                                     json={"label": label, "seats": 4}), 201))
        return r

    return make


@pytest.fixture
def make_member(client: httpx.AsyncClient, make_user: MakeUser) -> Callable[[Restaurant, str], Awaitable[User]]:
    async def make(restaurant: Restaurant, role: str) -> User:
        """A new user, invited by the owner, who accepts."""
        user = await make_user()
        invitation = expect(await client.post(restaurant.url("/members"), headers=restaurant.owner.headers,
                                              json={"email": user.email, "role": role}), 202)
        expect(await client.post(f"/api/invitations/{invitation['id']}/accept", headers=user.headers), 200)
        return user

    return make


@pytest.fixture
def open_guest(client: httpx.AsyncClient) -> Callable[[Restaurant, int], Awaitable[Guest]]:
    async def open_(restaurant: Restaurant, table_index: int = 0) -> Guest:
        table = restaurant.tables[table_index]
        body = expect(await client.post(f"/api/qr/{table['qr_token']}/session"), 201)
        return Guest(body["session_token"], table["id"], restaurant.id)

    return open_


def order_body(restaurant: Restaurant, *lines: tuple[str, int]) -> dict[str, Any]:
    """An order body naming menu items by their factory names."""
    lines = lines or (("Paneer Tikka", 2), ("Dal Makhani", 1))
    return {"items": [{"menu_item_id": restaurant.items[name]["id"], "quantity": qty} for name, qty in lines]}


# A delivery address the development gazetteer (providers/gazetteer.json) puts 542 m from
# DELIVERY_POINT, inside the zone deliver_from() sets.
DELIVERY_ADDRESS = {"line1": "4 East Street", "line2": "Camp", "city": "Pune", "postcode": "411001"}
DELIVERY_POINT = {"lat": 18.5196, "lng": 73.8793}  # 12 MG Road, Camp, Pune (the demo restaurant)


async def deliver_from(client: httpx.AsyncClient, restaurant: Restaurant, **zone: Any) -> dict[str, Any]:
    """Turns delivery on for ``restaurant`` (a 5 km radius around DELIVERY_POINT, free, unless
    ``zone`` says otherwise) through the API; returns the zone."""
    body = {"enabled": True, "location": DELIVERY_POINT, "radius_m": 5000, **zone}
    return expect(await client.put(restaurant.url("/delivery-zone"), headers=restaurant.owner.headers, json=body),
                  200)


# ---------------------------------------------------------------------- Convex stand-in

STANDIN_KEY = "test-admin-key"


@dataclass
class Standin:
    """The local Convex stand-in (scripts/convex_standin.ts) as a real Node process."""

    url: str
    process: subprocess.Popen[str]
    log: Any

    def _control(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        response = httpx.request(method, f"{self.url}/_standin/{path}", json=body, timeout=10,
                                 headers={"Authorization": f"Convex {STANDIN_KEY}"})
        response.raise_for_status()
        return response.json()

    def fault(self, mode: str, **options: Any) -> None:
        self._control("POST", "fault", {"mode": mode, **options})

    def reset(self) -> None:
        self._control("POST", "reset")
        self.fault("ok")

    def dump(self) -> dict[str, list[dict[str, Any]]]:
        result: dict[str, list[dict[str, Any]]] = self._control("GET", "dump")
        return result

    def stats(self) -> dict[str, Any]:
        result: dict[str, Any] = self._control("GET", "stats")
        return result

    def versions(self, table: str) -> dict[str, int]:
        return {d["pgId"]: int(d["version"]) for d in self.dump()[table]}

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                # tsx runs the server as a child and cannot pass SIGKILL on: kill the group.
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        if self.process.stdout:
            self.process.stdout.close()
        self.log.close()


def start_standin(public_key_file: Path, issuer: str, log_file: Path, *, port: int = 0) -> Standin:
    """``port`` 0 picks a free one; a given port restarts a stopped stand-in at its old URL."""
    env = {**os.environ, "CONVEX_DEPLOY_KEY": STANDIN_KEY, "CONVEX_STANDIN_PORT": str(port),
           "CONVEX_STANDIN_CONTROL": "1", "CONVEX_STANDIN_JWT_PUBLIC_KEY_FILE": str(public_key_file),
           "TABLETOP_JWT_ISSUER": issuer}
    tsx = ROOT / "node_modules" / ".bin" / "tsx"
    log = log_file.open("a")
    process = subprocess.Popen(  # our own stand-in with fixed arguments
        [str(tsx), "scripts/convex_standin.ts"], cwd=ROOT, env=env, text=True,
        stdout=subprocess.PIPE, stderr=log, start_new_session=True,  # its own group: see stop()
    )
    assert process.stdout is not None
    line = process.stdout.readline()  # the one ready line; blocks until it listens
    standin = Standin(line.split()[-1] if line else "", process, log)
    if not line.startswith("convex-standin listening on "):
        standin.stop()
        raise RuntimeError(f"the Convex stand-in did not start: {line!r}; see {log_file}")
    return standin


@pytest.fixture(scope="session")
def standin_public_key(signing_key_pem: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    key = serialization.load_pem_private_key(signing_key_pem.encode(), password=None)
    path = tmp_path_factory.mktemp("standin") / "jwt-public.pem"
    path.write_bytes(key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    return path


@pytest.fixture(scope="session")
def standin_process(standin_public_key: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Standin]:
    standin = start_standin(standin_public_key, "http://tabletop.test",
                            tmp_path_factory.mktemp("standin-log") / "standin.log")
    yield standin
    standin.stop()


@pytest.fixture
def standin(standin_process: Standin) -> Standin:
    """The shared stand-in, emptied and healthy at the start of the test."""
    standin_process.reset()
    return standin_process


# -------------------------------------------------------------------- PetPooja stand-in

PETPOOJA_KEYS = {"app_key": "test-app-key", "app_secret": "test-app-secret", "access_token": "test-access-token"}
# PetPooja's order callback statuses, in the order a delivery order walks them.
PETPOOJA_WALK = ("1", "5", "4", "10")  # accepted, food ready, dispatched, delivered


@dataclass
class PartnerStandin:
    """A partner's stand-in (scripts/*_standin.py) as a real process: its URL, its control API
    under /_standin/, and how it stops."""

    url: str
    process: subprocess.Popen[str]
    log: Any
    # One client for the session: building one per call costs ~20-100 ms (its TLS context).
    http: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=15))

    def _control(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        response = self.http.request(method, f"{self.url}/_standin/{path}", json=body)
        response.raise_for_status()
        return response.json()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        if self.process.stdout:
            self.process.stdout.close()
        self.log.close()
        self.http.close()


S = TypeVar("S", bound=PartnerStandin)


def start_partner_standin(kind: type[S], module: str, ready: str, log_file: Path, args: list[str]) -> S:
    """``python -m scripts.<module> <args>``, once it prints its ``<ready> <url>`` line."""
    log = log_file.open("a")
    process = subprocess.Popen(  # our own stand-in with fixed arguments
        [sys.executable, "-m", f"scripts.{module}", *args], cwd=ROOT, text=True, stdout=subprocess.PIPE,
        stderr=log, start_new_session=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()  # the one ready line; blocks until it listens
    standin = kind(line.split()[-1] if line else "", process, log)
    if not line.startswith(f"{ready} "):
        standin.stop()
        raise RuntimeError(f"the {module} did not start: {line!r}; see {log_file}")
    return standin


@dataclass
class PetpoojaStandin(PartnerStandin):
    """The PetPooja stand-in (scripts/petpooja_standin.py) as a real process; its control API as methods."""

    def register(self, rest_id: str = "test-outlet", *, menu: dict[str, Any] | None = None,
                 **keys: str) -> dict[str, str]:
        """Registers an outlet (PETPOOJA_KEYS unless given) and returns its keys."""
        keys = {**PETPOOJA_KEYS, **keys}
        self._control("PUT", f"outlets/{rest_id}", {**keys, **({} if menu is None else {"menu": menu})})
        return keys

    def fault(self, mode: str, count: int | None = None, paths: list[str] | None = None) -> None:
        body: dict[str, Any] = {"mode": mode}
        if count is not None:
            body["count"] = count
        if paths is not None:
            body["paths"] = paths
        self._control("POST", "faults", body)

    def orders(self) -> list[dict[str, Any]]:
        """Stored save_order bodies and cancels, in arrival order."""
        result: list[dict[str, Any]] = self._control("GET", "orders")
        return result

    def saved(self) -> list[dict[str, Any]]:
        return [r for r in self.orders() if r["kind"] == "save_order"]

    def stats(self) -> dict[str, Any]:
        result: dict[str, Any] = self._control("GET", "stats")
        return result

    def reset(self) -> None:
        self._control("POST", "reset")

    def callback_request(self, order_id: object, status: str, **fields: Any) -> tuple[str, dict[str, Any]]:
        """The order callback PetPooja would send for our order ``order_id``, and where, without sending it."""
        answer = self._control("POST", f"orders/{order_id}/callback", {"status": status, **fields, "dry_run": True})
        return answer["url"], answer["body"]

    def callback(self, order_id: object, status: str, **fields: Any) -> dict[str, Any]:
        """The stand-in POSTs the order callback to the order's callback_url (or ``url=``) over real
        HTTP; returns our answer as {"status_code", "body"}."""
        result: dict[str, Any] = self._control("POST", f"orders/{order_id}/callback", {"status": status, **fields})
        return result

    async def deliver(self, client: httpx.AsyncClient, order_id: object, status: str,
                      **fields: Any) -> httpx.Response:
        """The same callback, delivered to an in-process app through ``client`` (the callback URL's path)."""
        url, body = self.callback_request(order_id, status, **fields)
        parsed = httpx.URL(url)
        return await client.post(parsed.raw_path.decode(), json=body)

    async def walk(self, order_id: object, statuses: tuple[str, ...] = PETPOOJA_WALK, *,
                   client: httpx.AsyncClient | None = None) -> list[int]:
        """Walks our order through ``statuses`` (accepted, food ready, dispatched, delivered);
        through ``client`` when the app runs in process, else over HTTP. Returns our status codes."""
        codes = []
        for status in statuses:
            if client is not None:
                codes.append((await self.deliver(client, order_id, status)).status_code)
            else:
                codes.append(int(self.callback(order_id, status)["status_code"]))
        return codes

    def send(self, url: str, body: Any, headers: dict[str, str] | None = None) -> dict[str, Any]:
        """POSTs any JSON (stock, store status, menu push) to ``url`` as PetPooja would."""
        result: dict[str, Any] = self._control("POST", "send", {"url": url, "body": body, "headers": headers or {}})
        return result

def start_petpooja_standin(log_file: Path, *, port: int = 0, menu: Path | None = None) -> PetpoojaStandin:
    """``port`` 0 picks a free one; ``menu`` is the default menu of registered outlets."""
    args = ["--port", str(port), *(["--menu", str(menu)] if menu is not None else [])]
    return start_partner_standin(PetpoojaStandin, "petpooja_standin", "petpooja-standin ready", log_file, args)


@pytest.fixture(scope="session")
def petpooja_standin_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PetpoojaStandin]:
    standin = start_petpooja_standin(tmp_path_factory.mktemp("petpooja-standin") / "standin.log")
    yield standin
    standin.stop()


@pytest.fixture
def petpooja_standin(petpooja_standin_process: PetpoojaStandin) -> PetpoojaStandin:
    """The shared PetPooja stand-in, with no outlets, orders or fault at the start of the test."""
    petpooja_standin_process.reset()
    return petpooja_standin_process


# ------------------------------------------------------------------------------- workers


def new_worker(conninfo: str, settings: SyncSettings, *others: Target[Any], convex: bool = True) -> Worker:
    """The worker process's own class on its own pool: Convex as ``settings`` configure it
    (unless ``convex`` is False), and ``others``. Open its pool before use; close_worker after."""
    target = convex_target(settings) if convex else None
    return Worker(Database(conninfo, min_size=1, max_size=8), [*([target] if target else []), *others], settings)


async def close_worker(worker: Worker) -> None:
    for target in worker.targets.values():
        await target.close()
    await worker.db.close()


@dataclass
class Served:
    """One target driven the way the worker drives it: each ``round`` is one engine round of its due rows."""

    db: Database
    target: Target[Any]

    async def round(self, *, owner: str = "t") -> Report:
        return await Engine(self.db, owner=owner).round_due(self.target)

    async def close(self) -> None:
        await self.target.close()


# ----------------------------------------------------------------- the system as processes


def spawn(args: list[str], env: dict[str, str], log: Path, **options: Any) -> subprocess.Popen[bytes]:
    """A process of ours in its own session (so a SIGKILL of its group takes its children)."""
    with log.open("ab") as out:  # the child keeps its own descriptor
        return subprocess.Popen(args, cwd=ROOT, env={**os.environ, **env}, stdout=out, stderr=out,
                                start_new_session=True, **options)


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def process_env(app_conninfo: str, signing_key_pem: str, **overrides: str) -> dict[str, str]:
    """What an API or worker process of the tests runs with: the test database as the app role,
    the tests' signing key and issuer (the Convex stand-in verifies its tokens), cheap password
    hashing, no metrics port; PetPooja and webhook secrets open with the development key."""
    return {
        "DATABASE_URL": app_conninfo, "ENV_MODE": "test", "LOG_FORMAT": "json", "LOG_LEVEL": "INFO",
        "JWT_PRIVATE_KEY": signing_key_pem, "JWT_ISSUER": "http://tabletop.test",
        "PASSWORD_TIME_COST": "1", "PASSWORD_MEMORY_KIB": "64", "RATE_LIMIT_LOGIN": "1000/minute",
        "RATE_LIMIT_QR_SESSION": "1000/minute", "RATE_LIMIT_ORDER_CREATE": "1000/minute",
        "RATE_LIMIT_ORDER_TABLE": "1000/minute", "RATE_LIMIT_LOGIN_FAILURES": "1000/minute",
        "RATE_LIMIT_LOGIN_ACCOUNT": "1000/minute", "RATE_LIMIT_INVITE": "1000/minute",
        "WORKER_METRICS_PORT": "0", **overrides,
    }


def start_api(env: dict[str, str], log: Path) -> tuple[subprocess.Popen[bytes], str]:
    """``uvicorn api.app:app`` on a port the test holds until uvicorn takes it; waits for /ready."""
    listener = socket.create_server(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    api = spawn([sys.executable, "-m", "uvicorn", "api.app:app", "--fd", str(listener.fileno()), "--no-access-log"],
                {"PUBLIC_BASE_URL": url, **env}, log, pass_fds=[listener.fileno()])
    listener.close()
    deadline = time.monotonic() + 30
    while True:
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"{url}/ready", timeout=1).status_code == 200:
                return api, url
        if time.monotonic() > deadline or api.poll() is not None:
            stop(api)
            raise AssertionError(f"the API did not start: {log.read_text()[-2000:]}")
        time.sleep(0.1)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


# ------------------------------------------------- a restaurant's backend (webhook receiver)


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.body)
        return parsed


@dataclass
class Receiver:
    """A restaurant's backend on loopback: records every request; answers the scripted statuses
    in turn (then 200); ``delay_s`` makes it slow to answer."""

    server: ThreadingHTTPServer
    requests: list[Received] = field(default_factory=list)
    answers: list[int] = field(default_factory=list)
    delay_s: float = 0.0
    trickle_s: float = 0.0  # a 2xx answer's body sent one byte per trickle_s

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}/hooks/tabletop?tenant=abc"

    def bodies(self) -> list[dict[str, Any]]:
        return [r.json for r in self.requests]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state: dict[str, Receiver] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            me = state["receiver"]
            delay_s = me.delay_s  # read before the request is visible to the test, which may change it
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            if len(body) < length:
                # The sender died mid-request (a test SIGKILLs a worker): a server never hands a
                # truncated body to its application, and neither does this one.
                self.close_connection = True
                return
            me.requests.append(Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body))
            if delay_s:
                time.sleep(delay_s)
            status = me.answers.pop(0) if me.answers else 200
            answer = {200: b"", 410: b"gone: this endpoint was retired", 500: b"boom"}.get(status, b"no")
            if me.trickle_s:
                answer = b"x" * 10
            self.send_response(status)
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            for byte in answer if me.trickle_s else ():
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
                time.sleep(me.trickle_s)
            if not me.trickle_s:
                self.wfile.write(answer)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002  # the base class's name
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state["receiver"] = Receiver(server)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state["receiver"]
    server.shutdown()
    server.server_close()


# -------------------------------------------------------------------- Uber Eats stand-in

UBER_CLIENT = {"client_id": "test-uber-client", "client_secret": "test-uber-secret"}
UBER_STORE_ID = "test-uber-store"


@dataclass
class UberStandin(PartnerStandin):
    """The Uber Eats stand-in (scripts/ubereats_standin.py) as a real process; its control API as methods."""

    @property
    def env(self) -> dict[str, str]:
        """The variables that point Uber Eats' adapter here (create_app's platform_env)."""
        return {"UBEREATS_API_URL": self.url, "UBEREATS_AUTH_URL": self.url, "UBEREATS_TIMEOUT_S": "3"}

    def register(self, client_id: str = UBER_CLIENT["client_id"], client_secret: str = UBER_CLIENT["client_secret"],
                 store_ids: tuple[str, ...] = (UBER_STORE_ID,), *, scopes: list[str] | None = None,
                 expires_in: int | None = None, token_limit: int | None = None) -> dict[str, str]:
        """Registers (or replaces) a client linked to ``store_ids``; returns {client_id, client_secret}."""
        body: dict[str, Any] = {"client_id": client_id, "client_secret": client_secret, "store_ids": list(store_ids)}
        for name, value in (("scopes", scopes), ("expires_in", expires_in), ("token_limit", token_limit)):
            if value is not None:
                body[name] = value
        self._control("POST", "clients", body)
        return {"client_id": client_id, "client_secret": client_secret}

    def token(self, client_id: str = UBER_CLIENT["client_id"], client_secret: str = UBER_CLIENT["client_secret"],
              scope: str = "eats.store eats.order") -> str:
        """An access token from the real token endpoint (a client must be registered)."""
        response = self.http.post(f"{self.url}/oauth/v2/token", data={
            "grant_type": "client_credentials", "client_id": client_id, "client_secret": client_secret,
            "scope": scope})
        response.raise_for_status()
        access_token: str = response.json()["access_token"]
        return access_token

    def clients(self) -> dict[str, Any]:
        """Registered clients with their token requests in the last hour and live tokens."""
        result: dict[str, Any] = self._control("GET", "clients")
        return result

    def expire_tokens(self, client_id: str | None = None) -> int:
        """Expires every token now (or those of ``client_id``); returns how many."""
        expired: int = self._control("POST", "expire", {} if client_id is None else {"client_id": client_id})["expired"]
        return expired

    def fault(self, mode: str, count: int | None = None, paths: list[str] | None = None, *,
              retry_after: int | None = None) -> None:
        """``mode`` (ok, http500, http429, hang, reject) for the next ``count`` calls (all while None) of
        ``paths`` (token, menus, items, order, accept, deny; default all)."""
        body: dict[str, Any] = {"mode": mode}
        for name, value in (("count", count), ("paths", paths), ("retry_after", retry_after)):
            if value is not None:
                body[name] = value
        self._control("POST", "fault", body)

    def menu(self, store_id: str = UBER_STORE_ID) -> dict[str, Any] | None:
        """The store's last accepted menu upload, or None when none was."""
        response = self.http.get(f"{self.url}/_standin/stores/{store_id}/menu")
        if response.status_code == 404:
            return None
        response.raise_for_status()
        menu: dict[str, Any] = response.json()
        return menu

    def calls(self) -> list[dict[str, Any]]:
        """Every call of a real path: {method, path, name, status, fault, at, client_id?, items?}."""
        result: list[dict[str, Any]] = self._control("GET", "calls")
        return result

    def create_order(self, store_id: str = UBER_STORE_ID, **fields: Any) -> dict[str, Any]:
        """Places an order (GET /v2/eats/order's shape); ``cart_items=[{id, quantity, price}]`` or
        the store's first uploaded item; any other field overrides."""
        result: dict[str, Any] = self._control("POST", "orders", {"store_id": store_id, **fields})
        return result

    def orders(self) -> list[dict[str, Any]]:
        """Orders with their recorded ``actions`` (accept/deny bodies)."""
        result: list[dict[str, Any]] = self._control("GET", "orders")
        return result

    def webhook(self, url: str, event_type: str = "orders.notification", store_id: str = UBER_STORE_ID,
                resource_id: str | None = None, **options: Any) -> dict[str, Any]:
        """Sends Uber's signed webhook to ``url``; returns {status_code, body, sent: {url, body, headers}}.
        Options: status, client_id, secret (forged key), dry_run."""
        body: dict[str, Any] = {"url": url, "event_type": event_type, "store_id": store_id, **options}
        if resource_id is not None:
            body["resource_id"] = resource_id
        result: dict[str, Any] = self._control("POST", "webhook", body)
        return result

    def webhook_request(self, url: str, event_type: str = "orders.notification", store_id: str = UBER_STORE_ID,
                        resource_id: str | None = None, **options: Any) -> dict[str, Any]:
        """The webhook Uber would send, without sending it: {url, body (raw text), headers}."""
        sent: dict[str, Any] = self.webhook(url, event_type, store_id, resource_id, dry_run=True, **options)["sent"]
        return sent

    def reset(self) -> None:
        self._control("POST", "reset")


def start_ubereats_standin(log_file: Path, port: int = 0) -> UberStandin:
    """``port`` 0 picks a free one."""
    return start_partner_standin(UberStandin, "ubereats_standin", "ubereats-standin ready", log_file,
                                 ["--port", str(port)])


@pytest.fixture(scope="session")
def ubereats_standin_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UberStandin]:
    standin = start_ubereats_standin(tmp_path_factory.mktemp("ubereats-standin") / "standin.log")
    yield standin
    standin.stop()


@pytest.fixture
def ubereats_standin(ubereats_standin_process: UberStandin) -> UberStandin:
    """The shared Uber Eats stand-in, with no clients, tokens, menus, orders, calls or fault at the start."""
    ubereats_standin_process.reset()
    return ubereats_standin_process


# -------------------------------------------------------------------- DoorDash stand-in

DOORDASH_STORE_ID = "test-dd-store"
# An access key as DoorDash's Developer Portal copies it (the secret is base64url).
DOORDASH_KEY = {"developer_id": "14e84291-d900-4c20-8528-ed6ca8de660f",
                "key_id": "d4e87d9c-432b-4ab4-b06f-254ce7a1ef30",
                "signing_secret": "xVu_RIEHqVw0ISBOqklCrKTIrlxX47TiexoJIY8_naw"}
DOORDASH_WEBHOOK_TOKEN = "test-dd-webhook-token"
DOORDASH_CREDENTIALS = {**DOORDASH_KEY, "webhook_token": DOORDASH_WEBHOOK_TOKEN}


@dataclass
class DoorDashStandin(PartnerStandin):
    """The DoorDash stand-in (scripts/doordash_standin.py) as a real process; its control API as methods."""

    @property
    def env(self) -> dict[str, str]:
        """The variables that point DoorDash's adapter here (create_app's platform_env); its
        orders are in the test restaurants' currency."""
        return {"DOORDASH_API_URL": self.url, "DOORDASH_TIMEOUT_S": "3", "DOORDASH_CURRENCY": "INR"}

    def register(self, store_ids: tuple[str, ...] = (DOORDASH_STORE_ID,), *, webhook_url: str | None = None,
                 webhook_token: str = DOORDASH_WEBHOOK_TOKEN, menu_status: str = "SUCCESS",
                 menu_id_in_answer: bool = True, **key: str) -> dict[str, str]:
        """Registers (or replaces) a developer's access key with ``store_ids``; ``webhook_url``
        receives the menu status webhooks. Returns the connect body's credentials."""
        access = {**DOORDASH_KEY, **key}
        stores = [{"store_id": s, "webhook_token": webhook_token, "webhook_url": webhook_url,
                   "menu_status": menu_status, "menu_id_in_answer": menu_id_in_answer} for s in store_ids]
        self._control("POST", "developers", {**access, "stores": stores})
        return {**access, "webhook_token": webhook_token}

    def fault(self, mode: str, count: int | None = None, paths: list[str] | None = None, *,
              retry_after: int | None = None) -> None:
        """``mode`` (ok, http500, http429, hang, reject) for the next ``count`` calls (all while None) of
        ``paths`` (menus, menu_update, item_status, confirm, cancel, store_details; default all)."""
        body: dict[str, Any] = {"mode": mode}
        for name, value in (("count", count), ("paths", paths), ("retry_after", retry_after)):
            if value is not None:
                body[name] = value
        self._control("POST", "fault", body)

    def menus(self) -> list[dict[str, Any]]:
        """Every menu created (a duplicate create shows as two): {id, store_id, body, versions}."""
        result: list[dict[str, Any]] = self._control("GET", "menus")
        return result

    def item_status(self, store_id: str = DOORDASH_STORE_ID) -> dict[str, bool]:
        """What the item-availability call set at the store, by merchant_supplied_id."""
        result: dict[str, bool] = self._control("GET", f"stores/{store_id}")["item_status"]
        return result

    def calls(self) -> list[dict[str, Any]]:
        """Every call of a real path: {method, path, name, status, fault, at, developer_id?, menu_id?, items?}."""
        result: list[dict[str, Any]] = self._control("GET", "calls")
        return result

    def sent_webhooks(self) -> list[dict[str, Any]]:
        """The menu status webhooks the stand-in sent: {url, body, status_code | error}."""
        result: list[dict[str, Any]] = self._control("GET", "webhooks")
        return result

    def create_order(self, store_id: str = DOORDASH_STORE_ID, **fields: Any) -> dict[str, Any]:
        """Places an order (the OrderCreate webhook's ``order``); ``items=[{merchant_supplied_id,
        quantity, price, extras?}]``; any other field overrides."""
        result: dict[str, Any] = self._control("POST", "orders", {"store_id": store_id, **fields})
        return result

    def orders(self) -> list[dict[str, Any]]:
        """Orders with their recorded ``actions`` (confirm/cancel bodies)."""
        result: list[dict[str, Any]] = self._control("GET", "orders")
        return result

    def webhook_request(self, url: str, order_id: str, kind: str = "order", **options: Any) -> dict[str, Any]:
        """The webhook DoorDash would send for the order (kind order or cancel), without sending
        it: {url, body (raw text), headers}. Options: token (forged)."""
        sent: dict[str, Any] = self._control("POST", "webhook", {"url": url, "kind": kind, "order_id": order_id,
                                                                "dry_run": True, **options})["sent"]
        return sent

    def reset(self) -> None:
        self._control("POST", "reset")


@pytest.fixture(scope="session")
def doordash_standin_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DoorDashStandin]:
    standin = start_partner_standin(DoorDashStandin, "doordash_standin", "doordash-standin ready",
                                    tmp_path_factory.mktemp("doordash-standin") / "standin.log", ["--port", "0"])
    yield standin
    standin.stop()


@pytest.fixture
def doordash_standin(doordash_standin_process: DoorDashStandin) -> DoorDashStandin:
    """The shared DoorDash stand-in, with no developers, stores, menus, orders, calls or fault at the start."""
    doordash_standin_process.reset()
    return doordash_standin_process


# (the DoorDash stand-in's fixtures: above this line)


# ----------------------------------------------------------------------- Grubhub stand-in

GRUBHUB_MERCHANT = "503736"
GRUBHUB_CREDENTIALS = {"partner_key": "test-gh-partner", "client_id": "test-gh-client",
                       "secret_key": base64.b64encode(b"test-grubhub-secret-key-32-bytes").decode(),
                       "webhook_secret": "test-gh-webhook-secret"}


@dataclass
class GrubhubStandin(PartnerStandin):
    """The Grubhub stand-in (scripts/grubhub_standin.py) as a real process; its control API as methods."""

    @property
    def env(self) -> dict[str, str]:
        """The variables that point Grubhub's adapter here (create_app's platform_env); menus
        in the test restaurants' currency."""
        return {"GRUBHUB_API_URL": self.url, "GRUBHUB_TIMEOUT_S": "3", "GRUBHUB_CURRENCY": "INR"}

    def worker_env(self, api_url: str) -> dict[str, str]:
        """The worker's: ``env``, and the API Grubhub downloads menus from (``loopback_api``)."""
        return {**self.env, "PUBLIC_BASE_URL": api_url}

    def register(self, merchant_ids: tuple[str, ...] = (GRUBHUB_MERCHANT,), **credentials: str) -> dict[str, str]:
        """Registers a partner key + client holding ``merchant_ids``; returns the credentials."""
        creds = {**GRUBHUB_CREDENTIALS, **credentials}
        self._control("POST", "clients", {**creds, "merchant_ids": list(merchant_ids)})
        return creds

    def fault(self, mode: str, count: int | None = None, paths: list[str] | None = None, *,
              retry_after: int | None = None) -> None:
        """``mode`` (ok, down, http500, http429, hang, reject) for the next ``count`` calls of ``paths``
        (ingestion, job, menu, status; default all)."""
        body: dict[str, Any] = {"mode": mode}
        for name, value in (("count", count), ("paths", paths), ("retry_after", retry_after)):
            if value is not None:
                body[name] = value
        self._control("POST", "fault", body)

    def menu(self, merchant_id: str = GRUBHUB_MERCHANT) -> dict[str, Any] | None:
        response = self.http.get(f"{self.url}/_standin/merchants/{merchant_id}/menu")
        if response.status_code == 404:
            return None
        response.raise_for_status()
        menu: dict[str, Any] = response.json()
        return menu

    def jobs(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._control("GET", "jobs")
        return result

    def calls(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._control("GET", "calls")
        return result

    def create_order(self, merchant_id: str = GRUBHUB_MERCHANT, **fields: Any) -> dict[str, Any]:
        result: dict[str, Any] = self._control("POST", "orders", {"merchant_id": merchant_id, **fields})
        return result

    def orders(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._control("GET", "orders")
        return result

    def webhook_request(self, url: str, event_type: str = "NEW_ORDER", merchant_id: str = GRUBHUB_MERCHANT,
                        **options: Any) -> dict[str, Any]:
        """The webhook Grubhub would send, without sending it: {url, body (raw text), headers}."""
        sent: dict[str, Any] = self._control("POST", "webhook", {
            "url": url, "event_type": event_type, "merchant_id": merchant_id, "dry_run": True, **options})["sent"]
        return sent

    def webhook(self, url: str, event_type: str = "NEW_ORDER", merchant_id: str = GRUBHUB_MERCHANT,
                **options: Any) -> dict[str, Any]:
        result: dict[str, Any] = self._control("POST", "webhook", {
            "url": url, "event_type": event_type, "merchant_id": merchant_id, **options})
        return result

    def reset(self) -> None:
        self._control("POST", "reset")


@pytest.fixture(scope="session")
def grubhub_standin_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GrubhubStandin]:
    standin = start_partner_standin(GrubhubStandin, "grubhub_standin", "grubhub-standin ready",
                                    tmp_path_factory.mktemp("grubhub-standin") / "standin.log", ["--port", "0"])
    yield standin
    standin.stop()


@pytest.fixture
def grubhub_standin(grubhub_standin_process: GrubhubStandin) -> GrubhubStandin:
    """The shared Grubhub stand-in, with no clients, menus, jobs, orders, calls or fault at the start."""
    grubhub_standin_process.reset()
    return grubhub_standin_process


@pytest.fixture
async def loopback_api(app: Starlette) -> AsyncIterator[str]:
    """The test's app served on a loopback port, for a partner that calls our API back over the
    network (the Grubhub stand-in downloads menus from it): uvicorn in the test's event loop, on
    the app whose lifespan its fixture already entered. Returns its base URL."""
    listener = socket.create_server(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, lifespan="off", log_config=None, access_log=False, ws="none"))
    serving = asyncio.create_task(server.serve(sockets=[listener]))
    while not server.started:  # startup, not an assertion: a dead server ends the task
        if serving.done():
            serving.result()  # its error, if it had one
            raise RuntimeError("uvicorn stopped before it started")
        await asyncio.sleep(0.01)
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    server.should_exit = True
    await serving
    listener.close()


# (the Grubhub stand-in's fixtures: above this line)


# ------------------------------------------------------------------------ SMTP stand-in


@dataclass
class SmtpStandin(PartnerStandin):
    """scripts/smtp_standin.py: every message it received, and its faults."""

    @property
    def smtp(self) -> SmtpSettings:
        info = self._control("GET", "info")
        return SmtpSettings(smtp_host=info["smtp_host"], smtp_port=info["smtp_port"], smtp_timeout_s=5)

    def messages(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self._control("GET", "messages")
        return found

    def fault(self, mode: str, count: int | None = None) -> None:
        self._control("POST", "fault", {"mode": mode, "count": count})

    def reset(self) -> None:
        self._control("POST", "reset")


@pytest.fixture(scope="session")
def smtp_standin_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SmtpStandin]:
    standin = start_partner_standin(SmtpStandin, "smtp_standin", "smtp-standin ready",
                                    tmp_path_factory.mktemp("smtp-standin") / "standin.log",
                                    ["--port", "0", "--http-port", "0"])
    yield standin
    standin.stop()


@pytest.fixture
def smtp_standin(smtp_standin_process: SmtpStandin) -> SmtpStandin:
    """The shared SMTP stand-in, with no messages and no fault at the start of the test."""
    smtp_standin_process.reset()
    return smtp_standin_process


# ---------------------------------------------------------------------- Stripe stand-in


@dataclass
class StripeStandin(PartnerStandin):
    """scripts/stripe_standin.py as a real process: Stripe's API for the official client, and
    its control API (objects it holds, events it signed, faults)."""

    def objects(self, kind: str) -> list[dict[str, Any]]:
        """payment_intents, refunds, charges, events or deliveries, oldest first."""
        found: list[dict[str, Any]] = self._control("GET", kind)["data"]
        return found

    def stats(self) -> dict[str, Any]:
        result: dict[str, Any] = self._control("GET", "stats")
        return result

    def fault(self, mode: str, count: int | None = None, paths: list[str] | None = None) -> None:
        self._control("POST", "faults", {"mode": mode, "count": count, "paths": paths})

    def events(self, type_: str | None = None) -> list[dict[str, Any]]:
        return [e for e in self.objects("events") if type_ is None or e["type"] == type_]

    def signed(self, event_id: str, **options: Any) -> tuple[bytes, dict[str, str]]:
        """The event's body and headers (Stripe-Signature) as Stripe would post them now;
        ``timestamp`` / ``secret`` override the signature's."""
        sent = self._control("POST", f"events/{event_id}/send", {"dry_run": True, **options})["sent"]
        return sent["body"].encode(), sent["headers"]

    def confirm(self, intent_id: str, payment_method: str = "pm_card_visa") -> httpx.Response:
        """What the guest's browser does with Stripe.js: confirms the intent with a test card."""
        return self.http.post(f"{self.url}/v1/payment_intents/{intent_id}/confirm",
                              data={"payment_method": payment_method},
                              headers={"Authorization": f"Bearer {STRIPE_TEST_KEY}"})

    def reset(self) -> None:
        self._control("POST", "reset")


STRIPE_TEST_KEY = "sk_test_tabletop_standin_0000000000000000"
# Every real provider's credentials (providers/factory.py): a production-like mode refuses to start
# without them. Not real keys.
REAL_PROVIDERS = {
    "STRIPE_SECRET_KEY": "sk_live_not_a_real_key", "STRIPE_WEBHOOK_SECRET": "whsec_not_a_real_secret",
    "GOOGLE_MAPS_API_KEY": "test-maps-key", "VAPI_SERVER_SECRET": "prod-vapi-server-secret-for-tests",
}


@pytest.fixture(scope="session")
def stripe_standin_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StripeStandin]:
    standin = start_partner_standin(StripeStandin, "stripe_standin", "stripe-standin ready",
                                    tmp_path_factory.mktemp("stripe-standin") / "standin.log", ["--port", "0"])
    yield standin
    standin.stop()


@pytest.fixture
def stripe_standin(stripe_standin_process: StripeStandin) -> StripeStandin:
    """The shared Stripe stand-in, holding nothing and without a fault at the start of the test."""
    stripe_standin_process.reset()
    return stripe_standin_process


# ------------------------------------------------------------------- Geocoding stand-in


@dataclass
class GeocodingStandin(PartnerStandin):
    """scripts/geocoding_standin.py: Google's Geocoding API over the gazetteer, with faults."""

    @property
    def geocode_url(self) -> str:
        return f"{self.url}/maps/api/geocode/json"

    def calls(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self._control("GET", "calls")
        return found

    def fault(self, mode: str, count: int | None = None) -> None:
        self._control("POST", "fault", {"mode": mode, **({} if count is None else {"count": count})})

    def reset(self) -> None:
        self._control("POST", "reset")


@pytest.fixture(scope="session")
def geocoding_standin_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GeocodingStandin]:
    standin = start_partner_standin(GeocodingStandin, "geocoding_standin", "geocoding-standin ready",
                                    tmp_path_factory.mktemp("geocoding-standin") / "standin.log", ["--port", "0"])
    yield standin
    standin.stop()


@pytest.fixture
def geocoding_standin(geocoding_standin_process: GeocodingStandin) -> GeocodingStandin:
    """The shared Geocoding stand-in, with no calls recorded and no fault at the start of the test."""
    geocoding_standin_process.reset()
    return geocoding_standin_process
