"""Readiness and liveness probes (no token needed).

- ``GET /health`` is the *readiness* check: 200 only when the database answers, its spatial
  extension is loaded and its schema is at the revision this code ships; 503
  ``database_unavailable`` when the database cannot be reached, 503 ``migrations_pending``
  when the schema is behind (or not there). A schema newer than this code (the next release
  migrated first, expand-then-contract) is ready: these nodes keep serving during a rolling
  upgrade. A load balancer sends traffic only to ready nodes.
- ``GET /health/live`` is the *liveness* check: 200 ``{"status": "ok"}`` while the process
  serves requests, without touching the database, so a database outage does not make a
  supervisor restart every app node.
"""

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


class LiveSchema(Schema):
    status = fields.String(required=True, metadata={"example": "ok"})


@blp.route("/health")
class Health(MethodView):
    @public
    @blp.response(200, HealthSchema)
    @blp.alt_response(
        503,
        description="Not ready: the database is unreachable (`database_unavailable`) or its "
        "schema is behind this code (`migrations_pending`)",
    )
    def get(self):
        """Readiness: is the database reachable, on which engine, at the current schema."""
        return system.health(current_app.extensions["migrate"].directory)


@blp.route("/health/live")
class Live(MethodView):
    @public
    @blp.response(200, LiveSchema)
    def get(self):
        """Liveness: the process answers. Never touches the database (use it for restarts;
        use `/health` for readiness)."""
        return system.liveness()
