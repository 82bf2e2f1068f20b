"""Accounts and tokens: register, login, refresh rotation, /me, the JWKS, guest sessions,
and the forged, expired and malformed credentials a protected endpoint must refuse.

Every test gets a fresh database (about half a second each), so a table of similar cases
runs inside one test and reports every case that fails, instead of one test per case.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import httpx
import jwt
import pytest
from argon2 import PasswordHasher
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from api.config import Settings
from tests.conftest import MakeRestaurant, MakeUser, expect

PASSWORD = "correct horse battery"
# Another RSA key, made once: what an attacker who knows our kid but not our key signs with.
OTHER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER_PUBLIC_PEM = OTHER_KEY.public_key().public_bytes(
    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
).decode()

Sql = Callable[..., list[dict[str, Any]]]


@pytest.fixture
def settings_overrides(request: pytest.FixtureRequest) -> dict[str, Any]:
    # conftest's fixture ignores indirect parametrisation; this one honours it.
    overrides: dict[str, Any] = getattr(request, "param", {})
    return overrides


def problem_code(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, f"{response.status_code} != {status}: {response.text}"
    assert response.headers["content-type"].startswith("application/problem+json")
    code: str = response.json()["code"]
    return code


def count(db_sql: Sql, table: str) -> int:
    # Table names are literals of this module, never input.
    return int(db_sql(f"SELECT count(*) AS n FROM {table}")[0]["n"])  # noqa: S608  # literal table names


async def register(client: httpx.AsyncClient, **body: Any) -> httpx.Response:
    return await client.post("/api/auth/register", json=body)


async def login(client: httpx.AsyncClient, email: str, password: str = PASSWORD) -> httpx.Response:
    return await client.post("/api/auth/login", json={"email": email, "password": password})


async def refresh(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.post("/api/auth/refresh", json={"refresh_token": token})


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def verified_claims(token: str, jwks: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """The claims of ``token`` checked with the JWKS entry its header names (as a client would)."""
    kid = jwt.get_unverified_header(token)["kid"]
    (jwk,) = [k for k in jwks["keys"] if k["kid"] == kid]
    claims: dict[str, Any] = jwt.decode(token, jwt.PyJWK(jwk).key, algorithms=["RS256"],
                                        audience=settings.jwt_audience, issuer=settings.jwt_issuer)
    return claims


# ------------------------------------------------------------------------------ register


async def test_register_returns_the_account_with_its_email_lower_cased(client: httpx.AsyncClient, db_sql: Sql) -> None:
    """Registering answers 201 with exactly id, email (lower-cased) and full_name, and stores that row."""
    body = expect(await register(client, email="Mixed.Case@Example.COM", password=PASSWORD, full_name="Asha Rao"), 201)
    assert set(body) == {"id", "email", "full_name"}
    assert body["email"] == "mixed.case@example.com"
    assert body["full_name"] == "Asha Rao"
    rows = db_sql("SELECT id, email, full_name FROM users")
    assert rows == [{"id": UUID(body["id"]), "email": "mixed.case@example.com", "full_name": "Asha Rao"}]


async def test_register_refuses_an_email_already_taken_in_any_case(client: httpx.AsyncClient, db_sql: Sql) -> None:
    """A second registration of the same email, whatever its case, is 409 email_taken and adds no row."""
    expect(await register(client, email="asha@example.com", password=PASSWORD, full_name="Asha"), 201)
    for second in ("asha@example.com", "ASHA@EXAMPLE.COM", "Asha@Example.com"):
        response = await register(client, email=second, password="another long password", full_name="Impostor")
        assert problem_code(response, 409) == "email_taken", second
    assert db_sql("SELECT full_name FROM users") == [{"full_name": "Asha"}]


VALID = {"email": "new@example.com", "password": PASSWORD, "full_name": "New Person"}
INVALID_REGISTRATIONS: dict[str, tuple[dict[str, Any], str]] = {
    "password-9-chars": ({**VALID, "password": "short9chr"}, "password"),
    "password-empty": ({**VALID, "password": ""}, "password"),
    "password-257-chars": ({**VALID, "password": "x" * 257}, "password"),
    "email-no-at": ({**VALID, "email": "not-an-email"}, "email"),
    "email-no-domain-dot": ({**VALID, "email": "a@b"}, "email"),
    "email-space": ({**VALID, "email": "a b@example.com"}, "email"),
    "email-too-long": ({**VALID, "email": ("x" * 60 + ".") * 4 + "@example.com"}, "email"),
    "missing-email": ({"password": PASSWORD, "full_name": "N"}, "email"),
    "missing-password": ({"email": "new@example.com", "full_name": "N"}, "password"),
    "missing-full-name": ({"email": "new@example.com", "password": PASSWORD}, "full_name"),
    "extra-field": ({**VALID, "is_platform_admin": True}, "is_platform_admin"),
    "password-int": ({**VALID, "password": 12345678901}, "password"),
    "full-name-int": ({**VALID, "full_name": 42}, "full_name"),
    "email-list": ({**VALID, "email": ["new@example.com"]}, "email"),
    "full-name-null": ({**VALID, "full_name": None}, "full_name"),
    "full-name-121-chars": ({**VALID, "full_name": "x" * 121}, "full_name"),
    "full-name-huge": ({**VALID, "full_name": "x" * 20_000}, "full_name"),
    "full-name-blank": ({**VALID, "full_name": "   "}, "full_name"),
}


async def test_register_refuses_invalid_input_with_422_and_writes_nothing(client: httpx.AsyncClient, db_sql: Sql) -> None:
    """Each invalid registration (short password, bad email, missing, extra, mistyped or huge field) is 422 naming
    the field, and no user is stored."""
    wrong = []
    for case, (body, field) in INVALID_REGISTRATIONS.items():
        response = await client.post("/api/auth/register", json=body)
        ok = response.status_code == 422 and response.json().get("code") == "validation_error"
        locs = [err["loc"] for err in response.json().get("errors", [])]
        if not ok or not any(loc[:2] == ["body", field] for loc in locs):
            wrong.append(f"{case}: {response.status_code} {response.text[:300]}")
    assert not wrong, "\n".join(wrong)
    assert count(db_sql, "users") == 0


# --------------------------------------------------------------------------------- login


async def test_login_returns_a_bearer_token_pair_for_the_account(client: httpx.AsyncClient, settings: Settings) -> None:
    """Login (email in any case) answers access_token, refresh_token, token_type bearer and expires_in; the access
    token is an RS256 JWT naming the user."""
    created = expect(await register(client, email="cook@example.com", password=PASSWORD, full_name="Cook"), 201)
    pair = expect(await login(client, "COOK@example.com"), 200)
    assert set(pair) >= {"access_token", "refresh_token", "token_type", "expires_in"}
    assert pair["token_type"] == "bearer"
    assert pair["expires_in"] == settings.access_token_ttl_s
    assert isinstance(pair["refresh_token"], str)
    assert len(pair["refresh_token"]) >= 32
    assert jwt.get_unverified_header(pair["access_token"])["alg"] == "RS256"
    claims = verified_claims(pair["access_token"], expect(await client.get("/.well-known/jwks.json"), 200), settings)
    assert claims["sub"] == created["id"]
    assert claims["exp"] - claims["iat"] == settings.access_token_ttl_s


async def test_login_with_bad_credentials_is_401_invalid_credentials_and_issues_nothing(
    client: httpx.AsyncClient, db_sql: Sql
) -> None:
    """A wrong password and an unknown email get the same 401 invalid_credentials body, and no refresh token."""
    expect(await register(client, email="cook@example.com", password=PASSWORD, full_name="Cook"), 201)
    bodies = []
    for email, password in (("cook@example.com", "wrong password entirely"), ("nobody@example.com", PASSWORD),
                            ("cook@example.com", PASSWORD.upper())):
        response = await login(client, email, password)
        assert problem_code(response, 401) == "invalid_credentials", (email, password)
        bodies.append(response.json())
    assert all(b == bodies[0] for b in bodies), "an unknown email must be indistinguishable from a wrong password"
    assert count(db_sql, "refresh_tokens") == 0


async def test_passwords_are_stored_as_argon2id_hashes_and_refresh_tokens_as_digests(
    client: httpx.AsyncClient, db_sql: Sql
) -> None:
    """Users hold an argon2id hash of the password (never the password) and refresh_tokens a SHA-256 digest."""
    expect(await register(client, email="cook@example.com", password=PASSWORD, full_name="Cook"), 201)
    pair = expect(await login(client, "cook@example.com"), 200)
    (row,) = db_sql("SELECT password_hash FROM users")
    stored = row["password_hash"]
    assert stored.startswith("$argon2id$")
    assert PASSWORD not in stored
    assert PasswordHasher().verify(stored, PASSWORD)
    (token_row,) = db_sql("SELECT token_hash FROM refresh_tokens")
    assert bytes(token_row["token_hash"]) == hashlib.sha256(pair["refresh_token"].encode()).digest()


# ------------------------------------------------------------------------------- refresh


async def test_a_refresh_token_rotates_into_a_working_pair(client: httpx.AsyncClient, make_user: MakeUser) -> None:
    """Refreshing answers a new access and refresh token; the access token reads /me and the refresh token rotates."""
    user = await make_user()
    pair = expect(await refresh(client, user.refresh_token), 200)
    assert pair["token_type"] == "bearer"
    assert pair["refresh_token"] != user.refresh_token
    me = expect(await client.get("/api/auth/me", headers=bearer(pair["access_token"])), 200)
    assert me["id"] == user.id
    expect(await refresh(client, pair["refresh_token"]), 200)


async def test_reusing_a_spent_refresh_token_revokes_its_whole_family_and_only_it(
    client: httpx.AsyncClient, make_user: MakeUser, db_sql: Sql
) -> None:
    """A spent refresh token used again is 401 refresh_token_reused, every token of its family is revoked (the newest
    fails too), and another login's family keeps working."""
    user = await make_user()
    other_login = expect(await login(client, user.email, user.password), 200)
    first = expect(await refresh(client, user.refresh_token), 200)
    newest = expect(await refresh(client, first["refresh_token"]), 200)

    assert problem_code(await refresh(client, user.refresh_token), 401) == "refresh_token_reused"

    (family,) = db_sql("SELECT family_id FROM refresh_tokens WHERE token_hash = %s",
                       (hashlib.sha256(user.refresh_token.encode()).digest(),))
    rows = db_sql("SELECT revoked_at FROM refresh_tokens WHERE family_id = %s", (family["family_id"],))
    assert len(rows) == 3
    assert all(r["revoked_at"] is not None for r in rows)
    assert problem_code(await refresh(client, newest["refresh_token"]), 401) in {
        "refresh_token_reused", "invalid_refresh_token"}
    live = db_sql("SELECT family_id FROM refresh_tokens WHERE revoked_at IS NULL")
    assert len(live) == 1  # the other login's token
    assert live[0]["family_id"] != family["family_id"]
    expect(await refresh(client, other_login["refresh_token"]), 200)


