"""The area tree: reading it within scope, and adding nodes."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from sqlalchemy import Select, select

from geo.errors import GeometryError
from geo.projection import crs_for, to_metric, to_wgs84
from geo.validate import as_multipolygon, read_polygons
from gridserve import audit
from gridserve.config import settings
from gridserve.errors import Conflict, NotFound, ValidationFailed
from gridserve.extensions import db
from gridserve.models import Area
from gridserve.models.geography.areas import CHILD_LEVEL
from gridserve.pagination import apply_sort
from gridserve.scope import Principal, area_ancestor_ids, area_in_scope, get_visible, visible
from gridserve.spatial import intersects, limits, point, refuse, to_db, to_shapely
from gridserve.timeutil import zone

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


# --- importing boundaries -------------------------------------------------------------

LEVEL_ORDER = {"district": 0, "street": 1, "community": 2}
IMPORTERS = ("district_centre", "street_centre")


def _props_error(index: int, field: str, message: str) -> ValidationFailed:
    return ValidationFailed(
        f"Feature {index}: {message}",
        details={"feature": index, "fields": {f"properties.{field}": [message]}},
    )


def _read_props(feature) -> dict:
    props = feature.properties
    out = {}
    for key, limit in (("code", 32), ("name", 200)):
        value = props.get(key)
        if not isinstance(value, str) or not value.strip():
            raise _props_error(feature.index, key, "Required text.")
        if len(value) > limit:
            raise _props_error(feature.index, key, f"At most {limit} characters.")
        out[key] = value.strip()
    level = props.get("level")
    if level not in LEVEL_ORDER:
        raise _props_error(feature.index, "level", "One of district, street, community.")
    out["level"] = level
    name_en = props.get("name_en")
    out["name_en"] = name_en[:200] if isinstance(name_en, str) else None
    parent = props.get("parent_code", props.get("parent_id"))
    if parent is not None and (
        isinstance(parent, bool)
        or not isinstance(parent, (str, int))
        or (isinstance(parent, int) and not 0 < parent < 2**31)
    ):
        raise _props_error(feature.index, "parent_code", "An area code or id.")
    if level != "district" and parent is None:
        raise _props_error(feature.index, "parent_code", f"A {level} needs a parent.")
    out["parent"] = parent
    return out


def _refuse_if_any(piece, crs, code: str, message: str, *, key: str, **details) -> None:
    """Refuse (422) when ``piece`` (metric) has over 1 m² of area, saying how much and where."""
    if piece.area <= 1.0:
        return
    where = to_wgs84(piece.representative_point(), crs)
    raise ValidationFailed(
        message,
        code=code,
        details={**details, key: round(piece.area, 1), "location": [where.x, where.y]},
    )


def import_boundaries(principal: Principal, payload: object, *, repair: bool = False) -> list[Area]:
    """Import districts, streets or communities from GeoJSON: all of them, or none.

    Each feature's properties: ``code``, ``name``, ``level`` and (below a
    district) ``parent_code`` or ``parent_id``. Geometry is checked for
    validity, type, size, CRS; a child must lie inside its parent (within the
    configured tolerance) and must not overlap its siblings.
    """
    principal.require(*IMPORTERS)
    try:
        features = read_polygons(payload, limits=limits(), repair_invalid=repair)
    except GeometryError as exc:
        raise refuse(exc) from exc
    items = [(f, _read_props(f)) for f in features]
    codes = [p["code"] for _, p in items]
    dupes = sorted({c for c in codes if codes.count(c) > 1})
    if dupes:
        raise ValidationFailed(
            "The same code appears twice in the upload.",
            code="duplicate_code",
            details={"codes": dupes},
        )
    taken = db.session.execute(select(Area.code).where(Area.code.in_(codes))).scalars().all()
    if taken:
        raise Conflict(
            "Areas with these codes exist already.", code="area_exists", details={"codes": taken}
        )

    tolerance = settings().parent_tolerance_m
    created: dict[str, Area] = {}
    items.sort(key=lambda item: LEVEL_ORDER[item[1]["level"]])
    for feature, props in items:
        parent = None
        if props["level"] != "district":
            ref = props["parent"]
            parent = created.get(ref) if isinstance(ref, str) else None
            if parent is None:
                stmt = select(Area).where(
                    Area.code == ref if isinstance(ref, str) else Area.id == ref
                )
                parent = db.session.execute(stmt).scalar_one_or_none()
            if parent is None or not area_in_scope(parent, principal):
                raise NotFound(f"Feature {feature.index}: no parent area {ref!r} in your scope.")
        elif principal.role != "admin":
            principal.require("district_centre")
        geom = feature.geometry
        crs = crs_for(geom)
        geom_m = to_metric(geom, crs)
        if parent is not None and parent.geom is not None:
            parent_m = to_metric(to_shapely(parent.geom), crs)
            outside = geom_m.difference(parent_m.buffer(tolerance))
            _refuse_if_any(
                outside, crs, "not_inside_parent",
                f"Feature {feature.index} is not inside its parent {parent.code}.",
                feature=feature.index, parent=parent.code, key="outside_area_m2",
            )  # fmt: skip
        for sibling in parent.children if parent is not None else []:
            if sibling.geom is None or sibling.code == props["code"]:
                continue
            overlap = geom_m.intersection(to_metric(to_shapely(sibling.geom), crs))
            _refuse_if_any(
                overlap, crs, "siblings_overlap",
                f"Feature {feature.index} overlaps its sibling {sibling.code}.",
                feature=feature.index, sibling=sibling.code, key="overlap_area_m2",
            )  # fmt: skip
        area = add_area(
            code=props["code"],
            name=props["name"],
            name_en=props["name_en"],
            level=props["level"],
            parent=parent,
            geom=to_db(as_multipolygon(geom), multi=True),
        )
        created[area.code] = area
    audit.record("import_boundaries", "areas", None, {"codes": sorted(created)})
    return list(created.values())


def zone_of(area_id: int) -> ZoneInfo:
    """The time zone of ``area_id``: the nearest area's up the tree that names one, else the
    deployment's. Local times and dates of things in an area are read in it."""
    area = db.session.get(Area, area_id)
    if area is None:
        return zone()
    rows = db.session.execute(
        select(Area.path, Area.timezone).where(
            Area.id.in_(area_ancestor_ids(area.path)), Area.timezone.is_not(None)
        )
    ).all()
    for _path, name in sorted(rows, key=lambda r: len(r[0]), reverse=True):
        try:
            return ZoneInfo(name)
        except (ValueError, KeyError):
            continue
    return zone()


