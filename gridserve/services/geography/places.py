"""The place register: bulk import (CSV, GeoJSON), assignment to community and cell, listing.

An import stores every valid row and reports every invalid one with its
reason; it never fails as a whole because of one bad row. A row whose
external id exists already updates that place (one upsert, guarded by the
database's unique index), so re-importing a file never duplicates anything.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from shapely.geometry import Point
from sqlalchemy import Select, func, select, update

from geo.assign import assign_points
from geo.errors import GeometryError
from geo.projection import WGS84, transform
from geo.validate import declared_crs
from gridserve import audit
from gridserve.db import insert_for, utcnow
from gridserve.errors import ValidationFailed
from gridserve.extensions import db
from gridserve.inputs import InvalidText, JSONTooDeep, scan
from gridserve.models import PLACE_TYPES, Area, GridCell, Household, Place
from gridserve.pagination import apply_sort
from gridserve.scope import Principal, area_contains, get_visible, in_area, visible, within_area
from gridserve.spatial import to_shapely
from gridserve.sync import next_seq

IMPORTERS = ("district_centre", "street_centre", "station")
MAX_ROWS = 100_000
BATCH = 1000
KNOWN_COLUMNS = {"external_id", "type", "name", "lon", "lat", "attributes"}
SORTABLE = {
    "id": Place.id,
    "type": Place.type,
    "name": Place.name,
    "external_id": Place.external_id,
}


@dataclass
class ImportReport:
    received: int = 0
    created: int = 0
    updated: int = 0
    rejected: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "received": self.received,
            "created": self.created,
            "updated": self.updated,
            "rejected_count": len(self.rejected),
            "rejected": self.rejected,
        }


@dataclass
class Row:
    number: int  # 1-based data row (CSV: excluding the header) or feature index + 1
    data: dict[str, Any]


def rows_from_csv(
    text: str,
    *,
    required: tuple[str, ...] = ("lon", "lat", "type"),
    known: set[str] | frozenset[str] = frozenset(KNOWN_COLUMNS),
) -> list[Row]:
    """CSV rows with the ``known`` columns in ``data`` and any other non-empty ones in
    ``data["extra"]`` (422 ``invalid_csv`` for an unreadable file or a missing ``required``
    column)."""
    csv.field_size_limit(1 << 20)
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    try:
        columns = reader.fieldnames
    except csv.Error as exc:
        raise ValidationFailed(
            f"The CSV header cannot be read: {exc}.", code="invalid_csv", details={"row": 0}
        ) from exc
    missing = set(required) - set(columns or [])
    if missing:
        raise ValidationFailed(
            f"The CSV needs the columns {', '.join(sorted(missing))}.",
            code="invalid_csv",
            details={"missing_columns": sorted(missing), "columns": columns},
        )
    rows = []
    try:
        for number, record in enumerate(reader, start=1):
            data: dict[str, Any] = {k: v for k, v in record.items() if k in known}
            extra = {k: v for k, v in record.items() if isinstance(k, str) and k not in known and v}
            data["extra"] = extra
            rows.append(Row(number, data))
    except csv.Error as exc:
        raise ValidationFailed(
            f"The CSV cannot be read past row {len(rows)}: {exc}.",
            code="invalid_csv",
            details={"row": len(rows) + 1},
        ) from exc
    return rows


def rows_from_geojson(obj: Any) -> list[Row]:
    if not isinstance(obj, dict) or obj.get("type") != "FeatureCollection":
        raise ValidationFailed(
            "Send a GeoJSON FeatureCollection of Point features.", code="invalid_geojson"
        )
    try:
        src = declared_crs(obj)
    except GeometryError as exc:
        raise ValidationFailed(exc.message, code=exc.code, details=exc.details) from exc
    features = obj.get("features")
    if not isinstance(features, list):
        raise ValidationFailed("The 'features' member must be a list.", code="invalid_geojson")
    rows = []
    for i, feat in enumerate(features, start=1):
        raw_props = feat.get("properties") if isinstance(feat, dict) else None
        props = dict(raw_props) if isinstance(raw_props, dict) else {}
        geometry = feat.get("geometry") if isinstance(feat, dict) else None
        data: dict[str, Any] = {k: props.pop(k) for k in list(props) if k in KNOWN_COLUMNS}
        data["extra"] = props
        if raw_props is not None and not isinstance(raw_props, dict):
            data["attributes"] = raw_props  # reported as not an object
        if isinstance(geometry, dict) and geometry.get("type") == "Point":
            coords = geometry.get("coordinates")
            coords = coords if isinstance(coords, list) else []
            if len(coords) >= 2 and all(_number(c) is not None for c in coords[:2]):
                x, y = coords[0], coords[1]
                try:
                    if src != WGS84:
                        p = transform(Point(x, y), src, WGS84)
                        x, y = p.x, p.y
                    data["lon"], data["lat"] = x, y
                except GeometryError:  # no image in WGS84: reported as a bad lon/lat
                    pass
        else:
            data["geometry_type"] = geometry.get("type") if isinstance(geometry, dict) else None
        rows.append(Row(i, data))
    return rows


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return number if math.isfinite(number) else None


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def _clean(row: Row) -> tuple[dict[str, Any] | None, dict[str, list[str]]]:
    """One row checked field by field: (clean values, None) or (None, errors)."""
    data, errors = row.data, {}
    try:
        scan(data)
    except (InvalidText, JSONTooDeep) as exc:
        field_ = str(exc.details.get("field") or "row").split(".")[0]
        return None, {field_: [exc.details.get("reason") or exc.message]}
    if data.get("geometry_type") not in (None, "Point"):
        errors["geometry"] = [f"Expected a Point, got {data['geometry_type']}."]
    kind = (data.get("type") or "").strip() if isinstance(data.get("type"), str) else None
    if kind not in PLACE_TYPES:
        errors["type"] = [f"One of: {', '.join(PLACE_TYPES)}."]
    lon, lat = _number(data.get("lon")), _number(data.get("lat"))
    if lon is None or not -180 <= lon <= 180:
        errors["lon"] = ["A longitude between -180 and 180."]
    if lat is None or not -90 <= lat <= 90:
        errors["lat"] = ["A latitude between -90 and 90."]
    ext = data.get("external_id")
    ext = str(ext).strip() if ext not in (None, "") else None
    if ext is not None and len(ext) > 64:
        errors["external_id"] = ["At most 64 characters."]
    name = data.get("name") or ""
    if not isinstance(name, str) or len(name) > 200:
        errors["name"] = ["Text of at most 200 characters."]
    attributes = data.get("attributes") or {}
    if isinstance(attributes, str):
        try:
            attributes = (
                json.loads(attributes, parse_constant=_no_constant) if attributes.strip() else {}
            )
        except (ValueError, RecursionError):
            attributes = None
    if not isinstance(attributes, dict):
        errors["attributes"] = ["A JSON object."]
    if errors:
        return None, errors
    attributes = {**data.get("extra", {}), **attributes}
    return {
        "type": kind,
        "external_id": ext,
        "name": name,
        "attributes": attributes,
        "lon": lon,
        "lat": lat,
    }, {}


def _communities(area: Area) -> list[Area]:
    if area.level == "community":
        return [area]
    return list(
        db.session.execute(
            select(Area).where(within_area(area), Area.level == "community", Area.geom.is_not(None))
        ).scalars()
    )


def current_cells(
    community_ids: list[int], on: dt.date, codes: list[str] | None = None
) -> list[GridCell]:
    """The cells in force on ``on`` in these communities (``codes``: only those codes)."""
    if not community_ids or codes == []:
        return []
    query = select(GridCell).where(
        GridCell.community_id.in_(community_ids),
        GridCell.in_force_on(on),
    )
    if codes is not None:
        query = query.where(GridCell.code.in_(codes))
    return list(db.session.execute(query.order_by(GridCell.id)).scalars())


def locate_many(area: Area, lon: np.ndarray, lat: np.ndarray, on: dt.date):
    """Community and cell ids for many points at once (-1 where outside)."""
    communities = _communities(area)
    comm_idx = assign_points(lon, lat, [to_shapely(c.geom) for c in communities])
    comm_ids = np.array([c.id for c in communities] + [-1])[comm_idx]
    cells = current_cells([c.id for c in communities], on)
    cell_idx = assign_points(lon, lat, [to_shapely(c.geom) for c in cells])
    cell_ids = np.array([c.id for c in cells] + [-1])[cell_idx]
    return comm_ids, cell_ids


def import_places(
    principal: Principal,
    area_id: int,
    rows: list[Row],
    today: dt.date,
    progress: Callable[[float, str], None] | None = None,
) -> dict:
    """Store the valid rows of an import inside ``area_id``; report the others row by row.

    ``progress(fraction, step)``: told as the work goes on (a job's progress).
    """
    report_progress = progress or (lambda _fraction, _step: None)
    principal.require(*IMPORTERS)
    area = get_visible(Area, area_id, principal)
    if area.level == "district":
        raise ValidationFailed(
            "Import places into a street or a community.", code="invalid_import_area"
        )
    if len(rows) > MAX_ROWS:
        raise ValidationFailed(
            f"At most {MAX_ROWS} rows per import.",
            code="too_many_rows",
            details={"rows": len(rows), "limit": MAX_ROWS},
        )
    report = ImportReport(received=len(rows))
    report_progress(0.05, "checking_rows")
    clean: list[tuple[Row, dict[str, Any]]] = []
    seen: dict[str, int] = {}
    for row in rows:
        values, errors = _clean(row)
        if values is None:
            report.rejected.append(
                {"row": row.number, "external_id": row.data.get("external_id"), "errors": errors}
            )
            continue
        ext = values["external_id"]
        if ext is not None:
            if ext in seen:
                report.rejected.append(
                    {
                        "row": row.number,
                        "external_id": ext,
                        "code": "duplicate_in_upload",
                        "errors": {"external_id": [f"Also on row {seen[ext]} of this upload."]},
                    }
                )
                continue
            seen[ext] = row.number
        clean.append((row, values))

    lon = np.array([v["lon"] for _, v in clean], dtype=float)
    lat = np.array([v["lat"] for _, v in clean], dtype=float)
    report_progress(0.3, "locating")
    comm_ids, cell_ids = locate_many(area, lon, lat, today)
    inside: list[tuple[Row, dict[str, Any], int, int]] = []
    for (row, values), comm, cell in zip(clean, comm_ids.tolist(), cell_ids.tolist(), strict=True):
        if comm < 0:
            report.rejected.append(
                {
                    "row": row.number,
                    "external_id": values["external_id"],
                    "code": "outside_coverage",
                    "errors": {"lon": [f"The point is outside {area.code}."]},
                }
            )
            continue
        inside.append((row, values, comm, cell))

    existing = _existing_external_ids([v["external_id"] for _, v, _, _ in inside])
    foreign = {ext for ext, owner in existing.items() if not _within(owner, area)}
    now = utcnow()
    seq = next_seq() if inside else 0
    records = []
    for row, values, comm, cell in inside:
        ext = values["external_id"]
        if ext in foreign:
            report.rejected.append(
                {
                    "row": row.number,
                    "external_id": ext,
                    "code": "external_id_taken",
                    "errors": {"external_id": ["Used by a place outside this area."]},
                }
            )
            continue
        records.append(
            {
                "type": values["type"],
                "external_id": ext,
                "name": values["name"],
                "attributes": values["attributes"],
                "geom": f"SRID=4326;POINT({values['lon']!r} {values['lat']!r})",
                "area_id": comm,
                "cell_id": cell if cell >= 0 else None,
                "created_at": now,
                "updated_at": now,
                "change_seq": seq,
            }
        )
        if ext is not None and ext in existing:
            report.updated += 1
        else:
            report.created += 1
    report_progress(0.6, "storing")
    _upsert(records)
    _move_households(seq)
    report.rejected.sort(key=lambda r: r["row"])
    audit.record(
        "import_places",
        "areas",
        area.id,
        {"received": report.received, "created": report.created, "updated": report.updated,
         "rejected": len(report.rejected)},
    )  # fmt: skip
    return report.as_dict()


def _move_households(seq: int) -> None:
    """A household belongs to the community of its place: follow places an import moved."""
    place_area = select(Place.area_id).where(Place.id == Household.place_id).scalar_subquery()
    db.session.execute(
        update(Household)
        .where(Household.area_id != place_area)
        .values(area_id=place_area, change_seq=seq)
        .execution_options(synchronize_session=False)
    )


def _existing_external_ids(ids: list[str | None]) -> dict[str, str]:
    """external_id -> the path of the community of the stored place."""
    wanted = [i for i in ids if i is not None]
    found: dict[str, str] = {}
    for start in range(0, len(wanted), BATCH):
        chunk = wanted[start : start + BATCH]
        rows = db.session.execute(
            select(Place.external_id, Area.path)
            .join(Area, Area.id == Place.area_id)
            .where(Place.external_id.in_(chunk))
        ).all()
        found.update(dict(rows))
    return found


def _within(path: str, area: Area) -> bool:
    return area_contains(area, path)


def _upsert(records: list[dict[str, Any]]) -> None:
    table = Place.__table__
    with_ext = [r for r in records if r["external_id"] is not None]
    without = [r for r in records if r["external_id"] is None]
    for start in range(0, len(with_ext), BATCH):
        stmt = insert_for(table)
        stmt = stmt.on_conflict_do_update(
            index_elements=[table.c.external_id],
            index_where=table.c.external_id.is_not(None),
            set_={
                "type": stmt.excluded.type,
                "name": stmt.excluded.name,
                "attributes": stmt.excluded.attributes,
                "geom": stmt.excluded.geom,
                "area_id": stmt.excluded.area_id,
                "cell_id": stmt.excluded.cell_id,
                "updated_at": stmt.excluded.updated_at,
                "change_seq": stmt.excluded.change_seq,
            },
        )
        db.session.execute(stmt, with_ext[start : start + BATCH])
    for start in range(0, len(without), BATCH):
        db.session.execute(table.insert(), without[start : start + BATCH])


def list_places(
    principal: Principal,
    *,
    area_id: int | None = None,
    cell_id: int | None = None,
    type: str | None = None,
    external_id: str | None = None,
    bbox: list[float] | None = None,
    sort: str | None = None,
) -> Select:
    stmt = visible(Place, principal)
    if bbox:
        min_lon, min_lat, max_lon, max_lat = bbox
        x, y = func.ST_X(Place.geom), func.ST_Y(Place.geom)
        stmt = stmt.where(x >= min_lon, x <= max_lon, y >= min_lat, y <= max_lat)
    if area_id is not None:
        area = get_visible(Area, area_id, principal)
        stmt = stmt.where(in_area(Place.area_id, area))
    if cell_id is not None:
        stmt = stmt.where(Place.cell_id == cell_id)
    if type:
        stmt = stmt.where(Place.type == type)
    if external_id:
        stmt = stmt.where(Place.external_id == external_id)
    return apply_sort(stmt, sort, SORTABLE, "id", Place.id)


def get_place(principal: Principal, place_id: int) -> Place:
    return get_visible(Place, place_id, principal)


def count_places(area: Area) -> int:
    return db.session.execute(
        select(func.count()).select_from(Place).where(in_area(Place.area_id, area))
    ).scalar_one()


def place_features(
    principal: Principal,
    *,
    area_id: int | None = None,
    cell_id: int | None = None,
    type: str | None = None,
    external_id: str | None = None,
    bbox: list[float] | None = None,
) -> dict[str, Any]:
    """Every place in scope matching the filters as one GeoJSON FeatureCollection of Points.

    For the console's map: no paging, plain tuples (no ORM objects per row), so a whole
    street's 31,766 places come out in one response (about 0.2 s).
    """
    base = list_places(
        principal, area_id=area_id, cell_id=cell_id, type=type, external_id=external_id, bbox=bbox
    )
    x, y = func.ST_X(Place.geom), func.ST_Y(Place.geom)
    stmt = (
        base.with_only_columns(
            Place.id, Place.type, Place.name, GridCell.code, Place.area_id, Place.cell_id, x, y
        )
        .outerjoin(GridCell, GridCell.id == Place.cell_id)
        .order_by(None)
        .order_by(Place.id)
    )
    features = [
        {
            "type": "Feature",
            "id": pid,
            "geometry": {"type": "Point", "coordinates": [round(lon, 7), round(lat, 7)]},
            "properties": {
                "id": pid,
                "type": ptype,
                "name": name,
                "cell": code,
                "cell_id": cid,
                "area_id": aid,
            },
        }
        for pid, ptype, name, code, aid, cid, lon, lat in db.session.execute(stmt)
        if lon is not None
    ]
    return {"type": "FeatureCollection", "features": features}
