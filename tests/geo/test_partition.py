"""Properties of the partitioning core ``geo.partition`` (pure geometry: no app, no database).

Every layout must have exactly N valid cells that cover the region with no gap and no
overlap (< 1 m² and < 1e-6 of the area), put every point strictly inside the region into
exactly one cell, and keep cells single Polygons when the region is a Polygon.
"""

from __future__ import annotations

import csv
import json
import math
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import shapely
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from pyproj import Transformer
from shapely.geometry import LineString, MultiPolygon, Point, Polygon, box, shape

from geo import partition
from geo.apportion import largest_remainder
from geo.partition import PartitionError

DEMO = Path(__file__).resolve().parents[2] / "seeds" / "demo"
LOCAL_CRS = "+proj=laea +lat_0=30.5 +lon_0=104.05 +datum=WGS84 +units=m"


def coord(lo, hi):
    """Coordinates in metres, to the millimetre (no denormal or extreme floats)."""
    return st.floats(lo, hi, allow_nan=False, allow_infinity=False).map(lambda v: round(v, 3))


PROPERTY = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


# --------------------------------------------------------------------------- checks


def assert_layout(region, cells, n, xy=None, *, single=None, coverage=True):
    """The hard guarantees of every partition."""
    assert len(cells) == n
    for c in cells:
        assert shapely.is_valid(c), shapely.is_valid_reason(c)
        assert not c.is_empty and c.area > 0
        assert c.geom_type in ("Polygon", "MultiPolygon")
    if single is None:
        single = isinstance(region, Polygon)
    if single:
        assert all(c.geom_type == "Polygon" for c in cells), [c.geom_type for c in cells]
    # areas add up (independent of union_all, which GEOS 3.14 can get wrong on
    # non-noded input, libgeos/geos#1344) ...
    assert abs(sum(c.area for c in cells) - region.area) < min(1.0, 1e-6 * region.area)
    # ... and the union is the region
    union = shapely.union_all(cells)
    sym = shapely.symmetric_difference(union, region).area
    assert sym < 1.0 and sym < 1e-6 * region.area, sym
    arr = np.array(cells, dtype=object)
    ii, jj = shapely.STRtree(arr).query(arr, predicate="intersects")
    keep = ii < jj
    overlap = shapely.area(shapely.intersection(arr[ii[keep]], arr[jj[keep]])).sum()
    assert overlap < 1.0, overlap
    if coverage:  # neighbours share identical vertices: a clean polygonal coverage
        assert shapely.coverage_is_valid(arr)
    if xy is not None and len(xy):
        inside = shapely.contains_xy(region, xy[:, 0], xy[:, 1])
        hits = np.zeros(len(xy), dtype=int)
        for c in cells:
            hits += shapely.contains_xy(c, xy[:, 0], xy[:, 1])
        assert (hits[inside] == 1).all(), f"{int((hits[inside] != 1).sum())} points not in 1 cell"


def loads(cells, xy, w):
    return np.array([w[shapely.contains_xy(c, xy[:, 0], xy[:, 1])].sum() for c in cells])


def balance(cells, xy, w):
    ld = loads(cells, xy, w)
    return ld.max() / ld.mean()


def points_in(region, n, rng):
    """``n`` uniform random points strictly inside ``region``."""
    minx, miny, maxx, maxy = region.bounds
    out = np.empty((0, 2))
    while len(out) < n:
        cand = rng.uniform([minx, miny], [maxx, maxy], size=(max(4 * n, 64), 2))
        cand = cand[shapely.contains_xy(region, cand[:, 0], cand[:, 1])]
        out = np.vstack([out, cand])
    return out[:n]


# --------------------------------------------------------------------------- regions


@st.composite
def convex_regions(draw):
    pts = draw(st.lists(st.tuples(coord(0, 1000), coord(0, 1000)), min_size=3, max_size=30))
    hull = shapely.MultiPoint(pts).convex_hull
    assume(isinstance(hull, Polygon) and hull.area > 5_000)
    assume(hull.area / shapely.minimum_rotated_rectangle(hull).area > 0.2)
    return hull


