"""Outreach programmes: a dated campaign of one organiser over an area (宣传月).

Rules:

- The coordinator (and admin) makes and edits programmes, over an area of their scope; every
  other reader sees them through :mod:`gridserve.scope` (area users whose area the programme
  covers or lies in, contacts of its organiser and its institutions). Workers: nothing.
- ``code`` is unique (409 ``programme_exists``); institutions are named by code (422
  ``unknown_institution``); an SMS campaign linked to the programme must cover its area (422
  ``area_mismatch``; an unknown campaign id is 422 ``validation_error``).
- ``plan_due_on`` / ``report_due_on`` are local dates, due at the end of that day in the
  deployment's zone (:func:`due_at`).
- Edits name the version they are based on (409 ``stale_version``).

No Flask request in here and no commits: the request boundary commits.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, select

from gridserve import audit
from gridserve.db import utcnow
from gridserve.errors import Conflict, ValidationFailed
from gridserve.extensions import db
from gridserve.models import (
    Area,
    OutreachEvent,
    OutreachProgramme,
    SmsCampaign,
    programme_institutions,
)
from gridserve.pagination import apply_sort
from gridserve.scope import Principal, area_contains, get_visible, in_area, visible
from gridserve.services.outreach.basics import (
    PLANNERS,
    READERS,
    due_at,
    institution_by_code,
    institutions_by_code,
    keep_order,
    user_id,
)
from gridserve.services.outreach.events import present_summaries
from gridserve.versioning import check_version, refuse_stale, update_versioned

STALE_PROGRAMME = "Someone changed this programme since you read it; reload and try again."
SCALARS = (
    "code",
    "name",
    "kind",
    "start_date",
    "end_date",
    "plan_due_on",
    "report_due_on",
    "list_due_on",
    "visits_from",
    "visits_to",
    "summary_due_on",
    "description",
)
SORTABLE = {
    "id": OutreachProgramme.id,
    "code": OutreachProgramme.code,
    "name": OutreachProgramme.name,
    "start_date": OutreachProgramme.start_date,
    "created_at": OutreachProgramme.created_at,
}


# --- reading ---------------------------------------------------------------------------------


def list_programmes(
    principal: Principal,
    *,
    kind: str | None = None,
    area_id: int | None = None,
    sort: str | None = None,
) -> Select:
    """Programmes in the caller's scope."""
    principal.require(*READERS)
    stmt = visible(OutreachProgramme, principal)
    if kind:
        stmt = stmt.where(OutreachProgramme.kind == kind)
    if area_id is not None:
        area = get_visible(Area, area_id, principal)
        stmt = stmt.where(in_area(OutreachProgramme.area_id, area))
    return apply_sort(stmt, sort, SORTABLE, "-start_date", OutreachProgramme.id.desc())


def get_programme(principal: Principal, programme_id: int) -> OutreachProgramme:
    """One programme in scope (404 otherwise)."""
    principal.require(*READERS)
    return get_visible(OutreachProgramme, programme_id, principal)


def present(programmes: list[OutreachProgramme]) -> list[OutreachProgramme]:
    """Programmes ready for their schema: codes for institutions, due times, campaigns."""
    for p in programmes:
        p.organiser_code = p.organiser.code  # type: ignore[attr-defined]
        p.institution_codes = [i.code for i in p.institutions]  # type: ignore[attr-defined]
        p.sms_campaign_ids = [c.id for c in p.sms_campaigns]  # type: ignore[attr-defined]
        p.campaigns = [  # type: ignore[attr-defined]
            {
                "id": c.id,
                "code": c.code,
                "name": c.name,
                "start_date": c.start_date,
                "end_date": c.end_date,
            }
            for c in p.sms_campaigns
        ]
        p.plan_due_at = due_at(p.plan_due_on, p.area_id)  # type: ignore[attr-defined]
        p.report_due_at = due_at(p.report_due_on, p.area_id)  # type: ignore[attr-defined]
    return programmes


def present_detail(principal: Principal, programme: OutreachProgramme) -> OutreachProgramme:
    """A programme with its events (those the caller sees), campaigns and due dates."""
    present([programme])
    events = db.session.scalars(
        visible(OutreachEvent, principal)
        .where(OutreachEvent.programme_id == programme.id)
        .order_by(OutreachEvent.starts_at, OutreachEvent.id)
    ).all()
    programme.events = present_summaries(list(events))  # type: ignore[attr-defined]
    return programme


# --- writing ---------------------------------------------------------------------------------


def _check_dates(values: dict[str, Any]) -> None:
    start, end = values["start_date"], values["end_date"]
    if end < start:
        raise ValidationFailed(
            "The programme ends before it starts.",
            details={"fields": {"end_date": ["Must not be before start_date."]}},
        )


def _check_window(values: dict[str, Any]) -> None:
    start, end = values.get("visits_from"), values.get("visits_to")
    if start is not None and end is not None and end < start:
        raise ValidationFailed(
            "The visit window ends before it starts.",
            details={"fields": {"visits_to": ["Must not be before visits_from."]}},
        )


def _check_code_free(code: str, programme_id: int | None = None) -> None:
    taken = db.session.execute(
        select(OutreachProgramme.id).where(OutreachProgramme.code == code)
    ).scalar()
    if taken is not None and taken != programme_id:
        raise Conflict(
            f"A programme with code {code} exists.",
            code="programme_exists",
            details={"code": code, "programme_id": taken},
        )


