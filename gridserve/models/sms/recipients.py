"""Who a campaign texts, who asked not to be texted, and the key their number hashes use."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Index,
    LargeBinary,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from gridserve.db import UTCDateTime, utcnow
from gridserve.extensions import db

RECIPIENT_SOURCES = ("csv", "households", "enterprises")


PHONE_HASH_LENGTH = 64


class SmsRecipient(db.Model):
    """One number on a sender's list for a campaign (E.164, unique per sender).

    Numbers are stored encrypted (``phone_enc``) beside a keyed hash (``phone_hash``, see
    :mod:`gridserve.services.sms.numbers`) that the unique keys and look-ups compare; the same
    holds for the opt-out register and the outbox.
    """

    __tablename__ = "sms_recipients"
    __audit__ = False
    __table_args__ = (
        UniqueConstraint("sender_id", "phone_hash", name="uq_sms_recipients_phone"),
        CheckConstraint("source IN ('csv', 'households', 'enterprises')", name="source"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    sender_id: Mapped[int] = mapped_column(
        ForeignKey("sms_senders.id", ondelete="CASCADE"), nullable=False
    )
    phone_enc: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    phone_hash: Mapped[str] = mapped_column(String(PHONE_HASH_LENGTH), nullable=False)
    name: Mapped[str | None] = mapped_column(String(100))
    source: Mapped[str] = mapped_column(String(16), nullable=False, default="csv")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)


class SmsOptOut(db.Model):
    """A number that must not get texts: from every sender (``institution_id`` NULL) or one."""

    __tablename__ = "sms_opt_outs"
    __audit_redact__ = frozenset({"phone_enc", "phone_hash"})
    __table_args__ = (
        Index(
            "uq_sms_opt_outs_global",
            "phone_hash",
            unique=True,
            sqlite_where=text("institution_id IS NULL"),
            postgresql_where=text("institution_id IS NULL"),
        ),
        Index(
            "uq_sms_opt_outs_sender",
            "phone_hash",
            "institution_id",
            unique=True,
            sqlite_where=text("institution_id IS NOT NULL"),
            postgresql_where=text("institution_id IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    phone_enc: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    phone_hash: Mapped[str] = mapped_column(String(PHONE_HASH_LENGTH), nullable=False)
    institution_id: Mapped[int | None] = mapped_column(ForeignKey("institutions.id"))
    source: Mapped[str] = mapped_column(String(16), nullable=False, default="api")
    note: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)


class PhoneHashKey(db.Model):
    """Which data key the stored SMS number hashes were made with (one row, ``id`` 1).

    Holds a key id (:func:`gridserve.crypto.lookup_key_id`), never a key. Every look-up and
    every write of a hash reads it share-locked; ``gridserve keys rotate`` locks it, re-hashes
    every row with the newest key and changes it in the same transaction, so all stored
    hashes are made with one key at any committed moment.
    """

    __tablename__ = "phone_hash_keys"
    __audit__ = False
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    key_id: Mapped[str] = mapped_column(String(16), nullable=False)
    set_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
