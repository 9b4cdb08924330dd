"""Working-day calendars the operator loads, and the days a campaign's opened slots used."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, Date, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from gridserve.db import UTCDateTime, utcnow
from gridserve.extensions import db
from gridserve.models.base import JSONType


class WorkCalendar(db.Model):
    """One version of a country's holidays and adjusted working days for a year.

    Append-only: each ``PUT /api/v1/calendars/{country}/{year}`` adds the next version (the
    unique key makes two concurrent PUTs of the same version impossible); the newest is in
    force, the older ones are the history. ``holidays`` is ``[{"date", "name"}]``, ``workdays``
    a list of ISO dates, both sorted.
    """

    __tablename__ = "work_calendars"
    __table_args__ = (
        UniqueConstraint("country", "year", "version", name="uq_work_calendars_version"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    country: Mapped[str] = mapped_column(String(2), nullable=False)
    year: Mapped[int] = mapped_column(Integer, nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    holidays: Mapped[list] = mapped_column(JSONType, nullable=False)
    workdays: Mapped[list] = mapped_column(JSONType, nullable=False)
    note: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class SmsCampaignDay(db.Model):
    """A day as the calendar described it when a slot using it (or a later one) opened.

    A campaign's schedule reads these before the live calendar, so loading or correcting a
    year moves only the slots that have not opened; the ones that opened stay as they ran.
    """

    __tablename__ = "sms_campaign_days"
    __audit__ = False

    campaign_id: Mapped[int] = mapped_column(
        ForeignKey("sms_campaigns.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    working: Mapped[bool] = mapped_column(Boolean, nullable=False)
    name: Mapped[str | None] = mapped_column(String(100))
