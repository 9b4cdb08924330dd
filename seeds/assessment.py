"""The assessment demo (考核): field work worth scoring, the reference templates, and runs.

The demo's layout comes into force on the seeding day (seeds/loader.py), and assessments look
back: a quarter or a year is scored over the (cell, day) pairs a worker *held*. So the demo
says the street's grid service began on 1 December of last year (:func:`since`; seeded in
January to March, on the previous quarter's first day): the layout's in-force date (the plan's
``effective_from``, its cells' ``valid_from``) and the workers' first assignments
(``starts_on``) are moved back to that day — one coherent history in which the same 140 cells
were held by the same workers from then until today (the model allows it: an assignment is
dated, only the API refuses one starting in the past). Nothing else moves: the places keep
their cells, the cases (seeds/cases.py) already sit in today's cells and holders. Last year's
card of a worker therefore rests on its December.

Then, on last December's days (the yearly run) and from the previous quarter's first day until
yesterday (:func:`scored_days`; the months between, if any, have no records: a lighter seed),
every worker's field work as rows of ``visits`` — patrols in the three windows of the
patrol-coverage report, household and SME visits at the register places of their cell, a few
uploads flagged mock location or outside the cell — and the register of their cells'
households (三知道二清楚一掌握; worker1's and worker2's cells keep the 40 households each the
loader registered through the service, so their terminals' bundles do not change). Most
workers are good, every ninth is weak (windows missed, fewer visits, a thinner register) and
one worker without a login (:data:`FAILING`) did poorly all along: the only fail of the
yearly run. worker1 and worker2 (the field app's) work well.

Runs through the assessment services, as the console would make them: the previous quarter
of ``grid_worker`` over the street (the stations' spot checks entered for their own workers by
``station1``/``station2`` through the entry function, so audited), published; the current
quarter provisional (nothing entered yet); last year (with the stations' spot checks)
published — one fail, so one open dismissal recommendation for the street centre; the
previous quarter of ``community_station`` (the centre's review entered for two communities),
published; the previous quarter of ``bank_branch`` over the district's banks, with the
coordinator's mystery-shopper and customer-satisfaction scores entered for every bank and one
serious-complaint deduction, left computed (the banking growth figures still to be entered),
and the current quarter's, provisional: the demo's outreach programmes are dated around the
seeding day, so their computed figures (events, reports, visits, decisions) mostly land there.

Rows are made in Python from one seeded RNG and written in one statement per table (the
visits on the driver's cursor, the households with :func:`gridserve.db.insert_rows`):
deterministic for a seeding day. People and numbers are invented.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import random
from collections import defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select, update

from gridserve import crypto
from gridserve.db import insert_rows
from gridserve.extensions import db
from gridserve.models import (
    Area,
    AssessmentRun,
    Assignment,
    GridCell,
    Household,
    Place,
    User,
    Worker,
)
from gridserve.scope import OPERATOR
from gridserve.services.accounts.auth import principal_for
from gridserve.services.assessment import cards as card_service
from gridserve.services.assessment import runs as run_service
from gridserve.services.geography import areas as area_service
from gridserve.services.geography import grid as grid_service
from gridserve.sync import next_seq
from seeds.assessment_templates import load_templates

if TYPE_CHECKING:
    from seeds.loader import SeedReport

STREET = "QS"
SEED = 15
FAILING = 57  # the worker (in community and cell order) who fails the year: no login
WEAK_EVERY = 9  # every ninth worker (from the fifth) is weak
NAMED = ("worker1", "worker2")
# Local patrol times: one in each window of the patrol-coverage report (06-12, 12-18, 18-24).
WINDOW_STARTS = (6, 12, 18)
HH_WORK_UNITS = ("街道超市", "个体经营", "区人民医院", "青石小学", "物流公司", "退休", "在读学生")


@dataclass(frozen=True)
class Profile:
    """How a worker works: a window missed with ``miss``; household and SME visits a month;
    the share of their cells' household places registered complete; uploads flagged."""

    miss: float
    household_visits: float
    sme_visits: float
    complete: float
    flagged: float
    spot_check: float


def quarter_of(day: dt.date) -> tuple[int, int]:
    return day.year, (day.month - 1) // 3 + 1


def previous_quarter(day: dt.date) -> tuple[int, int]:
    year, q = quarter_of(day)
    return (year - 1, 4) if q == 1 else (year, q - 1)


