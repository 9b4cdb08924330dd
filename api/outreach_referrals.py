"""Outreach: referrals (转介) of needs one institution cannot serve, and their register."""

from __future__ import annotations

from flask.views import MethodView
from marshmallow import Schema, fields, validate

from api.common import BEARER, Blueprint, Id, Integer, ListArgs
from gridserve.auth import current_principal
from gridserve.models import REFERRAL_STATUSES
from gridserve.services.outreach import referrals as referral_service

blp = Blueprint(
    "outreach_referrals",
    __name__,
    description="Referrals (转介): whoever meets a need its institution cannot serve refers it "
    "to another institution, or a named contact there, on a numbered card "
    "(`ZJ-<year>-<6 digits>`). The receiving institution's contacts accept it and record the "
    "outcome; a conversion earns the referrer `GRIDSERVE_OUTREACH_REFERRAL_POINTS` points "
    "(default 10). A contact sees the cards its institution sent or received; the coordinator "
    "and area users those of their area; workers none.",
)

TEXT = validate.Length(max=2000)


class ReferralCreateSchema(Schema):
    visit_id = Id(
        allow_none=True, metadata={"description": "Refer from this visit (or give enterprise_id)"}
    )
    enterprise_id = Id(
        allow_none=True,
        metadata={"description": "Refer from this listed enterprise (or give visit_id)"},
    )
    to_institution = fields.String(
        required=True,
        validate=validate.Length(min=1, max=40),
        metadata={"description": "The receiving institution's code"},
    )
    to_user_id = Id(
        allow_none=True,
        metadata={"description": "A named contact account of the receiving institution"},
    )
    need = fields.String(required=True, validate=validate.Length(min=1, max=2000))
    note = fields.String(load_default="", validate=TEXT)


class ReferralAcceptSchema(Schema):
    version = Id(metadata={"description": "The version you read (409 `stale_version`)"})


class ReferralOutcomeSchema(Schema):
    outcome = fields.String(required=True, validate=validate.OneOf(referral_service.OUTCOMES))
    care_note = fields.String(
        load_default="",
        validate=TEXT,
        metadata={"description": "客户关怀: how the customer is followed up; required when "
                  "`not_converted`"},
    )  # fmt: skip
    version = Id(metadata={"description": "The version you read (409 `stale_version`)"})


class ReferralEnterpriseSchema(Schema):
    credit_code = fields.String()
    name = fields.String()


class ReferralSchema(Schema):
    id = Integer()
    number = fields.String(metadata={"description": "The card: ZJ-<year>-<6 digits>"})
    programme_id = Integer()
    enterprise_id = Integer()
    enterprise = fields.Nested(ReferralEnterpriseSchema)
    visit_id = Integer(allow_none=True)
    area_id = Integer(metadata={"description": "The enterprise's community"})
    from_institution = fields.String(metadata={"description": "Code"})
    from_user = fields.String(allow_none=True, metadata={"description": "The referrer"})
    to_institution = fields.String(metadata={"description": "Code"})
    to_user = fields.String(allow_none=True)
    need = fields.String()
    note = fields.String()
    status = fields.String(metadata={"description": ", ".join(REFERRAL_STATUSES)})
    accepted_at = fields.DateTime(allow_none=True, metadata={"description": "Local time"})
    accepted_by = fields.String(allow_none=True)
    outcome_at = fields.DateTime(allow_none=True, metadata={"description": "Local time"})
    outcome_by = fields.String(allow_none=True)
    care_note = fields.String()
    points = Integer(metadata={"description": "The referrer's points (on conversion)"})
    version = Integer()
    created_at = fields.DateTime(metadata={"description": "Local time"})


class ReferralListArgs(ListArgs):
    programme = Id()
    institution = fields.String(
        validate=validate.Length(min=1, max=40),
        metadata={"description": "Cards this institution (code) sent or received"},
    )
    direction = fields.String(
        validate=validate.OneOf(referral_service.DIRECTIONS),
        metadata={
            "description": "Relative to `institution`, else to your own institution (422 "
            "without either)"
        },
    )
    status = fields.String(validate=validate.OneOf(REFERRAL_STATUSES))
    enterprise = Id()


class ReferralRegisterArgs(Schema):
    programme = Id()
    institution = fields.String(
        validate=validate.Length(min=1, max=40),
        metadata={"description": "Only cards this institution (code) sent or received"},
    )


