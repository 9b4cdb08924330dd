"""Workers (网格员), their cells and their terminals."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    LargeBinary,
    String,
    and_,
    or_,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship
from sqlalchemy.sql.elements import ColumnElement

from gridserve.db import UTCDateTime, utcnow
from gridserve.extensions import db
from gridserve.models.base import JSONType, TimestampMixin

WORKER_STATUSES = ("active", "suspended", "dismissed")
EMPLOYMENT_TYPES = ("full_time", "part_time")


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

    @classmethod
    def open_on(cls, on: Any) -> ColumnElement[bool]:
        """Held on the local date ``on`` (a date or a bound parameter): started on or before it
        and not ended (``ends_on`` is the first day no longer held)."""
        return and_(cls.starts_on <= on, or_(cls.ends_on.is_(None), cls.ends_on > on))


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
