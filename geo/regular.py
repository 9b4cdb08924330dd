"""Regular grids clipped to a boundary: the baseline every peer offers (metric coordinates)."""

from __future__ import annotations

import math

import numpy as np
import shapely
from shapely.geometry import Polygon
from shapely.geometry.base import BaseGeometry

from geo.errors import GeometryError


def _clip(region: BaseGeometry, tiles: list[Polygon], max_cells: int) -> list[BaseGeometry]:
    shapely.prepare(region)
    tiles_arr = np.asarray(tiles, dtype=object)
    hits = shapely.intersects(region, tiles_arr)
    inside = shapely.contains_properly(region, tiles_arr[hits])
    cells: list[BaseGeometry] = []
    for tile, whole in zip(tiles_arr[hits], inside, strict=True):
        piece = tile if whole else shapely.intersection(tile, region)
        piece = _polygonal(piece)
        if piece is not None and piece.area > 0.01:
            cells.append(piece)
    if len(cells) > max_cells:
        raise GeometryError(
            "too_many_cells",
            f"That cell size gives {len(cells)} cells; the limit is {max_cells}.",
            cells=len(cells),
            limit=max_cells,
        )
    return cells


def _polygonal(geom: BaseGeometry) -> BaseGeometry | None:
    parts = [p for p in shapely.get_parts(geom) if p.geom_type == "Polygon" and p.area > 0]
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else shapely.MultiPolygon(parts)


def _check(size_m: float, region: BaseGeometry, max_cells: int) -> None:
    if not size_m or size_m <= 0:
        raise GeometryError("invalid_cell_size", "The cell size must be positive metres.")
    estimate = region.area / (size_m * size_m)
    if estimate > max_cells * 1.5:
        raise GeometryError(
            "too_many_cells",
            f"A {size_m:g} m grid gives about {estimate:.0f} cells; the limit is {max_cells}.",
            cells=round(estimate),
            limit=max_cells,
        )


def square(region: BaseGeometry, size_m: float, *, max_cells: int = 5000) -> list[BaseGeometry]:
    """Squares of ``size_m`` aligned on the region's south-west corner, clipped to it."""
    _check(size_m, region, max_cells)
    minx, miny, maxx, maxy = region.bounds
    nx, ny = math.ceil((maxx - minx) / size_m), math.ceil((maxy - miny) / size_m)
    x0 = minx + np.arange(nx) * size_m
    y0 = miny + np.arange(ny) * size_m
    gx, gy = np.meshgrid(x0, y0)
    tiles = list(shapely.box(gx.ravel(), gy.ravel(), gx.ravel() + size_m, gy.ravel() + size_m))
    return _clip(region, tiles, max_cells)


def hexagon(region: BaseGeometry, size_m: float, *, max_cells: int = 5000) -> list[BaseGeometry]:
    """Pointy-top hexagons whose centres are ``size_m`` apart (width across flats), clipped."""
    _check(size_m, region, max_cells)
    r = size_m / math.sqrt(3)  # circumradius
    dx, dy = size_m, 1.5 * r
    minx, miny, maxx, maxy = region.bounds
    rows = math.ceil((maxy - miny) / dy) + 2
    cols = math.ceil((maxx - minx) / dx) + 2
    angles = np.radians(np.arange(6) * 60 + 30)
    ring = np.column_stack([np.cos(angles), np.sin(angles)]) * r
    tiles = []
    for row in range(rows):
        cy = miny + row * dy
        offset = dx / 2 if row % 2 else 0.0
        for col in range(cols):
            cx = minx + col * dx + offset - dx / 2
            tiles.append(Polygon(ring + np.array([cx, cy])))
    return _clip(region, tiles, max_cells)
