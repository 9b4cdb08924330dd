"""Tokens: issue, use, expiry, logout, admin revocation, throttling, audit."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select, update

from gridserve.extensions import db
from gridserve.models import ApiToken, AuditEntry, LoginThrottle
from tests.conftest import PASSWORD, login


def _token(client, username="station_a", password=PASSWORD):
    return client.post("/api/v1/auth/token", json={"username": username, "password": password})


def test_login_issues_a_bearer_token_that_opens_me(client, world):
    resp = _token(client)
    assert resp.status_code == 201
    body = resp.get_json()
    assert body["token_type"] == "Bearer"
    assert len(body["access_token"]) >= 40
    expires = dt.datetime.fromisoformat(body["expires_at"])
    assert expires > dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)

    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200
    data = me.get_json()
    assert data["user"]["username"] == "station_a"
    assert data["role"] == "station"
    assert data["scope"]["area_code"] == "S1C1"
    assert data["scope"]["area_level"] == "community"
    assert data["scope"]["institution_kind"] is None  # an area user
    assert "password" not in str(data) and "password_hash" not in str(data)


def test_username_is_case_insensitive(client, world):
    assert _token(client, "Station_A").status_code == 201


def test_token_is_stored_hashed_only(client, world, clean_app):
    token = _token(client).get_json()["access_token"]
    with clean_app.app_context():
        stored = db.session.execute(select(ApiToken.token_hash)).scalars().all()
    assert token not in stored
    assert len(stored) == 1 and len(stored[0]) == 64


def test_wrong_password_and_unknown_user_get_the_same_401(client, world):
    wrong = _token(client, "station_a", "not the password")
    unknown = _token(client, "nobody_here", "not the password")
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.get_json() == unknown.get_json()
    assert wrong.get_json()["error"]["code"] == "invalid_credentials"


def test_login_body_is_validated(client, world):
    resp = client.post("/api/v1/auth/token", json={"username": "station_a"})
    assert resp.status_code == 422
    err = resp.get_json()["error"]
    assert err["code"] == "validation_error"
    assert "password" in err["details"]["fields"]


def test_missing_malformed_and_unknown_tokens_are_401(client, world):
    missing = client.get("/api/v1/me")
    assert missing.status_code == 401
    assert missing.get_json()["error"]["code"] == "token_missing"
    assert "Bearer" in missing.headers["WWW-Authenticate"]

    basic = client.get("/api/v1/me", headers={"Authorization": "Basic dXNlcjpwYXNz"})
    assert basic.status_code == 401
    assert basic.get_json()["error"]["code"] == "token_invalid"

    forged = client.get("/api/v1/me", headers={"Authorization": "Bearer not-a-real-token"})
    assert forged.status_code == 401
    assert forged.get_json()["error"]["code"] == "token_invalid"


def test_expired_token_is_refused(client, world, clean_app):
    headers = login(client, "station_a")
    with clean_app.app_context():
        db.session.execute(
            update(ApiToken).values(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))
        )
        db.session.commit()
    resp = client.get("/api/v1/me", headers=headers)
    assert resp.status_code == 401
    assert resp.get_json()["error"]["code"] == "token_expired"


def test_token_lifetime_follows_configuration(client, world, override_settings):
    with override_settings(token_ttl_seconds=60):
        body = _token(client).get_json()
    expires = dt.datetime.fromisoformat(body["expires_at"])
    assert expires <= dt.datetime.now(dt.UTC) + dt.timedelta(seconds=61)


def test_logout_revokes_only_that_token(client, world):
    first = login(client, "station_a")
    second = login(client, "station_a")
    assert client.delete("/api/v1/auth/token", headers=first).status_code == 204
    again = client.get("/api/v1/me", headers=first)
    assert again.status_code == 401
    assert again.get_json()["error"]["code"] == "token_revoked"
    assert client.get("/api/v1/me", headers=second).status_code == 200


def test_admin_revokes_all_tokens_of_a_user(client, auth_as, world):
    victim = login(client, "worker_a")
    me = client.get("/api/v1/me", headers=victim).get_json()
    user_id = me["user"]["id"]
    tokens = client.get(f"/api/v1/users/{user_id}/tokens", headers=auth_as("admin"))
    assert tokens.status_code == 200 and len(tokens.get_json()) == 1
    assert "token_hash" not in tokens.get_json()[0]

    resp = client.delete(f"/api/v1/users/{user_id}/tokens", headers=auth_as("admin"))
    assert resp.status_code == 200
    assert resp.get_json() == {"revoked": 1}
    after = client.get("/api/v1/me", headers=victim)
    assert after.status_code == 401
    assert after.get_json()["error"]["code"] == "token_revoked"


def test_admin_revokes_one_token(client, auth_as, world):
    a = login(client, "worker_a")
    b = login(client, "worker_a")
    user_id = client.get("/api/v1/me", headers=a).get_json()["user"]["id"]
    tokens = client.get(f"/api/v1/users/{user_id}/tokens", headers=auth_as("admin")).get_json()
    newest = tokens[0]["id"]
    resp = client.delete(f"/api/v1/users/{user_id}/tokens/{newest}", headers=auth_as("admin"))
    assert resp.get_json() == {"revoked": 1}
    assert client.get("/api/v1/me", headers=b).status_code == 401
    assert client.get("/api/v1/me", headers=a).status_code == 200
    missing = client.delete(f"/api/v1/users/{user_id}/tokens/99999", headers=auth_as("admin"))
    assert missing.status_code == 404


def test_only_admins_revoke_other_peoples_tokens(client, auth_as, world):
    user_id = client.get("/api/v1/me", headers=auth_as("worker_a")).get_json()["user"]["id"]
    resp = client.delete(f"/api/v1/users/{user_id}/tokens", headers=auth_as("station_a"))
    assert resp.status_code == 403
    assert resp.get_json()["error"]["code"] == "forbidden_role"
    assert client.get("/api/v1/me", headers=auth_as("worker_a")).status_code == 200


def test_deactivating_a_user_signs_them_out(client, auth_as, world):
    victim = login(client, "worker_a")
    user_id = client.get("/api/v1/me", headers=victim).get_json()["user"]["id"]
    resp = client.patch(
        f"/api/v1/users/{user_id}", json={"is_active": False}, headers=auth_as("station_a")
    )
    assert resp.status_code == 200
    assert client.get("/api/v1/me", headers=victim).status_code == 401
    assert _token(client, "worker_a").status_code == 401


def test_repeated_failures_are_throttled_with_retry_after(client, world, clean_app):
    with clean_app.app_context():  # the audit log is append-only: read only what this test adds
        first = (db.session.execute(select(func.max(AuditEntry.id))).scalar() or 0) + 1
    for _ in range(5):
        assert _token(client, "station_a", "wrong").status_code == 401
    blocked = _token(client, "station_a", "wrong")
    assert blocked.status_code == 429
    assert blocked.get_json()["error"]["code"] == "login_throttled"
    retry = int(blocked.headers["Retry-After"])
    assert 0 < retry <= 15 * 60
    assert blocked.get_json()["error"]["details"]["retry_after_seconds"] == retry
    # Even the right password waits; another account from this address does not.
    assert _token(client, "station_a", PASSWORD).status_code == 429
    assert _token(client, "station_b", PASSWORD).status_code == 201
    with clean_app.app_context():
        failures = db.session.execute(
            select(LoginThrottle.failures).where(
                LoginThrottle.username == "station_a", LoginThrottle.address == "127.0.0.1"
            )
        ).scalar_one()
        checked = db.session.execute(
            select(func.count()).where(AuditEntry.action == "login_failed", AuditEntry.id >= first)
        ).scalar_one()
    assert failures == 7  # 5 wrong passwords and 2 refused attempts, all kept
    assert checked == 5  # but only 5 passwords were ever checked


def test_throttle_lifts_when_failures_leave_the_window(client, world, clean_app):
    for _ in range(5):
        _token(client, "station_a", "wrong")
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=16)
    with clean_app.app_context():
        db.session.execute(
            update(LoginThrottle).values(window_start=long_ago, locked_until=long_ago)
        )
        db.session.commit()
    assert _token(client, "station_a", PASSWORD).status_code == 201


def test_unknown_usernames_are_throttled_by_address_only(client, world, clean_app):
    for _ in range(6):
        assert _token(client, "ghost", "x").status_code == 401
    with clean_app.app_context():
        rows = db.session.execute(select(LoginThrottle)).scalars().all()
        assert [(r.username, r.address, r.failures) for r in rows] == [("", "127.0.0.1", 6)]


def test_logins_logouts_and_revocations_are_audited(client, auth_as, world, clean_app):
    with clean_app.app_context():
        first = (db.session.execute(select(func.max(AuditEntry.id))).scalar() or 0) + 1
    _token(client, "station_a", "wrong")
    headers = login(client, "station_a")
    client.delete("/api/v1/auth/token", headers=headers)
    user_id = client.get("/api/v1/me", headers=auth_as("worker_a")).get_json()["user"]["id"]
    client.delete(f"/api/v1/users/{user_id}/tokens", headers=auth_as("admin"))
    with clean_app.app_context():
        rows = (
            db.session.execute(
                select(AuditEntry).where(AuditEntry.id >= first).order_by(AuditEntry.id)
            )
            .scalars()
            .all()
        )
        actions = [(r.action, r.actor_name) for r in rows]
        assert ("login_failed", None) in actions
        assert ("login", "station_a") in actions
        assert ("logout", "station_a") in actions
        assert ("token_revoked", "admin") in actions
        assert all(r.remote_addr for r in rows if r.action in {"login", "logout"})
        assert all(r.request_id for r in rows)


def test_a_successful_sign_in_clears_earlier_failures(client, world):
    for _ in range(4):
        _token(client, "station_a", "wrong")
    assert _token(client, "station_a", PASSWORD).status_code == 201
    for _ in range(4):
        assert _token(client, "station_a", "wrong").status_code == 401
    assert _token(client, "station_a", PASSWORD).status_code == 201


@pytest.mark.real_commits
def test_a_parallel_burst_cannot_test_more_passwords_than_the_limit(clean_app, world, database_url):
    """Twenty guesses at once: the database lets exactly five be checked."""
    from concurrent.futures import ThreadPoolExecutor

    def guess(i: int) -> int:
        with clean_app.test_client() as c:
            return _token(c, "station_a", f"guess-{i}").status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        codes = list(pool.map(guess, range(20)))
    assert codes.count(401) == 5
    assert codes.count(429) == 15
