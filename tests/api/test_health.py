import pytest
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


def test_health_is_503_until_the_schema_is_migrated(databases, tmp_path):
    from gridserve.app import create_app
    from tests.databases import make_settings

    # A brand-new, empty database on the backend under test (PostGIS already in it).
    app = create_app(make_settings(databases.create("unmigrated"), str(tmp_path)))
    try:
        resp = app.test_client().get("/api/v1/health")
        assert resp.status_code == 503
        assert resp.headers["Retry-After"]
        err = resp.get_json()["error"]
        assert err["code"] == "migrations_pending"
        assert err["details"] == {"schema": None, "schema_expected": _head()}
        # Liveness does not care about the schema.
        live = app.test_client().get("/api/v1/health/live")
        assert (live.status_code, live.get_json()) == (200, {"status": "ok"})
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
        databases.drop("unmigrated")


# No database answers at these: a closed port on this machine, a file in no directory.
UNREACHABLE = {
    "postgresql": "postgresql://postgres@127.0.0.1:1/gridserve_nowhere",
    "sqlite": "sqlite:////nonexistent-gridserve-dir/nowhere.db",
}


@pytest.fixture(params=sorted(UNREACHABLE))
def unreachable_app(request, tmp_path):
    """An app whose database cannot be reached (both engines, whatever the lane)."""
    from gridserve.app import create_app
    from tests.databases import make_settings

    return create_app(make_settings(UNREACHABLE[request.param], str(tmp_path)))


def test_readiness_is_503_database_unavailable_when_the_database_is_unreachable(
    unreachable_app,
):
    resp = unreachable_app.test_client().get("/api/v1/health")
    assert resp.status_code == 503
    assert resp.headers["Retry-After"]
    assert resp.get_json()["error"]["code"] == "database_unavailable"


def test_liveness_answers_without_the_database(unreachable_app):
    resp = unreachable_app.test_client().get("/api/v1/health/live")
    assert resp.status_code == 200
    assert resp.get_json() == {"status": "ok"}
    assert "Authorization" not in resp.request.headers


def test_both_probes_are_in_the_openapi_document_without_a_token(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    ready = spec["paths"]["/api/v1/health"]["get"]
    live = spec["paths"]["/api/v1/health/live"]["get"]
    for op in (ready, live):
        assert "security" not in op
        assert "200" in op["responses"]
    assert "migrations_pending" in ready["responses"]["503"]["description"]
    live_schema = live["responses"]["200"]["content"]["application/json"]["schema"]
    assert live_schema == {"$ref": "#/components/schemas/Live"}


def test_a_newer_schema_keeps_this_release_ready_an_older_one_does_not(client, clean_app):
    """During a rolling upgrade the next release migrates first (expand-then-contract): nodes
    of this release stay ready on its newer schema; a schema behind this code is 503."""
    from sqlalchemy import text

    from gridserve.db import transaction

    def stamp(revision: str) -> None:
        with clean_app.app_context(), transaction():
            db.session.execute(text("UPDATE alembic_version SET version_num = :r"), {"r": revision})

    stamp("9999_from_the_next_release")
    ready = client.get("/api/v1/health")
    assert ready.status_code == 200, ready.get_json()
    assert ready.get_json()["schema"] == "9999_from_the_next_release"
    assert ready.get_json()["schema_expected"] == _head()
    stamp("0018_case_indexes")  # one this code ships, behind its head
    behind = client.get("/api/v1/health")
    assert behind.status_code == 503
    assert behind.get_json()["error"]["code"] == "migrations_pending"
