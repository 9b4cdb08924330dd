"""Assessment runs: asked for, computed as a job, read, published.

- :func:`create_run` stores the run (``computing``) and its job in the request's transaction;
  the job (:func:`gridserve.services.assessment.engine.compute_run`) scores every target. A
  period (``YYYY-Qn`` or ``YYYY``) not yet ended in the area's time zone is 422
  ``period_not_ended`` unless ``provisional``. One run per template, period and area: a second
  one is 409 ``run_exists`` unless it gives a ``reason``, which makes it a correction — a new
  version superseding the latest (published or not; the old stays readable). A provisional run
  whose period has since ended is superseded by the final run without a reason.
- Who may run, publish, enter and deduct: the template's assessor role and the roles above it
  (:data:`templates.ASSESSORS`), for an area in their scope; admin.
- :func:`publish` freezes a run with one conditional update (409 ``already_published``,
  ``run_computing``, ``run_failed``, ``run_provisional``); a yearly worker run opens a
  dismissal recommendation per ``fail`` card (:mod:`.recommendations`).
- A run whose job failed before it finished stays ``computing`` in the table and is shown
  ``failed`` with the job's error (the job's own transaction left nothing behind).
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from sqlalchemy import Select, exists, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased

from gridserve import audit
from gridserve.db import utcnow
from gridserve.errors import Conflict, Forbidden, NotFound, ValidationFailed
from gridserve.extensions import db
from gridserve.models import GRADES, Area, AssessmentRun, AssessmentTemplate, Job, Scorecard
from gridserve.pagination import apply_sort
from gridserve.scope import Principal, get_visible, visible
from gridserve.services.accounts import jobs as job_service
from gridserve.services.assessment import engine, recommendations
from gridserve.services.assessment import templates as template_service
from gridserve.services.geography.areas import zone_of

PERIOD = re.compile(r"^(\d{4})(?:-Q([1-4]))?$")
SORTABLE = {
    "id": AssessmentRun.id,
    "period": AssessmentRun.period,
    "created_at": AssessmentRun.created_at,
}
# Where a run may be made, by what it scores: workers of a community or more, stations of a
# street or more, institutions of any area (the coordinator's district).
AREA_LEVELS = {
    "worker": ("community", "street", "district"),
    "station": ("street", "district"),
    "institution": ("community", "street", "district"),
}


def parse_period(period: str) -> tuple[dt.date, dt.date]:
    """``YYYY-Qn`` or ``YYYY`` as its first and last local days, or 422 by field."""
    match = PERIOD.match(period or "")
    year = int(match.group(1)) if match else 0
    if match is None or not 1900 <= year <= 2200:
        raise ValidationFailed(
            "The period is a year (2026) or a quarter (2026-Q3).",
            details={"fields": {"period": ["YYYY or YYYY-Qn (n 1-4), years 1900-2200."]}},
        )
    if match.group(2) is None:
        return dt.date(year, 1, 1), dt.date(year, 12, 31)
    quarter = int(match.group(2))
    start = dt.date(year, 3 * quarter - 2, 1)
    following = dt.date(year + 1, 1, 1) if quarter == 4 else dt.date(year, 3 * quarter + 1, 1)
    return start, following - dt.timedelta(days=1)


def local_today_in(area_id: int) -> dt.date:
    """Today in ``area_id``'s time zone, by the one clock."""
    return utcnow().astimezone(zone_of(area_id)).date()


def _template_for_run(principal: Principal, ident: str | int) -> AssessmentTemplate:
    template = template_service.find(ident)
    if template is None or not template.active:
        raise ValidationFailed(
            "No such active template.",
            details={"fields": {"template": [f"No active template {ident}."]}},
        )
    if not template_service.may_act(principal, template.assessor_role):
        raise Forbidden(
            f"Runs of {template.code} are made by its assessor ({template.assessor_role}) "
            "or above.",
            code="not_the_assessor",
            details={"assessor_role": template.assessor_role},
        )
    return template


def _latest(template_id: int, period: str, area_id: int) -> AssessmentRun | None:
    return db.session.execute(
        select(AssessmentRun)
        .where(
            AssessmentRun.template_id == template_id,
            AssessmentRun.period == period,
            AssessmentRun.area_id == area_id,
        )
        .order_by(AssessmentRun.version.desc())
        .limit(1)
    ).scalar_one_or_none()


