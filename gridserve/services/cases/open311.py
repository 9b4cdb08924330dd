"""Open311 GeoReport v2: public intake and status of cases, in the format citizen apps speak.

Served at ``/open311/v2/…`` (discovery at ``/open311/discovery.{json,xml}``), outside
``/api/v1`` and without bearer tokens (api/open311.py). The rules:

- Services are the active case categories: ``service_code`` = the category's code, ``group`` its
  report class, ``metadata`` false, ``type`` realtime; a definition has no attributes.
- ``POST requests`` needs an ``api_key`` issued by an admin (shown once, stored as its SHA-256,
  revocable): missing 400, unknown or revoked 403; its ``last_used_at`` is updated. It needs a
  position (``lat`` + ``long``) or an ``address_string`` naming exactly one place of the place
  register (else 400). The reporter's name and phone are stored on the case (the phone
  encrypted); consent to be called back = a phone was given. ``media_url`` is kept as a line of
  the details, never fetched. The case is made at once, so the answer carries its
  ``service_request_id``; a ``token`` resolves to that same id.
- Public answers carry no personal data: never the reporter, never the worker. They cover the
  cases received through Open311 only: cases from terminals and stations may be about people
  (must-visit cases: the elderly living alone, left-behind children) and hold workers' notes,
  so they are never published (404 like an unknown id).
  Statuses map open/accepted/settled/verified → ``open``, closed/cancelled → ``closed``.
  ``address`` is the address given with the request, else the place's (never a household's),
  else empty; ``status_notes`` a fixed public line from the latest step (:func:`status_notes`:
  the step, the level, a department's name), never a note written by staff.
- Lists default to the last 90 days (``start_date``/``end_date`` ISO 8601, else 400).
- Every request counts against a fixed one-minute window per client address, a POST also per
  key (``open311_rate_per_minute``; over it 429 with Retry-After). The counters are rows of the
  sign-in throttle table (``login_throttle``) under their own ``username`` namespace
  (``open311:address``, ``open311:key``; real usernames cannot hold ':'), purged with it.
- Errors are the standard's list ``[{code, description}]`` — the one documented exception to the
  API's error envelope; ``code`` is the HTTP status. Refusals before anything is made persist
  the request's count (``persist=True``), so bad requests are rate-limited too.
- Photos served publicly are re-encoded from their pixels: EXIF, XMP and GPS never leave.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import secrets
from pathlib import Path
from typing import Any

from sqlalchemy import case, select

from gridserve.config import settings
from gridserve.db import insert_for, utcnow
from gridserve.errors import AppError
from gridserve.extensions import db
from gridserve.models import (
    Area,
    Attachment,
    CaseCategory,
    Institution,
    LoginThrottle,
    Open311Key,
    Place,
    Task,
    TaskEvent,
)
from gridserve.scope import OPERATOR, Principal
from gridserve.services.cases import intake
from gridserve.services.cases.basics import office_area_id

OPEN_STATUSES = ("open", "accepted", "settled", "verified", "in_progress")
WINDOW = dt.timedelta(seconds=60)
DEFAULT_DAYS = 90
MAX_LIST = 1000
KEY_NS, ADDRESS_NS = "open311:key", "open311:address"


class Open311Error(AppError):
    """An error shown in the standard's list format (api/open311.py)."""

    def __init__(self, status: int, description: str, code: str, **kwargs: Any) -> None:
        super().__init__(description, code=code, status=status, **kwargs)


# --- API keys (admin) --------------------------------------------------------------------------


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def issue_key(principal: Principal, name: str) -> tuple[Open311Key, str]:
    """A new key for ``name`` (admin); the key itself is returned here only, never again."""
    principal.require()
    key = secrets.token_urlsafe(32)
    row = Open311Key(name=name, key_hash=_hash(key), created_by=principal.user_id or None)
    db.session.add(row)
    db.session.flush()
    return row, key


def list_keys(principal: Principal) -> list[Open311Key]:
    principal.require()
    return list(db.session.scalars(select(Open311Key).order_by(Open311Key.id)))


