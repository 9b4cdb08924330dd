"""HTTP hardening every response gets: security headers, caching rules, CORS, request ids.

- ``X-Content-Type-Options: nosniff``, ``X-Frame-Options: DENY``,
  ``Referrer-Policy: no-referrer`` and a ``Content-Security-Policy`` on every
  response, errors included. JSON and files get ``default-src 'none'``; an
  HTML page (the Swagger UI at ``/api/v1/docs``) may load scripts, styles and
  the OpenAPI document from this origin only, plus exactly the inline
  ``<script>``/``<style>`` blocks it carries (allowed by their SHA-256, computed
  from the page itself, so no ``'unsafe-inline'``). Frames: ``frame-ancestors 'none'``.
- ``Cache-Control: no-store`` on every response, except a response to an
  anonymous request whose view chose its own caching (the Swagger UI assets).
  Everything a signed-in caller receives may hold personal data (bundle,
  households, users, SMS recipients, photos), so no view can loosen it and
  nothing is kept by a browser or a proxy; the sync bundle and photos still
  carry their ``ETag`` and answer ``If-None-Match`` with 304 (the terminal
  keeps what it downloaded itself). The sign-in answer (a token) is no-store too.
- CORS is off unless ``GRIDSERVE_CORS_ORIGINS`` lists origins. A listed origin
  gets ``Access-Control-Allow-Origin`` on its responses and its preflight
  ``OPTIONS`` answered (204, before any token check) with ``Authorization`` and
  ``Content-Type`` allowed; any other origin gets no CORS header at all.
- The ``Server`` header never names a version: the WSGI server writes it, so
  ``gridserve run`` uses :class:`QuietRequestHandler` and
  ``gridserve/gunicorn_conf.py`` renames gunicorn's.
- :func:`request_id_from` keeps a client's ``X-Request-Id`` only when it is
  1-64 characters of ``[A-Za-z0-9._-]``; anything else is replaced by a new id
  (never an error), so no header can write control characters or arbitrary
  text into the audit log.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import re
import uuid
from urllib.parse import urlsplit

from flask import Flask, Response, current_app, g, request
from werkzeug.serving import WSGIRequestHandler

from gridserve import logs
from gridserve.config import settings

SERVER_NAME = "gridserve"

_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")

API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
_HTML_CSP = (
    "default-src 'none'; script-src 'self'{scripts}; style-src 'self'{styles}; "
    "img-src 'self' data: blob:{tiles}; font-src 'self'; connect-src 'self'; "
    "worker-src 'self'; manifest-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action {forms}"
)
_FORM = re.compile(r"<form[\s>]", re.IGNORECASE)
_INLINE = re.compile(r"<(script|style)(?:\s[^>]*)?>(.*?)</\1\s*>", re.DOTALL | re.IGNORECASE)
_HAS_SRC = re.compile(r"<script\s[^>]*\bsrc\s*=", re.IGNORECASE)

CORS_METHODS = "GET, POST, PUT, PATCH, DELETE"
CORS_ALLOW_HEADERS = "Authorization, Content-Type, If-None-Match, X-Request-Id, X-App-Version"
CORS_EXPOSE_HEADERS = "ETag, Location, Retry-After, X-Pagination, X-Request-Id"
CORS_MAX_AGE = "600"


def request_id_from(header: str | None) -> str:
    """The client's request id if it is safe to log as is, otherwise a new one."""
    if header and _REQUEST_ID.fullmatch(header):
        return header
    return uuid.uuid4().hex


class QuietRequestHandler(WSGIRequestHandler):
    """werkzeug's development server, announcing itself without versions."""

    def version_string(self) -> str:
        return SERVER_NAME

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """One access line in gridserve's log format (see :func:`gridserve.logs.access`)."""
        environ = getattr(self, "environ", None) or {
            "REQUEST_METHOD": getattr(self, "command", "-"),
            "REMOTE_ADDR": self.address_string(),
        }
        logs.access(logging.getLogger("gridserve.access"), environ, code, size, None)


def _digest(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def html_policy(html: str) -> str:
    """The CSP for an HTML page: this origin, plus the page's own inline blocks by hash."""
    scripts: list[str] = []
    styles: list[str] = []
    for match in _INLINE.finditer(html):
        tag, body = match.group(1).lower(), match.group(2)
        if tag == "script" and _HAS_SRC.match(match.group(0)):
            continue
        (scripts if tag == "script" else styles).append(_digest(body))
    return _HTML_CSP.format(
        scripts="".join(" " + d for d in scripts),
        styles="".join(" " + d for d in styles),
        tiles=_tile_origin(),
        forms="'self'" if _FORM.search(html) else "'none'",  # a page's own form posts here
    )


def _tile_origin() -> str:
    """The configured map tile server, which pages may load images from."""
    tiles = urlsplit(settings().map_tile_url)
    return f" {tiles.scheme}://{tiles.netloc}" if tiles.netloc else ""


def _content_security_policy(response: Response) -> str:
    if response.mimetype == "text/javascript" and not response.direct_passthrough:
        return html_policy("")  # a worker script: its policy is the one it runs under
    if response.mimetype != "text/html" or response.direct_passthrough or response.is_streamed:
        return API_CSP
    return html_policy(response.get_data(as_text=True))


def _allowed_origin(origin: str | None) -> str | None:
    """``origin`` when CORS lets it call the API, else None."""
    allowed = settings().cors_origins or ()
    if not origin or not allowed:
        return None
    if "*" in allowed or origin.rstrip("/").lower() in allowed:
        return origin
    return None


def _preflight() -> Response | None:
    """Answer a CORS preflight from a listed origin before any token is asked for."""
    if request.method != "OPTIONS" or "Access-Control-Request-Method" not in request.headers:
        return None
    origin = _allowed_origin(request.headers.get("Origin"))
    if origin is None:
        return None  # not ours to allow: the request goes on and gets no CORS header
    response = current_app.response_class(status=204)
    response.headers["Access-Control-Allow-Methods"] = CORS_METHODS
    response.headers["Access-Control-Allow-Headers"] = CORS_ALLOW_HEADERS
    response.headers["Access-Control-Max-Age"] = CORS_MAX_AGE
    return response


def secure_response(response: Response) -> Response:
    """Add the headers every response carries (see the module docstring)."""
    headers = response.headers
    headers["X-Content-Type-Options"] = "nosniff"
    headers["X-Frame-Options"] = "DENY"
    headers["Referrer-Policy"] = "no-referrer"
    headers["Content-Security-Policy"] = _content_security_policy(response)
    anonymous = g.get("principal") is None
    if not (anonymous and "Cache-Control" in headers):
        headers["Cache-Control"] = "no-store"
    origin = _allowed_origin(request.headers.get("Origin"))
    if origin is not None:
        headers["Access-Control-Allow-Origin"] = origin
        headers["Access-Control-Expose-Headers"] = CORS_EXPOSE_HEADERS
    if settings().cors_origins:
        headers.add("Vary", "Origin")  # the answer depends on the Origin header
    return response


def init_app(app: Flask) -> None:
    """Register before the token check (preflights need none) and after flask-compress
    (so an HTML page is hashed before it is compressed)."""
    app.before_request(_preflight)
    app.after_request(secure_response)
