"""The deadline job: overdue cases go one level up, once; supervised cases past their due
time remind the supervising office, once.

Rules:

- Overdue: a case (``kind`` case) that is neither closed nor cancelled, not paused, below
  ``district`` and whose ``level_due_at`` has passed is escalated to the next level — the same
  effect as the ladder's ``escalate`` step: level up, the new level's clock started,
  escalations + 1, an ``accepted`` case back to ``open``, version + 1, a new change number, a
  :class:`TaskEvent` ``escalate`` (from/to level, the reason "overdue at <level> since <local
  time>"), an audit entry and the receiving office told (``notify`` ``case_escalated``: a
  notice per case, and its duty mobile texted).
- One text per office and pass: the cases a pass escalates to the same office are named in
  ONE text to its duty mobile (:class:`notify.Digest`: "12件事件超时升级至某某社区，请处理：
  #101、#102…等12件"; a single case's text is its own notice's message), keyed
  ``case:digest:case_escalated:<office area id>:<the pass's change number>``, so exactly once
  per office and pass; each case's notice says ``texted`` 1. A case is escalated once, so it
  is named in one text.
- The new level's clock starts when the job moves the case (``level_started_at`` = now), not
  at the due time that passed: that is when the receiving office is told and can act, so it
  gets its whole deadline (after a scheduler outage too). Its due time is
  :func:`gridserve.services.cases.basics.level_due_at` of the category at the new level.
- A case overdue at ``district`` has nowhere to go: it is counted (``overdue_at_top``), not
  escalated. Paused cases are skipped (their clock does not run).
- Once, also when two schedulers race: on PostgreSQL the statement that moves the cases
  takes them ``FOR UPDATE SKIP LOCKED`` (a second pass skips what the first holds and, once
  the first has committed, no longer finds them overdue) and moves each only if it is still
  overdue. SQLite has one writer; there the update is conditional on each case's version
  (read with the candidates) and on it still being overdue, so a case moved meanwhile is
  left alone.
- Supervision (督办): a supervised case, not closed or cancelled, whose
  ``supervision_due_at`` has passed gets one reminder notice (reason ``case_supervised``,
  ``changes.reminder``) to the street's office and a text to its duty mobile. The notice is
  the record: a ``case_supervised`` notice made at or after the due time means "reminded";
  setting a new due time later asks for a new reminder.
- Bulk: a pass is a few statements whatever the number of cases, no ORM object per case.
  What depends only on a case's community, category and level (its kind: new due time,
  zone, office, the office's duty mobile) is worked out once per kind, not per case. On
  PostgreSQL: the kinds of the cases due (a few rows), one change number, then per 1,000
  cases ONE statement (:func:`_escalation`, built once per process): the cases taken,
  updated with their old values returned, and from what it returned the events, the notices
  and the audit entries, as CTEs (the reasons and messages written by the database from the
  same templates as on SQLite), answering by office. On SQLite: the candidates, the
  conditional update, the events, the notices and the audit entries each in one statement
  (:func:`gridserve.db.insert_rows`). Then the texts in one statement. Each case's audit
  entry (actor: the job) names its fields, levels, versions, reason and the notice made for
  it.

No commits here: the job boundary (:func:`jobs.registry.run_job`) commits.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import re
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    BigInteger,
    DateTime,
    Integer,
    String,
    bindparam,
    case,
    cast,
    func,
    insert,
    literal,
    literal_column,
    select,
    tuple_,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, array
from sqlalchemy.sql.expression import Grouping

from gridserve import audit
from gridserve.db import insert_rows, utcnow
from gridserve.extensions import db
from gridserve.models import CASE_FINAL_STATUSES, CaseCategory, OutreachNotice, Task, TaskEvent
from gridserve.services.accounts.calendars import working_days
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


def _overdue(now: dt.datetime, tasks: Any = Task) -> tuple[Any, ...]:
    """Overdue and movable; ``tasks``: the model, or its table's columns (Core)."""
    return (
        tasks.kind == "case",
        tasks.status.not_in(CASE_FINAL_STATUSES),
        tasks.paused_at.is_(None),
        tasks.level_due_at <= now,
    )


