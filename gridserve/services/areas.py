"""The area tree: reading it within scope, and adding nodes."""

from __future__ import annotations

from sqlalchemy import Select, select

from gridserve.errors import ValidationFailed
from gridserve.extensions import db
from gridserve.models import Area
from gridserve.models.area import CHILD_LEVEL
from gridserve.pagination import apply_sort
from gridserve.scope import Principal, get_visible, visible

SORTABLE = {"code": Area.code, "name": Area.name, "level": Area.level, "id": Area.id}


def list_areas(
    principal: Principal,
    *,
    level: str | None = None,
    parent_id: int | None = None,
    sort: str | None = None,
) -> Select:
    stmt = visible(Area, principal)
    if level:
        stmt = stmt.where(Area.level == level)
    if parent_id is not None:
        stmt = stmt.where(Area.parent_id == parent_id)
    return apply_sort(stmt, sort, SORTABLE, "code", Area.id)


def get_area(principal: Principal, area_id: int) -> Area:
    return get_visible(Area, area_id, principal)


def children(principal: Principal, area_id: int, sort: str | None = None) -> Select:
    parent = get_area(principal, area_id)
    return list_areas(principal, parent_id=parent.id, sort=sort)


def add_area(
    *,
    code: str,
    name: str,
    level: str,
    parent: Area | None,
    name_en: str | None = None,
    geom=None,
) -> Area:
    """Insert a node below ``parent`` and give it its materialised path."""
    expected = CHILD_LEVEL.get(parent.level) if parent is not None else "district"
    if level != expected:
        raise ValidationFailed(
            f"A {level} cannot sit below {'a ' + parent.level if parent else 'the root'}.",
            code="invalid_area_level",
            details={"fields": {"level": [f"Expected {expected}."]}},
        )
    area = Area(code=code, name=name, name_en=name_en, level=level, parent=parent, geom=geom)
    db.session.add(area)
    db.session.flush()
    area.path = f"{parent.path if parent else '/'}{area.id}/"
    db.session.flush()
    return area


def find_by_code(code: str) -> Area | None:
    return db.session.execute(select(Area).where(Area.code == code)).scalar_one_or_none()


def ancestors(area: Area) -> list[Area]:
    """The chain from the root down to ``area`` (inclusive)."""
    ids = [int(part) for part in area.path.strip("/").split("/") if part]
    rows = {a.id: a for a in db.session.execute(select(Area).where(Area.id.in_(ids))).scalars()}
    return [rows[i] for i in ids if i in rows]
