"""The visit list of a visits programme (走访名单): one row per listed enterprise."""

from __future__ import annotations

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from gridserve.extensions import db
from gridserve.models.base import TimestampMixin

ENTERPRISE_STATUSES = ("listed", "visited", "closed")


class OutreachEnterprise(TimestampMixin, db.Model):
    """An enterprise on a programme's visit list.

    ``place_id`` is its register place (type ``enterprise``, ``external_id`` ``uscc:<code>``);
    ``area_id`` the community of that place. The visitor is an account of the responsible
    institution (``visitor_user_id``) or, with ``visitor_is_cell``, whichever worker holds the
    place's cell on the visit day.
    """

    __tablename__ = "outreach_enterprises"
    __table_args__ = (
        UniqueConstraint("programme_id", "credit_code", name="uq_outreach_enterprises_code"),
        CheckConstraint("status IN ('listed', 'visited', 'closed')", name="status"),
        Index("ix_outreach_enterprises_programme_inst", "programme_id", "institution_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    programme_id: Mapped[int] = mapped_column(
        ForeignKey("outreach_programmes.id", ondelete="CASCADE"), nullable=False
    )
    place_id: Mapped[int] = mapped_column(ForeignKey("places.id"), nullable=False, index=True)
    area_id: Mapped[int] = mapped_column(ForeignKey("areas.id"), nullable=False, index=True)
    credit_code: Mapped[str] = mapped_column(String(18), nullable=False)
    name: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    address: Mapped[str] = mapped_column(String(300), nullable=False, default="")
    industry: Mapped[str] = mapped_column(String(100), nullable=False, default="")
    institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"), nullable=False)
    visitor_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    visitor_is_cell: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="listed")
    version: Mapped[int] = mapped_column(nullable=False, default=1)
