"""Accounts, their API tokens and failed logins."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import CheckConstraint, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from gridserve.db import UTCDateTime, utcnow
from gridserve.extensions import db
from gridserve.models.accounts.institutions import Institution
from gridserve.models.base import TimestampMixin
from gridserve.models.geography.areas import Area

ROLES = (
    "admin",
    "district_centre",
    "street_centre",
    "station",
    "worker",
    "coordinator",
    "institution_contact",
)


class User(TimestampMixin, db.Model):
    """A person who signs in. Bound to an area node, or (contacts) to an institution."""

    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint(
            "role IN ('admin', 'district_centre', 'street_centre', 'station', 'worker',"
            " 'coordinator', 'institution_contact')",
            name="role",
        ),
        CheckConstraint(
            "(role = 'institution_contact' AND institution_id IS NOT NULL)"
            " OR (role <> 'institution_contact' AND area_id IS NOT NULL)",
            name="bound",
        ),
    )
    __audit_redact__ = frozenset({"password_hash"})

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    password_hash: Mapped[str] = mapped_column(String(255), nullable=False)
    full_name: Mapped[str] = mapped_column(String(100), nullable=False, default="")
    role: Mapped[str] = mapped_column(String(32), nullable=False)
    area_id: Mapped[int | None] = mapped_column(ForeignKey("areas.id"), index=True)
    institution_id: Mapped[int | None] = mapped_column(ForeignKey("institutions.id"), index=True)
    is_active: Mapped[bool] = mapped_column(default=True, nullable=False)
    last_login_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    area: Mapped[Area | None] = relationship()
    institution: Mapped[Institution | None] = relationship()


class ApiToken(db.Model):
    """A bearer token. Only its SHA-256 is stored; the token itself is shown once."""

    __tablename__ = "api_tokens"
    __audit__ = False  # issuing and revoking are audited as login/logout/revoke events

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    remote_addr: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(255))

    user: Mapped[User] = relationship()


class LoginThrottle(db.Model):
    """Failed sign-ins in the current window, per (username, address) and per address.

    A row with ``username == ""`` counts the failures from ``address`` over all
    usernames; a row with a username counts that account's failures from that
    address (written only for usernames that exist). Every sign-in upserts its
    rows first, address row before user row, which locks them for the rest of
    the transaction: concurrent attempts are serialised by the database, so no
    burst can test more passwords than the limits allow. Over a limit the key
    is locked until ``locked_until``; see :mod:`gridserve.services.accounts.auth`.
    """

    __tablename__ = "login_throttle"
    __audit__ = False  # failures are audited as login_failed events

    username: Mapped[str] = mapped_column(String(64), primary_key=True)
    address: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(default=0, nullable=False)
    window_start: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)
    locked_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
