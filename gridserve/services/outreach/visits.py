"""SME visit records (走访记录) of a visits programme, from bank staff and from terminals.

Who records
    ``POST /outreach/visits``: an institution contact (only for an enterprise of its own
    institution: any other is out of scope, 404), the coordinator (enterprises in its area) and
    admin. Every other role is refused (403) before the body is read. Grid workers record
    through their terminal only (upload item ``sme_visit`` with ``programme_id``:
    :func:`check_terminal` and :func:`record_from_terminal`, called by the field upload).
What a record must say (422 ``validation_error``, details by field: :func:`outcome_errors`)
    ``follow_up`` and ``renewal`` name the existing ``lenders``; ``product_matched`` names the
    ``products`` offered, a need with ``amount > 0`` and ``eligible: true``;
    ``not_eligible_explained`` has ``eligible: false`` and an ``explanation``; ``no_need`` has no
    need (none, or amount 0). ``visited_at`` may not lie in the future (bank staff; a terminal's
    clock is flagged by the upload, not refused) and its local day must lie in the programme's
    visit window (422 ``outside_visit_window``). Lenders are institution codes (422
    ``unknown_institution``).
What a record does
    A ``product_matched`` visit stores ``decision_due_on``: its local date plus
    ``outreach_decision_working_days`` working days (:func:`basics.decision_due_on`, in the
    zone of the programme's area, like every time shown with a visit). The enterprise's first
    visit turns its list row from ``listed`` to ``visited`` (an ORM change, so it is audited
    like every model write) and gives its register place a new change number, so the terminals
    holding its cell hear of the new status.
Decisions
    :func:`decide`: a contact of the enterprise's institution (or admin) decides ``approved``,
    ``rejected`` (reason required) or ``withdrawn``, once: one conditional UPDATE (undecided,
    ``product_matched`` and, when given, at ``version``); 409 ``no_decision_needed`` for another
    outcome, 409 ``already_decided``, 409 ``stale_version``. Audited.
    :func:`list_decisions`: awaiting a decision (``open``), and those past their due day
    (``overdue``: undecided and the area's local date is after ``decision_due_on``).
Reading
    Through :func:`gridserve.scope.visible` (``"enterprise"``): a bank its own institution's
    records, area users those of enterprises in their area.

No Flask request in here and no commits: the request boundary commits.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select, false, or_, select

from gridserve import audit
from gridserve.db import utcnow
from gridserve.errors import Conflict, ValidationFailed
from gridserve.extensions import db
from gridserve.models import (
    OutreachEnterprise,
    OutreachProgramme,
    OutreachVisit,
    Place,
    User,
    Visit,
    Worker,
)
from gridserve.pagination import apply_sort
from gridserve.scope import Principal, get_visible, visible
from gridserve.services.field.workers import open_assignments
from gridserve.services.geography.areas import zone_of
from gridserve.services.geography.places import current_cells
from gridserve.services.outreach.basics import (
    READERS,
    decision_due_on,
    institution_codes,
    institutions_by_code,
    programme_zones,
    user_id,
    usernames,
)
from gridserve.sync import next_seq
from gridserve.versioning import refuse_stale, update_versioned

# Who records a visit online (admin always may); workers use their terminal.
RECORDERS = ("institution_contact", "coordinator")
# Who decides a product_matched visit (admin always may): the enterprise's institution.
DECIDERS = ("institution_contact",)
NEEDS_DECISION = "product_matched"
DECISION_STATES = ("open", "overdue")
SORTABLE = {
    "id": OutreachVisit.id,
    "visited_at": OutreachVisit.visited_at,
    "decision_due_on": OutreachVisit.decision_due_on,
    "created_at": OutreachVisit.created_at,
}
# The fields of a visit besides its enterprise and time (the ``sme`` part of an upload item).
BODY_FIELDS = (
    "operating_status",
    "need",
    "lenders",
    "eligible",
    "outcome",
    "products",
    "explanation",
    "next_step",
    "next_step_due_on",
    "notes",
)


# --- the rules ------------------------------------------------------------------------------


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def outcome_errors(body: dict[str, Any]) -> dict[str, list[str]]:
    """What the outcome rules find wrong with a visit's fields, by field (empty: nothing)."""
    errors: dict[str, list[str]] = {}
    outcome = body.get("outcome")
    need = body.get("need")
    amount = need.get("amount") if isinstance(need, dict) else None
    lenders = body.get("lenders") or []
    products = [p for p in body.get("products") or [] if not _blank(p)]
    eligible = body.get("eligible")
    if outcome in ("follow_up", "renewal") and not lenders:
        errors["lenders"] = [f"A {outcome} visit names the institutions it already borrows from."]
    if outcome == "product_matched":
        if not products:
            errors["products"] = ["Name the products offered."]
        if not amount or amount <= 0:
            errors["need.amount"] = ["A matched need has an amount above 0."]
        if eligible is not True:
            errors["eligible"] = ["A matched need is eligible (true)."]
    if outcome == "not_eligible_explained":
        if eligible is not False:
            errors["eligible"] = ["Not eligible: eligible is false."]
        if _blank(body.get("explanation")):
            errors["explanation"] = ["Say what was explained to the enterprise."]
    if outcome == "no_need" and amount:
        errors["need.amount"] = ["No need: give no need (null) or an amount of 0."]
    return errors


