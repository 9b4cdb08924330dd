"""SMS campaigns: senders in a rotating order, their channels, mandated and custom texts."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    Float,
    ForeignKey,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from gridserve.db import UTCDateTime
from gridserve.extensions import db
from gridserve.models.accounts.institutions import Institution
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
    institution: Mapped[Institution] = relationship(lazy="joined")


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

    sender: Mapped[SmsSender | None] = relationship(lazy="joined")

    @property
    def sender_code(self) -> str | None:
        """The sending institution's code (None for the mandated text)."""
        return None if self.sender is None else self.sender.institution.code

    @property
    def kind(self) -> str:
        """``mandated`` (no sender) or ``custom`` (a sender's own)."""
        return "mandated" if self.sender_id is None else "custom"
