"""Changing one's own password needs the current one; a manager's reset needs none.

Any new password revokes every token and terminal of the account; the session
that changed its own password is the one kept.
"""

from __future__ import annotations

from sqlalchemy import func, select

from gridserve.extensions import db
from gridserve.models import AuditEntry, Device
from tests.conftest import PASSWORD, login

NEW = "a brand new one"


def _me(client, headers) -> int:
    return client.get("/api/v1/me", headers=headers).get_json()["user"]["id"]


def _sign_in(client, username, password, addr="127.0.0.1"):
    return client.post(
        "/api/v1/auth/token",
        json={"username": username, "password": password},
        environ_overrides={"REMOTE_ADDR": addr},
    )


def test_own_password_change_without_current_password_is_422(client, world):
    headers = login(client, "worker_a")
    resp = client.patch(
        f"/api/v1/users/{_me(client, headers)}", json={"password": NEW}, headers=headers
    )
    assert resp.status_code == 422
    err = resp.get_json()["error"]
    assert err["code"] == "validation_error"
    assert "current_password" in err["details"]["fields"]
    # Nothing changed: the old password still signs in, the session still works.
    assert _sign_in(client, "worker_a", PASSWORD).status_code == 201
    assert _sign_in(client, "worker_a", NEW).status_code == 401
    assert client.get("/api/v1/me", headers=headers).status_code == 200


def test_wrong_current_password_is_403_and_changes_nothing(client, world):
    headers = login(client, "worker_a")
    user_id = _me(client, headers)
    resp = client.patch(
        f"/api/v1/users/{user_id}",
        json={"password": NEW, "current_password": "not it", "full_name": "改名"},
        headers=headers,
    )
    assert resp.status_code == 403
    assert resp.get_json()["error"]["code"] == "wrong_password"
    assert _sign_in(client, "worker_a", PASSWORD).status_code == 201
    me = client.get("/api/v1/me", headers=headers)
    assert me.status_code == 200
    assert me.get_json()["user"]["full_name"] != "改名"


def test_wrong_current_passwords_count_towards_the_sign_in_throttle(client, world):
    headers = login(client, "worker_a")
    url = f"/api/v1/users/{_me(client, headers)}"
    body = {"password": NEW, "current_password": "guess"}
    for _ in range(5):
        assert client.patch(url, json=body, headers=headers).status_code == 403
    again = client.patch(url, json=body | {"current_password": PASSWORD}, headers=headers)
    assert again.status_code == 429
    assert again.get_json()["error"]["code"] == "login_throttled"
    assert int(again.headers["Retry-After"]) > 0
    # The same account from the same address is throttled at sign-in too...
    assert _sign_in(client, "worker_a", PASSWORD).status_code == 429
    # ...but not from another address, and the password never changed.
    assert _sign_in(client, "worker_a", PASSWORD, addr="10.9.9.9").status_code == 201
    assert _sign_in(client, "worker_a", NEW, addr="10.9.9.8").status_code == 401


def test_own_change_keeps_this_session_and_revokes_the_others_and_every_terminal(
    client, auth_as, terminal, clean_app
):
    with clean_app.app_context():  # the audit log is append-only: read only what this test adds
        first = (db.session.execute(select(func.max(AuditEntry.id))).scalar() or 0) + 1
    this = login(client, "worker_a")
    other = login(client, "worker_a")
    assert client.get("/api/v1/me", headers=terminal).status_code == 200
    resp = client.patch(
        f"/api/v1/users/{_me(client, this)}",
        json={"password": NEW, "current_password": PASSWORD},
        headers=this,
    )
    assert resp.status_code == 200
    assert client.get("/api/v1/me", headers=this).status_code == 200
    gone = client.get("/api/v1/me", headers=other)
    assert gone.status_code == 401 and gone.get_json()["error"]["code"] == "token_revoked"
    device = client.get("/api/v1/me", headers=terminal)
    assert device.status_code == 401 and device.get_json()["error"]["code"] == "device_revoked"
    assert _sign_in(client, "worker_a", PASSWORD).status_code == 401
    assert _sign_in(client, "worker_a", NEW).status_code == 201
    with clean_app.app_context():
        revoked = db.session.execute(select(Device.revoked_at)).scalars().all()
        assert revoked and all(at is not None for at in revoked)
        actions = (
            db.session.execute(select(AuditEntry.action).where(AuditEntry.id >= first))
            .scalars()
            .all()
        )
        assert "password_changed" in actions and "device_revoked" in actions


def test_a_manager_resets_without_current_password_and_revokes_everything(
    client, auth_as, terminal
):
    victim = login(client, "worker_a")
    user_id = _me(client, victim)
    resp = client.patch(
        f"/api/v1/users/{user_id}", json={"password": NEW}, headers=auth_as("station_a")
    )
    assert resp.status_code == 200
    assert client.get("/api/v1/me", headers=victim).get_json()["error"]["code"] == "token_revoked"
    assert client.get("/api/v1/me", headers=terminal).get_json()["error"]["code"] == (
        "device_revoked"
    )
    assert _sign_in(client, "worker_a", NEW).status_code == 201
    # The manager's own session is untouched.
    assert client.get("/api/v1/me", headers=auth_as("station_a")).status_code == 200


def test_only_a_manager_of_the_account_may_reset_it(client, auth_as, world):
    user_id = _me(client, auth_as("worker_a"))
    for who in ("station_b", "coordinator", "bank"):
        resp = client.patch(
            f"/api/v1/users/{user_id}", json={"password": NEW}, headers=auth_as(who)
        )
        assert resp.status_code in (403, 404), who
    assert client.get("/api/v1/me", headers=auth_as("worker_a")).status_code == 200
    assert _sign_in(client, "worker_a", PASSWORD).status_code == 201


def test_an_admin_changing_their_own_password_needs_the_current_one(client, auth_as, world):
    headers = auth_as("admin")
    url = f"/api/v1/users/{_me(client, headers)}"
    assert client.patch(url, json={"password": NEW}, headers=headers).status_code == 422
    ok = client.patch(url, json={"password": NEW, "current_password": PASSWORD}, headers=headers)
    assert ok.status_code == 200
    assert _sign_in(client, "admin", NEW).status_code == 201
