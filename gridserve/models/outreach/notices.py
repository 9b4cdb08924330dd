"""Change notices to an event's participants, and calendar feeds for calendar apps."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from gridserve.db import UTCDateTime, utcnow
from gridserve.extensions import db
from gridserve.models.accounts.institutions import Institution
from gridserve.models.base import JSONType
from gridserve.models.outreach.events import OutreachEvent

# An event's change or cancellation (to a participant institution), and the case ladder's
# notices to an area's office (a case escalated, dispatched, put under supervision, reaching
# the street at once).
NOTICE_REASONS = (
    "changed",
    "cancelled",
    "case_escalated",
    "case_dispatched",
    "case_supervised",
    "case_urgent",
)


class OutreachNotice(db.Model):
    """A change of an approved event (time, venue) or its cancellation, told to one
    participant (如遇特殊情况变更则及时另行通知), who acknowledges it.

    ``undeliverable`` names the institution's contacts that could not be texted (no mobile).
    """

    __tablename__ = "outreach_notices"
    __table_args__ = (
        CheckConstraint(
            "reason IN ('changed', 'cancelled', 'case_escalated', 'case_dispatched',"
            " 'case_supervised', 'case_urgent')",
            name="reason",
        ),
        # An event's notice goes to an institution; a case's to an area's office (or a
        # department, an institution).
        CheckConstraint(
            "(event_id IS NOT NULL AND institution_id IS NOT NULL AND task_id IS NULL)"
            " OR (task_id IS NOT NULL AND (area_id IS NOT NULL OR institution_id IS NOT NULL))",
            name="addressee",
        ),
        Index("ix_outreach_notices_institution_ack", "institution_id", "acknowledged_at"),
        # One notice per participant and change: announcing the same change again finds it.
        UniqueConstraint(
            "event_id", "institution_id", "event_version", "reason", name="uq_outreach_notices_once"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int | None] = mapped_column(
        ForeignKey("outreach_events.id", ondelete="CASCADE"), index=True
    )
    institution_id: Mapped[int | None] = mapped_column(ForeignKey("institutions.id"))
    # A case's notice: the case and the area whose office is told (its users read it).
    task_id: Mapped[int | None] = mapped_column(
        ForeignKey("tasks.id", ondelete="CASCADE"), index=True
    )
    area_id: Mapped[int | None] = mapped_column(ForeignKey("areas.id"), index=True)
    reason: Mapped[str] = mapped_column(String(16), nullable=False)
    event_version: Mapped[int] = mapped_column(nullable=False, default=0)
    changes: Mapped[dict] = mapped_column(JSONType, nullable=False, default=dict)
    message: Mapped[str] = mapped_column(Text, nullable=False)
    texted: Mapped[int] = mapped_column(nullable=False, default=0)
    undeliverable: Mapped[list] = mapped_column(JSONType, nullable=False, default=list)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    acknowledged_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    acknowledged_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    reminded_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    overdue_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    event: Mapped[OutreachEvent | None] = relationship()
    institution: Mapped[Institution | None] = relationship()


class OutreachCalendarFeed(db.Model):
    """A revocable calendar URL: its random token is stored hashed and carries the scope of
    the account that made it (an institution's events, or one programme's)."""

    __tablename__ = "outreach_calendar_feeds"
    __audit_redact__ = frozenset({"token_hash"})

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    name: Mapped[str] = mapped_column(String(100), nullable=False, default="")
    institution_id: Mapped[int | None] = mapped_column(ForeignKey("institutions.id"))
    programme_id: Mapped[int | None] = mapped_column(
        ForeignKey("outreach_programmes.id", ondelete="CASCADE")
    )
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