def revoke_key(principal: Principal, key_id: int) -> Open311Key:
    """Revoke a key (admin); revoking twice keeps the first time. 404 for an unknown id."""
    from gridserve.errors import NotFound

    principal.require()
    row = db.session.get(Open311Key, key_id)
    if row is None:
        raise NotFound(f"No Open311 key {key_id}.")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
    db.session.flush()
    return row


def key_for(api_key: str | None) -> Open311Key:
    """The key sent with a request: 400 when missing, 403 unknown or revoked."""
    if not api_key:
        raise Open311Error(400, "api_key is required.", "api_key_missing", persist=True)
    row = db.session.scalar(select(Open311Key).where(Open311Key.key_hash == _hash(api_key)))
    if row is None or row.revoked_at is not None:
        raise Open311Error(403, "Invalid or revoked api_key.", "api_key_invalid", persist=True)
    row.last_used_at = utcnow()
    return row


# --- rate limit --------------------------------------------------------------------------------


def count_request(
    address: str | None, key_id: int | None = None, namespace: str = ADDRESS_NS
) -> None:
    """Count one request for the client ``address`` (or, given, for the key); 429 over the
    limit (``namespace``: another counter per address, e.g. the case rating page's). A fixed
    one-minute window per counter, upserted like the sign-in throttle's rows (one statement
    each, so concurrent requests queue on the row); refused requests count too."""
    if key_id is not None:
        _bump(KEY_NS, str(key_id), "this api_key")
    else:
        _bump(namespace, (address or "unknown")[:64], "this address")


def _bump(username: str, value: str, whose: str) -> None:
    now, limit = utcnow(), settings().open311_rate_per_minute
    table = LoginThrottle.__table__
    stale = table.c.window_start <= now - WINDOW
    stmt = insert_for(table).values(username=username, address=value, failures=1,
                                    window_start=now)  # fmt: skip
    stmt = stmt.on_conflict_do_update(
        index_elements=[table.c.username, table.c.address],
        set_={
            "failures": case((stale, 1), else_=table.c.failures + 1),
            "window_start": case((stale, now), else_=table.c.window_start),
        },
    ).returning(table.c.failures, table.c.window_start)
    count, started = db.session.execute(stmt).one()
    if count > limit:
        retry = max(1, int((started + WINDOW - now).total_seconds() + 0.999))
        raise Open311Error(
            429,
            f"More than {limit} requests a minute from {whose}; retry after {retry} s.",
            "rate_limited",
            headers={"Retry-After": str(retry)},
            persist=True,
        )


# --- services ----------------------------------------------------------------------------------


def _service(category: CaseCategory) -> dict[str, Any]:
    return {
        "service_code": category.code,
        "service_name": category.name,
        "description": category.name_en or category.name,
        "metadata": False,
        "type": "realtime",
        "keywords": ", ".join(k for k in (category.name_en, category.report_class) if k),
        "group": category.report_class,
    }


def services() -> list[dict[str, Any]]:
    """The active case categories as services."""
    rows = db.session.scalars(
        select(CaseCategory)
        .where(CaseCategory.active.is_(True))
        .order_by(CaseCategory.position, CaseCategory.id)
    )
    return [_service(c) for c in rows]


def _category(code: str | None) -> CaseCategory:
    row = None
    if code:
        row = db.session.scalar(
            select(CaseCategory).where(CaseCategory.code == code, CaseCategory.active.is_(True))
        )
    if row is None:
        raise Open311Error(
            404 if code else 400,
            f"Unknown service_code {code!r}." if code else "service_code is required.",
            "service_code_unknown" if code else "service_code_missing",
            persist=True,
        )
    return row


def definition(code: str) -> dict[str, Any]:
    """A service's definition: no attributes (every category takes a description only)."""
    return {"service_code": _category(code).code, "attributes": []}


# --- requests ----------------------------------------------------------------------------------


def _float(data: dict[str, Any], name: str, low: float, high: float) -> float | None:
    value = data.get(name)
    if value in (None, ""):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = float("nan")
    if not low <= number <= high:
        raise Open311Error(400, f"{name} must be a number in [{low}, {high}].", "bad_position",
                           persist=True)  # fmt: skip
    return number


