"""Terminals: enrolment, sync down (bundle), sync up (visits), photos."""

from __future__ import annotations

from flask import current_app, jsonify, request, send_file
from flask.views import MethodView
from marshmallow import Schema, fields, validate

from api.common import BEARER, Blueprint, ListArgs
from gridserve.auth import accepts, current_principal, public
from gridserve.errors import AppError
from gridserve.models import VISIT_KINDS
from gridserve.services import attachments as attachment_service
from gridserve.services import bundle as bundle_service
from gridserve.services import devices as device_service
from gridserve.services import visits as visit_service
from gridserve.timeutil import local_today

blp = Blueprint("sync", __name__, description="Handheld terminals: enrolment and offline sync")


class EnrolSchema(Schema):
    code = fields.String(required=True, validate=validate.Length(min=4, max=80))
    label = fields.String(load_default="", validate=validate.Length(max=100))
    platform = fields.String(validate=validate.Length(max=60))
    app_version = fields.String(validate=validate.Length(max=40))


class DeviceTokenSchema(Schema):
    device_token = fields.String(metadata={"description": "Send as Authorization: Bearer"})
    device_id = fields.Integer()
    worker_id = fields.Integer()


class BundleArgs(Schema):
    since = fields.String(metadata={"description": "next_cursor of the last page; omit for all"})
    page_size = fields.Integer(validate=validate.Range(min=1, max=10_000))


class BundleSchema(Schema):
    reset = fields.Boolean(metadata={"description": "True: replace everything you hold"})
    more = fields.Boolean(metadata={"description": "True: ask again with next_cursor"})
    next_cursor = fields.String()
    server_time = fields.DateTime()
    cells = fields.Dict(allow_none=True, metadata={"description": "GeoJSON, on reset"})
    places = fields.List(fields.Dict())
    households = fields.List(fields.Dict())
    tasks = fields.List(fields.Dict(), metadata={"description": "Assigned to you, not closed"})
    tombstones = fields.List(fields.Dict())


class UploadSchema(Schema):
    device_time = fields.AwareDateTime(
        default_timezone=None, metadata={"description": "The terminal's clock when sending"}
    )
    items = fields.List(
        fields.Raw(),
        required=True,
        validate=validate.Length(min=1, max=visit_service.MAX_BATCH),
        metadata={"description": "Visit records; each is checked on its own"},
    )


class ItemResultSchema(Schema):
    uuid = fields.String(allow_none=True)
    status = fields.String(
        metadata={"description": "created, updated, duplicate, conflict or rejected"}
    )
    flags = fields.List(fields.String())
    errors = fields.Dict()
    code = fields.String()
    version = fields.Integer()


class UploadResultSchema(Schema):
    results = fields.List(fields.Nested(ItemResultSchema))


class VisitSchema(Schema):
    id = fields.Integer()
    uuid = fields.String()
    worker_id = fields.Integer()
    device_id = fields.Integer(allow_none=True)
    kind = fields.String()
    place_id = fields.Integer(allow_none=True)
    started_at = fields.DateTime()
    ended_at = fields.DateTime(allow_none=True)
    accuracy_m = fields.Float(allow_none=True)
    mock_location = fields.Boolean()
    notes = fields.String()
    answers = fields.Dict()
    attachments = fields.List(fields.String())
    flags = fields.List(fields.String())
    cell_code = fields.String(allow_none=True)
    version = fields.Integer()
    received_at = fields.DateTime()


class VisitListArgs(ListArgs):
    worker = fields.Integer()
    area = fields.Integer()
    kind = fields.String(validate=validate.OneOf(VISIT_KINDS))
    date = fields.Date()
    flag = fields.String()


class AttachmentSchema(Schema):
    uuid = fields.String()
    content_type = fields.String()
    size = fields.Integer()
    sha256 = fields.String()
    created_at = fields.DateTime()


@blp.route("/devices/enrol")
class Enrol(MethodView):
    @public
    @blp.arguments(EnrolSchema)
    @blp.response(201, DeviceTokenSchema)
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
        """The worker's cells, their places and households: all, or what changed since."""
        principal = current_principal()
        today = local_today()
        tag = bundle_service.etag(principal, args.get("since"), today)
        if request.if_none_match.contains(tag):
            return "", 304, {"ETag": f'"{tag}"'}
        size = args.get("page_size") or current_app.config["GRIDSERVE_SYNC_PAGE_SIZE"]
        body = bundle_service.build(principal, args.get("since"), today, size)
        return body, 200, {"ETag": f'"{tag}"'}  # no-store (gridserve.http_security)


@blp.route("/sync/visits")
class UploadVisits(MethodView):
    @blp.roles(*visit_service.UPLOADERS)
    @blp.arguments(UploadSchema)
    @blp.response(200, UploadResultSchema)
    @blp.doc(security=BEARER)
    def post(self, body):
        """Upload up to 500 visit/patrol records made offline; one result per item."""
        results = visit_service.upload(current_principal(), body["items"], body.get("device_time"))
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
    @blp.doc(security=BEARER)
    def patch(self, visit_uuid):
        """Edit one of your records; send `base_version`: 409 `stale_version` if it changed."""
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            raise AppError("Send the record as a JSON object.", code="validation_error", status=422)
        return visit_service.edit(current_principal(), str(visit_uuid), body)


@blp.route("/attachments/<uuid:attachment_uuid>")
class Attachments(MethodView):
    @blp.roles(*attachment_service.UPLOADERS)
    @accepts("image/jpeg", "image/png")
    @blp.response(201, AttachmentSchema)
    @blp.alt_response(200, schema=AttachmentSchema, description="Already stored, same bytes")
    @blp.doc(security=BEARER)
    def put(self, attachment_uuid):
        """Upload a photo (JPEG/PNG) under the terminal's UUID; `X-Content-SHA256` required."""
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
        """The photo itself."""
        row, path = attachment_service.get(current_principal(), str(attachment_uuid))
        # A household's photo: no-store like every answer to a signed-in caller (http_security).
        return send_file(path, mimetype=row.content_type, etag=row.sha256)
