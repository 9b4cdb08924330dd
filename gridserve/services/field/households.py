"""The household register (三知道、二清楚、一掌握): who lives where, and how to reach them.

Rules:

- A household belongs to one place of type ``household`` (one per place; the
  database's unique key on ``place_id`` decides a race) and to that place's
  community, which is how it is scoped.
- Phone, ID number and members are personal data, encrypted at rest
  (:mod:`gridserve.crypto`); the member count, door number and address are not.
- Only two kinds of reader see a record in clear: the worker assigned today
  to the cell of its place, and the station of its community. Everyone else
  in scope, and every list, sees it masked. Every unmasked read is audited.
- The assigned worker, or a station / street centre / district centre in
  scope, may register and edit a household; deleting is for the station and
  above and leaves a tombstone so terminals drop the record.
- Edits are optimistic: a change names the version it was based on and is a
  conditional ``UPDATE ... WHERE version = :v``; a stale one changes nothing.
- Every write takes a change number (:func:`gridserve.sync.next_seq`).
- Bulk export is for the station and above: a station gets its own
  community in clear, anyone above it gets masked rows; every export is audited.

No Flask request in here and no commits: the request (or job) boundary commits.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import unicodedata
from collections.abc import Iterable, Iterator
from typing import Any

import phonenumbers
from cryptography.fernet import InvalidToken
from sqlalchemy import Select, select, update
from sqlalchemy.exc import IntegrityError

from gridserve import audit, crypto
from gridserve.db import batches, utcnow
from gridserve.errors import Conflict, Forbidden, ValidationFailed
from gridserve.extensions import db
from gridserve.models import Area, GridCell, Household, Place, SyncTombstone
from gridserve.pagination import apply_sort
from gridserve.privacy import mask_id_number, mask_name, mask_phone
from gridserve.scope import Principal, get_visible, in_area, visible
from gridserve.services.field.workers import is_assigned_to_place
from gridserve.spatial import to_shapely
from gridserve.sync import next_seq
from gridserve.versioning import refuse_stale, update_versioned

# Who may read the register at all (masked or not); admins always pass.
READERS = ("worker", "station", "street_centre", "district_centre")
# Who may register and edit a household besides the assigned worker.
EDITORS = ("station", "street_centre", "district_centre")
# Who may delete and export.
MANAGERS = ("station", "street_centre", "district_centre")
# Who may call register/edit at all (a worker then only in the cell assigned to them).
WRITERS = ("worker", *EDITORS)

PROTECTED = ("phone", "id_number", "members")
MAX_MEMBERS = 30
NAME_MAX = 50
RELATION_MAX = 20
WORK_UNIT_MAX = 100
DOOR_MAX = 100
ADDRESS_MAX = 300
BATCH = 500
SORTABLE = {
    "id": Household.id,
    "door_number": Household.door_number,
    "address": Household.address,
    "member_count": Household.member_count,
    "created_at": Household.created_at,
    "updated_at": Household.updated_at,
    "change_seq": Household.change_seq,
}

# ISO 7064 MOD 11-2 as used by GB 11643 (resident ID numbers).
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


# --- validation ----------------------------------------------------------------------------


def normalise_phone(value: str) -> str:
    """A phone number as stored: the national significant number for China
    (``'+86 138-1234-5678'`` → ``'13812345678'``), E.164 for any other country.

    Raises ``ValueError`` with the reason when ``phonenumbers`` (region CN) does
    not recognise it as a valid number.
    """
    try:
        number = phonenumbers.parse(value, "CN")
    except phonenumbers.NumberParseException as exc:
        raise ValueError("Not a phone number.") from exc
    if not phonenumbers.is_valid_number(number):
        raise ValueError("Not a valid phone number (mobile or landline with area code).")
    if number.country_code == 86:
        return phonenumbers.national_significant_number(number)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def id_check_digit(first17: str) -> str:
    """The ISO 7064 MOD 11-2 check character of the first 17 digits of an ID number."""
    return _ID_CHECK[sum(int(c) * w for c, w in zip(first17, _ID_WEIGHTS, strict=True)) % 11]


def normalise_id_number(value: str, today: dt.date | None = None) -> str:
    """An 18-character PRC resident ID number, upper-cased, or ``ValueError``.

    NFKC-normalised first (full-width digits and ``Ｘ`` become ASCII); then
    seventeen ASCII digits and a check character (a digit or ``X``) that matches
    ISO 7064 MOD 11-2 (GB 11643); characters 7-14 must be a real birth date, not
    in the future. Digits of other scripts are refused.
    """
    text = "".join(unicodedata.normalize("NFKC", value).split()).upper()
    if not text.isascii():  # str.isdigit() and int() also take Arabic-Indic and other digits
        raise ValueError("Only the digits 0-9 and X (full-width forms are accepted).")
    if len(text) != 18 or not text[:17].isdigit() or not (text[17].isdigit() or text[17] == "X"):
        raise ValueError("18 characters: 17 digits and a check digit (0-9 or X).")
    if id_check_digit(text[:17]) != text[17]:
        raise ValueError("The check digit does not match (ISO 7064 MOD 11-2).")
    try:
        born = dt.date(int(text[6:10]), int(text[10:12]), int(text[12:14]))
    except ValueError as exc:
        raise ValueError("Characters 7-14 are not a birth date (YYYYMMDD).") from exc
    if born.year < 1900 or (today is not None and born > today):
        raise ValueError("Characters 7-14 are not a plausible birth date.")
    return text


def _text(value: Any, limit: int, *, required: bool = False) -> tuple[str, list[str]]:
    if value is None:
        value = ""
    if not isinstance(value, str):
        return "", ["Text."]
    value = value.strip()
    if required and not value:
        return value, ["Required."]
    if len(value) > limit:
        return value, [f"At most {limit} characters."]
    return value, []


def _members(value: Any) -> tuple[list[dict[str, str]], Any]:
    """The member list cleaned, and its errors in marshmallow's shape (by index)."""
    if value is None:
        return [], None
    if not isinstance(value, list):
        return [], ["A list of members."]
    if len(value) > MAX_MEMBERS:
        return [], [f"At most {MAX_MEMBERS} members."]
    clean, errors = [], {}
    for i, member in enumerate(value):
        if not isinstance(member, dict):
            errors[i] = {"_schema": ["An object with name, relation and work_unit."]}
            continue
        name, e_name = _text(member.get("name"), NAME_MAX, required=True)
        relation, e_rel = _text(member.get("relation"), RELATION_MAX)
        work_unit, e_work = _text(member.get("work_unit"), WORK_UNIT_MAX)
        problems = {
            k: v for k, v in (("name", e_name), ("relation", e_rel), ("work_unit", e_work)) if v
        }
        if problems:
            errors[i] = problems
        clean.append({"name": name, "relation": relation, "work_unit": work_unit})
    return clean, errors or None


