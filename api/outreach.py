"""Outreach: programmes, publicity events, their conflicts, readiness and life cycle."""

from __future__ import annotations

from flask.views import MethodView
from marshmallow import Schema, fields, validate

from api.common import (
    BEARER,
    MAX_PAGE_SIZE,
    PAGE_SIZE,
    AwareDateTime,
    Blueprint,
    Date,
    Id,
    Integer,
    ListArgs,
    UtcDateTime,
)
from api.geojson import bbox_field, geojson_response
from gridserve.auth import current_principal
from gridserve.models import EVENT_KINDS, EVENT_STATUSES, PROGRAMME_KINDS
from gridserve.pagination import SelectPage
from gridserve.services.outreach import events as event_service
from gridserve.services.outreach import lifecycle
from gridserve.services.outreach import programmes as programme_service
from gridserve.services.outreach import readiness as readiness_service

blp = Blueprint(
    "outreach",
    __name__,
    description="Outreach programmes (宣传月) and their publicity events: the launch (启动仪式), "
    "sites (宣传点) led by a bank (牵头行) with co-organisers (协办行). The coordinator plans; "
    "an institution contact reads the events its institution takes part in; stations and "
    "centres read those in their area; workers have no access here.",
)

READERS = programme_service.READERS
PLANNERS = programme_service.PLANNERS
CODE = fields.String(validate=validate.Length(min=1, max=40))
VERSION = Integer(
    required=True,
    strict=True,
    validate=validate.Range(min=1),
    metadata={"description": "The version your change is based on (409 stale_version if old)"},
)


# --- programmes ------------------------------------------------------------------------------


class CampaignRefSchema(Schema):
    id = Integer()
    code = fields.String()
    name = fields.String()
    start_date = fields.Date()
    end_date = fields.Date()


class ProgrammeCreateSchema(Schema):
    code = fields.String(required=True, validate=validate.Length(min=1, max=40))
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    kind = fields.String(validate=validate.OneOf(PROGRAMME_KINDS))
    area_id = Id(required=True)
    start_date = Date(required=True)
    end_date = Date(required=True)
    organiser = fields.String(
        required=True,
        validate=validate.Length(min=1, max=40),
        metadata={"description": "The organiser's institution code, e.g. DZ-REG"},
    )
    institutions = fields.List(
        CODE, validate=validate.Length(max=100), metadata={"description": "Institution codes"}
    )
    plan_due_on = Date(allow_none=True, metadata={"description": "Local date plans are due"})
    report_due_on = Date(allow_none=True, metadata={"description": "Local date reports are due"})
    list_due_on = Date(
        allow_none=True,
        metadata={"description": "Visits: the list is fixed at the end of this local day"},
    )
    visits_from = Date(
        allow_none=True, metadata={"description": "Visits: first day of the visit window"}
    )
    visits_to = Date(
        allow_none=True, metadata={"description": "Visits: last day of the visit window"}
    )
    summary_due_on = Date(
        allow_none=True, metadata={"description": "Visits: local date the summary is due"}
    )
    sms_campaign_ids = fields.List(Id(), validate=validate.Length(max=100))
    description = fields.String(validate=validate.Length(max=4000))


class ProgrammeUpdateSchema(Schema):
    version = VERSION
    code = fields.String(validate=validate.Length(min=1, max=40))
    name = fields.String(validate=validate.Length(min=1, max=200))
    kind = fields.String(validate=validate.OneOf(PROGRAMME_KINDS))
    area_id = Id()
    start_date = Date()
    end_date = Date()
    organiser = fields.String(validate=validate.Length(min=1, max=40))
    institutions = fields.List(CODE, validate=validate.Length(max=100))
    plan_due_on = Date(allow_none=True)
    report_due_on = Date(allow_none=True)
    list_due_on = Date(allow_none=True)
    visits_from = Date(allow_none=True)
    visits_to = Date(allow_none=True)
    summary_due_on = Date(allow_none=True)
    sms_campaign_ids = fields.List(Id(), validate=validate.Length(max=100))
    description = fields.String(validate=validate.Length(max=4000))


