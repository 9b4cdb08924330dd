"""Grid layouts: generate, inspect, edit, approve, activate; cells as GeoJSON; locate."""

from __future__ import annotations

from flask import request
from flask.views import MethodView
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from api.common import BEARER, Blueprint, Date, Integer, ListArgs
from api.geojson import GeoJSONSchema, bbox_field, geojson_response
from api.jobs import accepted, may_run_as_job, request_id, wants_async
from gridserve.auth import current_principal
from gridserve.config import settings
from gridserve.models import PLACE_TYPES, PLAN_METHODS, PLAN_STATUSES
from gridserve.services.accounts import jobs as job_service
from gridserve.services.geography import grid as grid_service
from gridserve.services.geography import grid_workflow
from gridserve.services.geography import locate as locate_service
from gridserve.timeutil import local_today

blp = Blueprint("grid", __name__, description="Grid layouts, their cells, and point lookup")


class PlanCreateSchema(Schema):
    method = fields.String(required=True, validate=validate.OneOf(PLAN_METHODS))
    cells = Integer(
        validate=validate.Range(min=1), metadata={"description": "balanced, blocks: N cells"}
    )
    size_m = fields.Float(
        validate=validate.Range(min=1, max=100_000),
        metadata={"description": "square, hex: cell size in metres"},
    )
    weights = fields.Dict(
        keys=fields.String(validate=validate.OneOf(PLACE_TYPES)),
        values=fields.Float(validate=validate.Range(min=0)),
        metadata={"description": 'Workload weight per place type (default {"household": 1})'},
    )
    roads = fields.Nested(
        GeoJSONSchema, metadata={"description": "blocks: street and lane LineStrings"}
    )
    name = fields.String(validate=validate.Length(max=200))


class PlanSummarySchema(Schema):
    id = Integer()
    area_id = Integer()
    name = fields.String()
    method = fields.String()
    params = fields.Dict()
    status = fields.String()
    version = Integer()
    metrics = fields.Dict(
        metadata={
            "description": "cell_count, workload {min,mean,max}, balance_ratio (max/mean), "
            "area_m2, compactness (Polsby–Popper), gap_area_m2, overlap_area_m2, "
            "places_unassigned, seconds"
        }
    )
    note = fields.String(allow_none=True)
    effective_from = Date(allow_none=True)
    created_at = fields.DateTime()
    proposed_at = fields.DateTime(allow_none=True)
    approved_at = fields.DateTime(allow_none=True)
    activated_at = fields.DateTime(allow_none=True)
    retired_at = fields.DateTime(allow_none=True)


class PlanSchema(PlanSummarySchema):
    change_report = fields.Dict(
        allow_none=True,
        metadata={"description": "On activation: cells unchanged, moved, split, merged, added, "
                  "removed; the places that changed cell"},
    )  # fmt: skip
    cells = fields.Function(
        lambda plan: [
            {"id": c.id, "code": c.code, "workload": c.workload, "place_count": c.place_count}
            for c in plan.cells
        ]
    )


class PlanListArgs(ListArgs):
    status = fields.String(validate=validate.OneOf(PLAN_STATUSES))


class EditSchema(Schema):
    op = fields.String(required=True, validate=validate.OneOf(["merge", "split", "redraw"]))
    cells = fields.List(fields.String(), validate=validate.Length(equal=2))
    cell = fields.String()
    line = fields.Dict(metadata={"description": "GeoJSON LineString (split, redraw)"})
    parts = Integer(validate=validate.Range(min=2, max=50))
    version = Integer(metadata={"description": "The plan version you edited"})

    @validates_schema
    def _needs(self, data, **_kwargs):
        op = data.get("op")
        if op in ("merge", "redraw") and "cells" not in data:
            raise ValidationError("Two cell codes.", "cells")
        if op == "redraw" and "line" not in data:
            raise ValidationError("The new border as a LineString.", "line")
        if op == "split":
            if "cell" not in data:
                raise ValidationError("The cell to split.", "cell")
            if ("line" in data) == ("parts" in data):
                raise ValidationError("Give either a line or a number of parts.", "parts")


