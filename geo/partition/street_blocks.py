"""``blocks``: cells as unions of street blocks (街巷定界), bisected over the block adjacency
graph (see the package docstring)."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import shapely
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

from geo.partition.assembly import _conserves, _faces, _single
from geo.partition.bisection import _best_cut, _bisect_all
from geo.partition.common import (
    _BLOCK_BALANCE_TOL,
    _CUT_CANDIDATES,
    _CUT_TRIALS,
    _EPS_LEN,
    _MIN_GAP,
    _N_DIRECTIONS,
    Area,
    _adjacency,
    _assign,
    _components,
    _cut_line,
    _half_plane,
    _linear_parts,
    _main_angle,
    _polygons,
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
