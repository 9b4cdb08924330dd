"""Sign in and out; who am I."""

from __future__ import annotations

from flask import request
from flask.views import MethodView
from marshmallow import Schema, fields, validate

from api.common import BEARER, Blueprint, Integer
from api.users import UserSchema
from gridserve.auth import current_principal, public
from gridserve.services.accounts import auth as auth_service
from gridserve.services.accounts import users as user_service

blp = Blueprint("auth", __name__, description="Tokens and the signed-in user")


class LoginSchema(Schema):
    username = fields.String(required=True, validate=validate.Length(min=1, max=64))
    password = fields.String(
        required=True, load_only=True, validate=validate.Length(min=1, max=1024)
    )


class TokenSchema(Schema):
    access_token = fields.String(required=True)
    token_type = fields.String(required=True, metadata={"example": "Bearer"})
    expires_at = fields.DateTime(required=True)


class ScopeSchema(Schema):
    area_id = Integer(allow_none=True)
    area_code = fields.String(allow_none=True)
    area_level = fields.String(allow_none=True)
    area_name = fields.String(allow_none=True)
    institution_id = Integer(allow_none=True)
    institution_name = fields.String(allow_none=True)
    institution_kind = fields.String(
        allow_none=True, metadata={"description": "regulator, a bank's kind, or department"}
    )


class MeSchema(Schema):
    user = fields.Nested(UserSchema, required=True)
    role = fields.String(required=True)
    scope = fields.Nested(ScopeSchema, required=True)


@blp.route("/auth/token")
class Token(MethodView):
    @public
    @blp.arguments(LoginSchema)
    @blp.response(201, TokenSchema)
    @blp.alt_response(401, description="Wrong username or password (`invalid_credentials`)")
    @blp.alt_response(429, description="Too many failures (`login_throttled`, Retry-After)")
    def post(self, body):
        """Sign in: exchange a username and password for a bearer token."""
        issued = auth_service.login(
            body["username"],
            body["password"],
            remote_addr=request.remote_addr,
            user_agent=request.user_agent.string,
        )
        return {
            "access_token": issued.token,
            "token_type": "Bearer",
            "expires_at": issued.expires_at,
        }

    @blp.response(204)
    @blp.doc(security=BEARER)
    def delete(self):
        """Sign out: revoke the token this request carries."""
        auth_service.logout(current_principal())


@blp.route("/me")
class Me(MethodView):
    @blp.response(200, MeSchema)
    @blp.doc(security=BEARER)
    def get(self):
        """The signed-in user, their role and the part of the area tree they see."""
        principal = current_principal()
        user = user_service.get_user(principal, principal.user_id)
        return {
            "user": user,
            "role": user.role,
            "scope": {
                "area_id": user.area_id,
                "area_code": user.area.code if user.area else None,
                "area_level": user.area.level if user.area else None,
                "area_name": user.area.name if user.area else None,
                "institution_id": user.institution_id,
                "institution_name": user.institution.name if user.institution else None,
                "institution_kind": user.institution.kind if user.institution else None,
            },
        }
