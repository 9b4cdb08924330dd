"""A quarterly assessment run on PostgreSQL: ours (the engine's whole run, committed) against one
hand-written SQL statement computing the same per-worker figures.

``python -m bench.assessment_run`` (or ``python -m bench assessment_run``)
``[--workers 10000] [--visits 5000000] [--repeat 3] [--reuse]``

A scratch database (``GRIDSERVE_BENCH_DATABASE_URL``, default ``gridserve_bench_assess`` on the
local server, dropped and created afresh unless ``--reuse``) gets, in SQL (``INSERT ... SELECT
generate_series``, no ORM per row; the build time is printed): one street of 50 communities, a
grid plan with one cell per worker (10,000), the workers, one assignment each from before the
quarter (every tenth cell changes hands on 15 August), ten household places per cell (seven
with a household, half of those complete), 5,000,000 visits from a day before the third
quarter of 2025 to a day after it (60 % patrols, 25 % household, 10 % SME, 5 % place checks;
2 % flagged outside the cell, 1 % mock location) and one case per 25 visits (200,000: settled,
late, rated 1-3, some outside the quarter). If the PostgreSQL data directory's disk has less
than 8 GB free, 1,000,000 visits (and 40,000 cases), and it says so.

- ours: the seeded ``grid_worker`` template run over the street for 2025-Q3 —
  ``runs.create_run(..., as_job=False)``, what the API's 202 job executes
  (:func:`engine.compute_run`: the targets, every computed metric, points, totals, grades,
  the cards and their lines written), committed. Best of ``--repeat`` (3): the first run, then
  corrections with a reason, so each repetition computes and writes every card again.
- the anchor: ONE hand-written SQL statement (CTEs; the visits read twice: the uploads by
  worker, the patrols by worker, cell and local day) giving every worker's raw figures of the
  template's computed indicators — patrol (cell, day) pairs held and covered, visits and
  cell-months, household places and complete ones, cases settled and on time, ratings and
  their points, uploads and flagged ones — executed with psycopg and fetched. Best of
  ``--repeat``.

Then every worker's numerator and denominator of every computed line of our last run are
compared with the anchor's (to 1e-9); any difference fails the bench. Targets: ours <= 10 s,
and ours >= 50 % of the anchor's speed (ours' time <= 2x the anchor's).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import time

import psycopg
from sqlalchemy import select

from bench.common import fresh_app
from gridserve import audit
from gridserve.app import create_app
from gridserve.config import load_settings
from gridserve.db import transaction
from gridserve.extensions import db
from gridserve.models import Area, GridPlan
from gridserve.scope import OPERATOR
from gridserve.services.assessment import metrics, runs
from gridserve.services.geography import areas
from gridserve.services.geography.areas import zone_of
from seeds.assessment_templates import load_templates

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/gridserve_bench_assess"
WORKERS = 10_000
VISITS = 5_000_000
SHORT_VISITS = 1_000_000
NEEDED_FREE = 8 * 1024**3  # bytes free on the data directory's disk for the full build
COMMUNITIES = 50
PERIOD = "2025-Q3"
START, END = dt.date(2025, 7, 1), dt.date(2025, 9, 30)

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
                 + (random() * 94 * 86400 - 86400) * interval '1 second' ts,
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
           CASE WHEN g %% 3 = 1 THEN 1 + (g / 3) %% 3 END,
           CASE WHEN g %% 3 = 1 THEN ts + interval '6 days' END, ts, ts
    FROM (SELECT g, %(start)s::timestamptz + (random() * 90 * 86400) * interval '1 second' ts,
                 1 + g %% %(workers)s wk
          FROM generate_series(1, %(cases)s) g) c
    JOIN (SELECT id, area_id, row_number() OVER (ORDER BY id) rn FROM workers) w
      ON w.rn = c.wk
    """,
]


