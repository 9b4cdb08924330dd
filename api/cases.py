"""The handling steps of a case on the escalation ladder, and a case's history."""

from __future__ import annotations

from flask.views import MethodView
from marshmallow import Schema, fields, post_load, validate

from api.common import BEARER, AwareDateTime, Blueprint, Integer, UtcDateTime
from api.tasks import TaskDetailSchema, TaskEventSchema
from gridserve.auth import current_principal
from gridserve.services.cases import ladder
from gridserve.services.field import tasks as task_service

blp = Blueprint(
    "cases",
    __name__,
    description="The handling steps of a case (事件) on the ladder cell → community → street → "
    "district: each `POST /tasks/{id}/{step}` names the `version` it is based on and is "
    "recorded in the case's history with who, when, where, levels, department and photos. "
    "The level holding a case acts on it: at `cell` its worker or the station, at `community` "
    "the station of its community, at `street` the street centre, at `district` the district "
    "centre; a department's contacts act on what was dispatched to them. A role that may never "
    "take a step gets 403 `forbidden_role`; one acting at the wrong level 409 `not_your_level`; "
    "a task (not a case) 409 `not_a_case`.",
)


class StepLocationSchema(Schema):
    lon = fields.Float(required=True, validate=validate.Range(min=-180, max=180))
    lat = fields.Float(required=True, validate=validate.Range(min=-90, max=90))


class StepSchema(Schema):
    version = Integer(
        required=True,
        strict=True,
        validate=validate.Range(min=1),
        metadata={"description": "The version your step is based on (409 stale_version if old)"},
    )
    note = fields.String(
        validate=validate.Length(max=ladder.NOTE_MAX),
        metadata={"description": "What was done, or why (required where the step says)"},
    )
    location = fields.Nested(
        StepLocationSchema, metadata={"description": "Where the step was taken (WGS84)"}
    )
    attachments = fields.List(
        fields.UUID(),
        validate=validate.Length(max=20),
        metadata={"description": "UUIDs of photos uploaded with PUT /attachments/{uuid}"},
    )

    @post_load
    def _plain(self, data: dict, **_kwargs) -> dict:
        if "attachments" in data:
            data["attachments"] = [str(a) for a in data["attachments"]]
        return data


class DispatchSchema(StepSchema):
    department = fields.String(
        required=True,
        validate=validate.Length(min=1, max=40),
        metadata={"description": "The code of an institution of kind `department`"},
    )
    due_at = AwareDateTime(required=True, metadata={"description": "The department's due date"})


class SuperviseSchema(StepSchema):
    due_at = AwareDateTime(required=True, metadata={"description": "The supervision's due date"})


class RecategoriseSchema(StepSchema):
    category = fields.String(
        required=True,
        validate=validate.Length(min=1, max=40),
        metadata={"description": "The new category's code"},
    )


class CaseEventSchema(TaskEventSchema):
    pass


class CaseDetailSchema(TaskDetailSchema):
    """A case after a step: the task's fields, its history and where it stands on the ladder."""

    category_id = Integer(allow_none=True)
    level = fields.String(allow_none=True, metadata={"description": "cell … district"})
    department_id = Integer(allow_none=True, metadata={"description": "Dispatched to"})
    dispatch_due_at = UtcDateTime(allow_none=True)
    level_started_at = UtcDateTime(allow_none=True)
    level_due_at = UtcDateTime(allow_none=True, metadata={"description": "Paused time added"})
    paused_at = UtcDateTime(allow_none=True)
    pause_reason = fields.String()
    paused_seconds = Integer()
    escalations = Integer()
    supervised_at = UtcDateTime(allow_none=True)
    supervision_due_at = UtcDateTime(allow_none=True)
    needs_verification = fields.Boolean()
    settled_at = UtcDateTime(allow_none=True)
    verified_at = UtcDateTime(allow_none=True)
    closed_level = fields.String(allow_none=True)


