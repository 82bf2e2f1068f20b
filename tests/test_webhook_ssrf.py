"""A restaurant's webhook URL cannot make the worker reach an internal address (SSRF), at either end.

Registration stores the URL in one canonical form (the way httpx and a resolver read it) and, in
production and staging, refuses every spelling of a non-public host and every name that resolves
to one. Delivery, in production and staging, resolves the host itself at every connection, refuses
non-public addresses and connects to the address it checked, so a name that changes its answer
after registration (DNS rebinding) gets nowhere. Redirects are never followed.

Names resolve through ``Dns`` (fixed answers, injected into the API and the worker) so no test
depends on a real resolver; the receivers are the loopback ones of tests/conftest.py.
"""

from __future__ import annotations

import asyncio
import base64
import re
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from ipaddress import ip_address
from typing import Any
from uuid import UUID

import httpcore
import httpx
import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from starlette.applications import Starlette

from api.app import create_app
from api.config import Settings
from db import outbound_webhooks
from db.errors import Unprocessable
from db.outbox import Backoff
from db.pool import Database
from sync.config import SyncSettings
from sync.target import Policy
from sync.webhook.guard import (
    AddressRefused,
    GuardedTransport,
    Resolver,
    Unresolvable,
    refusal,
    resolve_public,
    system_resolver,
)
from sync.webhook.target import WebhookTarget, webhook_target
from sync.webhook.urls import UnsafeUrl, canonical_url
from tests.conftest import Guest, MakeRestaurant, Receiver, Restaurant, Served, expect, order_body

DbSql = Callable[..., list[dict[str, Any]]]
OpenGuest = Callable[..., Awaitable[Guest]]
PATH = "/integrations/webhook"
# The credentials key of both the API (settings) and the worker (its environment) in this module.
KEY = base64.b64encode(bytes(range(32))).decode()
PRODUCTION = {"env_mode": "production"}
PUBLIC = "93.184.215.14"
PAST_BACKOFF_S = 0.25  # past the worker's capped backoff below (0.2 s)


@pytest.fixture
def settings_overrides(request: pytest.FixtureRequest) -> dict[str, Any]:
    # Every line is logged, so the log checks see everything the API could say.
    return {"petpooja_credentials_key": KEY, "log_level": "DEBUG", **getattr(request, "param", {})}


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[Starlette]:
    """The app of these settings; in production without Convex (no pusher: this module checks webhooks)."""
    application = create_app(settings, SyncSettings.model_validate({}))
    async with application.router.lifespan_context(application):
        yield application


@dataclass
class Dns:
    """A resolver with fixed answers (an unknown name does not resolve) that records its lookups."""

    answers: dict[str, list[str]]
    lookups: list[str] = field(default_factory=list)

    async def __call__(self, host: str, port: int) -> list[str]:
        self.lookups.append(host)
        if host not in self.answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return list(self.answers[host])


MakeGuarded = Callable[..., Served]


@pytest.fixture
async def make_guarded(system_db: Database) -> AsyncIterator[MakeGuarded]:
    """The worker's webhook target as ``python -m sync.worker`` builds it for ENV_MODE=mode, with a
    short backoff and 3 attempts."""
    made: list[Served] = []

    def make(mode: str = "production", resolver: Resolver = system_resolver) -> Served:
        settings = SyncSettings.model_validate({"sync_backoff_base_s": 0.05, "sync_backoff_max_s": 0.2,
                                                "sync_max_attempts": 3})
        target = webhook_target(system_db, settings, {"ENV_MODE": mode, "PETPOOJA_CREDENTIALS_KEY": KEY},
                                resolver=resolver)
        assert target is not None
        made.append(Served(system_db, target))
        return made[-1]

    yield make
    for served in made:
        await served.close()


async def register(client: httpx.AsyncClient, r: Restaurant, url: str, status: int = 201) -> dict[str, Any]:
    return expect(await client.put(r.url(PATH), headers=r.owner.headers, json={"url": url}), status)


async def place(client: httpx.AsyncClient, r: Restaurant, guest: Guest) -> dict[str, Any]:
    return expect(await client.post(r.url("/orders"), headers=guest.headers, json=order_body(r)), 201)


def webhook_row(db_sql: DbSql, order_id: str) -> dict[str, Any]:
    [row] = db_sql("SELECT * FROM sync_log WHERE target = 'webhook' AND entity_id = %s", (order_id,))
    return row