def _window_error(programme: OutreachProgramme, visited_at: dt.datetime) -> str | None:
    """Why ``visited_at`` lies outside the programme's visit window (None: inside)."""
    day = visited_at.astimezone(zone_of(programme.area_id)).date()
    start, end = programme.visits_from, programme.visits_to
    if (start is not None and day < start) or (end is not None and day > end):
        return f"Visits are recorded from {start or '-'} to {end or '-'} (local days)."
    return None


def _lender_ids(codes: list[str], field: str) -> list[int]:
    return [inst.id for inst in institutions_by_code(codes, field)]


# --- recording ------------------------------------------------------------------------------


def _store(
    enterprise: OutreachEnterprise,
    programme: OutreachProgramme,
    visited_at: dt.datetime,
    body: dict[str, Any],
    lender_ids: list[int],
    *,
    visitor_user_id: int | None,
    recorded_by: int | None,
    worker_id: int | None = None,
    field_visit_id: int | None = None,
) -> OutreachVisit:
    """One visit row, and the enterprise marked visited on its first visit."""
    need = body.get("need") or None
    outcome = body["outcome"]
    visit = OutreachVisit(
        programme_id=programme.id,
        enterprise_id=enterprise.id,
        institution_id=enterprise.institution_id,
        area_id=enterprise.area_id,
        visited_at=visited_at,
        visitor_user_id=visitor_user_id,
        worker_id=worker_id,
        field_visit_id=field_visit_id,
        operating_status=body["operating_status"],
        need_amount=need.get("amount") if need else None,
        need_term_months=need.get("term_months") if need else None,
        need_purpose=(need.get("purpose") or "") if need else "",
        lender_ids=lender_ids,
        eligible=body.get("eligible"),
        outcome=outcome,
        products=[p.strip() for p in body.get("products") or [] if not _blank(p)],
        explanation=body.get("explanation") or "",
        next_step=body.get("next_step") or "",
        next_step_due_on=body.get("next_step_due_on"),
        notes=body.get("notes") or "",
        decision_due_on=(
            decision_due_on(visited_at, programme.area_id) if outcome == NEEDS_DECISION else None
        ),
        recorded_by=recorded_by,
        version=1,
    )
    db.session.add(visit)
    if enterprise.status == "listed":
        enterprise.status = "visited"
        enterprise.version += 1
        place = db.session.get(Place, enterprise.place_id)
        if place is not None:  # terminals holding its cell get the new status
            place.change_seq = next_seq()
    db.session.flush()
    return visit


def record(principal: Principal, body: dict[str, Any]) -> OutreachVisit:
    """Record a visit made by bank staff (or the coordinator, or admin); see the module rules.

    ``body``: ``enterprise_id``, ``visited_at`` (aware) and :data:`BODY_FIELDS`, as the API's
    schema loads them."""
    principal.require(*RECORDERS)
    enterprise = get_visible(OutreachEnterprise, body["enterprise_id"], principal)
    programme = db.session.get(OutreachProgramme, enterprise.programme_id)
    visited_at = body["visited_at"]
    errors = outcome_errors(body)
    if visited_at > utcnow():
        errors["visited_at"] = ["A visit cannot lie in the future."]
    if errors:
        raise ValidationFailed("The visit record is not valid.", details={"fields": errors})
    outside = _window_error(programme, visited_at)
    if outside:
        raise ValidationFailed(
            outside,
            code="outside_visit_window",
            details={
                "visits_from": programme.visits_from and programme.visits_from.isoformat(),
                "visits_to": programme.visits_to and programme.visits_to.isoformat(),
                "fields": {"visited_at": [outside]},
            },
        )
    lenders = _lender_ids(body.get("lenders") or [], "lenders")
    me = user_id(principal)
    return _store(
        enterprise, programme, visited_at, body, lenders, visitor_user_id=me, recorded_by=me
    )


