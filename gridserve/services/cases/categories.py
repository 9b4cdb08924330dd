"""Case categories as data: read by everyone signed in, made and edited by an admin.

Rules:

- Everyone signed in reads the categories (area users, coordinator, department contacts);
  only an admin makes and edits them.
- ``code`` is unique (409 ``category_exists``) and never changes once made.
- ``deadlines``: per level of :data:`CASE_LEVELS`, ``{"amount": n, "unit": "hours" |
  "working_days"}`` with ``n`` a positive integer, at most 8760 hours or 365 working days;
  ``start_level`` one of the levels. Anything else is 422 ``validation_error`` with the field.
- Edits are optimistic: a change names the version it was based on and is one conditional
  ``UPDATE ... WHERE version = :v`` (409 ``stale_version``), audited.
- A category is never deleted: ``active: false`` takes it off the intake (no new cases of it;
  422 ``category_inactive``), the cases already filed keep it.

No Flask request in here and no commits: the request boundary commits.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.exc import IntegrityError

from gridserve import audit
from gridserve.db import utcnow
from gridserve.errors import Conflict, NotFound, ValidationFailed
from gridserve.extensions import db
from gridserve.models import CASE_LEVELS, CaseCategory
from gridserve.scope import Principal
from gridserve.versioning import check_version, refuse_stale, update_versioned

MAX_AMOUNT = {"hours": 8760, "working_days": 365}
EDITABLE = ("name", "name_en", "report_class", "start_level", "deadlines", "to_street_at_once",
            "needs_verification", "active", "position")  # fmt: skip
STALE = "Someone changed this category since you read it; reload and try again."


def check_deadlines(value: Any) -> dict[str, dict[str, Any]]:
    """``deadlines`` cleaned (``{level: {amount, unit}}``), or 422 naming each bad entry."""
    errors: dict[str, list[str]] = {}
    clean: dict[str, dict[str, Any]] = {}
    if not isinstance(value, dict):
        raise ValidationFailed(
            "Deadlines are an object by level.",
            details={"fields": {"deadlines": ["An object: {level: {amount, unit}}."]}},
        )
    for level, rule in value.items():
        name = f"deadlines.{level}"
        if level not in CASE_LEVELS:
            errors[name] = [f"Not a level: one of {', '.join(CASE_LEVELS)}."]
            continue
        if not isinstance(rule, dict):
            errors[name] = ["An object: {amount, unit}."]
            continue
        unit, amount = rule.get("unit"), rule.get("amount")
        if unit not in MAX_AMOUNT:
            errors[f"{name}.unit"] = ["One of hours, working_days."]
            continue
        if isinstance(amount, bool) or not isinstance(amount, int) or amount < 1:
            errors[f"{name}.amount"] = ["A positive whole number."]
            continue
        if amount > MAX_AMOUNT[unit]:
            errors[f"{name}.amount"] = [f"At most {MAX_AMOUNT[unit]} {unit}."]
            continue
        clean[level] = {"amount": amount, "unit": unit}
    if errors:
        raise ValidationFailed("Some deadlines are not valid.", details={"fields": errors})
    return clean


def list_categories(principal: Principal, *, active: bool | None = None) -> Select:
    """The categories in their order (``position``, then code); everyone signed in."""
    stmt = select(CaseCategory)
    if active is not None:
        stmt = stmt.where(CaseCategory.active.is_(active))
    return stmt.order_by(CaseCategory.position, CaseCategory.code)


def get_category(principal: Principal, category_id: int) -> CaseCategory:
    """One category (404 if there is none)."""
    category = db.session.get(CaseCategory, category_id)
    if category is None:
        raise NotFound(f"No case category {category_id}.")
    return category


def find(code: str) -> CaseCategory | None:
    """The category with ``code`` (active or not), if any."""
    return db.session.scalar(select(CaseCategory).where(CaseCategory.code == code))


def any_active() -> bool:
    """Whether any category takes new cases."""
    first = db.session.scalar(select(CaseCategory.id).where(CaseCategory.active).limit(1))
    return first is not None


def _exists(code: str) -> Conflict:
    return Conflict(
        f"A category {code} exists already.", code="category_exists", details={"code": code}
    )


def create_category(principal: Principal, data: dict[str, Any]) -> CaseCategory:
    """Make a category (admin); 409 ``category_exists``, 422 for bad deadlines."""
    principal.require()
    deadlines = check_deadlines(data.get("deadlines") or {})
    if find(data["code"]) is not None:
        raise _exists(data["code"])
    category = CaseCategory(
        code=data["code"],
        name=data["name"],
        name_en=data.get("name_en") or "",
        report_class=data["report_class"],
        start_level=data.get("start_level") or "cell",
        deadlines=deadlines,
        to_street_at_once=bool(data.get("to_street_at_once")),
        needs_verification=bool(data.get("needs_verification")),
        active=data.get("active", True),
        position=data.get("position", 0),
        version=1,
    )
    try:
        with db.session.begin_nested():  # a racing create of the same code loses here
            db.session.add(category)
    except IntegrityError:
        raise _exists(data["code"]) from None
    return category


def update_category(principal: Principal, category_id: int, data: dict[str, Any]) -> CaseCategory:
    """Change a category (admin) based on ``version`` (409 ``stale_version``); audited."""
    principal.require()
    category = get_category(principal, category_id)
    based_on = data["version"]
    check_version(STALE, expected=based_on, current=category.version)
    values = {k: data[k] for k in EDITABLE if k in data}
    if "deadlines" in values:
        values["deadlines"] = check_deadlines(values["deadlines"])
    values = {k: v for k, v in values.items() if v != getattr(category, k)}
    if not values:
        return category
    new_version = update_versioned(
        CaseCategory, based_on, CaseCategory.id == category.id, **values, updated_at=utcnow()
    )
    db.session.expire(category)
    if new_version is None:
        refuse_stale(STALE, expected=based_on, current=category.version)
    audit.record(
        "update",
        "case_categories",
        category.id,
        {"fields": sorted(values), "version": [based_on, based_on + 1]},
    )
    return category


def all_of(stmt: Select) -> list[CaseCategory]:
    """The rows of a :func:`list_categories` statement."""
    return list(db.session.execute(stmt).scalars())
