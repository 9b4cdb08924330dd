"""The outbox: one row per message to send, and the slot runs that fill it."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from gridserve.db import UTCDateTime, utcnow
from gridserve.extensions import db
from gridserve.models.sms.recipients import PHONE_HASH_LENGTH

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
UNSENT_STATUSES = ("waiting", "queued")  # not handed to a dispatcher yet: expire at slot end
CLAIMABLE_STATUSES = ("queued", "submitting")  # waiting for, or in, a dispatcher's hands
COUNTED_STATUSES = tuple(s for s in MESSAGE_STATUSES if s not in ("waiting", "submitting"))

CAMPAIGN_KINDS = ("mandated", "custom")  # a campaign's texts, sent in a sender's slot
# A text to one person outside any campaign (a change notice, a reminder, case feedback): no
# campaign, sender, text or slot; a ``purpose`` key (once per purpose and number) and the
# channel it goes out on instead. Sent outside the quiet hours, ahead of campaign traffic.
DIRECT_KIND = "direct"
MESSAGE_KINDS = (*CAMPAIGN_KINDS, DIRECT_KIND)
PURPOSE_MAX = 120
# ``phone_hash`` of a message anonymised by retention (gridserve.services.accounts.retention):
# this prefix and the row's id, unique per row and never a real hash (64 hex characters); its
# ``phone_enc`` and ``body`` are empty.
ANONYMISED_HASH_PREFIX = "anon:"


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

    A ``direct`` row (see :data:`DIRECT_KIND`) is a text outside any campaign: one per
    (``purpose``, number), on the named ``channel_id``, with no campaign, sender, text or slot.
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
        UniqueConstraint("purpose", "phone_hash", name="uq_sms_messages_purpose"),
        CheckConstraint("kind IN ('mandated', 'custom', 'direct')", name="kind"),
        CheckConstraint(
            "kind = 'direct' OR (campaign_id IS NOT NULL AND sender_id IS NOT NULL"
            " AND text_id IS NOT NULL AND slot_start IS NOT NULL AND slot_end IS NOT NULL)",
            name="campaign_fields",
        ),
        CheckConstraint(
            "kind <> 'direct' OR (purpose IS NOT NULL AND channel_id IS NOT NULL)",
            name="direct_fields",
        ),
        Index("ix_sms_messages_claim", "sender_id", "status", "next_attempt_at"),
        Index("ix_sms_messages_direct", "channel_id", "kind", "status", "next_attempt_at"),
        Index("ix_sms_messages_phone", "campaign_id", "phone_hash"),
        Index("ix_sms_messages_gateway_id", "gateway_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    campaign_id: Mapped[int | None] = mapped_column(
        ForeignKey("sms_campaigns.id", ondelete="CASCADE")
    )
    sender_id: Mapped[int | None] = mapped_column(ForeignKey("sms_senders.id", ondelete="CASCADE"))
    text_id: Mapped[int | None] = mapped_column(ForeignKey("sms_texts.id"))
    kind: Mapped[str] = mapped_column(String(10), nullable=False)
    purpose: Mapped[str | None] = mapped_column(String(PURPOSE_MAX))
    phone_enc: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    phone_hash: Mapped[str] = mapped_column(String(PHONE_HASH_LENGTH), nullable=False)
    body: Mapped[str] = mapped_column(Text, nullable=False)
    status: Mapped[str] = mapped_column(String(12), nullable=False, default="queued")
    attempts: Mapped[int] = mapped_column(nullable=False, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)
    slot_start: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    slot_end: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    claimed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    channel_id: Mapped[int | None] = mapped_column(ForeignKey("sms_channels.id"))
    gateway_id: Mapped[str | None] = mapped_column(String(80))
    segments: Mapped[int | None] = mapped_column()
    error: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    accepted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class SmsRateBucket(db.Model):
    """A token bucket shared by every dispatcher process (PostgreSQL): ``channel:<id>`` or
    ``platform``, in carrier segments.

    ``tokens`` as of ``stamp`` (the database's clock); the rate and the cap are the caller's
    (the channel's ``rate_per_second``, ``GRIDSERVE_SMS_PLATFORM_RATE``) and applied in the one
    statement that takes tokens, so a changed rate counts from the next take. See
    :mod:`gridserve.services.sms.rates`.
    """

    __tablename__ = "sms_rate_buckets"
    __audit__ = False  # a counter, rewritten many times a second

    key: Mapped[str] = mapped_column(String(40), primary_key=True)
    tokens: Mapped[float] = mapped_column(Float, nullable=False)
    stamp: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)
