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

Modules: this package holds the public functions; :mod:`.bisection` the ``balanced`` method,
:mod:`.street_blocks` the ``blocks`` method, :mod:`.assembly` the final polygonization and the
area-conservation checks, :mod:`.common` the tolerances, the error, the input checks and small
geometry helpers.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import shapely
from shapely.geometry import LineString, MultiLineString, Polygon
from shapely.geometry.base import BaseGeometry

from geo.partition.assembly import _assemble, _check_total, _conserves, _faces, _merge_faces
from geo.partition.bisection import _balanced_multi, _bisect_all
from geo.partition.common import (
    _GRID,
    _MICRO_AREA,
    Area,
    PartitionError,
    _check_capacity,
    _check_count,
    _check_region,
    _orient,
    _polygons,
    _prepare_points,
)
from geo.partition.street_blocks import _Blocks, _initial_blocks, _road_linework

__all__ = [
    "PartitionError",
    "balanced",
    "blocks",
    "road_blocks",
    "split",
    "split_by_line",
]


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
