"""Grid layouts (versioned, approved) and their cells (with the dates they were valid)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from geoalchemy2 import Geometry
from sqlalchemy import (
    CheckConstraint,
    Date,
    Float,
    ForeignKey,
    Index,
    String,
    UniqueConstraint,
    and_,
    or_,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship
from sqlalchemy.sql.elements import ColumnElement

from gridserve.db import UTCDateTime
from gridserve.extensions import db
from gridserve.models.base import JSONType, TimestampMixin

PLAN_STATUSES = ("draft", "proposed", "approved", "active", "retired")
PLAN_METHODS = ("square", "hex", "balanced", "blocks")


class GridPlan(TimestampMixin, db.Model):
    """A layout of cells for a street or a community, moving draft → proposed → approved → active.

    A plan is never deleted once proposed: when another plan replaces it, its
    cells get an end date and the plan is retired, so history survives.
    """

    __tablename__ = "grid_plans"
    __table_args__ = (
        CheckConstraint(
            "status IN ('draft', 'proposed', 'approved', 'active', 'retired')", name="status"
        ),
        CheckConstraint("method IN ('square', 'hex', 'balanced', 'blocks')", name="method"),
        Index("ix_grid_plans_area_status", "area_id", "status"),
        # One active layout per area, guaranteed by the database.
        Index(
            "uq_grid_plans_one_active",
            "area_id",
            unique=True,
            postgresql_where=text("status = 'active'"),
            sqlite_where=text("status = 'active'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    area_id: Mapped[int] = mapped_column(ForeignKey("areas.id"), nullable=False)
    name: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    method: Mapped[str] = mapped_column(String(16), nullable=False)
    params: Mapped[dict] = mapped_column(JSONType, nullable=False, default=dict)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="draft")
    version: Mapped[int] = mapped_column(nullable=False, default=1)
    metrics: Mapped[dict] = mapped_column(JSONType, nullable=False, default=dict)
    change_report: Mapped[dict | None] = mapped_column(JSONType)
    note: Mapped[str | None] = mapped_column(String(1000))
    effective_from: Mapped[dt.date | None] = mapped_column(Date)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    proposed_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    proposed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    approved_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    approved_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    activated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    retired_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    cells: Mapped[list[GridCell]] = relationship(
        back_populates="plan", cascade="all, delete-orphan", order_by="GridCell.code"
    )


class GridCell(db.Model):
    """One cell of a plan. ``valid_from``/``valid_to`` (local dates) say when it was in force."""

    __tablename__ = "grid_cells"
    __table_args__ = (
        UniqueConstraint("plan_id", "code", name="uq_grid_cells_plan_code"),
        Index("ix_grid_cells_validity", "community_id", "valid_from", "valid_to"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(
        ForeignKey("grid_plans.id", ondelete="CASCADE"), nullable=False, index=True
    )
    community_id: Mapped[int] = mapped_column(ForeignKey("areas.id"), nullable=False)
    code: Mapped[str] = mapped_column(String(40), nullable=False)
    seq: Mapped[int] = mapped_column(nullable=False)
    geom = mapped_column(Geometry("MULTIPOLYGON", srid=4326, spatial_index=True), nullable=False)
    workload: Mapped[float] = mapped_column(Float, nullable=False, default=0.0)
    place_count: Mapped[int] = mapped_column(nullable=False, default=0)
    area_m2: Mapped[float] = mapped_column(Float, nullable=False, default=0.0)
    compactness: Mapped[float] = mapped_column(Float, nullable=False, default=0.0)
    valid_from: Mapped[dt.date | None] = mapped_column(Date)
    valid_to: Mapped[dt.date | None] = mapped_column(Date)

    plan: Mapped[GridPlan] = relationship(back_populates="cells")

    @classmethod
    def in_force_on(cls, on: Any) -> ColumnElement[bool]:
        """In force on the local date ``on`` (a date or a bound parameter): put in force on or
        before it, and not yet replaced (``valid_to`` is the first day no longer in force)."""
        return and_(
            cls.valid_from.is_not(None),
            cls.valid_from <= on,
            or_(cls.valid_to.is_(None), cls.valid_to > on),
        )