class NoteSchema(Schema):
    note = fields.String(validate=validate.Length(max=1000))


class ActivateSchema(Schema):
    effective_from = Date(metadata={"description": "Local date; default today"})


class CellArgs(Schema):
    at = Date(metadata={"description": "Cells in force on this day (default today)"})
    bbox = bbox_field()
    tolerance = fields.Float(
        validate=validate.Range(min=0, max=1000),
        metadata={"description": "Simplify by this many metres (shared borders kept)"},
    )


class LocateArgs(Schema):
    lon = fields.Float(required=True, validate=validate.Range(min=-180, max=180))
    lat = fields.Float(required=True, validate=validate.Range(min=-90, max=90))
    at = Date(metadata={"description": "Where was it on this day (default today)"})


class Ref(Schema):
    id = Integer()
    code = fields.String()
    name = fields.String()


class CellRef(Schema):
    id = Integer()
    code = fields.String()
    plan_id = Integer()


class WorkerRef(Schema):
    id = Integer()
    full_name = fields.String()


class LocationSchema(Schema):
    lon = fields.Float()
    lat = fields.Float()
    date = Date()
    district = fields.Nested(Ref, allow_none=True)
    street = fields.Nested(Ref, allow_none=True)
    community = fields.Nested(Ref, allow_none=True)
    cell = fields.Nested(CellRef, allow_none=True)
    worker = fields.Nested(WorkerRef, allow_none=True)


@blp.route("/areas/<int:area_id>/grid-plans")
class AreaPlans(MethodView):
    @blp.arguments(PlanListArgs, location="query")
    @blp.response(200, PlanSummarySchema(many=True))
    @blp.paginate_select()
    @blp.doc(security=BEARER)
    def get(self, args, area_id):
        """The layouts of a street or community, newest first."""
        return grid_service.list_plans(current_principal(), area_id, **args)

    @blp.roles(*grid_service.DRAFTERS)
    @blp.arguments(PlanCreateSchema)
    @blp.response(201, PlanSchema)
    @may_run_as_job(blp)
    @blp.doc(security=BEARER)
    def post(self, body, area_id):
        """Generate a draft layout: `square`/`hex` (size_m), `balanced`/`blocks` (cells).

        With `Prefer: respond-async`, or for more cells than the service's
        `GRIDSERVE_ASYNC_GRID_CELLS` (default 500; square and hex: estimated from the area and
        the size): 202 and a job to poll (`Location`); its `result_url` is the plan.
        """
        cells = grid_service.expected_cells(current_principal(), area_id, body)
        big = settings().async_grid_cells < cells <= settings().max_cells  # over: 422 at once
        if wants_async(request) or big:
            params = {k: v for k, v in body.items() if k != "roads"}
            job = job_service.submit(
                current_principal(), "grid_plan", area_id,
                params=params, payload=body, request_id=request_id(),
            )  # fmt: skip
            return accepted(job)
        return grid_service.create_plan(current_principal(), area_id, body, local_today())


@blp.route("/grid-plans/<int:plan_id>")
class Plan(MethodView):
    @blp.response(200, PlanSchema)
    @blp.doc(security=BEARER)
    def get(self, plan_id):
        """A layout with its metrics, cells and (once active) change report."""
        return grid_service.get_plan(current_principal(), plan_id)

    @blp.roles(*grid_service.PLANNERS)
    @blp.response(204)
    @blp.doc(security=BEARER)
    def delete(self, plan_id):
        """Discard a draft (proposed and later plans are kept for history)."""
        grid_service.discard_plan(current_principal(), plan_id)


