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
from sqlalchemy import BigInteger, CheckConstraint, Float, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from gridserve.db import UTCDateTime, utcnow
from gridserve.extensions import db
from gridserve.models.base import BigIntKey, JSONType, TimestampMixin

TASK_KINDS = ("task", "case")
TASK_STATUSES = ("open", "in_progress", "done", "cancelled")
TASK_OPEN_STATUSES = ("open", "in_progress")  # what a terminal carries
TASK_FINAL_STATUSES = ("done", "cancelled")
TASK_PRIORITIES = ("low", "normal", "high", "urgent")
TASK_SOURCES = ("station", "terminal")
TASK_EVENT_ACTIONS = ("created", "edited", "assigned", "status")


class Task(TimestampMixin, db.Model):
    """A task given to a worker, or a case (事件) to be handled; ``kind`` says which."""

    __tablename__ = "tasks"
    # Scoped by its community (see gridserve.scope); workers further see only their own.
    __scope__ = ("area", "area_id")
    __table_args__ = (
        CheckConstraint("kind IN ('task', 'case')", name="kind"),
        CheckConstraint("status IN ('open', 'in_progress', 'done', 'cancelled')", name="status"),
        CheckConstraint("priority IN ('low', 'normal', 'high', 'urgent')", name="priority"),
        CheckConstraint("source IN ('station', 'terminal')", name="source"),
        # Closed exactly when done or cancelled.
        CheckConstraint(
            "(status IN ('done', 'cancelled') AND closed_at IS NOT NULL)"
            " OR (status IN ('open', 'in_progress') AND closed_at IS NULL)",
            name="closed",
        ),
        Index("ix_tasks_worker_status", "assigned_worker_id", "status"),
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


class TaskEvent(db.Model):
    """One step in a task's life: made, edited, handed over, moved to a status.

    ``from_worker_id`` is whose terminal held the task before the step: when
    the step takes it away from them (another worker, nobody, or a final
    status), their next incremental bundle carries a tombstone for it.
    """

    __tablename__ = "task_events"
    __audit__ = False  # the history itself; the task's writes are audited
    __table_args__ = (
        CheckConstraint("action IN ('created', 'edited', 'assigned', 'status')", name="action"),
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
