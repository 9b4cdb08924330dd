"""POST /areas: boundaries in, every bad geometry refused with its own code and where."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from gridserve.extensions import db
from gridserve.models import Area


def feature(code, coords, level="street", parent="D1", kind="Polygon", **props):
    return {
        "type": "Feature",
        "properties": {"code": code, "name": f"{code} 名", "level": level,
                       "parent_code": parent, **props},
        "geometry": {"type": kind, "coordinates": coords},
    }  # fmt: skip


def box(x0, y0, x1, y1):
    return [[[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]]


S2 = box(104.1, 30.4, 104.2, 30.5)


def _count(app) -> int:
    with app.app_context():
        return db.session.execute(select(func.count()).select_from(Area)).scalar_one()


def _post(client, headers, body, query=""):
    return client.post(f"/api/v1/areas{query}", json=body, headers=headers)


def _refused(resp, code):
    assert resp.status_code == 422, resp.get_json()
    err = resp.get_json()["error"]
    assert err["code"] == code, err
    return err


def test_a_street_and_its_communities_in_one_collection(client, auth_as, clean_app, world):
    body = {
        "type": "FeatureCollection",
        "features": [
            feature("S2C1", box(104.1, 30.4, 104.15, 30.5), "community", "S2"),
            feature("S2", S2),
            feature("S2C2", box(104.15, 30.4, 104.2, 30.5), "community", "S2"),
        ],
    }
    resp = _post(client, auth_as("district"), body)
    assert resp.status_code == 201, resp.get_json()
    assert {a["code"] for a in resp.get_json()} == {"S2", "S2C1", "S2C2"}
    kids = client.get("/api/v1/areas?level=community&page_size=50", headers=auth_as("admin"))
    assert {"S2C1", "S2C2"} <= {a["code"] for a in kids.get_json()}
    geom = next(a for a in resp.get_json() if a["code"] == "S2")["geometry"]
    assert geom["type"] == "MultiPolygon"


def test_a_declared_crs_is_transformed_to_wgs84(client, auth_as, world):
    from pyproj import Transformer

    t = Transformer.from_crs(4326, 3857, always_xy=True)
    ring = [list(t.transform(x, y)) for x, y in S2[0]]
    body = feature("S2", [ring])
    body["crs"] = {"type": "name", "properties": {"name": "EPSG:3857"}}
    resp = _post(client, auth_as("district"), body)
    assert resp.status_code == 201, resp.get_json()
    xs = [p[0] for p in resp.get_json()[0]["geometry"]["coordinates"][0][0]]
    assert min(xs) == pytest.approx(104.1) and max(xs) == pytest.approx(104.2)


def test_self_intersection_is_refused_with_reason_and_location(client, auth_as, clean_app, world):
    before = _count(clean_app)
    bowtie = [[[104.1, 30.4], [104.2, 30.5], [104.2, 30.4], [104.1, 30.5], [104.1, 30.4]]]
    err = _refused(_post(client, auth_as("district"), feature("S2", bowtie)), "invalid_geometry")
    assert err["details"]["reason"] == "Self-intersection"
    lon, lat = err["details"]["location"]
    assert lon == pytest.approx(104.15) and lat == pytest.approx(30.45)
    assert _count(clean_app) == before


def test_repair_on_request_fixes_a_bowtie(client, auth_as, world):
    bowtie = [[[104.1, 30.4], [104.2, 30.5], [104.2, 30.4], [104.1, 30.5], [104.1, 30.4]]]
    resp = _post(client, auth_as("district"), feature("S2", bowtie), "?repair=true")
    assert resp.status_code == 201, resp.get_json()
    assert len(resp.get_json()[0]["geometry"]["coordinates"]) == 2


def test_unclosed_ring_is_refused(client, auth_as, world):
    ring = [[104.1, 30.4], [104.2, 30.4], [104.2, 30.5], [104.1, 30.5]]
    err = _refused(_post(client, auth_as("district"), feature("S2", [ring])), "invalid_geometry")
    assert err["details"]["reason"] == "Ring not closed"
    assert err["details"]["location"] == [104.1, 30.4]


def test_too_few_points_is_refused(client, auth_as, world):
    ring = [[104.1, 30.4], [104.2, 30.4], [104.1, 30.4]]
    err = _refused(_post(client, auth_as("district"), feature("S2", [ring])), "invalid_geometry")
    assert err["details"]["reason"] == "Too few points"


def test_wrong_geometry_type_is_refused(client, auth_as, world):
    body = feature("S2", [104.1, 30.4], kind="Point")
    err = _refused(_post(client, auth_as("district"), body), "wrong_geometry_type")
    assert err["details"]["received"] == "Point"


def test_unknown_crs_is_refused(client, auth_as, world):
    body = feature("S2", S2)
    body["crs"] = {"type": "name", "properties": {"name": "EPSG:999999"}}
    _refused(_post(client, auth_as("district"), body), "unknown_crs")


def test_projected_coordinates_without_a_crs_are_refused(client, auth_as, world):
    ring = [[1.2e7, 3.5e6], [1.21e7, 3.5e6], [1.21e7, 3.6e6], [1.2e7, 3.5e6]]
    _refused(_post(client, auth_as("district"), feature("S2", [ring])), "invalid_coordinates")


@pytest.mark.parametrize(
    "body",
    [
        {"type": "FeatureCollection", "features": []},
        feature("S2", []),
        {"type": "Feature", "properties": {"code": "S2"}, "geometry": None},
    ],
)
def test_empty_input_is_refused(client, auth_as, world, body):
    _refused(_post(client, auth_as("district"), body), "empty_geometry")


def test_vertex_and_area_limits_are_configurable(client, auth_as, override_settings, world):
    headers = auth_as("district")
    with override_settings(max_vertices=4):
        err = _refused(_post(client, headers, feature("S2", S2)), "too_many_vertices")
        assert err["details"]["limit"] == 4
    with override_settings(max_area_km2=10):
        err = _refused(_post(client, headers, feature("S2", S2)), "area_too_large")
        assert err["details"]["area_km2"] > 100


def test_a_child_outside_its_parent_is_refused(client, auth_as, world):
    body = feature("S1C3", box(104.09, 30.45, 104.12, 30.48), "community", "S1")
    err = _refused(_post(client, auth_as("centre"), body), "not_inside_parent")
    assert err["details"]["parent"] == "S1"
    assert err["details"]["outside_area_m2"] > 1_000_000 * 0.5
    lon, _lat = err["details"]["location"]
    assert lon > 104.1


def test_overlapping_siblings_are_refused_with_the_overlap_area(client, auth_as, world):
    from pyproj import Geod
    from shapely.geometry import box as shapely_box

    body = feature("S2", box(104.05, 30.4, 104.2, 30.5))
    err = _refused(_post(client, auth_as("district"), body), "siblings_overlap")
    assert err["details"]["sibling"] == "S1"
    # The overlap is 104.05-104.1 E x 30.4-30.5 N; its area on the ellipsoid, independently:
    expected, _ = Geod(ellps="WGS84").geometry_area_perimeter(
        shapely_box(104.05, 30.4, 104.1, 30.5)
    )
    assert err["details"]["overlap_area_m2"] == pytest.approx(abs(expected), rel=0.001)


def test_one_bad_feature_stores_nothing(client, auth_as, clean_app, world):
    before = _count(clean_app)
    body = {
        "type": "FeatureCollection",
        "features": [
            feature("S2", S2),
            feature("S3", [[[104.1, 30.5], [104.2, 30.6], [104.2, 30.5], [104.1, 30.6],
                            [104.1, 30.5]]]),
        ],
    }  # fmt: skip
    err = _refused(_post(client, auth_as("district"), body), "invalid_geometry")
    assert err["details"]["feature"] == 1
    assert _count(clean_app) == before


def test_missing_properties_are_validation_errors(client, auth_as, world):
    body = feature("S2", S2)
    del body["properties"]["name"]
    err = _refused(_post(client, auth_as("district"), body), "validation_error")
    assert "properties.name" in err["details"]["fields"]


def test_existing_codes_conflict(client, auth_as, clean_app, world):
    before = _count(clean_app)
    resp = _post(client, auth_as("district"), feature("S1", S2))
    assert resp.status_code == 409
    assert resp.get_json()["error"]["code"] == "area_exists"
    assert _count(clean_app) == before


def test_stations_do_not_import_and_parents_must_be_in_scope(client, auth_as, world):
    body = feature("S1C3", box(104.0, 30.4, 104.01, 30.41), "community", "S1")
    assert _post(client, auth_as("station_a"), body).status_code == 403
    other = feature("X9", S2, "street", "NOPE")
    assert _post(client, auth_as("district"), other).status_code == 404


def test_not_geojson_at_all_is_422(client, auth_as, world):
    resp = _post(client, auth_as("district"), {"type": "Circle", "radius": 5})
    assert resp.status_code == 422
    assert resp.get_json()["error"]["code"] == "validation_error"