# --- from a terminal ------------------------------------------------------------------------


def _held_cell_ids(worker: Worker, day: dt.date, cache: dict[dt.date, set[int]]) -> set[int]:
    if day not in cache:
        codes = {a.cell_code for a in open_assignments(worker.id, day)}
        cache[day] = {c.id for c in current_cells([worker.area_id], day) if c.code in codes}
    return cache[day]


def check_terminal(
    worker: Worker, items: list[tuple[int, dict[str, Any]]]
) -> dict[int, tuple[str, dict[str, list[str]]]]:
    """Why some of a terminal's ``sme_visit`` items (with ``programme_id``) cannot be stored,
    by their index: ``unknown_enterprise`` unless it names an enterprise of that programme
    whose visitor is ``cell`` and whose place lies in a cell the worker holds on the visit's
    local day (the rule of 包靠: whoever holds the cell that day); ``invalid_sme_visit`` for
    the outcome rules, the visit window (local day of ``started_at``) or unknown lenders.
    An edit (``base_version``) of such a record is refused: a visit record is not rewritten."""
    wanted = {item["enterprise_id"] for _, item in items}
    rows = (
        db.session.execute(
            select(OutreachEnterprise, Place.cell_id)
            .join(Place, Place.id == OutreachEnterprise.place_id)
            .where(OutreachEnterprise.id.in_(wanted))
        ).all()
        if wanted
        else []
    )
    found = {e.id: (e, cell) for e, cell in rows}
    programmes: dict[int, OutreachProgramme] = {}
    held: dict[dt.date, set[int]] = {}
    out: dict[int, tuple[str, dict[str, list[str]]]] = {}
    for index, item in items:
        if item.get("base_version"):
            why = "An SME visit record is not edited; send a new one."
            out[index] = ("invalid_sme_visit", {"base_version": [why]})
            continue
        enterprise, cell_id = found.get(item["enterprise_id"], (None, None))
        if enterprise is None or enterprise.programme_id != item["programme_id"]:
            why = "No such enterprise on that programme's list."
            out[index] = ("unknown_enterprise", {"enterprise_id": [why]})
            continue
        if enterprise.programme_id not in programmes:
            programmes[enterprise.programme_id] = db.session.get(
                OutreachProgramme, enterprise.programme_id
            )
        programme = programmes[enterprise.programme_id]
        day = item["started_at"].astimezone(zone_of(programme.area_id)).date()
        if not enterprise.visitor_is_cell or cell_id not in _held_cell_ids(worker, day, held):
            why = "Not an enterprise of a cell you hold that day."
            out[index] = ("unknown_enterprise", {"enterprise_id": [why]})
            continue
        sme = item["sme"]
        errors = {f"sme.{k}": v for k, v in outcome_errors(sme).items()}
        outside = _window_error(programme, item["started_at"])
        if outside:
            errors["started_at"] = [outside]
        try:
            _lender_ids(sme.get("lenders") or [], "sme.lenders")
        except ValidationFailed as exc:
            errors.update(exc.details.get("fields") or {})
        if errors:
            out[index] = ("invalid_sme_visit", errors)
    return out


def record_from_terminal(worker: Worker, created: list[dict[str, Any]]) -> list[OutreachVisit]:
    """The visit rows of ``sme_visit`` items the upload just stored (each a new ``visits`` row,
    checked by :func:`check_terminal`): one per field visit, made once, with that worker as
    the visitor. A retried upload is a duplicate and never comes here."""
    if not created:
        return []
    uuids = [item["uuid"] for item in created]
    field_ids = dict(
        db.session.execute(
            select(Visit.uuid, Visit.id).where(Visit.uuid.in_(uuids), Visit.worker_id == worker.id)
        ).all()
    )
    enterprises = {
        e.id: e
        for e in db.session.scalars(
            select(OutreachEnterprise).where(
                OutreachEnterprise.id.in_({item["enterprise_id"] for item in created})
            )
        )
    }
    out = []
    for item in created:
        enterprise = enterprises[item["enterprise_id"]]
        programme = db.session.get(OutreachProgramme, enterprise.programme_id)
        sme = item["sme"]
        out.append(
            _store(
                enterprise, programme, item["started_at"], sme,
                _lender_ids(sme.get("lenders") or [], "sme.lenders"),
                visitor_user_id=worker.user_id, recorded_by=worker.user_id,
                worker_id=worker.id, field_visit_id=field_ids[item["uuid"]],
            )
        )  # fmt: skip
    return out


