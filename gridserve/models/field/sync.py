"""What the field app's sync needs besides the records: tombstones and counters."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    BigInteger,
    String,
)
from sqlalchemy.orm import Mapped, mapped_column

from gridserve.db import UTCDateTime, utcnow
from gridserve.extensions import db
from gridserve.models.base import BigIntKey


class SyncTombstone(db.Model):
    """A row a terminal must delete on its next sync."""

    __tablename__ = "sync_tombstones"
    __audit__ = False

    id: Mapped[int] = mapped_column(BigIntKey, primary_key=True)
    entity: Mapped[str] = mapped_column(String(20), nullable=False)
    entity_id: Mapped[int] = mapped_column(nullable=False)
    area_id: Mapped[int] = mapped_column(nullable=False, index=True)
    cell_code: Mapped[str | None] = mapped_column(String(40))
    change_seq: Mapped[int] = mapped_column(BigInteger, nullable=False, index=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)


class SyncCounter(db.Model):
    """The last change sequence number handed out (one row)."""

    __tablename__ = "sync_counter"
    __audit__ = False

    id: Mapped[int] = mapped_column(primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
