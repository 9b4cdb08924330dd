"""Workers, their cells and terminals; field-work reports."""

from __future__ import annotations

from flask.views import MethodView
from marshmallow import Schema, fields, validate

from api.common import BEARER, Blueprint, Date, Id, Integer, ListArgs
from gridserve.auth import current_principal
from gridserve.models import EMPLOYMENT_TYPES, WORKER_STATUSES
from gridserve.services.field import devices as device_service
from gridserve.services.field import reports as report_service
from gridserve.services.field import workers as worker_service
from gridserve.timeutil import local_today

blp = Blueprint("workers", __name__, description="Grid workers, assignments, terminals, reports")


class WorkerSchema(Schema):
    id = Integer(dump_only=True)
    user_id = Integer(allow_none=True)
    area_id = Integer(required=True, metadata={"description": "The worker's community"})
    full_name = fields.String(required=True, validate=validate.Length(min=1, max=100))
    employment = fields.String(validate=validate.OneOf(EMPLOYMENT_TYPES))
    source_pool = fields.String(allow_none=True, validate=validate.Length(max=100))
    phone = fields.String(
        allow_none=True, validate=validate.Regexp(r"^\+?[0-9 -]{5,20}$", error="A phone number.")
    )
    status = fields.String(validate=validate.OneOf(WORKER_STATUSES))
    hired_on = Date(allow_none=True)
    personnel_file = fields.Dict()


class WorkerOutSchema(WorkerSchema):
    phone = fields.String(
        attribute="phone_shown",
        allow_none=True,
        metadata={"description": "In clear for the worker's managers, masked for anyone else"},
    )
    cells = fields.List(fields.String(), attribute="cell_codes")


def _shown(workers: list) -> list:
    """Workers as the caller may see them, with the cells they hold today."""
    return worker_service.present(current_principal(), workers, local_today())


class WorkerLookupSchema(Schema):
    id = fields.Integer()
    full_name = fields.String()
    area_id = fields.Integer(metadata={"description": "The worker's community"})


class WorkerLookupArgs(Schema):
    q = fields.String(
        validate=validate.Length(max=100), metadata={"description": "Part of the name"}
    )
    area = fields.Integer(metadata={"description": "An area in your scope (and below)"})


class WorkerUpdateSchema(WorkerSchema):
    area_id = Integer()
    full_name = fields.String(validate=validate.Length(min=1, max=100))


class WorkerListArgs(ListArgs):
    area = Id()
    status = fields.String(validate=validate.OneOf(WORKER_STATUSES))
    employment = fields.String(validate=validate.OneOf(EMPLOYMENT_TYPES))


class AssignSchema(Schema):
    cell = fields.String(required=True, metadata={"description": "Cell code, e.g. QS01-003"})
    starts_on = Date(metadata={"description": "Default today"})


class UnassignArgs(Schema):
    ends_on = Date(metadata={"description": "Default today"})


class AssignmentSchema(Schema):
    id = Integer()
    worker_id = Integer()
    cell_code = fields.String()
    community_id = Integer()
    starts_on = Date()
    ends_on = Date(allow_none=True)


class DeviceSchema(Schema):
    id = Integer()
    worker_id = Integer()
    label = fields.String()
    platform = fields.String(allow_none=True)
    app_version = fields.String(allow_none=True)
    enrolled_at = fields.DateTime()
    last_seen_at = fields.DateTime(allow_none=True)
    revoked_at = fields.DateTime(allow_none=True)


class EnrolmentCodeSchema(Schema):
    code = fields.String(metadata={"example": "7K3M-Q9TX-2HBD"})
    qr = fields.String(metadata={"description": "What to put in the QR code"})
    expires_at = fields.DateTime()


class ReportArgs(Schema):
    area = Id(required=True)
    date = Date(metadata={"description": "Default today"})


class VacantCellSchema(Schema):
    cell_id = Integer()
    code = fields.String()
    community = fields.String()
    workload = fields.Float()
    place_count = Integer()


class PatrolCellSchema(Schema):
    cell_id = Integer()
    code = fields.String()
    worker = fields.Dict(allow_none=True)
    patrolled = fields.Boolean()
    patrols = Integer()
    first = fields.DateTime(allow_none=True)
    last = fields.DateTime(allow_none=True)
    windows = fields.Dict(keys=fields.String(), values=fields.Boolean())


class PatrolReportSchema(Schema):
    date = Date()
    area = fields.Dict()
    cells = fields.List(fields.Nested(PatrolCellSchema))
    unpatrolled = fields.List(fields.String())
    patrolled_share = fields.Float(allow_none=True)


@blp.route("/workers")
class Workers(MethodView):
    @blp.roles(*worker_service.READERS)
    @blp.arguments(WorkerListArgs, location="query")
    @blp.response(200, WorkerOutSchema(many=True))
    @blp.paginate_select(present=_shown)
    @blp.doc(security=BEARER)
    def get(self, args):
        """Workers in your scope."""
        return worker_service.list_workers(
            current_principal(),
            area_id=args.get("area"),
            status=args.get("status"),
            employment=args.get("employment"),
            sort=args.get("sort"),
        )

    @blp.roles(*worker_service.MANAGERS)
    @blp.arguments(WorkerSchema)
    @blp.response(201, WorkerOutSchema)
    @blp.doc(security=BEARER)
    def post(self, body):
        """Register a worker (station and above)."""
        [worker] = _shown([worker_service.create_worker(current_principal(), body)])
        return worker


