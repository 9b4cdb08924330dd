"""SMS numbers at rest: encrypted, with a keyed hash beside them for the unique keys and look-ups.

Recipients, the opt-out register and the outbox hold each number as ``phone_enc`` (Fernet, the
data key ring of :mod:`gridserve.crypto`) and ``phone_hash`` (HMAC-SHA256 of the E.164 number
under a key derived from one data key). The database compares hashes: one recipient per sender,
one message per recipient and text, an opt-out matched when a message's turn comes. A number is
decrypted only where it is needed in clear: handed to the gateway, or masked in a list.

One hash key at a time
    Which data key the stored hashes were made with is recorded in ``phone_hash_keys`` (a key
    id, never the key). Every transaction that computes or compares hashes reads that row
    share-locked first (:func:`hasher` / :func:`hold`); ``gridserve keys rotate`` locks it
    exclusively, re-hashes (and re-encrypts) every row with the newest data key and records the
    new key id, all in one transaction. So at any committed moment every stored hash is made
    with the same key, the unique keys keep working, and an opt-out recorded before a rotation
    is still matched after it. Between putting a new key in front of ``GRIDSERVE_DATA_KEYS``
    and running the rotation, hashes keep being made with the recorded (older) key, which is
    still in the ring. Dropping that key before rotating stops SMS look-ups with a clear error;
    put it back and rotate.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, exists, select

from gridserve import crypto
from gridserve.db import batches, insert_for, utcnow
from gridserve.extensions import db
from gridserve.models import (
    OutreachTeamMember,
    PhoneHashKey,
    SmsMessage,
    SmsOptOut,
    SmsRecipient,
)
from gridserve.models.sms.outbox import ANONYMISED_HASH_PREFIX
from gridserve.privacy import mask_phone

# Every table holding phone_enc + phone_hash under the one hash key: the SMS tables, and the
# outreach rosters (whose hashes find one person on two overlapping rosters).
TABLES = (SmsRecipient, SmsOptOut, SmsMessage, OutreachTeamMember)


@dataclass(frozen=True)
class Hasher:
    """Hashes numbers with the key in use (``key_id``)."""

    key_id: str
    key: bytes

    def __call__(self, phone: str) -> str:
        return crypto.lookup_hash(phone, self.key)

    def stored(self, phone: str) -> dict[str, Any]:
        """The column values that store ``phone`` (E.164): encrypted and hashed."""
        return {"phone_enc": crypto.encrypt(phone), "phone_hash": self(phone)}


class HashKeyUnavailable(crypto.DecryptionError):
    """The key the stored hashes were made with is not in the ring (or was never recorded)."""


def _state(lock: str | None) -> str | None:
    stmt = select(PhoneHashKey.key_id).where(PhoneHashKey.id == 1)
    if lock and db.engine.dialect.name == "postgresql":
        stmt = stmt.with_for_update(read=lock == "share")
    return db.session.execute(stmt).scalar_one_or_none()


def _newest() -> Hasher:
    key_id, key = next(iter(crypto.lookup_keys().items()))
    return Hasher(key_id, key)


def _any_stored() -> bool:
    return any(db.session.execute(select(exists().select_from(t))).scalar() for t in TABLES)


def hasher() -> Hasher:
    """The hash key in use, share-locked until the transaction ends (a rotation waits for it).

    On a database with no number stored yet, the newest data key's is recorded.
    """
    key_id = _state("share")
    if key_id is None:
        if _any_stored():
            raise HashKeyUnavailable(
                "SMS numbers are stored but the key of their hashes is not recorded: "
                "run `gridserve keys rotate`"
            )
        newest = _newest()
        db.session.execute(
            insert_for(PhoneHashKey.__table__)
            .values(id=1, key_id=newest.key_id, set_at=utcnow())
            .on_conflict_do_nothing()
        )
        key_id = _state("share")
    key = crypto.lookup_keys().get(key_id)
    if key is None:
        raise HashKeyUnavailable(
            f"SMS number hashes were made with data key {key_id}, which is not in "
            "GRIDSERVE_DATA_KEYS: put it back and run `gridserve keys rotate`"
        )
    return Hasher(key_id, key)


def hold() -> None:
    """Share-lock the hash key for this transaction (for work that copies or compares stored
    hashes without computing one)."""
    hasher()


def reveal(token: bytes | None) -> str | None:
    """The number in clear (for the gateway call, or to mask it); None once anonymised."""
    return crypto.decrypt(token) if token else None


def present_masked(rows: list[Any]) -> list[Any]:
    """Rows holding a number (``phone_enc``: recipients, opt-outs) ready for their schema:
    ``phone_masked``, the number as lists show it."""
    for row in rows:
        row.phone_masked = mask_phone(reveal(row.phone_enc))
    return rows


# --- rotation ------------------------------------------------------------------------------


def rotation() -> tuple[Hasher | None, Hasher]:
    """Lock the hash key exclusively for this transaction (look-ups and writes wait until it
    ends) and return the hasher the stored hashes were made with (None when none is recorded,
    or its key left the ring) and the newest one, which :func:`rehash_all` records. For the
    other tables holding hashes of these numbers (the case reporters' and feedback's), which
    re-hash in the same transaction."""
    key_id = _state("update")
    key = crypto.lookup_keys().get(key_id) if key_id is not None else None
    return (Hasher(key_id, key) if key is not None else None), _newest()


def rehash_all(batch_size: int = 500) -> dict[str, int]:
    """Re-encrypt and re-hash every stored SMS number with the newest data key; one transaction.

    Locks the hash key row first, so look-ups and writes wait until the caller commits and
    then use the new key. Raises :class:`gridserve.crypto.DecryptionError` naming the row if a
    number cannot be decrypted with the ring (the caller rolls back: nothing changes).
    Returns the rows rewritten per table.
    """
    _state("update")
    new = _newest()
    counts: dict[str, int] = {}
    for model in TABLES:
        table = model.__table__
        done = 0
        # Messages anonymised by retention hold no number to re-encrypt or re-hash.
        kept = table.c.phone_hash.not_like(f"{ANONYMISED_HASH_PREFIX}%")
        for rows in batches(table, table.c.phone_enc, size=batch_size, where=kept):
            values = []
            for row in rows:
                try:
                    phone = crypto.decrypt(row.phone_enc) or ""
                except crypto.DecryptionError as exc:
                    raise crypto.DecryptionError(
                        f"{table.name} row {row.id} cannot be decrypted with any key of the ring"
                    ) from exc
                stored = new.stored(phone)
                values.append(
                    {"b_id": row.id, "b_enc": stored["phone_enc"], "b_hash": stored["phone_hash"]}
                )
            db.session.execute(
                table.update()
                .where(table.c.id == bindparam("b_id"))
                .values(phone_enc=bindparam("b_enc"), phone_hash=bindparam("b_hash")),
                values,
            )
            done += len(values)
        counts[table.name] = done
    db.session.execute(
        insert_for(PhoneHashKey.__table__)
        .values(id=1, key_id=new.key_id, set_at=utcnow())
        .on_conflict_do_update(
            index_elements=["id"], set_={"key_id": new.key_id, "set_at": utcnow()}
        )
    )
    return counts
