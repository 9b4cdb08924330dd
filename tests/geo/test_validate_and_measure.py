"""Pure geometry: validation, projection round trips, coverage, apportionment, regular grids."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import Point, Polygon, box

from geo.apportion import largest_remainder
from geo.assign import assign_points
from geo.coverage import coverage, polsby_popper
from geo.errors import GeometryError
from geo.lineage import trace
from geo.projection import area_m2, crs_for, to_metric, to_wgs84
from geo.regular import hexagon, square
from geo.validate import Limits, read_polygons


def poly(coords, **props):
    return {"type": "Feature", "properties": props,
            "geometry": {"type": "Polygon", "coordinates": [coords]}}  # fmt: skip


SQUARE = [[104.0, 30.4], [104.01, 30.4], [104.01, 30.41], [104.0, 30.41], [104.0, 30.4]]


def test_a_valid_polygon_reads_as_wgs84():
    [feature] = read_polygons(poly(SQUARE, code="A"))
    assert feature.properties == {"code": "A"}
    assert feature.geometry.bounds == (104.0, 30.4, 104.01, 30.41)


@pytest.mark.parametrize(
    ("coords", "code", "reason"),
    [
        (SQUARE[:-1], "invalid_geometry", "Ring not closed"),
        ([[104.0, 30.4], [104.01, 30.4], [104.0, 30.4]], "invalid_geometry", "Too few points"),
        ([[104.0, 30.4], [104.01, 30.41], [104.01, 30.4], [104.0, 30.41], [104.0, 30.4]],
         "invalid_geometry", "Self-intersection"),
    ],
)  # fmt: skip
def test_invalid_rings_are_named(coords, code, reason):
    with pytest.raises(GeometryError) as err:
        read_polygons(poly(coords))
    assert err.value.code == code
    assert err.value.details["reason"] == reason
    assert err.value.details["location"] is not None


def test_limits_apply():
    with pytest.raises(GeometryError, match="vertices") as err:
        read_polygons(poly(SQUARE), limits=Limits(max_vertices=3))
    assert err.value.code == "too_many_vertices"
    with pytest.raises(GeometryError) as err:
        read_polygons(poly(SQUARE), limits=Limits(max_area_km2=0.5))
    assert err.value.code == "area_too_large"


def test_area_is_right_in_square_metres():
    from pyproj import Geod

    geom = box(104.0, 30.4, 104.1, 30.5)
    expected, _ = Geod(ellps="WGS84").geometry_area_perimeter(geom)
    assert area_m2(geom) == pytest.approx(abs(expected), rel=1e-4)


@settings(max_examples=30, deadline=None)
@given(
    lon=st.floats(100, 120), lat=st.floats(20, 45), size=st.floats(0.001, 0.2),
)  # fmt: skip
def test_projection_round_trip_keeps_a_tiling_exact(lon, lat, size):
    """Cells stored in 4326 and projected again still tile their boundary."""
    outline = box(lon, lat, lon + size, lat + size)
    crs = crs_for(outline)
    region = to_metric(outline, crs)
    cells = square(region, max(region.area**0.5 / 5, 1.0))
    back = [to_metric(to_wgs84(c, crs), crs) for c in cells]
    cov = coverage(region, back)
    assert cov.gap_area_m2 <= 1.0 and cov.overlap_area_m2 <= 1.0


def test_coverage_finds_gaps_and_overlaps_and_where():
    region = box(0, 0, 100, 100)
    cells = [box(0, 0, 50, 100), box(60, 0, 100, 100), box(40, 0, 55, 10)]
    cov = coverage(region, cells)
    assert cov.gap_area_m2 == pytest.approx(5 * 100 + 5 * 90)
    assert cov.overlap_area_m2 == pytest.approx(10 * 10)
    assert 50 <= cov.gap_location[0] <= 60
    assert 40 <= cov.overlap_location[0] <= 50 and cov.overlap_location[1] <= 10
    assert not cov.exact


def test_compactness():
    assert polsby_popper(box(0, 0, 1, 1)) == pytest.approx(np.pi / 4)
    assert polsby_popper(Point(0, 0).buffer(1, 256)) == pytest.approx(1, rel=1e-3)


@settings(max_examples=60, deadline=None)
@given(
    weights=st.lists(st.floats(0, 1e4), min_size=1, max_size=30),
    extra=st.integers(0, 500),
)
def test_largest_remainder_shares_exactly(weights, extra):
    total = len(weights) + extra
    shares = largest_remainder(weights, total)
    assert sum(shares) == total and min(shares) >= 1
    wsum = sum(weights)
    if wsum > 0:
        for w, s in zip(weights, shares, strict=True):
            quota = 1 + extra * w / wsum
            assert abs(s - quota) < 1 + 1e-9


def test_largest_remainder_refuses_fewer_cells_than_units():
    with pytest.raises(GeometryError) as err:
        largest_remainder([1, 2, 3], 2)
    assert err.value.code == "too_few_cells"


@pytest.mark.parametrize("make", [square, hexagon])
def test_regular_grids_cover_a_concave_region_exactly(make):
    region = box(0, 0, 1000, 1000).difference(box(300, 300, 700, 1000))
    cells = make(region, 137.0)
    cov = coverage(region, cells)
    assert cov.gap_area_m2 < 1e-6 and cov.overlap_area_m2 < 1e-6


def test_regular_grids_refuse_too_many_cells():
    with pytest.raises(GeometryError) as err:
        square(box(0, 0, 1000, 1000), 1.0, max_cells=100)
    assert err.value.code == "too_many_cells"


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(1, 2000))
def test_every_point_lands_in_exactly_one_cell(seed, n):
    rng = np.random.default_rng(seed)
    region = box(0, 0, 1000, 1000)
    cells = square(region, 100.0)
    # Points anywhere, including exactly on shared borders and corners.
    x = np.where(rng.random(n) < 0.3, rng.integers(0, 11, n) * 100.0, rng.uniform(0, 1000, n))
    y = rng.uniform(0, 1000, n)
    idx = assign_points(x, y, cells)
    assert (idx >= 0).all()
    for i in rng.choice(n, size=min(n, 50), replace=False):
        assert cells[idx[i]].intersects(Point(x[i], y[i]))
    assert (assign_points(np.array([2000.0]), np.array([5.0]), cells) == -1).all()


def test_lineage_keeps_codes_and_names_splits_and_merges():
    old = [box(0, 0, 10, 10), box(10, 0, 20, 10), box(20, 0, 30, 10), box(30, 0, 40, 10)]
    new = [
        box(0, 0, 10, 10),  # unchanged
        box(10, 0, 16, 10), box(16, 0, 20, 10),  # old 1 split
        box(20, 0, 40, 10),  # old 2 and 3 merged
    ]  # fmt: skip
    lineage = trace(old, new)
    assert lineage.unchanged == [0]
    assert lineage.inherited[0] == 0 and lineage.inherited[1] == 1
    assert lineage.split == {1: [1, 2]}
    assert lineage.merged == {3: [2, 3]}
    assert lineage.removed == []


def test_lineage_of_a_first_layout_is_empty():
    assert trace([], [Polygon([(0, 0), (1, 0), (1, 1)])]).inherited == {}


def test_shapely_sanity():
    assert shapely.geos_version >= (3, 10, 0)
