"""Accounts and their tokens."""

from __future__ import annotations

from flask import request
from flask.views import MethodView
from marshmallow import Schema, fields, validate

from api.common import BEARER, Blueprint, Id, Integer, ListArgs
from gridserve.auth import current_principal
from gridserve.models import ROLES
from gridserve.services.accounts import auth as auth_service
from gridserve.services.accounts import users as user_service

blp = Blueprint("users", __name__, description="Accounts, roles and their tokens")

USERNAME = validate.Regexp(
    r"^[A-Za-z0-9][A-Za-z0-9_.-]{1,63}$",
    error="2-64 letters, digits, '.', '_' or '-', starting with a letter or digit.",
)
PASSWORD = validate.Length(min=8, max=1024, error="At least 8 characters.")


class UserSchema(Schema):
    id = Integer(dump_only=True)
    username = fields.String(required=True)
    full_name = fields.String()
    role = fields.String(required=True)
    area_id = Integer(allow_none=True)
    institution_id = Integer(allow_none=True)
    is_active = fields.Boolean()
    created_at = fields.DateTime(dump_only=True)
    last_login_at = fields.DateTime(dump_only=True, allow_none=True)


class UserCreateSchema(Schema):
    username = fields.String(required=True, validate=USERNAME)
    password = fields.String(required=True, load_only=True, validate=PASSWORD)
    full_name = fields.String(validate=validate.Length(max=100))
    role = fields.String(required=True, validate=validate.OneOf(ROLES))
    area_id = Integer(allow_none=True)
    institution_id = Integer(allow_none=True)
    is_active = fields.Boolean()


class UserUpdateSchema(Schema):
    password = fields.String(load_only=True, validate=PASSWORD)
    current_password = fields.String(
        load_only=True,
        validate=validate.Length(min=1, max=1024),
        metadata={"description": "Your current password: required to change your own password"},
    )
    full_name = fields.String(validate=validate.Length(max=100))
    role = fields.String(validate=validate.OneOf(ROLES))
    area_id = Integer(allow_none=True)
    institution_id = Integer(allow_none=True)
    is_active = fields.Boolean()


class UserListArgs(ListArgs):
    role = fields.String(validate=validate.OneOf(ROLES))
    area_id = Id()
    q = fields.String(metadata={"description": "Part of the username or full name"})


class TokenInfoSchema(Schema):
    id = Integer()
    created_at = fields.DateTime()
    expires_at = fields.DateTime()
    revoked_at = fields.DateTime(allow_none=True)
    last_used_at = fields.DateTime(allow_none=True)
    remote_addr = fields.String(allow_none=True)
    user_agent = fields.String(allow_none=True)


class RevokedSchema(Schema):
    revoked = Integer(required=True)


@blp.route("/users")
class Users(MethodView):
    @blp.roles(*user_service.MANAGERS)
    @blp.arguments(UserListArgs, location="query")
    @blp.response(200, UserSchema(many=True))
    @blp.paginate_select()
    @blp.doc(security=BEARER)
    def get(self, args):
        """Accounts in your scope."""
        return user_service.list_users(current_principal(), **args)

    @blp.roles(*user_service.MANAGERS)
    @blp.arguments(UserCreateSchema)
    @blp.response(201, UserSchema)
    @blp.doc(security=BEARER)
    def post(self, body):
        """Create an account bound to an area node (or an institution, for contacts)."""
        return user_service.create_user(current_principal(), body)


@blp.route("/users/<int:user_id>")
class UserItem(MethodView):
    @blp.response(200, UserSchema)
    @blp.doc(security=BEARER)
    def get(self, user_id):
        """One account."""
        return user_service.get_user(current_principal(), user_id)

    @blp.arguments(UserUpdateSchema)
    @blp.response(200, UserSchema)
    @blp.alt_response(403, description="`wrong_password`: the current password is not right")
    @blp.alt_response(429, description="`login_throttled`: too many wrong passwords (Retry-After)")
    @blp.doc(security=BEARER)
    def patch(self, body, user_id):
        """Change an account.

        Your own password needs `current_password` (counted by the sign-in throttle); a
        manager resets another account's password without it. A new password revokes every
        token and terminal of the account, except the token that changed its own password.
        Deactivating an account revokes its tokens.
        """
        return user_service.update_user(
            current_principal(), user_id, body, remote_addr=request.remote_addr
        )


@blp.route("/users/<int:user_id>/tokens")
class UserTokens(MethodView):
    @blp.roles()
    @blp.response(200, TokenInfoSchema(many=True))
    @blp.doc(security=BEARER)
    def get(self, user_id):
        """An account's tokens (never the tokens themselves)."""
        return auth_service.list_tokens(user_service.get_user(current_principal(), user_id))

    @blp.roles()
    @blp.response(200, RevokedSchema)
    @blp.doc(security=BEARER)
    def delete(self, user_id):
        """Admin: revoke every token of an account (lost phone, staff leaving)."""
        user = user_service.get_user(current_principal(), user_id)
        return {"revoked": auth_service.revoke_tokens(user)}


@blp.route("/users/<int:user_id>/tokens/<int:token_id>")
class UserTokenItem(MethodView):
    @blp.roles()
    @blp.response(200, RevokedSchema)
    @blp.doc(security=BEARER)
    def delete(self, user_id, token_id):
        """Admin: revoke one token of an account."""
        user = user_service.get_user(current_principal(), user_id)
        return {"revoked": auth_service.revoke_tokens(user, token_id)}