class ProgrammeSchema(Schema):
    id = Integer()
    code = fields.String()
    name = fields.String()
    kind = fields.String()
    area_id = Integer()
    start_date = fields.Date()
    end_date = fields.Date()
    organiser = fields.String(attribute="organiser_code")
    institutions = fields.List(fields.String(), attribute="institution_codes")
    plan_due_on = fields.Date(allow_none=True)
    report_due_on = fields.Date(allow_none=True)
    list_due_on = fields.Date(allow_none=True)
    visits_from = fields.Date(allow_none=True)
    visits_to = fields.Date(allow_none=True)
    summary_due_on = fields.Date(allow_none=True)
    plan_due_at = fields.DateTime(
        allow_none=True, metadata={"description": "The end of plan_due_on, local time"}
    )
    report_due_at = fields.DateTime(
        allow_none=True, metadata={"description": "The end of report_due_on, local time"}
    )
    sms_campaign_ids = fields.List(Integer())
    sms_campaigns = fields.List(fields.Nested(CampaignRefSchema), attribute="campaigns")
    description = fields.String()
    version = Integer()
    created_at = UtcDateTime()
    updated_at = UtcDateTime()


class ProgrammeListArgs(ListArgs):
    kind = fields.String(validate=validate.OneOf(PROGRAMME_KINDS))
    area = Id(metadata={"description": "Within this area (any level)"})


# --- events ----------------------------------------------------------------------------------


class VenueLocationSchema(Schema):
    lon = fields.Float(required=True, validate=validate.Range(min=-180, max=180))
    lat = fields.Float(required=True, validate=validate.Range(min=-90, max=90))


COUNT = Integer(validate=validate.Range(min=0, max=100_000))


class BoothSchema(Schema):
    boards = Integer(validate=validate.Range(min=0, max=1000))
    board_mm = fields.List(
        Integer(validate=validate.Range(min=1, max=100_000)),
        validate=validate.Length(equal=2),
        metadata={"description": "Board width and height in millimetres"},
    )
    min_team = Integer(validate=validate.Range(min=0, max=100_000))
    min_group = Integer(
        validate=validate.Range(min=0, max=100_000),
        metadata={"description": "The group each participant fields at a launch"},
    )


class EventCreateSchema(Schema):
    kind = fields.String(required=True, validate=validate.OneOf(EVENT_KINDS))
    title = fields.String(required=True, validate=validate.Length(min=1, max=200))
    starts_at = AwareDateTime(required=True)
    ends_at = AwareDateTime(required=True)
    place_id = Id(metadata={"description": "A register place as the venue"})
    location = fields.Nested(VenueLocationSchema, metadata={"description": "Or a point (WGS84)"})
    address = fields.String(
        validate=validate.Length(max=300), metadata={"description": "Required with location"}
    )
    venue_confirmed = fields.Boolean()
    host = fields.String(
        validate=validate.Length(min=1, max=40),
        metadata={"description": "Institution code; default: the programme's organiser"},
    )
    lead = fields.String(
        allow_none=True,
        validate=validate.Length(min=1, max=40),
        metadata={"description": "牵头行 (code); required for site and compound"},
    )
    co_organisers = fields.List(
        CODE,
        validate=validate.Length(max=100),
        metadata={"description": "协办行 (codes); default: the programme's other institutions"},
    )
    booth = fields.Nested(BoothSchema)
    invited = fields.String(
        validate=validate.Length(max=4000), metadata={"description": "Officials and media"}
    )


class EventUpdateSchema(EventCreateSchema):
    version = VERSION
    kind = fields.String(validate=validate.OneOf(EVENT_KINDS))
    title = fields.String(validate=validate.Length(min=1, max=200))
    starts_at = AwareDateTime()
    ends_at = AwareDateTime()


class EventSummarySchema(Schema):
    id = Integer()
    programme_id = Integer()
    kind = fields.String()
    title = fields.String()
    starts_at = fields.DateTime(attribute="starts_local", metadata={"description": "Local time"})
    ends_at = fields.DateTime(attribute="ends_local", metadata={"description": "Local time"})
    place_id = Integer(allow_none=True)
    location = fields.Nested(VenueLocationSchema)
    address = fields.String()
    area_id = Integer(metadata={"description": "The smallest area holding the venue"})
    venue_confirmed = fields.Boolean()
    host = fields.String(attribute="host_code")
    lead = fields.String(attribute="lead_code", allow_none=True)
    status = fields.String()
    version = Integer()


