"""The demo's ground: constants, geometry helpers, the road network, blocks, communities.

Part of the demo generator (:mod:`seeds.generate_demo`); geometry is in metres in the
local equal-area CRS until :func:`_to_wgs84`.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import shapely
import shapely.affinity
import shapely.ops
from pyproj import Transformer
from shapely.geometry import LineString, Polygon

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


@dataclass
class _Road:
    name: str
    cls: str  # main | secondary | lane
    geom: LineString
    zone: str = ""  # for lanes cut by _subdivide: the zone they were cut in (naming only)


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
