"""SMS campaigns: senders in a rotating order, their channels, mandated and custom texts."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from gridserve.db import UTCDateTime, utcnow
from gridserve.extensions import db
from gridserve.models.base import JSONType, TimestampMixin

GATEWAYS = ("file", "smpp", "http")
POLICIES = ("shift", "skip_append")
TEXT_STATUSES = ("draft", "submitted", "approved", "returned")
TEXT_EDITABLE_STATUSES = ("draft", "returned")  # a sender may still change the body


class SmsChannel(TimestampMixin, db.Model):
    """How an institution sends: a gateway, credentials by reference, signature, rate."""

    __tablename__ = "sms_channels"
    __table_args__ = (CheckConstraint("gateway IN ('file', 'smpp', 'http')", name="gateway"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    institution_id: Mapped[int] = mapped_column(
        ForeignKey("institutions.id"), unique=True, nullable=False
    )
    gateway: Mapped[str] = mapped_column(String(16), nullable=False, default="file")
    credentials_ref: Mapped[str | None] = mapped_column(
        String(100), doc="Name of the configuration entry holding the secrets, never the secrets"
    )
    settings: Mapped[dict] = mapped_column(JSONType, nullable=False, default=dict)
    signature: Mapped[str] = mapped_column(String(12), nullable=False)
    rate_per_second: Mapped[float] = mapped_column(Float, nullable=False, default=50.0)
    is_up: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)


class SmsCampaign(TimestampMixin, db.Model):
    __tablename__ = "sms_campaigns"
    __table_args__ = (
        CheckConstraint("policy IN ('shift', 'skip_append')", name="policy"),
        CheckConstraint("end_date >= start_date", name="dates"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True, nullable=False)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    area_id: Mapped[int] = mapped_column(ForeignKey("areas.id"), nullable=False, index=True)
    start_date: Mapped[dt.date] = mapped_column(Date, nullable=False)
    end_date: Mapped[dt.date] = mapped_column(Date, nullable=False)
    slot_days: Mapped[int] = mapped_column(nullable=False, default=1)
    window_start: Mapped[str] = mapped_column(String(5), nullable=False, default="08:00")
    window_end: Mapped[str] = mapped_column(String(5), nullable=False, default="21:00")
    working_days_only: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    rounds: Mapped[int | None] = mapped_column()  # None: until end_date (no default: None stays)
    rotate_each_round: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    policy: Mapped[str] = mapped_column(String(16), nullable=False, default="shift")
    unsubscribe_suffix: Mapped[str | None] = mapped_column(String(20))
    leading_group: Mapped[str] = mapped_column(String(100), nullable=False, default="")

    senders: Mapped[list[SmsSender]] = relationship(
        back_populates="campaign", order_by="SmsSender.position", cascade="all, delete-orphan"
    )


class SmsSender(db.Model):
    """An institution's place in a campaign's order."""

    __tablename__ = "sms_senders"
    __table_args__ = (
        UniqueConstraint("campaign_id", "institution_id", name="uq_sms_senders_institution"),
        UniqueConstraint("campaign_id", "position", name="uq_sms_senders_position"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(
        ForeignKey("sms_campaigns.id", ondelete="CASCADE"), nullable=False
    )
    institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"), nullable=False)
    position: Mapped[int] = mapped_column(nullable=False)

    campaign: Mapped[SmsCampaign] = relationship(back_populates="senders")


class SmsText(TimestampMixin, db.Model):
    """A text to send: the mandated one (``sender_id`` NULL) or a sender's custom one.

    The mandated text is locked when approved and never changes after.
    """

    __tablename__ = "sms_texts"
    __table_args__ = (
        CheckConstraint("status IN ('draft', 'submitted', 'approved', 'returned')", name="status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(
        ForeignKey("sms_campaigns.id", ondelete="CASCADE"), nullable=False, index=True
    )
    sender_id: Mapped[int | None] = mapped_column(ForeignKey("sms_senders.id"), index=True)
    body: Mapped[str] = mapped_column(Text, nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="draft")
    locked: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    version: Mapped[int] = mapped_column(nullable=False, default=1)
    note: Mapped[str | None] = mapped_column(String(500))
    reviewed_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    reviewed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


RECIPIENT_SOURCES = ("csv", "households", "enterprises")
MESSAGE_STATUSES = (
    "waiting",  # custom text held until the sender's mandated phase is complete
    "queued",
    "submitting",  # claimed by a dispatcher; outcome not yet recorded
    "accepted",  # the gateway took it
    "delivered",
    "failed",
    "expired",  # the slot ended before it could be sent
    "opted_out",  # the number was in the opt-out register when its turn came
)
OPEN_STATUSES = ("waiting", "queued", "submitting")
FINAL_STATUSES = tuple(s for s in MESSAGE_STATUSES if s not in OPEN_STATUSES)


PHONE_HASH_LENGTH = 64


class SmsRecipient(db.Model):
    """One number on a sender's list for a campaign (E.164, unique per sender).

    Numbers are stored encrypted (``phone_enc``) beside a keyed hash (``phone_hash``, see
    :mod:`gridserve.services.sms_numbers`) that the unique keys and look-ups compare; the same
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


