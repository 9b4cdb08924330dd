"""The area tree: district → street → community (grid cells hang below communities)."""

from __future__ import annotations

from geoalchemy2 import Geometry
from sqlalchemy import CheckConstraint, ForeignKey, Index, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from gridserve.extensions import db
from gridserve.models.base import TimestampMixin

AREA_LEVELS = ("district", "street", "community")
# The level a child must have, given its parent's level.
CHILD_LEVEL = {"district": "street", "street": "community"}


class Area(TimestampMixin, db.Model):
    """A node of the area tree.

    ``path`` is the materialised path of ids, ``/1/4/9/``: the subtree of a node
    is every area whose path starts with the node's path, which is how scoping
    filters (see :mod:`gridserve.scope`).
    """

    __tablename__ = "areas"
    __audit_redact__ = frozenset({"duty_phone_enc"})
    __table_args__ = (
        CheckConstraint("level IN ('district', 'street', 'community')", name="level"),
        Index("ix_areas_path", "path"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True, nullable=False)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    name_en: Mapped[str | None] = mapped_column(String(200))
    level: Mapped[str] = mapped_column(String(16), nullable=False)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("areas.id"), index=True)
    path: Mapped[str] = mapped_column(String(255), nullable=False, default="")
    timezone: Mapped[str | None] = mapped_column(String(64))
    # The office's duty mobile (值班手机), encrypted (gridserve.crypto): told when a case reaches
    # or is escalated to this area's level.
    duty_phone_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    geom = mapped_column(Geometry("MULTIPOLYGON", srid=4326, spatial_index=True), nullable=True)

    parent: Mapped[Area | None] = relationship(remote_side=[id], back_populates="children")
    children: Mapped[list[Area]] = relationship(back_populates="parent", order_by="Area.code")

    def __repr__(self) -> str:
        return f"<Area {self.level} {self.code}>"
