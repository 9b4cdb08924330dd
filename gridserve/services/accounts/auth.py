"""Sign-in, bearer tokens, throttling and revocation."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass, replace

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from argon2.profiles import CHEAPEST, RFC_9106_LOW_MEMORY
from sqlalchemy import case, delete, null, select, update

from gridserve import audit
from gridserve.config import settings
from gridserve.db import insert_for, utcnow
from gridserve.errors import Forbidden, NotFound, TooManyRequests, Unauthorized
from gridserve.extensions import db
from gridserve.models import ApiToken, Device, LoginThrottle, User
from gridserve.scope import Principal

TOKEN_BYTES = 32
_LAST_USED_RESOLUTION = dt.timedelta(minutes=1)


def _hasher() -> PasswordHasher:
    # Tests use argon2's cheapest profile so that hundreds of logins stay fast;
    # everything else the RFC 9106 low-memory profile (64 MiB, t=3).
    testing = settings().env == "testing"
    return PasswordHasher.from_parameters(CHEAPEST if testing else RFC_9106_LOW_MEMORY)


def hash_password(password: str) -> str:
    return _hasher().hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    hasher = _hasher()
    if password_hash is None:
        # Unknown user: spend the same time as a real check, then fail.
        hasher.hash(password)
        return False
    try:
        return hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def normalize_username(username: str) -> str:
    """Usernames compare case-insensitively (at most 64 characters, as stored)."""
    return username.strip().lower()[:64]


@dataclass(frozen=True)
class IssuedToken:
    token: str
    expires_at: dt.datetime
    user: User


# ---------------------------------------------------------------------------
# Sign-in throttling
#
# Failures are counted per (username, address) -- GRIDSERVE_LOGIN_MAX_FAILURES
# per GRIDSERVE_LOGIN_WINDOW -- and per address over all usernames
# (GRIDSERVE_LOGIN_MAX_FAILURES_PER_ADDRESS), so a stranger can lock out only
# their own address, never an account for everybody. A key that reaches its
# limit is locked for a sixteenth of the window; every further failure on it,
# refused attempts included, doubles the lock, up to the whole window. After
# a lock ends, one more password may be tried (and, wrong, locks again for
# twice as long). A key's count starts again once its window has passed and
# it is not locked. A failure for a username that does not exist touches only
# the address's count: no row is written per unknown username.
# ---------------------------------------------------------------------------

ANY_USERNAME = ""  # the username of an address's row (no real username is empty)


@dataclass(frozen=True)
class ThrottleKey:
    username: str
    address: str
    limit: int


def client_address(remote_addr: str | None) -> str:
    """The address failures are counted for (after the trusted proxies, see create_app)."""
    return (remote_addr or "unknown")[:64]


def throttle_keys(username: str | None, remote_addr: str | None) -> list[ThrottleKey]:
    """The counters one attempt touches: the address's, then (known users) the account's."""
    address = client_address(remote_addr)
    cfg = settings()
    keys = [ThrottleKey(ANY_USERNAME, address, cfg.login_max_failures_per_address)]
    if username:
        keys.append(ThrottleKey(username, address, cfg.login_max_failures))
    return keys


def lock_seconds(failures: int, limit: int, window_seconds: int) -> int:
    """How long a key is locked after its ``failures``-th failure (0 while under ``limit``)."""
    if failures < limit:
        return 0
    base = max(1, window_seconds // 16)
    return min(window_seconds, base << min(failures - limit, 32))


def _key_of(key: ThrottleKey):
    table = LoginThrottle.__table__
    return (table.c.username == key.username) & (table.c.address == key.address)


def claim_attempt(keys: list[ThrottleKey], now: dt.datetime) -> None:
    """Take the keys' rows (locking them till the end of the transaction); 429 if one is locked.

    One ``INSERT ... ON CONFLICT DO UPDATE`` per key, always in the same order,
    so concurrent attempts queue on the rows instead of racing. A refused
    attempt counts as a further failure, so the wait grows while it goes on.
    """
    table = LoginThrottle.__table__
    window = dt.timedelta(seconds=settings().login_window_seconds)
    stale = (table.c.window_start <= now - window) & (
        table.c.locked_until.is_(None) | (table.c.locked_until <= now)
    )
    locked = False
    for key in keys:
        stmt = insert_for(table).values(
            username=key.username, address=key.address, failures=0, window_start=now
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=[table.c.username, table.c.address],
            set_={
                "failures": case((stale, 0), else_=table.c.failures),
                "window_start": case((stale, now), else_=table.c.window_start),
                "locked_until": case((stale, null()), else_=table.c.locked_until),
            },
        ).returning(table.c.locked_until)
        until = db.session.execute(stmt).scalar_one()
        locked = locked or (until is not None and until > now)
    if not locked:
        return
    retry_after = max(1, count_failure(keys, now))
    raise TooManyRequests(
        "Too many failed sign-ins from this address; wait before trying again.",
        code="login_throttled",
        details={"retry_after_seconds": retry_after},
        headers={"Retry-After": str(retry_after)},
        persist=True,  # the refusal counts: the wait grows while the attempts go on
    )


def count_failure(keys: list[ThrottleKey], now: dt.datetime) -> int:
    """Count one failure on each key (rows taken by :func:`claim_attempt`); returns the longest
    lock now in force on them, in seconds (0 when none is)."""
    table = LoginThrottle.__table__
    window_seconds = settings().login_window_seconds
    longest = 0
    for key in keys:
        failures = db.session.execute(
            update(table)
            .where(_key_of(key))
            .values(failures=table.c.failures + 1)
            .returning(table.c.failures)
        ).scalar_one()
        seconds = lock_seconds(failures, key.limit, window_seconds)
        if seconds:
            until = now + dt.timedelta(seconds=seconds)
            db.session.execute(update(table).where(_key_of(key)).values(locked_until=until))
            longest = max(longest, seconds)
    return longest


def clear_failures(username: str, remote_addr: str | None) -> None:
    """A right password from this address clears the account's count there (not the
    address's own count: signing in to one's own account must not reset a spray)."""
    address = client_address(remote_addr)
    db.session.execute(
        delete(LoginThrottle).where(
            LoginThrottle.username == username, LoginThrottle.address == address
        )
    )


def login(
    username: str, password: str, *, remote_addr: str | None, user_agent: str | None
) -> IssuedToken:
    """Check the credentials and issue a token, or record the failure and refuse.

    A wrong password and an unknown user fail alike (same 401, same work).
    """
    name = normalize_username(username)
    now = utcnow()
    user = db.session.execute(select(User).where(User.username == name)).scalar_one_or_none()
    keys = throttle_keys(user.username if user is not None else None, remote_addr)
    claim_attempt(keys, now)
    ok = verify_password(user.password_hash if user else None, password)
    if not ok or user is None or not user.is_active:
        count_failure(keys, now)
        audit.record("login_failed", "users", user.id if user else None, {"username": name[:64]})
        raise Unauthorized(
            "Wrong username or password.",
            code="invalid_credentials",
            persist=True,  # the failure itself must be kept, for throttling and audit
        )
    clear_failures(user.username, remote_addr)
    if _hasher().check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    token = secrets.token_urlsafe(TOKEN_BYTES)
    expires_at = now + dt.timedelta(seconds=settings().token_ttl_seconds)
    row = ApiToken(
        user_id=user.id,
        token_hash=hash_token(token),
        created_at=now,
        expires_at=expires_at,
        remote_addr=remote_addr,
        user_agent=(user_agent or "")[:255] or None,
    )
    db.session.add(row)
    user.last_login_at = now
    db.session.flush()
    audit.record(
        "login",
        "users",
        user.id,
        {"token_id": row.id},
        actor=replace(audit.current_actor(), kind="user", id=user.id, name=user.username),
    )
    return IssuedToken(token=token, expires_at=expires_at, user=user)


def check_current_password(user: User, password: str, *, remote_addr: str | None) -> None:
    """Before changing one's own password: 403 ``wrong_password`` unless ``password`` is the
    account's. Counted by the sign-in throttle like a wrong sign-in (same keys, same 429)."""
    now = utcnow()
    keys = throttle_keys(user.username, remote_addr)
    claim_attempt(keys, now)
    if not verify_password(user.password_hash, password):
        count_failure(keys, now)
        audit.record("password_change_failed", "users", user.id, {"reason": "wrong_password"})
        raise Forbidden(
            "The current password is not right.",
            code="wrong_password",
            persist=True,  # the failure counts towards the sign-in throttle
        )
    clear_failures(user.username, remote_addr)


