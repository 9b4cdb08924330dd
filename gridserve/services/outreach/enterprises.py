"""The visit list of a visits programme (走访名单): CSV import and listing.

Rules:

- Only a programme of kind ``visits`` has a list (422 ``not_visits_programme``).
- Who imports: the coordinator (and admin) any row; an institution contact of the programme
  (organiser or member) only rows of its own institution (others: row rejected
  ``other_institution``), and only until the list is fixed. Every other role: 403 before the
  file is read.
- The list is fixed at the end of ``list_due_on`` (local day of the programme's area): after
  that only the coordinator (and admin) may change it; anyone else gets 409 ``list_frozen``.
- Each row names its enterprise by its unified social credit code (GB 32100-2015, checked with
  ``stdnum.cn.uscc``). The enterprise's register place is the place of type ``enterprise``
  whose ``external_id`` is ``uscc:<code>`` (see :func:`place_external_id`); a row with
  ``lon``/``lat`` creates it (or moves it) at that point, which must lie inside the programme's
  area. Re-importing a code updates its row (and bumps its ``version``), never duplicates it.
- Rows are stored one by one; a bad row is reported (``{row, code, errors}``) and never fails
  the file. Row codes: ``invalid_credit_code``, ``duplicate_credit_code`` (twice in the file),
  ``unknown_institution``, ``unknown_visitor``, ``outside_area``, ``missing_position``,
  ``invalid_position`` (lon/lat not numbers in range), ``place_not_enterprise`` (the register
  place with that code is not an enterprise), ``invalid_text`` (a field too long or
  with forbidden characters), ``other_institution`` (a contact's row for another institution).
- Enterprises also join from the place register (:func:`import_from_register`): every place
  of type ``enterprise`` of an area inside the programme's, not yet listed, with its code (the
  ``uscc:`` id or ``attributes.credit_code``), by the same rules. A CSV row, too, finds a
  register enterprise by ``attributes.credit_code`` when no place has its ``uscc:`` id.
- Readers see a list through :mod:`gridserve.scope` (``"enterprise"``): the coordinator and
  area users the rows in their area, a contact its own institution's rows.

No Flask request in here and no commits: the request boundary commits.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
from geoalchemy2.shape import from_shape
from shapely.geometry import Point
from sqlalchemy import Select, false, not_, select
from stdnum.cn import uscc

from gridserve import audit
from gridserve.db import utcnow
from gridserve.errors import Conflict, NotFound, ValidationFailed
from gridserve.extensions import db
from gridserve.inputs import InvalidText, JSONTooDeep, scan
from gridserve.models import (
    Area,
    Institution,
    OutreachEnterprise,
    OutreachProgramme,
    Place,
    User,
)
from gridserve.pagination import apply_sort
from gridserve.scope import Principal, area_contains, get_visible, in_area, visible
from gridserve.services.accounts import institutions as institution_service
from gridserve.services.geography.places import (
    MAX_ROWS,
    ImportReport,
    Row,
    locate_many,
    rows_from_csv,
)
from gridserve.services.outreach.basics import (
    READERS,
    institution_by_code,
    institution_codes,
    is_late,
    usernames,
)
from gridserve.spatial import to_shapely
from gridserve.sync import next_seq

IMPORTERS = ("coordinator", "institution_contact")
# Who may change a list after list_due_on (admin always may).
FREEZE_EXEMPT = ("coordinator", "admin")
COLUMNS = frozenset(
    {"credit_code", "name", "address", "lon", "lat", "industry", "institution", "visitor"}
)
REQUIRED_COLUMNS = ("credit_code", "institution", "visitor")
CELL = "cell"
LIMITS = {"name": 200, "address": 300, "industry": 100}
SORTABLE = {
    "id": OutreachEnterprise.id,
    "name": OutreachEnterprise.name,
    "credit_code": OutreachEnterprise.credit_code,
    "status": OutreachEnterprise.status,
    "created_at": OutreachEnterprise.created_at,
}


def place_external_id(credit_code: str) -> str:
    """The ``external_id`` of the register place of the enterprise with ``credit_code``."""
    return f"uscc:{credit_code}"


def register_places(codes: list[str]) -> dict[str, Place]:
    """Credit code → its register place: the place whose ``external_id`` is
    ``uscc:<code>`` (of any type: the caller refuses one that is not an enterprise), else the
    enterprise place (lowest id) whose ``attributes.credit_code`` is the code (a register
    imported with its own ids)."""
    if not codes:
        return {}
    by_id = {place_external_id(c): c for c in codes}
    out = {
        by_id[p.external_id]: p
        for p in db.session.scalars(select(Place).where(Place.external_id.in_(list(by_id))))
    }
    missing = [c for c in codes if c not in out]
    if missing:
        attr = Place.attributes["credit_code"].as_string()
        for place in db.session.scalars(
            select(Place)
            .where(Place.type == "enterprise", attr.in_(missing))
            .order_by(Place.id.desc())
        ):
            out[str(place.attributes["credit_code"])] = place  # the lowest id wins
    return out


def rows_from(body: bytes) -> list[Row]:
    """The rows of a list CSV, UTF-8 (422 ``invalid_csv`` for other bytes or without the
    required columns)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValidationFailed(
            "The CSV must be UTF-8 (save it as 'CSV UTF-8').",
            code="invalid_csv",
            details={"encoding": "utf-8", "byte": exc.start},
        ) from exc
    return rows_from_csv(text, required=REQUIRED_COLUMNS, known=COLUMNS)


