"""The application factory."""

from __future__ import annotations

import logging
from pathlib import Path

from flask import Flask, send_from_directory
from flask.json.provider import DefaultJSONProvider
from werkzeug.middleware.proxy_fix import ProxyFix

from gridserve import audit, auth, errors
from gridserve import db as db_module
from gridserve.config import Settings, load_settings
from gridserve.extensions import api, compress, db, migrate

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def create_app(settings: Settings | None = None) -> Flask:
    """Build the Flask app; starts nothing in the background (the scheduler is its own process)."""
    settings = settings or load_settings()
    if settings.test_clock is not None:  # only ever set for GRIDSERVE_ENV=testing
        db_module.set_test_clock(settings.test_clock, settings.test_clock_rate)
    app = Flask("gridserve", instance_path=str(settings.instance_path))
    app.json = StrictJSONProvider(app)
    app.config.update(settings.flask_config())
    app.extensions["gridserve_settings"] = settings
    app.json.compact = True
    app.json.ensure_ascii = False
    app.json.sort_keys = False
    app.url_map.strict_slashes = False
    proxies = int(app.config.get("GRIDSERVE_PROXY_COUNT", 0) or 0)
    if proxies:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies)  # type: ignore[method-assign]
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")

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
    errors.init_app(app)
    auth.init_app(app)
    db_module.init_app(app)  # registered last, so its after_request commits first

    api.init_app(app)
    api.spec.components.security_scheme(
        "bearerAuth", {"type": "http", "scheme": "bearer", "bearerFormat": "opaque token"}
    )
    from api import register_blueprints

    register_blueprints(api)
    _serve_docs_assets(app)
    return app


def _no_constants(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


class StrictJSONProvider(DefaultJSONProvider):
    """Standard JSON only: NaN and Infinity are refused (PostgreSQL's JSONB refuses them too)."""

    def loads(self, s, **kwargs):
        kwargs.setdefault("parse_constant", _no_constants)
        return super().loads(s, **kwargs)


def _serve_docs_assets(app: Flask) -> None:
    """Swagger UI from the installed package, never from a CDN (terminals may be offline)."""
    from flask import Blueprint
    from swagger_ui_bundle import swagger_ui_path

    bp = Blueprint("docs_assets", __name__)

    @bp.route("/api/v1/docs/assets/<path:filename>")
    def asset(filename: str):
        return send_from_directory(str(swagger_ui_path), filename, max_age=86400)

    app.register_blueprint(bp)