async def test_two_concurrent_uses_of_one_refresh_token_yield_one_pair(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    """Of two simultaneous refreshes with one token exactly one succeeds; the other is 401 refresh_token_reused."""
    user = await make_user()
    responses = await asyncio.gather(refresh(client, user.refresh_token), refresh(client, user.refresh_token))
    assert sorted(r.status_code for r in responses) == [200, 401]
    (refused,) = [r for r in responses if r.status_code == 401]
    assert refused.json()["code"] == "refresh_token_reused"


async def test_an_unknown_refresh_token_is_401_and_a_malformed_request_422(
    client: httpx.AsyncClient, db_sql: Sql
) -> None:
    """A refresh token the API never issued is 401 invalid_refresh_token, a body without a usable one 422, and
    neither stores anything."""
    for token in ("not-a-token-we-issued", "x" * 256):
        assert problem_code(await refresh(client, token), 401) == "invalid_refresh_token"
    for body in ({}, {"refresh_token": ""}, {"refresh_token": 123}, {"refresh_token": "x" * 257}):
        assert problem_code(await client.post("/api/auth/refresh", json=body), 422) == "validation_error", body
    assert count(db_sql, "refresh_tokens") == 0


async def test_an_expired_refresh_token_is_401_and_issues_nothing(
    client: httpx.AsyncClient, make_user: MakeUser, db_sql: Sql
) -> None:
    """A refresh token past its expires_at is 401 invalid_refresh_token and no replacement is stored."""
    user = await make_user()
    db_sql("UPDATE refresh_tokens SET expires_at = now() - interval '1 minute'")
    assert problem_code(await refresh(client, user.refresh_token), 401) == "invalid_refresh_token"
    assert count(db_sql, "refresh_tokens") == 1


# ------------------------------------------------------------------------------------ me


async def test_me_lists_the_user_and_every_membership_across_restaurants(
    client: httpx.AsyncClient, make_user: MakeUser, make_restaurant: MakeRestaurant
) -> None:
    """/me answers id, email, full_name and one {restaurant_id, role} per restaurant the user is in, across tenants
    (an invitation accepted included), and no invitation once it is answered."""
    user = await make_user()
    assert expect(await client.get("/api/auth/me", headers=user.headers), 200)["memberships"] == []
    own = await make_restaurant(owner=user)
    elsewhere = await make_restaurant()
    invitation = expect(await client.post(elsewhere.url("/members"), headers=elsewhere.owner.headers,
                                          json={"email": user.email, "role": "kitchen"}), 202)
    expect(await client.post(f"/api/invitations/{invitation['id']}/accept", headers=user.headers), 200)
    await make_restaurant()  # a third restaurant the user has nothing to do with

    me = expect(await client.get("/api/auth/me", headers=user.headers), 200)
    assert (me["id"], me["email"], me["full_name"]) == (user.id, user.email, "Test Person")
    assert sorted(me["memberships"], key=lambda m: m["role"]) == [
        {"restaurant_id": elsewhere.id, "role": "kitchen"},
        {"restaurant_id": own.id, "role": "owner"},
    ]
    assert me["invitations"] == []
    assert "password_hash" not in me


async def test_a_token_of_a_deleted_account_is_refused(
    client: httpx.AsyncClient, make_user: MakeUser, db_sql: Sql
) -> None:
    """A still-unexpired access token whose account was deleted is 401 invalid_token on /me."""
    user = await make_user()
    db_sql("DELETE FROM users WHERE id = %s", (user.id,))
    assert problem_code(await client.get("/api/auth/me", headers=user.headers), 401) == "invalid_token"


# ---------------------------------------------------------------------------------- JWKS


async def test_jwks_publishes_the_rsa_key_that_verifies_access_tokens(
    client: httpx.AsyncClient, make_user: MakeUser, settings: Settings
) -> None:
    """The JWKS holds public RS256 signing keys with kids, and the key named by an access token's kid verifies it."""
    jwks = expect(await client.get("/.well-known/jwks.json"), 200)
    assert jwks["keys"]
    for key in jwks["keys"]:
        assert (key["kty"], key["alg"], key["use"]) == ("RSA", "RS256", "sig")
        assert all(key[field] for field in ("kid", "n", "e"))
        assert not {"d", "p", "q", "dp", "dq", "qi"} & set(key), "private key material is published"
    user = await make_user()
    assert verified_claims(user.access_token, jwks, settings)["sub"] == user.id


@pytest.mark.parametrize("settings_overrides", [{"jwt_previous_public_keys": OTHER_PUBLIC_PEM}], indirect=True)
async def test_a_previous_public_key_stays_published_and_accepted_after_rotation(
    client: httpx.AsyncClient, make_user: MakeUser, settings: Settings
) -> None:
    """A key listed in JWT_PREVIOUS_PUBLIC_KEYS is in the JWKS and tokens it signed still authenticate."""
    user = await make_user()
    current_kid = jwt.get_unverified_header(user.access_token)["kid"]
    keys = expect(await client.get("/.well-known/jwks.json"), 200)["keys"]
    assert len(keys) == 2
    (old,) = [k for k in keys if k["kid"] != current_kid]
    assert jwt.PyJWK(old).key.public_numbers() == OTHER_KEY.public_key().public_numbers()
    now = int(time.time())
    token = jwt.encode({"sub": user.id, "typ": "access", "iss": settings.jwt_issuer, "aud": settings.jwt_audience,
                        "iat": now, "exp": now + 300}, OTHER_KEY, algorithm="RS256", headers={"kid": old["kid"]})
    assert expect(await client.get("/api/auth/me", headers=bearer(token)), 200)["id"] == user.id


# ------------------------------------------------------------------------- token attacks


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def unsigned(header: dict[str, Any], claims: dict[str, Any]) -> str:
    return f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(claims).encode())}"


