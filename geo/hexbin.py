"""Hexagonal bins in a metric plane: which hexagon a point falls in, and each hexagon's corners.

Pointy-top hexagons in axial coordinates ``(q, r)``, the hexagon ``(0, 0)`` centred on the
origin. ``size_m`` is the distance between the centres of two neighbouring hexagons (the
hexagon's width across its flat sides); its circumradius is ``size_m / √3`` and its area
``size_m² · √3 / 2``. The centre of ``(q, r)`` is ``x = size_m · (q + r / 2)``,
``y = size_m · r · √3 / 2``. A point on a shared edge goes to one of the two hexagons
(deterministically, by cube rounding).

Pure arithmetic (no projection, no database): callers project to metres first
(:mod:`geo.projection`) and back afterwards.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable

SQRT3 = math.sqrt(3.0)


def _check(size_m: float) -> None:
    if not (math.isfinite(size_m) and size_m > 0):
        raise ValueError(f"size_m must be a positive number of metres, not {size_m!r}")


def hex_of(x: float, y: float, size_m: float) -> tuple[int, int]:
    """The axial ``(q, r)`` of the hexagon holding the point ``(x, y)`` (metres)."""
    _check(size_m)
    radius = size_m / SQRT3
    fq = (SQRT3 / 3 * x - y / 3) / radius
    fr = (2 / 3 * y) / radius
    fs = -fq - fr
    q, r, s = round(fq), round(fr), round(fs)
    dq, dr, ds = abs(q - fq), abs(r - fr), abs(s - fs)
    if dq > dr and dq > ds:
        q = -r - s
    elif dr > ds:
        r = -q - s
    return int(q), int(r)


def centre(q: int, r: int, size_m: float) -> tuple[float, float]:
    """The centre (metres) of hexagon ``(q, r)``."""
    _check(size_m)
    return size_m * (q + r / 2), size_m * r * SQRT3 / 2


def corners(q: int, r: int, size_m: float) -> list[tuple[float, float]]:
    """The six corners of hexagon ``(q, r)``, counter-clockwise from the upper right, and the
    first again (a closed GeoJSON ring)."""
    cx, cy = centre(q, r, size_m)
    radius = size_m / SQRT3
    ring = []
    for k in range(6):
        angle = math.radians(60 * k - 30)
        ring.append((cx + radius * math.cos(angle), cy + radius * math.sin(angle)))
    ring.append(ring[0])
    return ring


def hex_area_m2(size_m: float) -> float:
    """The area of one hexagon: ``size_m² · √3 / 2``."""
    _check(size_m)
    return size_m * size_m * SQRT3 / 2


def bin_points(points: Iterable[tuple[float, float]], size_m: float) -> dict[tuple[int, int], int]:
    """How many of ``points`` (metres) fall in each hexagon, by ``(q, r)``; empty hexagons are
    left out."""
    return dict(Counter(hex_of(x, y, size_m) for x, y in points))
