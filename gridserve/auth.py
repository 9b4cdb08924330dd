"""Request-side authentication: who is calling, and the checks every request passes.

Every ``/api/v1`` endpoint needs a bearer token unless its view is marked
:func:`public`. The caller becomes a :class:`~gridserve.scope.Principal` on
``g`` and the audit actor for the request.

Before any input is read (body type, JSON, schema), two gates refuse with 403:

- a terminal's token (``Principal.device_id``) may call only the field-work
  operations in :data:`DEVICE_ALLOWED` (``device_token_not_allowed``);
- an operation declared with :func:`roles` refuses every other role
  (``forbidden_role``). Services keep the finer rules (own institution, the
  assigned worker, who manages whom).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import TypeVar

from flask import Flask, current_app, g, request

from gridserve import audit
from gridserve.errors import AppError, Forbidden, Unauthorized
from gridserve.http_security import request_id_from
from gridserve.scope import Principal
from gridserve.services.accounts import auth as auth_service

F = TypeVar("F", bound=Callable)

BODY_METHODS = {"POST", "PUT", "PATCH"}
PUBLIC_BLUEPRINTS = {"api-docs", "docs_assets", "web"}

# The case steps a worker takes from the terminal (all the ladder lets a worker take).
WORKER_CASE_STEPS = ("accept", "settle", "escalate", "pause", "resume")

# What a terminal's token may call: field work only, by endpoint and method. Anything
# else (accounts, passwords, enrolment, lists of people) needs the worker's own sign-in,
# so a stolen terminal cannot become its worker.
DEVICE_ALLOWED: dict[str, frozenset[str]] = {
    "auth.Me": frozenset({"GET"}),
    "sync.Bundle": frozenset({"GET"}),
    "sync.UploadVisits": frozenset({"POST"}),
    "sync.VisitItem": frozenset({"PATCH"}),
    "sync.Attachments": frozenset({"GET", "PUT"}),
    "tasks.Tasks": frozenset({"GET", "POST"}),
    "tasks.TaskItem": frozenset({"GET", "PATCH"}),
    # The worker's own steps on the cases their terminal holds (api/cases.py; the ladder's
    # STEP_ROLES for "worker") and a case's history; the office steps stay off the terminal.
    **{f"cases.case_{s}": frozenset({"POST"}) for s in WORKER_CASE_STEPS},
    "cases.CaseHistory": frozenset({"GET"}),
    "case_categories.Categories": frozenset({"GET"}),  # to pick a case's category
    "case_categories.CategoryItem": frozenset({"GET"}),
    "households.Households": frozenset({"POST"}),
    "households.HouseholdItem": frozenset({"GET", "PATCH"}),
    "places.Places": frozenset({"GET"}),
    "places.PlaceItem": frozenset({"GET"}),
    "grid.AreaCells": frozenset({"GET"}),
    "grid.Locate": frozenset({"GET"}),
    # The worker's own published scorecards, in the field app (the scope shows nothing else).
    "assessment_cards.Cards": frozenset({"GET"}),
    "assessment_cards.CardItem": frozenset({"GET"}),
    # bench/load's anchor, mounted only with GRIDSERVE_BENCH_ENDPOINTS=1 (api/bench.py).
    "bench.SyncStatic": frozenset({"GET"}),
}


def public(view: F) -> F:
    """Mark a view (function or MethodView method) as needing no token."""
    view._gridserve_public = True  # type: ignore[attr-defined]
    return view


def accepts(*mimetypes: str) -> Callable[[F], F]:
    """Let a view take request bodies other than JSON (uploads)."""

    def mark(view: F) -> F:
        view._gridserve_accepts = mimetypes  # type: ignore[attr-defined]
        return view

    return mark


def roles(*allowed: str) -> Callable[[F], F]:
    """Declare the roles that may call a view (admin always may; none given: admin only).

    Checked before the body is parsed. Use ``Blueprint.roles`` in ``api/``, which also
    documents the 403 in the OpenAPI document.
    """

    def mark(view: F) -> F:
        view._gridserve_roles = tuple(sorted(set(allowed)))  # type: ignore[attr-defined]
        return view

    return mark


def _method() -> str:
    return "GET" if request.method == "HEAD" else request.method


def _view_attr(name: str, default: object) -> object:
    view = current_app.view_functions.get(request.endpoint or "")
    if view is None:
        return default
    cls = getattr(view, "view_class", None)
    if cls is not None:
        method = getattr(cls, _method().lower(), None)
        return getattr(method, name, getattr(cls, name, default))
    return getattr(view, name, default)


def current_principal() -> Principal:
    principal = g.get("principal")
    if principal is None:  # a view that forgot it is public must still refuse
        raise Unauthorized("Sign in first.", code="token_missing")
    return principal


def _bearer_token() -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if not header:
        raise Unauthorized(
            "This endpoint needs an access token: Authorization: Bearer <token>.",
            code="token_missing",
            headers={"WWW-Authenticate": 'Bearer realm="gridserve"'},
        )
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized(
            "The Authorization header must be 'Bearer <token>'.",
            code="token_invalid",
            headers={"WWW-Authenticate": 'Bearer realm="gridserve", error="invalid_token"'},
        )
    return token.strip()


def _check_gates(principal: Principal) -> None:
    """The device allow-list, then the operation's declared roles (both before any input)."""
    if principal.device_id is not None:
        endpoint = request.endpoint or ""
        if _method() not in DEVICE_ALLOWED.get(endpoint, frozenset()):
            raise Forbidden(
                "A terminal's token may only do field work; sign in as the user for this.",
                code="device_token_not_allowed",
                details={"endpoint": endpoint, "method": _method()},
            )
    allowed = _view_attr("_gridserve_roles", None)
    if allowed is not None:
        principal.require(*allowed)  # type: ignore[misc]