def clean_fields(data: dict[str, Any], today: dt.date, *, partial: bool) -> dict[str, Any]:
    """The column values for the fields present in ``data``, checked and encrypted.

    Refuses (422 ``validation_error`` with ``details.fields``) with every bad
    field at once. With ``partial``, absent fields are left out (an edit); a
    ``null`` phone or ID number clears it.
    """
    errors: dict[str, Any] = {}
    values: dict[str, Any] = {}
    for key, limit, required in (
        ("door_number", DOOR_MAX, True),
        ("address", ADDRESS_MAX, False),
    ):
        if partial and key not in data:
            continue
        text, problems = _text(data.get(key), limit, required=required)
        if problems:
            errors[key] = problems
        values[key] = text
    if not partial or "phone" in data:
        raw = data.get("phone")
        values["phone_enc"] = None
        if raw not in (None, ""):
            try:
                values["phone_enc"] = crypto.encrypt(normalise_phone(str(raw)))
            except ValueError as exc:
                errors["phone"] = [str(exc)]
    if not partial or "id_number" in data:
        raw = data.get("id_number")
        values["id_number_enc"] = None
        if raw not in (None, ""):
            try:
                values["id_number_enc"] = crypto.encrypt(normalise_id_number(str(raw), today))
            except ValueError as exc:
                errors["id_number"] = [str(exc)]
    if not partial or "members" in data:
        members, problems = _members(data.get("members"))
        if problems:
            errors["members"] = problems
        values["members_enc"] = crypto.encrypt_json(members) if members else None
        values["member_count"] = len(members)
        values["work_units_complete"] = bool(members) and all(m["work_unit"] for m in members)
    if errors:
        raise ValidationFailed("The household is not valid.", details={"fields": errors})
    return values


# --- who may do what -----------------------------------------------------------------------