# --- reading ---------------------------------------------------------------------------------


def visits_programme(principal: Principal, programme_id: int) -> OutreachProgramme:
    """The programme the caller sees (404 otherwise); 422 ``not_visits_programme`` unless
    its kind is ``visits``."""
    programme = get_visible(OutreachProgramme, programme_id, principal)
    if programme.kind != "visits":
        raise ValidationFailed(
            "Only a visits programme has a visit list, visits and progress.",
            code="not_visits_programme",
            details={"kind": programme.kind},
        )
    return programme


def window_ended(programme: OutreachProgramme, at: dt.datetime) -> bool:
    """The visit window of ``programme`` is over at ``at`` (no window end: never)."""
    return is_late(programme.visits_to, programme.area_id, at)


def is_frozen(programme: OutreachProgramme, at: dt.datetime) -> bool:
    """The list of ``programme`` is fixed at ``at`` (after the end of ``list_due_on``)."""
    return is_late(programme.list_due_on, programme.area_id, at)


def list_enterprises(
    principal: Principal,
    programme_id: int,
    *,
    institution: str | None = None,
    visitor: str | None = None,
    status: str | None = None,
    community: int | None = None,
    overdue: bool | None = None,
    sort: str | None = None,
) -> Select:
    """The rows of a programme's list the caller sees, filtered.

    ``institution``: a code (422 ``unknown_institution``); ``visitor``: a username or
    ``cell``; ``community``: an area id (any level, 404 out of scope); ``overdue``: still
    ``listed`` once the visit window has ended."""
    principal.require(*READERS)
    programme = visits_programme(principal, programme_id)
    stmt = visible(OutreachEnterprise, principal).where(
        OutreachEnterprise.programme_id == programme.id
    )
    if institution:
        inst = institution_by_code(institution, "institution")
        stmt = stmt.where(OutreachEnterprise.institution_id == inst.id)
    if visitor:
        if visitor.strip().lower() == CELL:
            stmt = stmt.where(OutreachEnterprise.visitor_is_cell.is_(True))
        else:
            stmt = stmt.where(
                OutreachEnterprise.visitor_user_id.in_(
                    select(User.id).where(User.username == visitor)
                )
            )
    if status:
        stmt = stmt.where(OutreachEnterprise.status == status)
    if community is not None:
        area = get_visible(Area, community, principal)
        stmt = stmt.where(in_area(OutreachEnterprise.area_id, area))
    if overdue is not None:
        late = (
            OutreachEnterprise.status == "listed" if window_ended(programme, utcnow()) else false()
        )
        stmt = stmt.where(late if overdue else not_(late))
    return apply_sort(stmt, sort, SORTABLE, "id", OutreachEnterprise.id)