class SmsSlotRun(db.Model):
    """A sender's slot as it actually ran: opened, mandated phase done, closed."""

    __tablename__ = "sms_slot_runs"
    __audit__ = False
    __table_args__ = (UniqueConstraint("sender_id", "slot_start", name="uq_sms_slot_runs_slot"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(
        ForeignKey("sms_campaigns.id", ondelete="CASCADE"), nullable=False, index=True
    )
    sender_id: Mapped[int] = mapped_column(
        ForeignKey("sms_senders.id", ondelete="CASCADE"), nullable=False
    )
    round: Mapped[int] = mapped_column(nullable=False, default=1)
    slot_start: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)
    slot_end: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)
    opened_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    first_accepted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    mandated_done_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class SmsMessage(db.Model):
    """The outbox: one row per (campaign, sender, recipient, text), so a second send is impossible.

    ``body`` is the final text as submitted (signature and unsubscribe suffix included), fixed
    when the slot opens.
    """

    __tablename__ = "sms_messages"
    __audit__ = False  # state changes are summarised in the audit log per pass, not per row
    __table_args__ = (
        UniqueConstraint(
            "campaign_id", "sender_id", "phone_hash", "text_id", name="uq_sms_messages_once"
        ),
        CheckConstraint(
            "status IN ('waiting', 'queued', 'submitting', 'accepted', 'delivered', 'failed',"
            " 'expired', 'opted_out')",
            name="status",
        ),
        CheckConstraint("kind IN ('mandated', 'custom')", name="kind"),
        Index("ix_sms_messages_claim", "sender_id", "status", "next_attempt_at"),
        Index("ix_sms_messages_phone", "campaign_id", "phone_hash"),
        Index("ix_sms_messages_gateway_id", "gateway_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    campaign_id: Mapped[int] = mapped_column(
        ForeignKey("sms_campaigns.id", ondelete="CASCADE"), nullable=False
    )
    sender_id: Mapped[int] = mapped_column(
        ForeignKey("sms_senders.id", ondelete="CASCADE"), nullable=False
    )
    text_id: Mapped[int] = mapped_column(ForeignKey("sms_texts.id"), nullable=False)
    kind: Mapped[str] = mapped_column(String(10), nullable=False)
    phone_enc: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    phone_hash: Mapped[str] = mapped_column(String(PHONE_HASH_LENGTH), nullable=False)
    body: Mapped[str] = mapped_column(Text, nullable=False)
    status: Mapped[str] = mapped_column(String(12), nullable=False, default="queued")
    attempts: Mapped[int] = mapped_column(nullable=False, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)
    slot_start: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)
    slot_end: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)
    claimed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    channel_id: Mapped[int | None] = mapped_column(ForeignKey("sms_channels.id"))
    gateway_id: Mapped[str | None] = mapped_column(String(80))
    segments: Mapped[int | None] = mapped_column()
    error: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    accepted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


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