DROP = object()  # a claim to leave out


@dataclass
class Forge:
    """What an attacker (or our own key, for the control) builds tokens from."""

    user_id: str
    kid: str
    settings: Settings
    key: rsa.RSAPrivateKey  # the API's real signing key

    def claims(self, **changes: Any) -> dict[str, Any]:
        now = int(time.time())
        base = {"sub": self.user_id, "typ": "access", "iss": self.settings.jwt_issuer,
                "aud": self.settings.jwt_audience, "iat": now, "exp": now + 300}
        base.update(changes)
        return {k: v for k, v in base.items() if v is not DROP}

    def rs256(self, claims: dict[str, Any], key: rsa.RSAPrivateKey | None = None, kid: Any = None) -> str:
        return jwt.encode(claims, key or self.key, algorithm="RS256", headers={"kid": kid or self.kid})

    @property
    def public_pem(self) -> bytes:
        return self.key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)



def _hs256_with_public_key(f: Forge) -> str:
    # pyjwt refuses a PEM as an HMAC secret, which is exactly the confusion being attacked.
    signing_input = unsigned({"alg": "HS256", "typ": "JWT", "kid": f.kid}, f.claims())
    signature = hmac.new(f.public_pem, signing_input.encode(), hashlib.sha256).digest()
    return f"Bearer {signing_input}.{b64url(signature)}"


