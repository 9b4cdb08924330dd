"""Versioned rows: a change names the version it is based on, or it is refused.

Households, tasks, SMS texts, visits and draft grid plans carry a ``version``
that every change bumps. A change applies with one conditional
``UPDATE ... SET version = version + 1 WHERE <row> AND version = :expected``
(never check-then-act in Python); when no row matched because the version
moved on, the answer is 409 ``stale_version`` with
``{"version": <the caller's>, "current_version": <the stored one>}``.
This module is the only place that says so (tests/test_structure.py).
"""

from __future__ import annotations

from typing import Any, NoReturn

from sqlalchemy import Table, update
from sqlalchemy.sql.elements import ColumnElement

from gridserve.errors import Conflict
from gridserve.extensions import db

STALE_VERSION = "stale_version"


def update_versioned(
    target: Any, expected: int | None, *where: ColumnElement[bool], **values: Any
) -> int | None:
    """``UPDATE target SET **values, version = version + 1 WHERE *where AND version = expected``.

    ``target`` is a model or its table; ``expected`` None skips the version
    condition (a change that is not based on a version). Returns the new
    version, or None when no row matched: it moved on, or ``where`` left it out.
    """
    version = target.c.version if isinstance(target, Table) else target.version
    stmt = update(target).where(*where)
    if expected is not None:
        stmt = stmt.where(version == expected)
    row = db.session.execute(
        stmt.values(**values, version=version + 1)
        .returning(version)
        .execution_options(synchronize_session=False)
    ).first()
    return None if row is None else row[0]


def refuse_stale(
    message: str, *, expected: int | None, current: int | None, **details: Any
) -> NoReturn:
    """409 ``stale_version``: the change was based on ``expected``, the row is at ``current``."""
    raise Conflict(
        message,
        code=STALE_VERSION,
        details={"version": expected, "current_version": current, **details},
    )


def check_version(message: str, *, expected: int | None, current: int) -> None:
    """Refuse early (409 ``stale_version``) when the caller's version is not the row's."""
    if expected != current:
        refuse_stale(message, expected=expected, current=current)