async def rounds_until_dead(target: Served, db_sql: DbSql, order_id: str) -> list[str]:
    statuses = []
    for _ in range(3):
        await target.round(owner="t")
        statuses.append(webhook_row(db_sql, order_id)["status"])
        await asyncio.sleep(PAST_BACKOFF_S)
    return statuses


def refused(url: str) -> str:
    with pytest.raises(UnsafeUrl) as raised:
        canonical_url(url, guarded=True)
    return raised.value.detail


# --------------------------------------------------------------------- host spellings


@pytest.mark.parametrize("dot", ["\u3002", "\uff0e", "\uff61"])
def test_unicode_full_stops_are_read_as_dots_so_loopback_written_with_them_is_refused_when_guarded(dot: str) -> None:
    """127。0。0。1 (ideographic, fullwidth, halfwidth full stops) is 127.0.0.1 to httpx and the resolver."""
    url = f"https://127{dot}0{dot}0{dot}1/hook"
    assert canonical_url(url, guarded=False).url == "https://127.0.0.1/hook"
    assert "127.0.0.1 is a loopback address" in refused(url)
    assert "is a private address" in refused(f"https://10{dot}1{dot}2{dot}3/hook")


def test_trailing_dot_names_are_stored_without_the_dot_and_localhost_is_refused_however_written() -> None:
    assert canonical_url("https://hooks.example.com./t", guarded=True).url == "https://hooks.example.com/t"
    assert canonical_url("http://127.0.0.1.:8080/h", guarded=False).url == "http://127.0.0.1:8080/h"
    for url in ("https://localhost./", "https://LOCALHOST/", "https://api.localhost./", "https://localhost\u3002/"):
        assert "is this machine" in refused(url)


@pytest.mark.parametrize(("host", "reason"), [
    ("[::127.0.0.1]", "IPv4-compatible"),  # deprecated
    ("[::ffff:127.0.0.1]", "loopback address (127.0.0.1) in IPv6 form"),  # IPv4-mapped
    ("[::ffff:a9fe:a9fe]", "link-local address (169.254.169.254) in IPv6 form"),  # mapped metadata service
    ("[64:ff9b::7f00:1]", "loopback address (127.0.0.1) in IPv6 form"),  # NAT64
    ("[64:ff9b::a00:1]", "private address (10.0.0.1) in IPv6 form"),
    ("[64:ff9b:1::1]", "local-use NAT64"),
    ("[2002:7f00:1::]", "loopback address (127.0.0.1) in IPv6 form"),  # 6to4
    ("[2002:c0a8:101::1]", "private address (192.168.1.1) in IPv6 form"),
    ("[2001:0:4136:e378:8000:63bf:3fff:fdd2]", "Teredo"),
    ("[::ffff:0:7f00:1]", "IPv4-translated"),
    ("[fec0::1]", "site-local"),
    ("[fc00::1]", "private"),  # unique local
    ("[fe80::1]", "link-local"),
    ("[ff02::1]", "multicast"),
    ("[ff0e::1]", "multicast"),
    ("[::1]", "loopback"),
    ("[::]", "unspecified"),
    ("[2001:db8::1]", "private"),  # documentation
    ("[100::1]", "reserved"),  # discard-only
    ("[4000::1]", "reserved"),  # outside 2000::/3, global unicast
])
def test_ipv6_forms_that_carry_an_internal_ipv4_or_are_not_global_unicast_are_refused_when_guarded(
    host: str, reason: str,
) -> None:
    assert reason in refused(f"https://{host}/hook")


@pytest.mark.parametrize(("host", "reason"), [
    ("127.0.0.1", "loopback"), ("127.255.0.9", "loopback"), ("10.1.2.3", "private"), ("172.16.0.1", "private"),
    ("192.168.0.1", "private"), ("169.254.169.254", "link-local"), ("100.64.0.1", "carrier-grade NAT"),
    ("100.127.255.254", "carrier-grade NAT"), ("0.1.2.3", "private"),
    ("0.0.0.0", "unspecified"),  # noqa: S104  # an address to refuse, not to bind
    ("224.0.0.1", "multicast"), ("239.255.255.250", "multicast"), ("240.0.0.1", "reserved"),
    ("255.255.255.255", "reserved"), ("192.0.2.10", "private"), ("198.18.0.1", "private"),
])
def test_internal_multicast_shared_and_reserved_ipv4_are_refused_when_guarded(host: str, reason: str) -> None:
    assert reason in refused(f"https://{host}/hook")


