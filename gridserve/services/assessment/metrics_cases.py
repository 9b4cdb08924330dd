"""Computed indicators over cases (事件), for workers and stations: settled on time, escalated,
verified, and residents' satisfaction (definitions in :data:`INFO`).

Whose cases: a worker's are the cases (``kind = case``) whose ``assigned_worker_id`` is theirs
— intake sets it to the worker holding the case's cell that day, and it stays with the case
up the ladder; a station's are the cases of its community (``area_id``). Settled on time
follows the ladder (:mod:`gridserve.services.cases.ladder`): ``settled_at`` is set by the
``settle`` step and ``level_due_at`` (the deadline at the level holding the case, paused time
added on resume) is not moved by settling, verifying or closing; a reopen clears
``settled_at``, so a reopened case counts again when next settled. Ratings are the case's own
(``tasks.rating``, one per case: 1 satisfied, 2 fairly, 3 not satisfied), as in the cases
report (:mod:`gridserve.services.cases.reports`).

One aggregate statement per indicator, grouped by worker or by community.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import String, and_, case, cast, func, literal, or_, select
from sqlalchemy.sql import Select

from gridserve.extensions import db
from gridserve.models import Area, CaseCategory, Task
from gridserve.scope import in_area
from gridserve.services.assessment.metrics_base import (
    Figure,
    MetricInfo,
    Period,
    Target,
    in_period,
    local_text,
)

BOTH = ("worker", "station")
# The levels a target settles at: the worker in the cell, the station in its community.
OWN_LEVELS = {"worker": ("cell",), "station": ("cell", "community")}
RATING_POINTS = {1: 1.0, 2: 0.5, 3: 0.0}

INFO: dict[str, MetricInfo] = {
    "cases_on_time": MetricInfo(
        BOTH, "事件按时办结率", "Cases settled on time",
        "cases settled in the period at the target's level (worker: their cases in the cell; "
        "station: the community's cases in the cell or the community) by the deadline at that "
        "level ÷ those settled",
    ),
    "cases_escalated": MetricInfo(
        BOTH, "事件上报率", "Cases escalated",
        "cases received in the period that left the target's level (worker: escalated at "
        "least once out of the cell; station: now held by the street or the district) ÷ cases "
        "received in the period starting at the target's level; scored inverted",
    ),
    "cases_verified": MetricInfo(
        BOTH, "事件核查通过率", "Cases verified",
        "cases needing on-site verification settled in the period at the target's level and "
        "verified since ÷ those settled",
    ),
    "satisfaction": MetricInfo(
        BOTH, "群众满意度", "Residents' satisfaction",
        "ratings given in the period to the target's cases: satisfied 1, fairly satisfied 0.5, "
        "not satisfied 0, summed ÷ ratings",
    ),
}  # fmt: skip


def _owner(target_kind: str) -> Any:
    return Task.assigned_worker_id if target_kind == "worker" else Task.area_id


def _cases(target_kind: str, area: Area | None) -> list[Any]:
    where = [Task.kind == "case", _owner(target_kind).is_not(None)]
    if area is not None:
        where.append(in_area(Task.area_id, area))
    return where


def _settled(target_kind: str, period: Period) -> list[Any]:
    return [
        Task.settled_at.is_not(None),
        in_period(Task.settled_at, period),
        Task.status != "cancelled",
        Task.level.in_(OWN_LEVELS[target_kind]),
    ]


def _on_time() -> Any:
    return or_(Task.level_due_at.is_(None), Task.settled_at <= Task.level_due_at)


def _received(target_kind: str, period: Period) -> list[Any]:
    starts_here = or_(
        Task.category_id.is_(None),
        and_(
            CaseCategory.start_level.in_(OWN_LEVELS[target_kind]),
            CaseCategory.to_street_at_once.is_(False),
        ),
    )
    return [in_period(Task.created_at, period), Task.status != "cancelled", starts_here]


def _escalated(target_kind: str) -> Any:
    if target_kind == "worker":
        return Task.escalations > 0
    return Task.level.in_(("street", "district"))


def _needing(target_kind: str, period: Period) -> list[Any]:
    return [Task.needs_verification.is_(True), *_settled(target_kind, period)]


def _rated(period: Period) -> list[Any]:
    return [Task.rating.in_(tuple(RATING_POINTS)), in_period(Task.rated_at, period)]


def _grouped(target_kind: str, area: Area, where: list[Any], *sums: Any) -> dict[int, list[int]]:
    owner = _owner(target_kind)
    stmt = (
        select(owner, func.count(), *(func.sum(case((s, 1), else_=0)) for s in sums))
        .select_from(Task.__table__.outerjoin(CaseCategory, CaseCategory.id == Task.category_id))
        .where(*_cases(target_kind, area), *where)
        .group_by(owner)
    )
    return {r[0]: [int(x or 0) for x in r[1:]] for r in db.session.execute(stmt)}


def cases_on_time(
    target_kind: str, targets: list[Target], area: Area, period: Period, params: dict
) -> dict[int, Figure]:
    rows = _grouped(target_kind, area, _settled(target_kind, period), _on_time())
    out = {}
    for t in targets:
        n, ok = rows.get(t.id, (0, 0))
        out[t.id] = Figure(ok, n, n, {"settled": n, "on_time": ok, "late": n - ok})
    return out


def cases_escalated(
    target_kind: str, targets: list[Target], area: Area, period: Period, params: dict
) -> dict[int, Figure]:
    rows = _grouped(target_kind, area, _received(target_kind, period), _escalated(target_kind))
    out = {}
    for t in targets:
        n, up = rows.get(t.id, (0, 0))
        out[t.id] = Figure(up, n, n, {"received": n, "escalated": up})
    return out


def cases_verified(
    target_kind: str, targets: list[Target], area: Area, period: Period, params: dict
) -> dict[int, Figure]:
    rows = _grouped(target_kind, area, _needing(target_kind, period), Task.verified_at.is_not(None))
    out = {}
    for t in targets:
        n, ok = rows.get(t.id, (0, 0))
        out[t.id] = Figure(ok, n, n, {"needing_verification": n, "verified": ok})
    return out


def satisfaction(
    target_kind: str, targets: list[Target], area: Area, period: Period, params: dict
) -> dict[int, Figure]:
    rows = _grouped(target_kind, area, _rated(period), *(Task.rating == k for k in RATING_POINTS))
    out = {}
    for t in targets:
        n, *by = rows.get(t.id, (0, 0, 0, 0))
        points = sum(RATING_POINTS[k] * c for k, c in zip(RATING_POINTS, by, strict=True))
        out[t.id] = Figure(
            points, n, n,
            {"rated": n, "satisfied": by[0], "fairly": by[1], "unsatisfied": by[2]},
        )  # fmt: skip
    return out


COMPUTE = {
    "cases_on_time": cases_on_time,
    "cases_escalated": cases_escalated,
    "cases_verified": cases_verified,
    "satisfaction": satisfaction,
}


def records(metric: str, target_kind: str, target_id: int, period: Period) -> Select:
    """The cases behind the figure: id, kind ``case``, the moment that put it in the figure
    (settled, received or rated), the cell, whether it counts in the numerator, and its
    category, status and level (no reporter, no text)."""
    if metric == "cases_on_time":
        at, where, counted = Task.settled_at, _settled(target_kind, period), _on_time()
    elif metric == "cases_escalated":
        at, where = Task.created_at, _received(target_kind, period)
        counted = _escalated(target_kind)
    elif metric == "cases_verified":
        at, where = Task.settled_at, _needing(target_kind, period)
        counted = Task.verified_at.is_not(None)
    elif metric == "satisfaction":
        at, where, counted = Task.rated_at, _rated(period), Task.rating == 1
    else:
        raise KeyError(metric)
    label = func.coalesce(CaseCategory.code, literal("uncategorised"))
    description = (
        label + literal(" ") + Task.status + literal(" ") + func.coalesce(Task.level, literal("-"))
    )
    if metric == "satisfaction":
        description = (
            description
            + literal(" rating ")
            + func.coalesce(cast(Task.rating, String), literal("-"))
        )
    return (
        select(
            Task.id.label("id"),
            literal("case").label("kind"),
            at.label("at"),
            local_text(at, period).label("local"),
            func.coalesce(Task.cell_code, "").label("ref"),
            case((counted, True), else_=False).label("counted"),
            description.label("description"),
        )
        .select_from(Task.__table__.outerjoin(CaseCategory, CaseCategory.id == Task.category_id))
        .where(*_cases(target_kind, None), _owner(target_kind) == target_id, *where)
        .order_by(at, Task.id)
    )