def present(rows: list[OutreachEnterprise]) -> list[OutreachEnterprise]:
    """Rows ready for their schema: institution code, visitor, position, overdue."""
    if not rows:
        return rows
    inst = institution_codes(r.institution_id for r in rows)
    users = usernames(r.visitor_user_id for r in rows)
    places = {
        p.id: p
        for p in db.session.scalars(select(Place).where(Place.id.in_({r.place_id for r in rows})))
    }
    programmes = {
        p.id: p
        for p in db.session.scalars(
            select(OutreachProgramme).where(
                OutreachProgramme.id.in_({r.programme_id for r in rows})
            )
        )
    }
    now = utcnow()
    for r in rows:
        place = places[r.place_id]
        point = to_shapely(place.geom)
        r.institution_code = inst.get(r.institution_id)  # type: ignore[attr-defined]
        r.visitor = CELL if r.visitor_is_cell else users.get(r.visitor_user_id)  # type: ignore[attr-defined]
        r.lon, r.lat = round(point.x, 7), round(point.y, 7)  # type: ignore[attr-defined]
        r.cell_id = place.cell_id  # type: ignore[attr-defined]
        r.overdue = r.status == "listed" and window_ended(programmes[r.programme_id], now)  # type: ignore[attr-defined]
    return rows


def features(principal: Principal, programme_id: int, **filters: Any) -> dict[str, Any]:
    """Every matching row as one GeoJSON FeatureCollection of Points (not paged)."""
    rows = present(list(db.session.scalars(list_enterprises(principal, programme_id, **filters))))
    return {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "id": r.id,
                "geometry": {"type": "Point", "coordinates": [r.lon, r.lat]},  # type: ignore[attr-defined]
                "properties": {
                    "id": r.id,
                    "credit_code": r.credit_code,
                    "name": r.name,
                    "institution": r.institution_code,  # type: ignore[attr-defined]
                    "visitor": r.visitor,  # type: ignore[attr-defined]
                    "status": r.status,
                    "overdue": r.overdue,  # type: ignore[attr-defined]
                    "area_id": r.area_id,
                    "place_id": r.place_id,
                },
            }
            for r in rows
        ],
    }


# --- importing -------------------------------------------------------------------------------


def _text(data: dict[str, Any], key: str) -> str:
    value = data.get(key)
    return value.strip() if isinstance(value, str) else ""


def _reject(report: ImportReport, row: Row, code: str, errors: dict[str, list[str]]) -> None:
    report.rejected.append(
        {"row": row.number, "credit_code": _text(row.data, "credit_code") or None, "code": code,
         "errors": errors}
    )  # fmt: skip


def _position(data: dict[str, Any]) -> tuple[float, float] | str | None:
    """(lon, lat), None when both are empty, or ``"invalid"``."""
    lon, lat = _text(data, "lon"), _text(data, "lat")
    if not lon and not lat:
        return None
    try:
        x, y = float(lon), float(lat)
    except ValueError:
        return "invalid"
    if not (np.isfinite(x) and np.isfinite(y) and -180 <= x <= 180 and -90 <= y <= 90):
        return "invalid"
    return x, y


def _institution(name: str) -> Institution | None:
    if not name:
        return None
    return institution_service.find_by_code(name) or institution_service.resolve(name)


def _visitor(name: str, institution: Institution) -> tuple[int | None, bool] | None:
    """(user id, is cell) for ``name``; None when it names nobody of ``institution``."""
    if name.lower() == CELL:
        return None, True
    if not name:
        return None
    user = db.session.execute(
        select(User).where(
            User.username == name,
            User.role == "institution_contact",
            User.institution_id == institution.id,
            User.is_active.is_(True),
        )
    ).scalar_one_or_none()
    return None if user is None else (user.id, False)