def _kid_not_a_string(f: Forge) -> str:
    # A valid RS256 signature over a header whose kid is not a string.
    signing_input = unsigned({"alg": "RS256", "typ": "JWT", "kid": [f.kid]}, f.claims())
    signature = jwt.get_algorithm_by_name("RS256").sign(signing_input.encode(), f.key)
    return f"Bearer {signing_input}.{b64url(signature)}"


def _guest_without_scope(f: Forge) -> str:
    return "Bearer " + f.rs256(f.claims(typ="guest", role="guest", sub="guest:x"))


ATTACKS: dict[str, Callable[[Forge], str | None]] = {
    "forged-signature-same-kid": lambda f: "Bearer " + f.rs256(f.claims(), key=OTHER_KEY),
    "expired": lambda f: "Bearer " + f.rs256(f.claims(iat=int(time.time()) - 7200, exp=int(time.time()) - 3600)),
    "issued-in-the-future": lambda f: "Bearer " + f.rs256(
        f.claims(iat=int(time.time()) + 3600, exp=int(time.time()) + 7200)),
    "not-yet-valid-nbf": lambda f: "Bearer " + f.rs256(f.claims(nbf=int(time.time()) + 3600)),
    "wrong-audience": lambda f: "Bearer " + f.rs256(f.claims(aud="someone-else")),
    "wrong-issuer": lambda f: "Bearer " + f.rs256(f.claims(iss="https://evil.example")),
    "alg-none": lambda f: "Bearer " + unsigned({"alg": "none", "typ": "JWT", "kid": f.kid}, f.claims()) + ".",
    "alg-none-with-signature": lambda f: "Bearer " + unsigned(
        {"alg": "none", "kid": f.kid}, f.claims()) + "." + b64url(b"x" * 256),
    "hs256-signed-with-public-key": _hs256_with_public_key,
    "unknown-kid": lambda f: "Bearer " + f.rs256(f.claims(), kid="no-such-key"),
    "kid-not-a-string": _kid_not_a_string,
    "missing-exp": lambda f: "Bearer " + f.rs256(f.claims(exp=DROP)),
    "missing-sub": lambda f: "Bearer " + f.rs256(f.claims(sub=DROP)),
    "missing-iat": lambda f: "Bearer " + f.rs256(f.claims(iat=DROP)),
    "missing-typ": lambda f: "Bearer " + f.rs256(f.claims(typ=DROP)),
    "sub-not-a-uuid": lambda f: "Bearer " + f.rs256(f.claims(sub="admin")),
    "convex-token": lambda f: "Bearer " + f.rs256(f.claims(
        typ="convex", role="owner", aud=f.settings.convex_audience, restaurant_id=str(UUID(int=1)))),
    "convex-typ-with-api-audience": lambda f: "Bearer " + f.rs256(f.claims(typ="convex", role="owner")),
    "guest-typ-without-its-claims": _guest_without_scope,
    "tampered-payload": lambda f: "Bearer " + (lambda t: t.split(".")[0] + "." + b64url(json.dumps(
        f.claims(sub=str(UUID(int=7)))).encode()) + "." + t.split(".")[2])(f.rs256(f.claims())),
    "garbage": lambda f: "Bearer this.is.not-a-jwt",
    "three-garbage-segments": lambda f: "Bearer e30.e30.e30",
    "bearer-empty": lambda f: "Bearer ",
    "bearer-only": lambda f: "Bearer",
    "basic-scheme": lambda f: "Basic " + base64.b64encode(b"owner@example.com:correct horse battery").decode(),
    "token-without-scheme": lambda f: f.rs256(f.claims()),
    "no-authorization-header": lambda f: None,
}


