"""Publicity events (启动仪式、宣传点) and what each participant files for them.

An event's participants are its ``host``, its ``lead`` (牵头行) and its co-organisers (协办行).
Each participant fields a team (roster) with display boards, the lead files the site plan, and
every participant reports after the event.
"""

from __future__ import annotations

import datetime as dt

from geoalchemy2 import Geometry
from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from gridserve.db import UTCDateTime, utcnow
from gridserve.extensions import db
from gridserve.models.accounts.institutions import Institution
from gridserve.models.base import JSONType, TimestampMixin
from gridserve.models.outreach.programmes import OutreachProgramme
from gridserve.models.sms.recipients import PHONE_HASH_LENGTH

EVENT_KINDS = ("launch", "site", "compound", "other")
EVENT_STATUSES = ("draft", "planned", "approved", "held", "reported", "cancelled")
PLAN_STATUSES = ("submitted", "approved", "returned")
# The sources' booth rule: 2 boards of 1792 mm x 1172 mm and a team of at least 4 per
# organisation; at a launch each organisation fields a group of at least 20.
DEFAULT_BOOTH = {"boards": 2, "board_mm": [1792, 1172], "min_team": 4, "min_group": 20}

event_co_organisers = Table(
    "outreach_event_co_organisers",
    db.metadata,
    Column("event_id", ForeignKey("outreach_events.id", ondelete="CASCADE"), primary_key=True),
    Column("institution_id", ForeignKey("institutions.id"), primary_key=True),
    Column("position", Integer, nullable=False, default=0),
)


class OutreachEvent(TimestampMixin, db.Model):
    """A launch, site or compound event of a programme, at a venue, over a time span (UTC).

    ``area_id`` is the smallest area holding the venue (its community when it has one): the
    one rule that lets stations see the events in their area.
    """

    __tablename__ = "outreach_events"
    __table_args__ = (
        CheckConstraint("kind IN ('launch', 'site', 'compound', 'other')", name="kind"),
        CheckConstraint(
            "status IN ('draft', 'planned', 'approved', 'held', 'reported', 'cancelled')",
            name="status",
        ),
        CheckConstraint("ends_at > starts_at", name="span"),
        Index("ix_outreach_events_programme_start", "programme_id", "starts_at"),
        Index("ix_outreach_events_status_end", "status", "ends_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    programme_id: Mapped[int] = mapped_column(ForeignKey("outreach_programmes.id"), nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    title: Mapped[str] = mapped_column(String(200), nullable=False)
    starts_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)
    ends_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)
    place_id: Mapped[int | None] = mapped_column(ForeignKey("places.id"), index=True)
    geom = mapped_column(Geometry("POINT", srid=4326, spatial_index=True), nullable=False)
    address: Mapped[str] = mapped_column(String(300), nullable=False, default="")
    area_id: Mapped[int] = mapped_column(ForeignKey("areas.id"), nullable=False, index=True)
    venue_confirmed: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    host_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"), nullable=False)
    lead_id: Mapped[int | None] = mapped_column(ForeignKey("institutions.id"))
    booth: Mapped[dict] = mapped_column(JSONType, nullable=False, default=dict)
    invited: Mapped[str] = mapped_column(Text, nullable=False, default="")
    status: Mapped[str] = mapped_column(String(12), nullable=False, default="draft")
    status_changed_at: Mapped[dt.datetime] = mapped_column(
        UTCDateTime, nullable=False, default=utcnow
    )
    cancel_reason: Mapped[str | None] = mapped_column(Text)
    version: Mapped[int] = mapped_column(nullable=False, default=1)
    # Position in the terminals' change stream (workers see events in their cells).
    change_seq: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0, index=True)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    programme: Mapped[OutreachProgramme] = relationship()
    host: Mapped[Institution] = relationship(foreign_keys=[host_id])
    lead: Mapped[Institution | None] = relationship(foreign_keys=[lead_id])
    co_organisers: Mapped[list[Institution]] = relationship(
        secondary=event_co_organisers, order_by=event_co_organisers.c.position
    )