@pytest.mark.parametrize("url", [
    "https://8.8.8.8/hook", "https://[2606:4700::1111]/hook", "https://[::ffff:8.8.8.8]/hook",
    "https://[64:ff9b::808:808]/hook", "https://[2002:808:808::1]/hook", "https://hooks.example.com/hook",
    "https://b\u00fccher.example/hook",
])
def test_public_hosts_in_any_form_are_accepted_when_guarded(url: str) -> None:
    assert canonical_url(url, guarded=True).url.startswith("https://")


@pytest.mark.parametrize("url", [
    "https://hooks/t", "https://db.internal/t", "https://printer.local/t", "https://nas.lan/t",
    "https://router.home.arpa/t", "https://1.0.0.127.in-addr.arpa/t", "https://x.test/t", "https://x.onion/t",
    "http://hooks.example.com/t",
])
def test_single_label_special_use_names_and_plain_http_are_refused_when_guarded(url: str) -> None:
    refused(url)
    canonical_url(url, guarded=False)  # development takes them


@pytest.mark.parametrize(("url", "why"), [
    ("https://%31%32%37.0.0.1/", "percent-encoded"),
    ("https://ex%61mple.com/", "percent-encoded"),
    ("https://[fe80::1%25eth0]/", "zone id"),
    ("https://example.com\\@127.0.0.1/", "backslash"),
    ("https:\\\\127.0.0.1/", "backslash"),
    ("http://a@127.0.0.1/", "credentials"),
    ("https://user:pass@example.com/", "credentials"),
    ("https://example.com@127.0.0.1/", "credentials"),
    ("https://2130706433/", "a.b.c.d"),
    ("https://0x7f.1/", "a.b.c.d"),
    ("https://0x7f000001/", "a.b.c.d"),
    ("https://0177.0.0.1/", "a.b.c.d"),
    ("https://127.1/", "a.b.c.d"),
    ("https://1.2.3.4.5/", "a.b.c.d"),
    ("https://example.com:0/", "port"),
    ("https://example.com:65536/", "port"),
    ("https://example.com:99999999999/", "port"),
    ("https://example.com:\u0661\u0662/", "port"),
    ("https://example.com:+80/", "port"),
    ("https://e.com:443:1/", "malformed"),
    ("https://[::1/", "malformed"),
    ("https://[::1]x/", "malformed"),
    ("https://[127.0.0.1]/", "malformed"),
    ("https://" + "a" * 64 + ".com/", "not a valid host name"),
    ("https://" + ".".join(["a" * 63] * 4) + ".com/", "not a valid host name"),
    ("https://exa_mple.com/", "not a valid host name"),
    ("https://-example.com/", "not a valid host name"),
    ("https://a..b.com/", "not a valid host name"),
    ("https://ex\u200bample.com/", "invisible"),  # zero-width space, which IDNA would drop
    ("https://ex\u00adample.com/", "invisible"),  # soft hyphen, likewise
    ("https://example.com/\u202ekoohk", "invisible"),  # right-to-left override
    ("https://example.com/\x00", "control"),
    ("https://example.com/a b", "whitespace"),
    ("https://example.com/hook#frag", "fragment"),
    ("https://example.com/hook#", "fragment"),
    ("ftp://example.com/", "https://"),
    ("https:example.com/", "https://"),
    ("https:/example.com/", "https://"),
    ("//example.com/", "https://"),
    ("https:///path", "no host"),
    ("https://:443/", "no host"),
    ("https://example.com/" + "a" * 2000, "longer than 2000"),
    ("https://example.com/" + "\u00fc" * 700, "once normalised"),  # 1400 -> 4200 characters percent-encoded
])
def test_host_spellings_that_hide_an_address_or_that_parsers_read_differently_are_refused_in_every_mode(
    url: str, why: str,
) -> None:
    for guarded in (False, True):
        with pytest.raises(UnsafeUrl) as raised:
            canonical_url(url, guarded=guarded)
        assert why in raised.value.detail


