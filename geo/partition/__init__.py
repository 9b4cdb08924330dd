"""Partition an area into grid cells of comparable workload (网格划分).

Pure geometry: shapely + numpy only. All coordinates are in a *metric* projected CRS
(metres); the caller projects from and to WGS84. Workload is the sum of the weights of
the place points inside a cell (e.g. 1 per household).

``balanced`` — recursive bisection with straight cuts.
    A piece that must hold ``n`` cells is cut into two sides holding ``n1 = n // 2``
    and ``n2 = n - n1`` cells (for odd ``n`` both orders are tried). For twelve
    directions (every 15° from the long axis of the piece's minimum rotated rectangle)
    the points are projected on the direction and the cut is placed at the weighted
    ``n1 / n`` quantile, in the middle of the gap between two adjacent projected values,
    so no point ever lies on a cut. When a concave piece falls apart into several
    components, whole components change sides until both sides are connected (slivers
    without weight cost nothing; for weighted ones the cut is re-placed to compensate;
    a spanning-tree bipartition of the components is the last resort). Among the
    candidates whose sides are connected and hold enough weighted places, those within
    0.5 % of the best balance are kept and the most compact one (mean Polsby–Popper
    score of the two sides) wins. Sides are bisected in turn until each holds one cell.

``blocks`` — cells are unions of street blocks (街巷定界).
    The roads are clipped to the region, dangling ends that stop within
    ``snap_tolerance`` of another line are extended onto it, and the lines are noded
    with the region boundary and polygonized: the faces inside the region are the blocks
    (roads that dangle or leave the region simply close no face; slivers from nearly
    coincident lines are merged into a neighbour). Blocks heavier than
    ``max_block_load`` × the mean cell load are pre-split with the ``balanced``
    bisection. The block adjacency graph (shared border of positive length) is then
    bisected recursively: for twelve directions the blocks are ordered by centroid and
    the prefix with the right load forms one side; components are handed over until both
    sides are connected, and a local search moves weighted blocks across (together with
    the weightless blocks they must pass through) while the balance improves. Among the
    candidates within ``split_tolerance`` of a perfect split the shortest border wins.
    If none is that good, one block on the border is cut by a straight line so that the
    missing load changes sides (and, if no block can be cut so, the group is bisected
    with a straight line like ``balanced``). Finally the same local search runs over all
    cells, and weightless blocks go to the neighbouring cell they share most border with.

Assembly and robustness. Cuts are computed with overlays against half-planes, but the
cells handed back are rebuilt from a single polygonization of the region boundary, the
roads and all cut lines (extended by a micrometre so that noding closes every face):
neighbouring cells share identical vertices, and the layout is a valid polygonal coverage
(``shapely.coverage_is_valid``). Every overlay result is checked for area conservation,
because GEOS 3.14's overlay can silently return wrong geometry for nearly degenerate
input (libgeos/geos#1344); a failing candidate is skipped.

Guarantees: exactly ``n_cells`` non-empty valid cells, union equal to the region (no gap,
no overlap), every point strictly inside the region in exactly one cell (for ``blocks``,
points lying exactly on a road are on a border), cells single Polygons whenever the
region is a Polygon, counter-clockwise shells, deterministic results.

``split`` and ``split_by_line`` re-divide one existing cell; ``road_blocks`` exposes the
blocks. Impossible requests raise ``PartitionError`` carrying a ``code``.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import shapely
from shapely.geometry import LineString, MultiLineString, MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

from geo.apportion import largest_remainder
from geo.errors import GeometryError

__all__ = [
    "PartitionError",
    "balanced",
    "blocks",
    "road_blocks",
    "split",
    "split_by_line",
]

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


# --------------------------------------------------------------------------- public API


def balanced(region: Area, xy: np.ndarray, weights: np.ndarray, n_cells: int) -> list[Area]:
    """Split ``region`` into exactly ``n_cells`` compact cells of comparable workload.

    ``xy`` is a (k, 2) array of place points (metres) and ``weights`` their non-negative
    workloads. Points outside the region are ignored. The cells cover the region exactly;
    each is a single Polygon when ``region`` is a Polygon. For a MultiPolygon region the
    cells are allotted to its parts by weight when that stays within 10 % of the mean
    load (weightless parts join the nearest cell); otherwise the whole region is bisected
    and cells may span several parts.

    Raises ``PartitionError`` when ``n_cells < 1``, the region is empty or invalid, or
    there are fewer distinct places with positive weight than cells.
    """
    region = _check_region(region)
    _check_count(n_cells)
    pts, w = _prepare_points(xy, weights, region)
    _check_capacity(pts, w, n_cells)
    parts = _polygons(region)
    if n_cells == 1:
        return [_orient(region)]
    cuts: list[BaseGeometry] = []
    if len(parts) == 1:
        leaves = _bisect_all(parts[0], pts, w, n_cells, cuts)
        return _assemble(region, cuts, leaves, list(range(n_cells)), n_cells)
    leaves, leaf_cell = _balanced_multi(parts, pts, w, n_cells, cuts)
    return _assemble(region, cuts, leaves, leaf_cell, n_cells)


def split(cell: Area, xy: np.ndarray, weights: np.ndarray, n_parts: int) -> list[Area]:
    """Split one cell into ``n_parts`` parts of comparable workload.

    Same algorithm and guarantees as :func:`balanced`: a Polygon cell gives Polygons.
    """
    return balanced(cell, xy, weights, n_parts)


def split_by_line(cell: Polygon, line: LineString) -> list[Polygon]:
    """Cut ``cell`` along a drawn ``line`` into exactly two Polygons.

    The line must cross the cell from boundary to boundary once. A line that misses the
    cell, only touches its boundary or ends inside raises
    ``PartitionError(code="line_does_not_split")``; one that cuts the cell into more than
    two parts raises ``code="line_splits_into_many"``.
    """
    cell = _check_region(cell)
    if not isinstance(cell, Polygon):
        raise PartitionError("invalid_region", "split_by_line() needs a single Polygon cell")
    if not isinstance(line, LineString | MultiLineString) or line.is_empty:
        raise PartitionError("line_does_not_split", "the split line is empty or not a line")
    if not cell.intersects(line):
        raise PartitionError("line_does_not_split", "the line does not touch the cell")
    # node the whole line with the boundary (clipping first would leave the cut's ends a
    # rounding error away from the boundary, and the cut would close no face)
    merged = shapely.union_all([cell.exterior, *cell.interiors, line], grid_size=_GRID)
    faces = shapely.get_parts(shapely.polygonize(shapely.get_parts(merged)))
    pieces = [f for f in faces if f.area > _MICRO_AREA and cell.contains(f.representative_point())]
    if len(pieces) < 2:
        raise PartitionError("line_does_not_split", "the line does not cut the cell into two parts")
    if len(pieces) > 2:
        raise PartitionError(
            "line_splits_into_many",
            f"the line cuts the cell into {len(pieces)} parts, expected exactly 2",
        )
    if not _conserves(cell, pieces, snapped=True):  # nothing may be lost
        raise PartitionError("line_does_not_split", "the cut does not cover the cell")
    return [_orient(p) for p in pieces]


def blocks(
    region: Area,
    roads: Iterable[BaseGeometry],
    xy: np.ndarray,
    weights: np.ndarray,
    n_cells: int,
    *,
    max_block_load: float | None = 1.5,
    split_tolerance: float | None = 0.05,
    snap_tolerance: float = 1.0,
) -> list[Area]:
    """Split ``region`` into ``n_cells`` cells whose borders follow the street network.

    The region is cut into blocks by ``roads`` (see :func:`road_blocks`), and adjacent
    blocks are grouped into exactly ``n_cells`` connected cells of comparable workload.
    ``roads`` are LineStrings in the same metric CRS; only their parts inside the region
    matter.

    Borders leave the streets only where the balance needs it, and always along straight
    lines:

    * a block heavier than ``max_block_load`` × the mean cell load is pre-split into
      about ``load / mean`` parts with the :func:`balanced` bisection (also the heaviest
      blocks, if there are fewer weighted blocks than cells); ``None`` disables the
      load rule;
    * when no street-following bisection of a group of blocks is within
      ``split_tolerance`` of a perfect split (relative excess of the heavier side's load
      per cell over the mean), one block on the border between the two sides is cut so
      that the missing load changes sides — at most one cut per bisection, so at most
      ``n_cells - 1`` in all. ``None`` keeps every other border on the streets and lets
      the block granularity limit the balance;
    * if the streets allow no connected split at all (or no block can be cut as
      needed), that group is bisected by a straight line as in :func:`balanced`.

    Points lying exactly on a road that becomes a border are on that border.
    Raises ``PartitionError`` like :func:`balanced`.
    """
    region = _check_region(region)
    _check_count(n_cells)
    pts, w = _prepare_points(xy, weights, region)
    _check_capacity(pts, w, n_cells)
    if n_cells == 1:
        return [_orient(region)]
    lines, faces, owner = _initial_blocks(
        region, roads, pts, w, n_cells, max_block_load, snap_tolerance
    )
    graph = _Blocks(faces, pts, w, owner)
    groups = graph.group(n_cells, split_tolerance)
    block_group = np.empty(len(graph.geoms), dtype=np.int64)
    for g, members in enumerate(groups):
        block_group[sorted(members)] = g
    if graph.cut_lines:  # re-polygonize so that the cut pieces share exact edges
        return _assemble(region, [*lines, *graph.cut_lines], graph.geoms, block_group, n_cells)
    single = isinstance(region, Polygon)
    cells = [_merge_faces([faces[i] for i in sorted(g)], single) for g in groups]
    _check_total(region, cells)
    return cells


def road_blocks(
    region: Area, roads: Iterable[BaseGeometry], *, snap_tolerance: float = 1.0
) -> list[Polygon]:
    """The street blocks of ``region``: faces of the road network noded with its boundary.

    Roads are clipped to the region; a dangling road end within ``snap_tolerance`` metres
    of another line is extended onto it. The union of the blocks is the region.
    """
    region = _check_region(region)
    return list(_faces(region, _road_linework(region, roads, snap_tolerance)))


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


# --------------------------------------------------------------------------- balanced


@dataclass
class _Cut:
    left: BaseGeometry
    right: BaseGeometry
    li: np.ndarray
    ri: np.ndarray
    a: int
    b: int
    d: np.ndarray
    c: float
    connected: bool
    imbalance: float
    compact: float


def _bisect_all(
    piece: BaseGeometry,
    pts: np.ndarray,
    w: np.ndarray,
    n: int,
    cuts: list[BaseGeometry] | None = None,
) -> list[Area]:
    """Recursive bisection of ``piece`` into ``n`` cells; the cut lines go to ``cuts``."""
    out: list[Area] = []
    stack: list[tuple[BaseGeometry, np.ndarray, int]] = [(piece, np.arange(len(pts)), n)]
    while stack:
        geom, idx, k = stack.pop()
        if k == 1:
            out.append(geom)
            continue
        cut = _best_cut(geom, pts, w, idx, k)
        if cuts is not None:
            cuts.extend(_cut_line(geom, cut.d, cut.c))
        stack.append((cut.right, cut.ri, cut.b))
        stack.append((cut.left, cut.li, cut.a))
    return out


def _best_cut(piece: BaseGeometry, pts: np.ndarray, w: np.ndarray, idx: np.ndarray, k: int) -> _Cut:
    k1 = k // 2
    options = [(k1, k - k1)] if k % 2 == 0 else [(k1, k - k1), (k - k1, k1)]
    base = _main_angle(piece)
    single = isinstance(piece, Polygon)
    cands: list[_Cut] = []
    for j in range(_N_DIRECTIONS):
        ang = base + j * math.pi / _N_DIRECTIONS
        d = np.array([math.cos(ang), math.sin(ang)])
        for a, b in options:
            cands.extend(_cuts_along(piece, pts, w, idx, d, a, b, single))
    if not cands:  # only possible with coincident points, which were merged
        raise PartitionError("too_many_cells", "the places cannot be separated into cells")
    ok = [c for c in cands if c.connected] or cands
    best_e = min(c.imbalance for c in ok)
    near = [c for c in ok if c.imbalance <= best_e + _BALANCE_TOL]
    return max(near, key=lambda c: c.compact)


def _cuts_along(
    piece: BaseGeometry,
    pts: np.ndarray,
    w: np.ndarray,
    idx: np.ndarray,
    d: np.ndarray,
    a: int,
    b: int,
    single: bool,
) -> list[_Cut]:
    t = pts[idx] @ d
    order = np.argsort(t, kind="stable")
    ts, ws = t[order], w[idx][order]
    cw = np.cumsum(ws)
    cp = np.cumsum(ws > 0)
    total_w, total_p = float(cw[-1]), int(cp[-1])
    gaps = ts[1:] - ts[:-1]
    feasible = (cp[:-1] >= a) & (total_p - cp[:-1] >= b)
    valid = feasible & (gaps > _MIN_GAP)
    if not valid.any():
        valid = feasible & (gaps > 0)
        if not valid.any():
            return []
    target = total_w * a / (a + b)
    out: list[_Cut] = []
    want = target
    seen: set[int] = set()
    for _ in range(3):
        j = int(np.argmin(np.where(valid, np.abs(cw[:-1] - want), np.inf)))
        if j in seen:
            break
        seen.add(j)
        c = 0.5 * (ts[j] + ts[j + 1])
        cut = _make_cut(piece, pts, w, idx, order[: j + 1], order[j + 1 :], d, c, a, b, single)
        if cut is None:
            break
        out.append(cut)
        wl = float(w[cut.li].sum())
        if not cut.connected or abs(wl - cw[j]) < 1e-9:
            break
        want = want + (target - wl)  # components moved: shift the cut to compensate
    return out


def _make_cut(
    piece: BaseGeometry,
    pts: np.ndarray,
    w: np.ndarray,
    idx: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    d: np.ndarray,
    c: float,
    a: int,
    b: int,
    single: bool,
) -> _Cut | None:
    hp = _half_plane(piece.bounds, d, c)
    left = shapely.intersection(piece, hp)
    right = shapely.difference(piece, hp)
    lparts, rparts = _polygons(left), _polygons(right)
    if not lparts or not rparts or not _conserves(piece, [*lparts, *rparts]):
        return None
    li, ri = idx[lo], idx[hi]
    connected = True
    if single and (len(lparts) > 1 or len(rparts) > 1):
        res = _repair(piece, lparts, rparts, pts, w, idx, a, b)
        if res is None:
            return None
        left, right, li, ri, connected = res
    elif not single:
        left = shapely.union_all(lparts) if len(lparts) > 1 else lparts[0]
        right = shapely.union_all(rparts) if len(rparts) > 1 else rparts[0]
    else:
        left, right = lparts[0], rparts[0]
    wl, wr = float(w[li].sum()), float(w[ri].sum())
    mean = (wl + wr) / (a + b)
    if int((w[li] > 0).sum()) < a or int((w[ri] > 0).sum()) < b:
        return None
    imbalance = max(wl / a, wr / b) / mean - 1.0 if mean > 0 else 0.0
    compact = 0.5 * (_pp(left.area, left.length) + _pp(right.area, right.length))
    return _Cut(left, right, li, ri, a, b, d, c, connected, imbalance, compact)


def _repair(
    piece: Polygon,
    lparts: list[Polygon],
    rparts: list[Polygon],
    pts: np.ndarray,
    w: np.ndarray,
    idx: np.ndarray,
    a: int,
    b: int,
) -> tuple[BaseGeometry, BaseGeometry, np.ndarray, np.ndarray, bool] | None:
    """Reassign whole components so both sides of a cut through a concave piece connect."""
    comps = [*lparts, *rparts]
    m = len(comps)
    side = np.array([0] * len(lparts) + [1] * len(rparts))
    owner = _assign(comps, pts[idx])
    cw = np.bincount(owner, weights=w[idx], minlength=m)
    area = np.array([p.area for p in comps])
    adj: list[list[int]] = [[] for _ in range(m)]
    ii, jj = np.meshgrid(np.arange(len(lparts)), np.arange(len(lparts), m), indexing="ij")
    ii, jj = ii.ravel(), jj.ravel()
    bnd = [p.boundary for p in comps]
    shared = shapely.length(
        shapely.intersection(np.array(bnd, dtype=object)[ii], np.array(bnd, dtype=object)[jj])
    )
    for i, j, s in zip(ii, jj, shared, strict=True):
        if s > _EPS_LEN:
            adj[i].append(int(j))
            adj[j].append(int(i))

    def groups_of(s: int) -> list[list[int]]:
        members = [i for i in range(m) if side[i] == s]
        return _components(members, adj)

    for _ in range(m + 1):
        changed = False
        for s in (0, 1):
            gs = groups_of(s)
            if len(gs) > 1:
                main = max(gs, key=lambda g: (cw[g].sum(), area[g].sum(), -min(g)))
                for g in gs:
                    if g is not main:
                        side[g] = 1 - s
                        changed = True
        if not changed:
            break
    connected = len(groups_of(0)) == 1 and len(groups_of(1)) == 1
    if not connected:
        tree_side = _tree_bipartition(m, adj, cw, cw.sum() * a / (a + b))
        if tree_side is not None:
            side = tree_side
            connected = True
    if not (side == 0).any() or not (side == 1).any():
        return None
    lsel = [comps[i] for i in range(m) if side[i] == 0]
    rsel = [comps[i] for i in range(m) if side[i] == 1]
    left = lsel[0] if len(lsel) == 1 else shapely.union_all(lsel)
    right = rsel[0] if len(rsel) == 1 else shapely.union_all(rsel)
    if not _conserves(piece, [left, right]):
        return None
    if connected:
        left, right = _single(left), _single(right)
    in_left = side[owner] == 0
    return left, right, idx[in_left], idx[~in_left], connected


def _conserves(
    whole: BaseGeometry, parts: Sequence[BaseGeometry], *, snapped: bool = False
) -> bool:
    """Do the parts of an overlay add up to the whole? (guards against GEOS overlay
    robustness failures that silently return wrong geometry). ``snapped``: the parts
    were noded on the ``_GRID``, which may move the boundary by half a grid step."""
    tol = _area_tol(whole) + (whole.length * _GRID if snapped else 0.0)
    return abs(sum(p.area for p in parts) - whole.area) <= tol


def _single(geom: BaseGeometry) -> BaseGeometry:
    """Drop numerical dust so a connected union is reported as one Polygon."""
    parts = _polygons(geom)
    if len(parts) == 1:
        return parts[0]
    return geom


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


def _tree_bipartition(
    m: int, adj: Sequence[Sequence[int]], cw: np.ndarray, target: float
) -> np.ndarray | None:
    """Split a connected graph in two connected halves: a subtree of a BFS tree vs the rest."""
    root = int(np.argmax(cw))
    parent = [-1] * m
    order = [root]
    seen = {root}
    q = deque([root])
    while q:
        u = q.popleft()
        for v in sorted(adj[u]):
            if v not in seen:
                seen.add(v)
                parent[v] = u
                order.append(v)
                q.append(v)
    if len(order) < m:
        return None
    sub = cw.astype(float).copy()
    for v in reversed(order[1:]):
        sub[parent[v]] += sub[v]
    total = float(cw.sum())
    best, best_err = None, math.inf
    for v in order[1:]:
        for left_is_sub in (True, False):
            wl = sub[v] if left_is_sub else total - sub[v]
            if abs(wl - target) < best_err:
                best_err, best = abs(wl - target), (v, left_is_sub)
    if best is None:
        return None
    v, left_is_sub = best
    in_sub = np.zeros(m, dtype=bool)
    for u in order:  # BFS order: parents come first
        in_sub[u] = u == v or (parent[u] >= 0 and in_sub[parent[u]])
    return np.where(in_sub == left_is_sub, 0, 1)


def _balanced_multi(
    parts: list[Polygon], pts: np.ndarray, w: np.ndarray, n: int, cuts: list[BaseGeometry]
) -> tuple[list[BaseGeometry], list[int]]:
    """Leaves of a MultiPolygon region and the cell each belongs to."""
    owner = _assign(parts, pts)
    pw = np.bincount(owner, weights=w, minlength=len(parts))
    ppos = np.bincount(owner, weights=(w > 0).astype(float), minlength=len(parts))
    weighted = [i for i in range(len(parts)) if ppos[i] > 0]
    mean = float(w.sum()) / n
    alloc: list[int] | None = None
    if 0 < len(weighted) <= n:
        alloc = largest_remainder([float(pw[i]) for i in weighted], n)
        if (
            any(alloc[j] > ppos[i] for j, i in enumerate(weighted))
            or max(pw[i] / alloc[j] for j, i in enumerate(weighted)) > 1.10 * mean
        ):
            alloc = None
    if alloc is None:
        whole = MultiPolygon(parts)
        return _bisect_all(whole, pts, w, n, cuts), list(range(n))
    leaves: list[BaseGeometry] = []
    for j, i in enumerate(weighted):
        sel = owner == i
        leaves.extend(_bisect_all(parts[i], pts[sel], w[sel], alloc[j], cuts))
    leaf_cell = list(range(n))
    rest = [parts[i] for i in range(len(parts)) if i not in set(weighted)]
    if rest:  # weightless parts join the nearest cell
        tree = shapely.STRtree(leaves[:n])
        for p in rest:
            leaf_cell.append(int(tree.query_nearest(p, all_matches=False)[0]))
            leaves.append(p)
    return leaves, leaf_cell


def _assemble(
    region: Area,
    lines: Sequence[BaseGeometry],
    leaves: Sequence[BaseGeometry],
    leaf_cell: Sequence[int],
    n: int,
) -> list[Area]:
    """Rebuild the cells from one polygonization of the region boundary and the cuts.

    Overlay results of the bisection are only used to tell which face goes to which
    cell, so neighbouring cells share identical vertices along their borders and the
    layout is a clean polygonal coverage of the region.
    """
    faces = _faces(region, lines, slivers=False)
    face_leaf = _assign(list(leaves), shapely.point_on_surface(faces), points=True)
    face_cell = np.asarray(leaf_cell)[face_leaf]
    single = isinstance(region, Polygon)
    cells = []
    for i in range(n):
        fs = list(faces[face_cell == i])
        if not fs:  # cannot happen: every leaf holds weighted points, hence a face
            raise PartitionError("internal_error", "a cell lost all its area")
        cells.append(_merge_faces(fs, single))
    _check_total(region, cells)
    return cells


def _merge_faces(faces: Sequence[BaseGeometry], single: bool) -> Area:
    """Union of faces of one polygonization (their shared edges match exactly)."""
    if len(faces) == 1:
        geom = faces[0]
    else:
        try:
            geom = shapely.coverage_union_all(list(faces))
        except shapely.errors.GEOSException:
            geom = shapely.union_all(list(faces))
        if abs(geom.area - sum(f.area for f in faces)) > _area_tol(geom):
            geom = shapely.union_all(shapely.orient_polygons(list(faces)))
    if single:
        geom = _single(geom)
    return _orient(geom)


def _area_tol(geom: BaseGeometry) -> float:
    return 1e-9 * geom.area + 1e-6


def _check_total(region: Area, cells: Sequence[BaseGeometry]) -> None:
    total = sum(c.area for c in cells)
    if abs(total - region.area) > 1e-7 * region.area + region.length * _GRID + 1e-6:
        raise PartitionError(
            "internal_error",
            f"the cells cover {total:.3f} m² of a {region.area:.3f} m² region",
        )


# --------------------------------------------------------------------------- blocks


def _road_linework(
    region: Area, roads: Iterable[BaseGeometry], snap_tolerance: float
) -> list[BaseGeometry]:
    """Roads clipped to the region, with near-miss dangling ends extended."""
    geoms = [g for g in roads if g is not None and not g.is_empty]
    if not geoms:
        return []
    arr = np.array(geoms, dtype=object)
    tree = shapely.STRtree(arr)
    hit = tree.query(region, predicate="intersects")
    clipped = _linear_parts(shapely.intersection(arr[np.sort(hit)], region)) if len(hit) else []
    if not clipped or snap_tolerance <= 0:
        return clipped
    net = shapely.get_parts(shapely.union_all([region.boundary, *clipped]))
    ends: dict[tuple[float, float], list[int]] = {}
    for i, ln in enumerate(net):
        c = shapely.get_coordinates(ln)
        for p in (c[0], c[-1]):
            ends.setdefault((float(p[0]), float(p[1])), []).append(i)
    ntree = shapely.STRtree(net)
    extra: list[BaseGeometry] = []
    for key in sorted(ends):
        owners = ends[key]
        if len(owners) != 1:
            continue
        own = owners[0]
        p = shapely.Point(key)
        if region.boundary.distance(p) <= 0:
            continue
        oc = shapely.get_coordinates(net[own])
        touching = {own}
        for q in (oc[0], oc[-1]):
            touching.update(ends.get((float(q[0]), float(q[1])), []))
        cand = [
            int(j)
            for j in ntree.query(p, predicate="dwithin", distance=snap_tolerance)
            if int(j) not in touching
        ]
        if not cand:
            continue
        dist = shapely.distance(p, net[cand])
        j = cand[int(np.argmin(dist))]
        seg = shapely.shortest_line(p, net[j])
        if seg is not None and seg.length > 0:
            extra.extend(_linear_parts(shapely.intersection(seg, region)))
    return [*clipped, *extra]


def _faces(region: Area, lines: Sequence[BaseGeometry], *, slivers: bool = True) -> np.ndarray:
    """Polygonize the region boundary with ``lines``; return the faces inside the region.

    With ``slivers`` faces below ``_SLIVER_AREA`` or thinner than ``_SLIVER_WIDTH`` (from
    nearly coincident roads) are merged into a neighbour; otherwise only numerical dust.
    """
    if not lines:
        return np.array(_polygons(region), dtype=object)
    # Snap-rounding noding: floating-point noding can silently miss an intersection, and
    # then two faces merge. Vertices move by less than a micrometre.
    noded = shapely.union_all([region.boundary, *lines], grid_size=_GRID)
    faces = shapely.get_parts(shapely.polygonize(shapely.get_parts(noded)))
    faces = [f for f in faces if f.area > 0]
    reps = shapely.point_on_surface(faces)
    keep = [f for f, r in zip(faces, reps, strict=True) if region.contains(r)]
    if not _conserves(region, keep, snapped=True):
        # robustness: anything polygonize missed becomes a face of its own
        covered = shapely.union_all(keep) if keep else Polygon()
        rest = _polygons(shapely.difference(region, covered))
        if not _conserves(region, [*keep, *rest], snapped=True):
            raise PartitionError("internal_error", "could not split the region into faces")
        keep.extend(rest)
    arr = np.array(keep, dtype=object)
    if slivers:
        return _merge_slivers(arr, _SLIVER_AREA, _SLIVER_WIDTH)
    return _merge_slivers(arr, _MICRO_AREA, 0.0)


def _merge_slivers(faces: np.ndarray, min_area: float, min_width: float) -> np.ndarray:
    """Merge tiny or hair-thin faces (from nearly coincident lines) into a neighbour."""
    area = shapely.area(faces)
    width = 2.0 * area / np.maximum(shapely.length(faces), 1e-12)
    sliver = (area < min_area) | (width < min_width)
    if not sliver.any() or sliver.all():
        return faces
    adj = _adjacency(faces)
    target = np.arange(len(faces))
    for i in np.flatnonzero(sliver):
        nb = [(s, j) for j, s in adj[i].items() if not sliver[j]]
        if nb:
            target[i] = max(nb, key=lambda t: (t[0], -t[1]))[1]
    out = []
    for j in range(len(faces)):
        if sliver[j] and target[j] != j:
            continue
        members = [faces[j], *(faces[i] for i in np.flatnonzero((target == j) & sliver))]
        out.append(members[0] if len(members) == 1 else _merge_faces(members, False))
    return np.array(out, dtype=object)


def _initial_blocks(
    region: Area,
    roads: Iterable[BaseGeometry],
    pts: np.ndarray,
    w: np.ndarray,
    n: int,
    max_block_load: float | None,
    snap_tolerance: float,
) -> tuple[list[BaseGeometry], np.ndarray, np.ndarray]:
    """Linework, blocks (heavy ones subdivided) and the block of each point."""
    lines = _road_linework(region, roads, snap_tolerance)
    faces = _faces(region, lines)
    owner = _assign(faces, pts)
    mean = float(w.sum()) / n
    n_pieces = _block_subdivision(faces, owner, w, n, mean, max_block_load)
    if (n_pieces > 1).any():
        extra: list[BaseGeometry] = []
        for i in np.flatnonzero(n_pieces > 1):
            sel = owner == i
            _bisect_all(faces[i], pts[sel], w[sel], int(n_pieces[i]), cuts=extra)
        lines = [*lines, *extra]
        faces = _faces(region, lines)
        owner = _assign(faces, pts)
    return lines, faces, owner


def _block_subdivision(
    faces: np.ndarray,
    owner: np.ndarray,
    w: np.ndarray,
    n: int,
    mean: float,
    max_block_load: float | None,
) -> np.ndarray:
    """How many parts each block is cut into (1 = kept whole)."""
    nb = len(faces)
    bw = np.bincount(owner, weights=w, minlength=nb)
    bpos = np.bincount(owner, weights=(w > 0).astype(float), minlength=nb).astype(int)
    pieces = np.ones(nb, dtype=int)
    if max_block_load is not None and mean > 0:
        heavy = bw > max_block_load * mean
        pieces[heavy] = np.maximum(2, np.rint(bw[heavy] / mean)).astype(int)
    pieces = np.minimum(pieces, np.maximum(bpos, 1))
    while int(np.minimum(pieces, bpos).sum()) < n:
        room = pieces < bpos
        i = int(np.argmax(np.where(room, bw / pieces, -1.0)))
        pieces[i] += 1
    return pieces


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


def _link_components(geoms: np.ndarray, adj: list[dict[int, float]]) -> None:
    """Add zero-length links between graph components (disconnected regions)."""
    comps = _components(list(range(len(geoms))), adj)
    while len(comps) > 1:
        main = comps[0]
        best = None
        for c in comps[1:]:
            tree = shapely.STRtree(geoms[main])
            ci, mi = tree.query_nearest(geoms[c], all_matches=False, return_distance=False)
            dist = shapely.distance(geoms[c][ci], geoms[main][mi])
            k = int(np.argmin(dist))
            cand = (float(dist[k]), c[int(ci[k])], main[int(mi[k])])
            if best is None or cand < best:
                best = cand
        _, u, v = best
        adj[u][v] = 0.0
        adj[v][u] = 0.0
        comps = _components(list(range(len(geoms))), adj)


@dataclass
class _CutPlan:
    block: int
    path: list[int]
    c: float
    d: np.ndarray
    low_to_acceptor: bool
    pa: Polygon
    pd: Polygon
    moved: float  # load that changes sides (path and the cut-off piece)
    cut_len: float


class _Blocks:
    """The block graph (weights, centroids, shared border lengths) and the grouping."""

    def __init__(self, geoms: np.ndarray, pts: np.ndarray, wts: np.ndarray, owner: np.ndarray):
        self.geoms: list[Polygon] = list(geoms)
        self.pts, self.wts = pts, wts
        order = np.argsort(owner, kind="stable")
        bounds = np.searchsorted(owner[order], np.arange(len(geoms) + 1))
        self.points: list[np.ndarray] = [
            order[bounds[i] : bounds[i + 1]] for i in range(len(geoms))
        ]
        self.w = np.array([float(wts[ix].sum()) for ix in self.points])
        self.area = shapely.area(np.array(self.geoms, dtype=object))
        self.xy = self._centroids(self.geoms)
        arr = np.array(self.geoms, dtype=object)
        self.adj = _adjacency(arr)
        _link_components(arr, self.adj)
        self.cut_lines: list[BaseGeometry] = []

    @staticmethod
    def _centroids(geoms: Sequence[BaseGeometry]) -> np.ndarray:
        c = shapely.centroid(np.array(geoms, dtype=object))
        return np.column_stack([shapely.get_x(c), shapely.get_y(c)])

    @property
    def pos(self) -> np.ndarray:
        return self.w > 0

    def connected(self, members: Iterable[int]) -> bool:
        ms = sorted(members)
        return len(ms) > 0 and self._reach(set(ms), ms[0]) == len(ms)

    def _reach(self, members: set[int], start: int) -> int:
        seen = {start}
        q = deque([start])
        while q:
            u = q.popleft()
            for v in self.adj[u]:
                if v in members and v not in seen:
                    seen.add(v)
                    q.append(v)
        return len(seen)

    def stays_connected(self, members: set[int], b: int) -> bool:
        rest = members - {b}
        return bool(rest) and self._reach(rest, min(rest)) == len(rest)

    def components(self, members: Iterable[int]) -> list[list[int]]:
        return _components(sorted(members), self.adj)

    def main_angle(self, members: np.ndarray) -> float:
        xy = self.xy[members]
        wt = self.area[members]
        if len(members) < 2 or wt.sum() <= 0:
            return 0.0
        c = xy - np.average(xy, axis=0, weights=wt)
        cov = (c * wt[:, None]).T @ c
        vals, vecs = np.linalg.eigh(cov)
        v = vecs[:, int(np.argmax(vals))]
        return math.atan2(v[1], v[0])

    def border(self, a: set[int], b: set[int]) -> float:
        return sum(s for u in a for v, s in self.adj[u].items() if v in b)

    # -- grouping ------------------------------------------------------------------

    def group(self, n: int, split_tolerance: float | None) -> list[set[int]]:
        unit = float(self.w.sum()) / n
        groups: list[set[int]] = []
        stack: list[tuple[set[int], int]] = [(set(range(len(self.geoms))), n)]
        while stack:
            members, k = stack.pop()
            if k == 1:
                groups.append(members)
                continue
            left, a, right, b = self.bisect(members, k, split_tolerance, unit)
            stack.append((right, b))
            stack.append((left, a))
        moves = 10 * len(self.geoms)
        self.refine(groups, [1.0] * len(groups), max_moves=moves)
        self.tidy(groups)
        self.refine(groups, [1.0] * len(groups), max_moves=moves)
        return groups

    def _imbalance(self, left: set[int], a: int, right: set[int], b: int) -> float:
        wl, wr = float(self.w[list(left)].sum()), float(self.w[list(right)].sum())
        mean = (wl + wr) / (a + b)
        return max(wl / a, wr / b) / mean - 1.0 if mean > 0 else 0.0

    def bisect(
        self, members: set[int], k: int, split_tolerance: float | None, unit: float
    ) -> tuple[set[int], int, set[int], int]:
        k1 = k // 2
        options = [(k1, k - k1)] if k % 2 == 0 else [(k1, k - k1), (k - k1, k1)]
        mem = np.array(sorted(members))
        base = self.main_angle(mem)
        total = float(self.w[mem].sum())
        cands = []
        for j in range(_N_DIRECTIONS):
            ang = base + j * math.pi / _N_DIRECTIONS
            t = self.xy[mem] @ np.array([math.cos(ang), math.sin(ang)])
            order = mem[np.lexsort((mem, t))]
            for a, b in options:
                res = self._prefix_cut(order, a, b, total)
                if res is not None:
                    cands.append(res)
        if not cands:  # the streets allow no connected split with enough weighted blocks
            return self.straight_split(members, k)
        within = cands if split_tolerance is None else [c for c in cands if c[0] <= split_tolerance]
        if within:  # well enough balanced along the streets: the shortest border wins
            best_e = min(c[0] for c in within)
            near = [c for c in within if c[0] <= best_e + _BLOCK_BALANCE_TOL]
            _, _, left, a, right, b = min(near, key=lambda c: (c[1], c[0]))
            return left, a, right, b
        # too unbalanced along the streets: plan a block cut for the best candidates
        plans = []
        for cand in sorted(cands, key=lambda c: (c[0], c[1]))[:_CUT_TRIALS]:
            _, border, cl, ca, cr, cb = cand
            wl = float(self.w[list(cl)].sum())
            delta = total * ca / k - wl
            donor, acceptor = (cr, cl) if delta > 0 else (cl, cr)
            plan = self.plan_cut(donor, acceptor, abs(delta), unit)
            if plan is None:
                continue
            wl_after = wl + plan.moved if delta > 0 else wl - plan.moved
            wr_after = total - wl_after
            e_after = max(wl_after / ca, wr_after / cb) / (total / k) - 1.0
            key = (round(e_after / _BLOCK_BALANCE_TOL), border + plan.cut_len)
            plans.append((key, cand, donor, acceptor, plan))
        if not plans:
            return self.straight_split(members, k)
        _, (_, _, left, a, right, b), donor, acceptor, plan = min(plans, key=lambda p: p[0])
        self.apply_plan(plan, donor, acceptor)
        return left, a, right, b

    def _prefix_cut(
        self, order: np.ndarray, a: int, b: int, total: float
    ) -> tuple[float, float, set[int], int, set[int], int] | None:
        cw = np.cumsum(self.w[order])
        cp = np.cumsum(self.pos[order])
        npos = int(cp[-1])
        ok = (cp[:-1] >= a) & (npos - cp[:-1] >= b)
        if not ok.any():
            return None
        target = total * a / (a + b)
        j = int(np.argmin(np.where(ok, np.abs(cw[:-1] - target), np.inf)))
        sides = self._make_connected(
            {int(v) for v in order[: j + 1]}, {int(v) for v in order[j + 1 :]}
        )
        if sides is None:
            return None
        groups = [sides[0], sides[1]]
        self.refine(groups, [a, b], max_moves=4 * len(order))
        left, right = groups
        if int(self.pos[list(left)].sum()) < a or int(self.pos[list(right)].sum()) < b:
            return None
        return self._imbalance(left, a, right, b), self.border(left, right), left, a, right, b

    def _make_connected(self, left: set[int], right: set[int]) -> tuple[set[int], set[int]] | None:
        sides = [set(left), set(right)]
        for _ in range(len(left) + len(right) + 1):
            changed = False
            for s in (0, 1):
                gs = self.components(sides[s])
                if len(gs) > 1:
                    main = max(gs, key=lambda g: (self.w[g].sum(), self.area[g].sum(), -g[0]))
                    for g in gs:
                        if g is not main:
                            sides[s] -= set(g)
                            sides[1 - s] |= set(g)
                            changed = True
            if not changed:
                break
        if sides[0] and sides[1] and self.connected(sides[0]) and self.connected(sides[1]):
            return sides[0], sides[1]
        return None

    # -- cutting one block -----------------------------------------------------------

    def plan_cut(
        self, donor: set[int], acceptor: set[int], amount: float, unit: float
    ) -> _CutPlan | None:
        """The best way to move ``amount`` of load from ``donor`` to ``acceptor`` by
        cutting one donor block (``None`` if there is none).

        The block must touch the acceptor directly or through other donor blocks, which
        then change sides whole (their load counts towards ``amount``).
        """
        best: tuple[tuple[float, int, float], _CutPlan] | None = None
        cands = self._cut_candidates(donor, acceptor, amount, through_weight=True)
        for u, path, need in cands[:_CUT_CANDIDATES]:
            donor -= set(path)
            acceptor |= set(path)
            path_w = float(self.w[path].sum()) if path else 0.0
            for moved, cut_len, c, d, low_to_acceptor, pa, pd in self._block_cuts(
                u, donor, acceptor, need
            ):
                err = abs(moved - need)
                bucket = round(err / (0.01 * unit)) if unit > 0 else 0
                key = (bucket, len(path), cut_len)
                if best is None or key < best[0]:
                    plan = _CutPlan(u, path, c, d, low_to_acceptor, pa, pd, path_w + moved, cut_len)
                    best = (key, plan)
            donor |= set(path)
            acceptor -= set(path)
        return None if best is None else best[1]

    def apply_plan(self, plan: _CutPlan, donor: set[int], acceptor: set[int]) -> None:
        donor -= set(plan.path)
        acceptor |= set(plan.path)
        new = self._apply_cut(plan.block, plan.c, plan.d, plan.low_to_acceptor, plan.pa, plan.pd)
        acceptor.add(new)

    def _cut_candidates(
        self, donor: set[int], acceptor: set[int], amount: float, through_weight: bool = False
    ) -> list[tuple[int, list[int], float]]:
        """Donor blocks that can give ``amount`` to the acceptor, nearest first.

        Each comes with the donor blocks that must change sides whole with it (the path
        from the acceptor, and whatever the path cuts off from it) and the load still to
        take from the block itself. Paths run through weightless blocks, and with
        ``through_weight`` also through weighted ones while their load stays below
        ``amount``.
        """
        out: list[tuple[int, list[int], float]] = []
        found: set[int] = set()
        seen: set[int] = set()
        queue: deque[tuple[int, list[int], float]] = deque()

        def consider(y: int, path: list[int]) -> None:
            moved = list(path)
            for comp in self.components(donor - set(path)):
                if y not in comp:
                    if self.w[comp].sum() > 0 and not through_weight:
                        return
                    moved.extend(comp)
            need = amount - float(self.w[moved].sum()) if moved else amount
            if (need > 0 or amount == 0) and self.w[y] > need:
                out.append((y, moved, need))
                found.add(y)

        def walk(y: int, path: list[int], pw: float) -> None:
            wy = float(self.w[y])
            if wy <= 0 or (through_weight and pw + wy < amount):
                seen.add(y)
                queue.append((y, [*path, y], pw + wy))

        for v in sorted(donor):
            if any(x in acceptor for x in self.adj[v]):
                if self.w[v] > 0:
                    consider(v, [])
                walk(v, [], 0.0)
        while queue:
            z, path, pw = queue.popleft()
            for y in sorted(self.adj[z]):
                if y not in donor or y in seen or y in path:
                    continue
                if self.w[y] > 0 and y not in found:
                    consider(y, path)
                walk(y, path, pw)
        return out

    def _block_cuts(self, u: int, donor: set[int], acceptor: set[int], amount: float):
        geom = self.geoms[u]
        ix = self.points[u]
        p, wt = self.pts[ix], self.wts[ix]
        if int((wt > 0).sum()) < 2:
            return
        total = float(wt.sum())
        base = _main_angle(geom)
        nbr_acc = [v for v in self.adj[u] if v in acceptor]
        nbr_don = [v for v in self.adj[u] if v in donor]
        rest = donor - {u}
        for j in range(_N_DIRECTIONS):
            ang = base + j * math.pi / _N_DIRECTIONS
            d = np.array([math.cos(ang), math.sin(ang)])
            t = p @ d
            order = np.argsort(t, kind="stable")
            ts = t[order]
            cw = np.cumsum(wt[order])
            valid = (ts[1:] - ts[:-1] > _MIN_GAP) & (cw[:-1] > 0) & (total - cw[:-1] > 0)
            if not valid.any():
                continue
            for low_to_acceptor in (True, False):
                want = amount if low_to_acceptor else total - amount
                jj = int(np.argmin(np.where(valid, np.abs(cw[:-1] - want), np.inf)))
                c = 0.5 * (ts[jj] + ts[jj + 1])
                hp = _half_plane(geom.bounds, d, c)
                low, high = _polygons(geom.intersection(hp)), _polygons(geom.difference(hp))
                if len(low) != 1 or len(high) != 1 or not _conserves(geom, [*low, *high]):
                    continue
                pa, pd = (low[0], high[0]) if low_to_acceptor else (high[0], low[0])
                moved = float(cw[jj]) if low_to_acceptor else total - float(cw[jj])
                if not self._touches_any(pa, nbr_acc):
                    continue
                if rest:
                    touching = [v for v in nbr_don if self._touches_any(pd, [v])]
                    if not touching or not self._connected_with(rest, touching):
                        continue
                cut_len = 0.5 * (pa.length + pd.length - geom.length)
                yield moved, cut_len, c, d, low_to_acceptor, pa, pd

    def _touches_any(self, g: BaseGeometry, others: Sequence[int]) -> bool:
        if not others:
            return False
        bnd = np.array([self.geoms[v].boundary for v in others], dtype=object)
        return bool((shapely.length(shapely.intersection(g.boundary, bnd)) > _EPS_LEN).any())

    def _connected_with(self, rest: set[int], touching: Sequence[int]) -> bool:
        """Is ``rest`` plus a new node adjacent to ``touching`` connected?"""
        start = touching[0]
        seen = set(touching)
        q = deque(touching)
        while q:
            x = q.popleft()
            for v in self.adj[x]:
                if v in rest and v not in seen:
                    seen.add(v)
                    q.append(v)
        return seen >= rest and start in rest

    def _apply_cut(
        self,
        u: int,
        c: float,
        d: np.ndarray,
        low_to_acceptor: bool,
        pa: Polygon,
        pd: Polygon,
    ) -> int:
        self.cut_lines.extend(_cut_line(self.geoms[u], d, c))
        low = self.pts[self.points[u]] @ d <= c
        owner = np.where(low == low_to_acceptor, 1, 0)
        return self._replace(u, [pd, pa], owner)[1]

    def _replace(self, u: int, parts: list[Polygon], owner: np.ndarray | None = None) -> list[int]:
        """Replace block ``u`` by ``parts`` (the first keeps index ``u``); their indices."""
        ix = self.points[u]
        if owner is None:
            owner = _assign(parts, self.pts[ix])
        old = self.adj[u]
        for v in old:
            del self.adj[v][u]
        ids = [u, *range(len(self.geoms), len(self.geoms) + len(parts) - 1)]
        self.adj[u] = {}
        for k, (i, part) in enumerate(zip(ids, parts, strict=True)):
            pix = ix[owner == k]
            wi = float(self.wts[pix].sum())
            if i == u:
                self.geoms[u], self.points[u] = part, pix
                self.w[u], self.area[u] = wi, part.area
                self.xy[u] = self._centroids([part])[0]
            else:
                self.geoms.append(part)
                self.points.append(pix)
                self.w = np.append(self.w, wi)
                self.area = np.append(self.area, part.area)
                self.xy = np.vstack([self.xy, self._centroids([part])])
                self.adj.append({})
        others = sorted(old)
        for k, i in enumerate(ids):
            cand = others + ids[k + 1 :]
            if not cand:
                continue
            bnd = np.array([self.geoms[v].boundary for v in cand], dtype=object)
            shared = shapely.length(shapely.intersection(self.geoms[i].boundary, bnd))
            for v, s_len in zip(cand, shared, strict=True):
                virtual = v in old and old[v] == 0.0 and i == u
                if s_len > _EPS_LEN or virtual:
                    self.adj[i][v] = float(s_len)
                    self.adj[v][i] = float(s_len)
        return ids

    def straight_split(self, members: set[int], k: int) -> tuple[set[int], int, set[int], int]:
        """Bisect the union of ``members`` with a straight cut, as :func:`balanced` does,
        cutting the blocks it crosses (used when no connected street-following split
        exists, or no block cut brings the balance within tolerance)."""
        mem = sorted(members)
        geoms = [self.geoms[u] for u in mem]
        poly = shapely.union_all(geoms)
        if not _conserves(poly, geoms):
            poly = shapely.union_all(shapely.orient_polygons(geoms))
        if isinstance(poly, MultiPolygon | Polygon):
            poly = _single(poly)
        idx = np.concatenate([self.points[u] for u in mem])
        cut = _best_cut(poly, self.pts, self.wts, idx, k)
        self.cut_lines.extend(_cut_line(poly, cut.d, cut.c))
        left: set[int] = set()
        right: set[int] = set()
        for u in mem:
            g = self.geoms[u]
            lp = _polygons(shapely.intersection(g, cut.left))
            rp = _polygons(shapely.intersection(g, cut.right))
            la, ra = sum(p.area for p in lp), sum(p.area for p in rp)
            if not _conserves(g, [*lp, *rp]):  # overlay failure: keep the block whole
                la, ra = (1.0, 0.0) if cut.left.contains(g.point_on_surface()) else (0.0, 1.0)
                lp, rp = ([g], []) if la else ([], [g])
            if ra <= 1e-9 * g.area or not rp:
                left.add(u)
            elif la <= 1e-9 * g.area or not lp:
                right.add(u)
            else:
                ids = self._replace(u, [*lp, *rp])
                left.update(ids[: len(lp)])
                right.update(ids[len(lp) :])
        return left, cut.a, right, cut.b

    # -- local search --------------------------------------------------------------

    def refine(self, groups: list[set[int]], caps: Sequence[float], max_moves: int) -> None:
        """Move weighted blocks to a neighbouring group while Σ load²/cap falls.

        A block may move when it touches the other group directly or through weightless
        blocks of its own group, which then move with it. Groups stay connected and keep
        at least one weighted block.
        """
        gid = {u: g for g, members in enumerate(groups) for u in members}
        load = [float(self.w[list(m)].sum()) for m in groups]
        npos = [int(self.pos[list(m)].sum()) for m in groups]
        for _ in range(max_moves):
            best = None
            pairs = sorted(
                {(gid[u], gid[v]) for u in gid for v in self.adj[u] if gid.get(v, gid[u]) != gid[u]}
            )
            for g, h in pairs:
                if npos[g] <= 1 or load[g] / caps[g] <= load[h] / caps[h]:
                    continue
                for y, moved, _ in self._cut_candidates(groups[g], groups[h], 0.0):
                    x = self.w[y]
                    delta = (x * x - 2 * load[g] * x) / caps[g]
                    delta += (x * x + 2 * load[h] * x) / caps[h]
                    if delta >= -1e-9:
                        continue
                    key = (delta, len(moved), y, h)
                    if best is not None and key >= best[0]:
                        continue
                    rest = groups[g] - set(moved) - {y}
                    if not rest or not self.connected(rest):
                        continue
                    best = (key, y, moved, g, h)
            if best is None:
                break
            _, y, moved, g, h = best
            for u in [*moved, y]:
                groups[g].discard(u)
                groups[h].add(u)
                gid[u] = h
            load[g] -= self.w[y]
            load[h] += self.w[y]
            npos[g] -= 1
            npos[h] += 1

    def tidy(self, groups: list[set[int]], rounds: int = 3) -> None:
        """Give weightless blocks to the neighbouring group they share most border with."""
        gid = {u: g for g, m in enumerate(groups) for u in m}
        for _ in range(rounds):
            moved = False
            for u in sorted(gid):
                if self.w[u] > 0:
                    continue
                g = gid[u]
                by_group: dict[int, float] = {}
                for v, s in self.adj[u].items():
                    by_group[gid[v]] = by_group.get(gid[v], 0.0) + s
                if not by_group:
                    continue
                own = by_group.get(g, 0.0)
                h = max(sorted(by_group), key=lambda k: by_group[k])
                if h == g or by_group[h] <= own + _EPS_LEN:
                    continue
                if self.stays_connected(groups[g], u) and self.connected(groups[h] | {u}):
                    groups[g].discard(u)
                    groups[h].add(u)
                    gid[u] = h
                    moved = True
            if not moved:
                break
