"""Tasks and cases: work given to workers, problems reported from the field."""

from __future__ import annotations

from flask.views import MethodView
from marshmallow import Schema, fields, post_load, validate

from api.common import BEARER, AwareDateTime, Blueprint, Id, Integer, ListArgs, UtcDateTime
from gridserve.auth import current_principal
from gridserve.models import TASK_KINDS, TASK_PRIORITIES, TASK_SOURCES, TASK_STATUSES
from gridserve.models.cases.categories import CASE_LEVELS
from gridserve.services.cases import intake
from gridserve.services.cases.lists import FILTERS as CASE_FILTERS
from gridserve.services.field import tasks as task_service
from gridserve.timeutil import local_today

blp = Blueprint(
    "tasks",
    __name__,
    description="Tasks given to grid workers (visit, check, follow up) and cases (事件) to "
    "be handled, reported by the station or from a worker's terminal. A worker sees and "
    "carries (in the sync bundle) only the tasks assigned to them.",
)


class TaskLocationSchema(Schema):
    lon = fields.Float(required=True, validate=validate.Range(min=-180, max=180))
    lat = fields.Float(required=True, validate=validate.Range(min=-90, max=90))
    accuracy_m = fields.Float(
        allow_none=True,
        validate=validate.Range(min=0, max=100_000),
        metadata={"description": "The position's accuracy, metres (a terminal's GPS)"},
    )


TITLE = fields.String(validate=validate.Length(min=1, max=task_service.TITLE_MAX))
DETAILS = fields.String(validate=validate.Length(max=task_service.DETAILS_MAX))
PRIORITY = fields.String(validate=validate.OneOf(TASK_PRIORITIES))
DUE_AT = AwareDateTime(
    allow_none=True, metadata={"description": "When it must be done (with a time zone)"}
)


class ReporterSchema(Schema):
    name = fields.String(validate=validate.Length(max=100))
    phone = fields.String(
        allow_none=True,
        validate=validate.Length(max=30),
        metadata={"description": "Mobile or landline with area code; stored encrypted, shown "
                  "masked except to the station and above of the case's area"},
    )  # fmt: skip
    consent = fields.Boolean(
        load_default=False,
        metadata={"description": "Agrees to be called back / texted about it (needs a phone)"},
    )


class ReporterShownSchema(Schema):
    name = fields.String(allow_none=True)
    phone = fields.String(allow_none=True, metadata={"description": "Masked unless yours to see"})
    consent = fields.Boolean()
    masked = fields.Boolean()


class DuplicateSchema(Schema):
    id = Integer()
    title = fields.String()
    distance_m = fields.Float()
    created_at = fields.String(metadata={"format": "date-time"})


class TaskCreateSchema(Schema):
    kind = fields.String(
        validate=validate.OneOf(TASK_KINDS),
        metadata={"description": "`task` (default for the station) or `case` (a worker: always)"},
    )
    title = fields.String(
        required=True, validate=validate.Length(min=1, max=task_service.TITLE_MAX)
    )
    details = DETAILS
    place_id = Integer(
        metadata={"description": "The place it concerns; gives the community and cell"}
    )
    location = fields.Nested(
        TaskLocationSchema,
        metadata={"description": "Where it is (WGS84); gives community and cell"},
    )
    area_id = Integer(metadata={"description": "The community, when no place or location"})
    assigned_worker_id = Integer(
        allow_none=True, metadata={"description": "An active worker of the task's community"}
    )
    priority = PRIORITY
    due_at = DUE_AT
    uuid = fields.UUID(
        metadata={"description": "The client's id for this create: sent again (a retry) it "
                  "answers 200 with the stored task; with other content, or by someone else, "
                  "409 `uuid_taken`"},
    )  # fmt: skip
    attachments = fields.List(
        fields.UUID(),
        validate=validate.Length(max=20),
        metadata={"description": "UUIDs of photos sent with PUT /attachments/{uuid}"},
    )
    observed_at = AwareDateTime(
        allow_none=True, metadata={"description": "When the problem was seen"}
    )
    category = fields.String(
        validate=validate.Length(min=1, max=40),
        metadata={"description": "A case's category code (GET /case-categories). Required for "
                  "`source` walk_in and phone; left out by older clients, the case is filed "
                  "under `other`"},
    )  # fmt: skip
    source = fields.String(
        validate=validate.OneOf(intake.DESK_SOURCES),
        metadata={"description": "How the station took the case: station (default), walk_in, "
                  "phone. A terminal's case is always `terminal`"},
    )  # fmt: skip
    reporter = fields.Nested(ReporterSchema, metadata={"description": "Who reported the case"})

    @post_load
    def _plain(self, data: dict, **_kwargs) -> dict:
        if data.get("uuid") is not None:
            data["uuid"] = str(data["uuid"])
        if "attachments" in data:
            data["attachments"] = [str(a) for a in data["attachments"]]
        return data


