"""Bulk point-in-cell: ours against a PostGIS ``ST_Contains`` join, same data, same run.

``python -m bench.point_in_cell [--points 1000000]``

The cells are the demo street's 140 balanced cells (EPSG:4326). The points are
uniformly random over the street's bounding box, from a fixed seed. Both sides
start from data already in their store (numpy arrays for us; tables with GiST
indexes for PostGIS) and produce the full point → cell mapping (for PostGIS a
``CREATE TEMP TABLE ... AS SELECT ... JOIN ... ON ST_Contains``). The best of
three runs is reported, and the two mappings are checked to agree.

PostgreSQL: ``GRIDSERVE_BENCH_DATABASE_URL`` (default: a ``gridserve_bench``
database on the local server, created with PostGIS when missing).
"""

from __future__ import annotations

import argparse
import io
import os
import time

import numpy as np
import psycopg
import shapely
from shapely.geometry import MultiPolygon

from bench.partition_demo import TOTAL_CELLS, load_demo
from geo import partition
from geo.apportion import largest_remainder
from geo.assign import assign_points
from geo.projection import to_wgs84

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/gridserve_bench"


def demo_cells() -> list[MultiPolygon]:
    """The 140 balanced cells of the demo street, in EPSG:4326."""
    demo = load_demo()
    shares = largest_remainder([float(c.weights.sum()) for c in demo.communities], TOTAL_CELLS)
    cells_m = []
    for community, k in zip(demo.communities, shares, strict=True):
        cells_m += partition.balanced(community.geom, community.xy, community.weights, k)
    crs = demo.crs
    return [MultiPolygon(list(shapely.get_parts(to_wgs84(c, crs)))) for c in cells_m]


def _database(url: str) -> psycopg.Connection:
    try:
        return psycopg.connect(url, autocommit=True)
    except psycopg.OperationalError:
        admin = url.rsplit("/", 1)[0] + "/postgres"
        name = url.rsplit("/", 1)[1]
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        conn = psycopg.connect(url, autocommit=True)
        conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
        return conn


def _load_postgis(conn, cells, lon, lat) -> None:
    conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    conn.execute("DROP TABLE IF EXISTS bench_points, bench_cells")
    conn.execute("CREATE TABLE bench_cells (id int PRIMARY KEY, geom geometry(MultiPolygon, 4326))")
    conn.execute("CREATE TABLE bench_points (id int PRIMARY KEY, geom geometry(Point, 4326))")
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO bench_cells VALUES (%s, ST_GeomFromWKB(%s, 4326))",
            [(i, shapely.to_wkb(c)) for i, c in enumerate(cells)],
        )
        buf = io.StringIO()
        for i, (x, y) in enumerate(zip(lon.tolist(), lat.tolist(), strict=True)):
            buf.write(f"{i}\tSRID=4326;POINT({x!r} {y!r})\n")
        buf.seek(0)
        with cur.copy("COPY bench_points (id, geom) FROM STDIN") as copy:
            while chunk := buf.read(1 << 20):
                copy.write(chunk)
    conn.execute("CREATE INDEX ON bench_cells USING gist (geom)")
    conn.execute("CREATE INDEX ON bench_points USING gist (geom)")
    conn.execute("ANALYZE bench_cells")
    conn.execute("ANALYZE bench_points")


def _postgis_join(conn) -> tuple[float, np.ndarray]:
    conn.execute("DROP TABLE IF EXISTS bench_result")
    started = time.perf_counter()
    conn.execute(
        "CREATE TEMP TABLE bench_result AS SELECT p.id AS pid, c.id AS cid "
        "FROM bench_points p JOIN bench_cells c ON ST_Contains(c.geom, p.geom)"
    )
    seconds = time.perf_counter() - started
    rows = conn.execute("SELECT pid, cid FROM bench_result").fetchall()
    return seconds, np.array(rows, dtype=np.int64).reshape(-1, 2)


def run(n_points: int = 1_000_000, url: str | None = None, repeat: int = 3) -> dict[str, float]:
    cells = demo_cells()
    minx, miny, maxx, maxy = shapely.bounds(shapely.union_all(cells))
    rng = np.random.default_rng(20261124)
    lon = rng.uniform(minx, maxx, n_points)
    lat = rng.uniform(miny, maxy, n_points)

    ours_times = []
    for _ in range(repeat):
        fresh = [shapely.from_wkb(shapely.to_wkb(c)) for c in cells]  # unprepared each run
        started = time.perf_counter()
        ours = assign_points(lon, lat, fresh)
        ours_times.append(time.perf_counter() - started)

    conn = _database(url or os.environ.get("GRIDSERVE_BENCH_DATABASE_URL", DEFAULT_URL))
    _load_postgis(conn, cells, lon, lat)
    pg_times = []
    for _ in range(repeat):
        seconds, pairs = _postgis_join(conn)
        pg_times.append(seconds)
    conn.execute("DROP TABLE IF EXISTS bench_points, bench_cells, bench_result")
    conn.close()

    theirs = np.full(n_points, -1, dtype=np.int64)
    theirs[pairs[:, 0]] = pairs[:, 1]
    agree = float((theirs == ours).mean())
    best_ours, best_pg = min(ours_times), min(pg_times)
    print(f"point-in-cell: {n_points:,} points, {len(cells)} cells (demo street, balanced)")
    print(f"{'method':<34}{'seconds':>10}{'points/s':>14}")
    print(f"{'gridserve geo.assign_points':<34}{best_ours:>10.3f}{n_points / best_ours:>14,.0f}")
    print(f"{'PostGIS ST_Contains join (GiST)':<34}{best_pg:>10.3f}{n_points / best_pg:>14,.0f}")
    print(f"speed-up vs PostGIS: {best_pg / best_ours:.1f}x; mappings agree on {agree:.6%}")
    inside = int((ours >= 0).sum())
    print(f"points inside the street: {inside:,}")
    return {"ours_s": best_ours, "postgis_s": best_pg, "agree": agree}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    run(args.points, args.database_url)


if __name__ == "__main__":
    main()