# The anchor: every worker's raw figures, in one statement. Local time as the epoch seconds plus
# the zone's one offset (%(offset)s); a local patrol window is the quarter-day slot 1, 2 or 3.
ANCHOR = """
WITH sub AS (
    SELECT id FROM areas WHERE path LIKE %(path)s || '%%'
), clipped AS (              -- the street's assignments clipped to the quarter: [lo, hi)
    SELECT worker_id, community_id, cell_code,
           greatest(starts_on, %(first)s::date) AS lo,
           least(coalesce(ends_on, %(after)s::date), %(after)s::date) AS hi
    FROM assignments
    WHERE community_id IN (SELECT id FROM sub) AND starts_on < %(after)s::date
      AND (ends_on IS NULL OR ends_on > greatest(starts_on, %(first)s::date))
), spans AS (                -- merged per holder and cell (a day is held once): islands
    SELECT worker_id, community_id, cell_code, min(lo) AS lo, max(hi) AS hi
    FROM (SELECT *, sum(starts) OVER (PARTITION BY worker_id, community_id, cell_code
                                      ORDER BY lo, hi) AS island
          FROM (SELECT *, CASE WHEN lo <= max(hi) OVER (
                                   PARTITION BY worker_id, community_id, cell_code
                                   ORDER BY lo, hi
                                   ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
                               THEN 0 ELSE 1 END AS starts
                FROM clipped WHERE hi > lo) a) b
    GROUP BY worker_id, community_id, cell_code, island
), months AS (               -- the calendar months of the period: [lo, hi)
    SELECT (%(first)s::date + k * interval '1 month')::date AS lo,
           (%(first)s::date + (k + 1) * interval '1 month')::date AS hi
    FROM generate_series(0, %(months)s - 1) k
), held AS (                 -- days held, and cell-months (days in a month / its days)
    SELECT s.worker_id, sum(o.days) AS days, sum(o.days::float8 / (m.hi - m.lo)) AS months,
           max(s.hi) - 1 AS last_day
    FROM spans s
    JOIN months m ON m.lo < s.hi AND s.lo < m.hi
    CROSS JOIN LATERAL (SELECT least(s.hi, m.hi) - greatest(s.lo, m.lo) AS days) o
    GROUP BY s.worker_id
), community AS (            -- the community of the cell held last
    SELECT DISTINCT ON (worker_id) worker_id, community_id
    FROM spans ORDER BY worker_id, hi DESC, lo DESC
), register AS (             -- household places of the cells held on the last day held
    SELECT lc.worker_id, count(*) AS places,
           count(*) FILTER (WHERE h.id IS NOT NULL AND trim(h.door_number) <> ''
                            AND h.member_count >= 1 AND h.work_units_complete) AS complete
    FROM (SELECT DISTINCT s.worker_id, s.cell_code FROM spans s
          JOIN held ON held.worker_id = s.worker_id
          WHERE s.lo <= held.last_day AND held.last_day < s.hi) lc
    JOIN grid_cells c ON c.code = lc.cell_code AND c.community_id IN (SELECT id FROM sub)
    JOIN places p ON p.cell_id = c.id AND p.type = 'household'
    LEFT JOIN households h ON h.place_id = p.id
    GROUP BY lc.worker_id
), uploads AS (              -- the quarter's uploads by worker
    SELECT worker_id, count(*) AS uploads,
           count(*) FILTER (WHERE mock_location OR (flags <> '[]' AND (
               flags @> '["mock_location"]' OR flags @> '["outside_assigned_cell"]')))
               AS flagged,
           count(*) FILTER (WHERE kind IN ('household_visit', 'sme_visit')) AS visits
    FROM visits WHERE started_at >= %(start_utc)s AND started_at < %(end_utc)s
    GROUP BY worker_id
), full_days AS (            -- (worker, cell, local day) patrolled in all three windows
    SELECT worker_id, cell_code, slot / 4 AS day
    FROM (SELECT worker_id, cell_code,
                 (date_part('epoch', started_at)::bigint + %(offset)s) / 21600 AS slot
          FROM visits
          WHERE kind = 'patrol' AND cell_code IS NOT NULL
            AND started_at >= %(start_utc)s AND started_at < %(end_utc)s) p
    WHERE slot %% 4 > 0
    GROUP BY worker_id, cell_code, slot / 4
    HAVING bit_or(1 << (slot %% 4)::int) = 14
), covered AS (              -- those of a cell the worker held that day
    SELECT f.worker_id, count(*) AS covered
    FROM full_days f
    JOIN spans s ON s.worker_id = f.worker_id AND s.cell_code = f.cell_code
     AND s.lo - DATE '1970-01-01' <= f.day AND f.day < s.hi - DATE '1970-01-01'
    GROUP BY f.worker_id
), cases AS (                -- the workers' cases: settled at the cell level, and rated
    SELECT assigned_worker_id AS worker_id,
           count(*) FILTER (WHERE settled) AS settled,
           count(*) FILTER (WHERE settled AND (level_due_at IS NULL
                                               OR settled_at <= level_due_at)) AS on_time,
           count(*) FILTER (WHERE rated) AS rated,
           coalesce(sum(CASE rating WHEN 1 THEN 1.0 WHEN 2 THEN 0.5 ELSE 0 END)
                    FILTER (WHERE rated), 0) AS points
    FROM (SELECT assigned_worker_id, settled_at, level_due_at, rating,
                 settled_at >= %(start_utc)s AND settled_at < %(end_utc)s
                 AND status <> 'cancelled' AND level = 'cell' AS settled,
                 rating IN (1, 2, 3) AND rated_at >= %(start_utc)s
                 AND rated_at < %(end_utc)s AS rated
          FROM tasks
          WHERE kind = 'case' AND assigned_worker_id IS NOT NULL
            AND area_id IN (SELECT id FROM sub)) t
    GROUP BY assigned_worker_id
)
SELECT c.worker_id, c.community_id,
       least(coalesce(v.covered, 0), held.days), held.days,
       coalesce(u.visits, 0), held.months,
       coalesce(r.complete, 0), coalesce(r.places, 0),
       coalesce(k.on_time, 0), coalesce(k.settled, 0),
       coalesce(k.points, 0)::float8, coalesce(k.rated, 0),
       coalesce(u.flagged, 0), coalesce(u.uploads, 0)
FROM community c
JOIN held USING (worker_id)
LEFT JOIN uploads u USING (worker_id)
LEFT JOIN covered v USING (worker_id)
LEFT JOIN register r USING (worker_id)
LEFT JOIN cases k USING (worker_id)
ORDER BY c.worker_id
"""
# The anchor's columns after (worker, community): (numerator, denominator) of each indicator.
INDICATORS = ("patrol_coverage", "visits", "register_completeness", "cases_on_time",
              "satisfaction", "flagged_uploads")  # fmt: skip

