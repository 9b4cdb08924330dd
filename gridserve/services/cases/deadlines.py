"""The deadline job: overdue cases go one level up, once; supervised cases past their due
time remind the supervising office, once.

Rules:

- Overdue: a case (``kind`` case) that is neither closed nor cancelled, not paused, below
  ``district`` and whose ``level_due_at`` has passed is escalated to the next level — the same
  effect as the ladder's ``escalate`` step: level up, the new level's clock started,
  escalations + 1, an ``accepted`` case back to ``open``, version + 1, a new change number, a
  :class:`TaskEvent` ``escalate`` (from/to level, the reason "overdue at <level> since <local
  time>"), an audit entry and the receiving office told (``notify`` ``case_escalated``: a
  notice and a text to its duty mobile).
- The new level's clock starts when the job moves the case (``level_started_at`` = now), not
  at the due time that passed: that is when the receiving office is told and can act, so it
  gets its whole deadline (after a scheduler outage too). Its due time is
  :func:`gridserve.services.cases.basics.level_due_at` of the category at the new level.
- A case overdue at ``district`` has nowhere to go: it is counted (``overdue_at_top``), not
  escalated. Paused cases are skipped (their clock does not run).
- Once, also when two schedulers race: the candidates are read with ``FOR UPDATE SKIP
  LOCKED`` on PostgreSQL (a second pass skips what the first holds and, once the first has
  committed, no longer finds them overdue), and the update is conditional on each case's
  version and on it still being overdue, so a case moved meanwhile is left alone. SQLite has
  one writer; the version condition decides there.
- Supervision (督办): a supervised case, not closed or cancelled, whose
  ``supervision_due_at`` has passed gets one reminder notice (reason ``case_supervised``,
  ``changes.reminder``) to the street's office and a text to its duty mobile. The notice is
  the record: a ``case_supervised`` notice made at or after the due time means "reminded";
  setting a new due time later asks for a new reminder.
- Bulk: a pass is a few statements whatever the number of cases (candidates, one change
  number, one conditional ``UPDATE ... RETURNING`` per 1,000 cases, then the events, the
  notices, the texts and the audit entries each written by one statement,
  :func:`gridserve.db.insert_rows`); no ORM object per case. Each case's audit entry (actor:
  the job) names its levels, versions, reason and the notice made for it.

No commits here: the job boundary (:func:`jobs.registry.run_job`) commits.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    BigInteger,
    DateTime,
    Integer,
    String,
    bindparam,
    case,
    column,
    func,
    insert,
    literal,
    select,
    tuple_,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY

from gridserve import audit
from gridserve.db import insert_rows, utcnow
from gridserve.extensions import db
from gridserve.models import CASE_FINAL_STATUSES, CaseCategory, OutreachNotice, Task, TaskEvent
from gridserve.services.cases import notify
from gridserve.services.cases.basics import Offices, level_due_at
from gridserve.sync import next_seq

# Cases moved per pass (the next pass, a minute later, takes the rest) and per statement.
PER_PASS = 5000
CHUNK = 1000
# The levels a case can be escalated from.
BELOW_TOP = ("cell", "community", "street")
SUPERVISING_LEVEL = "street"


def _postgres() -> bool:
    return db.engine.dialect.name == "postgresql"


def _overdue(now: dt.datetime) -> tuple[Any, ...]:
    return (
        Task.kind == "case",
        Task.status.not_in(CASE_FINAL_STATUSES),
        Task.paused_at.is_(None),
        Task.level_due_at <= now,
    )


def _local(at: dt.datetime, tz: ZoneInfo) -> str:
    return at.astimezone(tz).strftime("%Y-%m-%d %H:%M")


def reason_of(level: str, local: str) -> str:
    """The escalation's reason as the history and the notice say it."""
    return f"overdue at {level} since {local}"


