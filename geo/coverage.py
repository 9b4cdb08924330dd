"""Coverage of a region by cells, measured in metres: gaps, overlaps, where they are."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

TOLERANCE_M2 = 1.0


@dataclass(frozen=True)
class Coverage:
    gap_area_m2: float
    overlap_area_m2: float
    gap_location: tuple[float, float] | None
    overlap_location: tuple[float, float] | None

    @property
    def exact(self) -> bool:
        return self.gap_area_m2 <= TOLERANCE_M2 and self.overlap_area_m2 <= TOLERANCE_M2


def _where(geom: BaseGeometry) -> tuple[float, float] | None:
    if geom.is_empty:
        return None
    biggest = max(shapely.get_parts(geom), key=lambda g: g.area)
    p = biggest.representative_point()
    return (p.x, p.y)


def overlaps(cells: list[BaseGeometry]) -> BaseGeometry:
    """The union of all pairwise intersections (metric coordinates)."""
    tree = shapely.STRtree(cells)
    left, right = tree.query(cells, predicate="intersects")
    keep = left < right
    pieces = shapely.intersection(
        np.asarray(cells, dtype=object)[left[keep]], np.asarray(cells, dtype=object)[right[keep]]
    )
    pieces = [p for p in pieces if p.area > 0]
    return shapely.union_all(pieces) if pieces else shapely.Polygon()


def _union(cells: list[BaseGeometry]) -> BaseGeometry:
    """The union of the cells, checked by area.

    GEOS can return a wrong overlay on nearly degenerate input without raising
    (libgeos/geos#1344). A layout of cells that do not overlap is a polygonal
    coverage, for which the coverage union is exact; whatever way the union is
    computed, its area must equal the sum of the cells' areas less their
    overlaps, or it is recomputed on a fine precision grid.
    """
    if not cells:
        return shapely.Polygon()
    arr = np.asarray(cells, dtype=object)
    if shapely.coverage_is_valid(arr):
        union = shapely.coverage_union_all(arr)
        if abs(union.area - float(shapely.area(arr).sum())) <= 1e-6 * max(union.area, 1.0):
            return union
    union = shapely.union_all(arr)
    if union.area + 1e-6 < max(shapely.area(arr)):  # lost a whole cell: certainly wrong
        union = shapely.union_all(arr, grid_size=1e-6)
    return union


def coverage(region: BaseGeometry, cells: list[BaseGeometry]) -> Coverage:
    """Gap and overlap of ``cells`` against ``region`` (all in metres)."""
    union = _union(cells)
    gap = shapely.difference(region, union)
    outside = shapely.difference(union, region)
    over = overlaps(cells)
    overlap = shapely.union(over, outside)
    return Coverage(
        gap_area_m2=round(gap.area, 3),
        overlap_area_m2=round(overlap.area, 3),
        gap_location=_where(gap) if gap.area > TOLERANCE_M2 else None,
        overlap_location=_where(overlap) if overlap.area > TOLERANCE_M2 else None,
    )


def polsby_popper(geom: BaseGeometry) -> float:
    """Compactness 4πA/P² (1 for a circle, ~0.785 for a square)."""
    if geom.length == 0:
        return 0.0
    return 4 * math.pi * geom.area / geom.length**2
