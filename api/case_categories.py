"""Case categories (事件类别): what a case is about and how the escalation ladder treats it."""

from __future__ import annotations

from flask.views import MethodView
from marshmallow import Schema, fields, validate

from api.common import BEARER, Blueprint, Integer, UtcDateTime
from gridserve.auth import current_principal
from gridserve.models import CASE_LEVELS
from gridserve.models.cases.categories import CASE_CLASSES
from gridserve.services.cases import categories as category_service

blp = Blueprint(
    "case_categories",
    __name__,
    description="Case categories: the must-attend, must-report, must-visit and everyday "
    "classes, each with its starting level, a deadline per level, whether it goes to the "
    "street at once and whether closing needs on-site verification. Everyone signed in "
    "reads them; an admin makes and edits them, and deactivates rather than deletes.",
)

DEADLINES = fields.Dict(
    keys=fields.String(),
    values=fields.Raw(),
    metadata={
        "description": "Per level (cell, community, street, district): "
        '`{"amount": n, "unit": "hours" | "working_days"}`, n a positive integer up to 8760 '
        "hours or 365 working days; a level left out has no deadline"
    },
)


class CategorySchema(Schema):
    id = Integer(dump_only=True)
    code = fields.String(
        required=True,
        validate=validate.Regexp(r"^[a-z][a-z0-9_]{1,39}$", error="2-40 of a-z, 0-9, '_'."),
    )
    name = fields.String(required=True, validate=validate.Length(min=1, max=100))
    name_en = fields.String(validate=validate.Length(max=100))
    report_class = fields.String(required=True, validate=validate.OneOf(CASE_CLASSES))
    start_level = fields.String(validate=validate.OneOf(CASE_LEVELS))
    deadlines = DEADLINES
    to_street_at_once = fields.Boolean(
        metadata={"description": "Starts at the street and the street centre is told at once"}
    )
    needs_verification = fields.Boolean(
        metadata={"description": "Closing needs a station's on-site verification"}
    )
    active = fields.Boolean(metadata={"description": "false: no new cases of it"})
    position = Integer(validate=validate.Range(min=0, max=10_000))
    version = Integer(dump_only=True)
    created_at = UtcDateTime(dump_only=True)
    updated_at = UtcDateTime(dump_only=True)


class CategoryUpdateSchema(Schema):
    version = Integer(
        required=True,
        strict=True,
        validate=validate.Range(min=1),
        metadata={"description": "The version your change is based on (409 stale_version)"},
    )
    name = fields.String(validate=validate.Length(min=1, max=100))
    name_en = fields.String(validate=validate.Length(max=100))
    report_class = fields.String(validate=validate.OneOf(CASE_CLASSES))
    start_level = fields.String(validate=validate.OneOf(CASE_LEVELS))
    deadlines = DEADLINES
    to_street_at_once = fields.Boolean()
    needs_verification = fields.Boolean()
    active = fields.Boolean()
    position = Integer(validate=validate.Range(min=0, max=10_000))


class CategoryListArgs(Schema):
    active = fields.Boolean(metadata={"description": "Only the active (or inactive) ones"})


@blp.route("/case-categories")
class Categories(MethodView):
    @blp.arguments(CategoryListArgs, location="query")
    @blp.response(200, CategorySchema(many=True))
    @blp.doc(security=BEARER)
    def get(self, args):
        """The case categories, in their order (everyone signed in)."""
        stmt = category_service.list_categories(current_principal(), active=args.get("active"))
        return category_service.all_of(stmt)

    @blp.roles()
    @blp.arguments(CategorySchema)
    @blp.response(201, CategorySchema)
    @blp.alt_response(409, description="`category_exists`: the code is taken")
    @blp.doc(security=BEARER)
    def post(self, body):
        """Make a category (admin). 422 `validation_error` for bad deadlines (by field)."""
        return category_service.create_category(current_principal(), body)


@blp.route("/case-categories/<int:category_id>")
class CategoryItem(MethodView):
    @blp.response(200, CategorySchema)
    @blp.doc(security=BEARER)
    def get(self, category_id):
        """One category."""
        return category_service.get_category(current_principal(), category_id)

    @blp.roles()
    @blp.arguments(CategoryUpdateSchema)
    @blp.response(200, CategorySchema)
    @blp.alt_response(409, description="`stale_version`: it changed since you read it")
    @blp.doc(security=BEARER)
    def patch(self, body, category_id):
        """Change a category (admin), based on its `version`; `active: false` deactivates it
        (no new cases; the filed ones keep it). The code never changes."""
        return category_service.update_category(current_principal(), category_id, body)
