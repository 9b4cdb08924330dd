"""Who may create and change which accounts."""

from __future__ import annotations

from tests.conftest import login


def _new(client, headers, **fields):
    body = {"username": "newbie", "password": "long enough pw", "role": "worker"} | fields
    return client.post("/api/v1/users", json=body, headers=headers)


def test_admin_creates_a_user_who_can_sign_in(client, auth_as, world):
    resp = _new(client, auth_as("admin"), area_id=world.community_b, full_name="新网格员")
    assert resp.status_code == 201
    body = resp.get_json()
    assert body["role"] == "worker" and body["area_id"] == world.community_b
    assert "password" not in body
    me = client.get("/api/v1/me", headers=login(client, "newbie", "long enough pw")).get_json()
    assert me["scope"]["area_code"] == "S1C2"


def test_station_creates_workers_in_its_own_community_only(client, auth_as, world):
    headers = auth_as("station_a")
    assert _new(client, headers, area_id=world.community_a).status_code == 201
    outside = _new(client, headers, username="other", area_id=world.community_b)
    assert outside.status_code == 422
    assert "area_id" in outside.get_json()["error"]["details"]["fields"]
    boss = _new(client, headers, username="boss", role="street_centre", area_id=world.street)
    assert boss.status_code == 403


def test_role_must_fit_the_level_of_its_node(client, auth_as, world):
    resp = _new(client, auth_as("admin"), role="station", area_id=world.street)
    assert resp.status_code == 422
    assert resp.get_json()["error"]["code"] == "invalid_binding"


def test_contacts_are_bound_to_an_institution_not_an_area(client, auth_as, world):
    headers = auth_as("coordinator")
    wrong = _new(client, headers, role="institution_contact", area_id=world.community_a)
    assert wrong.status_code == 422
    ok = _new(client, headers, role="institution_contact", institution_id=world.bank)
    assert ok.status_code == 201
    assert ok.get_json()["institution_id"] == world.bank


def test_users_cannot_promote_themselves(client, auth_as):
    headers = auth_as("worker_a")
    user_id = client.get("/api/v1/me", headers=headers).get_json()["user"]["id"]
    resp = client.patch(f"/api/v1/users/{user_id}", json={"role": "admin"}, headers=headers)
    assert resp.status_code == 403
    assert client.get("/api/v1/me", headers=headers).get_json()["role"] == "worker"
