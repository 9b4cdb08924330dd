"""Computed indicators over outreach, for institutions (banks): events held, reports on time,
listed enterprises visited, decisions on time (definitions in :data:`INFO`).

The programmes of a run: those whose dates overlap the period and whose area is the run's
area, below it or above it (a county programme covers its streets). The figures follow the
programme's own reports: an event is held once the ``outreach-held`` job or a report moved it
to ``held`` / ``reported`` (:mod:`gridserve.services.outreach.lifecycle`); the visit list, its
visits and the decisions are counted as in :mod:`gridserve.services.outreach.progress`
(``listed``: rows of the list; ``visited``: with at least one visit record — here, one in the
period; a decision is due on ``decision_due_on``, a local day), restricted to the period.
Due dates are local days (the period's zone): handed in on the due day is on time. A due day
not yet over counts only once handed in (a provisional period does not count what is not yet
late).

One aggregate statement per indicator, grouped by institution.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import String, and_, case, cast, exists, func, literal, or_, select
from sqlalchemy.sql import Select

from gridserve.db import utcnow
from gridserve.extensions import db
from gridserve.models import (
    Area,
    Institution,
    OutreachDeliverable,
    OutreachEnterprise,
    OutreachEvent,
    OutreachProgramme,
    OutreachVisit,
    programme_institutions,
)
from gridserve.scope import area_ancestor_ids, in_area
from gridserve.services.assessment.metrics_base import (
    Figure,
    MetricInfo,
    Period,
    Target,
    day_number,
    in_period,
    local_day,
    local_text,
)

BANK_KINDS = ("policy_bank", "commercial_bank", "credit_union", "village_bank")
HELD = ("held", "reported")
INST = ("institution",)

INFO: dict[str, MetricInfo] = {
    "events_held": MetricInfo(
        INST, "活动举办率", "Events held",
        "events of the period (start in it, ended by now, not drafts) that the institution "
        "leads (or hosts, where no lead) and that were held ÷ those planned (cancelled ones "
        "count as not held)",
    ),
    "reports_on_time": MetricInfo(
        INST, "报送及时率", "Reports on time",
        "deliverables the institution owns (site plans, event reports, visit lists and "
        "summaries, others) due in the period and handed in by the end of their due day ÷ "
        "those due (a due day not yet over counts once handed in)",
    ),
    "enterprises_visited": MetricInfo(
        INST, "名单企业走访率", "Listed enterprises visited",
        "listed enterprises the institution is responsible for (visit lists of the period's "
        "programmes) with at least one visit record in the period ÷ listed",
    ),
    "decisions_on_time": MetricInfo(
        INST, "授信决定及时率", "Decisions on time",
        "credit decisions on the institution's matched visits due in the period and made by "
        "the end of the due day ÷ decisions due (a due day not yet over counts once decided)",
    ),
}  # fmt: skip


def programmes(area: Area | None, period: Period) -> Any:
    """``SELECT id`` of the programmes of the period (and of the area, when given)."""
    where = [OutreachProgramme.start_date <= period.end, OutreachProgramme.end_date >= period.start]
    if area is not None:
        where.append(
            or_(
                in_area(OutreachProgramme.area_id, area),
                OutreachProgramme.area_id.in_(area_ancestor_ids(area)),
            )
        )
    return select(OutreachProgramme.id).where(*where)


def targets(area: Area, period: Period) -> list[Target]:
    """The banks taking part in the area's programmes of the period; all banks when none."""
    taking_part = select(programme_institutions.c.institution_id).where(
        programme_institutions.c.programme_id.in_(programmes(area, period))
    )
    banks = select(Institution.id, Institution.name).where(Institution.kind.in_(BANK_KINDS))
    rows = db.session.execute(banks.where(Institution.id.in_(taking_part))).all()
    if not rows:
        rows = db.session.execute(banks).all()
    return sorted((Target(r.id, r.name, area.id) for r in rows), key=lambda t: t.id)


# --- the four figures: (owner column, FROM, WHERE, numerator condition) -----------------------


def _events(area: Area | None, period: Period) -> tuple[Any, Any, list[Any], Any]:
    e = OutreachEvent
    where = [
        e.programme_id.in_(programmes(area, period)),
        in_period(e.starts_at, period),
        e.ends_at <= utcnow(),
        e.status != "draft",
    ]
    return func.coalesce(e.lead_id, e.host_id), e.__table__, where, e.status.in_(HELD)


