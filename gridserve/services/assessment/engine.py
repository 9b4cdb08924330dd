"""Scoring a run in one pass, and rescoring one card after an entry or a deduction.

:func:`compute_run` (the ``assessment_run`` job) reads the run's template snapshot, asks the
metrics module for the targets, then for each computed indicator the figures of all targets
at once (:func:`metrics.compute`), scores every line with :mod:`.scoring`, and writes the
cards, their lines and deductions with three bulk inserts (no ORM round trip per card).

Entered values are never overwritten by a computation: the lines of the run itself (a
computation run again) and of the run it supersedes (a correction) that someone entered
(``entered_by`` set, or a value the operator entered while seeding) are carried over with
their evidence, and so are the deductions.

:func:`rescore` recomputes one card's entered lines, total, grade and disqualification
from its stored lines (computed lines keep their points: they do not depend on entries).
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from sqlalchemy import delete, select, update

from gridserve import audit
from gridserve.db import insert_rows, utcnow
from gridserve.errors import Conflict
from gridserve.extensions import db
from gridserve.models import (
    Area,
    AssessmentRun,
    Scorecard,
    ScorecardDeduction,
    ScorecardLine,
)
from gridserve.scope import Principal, get_visible
from gridserve.services.assessment import metrics, scoring
from gridserve.services.geography.areas import zone_of

Progress = Callable[[float, str], None]

# Why a line is not rated (``raw.not_rated``), as the card shows it.
NOT_RATED = {
    "too_little_data": "Fewer records than the indicator's minimum",
    "nothing_to_divide": "Nothing to measure in the period (no denominator)",
    "no_overall": "The run as a whole has no figure to compare with",
    "not_entered": "Not entered yet",
}


def rule_of(indicator: dict[str, Any]) -> scoring.Rule:
    """The scoring rule of one snapshot indicator."""
    return scoring.Rule(
        weight=int(indicator["weight"]),
        scoring=indicator["scoring"],
        cap=float(indicator.get("cap") or 1.0),
        invert=bool(indicator.get("invert")),
        target=indicator.get("target"),
        factor=float(indicator.get("factor") or 1.0),
        scale=float(indicator.get("scale") or 100.0),
        min_count=int(indicator.get("min_count") or 0),
    )


def period_of(run: AssessmentRun) -> metrics.Period:
    return metrics.Period(start=run.period_start, end=run.period_end, zone=zone_of(run.area_id))


def _why_not(rule: scoring.Rule, figure: metrics.Figure, overall: float | None) -> str:
    if figure.count < rule.min_count:
        return "too_little_data"
    if not figure.denominator:
        return "nothing_to_divide"
    return "no_overall"


def computed_line(
    indicator: dict[str, Any],
    figure: metrics.Figure,
    overall: float | None,
    rule: scoring.Rule | None = None,
) -> dict[str, Any]:
    """One computed line's columns (raw figures, value, score, capped, rated)."""
    rule = rule or rule_of(indicator)
    result = scoring.points(
        rule,
        numerator=figure.numerator,
        denominator=figure.denominator,
        count=figure.count,
        overall=overall,
    )
    raw: dict[str, Any] = {
        "numerator": figure.numerator,
        "denominator": figure.denominator,
        "count": figure.count,
        "details": figure.details,
    }
    if rule.scoring == "relative":
        raw["overall"] = overall
    if result is None:
        raw["not_rated"] = _why_not(rule, figure, overall)
    return {
        "code": indicator["code"],
        "raw": raw,
        "value": None if result is None else result.value,
        "score": None if result is None else result.score,
        "capped": bool(result and result.capped),
        "rated": result is not None,
    }


def entered_line(
    indicator: dict[str, Any], entry: dict[str, Any] | None, rule: scoring.Rule | None = None
) -> dict[str, Any]:
    """One entered line's columns, from the entry carried over (None: not entered yet)."""
    value = None if entry is None else entry["entered_value"]
    result = scoring.points(rule or rule_of(indicator), entered=value)
    raw: dict[str, Any] = {"entered": value, "scale": float(indicator.get("scale") or 100)}
    if result is None:
        raw["not_rated"] = "not_entered"
    return {
        "code": indicator["code"],
        "raw": raw,
        "value": None if result is None else result.value,
        "score": None if result is None else result.score,
        "capped": bool(result and result.capped),
        "rated": result is not None,
        "entered_value": value,
        "evidence": None if entry is None else entry["evidence"],
        "entered_by": None if entry is None else entry["entered_by"],
        "entered_at": None if entry is None else entry["entered_at"],
    }