def community_at(lon: float, lat: float, principal: Principal | None = None) -> Area | None:
    """The community containing (lon, lat) — among those ``principal`` sees, or any of the
    deployment without one — or None (the lowest id when communities overlap at a border)."""
    stmt = select(Area) if principal is None else visible(Area, principal)
    return db.session.execute(
        stmt.where(
            Area.level == "community",
            Area.geom.is_not(None),
            intersects(Area.geom, point(lon, lat)),
        )
        .order_by(Area.id)
        .limit(1)
    ).scalar_one_or_none()


# Who sets an office's duty mobile: the office itself and those above it (admin always may).
DUTY_PHONE_SETTERS = ("station", "street_centre", "district_centre")


def set_duty_phone(principal: Principal, area_id: int, phone: str | None) -> dict[str, object]:
    """Set (or, with None, clear) the duty mobile (值班手机) of an area's office, told when a case
    reaches or is escalated to it. A station sets its community's; centres any area in their
    subtree. The number must be a mobile (422 ``validation_error``); it is stored encrypted
    and shown masked. The change is audited (the stored value redacted)."""
    from gridserve import crypto
    from gridserve.privacy import mask_phone
    from gridserve.sms import phones

    principal.require(*DUTY_PHONE_SETTERS)
    area = get_area(principal, area_id)
    if phone is None or not phone.strip():
        area.duty_phone_enc = None
        shown = None
    else:
        try:
            e164 = phones.to_e164(phone)
        except ValueError as exc:
            raise ValidationFailed(
                "The duty number must be a mobile number.",
                details={"fields": {"phone": [str(exc)]}},
            ) from exc
        area.duty_phone_enc = crypto.encrypt(e164)
        shown = mask_phone(e164.removeprefix("+86"))
    db.session.flush()
    return {"area_id": area.id, "duty_phone": shown}


def reencrypt_all() -> int:
    """Re-encrypt every area's duty mobile with the newest data key (``gridserve keys rotate``)."""
    from gridserve import crypto

    return crypto.reencrypt_column(Area.__table__, "duty_phone_enc")
