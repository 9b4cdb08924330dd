"""Change notices of outreach events: read and acknowledge (如遇特殊情况变更则及时另行通知)."""

from __future__ import annotations

from flask.views import MethodView
from marshmallow import Schema, fields, validate

from api.common import BEARER, Blueprint, Id, Integer, UtcDateTime
from gridserve.auth import current_principal
from gridserve.services.outreach import notices as notice_service

blp = Blueprint(
    "outreach_notices",
    __name__,
    description="When an approved event's time or venue changes, or it is cancelled, each "
    "participant (host, lead, co-organisers) gets a notice, texted to its contacts with a "
    "mobile number from the organiser's SMS channel. Its contacts acknowledge it; one not "
    "acknowledged in time (`GRIDSERVE_NOTICE_ACK_HOURS`, default 24) is texted once more, and "
    "as long after the reminder it is shown as overdue.",
)


class NoticeListArgs(Schema):
    institution = fields.String(
        validate=validate.Length(min=1, max=40),
        metadata={"description": "An institution's code (422 `unknown_institution`)"},
    )
    acknowledged = fields.Boolean(metadata={"description": "true / false"})
    overdue = fields.Boolean(
        metadata={"description": "Reminded and still not acknowledged after as long again"}
    )
    event = Id(metadata={"description": "Notices of this event"})


class NoticeSchema(Schema):
    id = Integer()
    event_id = Integer(allow_none=True)
    event_title = fields.String(allow_none=True)
    event_status = fields.String(allow_none=True)
    institution = fields.String(
        allow_none=True,
        metadata={"description": "The notified participant's (or department's) code"},
    )
    task_id = Integer(allow_none=True, metadata={"description": "A case's notice: the case"})
    area_id = Integer(
        allow_none=True, metadata={"description": "A case's notice: the office's area"}
    )
    reason = fields.String(
        metadata={
            "description": "An event's `changed` or `cancelled`; a case's `case_escalated`, "
            "`case_dispatched`, `case_supervised` or `case_urgent`"
        }
    )
    event_version = Integer(metadata={"description": "The event's version it tells about"})
    changes = fields.Dict(
        metadata={"description": '`{field: {"from": old, "to": new}}` (starts_at, ends_at, venue)'}
    )
    message = fields.String(metadata={"description": "The text sent (local times)"})
    texted = Integer(metadata={"description": "Texts queued to the institution's contacts"})
    undeliverable = fields.List(
        fields.String(), metadata={"description": "Contacts without a mobile number (not texted)"}
    )
    created_at = UtcDateTime()
    acknowledged = fields.Boolean()
    acknowledged_at = UtcDateTime(allow_none=True)
    acknowledged_by = Integer(allow_none=True)
    reminded_at = UtcDateTime(allow_none=True)
    overdue = fields.Boolean()
    overdue_at = UtcDateTime(allow_none=True)


@blp.route("/outreach/notices")
class Notices(MethodView):
    @blp.roles(*notice_service.READERS)
    @blp.arguments(NoticeListArgs, location="query")
    @blp.response(200, NoticeSchema(many=True))
    @blp.paginate_select(present=notice_service.present)
    @blp.doc(security=BEARER)
    def get(self, args):
        """Change notices, newest first: an institution's contact sees its own, the
        coordinator every notice of the events in its area (filter by `institution`,
        `acknowledged`, `overdue`, `event`)."""
        return notice_service.list_notices(
            current_principal(),
            institution=args.get("institution"),
            acknowledged=args.get("acknowledged"),
            overdue=args.get("overdue"),
            event_id=args.get("event"),
        )


@blp.route("/outreach/notices/<int:notice_id>/ack")
class NoticeAck(MethodView):
    @blp.roles(*notice_service.ACKNOWLEDGERS)
    @blp.response(200, NoticeSchema)
    @blp.doc(security=BEARER)
    def post(self, notice_id):
        """Acknowledge a notice to your institution (404 for another's). Acknowledging again
        changes nothing and answers the same (the first acknowledgement stands)."""
        notice = notice_service.acknowledge(current_principal(), notice_id)
        return notice_service.present([notice])[0]
