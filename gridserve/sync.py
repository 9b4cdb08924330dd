"""Change sequence numbers for terminals' incremental sync.

Every change to a row a terminal keeps (places, households) takes the next
number from a one-row counter with ``INSERT ... ON CONFLICT DO UPDATE ...
RETURNING``. The row stays locked until the transaction ends, so numbers are
committed in the order they are handed out: a terminal that has seen number
N has seen every change numbered below N.
"""

from __future__ import annotations

from sqlalchemy import literal_column

from gridserve.db import insert_for
from gridserve.extensions import db
from gridserve.models import SyncCounter


def next_seq() -> int:
    """Take the next change number (and the counter's lock until commit)."""
    table = SyncCounter.__table__
    stmt = (
        insert_for(table)
        .values(id=1, value=1)
        .on_conflict_do_update(
            index_elements=[table.c.id], set_={"value": table.c.value + literal_column("1")}
        )
        .returning(table.c.value)
    )
    return int(db.session.execute(stmt).scalar_one())


def current_seq() -> int:
    """The last number handed out (0 before any)."""
    value = db.session.get(SyncCounter, 1)
    return int(value.value) if value is not None else 0
