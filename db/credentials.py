"""Secrets at rest: a restaurant's integration credentials sealed with AES-256-GCM.

A sealed value is a random 96-bit nonce followed by the ciphertext and its tag. The
associated data binds it to one restaurant, so a value copied into another restaurant's
row fails to open instead of handing that restaurant someone else's POS credentials.
The key comes from configuration (``load_box``: the API through api/credentials.py, the
sync worker through ``worker_box``); each row records the id of the key that sealed it
so a rotation can tell old rows from new ones.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
from collections.abc import Mapping
from pathlib import Path
from uuid import UUID

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from db.envmode import production_like

KEY_BYTES = 32
NONCE_BYTES = 12
# Where development keeps its generated key (api.config's default dev_credentials_key_path).
DEV_KEY_PATH = Path(__file__).resolve().parent.parent / ".data" / "dev-credentials-key"


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
        # Keys for other uses are derived from this one (HMAC-SHA256 with a label per use), so
        # that one configured secret serves them without its bytes being used twice.
        self._subkeys = hmac.new(key, b"tabletop:subkeys:v1", hashlib.sha256).digest()

    def subkey(self, purpose: str) -> bytes:
        """A 32-byte key for one purpose (signing export download URLs, ...), derived from the
        credentials key: the same in every process that holds the key, never the key itself."""
        return hmac.new(self._subkeys, purpose.encode(), hashlib.sha256).digest()

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


def _dev_key(path: Path) -> bytes:
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        # Written aside and linked into place: two processes starting together agree on
        # one key, and neither reads a half-written file.
        draft = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        draft.write_bytes(base64.b64encode(os.urandom(KEY_BYTES)))
        draft.chmod(0o600)
        try:
            os.link(draft, path)
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    return base64.b64decode(path.read_bytes().strip(), validate=True)


def load_box(key_b64: str | None, key_id: str | None, dev_key_path: Path = DEV_KEY_PATH) -> CredentialBox:
    """The box for the configured key (PETPOOJA_CREDENTIALS_KEY, base64 of 32 bytes, and its
    optional id); without one, development's generated key under .data/, kept so restarts
    and the worker can still open what an earlier run sealed."""
    key = base64.b64decode(key_b64, validate=True) if key_b64 else _dev_key(dev_key_path)
    # A derived id names the key without revealing it: a one-way hash, truncated.
    return CredentialBox(key, key_id or "k-" + hashlib.sha256(b"key-id:" + key).hexdigest()[:16])


def worker_box(environ: Mapping[str, str]) -> CredentialBox | None:
    """The worker's box, from the same variables the API reads (PETPOOJA_CREDENTIALS_KEY,
    _KEY_ID, DEV_CREDENTIALS_KEY_PATH); None in production without a key, where the API
    refuses to seal anything, so there is nothing to open."""
    key, key_id = environ.get("PETPOOJA_CREDENTIALS_KEY") or None, environ.get("PETPOOJA_CREDENTIALS_KEY_ID") or None
    if key is None and production_like(environ.get("ENV_MODE")):
        return None
    dev_path = environ.get("DEV_CREDENTIALS_KEY_PATH")
    return load_box(key, key_id, Path(dev_path) if dev_path else DEV_KEY_PATH)
