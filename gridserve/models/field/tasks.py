"""Tasks and cases: work the station gives a worker, and problems reported from the field.

One entity, two kinds. A ``task`` is work given to a worker (visit this
household, check this place, follow up); a ``case`` (事件) is a problem that
must be handled — reported by a worker's terminal or entered by the station —
and later routed, escalated and fed back. Both hang on a community (scope),
may point at a place and its cell, and may be assigned to one worker, whose
terminal then carries it while it is open or in progress.

Every change takes a change number (:func:`gridserve.sync.next_seq`) and leaves
a :class:`TaskEvent`: the case history, and how a terminal learns that a task
it holds was closed or handed to someone else.
"""

from __future__ import annotations

import datetime as dt

from geoalchemy2 import Geometry
from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    LargeBinary,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from gridserve.db import UTCDateTime, utcnow
from gridserve.extensions import db
from gridserve.models.base import BigIntKey, JSONType, TimestampMixin

TASK_KINDS = ("task", "case")
# A task: open → in_progress → done | cancelled. A case (issue 14's ladder): open → accepted →
# settled → verified (where required) → closed, or cancelled (gridserve.models.cases).
TASK_STATUSES = ("open", "in_progress", "done", "cancelled", "accepted", "settled", "verified",
                 "closed")  # fmt: skip
TASK_OPEN_STATUSES = ("open", "in_progress")  # what a terminal carries (tasks)
TASK_FINAL_STATUSES = ("done", "cancelled")
CASE_FINAL_STATUSES = ("closed", "cancelled")
# What a worker's terminal carries while assigned: a task until done, a case until closed.
TASK_CARRIED_STATUSES = ("open", "in_progress", "accepted", "settled", "verified")
# Final for a task or a case: nothing changes any more (a case reopens only by its step).
ALL_FINAL_STATUSES = ("done", "cancelled", "closed")
TASK_PRIORITIES = ("low", "normal", "high", "urgent")
TASK_SOURCES = ("station", "terminal", "walk_in", "phone", "open311")
# The history: a task's four actions, then each step of the case ladder.
TASK_EVENT_ACTIONS = (
    *("created", "edited", "assigned", "status"),
    *("accept", "settle", "escalate", "dispatch", "return", "verify", "close", "reopen"),
    *("cancel", "pause", "resume", "recategorise", "supervise", "merge", "rate", "feedback"),
)


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Task(TimestampMixin, db.Model):
    """A task given to a worker, or a case (事件) to be handled; ``kind`` says which."""

    __tablename__ = "tasks"
    __audit_redact__ = frozenset({"reporter_phone_enc"})
    # Scoped by its community, or for a department by dispatch (``"task"`` in gridserve.scope);
    # workers further see only their own.
    __table_args__ = (
        CheckConstraint("kind IN ('task', 'case')", name="kind"),
        CheckConstraint(_in("status", TASK_STATUSES), name="status"),
        CheckConstraint("priority IN ('low', 'normal', 'high', 'urgent')", name="priority"),
        CheckConstraint(_in("source", TASK_SOURCES), name="source"),
        # Closed exactly when done, closed or cancelled.
        CheckConstraint(
            "(status IN ('done', 'cancelled', 'closed') AND closed_at IS NOT NULL)"
            " OR (status IN ('open', 'in_progress', 'accepted', 'settled', 'verified')"
            " AND closed_at IS NULL)",
            name="closed",
        ),
        CheckConstraint(
            "level IS NULL OR level IN ('cell', 'community', 'street', 'district')", name="level"
        ),
        Index("ix_tasks_worker_status", "assigned_worker_id", "status"),
        # The deadline job's scan: open cases by their level's due time.
        Index("ix_tasks_level_due", "level_due_at"),
        # And its scan for supervision past its due time (migration 0017_deadlines).
        Index("ix_tasks_supervision_due", "supervision_due_at"),
        # The case list: its filters, then its default order (-created_at, -id), and the scope
        # column, so a page and its COUNT are read from the index (0018_case_indexes).
        Index("ix_tasks_case_list", "kind", "status", "level", "created_at", "id", "area_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(8), nullable=False, default="task")
    title: Mapped[str] = mapped_column(String(200), nullable=False)
    details: Mapped[str] = mapped_column(Text, nullable=False, default="")
    place_id: Mapped[int | None] = mapped_column(ForeignKey("places.id"), index=True)
    # The place's cell when the task was made (or the cell of the reported location).
    cell_id: Mapped[int | None] = mapped_column(ForeignKey("grid_cells.id", ondelete="SET NULL"))
    cell_code: Mapped[str | None] = mapped_column(String(40))
    geom = mapped_column(Geometry("POINT", srid=4326, spatial_index=True), nullable=True)
    area_id: Mapped[int] = mapped_column(ForeignKey("areas.id"), nullable=False, index=True)
    assigned_worker_id: Mapped[int | None] = mapped_column(ForeignKey("workers.id"))
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="open")
    priority: Mapped[str] = mapped_column(String(8), nullable=False, default="normal")
    source: Mapped[str] = mapped_column(String(16), nullable=False, default="station")
    due_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # The latest word from whoever worked on it (the feedback when it is done).
    note: Mapped[str] = mapped_column(Text, nullable=False, default="")
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    version: Mapped[int] = mapped_column(nullable=False, default=1)
    change_seq: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0, index=True)
    # A case reported from a terminal (or any create sent with one): the client's UUID, stored
    # once (the unique key decides), and the hash of what was sent under it, which tells a
    # retry (same content) from a different record under a reused UUID.
    uuid: Mapped[str | None] = mapped_column(String(36), unique=True)
    content_hash: Mapped[str | None] = mapped_column(String(64))
    # What a terminal's report carries besides the task's fields: photos (attachment UUIDs),
    # when the problem was seen, and the reported position's accuracy (metres).
    attachments: Mapped[list[str] | None] = mapped_column(JSONType)
    observed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    accuracy_m: Mapped[float | None] = mapped_column(Float)

    # --- the case ladder (kind = case; NULL for tasks) ----------------------------------------
    category_id: Mapped[int | None] = mapped_column(ForeignKey("case_categories.id"), index=True)
    # Who holds it: the level (cell: the worker; community: the station; street: the street
    # centre; district: the supervision centre) and, once dispatched, the department
    # (an institution of kind department) with its own due time.
    level: Mapped[str | None] = mapped_column(String(12))
    department_id: Mapped[int | None] = mapped_column(ForeignKey("institutions.id"), index=True)
    dispatch_due_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # The level's clock: started when the case reached the level, due then plus the category's
    # deadline for the level plus any paused time; paused while ``paused_at`` is set.
    level_started_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    level_due_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    paused_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    pause_reason: Mapped[str] = mapped_column(Text, nullable=False, default="")
    paused_seconds: Mapped[int] = mapped_column(nullable=False, default=0)  # over its whole life
    escalations: Mapped[int] = mapped_column(nullable=False, default=0)
    # Supervision (督办) by the street: its own due time.
    supervised_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    supervised_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    supervision_due_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # The reporter (station intake: walk-in, phone; Open311): phone encrypted, masked like a
    # household's, keyed hash for matching SMS replies; consent to be called back / texted.
    reporter_name: Mapped[str] = mapped_column(String(100), nullable=False, default="")
    reporter_phone_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    reporter_phone_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    callback_consent: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    duplicate_of_id: Mapped[int | None] = mapped_column(ForeignKey("tasks.id"), index=True)
    needs_verification: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    settled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    verified_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    closed_level: Mapped[str | None] = mapped_column(String(12))
    # The resident's rating of the case (one per case): 1 satisfied, 2 fairly, 3 not satisfied.
    rating: Mapped[int | None] = mapped_column()
    rated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    open311_key_id: Mapped[int | None] = mapped_column(ForeignKey("open311_keys.id"))


