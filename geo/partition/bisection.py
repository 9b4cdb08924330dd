"""``balanced``: recursive bisection with straight cuts (see the package docstring)."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import shapely
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

from geo.apportion import largest_remainder
from geo.partition.assembly import _conserves, _single
from geo.partition.common import (
    _BALANCE_TOL,
    _EPS_LEN,
    _MIN_GAP,
    _N_DIRECTIONS,
    Area,
    PartitionError,
    _assign,
    _components,
    _cut_line,
    _half_plane,
    _main_angle,
    _polygons,
    _pp,
)

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
