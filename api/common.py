"""Pieces every resource family uses: the list convention and the security note."""

from __future__ import annotations

from flask_smorest import Blueprint as _Blueprint
from marshmallow import Schema, fields
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


class Blueprint(_Blueprint):
    """A flask-smorest Blueprint whose endpoints need a bearer token unless @public."""

    ARGUMENTS_PARSER = _Parser()

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

    def paginate_select(self):
        """``page``/``page_size`` over the SELECT a view returns (totals in X-Pagination)."""
        return self.paginate(SelectPage, page_size=PAGE_SIZE, max_page_size=MAX_PAGE_SIZE)


class ListArgs(Schema):
    sort = fields.String(
        metadata={
            "description": "Comma-separated field names; prefix with '-' for descending, "
            "e.g. `-created_at,name`."
        }
    )


class OkSchema(Schema):
    ok = fields.Boolean(required=True)
