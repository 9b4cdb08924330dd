"""The street's case list on PostgreSQL: ours (``GET /api/v1/tasks`` with the case filters and
paging, in process) against the same hand-written ``SELECT ... LIMIT 50 OFFSET ...``.

``python -m bench.case_list`` (or ``python -m bench case_list``)

A scratch database (``GRIDSERVE_BENCH_DATABASE_URL``, default ``gridserve_bench_caselist`` on
the local server, dropped and created afresh) gets the demo's areas and users (no place
register), the case categories, and then in bulk (``INSERT ... SELECT generate_series``, no ORM
per row) 100,000 cases spread over the street's communities: every category, level, status and
source, created over the last 180 days, a point each, some overdue, paused or supervised.

- ours: ``GET /api/v1/tasks?kind=case&area=<street>&status=open&level=cell&page=<p>
  &page_size=50`` as the street centre through the Flask test client: token check, scope, the
  filters, the page's keys with the total (``count(*) OVER ()``, LIMIT/OFFSET, answered from
  ``ix_tasks_case_list``) and its 50 rows by key, the JSON serialisation;
- the anchor: the same page by one hand-written statement (the centre's scope written out as
  the area path), executed with psycopg and fetched.

The same 200 random pages for both, after 20 warm-up requests each. Targets: ours' p95 <=
50 ms, and ours >= 50 % of the anchor's speed, compared on the p95 (the mean is printed too).
Each page's ids are asserted equal to the anchor's.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import time

import psycopg

from bench.common import fresh_app
from gridserve import audit
from gridserve.db import transaction
from gridserve.extensions import db
from gridserve.models import Area, User
from seeds.case_categories import load_categories
from seeds.loader import load_demo

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/gridserve_bench_caselist"
PASSWORD = "bench-pass-123"
STREET = "QS"
CASES = 100_000
REQUESTS = 200
WARM = 20
PAGE_SIZE = 50
STATUS, LEVEL = "open", "cell"
# status by g % 20: 6 open, 4 accepted, 2 settled, 1 verified, 6 closed, 1 cancelled
STATUSES = ["open"] * 6 + ["accepted"] * 4 + ["settled"] * 2 + ["verified"] + ["closed"] * 6 + [
    "cancelled"]  # fmt: skip
LEVELS = ("cell", "community", "street", "district")
SOURCES = ("terminal", "station", "walk_in", "phone", "open311")

SEED = """
WITH c AS (
    SELECT id, row_number() OVER (ORDER BY id) - 1 AS k,
           ST_Centroid(geom) AS centre
    FROM areas WHERE id = ANY(%(communities)s::int[])
), s AS (
    SELECT g,
           (%(statuses)s::text[])[1 + g %% 20] AS status,
           (%(levels)s::text[])[1 + (g / 20) %% 4] AS level,
           (%(categories)s::int[])[1 + (g / 7) %% cardinality(%(categories)s::int[])] AS cat,
           (%(sources)s::text[])[1 + (g / 3) %% 5] AS source,
           now() - random() * interval '180 days' AS created,
           g %% cardinality(%(communities)s::int[]) AS k
    FROM generate_series(1, %(cases)s) AS g
)
INSERT INTO tasks (kind, title, details, area_id, status, priority, source, note, version,
    change_seq, created_at, updated_at, closed_at, geom, category_id, level, level_started_at,
    level_due_at, paused_at, pause_reason, paused_seconds, escalations, supervised_at,
    reporter_name, callback_consent, needs_verification, closed_level, rating)
SELECT 'case', '基准事件' || s.g, '', c.id, s.status, 'normal', s.source, '', 1, 0, s.created,
       s.created,
       CASE WHEN s.status IN ('closed', 'cancelled') THEN s.created + interval '30 hours' END,
       ST_SetSRID(ST_Translate(c.centre, (random() - 0.5) * 0.01, (random() - 0.5) * 0.01), 4326),
       s.cat, s.level, s.created,
       s.created + CASE WHEN s.g %% 10 = 0 THEN interval '2 hours' ELSE interval '400 days' END,
       CASE WHEN s.g %% 50 = 1 THEN now() END,
       CASE WHEN s.g %% 50 = 1 THEN '等待居民' ELSE '' END, 0, (s.g %% 9 = 0)::int,
       CASE WHEN s.g %% 40 = 3 THEN now() END, '', false, false,
       CASE WHEN s.status = 'closed' THEN s.level END,
       CASE WHEN s.status = 'closed' AND s.g %% 3 = 0 THEN 1 + s.g %% 3 END
FROM s JOIN c ON c.k = s.k
"""

ANCHOR = """
SELECT t.id, t.kind, t.title, t.details, t.place_id, t.cell_id, t.cell_code, t.area_id,
       ST_X(t.geom), ST_Y(t.geom), t.accuracy_m, t.assigned_worker_id, t.status, t.priority,
       t.source, t.due_at, t.note, t.created_by, t.closed_at, t.version, t.change_seq, t.uuid,
       t.attachments, t.observed_at, t.created_at, t.updated_at
FROM tasks t
WHERE t.kind = 'case' AND t.status = %(status)s AND t.level = %(level)s
  AND t.area_id IN (SELECT id FROM areas WHERE path LIKE %(pattern)s)
