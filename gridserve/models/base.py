"""Column helpers shared by the models."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, BigInteger, Integer
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from gridserve.db import UTCDateTime, utcnow

# JSONB on PostgreSQL (indexable), JSON text on SQLite.
JSONType = JSON().with_variant(JSONB(), "postgresql")
# 64-bit keys for tables that grow without bound; SQLite's rowid alias must be INTEGER.
BigIntKey = BigInteger().with_variant(Integer(), "sqlite")


class TimestampMixin:
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    updated_at: Mapped[dt.datetime] = mapped_column(
        UTCDateTime, default=utcnow, onupdate=utcnow, nullable=False
    )