class _Lookups:
    """Institutions and visitors of one import, each name resolved once (a list names a
    handful of banks and visitors over thousands of rows)."""

    def __init__(self) -> None:
        self.institutions: dict[str, Institution | None] = {}
        self.visitors: dict[tuple[str, int], tuple[int | None, bool] | None] = {}

    def institution(self, name: str) -> Institution | None:
        if name not in self.institutions:
            self.institutions[name] = _institution(name)
        return self.institutions[name]

    def visitor(self, name: str, institution: Institution) -> tuple[int | None, bool] | None:
        key = (name, institution.id)
        if key not in self.visitors:
            self.visitors[key] = _visitor(name, institution)
        return self.visitors[key]


def _check_row(
    principal: Principal, row: Row, lookups: _Lookups | None = None
) -> tuple[dict[str, Any] | None, str, dict[str, list[str]]]:
    """One row's values, or (None, code, errors)."""
    lookups = lookups or _Lookups()
    data = row.data
    try:
        scan({k: v for k, v in data.items() if k != "extra"})
    except (InvalidText, JSONTooDeep) as exc:
        field_ = str(exc.details.get("field") or "row").split(".")[0]
        return None, "invalid_text", {field_: [exc.details.get("reason") or exc.message]}
    code = _text(data, "credit_code").upper()
    if not uscc.is_valid(code):
        return (
            None,
            "invalid_credit_code",
            {"credit_code": ["Not a valid unified social credit code (GB 32100-2015)."]},
        )
    for key, limit in LIMITS.items():
        if len(_text(data, key)) > limit:
            return None, "invalid_text", {key: [f"At most {limit} characters."]}
    inst = lookups.institution(_text(data, "institution"))
    if inst is None:
        return (
            None,
            "unknown_institution",
            {"institution": [f"No institution {_text(data, 'institution')!r}."]},
        )
    if principal.institution_id is not None and inst.id != principal.institution_id:
        return (
            None,
            "other_institution",
            {"institution": ["You may list only your own institution's enterprises."]},
        )
    visitor = lookups.visitor(_text(data, "visitor"), inst)
    if visitor is None:
        return None, "unknown_visitor", {"visitor": [f"Not an account of {inst.code}, nor 'cell'."]}
    position = _position(data)
    if position == "invalid":
        return None, "invalid_position", {"lon": ["lon/lat: numbers within -180..180, -90..90."]}
    return (
        {
            "credit_code": code,
            "name": _text(data, "name"),
            "address": _text(data, "address"),
            "industry": _text(data, "industry"),
            "institution_id": inst.id,
            "visitor_user_id": visitor[0],
            "visitor_is_cell": visitor[1],
            "position": position,
        },
        "",
        {},
    )


