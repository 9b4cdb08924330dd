"""Assessment runs, their scorecards, and what follows a yearly fail.

A run scores every target of one template in one area for one period (``YYYY-Qn`` or
``YYYY``; ``period_start``/``period_end`` are its local dates, both inclusive): ``computing``
→ ``computed`` → ``published`` (frozen), or ``failed``. One run per template, period and area;
a correction is a new ``version`` naming the run it corrects (``supersedes_id``) and why
(``reason``). A provisional run scores a period not yet ended.

A scorecard is one target's card: one :class:`ScorecardLine` per indicator with its raw
figures (``raw``: numerator, denominator and the counts behind them), the value scored, the
points (capped) and, for an entered indicator, the value, evidence, who entered it and when
(recomputation never overwrites an entered value). ``total`` is rounded half-up to two
decimals before the grade is read from the template's bands. Deductions are lines of their
own (:class:`ScorecardDeduction`).

A published yearly ``fail`` of a worker opens a :class:`DismissalRecommendation` for the street
centre: ``open`` → ``confirmed`` (the dismissal applied) or ``overturned``, each decided once.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from gridserve.db import UTCDateTime, utcnow
from gridserve.extensions import db
from gridserve.models.assessment.templates import GRADES, TARGET_KINDS
from gridserve.models.base import JSONType, TimestampMixin

RUN_STATUSES = ("computing", "computed", "published", "failed")
RECOMMENDATION_STATUSES = ("open", "confirmed", "overturned")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class AssessmentRun(TimestampMixin, db.Model):
    """One template scored over one area and period (see the module's rules)."""

    __tablename__ = "assessment_runs"
    __table_args__ = (
        UniqueConstraint(
            "template_id", "period", "area_id", "version", name="uq_assessment_runs_version"
        ),
        CheckConstraint(_in("status", RUN_STATUSES), name="status"),
        CheckConstraint("period_end >= period_start", name="period"),
        CheckConstraint("version >= 1", name="version"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    template_id: Mapped[int] = mapped_column(
        ForeignKey("assessment_templates.id"), nullable=False, index=True
    )
    period: Mapped[str] = mapped_column(String(7), nullable=False)
    period_start: Mapped[dt.date] = mapped_column(Date, nullable=False)
    period_end: Mapped[dt.date] = mapped_column(Date, nullable=False)
    area_id: Mapped[int] = mapped_column(ForeignKey("areas.id"), nullable=False, index=True)
    provisional: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    status: Mapped[str] = mapped_column(String(10), nullable=False, default="computing")
    version: Mapped[int] = mapped_column(nullable=False, default=1)
    supersedes_id: Mapped[int | None] = mapped_column(
        ForeignKey("assessment_runs.id", ondelete="SET NULL")
    )
    reason: Mapped[str] = mapped_column(Text, nullable=False, default="")
    # The template as it was when the run was made (its indicators and bands): a run keeps
    # scoring by the rules it started with when the template is edited later.
    template_snapshot: Mapped[dict] = mapped_column(JSONType, nullable=False, default=dict)
    job_id: Mapped[int | None] = mapped_column(ForeignKey("jobs.id", ondelete="SET NULL"))
    error: Mapped[dict | None] = mapped_column(JSONType)
    computed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    published_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    published_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    row_version: Mapped[int] = mapped_column(nullable=False, default=1)


class Scorecard(db.Model):
    """One target's card in a run. ``target_id`` is a worker's, an area's (a station's
    community) or an institution's id by ``target_kind``; ``area_id`` the community (workers,
    stations) or the run's area (institutions) the rankings group by; ``target_name`` the
    name shown, kept as it was when scored."""

    __tablename__ = "assessment_scorecards"
    __table_args__ = (
        UniqueConstraint("run_id", "target_id", name="uq_assessment_scorecards_target"),
        CheckConstraint(_in("target_kind", TARGET_KINDS), name="target_kind"),
        CheckConstraint(f"grade IS NULL OR {_in('grade', GRADES)}", name="grade"),
        Index("ix_assessment_scorecards_target", "target_kind", "target_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(
        ForeignKey("assessment_runs.id", ondelete="CASCADE"), nullable=False
    )
    target_kind: Mapped[str] = mapped_column(String(12), nullable=False)
    target_id: Mapped[int] = mapped_column(Integer, nullable=False)
    target_name: Mapped[str] = mapped_column(String(120), nullable=False, default="")
    area_id: Mapped[int | None] = mapped_column(ForeignKey("areas.id"), index=True)
    total: Mapped[Decimal | None] = mapped_column(Numeric(6, 2))
    grade: Mapped[str | None] = mapped_column(String(10))
    # The weights of the rated indicators (the total is scaled to 100 over them).
    rated_weight: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    deducted: Mapped[Decimal] = mapped_column(Numeric(6, 2), nullable=False, default=0)
    disqualified: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    computed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    version: Mapped[int] = mapped_column(nullable=False, default=1)


class ScorecardLine(db.Model):
    """One indicator on one card (see the module's rules). ``rated`` False: too little data
    (``raw.count`` under the indicator's ``min_count``) or an entered value not yet entered;
    ``value`` and ``score`` are then empty."""

    __tablename__ = "assessment_scorecard_lines"
    __audit__ = False  # recomputed in bulk; an entry is audited by the service
    __table_args__ = (
        UniqueConstraint("scorecard_id", "code", name="uq_assessment_scorecard_lines_code"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    scorecard_id: Mapped[int] = mapped_column(
        ForeignKey("assessment_scorecards.id", ondelete="CASCADE"), nullable=False
    )
    code: Mapped[str] = mapped_column(String(40), nullable=False)
    raw: Mapped[dict] = mapped_column(JSONType, nullable=False, default=dict)
    value: Mapped[float | None] = mapped_column(Float)
    score: Mapped[Decimal | None] = mapped_column(Numeric(6, 2))
    capped: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    rated: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    entered_value: Mapped[float | None] = mapped_column(Float)
    evidence: Mapped[dict | None] = mapped_column(JSONType)
    entered_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    entered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class ScorecardDeduction(db.Model):
    """Points taken off one card, of a kind the template lists, with the reason and evidence."""

    __tablename__ = "assessment_deductions"
    __table_args__ = (CheckConstraint("points > 0", name="points"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    scorecard_id: Mapped[int] = mapped_column(
        ForeignKey("assessment_scorecards.id", ondelete="CASCADE"), nullable=False, index=True
    )
    code: Mapped[str] = mapped_column(String(40), nullable=False)
    points: Mapped[Decimal] = mapped_column(Numeric(6, 2), nullable=False)
    reason: Mapped[str] = mapped_column(Text, nullable=False)
    evidence: Mapped[dict | None] = mapped_column(JSONType)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)


class DismissalRecommendation(db.Model):
    """A published yearly fail's recommendation to dismiss the worker, for the street centre to
    confirm or overturn (each decided once, by one conditional update)."""

    __tablename__ = "assessment_recommendations"
    __table_args__ = (CheckConstraint(_in("status", RECOMMENDATION_STATUSES), name="status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    scorecard_id: Mapped[int] = mapped_column(
        ForeignKey("assessment_scorecards.id", ondelete="CASCADE"), unique=True, nullable=False
    )
    run_id: Mapped[int] = mapped_column(
        ForeignKey("assessment_runs.id", ondelete="CASCADE"), nullable=False, index=True
    )
    worker_id: Mapped[int] = mapped_column(ForeignKey("workers.id"), nullable=False, index=True)
    # The street whose centre decides (the worker's community's street).
    area_id: Mapped[int] = mapped_column(ForeignKey("areas.id"), nullable=False, index=True)
    status: Mapped[str] = mapped_column(String(12), nullable=False, default="open")
    reason: Mapped[str] = mapped_column(Text, nullable=False, default="")
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    version: Mapped[int] = mapped_column(nullable=False, default=1)


REPORT_KINDS = ("monthly", "daily")


class ReportArchive(db.Model):
    """A built report, kept: the monthly grid report of a street or community (built on the
    first working day of the next month) and the street centre's daily summary of yesterday.
    ``period_start`` is the month's first day or the day; ``data`` the report's JSON body."""

    __tablename__ = "report_archive"
    __audit__ = False  # built by the scheduler; the job is logged
    __table_args__ = (
        UniqueConstraint("kind", "area_id", "period_start", name="uq_report_archive_period"),
        CheckConstraint(_in("kind", REPORT_KINDS), name="kind"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(8), nullable=False)
    area_id: Mapped[int] = mapped_column(ForeignKey("areas.id"), nullable=False, index=True)
    period_start: Mapped[dt.date] = mapped_column(Date, nullable=False)
    data: Mapped[dict] = mapped_column(JSONType, nullable=False, default=dict)
    built_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
