"""SMS campaigns: the rotating send order and the texts."""

from __future__ import annotations

from flask import request
from flask.views import MethodView
from marshmallow import Schema, fields, missing, validate

from api.common import BEARER, Blueprint, Date, Integer, ListArgs
from gridserve.auth import accepts, current_principal, public
from gridserve.errors import ValidationFailed
from gridserve.models.sms.campaigns import GATEWAYS, POLICIES
from gridserve.services.sms import campaigns as sms_service
from gridserve.services.sms import inbound as sms_inbound
from gridserve.services.sms import numbers as sms_numbers
from gridserve.services.sms import outbox as sms_outbox
from gridserve.services.sms import progress as sms_progress
from gridserve.services.sms import recipients as sms_recipients
from gridserve.sms import text as sms_text

blp = Blueprint("sms", __name__, description="Text-message campaigns (错时发送)")


class CampaignSchema(Schema):
    id = Integer()
    code = fields.String()
    name = fields.String()
    area_id = Integer()
    start_date = Date()
    end_date = Date()
    slot_days = Integer()
    window_start = fields.String()
    window_end = fields.String()
    working_days_only = fields.Boolean()
    rounds = Integer(allow_none=True)
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
    round = Integer()
    position = Integer()
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
    unknown_year = fields.Integer(
        allow_none=True,
        metadata={"description": "The schedule stops before this year: no calendar loaded for it"},
    )
    mandated_text_approved = fields.Boolean(
        metadata={"description": "Nothing is sent until the mandated text is approved and locked"}
    )


class Measure(fields.Dict):
    """What the carrier will count of a text's body (a pure rule: :func:`sms_text.measure`)."""

    def get_value(self, obj, attr, accessor=None, default=missing):
        return sms_text.measure(obj.body)


class TextSchema(Schema):
    id = Integer()
    campaign_id = Integer()
    sender_id = Integer(allow_none=True)
    sender = fields.String(
        attribute="sender_code",
        allow_none=True,
        metadata={"description": "The sending institution's code (null: the mandated text)"},
    )
    kind = fields.String()
    body = fields.String()
    status = fields.String()
    locked = fields.Boolean()
    version = Integer()
    note = fields.String(allow_none=True)
    measure = Measure(
        metadata={"description": "encoding (GSM-7/UCS-2), characters, units, segments"}
    )


class TextCreateSchema(Schema):
    body = fields.String(required=True, validate=validate.Length(min=1, max=2000))
    kind = fields.String(load_default="custom", validate=validate.OneOf(["mandated", "custom"]))
    sender = fields.String(
        metadata={"description": "Institution code: a coordinator writing a sender's custom text"}
    )


HHMM = validate.Regexp(r"^([01]\d|2[0-3]):[0-5]\d$", error="HH:MM, 24-hour local time.")


class CampaignCreateSchema(Schema):
    code = fields.String(required=True, validate=validate.Regexp(r"^[A-Z0-9][A-Z0-9-]{1,39}$"))
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    area_id = Integer(required=True)
    start_date = Date(required=True)
    end_date = Date(required=True)
    senders = fields.List(
        fields.String(),
        required=True,
        validate=validate.Length(min=1, max=50),
        metadata={"description": "Institution codes in sending order"},
    )
    slot_days = Integer(load_default=1, validate=validate.Range(min=1, max=31))
    window_start = fields.String(load_default="08:00", validate=HHMM)
    window_end = fields.String(load_default="21:00", validate=HHMM)
    working_days_only = fields.Boolean(load_default=False)
    rounds = Integer(
        load_default=1,
        allow_none=True,
        validate=validate.Range(min=1, max=100),
        metadata={"description": "null: repeat until end_date"},
    )
    rotate_each_round = fields.Boolean(load_default=False)
    policy = fields.String(load_default="shift", validate=validate.OneOf(POLICIES))
    unsubscribe_suffix = fields.String(
        allow_none=True, validate=validate.Length(max=20), metadata={"example": "回T退订"}
    )
    leading_group = fields.String(
        load_default="",
        validate=validate.Length(max=100),
        metadata={"description": "Signature of the mandated text, sent as 【leading_group】"},
    )
    mandated_text = fields.String(
        validate=validate.Length(min=1, max=2000),
        metadata={"description": "Stored as submitted; approve it to lock it and allow sending"},
    )


class ChannelSchema(Schema):
    institution = fields.String(attribute="institution_code", dump_only=True)
    gateway = fields.String(required=True, validate=validate.OneOf(GATEWAYS))
    credentials_ref = fields.String(
        allow_none=True,
        validate=validate.Length(max=100),
        metadata={"description": "Name of the account in GRIDSERVE_SMS_ACCOUNTS (secrets)"},
    )
    settings = fields.Dict(
        load_default=dict,
        metadata={"description": "file: {path}; http: {url, field_map, ...}; smpp: {host, ...}"},
    )
    signature = fields.String(required=True, validate=validate.Length(min=2, max=12))
    rate_per_second = fields.Float(
        load_default=50.0,
        validate=validate.Range(min=0, max=10000),
        metadata={"description": "0: no limit"},
    )
    is_up = fields.Boolean(load_default=True)


