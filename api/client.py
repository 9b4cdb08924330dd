"""What the front ends read before anyone signs in: the map's base layer, languages, versions."""

from __future__ import annotations

from flask.views import MethodView
from marshmallow import Schema, fields

from api.common import Blueprint
from gridserve.auth import public
from gridserve.services.accounts import system

blp = Blueprint("client", __name__, description="Start-up settings for the front ends (no token)")


class ClientConfigSchema(Schema):
    api_version = fields.String(required=True, metadata={"example": "v1"})
    server_version = fields.String(required=True)
    languages = fields.List(fields.String(), required=True, metadata={"example": ["zh", "en"]})
    default_language = fields.String(required=True, metadata={"example": "zh"})
    map_tile_url = fields.String(
        required=True,
        allow_none=True,
        metadata={"description": "XYZ template ({z}/{x}/{y}); null: no base map (boundaries "
                  "on a plain background)"},
    )  # fmt: skip
    map_attribution = fields.String(required=True, allow_none=True)
    min_app_version = fields.String(
        required=True,
        allow_none=True,
        metadata={"description": "The oldest field app this service still serves; null: any"},
    )
    timezone = fields.String(required=True, metadata={"example": "Asia/Shanghai"})


@blp.route("/client-config")
class ClientConfig(MethodView):
    @public
    @blp.response(200, ClientConfigSchema)
    def get(self):
        """What the console and the field app need to start (no token needed)."""
        return system.client_config()
