"""One scoping rule: each user sees their node's subtree, contacts their institution."""

from __future__ import annotations


def _codes(resp) -> set[str]:
    assert resp.status_code == 200, resp.get_json()
    return {a["code"] for a in resp.get_json()}


def test_station_sees_only_its_community(client, auth_as, world):
    headers = auth_as("station_a")
    assert _codes(client.get("/api/v1/areas", headers=headers)) == {"S1C1"}
    assert client.get(f"/api/v1/areas/{world.community_a}", headers=headers).status_code == 200
    for hidden in (world.community_b, world.street, world.district):
        resp = client.get(f"/api/v1/areas/{hidden}", headers=headers)
        assert resp.status_code == 404
        assert resp.get_json()["error"]["code"] == "not_found"


def test_station_of_a_cannot_reach_b_through_children(client, auth_as, world):
    resp = client.get(f"/api/v1/areas/{world.street}/children", headers=auth_as("station_a"))
    assert resp.status_code == 404


def test_street_centre_sees_its_street_and_communities(client, auth_as, world):
    headers = auth_as("centre")
    assert _codes(client.get("/api/v1/areas", headers=headers)) == {"S1", "S1C1", "S1C2"}
    kids = client.get(f"/api/v1/areas/{world.street}/children", headers=headers)
    assert _codes(kids) == {"S1C1", "S1C2"}
    assert client.get(f"/api/v1/areas/{world.district}", headers=headers).status_code == 404


def test_district_centre_and_admin_see_everything(client, auth_as):
    for who in ("district", "admin"):
        codes = _codes(client.get("/api/v1/areas", headers=auth_as(who)))
        assert codes == {"D1", "S1", "S1C1", "S1C2"}


def test_area_filters(client, auth_as, world):
    headers = auth_as("admin")
    assert _codes(client.get("/api/v1/areas?level=community", headers=headers)) == {"S1C1", "S1C2"}
    assert _codes(client.get(f"/api/v1/areas?parent={world.district}", headers=headers)) == {"S1"}


def test_area_detail_has_geojson_geometry(client, auth_as, world):
    body = client.get(f"/api/v1/areas/{world.community_a}", headers=auth_as("admin")).get_json()
    assert body["geometry"]["type"] == "MultiPolygon"
    ring = body["geometry"]["coordinates"][0][0]
    assert ring[0] == ring[-1]
    assert all(104 <= x <= 104.05 and 30.4 <= y <= 30.5 for x, y in ring)


def test_station_sees_only_users_of_its_community(client, auth_as, world):
    resp = client.get("/api/v1/users", headers=auth_as("station_a"))
    names = {u["username"] for u in resp.get_json()}
    assert names == {"station_a", "worker_a"}
    other = client.get("/api/v1/users?role=station", headers=auth_as("centre")).get_json()
    assert {u["username"] for u in other} == {"station_a", "station_b"}


def test_station_cannot_read_a_user_of_another_community(client, auth_as, world):
    b_id = next(
        u["id"]
        for u in client.get("/api/v1/users", headers=auth_as("admin")).get_json()
        if u["username"] == "station_b"
    )
    assert client.get(f"/api/v1/users/{b_id}", headers=auth_as("station_a")).status_code == 404
    assert client.get(f"/api/v1/users/{b_id}", headers=auth_as("centre")).status_code == 200


def test_institution_contact_sees_only_its_institution(client, auth_as, world):
    headers = auth_as("bank")
    listed = client.get("/api/v1/institutions", headers=headers).get_json()
    assert [i["code"] for i in listed] == ["DZCB"]
    assert client.get(f"/api/v1/institutions/{world.bank}", headers=headers).status_code == 200
    other = client.get(f"/api/v1/institutions/{world.other_bank}", headers=headers)
    assert other.status_code == 404
    # A contact is bound to no area: the area tree is invisible to it.
    assert client.get("/api/v1/areas", headers=headers).get_json() == []
    assert client.get(f"/api/v1/areas/{world.street}", headers=headers).status_code == 404


def test_contact_phones_are_masked_for_those_who_do_not_manage_institutions(client, auth_as, world):
    path = f"/api/v1/institutions/{world.bank}"
    masked = client.get(path, headers=auth_as("station_a")).get_json()["contacts"][0]
    assert masked["phone"] == "138****5678"
    full = client.get(path, headers=auth_as("coordinator")).get_json()["contacts"][0]
    assert full["phone"] == "13812345678"
    own = client.get(path, headers=auth_as("bank")).get_json()["contacts"][0]
    assert own["phone"] == "13812345678"