def _local(at: dt.datetime, tz: ZoneInfo) -> str:
    return at.astimezone(tz).strftime("%Y-%m-%d %H:%M")


NEXT = {"cell": "community", "community": "street", "street": "district"}
_LEVEL_NAMES = {"cell": "网格", "community": "社区", "street": "街道", "district": "区"}
# What an escalation says: the event's note (its reason, also in the audit entry) and the
# notice's message; ``since`` is the local time the case fell due. Written out by Python on
# SQLite and by the statement on PostgreSQL (:func:`_sql_text`), from these same templates.
REASON = "overdue at {level} since {since}"
MESSAGE = "事件#{id}已超时（{from_name}，{since}起），升级至{to_name}，请处理。"
# The duty text of a pass's escalations to one office (:class:`notify.Digest`).
DIGEST_HEADLINE = "{count}件事件超时升级至{office}，请处理"
_LOCAL_FORMAT = "YYYY-MM-DD HH24:MI"  # PostgreSQL's to_char for _local's strftime


def reason_of(level: str, local: str) -> str:
    """The escalation's reason as the history and the notice say it."""
    return REASON.format(level=level, since=local)


def _sql_text(template: str, **parts: Any) -> Any:
    """``template`` (``{name}`` placeholders) as a SQL expression: ``concat`` of its text and
    the column expressions ``parts``."""
    pieces = re.split(r"\{(\w+)\}", template)
    return func.concat(
        *(parts[p] if i % 2 else literal(p, String) for i, p in enumerate(pieces) if p)
    )


def escalate_overdue(now: dt.datetime | None = None, limit: int = PER_PASS) -> dict[str, int]:
    """One pass over the overdue cases (see the module's rules). Returns ``escalated`` (moved
    now), ``overdue_at_top`` (overdue at ``district``) and ``notified`` (notices made)."""
    now = now or utcnow()
    if _postgres():
        return _escalate_postgres(now, limit)
    candidates = db.session.execute(
        select(Task.id, Task.version, Task.level, Task.category_id, Task.area_id, Task.status,
               Task.level_due_at, Task.assigned_worker_id)
        .where(*_overdue(now), Task.level.in_(BELOW_TOP))
        .order_by(Task.level_due_at, Task.id)
        .limit(limit)
    ).all()  # fmt: skip
    result = {"escalated": 0, "overdue_at_top": _at_top(now), "notified": 0}
    if not candidates:
        return result
    pass_ = _Pass(candidates, now)
    new_due = {row.id: pass_.due_of(row) for row in candidates}
    moved: set[int] = set()
    for start in range(0, len(candidates), CHUNK):
        chunk = candidates[start : start + CHUNK]
        moved.update(_escalate(chunk, new_due, pass_.seq, now, pass_.zones))
    done = [row for row in candidates if row.id in moved]
    if not done:
        return result
    since = {row.id: _local(row.level_due_at, pass_.zones[row.area_id]) for row in done}
    tellings = [
        notify.Telling(
            task_id=row.id, area_id=row.area_id, version=row.version + 1, level=NEXT[row.level],
            message=MESSAGE.format(id=row.id, from_name=_LEVEL_NAMES[row.level],
                                   since=since[row.id], to_name=_LEVEL_NAMES[NEXT[row.level]]),
        )
        for row in done
    ]  # fmt: skip
    # The versions were made by this very update: no notice can exist for them yet.
    made = notify.tell_many(
        tellings, "case_escalated", offices=pass_.offices, once=False, audited=False,
        digest=pass_.digest,
    )  # fmt: skip
    entries = []
    for row in done:
        to_status = "open" if row.status == "accepted" else row.status
        entries.append(
            (row.id, {"fields": [*_FIELDS, *(["status"] if to_status != row.status else [])],
                      "version": [row.version, row.version + 1],
                      "level": [row.level, NEXT[row.level]],
                      "reason": reason_of(row.level, since[row.id]),
                      "notice": made.get(row.id)})
        )  # fmt: skip
    audit.record_many("update", "tasks", entries)
    return {**result, "escalated": len(done), "notified": len(made)}