def weights_of(snapshot: dict[str, Any]) -> dict[str, int]:
    return {i["code"]: int(i["weight"]) for i in snapshot["indicators"]}


def card_total(
    snapshot: dict[str, Any],
    lines: dict[str, Decimal | None],
    deductions: list[Decimal],
    weights: dict[str, int] | None = None,
) -> dict[str, Any]:
    """A card's total, grade, rated weight, deductions and disqualification."""
    weights = weights or weights_of(snapshot)
    result = scoring.total([(weights[c], s) for c, s in lines.items()], deductions)
    limit = snapshot.get("disqualify_after")
    return {
        "total": result.total,
        "grade": scoring.grade(result.total, snapshot.get("bands")),
        "rated_weight": result.rated_weight,
        "deducted": scoring.round2(result.deducted),
        "disqualified": bool(limit) and len(deductions) >= int(limit),
    }


# --- the run --------------------------------------------------------------------------------


def _entries(run_ids: list[int]) -> dict[tuple[int, str], dict[str, Any]]:
    """Entered values of these runs' cards by (target, code); the first run given wins."""
    found: dict[tuple[int, str], dict[str, Any]] = {}
    for run_id in run_ids:
        for row in db.session.execute(
            select(
                Scorecard.target_id,
                ScorecardLine.code,
                ScorecardLine.entered_value,
                ScorecardLine.evidence,
                ScorecardLine.entered_by,
                ScorecardLine.entered_at,
            )
            .join(Scorecard, Scorecard.id == ScorecardLine.scorecard_id)
            .where(
                Scorecard.run_id == run_id,
                ScorecardLine.entered_by.is_not(None) | ScorecardLine.entered_value.is_not(None),
            )
        ).mappings():
            found.setdefault((row["target_id"], row["code"]), dict(row))
    return found


def _deductions(run_id: int | None) -> dict[int, list[dict[str, Any]]]:
    """The deductions of a run's cards by target."""
    found: dict[int, list[dict[str, Any]]] = {}
    if run_id is None:
        return found
    for row in db.session.execute(
        select(
            Scorecard.target_id,
            ScorecardDeduction.code,
            ScorecardDeduction.points,
            ScorecardDeduction.reason,
            ScorecardDeduction.evidence,
            ScorecardDeduction.created_by,
            ScorecardDeduction.created_at,
        )
        .join(Scorecard, Scorecard.id == ScorecardDeduction.scorecard_id)
        .where(Scorecard.run_id == run_id)
        .order_by(ScorecardDeduction.id)
    ).mappings():
        found.setdefault(row["target_id"], []).append(dict(row))
    return found


