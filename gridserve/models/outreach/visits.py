"""What a visits programme records: SME visits (走访记录), the decisions they call for, and
referrals (转介) of needs one institution cannot serve to another."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from gridserve.db import UTCDateTime
from gridserve.extensions import db
from gridserve.models.base import BigIntKey, JSONType, TimestampMixin

OPERATING_STATUSES = ("normal", "difficult", "suspended", "closed")
VISIT_OUTCOMES = ("follow_up", "renewal", "product_matched", "not_eligible_explained", "no_need")
DECISIONS = ("approved", "rejected", "withdrawn")
REFERRAL_STATUSES = ("sent", "accepted", "converted", "not_converted")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class OutreachVisit(TimestampMixin, db.Model):
    """One visit to a listed enterprise, recorded by bank staff (``POST /outreach/visits``) or
    by a grid worker's terminal (upload item ``sme_visit``; ``field_visit_id`` is that upload's
    row in ``visits``, which keeps its position, flags and exactly-once UUID).

    ``institution_id`` and ``area_id`` are the enterprise's responsible institution and
    community when the visit was recorded: the scope rule ``"enterprise"`` reads them.
    A ``product_matched`` visit must get a decision by ``decision_due_on`` (the visit's local
    date plus N working days).
    """

    __tablename__ = "outreach_visits"
    __table_args__ = (
        CheckConstraint(_in("operating_status", OPERATING_STATUSES), name="operating_status"),
        CheckConstraint(_in("outcome", VISIT_OUTCOMES), name="outcome"),
        CheckConstraint(f"decision IS NULL OR {_in('decision', DECISIONS)}", name="decision"),
        CheckConstraint("need_amount IS NULL OR need_amount >= 0", name="need_amount"),
        Index("ix_outreach_visits_programme_inst", "programme_id", "institution_id"),
        Index("ix_outreach_visits_decision_due", "decision_due_on"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    programme_id: Mapped[int] = mapped_column(
        ForeignKey("outreach_programmes.id", ondelete="CASCADE"), nullable=False
    )
    enterprise_id: Mapped[int] = mapped_column(
        ForeignKey("outreach_enterprises.id", ondelete="CASCADE"), nullable=False, index=True
    )
    institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"), nullable=False)
    area_id: Mapped[int] = mapped_column(ForeignKey("areas.id"), nullable=False, index=True)
    visited_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)
    # Who visited: an account (bank staff; for a terminal's upload, the worker's account if it
    # has one) and, from a terminal, the worker.
    visitor_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    worker_id: Mapped[int | None] = mapped_column(ForeignKey("workers.id"), index=True)
    field_visit_id: Mapped[int | None] = mapped_column(
        BigIntKey,
        ForeignKey("visits.id", ondelete="CASCADE"),
        unique=True,
    )
    operating_status: Mapped[str] = mapped_column(String(16), nullable=False)
    # Financing need: amount in yuan (None: no need stated), term in months, purpose.
    need_amount: Mapped[int | None] = mapped_column(BigInteger)
    need_term_months: Mapped[int | None] = mapped_column()
    need_purpose: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    # Existing relationship: ids of the institutions the enterprise already borrows from.
    lender_ids: Mapped[list] = mapped_column(JSONType, nullable=False, default=list)
    eligible: Mapped[bool | None] = mapped_column(Boolean)
    outcome: Mapped[str] = mapped_column(String(24), nullable=False)
    products: Mapped[list] = mapped_column(JSONType, nullable=False, default=list)
    explanation: Mapped[str] = mapped_column(Text, nullable=False, default="")
    next_step: Mapped[str] = mapped_column(Text, nullable=False, default="")
    next_step_due_on: Mapped[dt.date | None] = mapped_column(Date)
    notes: Mapped[str] = mapped_column(Text, nullable=False, default="")
    # The decision a product_matched visit calls for.
    decision_due_on: Mapped[dt.date | None] = mapped_column(Date)
    decision: Mapped[str | None] = mapped_column(String(12))
    decision_reason: Mapped[str] = mapped_column(Text, nullable=False, default="")
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    recorded_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    version: Mapped[int] = mapped_column(nullable=False, default=1)


class OutreachReferral(TimestampMixin, db.Model):
    """A need referred by one institution to another (or a named person there): the referral
    card, numbered ``number``; ``points`` are the referrer's, counted on conversion.

    ``area_id`` is the enterprise's community (scope: contacts of the sending and the receiving
    institution; area users over the community).
    """

    __tablename__ = "outreach_referrals"
    __table_args__ = (
        CheckConstraint(_in("status", REFERRAL_STATUSES), name="status"),
        Index("ix_outreach_referrals_from", "from_institution_id", "status"),
        Index("ix_outreach_referrals_to", "to_institution_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(24), unique=True, nullable=False)
    programme_id: Mapped[int] = mapped_column(
        ForeignKey("outreach_programmes.id", ondelete="CASCADE"), nullable=False, index=True
    )
    enterprise_id: Mapped[int] = mapped_column(
        ForeignKey("outreach_enterprises.id", ondelete="CASCADE"), nullable=False, index=True
    )
    visit_id: Mapped[int | None] = mapped_column(
        ForeignKey("outreach_visits.id", ondelete="SET NULL"), index=True
    )
    area_id: Mapped[int] = mapped_column(ForeignKey("areas.id"), nullable=False, index=True)
    from_institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"), nullable=False)
    from_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    to_institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"), nullable=False)
    to_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    need: Mapped[str] = mapped_column(Text, nullable=False)
    note: Mapped[str] = mapped_column(Text, nullable=False, default="")
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="sent")
    accepted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    accepted_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    outcome_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    outcome_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    care_note: Mapped[str] = mapped_column(Text, nullable=False, default="")
    points: Mapped[int] = mapped_column(nullable=False, default=0)
    version: Mapped[int] = mapped_column(nullable=False, default=1)