@pytest.mark.parametrize(("url", "canonical"), [
    ("HTTPS://EXAMPLE.COM/", "https://example.com/"),
    ("HtTpS://Hooks.Example.COM:443/Path/To?Token=AbC", "https://hooks.example.com/Path/To?Token=AbC"),
    ("http://example.com:80/x", "http://example.com/x"),
    ("https://example.com:8443/x", "https://example.com:8443/x"),
    ("https://example.com:/x", "https://example.com/x"),
    ("https://example.com", "https://example.com/"),
    ("https://example.com/?", "https://example.com/"),
    ("https://\uff25\uff38\uff21\uff2d\uff30\uff2c\uff25.com/", "https://example.com/"),  # fullwidth letters
    ("https://B\u00fccher.Example/x", "https://xn--bcher-kva.example/x"),
    ("https://xn--bcher-kva.example/x", "https://xn--bcher-kva.example/x"),
    ("https://example.com/a/../b/./c", "https://example.com/b/c"),
    ("https://example.com/caf\u00e9?q=\u00fc&r=%41", "https://example.com/caf%C3%A9?q=%C3%BC&r=%41"),
    ("https://[2606:4700:0:0:0:0:0:1111]:443/x", "https://[2606:4700::1111]/x"),
    ("http://[::1]:80/", "http://[::1]/"),
    ("http://127.0.0.1:8080/hooks/tabletop?tenant=abc", "http://127.0.0.1:8080/hooks/tabletop?tenant=abc"),
])
def test_a_url_is_stored_in_one_canonical_form(url: str, canonical: str) -> None:
    """Scheme and host lower case, IDNA host, default port dropped, empty path /, path and query
    percent-encoded as httpx sends them; the canonical form is its own canonical form."""
    assert canonical_url(url, guarded=False).url == canonical
    assert canonical_url(canonical, guarded=False).url == canonical


_HOSTS = st.one_of(
    st.text(max_size=24),
    st.from_regex(r"[A-Za-z0-9.\-_%\[\]:@\u3002\uff0e\uff61\uff21-\uff3a]{0,24}", fullmatch=True),
    st.sampled_from(["127.0.0.1", "[::1]", "localhost.", "EXAMPLE.com", "xn--fa-hia.de", "[::ffff:7f00:1]",
                     "0x7f.1", "[64:ff9b::808:808]", "8.8.8.8", "hooks.example.com"]),
)
_URLS = st.builds(
    lambda scheme, host, port, rest: f"{scheme}{host}{port}{rest}",
    st.sampled_from(["http://", "https://", "HTTPS://", "hTtP://", "ftp://", "https:", "https:/", ""]),
    _HOSTS,
    st.sampled_from(["", ":", ":443", ":80", ":8080", ":0", ":65536", ":x"]),
    st.one_of(st.text(max_size=24), st.sampled_from(["/", "/a?b=c", "/x#y", "/../.."])),
)


@given(url=st.one_of(_URLS, st.text(max_size=60)))
@hypothesis_settings(max_examples=400, deadline=None, database=None)
def test_any_string_is_refused_or_stored_as_a_url_the_database_takes_and_httpx_reads_as_checked(url: str) -> None:
    """Nothing but UnsafeUrl is ever raised; an accepted URL satisfies restaurant_webhooks_url_valid,
    is stable, and httpx reads the host and port that were checked; guarded, an IP host is public."""
    for guarded in (False, True):
        try:
            checked = canonical_url(url, guarded=guarded)
        except UnsafeUrl:
            continue
        assert re.match(r"^https?://", checked.url) and len(checked.url) <= 2000
        assert checked.url.isascii()
        assert canonical_url(checked.url, guarded=guarded) == checked
        parsed = httpx.URL(checked.url)
        assert (parsed.raw_host.decode(), parsed.port or {"http": 80, "https": 443}[parsed.scheme]) == (
            checked.host, checked.port)
        if guarded:
            try:
                address = ip_address(checked.host)
            except ValueError:
                continue
            assert refusal(address) is None


# ---------------------------------------------------------------------- resolution


