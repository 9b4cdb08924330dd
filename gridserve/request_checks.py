"""Checks every request passes before a view sees it: header sizes, text, nesting.

- ``header_too_large`` (431): a request header longer than :data:`MAX_HEADER_BYTES`
  (checked before authentication, which reads ``Authorization``);
- ``invalid_text`` (422) and ``json_too_deep`` (400), see :mod:`gridserve.inputs`:
  in query parameters, path segments and the JSON body (checked after
  authentication, so 401/403 come first).

A view that judges its items one by one (the visit upload, where one bad record
must not block the others; place imports, row by row) is marked with
:func:`checks_text_per_item`; its body is then checked for depth only and the
service checks the text of each item itself.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from flask import Flask, current_app, request

from gridserve.errors import AppError
from gridserve.inputs import InvalidText, scan, text_problem

F = TypeVar("F", bound=Callable)

MAX_HEADER_BYTES = 8192


def checks_text_per_item(view: F) -> F:
    """Mark a view that checks the text of each item of its body itself."""
    view._gridserve_text_per_item = True  # type: ignore[attr-defined]
    return view


def _per_item(endpoint: str | None) -> bool:
    view = current_app.view_functions.get(endpoint or "")
    cls = getattr(view, "view_class", None)
    if cls is not None:
        view = getattr(cls, request.method.lower(), None)
    return bool(getattr(view, "_gridserve_text_per_item", False))


def check_headers() -> None:
    for name, value in request.headers.items():
        if len(name) + len(value) > MAX_HEADER_BYTES:
            raise AppError(
                f"The {name} header is longer than {MAX_HEADER_BYTES} bytes.",
                code="header_too_large",
                status=431,
                details={"header": name, "limit_bytes": MAX_HEADER_BYTES},
            )


def check_request() -> None:
    """Query parameters, path segments and the parsed JSON body of this request."""
    for key, values in request.args.lists():
        for value in [key, *values]:
            problem = text_problem(value)
            if problem:
                raise InvalidText(f"query.{key}", problem)
    for key, value in (request.view_args or {}).items():
        if isinstance(value, str):
            problem = text_problem(value)
            if problem:
                raise InvalidText(f"path.{key}", problem)
    if request.is_json and request.method in ("POST", "PUT", "PATCH"):
        body = request.get_json(silent=True, cache=True)
        if body is not None:
            scan(body, text=not _per_item(request.endpoint))


def init_app(app: Flask) -> None:
    """Header sizes before anything else; the rest after authentication (register last)."""

    @app.before_request
    def _check_inputs() -> None:
        if request.endpoint is not None:
            check_request()


def init_headers(app: Flask) -> None:
    @app.before_request
    def _check_header_sizes() -> None:
        check_headers()
