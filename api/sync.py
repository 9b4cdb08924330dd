"""Terminals: enrolment, sync down (bundle), sync up (visits), photos."""

from __future__ import annotations

import datetime as dt

from flask import jsonify, request, send_file
from flask.views import MethodView
from marshmallow import Schema, ValidationError, fields, post_load, validate, validates_schema

from api.common import BEARER, AwareDateTime, Blueprint, Date, Id, Integer, ListArgs
from api.outreach_visits import SmeVisitFieldsSchema
from gridserve.auth import accepts, current_principal, public
from gridserve.config import settings
from gridserve.errors import AppError
from gridserve.inputs import InvalidText, JSONTooDeep, scan
from gridserve.models import TASK_PRIORITIES, VISIT_KINDS
from gridserve.request_checks import checks_text_per_item
from gridserve.services.field import attachments as attachment_service
from gridserve.services.field import bundle as bundle_service
from gridserve.services.field import devices as device_service
from gridserve.services.field import tasks as task_service
from gridserve.services.field import visits as visit_service
from gridserve.timeutil import local_today

blp = Blueprint("sync", __name__, description="Handheld terminals: enrolment and offline sync")


class EnrolSchema(Schema):
    code = fields.String(required=True, validate=validate.Length(min=4, max=80))
    label = fields.String(load_default="", validate=validate.Length(max=100))
    platform = fields.String(validate=validate.Length(max=60))
    app_version = fields.String(validate=validate.Length(max=40))


class DeviceTokenSchema(Schema):
    device_token = fields.String(metadata={"description": "Send as Authorization: Bearer"})
    device_id = Integer()
    worker_id = Integer()


class BundleArgs(Schema):
    since = fields.String(metadata={"description": "next_cursor of the last page; omit for all"})
    page_size = Integer(validate=validate.Range(min=1, max=10_000))


class BundleSchema(Schema):
    reset = fields.Boolean(metadata={"description": "True: replace everything you hold"})
    more = fields.Boolean(metadata={"description": "True: ask again with next_cursor"})
    next_cursor = fields.String()
    server_time = fields.DateTime()
    cells = fields.Dict(allow_none=True, metadata={"description": "GeoJSON, on reset"})
    places = fields.List(fields.Dict())
    households = fields.List(fields.Dict())
    tasks = fields.List(
        fields.Dict(),
        metadata={"description": "Assigned to you, not closed (a case until closed or "
                  "cancelled). Besides the task's fields, where a case stands on the ladder: "
                  "category (code), category_name, level, level_started_at, level_due_at, "
                  "overdue (at server_time: open or accepted, past level_due_at, not paused), "
                  "paused, paused_at, pause_reason, escalations, supervised, "
                  "supervision_due_at, department_id (dispatched to), needs_verification; "
                  "null or false for a task. Take a step with POST /tasks/{id}/{step} naming "
                  "`version`"},
    )  # fmt: skip
    tombstones = fields.List(
        fields.Dict(),
        metadata={"description": '{"entity", "id"}; entity place, household, task or event '
                  "(an outreach event moved out of your cells)"},
    )  # fmt: skip
    events = fields.List(
        fields.Dict(),
        metadata={"description": "Outreach events at a venue in your cells, read-only: id, "
                  "programme_id, kind, title, starts_at, ends_at (local offset), venue "
                  "{place_id, address, lon, lat, confirmed}, status (drop a cancelled one), "
                  "host, lead, co_organisers (codes), version, change_seq"},
    )  # fmt: skip
    sme_enterprises = fields.List(
        fields.Dict(),
        metadata={"description": "Enterprises of visits programmes you visit (visitor `cell`, "
                  "place in one of your cells): id, programme_id, programme_code, credit_code, "
                  "name, address, industry, institution (code), place_id, lon, lat, status "
                  "(listed, visited, closed), version; record a visit with an `sme_visit` item "
                  "naming programme_id and enterprise_id"},
    )  # fmt: skip
    case_categories = fields.List(
        fields.Dict(),
        allow_none=True,
        metadata={"description": "The active case categories for reporting a case (`category` "
                  "of a `case` upload item): id, code, name, name_en, report_class, "
                  "start_level, to_street_at_once. The whole list (replace what you hold) on a "
                  "reset and when they changed since your cursor; null otherwise"},
    )  # fmt: skip