@blp.route("/workers/lookup")
class WorkerLookup(MethodView):
    @blp.roles(*worker_service.LOOKUP)
    @blp.arguments(WorkerLookupArgs, location="query")
    @blp.response(200, WorkerLookupSchema(many=True))
    @blp.paginate_select()
    @blp.doc(security=BEARER)
    def get(self, args):
        """Active workers in your scope by name: id, full name and community only.

        For the coordinator, who assigns visitors in the outreach programmes and may not
        read personnel records (phone, contract, file) in `GET /workers`.
        """
        return worker_service.lookup_workers(
            current_principal(), q=args.get("q"), area_id=args.get("area")
        )


@blp.route("/workers/<int:worker_id>")
class WorkerItem(MethodView):
    @blp.roles(*worker_service.READERS)
    @blp.response(200, WorkerOutSchema)
    @blp.doc(security=BEARER)
    def get(self, worker_id):
        """One worker with the cells they hold today."""
        [worker] = _shown([worker_service.get_worker(current_principal(), worker_id)])
        return worker

    @blp.roles(*worker_service.MANAGERS)
    @blp.arguments(WorkerUpdateSchema)
    @blp.response(200, WorkerOutSchema)
    @blp.doc(security=BEARER)
    def patch(self, body, worker_id):
        """Change a worker; suspending or dismissing ends their assignments today."""
        principal = current_principal()
        [worker] = _shown([worker_service.update_worker(principal, worker_id, body, local_today())])
        return worker


@blp.route("/workers/<int:worker_id>/assignments")
class WorkerAssignments(MethodView):
    @blp.roles(*worker_service.READERS)
    @blp.response(200, AssignmentSchema(many=True))
    @blp.doc(security=BEARER)
    def get(self, worker_id):
        """The worker's assignments, newest first (history kept)."""
        return worker_service.assignment_history(current_principal(), worker_id)

    @blp.roles(*worker_service.MANAGERS)
    @blp.arguments(AssignSchema)
    @blp.response(201, AssignmentSchema)
    @blp.doc(security=BEARER)
    def post(self, body, worker_id):
        """Give the worker a cell, taking it from its previous holder in the same step."""
        today = local_today()
        return worker_service.assign(
            current_principal(), worker_id, body["cell"], body.get("starts_on") or today, today
        )


@blp.route("/workers/<int:worker_id>/assignments/<string:cell_code>")
class WorkerAssignment(MethodView):
    @blp.roles(*worker_service.MANAGERS)
    @blp.arguments(UnassignArgs, location="query")
    @blp.response(204)
    @blp.doc(security=BEARER)
    def delete(self, args, worker_id, cell_code):
        """End the worker's assignment of a cell (the cell becomes vacant)."""
        worker_service.unassign(
            current_principal(), worker_id, cell_code, args.get("ends_on") or local_today()
        )


@blp.route("/workers/<int:worker_id>/devices")
class WorkerDevices(MethodView):
    @blp.roles(*device_service.READERS)
    @blp.response(200, DeviceSchema(many=True))
    @blp.doc(security=BEARER)
    def get(self, worker_id):
        """The worker's terminals, revoked ones included."""
        return device_service.list_devices(current_principal(), worker_id)


@blp.route("/workers/<int:worker_id>/enrolment-codes")
class EnrolmentCodes(MethodView):
    @blp.roles(*worker_service.MANAGERS)
    @blp.response(201, EnrolmentCodeSchema)
    @blp.doc(security=BEARER)
    def post(self, worker_id):
        """A one-time code (valid minutes) the worker enters or scans on a new terminal."""
        return device_service.issue_enrolment_code(current_principal(), worker_id)


@blp.route("/devices/<int:device_id>/revoke")
class RevokeDevice(MethodView):
    @blp.roles(*worker_service.MANAGERS)
    @blp.response(200, DeviceSchema)
    @blp.doc(security=BEARER)
    def post(self, device_id):
        """Lost terminal: refuse its token from now on (401 `device_revoked`)."""
        return device_service.revoke(current_principal(), device_id)


@blp.route("/reports/vacant-cells")
class VacantCells(MethodView):
    @blp.arguments(ReportArgs, location="query")
    @blp.response(200, VacantCellSchema(many=True))
    @blp.doc(security=BEARER)
    def get(self, args):
        """Cells in force without an assigned worker."""
        return worker_service.vacant_cells(
            current_principal(), args["area"], args.get("date") or local_today()
        )


@blp.route("/reports/patrol-coverage")
class PatrolCoverage(MethodView):
    @blp.roles(*report_service.READERS)
    @blp.arguments(ReportArgs, location="query")
    @blp.response(200, PatrolReportSchema)
    @blp.doc(security=BEARER)
    def get(self, args):
        """Per cell: patrolled or not, how often, first/last, morning/afternoon/evening."""
        return report_service.patrol_coverage(
            current_principal(), args["area"], args.get("date") or local_today()
        )