@blp.route("/grid-plans/<int:plan_id>/cells")
class PlanCells(MethodView):
    @blp.arguments(CellArgs, location="query")
    @blp.response(200, description="GeoJSON FeatureCollection of the plan's cells")
    @blp.doc(security=BEARER)
    def get(self, args, plan_id):
        """The plan's cells as GeoJSON (any status)."""
        cells = grid_service.plan_cells(current_principal(), plan_id, args.get("bbox"))
        return geojson_response(grid_service.feature_collection(cells, args.get("tolerance")))


@blp.route("/grid-plans/<int:plan_id>/edits")
class PlanEdits(MethodView):
    @blp.roles(*grid_service.PLANNERS)
    @blp.arguments(EditSchema)
    @blp.response(200, PlanSchema)
    @blp.doc(security=BEARER)
    def post(self, body, plan_id):
        """Merge two cells, split one (by a line or into N balanced parts), or redraw a border.

        Refused with 422 `coverage_broken` (and where) if the result would leave a
        gap or an overlap; 409 if the plan is not a draft or `version` is stale.
        """
        return grid_service.edit_plan(current_principal(), plan_id, body, local_today())


@blp.route("/grid-plans/<int:plan_id>/propose")
class Propose(MethodView):
    @blp.roles(*grid_service.PROPOSERS)
    @blp.arguments(NoteSchema)
    @blp.response(200, PlanSchema)
    @blp.doc(security=BEARER)
    def post(self, body, plan_id):
        """Street centre: submit a draft for approval."""
        return grid_workflow.propose(current_principal(), plan_id, body.get("note"))


@blp.route("/grid-plans/<int:plan_id>/return")
class SendBack(MethodView):
    @blp.roles(*grid_service.APPROVERS)
    @blp.arguments(NoteSchema)
    @blp.response(200, PlanSchema)
    @blp.doc(security=BEARER)
    def post(self, body, plan_id):
        """District centre: return a proposal to draft, with a note."""
        return grid_workflow.send_back(current_principal(), plan_id, body.get("note"))


@blp.route("/grid-plans/<int:plan_id>/approve")
class Approve(MethodView):
    @blp.roles(*grid_service.APPROVERS)
    @blp.arguments(NoteSchema)
    @blp.response(200, PlanSchema)
    @blp.doc(security=BEARER)
    def post(self, body, plan_id):
        """District centre: approve a proposal."""
        return grid_workflow.approve(current_principal(), plan_id, body.get("note"))


@blp.route("/grid-plans/<int:plan_id>/activate")
class Activate(MethodView):
    @blp.roles(*grid_service.APPROVERS)
    @blp.arguments(ActivateSchema)
    @blp.response(200, PlanSchema)
    @blp.doc(security=BEARER)
    def post(self, body, plan_id):
        """District centre: put an approved layout in force today or from a later date."""
        return grid_workflow.activate(
            current_principal(), plan_id, body.get("effective_from"), local_today()
        )


@blp.route("/areas/<int:area_id>/cells")
class AreaCells(MethodView):
    @blp.arguments(CellArgs, location="query")
    @blp.response(200, description="GeoJSON FeatureCollection of the cells in force")
    @blp.doc(security=BEARER)
    def get(self, args, area_id):
        """The cells in force in an area on a day, as GeoJSON for maps."""
        on = args.get("at") or local_today()
        cells = grid_service.cells_in_force(current_principal(), area_id, on, args.get("bbox"))
        return geojson_response(grid_service.feature_collection(cells, args.get("tolerance"), on))


@blp.route("/locate")
class Locate(MethodView):
    @blp.arguments(LocateArgs, location="query")
    @blp.response(200, LocationSchema)
    @blp.alt_response(404, description="`outside_coverage`: outside every area you can see")
    @blp.doc(security=BEARER)
    def get(self, args):
        """The area chain and the cell at a point (on a past day with `at`)."""
        return locate_service.locate(
            current_principal(), args["lon"], args["lat"], args.get("at") or local_today()
        )
