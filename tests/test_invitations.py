"""Membership by invitation (docs/auth.md): inviting answers the same for every email and makes
nobody a member; the invitee, by their account's email, sees the invitation and accepts or
declines it; owners and managers list and revoke pending ones; invitations expire and are
rate limited."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from tests.conftest import MakeRestaurant, MakeUser, Restaurant, User, expect

Sql = Callable[..., list[dict[str, Any]]]
MakeMember = Callable[[Restaurant, str], Awaitable[User]]


@pytest.fixture
def settings_overrides(request: pytest.FixtureRequest) -> dict[str, Any]:
    # conftest's fixture ignores indirect parametrisation; this one honours it.
    overrides: dict[str, Any] = getattr(request, "param", {})
    return overrides


async def invite(client: httpx.AsyncClient, r: Restaurant, email: str, role: str = "staff",
                 by: User | None = None) -> httpx.Response:
    return await client.post(r.url("/members"), headers=(by or r.owner).headers, json={"email": email, "role": role})


async def me(client: httpx.AsyncClient, user: User) -> dict[str, Any]:
    return expect(await client.get("/api/auth/me", headers=user.headers), 200)


async def answer(client: httpx.AsyncClient, user: User, invitation_id: str, verb: str) -> httpx.Response:
    return await client.post(f"/api/invitations/{invitation_id}/{verb}", headers=user.headers)


def code(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, f"{response.status_code} != {status}: {response.text}"
    found: str = response.json()["code"]
    return found


def memberships(db_sql: Sql, r: Restaurant) -> dict[str, str]:
    rows = db_sql("SELECT u.email, m.role FROM memberships m JOIN users u ON u.id = m.user_id"
                  " WHERE m.restaurant_id = %s", (r.id,))
    return {row["email"]: row["role"] for row in rows}


async def test_inviting_a_registered_and_an_unknown_email_answers_alike_and_makes_nobody_a_member(
    client: httpx.AsyncClient, make_restaurant: MakeRestaurant, make_user: MakeUser, db_sql: Sql
) -> None:
    """POST .../members is 202 with a pending invitation of the same shape for an email that has an account and one
    that has none; neither becomes a member, and no account is created."""
    r = await make_restaurant()
    known = await make_user()
    users_before = db_sql("SELECT id FROM users ORDER BY id")
    answers = [await invite(client, r, email) for email in (known.email, "nobody@example.com")]
    assert [a.status_code for a in answers] == [202, 202]
    bodies = [a.json() for a in answers]
    assert bodies[0].keys() == bodies[1].keys()
    assert [(b["email"], b["role"], b["status"]) for b in bodies] == [
        (known.email, "staff", "pending"), ("nobody@example.com", "staff", "pending")]
    assert memberships(db_sql, r) == {r.owner.email: "owner"}
    assert db_sql("SELECT id FROM users ORDER BY id") == users_before
    assert code(await client.get(r.url("/orders"), headers=known.headers), 404) == "not_found"


async def test_the_invitee_sees_the_invitation_accepts_it_and_gains_the_role(
    client: httpx.AsyncClient, make_restaurant: MakeRestaurant, make_user: MakeUser, db_sql: Sql
) -> None:
    """GET /api/auth/me lists the pending invitation with its restaurant's name and role; accepting it is 200 with
    the membership, makes the invitee a member with that role, and empties the list; a second answer is 409."""
    r = await make_restaurant()
    user = await make_user()
    invitation = expect(await invite(client, r, user.email.upper(), "kitchen"), 202)
    listed = (await me(client, user))["invitations"]
    assert [(i["id"], i["restaurant_id"], i["restaurant_name"], i["role"]) for i in listed] == [
        (invitation["id"], r.id, r.data["name"], "kitchen")]

    accepted = expect(await answer(client, user, invitation["id"], "accept"), 200)
    assert accepted["status"] == "accepted"
    assert accepted["membership"] == {"restaurant_id": r.id, "role": "kitchen"}
    mine = await me(client, user)
    assert {"restaurant_id": r.id, "role": "kitchen"} in mine["memberships"]
    assert mine["invitations"] == []
    expect(await client.get(r.url("/orders"), headers=user.headers), 200)
    for verb in ("accept", "decline"):
        assert code(await answer(client, user, invitation["id"], verb), 409) == "invitation_not_pending"


async def test_an_invitation_to_an_email_that_registers_later_is_found_by_that_email(
    client: httpx.AsyncClient, make_restaurant: MakeRestaurant, make_user: MakeUser, db_sql: Sql
) -> None:
    """An invitation to an email with no account yet (written in any case) shows in /me once that email registers
    and logs in, and accepting it makes them a member."""
    r = await make_restaurant()
    invitation = expect(await invite(client, r, "Later.Person@Example.COM", "manager"), 202)
    assert invitation["email"] == "later.person@example.com"
    user = await make_user("later.person@example.com")
    assert [i["id"] for i in (await me(client, user))["invitations"]] == [invitation["id"]]
    expect(await answer(client, user, invitation["id"], "accept"), 200)
    assert memberships(db_sql, r)["later.person@example.com"] == "manager"


async def test_a_declined_invitation_makes_no_member_and_cannot_be_accepted_after(
    client: httpx.AsyncClient, make_restaurant: MakeRestaurant, make_user: MakeUser, db_sql: Sql
) -> None:
    """Declining is 200 with status declined; the invitee is not a member, the invitation leaves their list, and
    accepting it afterwards is 409 invitation_not_pending."""
    r = await make_restaurant()
    user = await make_user()
    invitation = expect(await invite(client, r, user.email), 202)
    assert expect(await answer(client, user, invitation["id"], "decline"), 200)["status"] == "declined"
    assert (await me(client, user))["invitations"] == []
    assert code(await answer(client, user, invitation["id"], "accept"), 409) == "invitation_not_pending"
    assert user.email not in memberships(db_sql, r)


async def test_nobody_else_sees_or_answers_an_invitation(
    client: httpx.AsyncClient, make_restaurant: MakeRestaurant, make_user: MakeUser, db_sql: Sql
) -> None:
    """Another account does not see someone's invitation, and accepting or declining it (or an id that does not
    exist) is 404 not_found and changes nothing; a guest token is 403."""
    r = await make_restaurant()
    invitee, intruder = await make_user(), await make_user()
    invitation = expect(await invite(client, r, invitee.email), 202)
    assert (await me(client, intruder))["invitations"] == []
    for invitation_id in (invitation["id"], "00000000-0000-4000-8000-000000000000"):
        for verb in ("accept", "decline"):
            assert code(await answer(client, intruder, invitation_id, verb), 404) == "not_found"
    guest = expect(await client.post(f"/api/qr/{r.tables[0]['qr_token']}/session"), 201)
    refused = await client.post(f"/api/invitations/{invitation['id']}/accept",
                                headers={"Authorization": f"Bearer {guest['session_token']}"})
    assert code(refused, 403) == "forbidden"
    assert db_sql("SELECT status FROM member_invitations") == [{"status": "pending"}]
    assert memberships(db_sql, r) == {r.owner.email: "owner"}


async def test_an_expired_invitation_cannot_be_accepted_and_inviting_again_renews_it(
    client: httpx.AsyncClient, make_restaurant: MakeRestaurant, make_user: MakeUser, db_sql: Sql
) -> None:
    """Past its expiry an invitation leaves the invitee's list, accepting it is 409 (state expired), and the
    restaurant's list shows it as expired; inviting the email again renews the same invitation, which then works."""
    r = await make_restaurant()
    user = await make_user()
    invitation = expect(await invite(client, r, user.email), 202)
    db_sql("UPDATE member_invitations SET expires_at = now() - interval '1 second'")
    assert (await me(client, user))["invitations"] == []
    refused = await answer(client, user, invitation["id"], "accept")
    assert code(refused, 409) == "invitation_not_pending"
    assert refused.json()["state"] == "expired"
    listed = expect(await client.get(r.url("/invitations"), headers=r.owner.headers), 200)["items"]
    assert [(i["id"], i["status"]) for i in listed] == [(invitation["id"], "expired")]

    renewed = expect(await invite(client, r, user.email, "manager"), 202)
    assert (renewed["id"], renewed["role"], renewed["status"]) == (invitation["id"], "manager", "pending")
    expect(await answer(client, user, invitation["id"], "accept"), 200)
    assert memberships(db_sql, r)[user.email] == "manager"