def _at_top_count(now: dt.datetime) -> Any:
    """How many cases are overdue at the district (nowhere to go), as a scalar subquery."""
    return (
        select(func.count()).select_from(Task).where(*_overdue(now), Task.level == "district")
    ).scalar_subquery()


def _at_top(now: dt.datetime) -> int:
    return db.session.scalar(select(_at_top_count(now))) or 0


class _Pass:
    """What a pass works out once for the cases it moves (``rows``: their community, category
    and level): the categories, the communities' offices and zones, the new due times (once
    per category, level and zone), the pass's change number and its digest."""

    def __init__(self, rows: list[Any], now: dt.datetime) -> None:
        self.now = now
        self.categories = {
            c.id: c
            for c in db.session.scalars(
                select(CaseCategory).where(CaseCategory.id.in_({r.category_id for r in rows}))
            )
        }
        areas = {r.area_id for r in rows}
        self.offices = Offices(areas)
        self.zones = {area_id: self.offices.zone(area_id) for area_id in areas}
        self.days = working_days()
        self.dues: dict[tuple[int | None, str, str], dt.datetime | None] = {}
        self.seq = next_seq()
        # One text per office for the pass (its change number names the batch).
        self.digest = notify.Digest(key=str(self.seq), headline=DIGEST_HEADLINE)

    def due_of(self, row: Any) -> dt.datetime | None:
        """The case's due time at its next level."""
        tz = self.zones[row.area_id]
        key = (row.category_id, NEXT[row.level], tz.key)
        if key not in self.dues:
            self.dues[key] = level_due_at(
                self.categories.get(row.category_id), key[1], self.now, row.area_id, tz=tz,
                days=self.days,
            )  # fmt: skip
        return self.dues[key]


def _escalate_postgres(now: dt.datetime, limit: int) -> dict[str, int]:
    """A pass on PostgreSQL: the kinds of the cases due (community, category, level: a few
    rows, read without locking), what each kind gets worked out once, then per 1,000 cases
    ONE statement (:func:`_escalation`) that takes them ``FOR UPDATE SKIP LOCKED`` and moves
    them, answering by office; then the texts."""
    first = (
        select(Task.area_id, Task.category_id, Task.level)
        .where(*_overdue(now), Task.level.in_(BELOW_TOP))
        .order_by(Task.level_due_at, Task.id)
        .limit(limit)
        .subquery()
    )
    at_top = _at_top_count(now)
    kinds = db.session.execute(select(first, at_top.label("at_top")).distinct()).all()
    if not kinds:
        return {"escalated": 0, "overdue_at_top": _at_top(now), "notified": 0}
    result = {"escalated": 0, "overdue_at_top": kinds[0].at_top, "notified": 0}
    pass_ = _Pass(kinds, now)
    channel = notify.case_channel()
    office = [pass_.offices.office(k.area_id, NEXT[k.level]) for k in kinds]
    reach = notify.duties({o for o in office if o is not None}, pass_.offices, channel)
    undeliverable = {o: json.dumps(d.undeliverable, ensure_ascii=False) for o, d in reach.items()}
    params = {
        # Each case finds its kind's number here, then its kind's due time, zone, office...
        # in one small array each.
        "kinds": {f"{k.area_id}:{k.category_id or 0}:{k.level}": n
                  for n, k in enumerate(kinds, start=1)},
        "dues": [pass_.due_of(k) for k in kinds],
        "zones": [pass_.zones[k.area_id].key for k in kinds],
        "offices": office,
        "texted": [reach[o].texted if o else 0 for o in office],
        "undeliverable": [undeliverable.get(o, "[]") for o in office],
        "now": now,
        "seq": pass_.seq,
        **audit.record_from_params(),
    }  # fmt: skip
    told: dict[int, tuple[list[int], str]] = {}
    while result["escalated"] < limit:
        size = min(CHUNK, limit - result["escalated"])
        moved = 0
        for to_office, count, ids, message in db.session.execute(
            _escalation(), {**params, "limit": size}
        ):
            moved += count
            if to_office is not None:
                told.setdefault(to_office, ([], message))[0].extend(map(int, ids.split(",")))
                result["notified"] += count
        result["escalated"] += moved
        if moved < size:
            break
    notify.queue_texts(
        notify.digests(told, "case_escalated", pass_.digest, pass_.offices), reach, channel
    )
    return result


