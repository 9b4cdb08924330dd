"""Checks on the committed demo geography in ``seeds/demo/`` (shapely + pyproj only).

Areas are measured in a local Lambert azimuthal equal-area projection, never in degrees.
"""

from __future__ import annotations

import csv
import itertools
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import shapely
from pyproj import Transformer
from shapely.geometry import shape

from gridserve.models.geography.places import PLACE_TYPES as MODEL_PLACE_TYPES

DEMO = Path(__file__).resolve().parents[2] / "seeds" / "demo"
METRIC_CRS = "+proj=laea +lat_0=30.5 +lon_0=104.05 +datum=WGS84 +units=m +no_defs"
_TO_METRIC = Transformer.from_crs("EPSG:4326", METRIC_CRS, always_xy=True)

PLACE_TYPES = set(MODEL_PLACE_TYPES)
TOLERANCE_M2 = 1.0


def to_metric(geom: Any) -> Any:
    """Project EPSG:4326 geometry (or an array of them) to the local equal-area CRS."""
    return shapely.transform(
        geom, lambda c: np.column_stack(_TO_METRIC.transform(c[:, 0], c[:, 1]))
    )


@pytest.fixture(scope="module")
def areas() -> dict[str, Any]:
    features = json.loads((DEMO / "areas.geojson").read_text(encoding="utf-8"))["features"]
    by_level: dict[str, list[dict[str, Any]]] = {}
    for f in features:
        by_level.setdefault(f["properties"]["level"], []).append(f)
    communities = sorted(by_level.get("community", []), key=lambda f: f["properties"]["code"])
    return {
        "features": features,
        "district": by_level["district"],
        "street": by_level["street"],
        "communities": communities,
        "street_geom": shape(by_level["street"][0]["geometry"]),
        "community_geoms": [shape(f["geometry"]) for f in communities],
        "codes": [f["properties"]["code"] for f in communities],
    }


@pytest.fixture(scope="module")
def roads() -> list[dict[str, Any]]:
    return json.loads((DEMO / "roads.geojson").read_text(encoding="utf-8"))["features"]


@pytest.fixture(scope="module")
def places() -> list[dict[str, str]]:
    with (DEMO / "places.csv").open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        assert reader.fieldnames == [
            "external_id",
            "type",
            "name",
            "lon",
            "lat",
            "community_code",
            "attributes",
        ]
        return list(reader)


def test_area_hierarchy(areas: dict[str, Any]) -> None:
    assert len(areas["district"]) == 1
    assert len(areas["street"]) == 1
    assert len(areas["communities"]) == 18
    district = areas["district"][0]["properties"]
    street = areas["street"][0]["properties"]
    assert district["parent_code"] is None
    assert street["parent_code"] == district["code"]
    codes = [f["properties"]["code"] for f in areas["features"]]
    assert len(codes) == len(set(codes))
    assert areas["codes"] == [f"{street['code']}{i:02d}" for i in range(1, 19)]
    for f in areas["features"]:
        props = f["properties"]
        assert props["name"] and props["name_en"]
        if props["level"] == "community":
            assert props["parent_code"] == street["code"]


def test_geometries_valid_and_rounded(areas: dict[str, Any], roads: list[dict[str, Any]]) -> None:
    for f in areas["features"]:
        geom = shape(f["geometry"])
        assert geom.geom_type in {"Polygon", "MultiPolygon"}
        assert shapely.is_valid(geom), (f["properties"]["code"], shapely.is_valid_reason(geom))
    for f in roads:
        geom = shape(f["geometry"])
        assert geom.geom_type == "LineString"
        assert shapely.is_valid(geom)
    for f in [*areas["features"], *roads]:
        coords = shapely.get_coordinates(shape(f["geometry"]))
        assert np.array_equal(coords, np.round(coords, 7))


def test_street_size_and_district(areas: dict[str, Any]) -> None:
    street = areas["street_geom"]
    area_km2 = to_metric(street).area / 1e6
    assert 12.0 <= area_km2 <= 18.0
    lon, lat = street.centroid.x, street.centroid.y
    assert abs(lon - 104.05) < 0.03 and abs(lat - 30.50) < 0.03
    district = shape(areas["district"][0]["geometry"])
    assert district.contains(street)
    assert to_metric(district).area > 2 * to_metric(street).area


