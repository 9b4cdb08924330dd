"""The dismissal rule: a published yearly fail recommends dismissal; the street centre decides.

Publishing a yearly (``YYYY``) worker run opens one :class:`DismissalRecommendation` per
``fail`` card (one statement), for the street over the worker's community; open
recommendations of the run it supersedes are closed as overturned ("superseded by the
correction"). Nothing is dismissed automatically.

The street centre and above read them (scoped by that street) and decide once, by one
conditional update (409 ``already_decided``):

- ``confirm`` ``{reason}`` applies the dismissal the workers' service already has (status
  ``dismissed``: the worker's assignments end today, the cell shows vacant), revokes the
  worker's terminals and disables the worker's account (its tokens revoked);
- ``overturn`` ``{reason}`` keeps the worker.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, insert, literal, select, update
from sqlalchemy.orm import aliased

from gridserve import audit
from gridserve.db import utcnow
from gridserve.errors import Conflict
from gridserve.extensions import db
from gridserve.models import Area, AssessmentRun, DismissalRecommendation, Scorecard, User
from gridserve.pagination import apply_sort
from gridserve.scope import Principal, get_visible, visible
from gridserve.services.accounts.auth import revoke_tokens
from gridserve.services.field import devices, workers
from gridserve.services.geography.areas import zone_of

DECIDERS = ("street_centre", "district_centre")
SORTABLE = {"id": DismissalRecommendation.id, "created_at": DismissalRecommendation.created_at}


def open_for_run(principal: Principal, run: AssessmentRun) -> int:
    """Open the recommendations of a run just published (a yearly worker run); returns how
    many were opened."""
    snap = run.template_snapshot or {}
    if snap.get("target_kind") != "worker" or "-" in run.period:
        return 0
    now = utcnow()
    if run.supersedes_id is not None:
        db.session.execute(
            update(DismissalRecommendation)
            .where(
                DismissalRecommendation.run_id == run.supersedes_id,
                DismissalRecommendation.status == "open",
            )
            .values(
                status="overturned",
                reason=f"Superseded by the correction (run {run.id}).",
                decided_by=principal.user_id or None,
                decided_at=now,
                version=DismissalRecommendation.version + 1,
            )
            .execution_options(synchronize_session=False)
        )
    community = aliased(Area)
    fails = (
        select(
            Scorecard.id,
            Scorecard.run_id,
            Scorecard.target_id,
            community.parent_id,
            literal("open"),
            literal(""),
            literal(now, DismissalRecommendation.created_at.type),
            literal(1),
        )
        .join(community, community.id == Scorecard.area_id)
        .where(
            Scorecard.run_id == run.id, Scorecard.grade == "fail", community.parent_id.is_not(None)
        )
    )
    table = DismissalRecommendation.__table__
    result = db.session.execute(
        insert(table).from_select(
            [
                "scorecard_id",
                "run_id",
                "worker_id",
                "area_id",
                "status",
                "reason",
                "created_at",
                "version",
            ],
            fails,
        )
    )
    return result.rowcount or 0


def list_recommendations(
    principal: Principal,
    *,
    status: str | None = None,
    run_id: int | None = None,
    sort: str | None = None,
) -> Select:
    principal.require(*DECIDERS)
    stmt = visible(DismissalRecommendation, principal)
    if status:
        stmt = stmt.where(DismissalRecommendation.status == status)
    if run_id:
        stmt = stmt.where(DismissalRecommendation.run_id == run_id)
    return apply_sort(stmt, sort, SORTABLE, "-created_at", DismissalRecommendation.id.desc())


def present(rows: list[DismissalRecommendation]) -> list[DismissalRecommendation]:
    """Recommendations with the card's worker name, total, grade and period (one query)."""
    ids = [r.scorecard_id for r in rows]
    cards = (
        {
            c.id: c
            for c in db.session.execute(
                select(
                    Scorecard.id,
                    Scorecard.target_name,
                    Scorecard.total,
                    Scorecard.grade,
                    AssessmentRun.period,
                )
                .join(AssessmentRun, AssessmentRun.id == Scorecard.run_id)
                .where(Scorecard.id.in_(ids))
            ).all()
        }
        if ids
        else {}
    )
    for row in rows:
        card = cards.get(row.scorecard_id)
        row.worker_name = card.target_name if card else ""  # type: ignore[attr-defined]
        row.total = card.total if card else None  # type: ignore[attr-defined]
        row.grade = card.grade if card else None  # type: ignore[attr-defined]
        row.period = card.period if card else ""  # type: ignore[attr-defined]
    return rows


def get_recommendation(principal: Principal, rec_id: int) -> DismissalRecommendation:
    principal.require(*DECIDERS)
    return present([get_visible(DismissalRecommendation, rec_id, principal)])[0]


def _decide(principal: Principal, rec_id: int, status: str, reason: str) -> DismissalRecommendation:
    principal.require(*DECIDERS)
    rec = get_visible(DismissalRecommendation, rec_id, principal)
    done = db.session.execute(
        update(DismissalRecommendation)
        .where(DismissalRecommendation.id == rec.id, DismissalRecommendation.status == "open")
        .values(
            status=status,
            reason=reason,
            decided_by=principal.user_id or None,
            decided_at=utcnow(),
            version=DismissalRecommendation.version + 1,
        )
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.expire(rec)
    if not done:
        raise Conflict(
            f"The recommendation was {rec.status} already.",
            code="already_decided",
            details={"status": rec.status, "decided_at": rec.decided_at},
        )
    audit.record(
        f"dismissal_{status}",
        "assessment_recommendations",
        rec.id,
        {"worker_id": rec.worker_id, "reason": reason},
    )
    return rec


def confirm(principal: Principal, rec_id: int, reason: str) -> DismissalRecommendation:
    """Confirm: the dismissal applied (see the module's rules)."""
    rec = _decide(principal, rec_id, "confirmed", reason)
    worker = workers.get_worker(principal, rec.worker_id)
    today = utcnow().astimezone(zone_of(worker.area_id)).date()
    workers.update_worker(principal, worker.id, {"status": "dismissed"}, today)
    details: dict[str, Any] = {"worker_id": worker.id, "recommendation_id": rec.id}
    if worker.user_id is not None:
        details["terminals_revoked"] = devices.revoke_all_of_user(
            worker.user_id, reason="dismissed"
        )
        user = db.session.get(User, worker.user_id)
        if user is not None and user.is_active:
            user.is_active = False
            revoke_tokens(user)
        details["account_disabled"] = user is not None
    audit.record("worker_dismissed", "workers", worker.id, details)
    db.session.flush()
    return present([rec])[0]


def overturn(principal: Principal, rec_id: int, reason: str) -> DismissalRecommendation:
    """Overturn: the worker stays."""
    return present([_decide(principal, rec_id, "overturned", reason)])[0]
