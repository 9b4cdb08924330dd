"""Liveness and readiness: the database, its spatial extension, the schema revision."""

from __future__ import annotations

from flask import current_app
from flask.views import MethodView
from marshmallow import Schema, fields

from api.common import Blueprint
from gridserve.auth import public
from gridserve.services.accounts import system

blp = Blueprint("health", __name__, description="Service health (no token needed)")


class HealthSchema(Schema):
    status = fields.String(required=True, metadata={"example": "ok"})
    database = fields.String(required=True, metadata={"example": "postgresql"})
    spatial = fields.String(required=True, metadata={"example": "PostGIS 3.3.2"})
    schema = fields.String(allow_none=True, metadata={"example": "0001"})
    schema_expected = fields.String(allow_none=True, metadata={"example": "0001"})
    version = fields.String()


@blp.route("/health")
class Health(MethodView):
    @public
    @blp.response(200, HealthSchema)
    @blp.alt_response(503, description="Database unreachable, or `migrations_pending`")
    def get(self):
        """Is the service up, on which database, at which schema revision."""
        return system.health(current_app.extensions["migrate"].directory)
