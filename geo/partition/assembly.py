"""Assembly and robustness: cells rebuilt from one polygonization of the region boundary,
the roads and all cut lines, slivers merged, and every overlay checked for area conservation
(see the package docstring)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import shapely
from shapely.geometry import Polygon
from shapely.geometry.base import BaseGeometry

from geo.partition.common import (
    _GRID,
    _MICRO_AREA,
    _SLIVER_AREA,
    _SLIVER_WIDTH,
    Area,
    PartitionError,
    _adjacency,
    _assign,
    _orient,
    _polygons,
)


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
