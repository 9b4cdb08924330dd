"""Reports after an event (活动总结), and the programme's summary of them.

Each participant reports once per event (and may correct it, with its version): people reached,
materials handed out, consultations, photos (desk files) and a summary. A report can be filed
once the event has taken place: it is ``held`` (or already ``reported``), or it is ``approved``
and its end has passed (the job that marks it held may not have run yet). Filed after the
programme's ``report_due_on`` (the end of that local day) it is marked late, not refused.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from gridserve import audit
from gridserve.db import utcnow
from gridserve.errors import Conflict
from gridserve.extensions import db
from gridserve.models import (
    Institution,
    OutreachEvent,
    OutreachPlan,
    OutreachProgramme,
    OutreachReport,
)
from gridserve.scope import Principal, get_visible, visible
from gridserve.services.field.attachments import PHOTO_TYPES
from gridserve.services.outreach import lifecycle
from gridserve.services.outreach import plans as plan_service
from gridserve.services.outreach.basics import institution_by_code, is_late, participant_ids
from gridserve.services.outreach.teams import (
    READERS,
    WRITERS,
    event_in_scope,
    expected_version,
    is_coordinator,
    require_acting_for,
    require_participant,
)
from gridserve.versioning import check_version, refuse_stale, update_versioned

FILERS = WRITERS
SUMMARY_READERS = READERS
# Events that have taken place (and approved ones that are over: :func:`reportable`); their
# participants owe a report, listed as missing until they file it.
DONE = ("held", "reported")
MAX_PHOTOS = 50
SUMMARY_MAX = 5_000
COUNTS = ("participants", "materials", "consultations")


def reportable(event: OutreachEvent, now: dt.datetime) -> bool:
    """The event has taken place: held or reported, or approved and over."""
    return event.status in DONE or (event.status == "approved" and event.ends_at <= now)


def file_report(
    principal: Principal,
    event_id: int,
    code: str,
    data: dict[str, Any],
    version: int | None = None,
) -> OutreachReport:
    """Create or correct ``code``'s report for the event.

    ``data``: ``participants``, ``materials``, ``consultations`` (ints >= 0), ``photos`` (desk
    file UUIDs, JPEG/PNG), ``summary``. ``version`` omitted or 0 creates; then the current one.
    404, 422 ``unknown_institution``, 403 ``not_your_institution``, 422 ``not_a_participant``,
    409 ``event_not_held`` (not yet taken place, or cancelled), 409 ``stale_version``, 422
    ``invalid_attachment``. ``late`` when filed after the programme's ``report_due_on``.
    """
    event = event_in_scope(principal, event_id)
    inst = institution_by_code(code, "institution")
    require_acting_for(principal, inst)
    require_participant(event, inst)
    now = utcnow()
    if not reportable(event, now):
        raise Conflict(
            "A report is filed once the event has taken place.",
            code="event_not_held",
            details={"status": event.status},
        )
    expected = expected_version(version)
    report = db.session.execute(
        select(OutreachReport).where(
            OutreachReport.event_id == event.id, OutreachReport.institution_id == inst.id
        )
    ).scalar_one_or_none()
    if report is None and expected is not None:
        refuse_stale("No report is filed yet: send no version.", expected=version, current=None)
    if report is not None and expected is None:
        check_version("A report is filed: send its version.", expected=version,
                      current=report.version)  # fmt: skip
    photos = plan_service.link_attachments(
        principal, event, data.get("photos") or [], field="photos", content_types=PHOTO_TYPES
    )
    values: dict[str, Any] = {
        **{k: int(data.get(k) or 0) for k in COUNTS},
        "photos": photos,
        "summary": data.get("summary") or "",
        "late": is_late(event.programme.report_due_on, event.programme.area_id, now),
        "submitted_at": now,
        "submitted_by": principal.user_id or None,
    }
    if report is None:
        report = OutreachReport(event_id=event.id, institution_id=inst.id, **values)
        db.session.add(report)
        db.session.flush()
    else:
        new = update_versioned(
            OutreachReport, expected, OutreachReport.id == report.id, updated_at=now, **values
        )
        db.session.refresh(report)
        if new is None:
            refuse_stale("The report changed since you read it.", expected=version,
                         current=report.version)  # fmt: skip
    details = {"event_id": event.id, "institution": inst.code, "late": values["late"]}
    audit.record("outreach.report.filed", "outreach_report", report.id, details)
    lifecycle.maybe_mark_reported(event)
    return report


def list_reports(principal: Principal, event_id: int) -> list[OutreachReport]:
    """Every report filed for the event (participants' order)."""
    event = event_in_scope(principal, event_id)
    rows = list(
        db.session.scalars(select(OutreachReport).where(OutreachReport.event_id == event.id))
    )
    order = {inst: i for i, inst in enumerate(participant_ids(event))}
    return sorted(rows, key=lambda r: (order.get(r.institution_id, len(order)), r.id))


# --- the programme's summary -------------------------------------------------------------------


@dataclass
class Tally:
    participants: int = 0
    materials: int = 0
    consultations: int = 0
    reports: int = 0
    late_reports: int = 0

    def add(self, report: OutreachReport) -> None:
        self.participants += report.participants
        self.materials += report.materials
        self.consultations += report.consultations
        self.reports += 1
        self.late_reports += int(report.late)


@dataclass
class InstitutionRow(Tally):
    institution: str = ""
    name: str = ""


@dataclass
class SiteRow(Tally):
    event_id: int = 0
    title: str = ""
    kind: str = ""
    status: str = ""
    starts_at: dt.datetime | None = None
    lead: str | None = None
    expected_reports: int = 0
    plan_status: str | None = None
    plan_late: bool | None = None


@dataclass
class Summary:
    programme_id: int
    code: str
    name: str
    plan_due_on: dt.date | None
    report_due_on: dt.date | None
    totals: Tally
    by_institution: list[InstitutionRow] = field(default_factory=list)
    by_site: list[SiteRow] = field(default_factory=list)
    late_reports: list[dict[str, Any]] = field(default_factory=list)
    missing_reports: list[dict[str, Any]] = field(default_factory=list)


def summary(principal: Principal, programme_id: int) -> Summary:
    """Totals by institution and by site, late and missing reports, and each site's plan.

    What each caller sees: the coordinator everything; an area user (station, street centre)
    the programme's events in its area; an institution contact the totals of the whole
    programme (by institution and overall), but only the sites it takes part in and only its
    own late and missing reports. Cancelled events count for nothing and owe no report; an
    event owes its reports once it has taken place (:func:`reportable`: held or reported, or
    approved and over before the job marked it held).
    """
    programme = get_visible(OutreachProgramme, programme_id, principal)
    now = utcnow()
    contact = principal.institution_id is not None and not is_coordinator(principal)
    all_events = select(OutreachEvent).where(OutreachEvent.programme_id == programme.id)
    mine = visible(OutreachEvent, principal).where(OutreachEvent.programme_id == programme.id)
    counted = list(db.session.scalars((all_events if contact else mine).order_by(
        OutreachEvent.starts_at, OutreachEvent.id)))  # fmt: skip
    shown = {e.id for e in db.session.scalars(mine)} if contact else {e.id for e in counted}
    ids = [e.id for e in counted]
    reports: dict[int, list[OutreachReport]] = {i: [] for i in ids}
    for r in db.session.scalars(
        select(OutreachReport)
        .where(OutreachReport.event_id.in_(ids))
        .order_by(OutreachReport.event_id, OutreachReport.id)
    ):
        reports[r.event_id].append(r)
    plans = {
        p.event_id: p
        for p in db.session.scalars(select(OutreachPlan).where(OutreachPlan.event_id.in_(ids)))
    }
    inst_ids = {i for e in counted for i in participant_ids(e)} | {
        r.institution_id for rs in reports.values() for r in rs
    }
    institutions = {
        i.id: i for i in db.session.scalars(select(Institution).where(Institution.id.in_(inst_ids)))
    }
    out = Summary(programme.id, programme.code, programme.name, programme.plan_due_on,
                  programme.report_due_on, Tally())  # fmt: skip
    by_inst: dict[int, InstitutionRow] = {}
    for i in [x.id for x in programme.institutions] + sorted(inst_ids):
        if i in institutions and i not in by_inst:
            by_inst[i] = InstitutionRow(institution=institutions[i].code, name=institutions[i].name)
    for event in counted:
        if event.status == "cancelled":
            continue
        site = SiteRow(event_id=event.id, title=event.title, kind=event.kind, status=event.status,
                       starts_at=event.starts_at, lead=event.lead.code if event.lead else None,
                       expected_reports=len(participant_ids(event)))  # fmt: skip
        plan = plans.get(event.id)
        site.plan_status = plan.status if plan else None
        site.plan_late = plan.late if plan else None
        filed = set()
        for r in reports[event.id]:
            out.totals.add(r)
            by_inst[r.institution_id].add(r)
            site.add(r)
            filed.add(r.institution_id)
            own = not contact or r.institution_id == principal.institution_id
            if r.late and event.id in shown and own:
                out.late_reports.append({
                    "event_id": event.id, "title": event.title,
                    "institution": institutions[r.institution_id].code,
                    "submitted_at": r.submitted_at,
                })  # fmt: skip
        if reportable(event, now) and event.id in shown:
            for i in participant_ids(event):
                if i not in filed and (not contact or i == principal.institution_id):
                    out.missing_reports.append({"event_id": event.id, "title": event.title,
                                                "institution": institutions[i].code})  # fmt: skip
        if event.id in shown:
            out.by_site.append(site)
    out.by_institution = list(by_inst.values())
    return out