async def test_a_name_passes_only_if_every_address_it_resolves_to_is_public() -> None:
    dns = Dns({"public.example": [PUBLIC, "2606:4700::1111"], "inside.example": ["10.0.0.5"],
               "mixed.example": [PUBLIC, "127.0.0.1"], "mapped.example": ["::ffff:169.254.169.254"]})
    assert await resolve_public("public.example", 443, dns) == [PUBLIC, "2606:4700::1111"]
    for name, shown in [("inside.example", "10.0.0.5: a private address"), ("mixed.example", "127.0.0.1: a loopback"),
                        ("mapped.example", "::ffff:169.254.169.254: a link-local address (169.254.169.254) in IPv6 form")]:
        with pytest.raises(AddressRefused, match=rf"^refused: {name} resolves to a non-public address \({re.escape(shown)}"):
            await resolve_public(name, 443, dns)
    with pytest.raises(Unresolvable, match=r"nx\.example does not resolve"):
        await resolve_public("nx.example", 443, dns)

    async def slow(host: str, port: int) -> list[str]:
        await asyncio.sleep(5)
        return [PUBLIC]

    with pytest.raises(Unresolvable, match=r"did not resolve within 0\.1 s"):
        await resolve_public("slow.example", 443, slow, timeout_s=0.1)
    assert await resolve_public("8.8.8.8", 443, dns) == ["8.8.8.8"]  # a literal is not looked up
    assert "8.8.8.8" not in dns.lookups


# --------------------------------------------------------------------- registration


@pytest.mark.parametrize("settings_overrides", [PRODUCTION], indirect=True)
async def test_registration_in_production_refuses_unicode_dot_loopback_embedded_ipv4_and_names_resolving_inside(
    client: httpx.AsyncClient, make_restaurant: MakeRestaurant, app: Starlette, db_sql: DbSql,
) -> None:
    """Each answer is a 422 invalid_webhook_url naming the problem at body.url (never the internal
    address a name resolves to); nothing is stored; a public name is accepted, stored canonical."""
    dns = Dns({"hooks.example.com": [PUBLIC], "inside.example.com": ["10.0.0.5"],
               "mixed.example.com": [PUBLIC, "127.0.0.1"], "rebind.example.com": ["169.254.169.254"]})
    app.state.services.webhook_resolver = dns
    r = await make_restaurant()
    for url, detail in [
        ("https://127\u30020\u30020\u30021/hook", "127.0.0.1 is a loopback address"),
        ("https://localhost./hook", "localhost is this machine"),
        ("https://[::ffff:127.0.0.1]/hook", "loopback address (127.0.0.1) in IPv6 form"),
        ("https://[64:ff9b::7f00:1]/hook", "in IPv6 form"),
        ("https://[2002:7f00:1::]/hook", "in IPv6 form"),
        ("https://[fec0::1]/hook", "site-local"),
        ("https://224.0.0.1/hook", "multicast"),
        ("https://inside.example.com/hook", "inside.example.com resolves to a non-public address"),
        ("https://mixed.example.com/hook", "mixed.example.com resolves to a non-public address"),
        ("https://rebind.example.com/hook", "rebind.example.com resolves to a non-public address"),
        ("https://nx.example.com/hook", "cannot be resolved: nx.example.com does not resolve"),
        ("http://hooks.example.com/hook", "must use https"),
    ]:
        answer = await register(client, r, url, 422)
        assert answer["code"] == "invalid_webhook_url"
        assert detail in answer["detail"], (url, answer["detail"])
        assert not re.search(r"10\.0\.0\.5|169\.254", answer["detail"])  # what internal names resolve to stays inside
        assert answer["errors"][0]["loc"] == ["body", "url"]
    assert db_sql("SELECT count(*) AS n FROM restaurant_webhooks") == [{"n": 0}]
    assert db_sql("SELECT count(*) AS n FROM restaurant_targets WHERE target = 'webhook'") == [{"n": 0}]
    assert (await register(client, r, "https://HOOKS.example.com./hook"))["url"] == "https://hooks.example.com/hook"
    assert "hooks.example.com" in dns.lookups


@pytest.mark.parametrize("settings_overrides", [PRODUCTION], indirect=True)
async def test_registration_holds_no_database_transaction_while_it_resolves_the_host(
    client: httpx.AsyncClient, make_restaurant: MakeRestaurant, app: Starlette, db_sql: DbSql,
) -> None:
    """A slow resolver cannot tie up the pool: the lookup happens between the access check and the write."""
    in_transaction: list[int] = []

    async def resolver(host: str, port: int) -> list[str]:
        [row] = db_sql("SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database()"
                       " AND application_name = 'tabletop' AND state LIKE 'idle in transaction%%'")
        in_transaction.append(row["n"])
        return [PUBLIC]

    app.state.services.webhook_resolver = resolver
    r = await make_restaurant()
    await register(client, r, "https://hooks.example.com/hook")
    assert in_transaction == [0]