class RecipientSchema(Schema):
    id = Integer()
    phone = fields.String(attribute="phone_masked")
    name = fields.String(allow_none=True)
    source = fields.String()
    created_at = fields.DateTime()


class RecipientImportSchema(Schema):
    received = Integer()
    added = Integer()
    already_listed = Integer()
    duplicates_in_file = Integer()
    rejected_count = Integer()
    rejected = fields.List(fields.Dict())


class AudienceReportSchema(Schema):
    kind = fields.String()
    found = Integer()
    added = Integer()
    already_listed = Integer()
    invalid_numbers = Integer()


class RequeueSchema(Schema):
    requeued = fields.Dict(keys=fields.String(), values=Integer())
    slot_end = fields.DateTime()


class CallbackResultSchema(Schema):
    received = Integer()
    results = fields.Dict(keys=fields.String(), values=Integer())


class AudienceSchema(Schema):
    kind = fields.String(required=True, validate=validate.OneOf(["households", "enterprises"]))
    area_ids = fields.List(Integer(), load_default=list)
    cell_ids = fields.List(Integer(), load_default=list)


class OptOutSchema(Schema):
    id = Integer(dump_only=True)
    phone = fields.String(required=True, validate=validate.Length(min=3, max=32))
    institution = fields.String(
        allow_none=True, metadata={"description": "Institution code; absent: every sender"}
    )
    note = fields.String(allow_none=True, validate=validate.Length(max=200))
    source = fields.String(dump_only=True)
    created_at = fields.DateTime(dump_only=True)


class OptOutListSchema(Schema):
    id = Integer()
    phone = fields.String(attribute="phone_masked")
    institution_id = Integer(allow_none=True)
    source = fields.String()
    note = fields.String(allow_none=True)
    created_at = fields.DateTime()


PHONE_IN_QUERY = (
    "Refused with 422 `phone_in_query`: phone numbers never go in URLs (access logs keep "
    "them). Use {}."
)


class OptOutArgs(Schema):
    phone = fields.String(
        metadata={"description": PHONE_IN_QUERY.format("`POST /sms/opt-outs/lookup`")}
    )


class PhoneArgs(Schema):
    phone = fields.String(
        metadata={
            "description": PHONE_IN_QUERY.format("`POST /sms/campaigns/{id}/messages/lookup`")
        }
    )


class PhoneLookupSchema(Schema):
    phone = fields.String(
        required=True,
        validate=validate.Length(min=3, max=32),
        metadata={"example": "13900000007", "description": "Any usual notation; E.164 stored"},
    )


def refuse_phone_in_query(use: str) -> None:
    """Phone numbers never travel in a URL: point to the POST look-up instead."""
    raise ValidationFailed(
        f"Phone numbers are not accepted in the query string (access logs keep URLs): "
        f'send {use} with a JSON body {{"phone": ...}}.',
        code="phone_in_query",
        details={"use": use},
    )


class TextEditSchema(Schema):
    body = fields.String(required=True, validate=validate.Length(min=1, max=2000))
    version = Integer(required=True)


class ProgressSchema(Schema):
    campaign = fields.Dict()
    at = fields.DateTime()
    mandated_text_approved = fields.Boolean()
    alerts = fields.List(
        fields.Dict(),
        metadata={"description": "What keeps slots from going out, e.g. calendar_unknown_year"},
    )
    totals = fields.Dict()
    senders = fields.List(fields.Dict())


class RecipientMessagesSchema(Schema):
    phone = fields.String()
    messages = fields.List(fields.Dict())
    opt_outs = fields.List(fields.Dict())


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

    @blp.roles(*sms_service.COORDINATORS)
    @blp.arguments(CampaignCreateSchema)
    @blp.response(201, CampaignSchema)
    @blp.doc(security=BEARER)
    def post(self, body):
        """Coordinator: a new campaign with its senders in order (see the README's walk-through).

        The mandated text, if given, is stored `submitted`: approve it to lock it. Nothing is
        sent before that, nor by a sender without an approved custom text and a channel.
        """
        return sms_service.create_campaign(current_principal(), body)


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

    @blp.roles(*sms_service.SENDER_STAFF)
    @blp.arguments(TextCreateSchema)
    @blp.response(201, TextSchema)
    @blp.doc(security=BEARER)
    def post(self, body, campaign_id):
        """Write a text: `mandated` (coordinator) or `custom` (the sender's contact)."""
        return sms_service.create_text(
            current_principal(), campaign_id, body["body"], body["kind"], body.get("sender")
        )