ORDER BY t.created_at DESC, t.id DESC
LIMIT %(limit)s OFFSET %(offset)s
"""


def _seed(app, url: str) -> tuple[int, str, int]:
    with app.app_context(), audit.acting_as(audit.Actor(kind="cli", name="bench")):
        with transaction():
            load_demo(password=PASSWORD, register=False)
            load_categories()
        street = db.session.execute(db.select(Area).where(Area.code == STREET)).scalar_one()
        communities = list(
            db.session.execute(
                db.select(Area.id).where(Area.parent_id == street.id).order_by(Area.id)
            ).scalars()
        )
        categories = list(db.session.execute(db.text("SELECT id FROM case_categories")).scalars())
        centre = db.session.execute(db.select(User).where(User.username == "centre")).scalar_one()
        path = db.session.get(Area, centre.area_id).path
        street_id = street.id
        db.session.remove()
    params = {"communities": communities, "statuses": STATUSES, "levels": list(LEVELS),
              "categories": categories, "sources": list(SOURCES), "cases": CASES}  # fmt: skip
    started = time.perf_counter()
    with psycopg.connect(url) as conn:
        conn.execute("SELECT setseed(0.14)")
        conn.execute(SEED, params)
        conn.commit()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
        matching = conn.execute(
            "SELECT count(*) FROM tasks WHERE kind = 'case' AND status = %s AND level = %s",
            (STATUS, LEVEL),
        ).fetchone()[0]
    print(
        f"seeded {CASES:,} cases in {len(communities)} communities of {STREET} in "
        f"{time.perf_counter() - started:.1f} s (bulk INSERT ... SELECT generate_series); "
        f"{matching:,} match status={STATUS}&level={LEVEL}"
    )
    return street_id, path, matching


def _p95(times: list[float]) -> float:
    return statistics.quantiles(times, n=100, method="inclusive")[94]


def run(url: str | None = None, requests: int = REQUESTS) -> dict[str, float]:
    url = url or os.environ.get("GRIDSERVE_BENCH_DATABASE_URL", DEFAULT_URL)
    app = fresh_app(url)
    street_id, path, matching = _seed(app, url)
    client = app.test_client()
    token = client.post("/api/v1/auth/token", json={"username": "centre", "password": PASSWORD})
    headers = {"Authorization": f"Bearer {token.get_json()['access_token']}"}
    pages = -(-matching // PAGE_SIZE)
    rng = random.Random(14)
    chosen = [rng.randint(1, pages) for _ in range(WARM + requests)]

    def ours(page: int) -> list[int]:
        resp = client.get(
            f"/api/v1/tasks?kind=case&area={street_id}&status={STATUS}&level={LEVEL}"
            f"&page={page}&page_size={PAGE_SIZE}",
            headers=headers,
        )
        assert resp.status_code == 200, resp.get_json()
        return [t["id"] for t in resp.get_json()]

    ours_times, ours_ids = [], {}
    for i, page in enumerate(chosen):
        started = time.perf_counter()
        ids = ours(page)
        if i >= WARM:
            ours_times.append(time.perf_counter() - started)
            ours_ids[page] = ids
    anchor_times, anchor_ids = [], {}
    with psycopg.connect(url) as conn:
        for i, page in enumerate(chosen):
            started = time.perf_counter()
            rows = conn.execute(
                ANCHOR,
                {"status": STATUS, "level": LEVEL, "pattern": path + "%", "limit": PAGE_SIZE,
                 "offset": (page - 1) * PAGE_SIZE},
            ).fetchall()  # fmt: skip
            if i >= WARM:
                anchor_times.append(time.perf_counter() - started)
                anchor_ids[page] = [r[0] for r in rows]
    assert ours_ids == anchor_ids, "ours and the anchor list different cases"
    ours_p95, anchor_p95 = _p95(ours_times), _p95(anchor_times)
    ours_mean, anchor_mean = statistics.fmean(ours_times), statistics.fmean(anchor_times)
    print(
        f"{requests} warm requests over random pages of {pages} (page_size {PAGE_SIZE}); "
        f"pages equal to the anchor's: yes"
    )
    print(
        f"ours (GET /api/v1/tasks in process: total, page, JSON) p95 {ours_p95 * 1000:.1f} ms, "
        f"mean {ours_mean * 1000:.1f} ms; anchor (one SELECT ... LIMIT {PAGE_SIZE} OFFSET, "
        f"fetched) p95 {anchor_p95 * 1000:.1f} ms, mean {anchor_mean * 1000:.1f} ms; ours at "
        f"{anchor_p95 / ours_p95:.0%} of the anchor's speed on the p95 "
        f"({anchor_mean / ours_mean:.0%} on the mean; targets: p95 <= 50 ms, >= 50 % on the p95)"
    )
    return {"ours_p95": ours_p95, "anchor_p95": anchor_p95, "ratio": anchor_p95 / ours_p95}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--requests", type=int, default=REQUESTS)
    args = parser.parse_args(argv)
    run(args.database_url, args.requests)


if __name__ == "__main__":
    main()