def _due(due: Any, done_at: Any, period: Period) -> tuple[list[Any], Any]:
    """Due in the period and either over or done; on time: done by the end of the due day."""
    today = period.today()
    on_time = and_(done_at.is_not(None), local_day(done_at, period) <= day_number(due))
    where = [due >= period.start, due <= period.end, or_(due < today, done_at.is_not(None))]
    return where, on_time


def _reports(area: Area | None, period: Period) -> tuple[Any, Any, list[Any], Any]:
    d = OutreachDeliverable
    where, on_time = _due(d.due_on, d.submitted_at, period)
    where += [d.programme_id.in_(programmes(area, period)), d.owner_institution_id.is_not(None)]
    return d.owner_institution_id, d.__table__, where, on_time


def _visited(period: Period) -> Any:
    v = OutreachVisit
    return exists().where(v.enterprise_id == OutreachEnterprise.id, in_period(v.visited_at, period))


def _enterprises(area: Area | None, period: Period) -> tuple[Any, Any, list[Any], Any]:
    e = OutreachEnterprise
    where = [e.programme_id.in_(programmes(area, period))]
    return e.institution_id, e.__table__, where, _visited(period)


def _decisions(area: Area | None, period: Period) -> tuple[Any, Any, list[Any], Any]:
    v = OutreachVisit
    where, on_time = _due(v.decision_due_on, v.decided_at, period)
    where += [v.programme_id.in_(programmes(area, period)), v.decision_due_on.is_not(None)]
    return v.institution_id, v.__table__, where, on_time


PARTS = {
    "events_held": _events,
    "reports_on_time": _reports,
    "enterprises_visited": _enterprises,
    "decisions_on_time": _decisions,
}
LABELS = {
    "events_held": ("planned", "held"),
    "reports_on_time": ("due", "on_time"),
    "enterprises_visited": ("listed", "visited"),
    "decisions_on_time": ("due", "on_time"),
}


def compute(
    metric: str, targets: list[Target], area: Area, period: Period, params: dict
) -> dict[int, Figure]:
    owner, source, where, counted = PARTS[metric](area, period)
    stmt = (
        select(owner, func.count(), func.sum(case((counted, 1), else_=0)))
        .select_from(source)
        .where(*where)
        .group_by(owner)
    )
    rows = {r[0]: (int(r[1]), int(r[2] or 0)) for r in db.session.execute(stmt)}
    whole, part = LABELS[metric]
    out = {}
    for t in targets:
        n, ok = rows.get(t.id, (0, 0))
        out[t.id] = Figure(ok, n, n, {whole: n, part: ok})
    return out


def _compute(metric: str):
    def run(target_kind: str, targets: list[Target], area: Area, period: Period, params: dict):
        return compute(metric, targets, area, period, params)

    return run


COMPUTE = {metric: _compute(metric) for metric in PARTS}


def records(metric: str, target_kind: str, target_id: int, period: Period) -> Select:
    """The rows behind an institution's figure: events, deliverables, list rows or visits,
    with whether each counts in the numerator; no names of people."""
    owner, source, where, counted = PARTS[metric](None, period)
    if metric == "events_held":
        e = OutreachEvent
        cols = (e.id, literal("event"), e.starts_at, e.kind + literal(" ") + e.status)
        ref, order = literal(""), (e.starts_at, e.id)
    elif metric == "reports_on_time":
        d = OutreachDeliverable
        cols = (d.id, literal("deliverable"), d.submitted_at, d.kind + literal(" ") + d.title)
        ref, order = cast(d.due_on, String), (d.due_on, d.id)
    elif metric == "enterprises_visited":
        e = OutreachEnterprise
        cols = (e.id, literal("listed_enterprise"), e.updated_at, e.credit_code + literal(" ")
                + e.status)  # fmt: skip
        ref, order = cast(e.programme_id, String), (e.id,)
    elif metric == "decisions_on_time":
        v = OutreachVisit
        cols = (
            v.id,
            literal("decision"),
            v.decided_at,
            v.outcome + literal(" ") + func.coalesce(v.decision, literal("undecided")),
        )
        ref, order = cast(v.decision_due_on, String), (v.decision_due_on, v.id)  # fmt: skip
    else:
        raise KeyError(metric)
    ident, kind, at, description = cols
    return (
        select(
            ident.label("id"),
            kind.label("kind"),
            at.label("at"),
            func.coalesce(local_text(at, period), "").label("local"),
            ref.label("ref"),
            case((counted, True), else_=False).label("counted"),
            description.label("description"),
        )
        .select_from(source)
        .where(owner == target_id, *where)
        .order_by(*order)
    )
