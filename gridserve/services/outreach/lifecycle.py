"""The life cycle of an outreach event, one conditional step at a time.

``draft`` → ``planned`` (:func:`publish`) → ``approved`` (:func:`approve`: no conflicts, 409
``event_conflict``; a site or compound needs its approved plan, 409 ``plan_not_approved``)
→ ``held`` (the ``outreach-held`` job, :func:`mark_held`, once ``ends_at`` has passed) →
``reported`` (:func:`maybe_mark_reported` once every participant has reported, or the
coordinator's :func:`close`); :func:`cancel` from any state before ``reported``.

Each step is one ``UPDATE ... WHERE id AND status IN (...) AND version = :v`` (409
``stale_version`` when the version moved on, 409 ``invalid_transition`` from a wrong state),
takes a change number for the terminals and is written to the audit log. Cancelling an
approved event tells its participants (:func:`gridserve.services.outreach.notices.announce`).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select

from gridserve import audit
from gridserve.db import utcnow
from gridserve.errors import Conflict
from gridserve.extensions import db
from gridserve.models import OutreachEvent, OutreachPlan, OutreachReport
from gridserve.scope import Principal, get_visible
from gridserve.services.outreach.basics import LED_KINDS, PLANNERS, participants
from gridserve.services.outreach.conflicts import conflicts_for
from gridserve.services.outreach.events import STALE_EVENT
from gridserve.sync import next_seq
from gridserve.versioning import refuse_stale, update_versioned

# Where each step may start from.
STEPS = {
    "publish": (("draft",), "planned"),
    "approve": (("planned",), "approved"),
    "close": (("held",), "reported"),
    "cancel": (("draft", "planned", "approved", "held"), "cancelled"),
}


def _refuse(event: OutreachEvent, action: str, to: str) -> None:
    raise Conflict(
        f"A {event.status} event cannot be {'cancelled' if action == 'cancel' else to}.",
        code="invalid_transition",
        details={"status": event.status, "to": to, "action": action},
    )


def _step(
    principal: Principal,
    event: OutreachEvent,
    action: str,
    based_on: int | None,
    **values: Any,
) -> OutreachEvent:
    """Move ``event`` by ``action`` with one conditional UPDATE on status and version."""
    starts, to = STEPS[action]
    if based_on is not None and based_on != event.version:
        refuse_stale(STALE_EVENT, expected=based_on, current=event.version)
    if event.status not in starts:
        _refuse(event, action, to)
    old = event.status
    new_version = update_versioned(
        OutreachEvent,
        based_on,
        OutreachEvent.id == event.id,
        OutreachEvent.status.in_(starts),
        status=to,
        status_changed_at=utcnow(),
        change_seq=next_seq(),
        updated_at=utcnow(),
        **values,
    )
    if new_version is None:
        db.session.expire(event)
        if based_on is not None and event.version != based_on:
            refuse_stale(STALE_EVENT, expected=based_on, current=event.version)
        _refuse(event, action, to)
    db.session.expire(event)
    audit.record(
        f"outreach_event.{action}",
        "outreach_events",
        event.id,
        {"from": old, "to": to, "version": [based_on, new_version], **values},
    )
    return event


def _event(principal: Principal, event_id: int) -> OutreachEvent:
    principal.require(*PLANNERS)
    return get_visible(OutreachEvent, event_id, principal)


def publish(principal: Principal, event_id: int, version: int) -> OutreachEvent:
    """draft → planned (coordinator)."""
    return _step(principal, _event(principal, event_id), "publish", version)


def approve(principal: Principal, event_id: int, version: int) -> OutreachEvent:
    """planned → approved (coordinator): refused while it conflicts (409 ``event_conflict``,
    naming the other events) or, for a site or compound, without an approved plan (409
    ``plan_not_approved``)."""
    event = _event(principal, event_id)
    if event.version != version:
        refuse_stale(STALE_EVENT, expected=version, current=event.version)
    if event.status != "planned":
        _refuse(event, "approve", "approved")
    found = conflicts_for(event)
    if found:
        others = sorted({c["other_event_id"] for c in found if c["other_event_id"]})
        raise Conflict(
            "The event conflicts: " + "; ".join(c["message"] for c in found),
            code="event_conflict",
            details={"conflicts": found, "other_event_ids": others},
        )
    if event.kind in LED_KINDS:
        plan = db.session.execute(
            select(OutreachPlan).where(OutreachPlan.event_id == event.id)
        ).scalar_one_or_none()
        if plan is None or plan.status != "approved":
            raise Conflict(
                f"The lead's site plan is {'not filed' if plan is None else plan.status}; "
                "approve it first.",
                code="plan_not_approved",
                details={
                    "plan_status": None if plan is None else plan.status,
                    "lead": event.lead.code if event.lead is not None else None,
                },
            )
    return _step(principal, event, "approve", version)


def close(principal: Principal, event_id: int, version: int) -> OutreachEvent:
    """held → reported by the coordinator, whoever has reported."""
    return _step(principal, _event(principal, event_id), "close", version)


def cancel(principal: Principal, event_id: int, version: int, reason: str) -> OutreachEvent:
    """Any state before ``reported`` → cancelled, with a reason; an approved event's
    participants are told."""
    from gridserve.services.outreach import notices

    event = _event(principal, event_id)
    was_approved = event.status == "approved"
    _step(principal, event, "cancel", version, cancel_reason=reason)
    if was_approved:
        notices.announce(principal, event, "cancelled", {})
    return event


def mark_held(now: dt.datetime | None = None) -> list[int]:
    """Approved events whose end has passed become ``held`` (the ``outreach-held`` job)."""
    now = now or utcnow()
    due = list(
        db.session.scalars(
            select(OutreachEvent.id)
            .where(OutreachEvent.status == "approved", OutreachEvent.ends_at <= now)
            .order_by(OutreachEvent.id)
        )
    )
    held = []
    for event_id in due:
        new_version = update_versioned(
            OutreachEvent,
            None,
            OutreachEvent.id == event_id,
            OutreachEvent.status == "approved",
            OutreachEvent.ends_at <= now,
            status="held",
            status_changed_at=now,
            change_seq=next_seq(),
            updated_at=now,
        )
        if new_version is not None:
            held.append(event_id)
            audit.record(
                "outreach_event.held",
                "outreach_events",
                event_id,
                {"from": "approved", "to": "held", "version": new_version},
            )
    return held


def missing_reports(event: OutreachEvent) -> list[str]:
    """Codes of the participants that have not reported on ``event``."""
    reported = set(
        db.session.scalars(
            select(OutreachReport.institution_id).where(OutreachReport.event_id == event.id)
        )
    )
    return [i.code for i in participants(event) if i.id not in reported]


def maybe_mark_reported(event: OutreachEvent) -> bool:
    """Mark ``event`` reported once every participant has filed its report (the reports
    helper calls this after storing one). Only a held event (or an approved one that has
    ended) moves; True when it did."""
    if event.status not in ("held", "approved"):
        return False
    if event.status == "approved" and event.ends_at > utcnow():
        return False
    if missing_reports(event):
        return False
    old = event.status
    new_version = update_versioned(
        OutreachEvent,
        None,
        OutreachEvent.id == event.id,
        OutreachEvent.status == old,
        status="reported",
        status_changed_at=utcnow(),
        change_seq=next_seq(),
        updated_at=utcnow(),
    )
    db.session.expire(event)
    if new_version is None:
        return False
    audit.record(
        "outreach_event.reported",
        "outreach_events",
        event.id,
        {"from": old, "to": "reported", "version": new_version, "by": "every participant"},
    )
    return True
