"""Who did what: the actor of the current request or job, and the audit trail.

Every ORM write of an audited model is recorded automatically at flush time
(one listener, so no endpoint can forget); events that are not row writes
(login, logout, token revocation, reads of personal data) are recorded with
:func:`record`. Both land in the same transaction as the work they describe.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import decimal
import enum
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Insert, String, bindparam, cast, event, insert, inspect, literal, select
from sqlalchemy.orm import Session

from gridserve.db import insert_rows, utcnow
from gridserve.extensions import db
from gridserve.models.accounts.audit import AuditEntry


@dataclass(frozen=True)
class Actor:
    kind: str  # user | device | cli | job | system
    id: int | None = None
    name: str | None = None
    remote_addr: str | None = None
    device_id: int | None = None
    request_id: str | None = None


SYSTEM = Actor(kind="system", name="system")
_current: contextvars.ContextVar[Actor] = contextvars.ContextVar("gridserve_actor", default=SYSTEM)


def current_actor() -> Actor:
    return _current.get()


def set_actor(actor: Actor) -> contextvars.Token:
    return _current.set(actor)


def reset_actor(token: contextvars.Token) -> None:
    _current.reset(token)


@contextmanager
def acting_as(actor: Actor) -> Iterator[Actor]:
    token = _current.set(actor)
    try:
        yield actor
    finally:
        _current.reset(token)


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    if isinstance(value, (decimal.Decimal, enum.Enum)):
        return str(value.value if isinstance(value, enum.Enum) else value)
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return "(binary)" if isinstance(value, (bytes, memoryview)) else str(value)


def _row(actor: Actor, action: str, entity: str | None, entity_id: Any, details: Any) -> dict:
    return {
        "at": utcnow(),
        "actor_type": actor.kind,
        "actor_id": actor.id,
        "actor_name": actor.name,
        "device_id": actor.device_id,
        "remote_addr": actor.remote_addr,
        "request_id": actor.request_id,
        "action": action,
        "entity": entity,
        "entity_id": None if entity_id is None else str(entity_id),
        "details": _jsonable(details) if details is not None else None,
    }


def record(
    action: str,
    entity: str | None = None,
    entity_id: Any = None,
    details: dict[str, Any] | None = None,
    *,
    actor: Actor | None = None,
) -> None:
    """Append an audit entry in the current transaction."""
    db.session.add(AuditEntry(**_row(actor or current_actor(), action, entity, entity_id, details)))


def record_many(action: str, entity: str, entries: list[tuple[Any, dict[str, Any]]]) -> None:
    """Append one audit entry per ``(entity_id, details)`` in one statement (bulk writes that
    bypass the flush-time listener)."""
    actor = current_actor()
    rows = [_row(actor, action, entity, entity_id, details) for entity_id, details in entries]
    insert_rows(AuditEntry.__table__, rows)


_FROM_FIXED = ("at", "actor_type", "actor_id", "actor_name", "device_id", "remote_addr",
               "request_id")  # fmt: skip


def record_from(action: str, entity: str, source: Any) -> Insert:
    """The statement appending one audit entry per row of ``source`` (a subquery or CTE with
    the columns ``entity_id`` and ``details``, JSON made by the database): for bulk writes
    done in one statement (on PostgreSQL a CTE of it, the entries built from what the write
    returned). The time and the actor's fields are parameters (``audit_at``,
    ``audit_actor_type``…), given at execution by :func:`record_from_params` like
    :func:`record_many` fills them in, so a statement built once serves every run."""
    table = AuditEntry.__table__
    return insert(table).from_select(
        [*_FROM_FIXED, "action", "entity", "entity_id", "details"],
        select(
            *(bindparam(f"audit_{name}", type_=table.c[name].type) for name in _FROM_FIXED),
            literal(action, table.c.action.type),
            literal(entity, table.c.entity.type),
            cast(source.c.entity_id, String),
            source.c.details,
        ),
    )


def record_from_params() -> dict[str, Any]:
    """The parameters of a :func:`record_from` statement: now and the current actor."""
    row = _row(current_actor(), "", None, None, None)
    return {f"audit_{name}": row[name] for name in _FROM_FIXED}


def _is_audited(obj: object) -> bool:
    return getattr(type(obj), "__audit__", True) and hasattr(type(obj), "__table__")


def _value(obj: object, key: str, redact: frozenset[str]) -> Any:
    if key in redact:
        return "(redacted)"
    value = getattr(obj, key)
    if type(value).__name__ in {"WKBElement", "WKTElement"}:
        return "(geometry)"
    return value


def _changes(obj: object, created: bool) -> dict[str, Any]:
    state = inspect(obj)
    redact = getattr(type(obj), "__audit_redact__", frozenset())
    out: dict[str, Any] = {}
    for attr in state.mapper.column_attrs:
        key = attr.key
        if key in {"created_at", "updated_at"}:
            continue
        if created:
            out[key] = _value(obj, key, redact)
            continue
        hist = state.attrs[key].history
        if hist.has_changes():
            old = hist.deleted[0] if hist.deleted else None
            if key in redact:
                out[key] = "(changed)"
            elif "geom" in key:
                out[key] = "(geometry changed)"
            else:
                out[key] = [old, hist.added[0] if hist.added else None]
    return out


def _after_flush(session: Session, _flush_context: Any) -> None:
    actor = current_actor()
    rows = []
    for obj in session.new:
        if _is_audited(obj):
            rows.append(_row(actor, "create", obj.__tablename__, _pk(obj), _changes(obj, True)))
    for obj in session.dirty:
        if _is_audited(obj) and session.is_modified(obj, include_collections=False):
            changes = _changes(obj, False)
            if changes:
                rows.append(_row(actor, "update", obj.__tablename__, _pk(obj), changes))
    for obj in session.deleted:
        if _is_audited(obj):
            rows.append(_row(actor, "delete", obj.__tablename__, _pk(obj), None))
    if rows:
        session.connection().execute(insert(AuditEntry.__table__), rows)


def _pk(obj: object) -> str:
    state = inspect(obj)
    # A row created in this flush has no identity key yet (it is set after after_flush),
    # but its primary key columns are filled in: read them from the instance.
    ident = state.identity or state.mapper.primary_key_from_instance(obj)
    return ",".join(str(v) for v in ident if v is not None)


def init_app() -> None:
    if not event.contains(Session, "after_flush", _after_flush):
        event.listen(Session, "after_flush", _after_flush)
