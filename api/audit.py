"""The audit trail, read-only."""

from __future__ import annotations

from flask.views import MethodView
from marshmallow import Schema, fields

from api.common import BEARER, AwareDateTime, Blueprint, Id, Integer, ListArgs
from gridserve.auth import current_principal
from gridserve.services.accounts import audit_log

blp = Blueprint("audit", __name__, description="Who did what, when, from where (admins)")


class AuditEntrySchema(Schema):
    id = Integer()
    at = fields.DateTime()
    actor_type = fields.String()
    actor_id = Integer(allow_none=True)
    actor_name = fields.String(allow_none=True)
    device_id = Integer(allow_none=True)
    remote_addr = fields.String(allow_none=True)
    request_id = fields.String(allow_none=True)
    action = fields.String()
    entity = fields.String(allow_none=True)
    entity_id = fields.String(allow_none=True)
    details = fields.Dict(allow_none=True)


class AuditListArgs(ListArgs):
    action = fields.String()
    entity = fields.String()
    entity_id = fields.String()
    actor_id = Id()
    since = AwareDateTime()
    until = AwareDateTime()


@blp.route("/audit")
class Audit(MethodView):
    @blp.roles()
    @blp.arguments(AuditListArgs, location="query")
    @blp.response(200, AuditEntrySchema(many=True))
    @blp.paginate_select()
    @blp.doc(security=BEARER)
    def get(self, args):
        """Audit entries, newest first."""
        return audit_log.list_entries(current_principal(), **args)