def _require_editor(principal: Principal, place: Place, today: dt.date) -> None:
    """The worker assigned today to the place's cell, or a manager in scope (else 403)."""
    if principal.role == "worker":
        if not is_assigned_to_place(principal, place, today):
            raise Forbidden(
                "Only the worker assigned to this place's cell may register or edit it.",
                code="not_assigned",
                details={"place_id": place.id},
            )
        return
    principal.require(*EDITORS)


def can_unmask(principal: Principal, household: Household, place: Place, today: dt.date) -> bool:
    """The assigned worker of the cell (today) and the station of the community read in clear."""
    if principal.role == "station":
        return principal.area_id is not None and principal.area_id == household.area_id
    return is_assigned_to_place(principal, place, today)


# --- reading -------------------------------------------------------------------------------


def _place(household: Household) -> Place:
    place = db.session.get(Place, household.place_id)
    assert place is not None  # a foreign key
    return place


def reveal(household: Household, *, unmasked: bool, place: Place | None = None) -> Household:
    """``household`` ready for its schema, in clear or masked; returns the same row.

    Puts on the row what its reader may see: ``phone_shown``, ``id_number_shown``
    and ``members_shown`` (masked: the phone as ``138****5678``, the ID number as
    ``510104********1234``, member names as ``张*``, relation and work unit kept),
    ``masked``, and from its place ``cell_id`` and ``location``. This does not
    audit: whoever hands out an unmasked record records it. Pass ``place`` (or have
    it loaded in the session) to save a query.
    """
    place = place if place is not None else _place(household)
    phone = crypto.decrypt(household.phone_enc)
    id_number = crypto.decrypt(household.id_number_enc)
    members = crypto.decrypt_json(household.members_enc) or []
    if not unmasked:
        phone = mask_phone(phone)
        id_number = mask_id_number(id_number)
        members = [{**m, "name": mask_name(m.get("name"))} for m in members]
    point = to_shapely(place.geom)
    shown: Any = household
    shown.phone_shown = phone
    shown.id_number_shown = id_number
    shown.members_shown = members
    shown.masked = not unmasked
    shown.cell_id = place.cell_id
    shown.location = {"lon": point.x, "lat": point.y}
    return household


def serialize(household: Household, *, unmasked: bool, place: Place | None = None) -> dict:
    """A household as a JSON-ready dict, in clear or masked (see :func:`reveal`), for the
    terminals' bundle and the export; the API dumps the revealed row with its schema."""
    h: Any = reveal(household, unmasked=unmasked, place=place)
    return {
        "id": h.id,
        "place_id": h.place_id,
        "area_id": h.area_id,
        "cell_id": h.cell_id,
        "location": h.location,
        "door_number": h.door_number,
        "address": h.address,
        "phone": h.phone_shown,
        "id_number": h.id_number_shown,
        "members": h.members_shown,
        "member_count": h.member_count,
        "version": h.version,
        "change_seq": h.change_seq,
        "masked": h.masked,
        "created_at": h.created_at.isoformat() if h.created_at else None,
        "updated_at": h.updated_at.isoformat() if h.updated_at else None,
    }


def present_masked(households: Iterable[Household]) -> list[Household]:
    """Households as every list shows them: masked (:func:`reveal`), their places loaded in
    one query."""
    rows = list(households)
    ids = {h.place_id for h in rows}
    places = (
        {p.id: p for p in db.session.execute(select(Place).where(Place.id.in_(ids))).scalars()}
        if ids
        else {}
    )
    return [reveal(h, unmasked=False, place=places[h.place_id]) for h in rows]


def _present(principal: Principal, household: Household, place: Place, today: dt.date) -> Household:
    """The caller's view of one household (:func:`reveal`); an unmasked view is audited."""
    unmasked = can_unmask(principal, household, place, today)
    shown: Any = reveal(household, unmasked=unmasked, place=place)
    if unmasked:
        protected = {
            "phone": shown.phone_shown,
            "id_number": shown.id_number_shown,
            "members": shown.members_shown,
        }
        fields = [k for k in PROTECTED if protected[k]]
        audit.record("household_read", "households", household.id, {"fields": fields})
    return household


def list_households(
    principal: Principal,
    *,
    area_id: int | None = None,
    cell_id: int | None = None,
    place_id: int | None = None,
    sort: str | None = None,
) -> Select:
    """The households in scope (shown masked, :func:`present_masked`: lists never show
    personal data)."""
    principal.require(*READERS)
    stmt = visible(Household, principal)
    if area_id is not None:
        area = get_visible(Area, area_id, principal)
        stmt = stmt.where(in_area(Household.area_id, area))
    if cell_id is not None:
        stmt = stmt.where(Household.place_id.in_(select(Place.id).where(Place.cell_id == cell_id)))
    if place_id is not None:
        stmt = stmt.where(Household.place_id == place_id)
    return apply_sort(stmt, sort, SORTABLE, "id", Household.id)


