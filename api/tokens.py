"""Signing and verifying our JWTs (RS256), and the JWKS that publishes their keys.

Three kinds share one key set, told apart by audience and ``typ``:
* access tokens for people (aud = the API), ``sub`` = user id;
* guest session tokens from a QR scan (aud = the API), role guest, one restaurant and table;
* Convex tokens for a kitchen dashboard (aud = the Convex application id), and for a guest
  session or a customer following their own orders and notifications.
Verification pins RS256 and checks signature, kid, iss, aud, exp and iat: ``alg: none``,
HS256 signed with the public key, another issuer or audience, and expired tokens all fail.
"""

from __future__ import annotations

import base64
import hashlib
import time
from dataclasses import dataclass
from typing import Any, Literal
from uuid import UUID

import jwt
from cachetools import TTLCache
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from api.config import Settings

TokenKind = Literal["access", "guest", "convex"]
LEEWAY_S = 10  # clock skew allowed on exp/iat


class InvalidToken(Exception):
    pass


def _kid_of(public_key: rsa.RSAPublicKey) -> str:
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.urlsafe_b64encode(hashlib.sha256(der).digest()[:12]).decode().rstrip("=")


def _load_private_pem(settings: Settings) -> bytes:
    if settings.jwt_private_key:
        return settings.jwt_private_key.encode()
    if settings.jwt_private_key_file:
        return settings.jwt_private_key_file.read_bytes()
    # Development only (production refuses to start without a key, see api.config): a key
    # generated once and kept, so restarts and the worker agree on it.
    path = settings.dev_key_path
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        path.write_bytes(pem)
        path.chmod(0o600)
    return path.read_bytes()


def _previous_public_keys(settings: Settings) -> list[rsa.RSAPublicKey]:
    if not settings.jwt_previous_public_keys:
        return []
    keys = []
    for block in settings.jwt_previous_public_keys.split("-----END PUBLIC KEY-----"):
        if block.strip():
            key = serialization.load_pem_public_key((block.strip() + "\n-----END PUBLIC KEY-----\n").encode())
            if not isinstance(key, rsa.RSAPublicKey):
                raise ValueError("JWT_PREVIOUS_PUBLIC_KEYS must hold RSA public keys")
            keys.append(key)
    return keys


def qr_tag(qr_token: str) -> str:
    """A short, one-way tag of a table's QR code: the per-table rate limits count by it, so
    replacing a QR code (which also ends the sessions it opened) gives the table fresh ones,
    and someone who photographed the old code cannot use up the new one's."""
    return base64.urlsafe_b64encode(hashlib.sha256(qr_token.encode()).digest()[:9]).decode()


@dataclass(frozen=True)
class Issued:
    token: str
    expires_in: int


