"""Reading the audit trail (writing it is :mod:`gridserve.audit`)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Select, select

from gridserve.models import AuditEntry
from gridserve.pagination import apply_sort
from gridserve.scope import Principal

SORTABLE = {"at": AuditEntry.at, "id": AuditEntry.id}


def list_entries(
    principal: Principal,
    *,
    action: str | None = None,
    entity: str | None = None,
    entity_id: str | None = None,
    actor_id: int | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    sort: str | None = None,
) -> Select:
    """The trail is for admins: it spans every scope."""
    principal.require()
    stmt = select(AuditEntry)
    if action:
        stmt = stmt.where(AuditEntry.action == action)
    if entity:
        stmt = stmt.where(AuditEntry.entity == entity)
    if entity_id:
        stmt = stmt.where(AuditEntry.entity_id == entity_id)
    if actor_id is not None:
        stmt = stmt.where(AuditEntry.actor_id == actor_id)
    if since:
        stmt = stmt.where(AuditEntry.at >= since)
    if until:
        stmt = stmt.where(AuditEntry.at < until)
    return apply_sort(stmt, sort, SORTABLE, "-id", AuditEntry.id)
