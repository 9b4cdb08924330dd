"""The scheduler: one leader at a time, jobs installed in the database job store."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import text

from gridserve.extensions import db
from jobs.registry import JOBS
from jobs.scheduler import build_scheduler, leadership, run_scheduler


@pytest.mark.real_commits
def test_only_one_scheduler_leads_at_a_time(clean_app):
    stop_first, stop_second = threading.Event(), threading.Event()
    order: list[str] = []
    first_has_it = threading.Event()

    def first():
        with clean_app.app_context(), leadership(clean_app, stop_first) as leader:
            assert leader
            order.append("first leads")
            first_has_it.set()
            stop_first.wait(5)
            order.append("first steps down")

    def second():
        first_has_it.wait(5)
        with clean_app.app_context(), leadership(clean_app, stop_second) as leader:
            order.append("second leads" if leader else "second gave up")

    import jobs.scheduler as sched

    sched.STANDBY_POLL_SECONDS = 0.2
    try:
        t1, t2 = threading.Thread(target=first), threading.Thread(target=second)
        t1.start()
        t2.start()
        time.sleep(1.0)
        assert order == ["first leads"]  # the second one stands by
        stop_first.set()
        t1.join(5)
        t2.join(5)
    finally:
        sched.STANDBY_POLL_SECONDS = 5.0
    assert order == ["first leads", "first steps down", "second leads"]


@pytest.mark.real_commits
def test_jobs_are_kept_in_the_database_job_store(clean_app):
    with clean_app.app_context():
        scheduler = build_scheduler(clean_app)
        scheduler.start(paused=True)
        try:
            assert {j.id for j in scheduler.get_jobs()} == set(JOBS)
            stored = db.session.execute(text("SELECT id FROM scheduler_jobs")).scalars().all()
            db.session.remove()  # end the read: on SQLite it holds the write lock
            assert set(stored) == set(JOBS)
        finally:
            scheduler.shutdown(wait=False)


@pytest.mark.real_commits
def test_run_scheduler_stops_when_asked(clean_app):
    stop = threading.Event()
    with clean_app.app_context():
        worker = threading.Thread(target=run_scheduler, args=(clean_app, stop))
        worker.start()
        time.sleep(1.5)
        assert worker.is_alive()
        stop.set()
        worker.join(10)
        assert not worker.is_alive()


@pytest.mark.real_commits
def test_a_leader_whose_lock_is_lost_stops_its_jobs_and_stands_by(clean_app, monkeypatch):
    """The database cut the leader's lock connection and a standby took the lock: the old
    leader must stop firing (two leaders would both run the jobs) and wait its turn again."""
    if not clean_app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        pytest.skip("the advisory lock's connection: PostgreSQL (SQLite holds a file lock)")
    from apscheduler.schedulers.background import BackgroundScheduler

    import jobs.scheduler as sched

    made: list[BackgroundScheduler] = []

    def no_jobs(_app):  # the leadership under test, not the jobs
        made.append(BackgroundScheduler())
        return made[-1]

    monkeypatch.setattr(sched, "build_scheduler", no_jobs)
    monkeypatch.setattr(sched, "STANDBY_POLL_SECONDS", 0.2)
    monkeypatch.setattr(sched, "LEADER_CHECK_SECONDS", 0.2)

    def holder(conn) -> int | None:
        return conn.execute(
            text("SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND objid = :k"),
            {"k": sched.ADVISORY_KEY},
        ).scalar()

    def wait_for(condition, what: str) -> None:
        deadline = time.monotonic() + 10
        while not condition():
            assert time.monotonic() < deadline, what
            time.sleep(0.05)

    stop = threading.Event()
    runner = threading.Thread(target=run_scheduler, args=(clean_app, stop))
    with clean_app.app_context():
        other = db.engine.connect()  # the standby's connection, and the test's eyes
        other.execution_options(isolation_level="AUTOCOMMIT")
        runner.start()
        try:
            wait_for(lambda: made and made[0].running, "the first scheduler never led")
            first_pid = holder(other)
            assert first_pid is not None
            # The connection is cut; the standby takes the lock before the leader can retry.
            other.execute(text("SELECT pg_terminate_backend(:p)"), {"p": first_pid})
            wait_for(
                lambda: other.execute(
                    text("SELECT pg_try_advisory_lock(:k)"), {"k": sched.ADVISORY_KEY}
                ).scalar(),
                "the lock was not freed with its connection",
            )
            wait_for(lambda: not made[0].running, "the old leader kept firing its jobs")
            time.sleep(0.6)  # it stands by while the lock is held elsewhere
            assert len(made) == 1
            other.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": sched.ADVISORY_KEY})
            wait_for(lambda: len(made) == 2 and made[1].running, "it never led again")
            assert holder(other) not in (None, first_pid)
        finally:
            stop.set()
            runner.join(10)
            other.close()
    assert not runner.is_alive()