@pytest.mark.parametrize("settings_overrides", [{}, PRODUCTION], indirect=True)
async def test_an_upper_case_url_is_stored_in_canonical_form_instead_of_failing_the_database_constraint(
    client: httpx.AsyncClient, make_restaurant: MakeRestaurant, app: Starlette, db_sql: DbSql,
) -> None:
    """HTTPS://EXAMPLE.COM/ used to pass the check and fail restaurant_webhooks_url_valid with a 500."""
    app.state.services.webhook_resolver = Dns({"example.com": [PUBLIC]})
    r = await make_restaurant()
    registered = await register(client, r, "HTTPS://EXAMPLE.COM:443/Hook?Token=Mine")
    assert registered["url"] == "https://example.com/Hook?Token=Mine"
    assert registered["secret"].startswith("whsec_")
    assert expect(await client.get(r.url(PATH), headers=r.owner.headers), 200)["url"] == registered["url"]
    [stored] = db_sql("SELECT url FROM restaurant_webhooks WHERE restaurant_id = %s", (r.id,))
    assert stored["url"] == "https://example.com/Hook?Token=Mine"


@pytest.mark.parametrize("settings_overrides", [PRODUCTION], indirect=True)
async def test_no_url_registration_answers_5xx_or_logs_a_secret_or_the_urls_query(
    client: httpx.AsyncClient, make_restaurant: MakeRestaurant, app: Starlette, capfd: pytest.CaptureFixture[str],
) -> None:
    """Refused and accepted URLs alike, with every log level on: 4xx or 2xx, and the captured output
    holds no whsec_ secret and none of the URLs' query tokens (logs name the host only)."""
    app.state.services.webhook_resolver = Dns({"example.com": [PUBLIC]})
    r = await make_restaurant()
    capfd.readouterr()
    statuses, answers = [], []
    for n, url in enumerate([
        "HTTPS://EXAMPLE.COM/hook?token=query-token-0", "https://127\u30020\u30020\u30021/h?token=query-token-1",
        "hTtPs://example.com/h?token=query-token-2", "https://example.com:0/h?token=query-token-3",
        "https://ex\x00ample.com/h?token=query-token-4", "https://exa_mple.com/h?token=query-token-5",
        "ftp://example.com/h?token=query-token-6", "https://[fe80::1%25eth0]/h?token=query-token-7",
        "https://example.com/" + "\u00fc" * 700 + "?token=query-token-8",
    ]):
        assert f"query-token-{n}" in url
        answer = await client.put(r.url(PATH) + ("?rotate=true" if n else ""), headers=r.owner.headers,
                                  json={"url": url})
        statuses.append(answer.status_code)
        answers.append(answer.json())
    logs = capfd.readouterr().err
    assert statuses == [201, 422, 200, 422, 422, 422, 422, 422, 422]
    assert "webhook_registered" in logs  # the logs were captured at all
    assert "whsec_" not in logs
    assert "query-token" not in logs
    for answer in answers:
        if "secret" in answer:
            assert answer["secret"][len("whsec_"):] not in logs


async def test_a_url_the_database_constraint_refuses_is_an_unprocessable_invalid_webhook_url(
    make_restaurant: MakeRestaurant, system_db: Database, app: Starlette,
) -> None:
    """Should a URL ever slip past the check, restaurant_webhooks_url_valid maps to a 422, not a 500."""
    r = await make_restaurant()
    with pytest.raises(Unprocessable) as raised:
        async with system_db.tenant(UUID(r.id)) as conn:
            await outbound_webhooks.register(conn, app.state.services.credentials, restaurant_id=UUID(r.id),
                                             url="HTTPS://EXAMPLE.COM/", rotate=False)
    assert raised.value.code == "invalid_webhook_url"


# ------------------------------------------------------------------------ delivery


@pytest.mark.parametrize("mode", ["production", "staging"])
async def test_a_guarded_worker_refuses_to_connect_to_a_loopback_receiver_and_the_delivery_goes_dead(
    client: httpx.AsyncClient, make_restaurant: MakeRestaurant, open_guest: OpenGuest, receiver: Receiver,
    make_guarded: MakeGuarded, db_sql: DbSql, mode: str,
) -> None:
    """Registered in development (where loopback is fine), delivered by a production or staging worker:
    refused before any connection, a limited retry with a clear last_error, dead at the third attempt,
    the receiver never reached. The same row in development is delivered."""
    r = await make_restaurant()
    await register(client, r, receiver.url)
    order = await place(client, r, await open_guest(r))
    target = make_guarded(mode)
    assert await rounds_until_dead(target, db_sql, order["id"]) == ["failed", "failed", "dead"]
    row = webhook_row(db_sql, order["id"])
    assert row["last_error"] == "refused: 127.0.0.1 is a non-public address (a loopback address)"
    assert receiver.requests == []

    other = await place(client, r, await open_guest(r))
    assert (await make_guarded("development").round(owner="dev")).synced == 1
    assert webhook_row(db_sql, other["id"])["status"] == "synced"
    assert len(receiver.requests) == 1


