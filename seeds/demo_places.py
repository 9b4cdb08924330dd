"""The demo's places: households, enterprises and facilities sampled inside the blocks.

Part of the demo generator (:mod:`seeds.generate_demo`).
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import shapely
import shapely.affinity
import shapely.ops
from shapely.geometry import LineString, Polygon

from seeds.demo_ground import (
    _TO_WGS84,
    BORDER_MARGIN_M,
    COMPOUND_PREFIXES,
    COMPOUND_SUFFIXES,
    ENTERPRISE_PREFIXES,
    INDUSTRIES,
    INDUSTRY_WEIGHTS,
    N_COMMUNITIES,
    N_ENTERPRISES,
    N_HOUSEHOLDS,
    OLD_COMPOUND_UNITS,
    ZONE_MID,
    ZONE_OLD,
    ZONE_OUTER,
    _Road,
)


class _Sampler:
    """Random points inside a block, at least BORDER_MARGIN_M from its border."""

    def __init__(self, block: Polygon) -> None:
        self.block = block
        self.inner = block.buffer(-BORDER_MARGIN_M)
        shapely.prepare(self.inner)
        self._cores: dict[float, Any] = {}

    def core(self, margin: float) -> Any:
        if margin not in self._cores:
            g = self.block.buffer(-margin)
            if g.is_empty or g.area < 50:
                g = self.inner
            shapely.prepare(g)
            self._cores[margin] = g
        return self._cores[margin]

    def uniform(self, rng: np.random.Generator, margin: float = BORDER_MARGIN_M) -> np.ndarray:
        g = self.core(margin)
        xmin, ymin, xmax, ymax = g.bounds
        for _ in range(200):
            xy = rng.uniform([xmin, ymin], [xmax, ymax], size=(32, 2))
            ok = shapely.contains_xy(g, xy[:, 0], xy[:, 1])
            if ok.any():
                return xy[int(np.argmax(ok))]
        return np.asarray(self.inner.representative_point().coords[0])

    def cluster(
        self, rng: np.random.Generator, center: np.ndarray, n: int, radius: float
    ) -> np.ndarray:
        out = np.empty((0, 2))
        for _ in range(30):
            need = n - len(out)
            if need <= 0:
                break
            r = radius * np.sqrt(rng.uniform(0, 1, need))
            a = rng.uniform(0, 2 * np.pi, need)
            xy = center + np.column_stack([r * np.cos(a), r * np.sin(a)])
            ok = shapely.contains_xy(self.inner, xy[:, 0], xy[:, 1])
            out = np.vstack([out, xy[ok]])
        if len(out) < n:
            out = np.vstack([out, np.repeat(center[None, :], n - len(out), axis=0)])
        return out[:n]


def _room_names(rng: np.random.Generator, cname: str, n: int, floors: int) -> list[str]:
    units = int(rng.integers(2, 4))
    per_floor = 2
    per_building = units * floors * per_floor
    capacity = math.ceil(n * rng.uniform(1.05, 1.25))
    rooms = []
    i = 0
    while len(rooms) < capacity:
        b, rest = divmod(i, per_building)
        u, rest = divmod(rest, floors * per_floor)
        f, r = divmod(rest, per_floor)
        rooms.append(f"{cname}{b + 1}栋{u + 1}单元{f + 1}{r + 1:02d}")
        i += 1
    chosen = np.sort(rng.choice(len(rooms), size=n, replace=False))
    return [rooms[j] for j in chosen]


def _unique_name(base: str, used: set[str]) -> str:
    name, i = base, 2
    while name in used:
        name = f"{base}{'二三四五六七八九'[min(i - 2, 7)]}期" if i <= 9 else f"{base}{i}期"
        i += 1
    used.add(name)
    return name


def _make_places(
    rng: np.random.Generator,
    *,
    bpoly: list[Polygon],
    zone: list[str],
    weight: np.ndarray,
    comm_of_block: np.ndarray,
    comm_names: list[tuple[str, str]],
    codes: list[str],
    edges: list[LineString],
    edge_sides: list[tuple[int, int]],
    edge_road: list[_Road],
) -> tuple[list[dict[str, str]], dict[str, Any]]:
    samplers = [_Sampler(p) for p in bpoly]
    rows: list[tuple[str, str, str, np.ndarray, int, dict[str, Any]]] = []
    used_names: set[str] = set()

    # nearest named road for courtyard addresses
    edge_tree = shapely.STRtree(edges)
    door_numbers: dict[str, int] = {}

    def address_near(xy: np.ndarray) -> str:
        e = int(edge_tree.nearest(shapely.Point(xy)))
        road = edge_road[e].name
        door_numbers[road] = door_numbers.get(road, 0) + int(rng.integers(1, 6))
        return f"{road}{door_numbers[road]}号"

    # --- households: per community and zone, as compounds / courtyards in blocks ---------
    n_total = N_HOUSEHOLDS + int(rng.integers(-300, 300))
    cw = np.bincount(comm_of_block, weights=weight, minlength=N_COMMUNITIES)
    f = np.clip(cw / cw.mean(), 0.78, 1.25) * rng.uniform(0.92, 1.08, N_COMMUNITIES)
    hh_comm = np.round(n_total * f / f.sum()).astype(int)

    hh_rows: list[tuple[str, np.ndarray, int]] = []
    zones = np.array(zone)
    for ci in range(N_COMMUNITIES):
        mine = (comm_of_block == ci) & (weight > 0)
        zw = {z: weight[mine & (zones == z)].sum() for z in (ZONE_OLD, ZONE_MID, ZONE_OUTER)}
        zw = {z: w for z, w in zw.items() if w > 0}
        alloc = rng.multinomial(hh_comm[ci], np.array(list(zw.values())) / sum(zw.values()))
        for z, n in zip(zw, alloc, strict=True):
            ids = np.flatnonzero(mine & (zones == z))
            p = weight[ids] / weight[ids].sum()
            for kind, size in _cluster_sizes(rng, int(n), z):
                b = int(rng.choice(ids, p=p))
                s = samplers[b]
                if kind == "compound":
                    center = s.uniform(rng, 16.0)
                    if z == ZONE_OLD:
                        base = str(rng.choice(OLD_COMPOUND_UNITS)) + "宿舍"
                        floors = 6
                    else:
                        base = str(rng.choice(COMPOUND_PREFIXES)) + str(
                            rng.choice(COMPOUND_SUFFIXES)
                        )
                        floors = int(rng.choice([6, 11, 18, 26])) if z == ZONE_MID else 6
                    cname = _unique_name(base, used_names)
                    pts = s.cluster(rng, center, size, 20.0)
                    names = _room_names(rng, cname, size, floors)
                    attrs = {"households": size, "floors": floors}
                    rows.append(("compound", cname, "", center, b, attrs))
                else:
                    center = s.uniform(rng, 8.0)
                    cyname = address_near(center) + ("院" if z != ZONE_OUTER else "院落")
                    pts = s.cluster(rng, center, size, 12.0 if z == ZONE_OLD else 18.0)
                    names = [f"{cyname}{k + 1}号" for k in range(size)]
                    if size >= 12:
                        rows.append(("courtyard", cyname, "", center, b, {"households": size}))
                blank = rng.uniform(0, 1, size) < 0.08
                for k in range(size):
                    hh_rows.append(("" if blank[k] else names[k], pts[k], b))

    # --- enterprises along roads ---------------------------------------------------------
    zone_f = {ZONE_OLD: 5.0, ZONE_MID: 2.0, ZONE_OUTER: 0.4}
    cls_f = {"main": 2.5, "secondary": 1.6, "lane": 1.0}
    ew = np.array(
        [
            e.length * cls_f[r.cls] * (zone_f[zone[a]] + zone_f[zone[b]]) / 2
            for e, r, (a, b) in zip(edges, edge_road, edge_sides, strict=True)
        ]
    )
    ew /= ew.sum()
    n_ent = N_ENTERPRISES + int(rng.integers(-40, 40))
    industries = list(INDUSTRY_WEIGHTS)
    ind_p = np.array([INDUSTRY_WEIGHTS[i] for i in industries])
    ent_rows = []
    ent_names: set[str] = set()
    while len(ent_rows) < n_ent:
        e = int(rng.choice(len(edges), p=ew))
        side = int(rng.integers(0, 2))
        b = edge_sides[e][side]
        # local tangent along the edge; its left normal points into edge_sides[e][0]
        at = rng.uniform(0.05, 0.95) * edges[e].length
        p0, p1 = shapely.line_interpolate_point(edges[e], [at, min(at + 0.5, edges[e].length)])
        d = np.subtract(p1.coords[0], p0.coords[0])
        normal = np.array([-d[1], d[0]]) / max(float(np.hypot(*d)), 1e-9)
        xy = np.asarray(p0.coords[0]) + (1 if side == 0 else -1) * rng.uniform(6, 18) * normal
        if not shapely.contains_xy(samplers[b].inner, xy[0], xy[1]):
            continue
        ind = str(rng.choice(industries, p=ind_p))
        trade = str(rng.choice(INDUSTRIES[ind]))
        name = str(rng.choice(ENTERPRISE_PREFIXES)) + trade
        if name in ent_names:  # a second outlet: name it after its road, or the area
            if name.endswith("公司"):
                candidates = ["新桥" + name, "青石" + name]
            else:
                candidates = [f"{name}（{edge_road[e].name}店）"]
            name = next((n for n in candidates if n not in ent_names), "")
            if not name:
                continue
        ent_names.add(name)
        employees = int(np.clip(round(rng.lognormal(1.5, 0.75)), 1, 120))
        if ind == "manufacturing":
            employees = int(np.clip(employees * 3, 5, 150))
        ent_rows.append((name, xy, b, {"industry": ind, "employees": employees}))

    # --- public facilities ---------------------------------------------------------------
    fac = _facilities(rng, samplers, zone, weight, comm_of_block, comm_names, codes)

    # --- assemble rows -----------------------------------------------------------------------
    out: list[dict[str, str]] = []
    all_xy = []

    def add(
        ext_id: str, typ: str, name: str, xy: np.ndarray, b: int, attrs: dict[str, Any]
    ) -> None:
        out.append(
            {
                "external_id": ext_id,
                "type": typ,
                "name": name,
                "lon": "",
                "lat": "",
                "community_code": codes[comm_of_block[b]],
                "attributes": json.dumps(attrs, ensure_ascii=False, separators=(",", ":")),
            }
        )
        all_xy.append(xy)

    for i, (name, xy, b) in enumerate(hh_rows):
        add(f"HH-{i + 1:06d}", "household", name, xy, b, {})
    for i, (name, xy, b, attrs) in enumerate(ent_rows):
        add(f"ENT-{i + 1:05d}", "enterprise", name, xy, b, attrs)
    prefixes = {
        "compound": "CPD",
        "courtyard": "CY",
        "market": "MKT",
        "shop": "SHP",
        "school": "SCH",
        "hospital": "HSP",
        "station": "STN",
        "office": "OFC",
    }
    counters: dict[str, int] = {}
    for typ, name, _, xy, b, attrs in rows + fac:
        counters[typ] = counters.get(typ, 0) + 1
        add(f"{prefixes[typ]}-{counters[typ]:04d}", typ, name, xy, b, attrs)

    xy = np.array(all_xy)
    lon, lat = _TO_WGS84.transform(xy[:, 0], xy[:, 1])
    lon, lat = np.round(lon, 7), np.round(lat, 7)
    for row, x, y in zip(out, lon, lat, strict=True):
        row["lon"], row["lat"] = f"{x:.7f}", f"{y:.7f}"
    stats = {
        "households": len(hh_rows),
        "enterprises": len(ent_rows),
        "other_places": {t: counters[t] for t in prefixes if t in counters},
    }
    return out, stats


# zone -> (share of compounds among clusters, compound size range, courtyard size range)
CLUSTER_MIX = {
    ZONE_OLD: (0.3, (60, 260), (10, 45)),
    ZONE_MID: (0.85, (100, 520), (10, 40)),
    ZONE_OUTER: (0.12, (80, 300), (8, 50)),
}


def _cluster_sizes(rng: np.random.Generator, n: int, zone: str) -> list[tuple[str, int]]:
    """Split ``n`` households into compounds and courtyards typical for the zone."""
    p_compound, compound_range, courtyard_range = CLUSTER_MIX[zone]
    out: list[tuple[str, int]] = []
    left = n
    while left > 0:
        if rng.uniform() < p_compound:
            kind, size = "compound", int(rng.integers(*compound_range))
        else:
            kind, size = "courtyard", int(rng.integers(*courtyard_range))
        size = min(size, left)
        if size < 6 and out:
            out[-1] = (out[-1][0], out[-1][1] + size)
        else:
            out.append(("courtyard" if kind == "compound" and size < 30 else kind, size))
        left -= size
    return out


def _facilities(
    rng: np.random.Generator,
    samplers: list[_Sampler],
    zone: list[str],
    weight: np.ndarray,
    comm_of_block: np.ndarray,
    comm_names: list[tuple[str, str]],
    codes: list[str],
) -> list[tuple[str, str, str, np.ndarray, int, dict[str, Any]]]:
    n = len(samplers)
    zones = np.array(zone)
    out: list[tuple[str, str, str, np.ndarray, int, dict[str, Any]]] = []

    def pick(mask: np.ndarray, by_weight: bool = True) -> int:
        ids = np.flatnonzero(mask)
        p = weight[ids] + 1e-3 if by_weight else np.ones(len(ids))
        return int(rng.choice(ids, p=p / p.sum()))

    def place(typ: str, name: str, b: int, attrs: dict[str, Any], margin: float = 8.0) -> None:
        out.append((typ, name, "", samplers[b].uniform(rng, margin), b, attrs))

    any_block = np.ones(n, dtype=bool)
    not_outer = zones != ZONE_OUTER
    short = {i: comm_names[i][0] for i in range(len(codes))}

    # community offices and street-level offices
    for ci in range(len(codes)):
        b = pick(comm_of_block == ci)
        place("office", f"{short[ci]}社区党群服务中心", b, {"kind": "community_committee"})
    for name, kind in [
        ("青石街道办事处", "street_office"),
        ("青石街道综治中心", "grid_management_centre"),
        ("青石街道便民服务中心", "service_centre"),
        ("新桥新区市场监管局青石所", "market_regulation"),
        ("青石税务所", "tax"),
        ("青石街道综合文化站", "culture"),
    ]:
        place("office", name, pick(zones == ZONE_OLD), {"kind": kind})
    # markets
    for name in [
        "青石农贸市场",
        "东门菜市场",
        "新桥综合市场",
        "北环路农贸市场",
        "滨河路早市",
        "翠竹生鲜市场",
    ]:
        place("market", name, pick(not_outer), {"stalls": int(rng.integers(40, 260))}, 15.0)
    # schools
    schools = [
        ("青石小学", "primary"),
        ("新桥实验小学", "primary"),
        ("文庙街小学", "primary"),
        ("滨河小学", "primary"),
        ("青石中学", "middle"),
        ("新桥第二中学", "middle"),
        ("东门幼儿园", "kindergarten"),
        ("金沙湾幼儿园", "kindergarten"),
        ("翠竹幼儿园", "kindergarten"),
        ("青石职业技术学校", "vocational"),
    ]
    for name, level in schools:
        b = pick(not_outer, by_weight=False)
        place("school", name, b, {"level": level, "students": int(rng.integers(180, 1800))}, 15.0)
    # hospitals
    for name, beds in [
        ("新桥新区第二人民医院", 320),
        ("青石街道社区卫生服务中心", 40),
        ("东门社区卫生服务站", 0),
        ("滨河中医医院", 80),
    ]:
        place("hospital", name, pick(not_outer, by_weight=False), {"beds": beds}, 10.0)
    # stations
    for name, kind in [
        ("青石派出所", "police"),
        ("新桥消防站", "fire"),
        ("青石公交首末站", "bus"),
        ("东门公交站", "bus"),
        ("北环路公交站", "bus"),
        ("新桥加油站", "fuel"),
        ("滨河路加油站", "fuel"),
        ("青石客运站", "coach"),
        ("工业大道充电站", "charging"),
    ]:
        place("station", name, pick(any_block, by_weight=False), {"kind": kind})
    # street-front shops (larger outlets, separate from the SME register)
    shop_kinds = ["超市", "药房", "电器城", "家具城", "书店", "母婴店", "眼镜店", "通讯店"]
    used: set[str] = set()
    for _ in range(80):
        name = _unique_name(
            str(rng.choice(ENTERPRISE_PREFIXES)) + str(rng.choice(shop_kinds)), used
        )
        place("shop", name, pick(not_outer), {"floor_area_m2": int(rng.integers(40, 1500))}, 4.0)
    return out