def authenticate(token: str, *, app_version: str | None = None) -> Principal:
    """The principal behind a bearer token (a user's or a terminal's), or 401 saying why not.

    The codes a client acts on, each distinct: ``device_revoked`` (a revoked terminal) and
    ``account_disabled`` (its worker's account, or a user's, is disabled): the field app wipes
    its data; ``token_expired`` (a user's token past its lifetime, or a terminal's enrolment
    past ``GRIDSERVE_DEVICE_TOKEN_TTL``): sign in or enrol again, keeping the data;
    ``token_revoked`` (a user's token signed out); ``token_invalid`` (unknown).
    """
    now = utcnow()
    digest = hash_token(token)
    row = db.session.execute(
        select(ApiToken).where(ApiToken.token_hash == digest)
    ).scalar_one_or_none()
    if row is None:
        return _authenticate_device(digest, now, app_version)
    if row.revoked_at is not None:
        raise Unauthorized("The access token has been revoked.", code="token_revoked")
    if row.expires_at <= now:
        raise Unauthorized("The access token has expired.", code="token_expired")
    user = row.user
    if not user.is_active:
        raise Unauthorized("The account is disabled.", code="account_disabled")
    if row.last_used_at is None or now - row.last_used_at > _LAST_USED_RESOLUTION:
        row.last_used_at = now
    return principal_for(user, token_id=row.id)


