"""Places: everything in the area as a point (人地物事组织), each in one community and one cell."""

from __future__ import annotations

from geoalchemy2 import Geometry
from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from gridserve.extensions import db
from gridserve.models.base import JSONType, TimestampMixin

PLACE_TYPES = (
    "household",
    "enterprise",
    "compound",
    "courtyard",
    "market",
    "shop",
    "school",
    "hospital",
    "station",
    "office",
    "square",
)


class Place(TimestampMixin, db.Model):
    """A point in the register. ``area_id`` is its community; ``cell_id`` its current cell."""

    __tablename__ = "places"
    __table_args__ = (
        CheckConstraint(
            "type IN ('household', 'enterprise', 'compound', 'courtyard', 'market', 'shop',"
            " 'school', 'hospital', 'station', 'office', 'square')",
            name="type",
        ),
        # Re-importing an external id updates the place instead of duplicating it.
        Index(
            "uq_places_external_id",
            "external_id",
            unique=True,
            postgresql_where=text("external_id IS NOT NULL"),
            sqlite_where=text("external_id IS NOT NULL"),
        ),
        Index("ix_places_area_type", "area_id", "type"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    type: Mapped[str] = mapped_column(String(16), nullable=False)
    external_id: Mapped[str | None] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    attributes: Mapped[dict] = mapped_column(JSONType, nullable=False, default=dict)
    geom = mapped_column(Geometry("POINT", srid=4326, spatial_index=True), nullable=False)
    area_id: Mapped[int] = mapped_column(ForeignKey("areas.id"), nullable=False)
    cell_id: Mapped[int | None] = mapped_column(ForeignKey("grid_cells.id"), index=True)
    # Bumped on every change, for terminals' incremental sync.
    change_seq: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0, index=True)