# --- reading --------------------------------------------------------------------------------


def _institution_id(code: str) -> int:
    return institutions_by_code([code], "institution")[0].id


def _zone(programme_id: int | None) -> ZoneInfo:
    from gridserve.timeutil import zone

    if programme_id is None:
        return zone()
    programme = db.session.get(OutreachProgramme, programme_id)
    return zone() if programme is None else zone_of(programme.area_id)


def _filtered(
    principal: Principal,
    *,
    programme: int | None = None,
    institution: str | None = None,
    visitor: str | None = None,
) -> Select:
    stmt = visible(OutreachVisit, principal)
    if programme is not None:
        stmt = stmt.where(OutreachVisit.programme_id == programme)
    if institution:
        stmt = stmt.where(OutreachVisit.institution_id == _institution_id(institution))
    if visitor:
        stmt = stmt.where(
            OutreachVisit.visitor_user_id.in_(select(User.id).where(User.username == visitor))
        )
    return stmt


def list_visits(
    principal: Principal,
    *,
    programme: int | None = None,
    enterprise: int | None = None,
    institution: str | None = None,
    visitor: str | None = None,
    outcome: str | None = None,
    day_from: dt.date | None = None,
    day_to: dt.date | None = None,
    sort: str | None = None,
) -> Select:
    """The visits the caller sees, filtered: ``institution`` a code (422
    ``unknown_institution``), ``visitor`` a username, ``day_from``/``day_to`` local days
    (inclusive, in the programme's zone, else the deployment's)."""
    principal.require(*READERS)
    stmt = _filtered(principal, programme=programme, institution=institution, visitor=visitor)
    if enterprise is not None:
        stmt = stmt.where(OutreachVisit.enterprise_id == enterprise)
    if outcome:
        stmt = stmt.where(OutreachVisit.outcome == outcome)
    tz = _zone(programme)
    if day_from is not None:
        start = dt.datetime.combine(day_from, dt.time(), tzinfo=tz)
        stmt = stmt.where(OutreachVisit.visited_at >= start)
    if day_to is not None:
        end = dt.datetime.combine(day_to + dt.timedelta(days=1), dt.time(), tzinfo=tz)
        stmt = stmt.where(OutreachVisit.visited_at < end)
    return apply_sort(stmt, sort, SORTABLE, "-visited_at", OutreachVisit.id)


def get_visit(principal: Principal, visit_id: int) -> OutreachVisit:
    principal.require(*READERS)
    return get_visible(OutreachVisit, visit_id, principal)


def _overdue_clause(now: dt.datetime) -> Any:
    """Undecided visits past their due day, each judged by the local date of its programme's
    area (areas may name their own zone)."""
    pending = db.session.execute(
        select(OutreachVisit.programme_id, OutreachProgramme.area_id)
        .join(OutreachProgramme, OutreachProgramme.id == OutreachVisit.programme_id)
        .where(OutreachVisit.decision_due_on.is_not(None), OutreachVisit.decision.is_(None))
        .distinct()
    ).all()
    by_day: dict[dt.date, list[int]] = {}
    zones: dict[int, dt.date] = {}
    for programme_id, area_id in pending:
        if area_id not in zones:
            zones[area_id] = now.astimezone(zone_of(area_id)).date()
        by_day.setdefault(zones[area_id], []).append(programme_id)
    if not by_day:
        return false()
    return or_(
        *(
            OutreachVisit.programme_id.in_(ids) & (OutreachVisit.decision_due_on < today)
            for today, ids in by_day.items()
        )
    )


def list_decisions(
    principal: Principal,
    *,
    programme: int | None = None,
    institution: str | None = None,
    visitor: str | None = None,
    state: str | None = None,
    sort: str | None = None,
) -> Select:
    """Visits awaiting a decision: ``open`` (default) every undecided ``product_matched``
    visit, ``overdue`` those whose due day has passed; earliest due first."""
    principal.require(*READERS)
    stmt = _filtered(
        principal, programme=programme, institution=institution, visitor=visitor
    ).where(OutreachVisit.outcome == NEEDS_DECISION, OutreachVisit.decision.is_(None))
    if state == "overdue":
        stmt = stmt.where(_overdue_clause(utcnow()))
    return apply_sort(stmt, sort, SORTABLE, "decision_due_on", OutreachVisit.id)