@pytest.mark.parametrize("settings_overrides", [PRODUCTION], indirect=True)
async def test_a_name_that_resolves_to_loopback_after_registration_is_refused_at_connect_time(
    client: httpx.AsyncClient, make_restaurant: MakeRestaurant, open_guest: OpenGuest, receiver: Receiver,
    make_guarded: MakeGuarded, app: Starlette, db_sql: DbSql,
) -> None:
    """DNS rebinding: the name resolves to a public address when the production API checks it, and to
    the receiver's loopback address when the worker connects: the worker refuses, dead after the
    maximum attempts, the receiver is never reached."""
    port = receiver.server.server_address[1]
    app.state.services.webhook_resolver = Dns({"hooks.rebind.example": [PUBLIC]})
    r = await make_restaurant()
    url = f"https://hooks.rebind.example:{port}/hooks/tabletop?tenant=abc"
    assert (await register(client, r, url))["url"] == url
    order = await place(client, r, await open_guest(r))
    at_delivery = Dns({"hooks.rebind.example": ["127.0.0.1"]})
    assert await rounds_until_dead(make_guarded(resolver=at_delivery), db_sql, order["id"]) == [
        "failed", "failed", "dead"]
    assert webhook_row(db_sql, order["id"])["last_error"] == (
        "refused: hooks.rebind.example resolves to a non-public address (127.0.0.1: a loopback address)")
    assert at_delivery.lookups == ["hooks.rebind.example"] * 3
    assert receiver.requests == []


@pytest.mark.parametrize("host", [
    "127\u30020\u30020\u30021", "localhost", "[::ffff:127.0.0.1]", "[::ffff:7f00:1]",
])
async def test_a_stored_url_whose_host_httpx_reads_as_loopback_is_refused_at_connect_time(
    client: httpx.AsyncClient, make_restaurant: MakeRestaurant, open_guest: OpenGuest, receiver: Receiver,
    make_guarded: MakeGuarded, db_sql: DbSql, host: str,
) -> None:
    """URLs stored before registration normalised them (written here as they were): the guarded worker
    checks what it actually connects to, whatever the spelling; localhost goes through the system resolver."""
    port = receiver.server.server_address[1]
    r = await make_restaurant()
    await register(client, r, receiver.url)
    db_sql("UPDATE restaurant_webhooks SET url = %s WHERE restaurant_id = %s",
           (f"http://{host}:{port}/hooks/tabletop", r.id))
    order = await place(client, r, await open_guest(r))
    assert (await make_guarded().round(owner="t")).failed == 1
    error = webhook_row(db_sql, order["id"])["last_error"]
    assert error.startswith("refused: ") and "a loopback address" in error
    assert receiver.requests == []


async def test_a_name_that_does_not_resolve_at_delivery_is_retried_as_a_network_failure(
    client: httpx.AsyncClient, make_restaurant: MakeRestaurant, open_guest: OpenGuest, make_guarded: MakeGuarded,
    db_sql: DbSql,
) -> None:
    """Not resolving is the receiver being unreachable (its DNS may come back), not a refusal: it stays
    failed past the maximum attempts, never dead."""
    r = await make_restaurant()
    await register(client, r, "https://hooks.gone.example/hook")
    order = await place(client, r, await open_guest(r))
    target = make_guarded(resolver=Dns({}))
    statuses = []
    for _ in range(4):
        await target.round(owner="t")
        statuses.append(webhook_row(db_sql, order["id"])["status"])
        await asyncio.sleep(PAST_BACKOFF_S)
    assert statuses == ["failed"] * 4
    assert webhook_row(db_sql, order["id"])["last_error"] == (
        "network: ConnectError: hooks.gone.example does not resolve: Name or service not known")