STEP_DOCS: dict[str, tuple[type[Schema], str]] = {
    "accept": (StepSchema, "Accept a case: open → accepted (the holder, or its department)."),
    "settle": (
        StepSchema,
        "Settle a case: accepted → settled, with the result (`note`, required) and photos "
        "(`attachments`). It then waits for `close` (or for `verify` first where the category "
        "needs verification).",
    ),
    "escalate": (
        StepSchema,
        "Send a case up one level with a reason (`note`, required): open at the next level, its "
        "clock restarted, escalations + 1, the receiving office told. 409 `top_level` at the "
        "district.",
    ),
    "dispatch": (
        DispatchSchema,
        "Dispatch a case held at the street or district to a department with a due date; the "
        "department is told. 422 `unknown_department`; 409 `not_your_level` below the street.",
    ),
    "return": (
        StepSchema,
        "Send a case back with a reason (`note`, required): a department back to the level that "
        "dispatched it; a level holder one level down (409 `cannot_return` at the cell).",
    ),
    "verify": (
        StepSchema,
        "Verify a settled case on site: a station account of the case's community, its "
        "`location` within the configured distance of the case (422 `too_far`), a photo it "
        "uploaded (`attachments`, 422 `photo_required`/`unknown_attachment`) and a `note`.",
    ),
    "close": (
        StepSchema,
        "Close a settled case (or a verified one where the category needs verification: 409 "
        "`verification_required` otherwise); station and above, at the level holding it.",
    ),
    "reopen": (
        StepSchema,
        "Reopen a closed case (the one way back) at the level that closed it, its clock "
        "restarted; a reason (`note`) is required.",
    ),
    "cancel": (
        StepSchema,
        "Cancel a case with a reason (`note`, required): station and above, at or above the "
        "level holding it.",
    ),
    "pause": (
        StepSchema,
        "Pause a case's clock with a reason (`note`, required): waiting on the resident or a "
        "third party. 409 `already_paused`. A paused case takes only resume, cancel, supervise.",
    ),
    "resume": (
        StepSchema,
        "Resume a paused case: the paused span is added to its level's due time and to "
        "`paused_seconds`. 409 `not_paused`.",
    ),
    "supervise": (
        SuperviseSchema,
        "Put a case under supervision (督办) with its own due date: a street centre (cases at "
        "the cell, community or street) or the district centre; the holding office is told.",
    ),
    "recategorise": (
        RecategoriseSchema,
        "Change a case's category (the one way to): it moves to the new category's start level "
        "but never below the level it reached, its clock restarts with the new deadline, "
        "verification follows the new category.",
    ),
}


def _step_view(step: str, schema: type[Schema], doc: str) -> type[MethodView]:
    @blp.roles(*ladder.STEP_ROLES[step])
    @blp.arguments(schema)
    @blp.response(200, CaseDetailSchema)
    @blp.doc(security=BEARER, summary=f"Case step: {step}", description=doc)
    def post(self, body, task_id):
        return task_service.present_detail(
            ladder.take_step(current_principal(), task_id, step, body)
        )

    post.__doc__ = doc
    name = "Case" + step.capitalize()
    return type(name, (MethodView,), {"post": post})


for _step, (_schema, _doc) in STEP_DOCS.items():
    blp.route(f"/tasks/<int:task_id>/{_step}", endpoint=f"case_{_step}")(
        _step_view(_step, _schema, _doc)
    )


@blp.route("/tasks/<int:task_id>/history")
class CaseHistory(MethodView):
    @blp.roles(*ladder.READERS)
    @blp.response(200, CaseEventSchema(many=True))
    @blp.doc(security=BEARER)
    def get(self, task_id):
        """Every step of a task or case, oldest first: status and levels before and after, the
        department, where it was taken and its photos (404 out of scope; a department sees
        only the cases dispatched to it)."""
        return ladder.history(current_principal(), task_id)
