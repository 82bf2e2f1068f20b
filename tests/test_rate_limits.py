"""Rate limits keyed to what they protect (docs/auth.md): nobody can lock an account's owner
out by guessing their password, guessing stays bounded, a crowd behind one address (a guest
Wi-Fi, a carrier's NAT) is not refused, and a new guest session does not reset its table's
order budget.

The test client's peer, 203.0.113.7, is the trusted proxy where a test needs several client
addresses: it appends them to X-Forwarded-For."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from api.config import Settings
from tests.conftest import Guest, MakeRestaurant, MakeUser, Restaurant, User, expect, order_body, overrides

Sql = Callable[..., list[dict[str, Any]]]
OpenGuest = Callable[[Restaurant, int], Awaitable[Guest]]
PROXY = "203.0.113.7"  # conftest's client address
DEFAULT = {name: field.default for name, field in Settings.model_fields.items()}
# The login limits as they are by default, which conftest raises for other tests.
LOGIN_DEFAULTS = {**{k: DEFAULT[k] for k in ("rate_limit_login", "rate_limit_login_failures",
                                              "rate_limit_login_account")}, "forwarded_allow_ips": [PROXY]}


def code_of(response: httpx.Response) -> tuple[int, str | None]:
    return response.status_code, response.json().get("code") if response.status_code >= 400 else None


def refused(response: httpx.Response) -> bool:
    """429 rate_limited with an integer Retry-After."""
    assert response.status_code == 429, response.text
    assert response.json()["code"] == "rate_limited"
    assert response.headers["retry-after"].isdigit()
    return True


async def login(client: httpx.AsyncClient, user: User | str, password: str | None = None,
                via: str | None = None) -> httpx.Response:
    """Logs in from ``via`` (appended by the trusted proxy), or from the proxy's own address."""
    email = user if isinstance(user, str) else user.email
    password = password if password is not None else (user.password if isinstance(user, User) else "wrong")
    headers = {"X-Forwarded-For": via} if via else {}
    return await client.post("/api/auth/login", json={"email": email, "password": password}, headers=headers)


def refresh_tokens(db_sql: Sql) -> int:
    return int(db_sql("SELECT count(*) AS n FROM refresh_tokens")[0]["n"])


# ------------------------------------------------------------------------------ 3. logins


