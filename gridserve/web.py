"""The two front ends, served from the built ``web/dist`` (``make run`` builds it).

- ``/`` and ``/index.html``: the console for the offices;
- ``/field/``: the field app for the terminals (a PWA: its service worker at ``/field/sw.js``
  with scope ``/field/``, its manifest beside it);
- ``/assets/…``: the bundles, named by content hash, cached for a year (``immutable``).

Pages and the service worker are revalidated on every load (``no-cache``) so a new release is
picked up at once. Nothing here needs a token: the apps sign in through the public API.
"""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Flask, Response, request, send_from_directory

from gridserve.config import settings
from gridserve.errors import NotFound

bp = Blueprint("web", __name__)

YEAR = 365 * 24 * 3600


def _dist() -> Path:
    dist = settings().web_dist
    if not (dist / "index.html").is_file():
        raise NotFound(
            "The web front ends are not built: run `make run`, or `npm ci && npm run build` "
            "in web/.",
            code="not_found",
        )
    return dist


def _page(relative: str) -> Response:
    """A page (or the service worker), revalidated on every load. Read into memory, not streamed,
    so its Content-Security-Policy is computed from what it holds (gridserve.http_security)."""
    response = send_from_directory(_dist(), relative, max_age=0, conditional=False)
    response.direct_passthrough = False
    response.set_data(response.get_data())
    response.add_etag()
    response.headers["Cache-Control"] = "no-cache"
    return response.make_conditional(request)


@bp.route("/")
@bp.route("/index.html")
def console() -> Response:
    return _page("index.html")


@bp.route("/field")
@bp.route("/field/")
@bp.route("/field/index.html")
def field_app() -> Response:
    return _page("field/index.html")


@bp.route("/field/sw.js")
def service_worker() -> Response:
    response = _page("field/sw.js")
    response.headers["Service-Worker-Allowed"] = "/field/"
    return response


@bp.route("/field/manifest.webmanifest")
def manifest() -> Response:
    response = _page("field/manifest.webmanifest")
    response.mimetype = "application/manifest+json"
    return response


@bp.route("/assets/<path:filename>")
def asset(filename: str) -> Response:
    response = send_from_directory(_dist() / "assets", filename, max_age=YEAR)
    response.headers["Cache-Control"] = f"public, max-age={YEAR}, immutable"
    return response


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