def test_communities_tile_the_street_exactly(areas: dict[str, Any]) -> None:
    street = to_metric(areas["street_geom"])
    comms = to_metric(np.array(areas["community_geoms"], dtype=object))
    union = shapely.union_all(comms)
    assert shapely.symmetric_difference(union, street).area < TOLERANCE_M2
    assert abs(sum(c.area for c in comms) - street.area) < TOLERANCE_M2
    tree = shapely.STRtree(comms)
    left, right = tree.query(comms, predicate="intersects")
    for i, j in zip(left, right, strict=True):
        if i < j:
            overlap = shapely.intersection(comms[i], comms[j]).area
            assert overlap < TOLERANCE_M2, (areas["codes"][i], areas["codes"][j], overlap)
    for code, c in zip(areas["codes"], comms, strict=True):
        assert c.area > 50_000, code  # no sliver communities


def test_place_counts_and_ids(places: list[dict[str, str]], areas: dict[str, Any]) -> None:
    ids = [p["external_id"] for p in places]
    assert len(ids) == len(set(ids))
    counts: dict[str, int] = {}
    for p in places:
        counts[p["type"]] = counts.get(p["type"], 0) + 1
    assert set(counts) <= PLACE_TYPES
    assert 28_000 <= counts["household"] <= 32_000
    assert 1_400 <= counts["enterprise"] <= 1_600
    others = sum(n for t, n in counts.items() if t not in {"household", "enterprise"})
    assert 100 <= others <= 1_000
    assert {p["community_code"] for p in places} == set(areas["codes"])
    for p in places:
        assert isinstance(json.loads(p["attributes"]), dict)
        assert len(p["lon"].split(".")[1]) <= 7 and len(p["lat"].split(".")[1]) <= 7


def test_household_balance(places: list[dict[str, str]], areas: dict[str, Any]) -> None:
    per = dict.fromkeys(areas["codes"], 0)
    for p in places:
        if p["type"] == "household":
            per[p["community_code"]] += 1
    mean = sum(per.values()) / len(per)
    assert all(0.6 * mean <= n <= 1.4 * mean for n in per.values()), per


def test_places_inside_their_community(places: list[dict[str, str]], areas: dict[str, Any]) -> None:
    lon = np.array([float(p["lon"]) for p in places])
    lat = np.array([float(p["lat"]) for p in places])
    x, y = _TO_METRIC.transform(lon, lat)
    code = np.array([p["community_code"] for p in places])
    for c, geom in zip(areas["codes"], areas["community_geoms"], strict=True):
        mask = code == c
        inner = to_metric(geom).buffer(-1.0)  # nothing within 1 m of a community border
        inside = shapely.contains_xy(inner, x[mask], y[mask])
        assert inside.all(), (c, np.flatnonzero(mask)[~inside][:5])


def test_roads_cut_the_street_into_blocks(
    roads: list[dict[str, Any]], areas: dict[str, Any]
) -> None:
    assert {f["properties"]["class"] for f in roads} == {"main", "secondary", "lane"}
    assert all(f["properties"]["name"] for f in roads)
    street = to_metric(areas["street_geom"])
    lines = to_metric(np.array([shape(f["geometry"]) for f in roads], dtype=object))
    assert shapely.covers(street.buffer(0.05), lines).all()
    noded = shapely.unary_union([street.boundary, *lines])
    blocks = shapely.get_parts(shapely.polygonize(shapely.get_parts(noded)))
    areas_m2 = shapely.area(blocks)
    assert len(blocks) >= 400
    assert areas_m2.min() > 2_000
    assert abs(areas_m2.sum() - street.area) < TOLERANCE_M2
    # every road piece separates two blocks: no dangles, no cut lines
    dangles = shapely.polygonize_full(shapely.get_parts(noded))[1:]
    assert all(shapely.is_empty(g) or len(shapely.get_parts(g)) == 0 for g in dangles)


def test_generator_is_deterministic() -> None:
    from seeds.generate_demo import build

    first, second = build().files(), build().files()
    assert first.keys() == second.keys()
    for name in first:
        assert first[name] == second[name], name


def test_readme_is_short() -> None:
    text = (DEMO / "README.md").read_text(encoding="utf-8")
    assert len(text.strip().splitlines()) <= 10
    assert "python -m seeds.generate_demo" in text


def test_community_pairs_share_borders(areas: dict[str, Any]) -> None:
    """Neighbouring communities touch along lines (shared vertices), never at slivers."""
    comms = areas["community_geoms"]
    touching = 0
    for a, b in itertools.combinations(comms, 2):
        if a.intersects(b):
            inter = a.intersection(b)
            assert inter.geom_type in {"LineString", "MultiLineString", "Point", "MultiPoint"} or (
                to_metric(inter).area < TOLERANCE_M2
            )
            touching += 1
    assert touching >= 17
