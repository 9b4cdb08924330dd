"""``gridserve worker``: jobs claimed outside the web process, each run once, none left stuck."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select, text, update

from gridserve.db import backend_name, transaction, utcnow
from gridserve.extensions import db
from gridserve.models import GridPlan, Job, User
from gridserve.services.accounts import jobs as job_service
from gridserve.worker import Interrupted, Worker
from tests.ops.test_logs_pii import captured
from tests.processes import child_env

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.real_commits  # workers see committed rows only


def _queue(app, world, n: int = 1, **values) -> list[int]:
    """``n`` grid-plan jobs of the centre's, committed."""
    with app.app_context():
        centre = db.session.execute(select(User).where(User.username == "centre")).scalar_one()
        made = []
        with transaction():
            for i in range(n):
                job = Job(
                    kind="grid_plan",
                    requested_by=centre.id,
                    area_id=world.street,
                    params={"method": "square", "size_m": 2000},
                    payload={"method": "square", "size_m": 2000, "name": f"worker {i}"},
                    **{"status": "queued", "attempts": 0, **values},
                )
                db.session.add(job)
                db.session.flush()
                made.append(job.id)
        db.session.remove()
        return made


def _rows(app) -> list[tuple]:
    with app.app_context():
        try:
            return db.session.execute(
                select(Job.id, Job.status, Job.attempts, Job.claimed_by, Job.error).order_by(Job.id)
            ).all()
        finally:
            db.session.remove()


def _leases(app) -> list:
    with app.app_context():
        try:
            return db.session.execute(select(Job.lease_until).where(Job.status == "running")).all()
        finally:
            db.session.remove()


def _plans(app) -> int:
    with app.app_context():
        try:
            return db.session.execute(select(func.count()).select_from(GridPlan)).scalar_one()
        finally:
            db.session.remove()


def _spawn(app, *args: str, log: Path) -> subprocess.Popen:
    env = child_env(app, GRIDSERVE_TEST_CLOCK=utcnow().isoformat())
    return subprocess.Popen(
        [sys.executable, "-m", "gridserve.cli", "worker", *args],
        cwd=ROOT,
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )


def _wait(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def test_a_worker_runs_the_queue_and_the_jobs_whose_runner_died_then_exits(
    clean_app, world, tmp_path
):
    """A ``gridserve worker --once`` process: claims with SKIP LOCKED (PostgreSQL) or the
    conditional UPDATE (SQLite), runs what is queued and what a dead worker left (its lease
    run out), leaves a live worker's job alone, and exits once nothing is left."""
    (queued,) = _queue(clean_app, world)
    gone = utcnow()  # the dead worker's lease ran out just now
    (stale,) = _queue(
        clean_app, world, status="running", claimed_by="dead:1", attempts=1, lease_until=gone
    )
    (spent,) = _queue(
        clean_app, world, status="running", claimed_by="dead:2", attempts=job_service.MAX_ATTEMPTS,
        lease_until=gone,
    )  # fmt: skip
    (live,) = _queue(
        clean_app, world, status="running", claimed_by="busy:1", attempts=1,
        lease_until=gone + dt.timedelta(minutes=10),
    )  # fmt: skip
    log = tmp_path / "worker.log"
    proc = _spawn(clean_app, "--once", "--id", "w1", log=log)
    assert proc.wait(timeout=60) == 0, log.read_text()
    rows = {r.id: r for r in _rows(clean_app)}
    assert (rows[queued].status, rows[queued].attempts, rows[queued].error) == (
        "succeeded", 1, None,
    )  # fmt: skip
    assert (rows[stale].status, rows[stale].attempts) == ("succeeded", 2)  # run again
    assert rows[queued].claimed_by == rows[stale].claimed_by == f"w1:{proc.pid}"
    # Out of attempts: failed for good, not claimed and not left "running" for ever.
    assert rows[spent].status == "failed"
    assert rows[spent].error["code"] == "job_abandoned"
    assert (rows[spent].attempts, rows[spent].claimed_by) == (job_service.MAX_ATTEMPTS, "dead:2")
    # Its runner is alive (its lease holds): left alone.
    assert (rows[live].status, rows[live].claimed_by) == ("running", "busy:1")
    assert _plans(clean_app) == 2
    out = log.read_text()
    assert f"job {queued} (grid_plan) succeeded" in out
    assert f"job {stale} (grid_plan) succeeded" in out
    assert "2 job(s) run" in out

    # Nothing left to claim: --once returns at once, having done nothing.
    assert Worker(clean_app).run(once=True) == 0
    assert _plans(clean_app) == 2


def _slow_plan(started: threading.Event, seconds: float):
    real = job_service.HANDLERS["grid_plan"]

    def handler(job, principal, progress):
        result = real(job, principal, progress)  # the plan is made (uncommitted) …
        started.set()
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:  # … and the job takes its time
            time.sleep(0.02)
        return result

    return handler


def _sigterm_when(started: threading.Event, before=None) -> threading.Thread:
    def send():
        if started.wait(30):
            if before is not None:
                before()
            os.kill(os.getpid(), signal.SIGTERM)

    thread = threading.Thread(target=send, daemon=True)
    thread.start()
    return thread


def test_sigterm_lets_the_job_finish_within_the_grace_else_releases_it_undone(
    clean_app, world, monkeypatch, override_settings
):
    first, second = _queue(clean_app, world, 2)
    started = threading.Event()
    monkeypatch.setitem(job_service.HANDLERS, "grid_plan", _slow_plan(started, 0.3))
    _sigterm_when(started)
    before = signal.getsignal(signal.SIGTERM)
    assert Worker(clean_app, grace=10).run() == 1  # not --once: the signal ends it
    assert signal.getsignal(signal.SIGTERM) is before  # the handlers are put back
    rows = {r.id: r for r in _rows(clean_app)}
    assert rows[first].status == "succeeded"
    assert (rows[second].status, rows[second].attempts) == ("queued", 0)  # not started
    assert _plans(clean_app) == 1

    # A job longer than the grace: rolled back and queued again, this attempt not counted.
    # Meanwhile (PostgreSQL) the worker's heartbeat keeps renewing the lease of the job.
    started.clear()
    monkeypatch.setitem(job_service.HANDLERS, "grid_plan", _slow_plan(started, 30))
    postgres = backend_name_of(clean_app) == "postgresql"
    override_settings(jobs_lease_seconds=0.6)  # renewed every 0.2 s
    leases: list[bool] = []

    def lease_outlives_its_first_term() -> None:
        if postgres:
            time.sleep(1.0)  # past the lease the claim gave
            running = _leases(clean_app)
            leases.append(bool(running) and all(r.lease_until > utcnow() for r in running))

    _sigterm_when(started, lease_outlives_its_first_term)
    t0 = time.monotonic()
    assert Worker(clean_app, grace=0.2).run() == 0
    assert time.monotonic() - t0 < 15
    assert leases == ([True] if postgres else [])
    row = {r.id: r for r in _rows(clean_app)}[second]
    assert (row.status, row.attempts, row.claimed_by) == ("queued", 0, None)  # claimable again
    assert _plans(clean_app) == 1  # the plan it made before the signal was rolled back
    monkeypatch.undo()
    assert Worker(clean_app).run(once=True) == 1  # and the next worker runs it
    assert {r.status for r in _rows(clean_app)} == {"succeeded"}
    assert _plans(clean_app) == 2


def test_sigterm_on_a_worker_process_leaves_no_job_running(clean_app, world, tmp_path):
    """SIGTERM while the queue is being worked (--grace 0: the job in hand goes back): the
    process exits 0 at once; every job is finished or queued again, none is left claimed."""
    ids = _queue(clean_app, world, 30)
    log = tmp_path / "worker.log"
    proc = _spawn(clean_app, "--poll", "0.1", "--grace", "0", log=log)
    try:
        _wait(lambda: any(r.status != "queued" for r in _rows(clean_app)), 60, "a claim")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0, log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
    rows = _rows(clean_app)
    assert [r.id for r in rows] == ids
    statuses = [r.status for r in rows]
    assert set(statuses) <= {"succeeded", "queued"}, (statuses, log.read_text())
    if backend_name_of(clean_app) == "postgresql":  # SQLite's reader may only see the end
        assert "queued" in statuses  # it stopped taking jobs
    assert all(r.claimed_by is None and r.attempts == 0 for r in rows if r.status == "queued")
    assert _plans(clean_app) == statuses.count("succeeded")  # a released job made nothing


def test_workers_claim_different_jobs_and_never_run_one_twice(clean_app, world):
    if backend_name_of(clean_app) != "postgresql":
        pytest.skip("concurrent workers: PostgreSQL (SQLite has one writer)")
    first, second = _queue(clean_app, world, 2)
    # SKIP LOCKED: a worker between its SELECT … FOR UPDATE and its claim holds the oldest
    # job; another worker takes the next one, without waiting for the lock.
    with clean_app.app_context():
        holder = db.engine.connect()
        try:
            tx = holder.begin()
            holder.execute(text("SELECT id FROM jobs WHERE id = :id FOR UPDATE"), {"id": first})
            db.session.execute(text("SET LOCAL lock_timeout = '2s'"))
            assert job_service.claim_next("w2") == second
            tx.rollback()
            # Only the claimant renews its lease.
            assert job_service.renew_lease(second, "w2") is True
            assert job_service.renew_lease(second, "w3") is False
        finally:
            holder.close()
            db.session.remove()
    with clean_app.app_context():
        with transaction():
            db.session.execute(update(Job).values(status="queued", claimed_by=None, attempts=0))
        db.session.remove()

    # Four workers (threads, each with its own session and connection) on 12 jobs.
    ids = [first, second, *_queue(clean_app, world, 10)]
    workers = [Worker(clean_app, name=f"w{i}") for i in range(4)]
    go = threading.Barrier(len(workers))
    ran: list[int] = []

    def work(worker: Worker) -> None:
        go.wait()
        ran.append(worker.run(once=True))

    threads = [threading.Thread(target=work, args=(w,)) for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    rows = _rows(clean_app)
    assert [r.id for r in rows] == ids
    assert all((r.status, r.attempts) == ("succeeded", 1) for r in rows), rows
    assert sum(ran) == len(ids)  # each job run by exactly one worker …
    assert _plans(clean_app) == len(ids)  # … and made once
    assert len({r.claimed_by for r in rows}) > 1  # the work was shared


def backend_name_of(app) -> str:
    with app.app_context():
        return backend_name()


def test_every_line_about_a_job_names_its_request_and_requester(clean_app, world, monkeypatch):
    """The worker's JSON lines about a job (claimed; succeeded, failed, interrupted) and the
    failure's own line carry the job's request id and its requester's id and role, so an
    operator can follow one request from its API call into the worker; the worker's own lines
    (started, stopped) carry none."""
    ok, broken, stopped = _queue(clean_app, world, 3)
    with clean_app.app_context():
        with transaction():
            for job_id in (ok, broken, stopped):
                db.session.get(Job, job_id).request_id = f"req-{job_id}"
        centre = db.session.execute(select(User).where(User.username == "centre")).scalar_one()
        centre_id, centre_role = centre.id, centre.role
        db.session.remove()
    real = job_service.HANDLERS["grid_plan"]
    worker = Worker(clean_app, name="w-logs")

    def handler(job, principal, progress):
        if job.id == broken:
            raise RuntimeError("the plan broke")
        if job.id == stopped:  # as a second SIGTERM would, mid-job
            worker.stop.set()
            raise Interrupted
        return real(job, principal, progress)

    monkeypatch.setitem(job_service.HANDLERS, "grid_plan", handler)
    with captured(clean_app) as raw:
        assert worker.run(once=True) == 2  # the interrupted one is not done
    lines = [json.loads(line) for line in raw]
    statuses = {r.id: r.status for r in _rows(clean_app)}
    assert statuses == {ok: "succeeded", broken: "failed", stopped: "queued"}

    def about(job_id: int, logger: str, *words: str) -> dict:
        found = [
            r for r in lines
            if r["logger"] == logger and f"job {job_id} " in r["message"]
            and all(w in r["message"] for w in words)
        ]  # fmt: skip
        assert len(found) == 1, (job_id, words, [r["message"] for r in lines])
        return found[0]

    expected = [
        (ok, "gridserve.worker", "claimed"),
        (ok, "gridserve.worker", "succeeded in"),
        (broken, "gridserve.worker", "claimed"),
        (broken, "gridserve.jobs", "failed"),  # the failure, with its traceback
        (broken, "gridserve.worker", "failed in"),
        (stopped, "gridserve.worker", "claimed"),
        (stopped, "gridserve.worker", "interrupted"),
    ]
    for job_id, logger, words in expected:
        record = about(job_id, logger, words)
        context = {k: record[k] for k in ("request_id", "user_id", "role", "job")}
        assert context == {
            "request_id": f"req-{job_id}",
            "user_id": centre_id,
            "role": centre_role,
            "job": "grid_plan",
        }, (words, record)
    assert "the plan broke" in about(broken, "gridserve.jobs", "failed")["exc"]
    own = [r for r in lines if r["logger"] == "gridserve.worker" and "job " not in r["message"]]
    assert own and all(r["request_id"] is None and r["user_id"] is None for r in own), own


def test_a_stop_signal_while_the_lease_thread_starts_still_releases_the_job(clean_app, monkeypatch):
    """SIGTERM can land inside Thread.start() (while it waits for the new thread): the lease
    heartbeat must then stop without joining a thread that never ran (it used to raise
    RuntimeError and end the worker with exit 1)."""
    from gridserve import worker as worker_module

    monkeypatch.setattr(worker_module, "backend_name", lambda: "postgresql")

    def interrupted_start(self):
        raise Interrupted

    monkeypatch.setattr(threading.Thread, "start", interrupted_start)
    beat = worker_module._Heartbeat(clean_app, 1, "test")
    with pytest.raises(Interrupted):
        beat.start()
    beat.stop()  # nothing to join, nothing raised
    assert beat.thread is None and beat.halt.is_set()