async def test_forged_expired_or_malformed_tokens_are_401_and_read_nothing(
    client: httpx.AsyncClient, make_user: MakeUser, signing_key_pem: str, settings: Settings
) -> None:
    """A hand-built token with our key and claims reads /me and a restaurant, while each forged, expired, misdirected
    or malformed credential is 401 invalid_token or not_authenticated there and reads nothing."""
    user = await make_user()
    restaurant = expect(await client.post("/api/restaurants", headers=user.headers, json={
        "name": "Secret Kitchen", "currency": "INR", "timezone": "Asia/Kolkata"}), 201)
    key = serialization.load_pem_private_key(signing_key_pem.encode(), None)
    assert isinstance(key, rsa.RSAPrivateKey)
    f = Forge(user.id, jwt.get_unverified_header(user.access_token)["kid"], settings, key)
    paths = ("/api/auth/me", f"/api/restaurants/{restaurant['id']}")

    # The control: the forge's untampered token works, so each attack fails for its one change.
    control = bearer(f.rs256(f.claims()))
    assert expect(await client.get(paths[0], headers=control), 200)["id"] == user.id
    assert expect(await client.get(paths[1], headers=control), 200)["name"] == "Secret Kitchen"

    wrong = []
    for attack, build in ATTACKS.items():
        header = build(f)
        for path in paths:
            response = await client.get(path, headers={} if header is None else {"Authorization": header})
            refused = (
                response.status_code == 401
                and response.headers["content-type"].startswith("application/problem+json")
                and response.json()["code"] in {"invalid_token", "not_authenticated"}
                and response.headers.get("www-authenticate", "").startswith("Bearer")
            )
            leaked = user.email in response.text or "Secret Kitchen" in response.text
            if not refused or leaked:
                wrong.append(f"{attack} on {path}: {response.status_code} {response.text[:200]}")
    assert not wrong, "\n".join(wrong)


