"""The test-only endpoint of bench/load: absent unless GRIDSERVE_BENCH_ENDPOINTS asks for it."""

from __future__ import annotations

import pytest

from api import bench
from gridserve.config import load_settings
from gridserve.extensions import db
from tests.clock import move_to
from tests.databases import make_settings


def test_the_bench_endpoint_is_absent_by_default(client, terminal):
    assert load_settings({}).bench_endpoints is False
    resp = client.get("/api/v1/_bench/sync-static", headers=terminal)
    assert resp.status_code == 404
    assert resp.get_json()["error"]["code"] == "not_found"
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    assert not [p for p in paths if "_bench" in p]


@pytest.fixture
def bench_app(database_url, tmp_path, clean_app):
    """The same database, served with the bench endpoints mounted."""
    from gridserve.app import create_app

    app = create_app(make_settings(database_url, str(tmp_path), bench_endpoints=True))
    bench.reset()
    yield app
    bench.reset()
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.mark.real_commits
def test_with_the_flag_it_answers_the_real_incremental_bundle_bytes(bench_app, terminal):
    from gridserve.db import utcnow

    move_to(utcnow(), tick=False)  # one server_time for both answers
    client = bench_app.test_client()
    assert client.get("/api/v1/_bench/sync-static").status_code == 401  # the same token check
    cursor = client.get("/api/v1/sync/bundle", headers=terminal).get_json()["next_cursor"]
    real = client.get(f"/api/v1/sync/bundle?since={cursor}", headers=terminal)
    static = client.get(f"/api/v1/_bench/sync-static?since={cursor}", headers=terminal)
    assert real.status_code == static.status_code == 200
    assert static.get_data() == real.get_data()
    assert real.get_json()["reset"] is False and real.get_json()["places"] == []
    assert static.headers["ETag"] == real.headers["ETag"]
    # From memory afterwards: the same bytes whatever the query.
    again = client.get("/api/v1/_bench/sync-static", headers=terminal)
    assert again.get_data() == real.get_data()