@blp.route("/sms/texts/<int:text_id>")
class TextItem(MethodView):
    @blp.roles(*sms_service.SENDER_STAFF)
    @blp.arguments(TextEditSchema)
    @blp.response(200, TextSchema)
    @blp.doc(security=BEARER)
    def patch(self, body, text_id):
        """Change a draft or returned text; a locked mandated text is 409 `text_locked`."""
        return sms_service.edit_text(current_principal(), text_id, body["body"], body["version"])


@blp.route("/sms/texts/<int:text_id>/submit")
class Submit(MethodView):
    @blp.roles(*sms_service.SENDER_STAFF)
    @blp.response(200, TextSchema)
    @blp.doc(security=BEARER)
    def post(self, text_id):
        """Send a text for review."""
        return sms_service.submit(current_principal(), text_id)


@blp.route("/sms/texts/<int:text_id>/approve")
class Approve(MethodView):
    @blp.roles(*sms_service.COORDINATORS)
    @blp.arguments(ReviewSchema)
    @blp.response(200, TextSchema)
    @blp.doc(security=BEARER)
    def post(self, body, text_id):
        """Coordinator: approve (the mandated text is locked from then on)."""
        return sms_service.review(current_principal(), text_id, True, body.get("note"))


@blp.route("/sms/texts/<int:text_id>/return")
class Return(MethodView):
    @blp.roles(*sms_service.COORDINATORS)
    @blp.arguments(ReviewSchema)
    @blp.response(200, TextSchema)
    @blp.doc(security=BEARER)
    def post(self, body, text_id):
        """Coordinator: return a text with a note."""
        return sms_service.review(current_principal(), text_id, False, body.get("note"))


@blp.route("/sms/campaigns/<int:campaign_id>/progress")
class Progress(MethodView):
    @blp.response(200, ProgressSchema)
    @blp.doc(security=BEARER)
    def get(self, campaign_id):
        """Per sender: queued / accepted / delivered / failed / expired / opted-out, and the
        current and next slot."""
        return sms_progress.progress(current_principal(), campaign_id)


@blp.route("/sms/campaigns/<int:campaign_id>/messages")
class Messages(MethodView):
    @blp.arguments(PhoneArgs, location="query")
    @blp.response(200, RecipientMessagesSchema)
    @blp.doc(security=BEARER)
    def get(self, _args, campaign_id):
        """Replaced by `POST /sms/campaigns/{id}/messages/lookup` (a number is not put in a
        URL): always 422 `phone_in_query`."""
        refuse_phone_in_query(f"POST /api/v1/sms/campaigns/{campaign_id}/messages/lookup")


@blp.route("/sms/campaigns/<int:campaign_id>/messages/lookup")
class MessagesLookup(MethodView):
    @blp.roles(*sms_service.SENDER_STAFF)
    @blp.arguments(PhoneLookupSchema)
    @blp.response(200, RecipientMessagesSchema)
    @blp.doc(security=BEARER)
    def post(self, body, campaign_id):
        """What one number got in this campaign, in order, with times (and its opt-outs).
        The number goes in the body, never in the URL."""
        return sms_progress.messages_for(current_principal(), campaign_id, body["phone"])


@blp.route("/sms/campaigns/<int:campaign_id>/senders/<string:code>/recipients")
class Recipients(MethodView):
    @blp.roles(*sms_service.SENDER_STAFF)
    @blp.arguments(ListArgs, location="query")
    @blp.response(200, RecipientSchema(many=True))
    @blp.paginate_select(present=sms_numbers.present_masked)
    @blp.doc(security=BEARER)
    def get(self, _args, campaign_id, code):
        """A sender's list (numbers masked)."""
        return sms_recipients.list_recipients(current_principal(), campaign_id, code)

    @blp.roles(*sms_service.SENDER_STAFF)
    @accepts("text/csv")
    @blp.response(200, RecipientImportSchema)
    @blp.doc(
        security=BEARER,
        requestBody={
            "content": {"text/csv": {"schema": {"type": "string"}}},
            "description": "A `phone` (or mobile, 手机号) column, optionally `name`.",
        },
    )
    def post(self, campaign_id, code):
        """Import the sender's customers from CSV: numbers checked and normalised to E.164,
        duplicates dropped, invalid rows reported; numbers already listed stay once."""
        if request.mimetype != "text/csv":
            raise ValidationFailed("Send the list as text/csv.", code="unsupported_media_type")
        return sms_recipients.import_csv(
            current_principal(), campaign_id, code, request.get_data(as_text=True)
        )