OURS = """
SELECT c.target_id, c.area_id, l.code, (l.raw ->> 'numerator')::float8,
       (l.raw ->> 'denominator')::float8
FROM assessment_scorecards c JOIN assessment_scorecard_lines l ON l.scorecard_id = c.id
WHERE c.run_id = %(run)s AND l.code = ANY(%(codes)s)
"""


def _free_bytes(url: str) -> tuple[str, int]:
    """The PostgreSQL data directory and the bytes free on its disk (this machine's server)."""
    with psycopg.connect(url.rsplit("/", 1)[0] + "/postgres") as conn:
        where = conn.execute("SHOW data_directory").fetchone()[0]
    probe = where
    while not os.path.exists(probe) and probe != "/":
        probe = os.path.dirname(probe)
    try:
        return where, shutil.disk_usage(probe).free
    except OSError:  # pragma: no cover - not readable here: the root's disk
        return where, shutil.disk_usage("/").free


def build(url: str, workers: int, visits: int) -> tuple[int, float]:
    """The street and its quarter (see the module docstring); (street id, seconds)."""
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
        load_templates(OPERATOR)
        street_id, plan_id = street.id, plan.id
        start_utc = dt.datetime.combine(START, dt.time(), tzinfo=zone_of(street_id))
    db.session.remove()
    values = {"plan": plan_id, "communities": comms, "n_comm": COMMUNITIES,
              "workers": workers, "visits": visits, "cases": visits // 25,
              "start": start_utc}  # fmt: skip
    began = time.perf_counter()
    with psycopg.connect(url) as conn:
        conn.execute("SELECT setseed(0.15)")
        for statement in SEED:
            conn.execute(statement, values)
        conn.commit()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    return street_id, time.perf_counter() - began


def _ours(street_id: int, reason: str) -> tuple[float, int]:
    """One run, committed (a correction, by its ``reason``, if the period has one already):
    (seconds, run id)."""
    began = time.perf_counter()
    with transaction():
        data = {"template": "grid_worker", "area_id": street_id, "period": PERIOD, "reason": reason}
        run, _ = runs.create_run(OPERATOR, data, as_job=False)
        run_id, status = run.id, run.status
    took = time.perf_counter() - began
    db.session.remove()
    if status != "computed":
        raise SystemExit(f"run {run_id} is {status}, not computed")
    return took, run_id


