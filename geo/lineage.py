"""How a new layout relates to the one it replaces: codes kept, cells split, merged, moved."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

SAME_IOU = 0.999  # borders unchanged (within rounding)
KEEP_IOU = 0.5  # mutual best match this good keeps the old code
PART = 0.05  # a share of an old cell this large counts as a piece of it


@dataclass
class Lineage:
    inherited: dict[int, int] = field(default_factory=dict)  # new index -> old index
    unchanged: list[int] = field(default_factory=list)  # new indexes, borders identical
    moved: list[int] = field(default_factory=list)  # new indexes, same cell, border redrawn
    split: dict[int, list[int]] = field(default_factory=dict)  # old -> new pieces
    merged: dict[int, list[int]] = field(default_factory=dict)  # new -> old cells
    removed: list[int] = field(default_factory=list)  # old cells with no successor


def trace(old: list[BaseGeometry], new: list[BaseGeometry]) -> Lineage:
    """Match ``new`` cells to ``old`` ones by overlap (metric coordinates)."""
    result = Lineage()
    if not old:
        return result
    tree = shapely.STRtree(old)
    new_idx, old_idx = tree.query(new, predicate="intersects")
    old_arr = np.asarray(old, dtype=object)
    new_arr = np.asarray(new, dtype=object)
    inter = shapely.area(shapely.intersection(new_arr[new_idx], old_arr[old_idx]))
    old_area = shapely.area(old_arr)
    new_area = shapely.area(new_arr)
    iou = inter / (old_area[old_idx] + new_area[new_idx] - inter)

    best_old_for_new: dict[int, tuple[float, int]] = {}
    best_new_for_old: dict[int, tuple[float, int]] = {}
    for n, o, v in zip(new_idx.tolist(), old_idx.tolist(), iou.tolist(), strict=True):
        if v > best_old_for_new.get(n, (0.0, -1))[0]:
            best_old_for_new[n] = (v, o)
        if v > best_new_for_old.get(o, (0.0, -1))[0]:
            best_new_for_old[o] = (v, n)
    for n, (v, o) in best_old_for_new.items():
        if v >= KEEP_IOU and best_new_for_old.get(o, (0.0, -1))[1] == n:
            result.inherited[n] = o
            (result.unchanged if v >= SAME_IOU else result.moved).append(n)

    share_of_old = inter / old_area[old_idx]
    pieces: dict[int, list[int]] = {}
    majority: dict[int, list[int]] = {}
    for n, o, s in zip(new_idx.tolist(), old_idx.tolist(), share_of_old.tolist(), strict=True):
        if s >= PART:
            pieces.setdefault(o, []).append(n)
        if s >= 0.5:
            majority.setdefault(n, []).append(o)
    result.split = {o: sorted(ns) for o, ns in pieces.items() if len(ns) > 1}
    result.merged = {n: sorted(os) for n, os in majority.items() if len(os) > 1}
    result.removed = sorted(set(range(len(old))) - set(pieces))
    return result
