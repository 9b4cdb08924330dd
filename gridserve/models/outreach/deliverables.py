"""What a programme's owners must hand in by a date (材料报送), and the reminders about it."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from gridserve.db import UTCDateTime, utcnow
from gridserve.extensions import db
from gridserve.models.base import JSONType, TimestampMixin

DELIVERABLE_KINDS = ("site_plan", "event_report", "visit_list", "visit_summary", "other")
REMINDER_KINDS = ("before", "overdue")


class OutreachDeliverable(TimestampMixin, db.Model):
    """One thing one owner must hand in for a programme by ``due_on`` (a local date, due at the
    end of that day in the programme area's zone).

    The owner is exactly one of an institution, a worker or a user. Deliverables that follow
    from the programme (site plans and event reports from its due dates, the visit list and the
    visit summary of a visits programme) carry a ``key`` naming what they follow from, so that
    deriving them again finds the same row; ones the coordinator adds have none.
    ``submitted_at``/``submitted_by``: when and by whom it was handed in (a site plan or event
    report: when its plan or report was submitted).
    """

    __tablename__ = "outreach_deliverables"
    __table_args__ = (
        CheckConstraint(
            "kind IN ('site_plan', 'event_report', 'visit_list', 'visit_summary', 'other')",
            name="kind",
        ),
        CheckConstraint(
            "(CASE WHEN owner_institution_id IS NULL THEN 0 ELSE 1 END"
            " + CASE WHEN owner_worker_id IS NULL THEN 0 ELSE 1 END"
            " + CASE WHEN owner_user_id IS NULL THEN 0 ELSE 1 END) = 1",
            name="one_owner",
        ),
        UniqueConstraint("programme_id", "key", name="uq_outreach_deliverables_key"),
        Index("ix_outreach_deliverables_due", "due_on", "submitted_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    programme_id: Mapped[int] = mapped_column(
        ForeignKey("outreach_programmes.id", ondelete="CASCADE"), nullable=False, index=True
    )
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    key: Mapped[str | None] = mapped_column(String(80))
    title: Mapped[str] = mapped_column(String(200), nullable=False)
    event_id: Mapped[int | None] = mapped_column(
        ForeignKey("outreach_events.id", ondelete="CASCADE"), index=True
    )
    owner_institution_id: Mapped[int | None] = mapped_column(
        ForeignKey("institutions.id"), index=True
    )
    owner_worker_id: Mapped[int | None] = mapped_column(ForeignKey("workers.id"), index=True)
    owner_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    due_on: Mapped[dt.date] = mapped_column(Date, nullable=False)
    submitted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    submitted_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    note: Mapped[str] = mapped_column(Text, nullable=False, default="")
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    version: Mapped[int] = mapped_column(nullable=False, default=1)


class OutreachReminder(db.Model):
    """A reminder to a deliverable's owner on one local day: the notice the owner reads (and
    acknowledges), with the texts queued for it. One per deliverable and day."""

    __tablename__ = "outreach_reminders"
    __table_args__ = (
        CheckConstraint("kind IN ('before', 'overdue')", name="kind"),
        UniqueConstraint("deliverable_id", "day", name="uq_outreach_reminders_day"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    deliverable_id: Mapped[int] = mapped_column(
        ForeignKey("outreach_deliverables.id", ondelete="CASCADE"), nullable=False, index=True
    )
    day: Mapped[dt.date] = mapped_column(Date, nullable=False)
    kind: Mapped[str] = mapped_column(String(8), nullable=False)
    message: Mapped[str] = mapped_column(Text, nullable=False)
    texted: Mapped[int] = mapped_column(nullable=False, default=0)
    undeliverable: Mapped[list] = mapped_column(JSONType, nullable=False, default=list)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    acknowledged_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    acknowledged_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
