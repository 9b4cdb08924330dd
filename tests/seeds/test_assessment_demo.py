"""The assessment demo (seeds/assessment.py): the layout held since last December, field work to
score, the runs with their statuses, grades spread, the one yearly fail and its open
recommendation, the banks' entered values and deduction, a worker reading their own card, and
the monthly report of last month with the work in it."""

from __future__ import annotations

import datetime as dt
import time
from collections import Counter

from sqlalchemy import func, select, text

from gridserve import audit
from gridserve.db import transaction
from gridserve.extensions import db
from gridserve.models import (
    AssessmentRun,
    Assignment,
    DismissalRecommendation,
    GridCell,
    Scorecard,
    ScorecardDeduction,
    ScorecardLine,
    User,
    Visit,
    Worker,
)
from gridserve.timeutil import local_today
from seeds.assessment import periods, scored_days, since
from seeds.loader import load_demo
from tests.clock import at_local, move_to
from tests.conftest import TEST_ACTOR, login

PASSWORD = "demo-pass-123"


def _seed() -> float:
    started = time.perf_counter()
    with audit.acting_as(TEST_ACTOR), transaction():
        load_demo(password=PASSWORD, register=True)
    return time.perf_counter() - started


def _runs() -> dict[tuple[str, str], AssessmentRun]:
    return {
        (r.template_snapshot["code"], r.period): r
        for r in db.session.scalars(select(AssessmentRun))
    }


def test_the_assessment_demo(clean_app) -> None:
    with clean_app.app_context():
        took = _seed()
        print(f"full demo seeded in {took:.1f} s")
        today = local_today()
        named = periods(today)
        _history_is_held_since_the_start(today)
        runs = _the_runs_and_their_grades(named)
        failing = _one_yearly_fail_one_open_recommendation(runs[("grid_worker", named["year"])])
        _banks_have_entered_values_and_a_deduction(runs[("bank_branch", named["previous"])])
        worker1_card = db.session.scalar(
            select(Scorecard.id)
            .join(Worker, Worker.id == Scorecard.target_id)
            .join(User, User.id == Worker.user_id)
            .where(
                User.username == "worker1",
                Scorecard.run_id == runs[("grid_worker", named["previous"])].id,
            )
        )
    client = clean_app.test_client()
    _a_worker_reads_their_own_card(client, worker1_card, named)
    _the_failing_worker_is_in_the_centres_list(client, failing)
    _last_month_has_the_work(client, today)


def _history_is_held_since_the_start(today: dt.date) -> None:
    first = since(today)
    assert first in (dt.date(today.year - 1, 12, 1), dt.date(today.year - 1, 10, 1))
    starts = Counter(db.session.scalars(select(Assignment.starts_on)))
    assert starts == {first: 140}
    assert set(db.session.scalars(select(GridCell.valid_from))) == {first}
    kinds = dict(db.session.execute(select(Visit.kind, func.count()).group_by(Visit.kind)).all())
    days = len(scored_days(today))
    # Three windows a day in most (cell, day) pairs; about 20 household visits a cell-month.
    assert 140 * days * 2.5 < kinds["patrol"] < 140 * days * 3
    assert 140 * days / 30.44 * 14 < kinds["household_visit"] < 140 * days / 30.44 * 25
    assert kinds["sme_visit"] > 0
    newest = db.session.scalar(select(func.max(Visit.started_at)))
    assert newest < dt.datetime.now(dt.UTC)
    if db.engine.dialect.name == "sqlite":  # the spatial index, filled once after the rows
        indexed = db.session.scalar(text("SELECT count(*) FROM idx_visits_geom"))
        assert indexed == db.session.scalar(select(func.count()).select_from(Visit))
    flagged = db.session.scalar(select(func.count()).where(Visit.mock_location.is_(True)))
    assert 0 < flagged < sum(kinds.values()) * 0.02


def _the_runs_and_their_grades(named: dict[str, str]) -> dict[tuple[str, str], AssessmentRun]:
    runs = _runs()
    status = {k: (r.status, r.provisional) for k, r in runs.items()}
    assert status == {
        ("grid_worker", named["previous"]): ("published", False),
        ("grid_worker", named["current"]): ("computed", True),
        ("grid_worker", named["year"]): ("published", False),
        ("community_station", named["previous"]): ("published", False),
        ("bank_branch", named["previous"]): ("computed", False),
        ("bank_branch", named["current"]): ("computed", True),
    }
    # The banks' outreach figures are rated in one of their runs (the programmes are dated
    # around the seeding day).
    outreach = ("events_held", "reports_on_time", "enterprises_visited", "decisions_on_time")
    banks = [runs[("bank_branch", p)].id for p in (named["previous"], named["current"])]
    rated = db.session.scalar(
        select(func.count())
        .select_from(ScorecardLine)
        .join(Scorecard, Scorecard.id == ScorecardLine.scorecard_id)
        .where(
            Scorecard.run_id.in_(banks),
            ScorecardLine.code.in_(outreach),
            ScorecardLine.rated.is_(True),
        )
    )
    assert rated >= 11
    for key in (("grid_worker", p) for p in named.values()):
        grades = Counter(
            db.session.scalars(select(Scorecard.grade).where(Scorecard.run_id == runs[key].id))
        )
        totals = sorted(
            db.session.scalars(select(Scorecard.total).where(Scorecard.run_id == runs[key].id))
        )
        print(key, dict(grades), [str(t) for t in totals[:4]])
        assert sum(grades.values()) == 140
        assert len(grades) >= 3, grades  # spread, not all the same
        assert grades["excellent"] + grades["good"] > grades["pass"] + grades["fail"]
    # The stations' spot checks on their own workers' cards (QS01, QS02), entered and audited.
    spot = db.session.scalars(
        select(ScorecardLine).where(
            ScorecardLine.code == "spot_check",
            ScorecardLine.scorecard_id.in_(
                select(Scorecard.id).where(
                    Scorecard.run_id == runs[("grid_worker", named["previous"])].id
                )
            ),
            ScorecardLine.entered_value.is_not(None),
        )
    ).all()
    stations = set(
        db.session.scalars(select(User.id).where(User.username.in_(["station1", "station2"])))
    )
    assert 10 <= len(spot) <= 40 and {s.entered_by for s in spot} == stations
    assert all(s.evidence["note"] for s in spot)
    return runs