@pytest.mark.parametrize("settings_overrides", [{"invitation_ttl_s": 3600}], indirect=True)
async def test_an_invitation_expires_after_the_configured_time(
    client: httpx.AsyncClient, make_restaurant: MakeRestaurant, db_sql: Sql
) -> None:
    """INVITATION_TTL_S sets how long an invitation stays open (7 days unless configured)."""
    r = await make_restaurant()
    expect(await invite(client, r, "someone@example.com"), 202)
    lifetime = db_sql("SELECT extract(epoch FROM expires_at - created_at)::int AS s FROM member_invitations")
    assert lifetime == [{"s": 3600}]


async def test_owners_and_managers_list_and_revoke_pending_invitations_within_their_roles(
    client: httpx.AsyncClient, make_restaurant: MakeRestaurant, make_user: MakeUser, make_member: MakeMember,
    db_sql: Sql
) -> None:
    """Owners and managers list the pending invitations (staff get 403); a manager revokes a staff invitation (204)
    but not an owner one (403); a revoked invitation leaves every list and cannot be accepted (409) or revoked
    again (409); another restaurant's invitation is 404."""
    r, other = await make_restaurant(), await make_restaurant()
    manager, staff = await make_member(r, "manager"), await make_member(r, "staff")
    invitee = await make_user()
    for_staff = expect(await invite(client, r, invitee.email, "staff"), 202)
    for_owner = expect(await invite(client, r, "partner@example.com", "owner"), 202)
    foreign = expect(await invite(client, other, "x@example.com"), 202)
    for who in (r.owner, manager):
        listed = expect(await client.get(r.url("/invitations"), headers=who.headers), 200)["items"]
        assert {i["id"] for i in listed} == {for_staff["id"], for_owner["id"]}
    assert code(await client.get(r.url("/invitations"), headers=staff.headers), 403) == "forbidden"

    revoke = r.url(f"/invitations/{for_owner['id']}")
    assert code(await client.delete(revoke, headers=manager.headers), 403) == "forbidden"
    assert code(await client.delete(r.url(f"/invitations/{foreign['id']}"), headers=r.owner.headers),
                404) == "not_found"
    assert (await client.delete(r.url(f"/invitations/{for_staff['id']}"), headers=manager.headers)).status_code == 204
    assert code(await client.delete(r.url(f"/invitations/{for_staff['id']}"), headers=r.owner.headers),
                409) == "invitation_not_pending"
    assert (await me(client, invitee))["invitations"] == []
    assert code(await answer(client, invitee, for_staff["id"], "accept"), 409) == "invitation_not_pending"
    listed = expect(await client.get(r.url("/invitations"), headers=r.owner.headers), 200)["items"]
    assert [i["id"] for i in listed] == [for_owner["id"]]
    assert (await client.delete(revoke, headers=r.owner.headers)).status_code == 204


