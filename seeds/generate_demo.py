"""Deterministic generator for the gridserve demo geography.

Everything produced here is invented: one district (新桥新区), one street (青石街道) around
104.05 E / 30.50 N with 18 communities that tile it exactly, a road network, and ~30,000
households, ~1,500 enterprises and a few hundred other places.

The geometry is built in a local Lambert azimuthal equal-area CRS (metres). All roads and
the street outline are noded together on a 10 cm grid and polygonized into blocks, so
neighbouring blocks, communities and roads share exactly the same vertices. Those vertices
are transformed to EPSG:4326 one by one and rounded to 7 decimals, and every polygon is then
rebuilt (polygonized) from the rounded edges, so the tiling stays exact after rounding.

``build()`` returns the data without touching the disk; ``main()`` writes ``seeds/demo/``.
Regenerate with ``python -m seeds.generate_demo`` from the repository root.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import shapely
import shapely.affinity
import shapely.ops
from pyproj import Transformer
from shapely.geometry import LineString, Polygon, mapping

SEED = 20240611
LON0, LAT0 = 104.05, 30.50
METRIC_CRS = f"+proj=laea +lat_0={LAT0} +lon_0={LON0} +datum=WGS84 +units=m +no_defs"
OUT_DIR = Path(__file__).resolve().parent / "demo"

STREET_AREA_M2 = 14.6e6
GRID_SIZE = 0.1  # metres; noding precision in the metric CRS
MIN_BLOCK_M2 = 3_000.0
MIN_BLOCK_WIDTH_M = 12.0  # 2 * area / perimeter
N_COMMUNITIES = 18
N_HOUSEHOLDS = 30_000
N_ENTERPRISES = 1_500
BORDER_MARGIN_M = 2.0  # no place closer than this to its block border

OLD_CENTER = (420.0, 180.0)  # centre of the old quarter, metres from (LON0, LAT0)
ZONE_OLD, ZONE_MID, ZONE_OUTER = "old", "mid", "outer"

DISTRICT = {"code": "XQ", "name": "新桥新区", "name_en": "Xinqiao New Area"}
STREET = {"code": "QS", "name": "青石街道", "name_en": "Qingshi Subdistrict"}

# Community names: old-quarter names first, then the newer / outer ones.
OLD_COMMUNITY_NAMES = [
    ("东门", "Dongmen"),
    ("文庙", "Wenmiao"),
    ("书院", "Shuyuan"),
    ("双井", "Shuangjing"),
    ("鼓楼", "Gulou"),
    ("柳荫", "Liuyin"),
    ("石桥", "Shiqiao"),
    ("桂香", "Guixiang"),
    ("西街", "Xijie"),
]
NEW_COMMUNITY_NAMES = [
    ("金沙湾", "Jinshawan"),
    ("荷塘", "Hetang"),
    ("翠竹", "Cuizhu"),
    ("白鹭", "Bailu"),
    ("凤鸣", "Fengming"),
    ("明月", "Mingyue"),
    ("玉带", "Yudai"),
    ("青龙", "Qinglong"),
    ("锦苑", "Jinyuan"),
    ("新华", "Xinhua"),
    ("花园", "Huayuan"),
    ("南桥", "Nanqiao"),
]

MAIN_ROAD_NAMES = ["青石大道", "新桥路", "工业大道", "滨河路", "北环路", "环城路"]
ROAD_THEMES = [
    "文化", "柳荫", "桂花", "石板", "书院", "槐树", "铁匠", "盐市", "米市", "纱帽",
    "水井", "白果", "红墙", "仁里", "同心", "福寿", "太平", "吉祥", "兴隆", "永安",
    "长寿", "玉泉", "三槐", "梓潼", "马道", "染坊", "磨坊", "油坊", "糖坊", "竹林",
    "杏花", "梨花", "金鱼", "银杏", "观音", "城隍", "学道", "鼓楼", "钟楼", "箭道",
    "营门", "牛市", "草市", "柴市", "棉花", "丝绸", "茶店", "酱园", "纸坊", "灯笼",
    "状元", "龙王", "井坊", "东升", "南华", "西城", "北门", "锦江", "育才", "建设",
    "光明", "和平", "人民", "兴业", "振兴", "创业", "春熙", "幸福", "安康", "朝阳",
]  # fmt: skip
LANE_SUFFIXES = ["巷", "一巷", "二巷", "三巷", "横巷", "后巷", "里", "东巷", "西巷"]
SECONDARY_SUFFIXES = ["路", "街", "东路", "西路", "南路", "北路", "中路", "大街"]
OUTER_LANE_SUFFIXES = ["村道", "支路", "机耕道"]

COMPOUND_PREFIXES = [
    "锦绣", "翠庭", "金桂", "紫荆", "和美", "康居", "阳光", "滨江", "书香", "文华",
    "丽景", "怡心", "馨园", "御景", "蓝湾", "绿洲", "银河", "天悦", "祥和", "瑞丰",
    "佳苑", "春晓", "秋实", "碧水", "青城", "嘉禾", "盛世", "泰和", "清风", "明珠",
]  # fmt: skip
COMPOUND_SUFFIXES = ["苑", "园", "小区", "花园", "家园", "公寓", "雅居", "华庭", "新村"]
OLD_COMPOUND_UNITS = [
    "粮站", "供销社", "机械厂", "邮电局", "棉纺厂", "农机站", "水电站", "食品厂",
    "运输公司", "建筑公司", "烟草站", "百货公司", "电影院", "印刷厂", "酒厂", "医药公司",
]  # fmt: skip
ENTERPRISE_PREFIXES = [
    "鑫源", "盛达", "蓉兴", "万福", "恒通", "新桥", "青石", "锦华", "福瑞", "金鼎",
    "安泰", "兴旺", "德顺", "康宁", "永丰", "百味", "聚福", "利民", "惠民", "便民",
    "佳乐", "美家", "天府", "川香", "蜀味", "老街", "巷口", "宏发", "顺捷", "优品",
    "金穗", "华丰", "巧手", "乐活", "晨曦", "嘉和", "同福", "四季", "悦来", "广源",
]  # fmt: skip
INDUSTRIES: dict[str, list[str]] = {
    "retail": ["便利店", "超市", "五金店", "服装店", "水果店", "文具店", "烟酒店", "日杂店"],
    "catering": ["面馆", "火锅店", "小吃店", "茶馆", "冒菜馆", "烧烤店", "饺子馆", "甜品店"],
    "services": ["理发店", "洗衣店", "家政服务部", "照相馆", "家电维修部", "开锁店"],
    "health": ["大药房", "中医诊所", "推拿馆", "口腔诊所"],
    "manufacturing": ["机械加工厂", "食品加工厂", "印刷厂", "家具厂"],
    "logistics": ["快递服务站", "物流有限公司", "搬家服务部"],
    "construction": ["建材经营部", "装饰工程有限公司", "水电安装部"],
    "technology": ["科技有限公司", "网络工作室", "电脑维修部"],
    "education": ["教育咨询有限公司", "艺术培训中心", "托管中心"],
}
INDUSTRY_WEIGHTS = {
    "retail": 0.3,
    "catering": 0.25,
    "services": 0.15,
    "health": 0.05,
    "manufacturing": 0.05,
    "logistics": 0.05,
    "construction": 0.06,
    "technology": 0.04,
    "education": 0.05,
}

_TO_WGS84 = Transformer.from_crs(METRIC_CRS, "EPSG:4326", always_xy=True)


# --------------------------------------------------------------------------------------
# data containers
# --------------------------------------------------------------------------------------


@dataclass
class DemoData:
    """Everything the generator produces, in memory."""

    areas: dict[str, Any]
    roads: dict[str, Any]
    places: list[dict[str, str]]
    stats: dict[str, Any] = field(default_factory=dict)

    def files(self) -> dict[str, str]:
        """Serialise to ``{file name: text}`` exactly as written to ``seeds/demo/``."""
        return {
            "areas.geojson": _dump_feature_collection(self.areas),
            "roads.geojson": _dump_feature_collection(self.roads),
            "places.csv": _dump_places(self.places),
            "README.md": _readme(self.stats),
        }


@dataclass
class _Road:
    name: str
    cls: str  # main | secondary | lane
    geom: LineString
    zone: str = ""  # for lanes cut by _subdivide: the zone they were cut in (naming only)


# --------------------------------------------------------------------------------------
# small helpers
# --------------------------------------------------------------------------------------


def _smooth_noise(rng: np.random.Generator, n: int, harmonics: int, amp: float) -> np.ndarray:
    """A smooth periodic random function sampled at ``n`` points (sum of sines)."""
    t = np.linspace(0.0, 2 * np.pi, n, endpoint=False)
    out = np.zeros(n)
    for k in range(1, harmonics + 1):
        out += rng.uniform(-1, 1) / k * np.cos(k * t + rng.uniform(0, 2 * np.pi))
    peak = np.abs(out).max()
    return out / peak * amp if peak > 0 else out


def _polar_blob(
    rng: np.random.Generator,
    center: tuple[float, float],
    radius: float,
    n: int,
    harmonics: Sequence[float],
    sx: float = 1.0,
    sy: float = 1.0,
    rot: float = 0.0,
) -> np.ndarray:
    theta = np.linspace(0.0, 2 * np.pi, n, endpoint=False)
    r = np.ones(n)
    for k, a in enumerate(harmonics, start=2):
        r += a * np.cos(k * theta + rng.uniform(0, 2 * np.pi))
    x, y = radius * r * np.cos(theta) * sx, radius * r * np.sin(theta) * sy
    c, s = math.cos(rot), math.sin(rot)
    return np.column_stack([center[0] + c * x - s * y, center[1] + s * x + c * y])


def _wiggly(
    rng: np.random.Generator,
    p0: tuple[float, float],
    p1: tuple[float, float],
    amp: float,
    n: int = 60,
    waves: float = 2.0,
) -> LineString:
    """A gently curving line from p0 to p1 (sinusoidal perpendicular offset)."""
    a, b = np.asarray(p0, float), np.asarray(p1, float)
    d = b - a
    normal = np.array([-d[1], d[0]]) / np.hypot(*d)
    t = np.linspace(0.0, 1.0, n)
    ph1, ph2 = rng.uniform(0, 2 * np.pi, 2)
    off = amp * (
        0.7 * np.sin(2 * np.pi * waves * t + ph1) + 0.3 * np.sin(2 * np.pi * 2.7 * t + ph2)
    )
    pts = a + np.outer(t, d) + np.outer(off, normal)
    return LineString(pts)


def _to_wgs84(geom: Any) -> Any:
    """Transform metric geometry to EPSG:4326, vertex by vertex, rounded to 7 decimals."""

    def f(c: np.ndarray) -> np.ndarray:
        lon, lat = _TO_WGS84.transform(c[:, 0], c[:, 1])
        return np.round(np.column_stack([lon, lat]), 7)

    return shapely.transform(geom, f)


def _segment_probe(edge: LineString) -> tuple[np.ndarray, np.ndarray]:
    """Midpoint and unit normal of the longest segment of an edge."""
    c = np.asarray(edge.coords)
    seg = np.diff(c, axis=0)
    lens = np.hypot(seg[:, 0], seg[:, 1])
    i = int(np.argmax(lens))
    mid = (c[i] + c[i + 1]) / 2
    d = seg[i] / lens[i]
    return mid, np.array([-d[1], d[0]])


def _polygon_faces(edges: Sequence[Any]) -> list[Polygon]:
    return list(shapely.get_parts(shapely.polygonize(list(edges))))


# --------------------------------------------------------------------------------------
# geometry: outline, roads, blocks
# --------------------------------------------------------------------------------------


def _street_outline(rng: np.random.Generator) -> Polygon:
    harmonics = [0.09, 0.08, 0.05, 0.04, 0.03, 0.02]
    pts = _polar_blob(rng, (0.0, 0.0), 1.0, 300, harmonics, 1.3, 0.85, 0.12)
    pts *= 1.0 + _smooth_noise(rng, len(pts), 40, 0.04)[:, None]
    poly = Polygon(pts)
    poly = shapely.affinity.scale(
        poly, *(2 * [math.sqrt(STREET_AREA_M2 / poly.area)]), origin=(0, 0)
    )
    return shapely.set_precision(poly, GRID_SIZE)


def _main_roads(rng: np.random.Generator) -> tuple[list[_Road], Polygon, Polygon]:
    ox, oy = OLD_CENTER
    ring_pts = _polar_blob(rng, OLD_CENTER, 640.0, 72, [0.06, 0.04, 0.02], 1.1, 0.92, 0.3)
    ring = LineString(np.vstack([ring_pts, ring_pts[:1]]))
    old_quarter = Polygon(ring_pts)
    envelope = Polygon(_polar_blob(rng, (ox - 150, oy - 100), 1650.0, 90, [0.1, 0.06, 0.04]))
    names = MAIN_ROAD_NAMES
    roads = [
        _Road(names[0], "main", _wiggly(rng, (-4200, oy - 40), (4200, oy + 60), 25, waves=1.3)),
        _Road(names[1], "main", _wiggly(rng, (ox - 60, -3200), (ox + 80, 3200), 25, waves=1.1)),
        _Road(names[2], "main", _wiggly(rng, (-1650, -3200), (-1150, 3200), 30, waves=1.2)),
        _Road(names[3], "main", _wiggly(rng, (-4200, -1050), (4200, -900), 70, waves=2.2)),
        _Road(names[4], "main", _wiggly(rng, (-4200, 1180), (4200, 1120), 35, waves=1.4)),
        _Road(names[5], "main", ring),
    ]
    return roads, old_quarter, envelope


def _secondary_grid(
    rng: np.random.Generator, outline: Polygon, old_quarter: Polygon, envelope: Polygon
) -> list[_Road]:
    """Secondary streets between the main roads, only inside the built-up envelope."""
    ox, oy = OLD_CENTER
    xs_main = [-1400.0, ox]
    ys_main = [-980.0, oy, 1150.0]
    xmin, ymin, xmax, ymax = outline.bounds

    def fill(lo: float, hi: float, spacing: float) -> list[float]:
        n = max(0, round((hi - lo) / spacing) - 1)
        step = (hi - lo) / (n + 1)
        return [lo + step * (i + 1) + rng.uniform(-0.12, 0.12) * step for i in range(n)]

    xs: list[float] = []
    bounds_x = [xmin - 100, *xs_main, xmax + 100]
    for lo, hi in itertools.pairwise(bounds_x):
        xs += fill(lo, hi, 300.0)
    ys: list[float] = []
    bounds_y = [ymin - 100, *ys_main, ymax + 100]
    for lo, hi in itertools.pairwise(bounds_y):
        ys += fill(lo, hi, 290.0)

    region = envelope.difference(old_quarter.buffer(-4.0))
    lines: list[LineString] = []
    for x in xs:
        lines.append(_wiggly(rng, (x, ymin - 300), (x + rng.uniform(-40, 40), ymax + 300), 10))
    for y in ys:
        lines.append(_wiggly(rng, (xmin - 300, y), (xmax + 300, y + rng.uniform(-40, 40)), 10))
    roads = []
    for line in lines:
        clipped = line.intersection(region)
        for part in shapely.get_parts(clipped):
            if isinstance(part, LineString) and part.length > 150:
                roads.append(_Road("", "secondary", part))
    return roads


def _zone_of(pt: Any, old_quarter: Polygon, envelope: Polygon) -> str:
    if old_quarter.contains(pt):
        return ZONE_OLD
    if envelope.contains(pt):
        return ZONE_MID
    return ZONE_OUTER


def _split_polygon(
    poly: Polygon, rng: np.random.Generator, angle_jitter: float, min_area: float
) -> tuple[LineString, list[Polygon]] | None:
    """Cut a polygon roughly in half across its long axis; return (cut line, pieces)."""
    rect = shapely.oriented_envelope(poly)
    rc = np.asarray(rect.exterior.coords)
    e0, e1 = rc[1] - rc[0], rc[2] - rc[1]
    major = e0 if np.hypot(*e0) >= np.hypot(*e1) else e1
    u = major / np.hypot(*major)
    c = np.asarray(poly.centroid.coords[0])
    proj = (np.asarray(poly.exterior.coords) - c) @ u
    smin, smax = proj.min(), proj.max()
    span = float(np.hypot(*e0) + np.hypot(*e1)) * 2
    for _ in range(4):
        s = smin + rng.uniform(0.36, 0.64) * (smax - smin)
        q = c + s * u
        ang = rng.uniform(-angle_jitter, angle_jitter)
        w = np.array([-u[1], u[0]])
        w = np.array(
            [
                w[0] * math.cos(ang) - w[1] * math.sin(ang),
                w[0] * math.sin(ang) + w[1] * math.cos(ang),
            ]
        )
        cut = LineString([q - span * w, q + span * w]).intersection(poly)
        parts = [p for p in shapely.get_parts(cut) if isinstance(p, LineString) and p.length > 0]
        if not parts:
            continue
        chord = min(parts, key=lambda p: p.distance(shapely.Point(q)))
        a, b = np.asarray(chord.coords[0]), np.asarray(chord.coords[-1])
        d = (b - a) / np.hypot(*(b - a))
        chord = LineString([a - 3.0 * d, b + 3.0 * d])
        pieces = [
            p for p in shapely.get_parts(shapely.ops.split(poly, chord)) if isinstance(p, Polygon)
        ]
        if len(pieces) == 2 and min(p.area for p in pieces) >= min_area:
            return LineString([a - 3.0 * d, b + 3.0 * d]), pieces
    return None


def _subdivide(
    rng: np.random.Generator, faces: list[Polygon], old_quarter: Polygon, envelope: Polygon
) -> list[_Road]:
    """Recursively cut the coarse faces with lanes until each zone reaches its block size."""
    target = {ZONE_OLD: 6_500.0, ZONE_MID: 24_000.0, ZONE_OUTER: 85_000.0}
    jitter = {ZONE_OLD: 0.22, ZONE_MID: 0.1, ZONE_OUTER: 0.18}
    lanes: list[_Road] = []
    stack = list(reversed(faces))
    while stack:
        poly = stack.pop()
        zone = _zone_of(poly.representative_point(), old_quarter, envelope)
        if poly.area < target[zone] * rng.uniform(0.8, 1.5):
            continue
        res = _split_polygon(poly, rng, jitter[zone], max(MIN_BLOCK_M2 * 1.2, poly.area * 0.22))
        if res is None:
            continue
        chord, pieces = res
        if zone == ZONE_OLD:
            cls = "secondary" if chord.length > 420 else "lane"
        elif zone == ZONE_MID:
            cls = "secondary" if chord.length > 380 else "lane"
        else:
            cls = "secondary" if chord.length > 700 else "lane"
        lanes.append(_Road("", cls, chord, zone))  # named later by _name_roads
        stack.extend(reversed(pieces))
    return lanes


def _faces_inside(edges: Sequence[Any], outline: Polygon) -> list[Polygon]:
    faces = _polygon_faces(edges)
    return [f for f in faces if outline.contains(f.representative_point())]


@dataclass
class _Network:
    edges: list[LineString]
    faces: list[Polygon]
    left: np.ndarray  # face index on each side of each edge (-1 = outside the street)
    right: np.ndarray


def _build_network(lines: list[Any], outline: Polygon) -> _Network:
    noded = shapely.unary_union([outline.boundary, *lines], grid_size=GRID_SIZE)
    edges = [e for e in shapely.get_parts(noded) if e.length > 0]
    faces = _faces_inside(edges, outline)
    tree = shapely.STRtree(faces)
    probes = [_segment_probe(e) for e in edges]
    eps = 0.01
    left_pts = shapely.points([m + eps * n for m, n in probes])
    right_pts = shapely.points([m - eps * n for m, n in probes])

    def locate(points: np.ndarray) -> np.ndarray:
        out = np.full(len(points), -1, dtype=int)
        pi, fi = tree.query(points, predicate="within")
        out[pi] = fi
        return out

    return _Network(edges, faces, locate(left_pts), locate(right_pts))


def _merge_small_faces(net: _Network, is_main: np.ndarray) -> np.ndarray:
    """Union small or thin faces with a neighbour; returns a group id for every face."""
    parent = np.arange(len(net.faces))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    face_area = np.array([f.area for f in net.faces])
    lengths = np.array([e.length for e in net.edges])
    while True:
        groups = np.array([find(i) for i in range(len(parent))])
        gl = np.where(net.left >= 0, groups[np.maximum(net.left, 0)], -1)
        gr = np.where(net.right >= 0, groups[np.maximum(net.right, 0)], -1)
        border = gl != gr
        area = np.bincount(groups, weights=face_area, minlength=len(parent))
        perim = np.zeros(len(parent))
        for side in (gl, gr):
            m = border & (side >= 0)
            perim += np.bincount(side[m], weights=lengths[m], minlength=len(parent))
        roots = np.unique(groups)
        width = 2 * area[roots] / np.maximum(perim[roots], 1e-9)
        bad = roots[(area[roots] < MIN_BLOCK_M2) | (width < MIN_BLOCK_WIDTH_M)]
        if len(bad) == 0:
            return groups
        merged_any = False
        for g in bad[np.argsort(area[bad], kind="stable")]:
            m = border & ((gl == g) | (gr == g)) & (gl >= 0) & (gr >= 0)
            if not m.any():
                continue
            other = np.where(gl[m] == g, gr[m], gl[m])
            score = lengths[m] * np.where(is_main[m], 0.01, 1.0)
            tot = np.bincount(other, weights=score, minlength=len(parent))
            target = int(np.argmax(tot))
            parent[find(int(g))] = find(target)
            merged_any = True
            break
        if not merged_any:
            return groups


# --------------------------------------------------------------------------------------
# communities
# --------------------------------------------------------------------------------------


def _connected(ids: Sequence[int], adj: dict[int, dict[int, float]]) -> bool:
    ids_set = set(ids)
    if not ids_set:
        return False
    start = next(iter(sorted(ids_set)))
    seen = {start}
    todo = [start]
    while todo:
        i = todo.pop()
        for j in adj[i]:
            if j in ids_set and j not in seen:
                seen.add(j)
                todo.append(j)
    return len(seen) == len(ids_set)


def _bisect(
    ids: list[int],
    k: int,
    weight: np.ndarray,
    cent: np.ndarray,
    adj: dict[int, dict[int, float]],
) -> list[list[int]]:
    """Split ``ids`` into ``k`` contiguous parts of similar weight (recursive bisection)."""
    if k == 1:
        return [ids]
    k1 = k // 2
    total = weight[ids].sum()
    goal = total * k1 / k
    best: tuple[float, list[int], list[int]] | None = None
    arr = np.asarray(ids)
    for ang in np.arange(0.0, np.pi, np.pi / 16):
        d = np.array([math.cos(ang), math.sin(ang)])
        order = arr[np.argsort(cent[arr] @ d, kind="stable")]
        cum = np.cumsum(weight[order])
        for cut in np.argsort(np.abs(cum - goal), kind="stable")[:12]:
            a, b = list(order[: cut + 1]), list(order[cut + 1 :])
            if not a or not b:
                continue
            err = abs(cum[cut] - goal) / goal
            if best is not None and err >= best[0]:
                continue
            if _connected(a, adj) and _connected(b, adj):
                best = (err, [int(i) for i in a], [int(i) for i in b])
    if best is None:
        raise RuntimeError("could not bisect a sector into contiguous parts")
    return _bisect(best[1], k1, weight, cent, adj) + _bisect(best[2], k - k1, weight, cent, adj)


def _partition_communities(
    weight: np.ndarray,
    cent: np.ndarray,
    sector: np.ndarray,
    adj: dict[int, dict[int, float]],
) -> list[list[int]]:
    """Group blocks into N_COMMUNITIES contiguous communities following the main-road sectors."""
    n_sectors = int(sector.max()) + 1
    sectors = {s: [i for i in range(len(weight)) if sector[i] == s] for s in range(n_sectors)}
    sectors = {s: ids for s, ids in sectors.items() if ids}
    per = weight.sum() / N_COMMUNITIES
    # merge sectors too light to carry a community of their own
    while True:
        sw = {s: weight[ids].sum() for s, ids in sectors.items()}
        light = [s for s in sorted(sectors, key=lambda s: sw[s]) if sw[s] < 0.6 * per]
        if not light:
            break
        s = light[0]
        nb: dict[int, float] = {}
        for i in sectors[s]:
            for j, length in adj[i].items():
                t = int(sector[j])
                if t != s:
                    nb[t] = nb.get(t, 0.0) + length
        if not nb:
            break
        t = min(nb, key=lambda t: (sw[t], -nb[t]))
        for i in sectors[s]:
            sector[i] = t
        sectors[t] = sorted(sectors[t] + sectors.pop(s))
    sw = {s: weight[ids].sum() for s, ids in sectors.items()}
    k = {s: max(1, round(sw[s] / per)) for s in sectors}
    while sum(k.values()) > N_COMMUNITIES:
        s = min((s for s in k if k[s] > 1), key=lambda s: sw[s] / (k[s] - 1))
        k[s] -= 1
    while sum(k.values()) < N_COMMUNITIES:
        s = max(k, key=lambda s: sw[s] / k[s])
        k[s] += 1
    parts: list[list[int]] = []
    for s in sorted(sectors):
        parts += _bisect(sectors[s], k[s], weight, cent, adj)
    return parts


# --------------------------------------------------------------------------------------
# places
# --------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------
# build
# --------------------------------------------------------------------------------------


def build(seed: int = SEED) -> DemoData:
    """Generate the whole demo data set in memory (deterministic for a given seed)."""
    rng = np.random.default_rng(seed)

    # ---- outline and roads -----------------------------------------------------------
    outline = _street_outline(rng)
    mains, old_quarter, envelope = _main_roads(rng)
    secondaries = _secondary_grid(rng, outline, old_quarter, envelope)
    coarse = _faces_inside(
        shapely.get_parts(
            shapely.unary_union(
                [outline.boundary, *[r.geom for r in mains + secondaries]], grid_size=GRID_SIZE
            )
        ),
        outline,
    )
    lanes = _subdivide(rng, coarse, old_quarter, envelope)
    roads = mains + secondaries + lanes
    _name_roads(rng, roads)

    net = _build_network([r.geom for r in roads], outline)
    road_tree = shapely.STRtree([r.geom for r in roads])
    probe_pts = shapely.points([_segment_probe(e)[0] for e in net.edges])
    src = road_tree.nearest(probe_pts)
    on_outline = (net.left < 0) | (net.right < 0)
    is_main = np.array([roads[s].cls == "main" for s in src]) & ~on_outline
    groups = _merge_small_faces(net, is_main)
    gl = np.where(net.left >= 0, groups[np.maximum(net.left, 0)], -1)
    gr = np.where(net.right >= 0, groups[np.maximum(net.right, 0)], -1)
    kept = np.flatnonzero(gl != gr)
    roots = np.unique(groups)
    block_of_root = {int(g): i for i, g in enumerate(roots)}
    bl = np.array([block_of_root.get(int(g), -1) for g in gl])
    br = np.array([block_of_root.get(int(g), -1) for g in gr])
    n_blocks = len(roots)

    # metric block polygons, rebuilt from the kept edges
    blocks = _faces_inside([net.edges[i] for i in kept], outline)
    face_tree = shapely.STRtree(net.faces)
    bi, fi = face_tree.query(
        shapely.point_on_surface(np.array(blocks, dtype=object)), predicate="within"
    )
    block_poly: list[Polygon | None] = [None] * n_blocks
    for b, f in zip(bi, fi, strict=True):
        block_poly[block_of_root[int(groups[f])]] = blocks[b]
    if len(blocks) != n_blocks or any(p is None for p in block_poly):
        raise RuntimeError("block reconstruction failed")
    bpoly: list[Polygon] = [p for p in block_poly if p is not None]

    # ---- block attributes and adjacency -----------------------------------------------
    cent = np.array([p.representative_point().coords[0] for p in bpoly])
    zone = [_zone_of(shapely.Point(c), old_quarter, envelope) for c in cent]
    adj: dict[int, dict[int, float]] = {i: {} for i in range(n_blocks)}
    for e in kept:
        a, b = int(bl[e]), int(br[e])
        if a >= 0 and b >= 0:
            adj[a][b] = adj[a].get(b, 0.0) + net.edges[e].length
            adj[b][a] = adj[b].get(a, 0.0) + net.edges[e].length
    area = np.array([p.area for p in bpoly])
    dist_old = np.hypot(cent[:, 0] - OLD_CENTER[0], cent[:, 1] - OLD_CENTER[1])
    density = np.where(
        np.array(zone) == ZONE_OLD,
        9.0,
        np.where(
            np.array(zone) == ZONE_MID, 1.2 + 3.0 * np.exp(-(((dist_old - 650) / 900) ** 2)), 0.35
        ),
    )
    density = density * rng.lognormal(0.0, 0.35, n_blocks)
    residential = rng.uniform(0, 1, n_blocks) > np.where(np.array(zone) == ZONE_OLD, 0.06, 0.14)
    weight = area * density * residential / 1e4

    # ---- communities --------------------------------------------------------------------
    main_lines = [r.geom for r in roads if r.cls == "main"]
    sectors = _faces_inside(
        shapely.get_parts(
            shapely.unary_union([outline.boundary, *main_lines], grid_size=GRID_SIZE)
        ),
        outline,
    )
    sec_tree = shapely.STRtree(sectors)
    pi, si = sec_tree.query(shapely.points(cent), predicate="within")
    sector = np.zeros(n_blocks, dtype=int)
    sector[pi] = si
    parts = _partition_communities(weight, cent, sector, adj)
    comm_of_block = np.empty(n_blocks, dtype=int)
    # order communities: old-quarter ones first, then by angle around the old centre
    part_info = []
    for p in parts:
        w_old = sum(weight[i] for i in p if zone[i] == ZONE_OLD)
        c = np.average(cent[p], axis=0, weights=area[p])
        ang = math.atan2(c[1] - OLD_CENTER[1], c[0] - OLD_CENTER[0])
        part_info.append((0 if w_old > 0.5 * weight[p].sum() else 1, -ang, p))
    part_info.sort(key=lambda t: (t[0], t[1]))
    comm_names = _community_names([(t[0] == 1, -t[1]) for t in part_info])
    for ci, (_, _, p) in enumerate(part_info):
        comm_of_block[p] = ci
    codes = [f"{STREET['code']}{i + 1:02d}" for i in range(N_COMMUNITIES)]

    # ---- 4326 geometry from rounded edges ---------------------------------------------
    edges84 = {int(e): _to_wgs84(net.edges[e]) for e in kept}
    street84 = _polygon_faces([edges84[e] for e in kept if bl[e] < 0 or br[e] < 0])
    if len(street84) != 1:
        raise RuntimeError("street outline does not polygonize into one polygon")
    comm84: list[Any] = []
    cl = np.where(bl >= 0, comm_of_block[np.maximum(bl, 0)], -1)
    cr = np.where(br >= 0, comm_of_block[np.maximum(br, 0)], -1)
    for ci in range(N_COMMUNITIES):
        ring_edges = [edges84[int(e)] for e in kept if (cl[e] == ci) != (cr[e] == ci)]
        faces = _polygon_faces(ring_edges)
        mine = [f for f in faces if _face_in_community(f, ci, comm_of_block, bpoly)]
        geom = mine[0] if len(mine) == 1 else shapely.MultiPolygon(mine)
        comm84.append(shapely.orient_polygons(geom))
    blocks84 = _polygon_faces([edges84[e] for e in kept])
    if len(blocks84) != n_blocks:
        raise RuntimeError(f"rounded edges give {len(blocks84)} blocks, expected {n_blocks}")

    outline_edges = [net.edges[e] for e in kept if bl[e] < 0 or br[e] < 0]
    street_metric = _faces_inside(outline_edges, outline)[0]
    district = _district(rng, street_metric)
    district84 = shapely.orient_polygons(_to_wgs84(district))
    if not district84.contains(street84[0]):
        raise RuntimeError("district does not contain the street")

    features = [
        _feature(district84, {**DISTRICT, "level": "district", "parent_code": None}),
        _feature(
            shapely.orient_polygons(street84[0]),
            {**STREET, "level": "street", "parent_code": DISTRICT["code"]},
        ),
    ]
    for ci in range(N_COMMUNITIES):
        zh, en = comm_names[ci]
        props = {
            "code": codes[ci],
            "name": f"{zh}社区",
            "name_en": f"{en} Community",
            "level": "community",
            "parent_code": STREET["code"],
        }
        features.append(_feature(comm84[ci], props))
    areas = {"type": "FeatureCollection", "features": features}

    # ---- roads in 4326 ------------------------------------------------------------------
    road_edges: dict[int, list[Any]] = {}
    for e in kept:
        if bl[e] >= 0 and br[e] >= 0:
            road_edges.setdefault(int(src[e]), []).append(edges84[int(e)])
    order = {"main": 0, "secondary": 1, "lane": 2}
    road_features = []
    for ri in sorted(road_edges, key=lambda r: (order[roads[r].cls], r)):
        merged = shapely.line_merge(shapely.MultiLineString(road_edges[ri]))
        for part in shapely.get_parts(merged):
            road_features.append(_feature(part, {"name": roads[ri].name, "class": roads[ri].cls}))
    roads_fc = {"type": "FeatureCollection", "features": road_features}

    # ---- places ---------------------------------------------------------------------------
    kept_roads = [int(e) for e in kept if bl[e] >= 0 and br[e] >= 0]
    places, place_stats = _make_places(
        rng,
        bpoly=bpoly,
        zone=zone,
        weight=weight,
        comm_of_block=comm_of_block,
        comm_names=comm_names,
        codes=codes,
        edges=[net.edges[e] for e in kept_roads],
        edge_sides=[(int(bl[e]), int(br[e])) for e in kept_roads],
        edge_road=[roads[int(src[e])] for e in kept_roads],
    )

    hh = np.bincount(
        [codes.index(p["community_code"]) for p in places if p["type"] == "household"],
        minlength=N_COMMUNITIES,
    )
    stats = {
        "street_km2": street_metric.area / 1e6,
        "district_km2": district.area / 1e6,
        "blocks": n_blocks,
        "roads": len(road_features),
        "road_classes": {
            c: sum(1 for f in road_features if f["properties"]["class"] == c) for c in order
        },
        "households_per_community": {codes[i]: int(hh[i]) for i in range(N_COMMUNITIES)},
        "community_km2": {
            codes[i]: float(sum(area[comm_of_block == i]) / 1e6) for i in range(N_COMMUNITIES)
        },
        **place_stats,
    }
    return DemoData(areas=areas, roads=roads_fc, places=places, stats=stats)


def _community_names(parts: list[tuple[bool, float]]) -> list[tuple[str, str]]:
    """Names for (is_new, bearing from the old centre) parts; 东门 east and 西街 west."""
    names: list[tuple[str, str] | None] = [None] * len(parts)
    old = [i for i, (is_new, _) in enumerate(parts) if not is_new]
    fixed = {"东门": 0.0, "西街": math.pi}
    pool = [n for n in OLD_COMMUNITY_NAMES if n[0] not in fixed]
    for zh, bearing in fixed.items():
        free = [i for i in old if names[i] is None]
        if free:
            gap = [abs(math.remainder(parts[i][1] - bearing, 2 * math.pi)) for i in free]
            names[free[int(np.argmin(gap))]] = next(n for n in OLD_COMMUNITY_NAMES if n[0] == zh)
    rest = iter(pool)
    new = iter(NEW_COMMUNITY_NAMES)
    return [n if n is not None else next(new if parts[i][0] else rest) for i, n in enumerate(names)]


def _face_in_community(
    face: Polygon, ci: int, comm_of_block: np.ndarray, bpoly: list[Polygon]
) -> bool:
    pt = _to_metric_point(face.representative_point())
    return any(bpoly[i].contains(pt) for i in np.flatnonzero(comm_of_block == ci))


_TO_METRIC = Transformer.from_crs("EPSG:4326", METRIC_CRS, always_xy=True)


def _to_metric_point(pt: Any) -> Any:
    x, y = _TO_METRIC.transform(pt.x, pt.y)
    return shapely.Point(x, y)


def _district(rng: np.random.Generator, street: Polygon) -> Polygon:
    c = street.centroid
    blob = Polygon(
        _polar_blob(rng, (c.x + 2600, c.y - 1800), 4200.0, 90, [0.12, 0.07, 0.04], 1.2, 0.9, -0.4)
    )
    d = shapely.unary_union([street.buffer(1200.0, quad_segs=6), blob]).simplify(60.0)
    d = shapely.set_precision(d, 1.0)
    if not d.contains(street.buffer(300.0)):
        raise RuntimeError("district polygon does not contain the street")
    return d


def _name_roads(rng: np.random.Generator, roads: list[_Road]) -> None:
    used = {r.name for r in roads if r.cls == "main"}
    themes = list(ROAD_THEMES)
    rng.shuffle(themes)

    def pool(suffixes: list[str]) -> list[str]:
        names = [t + s for s in suffixes for t in themes]
        return [n for n in names if n not in used]

    pools = {
        "secondary": iter(pool(SECONDARY_SUFFIXES)),
        "lane": iter(pool(LANE_SUFFIXES)),
        "outer": iter(pool(OUTER_LANE_SUFFIXES)),
    }
    for r in roads:
        if r.cls == "main":
            continue
        key = "outer" if (r.zone == ZONE_OUTER and r.cls == "lane") else r.cls
        name = next(pools[key])
        while name in used:
            name = next(pools[key])
        used.add(name)
        r.name = name


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


# --------------------------------------------------------------------------------------
# serialisation
# --------------------------------------------------------------------------------------


def _feature(geom: Any, props: dict[str, Any]) -> dict[str, Any]:
    return {"type": "Feature", "properties": props, "geometry": _geojson_geometry(geom)}


def _geojson_geometry(geom: Any) -> dict[str, Any]:
    def clean(obj: Any) -> Any:
        if isinstance(obj, (tuple, list)):
            return [clean(o) for o in obj]
        return round(float(obj), 7)

    m = mapping(geom)
    return {"type": m["type"], "coordinates": clean(m["coordinates"])}


def _dump_feature_collection(fc: dict[str, Any]) -> str:
    lines = ['{"type":"FeatureCollection","features":[']
    feats = fc["features"]
    for i, f in enumerate(feats):
        sep = "," if i < len(feats) - 1 else ""
        lines.append(json.dumps(f, ensure_ascii=False, separators=(",", ":")) + sep)
    lines.append("]}")
    return "\n".join(lines) + "\n"


PLACE_COLUMNS = ["external_id", "type", "name", "lon", "lat", "community_code", "attributes"]


def _dump_places(rows: list[dict[str, str]]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=PLACE_COLUMNS, lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue()


def _readme(stats: dict[str, Any]) -> str:
    other = ", ".join(f"{n} {t}" for t, n in stats["other_places"].items())
    hh = stats["households_per_community"].values()
    return (
        "# Demo geography (invented)\n\n"
        "Everything here is invented: 新桥新区 / 青石街道 and its communities, roads, "
        "households, enterprises and places do not exist; no real people appear.\n"
        f"- `areas.geojson`: 1 district, 1 street ({stats['street_km2']:.2f} km²), "
        f"{N_COMMUNITIES} communities tiling it exactly (EPSG:4326, 7 decimals).\n"
        f"- `roads.geojson`: {stats['roads']} road lines (main/secondary/lane); with the street "
        f"outline they polygonize into {stats['blocks']} blocks.\n"
        f"- `places.csv`: {stats['households']} households ({min(hh)}–{max(hh)} per community), "
        f"{stats['enterprises']} enterprises, {other}.\n"
        "- Regenerate (deterministic, fixed seed): `python -m seeds.generate_demo` "
        "from the repository root.\n"
    )


def main(argv: Sequence[str] | None = None) -> None:
    """Generate the demo data and write it to ``seeds/demo/`` (or the directory given)."""
    args = list(sys.argv[1:] if argv is None else argv)
    out_dir = Path(args[0]) if args else OUT_DIR
    data = build()
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, text in data.files().items():
        (out_dir / name).write_text(text, encoding="utf-8")
    s = data.stats
    print(
        f"wrote {out_dir}: street {s['street_km2']:.2f} km2, {s['blocks']} blocks, "
        f"{s['households']} households, {s['enterprises']} enterprises, {s['other_places']}"
    )


if __name__ == "__main__":
    main()
