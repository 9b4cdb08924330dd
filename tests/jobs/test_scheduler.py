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
