"""The computed indicators of a scorecard: the contract between the assessment engine and the
figures (issue 15: :class:`Period`, :class:`Target`, :class:`Figure`,
:data:`METRICS`, :func:`targets`, :func:`compute`, :func:`records`).

- :func:`targets` — who a run scores: ``worker``: every worker who held a cell of the area's
  communities on some day of the period (to today while it runs); ``station``: every
  community in the area's subtree; ``institution``: the banks taking part in the area's
  outreach programmes of the period, else every bank.
- :func:`compute` — one :class:`Figure` per target, for all targets at once: each indicator
  is a few set-based statements whatever the number of targets (visits, patrols, cases are
  aggregated in the database, grouped by worker or community; only the period's assignments
  come to Python, to clip them to the period). ``count`` is what the figure rests on
  (compared with the indicator's ``min_count``): (cell, day) pairs held for patrol coverage
  and visits, household places, cases, ratings, uploads, events, deliverables, list rows,
  decisions.
- :func:`records` — the rows behind one target's figure as a ``SELECT`` the API pages, every
  metric with the same columns: ``id``, ``kind``, ``at`` (UTC), ``local`` (local
  ``YYYY-MM-DD HH:MM``), ``ref`` (a cell code or a due day), ``counted`` (in the numerator)
  and ``description`` (codes and statuses: no names, phones or free text).

The definitions (also each :class:`MetricInfo`'s ``formula``) live with their SQL:
:mod:`metrics_field` (patrol coverage, visits, register completeness, flagged uploads),
:mod:`metrics_cases` (cases on time, escalated, verified, satisfaction) and
:mod:`metrics_outreach` (events held, reports on time, enterprises visited, decisions on
time). Local days and patrol windows are computed in SQL as integer arithmetic on epoch
seconds (:mod:`metrics_base`), the same on PostgreSQL and SQLite.

No commits, no Flask: the engine's job calls this inside its transaction.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.sql import Select

from gridserve.errors import ValidationFailed
from gridserve.extensions import db
from gridserve.models import Area, Assignment, Worker
from gridserve.scope import within_area
from gridserve.services.assessment import metrics_cases, metrics_field, metrics_outreach
from gridserve.services.assessment.metrics_base import (
    Figure,
    MetricInfo,
    Period,
    Target,
    assignments_in,
    community_of,
    holdings,
)

__all__ = ["METRICS", "Figure", "MetricInfo", "Period", "Target", "compute", "records",
           "targets"]  # fmt: skip

TARGET_KINDS = ("worker", "station", "institution")

METRICS: dict[str, MetricInfo] = {
    **metrics_field.INFO,
    **metrics_cases.INFO,
    **metrics_outreach.INFO,
}
_COMPUTE = {**metrics_field.COMPUTE, **metrics_cases.COMPUTE, **metrics_outreach.COMPUTE}
_RECORDS = {
    **dict.fromkeys(metrics_field.INFO, metrics_field.records),
    **dict.fromkeys(metrics_cases.INFO, metrics_cases.records),
    **dict.fromkeys(metrics_outreach.INFO, metrics_outreach.records),
}


def _check(metric: str, target_kind: str) -> None:
    info = METRICS.get(metric)
    if info is None:
        raise ValidationFailed(
            f"No computed indicator {metric}.", code="unknown_metric",
            details={"fields": {"metric": [f"One of: {', '.join(sorted(METRICS))}."]}},
        )  # fmt: skip
    if target_kind not in info.target_kinds:
        raise ValidationFailed(
            f"{metric} is not computed for a {target_kind}.", code="metric_not_for_target",
            details={"fields": {"metric": [f"For: {', '.join(info.target_kinds)}."]}},
        )  # fmt: skip


def targets(target_kind: str, area: Area, period: Period) -> list[Target]:
    """Who a run over ``area`` and ``period`` scores, by id (see the module docstring)."""
    if target_kind == "worker":
        spans = holdings(area, period)
        where = community_of(spans)
        if not where:
            return []
        # the names of the area's holders of the period (a subquery: no parameter per worker)
        holders = assignments_in(area, period).with_only_columns(Assignment.worker_id)
        names = dict(
            db.session.execute(
                select(Worker.id, Worker.full_name).where(Worker.id.in_(holders))
            ).all()
        )
        return [Target(w, names.get(w, str(w)), where[w]) for w in sorted(where)]
    if target_kind == "station":
        rows = db.session.execute(
            select(Area.id, Area.name)
            .where(within_area(area), Area.level == "community")
            .order_by(Area.id)
        ).all()
        return [Target(r.id, r.name, r.id) for r in rows]
    if target_kind == "institution":
        return metrics_outreach.targets(area, period)
    raise ValidationFailed(
        f"No target kind {target_kind}.",
        details={"fields": {"target_kind": [f"One of: {', '.join(TARGET_KINDS)}."]}},
    )


def compute(
    metric: str,
    target_kind: str,
    targets: list[Target],
    area: Area,
    period: Period,
    params: dict[str, Any] | None = None,
) -> dict[int, Figure]:
    """``{target id: Figure}`` for every target given (zeros where nothing was found)."""
    _check(metric, target_kind)
    if not targets:
        return {}
    return _COMPUTE[metric](target_kind, targets, area, period, params or {})


def records(metric: str, target_kind: str, target_id: int, period: Period) -> Select:
    """The records behind ``target_id``'s figure of ``metric`` (see the module docstring)."""
    _check(metric, target_kind)
    return _RECORDS[metric](metric, target_kind, target_id, period)
