"""Bulk place import: valid rows stored, bad rows reported, re-import updates, no duplicates."""

from __future__ import annotations

import json

from sqlalchemy import func, select

from gridserve.extensions import db
from gridserve.models import Place

HEADER = "external_id,type,name,lon,lat,floor\n"


def _csv(*rows: str) -> str:
    return HEADER + "\n".join(rows) + "\n"


def _import(client, headers, area_id, body, content_type="text/csv"):
    data = body if isinstance(body, str) else json.dumps(body)
    return client.post(
        f"/api/v1/areas/{area_id}/places",
        data=data.encode(),
        headers=headers | {"Content-Type": content_type},
    )


def _count(app) -> int:
    with app.app_context():
        return db.session.execute(select(func.count()).select_from(Place)).scalar_one()


def test_valid_rows_are_stored_and_bad_rows_reported_one_by_one(client, auth_as, clean_app, world):
    body = _csv(
        "HH-1,household,1栋101,104.02,30.45,1",
        "HH-2,household,1栋102,104.07,30.45,1",
        "HH-3,castle,城堡,104.02,30.45,",
        "HH-4,household,,104.02,95,",
        "HH-5,household,,east,30.45,",
        "HH-6,household,,104.5,30.45,",
        "HH-1,household,重复,104.03,30.45,",
        ",enterprise,小卖部,104.03,30.41,",
    )
    resp = _import(client, auth_as("centre"), world.street, body)
    assert resp.status_code == 201, resp.get_json()  # it created places
    report = resp.get_json()
    assert report["received"] == 8
    assert report["created"] == 3 and report["updated"] == 0
    rejected = {r["row"]: r for r in report["rejected"]}
    assert set(rejected) == {3, 4, 5, 6, 7}
    assert "type" in rejected[3]["errors"]
    assert "lat" in rejected[4]["errors"]
    assert "lon" in rejected[5]["errors"]
    assert rejected[6]["code"] == "outside_coverage"
    assert rejected[7]["code"] == "duplicate_in_upload"
    assert _count(clean_app) == 3

    places = client.get("/api/v1/places?sort=external_id", headers=auth_as("centre")).get_json()
    by_ext = {p["external_id"]: p for p in places}
    assert by_ext["HH-1"]["area_id"] == world.community_a
    assert by_ext["HH-2"]["area_id"] == world.community_b
    assert by_ext["HH-1"]["attributes"] == {"floor": "1"}
    assert by_ext["HH-1"]["geometry"] == {"type": "Point", "coordinates": [104.02, 30.45]}


def test_re_importing_updates_instead_of_duplicating(client, auth_as, clean_app, world):
    headers = auth_as("centre")
    first = _import(client, headers, world.street, _csv("HH-1,household,旧,104.02,30.45,"))
    assert first.status_code == 201
    again = _import(client, headers, world.street, _csv("HH-1,household,新,104.08,30.45,"))
    assert again.status_code == 200  # nothing new: the same report, not 201
    assert again.get_json()["created"] == 0 and again.get_json()["updated"] == 1
    assert _count(clean_app) == 1
    place = client.get("/api/v1/places?external_id=HH-1", headers=headers).get_json()[0]
    assert place["name"] == "新" and place["area_id"] == world.community_b


def test_geojson_points_import(client, auth_as, world):
    body = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [104.02, 30.45]},
                "properties": {"external_id": "EN-1", "type": "enterprise", "name": "面馆",
                               "employees": 4},
            },
            {
                "type": "Feature",
                "geometry": {"type": "LineString", "coordinates": [[104, 30.4], [104, 30.5]]},
                "properties": {"external_id": "EN-2", "type": "enterprise"},
            },
        ],
    }  # fmt: skip
    resp = _import(client, auth_as("centre"), world.street, body, "application/geo+json")
    report = resp.get_json()
    assert report["created"] == 1
    assert report["rejected"][0]["row"] == 2 and "geometry" in report["rejected"][0]["errors"]
    place = client.get("/api/v1/places?external_id=EN-1", headers=auth_as("centre")).get_json()
    assert place[0]["attributes"] == {"employees": 4}


def test_a_station_imports_into_its_own_community_only(client, auth_as, clean_app, world):
    headers = auth_as("station_a")
    ok = _import(client, headers, world.community_a, _csv("HH-1,household,,104.02,30.45,"))
    assert ok.get_json()["created"] == 1
    elsewhere = _import(client, headers, world.community_a, _csv("HH-2,household,,104.07,30.45,"))
    assert elsewhere.get_json()["rejected"][0]["code"] == "outside_coverage"
    other = _import(client, headers, world.community_b, _csv("HH-3,household,,104.07,30.45,"))
    assert other.status_code == 404
    assert _count(clean_app) == 1


def test_an_external_id_of_another_community_is_not_taken_over(client, auth_as, clean_app, world):
    _import(client, auth_as("station_b"), world.community_b, _csv("HH-9,household,,104.07,30.45,"))
    resp = _import(
        client, auth_as("station_a"), world.community_a, _csv("HH-9,household,,104.02,30.45,")
    )
    assert resp.get_json()["rejected"][0]["code"] == "external_id_taken"
    hidden = client.get("/api/v1/places?external_id=HH-9", headers=auth_as("station_b"))
    assert hidden.get_json()[0]["area_id"] == world.community_b


def test_bad_imports_are_refused_whole(client, auth_as, clean_app, world):
    headers = auth_as("centre")
    missing = _import(client, headers, world.street, "name,x,y\na,1,2\n")
    assert missing.status_code == 422
    assert missing.get_json()["error"]["code"] == "invalid_csv"
    wrong_type = _import(client, headers, world.street, "lon,lat,type\n", "text/plain")
    assert wrong_type.status_code == 415
    not_fc = _import(client, headers, world.street, {"type": "Point"}, "application/json")
    assert not_fc.get_json()["error"]["code"] == "invalid_geojson"
    district = _import(client, auth_as("admin"), world.district, _csv())
    assert district.get_json()["error"]["code"] == "invalid_import_area"
    assert _count(clean_app) == 0


def test_places_are_scoped(client, auth_as, world):
    _import(client, auth_as("centre"), world.street, _csv(
        "HH-1,household,,104.02,30.45,", "HH-2,household,,104.07,30.45,"))  # fmt: skip
    mine = client.get("/api/v1/places", headers=auth_as("station_a")).get_json()
    assert [p["external_id"] for p in mine] == ["HH-1"]
    other = client.get("/api/v1/places?external_id=HH-2", headers=auth_as("centre")).get_json()
    assert (
        client.get(f"/api/v1/places/{other[0]['id']}", headers=auth_as("station_a")).status_code
        == 404
    )
