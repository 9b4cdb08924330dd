"""Institutions: the regulator and the banks, their aliases and contacts."""

from __future__ import annotations

from flask.views import MethodView
from marshmallow import Schema, fields, validate

from api.common import BEARER, Blueprint, Integer, ListArgs
from gridserve.auth import current_principal
from gridserve.models.accounts.institutions import INSTITUTION_KINDS, INSTITUTION_LEVELS
from gridserve.services.accounts import institutions as inst_service

blp = Blueprint("institutions", __name__, description="The regulator and the banks")


class ContactSchema(Schema):
    id = Integer(dump_only=True)
    name = fields.String(required=True, validate=validate.Length(min=1, max=100))
    title = fields.String(allow_none=True, validate=validate.Length(max=100))
    phone = fields.String(
        allow_none=True,
        validate=validate.Regexp(r"^\+?[0-9 -]{5,20}$", error="Digits, spaces, '-', '+' only."),
    )
    email = fields.Email(allow_none=True, validate=validate.Length(max=200))


class InstitutionSchema(Schema):
    id = Integer(dump_only=True)
    code = fields.String(
        required=True,
        validate=validate.Regexp(r"^[A-Z0-9_-]{2,32}$", error="2-32 of A-Z, 0-9, '_', '-'."),
    )
    name = fields.String(required=True, validate=validate.Length(min=2, max=200))
    short_name = fields.String(required=True, validate=validate.Length(min=1, max=60))
    name_en = fields.String(allow_none=True, validate=validate.Length(max=200))
    level = fields.String(required=True, validate=validate.OneOf(INSTITUTION_LEVELS))
    kind = fields.String(required=True, validate=validate.OneOf(INSTITUTION_KINDS))
    area_id = Integer(allow_none=True)
    aliases = fields.List(
        fields.String(validate=validate.Length(min=1, max=200)),
        metadata={"description": "Other names; the full and short names are always aliases"},
    )
    contacts = fields.Raw(attribute="contacts_shown", dump_only=True)


class InstitutionOutSchema(InstitutionSchema):
    aliases = fields.Function(lambda inst: [a.alias for a in inst.aliases])


class InstitutionCreateSchema(InstitutionSchema):
    contacts = fields.List(fields.Nested(ContactSchema), load_only=True)


class InstitutionUpdateSchema(Schema):
    name = fields.String(validate=validate.Length(min=2, max=200))
    short_name = fields.String(validate=validate.Length(min=1, max=60))
    name_en = fields.String(allow_none=True, validate=validate.Length(max=200))
    level = fields.String(validate=validate.OneOf(INSTITUTION_LEVELS))
    kind = fields.String(validate=validate.OneOf(INSTITUTION_KINDS))
    aliases = fields.List(fields.String(validate=validate.Length(min=1, max=200)))


class InstitutionListArgs(ListArgs):
    q = fields.String(metadata={"description": "A name, short name, alias or code (达商行, 邮储)"})
    level = fields.String(validate=validate.OneOf(INSTITUTION_LEVELS))
    kind = fields.String(validate=validate.OneOf(INSTITUTION_KINDS))


def _shown(institutions: list) -> list:
    """Institutions with their contacts as the caller may see them."""
    return inst_service.present(current_principal(), institutions)


@blp.route("/institutions")
class Institutions(MethodView):
    @blp.arguments(InstitutionListArgs, location="query")
    @blp.response(200, InstitutionOutSchema(many=True))
    @blp.paginate_select(present=_shown)
    @blp.doc(security=BEARER)
    def get(self, args):
        """Institutions you may see; `q` finds one by any of its names."""
        return inst_service.list_institutions(current_principal(), **args)

    @blp.roles(*inst_service.MANAGERS)
    @blp.arguments(InstitutionCreateSchema)
    @blp.response(201, InstitutionOutSchema)
    @blp.doc(security=BEARER)
    def post(self, body):
        """Register an institution (coordinators and admins)."""
        [inst] = _shown([inst_service.create_institution(current_principal(), body)])
        return inst


@blp.route("/institutions/<int:institution_id>")
class InstitutionItem(MethodView):
    @blp.response(200, InstitutionOutSchema)
    @blp.doc(security=BEARER)
    def get(self, institution_id):
        """One institution with its aliases and contacts."""
        [inst] = _shown([inst_service.get_institution(current_principal(), institution_id)])
        return inst

    @blp.roles(*inst_service.MANAGERS)
    @blp.arguments(InstitutionUpdateSchema)
    @blp.response(200, InstitutionOutSchema)
    @blp.doc(security=BEARER)
    def patch(self, body, institution_id):
        """Rename, re-level or set the aliases of an institution."""
        principal = current_principal()
        [inst] = _shown([inst_service.update_institution(principal, institution_id, body)])
        return inst


@blp.route("/institutions/<int:institution_id>/contacts")
class InstitutionContacts(MethodView):
    @blp.roles(*inst_service.CONTACT_EDITORS)
    @blp.arguments(ContactSchema)
    @blp.response(201, ContactSchema)
    @blp.doc(security=BEARER)
    def post(self, body, institution_id):
        """Add a contact person (the institution's own contacts may too)."""
        principal = current_principal()
        contact = inst_service.add_contact(principal, institution_id, body)
        return inst_service.describe_contact(principal, contact.institution, contact)


@blp.route("/institutions/<int:institution_id>/contacts/<int:contact_id>")
class InstitutionContactItem(MethodView):
    @blp.roles(*inst_service.CONTACT_EDITORS)
    @blp.response(204)
    @blp.doc(security=BEARER)
    def delete(self, institution_id, contact_id):
        """Remove a contact person."""
        inst_service.remove_contact(current_principal(), institution_id, contact_id)
