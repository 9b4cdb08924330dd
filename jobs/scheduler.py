"""The scheduler process: APScheduler 3 with a SQLAlchemy job store, one leader at a time.

Only one scheduler may fire. On PostgreSQL the leader holds a session-level
advisory lock on a dedicated connection; on SQLite it holds an exclusive file
lock next to the database. A second scheduler stands by and takes over when
the first one dies (the lock goes with its connection or its process).
The leader checks its lock every ``LEADER_CHECK_SECONDS``: when its connection was lost (the
database restarted, or cut it off; the standby may then hold the lock), it stops its jobs and
goes back to standing by. The lock's
connection asks the server for TCP keepalives (``LOCK_KEEPALIVES``), so the lock of a leader
whose host died is freed in about half a minute, not after the system's two hours.
Jobs are stored in the database, so a restart resumes their schedule.
With ``GRIDSERVE_SCHEDULER_METRICS_PORT`` set, the process serves its own Prometheus series
(:mod:`gridserve.metrics`: leadership, job runs, escalations, texts sent) on that port of
``GRIDSERVE_SCHEDULER_METRICS_BIND`` (default the loopback) to ``GRIDSERVE_METRICS_ALLOW``,
standing by or active. If the port is taken (another scheduler on this host), it logs a warning
and runs without it.
"""

from __future__ import annotations

import fcntl
import logging
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from flask import Flask
from sqlalchemy import text

from gridserve import logs, metrics
from gridserve.config import settings
from gridserve.extensions import db
from jobs.registry import JOBS, run_job

log = logging.getLogger("gridserve.scheduler")

ADVISORY_KEY = 0x67726964  # "grid"
STANDBY_POLL_SECONDS = 5.0
LEADER_CHECK_SECONDS = 5.0
LOCK_KEEPALIVES = {"tcp_keepalives_idle": 10, "tcp_keepalives_interval": 5,
                   "tcp_keepalives_count": 3}  # fmt: skip
_app: Flask | None = None


def execute(name: str) -> None:
    """The callable the job store references (by text, so it survives restarts)."""
    if _app is None:  # pragma: no cover - only reachable if misconfigured
        raise RuntimeError("scheduler app not set")
    with _app.app_context(), logs.job_context(name):
        try:
            result = run_job(name)
            log.info("job %s done: %s", name, result)
        finally:
            db.session.remove()


class LeadershipLost(RuntimeError):
    """The leader's lock is gone (its connection was lost): it must stop firing jobs."""


class Lead:
    """What :func:`leadership` yields: whether this process leads, and a check it still does."""

    def __init__(self, leading: bool, check: Callable[[], bool] = lambda: True) -> None:
        self.leading = leading
        self.check = check

    def __bool__(self) -> bool:
        return self.leading


@contextmanager
def leadership(app: Flask, stop: threading.Event) -> Iterator[Lead]:
    """Wait until this process is the only active scheduler; yield a true :class:`Lead` then."""
    if db.engine.dialect.name == "postgresql":
        conn = db.engine.connect()

        def holds_lock() -> bool:
            try:
                held = conn.execute(
                    text(
                        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
                        " AND pid = pg_backend_pid() AND objid = :k"
                    ),
                    {"k": ADVISORY_KEY},
                ).scalar()
                conn.commit()
                return bool(held)
            except Exception:  # the connection is gone, and the lock with it
                log.warning("the scheduler lock's connection was lost", exc_info=True)
                return False

        try:
            for name, value in LOCK_KEEPALIVES.items():  # ignored on a Unix socket
                conn.execute(text(f"SET {name} = {int(value)}"))
            while not stop.is_set():
                got = conn.execute(
                    text("SELECT pg_try_advisory_lock(:k)"), {"k": ADVISORY_KEY}
                ).scalar()
                conn.commit()
                if got:
                    break
                log.info("another scheduler is active; standing by")
                stop.wait(STANDBY_POLL_SECONDS)
            yield Lead(not stop.is_set(), holds_lock)
        finally:
            # The connection goes back to the pool, so release the lock by hand
            # (a crashed process releases it by losing its connection).
            try:
                conn.execute(text("SELECT pg_advisory_unlock_all()"))
                conn.commit()
            except Exception:  # lost with its connection: nothing left to release
                conn.invalidate()
            conn.close()
        return
    lock_path = Path(app.instance_path) / "scheduler.lock"
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "w") as handle:
        while not stop.is_set():
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                log.info("another scheduler is active; standing by")
                stop.wait(STANDBY_POLL_SECONDS)
        try:
            yield Lead(not stop.is_set())  # a file lock lasts as long as the process
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def build_scheduler(app: Flask) -> BackgroundScheduler:
    scheduler = BackgroundScheduler(
        jobstores={"default": SQLAlchemyJobStore(engine=db.engine, tablename="scheduler_jobs")},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 300},
        timezone=settings(app).timezone,
    )
    for job in JOBS.values():
        scheduler.add_job(
            "jobs.scheduler:execute",
            trigger=job.trigger,
            args=[job.name],
            id=job.name,
            name=job.description,
            replace_existing=True,
            **job.trigger_args,
        )
    return scheduler


def run_scheduler(app: Flask, stop: threading.Event | None = None) -> None:
    """Run until SIGINT/SIGTERM (or ``stop`` is set).

    An active scheduler that finds its lock gone stops its jobs and stands by again.
    """
    global _app
    _app = app
    stop = stop or threading.Event()
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
    conf = settings(app)
    server = (  # a standby reports leader 0; a port already taken is a warning, not an exit
        metrics.serve_scheduler(
            conf.scheduler_metrics_port, conf.scheduler_metrics_bind, conf.metrics_allow
        )
        if conf.scheduler_metrics_port
        else None
    )
    metrics.SCHEDULER_LEADER.set(0)
    try:
        while not stop.is_set():
            try:
                _lead(app, stop)
            except LeadershipLost:
                log.error("scheduler lock lost: jobs stopped; standing by again")
    finally:
        if server is not None:
            server.shutdown()
            server.server_close()


def _lead(app: Flask, stop: threading.Event) -> None:
    """Stand by until this process leads, then fire the jobs until ``stop`` or the lock is lost."""
    with app.app_context(), leadership(app, stop) as leader:
        if not leader:
            return
        metrics.SCHEDULER_LEADER.set(1)
        scheduler = build_scheduler(app)
        scheduler.start()
        log.info("scheduler active: %s", ", ".join(sorted(JOBS)))
        try:
            while not stop.wait(LEADER_CHECK_SECONDS):
                if not leader.check():
                    raise LeadershipLost("the scheduler's advisory lock was lost")
        finally:
            scheduler.shutdown(wait=True)
            metrics.SCHEDULER_LEADER.set(0)
            log.info("scheduler stopped")