def get_household(principal: Principal, household_id: int, today: dt.date) -> Household:
    """One household: in clear for its assigned worker and station (audited), else masked."""
    principal.require(*READERS)
    household = get_visible(Household, household_id, principal)
    return _present(principal, household, _place(household), today)


# --- writing -------------------------------------------------------------------------------


def create_household(principal: Principal, data: dict[str, Any], today: dt.date) -> Household:
    """Register the household at a place of type ``household`` in the caller's scope.

    404 if the place is absent or out of scope, 403 unless the caller may edit
    it, 422 ``not_a_household`` for another type of place, 422 for bad fields,
    409 ``household_exists`` if the place has one already. Nothing is stored
    on any refusal.
    """
    if principal.role != "worker":
        principal.require(*EDITORS)
    place = get_visible(Place, data.get("place_id"), principal)
    _require_editor(principal, place, today)
    if place.type != "household":
        raise ValidationFailed(
            f"Place {place.id} is a {place.type}; households are registered at household places.",
            code="not_a_household",
            details={"fields": {"place_id": [f"A {place.type}, not a household."]}},
        )
    values = clean_fields(data, today, partial=False)
    household = Household(place_id=place.id, area_id=place.area_id, version=1, **values)
    household.change_seq = next_seq()
    try:
        # Added inside the savepoint: begin_nested() flushes what is pending before it starts.
        with db.session.begin_nested():
            db.session.add(household)
            db.session.flush()
    except IntegrityError as exc:
        raise Conflict(
            f"Place {place.id} has a household already; edit that one.",
            code="household_exists",
            details={"place_id": place.id},
        ) from exc
    return _present(principal, household, place, today)


def update_household(
    principal: Principal, household_id: int, data: dict[str, Any], today: dt.date
) -> Household:
    """Change a household, based on the version the caller last saw.

    One conditional ``UPDATE ... WHERE id = :id AND version = :version``: if
    someone changed it since, nothing changes and the answer is 409
    ``stale_version`` with the current version. Success bumps the version.
    """
    if principal.role != "worker":
        principal.require(*EDITORS)
    household = get_visible(Household, household_id, principal)
    place = _place(household)
    _require_editor(principal, place, today)
    based_on = data.get("version")
    if not isinstance(based_on, int) or isinstance(based_on, bool):
        raise ValidationFailed(
            "Say which version the change is based on.",
            details={"fields": {"version": ["Required: the version you last read."]}},
        )
    values = clean_fields(data, today, partial=True)
    changed = sorted({k.removesuffix("_enc") for k in values if k != "member_count"})
    new_version = update_versioned(
        Household,
        based_on,
        Household.id == household.id,
        **values,
        area_id=place.area_id,
        change_seq=next_seq(),
        updated_at=utcnow(),
    )
    db.session.expire(household)
    if new_version is None:
        refuse_stale(
            "Someone changed this household since you read it; reload and try again.",
            expected=based_on,
            current=household.version,
        )
    # A core UPDATE bypasses the flush-time audit listener: record the write here.
    audit.record(
        "update",
        "households",
        household.id,
        {"fields": changed, "version": [based_on, based_on + 1]},
    )
    return _present(principal, household, place, today)


def delete_household(principal: Principal, household_id: int) -> None:
    """Remove a household (station and above) and leave a tombstone for the terminals."""
    principal.require(*MANAGERS)
    household = get_visible(Household, household_id, principal)
    place = _place(household)
    cell_code = (
        db.session.execute(select(GridCell.code).where(GridCell.id == place.cell_id)).scalar()
        if place.cell_id is not None
        else None
    )
    db.session.add(
        SyncTombstone(
            entity="household",
            entity_id=household.id,
            area_id=household.area_id,
            cell_code=cell_code,
            change_seq=next_seq(),
        )
    )
    db.session.delete(household)
    db.session.flush()


# --- export --------------------------------------------------------------------------------

EXPORT_COLUMNS = (
    "household_id",
    "place_id",
    "community",
    "cell",
    "door_number",
    "address",
    "lon",
    "lat",
    "phone",
    "id_number",
    "member_count",
    "members",
    "version",
    "updated_at",
    "masked",
)