@st.composite
def walk_regions(draw):
    """A buffered random walk: concave, sometimes with holes."""
    steps = draw(st.lists(st.tuples(coord(-1, 1), coord(-1, 1)), min_size=2, max_size=12))
    radius = draw(coord(15, 60))
    xy = np.cumsum(np.array([(0.0, 0.0), *steps]) * 150.0, axis=0)
    assume(np.hypot(*np.diff(xy, axis=0).T).sum() > 50)
    geom = LineString(xy).buffer(radius, quad_segs=4)
    assume(isinstance(geom, Polygon) and geom.is_valid)
    return geom


@st.composite
def star_regions(draw):
    """A star-shaped polygon with deep concave notches."""
    k = draw(st.integers(5, 16))
    radii = draw(st.lists(coord(150, 500), min_size=k, max_size=k))
    angles = np.sort(draw(st.lists(coord(0, 2 * math.pi), min_size=k, max_size=k, unique=True)))
    ring = [(r * math.cos(a), r * math.sin(a)) for r, a in zip(radii, angles, strict=True)]
    poly = Polygon(ring)
    assume(poly.is_valid and poly.area > 20_000)
    return poly


@st.composite
def holed_regions(draw):
    """A square with a few disjoint holes."""
    outer = box(0, 0, 800, 600)
    holes = []
    for cx, cy, r in draw(
        st.lists(
            st.tuples(coord(100, 700), coord(100, 500), coord(10, 80)),
            min_size=1,
            max_size=4,
        )
    ):
        hole = Point(cx, cy).buffer(r, quad_segs=4)
        if all(hole.distance(h) > 5 for h in holes):
            holes.append(hole)
    return outer.difference(shapely.union_all(holes))


regions = st.one_of(convex_regions(), walk_regions(), star_regions(), holed_regions())


# --------------------------------------------------------------------------- balanced


@PROPERTY
@given(region=regions, n=st.integers(1, 12), seed=st.integers(0, 2**32 - 1))
def test_balanced_uniform_points_is_exact_and_balanced(region, n, seed):
    rng = np.random.default_rng(seed)
    xy = points_in(region, 60 * n, rng)
    w = np.ones(len(xy))
    cells = partition.balanced(region, xy, w, n)
    assert_layout(region, cells, n, xy)
    assert balance(cells, xy, w) <= 1.10


@PROPERTY
@given(
    region=regions,
    n=st.integers(1, 9),
    k=st.integers(10, 200),
    seed=st.integers(0, 2**32 - 1),
)
def test_balanced_random_weights_is_exact(region, n, k, seed):
    rng = np.random.default_rng(seed)
    xy = points_in(region, k, rng)
    w = rng.choice([0.0, 1.0, 2.0, 5.0, 0.5], size=k)
    assume(int((w > 0).sum()) >= n)
    cells = partition.balanced(region, xy, w, n)
    assert_layout(region, cells, n, xy)
    assert all(loads(cells, xy, w) > 0)  # every cell gets some work


@PROPERTY
@given(n=st.integers(2, 10), seed=st.integers(0, 2**32 - 1))
def test_balanced_clustered_and_duplicate_points(n, seed):
    rng = np.random.default_rng(seed)
    region = box(0, 0, 1000, 700)
    centres = rng.uniform([100, 100], [900, 600], size=(5, 2))
    xy = np.vstack([c + rng.normal(0, 25, size=(40 * n, 2)) for c in centres])
    xy = np.clip(xy, 1, [999, 699])
    xy = np.vstack([xy, xy[:50]])  # exact duplicates
    w = np.ones(len(xy))
    cells = partition.balanced(region, xy, w, n)
    assert_layout(region, cells, n, xy)
    assert balance(cells, xy, w) <= 1.10


def test_balanced_multipolygon_region():
    rng = np.random.default_rng(7)
    a, b, empty = box(0, 0, 500, 500), box(700, 0, 1000, 300), box(0, 700, 100, 800)
    region = MultiPolygon([a, b, empty])
    xy = np.vstack([points_in(a, 600, rng), points_in(b, 300, rng)])
    w = np.ones(len(xy))
    cells = partition.balanced(region, xy, w, 3)
    assert_layout(region, cells, 3, xy, single=False)
    assert balance(cells, xy, w) <= 1.10


