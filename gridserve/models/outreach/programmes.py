"""Outreach programmes: a dated campaign of one organiser over an area (宣传月、走访年)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import CheckConstraint, Column, Date, ForeignKey, Integer, String, Table, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from gridserve.extensions import db
from gridserve.models.accounts.institutions import Institution
from gridserve.models.base import TimestampMixin
from gridserve.models.sms.campaigns import SmsCampaign

PROGRAMME_KINDS = ("publicity", "visits", "other")

programme_institutions = Table(
    "outreach_programme_institutions",
    db.metadata,
    Column(
        "programme_id",
        ForeignKey("outreach_programmes.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("institution_id", ForeignKey("institutions.id"), primary_key=True),
    Column("position", Integer, nullable=False, default=0),
)

programme_campaigns = Table(
    "outreach_programme_campaigns",
    db.metadata,
    Column(
        "programme_id",
        ForeignKey("outreach_programmes.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("campaign_id", ForeignKey("sms_campaigns.id", ondelete="CASCADE"), primary_key=True),
)


class OutreachProgramme(TimestampMixin, db.Model):
    """A dated campaign: organiser, area, participating institutions and its due dates.

    ``plan_due_on`` / ``report_due_on`` are local dates, due at the end of that day in the
    programme area's time zone.
    """

    __tablename__ = "outreach_programmes"
    __table_args__ = (
        CheckConstraint("kind IN ('publicity', 'visits', 'other')", name="kind"),
        CheckConstraint("end_date >= start_date", name="dates"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True, nullable=False)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False, default="publicity")
    area_id: Mapped[int] = mapped_column(ForeignKey("areas.id"), nullable=False, index=True)
    organiser_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"), nullable=False)
    start_date: Mapped[dt.date] = mapped_column(Date, nullable=False)
    end_date: Mapped[dt.date] = mapped_column(Date, nullable=False)
    plan_due_on: Mapped[dt.date | None] = mapped_column(Date)
    report_due_on: Mapped[dt.date | None] = mapped_column(Date)
    # Visits programmes: the list is fixed at the end of list_due_on; visits in the window.
    list_due_on: Mapped[dt.date | None] = mapped_column(Date)
    visits_from: Mapped[dt.date | None] = mapped_column(Date)
    visits_to: Mapped[dt.date | None] = mapped_column(Date)
    summary_due_on: Mapped[dt.date | None] = mapped_column(Date)
    description: Mapped[str] = mapped_column(Text, nullable=False, default="")
    version: Mapped[int] = mapped_column(nullable=False, default=1)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    organiser: Mapped[Institution] = relationship(foreign_keys=[organiser_id])
    institutions: Mapped[list[Institution]] = relationship(
        secondary=programme_institutions, order_by=programme_institutions.c.position
    )
    sms_campaigns: Mapped[list[SmsCampaign]] = relationship(
        secondary=programme_campaigns, order_by=SmsCampaign.id
    )
