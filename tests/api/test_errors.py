"""Every error is the one envelope, with the right status and code."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from gridserve.extensions import db
from gridserve.models import User


def _envelope(resp, status: int, code: str) -> dict:
    assert resp.status_code == status, resp.get_data(as_text=True)
    assert resp.mimetype == "application/json"
    body = resp.get_json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    return body["error"]


def _user_count(app) -> int:
    with app.app_context():
        return db.session.execute(select(func.count()).select_from(User)).scalar_one()


def test_unknown_route_is_a_json_404(client):
    _envelope(client.get("/api/v1/no-such-thing"), 404, "not_found")
    _envelope(client.get("/nowhere"), 404, "not_found")


def test_wrong_method_is_a_json_405_with_allow(client):
    err = _envelope(client.put("/api/v1/health"), 405, "method_not_allowed")
    assert "GET" in err["details"]["allowed"]


def test_malformed_json_is_400(client, world):
    resp = client.post(
        "/api/v1/auth/token", data="{not json", headers={"Content-Type": "application/json"}
    )
    _envelope(resp, 400, "malformed_json")


def test_wrong_content_type_is_415(client, world):
    resp = client.post(
        "/api/v1/auth/token",
        data="username=station_a&password=x",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    err = _envelope(resp, 415, "unsupported_media_type")
    assert err["details"]["expected"] == ["application/json"]


def test_unknown_field_is_422_with_field_details(client, auth_as, clean_app):
    before = _user_count(clean_app)
    resp = client.post(
        "/api/v1/users",
        json={
            "username": "newbie",
            "password": "long enough pw",
            "role": "worker",
            "area_id": 3,
            "shoe_size": 44,
        },
        headers=auth_as("admin"),
    )
    err = _envelope(resp, 422, "validation_error")
    assert "shoe_size" in err["details"]["fields"]
    assert _user_count(clean_app) == before


def test_invalid_values_are_422_per_field(client, auth_as, clean_app):
    before = _user_count(clean_app)
    resp = client.post(
        "/api/v1/users",
        json={"username": "x", "password": "short", "role": "emperor", "area_id": "three"},
        headers=auth_as("admin"),
    )
    err = _envelope(resp, 422, "validation_error")
    assert {"username", "password", "role", "area_id"} <= set(err["details"]["fields"])
    assert _user_count(clean_app) == before


def test_invalid_query_parameter_is_422(client, auth_as):
    resp = client.get("/api/v1/areas?level=planet", headers=auth_as("admin"))
    err = _envelope(resp, 422, "validation_error")
    assert "query.level" in err["details"]["fields"]


def test_body_over_the_limit_is_413(client, auth_as, override_settings):
    headers = auth_as("admin")
    with override_settings(max_content_length=1024):
        resp = client.post(
            "/api/v1/institutions",
            data=json.dumps({"code": "BIG", "name": "x" * 5000}),
            headers={**headers, "Content-Type": "application/json"},
        )
    err = _envelope(resp, 413, "payload_too_large")
    assert err["details"]["limit_bytes"] == 1024


def test_conflicting_state_is_409_and_keeps_the_original(client, auth_as, clean_app, world):
    before = _user_count(clean_app)
    resp = client.post(
        "/api/v1/users",
        json={
            "username": "worker_a",
            "password": "long enough pw",
            "role": "worker",
            "area_id": world.community_b,
        },
        headers=auth_as("admin"),
    )
    _envelope(resp, 409, "username_taken")
    assert _user_count(clean_app) == before
    me = client.get("/api/v1/me", headers=auth_as("worker_a")).get_json()
    assert me["scope"]["area_id"] == world.community_a


def test_unexpected_errors_are_500_with_a_correlation_id_and_no_traceback(
    client, monkeypatch, caplog
):
    from gridserve.services.accounts import system

    def boom(_dir):
        raise RuntimeError("secret internals: /etc/passwd")

    monkeypatch.setattr(system, "health", boom)
    resp = client.get("/api/v1/health")
    err = _envelope(resp, 500, "internal_error")
    text = resp.get_data(as_text=True)
    assert "Traceback" not in text and "secret internals" not in text
    cid = err["details"]["correlation_id"]
    assert cid and resp.headers["X-Request-Id"] == cid
    assert cid in caplog.text  # the log has what the body hides


def test_out_of_scope_and_absent_look_the_same(client, auth_as, world):
    hidden = client.get(f"/api/v1/areas/{world.community_b}", headers=auth_as("station_a"))
    absent = client.get("/api/v1/areas/999999", headers=auth_as("station_a"))
    assert _envelope(hidden, 404, "not_found")["details"] == {}
    assert hidden.get_json()["error"]["code"] == absent.get_json()["error"]["code"]


def test_wrong_role_is_403(client, auth_as):
    resp = client.get("/api/v1/users", headers=auth_as("worker_a"))
    _envelope(resp, 403, "forbidden_role")


@pytest.mark.parametrize("path", ["/api/v1/me", "/api/v1/areas", "/api/v1/institutions"])
def test_protected_endpoints_refuse_anonymous_callers(client, path):
    _envelope(client.get(path), 401, "token_missing")


def test_request_id_is_echoed(client):
    resp = client.get("/api/v1/health", headers={"X-Request-Id": "terminal-42-abc"})
    assert resp.headers["X-Request-Id"] == "terminal-42-abc"
