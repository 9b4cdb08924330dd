"""Site suggestions: where to put a programme's publicity sites (maximal covering location)."""

from __future__ import annotations

from flask.views import MethodView
from marshmallow import Schema, fields, validate

from api.common import BEARER, Blueprint, Id, Integer
from gridserve.auth import current_principal
from gridserve.services.outreach import sites as site_service

blp = Blueprint(
    "outreach_sites",
    __name__,
    description="Where to put publicity sites so that most households of an area are near one.",
)


class SiteSuggestionRequestSchema(Schema):
    area_id = Id(required=True, metadata={"description": "The area (street or community)"})
    count = Integer(
        required=True,
        validate=validate.Range(min=1),
        metadata={"description": "How many sites; at most the number of candidates"},
    )
    radius_m = fields.Float(
        required=True,
        validate=validate.Range(
            min=0, max=site_service.MAX_RADIUS_M, min_inclusive=False, max_inclusive=True
        ),
        metadata={"description": "A household is covered within this distance of a site"},
    )
    candidate_types = fields.List(
        fields.String(validate=validate.Length(min=1, max=32)),
        validate=validate.Length(min=1, max=20),
        metadata={
            "description": "Place types that may be a site (default: "
            + ", ".join(site_service.DEFAULT_TYPES)
            + "); one of "
            + ", ".join(site_service.CANDIDATE_TYPES)
        },
    )
    min_separation_m = fields.Float(
        load_default=0.0,
        validate=validate.Range(min=0, max=site_service.MAX_SEPARATION_M),
        metadata={"description": "No two chosen sites closer than this (default 0: no rule)"},
    )
    exclude = fields.List(
        Id(),
        load_default=list,
        validate=validate.Length(max=10_000),
        metadata={"description": "Place ids that may not be chosen"},
    )


class SuggestedSiteSchema(Schema):
    place_id = Integer()
    name = fields.String()
    type = fields.String()
    lon = fields.Float()
    lat = fields.Float()
    catchment = Integer(metadata={"description": "Households within the radius of this site"})
    adds = Integer(metadata={"description": "Households it adds to the sites listed before it"})
    covered = Integer(metadata={"description": "Households covered by it and those before it"})


class SuggestedPlanSchema(Schema):
    sites = fields.List(fields.Nested(SuggestedSiteSchema))
    covered = Integer()
    share = fields.Float(metadata={"description": "Of the area's households"})


class SiteSuggestionSchema(Schema):
    area_id = Integer()
    count = Integer()
    radius_m = fields.Float()
    min_separation_m = fields.Float()
    candidate_types = fields.List(fields.String())
    candidates = Integer(metadata={"description": "Candidate places considered"})
    households = Integer(metadata={"description": "Household places of the area"})
    reachable = Integer(
        metadata={"description": "Households within the radius of at least one candidate"}
    )
    sites = fields.List(
        fields.Nested(SuggestedSiteSchema),
        metadata={"description": "The suggested sites, each adding most to those before it"},
    )
    covered = Integer()
    share = fields.Float(metadata={"description": "Of the area's households"})
    short_by = Integer(
        metadata={"description": "Sites fewer than asked: the separation rule left no room"}
    )
    baseline = fields.Nested(
        SuggestedPlanSchema,
        metadata={
            "description": "The top sites by their own catchment under the same separation "
            "rule, for comparison"
        },
    )
    gain_over_baseline = Integer()


@blp.route("/outreach/site-suggestions")
class SiteSuggestions(MethodView):
    @blp.roles(*site_service.ROLES)
    @blp.arguments(SiteSuggestionRequestSchema)
    @blp.response(200, SiteSuggestionSchema)
    @blp.doc(security=BEARER)
    def post(self, args):
        """Suggest sites covering the most households within `radius_m` (counts only).

        Among the area's register places of `candidate_types`, `count` sites at least
        `min_separation_m` apart that together have as many household places as possible
        within `radius_m` metres (the maximal covering location problem), each with the
        households it adds; beside it the plain top-`count` by own catchment under the same
        rule. 422 `not_enough_candidates` when `count` exceeds the candidates,
        `unknown_candidate_type` for a type no site can be, `suggestion_too_large` when the
        area and radius make too many candidate-household pairs; an area outside your scope
        is 404.
        """
        return site_service.suggest(
            current_principal(),
            area_id=args["area_id"],
            count=args["count"],
            radius_m=args["radius_m"],
            candidate_types=args.get("candidate_types"),
            min_separation_m=args["min_separation_m"],
            exclude=args["exclude"],
        )