def test_one_part_multipolygon_gives_polygons():
    rng = np.random.default_rng(2)
    region = MultiPolygon([Point(0, 0).buffer(300)])
    xy = points_in(region, 400, rng)
    for cells in (
        partition.balanced(region, xy, np.ones(len(xy)), 4),
        partition.blocks(region, [LineString([(-400, 0), (400, 0)])], xy, np.ones(len(xy)), 4),
    ):
        assert_layout(region, cells, 4, xy, single=True)


def test_balanced_is_deterministic():
    rng = np.random.default_rng(3)
    region = Point(0, 0).buffer(400, quad_segs=8).difference(box(-50, -500, 50, 0))
    xy = points_in(region, 900, rng)
    w = rng.integers(0, 4, size=len(xy)).astype(float)
    first = partition.balanced(region, xy, w, 9)
    second = partition.balanced(region, xy.copy(), w.copy(), 9)
    assert [c.wkb for c in first] == [c.wkb for c in second]


def test_balanced_survives_geos_overlay_failure():
    """A star polygon on which GEOS 3.14 ``union`` of the raw bisection pieces silently
    drops one of them (libgeos/geos#1344): the cells must still tile the region."""
    rng = np.random.default_rng(61)
    k = int(rng.integers(5, 17))
    radii = rng.uniform(150, 500, size=k)
    angles = np.sort(rng.uniform(0, 2 * math.pi, size=k))
    region = Polygon(np.column_stack([radii * np.cos(angles), radii * np.sin(angles)]))
    n = int(rng.integers(1, 13))
    xy = points_in(region, 60 * n, rng)
    w = np.ones(len(xy))
    cells = partition.balanced(region, xy, w, n)
    assert_layout(region, cells, n, xy)
    assert abs(shapely.union_all(cells).area - region.area) < 1e-6 * region.area


def test_balanced_cells_are_ccw_polygons_with_shared_vertices():
    rng = np.random.default_rng(5)
    region = box(0, 0, 900, 500).difference(Point(450, 250).buffer(60))
    xy = points_in(region, 700, rng)
    cells = partition.balanced(region, xy, np.ones(len(xy)), 7)
    assert all(c.exterior.is_ccw for c in cells)
    assert shapely.coverage_is_valid(np.array(cells, dtype=object))


def test_split_is_balanced_on_one_cell():
    rng = np.random.default_rng(11)
    cell = Polygon([(0, 0), (400, 0), (400, 100), (100, 100), (100, 400), (0, 400)])
    xy = points_in(cell, 500, rng)
    w = np.ones(len(xy))
    parts = partition.split(cell, xy, w, 3)
    assert_layout(cell, parts, 3, xy)
    assert balance(parts, xy, w) <= 1.10


# --------------------------------------------------------------------------- blocks


def street_grid(size=600.0, step=100.0):
    """A square region, a grid of roads overshooting it, and some dangling lanes."""
    region = box(0, 0, size, size)
    roads = []
    for t in np.arange(step, size, step):
        roads.append(LineString([(t, -20), (t, size + 20)]))
        roads.append(LineString([(-20, t), (size + 20, t)]))
    roads += [
        LineString([(150, 120), (150, 180)]),  # dangles inside a block
        LineString([(330, 100), (330, 150)]),  # dead end from a road
        LineString([(420, 200), (420, 299.5)]),  # stops 0.5 m short: snapped onto the road
        LineString([(size - 10, 450), (size + 50, 450)]),  # leaves the region
    ]
    return region, roads


def test_road_blocks_tile_the_region():
    region, roads = street_grid()
    blks = partition.road_blocks(region, roads)
    # 36 grid blocks, one of them cut in two by the snapped lane
    assert len(blks) == 37
    assert_layout(region, blks, 37)


@pytest.mark.parametrize("n", [1, 2, 5, 6, 9, 13])
def test_blocks_on_street_grid_use_whole_blocks(n):
    region, roads = street_grid()
    rng = np.random.default_rng(n)
    xy = points_in(region, 36 * 30, rng)
    w = np.ones(len(xy))
    cells = partition.blocks(region, roads, xy, w, n, split_tolerance=None)
    assert_layout(region, cells, n, xy)
    for blk in partition.road_blocks(region, roads):
        shares = sorted((c.intersection(blk).area for c in cells), reverse=True)
        assert shares[0] >= blk.area - 1e-3  # one cell holds the whole block
        assert sum(shares[1:]) < 1e-3
    assert balance(cells, xy, w) <= 1.35


