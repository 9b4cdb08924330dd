"""The case filters of the task list (``GET /api/v1/tasks``) and what "overdue" means.

Rules:

- ``category``: a category code (422 ``unknown_category`` for a code that does not exist);
  ``department``: the code of an institution of kind ``department`` (422
  ``unknown_department`` otherwise); ``level``: ``cell``, ``community``, ``street`` or
  ``district``; ``source``: how it came in.
- ``overdue=true``: still pending (status ``open`` or ``accepted``: not yet settled, nor closed
  or cancelled), past its level's due time (``level_due_at``), and not paused;
  ``overdue=false``: every other row.
- ``supervised``: under the street's supervision (``supervised_at`` set) or not; ``paused``:
  its clock paused (``paused_at`` set) or not.

Each filter is a plain column condition over ``tasks`` (indexable); the filters only narrow the
caller's scope, never widen it. No Flask request in here and no commits.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Select, and_, not_, select
from sqlalchemy.sql.elements import ColumnElement

from gridserve.db import utcnow
from gridserve.errors import ValidationFailed
from gridserve.extensions import db
from gridserve.models import CaseCategory, Institution, Task

# A case whose level clock runs: not yet settled, nor closed or cancelled.
PENDING_STATUSES = ("open", "accepted")
FILTERS = ("category", "level", "department", "overdue", "supervised", "paused", "source")


def overdue(now: dt.datetime) -> ColumnElement[bool]:
    """Pending (:data:`PENDING_STATUSES`), past ``level_due_at`` at ``now``, not paused."""
    return and_(
        Task.status.in_(PENDING_STATUSES),
        Task.level_due_at.is_not(None),
        Task.level_due_at < now,
        Task.paused_at.is_(None),
    )


def category_id(code: str) -> int:
    """The id of the category ``code`` (422 ``unknown_category``)."""
    found = db.session.execute(
        select(CaseCategory.id).where(CaseCategory.code == code)
    ).scalar_one_or_none()
    if found is None:
        raise ValidationFailed(
            f"No case category {code}.",
            code="unknown_category",
            details={"fields": {"category": [f"No case category {code}."]}},
        )
    return found


def department_id(code: str) -> int:
    """The id of the department ``code`` (422 ``unknown_department``)."""
    found = db.session.execute(
        select(Institution.id).where(Institution.code == code, Institution.kind == "department")
    ).scalar_one_or_none()
    if found is None:
        raise ValidationFailed(
            f"No department {code}.",
            code="unknown_department",
            details={"fields": {"department": [f"No department {code}."]}},
        )
    return found


def apply_case_filters(stmt: Select, filters: dict[str, Any]) -> Select:
    """``stmt`` (over ``tasks``) narrowed by the case filters given in ``filters`` (keys of
    :data:`FILTERS`; None or absent: not filtered)."""
    if filters.get("category"):
        stmt = stmt.where(Task.category_id == category_id(filters["category"]))
    if filters.get("department"):
        stmt = stmt.where(Task.department_id == department_id(filters["department"]))
    if filters.get("level"):
        stmt = stmt.where(Task.level == filters["level"])
    if filters.get("source"):
        stmt = stmt.where(Task.source == filters["source"])
    if filters.get("overdue") is not None:
        late = overdue(utcnow())
        stmt = stmt.where(late if filters["overdue"] else not_(late))
    for key, column in (("supervised", Task.supervised_at), ("paused", Task.paused_at)):
        if filters.get(key) is not None:
            stmt = stmt.where(column.is_not(None) if filters[key] else column.is_(None))
    return stmt
