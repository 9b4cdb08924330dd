"""`GET /places?format=geojson`: every place in scope as one FeatureCollection, for the map."""

from __future__ import annotations

import gzip
import json

import pytest


def _geojson(client, headers, **query):
    query = {"format": "geojson"} | query
    return client.get("/api/v1/places", query_string=query, headers=headers)


def test_all_places_of_an_area_come_as_points_with_their_cell(client, auth_as, field):
    world = field.world
    resp = _geojson(client, auth_as("centre"), area=world.street, page_size=10)
    assert resp.status_code == 200, resp.get_json()
    assert resp.mimetype == "application/geo+json"
    body = json.loads(resp.data)
    assert body["type"] == "FeatureCollection"
    assert len(body["features"]) == 300  # not paged, whatever page_size says
    feat = body["features"][0]
    assert feat["geometry"]["type"] == "Point"
    lon, lat = feat["geometry"]["coordinates"]
    assert 104.0 <= lon <= 104.1 and 30.4 <= lat <= 30.5
    props = feat["properties"]
    assert set(props) >= {"id", "type", "name", "cell", "area_id"}
    assert props["type"] == "household"
    assert props["area_id"] in (world.community_a, world.community_b)
    cells = {f["properties"]["cell"] for f in body["features"]}
    assert field.cell in cells and None not in cells
    # the same places as the paged list says
    listed = client.get(
        f"/api/v1/places?area={world.street}&page_size=1", headers=auth_as("centre")
    )
    assert json.loads(listed.headers["X-Pagination"])["total"] == 300


def test_scoped_like_the_list(client, auth_as, field):
    world = field.world
    mine = json.loads(_geojson(client, auth_as("station_a")).data)["features"]
    assert mine and {f["properties"]["area_id"] for f in mine} == {world.community_a}
    out = _geojson(client, auth_as("station_a"), area=world.community_b)
    assert out.status_code == 404
    assert out.get_json()["error"]["code"] == "not_found"
    assert _geojson(client, auth_as("bank")).status_code in (403, 200)


def test_filters_by_type_cell_and_bbox(client, auth_as, field):
    headers = auth_as("centre")
    west = json.loads(
        _geojson(client, headers, area=field.world.street, bbox="104.0,30.4,104.05,30.5").data
    )["features"]
    assert west and all(f["geometry"]["coordinates"][0] <= 104.05 for f in west)
    everything = json.loads(_geojson(client, headers, area=field.world.street).data)["features"]
    assert len(west) < len(everything)
    none = json.loads(_geojson(client, headers, type="market").data)["features"]
    assert none == []
    # bbox filters the paged list too
    paged = client.get("/api/v1/places?bbox=104.0,30.4,104.05,30.5&page_size=1", headers=headers)
    assert json.loads(paged.headers["X-Pagination"])["total"] == len(west)


@pytest.mark.parametrize(
    "bbox",
    ["104.1,30.4,104.0,30.5", "104,30.4,104.1", "a,b,c,d", "104,30,200,31", "1,2,3,4,5"],
)
def test_a_bad_bbox_is_422(client, auth_as, field, bbox):
    resp = _geojson(client, auth_as("centre"), bbox=bbox)
    assert resp.status_code == 422
    error = resp.get_json()["error"]
    assert error["code"] == "validation_error"
    assert any("bbox" in name for name in error["details"]["fields"])


def test_an_unknown_format_is_422(client, auth_as, field):
    resp = _geojson(client, auth_as("centre"), format="kml")
    assert resp.status_code == 422
    assert resp.get_json()["error"]["code"] == "validation_error"


def test_the_openapi_says_it_is_not_paged(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    text = json.dumps(spec["paths"]["/api/v1/places"]["get"])
    assert "no paging" in text and "application/geo+json" in text


def test_gzip_when_the_client_accepts_it(client, auth_as, field):
    headers = auth_as("centre") | {"Accept-Encoding": "gzip"}
    resp = _geojson(client, headers, area=field.world.street)
    assert resp.headers["Content-Encoding"] == "gzip"
    assert len(json.loads(gzip.decompress(resp.data))["features"]) == 300
    pages = json.loads(resp.headers["X-Pagination"])
    assert pages["total"] == 300 and pages["total_pages"] == 1
