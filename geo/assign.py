"""Point-in-cell for many points at once (vectorised; no per-point Python)."""

from __future__ import annotations

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry


def assign_points(x: np.ndarray, y: np.ndarray, cells: list[BaseGeometry]) -> np.ndarray:
    """For each point, the index of the cell containing it, or -1.

    A point on a shared border belongs to the lowest-index cell touching it,
    so every point of a covered region lands in exactly one cell.
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    out = np.full(x.shape[0], -1, dtype=np.int64)
    if not cells or x.size == 0:
        return out
    tree = shapely.STRtree(cells)
    points = shapely.points(x, y)
    pt_idx, cell_idx = tree.query(points, predicate="intersects")
    if pt_idx.size:
        order = np.lexsort((cell_idx, pt_idx))  # by point, then lowest cell first
        pt_idx, cell_idx = pt_idx[order], cell_idx[order]
        first = np.ones(pt_idx.size, dtype=bool)
        first[1:] = pt_idx[1:] != pt_idx[:-1]
        out[pt_idx[first]] = cell_idx[first]
    return out
