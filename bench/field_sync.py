"""Terminal sync on PostGIS: visit ingest through the API against raw inserts; bundle build time.

``python -m bench.field_sync [--batches 40]``

1. Ingest: ``--batches`` × 500 visit records posted to ``POST /api/v1/sync/visits`` in
   process (JSON parsing, validation, flags, per-item results, the database's
   exactly-once insert), against a bare psycopg ``INSERT ... ON CONFLICT (uuid) DO
   NOTHING`` of the same rows (under other UUIDs) into the same table, 500 per
   ``executemany`` and one commit per batch. Target: ours ≥ 30 % of raw.
2. Bundle: the full bundle of a worker holding two cells of the demo street with
   300 registered households (``GET /api/v1/sync/bundle``), best of five.

Works on a scratch database (``GRIDSERVE_BENCH_DATABASE_URL``, default
``gridserve_bench_sync`` on the local server), dropped and created afresh.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import time
import uuid

import numpy as np
import psycopg
import shapely

from bench.common import fresh_app
from gridserve import audit
from gridserve.db import transaction
from gridserve.extensions import db
from gridserve.scope import OPERATOR
from gridserve.services.field import workers as worker_service
from gridserve.services.geography.places import current_cells
from gridserve.spatial import to_shapely
from gridserve.timeutil import local_today
from seeds.loader import load_demo

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/gridserve_bench_sync"
PASSWORD = "bench-pass-123"
BATCH = 500


def _setup(app, client) -> tuple[dict[str, str], list, list[int]]:
    """Demo data; worker1 made part-time with two cells and 300 households; a terminal."""
    with app.app_context(), audit.acting_as(audit.Actor(kind="cli", name="bench")):
        today = local_today()
        with transaction():
            load_demo(password=PASSWORD, today=today)
        with transaction():
            from gridserve.services.accounts.users import find_by_username

            user = find_by_username("worker1")
            worker = worker_service.worker_for_user(user.id)  # the demo gives worker1 a cell
            worker_service.update_worker(OPERATOR, worker.id, {"employment": "part_time"}, today)
            held = {a.cell_code for a in worker_service.open_assignments(worker.id, today)}
            others = sorted(
                (c for c in current_cells([user.area_id], today) if c.code not in held),
                key=lambda c: -c.place_count,
            )
            worker_service.assign(OPERATOR, worker.id, others[0].code, today, today)
            codes = held | {others[0].code}
            cells = [c for c in current_cells([user.area_id], today) if c.code in codes]
            geoms = [to_shapely(c.geom) for c in cells]
            cell_ids = [c.id for c in cells]
            worker_id = worker.id
    station = _login(client, "station1")
    with app.app_context():
        from gridserve.models import Household

        registered = set(db.session.execute(db.select(Household.place_id)).scalars())
    places = []
    for cell_id in cell_ids:
        page = client.get(f"/api/v1/places?cell={cell_id}&type=household&page_size=500",
                          headers=station).get_json()  # fmt: skip
        places += page
    already = sum(p["id"] in registered for p in places)
    places = [p for p in places if p["id"] not in registered]
    for i, place in enumerate(places[: 300 - already]):
        resp = client.post(
            "/api/v1/households",
            json={"place_id": place["id"], "door_number": f"{i}", "address": "演示路",
                  "phone": f"139{i:08d}", "id_number": "11010519491231002X",
                  "members": [{"name": "演示", "relation": "户主", "work_unit": "无"}]},
            headers=station,
        )  # fmt: skip
        assert resp.status_code == 201, resp.get_json()
    code = client.post(f"/api/v1/workers/{worker_id}/enrolment-codes", headers=station)
    token = client.post("/api/v1/devices/enrol", json={"code": code.get_json()["code"]})
    terminal = {"Authorization": f"Bearer {token.get_json()['device_token']}"}
    return terminal, geoms, cell_ids


def _login(client, username: str) -> dict[str, str]:
    resp = client.post("/api/v1/auth/token", json={"username": username, "password": PASSWORD})
    return {"Authorization": f"Bearer {resp.get_json()['access_token']}"}


def _items(geoms, n: int, rng: np.random.Generator) -> list[dict]:
    area = shapely.union_all(geoms)
    minx, miny, maxx, maxy = area.bounds
    xs, ys = [], []
    while len(xs) < n:
        x = rng.uniform(minx, maxx, n)
        y = rng.uniform(miny, maxy, n)
        inside = shapely.contains_xy(area, x, y)
        xs += x[inside].tolist()
        ys += y[inside].tolist()
    now = dt.datetime.now(dt.UTC)
    return [
        {
            "uuid": str(uuid.uuid4()),
            "type": "patrol",
            "started_at": (now - dt.timedelta(minutes=int(rng.integers(10, 600)))).isoformat(),
            "location": {"lon": xs[i], "lat": ys[i], "accuracy_m": float(rng.uniform(3, 30))},
            "notes": "巡查正常",
            "answers": {"hazards": 0},
        }
        for i in range(n)
    ]


def _raw_insert(url: str, items: list[dict], worker_id: int, community_id: int) -> float:
    """The anchor: the same rows into the same table (its indexes, keys and constraints)."""
    with psycopg.connect(url) as conn:
        sql = (
            "INSERT INTO visits (uuid, worker_id, kind, started_at, geom, accuracy_m,"
            " mock_location, notes, answers, attachments, flags, community_id, content_hash,"
            " version, received_at, updated_at) VALUES (%s, %s, %s, %s,"
            " ST_GeomFromEWKT(%s), %s, false, %s, %s, '[]', '[]', %s, %s, 1, now(), now())"
            " ON CONFLICT (uuid) DO NOTHING"
        )
        rows = [
            (
                str(uuid.uuid5(uuid.NAMESPACE_URL, it["uuid"])), worker_id, it["type"],
                it["started_at"],
                f"SRID=4326;POINT({it['location']['lon']} {it['location']['lat']})",
                it["location"]["accuracy_m"], it["notes"], json.dumps(it["answers"]),
                community_id, "0" * 64,
            )
            for it in items
        ]  # fmt: skip
        started = time.perf_counter()
        with conn.cursor() as cur:
            for i in range(0, len(rows), BATCH):
                cur.executemany(sql, rows[i : i + BATCH])
                conn.commit()
        return time.perf_counter() - started


def run(batches: int = 40, url: str | None = None) -> dict[str, float]:
    url = url or os.environ.get("GRIDSERVE_BENCH_DATABASE_URL", DEFAULT_URL)
    app = fresh_app(url)
    client = app.test_client()
    terminal, geoms, _cells = _setup(app, client)
    rng = np.random.default_rng(42)
    items = _items(geoms, batches * BATCH, rng)

    # The terminal encodes its batches before sending; the server's work starts at the request.
    bodies = [json.dumps({"items": items[i : i + BATCH]}) for i in range(0, len(items), BATCH)]
    headers = terminal | {"Content-Type": "application/json"}
    started = time.perf_counter()
    responses = [client.post("/api/v1/sync/visits", data=body, headers=headers) for body in bodies]
    ours = time.perf_counter() - started
    for resp in responses:
        statuses = {r["status"] for r in resp.get_json()["results"]}
        assert statuses == {"created"}, statuses
    with app.app_context():
        from gridserve.models import Visit
        from gridserve.services.accounts.users import find_by_username

        first = db.session.query(Visit).first()
        worker_id, community_id = first.worker_id, first.community_id
        user = find_by_username("worker1")
        assert user is not None
    raw = _raw_insert(url, items, worker_id, community_id)

    times = []
    body = {}
    for _ in range(5):
        started = time.perf_counter()
        resp = client.get("/api/v1/sync/bundle?page_size=10000", headers=terminal)
        times.append(time.perf_counter() - started)
        body = resp.get_json()
    n = len(items)
    print(f"visit ingest: {n:,} records in {batches} batches of {BATCH} (PostGIS)")
    print(f"{'method':<44}{'seconds':>9}{'records/s':>12}")
    print(f"{'POST /api/v1/sync/visits (whole stack)':<44}{ours:>9.2f}{n / ours:>12,.0f}")
    print(f"{'raw psycopg INSERT ... ON CONFLICT DO NOTHING':<44}{raw:>9.2f}{n / raw:>12,.0f}")
    print(f"ours / raw: {raw / ours:.0%} (target >= 30%)")
    print(
        f"bundle: {len(body['households'])} households, {len(body['places'])} places, "
        f"{len(body['cells']['features'])} cells: best {min(times) * 1000:.0f} ms, "
        f"median {sorted(times)[2] * 1000:.0f} ms"
    )
    return {"ours_s": ours, "raw_s": raw, "bundle_s": min(times)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=40)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    run(args.batches, args.database_url)


if __name__ == "__main__":
    main()