def _one_yearly_fail_one_open_recommendation(year: AssessmentRun) -> int:
    fails = db.session.scalars(
        select(Scorecard).where(Scorecard.run_id == year.id, Scorecard.grade == "fail")
    ).all()
    assert len(fails) == 1, [(c.target_name, c.total, c.target_id) for c in fails]
    (card,) = fails
    worker = db.session.get(Worker, card.target_id)
    assert worker.user_id is None  # not worker1/worker2, whom other browser tests use
    (rec,) = db.session.scalars(select(DismissalRecommendation)).all()
    assert (rec.status, rec.worker_id, rec.scorecard_id) == ("open", worker.id, card.id)
    print("failing worker", worker.full_name, card.total)
    return rec.id


def _banks_have_entered_values_and_a_deduction(run: AssessmentRun) -> None:
    cards = db.session.scalars(select(Scorecard).where(Scorecard.run_id == run.id)).all()
    assert len(cards) == 11 and all(c.target_kind == "institution" for c in cards)
    entered = db.session.execute(
        select(ScorecardLine.code, func.count())
        .where(
            ScorecardLine.scorecard_id.in_([c.id for c in cards]),
            ScorecardLine.entered_value.is_not(None),
        )
        .group_by(ScorecardLine.code)
    ).all()
    assert dict(entered) == {"mystery_shopper": 11, "customer_satisfaction": 11}
    (deduction,) = db.session.scalars(
        select(ScorecardDeduction).where(ScorecardDeduction.scorecard_id.in_([c.id for c in cards]))
    ).all()
    card = next(c for c in cards if c.id == deduction.scorecard_id)
    assert deduction.code == "serious_complaint" and float(card.deducted) == 1.0
    assert len({c.total for c in cards}) > 1


def _a_worker_reads_their_own_card(client, card_id: int, named: dict[str, str]) -> None:
    headers = login(client, "worker1", PASSWORD)
    mine = client.get("/api/v1/assessments/scorecards?mine=1", headers=headers)
    assert mine.status_code == 200, mine.get_json()
    listed = mine.get_json()
    # Their published cards only: the quarter and the year (not the provisional quarter).
    assert sorted(c["period"] for c in listed) == sorted([named["previous"], named["year"]])
    assert card_id in [c["id"] for c in listed]
    card = client.get(f"/api/v1/assessments/scorecards/{card_id}", headers=headers).get_json()
    assert card["target_name"] == "网格员甲" and card["grade_name"]
    lines = {line["code"]: line for line in card["lines"]}
    assert lines["patrol_coverage"]["rated"] and lines["patrol_coverage"]["raw"]["numerator"] > 0
    assert lines["spot_check"]["entered_value"] is not None


def _the_failing_worker_is_in_the_centres_list(client, rec_id: int) -> None:
    headers = login(client, "centre", PASSWORD)
    recs = client.get("/api/v1/assessments/recommendations?status=open", headers=headers)
    assert [r["id"] for r in recs.get_json()] == [rec_id]


def _last_month_has_the_work(client, today: dt.date) -> None:
    last = today.replace(day=1) - dt.timedelta(days=1)
    headers = login(client, "centre", PASSWORD)
    street = client.get("/api/v1/areas?level=street", headers=headers).get_json()
    street_id = next(a["id"] for a in street if a["code"] == "QS")
    resp = client.get(
        f"/api/v1/reports/monthly?area={street_id}&month={last:%Y-%m}", headers=headers
    )
    assert resp.status_code == 200, resp.get_json()
    report = resp.get_json()
    sections = report.get("sections", report)
    patrols = sections["patrols"]
    assert patrols["patrols"] > 0 and patrols["cell_days"] == 140 * last.day
    assert 0.8 < patrols["covered"] / patrols["cell_days"] < 1
    print("monthly", {k: patrols[k] for k in ("patrols", "cell_days", "covered")},
          sections["visits"])  # fmt: skip
    assert sum(v for v in _numbers(sections["visits"])) > 0


def _numbers(section) -> list[int]:
    if isinstance(section, dict):
        return [n for v in section.values() for n in _numbers(v)]
    if isinstance(section, list):
        return [n for v in section for n in _numbers(v)]
    return [section] if isinstance(section, int) and not isinstance(section, bool) else []


def test_seeded_in_february_the_service_began_in_october(clean_app) -> None:
    """Seeded in the first quarter, the previous quarter is last year's last: the service
    began on its first day, the quarter and the year rest on the same days; one fail still."""
    with clean_app.app_context():
        move_to(at_local(dt.date(local_today().year + 1, 2, 14), dt.time(10)))
        _seed()
        today = local_today()
        named = periods(today)
        assert since(today) == dt.date(today.year - 1, 10, 1)
        assert named == {
            "previous": f"{today.year - 1}-Q4",
            "current": f"{today.year}-Q1",
            "year": str(today.year - 1),
        }
        _history_is_held_since_the_start(today)
        runs = _the_runs_and_their_grades(named)
        _one_yearly_fail_one_open_recommendation(runs[("grid_worker", named["year"])])
