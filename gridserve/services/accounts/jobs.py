"""Jobs: long operations answered with 202 and polled (``Prefer: respond-async``, or a
request bigger than ``GRIDSERVE_ASYNC_GRID_CELLS`` / ``GRIDSERVE_ASYNC_IMPORT_ROWS``).

- :func:`submit` stores the job (``queued``) in the request's transaction, with what the
  operation needs to run again from scratch (jobs are idempotent: a run that did not finish
  committed nothing), and has it started once that transaction commits
  (:mod:`gridserve.job_pool`), unless ``GRIDSERVE_JOBS_MODE=workers`` leaves it to the
  ``gridserve worker`` processes (:mod:`gridserve.worker`, :func:`claim_next`).
- A job is claimed with one conditional ``UPDATE`` (queued, or running with its lease run
  out, fewer than ``MAX_ATTEMPTS`` claims so far) and the claim is committed; :func:`claim_next`
  finds the row with ``FOR UPDATE SKIP LOCKED`` on PostgreSQL. :func:`run_job` (claim one
  job) and :func:`run_claimed` are the one way a job runs, in whatever process: it does the
  work in a transaction of its own, with the requester's rights re-read from the
  database (a disabled account or a changed role fails the job as the synchronous call would
  have failed), as the requester in the audit log; and finishes it in that same transaction
  (result and status together: a job that dies half-way leaves nothing of its work). A job
  that fails records the error envelope the synchronous call would have answered, status
  included. Progress is committed apart from the work, on PostgreSQL (SQLite has one writer:
  the work's transaction holds it, so progress there shows started and finished only).
- The requester (and an admin) read a job; anyone else gets 404 (:mod:`gridserve.scope`).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Select, select, update
from sqlalchemy.sql.elements import ColumnElement

from gridserve import audit, logs
from gridserve.config import settings
from gridserve.db import backend_name, transaction, utcnow
from gridserve.errors import AppError, Conflict, Unauthorized
from gridserve.extensions import db
from gridserve.job_pool import start_after_commit
from gridserve.models import Area, Job, User
from gridserve.pagination import apply_sort
from gridserve.scope import Principal, get_visible, visible
from gridserve.timeutil import local_today

log = logging.getLogger("gridserve.jobs")

MAX_ATTEMPTS = 3  # a job whose runner died this many times is not claimed again
SORTABLE = {"id": Job.id, "created_at": Job.created_at, "status": Job.status}

Progress = Callable[[float, str], None]


# --- asking ---------------------------------------------------------------------------------


def submit(
    principal: Principal,
    kind: str,
    area_id: int,
    *,
    params: dict[str, Any],
    payload: Any = None,
    request_id: str | None = None,
) -> Job:
    """Store a queued job for ``principal`` about ``area_id`` (404 out of scope, at once).

    ``params``: shown with the job; ``payload``: what the work needs besides them (a body),
    dropped once the job has finished. The job starts when the caller's transaction commits.
    """
    area = get_visible(Area, area_id, principal)
    job = Job(
        kind=kind,
        status="queued",
        progress=0.0,
        message="queued",
        requested_by=principal.user_id,
        area_id=area.id,
        params=params,
        payload=payload,
        attempts=0,
        request_id=(request_id or "")[:64] or None,
    )
    db.session.add(job)
    db.session.flush()
    audit.record("job_submitted", "jobs", job.id, {"kind": kind, "area_id": area.id})
    start_after_commit(db.session(), job.id)
    return job


def get_job(principal: Principal, job_id: int) -> Job:
    """One job of the caller's (an admin: anyone's), else 404."""
    return get_visible(Job, job_id, principal)


def list_jobs(
    principal: Principal, *, status: str | None = None, sort: str | None = None
) -> Select:
    """The caller's jobs (an admin: everyone's), newest first."""
    stmt = visible(Job, principal)
    if status:
        stmt = stmt.where(Job.status == status)
    return apply_sort(stmt, sort, SORTABLE, "-created_at", Job.id.desc())


def job_result(principal: Principal, job_id: int) -> Any:
    """What a succeeded job made, when it has no resource of its own (an import's report)."""
    job = get_job(principal, job_id)
    if job.status != "succeeded":
        raise Conflict(
            f"The job is {job.status}; it has no result.",
            code="job_not_succeeded",
            details={"status": job.status},
        )
    return job.result


# --- running --------------------------------------------------------------------------------


def runner_name() -> str:
    """Who holds a claim: host, process and thread."""
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{threading.get_ident()}"[:120]


def claimable(now) -> ColumnElement[bool]:
    """Jobs a runner may take: queued, or running with the lease run out (its runner died)."""
    return (Job.attempts < MAX_ATTEMPTS) & (
        (Job.status == "queued") | ((Job.status == "running") & (Job.lease_until < now))
    )


def next_claimable() -> int | None:
    """The oldest job waiting for a runner (PostgreSQL: skipping rows another runner locks)."""
    stmt = select(Job.id).where(claimable(utcnow())).order_by(Job.created_at, Job.id).limit(1)
    if backend_name() == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    with transaction():
        return db.session.execute(stmt).scalar()


def _claim(job_id: int, me: str) -> bool:
    with transaction():
        return _claim_in(job_id, me)


def _claim_in(job_id: int, me: str) -> bool:
    """The conditional ``UPDATE`` that makes ``me`` the job's runner (in the caller's
    transaction): only one runner's succeeds, on any backend."""
    now = utcnow()
    claimed = db.session.execute(
        update(Job)
        .where(Job.id == job_id, claimable(now))
        .values(
            status="running",
            claimed_by=me,
            lease_until=now + _lease(),
            started_at=now,
            attempts=Job.attempts + 1,
            progress=0.0,
            message="started",
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    ).rowcount
    return bool(claimed)


def claim_next(me: str) -> int | None:
    """Claim the oldest claimable job for runner ``me`` and commit the claim; None: none left.

    PostgreSQL: ``SELECT … FOR UPDATE SKIP LOCKED`` and the claim in one transaction, so
    runners polling together each take a different job and never wait on each other. SQLite
    (one writer): the same select, then the conditional ``UPDATE``; a runner that lost the
    race to the same row tries the next one.
    """
    for _ in range(5):
        stmt = select(Job.id).where(claimable(utcnow())).order_by(Job.created_at, Job.id)
        if backend_name() == "postgresql":
            stmt = stmt.with_for_update(skip_locked=True)
        with transaction():
            job_id = db.session.execute(stmt.limit(1)).scalar()
            if job_id is None:
                return None
            if _claim_in(job_id, me):
                return job_id
    return None


def fail_abandoned() -> int:
    """Fail the jobs whose runner died ``MAX_ATTEMPTS`` times (running, lease run out, no
    attempt left: nobody may claim them), so that they do not show ``running`` for ever."""
    now = utcnow()
    error = {
        "code": "job_abandoned",
        "message": f"The job's runner stopped {MAX_ATTEMPTS} times before it finished.",
        "details": {"attempts": MAX_ATTEMPTS},
        "status": 500,
    }
    with transaction():
        failed = db.session.execute(
            update(Job)
            .where(Job.status == "running", Job.lease_until < now, Job.attempts >= MAX_ATTEMPTS)
            .values(
                status="failed",
                message="failed",
                error=error,
                payload=None,
                finished_at=now,
                lease_until=None,
                updated_at=now,
            )
            .execution_options(synchronize_session=False)
        ).rowcount
    if failed:
        log.warning("%d job(s) failed: their runner stopped %d times", failed, MAX_ATTEMPTS)
    return failed


def renew_lease(job_id: int, me: str) -> bool:
    """Push ``me``'s lease on a running job forward, on a connection of its own (a worker's
    heartbeat while the work's transaction is open); False once the job is no longer ``me``'s."""
    table = Job.__table__
    now = utcnow()
    with db.engine.begin() as conn:
        renewed = conn.execute(
            update(table)
            .where(table.c.id == job_id, table.c.claimed_by == me, table.c.status == "running")
            .values(lease_until=now + _lease(), updated_at=now)
        ).rowcount
    return bool(renewed)


def release(job_id: int, me: str) -> bool:
    """Give a job ``me`` is running back to the queue (a worker told to stop mid-job): its
    work was rolled back, so it is ``queued`` again and this attempt is not counted."""
    table = Job.__table__
    now = utcnow()
    with db.engine.begin() as conn:
        released = conn.execute(
            update(table)
            .where(table.c.id == job_id, table.c.claimed_by == me, table.c.status == "running")
            .values(
                status="queued",
                claimed_by=None,
                lease_until=None,
                attempts=table.c.attempts - 1,
                progress=0.0,
                message="released",
                updated_at=now,
            )
        ).rowcount
    return bool(released)


def _lease() -> dt.timedelta:
    return dt.timedelta(seconds=settings().jobs_lease_seconds)


def _reporter(job_id: int, me: str) -> Progress:
    """Progress, committed on a connection of its own (PostgreSQL); renews the lease too."""
    if backend_name() != "postgresql":
        return lambda _fraction, _message: None
    table = Job.__table__

    def report(fraction: float, message: str) -> None:
        now = utcnow()
        try:
            with db.engine.begin() as conn:
                conn.execute(
                    update(table)
                    .where(table.c.id == job_id, table.c.claimed_by == me)
                    .values(
                        progress=min(max(float(fraction), 0.0), 0.99),
                        message=message[:200],
                        lease_until=now + _lease(),
                        updated_at=now,
                    )
                )
        except Exception:  # progress is a courtesy: the work goes on without it
            log.warning("job %s: progress not recorded", job_id, exc_info=True)

    return report


def _principal_of(user_id: int) -> Principal:
    """The requester as they are now (role, area, active), like a request's token check."""
    from gridserve.services.accounts.auth import principal_for

    user = db.session.get(User, user_id)
    if user is None or not user.is_active:
        raise Unauthorized("The account is disabled.", code="account_disabled")
    return principal_for(user)


def run_job(job_id: int, me: str | None = None) -> bool:
    """Claim job ``job_id`` and run it to its end; False if it was not there to claim.

    Call inside an app context; commits on its own (claim, work, failure), so call it with no
    transaction of the caller's open.
    """
    me = me or runner_name()
    if not _claim(job_id, me):
        return False
    run_claimed(job_id, me)
    return True


def _log_fields(job_id: int) -> dict[str, Any]:
    """A job's log context: its kind (``job``), the request that asked for it and its requester
    (``user_id``, and ``role`` as the account has it now). A job row records no device:
    ``device_id`` stays null. Never raises (a log line's context is not worth a job): an
    unreadable row gives ``job`` only."""
    try:
        job = db.session.get(Job, job_id)
        if job is None:
            return {"job": "gone"}
        user = db.session.get(User, job.requested_by)
        return {
            "job": job.kind,
            "request_id": job.request_id,
            "user_id": job.requested_by,
            "role": user.role if user is not None else None,
        }
    except Exception:
        log.warning("job %s: its requester could not be read for the log", job_id, exc_info=True)
        db.session.rollback()
        return {"job": "unknown"}


@contextmanager
def log_context(job_id: int) -> Iterator[None]:
    """Lines logged inside carry job ``job_id``'s context (:func:`_log_fields`): whoever runs
    it (a worker, the pool, the scheduler) logs them as the request that asked for it."""
    with logs.job_context(**_log_fields(job_id)):
        yield


def run_claimed(job_id: int, me: str) -> None:
    """Do the work of job ``job_id``, which ``me`` has claimed, and record how it ended.

    Every line logged meanwhile, its failure's included, carries the job's context
    (:func:`log_context`). Only ``BaseException``s that are not ``Exception``s (a worker told
    to stop) pass through, with the work rolled back and the job still ``me``'s: the caller
    releases it.
    """
    with log_context(job_id):
        _run_claimed(job_id, me)


def _run_claimed(job_id: int, me: str) -> None:
    job = db.session.get(Job, job_id)
    kind, requester, request_id = job.kind, job.requested_by, job.request_id
    try:
        with transaction():
            principal = _principal_of(requester)
            actor = audit.Actor(
                kind="user", id=principal.user_id, name=principal.username, request_id=request_id
            )
            with audit.acting_as(actor):
                url, result = HANDLERS[kind](job, principal, _reporter(job_id, me))
            now = utcnow()
            done = db.session.execute(
                update(Job)
                .where(Job.id == job_id, Job.claimed_by == me, Job.status == "running")
                .values(
                    status="succeeded",
                    progress=1.0,
                    message="done",
                    result_url=url,
                    result=result,
                    payload=None,
                    error=None,
                    finished_at=now,
                    lease_until=None,
                    updated_at=now,
                )
                .execution_options(synchronize_session=False)
            ).rowcount
            if not done:
                raise _LeaseLost()
    except _LeaseLost:
        log.warning("job %s: another runner took it over; this run's work is undone", job_id)
    except AppError as exc:
        _fail(job_id, me, exc.status, exc.code, exc.message, exc.details)
    except Exception:
        log.exception("job %s failed", job_id)
        _fail(job_id, me, 500, "internal_error", "The job failed unexpectedly; it is logged.", {})


class _LeaseLost(Exception):
    pass


def _fail(job_id: int, me: str, status: int, code: str, message: str, details: dict) -> None:
    now = utcnow()
    error = {"code": code, "message": message, "details": details or {}, "status": status}
    with transaction():
        db.session.execute(
            update(Job)
            .where(Job.id == job_id, Job.claimed_by == me, Job.status == "running")
            .values(
                status="failed",
                message="failed",
                error=json.loads(json.dumps(error, default=str)),
                payload=None,
                finished_at=now,
                lease_until=None,
                updated_at=now,
            )
            .execution_options(synchronize_session=False)
        )


# --- what each kind does --------------------------------------------------------------------


def _grid_plan(job: Job, principal: Principal, progress: Progress) -> tuple[str, Any]:
    from gridserve.services.geography import grid

    body = dict(job.payload or job.params)
    plan = grid.create_plan(principal, job.area_id, body, local_today(), progress=progress)
    return f"/api/v1/grid-plans/{plan.id}", {"plan_id": plan.id}


def _place_import(job: Job, principal: Principal, progress: Progress) -> tuple[str, Any]:
    from gridserve.services.geography import places

    payload = job.payload or {}
    if "csv" in payload:
        rows = places.rows_from_csv(payload["csv"])
    else:
        rows = places.rows_from_geojson(payload.get("geojson"))
    report = places.import_places(principal, job.area_id, rows, local_today(), progress=progress)
    return f"/api/v1/jobs/{job.id}/result", report


def _assessment_run(job: Job, principal: Principal, progress: Progress) -> tuple[str, Any]:
    from gridserve.services.assessment import engine

    run_id = int(job.params["run_id"])
    cards = engine.compute_run(principal, run_id, progress=progress)
    return f"/api/v1/assessments/runs/{run_id}", {"run_id": run_id, "scorecards": cards}


HANDLERS: dict[str, Callable[[Job, Principal, Progress], tuple[str, Any]]] = {
    "grid_plan": _grid_plan,
    "place_import": _place_import,
    "assessment_run": _assessment_run,
}
