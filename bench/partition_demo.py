"""Measure the grid partitioning methods on the demo street (``python -m bench.partition_demo``).

Loads ``seeds/demo`` (areas, roads, places), projects to the local metric CRS the
service uses (``geo.projection``), apportions 140 cells to the 18 communities of street
``QS`` by household count (largest remainder, at least one each) and partitions every community with
``geo.partition.balanced``, ``geo.partition.blocks`` and a baseline of regular squares
clipped to the communities. Workload is 1 per household, 0 for other places.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import shapely
from pyproj import CRS, Transformer
from shapely.geometry import Polygon, shape
from shapely.geometry.base import BaseGeometry

from geo import partition, regular
from geo.apportion import largest_remainder
from geo.projection import WGS84, crs_for, to_metric

DEMO = Path(__file__).resolve().parent.parent / "seeds" / "demo"
STREET = "QS"
TOTAL_CELLS = 140


@dataclass
class Community:
    code: str
    geom: Polygon
    xy: np.ndarray  # all places of the community (metres)
    weights: np.ndarray  # 1 per household, else 0


@dataclass
class Demo:
    street: BaseGeometry
    communities: list[Community]
    roads: list[BaseGeometry]
    crs: CRS


def load_demo(root: Path = DEMO) -> Demo:
    """Read the demo files and project everything to metres, as the service does."""
    areas = json.loads((root / "areas.geojson").read_text(encoding="utf-8"))["features"]
    outline = next(shape(f["geometry"]) for f in areas if f["properties"]["code"] == STREET)
    crs = crs_for(outline)
    tr = Transformer.from_crs(WGS84, crs, always_xy=True)

    def project(g: BaseGeometry) -> BaseGeometry:
        return to_metric(g, crs)

    street = project(outline)
    comms: dict[str, Polygon] = {}
    for f in areas:
        p = f["properties"]
        if p.get("level") == "community" and p.get("parent_code") == STREET:
            comms[p["code"]] = project(shape(f["geometry"]))
    roads_fc = json.loads((root / "roads.geojson").read_text(encoding="utf-8"))["features"]
    roads = [project(shape(f["geometry"])) for f in roads_fc]
    by_comm: dict[str, list[tuple[float, float, float]]] = {c: [] for c in comms}
    with (root / "places.csv").open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            code = row["community_code"]
            if code in by_comm:
                wt = 1.0 if row["type"] == "household" else 0.0
                by_comm[code].append((float(row["lon"]), float(row["lat"]), wt))
    communities = []
    for code in sorted(comms):
        arr = np.array(by_comm[code], dtype=float).reshape(-1, 3)
        x, y = tr.transform(arr[:, 0], arr[:, 1])
        communities.append(Community(code, comms[code], np.column_stack([x, y]), arr[:, 2]))
    return Demo(street, communities, roads, crs)


def cell_counts(demo: Demo, total: int = TOTAL_CELLS) -> list[int]:
    return largest_remainder([float(c.weights.sum()) for c in demo.communities], total)


def square_size(demo: Demo, total: int = TOTAL_CELLS) -> float:
    """Side length giving the number of non-empty clipped squares closest to ``total``."""

    def count(size: float) -> int:
        return sum(len(regular.square(c.geom, size)) for c in demo.communities)

    lo, hi = 20.0, math.sqrt(demo.street.area)
    best = (abs(count(hi) - total), hi)
    for _ in range(30):
        mid = 0.5 * (lo + hi)
        k = count(mid)
        best = min(best, (abs(k - total), mid))
        if k > total:
            lo = mid
        else:
            hi = mid
    return best[1]


@dataclass
class Result:
    method: str
    cells: list[BaseGeometry]
    loads: np.ndarray
    community_loads: list[np.ndarray]
    seconds: float
    gap: float
    overlap: float
    multi: int
    misplaced: int
    on_street: float


def _internal_borders(region: BaseGeometry, cells: list[BaseGeometry]) -> BaseGeometry:
    """Cell borders inside ``region`` (its own boundary removed)."""
    lines = shapely.union_all([c.boundary for c in cells])
    return shapely.difference(lines, shapely.buffer(region.boundary, 0.01))


def measure(demo: Demo, method: str, run: Callable[[Community, int], list[BaseGeometry]]) -> Result:
    """Run ``run`` on every community and measure the layout of the whole street."""
    counts = cell_counts(demo)
    cells: list[BaseGeometry] = []
    per_comm: list[np.ndarray] = []
    misplaced = 0
    seconds = 0.0
    border_len = street_len = 0.0
    road_arr = np.array(demo.roads, dtype=object)
    road_tree = shapely.STRtree(road_arr)
    for comm, k in zip(demo.communities, counts, strict=True):
        t0 = time.perf_counter()
        cs = run(comm, k)
        seconds += time.perf_counter() - t0
        inside = np.zeros(len(comm.xy), dtype=int)
        loads = []
        for c in cs:
            hit = shapely.contains_xy(c, comm.xy[:, 0], comm.xy[:, 1])
            inside += hit
            loads.append(float(comm.weights[hit].sum()))
        misplaced += int((inside != 1).sum())
        per_comm.append(np.array(loads))
        cells.extend(cs)
        borders = _internal_borders(comm.geom, cs)
        near = road_arr[road_tree.query(comm.geom.buffer(5.0), predicate="intersects")]
        road_zone = shapely.union_all(shapely.buffer(near, 1.0)) if len(near) else None
        border_len += borders.length
        if road_zone is not None:
            street_len += shapely.intersection(borders, road_zone).length
    union = shapely.union_all(cells)
    gap = float(shapely.difference(demo.street, union).area)
    gap += float(shapely.difference(union, demo.street).area)
    arr = np.array(cells, dtype=object)
    ii, jj = shapely.STRtree(arr).query(arr, predicate="intersects")
    keep = ii < jj
    overlap = float(shapely.area(shapely.intersection(arr[ii[keep]], arr[jj[keep]])).sum())
    multi = sum(1 for c in cells if c.geom_type != "Polygon")
    return Result(
        method,
        cells,
        np.concatenate(per_comm),
        per_comm,
        seconds,
        gap,
        overlap,
        multi,
        misplaced,
        street_len / border_len if border_len > 0 else 1.0,
    )


def polsby_popper(cells: list[BaseGeometry]) -> float:
    return float(np.mean([4 * math.pi * c.area / c.length**2 for c in cells]))


def run_all(demo: Demo, variants: bool = False) -> list[Result]:
    size = square_size(demo)

    def blocks(**kw: object) -> Callable[[Community, int], list[BaseGeometry]]:
        return lambda c, k: partition.blocks(c.geom, demo.roads, c.xy, c.weights, k, **kw)

    out = [
        measure(demo, "balanced", lambda c, k: partition.balanced(c.geom, c.xy, c.weights, k)),
        measure(demo, "blocks", blocks()),
    ]
    if variants:
        out.append(measure(demo, "blocks tol=.10", blocks(split_tolerance=0.10)))
        out.append(measure(demo, "blocks streets", blocks(split_tolerance=None)))
    out.append(measure(demo, f"square {size:.0f} m", lambda c, k: regular.square(c.geom, size)))
    return out


def table(results: list[Result]) -> str:
    head = (
        f"{'method':<16}{'cells':>6}{'max/mean':>9}{'in comm':>8}{'min':>6}{'mean':>7}{'max':>6}"
        f"{'PP':>7}{'multi':>6}{'gap m²':>9}{'overl. m²':>10}{'misplaced':>10}{'street%':>8}"
        f"{'time s':>8}"
    )
    lines = [head, "-" * len(head)]
    for r in results:
        mean = r.loads.mean()
        worst = max(
            (ld.max() / ld.mean() if ld.size and ld.mean() > 0 else math.inf)
            for ld in r.community_loads
        )
        lines.append(
            f"{r.method:<16}{len(r.cells):>6}{r.loads.max() / mean:>9.3f}{worst:>8.3f}"
            f"{r.loads.min():>6.0f}{mean:>7.1f}{r.loads.max():>6.0f}"
            f"{polsby_popper(r.cells):>7.3f}{r.multi:>6}{r.gap:>9.4f}{r.overlap:>10.4f}"
            f"{r.misplaced:>10}{100 * r.on_street:>8.1f}{r.seconds:>8.2f}"
        )
    return "\n".join(lines)


def per_community(demo: Demo, results: list[Result]) -> str:
    counts = cell_counts(demo)
    lines = [f"{'community':<10}{'cells':>6}" + "".join(f"{r.method[:14]:>16}" for r in results)]
    for i, (comm, k) in enumerate(zip(demo.communities, counts, strict=True)):
        row = f"{comm.code:<10}{k:>6}"
        for r in results:
            ld = r.community_loads[i]
            row += f"{ld.max() / ld.mean():>16.3f}"
        lines.append(row)
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--per-community", action="store_true", help="max/mean per community")
    ap.add_argument(
        "--variants", action="store_true", help="also blocks with split_tolerance 0.10 and None"
    )
    args = ap.parse_args(argv)
    demo = load_demo()
    counts = cell_counts(demo)
    codes = [c.code for c in demo.communities]
    print(f"street {STREET}: {len(demo.communities)} communities, {sum(counts)} cells")
    print("cells per community:", dict(zip(codes, counts, strict=True)))
    loads = np.array([c.weights.sum() for c in demo.communities])
    bound = (loads / np.array(counts)).max() / (loads.sum() / sum(counts))
    print(f"best possible street-wide max/mean with this apportionment: {bound:.3f}")
    results = run_all(demo, variants=args.variants)
    print(table(results))
    print(
        "max/mean: over all cells of the street; in comm: worst community's own max/mean;"
        " street%: share of internal cell-border length within 1 m of a road"
    )
    if args.per_community:
        print()
        print(per_community(demo, results[:-1]))


if __name__ == "__main__":
    main()