class EventSchema(EventSummarySchema):
    co_organisers = fields.List(fields.String(), attribute="co_organiser_codes")
    booth = fields.Nested(BoothSchema, attribute="booth_rule")
    invited = fields.String()
    status_changed_at = UtcDateTime()
    cancel_reason = fields.String(allow_none=True)
    change_seq = Integer()
    created_at = UtcDateTime()
    updated_at = UtcDateTime()


class EventDetailSchema(EventSchema):
    warnings = fields.List(
        fields.Dict(),
        metadata={"description": "Conflicts: {code, message, other_event_id, ...}"},
    )


class ProgrammeDetailSchema(ProgrammeSchema):
    events = fields.List(fields.Nested(EventSummarySchema))


class EventListArgs(ListArgs):
    programme = Id()
    institution = fields.String(
        validate=validate.Length(min=1, max=40),
        metadata={"description": "Events this institution (code) takes part in"},
    )
    area = Id(metadata={"description": "Venue within this area (any level)"})
    date_from = Date(data_key="from", metadata={"description": "Local date, inclusive"})
    date_to = Date(data_key="to", metadata={"description": "Local date, inclusive"})
    status = fields.String(validate=validate.OneOf(EVENT_STATUSES))
    bbox = bbox_field()
    format = fields.String(
        validate=validate.OneOf(["json", "geojson"]),
        metadata={"description": "`geojson`: the page as a FeatureCollection of points"},
    )


class TransitionSchema(Schema):
    version = VERSION


class CancelSchema(Schema):
    version = VERSION
    reason = fields.String(required=True, validate=validate.Length(min=1, max=2000))


class ReadinessSchema(Schema):
    event_id = Integer()
    status = fields.String()
    ready = fields.Boolean()
    items = fields.List(
        fields.Dict(),
        metadata={"description": "{rule, institution, who, message, ...} per rule not met"},
    )


class FeatureCollectionSchema(Schema):
    type = fields.String(metadata={"description": "FeatureCollection"})
    features = fields.List(fields.Dict(), metadata={"description": "Point features"})


@blp.route("/outreach/programmes")
class Programmes(MethodView):
    @blp.roles(*READERS)
    @blp.arguments(ProgrammeListArgs, location="query")
    @blp.response(200, ProgrammeSchema(many=True))
    @blp.paginate_select(present=programme_service.present)
    @blp.doc(security=BEARER)
    def get(self, args):
        """Programmes in your scope (sortable by `start_date` (default `-start_date`), `code`,
        `name`, `id`, `created_at`)."""
        return programme_service.list_programmes(
            current_principal(), kind=args.get("kind"), area_id=args.get("area"),
            sort=args.get("sort"),
        )  # fmt: skip

    @blp.roles(*PLANNERS)
    @blp.arguments(ProgrammeCreateSchema)
    @blp.response(201, ProgrammeDetailSchema)
    @blp.doc(security=BEARER)
    def post(self, body):
        """A new programme (coordinator). 409 `programme_exists` for a taken code; 422
        `unknown_institution`, `area_mismatch` (an SMS campaign not covering the area)."""
        principal = current_principal()
        programme = programme_service.create_programme(principal, body)
        return programme_service.present_detail(principal, programme)


@blp.route("/outreach/programmes/<int:programme_id>")
class ProgrammeItem(MethodView):
    @blp.roles(*READERS)
    @blp.response(200, ProgrammeDetailSchema)
    @blp.doc(security=BEARER)
    def get(self, programme_id):
        """A programme with its events, SMS campaigns and due dates."""
        principal = current_principal()
        programme = programme_service.get_programme(principal, programme_id)
        return programme_service.present_detail(principal, programme)

    @blp.roles(*PLANNERS)
    @blp.arguments(ProgrammeUpdateSchema)
    @blp.response(200, ProgrammeDetailSchema)
    @blp.doc(security=BEARER)
    def patch(self, body, programme_id):
        """Change a programme; send the `version` you read (409 `stale_version`)."""
        principal = current_principal()
        programme = programme_service.update_programme(principal, programme_id, body)
        return programme_service.present_detail(principal, programme)


@blp.route("/outreach/programmes/<int:programme_id>/events")
class ProgrammeEvents(MethodView):
    @blp.roles(*PLANNERS)
    @blp.arguments(EventCreateSchema)
    @blp.response(201, EventDetailSchema)
    @blp.doc(security=BEARER)
    def post(self, body, programme_id):
        """A draft event (coordinator). 422 `venue_outside_area`, `unknown_institution`,
        `validation_error` (end not after start, a site without lead, ...)."""
        event = event_service.create_event(current_principal(), programme_id, body)
        return event_service.present_detail(event)