def escalate_overdue(now: dt.datetime | None = None, limit: int = PER_PASS) -> dict[str, int]:
    """One pass over the overdue cases (see the module's rules). Returns ``escalated`` (moved
    now), ``overdue_at_top`` (overdue at ``district``) and ``notified`` (notices made)."""
    now = now or utcnow()
    stmt = (
        select(
            Task.id, Task.version, Task.level, Task.category_id, Task.area_id, Task.status,
            Task.level_due_at, Task.assigned_worker_id,
        )
        .where(*_overdue(now), Task.level.in_(BELOW_TOP))
        .order_by(Task.level_due_at, Task.id)
        .limit(limit)
    )  # fmt: skip
    if _postgres():
        stmt = stmt.with_for_update(skip_locked=True, of=Task)
    candidates = db.session.execute(stmt).all()
    at_top = db.session.scalar(
        select(func.count()).select_from(Task).where(*_overdue(now), Task.level == "district")
    )
    if not candidates:
        return {"escalated": 0, "overdue_at_top": at_top or 0, "notified": 0}

    categories = {
        c.id: c
        for c in db.session.scalars(
            select(CaseCategory).where(CaseCategory.id.in_({r.category_id for r in candidates}))
        )
    }
    offices = Offices({r.area_id for r in candidates})
    dues: dict[tuple[int | None, str, str], dt.datetime | None] = {}
    new_due: dict[int, dt.datetime | None] = {}
    for row in candidates:
        tz = offices.zone(row.area_id)
        key = (row.category_id, NEXT[row.level], tz.key)
        if key not in dues:
            dues[key] = level_due_at(
                categories.get(row.category_id), key[1], now, row.area_id, tz=tz
            )
        new_due[row.id] = dues[key]

    seq = next_seq()
    since = {row.id: _local(row.level_due_at, offices.zone(row.area_id)) for row in candidates}
    notes = {row.id: reason_of(row.level, since[row.id]) for row in candidates}
    moved: set[int] = set()
    for start in range(0, len(candidates), CHUNK):
        moved.update(_escalate(candidates[start : start + CHUNK], new_due, notes, seq, now))
    done = [row for row in candidates if row.id in moved]
    if not done:
        return {"escalated": 0, "overdue_at_top": at_top or 0, "notified": 0}

    entries, tellings = [], []
    for row in done:
        to_level = NEXT[row.level]
        to_status = "open" if row.status == "accepted" else row.status
        reason = notes[row.id]
        entries.append(
            (row.id, {"fields": ["escalations", "level", "level_due_at", "level_started_at",
                                 *(["status"] if to_status != row.status else [])],
                      "version": [row.version, row.version + 1],
                      "level": [row.level, to_level], "reason": reason})
        )  # fmt: skip
        tellings.append(
            notify.Telling(
                task_id=row.id,
                area_id=row.area_id,
                version=row.version + 1,
                level=to_level,
                message=f"事件#{row.id}已超时（{_LEVEL_NAMES[row.level]}，{since[row.id]}起），"
                f"升级至{_LEVEL_NAMES[to_level]}，请处理。",
            )
        )
    # The versions were made by this very update: no notice can exist for them yet. One text
    # per office for the pass (its change number names the batch).
    told = notify.tell_many(
        tellings, "case_escalated", offices=offices, once=False, audited=False,
        digest=notify.Digest(key=str(seq), headline=DIGEST_HEADLINE),
    )  # fmt: skip
    for task_id, details in entries:
        details["notice"] = told.get(task_id)
    audit.record_many("update", "tasks", entries)
    return {"escalated": len(done), "overdue_at_top": at_top or 0, "notified": len(told)}


def _escalate(
    chunk: list[Any],
    new_due: dict[int, dt.datetime | None],
    notes: dict[int, str],
    seq: int,
    now: dt.datetime,
) -> list[int]:
    """Move ``chunk`` and record their ``escalate`` events: each case moved only if it is
    still at the version read and still overdue. On PostgreSQL one statement: the expected
    versions, new due times and the events' notes come as arrays (``FROM unnest(...)``, one
    parameter each, joined by id), the conditional ``UPDATE ... RETURNING`` and the events'
    ``INSERT ... SELECT`` from what it returned are CTEs of it. On SQLite a conditional update
    (``(id, version) IN (...)`` and a ``CASE`` of the due times), then the events in one
    executemany."""
    values: dict[str, Any] = {
        "level": case(NEXT, value=Task.level),
        "level_started_at": now,
        "escalations": Task.escalations + 1,
        "status": case((Task.status == "accepted", "open"), else_=Task.status),
        "version": Task.version + 1,
        "change_seq": seq,
        "updated_at": now,
    }
    if _postgres():
        wanted = (
            func.unnest(
                bindparam("ids", [r.id for r in chunk], type_=ARRAY(BigInteger)),
                bindparam("versions", [r.version for r in chunk], type_=ARRAY(Integer)),
                bindparam("dues", [new_due[r.id] for r in chunk],
                          type_=ARRAY(DateTime(timezone=True))),
                bindparam("levels", [r.level for r in chunk], type_=ARRAY(String)),
                bindparam("statuses", [r.status for r in chunk], type_=ARRAY(String)),
                bindparam("notes", [notes[r.id] for r in chunk], type_=ARRAY(String)),
            )
            .table_valued(column("id", BigInteger), column("version", Integer),
                          column("due", DateTime(timezone=True)), column("level", String),
                          column("status", String), column("note", String))
            .render_derived(name="wanted")
        )  # fmt: skip
        values["level_due_at"] = wanted.c.due
        moved = (
            update(Task)
            .where(Task.id == wanted.c.id, Task.version == wanted.c.version, *_overdue(now),
                   Task.level.in_(BELOW_TOP))
            .values(**values)
            .returning(Task.id, Task.level, Task.status, Task.assigned_worker_id,
                       wanted.c.level.label("from_level"), wanted.c.status.label("from_status"),
                       wanted.c.note)
            .cte("moved")
        )  # fmt: skip
        events = insert(TaskEvent).from_select(
            ["task_id", "action", "from_status", "to_status", "from_worker_id", "to_worker_id",
             "note", "change_seq", "at", "from_level", "to_level"],
            select(moved.c.id, literal("escalate"), moved.c.from_status, moved.c.status,
                   moved.c.assigned_worker_id, moved.c.assigned_worker_id, moved.c.note,
                   literal(seq, BigInteger), literal(now, DateTime(timezone=True)),
                   moved.c.from_level, moved.c.level),
        ).cte("events")  # fmt: skip
        return list(db.session.scalars(select(moved.c.id).add_cte(events)))
    by_due: dict[dt.datetime | None, list[int]] = {}
    for row in chunk:
        by_due.setdefault(new_due[row.id], []).append(row.id)
    values["level_due_at"] = case(
        *((Task.id.in_(ids), due) for due, ids in by_due.items()), else_=None
    )
    result = db.session.execute(
        update(Task)
        .where(tuple_(Task.id, Task.version).in_([(r.id, r.version) for r in chunk]),
               *_overdue(now), Task.level.in_(BELOW_TOP))
        .values(**values)
        .returning(Task.id)
        .execution_options(synchronize_session=False)
    )  # fmt: skip
    moved_ids = set(result.scalars())
    insert_rows(
        TaskEvent.__table__,
        [{"task_id": r.id, "action": "escalate", "from_status": r.status,
          "to_status": "open" if r.status == "accepted" else r.status,
          "from_worker_id": r.assigned_worker_id, "to_worker_id": r.assigned_worker_id,
          "note": notes[r.id], "actor_id": None, "change_seq": seq, "at": now,
          "from_level": r.level, "to_level": NEXT[r.level]}
         for r in chunk if r.id in moved_ids],
    )  # fmt: skip
    return list(moved_ids)