@overrides(**{**LOGIN_DEFAULTS, "rate_limit_login": "10/minute"})
async def test_wrong_passwords_from_many_addresses_do_not_lock_the_owner_out(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    """With the default limits (and the old per-address budget of 10 a minute), 10 wrong passwords for the owner's
    email from 10 addresses are 401 each, and then the owner logs in with the right password both from a new address
    and from the address they used before."""
    owner = await make_user()
    for n in range(10):
        assert code_of(await login(client, owner.email, "wrong password", via=f"198.51.100.{n + 1}")) == (
            401, "invalid_credentials")
    expect(await login(client, owner, via="192.0.2.200"), 200)
    expect(await login(client, owner), 200)


@overrides(**{**LOGIN_DEFAULTS, "rate_limit_login_account": "5/hour"})
async def test_guessing_one_account_from_many_addresses_is_bounded_but_its_known_address_still_logs_in(
    client: httpx.AsyncClient, make_user: MakeUser, db_sql: Sql
) -> None:
    """Once an email's budget of attempts from addresses it never logged in from is spent (5 here, the owner's own
    first login included), every such address is refused with 429, even with the right password, and no token is
    issued; the owner, from the address they logged in from before, still logs in. An unknown email is limited the same way, so the answers tell
    nothing about which emails have accounts."""
    owner = await make_user()  # its first login was one attempt from an address the account had not used
    tokens_before = refresh_tokens(db_sql)
    for who, budget in ((owner.email, 4), ("nobody@example.com", 5)):
        for n in range(budget):
            assert code_of(await login(client, who, "wrong password", via=f"198.51.100.{n + 1}"))[0] == 401
        assert refused(await login(client, who, owner.password, via="198.51.100.99"))
    assert refresh_tokens(db_sql) == tokens_before
    expect(await login(client, owner), 200)


@overrides(**{**LOGIN_DEFAULTS, "rate_limit_login_failures": "3/hour"})
async def test_failures_are_limited_per_email_and_address_not_per_address_or_per_email(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    """After 3 wrong passwords for one email from one address, that address is refused for that email even with the
    right password, while the owner logs in from their own address and the same address logs into another account;
    successful logins count no failure."""
    owner, neighbour = await make_user(), await make_user()
    guesser = "198.51.100.50"
    for _ in range(3):
        assert code_of(await login(client, owner.email, "wrong password", via=guesser))[0] == 401
    assert refused(await login(client, owner, via=guesser))
    expect(await login(client, owner), 200)
    for _ in range(5):
        expect(await login(client, neighbour, via=guesser), 200)


# -------------------------------------------------------------------------- 5. QR sessions


@overrides(rate_limit_qr_session=DEFAULT["rate_limit_qr_session"],
           rate_limit_qr_lookup_failures=DEFAULT["rate_limit_qr_lookup_failures"])
async def test_a_dinner_service_behind_one_address_opens_a_session_at_every_table(
    client: httpx.AsyncClient, make_restaurant: MakeRestaurant, db_sql: Sql
) -> None:
    """With the default limits, 14 tables of 5 guests each (70 sessions within a minute, all from the one address of
    the restaurant's Wi-Fi) all get a session."""
    r = await make_restaurant()
    for n in range(12):
        r.tables.append(expect(await client.post(r.url("/tables"), headers=r.owner.headers,
                                                 json={"label": f"W{n}"}), 201))
    statuses = [(await client.post(f"/api/qr/{table['qr_token']}/session")).status_code
                for table in r.tables for _ in range(5)]
    assert statuses == [201] * 70
    assert db_sql("SELECT count(*) AS n FROM guest_sessions") == [{"n": 70}]


@overrides(rate_limit_qr_session="3/minute")
async def test_sessions_are_limited_per_table_and_a_replaced_qr_code_starts_afresh(
    client: httpx.AsyncClient, make_restaurant: MakeRestaurant, db_sql: Sql
) -> None:
    """A table's 4th session within the window is 429 and opens nothing, whatever address asks; the other table
    still opens sessions; once the table's QR code is replaced, the new code opens sessions again (whoever used up
    the old code's budget cannot use up the new one's)."""
    r = await make_restaurant()
    first, second = r.tables
    for n in range(3):
        expect(await client.post(f"/api/qr/{first['qr_token']}/session",
                                 headers={"X-Forwarded-For": f"198.51.100.{n}"}), 201)
    assert refused(await client.post(f"/api/qr/{first['qr_token']}/session"))
    assert db_sql("SELECT count(*) AS n FROM guest_sessions") == [{"n": 3}]
    expect(await client.post(f"/api/qr/{second['qr_token']}/session"), 201)
    rotated = expect(await client.patch(r.url(f"/tables/{first['id']}"), headers=r.owner.headers,
                                        json={"rotate_qr_token": True}), 200)
    expect(await client.post(f"/api/qr/{rotated['qr_token']}/session"), 201)


@overrides(rate_limit_qr_lookup_failures="3/minute", rate_limit_qr_session="1000/minute",
           forwarded_allow_ips=[PROXY])
async def test_unknown_qr_codes_are_limited_per_address_and_known_ones_are_not(
    client: httpx.AsyncClient, make_restaurant: MakeRestaurant, db_sql: Sql
) -> None:
    """Successful scans do not count; after 3 unknown QR codes from one address every scan from it is 429 (a
    guesser learns nothing more) and opens nothing, while another address behind the same proxy still scans."""
    r = await make_restaurant()
    qr = r.tables[0]["qr_token"]
    guesser = {"X-Forwarded-For": "198.51.100.7"}
    for _ in range(10):
        expect(await client.post(f"/api/qr/{qr}/session", headers=guesser), 201)
    for guess in ("no-such-code-1", "no-such-code-2", "x" * 65):
        assert code_of(await client.post(f"/api/qr/{guess}/session", headers=guesser)) == (404, "not_found")
    assert refused(await client.post("/api/qr/no-such-code-3/session", headers=guesser))
    assert refused(await client.post(f"/api/qr/{qr}/session", headers=guesser))
    assert db_sql("SELECT count(*) AS n FROM guest_sessions") == [{"n": 10}]
    expect(await client.post(f"/api/qr/{qr}/session", headers={"X-Forwarded-For": "198.51.100.8"}), 201)


# ------------------------------------------------------------------------------- 5. orders


@overrides(rate_limit_order_table="3/minute")
async def test_a_new_session_does_not_reset_its_tables_order_limit(
    client: httpx.AsyncClient, make_restaurant: MakeRestaurant, open_guest: OpenGuest, db_sql: Sql
) -> None:
    """After 3 guest orders at a table, an order from a fresh session at that table is 429 and writes nothing; the
    other table's guests and the staff (for that very table) still order; a session opened with the table's
    replaced QR code orders again."""
    r = await make_restaurant()
    for _ in range(3):
        guest = await open_guest(r, 0)
        expect(await client.post(r.url("/orders"), headers=guest.headers, json=order_body(r)), 201)
    fresh = await open_guest(r, 0)
    assert refused(await client.post(r.url("/orders"), headers=fresh.headers, json=order_body(r)))
    assert db_sql("SELECT count(*) AS n FROM orders") == [{"n": 3}]
    expect(await client.post(r.url("/orders"), headers=(await open_guest(r, 1)).headers, json=order_body(r)), 201)
    staff_order = {**order_body(r), "table_id": r.tables[0]["id"]}
    expect(await client.post(r.url("/orders"), headers=r.owner.headers, json=staff_order), 201)
    rotated = expect(await client.patch(r.url(f"/tables/{r.tables[0]['id']}"), headers=r.owner.headers,
                                        json={"rotate_qr_token": True}), 200)
    r.tables[0] = rotated
    expect(await client.post(r.url("/orders"), headers=(await open_guest(r, 0)).headers, json=order_body(r)), 201)
