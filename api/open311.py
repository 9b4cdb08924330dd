"""Open311 GeoReport v2 at ``/open311`` (public, no bearer token) and its API keys (admin).

Base URL for citizen apps: ``<server>/open311/v2/`` (discovery at
``<server>/open311/discovery.json`` or ``.xml``). Every endpoint answers in JSON or XML by its
suffix. Errors here are the standard's list — JSON ``[{"code", "description"}]``, XML
``<errors><error><code/><description/></error></errors>`` with the HTTP status as ``code`` —
the one documented exception to the API's error envelope. The rules are in
:mod:`gridserve.services.cases.open311`.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

from flask import Response, jsonify, request
from flask.views import MethodView
from marshmallow import Schema, fields, validate
from werkzeug.exceptions import HTTPException

from api.common import BEARER, Blueprint, UtcDateTime
from gridserve.auth import accepts, current_principal, public
from gridserve.errors import AppError
from gridserve.services.cases import open311 as service
from gridserve.timeutil import local_today

blp = Blueprint(
    "open311_keys", __name__, description="Open311 API keys: issued by an admin, shown once"
)
public_blp = Blueprint(
    "open311",
    __name__,
    description="Open311 GeoReport v2 (public, no token): base URL /open311/v2/; errors in the "
    "standard's list format, not the envelope",
)

FORMATS = ("json", "xml")
PLURAL = {
    "services": "service",
    "service_requests": "request",
    "errors": "error",
    "attributes": "attribute",
    "endpoints": "endpoint",
    "formats": "format",
}


# --- the standard's bodies ---------------------------------------------------------------------


def _xml_value(parent: ET.Element, name: str, value: Any) -> None:
    child = ET.SubElement(parent, name)
    if isinstance(value, list):
        for item in value:
            _xml_value(child, PLURAL.get(name, "item"), item)
    elif isinstance(value, dict):
        for key, inner in value.items():
            _xml_value(child, key, inner)
    elif isinstance(value, bool):
        child.text = "true" if value else "false"
    elif value is not None:
        child.text = str(value)


def _answer(fmt: str, root: str, body: Any, status: int = 200) -> Response:
    if fmt == "xml":
        element = ET.Element(root)
        if isinstance(body, list):
            for item in body:
                _xml_value(element, PLURAL.get(root, "item"), item)
        else:
            for key, value in body.items():
                _xml_value(element, key, value)
        data = ET.tostring(element, encoding="utf-8", xml_declaration=True)
        return Response(data, status=status, mimetype="text/xml")
    response = jsonify(body)
    response.status_code = status
    return response


def _absolute(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Photo URLs as absolute URLs on this server (the standard's media_url)."""
    host = request.host_url.rstrip("/")
    for row in rows:
        if str(row.get("media_url") or "").startswith("/"):
            row["media_url"] = host + row["media_url"]
    return rows


def _format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise service.Open311Error(404, "Ask for .json or .xml.", "not_found")
    return fmt


def _error_format() -> str:
    path = request.path.rsplit("/", 1)[-1]
    return "xml" if path.endswith(".xml") else "json"


def _errors(exc: Exception) -> Response:
    if isinstance(exc, AppError):
        status, description, headers = exc.status, exc.message, exc.headers or {}
        if exc.persist:
            from flask import g

            g.persist_on_error = True
    elif isinstance(exc, HTTPException):
        status, description, headers = exc.code or 500, exc.description or exc.name, {}
    else:  # pragma: no cover - anything else is the app's 500
        raise exc
    response = _answer(
        _error_format(), "errors", [{"code": status, "description": description}], status
    )
    for key, value in headers.items():
        response.headers[key] = value
    return response


public_blp.register_error_handler(AppError, _errors)
public_blp.register_error_handler(HTTPException, _errors)


def _count() -> None:
    service.count_request(request.remote_addr)


def _form() -> dict[str, Any]:
    if request.is_json:
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            raise service.Open311Error(400, "Send a JSON object or a form.", "bad_body")
        return body
    return {key: request.form.get(key) for key in request.form}


# --- routes ------------------------------------------------------------------------------------