def _run_exists(latest: AssessmentRun | None) -> Conflict:
    return Conflict(
        "This template has a run for this period and area; give a reason to correct it.",
        code="run_exists",
        details={
            "run_id": latest.id if latest else None,
            "version": latest.version if latest else None,
        },
    )


def create_run(
    principal: Principal,
    data: dict[str, Any],
    *,
    request_id: str | None = None,
    as_job: bool = True,
) -> tuple[AssessmentRun, Job | None]:
    """A run and the job computing it (see the module's rules). ``as_job=False`` (seeding,
    the CLI): computed at once in the caller's transaction, no job."""
    template = _template_for_run(principal, data["template"])
    area = get_visible(Area, data["area_id"], principal)
    levels = AREA_LEVELS[template.target_kind]
    if area.level not in levels:
        raise ValidationFailed(
            f"A {template.target_kind} run covers a {' or '.join(levels)}.",
            details={"fields": {"area_id": [f"{area.code} is a {area.level}."]}},
        )
    start, end = parse_period(data["period"])
    today = local_today_in(area.id)
    ended = end < today
    if not ended and not data.get("provisional"):
        raise ValidationFailed(
            f"{data['period']} ends on {end.isoformat()}; ask for a provisional run before then.",
            code="period_not_ended",
            details={
                "period_end": end.isoformat(),
                "today": today.isoformat(),
                "fields": {"period": ["Not yet ended."]},
            },
        )
    reason = (data.get("reason") or "").strip()
    latest = _latest(template.id, data["period"], area.id)
    if latest is not None and not reason:
        if latest.provisional and ended:
            reason = "The final run after the period ended (supersedes the provisional run)."
        else:
            raise _run_exists(latest)
    run = AssessmentRun(
        template_id=template.id,
        period=data["period"],
        period_start=start,
        period_end=end,
        area_id=area.id,
        provisional=not ended,
        status="computing",
        version=(latest.version + 1) if latest else 1,
        supersedes_id=latest.id if latest else None,
        reason=reason,
        template_snapshot=template_service.snapshot(template),
        created_by=principal.user_id or None,
        row_version=1,
    )
    try:
        with db.session.begin_nested():  # two runs racing for one version: one loses here
            db.session.add(run)
    except IntegrityError:
        raise _run_exists(_latest(template.id, data["period"], area.id)) from None
    if not as_job:
        engine.compute_run(principal, run.id)
        db.session.refresh(run)
        return run, None
    job = job_service.submit(
        principal,
        "assessment_run",
        area.id,
        params={
            "run_id": run.id,
            "template": template.code,
            "period": run.period,
            "version": run.version,
        },
        request_id=request_id,
    )
    run.job_id = job.id
    db.session.flush()
    audit.record(
        "assessment_run_requested",
        "assessment_runs",
        run.id,
        {
            "template": template.code,
            "period": run.period,
            "area_id": area.id,
            "version": run.version,
            "reason": reason,
            "provisional": run.provisional,
        },
    )
    return run, job


# --- reading --------------------------------------------------------------------------------


def list_runs(
    principal: Principal,
    *,
    template: str | None = None,
    period: str | None = None,
    area_id: int | None = None,
    status: str | None = None,
    sort: str | None = None,
) -> Select:
    stmt = visible(AssessmentRun, principal)
    if template:
        found = template_service.find(template)
        stmt = stmt.where(AssessmentRun.template_id == (found.id if found else -1))
    if period:
        stmt = stmt.where(AssessmentRun.period == period)
    if area_id:
        stmt = stmt.where(AssessmentRun.area_id == area_id)
    if status == "failed":
        stmt = stmt.where(
            (AssessmentRun.status == "failed")
            | (
                (AssessmentRun.status == "computing")
                & AssessmentRun.job_id.in_(select(Job.id).where(Job.status == "failed"))
            )
        )
    elif status:
        stmt = stmt.where(AssessmentRun.status == status)
    return apply_sort(stmt, sort, SORTABLE, "-created_at", AssessmentRun.id.desc())


def get_run(principal: Principal, run_id: int) -> AssessmentRun:
    return present([get_visible(AssessmentRun, run_id, principal)])[0]


