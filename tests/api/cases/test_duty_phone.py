"""An office's duty mobile: set by the office (or above), stored encrypted, shown masked, used
for the ladder's texts."""

from __future__ import annotations

from gridserve import crypto
from gridserve.extensions import db
from gridserve.models import Area, AuditEntry


def _put(client, headers, area_id, phone):
    return client.put(f"/api/v1/areas/{area_id}/duty-phone", json={"phone": phone}, headers=headers)


def test_a_station_sets_its_communitys_duty_mobile(cases, client, auth_as, ctx) -> None:
    world = cases.field.world
    resp = _put(client, auth_as("station_a"), world.community_a, "139 0000 1111")
    assert resp.status_code == 200, resp.get_json()
    assert resp.get_json() == {"area_id": world.community_a, "duty_phone": "139****1111"}
    stored = db.session.get(Area, world.community_a).duty_phone_enc
    assert b"13900001111" not in stored and crypto.decrypt(stored) == "+8613900001111"
    entry = db.session.query(AuditEntry).filter_by(entity="areas").order_by(AuditEntry.id.desc())
    assert "13900001111" not in str(entry.first().details)
    cleared = _put(client, auth_as("station_a"), world.community_a, None)
    assert cleared.get_json()["duty_phone"] is None
    assert db.session.get(Area, world.community_a).duty_phone_enc is None


def test_the_street_centre_sets_the_streets_and_its_communities(
    cases, client, auth_as, ctx
) -> None:
    world = cases.field.world
    for area in (world.street, world.community_b):
        assert _put(client, auth_as("centre"), area, "13900002222").status_code == 200


def test_refusals(cases, client, auth_as, ctx) -> None:
    world = cases.field.world
    before = db.session.get(Area, world.community_a).duty_phone_enc
    # Not a mobile: 422, nothing changed.
    bad = _put(client, auth_as("station_a"), world.community_a, "12345")
    assert bad.status_code == 422 and "phone" in bad.get_json()["error"]["details"]["fields"]
    # Another community, or the street above the station: as if absent.
    assert _put(client, auth_as("station_a"), world.community_b, "13900003333").status_code == 404
    assert _put(client, auth_as("station_a"), world.street, "13900003333").status_code == 404
    # Roles that may not: 403 before the body is read.
    for user in ("worker_a", "coordinator", "dept"):
        resp = client.put(
            f"/api/v1/areas/{world.community_a}/duty-phone", json={}, headers=auth_as(user)
        )
        assert resp.status_code == 403, (user, resp.get_json())
        assert resp.get_json()["error"]["code"] == "forbidden_role"
    assert db.session.get(Area, world.community_a).duty_phone_enc == before