def periods(today: dt.date) -> dict[str, str]:
    """The periods the demo scores, for a seeding day."""
    py, pq = previous_quarter(today)
    cy, cq = quarter_of(today)
    return {"previous": f"{py}-Q{pq}", "current": f"{cy}-Q{cq}", "year": str(today.year - 1)}


def since(today: dt.date) -> dt.date:
    """The day the demo's grid service began: 1 December of last year, or the previous
    quarter's first day if that is earlier (seeded in January to March)."""
    py, pq = previous_quarter(today)
    return min(dt.date(today.year - 1, 12, 1), dt.date(py, 3 * pq - 2, 1))


def scored_days(today: dt.date) -> list[dt.date]:
    """The days with field records: last December (the yearly run) and from the previous
    quarter's first day until yesterday (the quarterly runs, the monthly report); the months
    between, if any, have none (a lighter seed)."""
    first = since(today)
    py, pq = previous_quarter(today)
    resumed = dt.date(py, 3 * pq - 2, 1)
    year_end = dt.date(today.year, 1, 1)
    out = [first + dt.timedelta(days=i) for i in range((min(year_end, today) - first).days)]
    day = max(resumed, year_end)
    while day < today:
        out.append(day)
        day += dt.timedelta(days=1)
    return out


def _profile(rng: random.Random, n: int) -> Profile:
    if n == FAILING:
        return Profile(0.32, 7, 0.5, 0.35, 0.09, 55)
    if n % WEAK_EVERY == 4:
        return Profile(
            rng.uniform(0.03, 0.055), rng.uniform(17.5, 19.5), 1, rng.uniform(0.75, 0.82), 0.02, 80
        )
    return Profile(
        rng.uniform(0.005, 0.07),
        rng.uniform(18, 24),
        rng.uniform(1, 3),
        rng.uniform(0.78, 0.98),
        rng.uniform(0.0, 0.015),
        rng.uniform(78, 98),
    )


def _backdate(street: Area, today: dt.date, first: dt.date) -> None:
    """The layout and the first assignments as in force since ``first`` (see the module)."""
    plan = grid_service.active_plan(street.id)
    if plan is None or plan.effective_from != today:
        return
    plan.effective_from = first
    db.session.execute(
        update(GridCell)
        .where(GridCell.plan_id == plan.id, GridCell.valid_from == today)
        .values(valid_from=first)
        .execution_options(synchronize_session=False)
    )
    communities = [a.id for a in street.children]
    db.session.execute(
        update(Assignment)
        .where(
            Assignment.community_id.in_(communities),
            Assignment.starts_on == today,
            Assignment.ends_on.is_(None),
        )
        .values(starts_on=first)
        .execution_options(synchronize_session=False)
    )
    db.session.expire_all()


@dataclass
class Holder:
    worker_id: int
    user_id: int | None
    community_id: int
    cell_code: str
    cell_id: int


def _holders(street: Area, first: dt.date) -> list[Holder]:
    rows = db.session.execute(
        select(
            Worker.id, Worker.user_id, Assignment.community_id, Assignment.cell_code, GridCell.id
        )
        .join(Assignment, Assignment.worker_id == Worker.id)
        .join(Area, Area.id == Assignment.community_id)
        .join(GridCell, GridCell.code == Assignment.cell_code)
        .where(
            Area.parent_id == street.id,
            Assignment.starts_on == first,
            Assignment.ends_on.is_(None),
            GridCell.valid_to.is_(None),
        )
        .order_by(Area.code, Assignment.cell_code)
    ).all()
    return [Holder(*r) for r in rows]


def _places(cell_ids: list[int]) -> dict[int, dict[str, list[tuple]]]:
    """Per cell, its household and enterprise places as (id, name, x, y)."""
    out: dict[int, dict[str, list[tuple]]] = defaultdict(lambda: defaultdict(list))
    rows = db.session.execute(
        select(
            Place.id,
            Place.cell_id,
            Place.type,
            Place.name,
            func.ST_X(Place.geom),
            func.ST_Y(Place.geom),
        )
        .where(Place.cell_id.in_(cell_ids), Place.type.in_(("household", "enterprise")))
        .order_by(Place.id)
    ).all()
    for pid, cell_id, kind, name, x, y in rows:
        out[cell_id][kind].append((pid, name, x, y))
    return out


COLUMNS = (
    "uuid", "worker_id", "kind", "place_id", "started_at", "ended_at", "x", "y", "accuracy_m",
    "mock_location", "flags", "community_id", "cell_code", "content_hash", "received_at",
)  # fmt: skip


