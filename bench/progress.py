"""Visits programme progress on PostgreSQL: ours (the API, in process) against one hand-written
SQL statement producing the same figures.

``python -m bench.progress`` (or ``python -m bench progress``)

A scratch database (``GRIDSERVE_BENCH_DATABASE_URL``, default ``gridserve_bench_progress`` on
the local server, dropped and created afresh) gets the demo's areas, institutions and users
(no place register), a visits programme over the demo street with its 11 banks, and then, in
bulk (``INSERT ... SELECT generate_series``, no ORM per row): 110 visitor accounts (10 per
bank), 50,000 enterprises on the list (a register place each; one in five visited by ``cell``),
200,000 visit records on 42,000 of them (every outcome; product_matched needs decided,
undecided within their due day, or overdue) and 5,000 referral cards.

- ours: ``GET /api/v1/outreach/programmes/{id}/progress`` as the coordinator through the Flask
  test client: token check, scope, the service's statements, the JSON serialisation;
- the anchor: ONE hand-written SQL statement (CTEs and ``GROUPING SETS``) giving every row
  (total, institutions, visitors) with the coordinator's scope written out, executed with
  psycopg and fetched. Its rows are asserted equal to ours.

Best of ``--repeat`` (5) for each. Targets: ours <= 1 s, and ours >= 50 % of the anchor's
speed (ours' time <= 2x the anchor's).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import time

import psycopg

from bench.common import fresh_app
from gridserve import audit
from gridserve.db import transaction
from gridserve.extensions import db
from gridserve.models import Area, OutreachProgramme, User
from gridserve.scope import OPERATOR
from gridserve.services.outreach import programmes
from seeds.loader import BANK_ORDER, load_demo

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/gridserve_bench_progress"
PASSWORD = "bench-pass-123"
STREET = "QS"
ZONE = "Asia/Shanghai"
ENTERPRISES = 50_000
VISITED = 42_000
VISITS = 200_000
REFERRALS = 5_000
VISITORS_PER_BANK = 10
OUTCOMES = ("follow_up", "renewal", "product_matched", "not_eligible_explained", "no_need")


def _best(fn, repeat: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - started)
    return min(times), out


def _programme(today: dt.date) -> int:
    street = db.session.execute(db.select(Area).where(Area.code == STREET)).scalar_one()
    start = today - dt.timedelta(days=200)
    programme = programmes.create_programme(
        OPERATOR,
        {"code": "SME-BENCH", "name": "小微企业走访（基准）", "kind": "visits",
         "area_id": street.id, "start_date": start, "end_date": today + dt.timedelta(days=60),
         "organiser": "DZ-REG", "institutions": BANK_ORDER,
         "list_due_on": start + dt.timedelta(days=14),
         "visits_from": start + dt.timedelta(days=14),
         "visits_to": today + dt.timedelta(days=30),
         "summary_due_on": today + dt.timedelta(days=45)},
    )  # fmt: skip
    return programme.id


SEED = [
    # Visitor accounts: 10 per bank, with bank1's password hash (never used to sign in).
    """
    INSERT INTO users (username, password_hash, full_name, role, institution_id, is_active,
                       created_at, updated_at)
    SELECT lower(i.code) || '-v' || n, u.password_hash, i.code || ' 客户经理' || n,
           'institution_contact', i.id, true, now(), now()
    FROM unnest(%(banks)s::int[]) AS b(id)
    JOIN institutions i ON i.id = b.id
    CROSS JOIN generate_series(1, %(per_bank)s) AS n
    JOIN users u ON u.username = 'bank1'
    """,
    # A register place per enterprise, in the street's communities.
    """
    INSERT INTO places (type, external_id, name, attributes, geom, area_id, change_seq,
                        created_at, updated_at)
    SELECT 'enterprise', 'uscc:B' || lpad(g::text, 17, '0'), '基准企业' || g, '{}',
           ST_SetSRID(ST_MakePoint(107.40 + random() * 0.1, 31.20 + random() * 0.1), 4326),
           (%(communities)s::int[])[1 + g %% cardinality(%(communities)s::int[])], 0, now(), now()
    FROM generate_series(1, %(enterprises)s) AS g
    """,
    # The list: bank by turn, one in five visited by `cell`, the others by one of its accounts.
    """
    INSERT INTO outreach_enterprises (programme_id, place_id, area_id, credit_code, name,
        address, industry, institution_id, visitor_user_id, visitor_is_cell, status, version,
        created_at, updated_at)
    SELECT %(programme)s, p.id, p.area_id, substr(p.external_id, 6), p.name, '', '批发和零售业',
           (%(banks)s::int[])[1 + p.g %% cardinality(%(banks)s::int[])],
           CASE WHEN p.g %% 5 = 0 THEN NULL
                ELSE (%(visitors)s::int[])[1 + (p.g %% cardinality(%(banks)s::int[])) * %(per_bank)s
                                           + (p.g / 7) %% %(per_bank)s] END,
           p.g %% 5 = 0, 'listed', 1, now(), now()
    FROM (SELECT id, area_id, external_id, name, row_number() OVER (ORDER BY id) AS g
          FROM places WHERE external_id LIKE 'uscc:B%%') AS p
    """,
    # Visit records: 200,000 over 42,000 enterprises, dated in the window up to yesterday.
    """
    WITH e AS (
        SELECT id, programme_id, institution_id, area_id, visitor_user_id,
               row_number() OVER (ORDER BY id) AS n
        FROM outreach_enterprises WHERE programme_id = %(programme)s
    ), s AS (
        SELECT g, 1 + (g::bigint * 7919) %% %(visited)s AS n,
               (ARRAY['follow_up', 'renewal', 'product_matched', 'product_matched',
                      'not_eligible_explained', 'no_need'])[1 + (g * 31) %% 6] AS outcome,
               %(window_start)s::timestamptz
                 + (random() * %(window_days)s) * interval '1 day' AS at
        FROM generate_series(1, %(visits)s) AS g
    )
    INSERT INTO outreach_visits (programme_id, enterprise_id, institution_id, area_id,
        visited_at, visitor_user_id, operating_status, need_amount, need_term_months,
        need_purpose, lender_ids, eligible, outcome, products, explanation, next_step, notes,
        decision_due_on, decision, decision_reason, version, created_at, updated_at)
    SELECT e.programme_id, e.id, e.institution_id, e.area_id, s.at, e.visitor_user_id,
           'normal',
           CASE WHEN s.outcome = 'no_need' THEN (CASE WHEN s.g %% 2 = 0 THEN 0 END)
                WHEN s.outcome = 'follow_up' AND s.g %% 3 = 0 THEN NULL
                ELSE (1 + s.g %% 50) * 10000 END,
           12, '经营周转', '[]',
           CASE s.outcome WHEN 'product_matched' THEN true
                          WHEN 'not_eligible_explained' THEN false END,
           s.outcome,
           CASE WHEN s.outcome = 'product_matched' THEN '["惠企贷"]'::jsonb ELSE '[]'::jsonb END,
           '', '', '',
           CASE WHEN s.outcome = 'product_matched'
                THEN (s.at AT TIME ZONE %(zone)s)::date + 14 END,
           CASE WHEN s.outcome <> 'product_matched' THEN NULL
                WHEN s.g %% 10 < 6 THEN 'approved' WHEN s.g %% 10 = 6 THEN 'rejected'
                WHEN s.g %% 10 = 7 THEN 'withdrawn' END,
           '', 1, now(), now()
    FROM s JOIN e USING (n)
    """,
    # Referral cards: from the enterprise's institution (and visitor account) to another bank.
    """
    WITH e AS (
        SELECT id, programme_id, institution_id, area_id, visitor_user_id,
               row_number() OVER (ORDER BY id) AS n
        FROM outreach_enterprises WHERE programme_id = %(programme)s
    )
    INSERT INTO outreach_referrals (number, programme_id, enterprise_id, area_id,
        from_institution_id, from_user_id, to_institution_id, need, note, status, care_note,
        points, version, created_at, updated_at)
    SELECT 'ZJ-B-' || lpad(g::text, 8, '0'), e.programme_id, e.id, e.area_id,
           e.institution_id, e.visitor_user_id,
           (%(banks)s::int[])[1 + (array_position(%(banks)s::int[], e.institution_id) + 2)
                              %% cardinality(%(banks)s::int[])],
           '经营周转', '',
           (ARRAY['sent', 'accepted', 'converted', 'not_converted'])[1 + g %% 4],
           CASE WHEN g %% 4 = 3 THEN '持续培育' ELSE '' END,
           CASE WHEN g %% 4 = 2 THEN 10 ELSE 0 END, 1, now(), now()
    FROM generate_series(1, %(referrals)s) AS g
    JOIN e ON e.n = 1 + (g * 9973) %% %(enterprises)s
    """,
]


# The anchor: every row of the progress in one statement (the coordinator's scope written out:
# rows in areas below the caller's area path).
ANCHOR = """
WITH scope AS (
    SELECT id FROM areas WHERE path LIKE %(path)s || '%%'
), today AS (
    SELECT (now() AT TIME ZONE %(zone)s)::date AS d
), pv AS (
    SELECT v.enterprise_id,
           count(*) FILTER (WHERE v.outcome = 'follow_up') AS follow_up,
           count(*) FILTER (WHERE v.outcome = 'renewal') AS renewal,
           count(*) FILTER (WHERE v.outcome = 'product_matched') AS product_matched,
           count(*) FILTER (WHERE v.outcome = 'not_eligible_explained') AS not_eligible,
           count(*) FILTER (WHERE v.outcome = 'no_need') AS no_need,
           coalesce(sum(v.need_amount), 0) AS need,
           coalesce(sum(v.need_amount) FILTER (WHERE v.outcome = 'product_matched'), 0)
               AS matched,
           count(*) FILTER (WHERE v.outcome = 'product_matched' AND v.decision IS NULL
                            AND NOT coalesce(v.decision_due_on < t.d, false)) AS open,
           count(*) FILTER (WHERE v.outcome = 'product_matched' AND v.decision IS NULL
                            AND v.decision_due_on < t.d) AS overdue
    FROM outreach_visits v CROSS JOIN today t
    WHERE v.programme_id = %(programme)s AND v.area_id IN (SELECT id FROM scope)
    GROUP BY v.enterprise_id
), lists AS (
    SELECT e.institution_id,
           CASE WHEN e.visitor_is_cell THEN NULL ELSE e.visitor_user_id END AS user_id,
           e.visitor_is_cell AS cell,
           GROUPING(CASE WHEN e.visitor_is_cell THEN NULL ELSE e.visitor_user_id END,
                    e.visitor_is_cell) AS g,
           count(*) AS listed, count(pv.enterprise_id) AS visited,
           coalesce(sum(pv.follow_up), 0) AS follow_up, coalesce(sum(pv.renewal), 0) AS renewal,
           coalesce(sum(pv.product_matched), 0) AS product_matched,
           coalesce(sum(pv.not_eligible), 0) AS not_eligible,
           coalesce(sum(pv.no_need), 0) AS no_need, coalesce(sum(pv.need), 0) AS need,
           coalesce(sum(pv.matched), 0) AS matched, coalesce(sum(pv.open), 0) AS open,
           coalesce(sum(pv.overdue), 0) AS overdue
    FROM outreach_enterprises e LEFT JOIN pv ON pv.enterprise_id = e.id
    WHERE e.programme_id = %(programme)s AND e.area_id IN (SELECT id FROM scope)
    GROUP BY GROUPING SETS ((e.institution_id),
        (e.institution_id, CASE WHEN e.visitor_is_cell THEN NULL ELSE e.visitor_user_id END,
         e.visitor_is_cell))
), sent AS (
    SELECT from_institution_id AS institution_id, from_user_id AS user_id,
           GROUPING(from_user_id) AS g, count(*) AS made,
           count(*) FILTER (WHERE status = 'converted') AS converted
    FROM outreach_referrals
    WHERE programme_id = %(programme)s AND area_id IN (SELECT id FROM scope)
    GROUP BY GROUPING SETS ((from_institution_id), (from_institution_id, from_user_id))
), inst AS (
    SELECT coalesce(l.institution_id, s.institution_id) AS institution_id,
           coalesce(l.listed, 0) AS listed, coalesce(l.visited, 0) AS visited,
           coalesce(l.follow_up, 0) AS follow_up, coalesce(l.renewal, 0) AS renewal,
           coalesce(l.product_matched, 0) AS product_matched,
           coalesce(l.not_eligible, 0) AS not_eligible, coalesce(l.no_need, 0) AS no_need,
           coalesce(l.need, 0) AS need, coalesce(l.matched, 0) AS matched,
           coalesce(l.open, 0) AS open, coalesce(l.overdue, 0) AS overdue,
           coalesce(s.made, 0) AS made, coalesce(s.converted, 0) AS converted
    FROM (SELECT * FROM lists WHERE g = 3) l
    FULL JOIN (SELECT * FROM sent WHERE g = 1) s ON s.institution_id = l.institution_id
), rows AS (
    SELECT 0 AS level, NULL::int AS institution_id, NULL::int AS user_id, false AS cell,
           sum(listed) AS listed, sum(visited) AS visited, sum(follow_up) AS follow_up,
           sum(renewal) AS renewal, sum(product_matched) AS product_matched,
           sum(not_eligible) AS not_eligible, sum(no_need) AS no_need, sum(need) AS need,
           sum(matched) AS matched, sum(open) AS open, sum(overdue) AS overdue,
           sum(made) AS made, sum(converted) AS converted
    FROM inst
    UNION ALL
    SELECT 1, institution_id, NULL, false, listed, visited, follow_up, renewal, product_matched,
           not_eligible, no_need, need, matched, open, overdue, made, converted
    FROM inst
    UNION ALL
    SELECT 2, l.institution_id, l.user_id, l.cell, l.listed, l.visited, l.follow_up, l.renewal,
           l.product_matched, l.not_eligible, l.no_need, l.need, l.matched, l.open, l.overdue,
           coalesce(s.made, 0), coalesce(s.converted, 0)
    FROM lists l
    LEFT JOIN sent s ON s.g = 0 AND NOT l.cell AND s.institution_id = l.institution_id
                    AND s.user_id = l.user_id
    WHERE l.g = 0
)
SELECT CASE r.level WHEN 0 THEN 'total' WHEN 1 THEN 'institution' ELSE 'visitor' END,
       i.code,
       CASE WHEN r.cell THEN 'cell' ELSE u.username END,
       r.listed::int, r.visited::int,
       CASE WHEN r.listed = 0 THEN 0
            ELSE round(r.visited::numeric / r.listed, 4)::float8 END,
       r.follow_up::int, r.renewal::int, r.product_matched::int, r.not_eligible::int,
       r.no_need::int, r.need::bigint, r.matched::bigint, r.open::int, r.overdue::int,
       r.made::int, r.converted::int