@blp.route("/sms/campaigns/<int:campaign_id>/senders/<string:code>/audiences")
class Audiences(MethodView):
    @blp.roles(*sms_service.COORDINATORS)
    @blp.arguments(AudienceSchema)
    @blp.response(200, AudienceReportSchema)
    @blp.doc(security=BEARER)
    def post(self, body, campaign_id, code):
        """Coordinator: add the households (registered phone) or enterprises (`phone`
        attribute) of communities or cells inside the campaign's area to a sender's list."""
        return sms_recipients.add_audience(
            current_principal(),
            campaign_id,
            code,
            body["area_ids"],
            body["kind"],
            body["cell_ids"],
        )


@blp.route("/sms/campaigns/<int:campaign_id>/senders/<string:code>/requeue-expired")
class RequeueExpired(MethodView):
    @blp.roles(*sms_service.COORDINATORS)
    @blp.response(200, RequeueSchema)
    @blp.doc(security=BEARER)
    def post(self, campaign_id, code):
        """Coordinator's decision: send this sender's expired messages again in its slot open
        now (409 `no_open_slot` otherwise). Expired messages are never re-sent without it."""
        return sms_outbox.requeue_expired(current_principal(), campaign_id, code)


@blp.route("/sms/channels")
class Channels(MethodView):
    @blp.roles(*sms_service.SENDER_STAFF)
    @blp.response(200, ChannelSchema(many=True))
    @blp.doc(security=BEARER)
    def get(self):
        """Channels (an institution: its own)."""
        return sms_service.list_channels(current_principal())


@blp.route("/sms/channels/<string:code>")
class ChannelItem(MethodView):
    @blp.roles(*sms_service.COORDINATORS)
    @blp.arguments(ChannelSchema)
    @blp.response(200, ChannelSchema)
    @blp.doc(security=BEARER)
    def put(self, body, code):
        """Coordinator: set an institution's channel. Secrets are not stored here:
        `credentials_ref` names an account configured in GRIDSERVE_SMS_ACCOUNTS."""
        return sms_service.put_channel(current_principal(), code, body)


@blp.route("/sms/opt-outs")
class OptOuts(MethodView):
    @blp.roles(*sms_service.SENDER_STAFF)
    @blp.arguments(OptOutArgs, location="query")
    @blp.response(200, OptOutListSchema(many=True))
    @blp.paginate_select(present=sms_numbers.present_masked)
    @blp.doc(security=BEARER)
    def get(self, args):
        """The opt-out register (numbers masked). To find one number, `POST
        /sms/opt-outs/lookup` (a `phone=` here is refused: 422 `phone_in_query`)."""
        if "phone" in args:
            refuse_phone_in_query("POST /api/v1/sms/opt-outs/lookup")
        return sms_recipients.list_opt_outs(current_principal())

    @blp.roles(*sms_service.SENDER_STAFF)
    @blp.arguments(OptOutSchema)
    @blp.response(201, OptOutSchema)
    @blp.doc(security=BEARER)
    def post(self, body):
        """Record an opt-out: from every sender, or from one `institution`. Checked when each
        message's turn comes, not only when lists are built. Repeating it changes nothing."""
        return sms_recipients.register_opt_out(
            current_principal(), body["phone"], body.get("institution"), body.get("note")
        )


@blp.route("/sms/opt-outs/lookup")
class OptOutLookup(MethodView):
    @blp.roles(*sms_service.SENDER_STAFF)
    @blp.arguments(PhoneLookupSchema)
    @blp.response(200, OptOutListSchema(many=True))
    @blp.doc(security=BEARER)
    def post(self, body):
        """The opt-out entries of one number you may see (masked), newest first. The number
        goes in the body, never in the URL."""
        return sms_numbers.present_masked(
            sms_recipients.find_opt_outs(current_principal(), body["phone"])
        )


@blp.route("/sms/gateways/<string:name>/receipts")
class GatewayReceipts(MethodView):
    @public
    @blp.response(200, CallbackResultSchema)
    @blp.doc(
        description=(
            "Called by a gateway: delivery receipts `{id, status, error?, at?}` and replies "
            "`{from, text}` (T/TD/退订/STOP opt out), one object or a list. Authenticated by "
            "`X-Gridserve-Timestamp` (Unix seconds, within 5 minutes) and "
            "`X-Gridserve-Signature: sha256=<hex HMAC-SHA256 of timestamp + '.' + body>` "
            "with the account's `receipt_secret`. Repeats are harmless."
        )
    )
    def post(self, name):
        """Delivery receipts and replies from a gateway account (HMAC-signed)."""
        body = request.get_data()
        payload = request.get_json(silent=True)
        sms_inbound.verify_callback(name, request.headers, body)
        if payload is None:
            raise ValidationFailed("Send a JSON object or list.", code="invalid_receipt")
        return sms_inbound.gateway_callback(name, payload)