# The columns an escalation changes, as its audit entry lists them (and ``status`` when an
# accepted case is opened again).
_FIELDS = ["escalations", "level", "level_due_at", "level_started_at"]


def _values(seq: int, now: dt.datetime, tasks: Any = Task) -> dict[str, Any]:
    """The conditional update's new values but the due time (``tasks`` as for
    :func:`_overdue`)."""
    return {
        "level": case(NEXT, value=tasks.level),
        "level_started_at": now,
        "escalations": tasks.escalations + 1,
        "status": case((tasks.status == "accepted", "open"), else_=tasks.status),
        "version": tasks.version + 1,
        "change_seq": seq,
        "updated_at": now,
    }


@functools.cache
def _escalation() -> Any:
    """The statement of a pass on PostgreSQL, built once (all that changes is a parameter).

    CTEs: the cases due (``limit`` of them, oldest due first, ``FOR UPDATE SKIP LOCKED``: a
    racing pass skips them), each with its kind's number (``kinds``: a JSON object by
    ``<community>:<category or 0>:<level>``; a case of a kind the pass did not read waits for
    the next pass); the ``UPDATE ... RETURNING`` (still overdue: a case moved meanwhile is
    left alone; its old level, status and due time read from the same row before the update,
    ``tasks AS old``; what depends on its kind — new due time, zone, office and how the
    office is reached — from one small array each, subscripted by the kind's number; each
    notice's id drawn there), the reasons and messages written from it, then the
    ``escalate`` events, the notices and the audit entries naming them
    (:func:`gridserve.audit.record_from`), all from what it returned. It answers by office:
    how many cases, their ids (``1,2,3``) and one case's message. In Core (the table, not
    the model)."""
    tasks = Task.__table__
    t, old = tasks.c, tasks.alias("old").c
    now = bindparam("now", type_=DateTime(timezone=True))
    seq = bindparam("seq", type_=BigInteger)
    category = func.coalesce(t.category_id, 0)
    due_now = (
        select(t.id, t.area_id, category.label("category_id"), t.level)
        .where(*_overdue(now, t), t.level.in_(BELOW_TOP))
        .order_by(t.level_due_at, t.id)
        .limit(bindparam("limit", type_=Integer))
        .with_for_update(skip_locked=True)
        .cte("due")
    )
    key = func.concat(due_now.c.area_id, ":", due_now.c.category_id, ":", due_now.c.level)
    wanted = select(
        due_now.c.id,
        cast(bindparam("kinds", type_=JSONB)[key].astext, Integer).label("kind"),
    ).cte("wanted")

    def of_kind(name: str, item_type: Any) -> Any:
        return Grouping(bindparam(name, type_=ARRAY(item_type)))[wanted.c.kind]

    due = of_kind("dues", DateTime(timezone=True))
    zone = of_kind("zones", String)
    office = of_kind("offices", Integer)
    moved = (
        update(tasks)
        .where(t.id == wanted.c.id, wanted.c.kind.is_not(None), old.id == t.id,
               *_overdue(now, t), t.level.in_(BELOW_TOP))
        .values(**_values(seq, now, t), level_due_at=due)
        .returning(
            t.id, t.level, t.status, t.version, t.assigned_worker_id,
            old.level.label("from_level"), old.status.label("from_status"),
            func.to_char(func.timezone(zone, old.level_due_at), _LOCAL_FORMAT).label("since"),
            office.label("office"), of_kind("texted", Integer).label("texted"),
            of_kind("undeliverable", String).label("undeliverable"),
            case((office.is_not(None), func.nextval(_NOTICE_IDS)), else_=None).label("notice_id"),
        )
        .cte("moved")
    )  # fmt: skip
    told = select(
        moved,
        _sql_text(REASON, level=moved.c.from_level, since=moved.c.since).label("note"),
        _sql_text(MESSAGE, id=moved.c.id, since=moved.c.since,
                  from_name=case(_LEVEL_NAMES, value=moved.c.from_level),
                  to_name=case(_LEVEL_NAMES, value=moved.c.level)).label("message"),
    ).cte("told")  # fmt: skip
    events = insert(TaskEvent.__table__).from_select(
        ["task_id", "action", "from_status", "to_status", "from_worker_id", "to_worker_id",
         "note", "change_seq", "at", "from_level", "to_level"],
        select(told.c.id, literal("escalate"), told.c.from_status, told.c.status,
               told.c.assigned_worker_id, told.c.assigned_worker_id, told.c.note, seq, now,
               told.c.from_level, told.c.level),
    ).cte("events")  # fmt: skip
    notices = insert(OutreachNotice.__table__).from_select(
        ["id", "task_id", "area_id", "reason", "event_version", "changes", "message", "texted",
         "undeliverable", "created_at"],
        select(told.c.notice_id, told.c.id, told.c.office, literal("case_escalated"),
               told.c.version, func.jsonb_build_object("level", told.c.level), told.c.message,
               told.c.texted, cast(told.c.undeliverable, JSONB), now)
        .where(told.c.notice_id.is_not(None)),
    ).cte("notices")  # fmt: skip
    details = func.jsonb_build_object(
        "fields", case((told.c.status != told.c.from_status, array([*_FIELDS, "status"])),
                       else_=array(_FIELDS)),
        "version", array([told.c.version - 1, told.c.version]),
        "level", array([told.c.from_level, told.c.level]),
        "reason", told.c.note,
        "notice", told.c.notice_id,
    )  # fmt: skip
    entries = select(told.c.id.label("entity_id"), details.label("details")).subquery()
    audited = audit.record_from("update", "tasks", entries).cte("audited")
    return (
        select(told.c.office, func.count(), func.string_agg(cast(told.c.id, String), ","),
               func.min(told.c.message))
        .group_by(told.c.office)
        .add_cte(events, notices, audited)
    )  # fmt: skip


