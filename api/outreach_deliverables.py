"""Outreach deliverables (材料报送) and the reminders about them."""

from __future__ import annotations

from flask.views import MethodView
from marshmallow import Schema, fields, validate

from api.common import BEARER, Blueprint, Date, Id, Integer, UtcDateTime
from gridserve.auth import current_principal
from gridserve.models import DELIVERABLE_KINDS
from gridserve.services.outreach import deliverables as deliverable_service
from gridserve.services.outreach import reminders as reminder_service

blp = Blueprint(
    "outreach_deliverables",
    __name__,
    description="What each owner (an institution, a worker or a user) must hand in for a "
    "programme by a local date: site plans and event reports (from the publicity programme's "
    "due dates), the visit list and summary of a visits programme, and any the coordinator "
    "adds. Status: pending, submitted, late (after the due day), missing (not submitted, the "
    "due day over). Owners are reminded (a notice here and a text) before the due day "
    "(`GRIDSERVE_OUTREACH_REMINDER_DAYS`, default 3 and 1) and on each overdue day from "
    "`GRIDSERVE_OUTREACH_REMINDER_HOUR` (default 9), never in the quiet hours.",
)

VERSION = Integer(
    required=True,
    strict=True,
    validate=validate.Range(min=1),
    metadata={"description": "The version your change is based on (409 stale_version if old)"},
)


class OwnerInSchema(Schema):
    institution = fields.String(
        validate=validate.Length(min=1, max=40), metadata={"description": "An institution code"}
    )
    worker_id = Id()
    user = fields.String(
        validate=validate.Length(min=1, max=64), metadata={"description": "A username"}
    )


class OwnerSchema(Schema):
    kind = fields.String(metadata={"description": "institution | worker | user"})
    id = Integer()
    label = fields.String(
        metadata={"description": "The institution's code, the worker's name, the username"}
    )


class ReminderBriefSchema(Schema):
    id = Integer()
    day = fields.Date()
    kind = fields.String(metadata={"description": "before | overdue"})


class DeliverableSchema(Schema):
    id = Integer()
    programme_id = Integer()
    kind = fields.String(metadata={"description": " | ".join(DELIVERABLE_KINDS)})
    key = fields.String(
        allow_none=True,
        metadata={"description": "What a derived deliverable follows from; null when added"},
    )
    title = fields.String()
    event_id = Integer(allow_none=True)
    owner = fields.Nested(OwnerSchema)
    due_on = fields.Date()
    due_at = fields.DateTime(metadata={"description": "The end of the due day, local time"})
    status = fields.String(metadata={"description": "pending | submitted | late | missing"})
    submitted_at = UtcDateTime(allow_none=True)
    submitted_by = fields.String(allow_none=True, metadata={"description": "A username"})
    note = fields.String()
    reminders = fields.List(fields.Nested(ReminderBriefSchema))
    version = Integer()


class DeliverableListArgs(Schema):
    kind = fields.String(validate=validate.OneOf(DELIVERABLE_KINDS))
    institution = fields.String(
        validate=validate.Length(min=1, max=40),
        metadata={"description": "Owned by this institution (422 `unknown_institution`)"},
    )


class DeliverableCreateSchema(Schema):
    kind = fields.String(required=True, validate=validate.OneOf(DELIVERABLE_KINDS))
    title = fields.String(
        required=True, validate=validate.Length(min=1, max=deliverable_service.TITLE_MAX)
    )
    owner = fields.Nested(
        OwnerInSchema,
        required=True,
        metadata={"description": "Exactly one of `institution`, `worker_id`, `user`"},
    )
    due_on = Date(required=True, metadata={"description": "Local date it is due"})
    note = fields.String(
        load_default="", validate=validate.Length(max=deliverable_service.NOTE_MAX)
    )


class DeliverablePatchSchema(Schema):
    title = fields.String(validate=validate.Length(min=1, max=deliverable_service.TITLE_MAX))
    owner = fields.Nested(OwnerInSchema)
    due_on = Date()
    note = fields.String(validate=validate.Length(max=deliverable_service.NOTE_MAX))
    version = VERSION


class SubmitSchema(Schema):
    note = fields.String(validate=validate.Length(max=deliverable_service.NOTE_MAX))


class DeliverableBriefSchema(Schema):
    programme_id = Integer()
    kind = fields.String()
    title = fields.String()
    owner = fields.Nested(OwnerSchema)
    due_on = fields.Date()
    status = fields.String()


