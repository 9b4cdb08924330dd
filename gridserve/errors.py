"""The one error envelope: ``{"error": {"code", "message", "details"}}``.

Services raise :class:`AppError` (or a subclass) and never build responses.
Every error reaching Flask, ours, werkzeug's, webargs' validation errors and
unexpected exceptions, is turned into the envelope here, with the right status.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from flask import Flask, g, jsonify, request
from marshmallow import Schema, fields
from sqlalchemy.exc import DataError, IntegrityError, OperationalError
from werkzeug.exceptions import HTTPException

log = logging.getLogger("gridserve.errors")


class AppError(Exception):
    """An error a client caused or must know about, with its HTTP status."""

    status = 400
    code = "bad_request"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status: int | None = None,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        persist: bool = False,
    ) -> None:
        super().__init__(message)
        # True when what the request wrote is the record of this very failure
        # (a failed sign-in): the boundary then commits instead of rolling back.
        self.persist = persist
        self.message = message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        self.details = details or {}
        self.headers = headers or {}


class NotFound(AppError):
    """Does not exist, or exists outside the caller's scope (never tell which)."""

    status = 404
    code = "not_found"


class Unauthorized(AppError):
    status = 401
    code = "unauthorized"


class Forbidden(AppError):
    status = 403
    code = "forbidden"


class Conflict(AppError):
    status = 409
    code = "conflict"


class ValidationFailed(AppError):
    status = 422
    code = "validation_error"


class TooManyRequests(AppError):
    status = 429
    code = "too_many_requests"


class ErrorBodySchema(Schema):
    code = fields.String(required=True, metadata={"example": "validation_error"})
    message = fields.String(required=True)
    details = fields.Dict(metadata={"description": "Machine-readable specifics, per error code"})


class ErrorEnvelopeSchema(Schema):
    """Documented in OpenAPI as the body of every error response."""

    error = fields.Nested(ErrorBodySchema, required=True)


# werkzeug's HTTP errors, by status, as our codes.
_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "too_many_requests",
}


def error_response(
    status: int,
    code: str,
    message: str,
    details: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
):
    """Build the envelope response; the only place that shapes an error body."""
    resp = jsonify({"error": {"code": code, "message": message, "details": details or {}}})
    resp.status_code = status
    for key, value in (headers or {}).items():
        resp.headers[key] = value
    return resp


def _webargs_details(messages: dict[str, Any]) -> dict[str, Any]:
    """webargs reports ``{"json": {...}, "query": {...}}``; keep the field maps."""
    fields_: dict[str, Any] = {}
    for location, errs in messages.items():
        if isinstance(errs, dict):
            for name, msgs in errs.items():
                fields_[name if location == "json" else f"{location}.{name}"] = msgs
        else:
            fields_[location] = errs
    return {"fields": fields_}


def handle_app_error(exc: AppError):
    if exc.persist:
        g.persist_on_error = True
    return error_response(exc.status, exc.code, exc.message, exc.details, exc.headers)


def handle_http_exception(exc: HTTPException):
    status = exc.code or 500
    if status >= 500:
        return handle_unexpected(exc)
    data = getattr(exc, "data", None) or {}
    messages = data.get("messages")
    if status == 422 and messages is not None:
        return error_response(
            422, "validation_error", "The request is not valid.", _webargs_details(messages)
        )
    if status == 400 and messages == {"json": ["Invalid JSON body."]}:
        return error_response(400, "malformed_json", "The request body is not valid JSON.")
    if status == 405:
        allowed = sorted(getattr(exc, "valid_methods", None) or [])
        headers = {"Allow": ", ".join(allowed)} if allowed else None
        return error_response(
            405,
            "method_not_allowed",
            f"{request.method} is not allowed here.",
            {"allowed": allowed},
            headers,
        )
    if status == 404:
        return error_response(404, "not_found", "No such resource.")
    if status == 413:
        limit = request.max_content_length
        return error_response(
            413,
            "payload_too_large",
            "The request body is larger than this server accepts.",
            {"limit_bytes": limit},
        )
    message = data.get("message") or exc.description or exc.name
    return error_response(status, _HTTP_CODES.get(status, "http_error"), message)


def handle_integrity_error(exc: IntegrityError):
    """A constraint the database enforces was hit: the client's request conflicts."""
    diag = getattr(exc.orig, "diag", None)
    constraint = getattr(diag, "constraint_name", None) or str(exc.orig).split(":")[-1].strip()
    # The constraint only: the database's message quotes the conflicting values.
    log.info("integrity error: %s", constraint)
    return error_response(
        409,
        "conflict",
        "The request conflicts with data already stored.",
        {"constraint": constraint},
    )


def handle_out_of_range(exc: Exception):
    """A number or date too large for Python or the database: the client's input."""
    log.info("value out of range: %s", type(exc).__name__)  # its text may quote the input
    return error_response(
        422,
        "value_out_of_range",
        "A number, date or text in the request is out of the accepted range.",
    )


def handle_operational_error(exc: OperationalError):
    log.exception("database unavailable")
    return error_response(
        503,
        "database_unavailable",
        "The database is not reachable right now; try again shortly.",
        {"correlation_id": _correlation_id()},
        {"Retry-After": "5"},
    )


def _correlation_id() -> str:
    cid = getattr(g, "request_id", None)
    if not cid:
        cid = uuid.uuid4().hex
        g.request_id = cid
    return cid


def handle_unexpected(exc: BaseException):
    cid = _correlation_id()
    original = getattr(exc, "original_exception", None) or exc
    log.error("unhandled error [%s]", cid, exc_info=original)
    return error_response(
        500,
        "internal_error",
        "Something went wrong on our side. Quote the correlation id when reporting it.",
        {"correlation_id": cid},
    )


def init_app(app: Flask) -> None:
    app.register_error_handler(AppError, handle_app_error)
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(IntegrityError, handle_integrity_error)
    app.register_error_handler(DataError, handle_out_of_range)
    app.register_error_handler(OverflowError, handle_out_of_range)
    app.register_error_handler(OperationalError, handle_operational_error)
    app.register_error_handler(Exception, handle_unexpected)