def _authenticate_device(digest: str, now: dt.datetime, app_version: str | None) -> Principal:
    device = db.session.execute(
        select(Device).where(Device.token_hash == digest)
    ).scalar_one_or_none()
    if device is None:
        raise Unauthorized("The access token is not valid.", code="token_invalid")
    if device.revoked_at is not None:
        raise Unauthorized("This terminal has been revoked; enrol it again.", code="device_revoked")
    user = db.session.get(User, device.user_id)
    if user is None or not user.is_active:
        raise Unauthorized("The account is disabled.", code="account_disabled")
    # Checked after the two above: a revoked terminal or a disabled account must wipe what the
    # terminal holds, an expired enrolment only asks for a new one.
    ttl = settings().device_token_ttl_seconds
    if ttl and device.enrolled_at + dt.timedelta(seconds=ttl) <= now:
        raise Unauthorized(
            "This terminal's enrolment has expired; enrol it again.", code="token_expired"
        )
    if device.last_seen_at is None or now - device.last_seen_at > _LAST_USED_RESOLUTION:
        device.last_seen_at = now
    if app_version and app_version != device.app_version:
        device.app_version = app_version[:40]
    return replace(principal_for(user), device_id=device.id)


def principal_for(user: User, token_id: int | None = None) -> Principal:
    return Principal(
        user_id=user.id,
        username=user.username,
        role=user.role,
        area_id=user.area_id,
        area_path=user.area.path if user.area is not None else None,
        institution_id=user.institution_id,
        token_id=token_id,
    )


def logout(principal: Principal) -> None:
    """Revoke the token this request came with."""
    if principal.token_id is None:
        return
    db.session.execute(
        update(ApiToken)
        .where(ApiToken.id == principal.token_id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    audit.record("logout", "api_tokens", principal.token_id)


def list_tokens(user: User) -> list[ApiToken]:
    return list(
        db.session.execute(
            select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.id.desc())
        ).scalars()
    )


def revoke_tokens(user: User, token_id: int | None = None, *, keep: int | None = None) -> int:
    """Revoke one of ``user``'s tokens, or all of them but ``keep``; returns how many were live."""
    stmt = update(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
    if token_id is not None:
        owned = db.session.execute(
            select(ApiToken.id).where(ApiToken.id == token_id, ApiToken.user_id == user.id)
        ).first()
        if owned is None:
            raise NotFound(f"No token {token_id} for this account.")
        stmt = stmt.where(ApiToken.id == token_id)
    if keep is not None:
        stmt = stmt.where(ApiToken.id != keep)
    count = db.session.execute(stmt.values(revoked_at=utcnow())).rowcount
    details = {"token_id": token_id, "revoked": count or 0}
    if keep is not None:
        details["kept"] = keep
    audit.record("token_revoked", "users", user.id, details)
    return count or 0


def purge_stale(now: dt.datetime | None = None) -> dict[str, int]:
    """Drop tokens expired or revoked over 30 days ago and throttle rows of past windows."""
    now = now or utcnow()
    old = now - dt.timedelta(days=30)
    tokens = db.session.execute(
        ApiToken.__table__.delete().where((ApiToken.expires_at < old) | (ApiToken.revoked_at < old))
    ).rowcount
    window = dt.timedelta(seconds=settings().login_window_seconds)
    throttles = db.session.execute(
        delete(LoginThrottle).where(
            LoginThrottle.window_start < now - window,
            LoginThrottle.locked_until.is_(None) | (LoginThrottle.locked_until < now),
        )
    ).rowcount
    return {"tokens": tokens or 0, "login_throttles": throttles or 0}
