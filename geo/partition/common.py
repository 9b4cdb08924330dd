"""What every partition method shares: tolerances, :class:`PartitionError`, the input checks
and small geometry helpers (half-planes, cut lines, point assignment)."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Sequence

import numpy as np
import shapely
from shapely.geometry import LineString, MultiLineString, MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

from geo.errors import GeometryError

Area = Polygon | MultiPolygon

_N_DIRECTIONS = 12  # candidate cut directions per bisection, every 180° / 12 = 15°
_MIN_GAP = 1e-4  # metres: a cut is placed only in a gap at least this wide between points
_BALANCE_TOL = 0.005  # candidates within this relative imbalance of the best are "equal"
_BLOCK_BALANCE_TOL = 0.02
_CUT_TRIALS = 4  # street-following bisections tried with a block cut
_CUT_CANDIDATES = 8  # blocks tried per block cut
_EPS_LEN = 1e-6  # metres: shorter shared borders do not make two pieces adjacent
_MICRO_AREA = 1e-6  # m²: numerical dust from overlays
_OVERSHOOT = 1e-5  # metres: cut lines are extended by this much before noding
_GRID = 1e-6  # metres: linework is noded by snap-rounding to this grid (robust noding)
_SLIVER_AREA = 0.5  # m²: faces smaller than this (or thinner than _SLIVER_WIDTH) are merged
_SLIVER_WIDTH = 0.05  # metres: mean width 2·area/perimeter


class PartitionError(GeometryError):
    """An impossible partition request; ``code`` is a stable machine-readable reason.

    A ``ValueError`` (through ``geo.errors.GeometryError``). Codes: ``empty_region``,
    ``invalid_region``, ``bad_points``, ``bad_cell_count``, ``no_places``,
    ``too_many_cells``, ``line_does_not_split``, ``line_splits_into_many``.
    """

    def __init__(self, code: str, message: str, **details: object) -> None:
        super().__init__(code, message, **details)


# --------------------------------------------------------------------------- validation


def _check_region(region: BaseGeometry) -> Area:
    if region is None or not isinstance(region, BaseGeometry) or region.is_empty:
        raise PartitionError("empty_region", "the region is empty")
    if not isinstance(region, Polygon | MultiPolygon):
        raise PartitionError(
            "invalid_region",
            f"the region must be a Polygon or MultiPolygon, not {region.geom_type}",
        )
    if not region.is_valid:
        raise PartitionError(
            "invalid_region", f"the region is not valid: {shapely.is_valid_reason(region)}"
        )
    if region.area <= 0:
        raise PartitionError("empty_region", "the region has no area")
    if isinstance(region, MultiPolygon) and len(region.geoms) == 1:
        return region.geoms[0]  # a one-part MultiPolygon (as stored) is a Polygon
    return region


def _check_count(n_cells: int) -> None:
    if isinstance(n_cells, bool) or not isinstance(n_cells, int | np.integer) or n_cells < 1:
        raise PartitionError("bad_cell_count", f"n_cells must be an integer ≥ 1, got {n_cells!r}")


def _prepare_points(
    xy: np.ndarray, weights: np.ndarray, region: Area
) -> tuple[np.ndarray, np.ndarray]:
    """Validate, keep points covered by the region, merge duplicates (summing weights)."""
    pts = np.asarray(xy, dtype=float)
    w = np.asarray(weights, dtype=float)
    if pts.size == 0:
        pts = pts.reshape(0, 2)
    if pts.ndim != 2 or pts.shape[1] != 2 or w.shape != (pts.shape[0],):
        raise PartitionError("bad_points", "xy must be (k, 2) and weights (k,)")
    if not (np.isfinite(pts).all() and np.isfinite(w).all()) or (w < 0).any():
        raise PartitionError("bad_points", "coordinates must be finite, weights finite and ≥ 0")
    if len(pts):
        inside = shapely.intersects_xy(region, pts[:, 0], pts[:, 1])
        pts, w = pts[inside], w[inside]
    if len(pts):
        pts, inv = np.unique(pts, axis=0, return_inverse=True)
        w = np.bincount(inv.ravel(), weights=w, minlength=len(pts))
    return pts, w


def _check_capacity(pts: np.ndarray, w: np.ndarray, n_cells: int) -> None:
    n_pos = int((w > 0).sum())
    if n_pos == 0:
        if n_cells == 1:
            return
        raise PartitionError("no_places", "there are no places with positive weight in the region")
    if n_cells > n_pos:
        raise PartitionError(
            "too_many_cells",
            f"{n_cells} cells requested but only {n_pos} distinct places with positive weight",
        )


# --------------------------------------------------------------------------- helpers


def _polygons(geom: BaseGeometry) -> list[Polygon]:
    return [p for p in shapely.get_parts(geom) if isinstance(p, Polygon) and p.area > _MICRO_AREA]


def _linear_parts(geom: BaseGeometry) -> list[BaseGeometry]:
    out: list[BaseGeometry] = []
    for p in shapely.get_parts(geom):
        if isinstance(p, LineString) and p.length > 0:
            out.append(p)
        elif isinstance(p, MultiLineString):
            out.extend(q for q in p.geoms if q.length > 0)
        elif p.geom_type == "GeometryCollection":
            out.extend(_linear_parts(p))
    return out


def _orient(p: BaseGeometry) -> BaseGeometry:
    """Counter-clockwise shells, clockwise holes (the GeoJSON convention)."""
    return shapely.orient_polygons(p)


def _pp(area: float, perimeter: float) -> float:
    return 4.0 * math.pi * area / (perimeter * perimeter) if perimeter > 0 else 0.0


def _main_angle(geom: BaseGeometry) -> float:
    rect = shapely.minimum_rotated_rectangle(geom)
    if not isinstance(rect, Polygon):
        return 0.0
    c = np.asarray(rect.exterior.coords)
    e = np.diff(c[:3], axis=0)
    v = e[int(np.argmax(np.hypot(e[:, 0], e[:, 1])))]
    return math.atan2(v[1], v[0])


def _half_plane(bounds: tuple[float, float, float, float], d: np.ndarray, c: float) -> Polygon:
    """The polygon {p : p·d ≤ c}, large enough to contain everything within ``bounds``."""
    minx, miny, maxx, maxy = bounds
    pad = (maxx - minx) + (maxy - miny) + 1.0
    corners = np.array([[minx, miny], [maxx, miny], [maxx, maxy], [minx, maxy]])
    e = np.array([-d[1], d[0]])
    t0 = float((corners @ d).min()) - pad
    s = corners @ e
    s0, s1 = float(s.min()) - pad, float(s.max()) + pad
    return Polygon([t0 * d + s0 * e, c * d + s0 * e, c * d + s1 * e, t0 * d + s1 * e])


def _cut_line(piece: BaseGeometry, d: np.ndarray, c: float) -> list[LineString]:
    """The cut {p·d = c} inside ``piece``, overshooting a hair so that noding closes faces."""
    minx, miny, maxx, maxy = piece.bounds
    pad = (maxx - minx) + (maxy - miny) + 1.0
    corners = np.array([[minx, miny], [maxx, miny], [maxx, maxy], [minx, maxy]])
    e = np.array([-d[1], d[0]])
    s = corners @ e
    line = LineString([c * d + (s.min() - pad) * e, c * d + (s.max() + pad) * e])
    out = []
    for part in _linear_parts(shapely.intersection(line, piece)):
        xy = shapely.get_coordinates(part)
        a, b = xy[0], xy[-1]
        v = b - a
        n = float(np.hypot(v[0], v[1]))
        if n <= 0:
            continue
        v = v / n * _OVERSHOOT
        out.append(LineString([a - v, b + v]))
    return out


def _assign(geoms: Sequence[BaseGeometry], pts: np.ndarray, *, points: bool = False) -> np.ndarray:
    """Index of the geometry holding each point (first covering one, else the nearest).

    ``pts`` is a (k, 2) array, or an array of Point geometries when ``points`` is true.
    """
    owner = np.full(len(pts), -1, dtype=np.int64)
    if len(pts) == 0:
        return owner
    if len(geoms) == 1:
        return np.zeros(len(pts), dtype=np.int64)
    points_g = np.asarray(pts, dtype=object) if points else shapely.points(pts)
    tree = shapely.STRtree(list(geoms))
    pi, gi = tree.query(points_g, predicate="intersects")
    if len(pi):
        order = np.lexsort((gi, pi))
        pi, gi = pi[order], gi[order]
        first = np.ones(len(pi), dtype=bool)
        first[1:] = pi[1:] != pi[:-1]
        owner[pi[first]] = gi[first]
    missing = np.flatnonzero(owner < 0)
    if len(missing):
        _, gi = tree.query_nearest(points_g[missing], all_matches=False)
        owner[missing] = gi
    return owner


def _components(members: Sequence[int], adj: Sequence[Iterable[int]]) -> list[list[int]]:
    """Connected components of the subgraph induced by ``members``."""
    mset = set(members)
    seen: set[int] = set()
    out: list[list[int]] = []
    for s in members:
        if s in seen:
            continue
        comp = [s]
        seen.add(s)
        q = deque([s])
        while q:
            u = q.popleft()
            for v in adj[u]:
                if v in mset and v not in seen:
                    seen.add(v)
                    comp.append(v)
                    q.append(v)
        out.append(sorted(comp))
    return out


def _adjacency(geoms: np.ndarray) -> list[dict[int, float]]:
    """For each geometry: neighbour index → length of the shared border (positive only)."""
    adj: list[dict[int, float]] = [{} for _ in range(len(geoms))]
    tree = shapely.STRtree(geoms)
    ii, jj = tree.query(geoms, predicate="intersects")
    keep = ii < jj
    ii, jj = ii[keep], jj[keep]
    if len(ii) == 0:
        return adj
    bnd = shapely.boundary(geoms)
    shared = shapely.length(shapely.intersection(bnd[ii], bnd[jj]))
    for i, j, s in zip(ii, jj, shared, strict=True):
        if s > _EPS_LEN:
            adj[int(i)][int(j)] = float(s)
            adj[int(j)][int(i)] = float(s)
    return adj
