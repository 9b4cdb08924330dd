"""Visits (what workers record), their attachments, and the household register."""

from __future__ import annotations

import datetime as dt

from geoalchemy2 import Geometry
from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    LargeBinary,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from gridserve.db import UTCDateTime, utcnow
from gridserve.extensions import db
from gridserve.models.base import BigIntKey, JSONType, TimestampMixin

VISIT_KINDS = ("patrol", "household_visit", "sme_visit", "place_check")


class Visit(db.Model):
    """A patrol or visit recorded on a terminal, identified by the terminal's own UUID."""

    __tablename__ = "visits"
    __audit__ = False  # uploads are audited per batch
    __table_args__ = (
        CheckConstraint(
            "kind IN ('patrol', 'household_visit', 'sme_visit', 'place_check')", name="kind"
        ),
        Index("ix_visits_community_started", "community_id", "started_at"),
        Index("ix_visits_worker_started", "worker_id", "started_at"),
    )

    id: Mapped[int] = mapped_column(BigIntKey, primary_key=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True, nullable=False)
    worker_id: Mapped[int] = mapped_column(ForeignKey("workers.id"), nullable=False)
    device_id: Mapped[int | None] = mapped_column(ForeignKey("devices.id"))
    kind: Mapped[str] = mapped_column(String(20), nullable=False)
    place_id: Mapped[int | None] = mapped_column(ForeignKey("places.id"), index=True)
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)
    ended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    geom = mapped_column(Geometry("POINT", srid=4326, spatial_index=True), nullable=True)
    accuracy_m: Mapped[float | None] = mapped_column(Float)
    mock_location: Mapped[bool] = mapped_column(default=False, nullable=False)
    notes: Mapped[str] = mapped_column(Text, nullable=False, default="")
    answers: Mapped[dict] = mapped_column(JSONType, nullable=False, default=dict)
    attachments: Mapped[list] = mapped_column(JSONType, nullable=False, default=list)
    flags: Mapped[list] = mapped_column(JSONType, nullable=False, default=list)
    community_id: Mapped[int] = mapped_column(ForeignKey("areas.id"), nullable=False)
    cell_code: Mapped[str | None] = mapped_column(String(40))
    content_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    version: Mapped[int] = mapped_column(nullable=False, default=1)
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)


class Attachment(db.Model):
    """A photo uploaded by a terminal (or a file by the outreach desk) under its own UUID; the
    file lives on disk."""

    __tablename__ = "attachments"
    __audit__ = False

    uuid: Mapped[str] = mapped_column(String(36), primary_key=True)
    content_type: Mapped[str] = mapped_column(String(40), nullable=False)
    size: Mapped[int] = mapped_column(nullable=False)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    path: Mapped[str] = mapped_column(String(255), nullable=False)
    worker_id: Mapped[int | None] = mapped_column(ForeignKey("workers.id"))
    community_id: Mapped[int | None] = mapped_column(ForeignKey("areas.id"))
    # Files of the outreach desk (site plans, report photos): who uploaded it, and the event
    # it was filed for once a plan or report names it.
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    event_id: Mapped[int | None] = mapped_column(
        ForeignKey("outreach_events.id", ondelete="SET NULL"), index=True
    )
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)


class Household(TimestampMixin, db.Model):
    """The register of a household (三知道、二清楚、一掌握) at a place of type household.

    Phone, ID number and members are encrypted at rest (:mod:`gridserve.crypto`);
    only the assigned worker and their station read them in clear, and every
    such read is audited.
    """

    __tablename__ = "households"
    __audit_redact__ = frozenset({"phone_enc", "id_number_enc", "members_enc"})

    id: Mapped[int] = mapped_column(primary_key=True)
    place_id: Mapped[int] = mapped_column(ForeignKey("places.id"), unique=True, nullable=False)
    area_id: Mapped[int] = mapped_column(ForeignKey("areas.id"), nullable=False, index=True)
    door_number: Mapped[str] = mapped_column(String(100), nullable=False, default="")
    address: Mapped[str] = mapped_column(String(300), nullable=False, default="")
    phone_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    id_number_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    members_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    member_count: Mapped[int] = mapped_column(nullable=False, default=0)
    # Every member's work unit known (三知道二清楚一掌握): derived on write from the members,
    # which are encrypted, so that the register's completeness is countable in SQL.
    work_units_complete: Mapped[bool] = mapped_column(nullable=False, default=False)
    version: Mapped[int] = mapped_column(nullable=False, default=1)
    change_seq: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0, index=True)
