"""The client address every per-address limit counts by (docs/auth.md): the peer's, or behind
trusted proxies the address they appended to X-Forwarded-For, never what the client wrote
there itself; uvicorn, as the Procfile runs it, trusts no proxy unless told to."""

from __future__ import annotations

import ipaddress
import os
import socket
import sys
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from api.access import client_address
from api.config import ConfigError, load_settings
from tests.conftest import ROOT, free_port, overrides, process_env, spawn, stop

PROXY = "203.0.113.7"  # conftest's client address


def login_statuses(responses: list[httpx.Response]) -> list[int]:
    return [r.status_code for r in responses]


async def logins(client: httpx.AsyncClient, forwarded_for: Sequence[str | None]) -> list[int]:
    """One wrong-password login per X-Forwarded-For value (None: no header); their statuses."""
    responses = []
    for value in forwarded_for:
        headers = {"X-Forwarded-For": value} if value is not None else {}
        responses.append(await client.post("/api/auth/login", headers=headers,
                                           json={"email": "someone@example.com", "password": "wrong"}))
    return login_statuses(responses)


# ------------------------------------------------------------------------------ in the app


@overrides(rate_limit_login="2/minute")
async def test_without_a_trusted_proxy_x_forwarded_for_changes_nothing(client: httpx.AsyncClient) -> None:
    """With no proxy configured, a client that writes a new X-Forwarded-For on every request still spends one
    address's budget: its 3rd login within the minute is 429."""
    assert await logins(client, ["198.51.100.1", "198.51.100.2", "198.51.100.3"]) == [401, 401, 429]


@overrides(rate_limit_login="2/minute", forwarded_allow_ips=["10.0.0.0/8", PROXY])
async def test_behind_trusted_proxies_the_entry_they_appended_counts_not_what_the_client_wrote(
    client: httpx.AsyncClient,
) -> None:
    """Behind trusted proxies (the peer and an inner 10/8 hop), entries the client wrote to the left of the address
    the outer proxy appended change nothing (the 3rd login is 429), while another real client behind the same
    proxies has its own budget."""
    spoofed = [f"192.0.2.{n}, 198.51.100.1, 10.1.2.3" for n in range(3)]
    assert await logins(client, spoofed) == [401, 401, 429]
    assert await logins(client, ["198.51.100.2, 10.1.2.3"]) == [401]


@overrides(rate_limit_login="2/minute", trusted_proxy_hops=2)
async def test_with_trusted_proxy_hops_the_entry_that_many_from_the_right_counts(client: httpx.AsyncClient) -> None:
    """With two proxies that append to X-Forwarded-For, the second entry from the right is the client: entries
    further left change nothing, and another second-from-the-right address has its own budget."""
    assert await logins(client, [f"192.0.2.{n}, 198.51.100.1, 10.0.0.5" for n in range(3)]) == [401, 401, 429]
    assert await logins(client, ["198.51.100.2, 10.0.0.5"]) == [401]