# The notices' ids, drawn in the update's RETURNING so that the events, notices and audit
# entries are all made from it (no join between the statement's parts).
_NOTICE_IDS = literal_column("pg_get_serial_sequence('outreach_notices', 'id')")


def _escalate(
    chunk: list[Any],
    new_due: dict[int, dt.datetime | None],
    seq: int,
    now: dt.datetime,
    zones: dict[int, ZoneInfo],
) -> list[int]:
    """SQLite: one conditional ``UPDATE ... RETURNING`` for ``chunk`` (each case moved only if
    it is still at the version read and still overdue: ``(id, version) IN (...)``, a ``CASE``
    of the due times), then its events in one executemany."""
    by_due: dict[dt.datetime | None, list[int]] = {}
    for row in chunk:
        by_due.setdefault(new_due[row.id], []).append(row.id)
    due = case(*((Task.id.in_(ids), due) for due, ids in by_due.items()), else_=None)
    result = db.session.execute(
        update(Task)
        .where(tuple_(Task.id, Task.version).in_([(r.id, r.version) for r in chunk]),
               *_overdue(now), Task.level.in_(BELOW_TOP))
        .values(**_values(seq, now), level_due_at=due)
        .returning(Task.id)
        .execution_options(synchronize_session=False)
    )  # fmt: skip
    moved = set(result.scalars())
    insert_rows(
        TaskEvent.__table__,
        [{"task_id": r.id, "action": "escalate", "from_status": r.status,
          "to_status": "open" if r.status == "accepted" else r.status,
          "from_worker_id": r.assigned_worker_id, "to_worker_id": r.assigned_worker_id,
          "note": reason_of(r.level, _local(r.level_due_at, zones[r.area_id])),
          "actor_id": None, "change_seq": seq, "at": now, "from_level": r.level,
          "to_level": NEXT[r.level]}
         for r in chunk if r.id in moved],
    )  # fmt: skip
    return list(moved)


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