class ReminderSchema(Schema):
    id = Integer()
    deliverable_id = Integer()
    deliverable = fields.Nested(DeliverableBriefSchema)
    day = fields.Date(metadata={"description": "The local day it reminds on"})
    kind = fields.String(metadata={"description": "before | overdue"})
    message = fields.String()
    texted = Integer(metadata={"description": "Texts queued to the owner's mobiles"})
    undeliverable = fields.List(
        fields.String(), metadata={"description": "Names without a mobile number (not texted)"}
    )
    created_at = UtcDateTime()
    acknowledged = fields.Boolean()
    acknowledged_at = UtcDateTime(allow_none=True)
    acknowledged_by = Integer(allow_none=True)


class ReminderListArgs(Schema):
    acknowledged = fields.Boolean(metadata={"description": "true / false"})
    programme = Id(metadata={"description": "Reminders of this programme's deliverables"})


def _one(row) -> dict:
    return deliverable_service.present([row])[0]


@blp.route("/outreach/programmes/<int:programme_id>/deliverables")
class ProgrammeDeliverables(MethodView):
    @blp.roles(*deliverable_service.DELIVERABLE_READERS)
    @blp.arguments(DeliverableListArgs, location="query")
    @blp.response(200, DeliverableSchema(many=True))
    @blp.paginate_select(present=deliverable_service.present)
    @blp.doc(security=BEARER)
    def get(self, args, programme_id):
        """The programme's deliverables by due date, each with its owner's status (a contact:
        its institution's). Derived afresh from the programme, its events, plans and reports."""
        return deliverable_service.list_deliverables(
            current_principal(),
            programme_id,
            kind=args.get("kind"),
            institution=args.get("institution"),
        )

    @blp.roles(*deliverable_service.MANAGERS)
    @blp.arguments(DeliverableCreateSchema)
    @blp.response(201, DeliverableSchema)
    @blp.doc(security=BEARER)
    def post(self, body, programme_id):
        """Coordinator: add a deliverable. 422 `validation_error` (not exactly one owner),
        `unknown_institution`, `unknown_worker`, `unknown_user`."""
        return _one(deliverable_service.add(current_principal(), programme_id, body))


@blp.route("/outreach/deliverables/<int:deliverable_id>")
class DeliverableItem(MethodView):
    @blp.roles(*deliverable_service.DELIVERABLE_READERS, *deliverable_service.OWNERS)
    @blp.response(200, DeliverableSchema)
    @blp.doc(security=BEARER)
    def get(self, deliverable_id):
        """One deliverable."""
        return _one(deliverable_service.get_deliverable(current_principal(), deliverable_id))

    @blp.roles(*deliverable_service.MANAGERS)
    @blp.arguments(DeliverablePatchSchema)
    @blp.response(200, DeliverableSchema)
    @blp.doc(security=BEARER)
    def patch(self, body, deliverable_id):
        """Coordinator: change title, owner, due date or note; send the `version` you read
        (409 `stale_version`). A derived deliverable's title, owner and due date follow the
        programme (409 `derived_deliverable`)."""
        return _one(deliverable_service.change(current_principal(), deliverable_id, body))


@blp.route("/outreach/deliverables/<int:deliverable_id>/submit")
class DeliverableSubmit(MethodView):
    @blp.roles(*deliverable_service.OWNERS)
    @blp.arguments(SubmitSchema)
    @blp.response(200, DeliverableSchema)
    @blp.doc(security=BEARER)
    def post(self, body, deliverable_id):
        """The owner hands it in (a contact of the owning institution, the worker's own
        account, the owning user): 403 `not_the_owner`; 409 `already_submitted`; 409
        `submitted_elsewhere` for a site plan or event report (file the plan or report)."""
        return _one(
            deliverable_service.submit(current_principal(), deliverable_id, body.get("note"))
        )


@blp.route("/outreach/reminders")
class Reminders(MethodView):
    @blp.roles(*reminder_service.READERS)
    @blp.arguments(ReminderListArgs, location="query")
    @blp.response(200, ReminderSchema(many=True))
    @blp.paginate_select(present=reminder_service.present)
    @blp.doc(security=BEARER)
    def get(self, args):
        """Your reminders, newest day first (the coordinator: every reminder in its area)."""
        return reminder_service.list_reminders(
            current_principal(),
            acknowledged=args.get("acknowledged"),
            programme_id=args.get("programme"),
        )


@blp.route("/outreach/reminders/<int:reminder_id>/acknowledge")
class ReminderAcknowledge(MethodView):
    @blp.roles(*reminder_service.READERS)
    @blp.response(200, ReminderSchema)
    @blp.doc(security=BEARER)
    def post(self, reminder_id):
        """The owner acknowledges a reminder (again: no change). 403 `not_the_owner`."""
        reminder = reminder_service.acknowledge(current_principal(), reminder_id)
        return reminder_service.present([reminder])[0]
