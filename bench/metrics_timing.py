"""A quick timing check of the assessment metrics on PostgreSQL (not the issue's bench, which
compares a whole run against a hand-written statement: this only times ``metrics.compute``).

``python -m bench.metrics_timing [--workers 3000] [--visits 500000]``

A scratch database (``GRIDSERVE_BENCH_DATABASE_URL``, default ``gridserve_bench_metrics`` on
the local server, dropped and created afresh) gets, in SQL (``generate_series``, no ORM per
row): one street of 50 communities, a grid plan with one cell per worker, the workers, one
assignment each from before the quarter (every tenth cell changes hands on 15 August), ten
household places per cell (seven with a household, half of those complete), the visits over
the third quarter of 2025 (60 % patrols, 25 % household, 10 % SME, 5 % place checks; 2 %
flagged outside the cell, 1 % mock), and one case per 25 visits. Then, for each worker
metric, ``targets`` once and ``compute`` best of ``--repeat`` (3), and the total.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import time
from zoneinfo import ZoneInfo

from sqlalchemy import select

from bench.common import fresh_app
from gridserve import audit
from gridserve.app import create_app
from gridserve.config import load_settings
from gridserve.db import transaction
from gridserve.extensions import db
from gridserve.models import Area, GridPlan
from gridserve.services.assessment import metrics
from gridserve.services.geography import areas

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/gridserve_bench_metrics"
COMMUNITIES = 50
START, END = dt.date(2025, 7, 1), dt.date(2025, 9, 30)
ZONE = ZoneInfo("Asia/Shanghai")

SEED = [
    # cells: a 0.001° square each, on a grid
    """
    INSERT INTO grid_cells (plan_id, community_id, code, seq, geom, workload, place_count,
        area_m2, compactness, valid_from)
    SELECT %(plan)s, (%(communities)s::int[])[1 + g %% %(n_comm)s], 'C' || g, g,
           ST_Multi(ST_MakeEnvelope(104 + (g %% 100) * 0.001, 30 + (g / 100) * 0.001,
                                    104.001 + (g %% 100) * 0.001, 30.001 + (g / 100) * 0.001,
                                    4326)),
           0, 10, 10000, 1, DATE '2025-01-01'
    FROM generate_series(0, %(workers)s - 1) g
    """,
    """
    INSERT INTO workers (area_id, full_name, employment, status, personnel_file, created_at,
        updated_at)
    SELECT (%(communities)s::int[])[1 + g %% %(n_comm)s], 'W' || g, 'full_time', 'active',
           '{}', now(), now()
    FROM generate_series(0, %(workers)s - 1) g
    """,
    # worker g (ids in order) holds cell g; every tenth hands it to worker g+1's slot 1 on
    # 15 August
    """
    INSERT INTO assignments (worker_id, community_id, cell_code, slot, starts_on, ends_on,
        created_at)
    SELECT w.id, w.area_id, 'C' || (w.rn - 1), 0, DATE '2025-06-01',
           CASE WHEN (w.rn - 1) %% 10 = 0 THEN DATE '2025-08-15' END, now()
    FROM (SELECT id, area_id, row_number() OVER (ORDER BY id) rn FROM workers) w
    """,
    """
    INSERT INTO assignments (worker_id, community_id, cell_code, slot, starts_on, ends_on,
        created_at)
    SELECT w2.id, w.area_id, 'C' || (w.rn - 1), 1, DATE '2025-08-15', NULL, now()
    FROM (SELECT id, area_id, row_number() OVER (ORDER BY id) rn FROM workers) w
    JOIN (SELECT id, row_number() OVER (ORDER BY id) rn FROM workers) w2
      ON w2.rn = w.rn %% %(workers)s + 1
    WHERE (w.rn - 1) %% 10 = 0
    """,
    """
    INSERT INTO places (type, name, attributes, geom, area_id, cell_id, change_seq,
        created_at, updated_at)
    SELECT 'household', '', '{}', ST_Centroid(c.geom), c.community_id, c.id, 0, now(),
           now()
    FROM grid_cells c, generate_series(1, 10) k
    """,
    """
    INSERT INTO households (place_id, area_id, door_number, address, member_count,
        work_units_complete, version, change_seq, created_at, updated_at)
    SELECT p.id, p.area_id, CASE WHEN p.id %% 7 = 0 THEN '' ELSE '1-' || p.id END, '',
           1 + p.id %% 4, p.id %% 2 = 0, 1, 0, now(), now()
    FROM places p WHERE p.id %% 10 < 7
    """,
    """
    INSERT INTO visits (uuid, worker_id, kind, started_at, mock_location, notes, answers,
        attachments, flags, community_id, cell_code, content_hash, version, received_at,
        updated_at)
    SELECT gen_random_uuid()::text, w.id,
           CASE WHEN r < 0.60 THEN 'patrol' WHEN r < 0.85 THEN 'household_visit'
                WHEN r < 0.95 THEN 'sme_visit' ELSE 'place_check' END,
           ts, g %% 100 = 7, '', '{}', '[]',
           CASE WHEN g %% 50 = 3 THEN '["outside_assigned_cell"]'::jsonb
                WHEN g %% 100 = 7 THEN '["mock_location"]'::jsonb ELSE '[]'::jsonb END,
           w.area_id, 'C' || (w.rn - 1), md5(g::text) || md5(g::text), 1, ts, ts
    FROM (SELECT g, random() r, %(start)s::timestamptz
                 + (random() * 92 * 86400) * interval '1 second' ts,
                 1 + g %% %(workers)s wk
          FROM generate_series(1, %(visits)s) g) v
    JOIN (SELECT id, area_id, row_number() OVER (ORDER BY id) rn FROM workers) w
      ON w.rn = v.wk
    """,
    """
    INSERT INTO tasks (kind, title, details, area_id, assigned_worker_id, status, priority,
        source, note, version, change_seq, level, level_due_at, pause_reason, paused_seconds,
        escalations, reporter_name, callback_consent, needs_verification, settled_at,
        verified_at, rating, rated_at, created_at, updated_at)
    SELECT 'case', 'bench', '', w.area_id, w.id,
           CASE WHEN g %% 3 = 0 THEN 'open' ELSE 'settled' END, 'normal', 'station', '', 1, 0,
           'cell', ts + interval '3 days', '', 0, CASE WHEN g %% 9 = 0 THEN 1 ELSE 0 END, '',
           false, g %% 2 = 0,
           CASE WHEN g %% 3 = 0 THEN NULL ELSE ts + (g %% 5) * interval '1 day' END,
           CASE WHEN g %% 4 = 0 AND g %% 3 <> 0 THEN ts + interval '5 days' END,
           CASE WHEN g %% 3 = 1 THEN 1 + g %% 3 END,
           CASE WHEN g %% 3 = 1 THEN ts + interval '6 days' END, ts, ts
    FROM (SELECT g, %(start)s::timestamptz + (random() * 80 * 86400) * interval '1 second' ts,
                 1 + g %% %(workers)s wk
          FROM generate_series(1, %(cases)s) g) c
    JOIN (SELECT id, area_id, row_number() OVER (ORDER BY id) rn FROM workers) w
      ON w.rn = c.wk
    """,
]


def build(workers: int, visits: int) -> tuple[int, float]:
    with transaction():
        district = areas.add_area(code="BD", name="基准区", level="district", parent=None,
                                  geom=None)  # fmt: skip
        street = areas.add_area(code="BS", name="基准街道", level="street", parent=district,
                                geom=None)  # fmt: skip
        comms = [
            areas.add_area(
                code=f"BS{i:02d}", name=f"社区{i}", level="community", parent=street, geom=None
            ).id
            for i in range(COMMUNITIES)
        ]
        plan = GridPlan(area_id=street.id, method="square", status="active")
        db.session.add(plan)
        db.session.flush()
        start_utc = dt.datetime.combine(START, dt.time(), tzinfo=ZONE)
        values = {"plan": plan.id, "communities": comms, "n_comm": COMMUNITIES,
                  "workers": workers, "visits": visits, "cases": visits // 25,
                  "start": start_utc}  # fmt: skip
        began = time.perf_counter()
        raw = db.session.connection().connection.driver_connection
        with raw.cursor() as cur:
            for statement in SEED:
                cur.execute(statement, values)
        street_id = street.id
    with db.engine.connect() as conn:
        conn.exec_driver_sql("ANALYZE")
        conn.commit()
    return street_id, time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=3000)
    parser.add_argument("--visits", type=int, default=500_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--reuse", action="store_true", help="time the data already built")
    args = parser.parse_args()
    url = os.environ.get("GRIDSERVE_BENCH_DATABASE_URL", DEFAULT_URL)
    if args.reuse:
        app = create_app(
            load_settings({"GRIDSERVE_ENV": "testing", "GRIDSERVE_DATABASE_URL": url,
                           "GRIDSERVE_INSTANCE_PATH": "/tmp/gridserve-bench-instance"})
        )  # fmt: skip
    else:
        app = fresh_app(url)
    with app.app_context(), audit.acting_as(audit.Actor(kind="cli", name="bench")):
        if args.reuse:
            area = db.session.scalar(select(Area).where(Area.code == "BS"))
        else:
            street_id, built = build(args.workers, args.visits)
            print(f"built {args.workers} workers, {args.visits} visits, "
                  f"{args.visits // 25} cases in {built:.1f} s")  # fmt: skip
            area = db.session.get(Area, street_id)
        period = metrics.Period(START, END, ZONE)
        began = time.perf_counter()
        targets = {k: metrics.targets(k, area, period) for k in ("worker", "station")}
        print(f"targets: {len(targets['worker'])} workers, {len(targets['station'])} stations "
              f"in {time.perf_counter() - began:.3f} s")  # fmt: skip
        total = 0.0
        for kind in ("worker", "station"):
            for code, info in metrics.METRICS.items():
                if kind not in info.target_kinds:
                    continue
                times = []
                for _ in range(args.repeat):
                    t0 = time.perf_counter()
                    figures = metrics.compute(code, kind, targets[kind], area, period, {})
                    times.append(time.perf_counter() - t0)
                num = sum(f.numerator for f in figures.values())
                den = sum(f.denominator for f in figures.values())
                total += min(times)
                print(f"{kind:8} {code:22} best {min(times):6.3f} s  "
                      f"(Σ {num:.0f} / {den:.1f})")  # fmt: skip
        print(f"total of the best runs: {total:.3f} s")


if __name__ == "__main__":
    main()
