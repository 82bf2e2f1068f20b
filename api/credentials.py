"""The key that seals integration credentials at rest (db/credentials.py does the sealing).

Production passes it in PETPOOJA_CREDENTIALS_KEY (api.config refuses to start without it).
Development generates one on first use and keeps it under .data/, so restarts and the
worker can still open what an earlier run sealed.
"""

from __future__ import annotations

import base64
import hashlib
import os

from api.config import Settings
from db.credentials import KEY_BYTES, CredentialBox


def _dev_key(settings: Settings) -> bytes:
    path = settings.dev_credentials_key_path
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


def credential_box(settings: Settings) -> CredentialBox:
    if settings.petpooja_credentials_key:
        key = base64.b64decode(settings.petpooja_credentials_key, validate=True)
    else:
        key = _dev_key(settings)
    # A derived id names the key without revealing it: a one-way hash, truncated.
    key_id = settings.petpooja_credentials_key_id or "k-" + hashlib.sha256(b"key-id:" + key).hexdigest()[:16]
    return CredentialBox(key, key_id)
