"""Personal data encrypted at rest (phone numbers, ID numbers, household members).

Fernet (AES-128-CBC + HMAC-SHA256) with a key ring: ``GRIDSERVE_DATA_KEYS`` is a
comma-separated list of Fernet keys, newest first. New values are encrypted
with the first key; any key of the ring decrypts. To rotate: put a new key in
front, restart, run ``gridserve keys rotate`` (re-encrypts every value with
the new key), then drop the old key. ``gridserve keys generate`` prints a key.

In development a key is generated once into ``instance/data_key``; production
refuses to start without ``GRIDSERVE_DATA_KEYS``.
"""

from __future__ import annotations

import json
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from flask import current_app


class DecryptionError(RuntimeError):
    """A stored value cannot be decrypted with any key of the ring."""


def generate_key() -> str:
    return Fernet.generate_key().decode()


def _ring() -> MultiFernet:
    ring = current_app.extensions.get("gridserve_data_keys")
    if ring is None:
        keys = current_app.config["GRIDSERVE_DATA_KEYS"]
        ring = MultiFernet([Fernet(k.encode() if isinstance(k, str) else k) for k in keys])
        current_app.extensions["gridserve_data_keys"] = ring
    return ring


def encrypt(value: str | None) -> bytes | None:
    if value is None or value == "":
        return None
    return _ring().encrypt(value.encode("utf-8"))


def decrypt(token: bytes | None) -> str | None:
    if token is None:
        return None
    try:
        return _ring().decrypt(bytes(token)).decode("utf-8")
    except InvalidToken as exc:
        raise DecryptionError("a value cannot be decrypted with the configured keys") from exc


def encrypt_json(value: Any) -> bytes | None:
    return None if value is None else encrypt(json.dumps(value, ensure_ascii=False))


def decrypt_json(token: bytes | None) -> Any:
    text = decrypt(token)
    return None if text is None else json.loads(text)


def rotate(token: bytes | None) -> bytes | None:
    """Re-encrypt with the newest key (no-op for None)."""
    return None if token is None else _ring().rotate(bytes(token))
