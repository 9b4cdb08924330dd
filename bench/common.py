"""What the benchmarks share: a fresh PostGIS database and an app migrated onto it."""

from __future__ import annotations

import psycopg
from flask import Flask
from flask_migrate import upgrade

from gridserve.app import create_app
from gridserve.config import load_settings
from gridserve.extensions import db


def fresh_database(url: str) -> None:
    """Drop and create the database at ``url`` (on the same server's ``postgres``), with
    PostGIS."""
    admin, name = url.rsplit("/", 1)
    with psycopg.connect(f"{admin}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION postgis")


def fresh_app(url: str, env: dict[str, str] | None = None, **overrides: object) -> Flask:
    """An app (testing settings, plus ``env`` and ``overrides``) on a fresh database at
    ``url``, migrated to the head."""
    fresh_database(url)
    settings = load_settings(
        {"GRIDSERVE_ENV": "testing", "GRIDSERVE_DATABASE_URL": url,
         "GRIDSERVE_INSTANCE_PATH": "/tmp/gridserve-bench-instance", **(env or {})},
        **overrides,
    )  # fmt: skip
    app = create_app(settings)
    with app.app_context():
        upgrade()
        db.session.remove()
    return app
