"""Secrets at rest: a restaurant's integration credentials sealed with AES-256-GCM.

A sealed value is a random 96-bit nonce followed by the ciphertext and its tag. The
associated data binds it to one restaurant, so a value copied into another restaurant's
row fails to open instead of handing that restaurant someone else's POS credentials.
The key comes from configuration (api/credentials.py); each row records the id of the
key that sealed it so a rotation can tell old rows from new ones.
"""

from __future__ import annotations

import json
import os
from uuid import UUID

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_BYTES = 32
NONCE_BYTES = 12


class CredentialsUnreadable(Exception):
    """A sealed value that this key, for this restaurant, cannot open."""


def _associated_data(purpose: str, restaurant_id: UUID) -> bytes:
    return f"tabletop:{purpose}:{restaurant_id}".encode()


class CredentialBox:
    def __init__(self, key: bytes, key_id: str):
        if len(key) != KEY_BYTES:
            raise ValueError(f"the credentials key must be {KEY_BYTES} bytes, not {len(key)}")
        if not key_id:
            raise ValueError("the credentials key needs an id")
        self._aead = AESGCM(key)
        self.key_id = key_id

    def seal(self, purpose: str, restaurant_id: UUID, values: dict[str, str]) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        plaintext = json.dumps(values, separators=(",", ":"), sort_keys=True).encode()
        return nonce + self._aead.encrypt(nonce, plaintext, _associated_data(purpose, restaurant_id))

    def open(self, purpose: str, restaurant_id: UUID, sealed: bytes, key_id: str) -> dict[str, str]:
        if key_id != self.key_id:
            raise CredentialsUnreadable(f"sealed with key {key_id!r}, this process holds {self.key_id!r}")
        nonce, ciphertext = sealed[:NONCE_BYTES], sealed[NONCE_BYTES:]
        try:
            plaintext = self._aead.decrypt(nonce, ciphertext, _associated_data(purpose, restaurant_id))
        except InvalidTag as exc:
            raise CredentialsUnreadable("the sealed credentials do not open for this restaurant") from exc
        values: dict[str, str] = json.loads(plaintext)
        return values
