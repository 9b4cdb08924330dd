"""SMS campaigns: the rotating send order and the texts."""

from __future__ import annotations

from flask.views import MethodView
from marshmallow import Schema, fields, validate

from api.common import BEARER, Blueprint, ListArgs
from gridserve.auth import current_principal
from gridserve.services import sms as sms_service

blp = Blueprint("sms", __name__, description="Text-message campaigns (错时发送)")


class CampaignSchema(Schema):
    id = fields.Integer()
    code = fields.String()
    name = fields.String()
    area_id = fields.Integer()
    start_date = fields.Date()
    end_date = fields.Date()
    slot_days = fields.Integer()
    window_start = fields.String()
    window_end = fields.String()
    working_days_only = fields.Boolean()
    rounds = fields.Integer(allow_none=True)
    rotate_each_round = fields.Boolean()
    policy = fields.String(metadata={"description": "shift or skip_append"})
    unsubscribe_suffix = fields.String(allow_none=True)
    senders = fields.Function(
        lambda c: [{"position": s.position, "institution_id": s.institution_id} for s in c.senders]
    )


class SlotSchema(Schema):
    sender = fields.String()
    sender_name = fields.String(allow_none=True)
    start = fields.String()
    end = fields.String()
    round = fields.Integer()
    position = fields.Integer()
    status = fields.String()
    note = fields.String(allow_none=True)
    days = fields.List(fields.String())


class ScheduleSchema(Schema):
    campaign = fields.Dict()
    policy = fields.String()
    timezone = fields.String()
    window = fields.List(fields.String())
    slots = fields.List(fields.Nested(SlotSchema))
    events = fields.List(fields.Dict())


class TextSchema(Schema):
    id = fields.Integer()
    campaign_id = fields.Integer()
    sender_id = fields.Integer(allow_none=True)
    kind = fields.String()
    body = fields.String()
    status = fields.String()
    locked = fields.Boolean()
    version = fields.Integer()
    note = fields.String(allow_none=True)
    measure = fields.Dict(
        metadata={"description": "encoding (GSM-7/UCS-2), characters, units, segments"}
    )


class TextCreateSchema(Schema):
    body = fields.String(required=True, validate=validate.Length(min=1, max=2000))
    kind = fields.String(load_default="custom", validate=validate.OneOf(["mandated", "custom"]))


class TextEditSchema(Schema):
    body = fields.String(required=True, validate=validate.Length(min=1, max=2000))
    version = fields.Integer(required=True)


class ReviewSchema(Schema):
    note = fields.String(validate=validate.Length(max=500))


@blp.route("/sms/campaigns")
class Campaigns(MethodView):
    @blp.arguments(ListArgs, location="query")
    @blp.response(200, CampaignSchema(many=True))
    @blp.paginate_select()
    @blp.doc(security=BEARER)
    def get(self, args):
        """Campaigns you may see (an institution: those it sends in)."""
        return sms_service.list_campaigns(current_principal(), args.get("sort"))


@blp.route("/sms/campaigns/<int:campaign_id>")
class Campaign(MethodView):
    @blp.response(200, CampaignSchema)
    @blp.doc(security=BEARER)
    def get(self, campaign_id):
        """One campaign with its senders in order."""
        return sms_service.get_campaign(current_principal(), campaign_id)


@blp.route("/sms/campaigns/<int:campaign_id>/schedule")
class Schedule(MethodView):
    @blp.response(200, ScheduleSchema)
    @blp.doc(security=BEARER)
    def get(self, campaign_id):
        """The computed slots (sender, start, end, round, status) and what the policy did."""
        return sms_service.schedule(current_principal(), campaign_id)


@blp.route("/sms/campaigns/<int:campaign_id>/texts")
class Texts(MethodView):
    @blp.response(200, TextSchema(many=True))
    @blp.doc(security=BEARER)
    def get(self, campaign_id):
        """The mandated text and the custom texts you may see, with their length in segments."""
        return sms_service.list_texts(current_principal(), campaign_id)

    @blp.arguments(TextCreateSchema)
    @blp.response(201, TextSchema)
    @blp.doc(security=BEARER)
    def post(self, body, campaign_id):
        """Write a text: `mandated` (coordinator) or `custom` (the sender's contact)."""
        return sms_service.create_text(current_principal(), campaign_id, body["body"], body["kind"])


@blp.route("/sms/texts/<int:text_id>")
class TextItem(MethodView):
    @blp.arguments(TextEditSchema)
    @blp.response(200, TextSchema)
    @blp.doc(security=BEARER)
    def patch(self, body, text_id):
        """Change a draft or returned text; a locked mandated text is 409 `text_locked`."""
        return sms_service.edit_text(current_principal(), text_id, body["body"], body["version"])


@blp.route("/sms/texts/<int:text_id>/submit")
class Submit(MethodView):
    @blp.response(200, TextSchema)
    @blp.doc(security=BEARER)
    def post(self, text_id):
        """Send a text for review."""
        return sms_service.submit(current_principal(), text_id)


@blp.route("/sms/texts/<int:text_id>/approve")
class Approve(MethodView):
    @blp.arguments(ReviewSchema)
    @blp.response(200, TextSchema)
    @blp.doc(security=BEARER)
    def post(self, body, text_id):
        """Coordinator: approve (the mandated text is locked from then on)."""
        return sms_service.review(current_principal(), text_id, True, body.get("note"))


@blp.route("/sms/texts/<int:text_id>/return")
class Return(MethodView):
    @blp.arguments(ReviewSchema)
    @blp.response(200, TextSchema)
    @blp.doc(security=BEARER)
    def post(self, body, text_id):
        """Coordinator: return a text with a note."""
        return sms_service.review(current_principal(), text_id, False, body.get("note"))