def import_enterprises(
    principal: Principal,
    programme_id: int,
    rows: list[Row],
    today: dt.date,
    *,
    source: str = "csv",
) -> dict[str, Any]:
    """Store the valid rows of a list CSV in programme ``programme_id``; report the others.
    ``source`` names where the rows came from in the audit entry (``csv``, ``register``)."""
    principal.require(*IMPORTERS)
    programme = visits_programme(principal, programme_id)
    now = utcnow()
    frozen = is_frozen(programme, now)
    if frozen and principal.role not in FREEZE_EXEMPT:
        raise Conflict(
            f"The list was fixed on {programme.list_due_on}; only the coordinator may change it.",
            code="list_frozen",
            details={"list_due_on": programme.list_due_on.isoformat()},  # type: ignore[union-attr]
        )
    if len(rows) > MAX_ROWS:
        raise ValidationFailed(
            f"At most {MAX_ROWS} rows per import.",
            code="too_many_rows",
            details={"rows": len(rows), "limit": MAX_ROWS},
        )
    area = db.session.get(Area, programme.area_id)
    report = ImportReport(received=len(rows))
    checked: list[tuple[Row, dict[str, Any]]] = []
    seen: dict[str, int] = {}
    lookups = _Lookups()
    for row in rows:
        values, code, errors = _check_row(principal, row, lookups)
        if values is None:
            _reject(report, row, code, errors)
            continue
        if values["credit_code"] in seen:
            first = seen[values["credit_code"]]
            _reject(report, row, "duplicate_credit_code",
                    {"credit_code": [f"Also on row {first} of this file."]})  # fmt: skip
            continue
        seen[values["credit_code"]] = row.number
        checked.append((row, values))

    listed = {
        e.credit_code: e
        for e in db.session.scalars(
            select(OutreachEnterprise).where(
                OutreachEnterprise.programme_id == programme.id,
                OutreachEnterprise.credit_code.in_(list(seen) or [""]),
            )
        )
    }
    places = register_places(list(seen))
    placed = [(r, v) for r, v in checked if v["position"] is not None]
    lon = np.array([v["position"][0] for _, v in placed], dtype=float)
    lat = np.array([v["position"][1] for _, v in placed], dtype=float)
    comm_ids, cell_ids = locate_many(area, lon, lat, today)
    located = {
        r.number: (int(c), int(k))
        for (r, _), c, k in zip(placed, comm_ids.tolist(), cell_ids.tolist(), strict=True)
    }
    seq = next_seq() if checked else 0
    area_ids = {p.area_id for p in places.values()}
    paths = (
        dict(db.session.execute(select(Area.id, Area.path).where(Area.id.in_(area_ids))).all())
        if area_ids
        else {}
    )
    for row, values in checked:
        code = values["credit_code"]
        existing = listed.get(code)
        if (
            existing is not None
            and principal.institution_id is not None
            and existing.institution_id != principal.institution_id
        ):
            _reject(report, row, "other_institution",
                    {"credit_code": ["Listed for another institution."]})  # fmt: skip
            continue
        place = places.get(code)
        if place is not None and place.type != "enterprise":
            _reject(report, row, "place_not_enterprise",
                    {"credit_code": [f"Its register place is a {place.type}."]})  # fmt: skip
            continue
        if place is not None and not area_contains(area, paths.get(place.area_id, "\x00")):
            # a register enterprise of another area is never moved by a programme's list
            _reject(report, row, "outside_area",
                    {"credit_code": [f"Its register place is outside {area.code}."]})  # fmt: skip
            continue
        if values["position"] is not None:
            comm, cell = located[row.number]
            if comm < 0:
                _reject(report, row, "outside_area",
                        {"lon": [f"The point is outside {area.code}."]})  # fmt: skip
                continue
            geom = from_shape(Point(*values["position"]), srid=4326)
            if place is None:
                place = Place(
                    type="enterprise", external_id=place_external_id(code),
                    name=values["name"] or code, attributes={"credit_code": code},
                    geom=geom, area_id=comm, cell_id=cell if cell >= 0 else None,
                    change_seq=seq,
                )  # fmt: skip
                db.session.add(place)
                places[code] = place
            else:
                place.geom, place.area_id = geom, comm
                place.cell_id, place.change_seq = (cell if cell >= 0 else None), seq
        elif place is None:
            _reject(report, row, "missing_position",
                    {"lon": ["No register place has this code: give lon and lat."]})  # fmt: skip
            continue
        if values["name"] and place.name != values["name"]:
            place.name, place.change_seq = values["name"], seq
        db.session.flush()
        fields_ = {
            "place_id": place.id,
            "area_id": place.area_id,
            "name": values["name"] or (existing.name if existing else place.name),
            "address": values["address"] or (existing.address if existing else ""),
            "industry": values["industry"] or (existing.industry if existing else ""),
            "institution_id": values["institution_id"],
            "visitor_user_id": values["visitor_user_id"],
            "visitor_is_cell": values["visitor_is_cell"],
        }
        if existing is None:
            listed[code] = OutreachEnterprise(
                programme_id=programme.id, credit_code=code, status="listed", version=1, **fields_
            )
            db.session.add(listed[code])
            report.created += 1
            continue
        changed = {k: v for k, v in fields_.items() if getattr(existing, k) != v}
        if changed:
            for key, value in changed.items():
                setattr(existing, key, value)
            existing.version += 1
        report.updated += 1
    db.session.flush()
    report.rejected.sort(key=lambda r: r["row"])
    audit.record(
        "import_enterprises",
        "outreach_programmes",
        programme.id,
        {"received": report.received, "created": report.created, "updated": report.updated,
         "rejected": len(report.rejected), "after_list_due": frozen, "source": source},
    )  # fmt: skip
    return report.as_dict()