class OutreachTeam(TimestampMixin, db.Model):
    """One participant's roster and display boards for an event (one per institution)."""

    __tablename__ = "outreach_teams"
    __table_args__ = (
        UniqueConstraint("event_id", "institution_id", name="uq_outreach_teams_event_institution"),
        CheckConstraint("boards >= 0", name="boards"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(
        ForeignKey("outreach_events.id", ondelete="CASCADE"), nullable=False
    )
    institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"), nullable=False)
    boards: Mapped[int] = mapped_column(nullable=False, default=0)
    version: Mapped[int] = mapped_column(nullable=False, default=1)
    updated_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    institution: Mapped[Institution] = relationship()
    members: Mapped[list[OutreachTeamMember]] = relationship(
        back_populates="team", cascade="all, delete-orphan", order_by="OutreachTeamMember.position"
    )


class OutreachTeamMember(db.Model):
    """A person on a roster. The mobile number (E.164) identifies the person: it is stored
    encrypted, with the keyed hash that finds the same person on another roster."""

    __tablename__ = "outreach_team_members"
    __audit_redact__ = frozenset({"phone_enc"})

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(
        ForeignKey("outreach_teams.id", ondelete="CASCADE"), nullable=False, index=True
    )
    position: Mapped[int] = mapped_column(nullable=False, default=0)
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    duty: Mapped[str] = mapped_column(String(100), nullable=False, default="")
    phone_enc: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    phone_hash: Mapped[str] = mapped_column(String(PHONE_HASH_LENGTH), nullable=False, index=True)

    team: Mapped[OutreachTeam] = relationship(back_populates="members")


class OutreachPlan(TimestampMixin, db.Model):
    """The lead's site plan for an event: filed, then approved or returned by the coordinator.

    One row per event; a resubmission after a return replaces text and attachments and bumps
    ``version`` (the audit log keeps every step).
    """

    __tablename__ = "outreach_plans"
    __table_args__ = (
        CheckConstraint("status IN ('submitted', 'approved', 'returned')", name="status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(
        ForeignKey("outreach_events.id", ondelete="CASCADE"), nullable=False, unique=True
    )
    institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"), nullable=False)
    text: Mapped[str] = mapped_column(Text, nullable=False, default="")
    attachments: Mapped[list] = mapped_column(JSONType, nullable=False, default=list)
    status: Mapped[str] = mapped_column(String(12), nullable=False, default="submitted")
    late: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    submitted_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    submitted_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    reviewed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    reviewed_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    note: Mapped[str | None] = mapped_column(Text)
    version: Mapped[int] = mapped_column(nullable=False, default=1)


class OutreachReport(TimestampMixin, db.Model):
    """One participant's report after an event (participants reached, materials, photos)."""

    __tablename__ = "outreach_reports"
    __table_args__ = (
        UniqueConstraint(
            "event_id", "institution_id", name="uq_outreach_reports_event_institution"
        ),
        CheckConstraint(
            "participants >= 0 AND materials >= 0 AND consultations >= 0", name="counts"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(
        ForeignKey("outreach_events.id", ondelete="CASCADE"), nullable=False, index=True
    )
    institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"), nullable=False)
    participants: Mapped[int] = mapped_column(nullable=False, default=0)
    materials: Mapped[int] = mapped_column(nullable=False, default=0)
    consultations: Mapped[int] = mapped_column(nullable=False, default=0)
    photos: Mapped[list] = mapped_column(JSONType, nullable=False, default=list)
    summary: Mapped[str] = mapped_column(Text, nullable=False, default="")
    late: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    submitted_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    submitted_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    version: Mapped[int] = mapped_column(nullable=False, default=1)

    institution: Mapped[Institution] = relationship()