class VisitLocationSchema(Schema):
    lon = fields.Float(required=True, validate=validate.Range(min=-180, max=180))
    lat = fields.Float(required=True, validate=validate.Range(min=-90, max=90))
    accuracy_m = fields.Float(
        allow_none=True, validate=validate.Range(min=0), metadata={"description": "Metres"}
    )


class VisitItemSchema(Schema):
    """One visit or patrol record made offline (also the body of `PATCH /visits/{uuid}`)."""

    uuid = fields.UUID(required=True, metadata={"description": "Made on the terminal"})
    type = fields.String(required=True, validate=validate.OneOf(VISIT_KINDS))
    place_id = Id(allow_none=True)
    started_at = AwareDateTime(
        required=True,
        validate=validate.Range(
            min=dt.datetime(2000, 1, 1, tzinfo=dt.UTC),
            max=dt.datetime(2101, 1, 1, tzinfo=dt.UTC),
            error="Between 2000 and 2100.",
        ),
    )
    ended_at = AwareDateTime(allow_none=True)
    location = fields.Nested(VisitLocationSchema, allow_none=True)
    mock_location = fields.Boolean(load_default=False)
    notes = fields.String(allow_none=True, load_default="", validate=validate.Length(max=5000))
    answers = fields.Dict(keys=fields.String(), allow_none=True, load_default=dict)
    attachments = fields.List(
        fields.UUID(), allow_none=True, load_default=list, validate=validate.Length(max=20),
        metadata={"description": "UUIDs of photos sent with PUT /attachments/{uuid}"},
    )  # fmt: skip
    base_version = Integer(
        allow_none=True,
        validate=validate.Range(min=1),
        metadata={"description": "For an edit: the version it was based on"},
    )
    programme_id = Id(
        allow_none=True,
        metadata={"description": "`sme_visit` of a visits programme: the programme (with "
                  "`enterprise_id` and `sme`; visited_at is `started_at`)"},
    )  # fmt: skip
    enterprise_id = Id(
        allow_none=True,
        metadata={"description": "An enterprise of that programme's list in a cell you hold"},
    )
    sme = fields.Nested(
        SmeVisitFieldsSchema,
        allow_none=True,
        metadata={"description": "The visit record (fields of POST /outreach/visits)"},
    )

    @validates_schema
    def _rules(self, data: dict, **_kwargs) -> None:
        errors = visit_service.record_errors(data)  # the same rules for an upload and a PATCH
        if errors:
            raise ValidationError(errors)

    @validates_schema
    def _sme(self, data: dict, **_kwargs) -> None:
        if data.get("programme_id") is None:
            if data.get("enterprise_id") is not None or data.get("sme") is not None:
                raise ValidationError({"programme_id": ["Required with enterprise_id and sme."]})
            return
        errors = {}
        if data.get("type") != "sme_visit":
            errors["type"] = ["Only an sme_visit names a programme."]
        if data.get("enterprise_id") is None:
            errors["enterprise_id"] = ["Required with programme_id."]
        if data.get("sme") is None:
            errors["sme"] = ["Required with programme_id."]
        if errors:
            raise ValidationError(errors)

    @post_load
    def _plain(self, data: dict, **_kwargs) -> dict:
        data["uuid"] = str(data["uuid"])
        data["notes"] = data.get("notes") or ""
        data["answers"] = data.get("answers") or {}
        data["attachments"] = [str(a) for a in data.get("attachments") or []]
        data.setdefault("place_id", None)
        data.setdefault("ended_at", None)
        data.setdefault("location", None)
        data.setdefault("base_version", None)
        if data["location"] is not None:
            data["location"].setdefault("accuracy_m", None)
        if data.get("programme_id") is None:  # a plain record: its content as before
            for key in ("programme_id", "enterprise_id", "sme"):
                data.pop(key, None)
        return data


