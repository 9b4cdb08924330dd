"""Jobs: long operations a client started and polls (``GET /api/v1/jobs/{id}``).

A request sent with ``Prefer: respond-async`` (a grid plan, a place import) stores a
:class:`Job` and answers 202; the work runs later, in its own transaction, through the one
entry point :func:`gridserve.services.accounts.jobs.run_job`. Today an in-process thread pool
runs it; separate worker processes can claim the same rows: a queued job, or a running one
whose lease ran out, is claimed with one conditional ``UPDATE`` (``SELECT ... FOR UPDATE SKIP
LOCKED`` on PostgreSQL to pick one), which sets ``claimed_by`` and ``lease_until``.

``status``: ``queued`` → ``running`` → ``succeeded`` | ``failed``. ``progress`` is 0..1 with a
``message``; ``result_url`` names what a succeeded job made (``result`` keeps a report that has
no resource of its own), ``error`` is the envelope's body (``code``, ``message``, ``details``,
and the ``status`` the synchronous call would have answered) of a failed one.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import CheckConstraint, Float, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from gridserve.db import UTCDateTime, utcnow
from gridserve.extensions import db
from gridserve.models.base import BigIntKey, JSONType

JOB_KINDS = ("grid_plan", "place_import", "assessment_run")
JOB_STATUSES = ("queued", "running", "succeeded", "failed")
JOB_FINAL_STATUSES = ("succeeded", "failed")


class Job(db.Model):
    """One long operation, from its request to its result or error."""

    __tablename__ = "jobs"
    # Progress rows change often and carry the request's body: their writes are not audited
    # row by row; submitting a job is (an ``audit.record``), and so is the work it does.
    __audit__ = False
    __table_args__ = (
        CheckConstraint("kind IN ('grid_plan', 'place_import', 'assessment_run')", name="kind"),
        CheckConstraint("status IN ('queued', 'running', 'succeeded', 'failed')", name="status"),
        CheckConstraint("progress >= 0 AND progress <= 1", name="progress"),
        # What a claimer looks for: the oldest queued job, or a running one past its lease.
        Index("ix_jobs_status_created", "status", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigIntKey, primary_key=True)
    kind: Mapped[str] = mapped_column(String(20), nullable=False)
    status: Mapped[str] = mapped_column(String(12), nullable=False, default="queued")
    progress: Mapped[float] = mapped_column(Float, nullable=False, default=0.0)
    message: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    # Who asked: the job runs with their rights, re-checked when it runs.
    requested_by: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True
    )
    # The area the operation is about (shown; the job's reader is its requester).
    area_id: Mapped[int | None] = mapped_column(ForeignKey("areas.id", ondelete="SET NULL"))
    params: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False, default=dict)
    # The request's body when it is large (an import's CSV or GeoJSON): dropped once finished.
    payload: Mapped[Any] = mapped_column(JSONType, nullable=True)
    result_url: Mapped[str | None] = mapped_column(String(200))
    result: Mapped[Any] = mapped_column(JSONType, nullable=True)
    error: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)
    attempts: Mapped[int] = mapped_column(nullable=False, default=0)
    claimed_by: Mapped[str | None] = mapped_column(String(120))
    lease_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    request_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    started_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(
        UTCDateTime, default=utcnow, onupdate=utcnow, nullable=False
    )
