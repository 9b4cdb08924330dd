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
from shapely.geometry import Polygon, mapping

from seeds.demo_ground import (
    DISTRICT,
    GRID_SIZE,
    LANE_SUFFIXES,
    METRIC_CRS,
    N_COMMUNITIES,
    NEW_COMMUNITY_NAMES,
    OLD_CENTER,
    OLD_COMMUNITY_NAMES,
    OUT_DIR,
    OUTER_LANE_SUFFIXES,
    ROAD_THEMES,
    SECONDARY_SUFFIXES,
    SEED,
    STREET,
    ZONE_MID,
    ZONE_OLD,
    ZONE_OUTER,
    _build_network,
    _faces_inside,
    _main_roads,
    _merge_small_faces,
    _partition_communities,
    _polar_blob,
    _polygon_faces,
    _Road,
    _secondary_grid,
    _segment_probe,
    _street_outline,
    _subdivide,
    _to_wgs84,
    _zone_of,
)
from seeds.demo_places import _make_places


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
