"""What a programme's owners must hand in, by when (材料报送), and whether they did.

Derived deliverables
    :func:`derive` writes, idempotently, the deliverables that follow from a programme (each
    with a ``key`` naming what it follows from; ``(programme_id, key)`` is unique, so two
    derivations racing insert each row once):

    - publicity: a ``site_plan`` (key ``plan:<event>``) for every site or compound event with a
      lead, owned by the lead, due ``plan_due_on``, submitted when the event's plan was filed
      (a plan returned by the coordinator counts as not submitted until it is filed again); an
      ``event_report`` (key ``report:<event>:<institution>``) for every participant of every
      event (host, lead, co-organisers), due ``report_due_on``, submitted when that
      participant's report was filed;
    - visits: a ``visit_list`` (``list:<institution>``, due ``list_due_on``) and a
      ``visit_summary`` (``summary:<institution>``, due ``summary_due_on``) for every
      institution of the programme; their owners submit them here.

    A derived deliverable that no longer follows from the programme (its event was cancelled,
    the institution left the programme, the due date was cleared) is deleted with its
    reminders (audited): nobody is reminded about a cancelled event. Derivation runs on every
    read of a programme's deliverables and in the reminder job; it costs a handful of queries
    per programme (existing rows, events with co-organisers, plans, reports) plus one statement
    per row that changes.
Added deliverables
    The coordinator adds any kind with an owner (an institution by code, a worker by id, a user
    by username) and a due date (:func:`add`); they have no key and are changed with
    :func:`change` (versioned). Of a derived deliverable only the note may be changed (409
    ``derived_deliverable`` otherwise: its title, owner and due date follow the programme).
Status
    Due at the end of ``due_on`` in the programme area's zone: ``submitted`` (on or before that
    local day), ``late`` (submitted on a later local day), ``missing`` (not submitted and the
    day is over), else ``pending``.
Submission
    :func:`submit` by the owner: a contact of the owning institution, the worker's own account,
    the owning user (403 ``not_the_owner`` for anyone else who sees it; 404 for who does not).
    Site plans and event reports derived from the events are submitted by filing the plan or
    report: 409 ``submitted_elsewhere`` with the path to use. Submitting again: 409
    ``already_submitted``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, delete, or_, select
from sqlalchemy.orm import selectinload

from gridserve import audit
from gridserve.db import insert_for, utcnow
from gridserve.errors import Conflict, Forbidden, NotFound, ValidationFailed
from gridserve.extensions import db
from gridserve.models import (
    DELIVERABLE_KINDS,
    OutreachDeliverable,
    OutreachEvent,
    OutreachPlan,
    OutreachProgramme,
    OutreachReminder,
    OutreachReport,
    User,
    Worker,
)
from gridserve.scope import Principal, get_visible, visible
from gridserve.services.geography.areas import zone_of
from gridserve.services.outreach.basics import (
    LED_KINDS,
    PLANNERS,
    READERS,
    due_at,
    institution_by_code,
    institution_codes,
    is_late,
    participants,
    user_id,
    usernames,
)
from gridserve.versioning import refuse_stale, update_versioned

MANAGERS = PLANNERS  # who adds and changes deliverables (and admin)
# Who may own (and so submit or read reminders): an institution's contacts, a worker's own
# account, any user named as owner.
OWNERS = (
    "coordinator",
    "institution_contact",
    "worker",
    "station",
    "street_centre",
    "district_centre",
)
DELIVERABLE_READERS = READERS
FOLLOWS_ELSEWHERE = ("plan:", "report:")  # keys of deliverables filed as plans or reports
TITLE_MAX = 200
NOTE_MAX = 2_000
DELIVERABLE = OutreachDeliverable.__table__


# --- derivation ------------------------------------------------------------------------------


@dataclass
class _Wanted:
    kind: str
    title: str
    due_on: dt.date
    owner_institution_id: int
    event_id: int | None = None
    submitted_at: dt.datetime | None = None
    submitted_by: int | None = None
    follows: bool = False  # submitted_at follows a plan or report


def _wanted(programme: OutreachProgramme) -> dict[str, _Wanted]:
    """What ``programme`` asks of its owners now, by key."""
    out: dict[str, _Wanted] = {}
    if programme.kind == "visits":
        for inst in programme.institutions:
            name = inst.short_name or inst.name
            if programme.list_due_on is not None:
                out[f"list:{inst.id}"] = _Wanted(
                    "visit_list", f"走访名单（{name}）", programme.list_due_on, inst.id
                )
            if programme.summary_due_on is not None:
                out[f"summary:{inst.id}"] = _Wanted(
                    "visit_summary", f"走访总结（{name}）", programme.summary_due_on, inst.id
                )
        return out
    if programme.plan_due_on is None and programme.report_due_on is None:
        return out
    events = list(
        db.session.scalars(
            select(OutreachEvent)
            .where(
                OutreachEvent.programme_id == programme.id,
                OutreachEvent.status != "cancelled",
            )
            .options(
                selectinload(OutreachEvent.co_organisers),
                selectinload(OutreachEvent.host),
                selectinload(OutreachEvent.lead),
            )
            .order_by(OutreachEvent.starts_at, OutreachEvent.id)
        )
    )
    ids = [e.id for e in events]
    plans = {
        p.event_id: p
        for p in db.session.scalars(select(OutreachPlan).where(OutreachPlan.event_id.in_(ids)))
    }
    reports = {
        (r.event_id, r.institution_id): r
        for r in db.session.scalars(select(OutreachReport).where(OutreachReport.event_id.in_(ids)))
    }
    for event in events:
        if programme.plan_due_on is not None and event.kind in LED_KINDS and event.lead_id:
            plan = plans.get(event.id)
            filed = plan is not None and plan.status != "returned"
            out[f"plan:{event.id}"] = _Wanted(
                "site_plan",
                f"{event.title}：宣传点方案",
                programme.plan_due_on,
                event.lead_id,
                event.id,
                plan.submitted_at if filed else None,
                plan.submitted_by if filed else None,
                follows=True,
            )
        if programme.report_due_on is not None:
            for inst in participants(event):
                report = reports.get((event.id, inst.id))
                out[f"report:{event.id}:{inst.id}"] = _Wanted(
                    "event_report",
                    f"{event.title}：活动总结（{inst.short_name or inst.name}）",
                    programme.report_due_on,
                    inst.id,
                    event.id,
                    report.submitted_at if report else None,
                    report.submitted_by if report else None,
                    follows=True,
                )
    return out


def derive(programme: OutreachProgramme) -> dict[str, int]:
    """Bring ``programme``'s derived deliverables in line with it (see the module doc):
    ``{"created", "updated", "deleted"}``."""
    wanted = _wanted(programme)
    have = {
        d.key: d
        for d in db.session.scalars(
            select(OutreachDeliverable).where(
                OutreachDeliverable.programme_id == programme.id,
                OutreachDeliverable.key.is_not(None),
            )
        )
    }
    created: list[int] = []
    updated = 0
    now = utcnow()
    for key, want in wanted.items():
        row = have.get(key)
        if row is None:
            added = db.session.execute(
                insert_for(DELIVERABLE)
                .values(
                    programme_id=programme.id,
                    kind=want.kind,
                    key=key,
                    title=want.title,
                    event_id=want.event_id,
                    owner_institution_id=want.owner_institution_id,
                    due_on=want.due_on,
                    submitted_at=want.submitted_at,
                    submitted_by=want.submitted_by,
                    note="",
                    version=1,
                    created_at=now,
                    updated_at=now,
                )
                .on_conflict_do_nothing()
                .returning(DELIVERABLE.c.id)
            ).first()
            if added is not None:
                created.append(added[0])
            continue
        values: dict[str, Any] = {
            "title": want.title,
            "due_on": want.due_on,
            "owner_institution_id": want.owner_institution_id,
        }
        if want.follows:
            values |= {"submitted_at": want.submitted_at, "submitted_by": want.submitted_by}
        changed = {k: v for k, v in values.items() if getattr(row, k) != v}
        if changed:
            for name, value in changed.items():
                setattr(row, name, value)
            row.version += 1
            updated += 1
    gone = [d for k, d in have.items() if k not in wanted]
    if gone:
        db.session.execute(
            delete(OutreachDeliverable)
            .where(OutreachDeliverable.id.in_([d.id for d in gone]))
            .execution_options(synchronize_session="fetch")
        )
    if created or gone:
        audit.record(
            "outreach_deliverables_derived",
            "outreach_programmes",
            programme.id,
            {"created": created, "deleted": {d.key: d.id for d in gone}},
        )
    db.session.flush()
    return {"created": len(created), "updated": updated, "deleted": len(gone)}


def derive_all() -> dict[str, int]:
    """:func:`derive` for every publicity and visits programme (the reminder job)."""
    totals = {"created": 0, "updated": 0, "deleted": 0}
    programmes = db.session.scalars(
        select(OutreachProgramme)
        .where(OutreachProgramme.kind.in_(("publicity", "visits")))
        .options(selectinload(OutreachProgramme.institutions))
        .order_by(OutreachProgramme.id)
    )
    for programme in list(programmes):
        for name, n in derive(programme).items():
            totals[name] += n
    return totals


# --- status ----------------------------------------------------------------------------------


def status(row: OutreachDeliverable, area_id: int, today: dt.date) -> str:
    """pending | submitted | late | missing (``today``: the local date in the area)."""
    if row.submitted_at is not None:
        return "late" if is_late(row.due_on, area_id, row.submitted_at) else "submitted"
    return "missing" if today > row.due_on else "pending"


def local_today(area_id: int) -> dt.date:
    return utcnow().astimezone(zone_of(area_id)).date()


# --- reading ---------------------------------------------------------------------------------


def list_deliverables(
    principal: Principal,
    programme_id: int,
    *,
    kind: str | None = None,
    institution: str | None = None,
) -> Select:
    """The programme's deliverables in the caller's scope (a contact: its own), derived
    afresh first; by due date."""
    principal.require(*DELIVERABLE_READERS)
    programme = get_visible(OutreachProgramme, programme_id, principal)
    derive(programme)
    stmt = visible(OutreachDeliverable, principal).where(
        OutreachDeliverable.programme_id == programme.id
    )
    if kind is not None:
        stmt = stmt.where(OutreachDeliverable.kind == kind)
    if institution is not None:
        inst = institution_by_code(institution, "institution")
        stmt = stmt.where(OutreachDeliverable.owner_institution_id == inst.id)
    return stmt.order_by(
        OutreachDeliverable.due_on, OutreachDeliverable.kind, OutreachDeliverable.id
    )


def present(rows: list[OutreachDeliverable]) -> list[dict[str, Any]]:
    """Deliverables ready for their schema: owner, status, due time, reminders."""
    if not rows:
        return []
    ids = [d.id for d in rows]
    areas = dict(
        db.session.execute(
            select(OutreachProgramme.id, OutreachProgramme.area_id).where(
                OutreachProgramme.id.in_({d.programme_id for d in rows})
            )
        ).all()
    )
    insts = institution_codes(d.owner_institution_id for d in rows)
    workers = dict(
        db.session.execute(
            select(Worker.id, Worker.full_name).where(
                Worker.id.in_({d.owner_worker_id for d in rows} - {None})
            )
        ).all()
    )
    users = usernames(u for d in rows for u in (d.owner_user_id, d.submitted_by))
    reminders: dict[int, list[dict[str, Any]]] = {i: [] for i in ids}
    for r in db.session.scalars(
        select(OutreachReminder)
        .where(OutreachReminder.deliverable_id.in_(ids))
        .order_by(OutreachReminder.day, OutreachReminder.id)
    ):
        reminders[r.deliverable_id].append({"id": r.id, "day": r.day, "kind": r.kind})
    todays = {area: local_today(area) for area in set(areas.values())}
    out = []
    for d in rows:
        area = areas[d.programme_id]
        if d.owner_institution_id is not None:
            owner = {
                "kind": "institution",
                "id": d.owner_institution_id,
                "label": insts[d.owner_institution_id],
            }
        elif d.owner_worker_id is not None:
            owner = {"kind": "worker", "id": d.owner_worker_id, "label": workers[d.owner_worker_id]}
        else:
            owner = {"kind": "user", "id": d.owner_user_id, "label": users[d.owner_user_id]}
        out.append(
            {
                "id": d.id,
                "programme_id": d.programme_id,
                "kind": d.kind,
                "key": d.key,
                "title": d.title,
                "event_id": d.event_id,
                "owner": owner,
                "due_on": d.due_on,
                "due_at": due_at(d.due_on, area),
                "status": status(d, area, todays[area]),
                "submitted_at": d.submitted_at,
                "submitted_by": users.get(d.submitted_by),
                "note": d.note,
                "reminders": reminders[d.id],
                "version": d.version,
            }
        )
    return out


def get_deliverable(principal: Principal, deliverable_id: int) -> OutreachDeliverable:
    """One deliverable the caller sees (404 otherwise); a worker sees only its own."""
    principal.require(*DELIVERABLE_READERS, *OWNERS)
    stmt = visible(OutreachDeliverable, principal).where(OutreachDeliverable.id == deliverable_id)
    if principal.role not in ("admin", *DELIVERABLE_READERS):
        stmt = stmt.where(owned_by(principal))
    row = db.session.execute(stmt).scalar_one_or_none()
    if row is None:
        raise NotFound(f"No outreach deliverable {deliverable_id}.")
    return row


# --- owners ----------------------------------------------------------------------------------


def _worker_of(user: int | None) -> int | None:
    if not user:
        return None
    return db.session.execute(select(Worker.id).where(Worker.user_id == user)).scalar()


def owned_by(principal: Principal) -> Any:
    """A WHERE clause: the deliverables ``principal`` owns (as a contact of the owning
    institution, as the owning worker's account, or as the owning user)."""
    clauses = [OutreachDeliverable.owner_user_id == principal.user_id]
    if principal.institution_id is not None:
        clauses.append(OutreachDeliverable.owner_institution_id == principal.institution_id)
    if principal.role == "worker":
        clauses.append(
            OutreachDeliverable.owner_worker_id.in_(
                select(Worker.id).where(Worker.user_id == principal.user_id)
            )
        )
    return or_(*clauses)


def is_owner(principal: Principal, row: OutreachDeliverable) -> bool:
    if row.owner_user_id is not None:
        return row.owner_user_id == principal.user_id
    if row.owner_institution_id is not None:
        return row.owner_institution_id == principal.institution_id
    return principal.role == "worker" and _worker_of(principal.user_id) == row.owner_worker_id


def _owner_values(principal: Principal, owner: dict[str, Any]) -> dict[str, int | None]:
    """The owner columns for ``{institution: code} | {worker_id} | {user: username}``."""
    given = [k for k in ("institution", "worker_id", "user") if owner.get(k) is not None]
    if len(given) != 1:
        raise ValidationFailed(
            "Name exactly one owner: an institution, a worker or a user.",
            code="validation_error",
            details={"fields": {"owner": ["One of institution, worker_id, user."]}},
        )
    values: dict[str, int | None] = {
        "owner_institution_id": None,
        "owner_worker_id": None,
        "owner_user_id": None,
    }
    if given == ["institution"]:
        values["owner_institution_id"] = institution_by_code(
            owner["institution"], "owner.institution"
        ).id
    elif given == ["worker_id"]:
        worker = db.session.execute(
            visible(Worker, principal).where(Worker.id == owner["worker_id"])
        ).scalar_one_or_none()
        if worker is None or worker.status == "dismissed":
            raise ValidationFailed(
                f"No worker {owner['worker_id']} in your area.",
                code="unknown_worker",
                details={"fields": {"owner.worker_id": ["Unknown worker."]}},
            )
        values["owner_worker_id"] = worker.id
    else:
        user = db.session.execute(
            select(User).where(User.username == owner["user"], User.is_active.is_(True))
        ).scalar_one_or_none()
        if user is None:
            raise ValidationFailed(
                f"No active user {owner['user']}.",
                code="unknown_user",
                details={"fields": {"owner.user": ["Unknown user."]}},
            )
        values["owner_user_id"] = user.id
    return values


# --- writing ---------------------------------------------------------------------------------


def add(principal: Principal, programme_id: int, data: dict[str, Any]) -> OutreachDeliverable:
    """The coordinator adds a deliverable: ``{kind, title, owner, due_on, note}``."""
    principal.require(*MANAGERS)
    programme = get_visible(OutreachProgramme, programme_id, principal)
    if data["kind"] not in DELIVERABLE_KINDS:  # the schema checks; services stand alone
        raise ValidationFailed(
            "Unknown kind.", details={"fields": {"kind": [f"One of {DELIVERABLE_KINDS}."]}}
        )
    row = OutreachDeliverable(
        programme_id=programme.id,
        kind=data["kind"],
        title=data["title"],
        due_on=data["due_on"],
        note=data.get("note") or "",
        created_by=user_id(principal),
        version=1,
        **_owner_values(principal, data["owner"]),
    )
    db.session.add(row)
    db.session.flush()
    return row


def change(principal: Principal, deliverable_id: int, data: dict[str, Any]) -> OutreachDeliverable:
    """The coordinator changes title, owner, due date or note (``version`` required). A
    derived deliverable's title, owner and due date follow its programme: 409
    ``derived_deliverable``."""
    principal.require(*MANAGERS)
    row = get_visible(OutreachDeliverable, deliverable_id, principal)
    fixed = [k for k in ("title", "owner", "due_on") if k in data]
    if row.key is not None and fixed:
        raise Conflict(
            "This deliverable follows from its programme: change the programme's due date or "
            "its events instead.",
            code="derived_deliverable",
            details={"fields": fixed, "key": row.key},
        )
    values: dict[str, Any] = {k: data[k] for k in ("title", "due_on") if k in data}
    if "note" in data:
        values["note"] = data["note"] or ""
    if "owner" in data:
        values |= _owner_values(principal, data["owner"])
    before = {k: getattr(row, k) for k in values}
    version = update_versioned(
        OutreachDeliverable,
        data["version"],
        OutreachDeliverable.id == row.id,
        updated_at=utcnow(),
        **values,
    )
    if version is None:
        refuse_stale(
            "The deliverable changed since you read it.",
            expected=data["version"],
            current=row.version,
        )
    audit.record(
        "outreach_deliverable_changed",
        "outreach_deliverables",
        row.id,
        {k: [before[k], values[k]] for k in values},
    )
    db.session.refresh(row)
    return row


def submit(principal: Principal, deliverable_id: int, note: str | None) -> OutreachDeliverable:
    """The owner hands the deliverable in (see the module doc for who and the 409s)."""
    principal.require(*OWNERS)
    row = get_visible(OutreachDeliverable, deliverable_id, principal)
    if not is_owner(principal, row):
        raise Forbidden(
            "Only the deliverable's owner submits it.",
            code="not_the_owner",
            details={"deliverable": row.id},
        )
    if row.key is not None and row.key.startswith(FOLLOWS_ELSEWHERE):
        path = (
            f"/api/v1/outreach/events/{row.event_id}/plan"
            if row.kind == "site_plan"
            else f"/api/v1/outreach/events/{row.event_id}/reports/<institution code>"
        )
        raise Conflict(
            "This deliverable is submitted by filing the event's "
            + ("site plan." if row.kind == "site_plan" else "report."),
            code="submitted_elsewhere",
            details={"kind": row.kind, "event_id": row.event_id, "hint": path},
        )
    now = utcnow()
    values: dict[str, Any] = {
        "submitted_at": now,
        "submitted_by": user_id(principal),
        "updated_at": now,
    }
    if note:
        values["note"] = note
    version = update_versioned(
        OutreachDeliverable,
        None,
        OutreachDeliverable.id == row.id,
        OutreachDeliverable.submitted_at.is_(None),
        **values,
    )
    if version is None:
        raise Conflict(
            "Already submitted.",
            code="already_submitted",
            details={"deliverable": row.id},
        )
    audit.record(
        "outreach_deliverable_submitted",
        "outreach_deliverables",
        row.id,
        {"note": note or None, "version": version},
    )
    db.session.refresh(row)
    return row