class CaseItemSchema(Schema):
    """A problem (case, 事件) reported offline: stored as a task of kind `case`, assigned to
    the reporting worker, once per `uuid` (like `POST /tasks` with a `uuid`)."""

    uuid = fields.UUID(required=True, metadata={"description": "Made on the terminal"})
    type = fields.String(required=True, validate=validate.Equal("case"))
    title = fields.String(
        required=True, validate=validate.Length(min=1, max=task_service.TITLE_MAX)
    )
    details = fields.String(load_default="", validate=validate.Length(max=task_service.DETAILS_MAX))
    place_id = Id(allow_none=True, metadata={"description": "The place it concerns"})
    location = fields.Nested(
        VisitLocationSchema, allow_none=True, metadata={"description": "Where it was seen"}
    )
    priority = fields.String(load_default="normal", validate=validate.OneOf(TASK_PRIORITIES))
    category = fields.String(
        load_default=None, allow_none=True, validate=validate.Length(min=1, max=40),
        metadata={"description": "The case's category code (GET /case-categories); left out "
                  "by older terminals, the case is filed under `other`"},
    )  # fmt: skip
    attachments = fields.List(
        fields.UUID(), load_default=list, validate=validate.Length(max=20),
        metadata={"description": "UUIDs of photos sent with PUT /attachments/{uuid}"},
    )  # fmt: skip
    observed_at = AwareDateTime(
        allow_none=True,
        validate=validate.Range(
            min=dt.datetime(2000, 1, 1, tzinfo=dt.UTC),
            max=dt.datetime(2101, 1, 1, tzinfo=dt.UTC),
            error="Between 2000 and 2100.",
        ),
        metadata={"description": "When the problem was seen"},
    )

    @post_load
    def _plain(self, data: dict, **_kwargs) -> dict:
        data["uuid"] = str(data["uuid"])
        data["attachments"] = [str(a) for a in data.get("attachments") or []]
        data.setdefault("place_id", None)
        data.setdefault("location", None)
        data.setdefault("observed_at", None)
        if data["location"] is not None:
            data["location"].setdefault("accuracy_m", None)
        return data


_ITEM = VisitItemSchema()
_CASE = CaseItemSchema()


def _flat(errors: dict, prefix: str = "") -> dict[str, list]:
    """marshmallow's nested errors as the envelope's dotted field names."""
    out: dict[str, list] = {}
    for key, value in errors.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flat(value, f"{name}."))
        else:
            out[name] = value
    return out


def check_item(raw: object) -> dict | visit_service.Rejected:
    """One uploaded record through the schema: the clean record, or why it is rejected."""
    ident = raw.get("uuid") if isinstance(raw, dict) else None
    ident = str(ident) if isinstance(ident, (str, int)) and str(ident).isprintable() else None
    if not isinstance(raw, dict):
        return visit_service.Rejected(None, {"_schema": ["Each item must be a JSON object."]})
    try:
        scan(raw)
    except (InvalidText, JSONTooDeep) as exc:
        errors = exc.details.get("fields") or {"_schema": [exc.message]}
        return visit_service.Rejected(ident, errors, code=exc.code)
    try:
        return (_CASE if raw.get("type") == "case" else _ITEM).load(raw)
    except ValidationError as exc:
        sme = raw.get("type") == "sme_visit" and any(
            raw.get(k) is not None for k in ("programme_id", "enterprise_id", "sme")
        )
        code = "invalid_sme_visit" if sme else "validation_error"
        return visit_service.Rejected(ident, _flat(exc.normalized_messages()), code=code)


class _Items(fields.List):
    """Documented as a list of visit records; loaded as they came, each checked on its own."""

    def _deserialize(self, value, attr, data, **kwargs) -> list:
        if not isinstance(value, list):
            raise self.make_error("invalid")
        return value


