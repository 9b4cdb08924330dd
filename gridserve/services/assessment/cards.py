"""Scorecards: read with their evidence and rankings, entered, deducted.

Reading (:func:`list_cards`, :func:`get_card`) goes through the ``"scorecard"`` scope: a
worker sees only their own published cards, a contact only its institution's published cards,
area users the cards of their subtree. ``mine`` narrows any list to the caller's own published
cards (a worker's, a contact's institution's). A card shows every line's raw figures, value,
points, cap, rated or not (and why), the metric's formula, the period and where its records
are listed (:func:`records`).

Rankings (station and above; computed at read): a card's rank by total among the rated cards
of its run in its community, its street and the whole run; each line's rank by points among
the cards of the run whose line is rated (a line not rated is left out of that ranking).

Entering (:func:`enter`) and deducting (:func:`deduct`): by the template's assessor role or
above (:func:`check_may_enter`, called by the API before any input is read), never on a
published run (409 ``run_published``); the card's total, grade and disqualification are
rescored at once; audited.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import aliased

from gridserve import audit
from gridserve.db import backend_name, utcnow
from gridserve.errors import Conflict, NotFound, ValidationFailed
from gridserve.extensions import db
from gridserve.models import (
    Area,
    AssessmentRun,
    Scorecard,
    ScorecardDeduction,
    ScorecardLine,
    Worker,
)
from gridserve.scope import Principal, get_visible, visible
from gridserve.services.assessment import engine, metrics, scoring
from gridserve.services.assessment.engine import NOT_RATED
from gridserve.services.assessment.runs import require_assessor, run_of_card
from gridserve.services.assessment.templates import INDICATOR_FIELDS
from gridserve.versioning import refuse_stale, update_versioned

STALE = "The scorecard changed since you read it."
# Who sees rankings: the station and above (not a worker, not an institution's contact).
RANK_READERS = ("admin", "station", "street_centre", "district_centre", "coordinator")
SORTS = ("rank", "-rank", "target_name", "-target_name", "id")


def _sees_ranks(principal: Principal) -> bool:
    return principal.role in RANK_READERS


def _mine(principal: Principal):
    published = Scorecard.run_id.in_(
        select(AssessmentRun.id).where(AssessmentRun.status == "published")
    )
    if principal.institution_id is not None:
        own = (Scorecard.target_kind == "institution") & (
            Scorecard.target_id == principal.institution_id
        )
    else:
        own = (Scorecard.target_kind == "worker") & Scorecard.target_id.in_(
            select(Worker.id).where(Worker.user_id == principal.user_id)
        )
    return own & published


def list_cards(
    principal: Principal,
    *,
    run_id: int | None = None,
    mine: bool = False,
    grade: str | None = None,
    community: int | None = None,
    target_kind: str | None = None,
    period: str | None = None,
    sort: str | None = None,
) -> Select:
    """Cards in scope, filtered; ``sort``: ``rank`` (total, best first; not graded last),
    ``target_name``, ``id`` (``-`` reverses)."""
    stmt = visible(Scorecard, principal)
    if run_id is not None:
        _run_in_view(principal, run_id)
        stmt = stmt.where(Scorecard.run_id == run_id)
    if mine:
        stmt = stmt.where(_mine(principal))
    if grade == "none":
        stmt = stmt.where(Scorecard.grade.is_(None))
    elif grade:
        stmt = stmt.where(Scorecard.grade == grade)
    if community is not None:
        stmt = stmt.where(Scorecard.area_id == community)
    if target_kind:
        stmt = stmt.where(Scorecard.target_kind == target_kind)
    if period:
        stmt = stmt.where(
            Scorecard.run_id.in_(select(AssessmentRun.id).where(AssessmentRun.period == period))
        )
    sort = sort or ("rank" if run_id is not None else "-id")
    if sort.lstrip("-") not in {"rank", "target_name", "id"}:
        raise ValidationFailed(
            f"Cannot sort by {sort!r}.",
            details={"fields": {"sort": ["One of rank, target_name, id (- reverses)."]}},
        )
    key = sort.lstrip("-")
    down = sort.startswith("-")
    if key == "rank":
        best = Scorecard.total.asc() if down else Scorecard.total.desc()
        return stmt.order_by(Scorecard.total.is_(None), best, Scorecard.target_name, Scorecard.id)
    column = Scorecard.target_name if key == "target_name" else Scorecard.id
    return stmt.order_by(column.desc() if down else column.asc(), Scorecard.id)


def _run_in_view(principal: Principal, run_id: int) -> None:
    """404 unless the caller sees the run or some card of it (a station sees its workers'
    cards of a street's run)."""
    if db.session.execute(
        visible(AssessmentRun, principal).where(AssessmentRun.id == run_id)
    ).first():
        return
    if db.session.execute(
        visible(Scorecard, principal).where(Scorecard.run_id == run_id).limit(1)
    ).first():
        return
    raise NotFound(f"No assessment run {run_id}.")


def _card_ranks(card_ids: list[int]) -> dict[int, dict[str, int]]:
    """Each card's rank by total in its community, its street and its run (rated cards)."""
    if not card_ids:
        return {}
    runs = select(Scorecard.run_id).where(Scorecard.id.in_(card_ids)).distinct()
    community = aliased(Area)
    best = Scorecard.total.desc()
    ranked = (
        select(
            Scorecard.id.label("id"),
            func.rank()
            .over(partition_by=(Scorecard.run_id, Scorecard.area_id), order_by=best)
            .label("community"),
            func.rank()
            .over(partition_by=(Scorecard.run_id, community.parent_id), order_by=best)
            .label("street"),
            func.rank().over(partition_by=Scorecard.run_id, order_by=best).label("run"),
        )
        .outerjoin(community, community.id == Scorecard.area_id)
        .where(Scorecard.run_id.in_(runs), Scorecard.total.is_not(None))
        .subquery()
    )
    return {
        row.id: {"community": row.community, "street": row.street, "run": row.run}
        for row in db.session.execute(select(ranked).where(ranked.c.id.in_(card_ids))).all()
    }


def _for_kind(card: Scorecard, ranks: dict[str, int] | None) -> dict[str, int | None] | None:
    """Institutions are ranked in the run only (they are not in a community or street)."""
    if ranks is None or card.target_kind != "institution":
        return ranks
    return {"community": None, "street": None, "run": ranks["run"]}


def present_cards(principal: Principal, cards: list[Scorecard]) -> list[Scorecard]:
    """Cards ready for their schema: ``grade_name``, the run's period and status, and (station
    and above) ``ranks``."""
    ids = [c.id for c in cards]
    ranks = _card_ranks(ids) if _sees_ranks(principal) else {}
    run_ids = {c.run_id for c in cards}
    runs = (
        {
            r.id: r
            for r in db.session.execute(
                select(AssessmentRun).where(AssessmentRun.id.in_(run_ids))
            ).scalars()
        }
        if run_ids
        else {}
    )
    for card in cards:
        run = runs.get(card.run_id)
        card.grade_name = scoring.grade_name(card.grade)  # type: ignore[attr-defined]
        card.ranks = _for_kind(card, ranks.get(card.id)) if _sees_ranks(principal) else None  # type: ignore[attr-defined]
        card.period = run.period if run else ""  # type: ignore[attr-defined]
        card.run_status = run.status if run else ""  # type: ignore[attr-defined]
    return cards


def _line_ranks(card: Scorecard) -> dict[str, dict[str, int]]:
    """Each line's rank by points among the run's rated lines of its code (community, street,
    run)."""
    community = aliased(Area)
    best = ScorecardLine.score.desc()
    parts = (ScorecardLine.code,)
    ranked = (
        select(
            ScorecardLine.scorecard_id.label("card"),
            ScorecardLine.code.label("code"),
            func.rank()
            .over(partition_by=(*parts, Scorecard.area_id), order_by=best)
            .label("community"),
            func.rank()
            .over(partition_by=(*parts, community.parent_id), order_by=best)
            .label("street"),
            func.rank().over(partition_by=parts, order_by=best).label("run"),
        )
        .join(Scorecard, Scorecard.id == ScorecardLine.scorecard_id)
        .outerjoin(community, community.id == Scorecard.area_id)
        .where(Scorecard.run_id == card.run_id, ScorecardLine.rated.is_(True))
        .subquery()
    )
    return {
        row.code: {"community": row.community, "street": row.street, "run": row.run}
        for row in db.session.execute(select(ranked).where(ranked.c.card == card.id)).all()
    }


def _detail(principal: Principal, card: Scorecard) -> Scorecard:
    run = run_of_card(card)
    snap = run.template_snapshot or {}
    present_cards(principal, [card])
    lines = {
        ln.code: ln
        for ln in db.session.execute(
            select(ScorecardLine).where(ScorecardLine.scorecard_id == card.id)
        ).scalars()
    }
    line_ranks = _line_ranks(card) if _sees_ranks(principal) else {}
    shown = []
    for indicator in snap.get("indicators", []):
        line = lines.get(indicator["code"])
        if line is None:
            continue
        why = (line.raw or {}).get("not_rated")
        computed = indicator["source"] == "computed"
        shown.append(
            {
                **{k: indicator.get(k) for k in INDICATOR_FIELDS if k != "description"},
                "metric_name": indicator.get("metric_name", ""),
                "formula": indicator.get("formula", ""),
                "rule": rule_text(indicator),
                "max_points": scoring.round2(
                    float(indicator.get("cap") or 1) * indicator["weight"]
                ),
                "raw": line.raw,
                "value": line.value,
                "points": line.score,
                "capped": line.capped,
                "rated": line.rated,
                "not_rated_reason": None if line.rated else why,
                "not_rated_text": None if line.rated else NOT_RATED.get(why or "", why),
                "entered_value": line.entered_value,
                "evidence": line.evidence,
                "entered_by": line.entered_by,
                "entered_at": line.entered_at,
                "records_url": f"/api/v1/assessments/scorecards/{card.id}/indicators/"
                f"{indicator['code']}/records"
                if computed
                else None,
                "ranks": _for_kind(card, line_ranks.get(indicator["code"])),
            }
        )
    kinds = {k["code"]: k for k in snap.get("deductions", [])}
    card.lines = shown  # type: ignore[attr-defined]
    card.deduction_list = [  # type: ignore[attr-defined]
        {
            "id": d.id,
            "code": d.code,
            "name": kinds.get(d.code, {}).get("name", d.code),
            "points": d.points,
            "reason": d.reason,
            "evidence": d.evidence,
            "created_by": d.created_by,
            "created_at": d.created_at,
        }
        for d in db.session.execute(
            select(ScorecardDeduction)
            .where(ScorecardDeduction.scorecard_id == card.id)
            .order_by(ScorecardDeduction.id)
        ).scalars()
    ]
    card.run = run  # type: ignore[attr-defined]
    card.period_start, card.period_end = run.period_start, run.period_end  # type: ignore[attr-defined]
    card.template = {
        "code": snap.get("code"),
        "name": snap.get("name"),  # type: ignore[attr-defined]
        "bands": snap.get("bands"),
        "assessor_role": snap.get("assessor_role"),
        "disqualify_after": snap.get("disqualify_after"),
    }
    return card


def rule_text(indicator: dict[str, Any]) -> str:
    """How the indicator's points are worked out, in plain words."""
    weight, cap = indicator["weight"], float(indicator.get("cap") or 1)
    capped = f"; at most {cap:g} × {weight}" if cap != 1 else f"; at most {weight}"
    how = indicator["scoring"]
    if how == "share":
        share = "(1 − share)" if indicator.get("invert") else "share"
        return f"{share} × {weight}{capped}"
    if how == "target":
        return f"(achieved ÷ {indicator.get('target'):g} per unit) × {weight}{capped}"
    if how == "relative":
        factor = float(indicator.get("factor") or 1)
        return f"(own ratio ÷ all targets' ratio) × {weight} × {factor:g}{capped}"
    return f"entered ÷ {float(indicator.get('scale') or 100):g} × {weight}{capped}"


def get_card(principal: Principal, card_id: int) -> Scorecard:
    return _detail(principal, get_visible(Scorecard, card_id, principal))


def records(principal: Principal, card_id: int, code: str) -> Select:
    """The records behind one computed line of a card (a SELECT of id, kind, description)."""
    card = get_visible(Scorecard, card_id, principal)
    run = run_of_card(card)
    indicator = next(
        (i for i in (run.template_snapshot or {}).get("indicators", []) if i["code"] == code),
        None,
    )
    if indicator is None or indicator["source"] != "computed":
        raise NotFound(f"No computed indicator {code} on scorecard {card_id}.")
    return metrics.records(
        indicator["metric"], card.target_kind, card.target_id, engine.period_of(run)
    )


# --- entering -------------------------------------------------------------------------------


def check_may_enter(principal: Principal, card_id: int) -> Scorecard:
    """404 out of scope, 403 unless the caller acts for the card's template."""
    card = get_visible(Scorecard, card_id, principal)
    require_assessor(principal, run_of_card(card))
    return card


def _open_run(card: Scorecard) -> AssessmentRun:
    """The card's run, locked against a publish in flight; 409 unless it is computed."""
    stmt = select(AssessmentRun).where(AssessmentRun.id == card.run_id)
    if backend_name() == "postgresql":
        stmt = stmt.with_for_update(read=True)
    run = db.session.execute(stmt).scalar_one()
    db.session.refresh(run)
    if run.status == "published":
        raise Conflict("The run is published: its cards are frozen.", code="run_published")
    newer = db.session.execute(
        select(AssessmentRun.id).where(AssessmentRun.supersedes_id == run.id)
    ).scalar()
    if newer is not None:
        raise Conflict(
            f"Run version {run.version} is superseded by a correction; enter on that one.",
            code="run_superseded",
            details={"superseded_by": newer},
        )
    if run.status != "computed":
        raise Conflict(
            f"The run is {run.status}.", code="run_not_computed", details={"status": run.status}
        )
    return run


def _write_card(card: Scorecard, run: AssessmentRun, expected: int | None) -> None:
    """Rescore the card and store it, bumping its version (based on ``expected``)."""
    totals = engine.rescore(card, run.template_snapshot)
    before = card.version
    new = update_versioned(
        Scorecard, expected, Scorecard.id == card.id, **totals, computed_at=utcnow()
    )
    db.session.expire(card)
    if new is None:
        refuse_stale(STALE, expected=expected, current=before)


def _evidence(given: dict[str, Any] | None) -> dict[str, Any] | None:
    """Evidence as stored (JSON): the note and the attachments' ids as text."""
    if given is None:
        return None
    return {"note": given["note"], "attachments": [str(a) for a in given.get("attachments") or []]}


def enter(principal: Principal, card_id: int, code: str, data: dict[str, Any]) -> Scorecard:
    """Enter (or change) an entered indicator's value with its evidence (see the module)."""
    card = check_may_enter(principal, card_id)
    run = _open_run(card)
    indicator = next((i for i in run.template_snapshot["indicators"] if i["code"] == code), None)
    if indicator is None:
        raise NotFound(f"No indicator {code} on scorecard {card_id}.")
    if indicator["source"] != "entered":
        raise ValidationFailed(
            f"{code} is computed from the records; it is not entered.",
            code="indicator_computed",
            details={"fields": {"code": ["A computed indicator."]}},
        )
    scale = float(indicator.get("scale") or 100)
    value = float(data["value"])
    if not 0 <= value <= scale:
        raise ValidationFailed(
            f"The value is between 0 and {scale:g}.",
            details={"fields": {"value": [f"0 to {scale:g}."]}},
        )
    if data["version"] != card.version:
        refuse_stale(STALE, expected=data["version"], current=card.version)
    line = db.session.execute(
        select(ScorecardLine).where(
            ScorecardLine.scorecard_id == card.id, ScorecardLine.code == code
        )
    ).scalar_one()
    before = line.entered_value
    line.entered_value = value
    line.evidence = _evidence(data["evidence"])
    line.entered_by = principal.user_id or None
    line.entered_at = utcnow()
    _write_card(card, run, data["version"])
    audit.record(
        "assessment_entry",
        "assessment_scorecards",
        card.id,
        {"code": code, "value": [before, value], "evidence": line.evidence},
    )
    return _detail(principal, card)


def deduct(principal: Principal, card_id: int, data: dict[str, Any]) -> Scorecard:
    """Take points off a card for one of the template's deduction kinds, with the reason and
    evidence; the card is disqualified once their count reaches ``disqualify_after``."""
    card = check_may_enter(principal, card_id)
    run = _open_run(card)
    kinds = {k["code"]: k for k in run.template_snapshot.get("deductions", [])}
    kind = kinds.get(data["code"])
    if kind is None:
        raise ValidationFailed(
            "Not a deduction kind of this template.",
            details={"fields": {"code": [f"One of {', '.join(sorted(kinds)) or 'none'}."]}},
        )
    db.session.add(
        ScorecardDeduction(
            scorecard_id=card.id,
            code=kind["code"],
            points=scoring.round2(kind["points"]),
            reason=data["reason"],
            evidence=_evidence(data.get("evidence")),
            created_by=principal.user_id or None,
            created_at=utcnow(),
        )
    )
    db.session.flush()
    _write_card(card, run, None)
    audit.record(
        "assessment_deduction",
        "assessment_scorecards",
        card.id,
        {"code": kind["code"], "points": kind["points"], "reason": data["reason"]},
    )
    return _detail(principal, card)