class TaskUpdateSchema(Schema):
    version = Integer(
        required=True,
        strict=True,
        validate=validate.Range(min=1),
        metadata={"description": "The version your change is based on (409 stale_version if old)"},
    )
    title = TITLE
    details = DETAILS
    priority = PRIORITY
    due_at = DUE_AT
    assigned_worker_id = Integer(
        allow_none=True, metadata={"description": "Hand over (station and above); null: nobody"}
    )
    status = fields.String(
        validate=validate.OneOf(TASK_STATUSES),
        metadata={"description": "A task's new status. A case's status moves only by its "
                  "steps (POST /tasks/{id}/{step}): another status than its own is 422 "
                  "`use_case_steps`"},
    )  # fmt: skip
    category = fields.String(
        validate=validate.Length(min=1, max=40),
        metadata={"description": "Not editable here: a case changes category by POST "
                  "/tasks/{id}/recategorise (422 `use_case_steps`); a task has none (422)"},
    )  # fmt: skip
    note = fields.String(
        validate=validate.Length(max=task_service.NOTE_MAX),
        metadata={"description": "Progress or result; required when a worker marks it done"},
    )


class MergeSchema(Schema):
    into = Integer(required=True, metadata={"description": "The case kept"})
    version = Integer(
        required=True,
        strict=True,
        validate=validate.Range(min=1),
        metadata={"description": "The version of the duplicate you read (409 stale_version)"},
    )


class StepPointSchema(Schema):
    lon = fields.Float()
    lat = fields.Float()


class TaskEventSchema(Schema):
    action = fields.String()
    from_status = fields.String(allow_none=True)
    to_status = fields.String(allow_none=True)
    from_worker_id = Integer(allow_none=True)
    to_worker_id = Integer(allow_none=True)
    from_level = fields.String(allow_none=True, metadata={"description": "A case's level before"})
    to_level = fields.String(allow_none=True, metadata={"description": "A case's level after"})
    department_id = Integer(allow_none=True, metadata={"description": "The department"})
    location = fields.Nested(
        "StepPointSchema", allow_none=True, metadata={"description": "Where it was taken"}
    )
    attachments = fields.List(fields.String(), metadata={"description": "Photos (UUIDs)"})
    note = fields.String()
    actor_id = Integer(allow_none=True)
    actor_name = fields.String(
        allow_none=True, metadata={"description": "Who took the step; null: the scheduler"}
    )
    at = fields.String(metadata={"format": "date-time"})


