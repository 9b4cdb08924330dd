"""Scorecard templates (考核模板) and their indicators.

A template scores one kind of target — a grid worker, a station (community) or an institution
(a bank branch) — on indicators whose integer weights sum to 100. Each indicator is either
**computed** from what the system holds (``metric`` names the figure, see
:mod:`gridserve.services.assessment.metrics`) or **entered** by the template's assessor role
with evidence (a spot check, a mystery-shopper score). How a figure becomes points is the
indicator's ``scoring`` (:mod:`gridserve.services.assessment.scoring`):

- ``share``: a figure in 0..1 (coverage, completeness, satisfaction) × weight; ``invert``
  scores 1 − share (the share of flagged uploads: fewer is better);
- ``target``: achieved ÷ ``target`` (per cell and month held, say) × weight;
- ``relative``: the target's ratio ÷ the ratio of all targets of the run together × weight ×
  ``factor`` (0.8 in the branch competition);
- ``entered``: the entered value ÷ ``scale`` (100 for a score out of 100) × weight.

No indicator scores more than ``cap`` × its weight (1.2 in the branch competition, 1.0 by
default). An indicator resting on fewer than ``min_count`` records (cells-days held, visits
due, cases, ratings) is **not rated** for that target: its weight leaves the total's base
and the target leaves the rankings for it. ``deductions`` are the template's kinds of point
deductions (``[{"code", "name", "points"}]``: 1 point per serious complaint or negative media
report) and ``disqualify_after`` the count of them in a period that bars a target from awards.
``bands``: the lower bounds (inclusive) of excellent, good and pass for the total rounded
half-up to two decimals (93 / 85 / 75 by default).
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from gridserve.extensions import db
from gridserve.models.base import JSONType, TimestampMixin

TARGET_KINDS = ("worker", "station", "institution")
INDICATOR_SOURCES = ("computed", "entered")
SCORINGS = ("share", "target", "relative", "entered")
DEFAULT_BANDS = {"excellent": 93, "good": 85, "pass": 75}
GRADES = ("excellent", "good", "pass", "fail")
GRADE_NAMES = {"excellent": "优秀", "good": "良好", "pass": "合格", "fail": "不合格"}


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class AssessmentTemplate(TimestampMixin, db.Model):
    """A scorecard: what kind of target it scores, who enters its entered indicators
    (``assessor_role``: a station for its workers, the street centre for stations, the
    coordinator for institutions), its bands, deductions and defaults."""

    __tablename__ = "assessment_templates"
    __table_args__ = (
        CheckConstraint(_in("target_kind", TARGET_KINDS), name="target_kind"),
        CheckConstraint(
            "disqualify_after IS NULL OR disqualify_after > 0", name="disqualify_after"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True, nullable=False)
    name: Mapped[str] = mapped_column(String(120), nullable=False)
    target_kind: Mapped[str] = mapped_column(String(12), nullable=False)
    assessor_role: Mapped[str] = mapped_column(String(24), nullable=False)
    bands: Mapped[dict] = mapped_column(
        JSONType, nullable=False, default=lambda: dict(DEFAULT_BANDS)
    )
    deductions: Mapped[list] = mapped_column(JSONType, nullable=False, default=list)
    disqualify_after: Mapped[int | None] = mapped_column(Integer)
    description: Mapped[str] = mapped_column(Text, nullable=False, default="")
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    version: Mapped[int] = mapped_column(nullable=False, default=1)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class AssessmentIndicator(db.Model):
    """One line of a template (see the module's rules). ``position`` orders the card."""

    __tablename__ = "assessment_indicators"
    __table_args__ = (
        UniqueConstraint("template_id", "code", name="uq_assessment_indicators_code"),
        CheckConstraint(_in("source", INDICATOR_SOURCES), name="source"),
        CheckConstraint(_in("scoring", SCORINGS), name="scoring"),
        CheckConstraint("weight > 0 AND weight <= 100", name="weight"),
        CheckConstraint("cap >= 1", name="cap"),
        CheckConstraint("min_count >= 0", name="min_count"),
        CheckConstraint(
            "(source = 'computed' AND metric IS NOT NULL AND scoring <> 'entered') OR "
            "(source = 'entered' AND metric IS NULL AND scoring = 'entered')",
            name="source_metric",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    template_id: Mapped[int] = mapped_column(
        ForeignKey("assessment_templates.id", ondelete="CASCADE"), nullable=False, index=True
    )
    code: Mapped[str] = mapped_column(String(40), nullable=False)
    name: Mapped[str] = mapped_column(String(120), nullable=False)
    group: Mapped[str] = mapped_column(String(60), nullable=False, default="")
    weight: Mapped[int] = mapped_column(Integer, nullable=False)
    source: Mapped[str] = mapped_column(String(10), nullable=False)
    metric: Mapped[str | None] = mapped_column(String(40))
    scoring: Mapped[str] = mapped_column(String(10), nullable=False)
    invert: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    target: Mapped[float | None] = mapped_column(Float)
    factor: Mapped[float] = mapped_column(Float, nullable=False, default=1.0)
    scale: Mapped[float] = mapped_column(Float, nullable=False, default=100.0)
    cap: Mapped[float] = mapped_column(Float, nullable=False, default=1.0)
    min_count: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    description: Mapped[str] = mapped_column(Text, nullable=False, default="")
    position: Mapped[int] = mapped_column(nullable=False, default=0)
