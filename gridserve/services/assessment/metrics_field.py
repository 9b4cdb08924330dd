"""Computed indicators over field work, for workers and stations: patrol coverage, visits,
register completeness and flagged uploads (definitions in :data:`INFO`; the cases' indicators
are :mod:`metrics_cases`).

Each figure is computed for every target of the run at once: one aggregate statement per
indicator (grouped by worker or by community) plus the period's assignments, read once and
clipped in Python (:func:`metrics_base.holdings`: a few thousand rows, not the visits).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import Integer, String, and_, case, cast, func, literal, or_, select, true
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.sql import Select

from gridserve.extensions import db
from gridserve.models import Area, Assignment, GridCell, Household, Place, Visit
from gridserve.scope import in_area
from gridserve.services.assessment.metrics_base import (
    DAY_S,
    WINDOW_S,
    Figure,
    MetricInfo,
    Period,
    Target,
    day_number,
    dialect,
    holdings,
    in_period,
    last_cells,
    local_seconds,
    local_text,
    number_of,
)
from gridserve.services.field.reports import WINDOWS

VISIT_KINDS = ("household_visit", "sme_visit")
# The flags of :func:`gridserve.services.field.visits.record_flags` that make an upload doubtful
# for the assessment (a mock location, a point outside the worker's cells); low accuracy, no
# location and clock skew are the terminal's, not the worker's, doing.
MOCK, OUTSIDE = "mock_location", "outside_assigned_cell"
BOTH = ("worker", "station")
# The SQL reads a patrol window as a local quarter-day (slots 1, 2, 3 of 0..3): the patrol
# report's windows must be exactly those, or the figures here would disagree with the report.
if [(lo, hi) for _, lo, hi in WINDOWS] != [(6, 12), (12, 18), (18, 24)]:  # pragma: no cover
    raise RuntimeError("patrol windows are no longer the quarter-days 06-12-18-24")

INFO: dict[str, MetricInfo] = {
    "patrol_coverage": MetricInfo(
        BOTH, "巡逻覆盖率", "Patrol coverage",
        "(cell, local day) pairs held in the period whose three patrol windows (06–12, 12–18, "
        "18–24 local) each have a patrol by the cell's holder in that cell ÷ (cell, day) pairs "
        "held (station: every pair of the community's cells, whoever held it)",
    ),
    "visits": MetricInfo(
        BOTH, "入户走访", "Visits",
        "household and SME visits in the period (worker: theirs; station: in the community) ÷ "
        "cell-months held (each day a cell is held counts 1 ÷ the days of its month, so a "
        "whole month is one cell-month); the indicator's target is visits per cell-month",
    ),
    "register_completeness": MetricInfo(
        BOTH, "基础信息完整率", "Register completeness",
        "household places of the cells held at the period's end (or last held in it; station: "
        "of the community) whose household has a door number, at least one member and every "
        "member's work unit ÷ household places; the register as it stands when computed",
    ),
    "flagged_uploads": MetricInfo(
        BOTH, "异常上报率", "Flagged uploads",
        "uploads (visit records of any kind) in the period flagged mock location or outside "
        "the worker's cells ÷ uploads (worker: theirs; station: the community's); scored "
        "inverted",
    ),
}  # fmt: skip


# Up to this many targets, the visits are read for them alone (an index range per worker or
# community); more, and every visit of the period is read once and grouped (one scan: a filter
# on 5,000,000 rows costs more than the groups it saves, and the figures are kept only for
# the targets).
FEW_TARGETS = 500


def _visit_owner(target_kind: str, targets: list[Target]) -> tuple[Any, Any]:
    """The column a visit belongs to a target by, and the filter to the run's targets."""
    owner = Visit.worker_id if target_kind == "worker" else Visit.community_id
    if len(targets) <= FEW_TARGETS:
        return owner, owner.in_([t.id for t in targets])
    return owner, true()


