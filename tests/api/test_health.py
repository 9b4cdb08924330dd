from alembic.config import Config
from alembic.script import ScriptDirectory

from gridserve.app import MIGRATIONS_DIR
from gridserve.extensions import db


def _head() -> str:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return ScriptDirectory.from_config(config).get_current_head()


def test_health_reports_backend_spatial_and_schema(client, database_url):
    resp = client.get("/api/v1/health")
    assert resp.status_code == 200
    body = resp.get_json()
    assert body["status"] == "ok"
    expected = "sqlite" if database_url.startswith("sqlite") else "postgresql"
    assert body["database"] == expected
    assert body["spatial"].startswith("SpatiaLite " if expected == "sqlite" else "PostGIS ")
    assert body["schema"] == body["schema_expected"]
    assert body["schema"] == _head()


def test_health_needs_no_token(client):
    assert "Authorization" not in client.get("/api/v1/health").request.headers
    assert client.get("/api/v1/health").status_code == 200


def test_engine_is_the_backend_under_test(ctx, database_url):
    assert db.engine.dialect.name == (
        "sqlite" if database_url.startswith("sqlite") else "postgresql"
    )


def test_health_is_503_until_the_schema_is_migrated(tmp_path):
    from gridserve.app import create_app
    from tests.databases import make_settings

    # A brand-new, empty database (the schema check is the same on both backends).
    app = create_app(make_settings(f"sqlite:///{tmp_path / 'unmigrated.db'}", str(tmp_path)))
    resp = app.test_client().get("/api/v1/health")
    assert resp.status_code == 503
    err = resp.get_json()["error"]
    assert err["code"] == "migrations_pending"
    assert err["details"] == {"schema": None, "schema_expected": _head()}
