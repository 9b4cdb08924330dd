"""Where jobs run with ``GRIDSERVE_JOBS_MODE=pool``: a small thread pool in the web process.

A service that stores a :class:`~gridserve.models.Job` calls :func:`start_after_commit`; once
the request's transaction commits (so the row is there for another connection to read), the
job is handed to the pool, which runs :func:`gridserve.services.accounts.jobs.run_job` in an app
context of its own. A rolled-back request starts nothing. With ``settings().jobs_inline`` (the
tests' default) the job runs at once, in the committing thread, still in its own app context,
session and transaction.

With ``GRIDSERVE_JOBS_MODE=workers`` nothing starts here: the job stays ``queued`` for the
``gridserve worker`` processes (:mod:`gridserve.worker`), which claim the same rows through the
same functions. In pool mode a job this process never got to (it stopped) is left ``queued``
for this pool's next sweep (:func:`_run`) or for a worker.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor

from flask import Flask, current_app
from sqlalchemy import event
from sqlalchemy.orm import Session

from gridserve import audit
from gridserve.config import settings
from gridserve.extensions import db

log = logging.getLogger("gridserve.jobs")

_PENDING = "gridserve_jobs_to_start"
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def start_after_commit(session: Session, job_id: int) -> None:
    """Run job ``job_id`` once ``session``'s transaction commits (never if it rolls back)."""
    session.info.setdefault(_PENDING, []).append(job_id)


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    if session.in_nested_transaction():
        return  # a savepoint released: the transaction goes on
    ids = session.info.pop(_PENDING, None)
    if not ids:
        return
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    if settings(app).jobs_mode == "workers":
        return  # the worker processes claim it
    for job_id in ids:
        if settings(app).jobs_inline:
            _run(app, job_id, sweep=False)
        else:
            _executor(app).submit(_run, app, job_id)


@event.listens_for(Session, "after_soft_rollback")
def _after_rollback(session: Session, previous_transaction) -> None:
    if previous_transaction.parent is None:  # the whole transaction, not a savepoint
        session.info.pop(_PENDING, None)


def _executor(app: Flask) -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(
                max_workers=settings(app).jobs_threads, thread_name_prefix="gridserve-job"
            )
        return _pool


def _run(app: Flask, job_id: int, *, sweep: bool = True) -> None:
    """Run one job in an app context of its own; then (pool) any job left waiting."""
    from gridserve.services.accounts import jobs

    with app.app_context(), audit.acting_as(audit.Actor(kind="job", name="jobs")):
        try:
            jobs.run_job(job_id)
            while sweep and (waiting := jobs.next_claimable()) is not None:
                if not jobs.run_job(waiting):
                    break
        except Exception:  # never kill the pool's thread; run_job records what it can
            db.session.rollback()
            with jobs.log_context(job_id):  # the line carries the job's requester
                log.exception("job %s: the runner failed", job_id)


def shutdown(wait: bool = True) -> None:
    """Stop the pool (tests, and a clean process exit); it starts again when used."""
    global _pool
    with _pool_lock:
        pool, _pool = _pool, None
    if pool is not None:
        pool.shutdown(wait=wait)