class TaskSchema(Schema):
    id = Integer()
    kind = fields.String()
    title = fields.String()
    details = fields.String()
    place_id = Integer(allow_none=True)
    cell_id = Integer(allow_none=True)
    cell_code = fields.String(allow_none=True)
    area_id = Integer(metadata={"description": "The community"})
    location = fields.Nested(TaskLocationSchema, allow_none=True)
    assigned_worker_id = Integer(allow_none=True)
    status = fields.String()
    priority = fields.String()
    source = fields.String(metadata={"description": "station, terminal, walk_in, phone, open311"})
    due_at = UtcDateTime(allow_none=True)
    note = fields.String()
    created_by = Integer(allow_none=True)
    closed_at = UtcDateTime(allow_none=True)
    version = Integer()
    change_seq = Integer()
    uuid = fields.String(allow_none=True, metadata={"description": "The client's id, if sent"})
    attachments = fields.Function(lambda task: list(task.attachments or []))
    observed_at = UtcDateTime(allow_none=True)
    created_at = UtcDateTime()
    updated_at = UtcDateTime()
    # The case ladder (null for tasks)
    category = fields.String(allow_none=True, metadata={"description": "The category code"})
    level = fields.String(allow_none=True, metadata={"description": "cell, community, street, "
                          "district: who holds the case"})  # fmt: skip
    level_started_at = UtcDateTime(allow_none=True)
    level_due_at = UtcDateTime(allow_none=True, metadata={"description": "The level's deadline"})
    paused = fields.Boolean()
    pause_reason = fields.String()
    escalations = Integer()
    department_id = Integer(allow_none=True, metadata={"description": "Dispatched to"})
    dispatch_due_at = UtcDateTime(allow_none=True)
    supervised_at = UtcDateTime(allow_none=True)
    supervision_due_at = UtcDateTime(allow_none=True)
    reporter = fields.Nested(ReporterShownSchema, allow_none=True)
    needs_verification = fields.Boolean()
    duplicate_of = Integer(
        attribute="duplicate_of_id", allow_none=True,
        metadata={"description": "Merged into this case"},
    )  # fmt: skip
    rating = Integer(allow_none=True)


class TaskDetailSchema(TaskSchema):
    history = fields.List(fields.Nested(TaskEventSchema))
    duplicates = fields.List(
        fields.Nested(DuplicateSchema),
        metadata={"description": "On a new case only: open cases of its category close by "
                  "(case_duplicate_m metres, case_duplicate_hours hours); merge with "
                  "POST /tasks/{id}/merge"},
    )  # fmt: skip


class TaskListArgs(ListArgs):
    status = fields.String(validate=validate.OneOf(TASK_STATUSES))
    kind = fields.String(validate=validate.OneOf(TASK_KINDS))
    worker_id = Id(metadata={"description": "Assigned to this worker"})
    area = Id(metadata={"description": "Within this area (any level)"})
    category = fields.String(
        validate=validate.Length(min=1, max=40),
        metadata={"description": "Cases of this category code (422 `unknown_category`)"},
    )
    level = fields.String(
        validate=validate.OneOf(CASE_LEVELS), metadata={"description": "Cases held at this level"}
    )
    department = fields.String(
        validate=validate.Length(min=1, max=40),
        metadata={"description": "Cases dispatched to this department code (422 "
                  "`unknown_department`)"},
    )  # fmt: skip
    overdue = fields.Boolean(
        metadata={"description": "true: pending (open or accepted), past the level's due time "
                  "and not paused; false: all others"},
    )  # fmt: skip
    supervised = fields.Boolean(metadata={"description": "Under the street's supervision (督办)"})
    paused = fields.Boolean(metadata={"description": "The level's clock is paused"})
    source = fields.String(validate=validate.OneOf(TASK_SOURCES))


