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

import base64
import hashlib
import hmac
import json
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from flask import current_app

from gridserve.config import settings


class DecryptionError(RuntimeError):
    """A stored value cannot be decrypted with any key of the ring."""


def generate_key() -> str:
    return Fernet.generate_key().decode()


def _ring() -> MultiFernet:
    keys = tuple(settings().data_keys)
    cached = current_app.extensions.get("gridserve_data_keys")
    if cached is None or cached[0] != keys:  # built once per configured ring
        ring = MultiFernet([Fernet(k.encode() if isinstance(k, str) else k) for k in keys])
        cached = (keys, ring)
        current_app.extensions["gridserve_data_keys"] = cached
    return cached[1]


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


# --- keyed hashes for look-ups -------------------------------------------------------------
#
# A number stored encrypted cannot be compared in SQL (Fernet is randomised), so values that are
# looked up or kept unique (SMS numbers) also get a keyed hash: HMAC-SHA256 under a key derived
# from a data key with HKDF (its own purpose string, so the hash key is never the encryption
# key). Which data key the stored hashes use is recorded in the database (see
# :mod:`gridserve.services.sms.numbers`); ``gridserve keys rotate`` moves them to the newest.

LOOKUP_HASH_INFO = b"gridserve lookup hash v1"


def derive_lookup_key(data_key: str | bytes) -> bytes:
    """The 32-byte HMAC key derived from one Fernet data key (deterministic)."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    raw = base64.urlsafe_b64decode(data_key.encode() if isinstance(data_key, str) else data_key)
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=LOOKUP_HASH_INFO).derive(raw)


def lookup_key_id(lookup_key: bytes) -> str:
    """A public name for a lookup key (reveals nothing about it): 16 hex characters."""
    return hmac.new(lookup_key, b"gridserve key id", hashlib.sha256).hexdigest()[:16]


def lookup_hash(value: str, lookup_key: bytes) -> str:
    """Hex HMAC-SHA256 of ``value`` (64 characters)."""
    return hmac.new(lookup_key, value.encode("utf-8"), hashlib.sha256).hexdigest()


def lookup_keys() -> dict[str, bytes]:
    """Every lookup key the ring can give, by key id, newest first (cached per app)."""
    ring = tuple(settings().data_keys)
    cached = current_app.extensions.get("gridserve_lookup_keys")
    if cached is None or cached[0] != ring:  # derived once per configured ring
        keys = {}
        for data_key in ring:
            derived = derive_lookup_key(data_key)
            keys[lookup_key_id(derived)] = derived
        cached = (ring, keys)
        current_app.extensions["gridserve_lookup_keys"] = cached
    return cached[1]


def reset_cache() -> None:
    """Forget the ring built from the configuration (after it changed, e.g. in tests)."""
    current_app.extensions.pop("gridserve_data_keys", None)
    current_app.extensions.pop("gridserve_lookup_keys", None)


def reencrypt_column(table: Any, column: str, batch_size: int = 500) -> int:
    """Re-encrypt every non-null value of ``table.c[column]`` with the newest key, in the
    caller's transaction (for ``gridserve keys rotate``). Returns the rows rewritten; raises
    :class:`DecryptionError` naming the row when one cannot be decrypted."""
    from sqlalchemy import bindparam, select

    from gridserve.extensions import db

    col = table.c[column]
    # The record itself is unchanged: its updated_at stays.
    keep = {"updated_at": table.c.updated_at} if "updated_at" in table.c else {}
    last, done = 0, 0
    while True:
        rows = db.session.execute(
            select(table.c.id, col)
            .where(table.c.id > last, col.is_not(None))
            .order_by(table.c.id)
            .limit(batch_size)
        ).all()
        if not rows:
            return done
        last = rows[-1].id
        values = []
        for row_id, token in rows:
            try:
                values.append({"b_id": row_id, "b_value": rotate(token)})
            except InvalidToken as exc:
                raise DecryptionError(
                    f"{table.name} row {row_id} cannot be decrypted with any key of the ring"
                ) from exc
        db.session.execute(
            table.update()
            .where(table.c.id == bindparam("b_id"))
            .values({col: bindparam("b_value"), **keep}),
            values,
        )
        done += len(values)
