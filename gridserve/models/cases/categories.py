"""Case categories (事件类别) and the escalation ladder's levels; Open311 API keys; the feedback
texts sent to reporters and the ratings they give."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from gridserve.db import UTCDateTime, utcnow
from gridserve.extensions import db
from gridserve.models.base import BigIntKey, JSONType, TimestampMixin

# The ladder: small problems stay in the cell (the worker), ordinary ones in the community (the
# station), serious ones in the street (the street centre); what the street cannot settle goes
# to the district (the supervision centre).
CASE_LEVELS = ("cell", "community", "street", "district")
# The report classes of the party-grid plan, and everyday ones.
CASE_CLASSES = ("must_attend", "must_report", "must_visit", "everyday")
# How a case came in (``tasks.source``): a terminal, the station's desk, a walk-in or phone
# call taken by the station, the public through Open311.
CASE_SOURCES = ("terminal", "station", "walk_in", "phone", "open311")
# A case's statuses; a task keeps open → in_progress → done | cancelled.
CASE_STATUSES = ("open", "accepted", "settled", "verified", "closed", "cancelled")
DEADLINE_UNITS = ("hours", "working_days")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class CaseCategory(TimestampMixin, db.Model):
    """What a case is about, and how the ladder treats it.

    ``deadlines``: per level, ``{"amount": n, "unit": "hours" | "working_days"}`` — the time a
    level has from the moment the case reaches it (paused time does not count). A level without
    an entry has no deadline there. ``to_street_at_once``: the case starts at the street and the
    street centre is told at once (safety hazards, emergencies). ``needs_verification``: closing
    needs a station's on-site verification.
    """

    __tablename__ = "case_categories"
    __table_args__ = (
        CheckConstraint(_in("report_class", CASE_CLASSES), name="report_class"),
        CheckConstraint(_in("start_level", CASE_LEVELS), name="start_level"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True, nullable=False)
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    name_en: Mapped[str] = mapped_column(String(100), nullable=False, default="")
    report_class: Mapped[str] = mapped_column(String(16), nullable=False)
    start_level: Mapped[str] = mapped_column(String(12), nullable=False, default="cell")
    deadlines: Mapped[dict] = mapped_column(JSONType, nullable=False, default=dict)
    to_street_at_once: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    needs_verification: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    position: Mapped[int] = mapped_column(nullable=False, default=0)
    version: Mapped[int] = mapped_column(nullable=False, default=1)


class Open311Key(db.Model):
    """An API key for public intake through Open311 (issued by an admin, shown once, stored
    hashed, revocable)."""

    __tablename__ = "open311_keys"
    __audit_redact__ = frozenset({"key_hash"})

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class CaseFeedback(db.Model):
    """The feedback text to one consenting reporter of a closed case (a merged duplicate's
    reporter included), with its short ``code`` (the public rating page) and the rating given
    (1 satisfied, 2 fairly satisfied, 3 not satisfied), by SMS reply or on the page."""

    __tablename__ = "case_feedback"
    # The keyed hash of the number is pseudonymous: kept out of the audit log.
    __audit_redact__ = frozenset({"phone_hash"})
    __table_args__ = (
        CheckConstraint("rating IS NULL OR rating IN (1, 2, 3)", name="rating"),
        Index("ix_case_feedback_phone_sent", "phone_hash", "sent_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[int] = mapped_column(
        ForeignKey("tasks.id", ondelete="CASCADE"), nullable=False, index=True
    )
    code: Mapped[str] = mapped_column(String(16), unique=True, nullable=False)
    phone_hash: Mapped[str | None] = mapped_column(String(64))
    message_id: Mapped[int | None] = mapped_column(
        BigIntKey, ForeignKey("sms_messages.id", ondelete="SET NULL")
    )
    sent_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    rating: Mapped[int | None] = mapped_column()
    rated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    rated_via: Mapped[str | None] = mapped_column(String(8))
    comment: Mapped[str] = mapped_column(Text, nullable=False, default="")