@blp.route("/tasks")
class Tasks(MethodView):
    @blp.roles(*task_service.READERS)
    @blp.arguments(TaskListArgs, location="query")
    @blp.response(200, TaskSchema(many=True))
    @blp.paginate_select(present=task_service.present, by_key=True)
    @blp.doc(security=BEARER)
    def get(self, args):
        """Tasks and cases in your scope (a worker: those assigned to them).

        Sortable by `id`, `created_at` (default `-created_at`), `updated_at`, `due_at`,
        `priority` (low < normal < high < urgent), `status`, `title`. Case filters:
        `category`, `level`, `department`, `overdue`, `supervised`, `paused`, `source`.
        """
        return task_service.list_tasks(
            current_principal(),
            status=args.get("status"),
            kind=args.get("kind"),
            worker_id=args.get("worker_id"),
            area_id=args.get("area"),
            sort=args.get("sort"),
            **{key: args.get(key) for key in CASE_FILTERS},
        )

    @blp.roles(*task_service.CREATORS)
    @blp.arguments(TaskCreateSchema)
    @blp.response(201, TaskDetailSchema)
    @blp.alt_response(
        200, schema=TaskDetailSchema, description="The same `uuid` sent again: the stored task"
    )
    @blp.doc(security=BEARER)
    def post(self, body):
        """Give a task or open a case (station and above), or report a case from a terminal.

        Where: `place_id` (404 if out of scope; the task takes its community and cell),
        `location` (422 `outside_area` outside every community, `outside_coverage` outside
        yours) or a community `area_id`.

        A case (`kind=case`; a worker's always) goes through case intake: its `category`
        (required for `source` walk_in / phone; left out, `other`; 422 `unknown_category`,
        `category_inactive`), its level (the category's start level; categories going to the
        street at once start there and the street centre is told), the level's deadline, the
        worker holding the cell that day (unless you name one), the `reporter` (phone
        encrypted, masked but to the station and above). A new case's answer lists
        `duplicates` nearby. A worker may only report `kind=case`, assigned to themselves (403
        `forbidden_role`, `cannot_reassign`). 409 `worker_not_active`.

        With a `uuid`, made at most once: the same request again (same content, same user)
        answers 200 with the stored task; anything else under that UUID is 409 `uuid_taken`.
        """
        principal = current_principal()
        if (body.get("kind") or ("case" if principal.role == "worker" else "task")) == "case":
            source = "terminal" if principal.role == "worker" else body.get("source", "station")
            task, created = intake.receive(principal, body, local_today(), source=source)
        else:
            task, created = task_service.create_task_once(principal, body, local_today())
        return task_service.present_detail(task, principal), 201 if created else 200


@blp.route("/tasks/<int:task_id>")
class TaskItem(MethodView):
    @blp.roles(*task_service.READERS)
    @blp.response(200, TaskDetailSchema)
    @blp.doc(security=BEARER)
    def get(self, task_id):
        """One task with its history (404 if out of scope, or not assigned to you)."""
        principal = current_principal()
        return task_service.present_detail(task_service.get_task(principal, task_id), principal)

    @blp.roles(*task_service.READERS)
    @blp.arguments(TaskUpdateSchema)
    @blp.response(200, TaskDetailSchema)
    @blp.doc(security=BEARER)
    def patch(self, body, task_id):
        """Change a task; send the `version` you read (409 `stale_version` if it moved on).

        Status: `open` → `in_progress` → `done`; the station may also cancel, close or
        reopen an unfinished task. `done` and `cancelled` are final (409
        `invalid_transition`). The assigned worker may only move their task
        `open` → `in_progress` → `done` (a `note` is required for `done`) and add notes:
        403 `cannot_reassign`, `forbidden_field`.

        A case (`kind=case`) moves only by its steps, `POST /tasks/{id}/{step}` (accept,
        settle, escalate, dispatch, return, verify, close, reopen, cancel, pause, resume,
        supervise, recategorise): a `status` other than the case's own, or any `category`
        (re-routing: `recategorise`), is 422 `use_case_steps` with the field named and the
        step's `endpoint` in `details`. Its title, details, priority, due date, assigned
        worker (station and above; a handover keeps its status) and note stay editable until
        it is closed or cancelled (409 `invalid_transition`).
        """
        principal = current_principal()
        return task_service.present_detail(
            task_service.update_task(principal, task_id, body), principal
        )


@blp.route("/tasks/<int:task_id>/merge")
class TaskMerge(MethodView):
    @blp.roles(*intake.MERGERS)
    @blp.arguments(MergeSchema)
    @blp.response(200, TaskDetailSchema)
    @blp.alt_response(
        409,
        description="`stale_version`, `merge_into_itself`, `merge_into_closed`, "
        "`merge_across_categories`, `invalid_transition` (this case is closed)",
    )
    @blp.doc(security=BEARER)
    def post(self, body, task_id):
        """Merge a duplicate case into the case kept (station and above of the area).

        The duplicate is closed as `cancelled` with `duplicate_of` = `into`; both get a
        `merge` event, and the kept case's reporters include the duplicate's (each consenting
        reporter is told when the kept case is closed), so the kept case takes a new
        `version` (and change number: terminals holding it get it again).
        """
        principal = current_principal()
        task = intake.merge(principal, task_id, body["into"], body["version"])
        return task_service.present_detail(task, principal)
