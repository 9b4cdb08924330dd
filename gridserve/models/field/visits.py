"""Field work: workers, their cells, their terminals, what they record, the household register."""

from __future__ import annotations

import datetime as dt

from geoalchemy2 import Geometry
from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    Float,
    ForeignKey,
    Index,
    LargeBinary,
    String,
    Text,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from gridserve.db import UTCDateTime, utcnow
from gridserve.extensions import db
from gridserve.models.base import BigIntKey, JSONType, TimestampMixin

WORKER_STATUSES = ("active", "suspended", "dismissed")
EMPLOYMENT_TYPES = ("full_time", "part_time")
VISIT_KINDS = ("patrol", "household_visit", "sme_visit", "place_check")


class Worker(TimestampMixin, db.Model):
    """A grid worker (网格员): the personnel record behind a ``worker`` account."""

    __tablename__ = "workers"
    __audit_redact__ = frozenset({"phone_enc"})
    __table_args__ = (
        CheckConstraint("status IN ('active', 'suspended', 'dismissed')", name="status"),
        CheckConstraint("employment IN ('full_time', 'part_time')", name="employment"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), unique=True)
    area_id: Mapped[int] = mapped_column(ForeignKey("areas.id"), nullable=False, index=True)
    full_name: Mapped[str] = mapped_column(String(100), nullable=False)
    employment: Mapped[str] = mapped_column(String(16), nullable=False, default="full_time")
    source_pool: Mapped[str | None] = mapped_column(String(100))
    phone_enc: Mapped[bytes | None] = mapped_column(
        LargeBinary, doc="Encrypted (gridserve.crypto); clear only to the worker's managers"
    )
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="active")
    hired_on: Mapped[dt.date | None] = mapped_column(Date)
    personnel_file: Mapped[dict] = mapped_column(JSONType, nullable=False, default=dict)


class Assignment(db.Model):
    """A worker responsible for a cell (by its stable code) from one day until another.

    The database keeps one open assignment per cell, and per worker one per
    ``slot``: a full-time worker has one slot, a part-time worker as many as
    the configuration allows, so no race can give anyone more cells.
    """

    __tablename__ = "assignments"
    __table_args__ = (
        Index(
            "uq_assignments_open_cell",
            "cell_code",
            unique=True,
            postgresql_where=text("ends_on IS NULL"),
            sqlite_where=text("ends_on IS NULL"),
        ),
        Index(
            "uq_assignments_open_slot",
            "worker_id",
            "slot",
            unique=True,
            postgresql_where=text("ends_on IS NULL"),
            sqlite_where=text("ends_on IS NULL"),
        ),
        CheckConstraint("ends_on IS NULL OR ends_on >= starts_on", name="dates"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    worker_id: Mapped[int] = mapped_column(ForeignKey("workers.id"), nullable=False, index=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("areas.id"), nullable=False)
    cell_code: Mapped[str] = mapped_column(String(40), nullable=False, index=True)
    slot: Mapped[int] = mapped_column(nullable=False, default=0)
    starts_on: Mapped[dt.date] = mapped_column(Date, nullable=False)
    ends_on: Mapped[dt.date | None] = mapped_column(Date)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)

    worker: Mapped[Worker] = relationship()


class EnrolmentCode(db.Model):
    """A one-time, short-lived code a station gives a worker to enrol a terminal."""

    __tablename__ = "enrolment_codes"
    __audit__ = False  # issuing and using codes are audited as events

    id: Mapped[int] = mapped_column(primary_key=True)
    worker_id: Mapped[int] = mapped_column(ForeignKey("workers.id"), nullable=False, index=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)
    used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)


class Device(db.Model):
    """An enrolled handheld terminal; its token is stored hashed and can be revoked."""

    __tablename__ = "devices"
    __audit__ = False  # enrolment and revocation are audited as events

    id: Mapped[int] = mapped_column(primary_key=True)
    worker_id: Mapped[int] = mapped_column(ForeignKey("workers.id"), nullable=False, index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), nullable=False)
    label: Mapped[str] = mapped_column(String(100), nullable=False, default="")
    token_hash: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    enrolled_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    app_version: Mapped[str | None] = mapped_column(String(40))
    platform: Mapped[str | None] = mapped_column(String(60))


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
    """A photo uploaded by a terminal under its own UUID; the file lives on disk."""

    __tablename__ = "attachments"
    __audit__ = False

    uuid: Mapped[str] = mapped_column(String(36), primary_key=True)
    content_type: Mapped[str] = mapped_column(String(40), nullable=False)
    size: Mapped[int] = mapped_column(nullable=False)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    path: Mapped[str] = mapped_column(String(255), nullable=False)
    worker_id: Mapped[int | None] = mapped_column(ForeignKey("workers.id"))
    community_id: Mapped[int | None] = mapped_column(ForeignKey("areas.id"))
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
    version: Mapped[int] = mapped_column(nullable=False, default=1)
    change_seq: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0, index=True)


class SyncTombstone(db.Model):
    """A row a terminal must delete on its next sync."""

    __tablename__ = "sync_tombstones"
    __audit__ = False

    id: Mapped[int] = mapped_column(BigIntKey, primary_key=True)
    entity: Mapped[str] = mapped_column(String(20), nullable=False)
    entity_id: Mapped[int] = mapped_column(nullable=False)
    area_id: Mapped[int] = mapped_column(nullable=False, index=True)
    cell_code: Mapped[str | None] = mapped_column(String(40))
    change_seq: Mapped[int] = mapped_column(BigInteger, nullable=False, index=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)


class SyncCounter(db.Model):
    """The last change sequence number handed out (one row)."""

    __tablename__ = "sync_counter"
    __audit__ = False

    id: Mapped[int] = mapped_column(primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