def _campaigns(ids: list[int], area: Area) -> list[SmsCampaign]:
    """The SMS campaigns ``ids``; each must exist and cover ``area``."""
    wanted = list(dict.fromkeys(ids))
    found = {
        c.id: c for c in db.session.scalars(select(SmsCampaign).where(SmsCampaign.id.in_(wanted)))
    }
    unknown = [i for i in wanted if i not in found]
    if unknown:
        raise ValidationFailed(
            "No such SMS campaign.",
            details={"fields": {"sms_campaign_ids": [f"Unknown: {unknown}."]}, "ids": unknown},
        )
    outside = []
    for c in found.values():
        campaign_area = db.session.get(Area, c.area_id)
        if campaign_area is None or not area_contains(campaign_area, area):
            outside.append(c.id)
    if outside:
        raise ValidationFailed(
            "An SMS campaign linked to a programme must cover the programme's area.",
            code="area_mismatch",
            details={"ids": outside, "area_id": area.id},
        )
    return [found[i] for i in wanted]


def create_programme(principal: Principal, data: dict[str, Any]) -> OutreachProgramme:
    """A new programme (coordinator). ``data``: code, name, area_id, start_date, end_date,
    organiser (code), institutions (codes), kind, plan_due_on, report_due_on,
    sms_campaign_ids, description."""
    principal.require(*PLANNERS)
    area = get_visible(Area, data["area_id"], principal)
    values = {k: data.get(k) for k in SCALARS}
    values["kind"] = values["kind"] or "publicity"
    values["description"] = values["description"] or ""
    _check_dates(values)
    _check_window(values)
    organiser = institution_by_code(data["organiser"], "organiser")
    members = institutions_by_code(data.get("institutions") or [], "institutions")
    campaigns = _campaigns(data.get("sms_campaign_ids") or [], area)
    _check_code_free(values["code"])
    programme = OutreachProgramme(
        **values,
        area_id=area.id,
        organiser_id=organiser.id,
        institutions=members,
        sms_campaigns=campaigns,
        version=1,
        created_by=user_id(principal),
    )
    db.session.add(programme)
    db.session.flush()
    keep_order(programme_institutions, programme_institutions.c.programme_id, programme.id, members)
    return programme


def update_programme(
    principal: Principal, programme_id: int, data: dict[str, Any]
) -> OutreachProgramme:
    """Change a programme, based on the version the caller read (409 ``stale_version``)."""
    principal.require(*PLANNERS)
    programme = get_visible(OutreachProgramme, programme_id, principal)
    based_on = data["version"]
    check_version(STALE_PROGRAMME, expected=based_on, current=programme.version)
    values: dict[str, Any] = {
        k: data[k] for k in SCALARS if k in data and data[k] != getattr(programme, k)
    }
    if "kind" in values and values["kind"] is None:
        values.pop("kind")
    if "description" in values and values["description"] is None:
        values["description"] = ""
    for key in ("code", "name", "start_date", "end_date"):
        if key in values and values[key] is None:
            raise ValidationFailed(
                f"{key} cannot be empty.", details={"fields": {key: ["May not be null."]}}
            )
    _check_dates(
        {
            "start_date": values.get("start_date", programme.start_date),
            "end_date": values.get("end_date", programme.end_date),
        }
    )
    _check_window({k: values.get(k, getattr(programme, k)) for k in ("visits_from", "visits_to")})
    area = db.session.get(Area, programme.area_id)
    if "area_id" in data and data["area_id"] != programme.area_id:
        area = get_visible(Area, data["area_id"], principal)
        values["area_id"] = area.id
    if "organiser" in data:
        organiser = institution_by_code(data["organiser"], "organiser")
        if organiser.id != programme.organiser_id:
            values["organiser_id"] = organiser.id
    members = None
    if "institutions" in data:
        members = institutions_by_code(data["institutions"] or [], "institutions")
        if [m.id for m in members] == [i.id for i in programme.institutions]:
            members = None
    campaigns = None
    if "sms_campaign_ids" in data or "area_id" in values:
        ids = (
            data["sms_campaign_ids"] or []
            if "sms_campaign_ids" in data
            else [c.id for c in programme.sms_campaigns]
        )
        campaigns = _campaigns(ids, area)
        if [c.id for c in campaigns] == [c.id for c in programme.sms_campaigns]:
            campaigns = None
    if "code" in values:
        _check_code_free(values["code"], programme.id)
    if not values and members is None and campaigns is None:
        return programme
    new_version = update_versioned(
        OutreachProgramme,
        based_on,
        OutreachProgramme.id == programme.id,
        **values,
        updated_at=utcnow(),
    )
    if new_version is None:
        db.session.expire(programme)
        refuse_stale(STALE_PROGRAMME, expected=based_on, current=programme.version)
    db.session.expire(programme)
    if members is not None:
        programme.institutions = members
    if campaigns is not None:
        programme.sms_campaigns = campaigns
    db.session.flush()
    if members is not None:
        keep_order(
            programme_institutions, programme_institutions.c.programme_id, programme.id, members
        )
        db.session.expire(programme, ["institutions"])
    changed = sorted(values) + (["institutions"] if members is not None else [])
    changed += ["sms_campaign_ids"] if campaigns is not None else []
    audit.record(
        "update",
        "outreach_programmes",
        programme.id,
        {"fields": changed, "version": [based_on, new_version]},
    )
    return programme