@blp.route("/outreach/events")
class Events(MethodView):
    @blp.roles(*READERS)
    @blp.arguments(EventListArgs, location="query")
    @blp.response(200, EventSchema(many=True))
    @blp.alt_response(
        200,
        schema=FeatureCollectionSchema,
        content_type="application/geo+json",
        description="The page of events; with `format=geojson` as a FeatureCollection of points",
        success=True,
    )
    @blp.paginate(page_size=PAGE_SIZE, max_page_size=MAX_PAGE_SIZE)
    @blp.doc(security=BEARER)
    def get(self, args, pagination_parameters):
        """Events in your scope, by start (sortable by `starts_at`, `title`, `status`, `id`,
        `created_at`); `format=geojson` gives the page as GeoJSON points for the map."""
        stmt = event_service.list_events(
            current_principal(),
            programme_id=args.get("programme"),
            institution=args.get("institution"),
            area_id=args.get("area"),
            date_from=args.get("date_from"),
            date_to=args.get("date_to"),
            status=args.get("status"),
            bbox=args.get("bbox"),
            sort=args.get("sort"),
        )
        page = SelectPage(stmt, page_params=pagination_parameters)
        pagination_parameters.item_count = page.item_count  # X-Pagination, set once by the pager
        rows = event_service.present(page.items)
        if args.get("format") == "geojson":
            return geojson_response(event_service.feature_collection(rows))
        return rows


@blp.route("/outreach/events/<int:event_id>")
class EventItem(MethodView):
    @blp.roles(*READERS)
    @blp.response(200, EventDetailSchema)
    @blp.doc(security=BEARER)
    def get(self, event_id):
        """An event with its conflicts as `warnings`."""
        return event_service.present_detail(event_service.get_event(current_principal(), event_id))

    @blp.roles(*PLANNERS)
    @blp.arguments(EventUpdateSchema)
    @blp.response(200, EventDetailSchema)
    @blp.doc(security=BEARER)
    def patch(self, body, event_id):
        """Change an event; send the `version` you read (409 `stale_version`; 409
        `event_closed` once held, reported or cancelled). Moving an approved event in time or
        place sends change notices to its participants."""
        event = event_service.update_event(current_principal(), event_id, body)
        return event_service.present_detail(event)


@blp.route("/outreach/events/<int:event_id>/readiness")
class EventReadiness(MethodView):
    @blp.roles(*READERS)
    @blp.response(200, ReadinessSchema)
    @blp.doc(security=BEARER)
    def get(self, event_id):
        """Every rule the event does not meet yet, and who must act (`ready` when none)."""
        return readiness_service.readiness(current_principal(), event_id)


def _transition(name: str, summary: str):
    """A life-cycle step's view: ``POST /outreach/events/{id}/<name>`` {version}."""

    class Step(MethodView):
        @blp.roles(*PLANNERS)
        @blp.arguments(TransitionSchema)
        @blp.response(200, EventDetailSchema)
        @blp.doc(security=BEARER, summary=summary)
        def post(self, body, event_id):
            step = getattr(lifecycle, name)
            event = step(current_principal(), event_id, body["version"])
            return event_service.present_detail(event)

    Step.__name__ = f"Event{name.title()}"
    blp.route(f"/outreach/events/<int:event_id>/{name}")(Step)


_transition("publish", "draft → planned (coordinator); 409 invalid_transition, stale_version")
_transition(
    "approve",
    "planned → approved (coordinator); 409 event_conflict, plan_not_approved, "
    "invalid_transition, stale_version",
)
_transition("close", "held → reported by the coordinator; 409 invalid_transition, stale_version")


@blp.route("/outreach/events/<int:event_id>/cancel")
class EventCancel(MethodView):
    @blp.roles(*PLANNERS)
    @blp.arguments(CancelSchema)
    @blp.response(200, EventDetailSchema)
    @blp.doc(security=BEARER)
    def post(self, body, event_id):
        """Cancel an event before it is reported, with a reason (an approved event's
        participants are told). 409 `invalid_transition`, `stale_version`."""
        event = lifecycle.cancel(current_principal(), event_id, body["version"], body["reason"])
        return event_service.present_detail(event)