def _visit_rows(
    rng: random.Random,
    holders: list[Holder],
    profiles: dict[int, Profile],
    places: dict[int, dict[str, list[tuple]]],
    days: list[dt.date],
    zone: Any,
) -> list[tuple]:
    """The visits as tuples of :data:`COLUMNS` (times as UTC epoch seconds, the point as
    x, y): plain numbers, turned into timestamps and points by the database."""
    rows: list[tuple] = []
    midnights = [int(dt.datetime.combine(d, dt.time(), tzinfo=zone).timestamp()) for d in days]
    rand, uniform, randint, choice = rng.random, rng.uniform, rng.randint, rng.choice
    prefix = hashlib.sha256(f"gridserve-demo-{SEED}-{days[0]}".encode()).hexdigest()
    uid, digest = f"{prefix[:8]}-{prefix[8:12]}-4{prefix[13:16]}-8", prefix[:48]
    for h in holders:
        p = profiles[h.worker_id]
        homes = places[h.cell_id]["household"] or places[h.cell_id]["enterprise"]
        firms = places[h.cell_id]["enterprise"] or homes
        if not homes:
            continue
        hv, sme = p.household_visits / 30.44, p.sme_visits / 30.44
        for midnight in midnights:
            todo: list[tuple[str, int, tuple | None]] = [
                ("patrol", midnight + 3600 * start + randint(1_000, 20_000), None)
                for start in WINDOW_STARTS
                if rand() >= p.miss
            ]
            for kind, rate, pool in (("household_visit", hv, homes), ("sme_visit", sme, firms)):
                for _ in range(int(rate) + (rand() < rate - int(rate))):
                    todo.append((kind, midnight + randint(32_400, 63_000), choice(pool)))
            for kind, at, place in todo:
                spot = place or choice(homes)
                x, y = spot[2], spot[3]
                flags, mock = "[]", False
                if rand() < p.flagged:
                    if rand() < 0.5:
                        mock, flags = True, '["mock_location"]'
                    else:
                        flags = '["outside_assigned_cell"]'
                        x, y = x + 0.004, y + 0.003  # a street or two away
                else:
                    x, y = x + uniform(-2e-5, 2e-5), y + uniform(-2e-5, 2e-5)
                n = len(rows)
                rows.append((
                    f"{uid}{n // 10**12:03x}-{n:012x}", h.worker_id, kind,
                    place[0] if place else None, at, at + randint(300, 2_400), x, y,
                    randint(40, 250) / 10, mock, flags, h.community_id, h.cell_code,
                    f"{digest}{n:016x}", at + randint(60, 5_400),
                ))  # fmt: skip
    return rows


def _insert_visits(rows: list[tuple]) -> None:
    """One statement (PostgreSQL: arrays unnested) or one executemany (SQLite), on the
    driver's cursor in the session's transaction: a hundred thousand rows in a few seconds."""
    raw = db.session.connection().connection.driver_connection
    cols = ", ".join(c for c in COLUMNS if c not in ("x", "y"))
    if db.engine.dialect.name == "postgresql":
        types = (
            "text", "int", "text", "int", "int8", "int8", "float8", "float8",
            "float8", "bool", "text", "int", "text", "text", "int8",
        )  # fmt: skip
        arrays = ", ".join(f"%(c{i})b::{t}[]" for i, t in enumerate(types))
        names = ", ".join(f"c{i}" for i in range(len(types)))
        sql = (
            f"INSERT INTO visits ({cols}, geom, notes, answers, attachments, version, "
            "updated_at) SELECT c0, c1, c2, c3, to_timestamp(c4), to_timestamp(c5), c8, c9, "
            "c10::jsonb, c11, c12, c13, to_timestamp(c14), "
            "ST_SetSRID(ST_MakePoint(c6, c7), 4326), '', '{}'::jsonb, '[]'::jsonb, 1, "
            f"to_timestamp(c14) FROM unnest({arrays}) AS u({names})"
        )
        with raw.cursor() as cursor:
            cursor.execute(
                sql, {f"c{i}": list(col) for i, col in enumerate(zip(*rows, strict=True))}
            )
        return
    # SQLAlchemy's SQLite form of a naive UTC timestamp, made by SQLite from the epoch seconds.
    stamp = "strftime('%Y-%m-%d %H:%M:%S', ?, 'unixepoch') || '.000000'"
    sql = (
        f"INSERT INTO visits ({cols}, geom, notes, answers, attachments, version, updated_at) "
        f"VALUES (?, ?, ?, ?, {stamp}, {stamp}, ?, ?, ?, ?, ?, ?, {stamp}, "
        f"MakePoint(?, ?, 4326), '', '{{}}', '[]', 1, {stamp})"
    )
    # SpatiaLite's index triggers cost more than the rows: the index is filled once after.
    raw.execute("SELECT DisableSpatialIndex('visits', 'geom')")
    raw.execute("DROP TABLE IF EXISTS idx_visits_geom")
    raw.executemany(
        sql,
        (
            (r[0], r[1], r[2], r[3], r[4], r[5], r[8], r[9], r[10], r[11],
             r[12], r[13], r[14], r[6], r[7], r[14])
            for r in rows
        ),
    )  # fmt: skip
    raw.execute("SELECT CreateSpatialIndex('visits', 'geom')")