def present(runs: list[AssessmentRun]) -> list[AssessmentRun]:
    """Runs ready for their schema: ``shown_status`` (a failed job shows), ``counts`` by grade,
    ``superseded_by``, ``template_code``/``template_name`` (a few queries for the page)."""
    if not runs:
        return runs
    ids = [r.id for r in runs]
    counts: dict[int, dict[str, int]] = {
        i: {**{g: 0 for g in GRADES}, "not_graded": 0, "total": 0} for i in ids
    }
    for run_id, grade, n in db.session.execute(
        select(Scorecard.run_id, Scorecard.grade, func.count())
        .where(Scorecard.run_id.in_(ids))
        .group_by(Scorecard.run_id, Scorecard.grade)
    ).all():
        counts[run_id][grade or "not_graded"] += n
        counts[run_id]["total"] += n
    newer = dict(
        db.session.execute(
            select(AssessmentRun.supersedes_id, AssessmentRun.id).where(
                AssessmentRun.supersedes_id.in_(ids)
            )
        ).all()
    )
    job_ids = [r.job_id for r in runs if r.job_id]
    jobs = (
        {j.id: j for j in db.session.execute(select(Job).where(Job.id.in_(job_ids))).scalars()}
        if job_ids
        else {}
    )
    for run in runs:
        job = jobs.get(run.job_id)
        failed = run.status == "computing" and job is not None and job.status == "failed"
        run.shown_status = "failed" if failed else run.status  # type: ignore[attr-defined]
        run.shown_error = job.error if failed else run.error  # type: ignore[attr-defined]
        run.counts = counts[run.id]  # type: ignore[attr-defined]
        run.superseded_by = newer.get(run.id)  # type: ignore[attr-defined]
        snap = run.template_snapshot or {}
        run.template_code = snap.get("code", "")  # type: ignore[attr-defined]
        run.template_name = snap.get("name", "")  # type: ignore[attr-defined]
        run.target_kind = snap.get("target_kind", "")  # type: ignore[attr-defined]
    return runs


# --- publishing -----------------------------------------------------------------------------


def require_assessor(principal: Principal, run: AssessmentRun) -> None:
    """403 unless ``principal`` acts for the run's template (its snapshot's assessor)."""
    role = (run.template_snapshot or {}).get("assessor_role", "")
    if not template_service.may_act(principal, role):
        raise Forbidden(
            f"Only the template's assessor ({role}) or above may do this.",
            code="not_the_assessor",
            details={"assessor_role": role},
        )


def publish(principal: Principal, run_id: int) -> AssessmentRun:
    """Freeze a computed run (see the module's rules); audited."""
    run = get_visible(AssessmentRun, run_id, principal)
    require_assessor(principal, run)
    now = utcnow()
    newer = aliased(AssessmentRun)
    done = db.session.execute(
        update(AssessmentRun)
        .where(
            AssessmentRun.id == run.id,
            AssessmentRun.status == "computed",
            AssessmentRun.provisional.is_(False),
            ~exists().where(newer.supersedes_id == AssessmentRun.id),
        )
        .values(
            status="published",
            published_at=now,
            published_by=principal.user_id or None,
            row_version=AssessmentRun.row_version + 1,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.expire(run)
    if not done:
        shown = present([run])[0].shown_status
        if shown != "published" and run.superseded_by is not None:  # type: ignore[attr-defined]
            raise Conflict(
                f"Run version {run.version} is superseded by a correction; publish that one.",
                code="run_superseded",
                details={"superseded_by": run.superseded_by},  # type: ignore[attr-defined]
            )
        if shown == "computed" and run.provisional:
            raise Conflict(
                "A provisional run is not published; run the period once it ends.",
                code="run_provisional",
            )
        codes = {
            "published": "already_published",
            "computing": "run_computing",
            "failed": "run_failed",
        }
        raise Conflict(
            f"The run is {shown}.", code=codes.get(shown, "conflict"), details={"status": shown}
        )
    opened = recommendations.open_for_run(principal, run)
    audit.record(
        "assessment_run_published",
        "assessment_runs",
        run.id,
        {"version": run.version, "recommendations": opened},
    )
    return present([run])[0]


def run_of_card(card: Scorecard) -> AssessmentRun:
    run = db.session.get(AssessmentRun, card.run_id)
    if run is None:  # pragma: no cover - the foreign key holds it
        raise NotFound(f"No run {card.run_id}.")
    return run