@pytest.mark.parametrize("n", [2, 6, 11])
def test_blocks_default_is_exact_and_balanced(n):
    region, roads = street_grid()
    rng = np.random.default_rng(100 + n)
    centres = rng.uniform(50, 550, size=(6, 2))
    xy = np.vstack([c + rng.normal(0, 40, size=(150, 2)) for c in centres])
    xy = xy[shapely.contains_xy(region, xy[:, 0], xy[:, 1])]
    w = np.ones(len(xy))
    cells = partition.blocks(region, roads, xy, w, n)
    assert_layout(region, cells, n, xy)
    assert balance(cells, xy, w) <= 1.15


def test_blocks_multipolygon_region():
    rng = np.random.default_rng(9)
    a, b = box(0, 0, 400, 400), box(600, 0, 800, 400)
    region = MultiPolygon([a, b])
    roads = [LineString([(200, -10), (200, 410)]), LineString([(-10, 200), (810, 200)])]
    xy = np.vstack([points_in(a, 400, rng), points_in(b, 200, rng)])
    cells = partition.blocks(region, roads, xy, np.ones(len(xy)), 5)
    assert_layout(region, cells, 5, xy, single=False)


def test_blocks_cut_at_most_one_block_per_bisection():
    """With a tight tolerance the balance comes from cutting a few blocks, not many."""
    region, roads = street_grid()
    rng = np.random.default_rng(21)
    xy = points_in(region, 2000, rng)
    w = rng.integers(0, 3, size=len(xy)).astype(float)
    n = 8
    cells = partition.blocks(region, roads, xy, w, n, split_tolerance=0.01)
    assert_layout(region, cells, n, xy)
    assert balance(cells, xy, w) <= 1.05
    blks = partition.road_blocks(region, roads)
    cut = sum(1 for blk in blks if max(c.intersection(blk).area for c in cells) < blk.area - 1e-3)
    assert cut <= n - 1


@st.composite
def road_networks(draw):
    region = draw(st.one_of(convex_regions(), holed_regions(), star_regions()))
    minx, miny, maxx, maxy = region.bounds
    coords = st.tuples(coord(minx - 50, maxx + 50), coord(miny - 50, maxy + 50))
    segs = draw(st.lists(st.tuples(coords, coords), min_size=0, max_size=12))
    roads = [LineString([a, b]) for a, b in segs if a != b]
    return region, roads


@PROPERTY
@given(net=road_networks(), n=st.integers(1, 8), seed=st.integers(0, 2**32 - 1))
def test_blocks_random_networks_are_exact(net, n, seed):
    region, roads = net
    rng = np.random.default_rng(seed)
    xy = points_in(region, 40 * n, rng)
    w = rng.choice([0.0, 1.0, 1.0, 3.0], size=len(xy))
    assume(int((w > 0).sum()) >= n)
    cells = partition.blocks(region, roads, xy, w, n)
    assert_layout(region, cells, n, xy)


# --------------------------------------------------------------------------- split_by_line


def test_split_by_line_gives_two_covering_parts():
    cell = box(0, 0, 100, 80)
    parts = partition.split_by_line(cell, LineString([(-10, -5), (120, 90)]))
    assert len(parts) == 2
    assert_layout(cell, parts, 2)
    on_boundary = partition.split_by_line(cell, LineString([(50, 0), (50, 30), (50, 80)]))
    assert sorted(round(p.area) for p in on_boundary) == [4000, 4000]
    as_stored = MultiPolygon([cell])  # the database keeps MultiPolygons
    assert len(partition.split_by_line(as_stored, LineString([(50, -1), (50, 81)]))) == 2
    concave = Polygon([(0, 0), (300, 0), (300, 300), (200, 300), (200, 100), (0, 100)])
    parts = partition.split_by_line(concave, LineString([(250, -10), (250, 400)]))
    assert_layout(concave, parts, 2)


@pytest.mark.parametrize(
    "line",
    [
        LineString([(200, 200), (300, 300)]),  # misses
        LineString([(0, 0), (100, 0)]),  # runs along an edge
        LineString([(-10, -10), (0, 0)]),  # touches a corner
        LineString([(-10, 40), (50, 40)]),  # ends inside
    ],
)
def test_split_by_line_refuses_lines_that_do_not_split(line):
    with pytest.raises(PartitionError) as exc:
        partition.split_by_line(box(0, 0, 100, 80), line)
    assert exc.value.code == "line_does_not_split"


