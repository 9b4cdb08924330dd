"""Site plans (宣传点方案): filed by an event's lead, approved or returned by the coordinator.

One plan per event. Filing after the programme's ``plan_due_on`` (the end of that local day)
marks it late; it is never refused for that. Re-filing replaces the text and attachments and
puts the plan back to ``submitted``; an approved plan is final. The attachments a plan names
are desk files (``PUT /attachments/{uuid}``) uploaded by someone allowed; filing links them to
the event, which is what lets the event's participants and area users read them.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from gridserve import audit
from gridserve.db import utcnow
from gridserve.errors import Conflict, Forbidden, NotFound, ValidationFailed
from gridserve.extensions import db
from gridserve.models import Attachment, OutreachEvent, OutreachPlan, User
from gridserve.scope import Principal
from gridserve.services.outreach.basics import is_late, participant_ids
from gridserve.services.outreach.teams import (
    COORDINATORS,
    WRITERS,
    event_in_scope,
    expected_version,
    is_coordinator,
    require_open,
)
from gridserve.versioning import check_version, refuse_stale, update_versioned

FILERS = WRITERS
REVIEWERS = COORDINATORS
MAX_ATTACHMENTS = 20
TEXT_MAX = 20_000
NOTE_MAX = 2_000


def link_attachments(
    principal: Principal,
    event: OutreachEvent,
    uuids: list[str],
    *,
    field: str,
    content_types: tuple[str, ...] | None = None,
) -> list[str]:
    """Check that each named desk file may be filed for ``event`` and link it to the event.

    A file qualifies when it exists, is a desk upload (not a terminal's photo), is not filed for
    another event, and was uploaded by the caller, by a contact of a participant the caller may
    act for (the coordinator: any participant), or by a coordinator. Else 422
    ``invalid_attachment`` naming the index, the UUID and the reason.
    """
    out = list(dict.fromkeys(str(u) for u in uuids))
    rows = {
        a.uuid: a for a in db.session.scalars(select(Attachment).where(Attachment.uuid.in_(out)))
    }
    uploaders = {
        u.id: u
        for u in db.session.scalars(
            select(User).where(User.id.in_({a.user_id for a in rows.values() if a.user_id}))
        )
    }
    participants = set(participant_ids(event))
    for index, ident in enumerate(out):
        row = rows.get(ident)
        reason = None
        if row is None:
            reason = "not_found"
        elif row.user_id is None:
            reason = "not_a_desk_file"
        elif row.event_id is not None and row.event_id != event.id:
            reason = "filed_for_another_event"
        elif content_types is not None and row.content_type not in content_types:
            reason = "not_a_photo"
        elif row.user_id != principal.user_id:
            uploader = uploaders.get(row.user_id)
            allowed = uploader is not None and (
                uploader.role in ("admin", *COORDINATORS)
                or (
                    uploader.institution_id is not None
                    and (
                        uploader.institution_id == principal.institution_id
                        or (is_coordinator(principal) and uploader.institution_id in participants)
                    )
                )
            )
            if not allowed:
                reason = "not_yours"
        if reason is not None:
            raise ValidationFailed(
                f"{field}[{index}]: attachment {ident} cannot be filed here ({reason}).",
                code="invalid_attachment",
                details={"field": field, "index": index, "uuid": ident, "reason": reason},
            )
    for row in rows.values():
        row.event_id = event.id
    return out


def _plan_of(event_id: int) -> OutreachPlan | None:
    return db.session.execute(
        select(OutreachPlan).where(OutreachPlan.event_id == event_id)
    ).scalar_one_or_none()


def file_plan(
    principal: Principal,
    event_id: int,
    text: str,
    attachments: list[str] | None = None,
    version: int | None = None,
) -> OutreachPlan:
    """File (or re-file) the event's site plan as its lead (or the coordinator).

    404 event out of scope; 403 ``not_the_lead``; 409 ``no_lead`` (the event names no lead),
    ``event_closed``, ``plan_approved`` (an approved plan is final), ``stale_version``; 422
    ``invalid_attachment``. ``late`` when filed after the programme's ``plan_due_on``.
    """
    event = event_in_scope(principal, event_id)
    if not is_coordinator(principal) and (
        event.lead_id is None or principal.institution_id != event.lead_id
    ):
        raise Forbidden("Only the event's lead (牵头行) files its plan.", code="not_the_lead")
    if event.lead_id is None:
        raise Conflict("This event has no lead to file a plan for.", code="no_lead")
    require_open(event, "plan")
    now = utcnow()
    expected = expected_version(version)
    plan = _plan_of(event.id)
    if plan is not None and plan.status == "approved":
        raise Conflict("The plan is approved; it can no longer change.", code="plan_approved",
                       details={"version": plan.version})  # fmt: skip
    if plan is None and expected is not None:
        refuse_stale("No plan is filed yet: send no version.", expected=version, current=None)
    if plan is not None and expected is None:
        check_version("A plan is filed: send its version.", expected=version, current=plan.version)
    files = link_attachments(principal, event, attachments or [], field="attachments")
    late = is_late(event.programme.plan_due_on, event.programme.area_id, now)
    values: dict[str, Any] = {
        "institution_id": event.lead_id,
        "text": text,
        "attachments": files,
        "status": "submitted",
        "late": late,
        "submitted_at": now,
        "submitted_by": principal.user_id or None,
        "reviewed_at": None,
        "reviewed_by": None,
        "note": None,
    }
    if plan is None:
        plan = OutreachPlan(event_id=event.id, **values)
        db.session.add(plan)
        db.session.flush()
    else:
        new = update_versioned(
            OutreachPlan,
            expected,
            OutreachPlan.id == plan.id,
            OutreachPlan.status != "approved",
            updated_at=now,
            **values,
        )
        db.session.refresh(plan)
        if new is None:
            if plan.status == "approved":
                raise Conflict("The plan is approved; it can no longer change.",
                               code="plan_approved")  # fmt: skip
            refuse_stale("The plan changed since you read it.", expected=version,
                         current=plan.version)  # fmt: skip
    audit.record("outreach.plan.filed", "outreach_plan", plan.id,
                 {"event_id": event.id, "late": late, "version": plan.version})  # fmt: skip
    return present(plan, event)


def _review(
    principal: Principal, event_id: int, status: str, note: str | None, version: int | None
) -> OutreachPlan:
    event = event_in_scope(principal, event_id)
    require_open(event, "plan")
    plan = _plan_of(event.id)
    if plan is None or plan.status != "submitted":
        raise Conflict(
            "Only a submitted plan can be approved or returned.",
            code="plan_not_submitted",
            details={"status": plan.status if plan else None},
        )
    if version is not None:
        check_version("The plan changed since you read it.", expected=version,
                      current=plan.version)  # fmt: skip
    now = utcnow()
    new = update_versioned(
        OutreachPlan,
        version,
        OutreachPlan.id == plan.id,
        OutreachPlan.status == "submitted",
        status=status,
        note=note,
        reviewed_at=now,
        reviewed_by=principal.user_id or None,
        updated_at=now,
    )
    db.session.refresh(plan)
    if new is None:
        if plan.status != "submitted":
            raise Conflict("Only a submitted plan can be approved or returned.",
                           code="plan_not_submitted", details={"status": plan.status})  # fmt: skip
        refuse_stale("The plan changed since you read it.", expected=version,
                     current=plan.version)  # fmt: skip
    audit.record(f"outreach.plan.{status}", "outreach_plan", plan.id,
                 {"event_id": event.id, "note": note})  # fmt: skip
    return present(plan, event)


def approve_plan(
    principal: Principal, event_id: int, note: str | None = None, version: int | None = None
) -> OutreachPlan:
    """The coordinator approves the submitted plan (409 ``plan_not_submitted`` otherwise)."""
    return _review(principal, event_id, "approved", note, version)


def return_plan(
    principal: Principal, event_id: int, note: str, version: int | None = None
) -> OutreachPlan:
    """The coordinator returns the submitted plan with a note saying what to change."""
    return _review(principal, event_id, "returned", note, version)


def get_plan(principal: Principal, event_id: int) -> OutreachPlan:
    """The event's plan (404 when the event is out of scope or no plan is filed)."""
    event = event_in_scope(principal, event_id)
    plan = _plan_of(event.id)
    if plan is None:
        raise NotFound("No plan is filed for this event yet.", code="plan_not_found")
    return present(plan, event)


def present(plan: OutreachPlan, event: OutreachEvent) -> OutreachPlan:
    """The plan ready for its schema: ``lead`` (the lead's code) and ``due_on``."""
    plan.lead = event.lead.code if event.lead else None
    plan.due_on = event.programme.plan_due_on
    return plan