FROM rows r
LEFT JOIN institutions i ON i.id = r.institution_id
LEFT JOIN users u ON u.id = r.user_id AND r.level = 2
"""


def _rows_of(report: dict) -> list[tuple]:
    """Our JSON as the anchor's rows: (level, institution, visitor, figures...)."""

    def row(level: str, r: dict, inst: str | None, visitor: str | None) -> tuple:
        o = r["outcomes"]
        return (level, inst, visitor, r["listed"], r["visited"], float(r["visited_share"]),
                *(o[k] for k in OUTCOMES), r["need_amount"], r["matched_amount"],
                r["decisions_open"], r["decisions_overdue"], r["referrals_made"],
                r["referrals_converted"])  # fmt: skip

    return [
        row("total", report["totals"], None, None),
        *(row("institution", r, r["institution"], None) for r in report["institutions"]),
        *(row("visitor", r, r["institution"], r["visitor"]) for r in report["visitors"]),
    ]


def _key(row: tuple) -> tuple:
    return tuple("" if v is None else str(v) for v in row[:3])


def _seed(app, url: str) -> tuple[int, str]:
    with app.app_context(), audit.acting_as(audit.Actor(kind="cli", name="bench")):
        with transaction():
            load_demo(password=PASSWORD, register=False)
        today = dt.datetime.now(dt.UTC).date()
        with transaction():
            programme_id = _programme(today)
        programme = db.session.get(OutreachProgramme, programme_id)
        street = db.session.get(Area, programme.area_id)
        communities = list(
            db.session.execute(
                db.select(Area.id).where(Area.parent_id == street.id).order_by(Area.id)
            ).scalars()
        )
        banks = list(
            db.session.execute(
                db.text(
                    "SELECT institution_id FROM outreach_programme_institutions"
                    " WHERE programme_id = :p ORDER BY position"
                ),
                {"p": programme_id},
            ).scalars()
        )
        coordinator = db.session.execute(
            db.select(User).where(User.username == "coordinator")
        ).scalar_one()
        path = db.session.get(Area, coordinator.area_id).path
        window_start = programme.visits_from
        db.session.remove()
    params = {
        "programme": programme_id, "banks": banks, "communities": communities,
        "per_bank": VISITORS_PER_BANK, "enterprises": ENTERPRISES, "visited": VISITED,
        "visits": VISITS, "referrals": REFERRALS, "zone": ZONE,
        "window_start": dt.datetime.combine(window_start, dt.time(9), tzinfo=dt.UTC),
        "window_days": (today - window_start).days - 1,
    }  # fmt: skip
    started = time.perf_counter()
    with psycopg.connect(url) as conn:
        conn.execute("SELECT setseed(0.42)")
        for i, sql in enumerate(SEED):
            if i == 2:  # the visitor accounts by bank position then number: the list reads
                # visitors[1 + position * VISITORS_PER_BANK + k]
                params["visitors"] = [
                    r[0]
                    for r in conn.execute(
                        "SELECT u.id FROM users u JOIN unnest(%(banks)s::int[])"
                        " WITH ORDINALITY AS b(id, pos) ON b.id = u.institution_id"
                        " WHERE u.username ~ '-v[0-9]+$'"
                        " ORDER BY b.pos, substring(u.username from '[0-9]+$')::int",
                        params,
                    )
                ]
            conn.execute(sql, params)
        conn.commit()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    print(
        f"seeded {ENTERPRISES:,} enterprises, {VISITS:,} visits on {VISITED:,} of them, "
        f"{REFERRALS:,} referrals, {len(banks)} banks x {VISITORS_PER_BANK} visitor accounts "
        f"in {time.perf_counter() - started:.1f} s (bulk INSERT ... SELECT generate_series)"
    )
    return programme_id, path


