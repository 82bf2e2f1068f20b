"""The key that seals integration credentials at rest (db/credentials.py does the sealing
and loads the key, so that the sync worker opens with the same loader what the API sealed).

Production passes it in PETPOOJA_CREDENTIALS_KEY (api.config refuses to start without it).
Development generates one on first use and keeps it under .data/, so restarts and the
worker can still open what an earlier run sealed.
"""

from __future__ import annotations

from api.config import Settings
from db.credentials import CredentialBox, load_box


def credential_box(settings: Settings) -> CredentialBox:
    return load_box(settings.petpooja_credentials_key, settings.petpooja_credentials_key_id,
                    settings.dev_credentials_key_path)
