"""``gridserve worker``: a process that claims queued jobs and runs them, outside the web process.

Run any number of them, on any machine that reaches the database (with
``GRIDSERVE_JOBS_MODE=workers`` the web processes only store jobs). The rules:

- A worker claims the oldest claimable job with :func:`~gridserve.services.accounts.jobs.
  claim_next` (PostgreSQL: ``FOR UPDATE SKIP LOCKED``; SQLite: a conditional ``UPDATE``), so
  two workers never run the same job, and runs it through the one job runner
  (:func:`~gridserve.services.accounts.jobs.run_claimed`): the work and its result commit
  together, a failure records the error the synchronous call would have answered.
- While a job runs, a heartbeat renews its lease every third of ``GRIDSERVE_JOBS_LEASE``
  (PostgreSQL; SQLite has one writer, which the work holds: there the lease must outlast the
  job). A worker that dies stops renewing; once its lease has run out another worker runs the
  job again from scratch (nothing of the dead run was committed), 3 attempts at most.
- SIGTERM or SIGINT: no new job is claimed; the current one may finish within ``grace``
  seconds (default 20). Past that, or on a second signal, its work is rolled back and the job
  is released (``queued`` again, the attempt not counted) for another worker. Either way the
  job is never left ``running`` by a worker that exited.
- ``once``: run the jobs waiting, then exit (a cron-style worker, and the tests).
"""

from __future__ import annotations

import contextvars
import logging
import os
import signal
import threading
import time

from flask import Flask
from sqlalchemy import select

from gridserve import audit
from gridserve.config import settings
from gridserve.db import backend_name
from gridserve.extensions import db
from gridserve.models import Job
from gridserve.services.accounts import jobs

log = logging.getLogger("gridserve.worker")


class Interrupted(BaseException):
    """The worker was told to stop now: the current job's work is abandoned and released.

    A ``BaseException`` so that the job runner's ``except Exception`` does not record it as the
    job's failure."""


class Worker:
    """One worker loop; :meth:`run` in the process's main thread handles the signals."""

    def __init__(
        self,
        app: Flask,
        *,
        name: str | None = None,
        poll: float = 2.0,
        grace: float = 20.0,
    ) -> None:
        self.app = app
        self.me = f"{name}:{os.getpid()}"[:120] if name else jobs.runner_name()
        self.poll = max(0.05, poll)
        self.grace = max(0.0, grace)
        self.stop = threading.Event()
        self.current: int | None = None
        self.done = 0

    # --- signals --------------------------------------------------------------------------

    def _on_stop(self, signum: int, _frame) -> None:
        again = self.stop.is_set()
        self.stop.set()
        if self.current is None:
            log.info("worker %s: stopping (signal %s)", self.me, signum)
            return
        if again or self.grace <= 0:
            raise Interrupted
        log.info(
            "worker %s: stopping after job %s (signal %s; %.0f s to finish it)",
            self.me, self.current, signum, self.grace,
        )  # fmt: skip
        signal.setitimer(signal.ITIMER_REAL, self.grace)

    def _on_alarm(self, _signum: int, _frame) -> None:
        if self.current is not None:
            raise Interrupted

    def _install_signals(self) -> dict:
        """Our handlers in, the previous ones returned (put back when the loop ends)."""
        if threading.current_thread() is not threading.main_thread():
            return {}
        handlers = {signal.SIGTERM: self._on_stop, signal.SIGINT: self._on_stop}
        handlers[signal.SIGALRM] = self._on_alarm
        return {sig: signal.signal(sig, handler) for sig, handler in handlers.items()}

    # --- the loop -------------------------------------------------------------------------

    def run(self, once: bool = False) -> int:
        """Claim and run jobs until stopped (``once``: until none is waiting); the jobs run."""
        previous = self._install_signals()
        try:
            with self.app.app_context(), audit.acting_as(audit.Actor(kind="job", name="worker")):
                log.info("worker %s: started (%s)", self.me, backend_name())
                self._loop(once)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        log.info("worker %s: stopped after %d job(s)", self.me, self.done)
        return self.done

    def _loop(self, once: bool) -> None:
        idle = True
        while not self.stop.is_set():
            try:
                if idle:
                    jobs.fail_abandoned()
                job_id = jobs.claim_next(self.me)
            except Exception:  # the database is away: wait and try again
                log.exception("worker %s: claiming failed", self.me)
                _quietly(db.session.rollback)
                db.session.remove()
                job_id = None
                if once:
                    raise
            idle = job_id is None
            if job_id is None:
                if once:
                    return
                self.stop.wait(self.poll)
                continue
            self._run(job_id)

    def _run(self, job_id: int) -> None:
        """Run a claimed job; every line about it carries its request id and requester."""
        with jobs.log_context(job_id):
            self._run_logged(job_id)

    def _run_logged(self, job_id: int) -> None:
        started = time.perf_counter()
        beat = _Heartbeat(self.app, job_id, self.me)
        log.info("worker %s: job %s claimed", self.me, job_id)
        try:
            # From here a stop signal may interrupt the job (``Interrupted``), and only here:
            # raised anywhere else (a log line) it would end the process with the job claimed.
            self.current = job_id
            beat.start()
            jobs.run_claimed(job_id, self.me)
            self.current = None
        except Interrupted:
            self.current = None
            beat.stop()
            _quietly(db.session.rollback)
            _quietly(db.session.remove)
            released = jobs.release(job_id, self.me)
            log.warning(
                "worker %s: job %s %s", self.me, job_id,
                "interrupted and released (queued again)" if released else "interrupted",
            )  # fmt: skip
            return
        finally:
            self.current = None
            if threading.current_thread() is threading.main_thread():
                signal.setitimer(signal.ITIMER_REAL, 0)
            beat.stop()
        self.done += 1
        db.session.remove()
        row = db.session.execute(
            select(Job.kind, Job.status, Job.attempts).where(Job.id == job_id)
        ).one_or_none()
        db.session.remove()
        kind, status, attempts = row if row else ("?", "gone", 0)
        log.info(
            "worker %s: job %s (%s) %s in %.2f s, attempt %s",
            self.me, job_id, kind, status, time.perf_counter() - started, attempts,
        )  # fmt: skip


def _quietly(call) -> None:
    try:
        call()
    except Exception:
        log.debug("cleanup failed", exc_info=True)


class _Heartbeat:
    """Renews a running job's lease every third of the lease, on its own connection
    (PostgreSQL only: SQLite's one writer is the job's own transaction)."""

    def __init__(self, app: Flask, job_id: int, me: str) -> None:
        self.app, self.job_id, self.me = app, job_id, me
        self.halt = threading.Event()
        self.thread: threading.Thread | None = None

    def start(self) -> None:
        if backend_name() != "postgresql":
            return
        thread = threading.Thread(  # its lines carry the job's log context too
            target=contextvars.copy_context().run,
            args=(self._beat,),
            name="gridserve-lease",
            daemon=True,
        )
        thread.start()
        # Only a started thread is joined: a stop signal may interrupt start() itself (while
        # it waits for the thread to run); then the thread, if it runs, finds halt set and ends.
        self.thread = thread

    def _beat(self) -> None:
        every = settings(self.app).jobs_lease_seconds / 3
        with self.app.app_context():
            while not self.halt.wait(every):
                try:
                    if not jobs.renew_lease(self.job_id, self.me):
                        return
                except Exception:
                    log.warning("job %s: lease not renewed", self.job_id, exc_info=True)

    def stop(self) -> None:
        self.halt.set()
        if self.thread is not None and self.thread is not threading.current_thread():
            self.thread.join(timeout=5)
            self.thread = None