@public_blp.route("/discovery.<string:fmt>")
class Discovery(MethodView):
    @public
    def get(self, fmt):
        """The GeoReport v2 discovery document: the one endpoint, its formats."""
        _count()
        base = request.host_url.rstrip("/") + "/open311/v2/"
        body = {
            "changeset": "2026-12-01T00:00:00Z",
            "contact": "The street's supervision centre",
            "key_service": "API keys are issued by an administrator.",
            "endpoints": [
                {
                    "specification": "http://wiki.open311.org/GeoReport_v2",
                    "url": base,
                    "changeset": "2026-12-01T00:00:00Z",
                    "type": "production",
                    "formats": ["application/json", "text/xml"],
                }
            ],
        }
        return _answer(_format(fmt), "discovery", body)


@public_blp.route("/v2/services.<string:fmt>")
class Services(MethodView):
    @public
    def get(self, fmt):
        """The active case categories as services."""
        _count()
        return _answer(_format(fmt), "services", service.services())


@public_blp.route("/v2/services/<string:code>.<string:fmt>")
class ServiceDefinition(MethodView):
    @public
    def get(self, code, fmt):
        """A service's definition (no attributes)."""
        _count()
        return _answer(_format(fmt), "service_definition", service.definition(code))


@public_blp.route("/v2/requests.<string:fmt>")
class Requests(MethodView):
    @public
    def get(self, fmt):
        """Service requests by the standard's filters (default: the last 90 days)."""
        fmt = _format(fmt)
        _count()
        return _answer(fmt, "service_requests", _absolute(service.find(request.args.to_dict())))

    @public
    @accepts("application/x-www-form-urlencoded", "multipart/form-data", "application/json")
    def post(self, fmt):
        """Report a problem: form-encoded (the standard) or JSON, with an ``api_key``."""
        fmt = _format(fmt)
        _count()
        made = service.submit(_form(), local_today())
        return _answer(fmt, "service_requests", made, 201)


@public_blp.route("/v2/requests/<string:request_id>.<string:fmt>")
class RequestItem(MethodView):
    @public
    def get(self, request_id, fmt):
        """One service request (a one-item list, as the standard says)."""
        fmt = _format(fmt)
        _count()
        return _answer(fmt, "service_requests", _absolute(service.one(request_id)))


@public_blp.route("/v2/tokens/<string:token_id>.<string:fmt>")
class Token(MethodView):
    @public
    def get(self, token_id, fmt):
        """A token resolves to the request's id (we answer with the id at once)."""
        fmt = _format(fmt)
        _count()
        return _answer(fmt, "service_requests", service.token(token_id))


@public_blp.route("/v2/media/<string:request_id>/<string:uuid>.jpg")
class Media(MethodView):
    @public
    def get(self, request_id, uuid):
        """A case's photo, re-encoded without EXIF, XMP or GPS."""
        _count()
        data = service.public_photo(request_id, uuid)
        response = Response(data, mimetype="image/jpeg")
        response.headers["Cache-Control"] = "public, max-age=3600"
        return response


# --- keys (admin) ------------------------------------------------------------------------------


class KeyInSchema(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=100))


class KeySchema(Schema):
    id = fields.Integer()
    name = fields.String()
    created_at = UtcDateTime()
    revoked_at = UtcDateTime(allow_none=True)
    last_used_at = UtcDateTime(allow_none=True)


class IssuedKeySchema(KeySchema):
    key = fields.String(metadata={"description": "The key itself: shown once, never again"})


@blp.route("/open311/keys")
class Keys(MethodView):
    @blp.roles()
    @blp.response(200, KeySchema(many=True))
    @blp.doc(security=BEARER)
    def get(self):
        """The Open311 keys (never the keys themselves)."""
        return service.list_keys(current_principal())

    @blp.roles()
    @blp.arguments(KeyInSchema)
    @blp.response(201, IssuedKeySchema)
    @blp.doc(security=BEARER)
    def post(self, body):
        """Issue a key: the answer is the only time it is shown."""
        row, key = service.issue_key(current_principal(), body["name"])
        fields_ = ("id", "name", "created_at", "revoked_at", "last_used_at")
        return {**{name: getattr(row, name) for name in fields_}, "key": key}


@blp.route("/open311/keys/<int:key_id>")
class KeyItem(MethodView):
    @blp.roles()
    @blp.response(200, KeySchema)
    @blp.doc(security=BEARER)
    def delete(self, key_id):
        """Revoke a key: its requests are refused with 403 from now on."""
        return service.revoke_key(current_principal(), key_id)
