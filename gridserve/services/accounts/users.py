"""Accounts: who may create whom, and where."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, or_, select

from gridserve import audit
from gridserve.errors import Conflict, Forbidden, ValidationFailed
from gridserve.extensions import db
from gridserve.models import Area, Institution, User
from gridserve.pagination import apply_sort
from gridserve.scope import OPERATOR, Principal, area_in_scope, get_visible, visible
from gridserve.services.accounts import auth as auth_service
from gridserve.services.field import devices as devices_service

SORTABLE = {
    "username": User.username,
    "role": User.role,
    "created_at": User.created_at,
    "last_login_at": User.last_login_at,
    "id": User.id,
}

# Which roles each role may create or edit, below its own node.
MAY_MANAGE: dict[str, set[str]] = {
    "district_centre": {"street_centre", "station", "worker", "coordinator"},
    "street_centre": {"station", "worker", "coordinator"},
    "station": {"worker"},
    "coordinator": {"institution_contact"},
}
# Roles that manage some accounts: they list them and create those they may manage.
MANAGERS = tuple(MAY_MANAGE)
# The area level each role is normally bound to (a hint, checked on create).
ROLE_LEVELS = {
    "district_centre": {"district"},
    "street_centre": {"street"},
    "station": {"community"},
    "worker": {"community"},
    "coordinator": {"district", "street"},
    "admin": {"district", "street", "community"},
}


def _check_may_manage(principal: Principal, role: str) -> None:
    if principal.role == "admin":
        return
    if role not in MAY_MANAGE.get(principal.role, set()):
        raise Forbidden(
            f"A {principal.role} may not manage {role} accounts.",
            code="forbidden_role",
            details={"role": principal.role, "target_role": role},
        )


def _bind(principal: Principal, role: str, area_id: int | None, institution_id: int | None):
    """Resolve and check the node a new or changed account is bound to."""
    if role == "institution_contact":
        if institution_id is None or area_id is not None:
            raise ValidationFailed(
                "An institution contact is bound to an institution, not an area.",
                details={"fields": {"institution_id": ["Required for institution_contact."]}},
            )
        inst = db.session.get(Institution, institution_id)
        if inst is None:
            raise ValidationFailed(
                f"No institution {institution_id}.",
                details={"fields": {"institution_id": ["Unknown institution."]}},
            )
        return None, inst
    if area_id is None or institution_id is not None:
        raise ValidationFailed(
            f"A {role} is bound to an area node.",
            details={"fields": {"area_id": [f"Required for {role}."]}},
        )
    area = db.session.get(Area, area_id)
    if area is None or not area_in_scope(area, principal):
        raise ValidationFailed(
            f"No area {area_id} in your scope.",
            details={"fields": {"area_id": ["Unknown area, or outside your scope."]}},
        )
    if area.level not in ROLE_LEVELS[role]:
        raise ValidationFailed(
            f"A {role} is bound to a {' or '.join(sorted(ROLE_LEVELS[role]))}, not a {area.level}.",
            code="invalid_binding",
            details={"fields": {"area_id": [f"{area.code} is a {area.level}."]}},
        )
    return area, None


def create_user(principal: Principal | None, data: dict[str, Any]) -> User:
    """Create an account. ``principal`` None means the operator's CLI (trusted)."""
    role = data["role"]
    username = auth_service.normalize_username(data["username"])
    if principal is not None:
        _check_may_manage(principal, role)
        area, inst = _bind(principal, role, data.get("area_id"), data.get("institution_id"))
    else:
        area, inst = _bind(OPERATOR, role, data.get("area_id"), data.get("institution_id"))
    if db.session.execute(select(User.id).where(User.username == username)).first():
        raise Conflict(f"The username {username!r} is taken.", code="username_taken")
    user = User(
        username=username,
        password_hash=auth_service.hash_password(data["password"]),
        full_name=data.get("full_name") or "",
        role=role,
        area=area,
        institution=inst,
        is_active=data.get("is_active", True),
    )
    db.session.add(user)
    db.session.flush()
    return user


def list_users(
    principal: Principal,
    *,
    role: str | None = None,
    area_id: int | None = None,
    q: str | None = None,
    sort: str | None = None,
) -> Select:
    principal.require(*MANAGERS)
    stmt = visible(User, principal)
    if role:
        stmt = stmt.where(User.role == role)
    if area_id is not None:
        stmt = stmt.where(User.area_id == area_id)
    if q:
        stmt = stmt.where(
            or_(User.username.contains(q.lower(), autoescape=True), User.full_name.contains(q))
        )
    return apply_sort(stmt, sort, SORTABLE, "username", User.id)


def get_user(principal: Principal, user_id: int) -> User:
    if principal.user_id == user_id:
        return db.session.get(User, user_id)  # type: ignore[return-value]
    principal.require(*MANAGERS)
    return get_visible(User, user_id, principal)


def update_user(
    principal: Principal,
    user_id: int,
    data: dict[str, Any],
    *,
    remote_addr: str | None = None,
) -> User:
    """Change an account.

    Changing one's own password needs ``current_password`` (422 when missing,
    403 ``wrong_password`` when wrong, counted by the sign-in throttle for this
    account and ``remote_addr``). A manager who may manage the account resets
    its password without it. Either way every token and terminal of the
    account is revoked, except the token of the request that changed its own
    password (the person just proved they know it).
    """
    user = get_user(principal, user_id)
    own = user.id == principal.user_id
    if own and set(data) - {"password", "current_password", "full_name"}:
        raise Forbidden("You may change only your own name and password.", code="forbidden_self")
    if not own:
        _check_may_manage(principal, user.role)
    if own and "password" in data:
        if not data.get("current_password"):
            raise ValidationFailed(
                "Changing your own password needs your current password.",
                details={"fields": {"current_password": ["Required to change your password."]}},
            )
        # First, before anything is changed: a wrong password commits its own failure.
        auth_service.check_current_password(user, data["current_password"], remote_addr=remote_addr)
    if "role" in data or "area_id" in data or "institution_id" in data:
        role = data.get("role", user.role)
        _check_may_manage(principal, role)
        area_id = data.get("area_id", user.area_id if "institution_id" not in data else None)
        inst_id = data.get("institution_id", user.institution_id if "area_id" not in data else None)
        user.area, user.institution = _bind(principal, role, area_id, inst_id)
        user.role = role
    if "full_name" in data:
        user.full_name = data["full_name"]
    if "password" in data:
        set_password(user, data["password"], keep_token=principal.token_id if own else None)
    if "is_active" in data:
        user.is_active = data["is_active"]
        if not user.is_active:
            auth_service.revoke_tokens(user)
    db.session.flush()
    return user


def set_password(user: User, password: str, *, keep_token: int | None = None) -> None:
    """Set a new password and sign the account out everywhere: every token (but
    ``keep_token``, the session that changed it) and every terminal is revoked."""
    user.password_hash = auth_service.hash_password(password)
    auth_service.revoke_tokens(user, keep=keep_token)
    devices_service.revoke_all_of_user(user.id, reason="password_changed")
    audit.record("password_changed", "users", user.id, {"kept_token": keep_token})


def find_by_username(username: str) -> User | None:
    name = auth_service.normalize_username(username)
    return db.session.execute(select(User).where(User.username == name)).scalar_one_or_none()