def run(url: str | None = None, repeat: int = 5) -> dict[str, float]:
    url = url or os.environ.get("GRIDSERVE_BENCH_DATABASE_URL", DEFAULT_URL)
    app = fresh_app(url)
    programme_id, path = _seed(app, url)
    client = app.test_client()
    token = client.post(
        "/api/v1/auth/token", json={"username": "coordinator", "password": PASSWORD}
    )
    headers = {"Authorization": f"Bearer {token.get_json()['access_token']}"}
    target = f"/api/v1/outreach/programmes/{programme_id}/progress"

    def ours_once() -> dict:
        resp = client.get(target, headers=headers)
        assert resp.status_code == 200, resp.get_json()
        return resp.get_json()

    ours_s, report = _best(ours_once, repeat)
    with psycopg.connect(url) as conn:

        def anchor_once() -> list[tuple]:
            return conn.execute(
                ANCHOR, {"programme": programme_id, "path": path, "zone": ZONE}
            ).fetchall()

        anchor_s, anchor_rows = _best(anchor_once, repeat)
    ours_rows = sorted(_rows_of(report), key=_key)
    anchor_rows = sorted((tuple(r) for r in anchor_rows), key=_key)
    assert ours_rows == anchor_rows, next(
        (o, a) for o, a in zip(ours_rows, anchor_rows, strict=False) if o != a
    )
    totals = report["totals"]
    print(
        f"progress: {len(report['institutions'])} institution rows, {len(report['visitors'])} "
        f"visitor rows; totals listed {totals['listed']:,}, visited {totals['visited']:,} "
        f"({totals['visited_share']:.2%}), need {totals['need_amount']:,} yuan, decisions open "
        f"{totals['decisions_open']:,} / overdue {totals['decisions_overdue']:,}, referrals "
        f"{totals['referrals_made']:,} ({totals['referrals_converted']:,} converted); "
        f"anchor rows equal to ours: yes ({len(anchor_rows)} rows)"
    )
    print(
        f"ours (GET .../progress in process, JSON included) {ours_s:.3f} s; anchor (one SQL "
        f"statement, fetched) {anchor_s:.3f} s; ours at {anchor_s / ours_s:.0%} of the anchor's "
        f"speed (best of {repeat}; targets: ours <= 1 s, >= 50 %)"
    )
    return {"ours_s": ours_s, "anchor_s": anchor_s, "ratio": anchor_s / ours_s}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    run(args.database_url, args.repeat)


if __name__ == "__main__":
    main()