def _position(data: dict[str, Any]) -> tuple[float, float, int | None]:
    """(lon, lat, place id): the position sent, else the one place named by the address."""
    lat, lon = _float(data, "lat", -90, 90), _float(data, "long", -180, 180)
    if lat is not None and lon is not None:
        return lon, lat, None
    address = str(data.get("address_string") or "").strip()
    if address:
        places = list(db.session.scalars(select(Place).where(Place.name == address).limit(2)))
        if len(places) == 1:
            from geoalchemy2.shape import to_shape

            point = to_shape(places[0].geom)
            return point.x, point.y, places[0].id
    raise Open311Error(
        400,
        "Send lat and long, or an address_string of a known place.",
        "position_missing",
        persist=True,
    )


def _text(data: dict[str, Any], name: str, limit: int) -> str:
    return str(data.get(name) or "").strip()[:limit]


def submit(data: dict[str, Any], today: dt.date) -> list[dict[str, Any]]:
    """Make a case from a POST (key checked, counted, placed); ``[{service_request_id,
    service_notice, account_id}]``."""
    key = key_for(_text(data, "api_key", 200) or None)
    count_request(None, key.id)
    category = _category(_text(data, "service_code", 40) or None)
    lon, lat, place_id = _position(data)
    description = _text(data, "description", 4000)
    media = _text(data, "media_url", 1000)
    details = description + (f"\n\nmedia_url: {media}" if media else "")
    name = " ".join(p for p in (_text(data, "first_name", 50), _text(data, "last_name", 50)) if p)
    phone = _text(data, "phone", 30)
    payload: dict[str, Any] = {
        "category": category.code,
        "title": (description.splitlines()[0] if description else category.name)[:200],
        "details": details,
        "address": _text(data, "address_string", 500),
        "reporter": {"name": name, "phone": phone or None, "consent": bool(phone)},
    }
    if place_id is not None:
        payload["place_id"] = place_id  # the place gives the position
    else:
        payload["location"] = {"lon": lon, "lat": lat}
    try:
        task, _created = intake.receive(OPERATOR, payload, today, source="open311")
    except AppError as exc:
        if exc.code in ("outside_area", "outside_coverage"):
            raise Open311Error(400, "The position is outside the covered area.",
                               "outside_coverage", persist=True) from None  # fmt: skip
        raise
    task.open311_key_id = key.id
    db.session.flush()
    return [
        {
            "service_request_id": str(task.id),
            "service_notice": "",
            "account_id": None,
        }
    ]


def _when(value: Any, name: str) -> dt.datetime | None:
    if value in (None, ""):
        return None
    try:
        when = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise Open311Error(400, f"{name} must be an ISO 8601 date and time.", "bad_date") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when.astimezone(dt.UTC)


def find(filters: dict[str, Any]) -> list[dict[str, Any]]:
    """Cases by the standard's filters: ``service_request_id`` (comma list: the others are
    ignored then, as the standard says), ``service_code``, ``start_date``/``end_date`` (default
    the last 90 days), ``status`` (open|closed); newest first, at most 1000."""
    stmt = select(Task).where(Task.kind == "case", Task.source == "open311")
    ids = str(filters.get("service_request_id") or "").strip()
    if ids:
        wanted = [_id(i) for i in ids.split(",")[:MAX_LIST] if i.strip()]
        if None in wanted:
            raise Open311Error(400, "service_request_id is a comma list of ids.", "bad_id")
        stmt = stmt.where(Task.id.in_(wanted))
    else:
        start = _when(filters.get("start_date"), "start_date")
        end = _when(filters.get("end_date"), "end_date")
        if start is None:
            start = (end or utcnow()) - dt.timedelta(days=DEFAULT_DAYS)
        stmt = stmt.where(Task.created_at >= start)
        if end is not None:
            stmt = stmt.where(Task.created_at <= end)
        code = str(filters.get("service_code") or "").strip()
        if code:
            stmt = stmt.join(CaseCategory, CaseCategory.id == Task.category_id).where(
                CaseCategory.code.in_([c.strip() for c in code.split(",")])
            )
        status = str(filters.get("status") or "").strip()
        if status:
            wanted_status = set(status.split(","))
            if not wanted_status <= {"open", "closed"}:
                raise Open311Error(400, "status is open or closed.", "bad_status")
            if wanted_status == {"open"}:
                stmt = stmt.where(Task.status.in_(OPEN_STATUSES))
            elif wanted_status == {"closed"}:
                stmt = stmt.where(Task.status.not_in(OPEN_STATUSES))
    rows = list(
        db.session.scalars(stmt.order_by(Task.created_at.desc(), Task.id.desc()).limit(MAX_LIST))
    )
    steps = latest_steps([t.id for t in rows])
    return [public_view(t, steps.get(t.id, ("created", t.level, ""))) for t in rows]