class TaskEvent(db.Model):
    """One step in a task's life: made, edited, handed over, moved to a status.

    ``from_worker_id`` is whose terminal held the task before the step: when
    the step takes it away from them (another worker, nobody, or a final
    status), their next incremental bundle carries a tombstone for it.
    """

    __tablename__ = "task_events"
    __audit__ = False  # the history itself; the task's writes are audited
    __table_args__ = (
        CheckConstraint(_in("action", TASK_EVENT_ACTIONS), name="action"),
        Index("ix_task_events_from_worker_seq", "from_worker_id", "change_seq"),
    )

    id: Mapped[int] = mapped_column(BigIntKey, primary_key=True)
    task_id: Mapped[int] = mapped_column(
        ForeignKey("tasks.id", ondelete="CASCADE"), nullable=False, index=True
    )
    action: Mapped[str] = mapped_column(String(16), nullable=False)
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str | None] = mapped_column(String(16))
    from_worker_id: Mapped[int | None] = mapped_column(ForeignKey("workers.id"))
    to_worker_id: Mapped[int | None] = mapped_column(ForeignKey("workers.id"))
    note: Mapped[str] = mapped_column(Text, nullable=False, default="")
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    change_seq: Mapped[int] = mapped_column(BigInteger, nullable=False)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    # Case steps: the levels before and after, the department, where it was done (a
    # verification's position), its photos, and why (an escalation's reason, the job's words).
    from_level: Mapped[str | None] = mapped_column(String(12))
    to_level: Mapped[str | None] = mapped_column(String(12))
    department_id: Mapped[int | None] = mapped_column(ForeignKey("institutions.id"))
    lon: Mapped[float | None] = mapped_column(Float)
    lat: Mapped[float | None] = mapped_column(Float)
    attachments: Mapped[list | None] = mapped_column(JSONType)