def _members_pool(rng: random.Random) -> tuple[list[tuple[bytes, int]], list[tuple[bytes, int]]]:
    """A few encrypted member lists (complete, and with a work unit missing), shared by the
    generated households: one encryption per list, not per household."""
    from seeds.loader import _invented_name

    complete, partial = [], []
    for n in range(40):
        size = rng.randint(1, 4)
        members = [
            {
                "name": _invented_name(1000 + n * 5 + k),
                "relation": ("户主", "配偶", "子女", "父母")[k],
                "work_unit": rng.choice(HH_WORK_UNITS),
            }
            for k in range(size)
        ]
        complete.append((crypto.encrypt_json(members), size))
        if n < 12:
            members[-1] = {**members[-1], "work_unit": ""}
            partial.append((crypto.encrypt_json(members), size))
    return complete, partial


def _household_rows(
    rng: random.Random,
    holders: list[Holder],
    profiles: dict[int, Profile],
    places: dict[int, dict[str, list[tuple]]],
    first: dt.date,
    zone: Any,
) -> list[dict[str, Any]]:
    named = set(db.session.scalars(select(User.id).where(User.username.in_(NAMED))))
    have = set(db.session.scalars(select(Household.place_id)))
    complete, partial = _members_pool(rng)
    seq = next_seq()
    areas = {h.cell_id: h.community_id for h in holders}
    rows = []
    for h in holders:
        if h.user_id in named:
            continue  # the loader's 40 households, through the service
        share = profiles[h.worker_id].complete
        for pid, name, _x, _y in places[h.cell_id]["household"]:
            if pid in have:
                continue
            r = rng.random()
            if r >= share + 0.08:
                continue  # not registered yet
            enc, size = rng.choice(complete if r < share else partial)
            day = first + dt.timedelta(days=rng.randint(0, 75))
            at = dt.datetime.combine(day, dt.time(rng.randint(9, 17)), tzinfo=zone).astimezone(
                dt.UTC
            )
            rows.append(
                {
                    "place_id": pid,
                    "area_id": areas[h.cell_id],
                    "door_number": name or f"{pid % 97 + 1}号",
                    "address": f"青石街道{name or ''}",
                    "phone_enc": None,
                    "id_number_enc": None,
                    "members_enc": enc,
                    "member_count": size,
                    "work_units_complete": r < share,
                    "version": 1,
                    "change_seq": seq,
                    "created_at": at,
                    "updated_at": at,
                }
            )
    return rows


def _principal(username: str):
    user = db.session.execute(select(User).where(User.username == username)).scalar_one()
    return principal_for(user)


def _cards(run: AssessmentRun) -> list:
    from gridserve.models import Scorecard

    return list(
        db.session.scalars(
            select(Scorecard).where(Scorecard.run_id == run.id).order_by(Scorecard.id)
        )
    )


def _spot_checks(run: AssessmentRun, profiles: dict[int, Profile]) -> int:
    """The stations' spot checks of their own workers (station1: QS01, station2: QS02)."""
    stations = {}
    for username, code in (("station1", "QS01"), ("station2", "QS02")):
        stations[area_service.find_by_code(code).id] = _principal(username)  # type: ignore[union-attr]
    n = 0
    for card in _cards(run):
        principal = stations.get(card.area_id)
        if principal is None:
            continue
        value = round(profiles[card.target_id].spot_check)
        card_service.enter(
            principal,
            card.id,
            "spot_check",
            {
                "value": value,
                "version": card.version,
                "evidence": {
                    "note": f"{run.period}站点抽查:巡查记录、入户台账、群众走访核实,得{value}分。"
                },
            },
        )
        n += 1
    return n


