"""Every scheduled job, by name: what it does and when it runs.

``gridserve jobs list`` prints this table; ``gridserve jobs run NAME`` runs one
entry once; the scheduler process installs each entry with its trigger. A job
body is a plain function that calls services; :func:`run_job` gives it its
transaction and its audit actor, the same way for the scheduler and by hand.

One transaction per job run, with one declared exception: an entry with
``commits_in_steps=True`` commits durable steps inside its run, through the one
commit helper of its service (``sms-dispatch``: a claim must be committed before
the gateway call, see :func:`gridserve.services.sms.dispatch.commit_step`).
:func:`run_job` still wraps it, so whatever the last step left is committed or
rolled back at the end like any other job.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from gridserve import audit, metrics
from gridserve.db import transaction


@dataclass(frozen=True)
class Job:
    name: str
    func: Callable[[], Any]
    description: str
    trigger: str  # "cron" | "interval"
    trigger_args: dict[str, Any] = field(default_factory=dict)
    # True only for a job whose service commits its own steps (see the module docstring);
    # every other job is one transaction, committed by run_job.
    commits_in_steps: bool = False
    # Called with the result once the run has committed (its metrics), if set.
    on_committed: Callable[[Any], None] | None = None

    @property
    def trigger_text(self) -> str:
        args = " ".join(f"{k}={v}" for k, v in self.trigger_args.items())
        return f"{self.trigger} {args}".strip()


def _purge_stale_auth() -> dict[str, int]:
    from gridserve.services.accounts.auth import purge_stale

    return purge_stale()


def _activate_due_layouts() -> dict[str, list[int]]:
    from gridserve.services.geography.grid_workflow import activate_due
    from gridserve.timeutil import local_today

    return {"activated": activate_due(local_today())}


def _sms_dispatch() -> dict[str, int]:
    from gridserve.services.sms.dispatch import dispatch_pass

    return dispatch_pass()


def _sms_retry_sweep() -> dict[str, int]:
    from gridserve.services.sms.outbox import recover_stale_claims

    return recover_stale_claims()


def _sms_slot_close() -> dict[str, int]:
    from gridserve.services.sms.outbox import close_ended_slots

    return {"expired": close_ended_slots()}


def _sms_daily_summary() -> dict[str, object]:
    from gridserve.services.sms.progress import daily_summary

    return daily_summary()


def _outreach_held() -> dict[str, list[int]]:
    from gridserve.services.outreach.lifecycle import mark_held

    return {"held": mark_held()}


def _outreach_notice_reminders() -> dict[str, int]:
    from gridserve.services.outreach.notices import remind_due

    return remind_due()


def _outreach_deadline_reminders() -> dict[str, object]:
    from gridserve.services.outreach.reminders import remind_due

    return remind_due()


def _case_deadlines() -> dict[str, int]:
    from gridserve.services.cases.deadlines import run_pass

    return run_pass()


def _case_feedback() -> dict[str, int]:
    from gridserve.services.cases.feedback import send_due

    return send_due()


def _monthly_reports() -> dict[str, object]:
    from gridserve.services.assessment.daily import build_monthly_due
    from gridserve.timeutil import local_today

    return build_monthly_due(local_today())


def _daily_summary() -> dict[str, object]:
    from gridserve.services.assessment.daily import build_daily_due
    from gridserve.timeutil import local_today

    return build_daily_due(local_today())


def _retention() -> dict[str, object]:
    from gridserve.services.accounts.retention import run_pass

    return run_pass()


JOBS: dict[str, Job] = {
    job.name: job
    for job in (
        Job(
            name="auth-cleanup",
            func=_purge_stale_auth,
            description="Delete tokens expired or revoked over 30 days ago and old failed logins",
            trigger="cron",
            trigger_args={"hour": 3, "minute": 30},
        ),
        Job(
            name="grid-activation",
            func=_activate_due_layouts,
            description="Put approved grid layouts in force on their effective date",
            trigger="cron",
            trigger_args={"hour": 0, "minute": 5},
        ),
        Job(
            name="sms-dispatch",
            func=_sms_dispatch,
            description="Open SMS slots as they start, send due messages in order within the "
            "rates, release custom texts after the mandated phase (runs up to 50 s)",
            trigger="interval",
            trigger_args={"seconds": 1},
            commits_in_steps=True,
        ),
        Job(
            name="sms-retry-sweep",
            func=_sms_retry_sweep,
            description="Settle messages a stopped dispatcher left submitting: re-submit under "
            "the same key where the gateway deduplicates, else fail as outcome_unknown",
            trigger="interval",
            trigger_args={"seconds": 30},
        ),
        Job(
            name="sms-slot-close",
            func=_sms_slot_close,
            description="Expire what ended slots could not send (reported, re-queued only on "
            "request) and close the slots",
            trigger="interval",
            trigger_args={"seconds": 60},
        ),
        Job(
            name="sms-daily-summary",
            func=_sms_daily_summary,
            description="Write each campaign's last 24 hours of sending to the audit log",
            trigger="cron",
            trigger_args={"hour": 21, "minute": 10},
        ),
        Job(
            name="outreach-held",
            func=_outreach_held,
            description="Mark approved outreach events held once their end has passed",
            trigger="interval",
            trigger_args={"minutes": 5},
        ),
        Job(
            name="outreach-notice-reminders",
            func=_outreach_notice_reminders,
            description="Text once more the change notices not acknowledged within "
            "GRIDSERVE_NOTICE_ACK_HOURS; mark overdue those still not acknowledged as long "
            "after their reminder",
            trigger="interval",
            trigger_args={"minutes": 5},
        ),
        Job(
            name="outreach-deadline-reminders",
            func=_outreach_deadline_reminders,
            description="Derive every programme's deliverables; from GRIDSERVE_OUTREACH_"
            "REMINDER_HOUR on each local day, remind the owners of those not submitted that are "
            "due in GRIDSERVE_OUTREACH_REMINDER_DAYS days or overdue (once per deliverable, "
            "day and phone; nothing in the quiet hours)",
            trigger="interval",
            trigger_args={"minutes": 10},
        ),
        Job(
            name="case-deadlines",
            func=_case_deadlines,
            description="Escalate each overdue case (not paused, below the district) to the "
            "next level once, telling the receiving office by a notice per case and one duty "
            "text per pass naming its cases; count "
            "those overdue at the district; remind the street once of each supervised case "
            "past its supervision due time",
            trigger="interval",
            trigger_args={"minutes": 1},
            on_committed=metrics.record_escalations,
        ),
        Job(
            name="case-feedback",
            func=_case_feedback,
            description="Text each consenting reporter of a case closed within "
            "case_feedback_hours once, asking for a rating with a short code (queued; the "
            "dispatcher holds texts in the quiet hours); cases past the window are never "
            "texted late",
            trigger="interval",
            trigger_args={"minutes": 5},
        ),
        Job(
            name="monthly-reports",
            func=_monthly_reports,
            description="On the first working day of each month (or a later day, if a build "
            "is missing) build the previous month's grid report of every street and community "
            "and keep it (once per area and month)",
            trigger="cron",
            trigger_args={"hour": 5, "minute": 20},
        ),
        Job(
            name="daily-summary",
            func=_daily_summary,
            description="Build yesterday's summary of every street for its street centre and "
            "keep it (once per street and day)",
            trigger="cron",
            trigger_args={"hour": 5, "minute": 40},
        ),
        Job(
            name="retention",
            func=_retention,
            description="Anonymise what the retention settings say: final SMS messages' "
            "bodies and numbers after GRIDSERVE_RETAIN_SMS_DAYS, closed cases' reporter "
            "contacts after GRIDSERVE_RETAIN_CASE_REPORTER_DAYS (0, the default: keep); one "
            "audit entry per run; a second run changes nothing",
            trigger="cron",
            trigger_args={"hour": 3, "minute": 50},
        ),
    )
}


def run_job(name: str, actor: audit.Actor | None = None) -> Any:
    """Run one job now in its own transaction (needs an app context).

    Counts the run, its outcome (``ok`` once committed, ``error`` if it raised) and its
    duration in :mod:`gridserve.metrics`.
    """
    job = JOBS[name]
    started = time.perf_counter()
    outcome = "error"
    try:
        with audit.acting_as(actor or audit.Actor(kind="job", name=name)), transaction():
            result = job.func()
        outcome = "ok"
    finally:
        metrics.record_job(name, outcome, time.perf_counter() - started)
    if job.on_committed is not None:
        job.on_committed(result)
    return result