def run(
    url: str | None = None,
    repeat: int = 3,
    *,
    workers: int = WORKERS,
    visits: int | None = None,
    reuse: bool = False,
) -> dict[str, float]:
    url = url or os.environ.get("GRIDSERVE_BENCH_DATABASE_URL", DEFAULT_URL)
    if reuse:
        app = create_app(
            load_settings({"GRIDSERVE_ENV": "testing", "GRIDSERVE_DATABASE_URL": url,
                           "GRIDSERVE_INSTANCE_PATH": "/tmp/gridserve-bench-instance"})
        )  # fmt: skip
    else:
        where, free = _free_bytes(url)
        if visits is None:
            visits = VISITS if free >= NEEDED_FREE else SHORT_VISITS
            print(f"disk: {free / 1024**3:.1f} GB free for {where}"
                  + ("" if visits == VISITS else
                     f" (under {NEEDED_FREE / 1024**3:.0f} GB: the short build, "
                     f"{SHORT_VISITS:,} visits instead of {VISITS:,})"))  # fmt: skip
        app = fresh_app(url)
    with app.app_context(), audit.acting_as(audit.Actor(kind="cli", name="bench")):
        if reuse:
            street_id = db.session.scalar(select(Area.id).where(Area.code == "BS"))
        else:
            street_id, built = build(url, workers, visits)
            print(f"built {workers:,} workers on {workers:,} cells, {visits:,} visits, "
                  f"{visits // 25:,} cases in {built:.1f} s (INSERT ... SELECT "
                  f"generate_series, VACUUM ANALYZE included)")  # fmt: skip
        street = db.session.get(Area, street_id)
        path, zone = street.path, zone_of(street_id)
        db.session.remove()
        times = []
        for i in range(repeat):
            took, run_id = _ours(street_id, f"bench repetition {i + 1}")
            times.append(took)
        ours_s = min(times)
    period = metrics.Period(START, END, zone)
    offset = int(period.start_utc.astimezone(zone).utcoffset().total_seconds())
    assert offset == int(period.end_utc.astimezone(zone).utcoffset().total_seconds())
    params = {"path": path, "first": START, "after": END + dt.timedelta(days=1),
              "start_utc": period.start_utc, "end_utc": period.end_utc,
              "offset": offset,
              "months": (END.year - START.year) * 12 + END.month - START.month + 1}  # fmt: skip
    with psycopg.connect(url) as conn:
        anchor_times, rows = [], []
        for _ in range(repeat):
            began = time.perf_counter()
            rows = conn.execute(ANCHOR, params).fetchall()
            anchor_times.append(time.perf_counter() - began)
        anchor_s = min(anchor_times)
        ours_rows = conn.execute(OURS, {"run": run_id, "codes": list(INDICATORS)}).fetchall()
    _compare(rows, ours_rows)
    ratio = anchor_s / ours_s
    print(f"ours (a quarterly run of grid_worker: {len(rows):,} cards of "
          f"{len(INDICATORS) + 1} lines, committed) {ours_s:.3f} s "
          f"[{', '.join(f'{t:.2f}' for t in times)}]; anchor (one SQL statement, fetched) "
          f"{anchor_s:.3f} s [{', '.join(f'{t:.2f}' for t in anchor_times)}]")  # fmt: skip
    print(f"ours at {ratio:.0%} of the anchor's speed (best of {repeat}); targets: ours <= 10 s "
          f"({'met' if ours_s <= 10 else 'NOT met'}), >= 50 % "
          f"({'met' if ratio >= 0.5 else 'NOT met'})")  # fmt: skip
    return {"ours_s": ours_s, "anchor_s": anchor_s, "ratio": ratio}


def _compare(anchor: list[tuple], ours: list[tuple]) -> None:
    """Every worker's (numerator, denominator) of every indicator equal, to 1e-9; fails
    loudly otherwise."""
    expected = {}
    for row in anchor:
        worker, community, *pairs = row
        for n, code in enumerate(INDICATORS):
            expected[(worker, code)] = (community, float(pairs[2 * n]), float(pairs[2 * n + 1]))
    got = {(w, code): (a, num, den) for w, a, code, num, den in ours}
    missing = expected.keys() - got.keys()
    extra = got.keys() - expected.keys()
    wrong = [
        (key, got[key], want)
        for key, want in sorted(expected.items())
        if key in got
        and (
            got[key][0] != want[0]
            or abs(got[key][1] - want[1]) > 1e-9
            or abs(got[key][2] - want[2]) > 1e-9
        )
    ]
    if missing or extra or wrong:
        raise SystemExit(
            f"ours and the anchor differ: {len(missing)} (worker, indicator) only in the "
            f"anchor {sorted(missing)[:5]}, {len(extra)} only in ours {sorted(extra)[:5]}, "
            f"{len(wrong)} with other figures (key, ours, anchor) {wrong[:5]}"
        )
    workers = len({w for w, _ in expected})
    totals = {
        code: (sum(v[1] for (_, c), v in expected.items() if c == code),
               sum(v[2] for (_, c), v in expected.items() if c == code))
        for code in INDICATORS
    }  # fmt: skip
    print(f"equal to the anchor for {workers:,} workers x {len(INDICATORS)} indicators "
          "(numerators and denominators to 1e-9): "
          + "; ".join(f"{c} {n:,.0f}/{d:,.1f}" for c, (n, d) in totals.items()))  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workers", type=int, default=WORKERS)
    parser.add_argument(
        "--visits",
        type=int,
        default=None,
        help=f"default {VISITS:,}, or {SHORT_VISITS:,} if the disk is short",
    )
    parser.add_argument("--reuse", action="store_true", help="time the data already built")
    args = parser.parse_args(argv)
    run(args.database_url, args.repeat, workers=args.workers, visits=args.visits,
        reuse=args.reuse)  # fmt: skip


if __name__ == "__main__":
    main()