def _check_body() -> None:
    if request.method not in BODY_METHODS:
        return
    has_body = (request.content_length or 0) > 0 or "chunked" in request.headers.get(
        "Transfer-Encoding", ""
    )
    if not has_body:
        return
    allowed = _view_attr("_gridserve_accepts", ("application/json",))
    mimetype = request.mimetype
    json_ok = "application/json" in allowed and (
        mimetype == "application/json" or mimetype.endswith("+json")
    )
    if not json_ok and mimetype not in allowed:
        raise AppError(
            f"Send the body as {' or '.join(allowed)}, not {mimetype or 'an unnamed type'}.",
            code="unsupported_media_type",
            status=415,
            details={"expected": list(allowed), "received": mimetype or None},
        )
    if json_ok:
        request.get_data(cache=True)  # enforces MAX_CONTENT_LENGTH (413) before parsing
        if request.get_json(silent=True) is None and request.get_data(cache=True).strip():
            raise AppError("The request body is not valid JSON.", code="malformed_json", status=400)


def init_app(app: Flask) -> None:
    @app.before_request
    def _authenticate() -> None:
        g.request_id = request_id_from(request.headers.get("X-Request-Id"))
        g.actor_token = audit.set_actor(
            audit.Actor(kind="anonymous", remote_addr=request.remote_addr, request_id=g.request_id)
        )
        if request.endpoint is None:
            return  # unknown route: let the 404/405 through
        blueprint = request.blueprint or ""
        if not (blueprint in PUBLIC_BLUEPRINTS or _view_attr("_gridserve_public", False)):
            principal = auth_service.authenticate(
                _bearer_token(), app_version=request.headers.get("X-App-Version")
            )
            g.principal = principal
            audit.set_actor(
                audit.Actor(
                    kind="device" if principal.device_id else "user",
                    id=principal.user_id,
                    name=principal.username,
                    remote_addr=request.remote_addr,
                    device_id=principal.device_id,
                    request_id=g.request_id,
                )
            )
            _check_gates(principal)
        _check_body()

    @app.after_request
    def _request_id(response):
        response.headers["X-Request-Id"] = g.get("request_id", "")
        return response

    @app.teardown_request
    def _reset_actor(_exc: BaseException | None) -> None:
        token = g.pop("actor_token", None)
        if token is not None:
            with contextlib.suppress(ValueError):  # set in another context (streamed)
                audit.reset_actor(token)