class UploadSchema(Schema):
    device_time = AwareDateTime(metadata={"description": "The terminal's clock when sending"})
    items = _Items(
        fields.Nested(VisitItemSchema),
        required=True,
        validate=validate.Length(min=1, max=visit_service.MAX_BATCH),
        metadata={"description": "Visit and patrol records (`type` visit, patrol) and cases "
                  "(`type` case: CaseItemSchema); each is checked on its own: a bad one is "
                  "`rejected` in its result and the others are stored"},
    )  # fmt: skip


class ItemResultSchema(Schema):
    uuid = fields.String(allow_none=True)
    status = fields.String(
        validate=validate.OneOf(["created", "updated", "duplicate", "conflict", "rejected"])
    )
    flags = fields.List(fields.String())
    errors = fields.Dict()
    code = fields.String()
    version = Integer()
    task_id = Integer(metadata={"description": "A case: the task it is stored as"})


class UploadResultSchema(Schema):
    results = fields.List(fields.Nested(ItemResultSchema))


class VisitSchema(Schema):
    id = Integer()
    uuid = fields.String()
    worker_id = Integer()
    device_id = Integer(allow_none=True)
    kind = fields.String()
    place_id = Integer(allow_none=True)
    started_at = fields.DateTime()
    ended_at = fields.DateTime(allow_none=True)
    accuracy_m = fields.Float(allow_none=True)
    mock_location = fields.Boolean()
    notes = fields.String()
    answers = fields.Dict()
    attachments = fields.List(fields.String())
    flags = fields.List(fields.String())
    cell_code = fields.String(allow_none=True)
    version = Integer()
    received_at = fields.DateTime()


class VisitListArgs(ListArgs):
    worker = Id()
    area = Id()
    kind = fields.String(validate=validate.OneOf(VISIT_KINDS))
    date = Date()
    flag = fields.String()


class AttachmentSchema(Schema):
    uuid = fields.String()
    content_type = fields.String()
    size = Integer()
    sha256 = fields.String()
    created_at = fields.DateTime()
    event_id = Integer(
        allow_none=True, metadata={"description": "The outreach event it is filed for"}
    )


@blp.route("/devices/enrol")
class Enrol(MethodView):
    @public
    @blp.arguments(EnrolSchema)
    @blp.response(201, DeviceTokenSchema)
    @blp.alt_response(401, description="`enrolment_code_invalid`: unknown, used or expired")
    def post(self, body):
        """Exchange a one-time enrolment code for this terminal's token."""
        return device_service.enrol(
            body["code"],
            label=body.get("label") or "",
            platform=body.get("platform"),
            app_version=body.get("app_version") or request.headers.get("X-App-Version"),
        )


@blp.route("/sync/bundle")
class Bundle(MethodView):
    @blp.roles(*bundle_service.READERS)
    @blp.arguments(BundleArgs, location="query")
    @blp.response(200, BundleSchema)
    @blp.doc(security=BEARER)
    def get(self, args):
        """The worker's cells, their places, households, tasks and outreach events: all, or what
        changed since."""
        principal = current_principal()
        today = local_today()
        held = bundle_service.holdings(principal, today)  # read once for both
        tag = bundle_service.etag(principal, args.get("since"), today, held)
        if request.if_none_match.contains(tag):
            return "", 304, {"ETag": f'"{tag}"'}
        size = args.get("page_size") or settings().sync_page_size
        body = bundle_service.build(principal, args.get("since"), today, size, held)
        return body, 200, {"ETag": f'"{tag}"'}  # no-store (gridserve.http_security)