def _register_code(place: Place) -> str:
    """The credit code a register place carries (``uscc:<code>`` id, else its
    ``attributes.credit_code``), as written; "" for none."""
    if place.external_id and place.external_id.startswith("uscc:"):
        return place.external_id[len("uscc:") :]
    value = (place.attributes or {}).get("credit_code")
    return value.strip() if isinstance(value, str) else ""


def import_from_register(
    principal: Principal, programme_id: int, data: dict[str, Any], today: dt.date
) -> dict[str, Any]:
    """Every register enterprise of an area joins the list (走访名单 from the place register).

    ``data``: ``area_id`` (an existing area, 404 otherwise, inside the programme's area: 422
    ``outside_area``; anyone who sees the programme may name its areas), ``institution`` (a
    code, name or alias; a contact's own by default, 422 when nobody is named) and
    ``visitor`` (a username of that institution or ``cell``, the default). The area's places
    of type ``enterprise`` not yet on the list become rows ``credit_code, name, address,
    industry, institution, visitor`` (the code from the place's ``uscc:`` id or
    ``attributes.credit_code``; address and industry from its attributes) and go through
    :func:`import_enterprises`: same rules, same freeze, same report (``row`` numbers the
    places in register order, each rejected one with its ``place_id``: a place without a
    valid code is ``invalid_credit_code``). Enterprises already listed are left as they are:
    to reassign them, import a CSV."""
    principal.require(*IMPORTERS)
    programme = visits_programme(principal, programme_id)
    # Whoever sees the programme may name any area of it (a contact has no area scope).
    area = db.session.get(Area, data["area_id"])
    if area is None:
        raise NotFound(f"No area {data['area_id']}.")
    outer = db.session.get(Area, programme.area_id)
    if not area_contains(outer, area):
        raise ValidationFailed(
            f"Area {area.code} is not inside the programme's area {outer.code}.",
            code="outside_area",
            details={"fields": {"area_id": [f"Not inside {outer.code}."]}},
        )
    institution = data.get("institution")
    if not institution and principal.institution_id is not None:
        institution = db.session.get(Institution, principal.institution_id).code  # type: ignore[union-attr]
    if not institution:
        message = "Name the responsible institution (a code, name or alias)."
        raise ValidationFailed(message, details={"fields": {"institution": [message]}})
    listed = set(
        db.session.scalars(
            select(OutreachEnterprise.credit_code).where(
                OutreachEnterprise.programme_id == programme.id
            )
        )
    )
    places = [
        p
        for p in db.session.scalars(
            select(Place)
            .where(Place.type == "enterprise", in_area(Place.area_id, area))
            .order_by(Place.id)
        )
        if _register_code(p).upper() not in listed
    ]
    rows = []
    for number, place in enumerate(places, start=1):
        attrs = place.attributes or {}
        rows.append(
            Row(number, {
                "credit_code": _register_code(place), "name": place.name,
                "address": attrs.get("address") if isinstance(attrs.get("address"), str) else "",
                "industry": attrs.get("industry") if isinstance(attrs.get("industry"), str) else "",
                "institution": institution, "visitor": data.get("visitor") or CELL,
            })
        )  # fmt: skip
    report = import_enterprises(principal, programme_id, rows, today, source="register")
    for entry in report["rejected"]:
        entry["place_id"] = places[entry["row"] - 1].id
    return report


__all__ = [
    "IMPORTERS",
    "features",
    "import_enterprises",
    "import_from_register",
    "is_frozen",
    "list_enterprises",
    "place_external_id",
    "present",
    "rows_from",
    "window_ended",
]