def test_split_by_line_refuses_more_than_two_parts():
    u_shape = Polygon([(0, 0), (300, 0), (300, 300), (200, 300), (200, 100), (100, 100),
                       (100, 300), (0, 300)])  # fmt: skip
    with pytest.raises(PartitionError) as exc:
        partition.split_by_line(u_shape, LineString([(-10, 200), (310, 200)]))
    assert exc.value.code == "line_splits_into_many"


# --------------------------------------------------------------------------- errors


def test_errors_for_impossible_requests():
    region = box(0, 0, 100, 100)
    xy = np.array([[10.0, 10.0], [20.0, 20.0], [30.0, 30.0], [40.0, 40.0]])
    w = np.array([1.0, 1.0, 0.0, 1.0])
    cases = [
        (lambda: partition.balanced(region, xy, w, 4), "too_many_cells"),
        (lambda: partition.blocks(region, [], xy, w, 4), "too_many_cells"),
        (lambda: partition.balanced(region, xy, w, 0), "bad_cell_count"),
        (lambda: partition.balanced(region, xy, w, -2), "bad_cell_count"),
        (lambda: partition.balanced(Polygon(), xy, w, 1), "empty_region"),
        (lambda: partition.blocks(MultiPolygon(), [], xy, w, 1), "empty_region"),
        (lambda: partition.balanced(region, xy, np.zeros(4), 2), "no_places"),
        (lambda: partition.balanced(region, xy, -w, 1), "bad_points"),
        (lambda: partition.split(region, xy, w, 5), "too_many_cells"),
    ]
    for call, code in cases:
        with pytest.raises(PartitionError) as exc:
            call()
        assert exc.value.code == code
        assert isinstance(exc.value, ValueError)
        assert str(exc.value)


def test_one_cell_is_the_region_itself():
    region = box(0, 0, 100, 100)
    cells = partition.balanced(region, np.empty((0, 2)), np.empty(0), 1)
    assert len(cells) == 1 and cells[0].equals(region)
    cells = partition.blocks(region, [], np.empty((0, 2)), np.empty(0), 1)
    assert len(cells) == 1 and cells[0].equals(region)


def test_blocks_without_roads_still_partitions():
    rng = np.random.default_rng(4)
    region = box(0, 0, 300, 200)
    xy = points_in(region, 300, rng)
    cells = partition.blocks(region, [], xy, np.ones(len(xy)), 3)
    assert_layout(region, cells, 3, xy)
    assert balance(cells, xy, np.ones(len(xy))) <= 1.10


# --------------------------------------------------------------------------- demo data


def _demo_community(code: str):
    tr = Transformer.from_crs("EPSG:4326", LOCAL_CRS, always_xy=True)
    feats = json.loads((DEMO / "areas.geojson").read_text(encoding="utf-8"))["features"]
    communities = {
        f["properties"]["code"]: f
        for f in feats
        if f["properties"].get("level") == "community"
        and f["properties"].get("parent_code") == "QS"
    }
    households: Counter[str] = Counter()
    lonlat, weight = [], []
    with (DEMO / "places.csv").open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            is_household = row["type"] == "household"
            households[row["community_code"]] += is_household
            if row["community_code"] == code:
                lonlat.append((float(row["lon"]), float(row["lat"])))
                weight.append(1.0 if is_household else 0.0)
    codes = sorted(communities)
    shares = largest_remainder([households[c] for c in codes], 140)
    geom = shapely.transform(
        shape(communities[code]["geometry"]),
        lambda c: np.column_stack(tr.transform(c[:, 0], c[:, 1])),
    )
    ll = np.array(lonlat)
    x, y = tr.transform(ll[:, 0], ll[:, 1])
    return geom, np.column_stack([x, y]), np.array(weight), shares[codes.index(code)]


def test_demo_community_balanced():
    region, xy, w, n = _demo_community("QS05")
    assert n >= 5
    cells = partition.balanced(region, xy, w, n)
    assert_layout(region, cells, n, xy)
    assert balance(cells, xy, w) <= 1.10
