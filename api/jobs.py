"""Jobs: long operations sent with `Prefer: respond-async`, polled until they end."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Request, g, jsonify, request
from flask.views import MethodView
from marshmallow import Schema, fields, validate

from api.common import BEARER, Blueprint, Integer, ListArgs, UtcDateTime
from gridserve.auth import current_principal
from gridserve.errors import ErrorEnvelopeSchema
from gridserve.models import JOB_KINDS, JOB_STATUSES
from gridserve.services.accounts import jobs as job_service

blp = Blueprint(
    "jobs",
    __name__,
    description="Long operations (grid plans, place imports) sent with `Prefer: respond-async`, "
    "and big ones without it (a grid plan of more than the service's GRIDSERVE_ASYNC_GRID_CELLS "
    "cells, default 500; an import of more than GRIDSERVE_ASYNC_IMPORT_ROWS rows, default "
    "10,000), answer 202 with `Location: /api/v1/jobs/{id}`; poll that until `status` is "
    "`succeeded` "
    "(then GET `result_url`) or `failed` (then `error` is the envelope the operation would "
    "have answered, with its HTTP `status`). Only the requester (and an admin) can read a job. "
    "Assessment runs are always jobs.",
)


class JobErrorSchema(Schema):
    code = fields.String(metadata={"example": "validation_error"})
    message = fields.String()
    details = fields.Dict()
    status = Integer(metadata={"description": "What the synchronous call would have answered"})


class JobSchema(Schema):
    id = Integer()
    kind = fields.String(metadata={"enum": list(JOB_KINDS)})
    status = fields.String(metadata={"enum": list(JOB_STATUSES)})
    progress = fields.Float(metadata={"description": "0..1"})
    message = fields.String(
        metadata={"description": "The step: queued, started, reading_area, drawing_cells, "
                  "measuring, checking_rows, locating, storing, targets, scoring, stored, done, "
                  "failed"},
    )  # fmt: skip
    area_id = Integer(allow_none=True)
    params = fields.Dict(metadata={"description": "What was asked (a grid plan's method, ...)"})
    result_url = fields.String(
        allow_none=True,
        metadata={"description": "Once succeeded: what it made (a grid plan), or "
                  "/api/v1/jobs/{id}/result (an import's report)"},
    )  # fmt: skip
    error = fields.Nested(JobErrorSchema, allow_none=True, metadata={"description": "Once failed"})
    requested_by = Integer()
    created_at = UtcDateTime()
    started_at = UtcDateTime(allow_none=True)
    finished_at = UtcDateTime(allow_none=True)
    updated_at = UtcDateTime()


class JobListArgs(ListArgs):
    status = fields.String(validate=validate.OneOf(JOB_STATUSES))


# --- what operations that may run as a job share ------------------------------------------------

PREFER = {
    "in": "header",
    "name": "Prefer",
    "required": False,
    "schema": {"type": "string", "enum": ["respond-async"]},
    "description": "`respond-async`: answer 202 at once with a job to poll (Location), "
    "instead of waiting for the result (big requests are answered so without it)",
}
_LOCATION = {
    "Location": {
        "description": "The job to poll: /api/v1/jobs/{id}",
        "schema": {"type": "string"},
        "required": True,
    },
    "Preference-Applied": {
        "description": "respond-async, when the request asked for it",
        "schema": {"type": "string"},
    },
}


def wants_async(request: Request) -> bool:
    """The request says ``Prefer: respond-async`` (RFC 7240; among other preferences too)."""
    for header in request.headers.getlist("Prefer"):
        for preference in header.split(","):
            if preference.split(";")[0].strip().lower() == "respond-async":
                return True
    return False


def may_run_as_job(blp_: Blueprint) -> Callable:
    """Document the `Prefer: respond-async` header and its 202 answer on an operation."""
    doc = blp_.doc(parameters=[PREFER])
    alt = blp_.alt_response(
        202, schema=JobSchema, headers=_LOCATION, description="Accepted as a job: poll Location"
    )

    def decorator(view: Callable) -> Callable:
        return doc(alt(view))

    return decorator


def accepted(job: Any):
    """The 202 answer for a job just submitted."""
    response = jsonify(JobSchema().dump(job))
    response.status_code = 202
    response.headers["Location"] = f"/api/v1/jobs/{job.id}"
    if wants_async(request):  # not when the request was only too big to wait for
        response.headers["Preference-Applied"] = "respond-async"
    response.headers["Retry-After"] = "1"
    return response


def request_id() -> str | None:
    return g.get("request_id")


# --- the job resource -----------------------------------------------------------------------


@blp.route("/jobs")
class Jobs(MethodView):
    @blp.arguments(JobListArgs, location="query")
    @blp.response(200, JobSchema(many=True))
    @blp.paginate_select()
    @blp.doc(security=BEARER)
    def get(self, args):
        """Your jobs (an admin: everyone's), newest first."""
        return job_service.list_jobs(
            current_principal(), status=args.get("status"), sort=args.get("sort")
        )


@blp.route("/jobs/<int:job_id>")
class JobItem(MethodView):
    @blp.response(200, JobSchema)
    @blp.doc(security=BEARER)
    def get(self, job_id):
        """A job: status, progress, then its result's URL or its error (404 if not yours)."""
        return job_service.get_job(current_principal(), job_id)


@blp.route("/jobs/<int:job_id>/result")
class JobResult(MethodView):
    @blp.response(200, description="The stored result (an import's report, as the "
                  "synchronous import answers it)")  # fmt: skip
    @blp.alt_response(
        409,
        schema=ErrorEnvelopeSchema,
        description="`job_not_succeeded`: the job has not succeeded (yet)",
    )
    @blp.doc(security=BEARER)
    def get(self, job_id):
        """What a succeeded job made when it has no resource of its own (an import's report)."""
        return jsonify(job_service.job_result(current_principal(), job_id))