def _by_target(target_kind: str, spans: list[Any]) -> dict[int, list[Any]]:
    out: dict[int, list[Any]] = defaultdict(list)
    for s in spans:
        out[s.worker_id if target_kind == "worker" else s.community_id].append(s)
    return out


# --- patrol coverage ------------------------------------------------------------------------


def _patrol_slots(period: Period, where: Any) -> Any:
    """Patrols in the period as (worker, cell, local day, window 0..3): the local quarter-day
    ``slot`` is computed once per patrol (``OFFSET 0`` keeps PostgreSQL from inlining the
    expression into every place that reads it), then split into day and window."""
    slots = (
        select(
            Visit.worker_id.label("worker_id"),
            Visit.cell_code.label("cell_code"),
            (local_seconds(Visit.started_at, period) // WINDOW_S).label("slot"),
        )
        .where(
            Visit.kind == "patrol",
            in_period(Visit.started_at, period),
            Visit.cell_code.is_not(None),
            where,
        )
        .offset(0)
        .subquery("patrols")
    )
    per_day = DAY_S // WINDOW_S
    return select(
        slots.c.worker_id,
        slots.c.cell_code,
        (slots.c.slot // per_day).label("day"),
        (slots.c.slot % per_day).label("win"),
    ).subquery("slots")


def _all_windows(win: Any) -> Any:
    """The group saw windows 1, 2 and 3 (a hash aggregate; COUNT(DISTINCT) would sort): on
    PostgreSQL one BIT_OR of the windows' bits, one aggregate per patrol; elsewhere one MAX
    per window."""
    if dialect() == "postgresql":
        return func.bit_or(literal(1, Integer).op("<<")(cast(win, Integer))) == 0b1110
    return sum(func.max(case((win == w, 1), else_=0)) for w in range(1, 4)) == 3


def patrol_coverage(
    target_kind: str, targets: list[Target], area: Area, period: Period, params: dict
) -> dict[int, Figure]:
    held: dict[int, int] = defaultdict(int)
    for owner, spans in _by_target(target_kind, holdings(area, period)).items():
        held[owner] = sum(s.days for s in spans)
    where = _visit_owner("worker", targets)[1] if target_kind == "worker" else true()
    p = _patrol_slots(period, where)
    full = (
        select(p.c.worker_id, p.c.cell_code, p.c.day)
        .where(p.c.win >= 1, p.c.day <= number_of(period.last_day))
        .group_by(p.c.worker_id, p.c.cell_code, p.c.day)
        .having(_all_windows(p.c.win))
        .subquery("full_days")
    )
    owner = Assignment.worker_id if target_kind == "worker" else Assignment.community_id
    stmt = (
        select(owner, func.count())
        .select_from(
            full.join(
                Assignment,
                and_(
                    Assignment.worker_id == full.c.worker_id,
                    Assignment.cell_code == full.c.cell_code,
                ),
            )
        )
        .where(
            in_area(Assignment.community_id, area),
            day_number(Assignment.starts_on) <= full.c.day,
            or_(Assignment.ends_on.is_(None), day_number(Assignment.ends_on) > full.c.day),
        )
        .group_by(owner)
    )
    covered = dict(db.session.execute(stmt).all())
    out = {}
    for t in targets:
        n = held.get(t.id, 0)
        c = min(int(covered.get(t.id, 0)), n)
        out[t.id] = Figure(c, n, n, {"pairs_held": n, "pairs_covered": c})
    return out


# --- visits ---------------------------------------------------------------------------------


def visits(
    target_kind: str, targets: list[Target], area: Area, period: Period, params: dict
) -> dict[int, Figure]:
    by_owner = _by_target(target_kind, holdings(area, period))
    owner, where = _visit_owner(target_kind, targets)
    stmt = (
        select(
            owner,
            *(func.sum(case((Visit.kind == k, 1), else_=0)) for k in VISIT_KINDS),
        )
        .where(Visit.kind.in_(VISIT_KINDS), in_period(Visit.started_at, period), where)
        .group_by(owner)
    )
    counts = {r[0]: (int(r[1] or 0), int(r[2] or 0)) for r in db.session.execute(stmt)}
    out = {}
    for t in targets:
        spans = by_owner.get(t.id, [])
        months = sum(s.cell_months() for s in spans)
        days = sum(s.days for s in spans)
        household, sme = counts.get(t.id, (0, 0))
        out[t.id] = Figure(
            household + sme, months, days,
            {"household_visits": household, "sme_visits": sme,
             "cell_months": round(months, 4), "cell_days": days},
        )  # fmt: skip
    return out


# --- register completeness ------------------------------------------------------------------


def _complete() -> Any:
    return and_(
        Household.id.is_not(None),
        func.trim(Household.door_number) != "",
        Household.member_count >= 1,
        Household.work_units_complete.is_(True),
    )


def register_completeness(
    target_kind: str, targets: list[Target], area: Area, period: Period, params: dict
) -> dict[int, Figure]:
    if target_kind == "worker":
        key = GridCell.code
        where = in_area(GridCell.community_id, area)
        source = Place.__table__.join(GridCell, GridCell.id == Place.cell_id)
    else:
        key, where, source = Place.area_id, in_area(Place.area_id, area), Place.__table__
    stmt = (
        select(
            key,
            func.count(Place.id),
            func.sum(case((_complete(), 1), else_=0)),
            func.sum(case((Household.id.is_(None), 1), else_=0)),
        )
        .select_from(source.outerjoin(Household, Household.place_id == Place.id))
        .where(Place.type == "household", where)
        .group_by(key)
    )
    per_key = {r[0]: (int(r[1]), int(r[2] or 0), int(r[3] or 0)) for r in db.session.execute(stmt)}
    cells = last_cells(holdings(area, period)) if target_kind == "worker" else {}
    out = {}
    for t in targets:
        keys = cells.get(t.id, []) if target_kind == "worker" else [t.id]
        places = sum(per_key.get(k, (0, 0, 0))[0] for k in keys)
        complete = sum(per_key.get(k, (0, 0, 0))[1] for k in keys)
        missing = sum(per_key.get(k, (0, 0, 0))[2] for k in keys)
        details = {"places": places, "complete": complete, "no_household": missing}
        if target_kind == "worker":
            details["cells"] = keys
        out[t.id] = Figure(complete, places, places, details)
    return out


# --- flagged uploads ------------------------------------------------------------------------


def _flags() -> tuple[Any, Any]:
    """(mock location, outside the cells) of an upload: on PostgreSQL JSONB containment after
    the cheap test that there is any flag at all (most uploads have none; CASE stops there),
    on SQLite the flag's quoted name in the JSON text."""
    if dialect() == "postgresql":
        none = func.jsonb_array_length(Visit.flags) == 0

        def has(flag: str) -> Any:
            return case(
                (none, False), else_=Visit.flags.op("@>")(cast(literal(f'["{flag}"]'), JSONB))
            )
    else:

        def has(flag: str) -> Any:
            return cast(Visit.flags, String).like(f'%"{flag}"%')

    return or_(Visit.mock_location.is_(True), has(MOCK)), has(OUTSIDE)


def flagged_uploads(
    target_kind: str, targets: list[Target], area: Area, period: Period, params: dict
) -> dict[int, Figure]:
    owner, where = _visit_owner(target_kind, targets)
    mock, outside = _flags()
    # One grouped scan, the flags tested in each sum (cheap: most uploads have none, and the
    # test stops there); no fenced subquery, so PostgreSQL may scan in parallel.
    stmt = (
        select(
            owner,
            func.count(),
            func.sum(case((or_(mock, outside), 1), else_=0)),
            func.sum(case((mock, 1), else_=0)),
            func.sum(case((outside, 1), else_=0)),
        )
        .where(in_period(Visit.started_at, period), where)
        .group_by(owner)
    )
    rows = {r[0]: [int(x or 0) for x in r[1:]] for r in db.session.execute(stmt)}
    out = {}
    for t in targets:
        n, flagged, m, o = rows.get(t.id, (0, 0, 0, 0))
        out[t.id] = Figure(
            flagged, n, n, {"uploads": n, "flagged": flagged, "mock_location": m, "outside_cell": o}
        )
    return out


COMPUTE = {
    "patrol_coverage": patrol_coverage,
    "visits": visits,
    "register_completeness": register_completeness,
    "flagged_uploads": flagged_uploads,
}


# --- the records behind a figure ------------------------------------------------------------


def _window_name(secs: Any) -> Any:
    hour = (secs % DAY_S) // 3600
    return case(
        *((and_(hour >= lo, hour < hi), literal(name)) for name, lo, hi in WINDOWS),
        else_=literal("night"),
    )


def _visit_records(period: Period, where: Any, counted: Any, description: Any) -> Select:
    return (
        select(
            Visit.id.label("id"),
            Visit.kind.label("kind"),
            Visit.started_at.label("at"),
            local_text(Visit.started_at, period).label("local"),
            func.coalesce(Visit.cell_code, "").label("ref"),
            case((counted, True), else_=False).label("counted"),
            description.label("description"),
        )
        .where(in_period(Visit.started_at, period), where)
        .order_by(Visit.started_at, Visit.id)
    )


def records(metric: str, target_kind: str, target_id: int, period: Period) -> Select:
    mine = (
        Visit.worker_id == target_id
        if target_kind == "worker"
        else (Visit.community_id == target_id)
    )
    if metric == "patrol_coverage":
        secs = local_seconds(Visit.started_at, period)
        window = _window_name(secs)
        return _visit_records(
            period,
            and_(mine, Visit.kind == "patrol"),
            window != "night",
            literal("patrol ") + func.coalesce(Visit.cell_code, "-") + literal(" ") + window,
        )
    if metric == "visits":
        return _visit_records(
            period,
            and_(mine, Visit.kind.in_(VISIT_KINDS)),
            true(),
            Visit.kind + literal(" ") + func.coalesce(Visit.cell_code, "-"),
        )
    if metric == "flagged_uploads":
        mock, outside = _flags()
        return _visit_records(
            period,
            mine,
            or_(mock, outside),
            Visit.kind + literal(" flags: ") + cast(Visit.flags, String),
        )
    if metric == "register_completeness":
        return _register_records(target_kind, target_id, period)
    raise KeyError(metric)


def _register_records(target_kind: str, target_id: int, period: Period) -> Select:
    complete = _complete()
    if target_kind == "worker":
        spans = holdings(None, period, Assignment.worker_id == target_id)
        where = GridCell.code.in_(last_cells(spans).get(target_id, []))
    else:
        where = Place.area_id == target_id
    missing = case(
        (Household.id.is_(None), literal("no household")),
        (func.trim(Household.door_number) == "", literal("no door number")),
        (Household.member_count < 1, literal("no members")),
        (Household.work_units_complete.is_(False), literal("work units missing")),
        else_=literal("complete"),
    )
    return (
        select(
            Place.id.label("id"),
            literal("household_place").label("kind"),
            Household.updated_at.label("at"),
            func.coalesce(local_text(Household.updated_at, period), "").label("local"),
            func.coalesce(GridCell.code, "").label("ref"),
            case((complete, True), else_=False).label("counted"),
            missing.label("description"),
        )
        .select_from(
            Place.__table__.outerjoin(GridCell, GridCell.id == Place.cell_id).outerjoin(
                Household, Household.place_id == Place.id
            )
        )
        .where(Place.type == "household", where)
        .order_by(Place.id)
    )