def compute_run(principal: Principal, run_id: int, progress: Progress | None = None) -> int:
    """Score every target of run ``run_id`` (see the module's rules); returns the card count."""
    report = progress or (lambda _f, _m: None)
    run = get_visible(AssessmentRun, run_id, principal)
    if run.status != "computing":
        raise Conflict(f"The run is {run.status}.", code="run_not_computing")
    snap = run.template_snapshot
    kind = snap["target_kind"]
    area = db.session.get(Area, run.area_id)
    period = period_of(run)
    report(0.05, "targets")
    targets = metrics.targets(kind, area, period)
    indicators = snap["indicators"]
    computed = [i for i in indicators if i["source"] == "computed"]
    figures: dict[str, dict[int, metrics.Figure]] = {}
    overall: dict[str, float | None] = {}
    for n, indicator in enumerate(computed):
        report(0.1 + 0.7 * n / max(len(computed), 1), f"measuring {indicator['code']}")
        params = {k: indicator.get(k) for k in ("code", "target", "min_count", "factor")}
        got = metrics.compute(indicator["metric"], kind, targets, area, period, params)
        figures[indicator["code"]] = got
        if indicator["scoring"] == "relative":
            num = sum(f.numerator for f in got.values())
            den = sum(f.denominator for f in got.values())
            overall[indicator["code"]] = scoring.ratio(num, den)
    report(0.85, "scoring")
    # Entries of this run (a computation run again) first, then of the run it supersedes.
    entries = _entries([run.id, *([run.supersedes_id] if run.supersedes_id else [])])
    kept = _deductions(run.id) or _deductions(run.supersedes_id)
    db.session.execute(delete(Scorecard).where(Scorecard.run_id == run.id))
    now = utcnow()
    empty = metrics.Figure(0.0, 0.0, 0, {})
    weights = weights_of(snap)
    rules = [rule_of(i) for i in indicators]
    cards, lines_by_target, deductions_by_target = [], {}, {}
    for target in targets:
        lines = []
        for indicator, rule in zip(indicators, rules, strict=True):
            code = indicator["code"]
            if indicator["source"] == "computed":
                figure = figures[code].get(target.id, empty)
                lines.append(computed_line(indicator, figure, overall.get(code), rule))
            else:
                lines.append(entered_line(indicator, entries.get((target.id, code)), rule))
        taken = kept.get(target.id, [])
        totals = card_total(
            snap, {ln["code"]: ln["score"] for ln in lines}, [d["points"] for d in taken], weights
        )
        cards.append(
            {
                "run_id": run.id,
                "target_kind": kind,
                "target_id": target.id,
                "target_name": (target.name or "")[:120],
                "area_id": target.area_id if kind != "institution" else run.area_id,
                "computed_at": now,
                "version": 1,
                **totals,
            }
        )
        lines_by_target[target.id] = lines
        deductions_by_target[target.id] = taken
    card_ids = {
        row[1]: row[0]
        for row in insert_rows(Scorecard.__table__, cards, returning=("id", "target_id"))
    }
    line_rows, deduction_rows = [], []
    blank = {"entered_value": None, "evidence": None, "entered_by": None, "entered_at": None}
    for target_id, lines in lines_by_target.items():
        for line in lines:
            line_rows.append({**blank, **line, "scorecard_id": card_ids[target_id]})
        for taken in deductions_by_target[target_id]:
            deduction_rows.append(
                {
                    "scorecard_id": card_ids[target_id],
                    "code": taken["code"],
                    "points": taken["points"],
                    "reason": taken["reason"],
                    "evidence": taken["evidence"],
                    "created_by": taken["created_by"],
                    "created_at": taken["created_at"],
                }
            )
    insert_rows(ScorecardLine.__table__, line_rows)
    insert_rows(ScorecardDeduction.__table__, deduction_rows)
    db.session.execute(
        update(AssessmentRun)
        .where(AssessmentRun.id == run.id, AssessmentRun.status == "computing")
        .values(
            status="computed",
            computed_at=now,
            error=None,
            row_version=AssessmentRun.row_version + 1,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    db.session.expire(run)
    audit.record("assessment_run_computed", "assessment_runs", run.id,
                 {"scorecards": len(cards), "version": run.version})  # fmt: skip
    report(0.99, "stored")
    return len(cards)


# --- one card -------------------------------------------------------------------------------


def rescore(card: Scorecard, snapshot: dict[str, Any]) -> dict[str, Any]:
    """Rescore ``card``'s entered lines and its total from what is stored; returns the card's
    new columns (the caller writes them with its version check)."""
    by_code = {i["code"]: i for i in snapshot["indicators"]}
    scores: dict[str, Decimal | None] = {}
    for line in db.session.execute(
        select(ScorecardLine).where(ScorecardLine.scorecard_id == card.id)
    ).scalars():
        indicator = by_code.get(line.code)
        if indicator is None:
            continue
        if indicator["source"] == "entered":
            entry = None
            if line.entered_by is not None or line.entered_value is not None:
                entry = {
                    "entered_value": line.entered_value,
                    "evidence": line.evidence,
                    "entered_by": line.entered_by,
                    "entered_at": line.entered_at,
                }
            new = entered_line(indicator, entry)
            line.raw, line.value, line.score = new["raw"], new["value"], new["score"]
            line.capped, line.rated = new["capped"], new["rated"]
        scores[line.code] = line.score if line.rated else None
    points = [
        p
        for (p,) in db.session.execute(
            select(ScorecardDeduction.points).where(ScorecardDeduction.scorecard_id == card.id)
        ).all()
    ]
    db.session.flush()
    return card_total(snapshot, scores, points)
