"""Pieces every resource family uses: the list convention, the security note, shared fields."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import flask_smorest.pagination as _smorest_pagination
from flask import make_response
from flask_smorest import Blueprint as _Blueprint
from marshmallow import Schema, ValidationError, fields, post_load, validate
from webargs.core import missing
from webargs.flaskparser import FlaskParser, is_json_request

from gridserve import auth
from gridserve.errors import ErrorEnvelopeSchema
from gridserve.pagination import SelectPage

PAGE_SIZE = 50
MAX_PAGE_SIZE = 500
BEARER = [{"bearerAuth": []}]


class _Parser(FlaskParser):
    """webargs' Flask parser, reading the JSON body Flask has already parsed (and checked)."""

    def _raw_load_json(self, req):
        if not is_json_request(req):
            return missing
        body = req.get_json(silent=True, cache=True)
        if body is None and req.get_data(cache=True).strip():
            return super()._raw_load_json(req)  # let webargs report the malformed body
        return missing if body is None else body


def _page_params_schema(def_page: int, def_page_size: int, def_max_page_size: int) -> type:
    """flask-smorest's page parameters, with the bounds documented on both (page <= 2**31-1)."""

    class PaginationParametersSchema(Schema):
        class Meta:
            unknown = "exclude"

        page = fields.Integer(load_default=def_page, validate=validate.Range(min=1, max=MAX_ID))
        page_size = fields.Integer(
            load_default=def_page_size, validate=validate.Range(min=1, max=def_max_page_size)
        )

        @post_load
        def make_paginator(self, data: dict, **_kwargs: Any) -> Any:
            return _smorest_pagination.PaginationParameters(**data)

    return PaginationParametersSchema


# flask-smorest builds this schema in a module function without an upper bound on ``page``
# (a page past 2**63 rows overflows the OFFSET); ours replaces it (flask-smorest is pinned).
_smorest_pagination._pagination_parameters_schema_factory = _page_params_schema

# What any operation may answer besides its own responses, by condition (see
# ``Blueprint._document_errors``): the OpenAPI document lists every status a client can get.
_ERRORS = {
    "400": "Malformed JSON (`malformed_json`) or nested too deep (`json_too_deep`)",
    "401": "No valid access token: `token_missing`, `token_invalid`, `token_expired` (sign in "
    "or enrol again), `token_revoked`, `device_revoked` (a revoked terminal), "
    "`account_disabled`",
    "403": "Not allowed for this caller: a terminal's token outside field work "
    "(`device_token_not_allowed`), or a rule of the operation (specific codes)",
    "404": "No such resource in your scope (`not_found`)",
    "409": "Conflicts with stored data (`conflict` and specific codes)",
    "413": "The body is larger than the server accepts (`payload_too_large`)",
    "415": "The body's Content-Type is not accepted (`unsupported_media_type`)",
    "422": "Input that is not valid (`validation_error`, `invalid_text` and specific codes)",
    "431": "A request header is too large (`header_too_large`)",
    "503": "The database is not reachable (`database_unavailable`)",
}
_BODY_METHODS = {"post", "put", "patch"}
_WRITE_METHODS = _BODY_METHODS | {"delete"}


class Blueprint(_Blueprint):
    """A flask-smorest Blueprint whose endpoints need a bearer token unless @public.

    Its OpenAPI documentation is completed in one place: every operation gets the
    error statuses it can answer (by method, path parameters, body and token), the
    bearer security unless it is public, and ``X-Pagination`` as the string it is.
    """

    ARGUMENTS_PARSER = _Parser()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._rules: dict[str, str] = {}
        self._prepare_doc_cbks.append(self._document_errors)

    def roles(self, *allowed: str):
        """Only these roles (and admin) may call the operation; none given: admin only.

        The one way an operation is limited by role: refused with 403 `forbidden_role`
        before the body or query is read, and documented as such in the OpenAPI document.
        Pass the role tuples the services define (e.g. ``worker_service.MANAGERS``).
        """
        names = sorted({"admin", *allowed})
        doc = self.alt_response(
            403,
            schema=ErrorEnvelopeSchema,
            description="`forbidden_role`: only " + ", ".join(names) + " may do this.",
        )
        mark = auth.roles(*allowed)

        def decorator(view):
            return mark(doc(view))

        return decorator

    def paginate_select(
        self, present: Callable[[list], list] | None = None, *, by_key: bool = False
    ):
        """``page``/``page_size`` over the SELECT a view returns (totals in X-Pagination).

        ``present(rows)``: the service call that readies one page's rows for the schema.
        ``by_key``: read the page's keys first, then its rows (deep pages of a long list whose
        filters and order an index covers).
        """
        pager = SelectPage
        if present is not None or by_key:
            extra = {"by_key": by_key}
            if present is not None:
                extra["present"] = staticmethod(present)
            pager = type("PresentedPage", (SelectPage,), extra)
        return self.paginate(pager, page_size=PAGE_SIZE, max_page_size=MAX_PAGE_SIZE)

    def add_url_rule(self, rule: str, endpoint: str | None = None, view_func=None, **kwargs):
        self._rules[endpoint or getattr(view_func, "__name__", "")] = rule
        return super().add_url_rule(rule, endpoint, view_func, **kwargs)

    def _store_endpoint_docs(self, endpoint, obj, parameters, tags, **options):
        super()._store_endpoint_docs(endpoint, obj, parameters, tags, **options)
        rule = self._rules.get(endpoint, "")
        for method, doc in self._docs[endpoint].items():
            if method == "parameters":
                continue
            func = getattr(obj, method, None) if isinstance(obj, type) else obj
            doc["gridserve"] = {
                "public": bool(getattr(func, "_gridserve_public", False)),
                "accepts": list(getattr(func, "_gridserve_accepts", ("application/json",))),
                "path_params": "<" in rule,
            }

    def _document_pagination_metadata(self, spec, resp_doc) -> None:
        resp_doc.setdefault("headers", {})[self.PAGINATION_HEADER_NAME] = {
            "description": "JSON text: total, total_pages, first_page, last_page, page, "
            "previous_page, next_page",
            "schema": {"type": "string"},
            "example": '{"total":4,"total_pages":2,"first_page":1,"last_page":2,"page":2,'
            '"previous_page":1}',
        }

    @staticmethod
    def _document_errors(doc: dict, doc_info: dict, *, method: str, **_kwargs: Any) -> dict:
        info = doc_info.get("gridserve")
        if info is None:
            return doc
        codes = {"422", "431", "503"}
        if not info["public"]:
            codes |= {"401", "403"}
            doc.setdefault("security", BEARER)
        if info["path_params"] or not info["public"]:
            codes.add("404")  # also an id in the query or body naming nothing in your scope
        if method in _WRITE_METHODS:
            codes.add("409")
        if method in _BODY_METHODS:
            codes |= {"413", "415"}
            if "application/json" in info["accepts"]:
                codes.add("400")
        responses = doc.setdefault("responses", {})
        responses.pop("default", None)
        for code in sorted(codes - {str(key) for key in responses}):
            responses.setdefault(
                code,
                {"description": _ERRORS[code], "content": {"application/json": {"schema": {
                    "$ref": "#/components/schemas/ErrorEnvelope"}}}},
            )  # fmt: skip
        return doc


