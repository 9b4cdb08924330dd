"""The computed worker and station indicators against a small hand-built July 2025.

The world (on the ``cases`` fixture; community A's cells C1 = ``field.cell``, C2 =
``field.other_cell``, community B's C3 = ``field.cell_b``; local time Asia/Shanghai):

- worker A holds C1 and C2 from 1 July (C1 until 4 July, C2 until 4 July: ends are exclusive)
  → 6 (cell, day) pairs; worker B takes C1 over on 4 July until 6 July → 2 pairs.
- Patrols (P = morning 06:30, afternoon 13:00, evening 23:59 — the morning one is 22:30 UTC
  the day before, so its UTC date differs):
  A: C1 1st P, C1 2nd P, C2 1st P, C2 2nd morning + afternoon only, C1 3rd morning at 03:00
  (night: no window) + afternoon + evening, C2 3rd P → covered: C1/1, C1/2, C2/1, C2/3 = 4 of 6.
  B: C1 4th P → 1 of 2; A patrols C1 on the 5th in all windows, but B holds it: nobody's.
- Worker V holds C3 from 1 Aug until 16 Sep: August whole (1) + 15/30 of September = 1.5
  cell-months, 46 cell-days; 3 household and 1 SME visit in Q3, a patrol, and a household
  visit in June.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

import pytest
from sqlalchemy import func, select

from gridserve.extensions import db
from gridserve.models import Area, Assignment, GridCell, Household, Place, Task, Visit, Worker
from gridserve.services.assessment import metrics
from gridserve.services.assessment.metrics import Period
from tests.clock import at_local, move_to, zone

JULY = (dt.date(2025, 7, 1), dt.date(2025, 7, 31))
Q3 = (dt.date(2025, 7, 1), dt.date(2025, 9, 30))
MORNING, AFTERNOON, EVENING, NIGHT = dt.time(6, 30), dt.time(13), dt.time(23, 59), dt.time(3)
P = (MORNING, AFTERNOON, EVENING)


def period(first: dt.date, last: dt.date) -> Period:
    return Period(first, last, zone())


@dataclass
class Hand:
    a: int
    b: int
    v: int
    c1: str
    c2: str
    c3: str
    comm_a: int
    comm_b: int
    street: int
    cases: dict[str, int]


def _worker(area_id: int, name: str) -> int:
    w = Worker(area_id=area_id, full_name=name)
    db.session.add(w)
    db.session.flush()
    return w.id


def _assign(worker: int, community: int, cell: str, first: dt.date, until: dt.date, slot=0):
    db.session.add(
        Assignment(worker_id=worker, community_id=community, cell_code=cell, slot=slot,
                   starts_on=first, ends_on=until)
    )  # fmt: skip


def _visit(worker, community, cell, day, clock, kind="patrol", flags=(), mock=False) -> int:
    v = Visit(
        uuid=str(uuid.uuid4()), worker_id=worker, kind=kind, started_at=at_local(day, clock),
        community_id=community, cell_code=cell, content_hash="0" * 64, flags=list(flags),
        mock_location=mock,
    )  # fmt: skip
    db.session.add(v)
    db.session.flush()
    return v.id


def _case(hand_area, worker, *, created, **fields) -> int:
    t = Task(
        kind="case", title="楼道堆物", area_id=hand_area, assigned_worker_id=worker,
        status=fields.pop("status", "open"), level=fields.pop("level", "cell"),
        created_at=created, updated_at=created, **fields,
    )  # fmt: skip
    db.session.add(t)
    db.session.flush()
    return t.id


def day(n: int, month: int = 7) -> dt.date:
    return dt.date(2025, month, n)


@pytest.fixture
def hand(ctx, cases) -> Hand:
    f = cases.field
    comm_a, comm_b = f.world.community_a, f.world.community_b
    c1, c2, c3 = f.cell, f.other_cell, f.cell_b
    a = _worker(comm_a, "网格员A")
    b = _worker(comm_a, "网格员B")
    v = _worker(comm_b, "网格员V")
    _assign(a, comm_a, c1, day(1), day(4), slot=0)
    _assign(a, comm_a, c2, day(1), day(4), slot=1)
    _assign(b, comm_a, c1, day(4), day(6))
    _assign(v, comm_b, c3, day(1, 8), day(16, 9))
    # A's patrols (12 in windows + 1 at night + 3 on C1 the 5th) and uploads to flag.
    for cell, n in ((c1, 1), (c1, 2), (c2, 1), (c2, 3)):
        for clock in P:
            _visit(a, comm_a, cell, day(n), clock)
    _visit(a, comm_a, c2, day(2), MORNING)
    _visit(a, comm_a, c2, day(2), AFTERNOON, flags=["outside_assigned_cell"])
    _visit(a, comm_a, c1, day(3), NIGHT, flags=["mock_location"], mock=True)
    _visit(a, comm_a, c1, day(3), AFTERNOON, flags=["low_accuracy"])
    _visit(a, comm_a, c1, day(3), EVENING)
    for clock in P:
        _visit(a, comm_a, c1, day(5), clock)
    for clock in P:
        _visit(b, comm_a, c1, day(4), clock)
    # V's visits: 3 household + 1 SME in Q3, a patrol, and one in June (outside).
    for n, kind in ((2, "household_visit"), (3, "household_visit"), (20, "sme_visit")):
        _visit(v, comm_b, c3, day(n, 8), AFTERNOON, kind=kind)
    _visit(v, comm_b, c3, day(10, 9), EVENING, kind="household_visit")
    _visit(v, comm_b, c3, day(11, 9), EVENING, kind="patrol")
    _visit(v, comm_b, c3, day(30, 6), EVENING, kind="household_visit")

    # Cases (created in July unless said): A's cases in community A.
    at = lambda n, clock=dt.time(10): at_local(day(n), clock)  # noqa: E731
    dispute, emergency = cases.categories["neighbour_dispute"], cases.categories["emergency"]
    ids = {
        # settled on time at the cell, needs verification, verified, rated satisfied
        "on_time": _case(comm_a, a, created=at(1), category_id=dispute, status="closed",
                         closed_at=at(3), closed_level="cell", settled_at=at(2),
                         level_due_at=at(3), needs_verification=True, verified_at=at(3),
                         rating=1, rated_at=at(4)),
        # settled after its level's deadline, needs verification, not verified, rated fairly
        "late": _case(comm_a, a, created=at(1), category_id=dispute, status="settled",
                      settled_at=at(5), level_due_at=at(4), needs_verification=True,
                      rating=2, rated_at=at(6)),
        # escalated once to the community, settled there on time, rated not satisfied
        "community": _case(comm_a, a, created=at(2), category_id=dispute, status="settled",
                           level="community", escalations=1, settled_at=at(6),
                           level_due_at=at(8), rating=3, rated_at=at(9)),
        # escalated twice, now at the street, open
        "street": _case(comm_a, a, created=at(3), category_id=dispute, level="street",
                        escalations=2),
        # open at the cell, not escalated
        "open": _case(comm_a, a, created=at(4), category_id=dispute),
        # an emergency goes to the street at once: not the worker's to keep in the cell
        "emergency": _case(comm_a, a, created=at(4), category_id=emergency, level="street"),
        # received in June: outside the period
        "june": _case(comm_a, a, created=at_local(day(30, 6), dt.time(10)),
                      category_id=dispute, escalations=1, level="community"),
        # cancelled: never counts
        "cancelled": _case(comm_a, a, created=at(2), category_id=dispute, status="cancelled",
                           closed_at=at(3), closed_level="cell", settled_at=at(2),
                           escalations=1),
    }  # fmt: skip
    db.session.flush()
    return Hand(a, b, v, c1, c2, c3, comm_a, comm_b, f.world.street, ids)


def _street(hand: Hand) -> Area:
    return db.session.get(Area, hand.street)


def run(hand: Hand, metric: str, kind: str, first_last=JULY) -> dict[int, metrics.Figure]:
    p = period(*first_last)
    area = _street(hand)
    return metrics.compute(metric, kind, metrics.targets(kind, area, p), area, p, {})


@pytest.fixture
def after_q3() -> None:
    move_to(at_local(dt.date(2025, 10, 2), dt.time(9)))


def test_targets_are_the_workers_who_held_a_cell_and_the_communities(hand, after_q3) -> None:
    area, p = _street(hand), period(*JULY)
    workers = metrics.targets("worker", area, p)
    assert [(t.id, t.name, t.area_id) for t in workers] == [
        (hand.a, "网格员A", hand.comm_a), (hand.b, "网格员B", hand.comm_a)
    ]  # fmt: skip
    assert [t.id for t in metrics.targets("worker", area, period(*Q3))] == [
        hand.a, hand.b, hand.v
    ]  # fmt: skip
    assert [t.id for t in metrics.targets("station", area, p)] == [hand.comm_a, hand.comm_b]


def test_patrol_coverage_counts_pairs_covered_in_all_three_windows(hand, after_q3) -> None:
    got = run(hand, "patrol_coverage", "worker")
    assert (got[hand.a].numerator, got[hand.a].denominator, got[hand.a].count) == (4, 6, 6)
    assert (got[hand.b].numerator, got[hand.b].denominator) == (1, 2)
    assert got[hand.a].details == {"pairs_held": 6, "pairs_covered": 4}
    stations = run(hand, "patrol_coverage", "station")
    assert (stations[hand.comm_a].numerator, stations[hand.comm_a].denominator) == (5, 8)
    assert (stations[hand.comm_b].numerator, stations[hand.comm_b].count) == (0, 0)


def test_a_provisional_period_holds_the_cells_only_to_today(hand) -> None:
    move_to(at_local(day(2), dt.time(12)))
    got = run(hand, "patrol_coverage", "worker")
    # A: C1 and C2 on the 1st and 2nd = 4 pairs; B not yet a holder.
    assert got[hand.a].denominator == 4
    assert hand.b not in got


def test_visits_per_cell_month_held(hand, after_q3) -> None:
    got = run(hand, "visits", "worker", Q3)[hand.v]
    assert got.numerator == 4
    assert got.denominator == pytest.approx(1.5)
    assert got.count == 31 + 15
    assert got.details == {"household_visits": 3, "sme_visits": 1, "cell_months": 1.5,
                           "cell_days": 46}  # fmt: skip
    # A held two cells for 3 days of July's 31: 6/31 cell-month; no visits of those kinds.
    a = run(hand, "visits", "worker", Q3)[hand.a]
    assert (a.numerator, a.denominator) == (0, pytest.approx(6 / 31))
    station = run(hand, "visits", "station", Q3)[hand.comm_b]
    assert (station.numerator, station.denominator) == (4, pytest.approx(1.5))


def test_flagged_uploads_mock_location_or_outside_the_cell(hand, after_q3) -> None:
    got = run(hand, "flagged_uploads", "worker")[hand.a]
    # A's uploads in July: 12 + 5 + 3 = 20; flagged: the outside one and the mock one.
    assert (got.numerator, got.denominator) == (2, 20)
    assert got.details == {"uploads": 20, "flagged": 2, "mock_location": 1, "outside_cell": 1}
    station = run(hand, "flagged_uploads", "station")[hand.comm_a]
    assert (station.numerator, station.denominator) == (2, 23)


def _household(place_id, area_id, *, door="1-101", members=2, complete=True) -> None:
    db.session.add(
        Household(place_id=place_id, area_id=area_id, door_number=door, member_count=members,
                  work_units_complete=complete)
    )  # fmt: skip


def _places(code: str) -> list[int]:
    return list(
        db.session.scalars(
            select(Place.id)
            .join(GridCell, GridCell.id == Place.cell_id)
            .where(GridCell.code == code, Place.type == "household")
            .order_by(Place.id)
        )
    )


def test_register_completeness_over_the_cells_held_at_the_end(hand, after_q3) -> None:
    in_c1, in_c2 = _places(hand.c1), _places(hand.c2)
    assert len(in_c1) >= 4 and len(in_c2) >= 1
    _household(in_c1[0], hand.comm_a)  # complete
    _household(in_c1[1], hand.comm_a, door=" ")  # no door number
    _household(in_c1[2], hand.comm_a, members=0)  # nobody registered
    _household(in_c1[3], hand.comm_a, complete=False)  # a work unit missing
    _household(in_c2[0], hand.comm_a)  # complete
    db.session.flush()
    got = run(hand, "register_completeness", "worker")
    # B holds C1 at the end of July's holding; A last held C1 and C2 (on the 3rd).
    assert (got[hand.b].numerator, got[hand.b].denominator) == (1, len(in_c1))
    assert got[hand.b].details["cells"] == [hand.c1]
    assert (got[hand.a].numerator, got[hand.a].denominator) == (2, len(in_c1) + len(in_c2))
    assert got[hand.a].details["no_household"] == len(in_c1) + len(in_c2) - 5
    station = run(hand, "register_completeness", "station")[hand.comm_a]
    in_a = db.session.scalar(
        select(func.count()).where(Place.area_id == hand.comm_a, Place.type == "household")
    )
    assert (station.numerator, station.denominator) == (2, in_a)


def test_cases_settled_on_time_at_their_level(hand, after_q3) -> None:
    got = run(hand, "cases_on_time", "worker")[hand.a]
    # In the cell: on_time (by its deadline) and late (after it); the community's is not A's.
    assert (got.numerator, got.denominator) == (1, 2)
    assert got.details == {"settled": 2, "on_time": 1, "late": 1}
    station = run(hand, "cases_on_time", "station")[hand.comm_a]
    assert (station.numerator, station.denominator) == (2, 3)


def test_cases_escalated_out_of_the_level(hand, after_q3) -> None:
    got = run(hand, "cases_escalated", "worker")[hand.a]
    # Received in July at the cell: on_time, late, community, street, open (the emergency
    # starts at the street, June's is outside, the cancelled one never counts); out of the
    # cell: community, street.
    assert (got.numerator, got.denominator) == (2, 5)
    station = run(hand, "cases_escalated", "station")[hand.comm_a]
    # The community's cases starting in the cell or the community; at the street now: 1.
    assert (station.numerator, station.denominator) == (1, 5)


def test_cases_verified_of_those_needing_it(hand, after_q3) -> None:
    got = run(hand, "cases_verified", "worker")[hand.a]
    assert (got.numerator, got.denominator) == (1, 2)


def test_satisfaction_counts_a_fair_rating_half(hand, after_q3) -> None:
    got = run(hand, "satisfaction", "worker")[hand.a]
    # ratings 1, 2, 3: (1 + 0.5 + 0) / 3
    assert (got.numerator, got.denominator, got.count) == (1.5, 3, 3)
    assert got.details == {"rated": 3, "satisfied": 1, "fairly": 1, "unsatisfied": 1}


def test_too_little_data_shows_in_the_count(hand, after_q3) -> None:
    # B has no cases and no ratings: a count of 0, below any min_count, not a score of 0.
    for metric in ("cases_on_time", "satisfaction", "cases_verified"):
        got = run(hand, metric, "worker")[hand.b]
        assert (got.numerator, got.denominator, got.count) == (0, 0, 0)


def test_records_behind_a_figure(hand, after_q3) -> None:
    p = period(*JULY)
    rows = db.session.execute(metrics.records("flagged_uploads", "worker", hand.a, p)).all()
    assert len(rows) == 20
    flagged = [r for r in rows if r.counted]
    assert len(flagged) == 2 and {r.kind for r in flagged} == {"patrol"}
    first = rows[0]
    # The first patrol: 1 July 06:30 local (30 June 22:30 UTC).
    assert first.local == "2025-07-01 06:30"
    assert first.at == at_local(day(1), MORNING)
    patrols = db.session.execute(metrics.records("patrol_coverage", "worker", hand.a, p)).all()
    assert sum(1 for r in patrols if not r.counted) == 1  # the 03:00 one
    assert all(r.ref in (hand.c1, hand.c2) for r in patrols)
    cases = db.session.execute(metrics.records("cases_on_time", "worker", hand.a, p)).all()
    assert [(r.id, r.counted) for r in cases] == [
        (hand.cases["on_time"], True), (hand.cases["late"], False)
    ]  # fmt: skip
    assert cases[0].description == "neighbour_dispute closed cell"
    places = db.session.execute(metrics.records("register_completeness", "worker", hand.b, p))
    assert {r.ref for r in places} == {hand.c1}


def test_unknown_metric_or_target_kind_is_refused(hand) -> None:
    from gridserve.errors import ValidationFailed

    with pytest.raises(ValidationFailed):
        run(hand, "nothing", "worker")
    with pytest.raises(ValidationFailed):
        run(hand, "events_held", "worker")


def test_many_targets_read_every_visit_once_with_the_same_figures(
    hand, after_q3, monkeypatch
) -> None:
    from gridserve.services.assessment import metrics_field

    monkeypatch.setattr(metrics_field, "FEW_TARGETS", 0)
    patrols = run(hand, "patrol_coverage", "worker")
    assert (patrols[hand.a].numerator, patrols[hand.a].denominator) == (4, 6)
    assert (patrols[hand.b].numerator, patrols[hand.b].denominator) == (1, 2)
    flagged = run(hand, "flagged_uploads", "station")[hand.comm_a]
    assert (flagged.numerator, flagged.denominator) == (2, 23)
    v = run(hand, "visits", "worker", Q3)[hand.v]
    assert (v.numerator, v.denominator) == (4, pytest.approx(1.5))