# ---------------------------------------------------------------------------- QR guests


async def test_scanning_a_qr_code_opens_a_guest_session_for_that_table(
    client: httpx.AsyncClient, make_restaurant: MakeRestaurant, settings: Settings, db_sql: Sql
) -> None:
    """POST /api/qr/{qr}/session is 201 with a guest token whose claims name the restaurant, table and stored session."""
    r = await make_restaurant()
    table = r.tables[1]
    body = expect(await client.post(f"/api/qr/{table['qr_token']}/session"), 201)
    assert body["expires_in"] == settings.guest_session_ttl_s
    assert body["restaurant"] == {"id": r.id, "name": r.data["name"], "currency": "INR"}
    assert body["table"] == {"id": table["id"], "label": "T2"}

    claims = verified_claims(body["session_token"], expect(await client.get("/.well-known/jwks.json"), 200), settings)
    assert claims["role"] == "guest"
    assert claims["restaurant_id"] == r.id
    assert claims["table_id"] == table["id"]
    assert claims["exp"] - claims["iat"] == settings.guest_session_ttl_s
    sessions = db_sql("SELECT id, restaurant_id, table_id FROM guest_sessions")
    assert sessions == [{"id": UUID(claims["session_id"]), "restaurant_id": UUID(r.id), "table_id": UUID(table["id"])}]


