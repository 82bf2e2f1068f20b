"""Customer accounts: profile, password change, password reset by email (through the outbox and a
real SMTP server), and a customer's or a guest session's own orders."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from db.pool import Database
from sync.config import SyncSettings
from sync.email.target import email_target
from tests.conftest import (
    MakeRestaurant,
    MakeUser,
    Served,
    SmtpStandin,
    expect,
    open_guest,
    order_body,
    overrides,
)

NEW_PASSWORD = "battery staple horse"
TOKEN_IN_MAIL = re.compile(r"Your reset code:\s+(\S+)")

assert open_guest  # a fixture, used by name


@pytest.fixture
async def mail(system_db: Database, smtp_standin: SmtpStandin) -> AsyncIterator[Served]:
    target = email_target(system_db, SyncSettings(), smtp_standin.smtp, {})
    assert target is not None
    yield Served(system_db, target)
    await target.close()


async def login(client: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    return await client.post("/api/auth/login", json={"email": email, "password": password})


async def reset_token(client: httpx.AsyncClient, mail: Served, smtp_standin: SmtpStandin, email: str) -> str:
    """Asks for a reset, lets the email target deliver it, and reads the code from the mail received."""
    expect(await client.post("/api/auth/password-reset", json={"email": email}), 202)
    await mail.round()
    [message] = [m for m in smtp_standin.messages() if m["to"] == email][-1:]
    found = TOKEN_IN_MAIL.search(message["text"])
    assert found, message["text"]
    return found.group(1)


async def test_a_customer_changes_name_and_phone_and_clears_the_phone(
        client: httpx.AsyncClient, make_user: MakeUser) -> None:
    """PATCH /api/auth/me changes name and phone without a password; null clears the phone; GET shows them."""
    user = await make_user()
    me = expect(await client.patch("/api/auth/me", headers=user.headers,
                                   json={"full_name": "Asha Rao", "phone": "+91 98450 12345"}), 200)
    assert (me["full_name"], me["phone"]) == ("Asha Rao", "+91 98450 12345")
    assert expect(await client.get("/api/auth/me", headers=user.headers), 200)["phone"] == "+91 98450 12345"
    me = expect(await client.patch("/api/auth/me", headers=user.headers, json={"phone": None}), 200)
    assert (me["full_name"], me["phone"]) == ("Asha Rao", None)
    for bad in ({"phone": "call me"}, {"full_name": ""}, {"nickname": "A"}):
        assert (await client.patch("/api/auth/me", headers=user.headers, json=bad)).status_code == 422
    # A null name leaves it as it is, as a PATCH of a restaurant's name does.
    me = expect(await client.patch("/api/auth/me", headers=user.headers, json={"full_name": None}), 200)
    assert me["full_name"] == "Asha Rao"


async def test_changing_the_email_needs_the_current_password_and_a_free_email(
        client: httpx.AsyncClient, make_user: MakeUser) -> None:
    """Without current_password 422, with a wrong one 403, to a taken email 409; with the right one
    the account logs in under the new email only."""
    user, other = await make_user(), await make_user()
    url, new = "/api/auth/me", "Moved@Example.com"
    assert (await client.patch(url, headers=user.headers, json={"email": new})).status_code == 422
    response = await client.patch(url, headers=user.headers, json={"email": new, "current_password": "wrong one!"})
    assert (response.status_code, response.json()["code"]) == (403, "wrong_password")
    response = await client.patch(url, headers=user.headers, json={"email": other.email,
                                                                   "current_password": user.password})
    assert (response.status_code, response.json()["code"]) == (409, "email_taken")
    me = expect(await client.patch(url, headers=user.headers, json={"email": new, "current_password": user.password}),
                200)
    assert me["email"] == "moved@example.com"
    assert (await login(client, user.email, user.password)).status_code == 401
    expect(await login(client, "moved@example.com", user.password), 200)


async def test_a_password_change_signs_every_other_session_out(
        client: httpx.AsyncClient, make_user: MakeUser) -> None:
    """A wrong current password is 403 and changes nothing; the right one sets the new password,
    revokes the refresh tokens of every session and answers a working pair for the caller."""
    user = await make_user()
    other_session = expect(await login(client, user.email, user.password), 200)
    response = await client.post("/api/auth/password", headers=user.headers,
                                 json={"current_password": "wrong one!", "new_password": NEW_PASSWORD})
    assert (response.status_code, response.json()["code"]) == (403, "wrong_password")
    pair = expect(await client.post("/api/auth/password", headers=user.headers,
                                    json={"current_password": user.password, "new_password": NEW_PASSWORD}), 200)
    for old in (user.refresh_token, other_session["refresh_token"]):
        assert (await client.post("/api/auth/refresh", json={"refresh_token": old})).status_code == 401
    expect(await client.post("/api/auth/refresh", json={"refresh_token": pair["refresh_token"]}), 200)
    assert (await login(client, user.email, user.password)).status_code == 401
    expect(await login(client, user.email, NEW_PASSWORD), 200)


async def test_a_reset_for_an_unknown_email_answers_the_same_and_sends_nothing(
        client: httpx.AsyncClient, make_user: MakeUser, mail: Served, smtp_standin: SmtpStandin,
        db_sql: Callable[..., list[dict[str, Any]]]) -> None:
    """202 with the same body whether or not the email has an account; no token, no email, no mail."""
    user = await make_user()
    known = await client.post("/api/auth/password-reset", json={"email": user.email})
    unknown = await client.post("/api/auth/password-reset", json={"email": "nobody@example.com"})
    assert known.status_code == unknown.status_code == 202
    assert known.json() == unknown.json()
    await mail.round()
    assert [m["to"] for m in smtp_standin.messages()] == [user.email]
    assert db_sql("SELECT count(*) AS n FROM outbound_emails")[0]["n"] == 1
    assert (await client.post("/api/auth/password-reset", json={"email": "not an email"})).status_code == 422


async def test_a_reset_code_from_the_mail_sets_the_password_once_and_signs_everyone_out(
        client: httpx.AsyncClient, make_user: MakeUser, mail: Served, smtp_standin: SmtpStandin,
        db_sql: Callable[..., list[dict[str, Any]]]) -> None:
    """The code read from the real mail sets the new password; every refresh token of the account
    stops working; the code works once; the stored token is its hash and the email body is sealed."""
    user = await make_user()
    token = await reset_token(client, mail, smtp_standin, user.email)
    [stored] = db_sql("SELECT token_hash FROM password_reset_tokens")
    assert token.encode() not in bytes(stored["token_hash"])
    [email] = db_sql("SELECT body FROM outbound_emails")
    assert token.encode() not in bytes(email["body"])
    assert (await client.post("/api/auth/password-reset/confirm",
                              json={"token": token, "new_password": "short"})).status_code == 422
    response = await client.post("/api/auth/password-reset/confirm", json={"token": token, "new_password": NEW_PASSWORD})
    assert response.status_code == 204, response.text
    assert (await client.post("/api/auth/refresh", json={"refresh_token": user.refresh_token})).status_code == 401
    assert (await login(client, user.email, user.password)).status_code == 401
    expect(await login(client, user.email, NEW_PASSWORD), 200)
    again = await client.post("/api/auth/password-reset/confirm", json={"token": token, "new_password": "x" * 12})
    assert (again.status_code, again.json()["code"]) == (400, "invalid_reset_token")
    expect(await login(client, user.email, NEW_PASSWORD), 200)


async def test_an_expired_reset_code_is_refused(
        client: httpx.AsyncClient, make_user: MakeUser, mail: Served, smtp_standin: SmtpStandin,
        db_sql: Callable[..., list[dict[str, Any]]]) -> None:
    """A code past its expiry is 400 invalid_reset_token and the password stays."""
    user = await make_user()
    token = await reset_token(client, mail, smtp_standin, user.email)
    db_sql("UPDATE password_reset_tokens SET expires_at = now() - interval '1 second'")
    response = await client.post("/api/auth/password-reset/confirm", json={"token": token, "new_password": NEW_PASSWORD})
    assert (response.status_code, response.json()["code"]) == (400, "invalid_reset_token")
    expect(await login(client, user.email, user.password), 200)


@overrides(rate_limit_password_reset_email="2/hour", rate_limit_password_reset_ip="4/hour")
async def test_reset_requests_are_limited_per_email_and_per_address(client: httpx.AsyncClient) -> None:
    """The third request for one email within the hour is 429, and the fifth from one address,
    whichever emails it names (known or not: the limits tell nothing)."""
    codes = [(await client.post("/api/auth/password-reset", json={"email": "a@example.com"})).status_code
             for _ in range(3)]
    assert codes == [202, 202, 429]
    codes = [(await client.post("/api/auth/password-reset", json={"email": f"b{n}@example.com"})).status_code
             for n in range(2)]
    assert codes == [202, 429]


@overrides(log_level="DEBUG")
async def test_no_log_line_carries_the_reset_code_or_a_password(
        client: httpx.AsyncClient, make_user: MakeUser, mail: Served, smtp_standin: SmtpStandin,
        capsys: pytest.CaptureFixture[str]) -> None:
    """Everything logged from register to a confirmed reset holds neither the code nor a password."""
    user = await make_user()
    token = await reset_token(client, mail, smtp_standin, user.email)
    expect(await client.post("/api/auth/password-reset/confirm", json={"token": token, "new_password": NEW_PASSWORD}),
           204)
    await client.post("/api/auth/password-reset/confirm", json={"token": token, "new_password": NEW_PASSWORD})
    out = capsys.readouterr()
    logged = out.out + out.err
    assert "password_reset" in logged
    for secret in (token, NEW_PASSWORD, user.password):
        assert secret not in logged


async def test_a_customer_sees_their_own_orders_across_restaurants_newest_first(
        client: httpx.AsyncClient, make_user: MakeUser, make_restaurant: MakeRestaurant) -> None:
    """GET /api/me/orders lists the orders the account placed in every restaurant, paged, and none
    of anyone else's."""
    customer, stranger = await make_user(), await make_user()
    first, second = await make_restaurant(customer), await make_restaurant()
    theirs = expect(await client.post(second.url("/orders"), headers=second.owner.headers,
                                      json=order_body(second)), 201)
    placed = [expect(await client.post(first.url("/orders"), headers=customer.headers, json=order_body(first)), 201)
              for _ in range(3)]
    page = expect(await client.get("/api/me/orders", headers=customer.headers, params={"limit": 2}), 200)
    assert [o["id"] for o in page["items"]] == [placed[2]["id"], placed[1]["id"]]
    rest = expect(await client.get("/api/me/orders", headers=customer.headers,
                                   params={"limit": 2, "cursor": page["next_cursor"]}), 200)
    assert [o["id"] for o in rest["items"]] == [placed[0]["id"]]
    assert rest["next_cursor"] is None
    assert expect(await client.get("/api/me/orders", headers=stranger.headers), 200)["items"] == []
    owner_view = expect(await client.get("/api/me/orders", headers=second.owner.headers), 200)
    assert [o["id"] for o in owner_view["items"]] == [theirs["id"]]
    assert "session_id" not in page["items"][0]


async def test_a_guest_sees_only_its_own_sessions_orders(
        client: httpx.AsyncClient, make_restaurant: MakeRestaurant,
        open_guest: Callable[..., Any]) -> None:
    """GET /api/qr/session/orders lists the orders of the caller's guest session only (not another
    session's at the same table, not another restaurant's); an account's token is 403."""
    restaurant, other = await make_restaurant(), await make_restaurant()
    guest, neighbour, elsewhere = (await open_guest(restaurant, 0), await open_guest(restaurant, 0),
                                   await open_guest(other, 0))
    mine = expect(await client.post(restaurant.url("/orders"), headers=guest.headers, json=order_body(restaurant)), 201)
    expect(await client.post(restaurant.url("/orders"), headers=neighbour.headers, json=order_body(restaurant)), 201)
    expect(await client.post(other.url("/orders"), headers=elsewhere.headers, json=order_body(other)), 201)
    listed = expect(await client.get("/api/qr/session/orders", headers=guest.headers), 200)
    assert [o["id"] for o in listed["items"]] == [mine["id"]]
    assert (await client.get("/api/qr/session/orders", headers=restaurant.owner.headers)).status_code == 403
    assert (await client.get("/api/qr/session/orders")).status_code == 401