class TokenService:
    def __init__(self, settings: Settings):
        private = serialization.load_pem_private_key(_load_private_pem(settings), password=None)
        if not isinstance(private, rsa.RSAPrivateKey):
            raise ValueError("the JWT signing key must be an RSA private key")
        self._private = private
        self.kid = settings.jwt_key_id or _kid_of(private.public_key())
        self._public: dict[str, rsa.RSAPublicKey] = {self.kid: private.public_key()}
        for key in _previous_public_keys(settings):
            self._public.setdefault(_kid_of(key), key)
        self._settings = settings
        # Tokens verified in the last minute (see verify); bounded, per process.
        self._verified: TTLCache[tuple[str, str], dict[str, Any]] = TTLCache(maxsize=10_000, ttl=60)

    def jwks(self) -> dict[str, Any]:
        keys = []
        for kid, key in self._public.items():
            jwk = RSAAlgorithm.to_jwk(key, as_dict=True)
            keys.append({**jwk, "kid": kid, "use": "sig", "alg": "RS256"})
        return {"keys": keys}

    def _sign(self, claims: dict[str, Any], audience: str, ttl_s: int) -> Issued:
        now = int(time.time())
        payload = {**claims, "iss": self._settings.jwt_issuer, "aud": audience, "iat": now, "exp": now + ttl_s}
        token = jwt.encode(payload, self._private, algorithm="RS256", headers={"kid": self.kid})
        return Issued(token, ttl_s)

    def access_token(self, user_id: UUID) -> Issued:
        s = self._settings
        return self._sign({"sub": str(user_id), "typ": "access"}, s.jwt_audience, s.access_token_ttl_s)

    def guest_token(
        self, *, restaurant_id: UUID, table_id: UUID | None, session_id: UUID, qr_tag: str | None = None
    ) -> Issued:
        """``qr_tag`` names the QR code that opened the session (see ``qr_tag``); a takeaway
        session from a share link has no table and no ``table_id`` claim."""
        s = self._settings
        claims = {
            "sub": f"guest:{session_id}", "typ": "guest", "role": "guest",
            "restaurant_id": str(restaurant_id), "session_id": str(session_id),
        }
        if table_id is not None:
            claims["table_id"] = str(table_id)
        if qr_tag is not None:
            claims["qr"] = qr_tag
        return self._sign(claims, s.jwt_audience, s.guest_session_ttl_s)

    def convex_token(self, *, subject: str, restaurant_id: UUID, role: str) -> Issued:
        s = self._settings
        claims = {"sub": subject, "typ": "convex", "role": role, "restaurant_id": str(restaurant_id)}
        return self._sign(claims, s.convex_audience, s.convex_token_ttl_s)

    def guest_convex_token(self, *, restaurant_id: UUID, session_id: UUID) -> Issued:
        """A guest session's Convex token: Convex lets it read that session's orders and
        notifications only (convex/auth.ts requireRecipient), never a staff query."""
        s = self._settings
        claims = {"sub": f"guest:{session_id}", "typ": "convex", "role": "guest",
                  "restaurant_id": str(restaurant_id), "session_id": str(session_id)}
        return self._sign(claims, s.convex_audience, s.recipient_convex_token_ttl_s)

    def customer_convex_token(self, *, user_id: UUID) -> Issued:
        """A customer's Convex token: their own notifications, across restaurants."""
        s = self._settings
        claims = {"sub": str(user_id), "typ": "convex", "role": "customer", "user_id": str(user_id)}
        return self._sign(claims, s.convex_audience, s.recipient_convex_token_ttl_s)

    def verify(self, token: str, *kinds: TokenKind) -> dict[str, Any]:
        """The claims of a valid token of one of ``kinds`` (which must share an audience).

        A token verified in the last minute is not verified again (an RSA verification
        was 8% of the API's CPU under order load, and guests send the same token with
        every order): the cache is keyed by the whole token and audience, so only that
        exact, already-verified string hits it, and expiry and kind are still checked on
        every use.
        """
        audience = self._settings.convex_audience if "convex" in kinds else self._settings.jwt_audience
        cached = self._verified.get((token, audience))
        if cached is not None and cached["exp"] + LEEWAY_S > time.time():
            return self._of_kind(cached, kinds)
        claims = self._verify(token, audience)
        self._verified[(token, audience)] = claims
        return self._of_kind(claims, kinds)

    @staticmethod
    def _of_kind(claims: dict[str, Any], kinds: tuple[TokenKind, ...]) -> dict[str, Any]:
        if claims.get("typ") not in kinds:
            raise InvalidToken(f"a {claims.get('typ')!r} token is not accepted here")
        return dict(claims)  # callers get their own copy, never the cached dict

    def _verify(self, token: str, audience: str) -> dict[str, Any]:
        try:
            header = jwt.get_unverified_header(token)
            key = self._public.get(header.get("kid", ""))
            if key is None:
                raise InvalidToken("unknown signing key")
            claims: dict[str, Any] = jwt.decode(
                token, key, algorithms=["RS256"], audience=audience, issuer=self._settings.jwt_issuer,
                options={"require": ["sub", "iss", "aud", "exp", "iat"]}, leeway=LEEWAY_S,
            )
        except jwt.PyJWTError as exc:
            raise InvalidToken(str(exc)) from exc
        return claims