def _spreadsheet_safe(value: Any) -> Any:
    """Text a spreadsheet would run as a formula is prefixed with ``'`` (CSV injection)."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def _batches(stmt: Select) -> Iterator[list[Household]]:
    last = 0
    while True:
        rows = list(
            db.session.execute(
                stmt.where(Household.id > last).order_by(None).order_by(Household.id).limit(BATCH)
            ).scalars()
        )
        if not rows:
            return
        yield rows
        last = rows[-1].id


def export_csv(principal: Principal, *, area_id: int | None = None) -> tuple[str, int, bool]:
    """The households in scope as CSV (UTF-8 with a BOM, for spreadsheets): station and above.

    A station's own community is in clear; everyone above it gets masked rows.
    The export is audited (``household_export``: rows, whether any were in
    clear). Returns ``(csv_text, rows, unmasked)``.
    """
    principal.require(*MANAGERS)
    stmt = list_households(principal, area_id=area_id)
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(EXPORT_COLUMNS)
    count = clear = 0
    communities: dict[int, str] = {}
    cells: dict[int, str] = {}
    for batch in _batches(stmt):
        places = {
            p.id: p
            for p in db.session.execute(
                select(Place).where(Place.id.in_({h.place_id for h in batch}))
            ).scalars()
        }
        need_areas = {h.area_id for h in batch} - communities.keys()
        if need_areas:
            communities.update(
                db.session.execute(select(Area.id, Area.code).where(Area.id.in_(need_areas))).all()
            )
        need_cells = {p.cell_id for p in places.values() if p.cell_id is not None} - cells.keys()
        if need_cells:
            cells.update(
                db.session.execute(
                    select(GridCell.id, GridCell.code).where(GridCell.id.in_(need_cells))
                ).all()
            )
        for h in batch:
            place = places[h.place_id]
            unmasked = principal.role == "station" and principal.area_id == h.area_id
            view = serialize(h, unmasked=unmasked, place=place)
            row = [
                view["id"],
                view["place_id"],
                communities.get(h.area_id),
                cells.get(place.cell_id) if place.cell_id is not None else None,
                view["door_number"],
                view["address"],
                view["location"]["lon"],
                view["location"]["lat"],
                view["phone"],
                view["id_number"],
                view["member_count"],
                json.dumps(view["members"], ensure_ascii=False) if view["members"] else "",
                view["version"],
                view["updated_at"],
                "false" if unmasked else "true",
            ]
            writer.writerow([_spreadsheet_safe(v) for v in row])
            count += 1
            clear += unmasked
    audit.record(
        "household_export",
        "households",
        None,
        {"rows": count, "unmasked": clear > 0, "unmasked_rows": clear, "area_id": area_id},
    )
    return out.getvalue(), count, clear > 0


# --- key rotation --------------------------------------------------------------------------


def reencrypt_all(batch_size: int = BATCH) -> int:
    """Re-encrypt every household's phone, ID number and members with the newest data key.

    Reads in batches by id and rewrites each row with a conditional UPDATE on
    its version: a row edited meanwhile was written with the newest key
    already (the processes run with the new ring before rotating) and is left
    as it is. Plaintext does not change, so neither do versions nor change
    numbers. Raises :class:`gridserve.crypto.DecryptionError` naming the row
    if a value cannot be read with any key of the ring (the caller's
    transaction then rolls back, and nothing is rewritten). Returns the number
    of rows rewritten. Audited once, as ``rotate_data_keys``.
    """
    table = Household.__table__
    columns = ("phone_enc", "id_number_enc", "members_enc")
    rewritten = 0
    for rows in batches(table, table.c.version, *(table.c[c] for c in columns), size=batch_size):
        for row in rows:
            old = {c: getattr(row, c) for c in columns}
            if all(v is None for v in old.values()):
                continue
            try:
                new = {c: crypto.rotate(v) for c, v in old.items()}
            except (crypto.DecryptionError, InvalidToken) as exc:
                raise crypto.DecryptionError(
                    f"household {row.id} cannot be decrypted with any key of the ring"
                ) from exc
            done = db.session.execute(
                update(table)
                .where(table.c.id == row.id, table.c.version == row.version)
                .values(**new, updated_at=table.c.updated_at)  # the record itself is unchanged
            ).rowcount
            rewritten += done
    audit.record("rotate_data_keys", "households", None, {"rows": rewritten})
    return rewritten