@blp.route("/sync/visits")
class UploadVisits(MethodView):
    @blp.roles(*visit_service.UPLOADERS)
    @checks_text_per_item
    @blp.arguments(UploadSchema)
    @blp.response(200, UploadResultSchema)
    @blp.doc(security=BEARER)
    def post(self, body):
        """Upload up to 500 visit/patrol records and cases made offline; one result per item.

        A case (`type: case`) is stored as a task of kind `case` assigned to you, once per
        `uuid`: the same again is `duplicate`, other content under its UUID is `conflict`
        (`uuid_taken`); a place out of your area is `rejected` (`unknown_place`), a location
        outside your communities too (`outside_coverage`; outside every community:
        `outside_area`), and an unknown or inactive `category` (`unknown_category`,
        `category_inactive`). It goes through case intake like `POST /tasks`: its category's
        level and deadline, the street told at once for urgent categories.
        """
        items = [check_item(raw) for raw in body["items"]]
        results = visit_service.upload(current_principal(), items, body.get("device_time"))
        return jsonify({"results": results})  # already plain JSON: skip a 500-item schema dump


@blp.route("/visits")
class Visits(MethodView):
    @blp.roles(*visit_service.READERS)
    @blp.arguments(VisitListArgs, location="query")
    @blp.response(200, VisitSchema(many=True))
    @blp.paginate_select()
    @blp.doc(security=BEARER)
    def get(self, args):
        """Visits in your scope (a worker: their own)."""
        return visit_service.list_visits(
            current_principal(),
            worker_id=args.get("worker"),
            area_id=args.get("area"),
            kind=args.get("kind"),
            day=args.get("date"),
            flag=args.get("flag"),
            sort=args.get("sort"),
        )


@blp.route("/visits/<uuid:visit_uuid>")
class VisitItem(MethodView):
    @blp.roles(*visit_service.UPLOADERS)
    @blp.response(200, ItemResultSchema)
    @blp.doc(
        security=BEARER,
        requestBody={
            "required": True,
            "content": {"application/json": {"schema": VisitItemSchema}},
        },
    )
    def patch(self, visit_uuid):
        """Edit one of your records; send `base_version`: 409 `stale_version` if it changed."""
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            raise AppError("Send the record as a JSON object.", code="validation_error", status=422)
        if body.get("type") == "case":  # a case is a task: PATCH /tasks/{id}
            raise AppError("A case is changed through /tasks.", code="validation_error",
                           status=422, details={"fields": {"type": ["Not a visit."]}})  # fmt: skip
        item = check_item({**body, "uuid": str(visit_uuid)})
        if isinstance(item, visit_service.Rejected):
            raise AppError("The record is not valid.", code=item.code, status=422,
                           details={"fields": item.errors})  # fmt: skip
        return visit_service.edit(current_principal(), item)


@blp.route("/attachments/<uuid:attachment_uuid>")
class Attachments(MethodView):
    @blp.roles(*attachment_service.UPLOADERS)
    @accepts(*attachment_service.ACCEPTED)
    @blp.response(201, AttachmentSchema)
    @blp.alt_response(200, schema=AttachmentSchema, description="Already stored, same bytes")
    @blp.doc(security=BEARER)
    def put(self, attachment_uuid):
        """Upload a photo (JPEG/PNG) under the terminal's UUID; `X-Content-SHA256` required.

        Institution contacts and coordinators upload the outreach desk's files the same way
        (JPEG, PNG or PDF: site plans, report photos); a plan or report then names them.
        """
        row, created = attachment_service.put(
            current_principal(),
            str(attachment_uuid),
            request.mimetype,
            request.get_data(cache=False),
            request.headers.get("X-Content-SHA256"),
        )
        return attachment_service.describe(row), 201 if created else 200

    @blp.roles(*attachment_service.READERS)
    @blp.doc(security=BEARER)
    def get(self, attachment_uuid):
        """The photo or file itself (404 out of scope: a desk file is read by its uploader,
        the participants of its event, the coordinator and the area users over the venue)."""
        row, path = attachment_service.get(current_principal(), str(attachment_uuid))
        # A household's photo: no-store like every answer to a signed-in caller (http_security).
        return send_file(path, mimetype=row.content_type, etag=row.sha256)