def one(request_id: str) -> list[dict[str, Any]]:
    """One case as a one-item list (the standard's shape); 404 when unknown."""
    task = _case(request_id)
    return [public_view(task)]


def _id(value: str) -> int | None:
    """A request id as sent (digits, within the ids' range), else None."""
    value = value.strip()
    if value.isascii() and value.isdigit() and 0 < int(value) < 2**31:
        return int(value)
    return None


def _case(request_id: str) -> Task:
    number = _id(request_id)
    task = db.session.get(Task, number) if number is not None else None
    if task is None or task.kind != "case" or task.source != "open311":
        raise Open311Error(404, f"No service request {request_id[:20]}.", "not_found")
    return task


def token(token_id: str) -> list[dict[str, Any]]:
    """A token is the request's id (we answer with the id at once)."""
    task = _case(token_id)
    return [{"service_request_id": str(task.id), "token": str(task.id)}]


def _iso(value: dt.datetime | None) -> str | None:
    return None if value is None else value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def _agency(task: Task) -> str:
    if task.department_id:
        inst = db.session.get(Institution, task.department_id)
        return inst.name if inst else ""
    if task.area_id is None:
        return ""
    area_id = office_area_id(task.area_id, task.level or "cell")
    area = db.session.get(Area, area_id) if area_id else None
    return area.name if area else ""


def _photo(task: Task) -> str | None:
    for uuid in task.attachments or []:
        row = db.session.get(Attachment, str(uuid))
        if row is not None and row.content_type.startswith("image/"):
            return f"/open311/v2/media/{task.id}/{row.uuid}.jpg"
    return None


LEVEL_WORDS = {"cell": "网格", "community": "社区", "street": "街道", "district": "区"}
# The steps a public status note is made of (edits, assignments, merges into the case, ratings
# and feedback are not news to the public: the note stays the one of the step before them).
PUBLIC_STEPS = ("created", "accept", "settle", "escalate", "dispatch", "return", "verify",
                "close", "reopen", "cancel", "pause", "resume", "supervise",
                "recategorise")  # fmt: skip


def latest_steps(task_ids: list[int]) -> dict[int, tuple[str, str | None, str]]:
    """For each case: its latest public step (action, level after it) and the address given at
    intake (:func:`intake.given_address`), read for all of them at once."""
    out: dict[int, tuple[str, str | None, str]] = {}
    for start in range(0, len(task_ids), 500):
        chunk = task_ids[start : start + 500]
        rows = db.session.execute(
            select(TaskEvent.task_id, TaskEvent.action, TaskEvent.to_level, TaskEvent.note)
            .where(TaskEvent.task_id.in_(chunk), TaskEvent.action.in_(PUBLIC_STEPS))
            .order_by(TaskEvent.task_id, TaskEvent.id)
        )
        for task_id, action, level, note in rows:
            given = out[task_id][2] if task_id in out else ""
            if action == "created":
                given = intake.address_in(note)
            out[task_id] = (action, level, given)
    return out


