"""The 401 codes the field app acts on, each distinct: wipe (`device_revoked`,
`account_disabled`) or enrol again keeping the data (`token_expired`)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from gridserve.extensions import db
from gridserve.models import User
from tests import clock
from tests.conftest import login


def _code(resp) -> str:
    assert resp.status_code == 401, resp.get_json()
    return resp.get_json()["error"]["code"]


def _device_id(client, auth_as, field) -> int:
    devices = client.get(
        f"/api/v1/workers/{field.worker_id}/devices", headers=auth_as("station_a")
    ).get_json()
    return devices[0]["id"]


def test_a_revoked_terminal_gets_device_revoked(client, auth_as, field, terminal):
    client.post(
        f"/api/v1/devices/{_device_id(client, auth_as, field)}/revoke",
        headers=auth_as("station_a"),
    )
    for path in ("/api/v1/me", "/api/v1/sync/bundle", "/api/v1/tasks"):
        assert _code(client.get(path, headers=terminal)) == "device_revoked"


def test_a_disabled_workers_terminal_gets_account_disabled(client, auth_as, field, terminal):
    worker = client.get("/api/v1/me", headers=terminal).get_json()["user"]["id"]
    resp = client.patch(
        f"/api/v1/users/{worker}", json={"is_active": False}, headers=auth_as("admin")
    )
    assert resp.status_code == 200, resp.get_json()
    assert _code(client.get("/api/v1/sync/bundle", headers=terminal)) == "account_disabled"
    assert _code(client.post("/api/v1/sync/visits", json={"items": []}, headers=terminal)) == (
        "account_disabled"
    )


def test_a_disabled_account_wins_over_an_expired_enrolment(
    client, auth_as, field, terminal, override_settings, clean_app
):
    override_settings(device_token_ttl_seconds=3600)
    with clean_app.app_context():
        user = db.session.execute(select(User).where(User.username == "worker_a")).scalar_one()
        user.is_active = False
        db.session.commit()
    clock.shift(dt.timedelta(hours=2))
    assert _code(client.get("/api/v1/me", headers=terminal)) == "account_disabled"


def test_a_terminal_past_its_enrolment_lifetime_gets_token_expired(
    client, auth_as, field, terminal, override_settings
):
    assert client.get("/api/v1/me", headers=terminal).status_code == 200  # no lifetime: forever
    override_settings(device_token_ttl_seconds=3600)
    assert client.get("/api/v1/me", headers=terminal).status_code == 200
    clock.shift(dt.timedelta(hours=2))
    assert _code(client.get("/api/v1/sync/bundle", headers=terminal)) == "token_expired"
    revoked_first = client.post(
        f"/api/v1/devices/{_device_id(client, auth_as, field)}/revoke",
        headers=login(client, "station_a"),
    )
    assert revoked_first.status_code == 200
    assert _code(client.get("/api/v1/me", headers=terminal)) == "device_revoked"


def test_a_users_token_past_its_lifetime_gets_token_expired(client, world, override_settings):
    override_settings(token_ttl_seconds=60)
    headers = login(client, "station_a")
    clock.shift(dt.timedelta(minutes=2))
    assert _code(client.get("/api/v1/me", headers=headers)) == "token_expired"


def test_the_codes_are_documented_on_every_operation_that_needs_a_token(client):
    doc = client.get("/api/v1/openapi.json").get_json()
    described = doc["paths"]["/api/v1/sync/bundle"]["get"]["responses"]["401"]["description"]
    for code in ("device_revoked", "account_disabled", "token_expired", "token_revoked"):
        assert f"`{code}`" in described