def present(rows: Iterable[OutreachVisit]) -> list[dict[str, Any]]:
    """Visits ready for their schema: codes and usernames for ids, times in the programme
    area's zone, ``decision_overdue`` by that area's local date."""
    rows = list(rows)
    if not rows:
        return []
    inst_ids = {r.institution_id for r in rows} | {i for r in rows for i in r.lender_ids or []}
    codes = institution_codes(inst_ids)
    names = usernames(u for r in rows for u in (r.visitor_user_id, r.decided_by))
    enterprises = {
        e.id: (e.credit_code, e.name)
        for e in db.session.scalars(
            select(OutreachEnterprise).where(
                OutreachEnterprise.id.in_({r.enterprise_id for r in rows})
            )
        )
    }
    zones = programme_zones(r.programme_id for r in rows)
    now = utcnow()
    out = []
    for r in rows:
        tz = zones[r.programme_id]
        credit_code, name = enterprises[r.enterprise_id]
        need = None
        if r.need_amount is not None:
            need = {"amount": r.need_amount, "term_months": r.need_term_months,
                    "purpose": r.need_purpose}  # fmt: skip
        out.append({
            "id": r.id, "programme_id": r.programme_id, "enterprise_id": r.enterprise_id,
            "enterprise": {"credit_code": credit_code, "name": name},
            "institution": codes.get(r.institution_id), "area_id": r.area_id,
            "visited_at": r.visited_at.astimezone(tz),
            "visitor": names.get(r.visitor_user_id), "worker_id": r.worker_id,
            "source": "terminal" if r.worker_id is not None else "bank",
            "operating_status": r.operating_status, "need": need,
            "lenders": [codes.get(i) for i in r.lender_ids or []], "eligible": r.eligible,
            "outcome": r.outcome, "products": list(r.products or []),
            "explanation": r.explanation, "next_step": r.next_step,
            "next_step_due_on": r.next_step_due_on, "notes": r.notes,
            "decision_due_on": r.decision_due_on, "decision": r.decision,
            "decision_reason": r.decision_reason,
            "decided_at": r.decided_at.astimezone(tz) if r.decided_at else None,
            "decided_by": names.get(r.decided_by),
            "decision_overdue": (
                r.decision is None and r.decision_due_on is not None
                and now.astimezone(tz).date() > r.decision_due_on
            ),
            "version": r.version, "created_at": r.created_at.astimezone(tz),
        })  # fmt: skip
    return out


# --- deciding -------------------------------------------------------------------------------


def decide(principal: Principal, visit_id: int, body: dict[str, Any]) -> OutreachVisit:
    """Decide a ``product_matched`` visit once (see the module rules). ``body``: ``decision``,
    ``reason``, optionally the ``version`` it is based on."""
    principal.require(*DECIDERS)
    visit = get_visible(OutreachVisit, visit_id, principal)
    reason = (body.get("reason") or "").strip()
    if body["decision"] == "rejected" and not reason:
        raise ValidationFailed(
            "Give the reason for a rejection.",
            details={"fields": {"reason": ["Required when the decision is rejected."]}},
        )
    if visit.outcome != NEEDS_DECISION:
        raise Conflict(
            "Only a product_matched visit calls for a decision.",
            code="no_decision_needed",
            details={"outcome": visit.outcome},
        )
    expected = body.get("version")
    done = update_versioned(
        OutreachVisit,
        expected,
        OutreachVisit.id == visit.id,
        OutreachVisit.outcome == NEEDS_DECISION,
        OutreachVisit.decision.is_(None),
        decision=body["decision"],
        decision_reason=reason,
        decided_at=utcnow(),
        decided_by=user_id(principal),
    )
    db.session.refresh(visit)
    if done is None:
        if visit.decision is not None:
            raise Conflict(
                f"This visit was already decided: {visit.decision}.",
                code="already_decided",
                details={"decision": visit.decision, "version": visit.version},
            )
        refuse_stale("The visit changed since you read it.", expected=expected,
                     current=visit.version)  # fmt: skip
    audit.record(
        "decide_visit",
        "outreach_visits",
        visit.id,
        {"decision": visit.decision, "reason": reason, "version": done},
    )
    return visit