def public_address(task: Task, given: str | None = None) -> str:
    """The address shown: the one given at intake (:func:`intake.given_address`), else the
    place's (its ``address`` attribute, else its name) — never a household's, whose name is a
    home's door number — else ""."""
    given = intake.given_address(task.id) if given is None else given
    if given:
        return given
    place = db.session.get(Place, task.place_id) if task.place_id else None
    if place is None or place.type == "household":
        return ""
    address = (place.attributes or {}).get("address")
    return str(address).strip() if isinstance(address, str) and address.strip() else place.name


def status_notes(task: Task, latest: tuple[str, str | None] | None = None) -> str:
    """A public line on where the case stands, from its latest step: fixed words for the step,
    the level holding it (网格, 社区, 街道, 区) and a department's name — which the answer shows
    as ``agency_responsible`` anyway. Never a note someone wrote (a settle result, a close or
    escalation reason, a pause reason): those are free text by workers and offices and may name
    residents, so they stay inside."""
    if latest is None:
        latest = db.session.execute(
            select(TaskEvent.action, TaskEvent.to_level)
            .where(TaskEvent.task_id == task.id, TaskEvent.action.in_(PUBLIC_STEPS))
            .order_by(TaskEvent.id.desc())
            .limit(1)
        ).first() or ("created", task.level)
    action, level = latest
    where = LEVEL_WORDS.get(level or task.level or "cell", "网格")
    dept = _agency(task) if task.department_id else ""
    if task.status == "cancelled":
        return "与其他请求重复，已合并处理" if task.duplicate_of_id else "已撤销"
    notes = {
        "created": f"已收到，由{where}处理",
        "accept": f"{dept or where}已受理",
        "settle": "已处置，待现场核查" if task.needs_verification else "已处置，待办结",
        "escalate": f"已上报至{where}处理",
        "dispatch": f"已交由{dept or where}处理",
        "return": f"已转回{where}处理",
        "verify": "已现场核查",
        "close": "已办结",
        "reopen": f"已重新处理，由{where}处理",
        "cancel": "已撤销",
        "pause": "暂缓处理，等待相关条件",
        "resume": f"恢复处理，由{dept or where}处理",
        "supervise": f"已列入督办，由{dept or where}处理",
        "recategorise": f"已调整类别，由{where}处理",
    }
    return notes.get(action, "")


def public_view(task: Task, facts: tuple[str, str | None, str] | None = None) -> dict[str, Any]:
    """A case as the public sees it: no reporter, no worker. ``facts``: its
    :func:`latest_steps` entry when the caller read many at once."""
    from geoalchemy2.shape import to_shape

    category = db.session.get(CaseCategory, task.category_id) if task.category_id else None
    point = to_shape(task.geom) if task.geom is not None else None
    return {
        "service_request_id": str(task.id),
        "status": "open" if task.status in OPEN_STATUSES else "closed",
        "status_notes": status_notes(task, facts[:2] if facts else None),
        "service_name": category.name if category else "",
        "service_code": category.code if category else "",
        "description": task.details or task.title,
        "agency_responsible": _agency(task),
        "service_notice": "",
        "requested_datetime": _iso(task.created_at),
        "updated_datetime": _iso(task.updated_at),
        "expected_datetime": _iso(task.level_due_at),
        "address": public_address(task, facts[2] if facts else None),
        "address_id": None,
        "zipcode": None,
        "lat": point.y if point else None,
        "long": point.x if point else None,
        "media_url": _photo(task),
    }


def public_photo(request_id: str, uuid: str) -> bytes:
    """A case's photo as JPEG, re-encoded from its pixels (no EXIF, XMP or GPS); 404 unless
    the photo belongs to the case."""
    from PIL import Image

    task = _case(request_id)
    row = (
        db.session.get(Attachment, uuid)
        if uuid in [str(a) for a in task.attachments or []]
        else None
    )
    if row is None or not row.content_type.startswith("image/"):
        raise Open311Error(404, "No such photo.", "not_found")
    path = Path(settings().attachments_root) / row.path
    with Image.open(path) as image:
        clean = Image.new("RGB", image.size)
        clean.paste(image.convert("RGB"))
    out = io.BytesIO()
    clean.save(out, format="JPEG", quality=85)
    return out.getvalue()