class ReferralCountsSchema(Schema):
    sent = Integer(metadata={"description": "Cards sent"})
    received = Integer(
        metadata={"description": "Cards addressed to it (a person: naming them as to_user)"}
    )
    accepted = Integer(metadata={"description": "Cards it sent that were accepted"})
    converted = Integer(metadata={"description": "Cards it sent that were converted"})
    not_converted = Integer(metadata={"description": "Cards it sent that were not converted"})
    points = Integer(metadata={"description": "Points earned by the cards it sent"})


class ReferralPersonSchema(ReferralCountsSchema):
    user = fields.String()
    institution = fields.String(allow_none=True)


class ReferralInstitutionSchema(ReferralCountsSchema):
    institution = fields.String()
    name = fields.String()


class ReferralRegisterSchema(Schema):
    people = fields.List(fields.Nested(ReferralPersonSchema))
    institutions = fields.List(fields.Nested(ReferralInstitutionSchema))


@blp.route("/outreach/referrals")
class Referrals(MethodView):
    @blp.roles(*referral_service.REFERRAL_READERS)
    @blp.arguments(ReferralListArgs, location="query")
    @blp.response(200, ReferralSchema(many=True))
    @blp.paginate_select(present=referral_service.present)
    @blp.doc(security=BEARER)
    def get(self, args):
        """Referral cards in your scope, newest first (sortable by `created_at`, `number`,
        `status`, `id`)."""
        return referral_service.list_referrals(
            current_principal(),
            programme=args.get("programme"),
            institution=args.get("institution"),
            direction=args.get("direction"),
            status=args.get("status"),
            enterprise=args.get("enterprise"),
            sort=args.get("sort"),
        )

    @blp.roles(*referral_service.ACTORS)
    @blp.arguments(ReferralCreateSchema)
    @blp.response(201, ReferralSchema)
    @blp.doc(security=BEARER)
    def post(self, body):
        """Refer a need from a visit or a listed enterprise of your institution (exactly one
        of `visit_id`, `enterprise_id`: else 422; one you do not see: 404). 422
        `unknown_institution`, `same_institution` (your own), `unknown_user` (`to_user_id` not
        an active contact of `to_institution`)."""
        referral = referral_service.create(current_principal(), body)
        return referral_service.present([referral])[0]


@blp.route("/outreach/referrals/register")
class ReferralRegister(MethodView):
    @blp.roles(*referral_service.REFERRAL_READERS)
    @blp.arguments(ReferralRegisterArgs, location="query")
    @blp.response(200, ReferralRegisterSchema)
    @blp.doc(security=BEARER)
    def get(self, args):
        """The register (转介登记): per person (the referrer) and per institution, over the
        cards you see: sent, received, and of those sent accepted, converted, not converted
        and the points earned; most points first."""
        return referral_service.register(
            current_principal(),
            programme=args.get("programme"),
            institution=args.get("institution"),
        )


@blp.route("/outreach/referrals/<int:referral_id>")
class ReferralItem(MethodView):
    @blp.roles(*referral_service.REFERRAL_READERS)
    @blp.response(200, ReferralSchema)
    @blp.doc(security=BEARER)
    def get(self, referral_id):
        """One referral card."""
        referral = referral_service.get(current_principal(), referral_id)
        return referral_service.present([referral])[0]


@blp.route("/outreach/referrals/<int:referral_id>/accept")
class ReferralAccept(MethodView):
    @blp.roles(*referral_service.ACTORS)
    @blp.arguments(ReferralAcceptSchema)
    @blp.response(200, ReferralSchema)
    @blp.doc(security=BEARER)
    def post(self, body, referral_id):
        """Accept a card sent to your institution (any of its contacts, also when it names
        one of them). 403 `not_receiver` for the sender; 409 `invalid_transition` unless
        `sent`."""
        referral = referral_service.accept(current_principal(), referral_id, body.get("version"))
        return referral_service.present([referral])[0]


@blp.route("/outreach/referrals/<int:referral_id>/outcome")
class ReferralOutcome(MethodView):
    @blp.roles(*referral_service.ACTORS)
    @blp.arguments(ReferralOutcomeSchema)
    @blp.response(200, ReferralSchema)
    @blp.doc(security=BEARER)
    def post(self, body, referral_id):
        """Record the outcome of an accepted card (receiving institution): `converted` gives
        the referrer the configured points, `not_converted` needs a `care_note` (422). 409
        `invalid_transition` unless `accepted`."""
        referral = referral_service.record_outcome(current_principal(), referral_id, body)
        return referral_service.present([referral])[0]