@overrides(rate_limit_login="2/minute")
async def test_an_ipv6_client_counts_by_its_slash_64(app: Starlette) -> None:
    """Three addresses of one IPv6 /64 (which one subscriber usually holds whole) share one budget; an address in
    another /64 has its own."""
    async def from_(address: str) -> int:
        transport = httpx.ASGITransport(app=app, client=(address, 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://tabletop.test") as c:
            return (await logins(c, [None]))[0]

    assert [await from_(a) for a in ("2001:db8:1:2::1", "2001:db8:1:2::2", "2001:db8:1:2:ffff::3")] == [
        401, 401, 429]
    assert await from_("2001:db8:1:3::1") == 401


PROXIES = (ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("203.0.113.7/32"))


@pytest.mark.parametrize(("peer", "headers", "proxies", "hops", "expected"), [
    ("203.0.113.9", ["198.51.100.1"], (), 0, "203.0.113.9"),  # nothing trusted: the peer
    ("203.0.113.9", ["198.51.100.1"], PROXIES, 0, "203.0.113.9"),  # an untrusted peer's header is ignored
    ("203.0.113.7", ["1.1.1.1, 198.51.100.1"], PROXIES, 0, "198.51.100.1"),
    ("203.0.113.7", ["1.1.1.1", "198.51.100.1, 10.0.0.2"], PROXIES, 0, "198.51.100.1"),  # two headers, in order
    ("203.0.113.7", ["198.51.100.1:5555"], PROXIES, 0, "198.51.100.1"),  # a port
    ("203.0.113.7", ["[2001:db8::1]:443"], PROXIES, 0, "2001:db8::1"),  # a bracketed IPv6 with a port
    ("203.0.113.7", ["::ffff:198.51.100.1"], PROXIES, 0, "198.51.100.1"),  # IPv4-mapped
    ("203.0.113.7", ["10.0.0.1, 10.0.0.2"], PROXIES, 0, "10.0.0.1"),  # every hop a proxy: the first
    ("203.0.113.7", [], PROXIES, 0, "203.0.113.7"),  # a trusted peer without a header is the client
    ("203.0.113.7", ["1.1.1.1, unknown"], PROXIES, 0, "unknown"),  # what the proxy wrote, even if not an IP
    ("10.0.0.9", ["1.1.1.1, 198.51.100.1"], (), 1, "198.51.100.1"),
    ("10.0.0.9", ["1.1.1.1, 198.51.100.1, 10.0.0.3"], (), 2, "198.51.100.1"),
    ("10.0.0.9", ["198.51.100.1"], (), 2, "198.51.100.1"),  # fewer entries than hops: the leftmost
    ("10.0.0.9", [], (), 1, "10.0.0.9"),  # no header: the peer
])
def test_the_client_address_is_read_from_the_right_of_x_forwarded_for(
    peer: str, headers: list[str], proxies: tuple[Any, ...], hops: int, expected: str
) -> None:
    """Every proxy appends the address it heard from, so the client is found from the right: past the trusted
    proxies, or that many hops in."""
    assert client_address(peer, headers, proxies=proxies, hops=hops) == expected


# ------------------------------------------------------------------------------ at startup


def test_the_old_trust_setting_and_unsafe_proxy_settings_are_refused_at_startup() -> None:
    """TRUST_FORWARDED_FOR=true (which trusted the client-written leftmost entry) stops startup with an error naming
    its replacements, as do FORWARDED_ALLOW_IPS=* , a malformed proxy address and both ways of trusting proxies at
    once; TRUST_FORWARDED_FOR=false is harmless and ignored."""
    with pytest.raises(ConfigError, match=r"FORWARDED_ALLOW_IPS .* TRUSTED_PROXY_HOPS"):
        load_settings({"TRUST_FORWARDED_FOR": "true"})
    for bad in ({"FORWARDED_ALLOW_IPS": "*"}, {"FORWARDED_ALLOW_IPS": "10.0.0.0/8, proxy.internal"},
                {"FORWARDED_ALLOW_IPS": "10.0.0.1", "TRUSTED_PROXY_HOPS": "1"}, {"TRUSTED_PROXY_HOPS": "-1"}):
        with pytest.raises(ConfigError, match="invalid configuration"):
            load_settings(bad)
    assert load_settings({"TRUST_FORWARDED_FOR": "false"}).forwarded_allow_ips == []
    settings = load_settings({"FORWARDED_ALLOW_IPS": "10.0.0.0/8, 2001:db8::1"})
    assert settings.forwarded_allow_ips == ["10.0.0.0/8", "2001:db8::1"]


# --------------------------------------------------------------- uvicorn as the Procfile runs it


@pytest.fixture
def procfile_web(app_conninfo: str, signing_key_pem: str, tmp_path: Path) -> Iterator[Any]:
    """Starts the Procfile's web line exactly as written (the shell expands its ${VAR:-x}); returns its URL."""
    line = next(t for t in (ROOT / "Procfile").read_text().splitlines() if t.startswith("web:"))
    command = line.split(":", 1)[1].strip()
    started = []

    def start(**env: str) -> str:
        port = free_port()
        path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
        variables = {**process_env(app_conninfo, signing_key_pem, RATE_LIMIT_LOGIN="2/minute", **env),
                     "PORT": str(port), "HOST": "127.0.0.1", "PATH": path}
        process = spawn(["/bin/sh", "-c", f"exec {command}"], variables, tmp_path / "web.log")
        started.append(process)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and process.poll() is None:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0 and httpx.get(f"{url}/ready").status_code == 200:
                    return url
            time.sleep(0.1)
        raise AssertionError(f"the web process did not start: {(tmp_path / 'web.log').read_text()[-2000:]}")

    yield start
    for process in started:
        stop(process)


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=10) as c:
        yield c


async def test_the_procfiles_uvicorn_trusts_no_proxy_unless_forwarded_allow_ips_names_it(
    procfile_web: Any, http: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Run as the Procfile writes it, with FORWARDED_ALLOW_IPS unset even in the environment uvicorn reads, a client
    on loopback that sends a new X-Forwarded-For each time is still one address (3rd login 429); with
    FORWARDED_ALLOW_IPS=127.0.0.1 uvicorn and the app agree on the address the proxy appended."""
    monkeypatch.delenv("FORWARDED_ALLOW_IPS", raising=False)
    url = procfile_web()
    http.base_url = httpx.URL(url)
    assert await logins(http, ["198.51.100.1", "198.51.100.2", "198.51.100.3"]) == [401, 401, 429]

    url = procfile_web(FORWARDED_ALLOW_IPS="127.0.0.1")
    http.base_url = httpx.URL(url)
    assert await logins(http, [f"192.0.2.{n}, 198.51.100.1" for n in range(3)]) == [401, 401, 429]
    assert await logins(http, ["198.51.100.2"]) == [401]
