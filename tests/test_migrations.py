"""Migrations build the schema from an empty database, on both backends, and go back down."""

from __future__ import annotations

import uuid

import pytest
from flask_migrate import downgrade, upgrade
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url

from gridserve.app import create_app
from gridserve.extensions import db
from tests.conftest import make_settings

OUR_TABLES = {
    "areas",
    "institutions",
    "institution_aliases",
    "institution_contacts",
    "users",
    "api_tokens",
    "login_throttle",
    "audit_log",
}


@pytest.fixture
def empty_database(database_url, tmp_path):
    if database_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    url = make_url(database_url.replace("postgresql://", "postgresql+psycopg://"))
    name = f"gridserve_mig_{uuid.uuid4().hex[:8]}"
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    fresh = url.set(database=name)
    with create_engine(fresh).begin() as conn:
        conn.execute(text("CREATE EXTENSION IF NOT EXISTS postgis"))
    try:
        yield fresh.render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_upgrade_from_empty_then_down_and_up_again(empty_database, tmp_path):
    app = create_app(make_settings(empty_database, str(tmp_path)))
    with app.app_context():
        upgrade()
        inspector = inspect(db.engine)
        assert OUR_TABLES <= set(inspector.get_table_names())
        if db.engine.dialect.name == "postgresql":
            indexes = {i["name"] for i in inspector.get_indexes("areas")}
            assert "idx_areas_geom" in indexes  # GiST on the geometry
        else:
            row = db.session.execute(
                text(
                    "SELECT spatial_index_enabled FROM geometry_columns "
                    "WHERE f_table_name = 'areas'"
                )
            ).scalar()
            assert row == 1  # SpatiaLite R*Tree index
        db.session.remove()
        downgrade(revision="base")
        assert not OUR_TABLES & set(inspect(db.engine).get_table_names())
        upgrade()
        assert OUR_TABLES <= set(inspect(db.engine).get_table_names())
        db.session.remove()
        db.engine.dispose()