async def test_unknown_deactivated_and_rotated_qr_codes_are_404_and_open_no_session(
    client: httpx.AsyncClient, make_restaurant: MakeRestaurant, db_sql: Sql
) -> None:
    """An unknown QR token, one of a table patched is_active false, and one replaced by rotate_qr_token are each
    404 not_found and store no guest session, while the other table's code still works."""
    r = await make_restaurant()
    closed, rotated = r.tables[0], r.tables[1]
    patched = expect(await client.patch(r.url(f"/tables/{closed['id']}"), headers=r.owner.headers,
                                        json={"is_active": False}), 200)
    assert patched["is_active"] is False
    fresh = expect(await client.patch(r.url(f"/tables/{rotated['id']}"), headers=r.owner.headers,
                                      json={"rotate_qr_token": True}), 200)
    assert fresh["qr_token"] != rotated["qr_token"]

    for qr_token in ("no-such-qr-token", "x" * 65, "x" * 500, closed["qr_token"], rotated["qr_token"]):
        assert problem_code(await client.post(f"/api/qr/{qr_token}/session"), 404) == "not_found", qr_token
    assert count(db_sql, "guest_sessions") == 0
    expect(await client.post(f"/api/qr/{fresh['qr_token']}/session"), 201)
    assert count(db_sql, "guest_sessions") == 1


async def test_a_guest_token_is_403_on_user_only_endpoints_and_404_elsewhere(
    client: httpx.AsyncClient, make_restaurant: MakeRestaurant, db_sql: Sql
) -> None:
    """A guest session token reads its restaurant's menu but is 403 forbidden on endpoints for people (creating
    nothing) and 404 on another restaurant."""
    r = await make_restaurant()
    other = await make_restaurant()
    session = expect(await client.post(f"/api/qr/{r.tables[0]['qr_token']}/session"), 201)
    headers = bearer(session["session_token"])
    expect(await client.get(r.url("/menu"), headers=headers), 200)
    for method, path, body in (
        ("GET", "/api/auth/me", None),
        ("POST", "/api/restaurants", {"name": "Guest Place", "currency": "INR", "timezone": "Asia/Kolkata"}),
        ("GET", r.url(), None),
        ("GET", r.url("/tables"), None),
        ("GET", r.url("/orders"), None),
        ("POST", r.url("/tables"), {"label": "T9"}),
    ):
        response = await client.request(method, path, json=body, headers=headers)
        assert problem_code(response, 403) == "forbidden", (method, path)
    assert count(db_sql, "restaurants") == 2
    assert count(db_sql, "dining_tables") == 4
    assert problem_code(await client.get(other.url("/menu"), headers=headers), 404) == "not_found"


# ------------------------------------------------------------ the verified-token cache


def test_a_cached_token_is_still_refused_once_expired_or_of_the_wrong_kind(
        settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """Verification results are cached per exact token string for a minute; expiry and
    kind are still checked on every use, and a changed token never hits the cache."""
    from uuid import uuid4

    from api.tokens import LEEWAY_S, InvalidToken, TokenService

    service = TokenService(settings)
    token = service.guest_token(restaurant_id=uuid4(), table_id=uuid4(), session_id=uuid4()).token
    claims = service.verify(token, "guest")
    assert service.verify(token, "guest") == claims  # from the cache
    service.verify(token, "guest")["sub"] = "tampered"
    assert service.verify(token, "guest")["sub"] == claims["sub"]  # callers get copies
    with pytest.raises(InvalidToken, match="not accepted here"):
        service.verify(token, "access")
    header, payload, signature = token.split(".")
    forged = ".".join([header, payload, signature[:-4] + ("AAAA" if not signature.endswith("AAAA") else "BBBB")])
    with pytest.raises(InvalidToken):
        service.verify(forged, "guest")
    # Past its expiry the cache no longer answers: the token is verified again (and
    # PyJWT, with its own clock, refuses a really expired one: tested above).
    verified = []
    real_verify = service._verify
    monkeypatch.setattr(service, "_verify", lambda *a: verified.append(a) or real_verify(*a))
    service.verify(token, "guest")
    assert verified == []
    later = claims["exp"] + LEEWAY_S + 1
    monkeypatch.setattr(time, "time", lambda: later)
    service.verify(token, "guest")
    assert len(verified) == 1
