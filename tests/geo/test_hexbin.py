"""Hexagonal bins: every point lands in the hexagon that contains it, neighbours are
``size_m`` apart, the cells tile the plane."""

from __future__ import annotations

import math
import random

import pytest
from shapely.geometry import Point, Polygon

from geo import hexbin


def test_the_origin_hexagon_holds_the_origin_and_has_the_stated_area() -> None:
    assert hexbin.hex_of(0.0, 0.0, 250) == (0, 0)
    ring = hexbin.corners(0, 0, 250)
    assert len(ring) == 7 and ring[0] == ring[-1]
    assert Polygon(ring).area == pytest.approx(hexbin.hex_area_m2(250))
    assert hexbin.hex_area_m2(250) == pytest.approx(250 * 250 * math.sqrt(3) / 2)


def test_neighbours_are_size_apart() -> None:
    x0, y0 = hexbin.centre(0, 0, 250)
    for q, r in [(1, 0), (0, 1), (-1, 1), (-1, 0), (0, -1), (1, -1)]:
        x, y = hexbin.centre(q, r, 250)
        assert math.hypot(x - x0, y - y0) == pytest.approx(250)
        assert hexbin.hex_of(x, y, 250) == (q, r)


def test_every_point_lies_in_the_polygon_of_its_hexagon() -> None:
    rng = random.Random(14)
    for _ in range(2000):
        x, y = rng.uniform(-5000, 5000), rng.uniform(-5000, 5000)
        q, r = hexbin.hex_of(x, y, 300)
        assert Polygon(hexbin.corners(q, r, 300)).buffer(1e-6).contains(Point(x, y))


def test_points_are_counted_per_hexagon() -> None:
    points = [(0, 0), (10, 10), (-20, 5), (250, 0), (251, 2)]
    assert hexbin.bin_points(points, 250) == {(0, 0): 3, (1, 0): 2}
    assert hexbin.bin_points([], 250) == {}


def test_neighbouring_hexagons_share_an_edge_and_do_not_overlap() -> None:
    a = Polygon(hexbin.corners(0, 0, 100))
    b = Polygon(hexbin.corners(1, 0, 100))
    assert a.intersection(b).area == pytest.approx(0, abs=1e-6)
    assert a.union(b).area == pytest.approx(2 * hexbin.hex_area_m2(100))
    assert a.distance(b) == pytest.approx(0, abs=1e-9)


@pytest.mark.parametrize("size", [0, -5, float("nan"), float("inf")])
def test_a_size_must_be_positive_metres(size) -> None:
    with pytest.raises(ValueError):
        hexbin.hex_of(1, 1, size)