class ListArgs(Schema):
    sort = fields.String(
        metadata={
            "description": "Comma-separated field names; prefix with '-' for descending, "
            "e.g. `-created_at,name`."
        }
    )


class OkSchema(Schema):
    ok = fields.Boolean(required=True)


# --- shared fields ----------------------------------------------------------------------
# Every time and date the API accepts goes through these, so none can reach Python's or
# the database's range limits (year 1 at +23:59 is year 0 in UTC): out of range is a 422.

MIN_YEAR, MAX_YEAR = 1900, 2200
MAX_ID = 2**31 - 1
_RANGE = f"years {MIN_YEAR}-{MAX_YEAR}"


class AwareDateTime(fields.AwareDateTime):
    """An ISO 8601 time with its UTC offset, within years 1900-2200 once in UTC."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("metadata", {})
        description = kwargs["metadata"].get("description")
        note = f"ISO 8601 with its UTC offset, {_RANGE}"
        kwargs["metadata"]["description"] = f"{description} ({note})" if description else note
        super().__init__(default_timezone=None, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> dt.datetime:
        parsed = super()._deserialize(value, attr, data, **kwargs)
        try:
            year = parsed.astimezone(dt.UTC).year
        except (OverflowError, ValueError):
            year = None
        if year is None or not MIN_YEAR <= year <= MAX_YEAR:
            raise ValidationError(f"A time within {_RANGE} (UTC).")
        return parsed


class UtcDateTime(fields.DateTime):
    """A stored time shown as ISO 8601 in UTC."""

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> str | None:
        return None if value is None else value.astimezone(dt.UTC).isoformat()


class Date(fields.Date):
    """An ISO 8601 date within years 1900-2200."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> dt.date:
        parsed = super()._deserialize(value, attr, data, **kwargs)
        if not MIN_YEAR <= parsed.year <= MAX_YEAR:
            raise ValidationError(f"A date within {_RANGE}.")
        return parsed


class Integer(fields.Integer):
    """An integer that fits the database's 32-bit columns; 952.5 is refused, not truncated."""

    def __init__(self, **kwargs: Any) -> None:
        given = kwargs.get("validate")
        given = [] if given is None else [given] if callable(given) else list(given)
        if not any(isinstance(v, validate.Range) and v.max is not None for v in given):
            given.append(validate.Range(min=-MAX_ID - 1, max=MAX_ID))
        kwargs["validate"] = given
        super().__init__(**kwargs)

    def _validated(self, value: Any) -> int:
        if isinstance(value, float) and not value.is_integer():
            raise self.make_error("invalid")
        return super()._validated(value)


def Id(**kwargs: Any) -> Integer:
    """A database id: an integer 1..2**31-1."""
    return Integer(validate=validate.Range(min=1, max=MAX_ID), **kwargs)


def attachment(body: bytes, filename: str, mimetype: str) -> Any:
    """A download: ``body`` as ``mimetype`` (text in UTF-8) named ``filename``."""
    resp = make_response(body)
    resp.mimetype = mimetype
    if mimetype.startswith("text/"):
        resp.charset = "utf-8"
    resp.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return resp


# --- imports answered at once (places, a visit list) -------------------------------------------

CREATED_SOME = "Imported: at least one row created something new"
CREATED_NONE = "Imported, nothing new: every row updated an existing one or was rejected"


def import_answer(report: dict[str, Any]) -> tuple[dict[str, Any], int]:
    """A synchronous import's report with its status: 201 when it created something, else 200."""
    return report, 201 if report.get("created") else 200
