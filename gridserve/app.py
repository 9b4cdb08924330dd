"""The application factory."""

from __future__ import annotations

from pathlib import Path

from flask import Flask, Request, send_from_directory
from flask.json.provider import DefaultJSONProvider
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import IntegerConverter

from gridserve import audit, auth, errors, http_security, inputs, logs, metrics, request_checks, web
from gridserve import db as db_module
from gridserve.config import SETTINGS_KEY, Settings, load_settings
from gridserve.extensions import api, compress, db, migrate

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def create_app(settings: Settings | None = None) -> Flask:
    """Build the Flask app; starts nothing in the background (the scheduler is its own process)."""
    settings = settings or load_settings()
    if settings.test_clock is not None:  # only ever set for GRIDSERVE_ENV=testing
        db_module.set_test_clock(settings.test_clock, settings.test_clock_rate)
    app = Flask("gridserve", instance_path=str(settings.instance_path))
    app.request_class = GridRequest
    app.json = StrictJSONProvider(app)
    app.config.update(settings.flask_config())
    app.extensions[SETTINGS_KEY] = settings
    app.json.compact = True
    app.json.ensure_ascii = False
    app.json.sort_keys = False
    app.url_map.strict_slashes = False
    app.url_map.converters["int"] = IdConverter
    if settings.proxy_count:
        proxies = settings.proxy_count
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies)  # type: ignore[method-assign]
    logs.init_app(app, settings.log_format, settings.log_level)

    if settings.is_sqlite:
        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = db_module.sqlite_engine_options()
    db.init_app(app)
    with app.app_context():
        if settings.is_sqlite:
            db_module.setup_sqlite(db.engine)
    migrate.init_app(app, db, directory=str(MIGRATIONS_DIR), compare_type=True)
    compress.init_app(app)

    import gridserve.scope  # noqa: F401  (declares each model's scope rule)

    audit.init_app()
    metrics.init_app(app)  # first: its after_request runs last and sees the final status
    errors.init_app(app)
    http_security.init_app(app)  # before auth: CORS preflights carry no token
    request_checks.init_headers(app)  # header sizes before authentication reads them
    auth.init_app(app)
    request_checks.init_app(app)  # text and nesting, after authentication (401/403 come first)
    db_module.init_app(app)  # registered last, so its after_request commits first

    api.init_app(app)
    api.spec.components.security_scheme(
        "bearerAuth", {"type": "http", "scheme": "bearer", "bearerFormat": "opaque token"}
    )
    from api import register_blueprints

    register_blueprints(api, app)
    _serve_docs_assets(app)
    web.init_app(app)
    return app


def _no_constants(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


class StrictJSONProvider(DefaultJSONProvider):
    """Standard JSON only: NaN and Infinity are refused (PostgreSQL's JSONB refuses them too).

    Nesting deep enough to exhaust the parser's stack is the client's error
    (400 ``json_too_deep``), not a RecursionError; shallower but still
    unreasonable nesting is refused by :func:`gridserve.inputs.scan`.
    """

    def loads(self, s, **kwargs):
        kwargs.setdefault("parse_constant", _no_constants)
        try:
            return super().loads(s, **kwargs)
        except RecursionError:
            raise inputs.JSONTooDeep() from None


class IdConverter(IntegerConverter):
    """``<int:...>`` in our routes is a database id: 1..2**31-1, else no such resource (404).

    flask-smorest documents the bounds from ``min``/``max``.
    """

    def __init__(self, map, fixed_digits: int = 0, min: int | None = 1, max: int | None = 2**31 - 1,
                 signed: bool = False) -> None:  # fmt: skip
        super().__init__(map, fixed_digits=fixed_digits, min=min, max=max, signed=signed)


class GridRequest(Request):
    """Flask's request, with the body limit enforced on chunked bodies too.

    For a body without Content-Length (``Transfer-Encoding: chunked``) werkzeug
    stops reading at ``MAX_CONTENT_LENGTH`` and hands back the truncated bytes,
    which then fail as malformed JSON or CSV. A body that fills the limit is
    taken as larger than the limit: 413 ``payload_too_large``.
    """

    def get_data(self, cache: bool = True, as_text: bool = False, parse_form_data: bool = False):
        fresh = getattr(self, "_cached_data", None) is None
        data = super().get_data(cache=cache, as_text=False, parse_form_data=parse_form_data)
        limit = self.max_content_length
        if fresh and limit is not None and self.content_length is None and len(data) >= limit:
            raise RequestEntityTooLarge()
        return data.decode(errors="replace") if as_text else data


def _serve_docs_assets(app: Flask) -> None:
    """Swagger UI from the installed package, never from a CDN (terminals may be offline)."""
    from flask import Blueprint
    from swagger_ui_bundle import swagger_ui_path

    bp = Blueprint("docs_assets", __name__)

    @bp.route("/api/v1/docs/assets/<path:filename>")
    def asset(filename: str):
        return send_from_directory(str(swagger_ui_path), filename, max_age=86400)

    app.register_blueprint(bp)
