"""Point-in-cell for many points at once (vectorised; no per-point Python)."""

from __future__ import annotations

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry


def assign_points(x: np.ndarray, y: np.ndarray, cells: list[BaseGeometry]) -> np.ndarray:
    """For each point, the index of the cell containing it, or -1.

    A point on a shared border belongs to the lowest-index cell touching it,
    so every point of a covered region lands in exactly one cell.

    The points are sorted by x once; each cell then looks only at the slice of
    points inside its bounding box (two binary searches and a y mask) and
    tests those with a prepared geometry in C. A million points against the
    140 cells of a street take well under a second.
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    out = np.full(x.shape[0], -1, dtype=np.int64)
    if not cells or x.size == 0:
        return out
    order = np.argsort(x, kind="stable")
    xs, ys = x[order], y[order]
    found = np.full(x.shape[0], -1, dtype=np.int64)
    bounds = shapely.bounds(np.asarray(cells, dtype=object))
    for i, cell in enumerate(cells):
        minx, miny, maxx, maxy = bounds[i]
        lo = np.searchsorted(xs, minx, side="left")
        hi = np.searchsorted(xs, maxx, side="right")
        if lo >= hi:
            continue
        window = slice(lo, hi)
        candidates = (ys[window] >= miny) & (ys[window] <= maxy) & (found[window] < 0)
        sel = lo + np.flatnonzero(candidates)
        if sel.size == 0:
            continue
        shapely.prepare(cell)
        hit = shapely.intersects_xy(cell, xs[sel], ys[sel])
        found[sel[hit]] = i
    out[order] = found
    return out