class Recording(httpcore.AsyncNetworkBackend):
    """Where the guard connects: records the address, then really connects to the loopback receiver;
    on TLS it records the name the handshake would send and verify (SNI), then stops."""

    def __init__(self, receiver_port: int):
        self.connects: list[tuple[str, int]] = []
        self.tls_names: list[str | None] = []
        self._real, self._port = httpcore.AnyIOBackend(), receiver_port

    async def connect_tcp(
        self, host: str, port: int,
        timeout: float | None = None,  # noqa: ASYNC109  # httpcore's interface
        local_address: str | None = None, socket_options: Any = None,
    ) -> httpcore.AsyncNetworkStream:
        self.connects.append((host, port))
        return TlsStops(await self._real.connect_tcp("127.0.0.1", self._port, timeout=timeout), self.tls_names)

    async def connect_unix_socket(
        self, path: str,
        timeout: float | None = None,  # noqa: ASYNC109  # httpcore's interface
        socket_options: Any = None,
    ) -> httpcore.AsyncNetworkStream:
        raise AssertionError("no Unix sockets")

    async def sleep(self, seconds: float) -> None:
        await self._real.sleep(seconds)


class TlsStops(httpcore.AsyncNetworkStream):
    def __init__(self, stream: httpcore.AsyncNetworkStream, names: list[str | None]):
        self._stream, self._names = stream, names

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:  # noqa: ASYNC109  # httpcore's
        return await self._stream.read(max_bytes, timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:  # noqa: ASYNC109  # httpcore's
        await self._stream.write(buffer, timeout)

    async def aclose(self) -> None:
        await self._stream.aclose()

    async def start_tls(self, ssl_context: Any, server_hostname: str | None = None,
                        timeout: float | None = None) -> httpcore.AsyncNetworkStream:  # noqa: ASYNC109  # httpcore's
        self._names.append(server_hostname)
        await self._stream.aclose()  # as a failed handshake does (httpcore leaves that to the stream)
        raise httpcore.ConnectError("stopped before the TLS handshake")

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


async def test_the_guarded_transport_connects_to_the_address_it_checked_and_keeps_the_name_for_host_and_tls(
    receiver: Receiver,
) -> None:
    """The name is resolved once per connection, by the guard; the socket goes to that checked address
    (nothing resolves the name again, so a rebinding answer cannot slip in between); the Host header
    and the TLS server name stay the URL's name."""
    port = receiver.server.server_address[1]
    dns, recording = Dns({"hooks.public.example": [PUBLIC]}), Recording(port)
    async with httpx.AsyncClient(transport=GuardedTransport(resolver=dns, inner=recording)) as http:
        answer = await http.post(f"http://hooks.public.example:{port}/hooks/tabletop", content=b"{}")
        assert answer.status_code == 200
        with pytest.raises(httpx.ConnectError, match="stopped before the TLS handshake"):
            await http.post("https://hooks.public.example/hooks/tabletop", content=b"{}")
    assert recording.connects == [(PUBLIC, port), (PUBLIC, 443)]
    assert dns.lookups == ["hooks.public.example"] * 2
    assert receiver.requests[0].headers["host"] == f"hooks.public.example:{port}"
    assert recording.tls_names == ["hooks.public.example"]


async def test_a_redirect_answer_is_not_followed_and_goes_dead_like_any_other_refusal(
    client: httpx.AsyncClient, make_restaurant: MakeRestaurant, open_guest: OpenGuest, system_db: Database,
    app: Starlette, db_sql: DbSql,
) -> None:
    """A receiver answering 302 to the metadata service gets one request per attempt and nothing is
    requested from where it points; the delivery is a limited retry, dead at the third attempt."""
    seen: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(302, headers={"Location": "http://169.254.169.254/latest/meta-data/"}, text="moved")

    r = await make_restaurant()
    await register(client, r, "https://hooks.example.com/hook")
    order = await place(client, r, await open_guest(r))
    policy = Policy(batch_size=16, lease_s=30.0, backoff=Backoff(base_s=0.05, max_s=0.2, max_attempts=3),
                    ordered=True, supersede=True)
    target = Served(system_db, WebhookTarget(app.state.services.credentials, policy=policy,
                                             transport=httpx.MockTransport(answer)))
    try:
        assert await rounds_until_dead(target, db_sql, order["id"]) == ["failed", "failed", "dead"]
    finally:
        await target.close()
    assert seen == ["https://hooks.example.com/hook"] * 3
    assert webhook_row(db_sql, order["id"])["last_error"] == "HTTP 302: moved"