NEXT = {"cell": "community", "community": "street", "street": "district"}
_LEVEL_NAMES = {"cell": "网格", "community": "社区", "street": "街道", "district": "区"}
# The duty text of a pass's escalations to one office (:class:`notify.Digest`).
DIGEST_HEADLINE = "{count}件事件超时升级至{office}，请处理"


def remind_supervision(now: dt.datetime | None = None, limit: int = PER_PASS) -> dict[str, int]:
    """Remind the street's office of each supervised case past its supervision due time, once
    (see the module's rules). Returns ``reminded``."""
    now = now or utcnow()
    stmt = (
        select(Task.id, Task.version, Task.area_id, Task.supervision_due_at)
        .where(
            Task.kind == "case",
            Task.status.not_in(CASE_FINAL_STATUSES),
            Task.supervised_at.is_not(None),
            Task.supervision_due_at <= now,
        )
        .order_by(Task.supervision_due_at, Task.id)
        .limit(limit)
    )
    if _postgres():
        stmt = stmt.with_for_update(skip_locked=True, of=Task)
    rows = db.session.execute(stmt).all()
    if not rows:
        return {"reminded": 0}
    # Read after the rows are locked: a racing pass's reminders are committed by now.
    reminded: set[int] = set()
    for start in range(0, len(rows), CHUNK):
        chunk = rows[start : start + CHUNK]
        due = {r.id: r.supervision_due_at for r in chunk}
        for task_id, made in db.session.execute(
            select(OutreachNotice.task_id, OutreachNotice.created_at).where(
                OutreachNotice.task_id.in_(list(due)),
                OutreachNotice.reason == "case_supervised",
            )
        ):
            if made >= due[task_id]:
                reminded.add(task_id)
    offices = Offices({r.area_id for r in rows})
    tellings = []
    for row in rows:
        if row.id in reminded:
            continue
        local = _local(row.supervision_due_at, offices.zone(row.area_id))
        tellings.append(
            notify.Telling(
                task_id=row.id,
                area_id=row.area_id,
                version=row.version,
                level=SUPERVISING_LEVEL,
                message=f"督办事件#{row.id}已到期（{local}），请跟进。",
                purpose=f"case:{row.id}:supervision_due:{int(row.supervision_due_at.timestamp())}",
                changes={"reminder": row.supervision_due_at.isoformat()},
            )
        )
    told = notify.tell_many(tellings, "case_supervised", once=False, offices=offices)
    return {"reminded": len(told)}


def run_pass(now: dt.datetime | None = None) -> dict[str, int]:
    """The ``case-deadlines`` job: escalate the overdue, then remind of overdue supervision."""
    now = now or utcnow()
    return {**escalate_overdue(now), **remind_supervision(now)}