async def test_a_manager_invites_floor_roles_but_not_owners_and_staff_invite_nobody(
    client: httpx.AsyncClient, make_restaurant: MakeRestaurant, make_member: MakeMember, db_sql: Sql
) -> None:
    """A manager invites managers, staff and kitchen (202) but not owners (403), and cannot turn a pending owner
    invitation into another (403, it stays an owner one); staff and kitchen invite nobody (403); an unknown role or
    a malformed email is 422; none of the refusals writes anything."""
    r = await make_restaurant()
    manager, staff, kitchen = [await make_member(r, role) for role in ("manager", "staff", "kitchen")]
    for role in ("manager", "staff", "kitchen"):
        expect(await invite(client, r, f"{role}@example.com", role, by=manager), 202)
    expect(await invite(client, r, "boss@example.com", "owner"), 202)
    before = db_sql("SELECT email, role FROM member_invitations ORDER BY email")
    assert code(await invite(client, r, "new-owner@example.com", "owner", by=manager), 403) == "forbidden"
    assert code(await invite(client, r, "boss@example.com", "staff", by=manager), 403) == "forbidden"
    for member in (staff, kitchen):
        assert code(await invite(client, r, "floor@example.com", "kitchen", by=member), 403) == "forbidden"
    for body in ({"email": "a@example.com", "role": "chef"}, {"email": "not an email", "role": "staff"},
                 {"email": "a@example.com"}, {"email": "a@example.com", "role": "staff", "user_id": "x"}):
        response = await client.post(r.url("/members"), headers=r.owner.headers, json=body)
        assert code(response, 422) == "validation_error"
    assert db_sql("SELECT email, role FROM member_invitations ORDER BY email") == before


async def test_accepting_an_invitation_to_a_restaurant_one_already_belongs_to_is_409(
    client: httpx.AsyncClient, make_restaurant: MakeRestaurant, make_member: MakeMember, db_sql: Sql
) -> None:
    """A member invited again (to any role) who accepts gets 409 already_member and keeps their role; the
    invitation stays pending, and they can decline it."""
    r = await make_restaurant()
    staff = await make_member(r, "staff")
    invitation = expect(await invite(client, r, staff.email, "manager"), 202)
    assert code(await answer(client, staff, invitation["id"], "accept"), 409) == "already_member"
    assert memberships(db_sql, r)[staff.email] == "staff"
    expect(await answer(client, staff, invitation["id"], "decline"), 200)


@pytest.mark.parametrize("settings_overrides", [{"rate_limit_invite": "3/minute"}], indirect=True)
async def test_invitations_are_rate_limited_per_inviting_account(
    client: httpx.AsyncClient, make_restaurant: MakeRestaurant, db_sql: Sql
) -> None:
    """An account's 4th invitation within the window is 429 with Retry-After and writes nothing, whatever the
    email; another restaurant's owner still invites."""
    r, other = await make_restaurant(), await make_restaurant()
    for n in range(3):
        expect(await invite(client, r, f"person{n}@example.com"), 202)
    limited = await invite(client, r, "person9@example.com")
    assert code(limited, 429) == "rate_limited"
    assert limited.headers["retry-after"].isdigit()
    assert db_sql("SELECT count(*) AS n FROM member_invitations") == [{"n": 3}]
    expect(await invite(client, other, "person9@example.com"), 202)