def _centre_reviews(run: AssessmentRun) -> None:
    centre = _principal("centre")
    for card, value in zip(_cards(run)[:2], (92, 84), strict=False):
        card_service.enter(
            centre,
            card.id,
            "centre_review",
            {
                "value": value,
                "version": card.version,
                "evidence": {"note": "街道中心季度评议:台账检查与群众回访。"},
            },
        )


def _banks(run: AssessmentRun, rng: random.Random) -> None:
    coordinator = _principal("coordinator")
    cards = _cards(run)
    for card in cards:
        for code, note in (
            ("mystery_shopper", "四次“神秘人”暗访检查平均分"),
            ("customer_satisfaction", "季度客户满意度问卷调查得分"),
        ):
            db.session.refresh(card)
            card_service.enter(
                coordinator,
                card.id,
                code,
                {
                    "value": rng.randint(78, 99),
                    "version": card.version,
                    "evidence": {"note": note},
                },
            )
    if cards:
        card_service.deduct(
            coordinator,
            cards[len(cards) // 2].id,
            {
                "code": "serious_complaint",
                "reason": "客户投诉办理贷款时被要求搭售理财产品,经核实属实,定为重大有责投诉。",
                "evidence": {"note": "投诉受理单及核查报告"},
            },
        )


def load_assessment(report: SeedReport, today: dt.date) -> None:
    """Field work, the register, the templates and the runs (see the module), once; needs the
    layout, the workers and the banks."""
    ids = load_templates()
    named = periods(today)
    if db.session.scalar(
        select(AssessmentRun.id).where(
            AssessmentRun.template_id == ids["grid_worker"],
            AssessmentRun.period == named["previous"],
        )
    ):
        return
    street = area_service.find_by_code(STREET)
    if street is None or grid_service.active_plan(street.id) is None:
        return
    rng = random.Random(SEED)
    first = since(today)
    _backdate(street, today, first)
    holders = _holders(street, first)
    if not holders:
        return
    zone = area_service.zone_of(street.id)
    profiles = {h.worker_id: _profile(rng, n) for n, h in enumerate(holders)}
    for h in holders:  # worker1 and worker2 (the field app's) work well: their register is thin
        if h.user_id is not None:
            profiles[h.worker_id] = Profile(0.005, 22, 2, 1.0, 0.0, 95)
    places = _places([h.cell_id for h in holders])
    days = scored_days(today)
    visits = _visit_rows(rng, holders, profiles, places, days, zone)
    _insert_visits(visits)
    report.count("field visits", len(visits))
    households = _household_rows(rng, holders, profiles, places, first, zone)
    insert_rows(Household.__table__, households)
    report.count("households", len(households))

    made = 0

    def run(template: str, period: str, area: Area, **extra: Any) -> AssessmentRun:
        nonlocal made
        made += 1
        return run_service.create_run(
            OPERATOR, {"template": template, "period": period, "area_id": area.id, **extra},
            as_job=False,
        )[0]  # fmt: skip

    quarter = run("grid_worker", named["previous"], street)
    entered = _spot_checks(quarter, profiles)
    run_service.publish(OPERATOR, quarter.id)
    run("grid_worker", named["current"], street, provisional=True)  # no spot checks yet
    year = run("grid_worker", named["year"], street)
    _spot_checks(year, profiles)
    run_service.publish(OPERATOR, year.id)
    stations = run("community_station", named["previous"], street)
    _centre_reviews(stations)
    run_service.publish(OPERATOR, stations.id)
    district = area_service.find_by_code("XQ")
    banks = run("bank_branch", named["previous"], district)  # type: ignore[arg-type]
    _banks(banks, rng)
    # The outreach programmes of the demo are dated around today: their figures show here.
    run("bank_branch", named["current"], district, provisional=True)  # type: ignore[arg-type]
    report.count("assessment runs", made)
    report.notes.append(
        f"assessment: {len(visits)} field visits since {first}, {entered} spot checks; "
        f"workers {named['previous']} (published), {named['current']} (provisional), "
        f"{named['year']} (published, one fail); stations {named['previous']}; "
        f"banks {named['previous']} and {named['current']} (provisional)"
    )
