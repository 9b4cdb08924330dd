"""The computed institution indicators against a hand-built second quarter of 2027.

On the ``visits`` fixture: programme PUB-T (9–30 April; banks DZCB, PSBC, ICBC, ABC) with the
launch (hosted by the regulator) and ICBC's site on 15 April, and the visits programme SME-V
(from 1 May; DZCB 6 listed, ICBC 4, PSBC 2). Added here (local time Asia/Shanghai):

- events: ICBC's site held; ICBC's market day on 29 June ended but never marked held; DZCB's
  site on 20 April cancelled; ABC's draft; PSBC's event in July → ICBC 1/2, DZCB 0/1.
- deliverables (the derived ones removed): event reports due 30 April — DZCB's in at 23:59
  that day, ICBC's at 00:30 on 1 May (still 30 April in UTC), PSBC's never; ABC's due in July.
- SME visits: DZCB's first enterprise twice (20 May, 1 June), its second on 10 June, its third
  in July; ICBC's first on 12 June; PSBC's first at 23:30 on 30 June, its second at 00:30 on
  1 July (30 June in UTC). Decisions: DZCB's 20 May visit due 27 May, decided that evening;
  its 10 June visit due 15 June, decided 01:00 on the 16th; ICBC's due 20 June, undecided;
  PSBC's due 7 July.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pytest
from sqlalchemy import delete

from gridserve.extensions import db
from gridserve.models import (
    DEFAULT_BOOTH,
    Area,
    OutreachDeliverable,
    OutreachEvent,
    OutreachReminder,
    OutreachVisit,
)
from gridserve.services.assessment import metrics
from gridserve.services.assessment.metrics import Period
from tests.clock import at_local, move_to, zone

Q2 = (dt.date(2027, 4, 1), dt.date(2027, 6, 30))


def at(month: int, day: int, hour: int = 10, minute: int = 0) -> dt.datetime:
    return at_local(dt.date(2027, month, day), dt.time(hour, minute))


@dataclass
class Hand:
    street: int
    inst: dict[str, int]
    programme: int
    sme: int
    decisions: dict[str, int]


def _event(out, lead: str, month: int, day: int, status: str) -> int:
    site = db.session.get(OutreachEvent, out.site)
    row = OutreachEvent(
        programme_id=out.programme, kind="site", title=f"{lead}宣传点", starts_at=at(month, day, 9),
        ends_at=at(month, day, 12), place_id=site.place_id, geom=site.geom, address="市场",
        area_id=site.area_id, host_id=out.inst["DZ-REG"], lead_id=out.inst[lead],
        booth=dict(DEFAULT_BOOTH), status=status,
    )  # fmt: skip
    db.session.add(row)
    db.session.flush()
    return row.id


def _report(out, owner: str, due: dt.date, submitted: dt.datetime | None) -> None:
    db.session.add(
        OutreachDeliverable(
            programme_id=out.programme, kind="event_report", title="活动总结",
            owner_institution_id=out.inst[owner], due_on=due, submitted_at=submitted,
        )
    )  # fmt: skip


def _visit(visits, group: str, n: int, when: dt.datetime, **fields) -> int:
    enterprise = visits.enterprises[visits.codes[group][n]]
    inst = {"bank": "DZCB", "icbc": "ICBC", "psbc": "PSBC", "cell": "DZCB"}[group]
    row = OutreachVisit(
        programme_id=visits.programme, enterprise_id=enterprise,
        institution_id=visits.outreach.inst[inst], area_id=visits.outreach.field.world.street,
        visited_at=when, operating_status="normal", outcome=fields.pop("outcome", "follow_up"),
        **fields,
    )  # fmt: skip
    db.session.add(row)
    db.session.flush()
    return row.id


@pytest.fixture
def hand(ctx, visits) -> Hand:
    out = visits.outreach
    db.session.get(OutreachEvent, out.site).status = "held"
    db.session.get(OutreachEvent, out.launch).status = "reported"
    _event(out, "ICBC", 6, 29, "approved")
    _event(out, "DZCB", 4, 20, "cancelled")
    _event(out, "ABC", 4, 22, "draft")
    _event(out, "PSBC", 7, 3, "approved")
    db.session.execute(delete(OutreachReminder))
    db.session.execute(delete(OutreachDeliverable))
    _report(out, "DZCB", dt.date(2027, 4, 30), at(4, 30, 23, 59))
    _report(out, "ICBC", dt.date(2027, 4, 30), at(5, 1, 0, 30))
    _report(out, "PSBC", dt.date(2027, 4, 30), None)
    _report(out, "ABC", dt.date(2027, 7, 5), None)
    matched = {"outcome": "product_matched"}
    decisions = {
        "dzcb_on_time": _visit(visits, "bank", 0, at(5, 20), **matched,
                               decision_due_on=dt.date(2027, 5, 27), decision="approved",
                               decided_at=at(5, 27, 20)),
        "dzcb_late": _visit(visits, "bank", 1, at(6, 10), **matched,
                            decision_due_on=dt.date(2027, 6, 15), decision="approved",
                            decided_at=at(6, 16, 1)),
        "icbc_open": _visit(visits, "icbc", 0, at(6, 12), **matched,
                            decision_due_on=dt.date(2027, 6, 20)),
        "psbc_july": _visit(visits, "psbc", 0, at(6, 30, 23, 30), **matched,
                            decision_due_on=dt.date(2027, 7, 7)),
    }  # fmt: skip
    _visit(visits, "bank", 0, at(6, 1))
    _visit(visits, "bank", 2, at(7, 10))
    _visit(visits, "psbc", 1, at(7, 1, 0, 30))
    db.session.flush()
    return Hand(out.field.world.street, out.inst, out.programme, visits.programme, decisions)


def run(hand: Hand, metric: str) -> dict[str, tuple[float, float]]:
    p = Period(*Q2, zone())
    area = db.session.get(Area, hand.street)
    got = metrics.compute(metric, "institution", metrics.targets("institution", area, p), area, p)
    codes = {v: k for k, v in hand.inst.items()}
    return {codes[i]: (f.numerator, f.denominator) for i, f in got.items()}


@pytest.fixture
def after_q2() -> None:
    move_to(at(7, 2, 9))


def test_institutions_are_the_banks_of_the_areas_programmes(hand, after_q2) -> None:
    p = Period(*Q2, zone())
    targets = metrics.targets("institution", db.session.get(Area, hand.street), p)
    assert sorted(t.id for t in targets) == sorted(
        hand.inst[c] for c in ("DZCB", "PSBC", "ICBC", "ABC")
    )
    assert {t.area_id for t in targets} == {hand.street}


def test_events_held_of_those_led(hand, after_q2) -> None:
    assert run(hand, "events_held") == {
        "ICBC": (1, 2), "DZCB": (0, 1), "PSBC": (0, 0), "ABC": (0, 0)
    }  # fmt: skip


def test_reports_on_time_by_the_local_due_day(hand, after_q2) -> None:
    assert run(hand, "reports_on_time") == {
        "DZCB": (1, 1), "ICBC": (0, 1), "PSBC": (0, 1), "ABC": (0, 0)
    }  # fmt: skip


def test_a_due_day_not_yet_over_counts_once_handed_in(hand) -> None:
    move_to(at(4, 30, 12))
    # PSBC's report is due today and not in: not yet late, so not counted.
    assert run(hand, "reports_on_time")["PSBC"] == (0, 0)


def test_listed_enterprises_visited_in_the_period(hand, after_q2) -> None:
    assert run(hand, "enterprises_visited") == {
        "DZCB": (2, 6), "ICBC": (1, 4), "PSBC": (1, 2), "ABC": (0, 0)
    }  # fmt: skip


def test_decisions_on_time(hand, after_q2) -> None:
    assert run(hand, "decisions_on_time") == {
        "DZCB": (1, 2), "ICBC": (0, 1), "PSBC": (0, 0), "ABC": (0, 0)
    }  # fmt: skip


def test_records_behind_an_institutions_figure(hand, after_q2) -> None:
    p = Period(*Q2, zone())
    rows = db.session.execute(
        metrics.records("decisions_on_time", "institution", hand.inst["DZCB"], p)
    ).all()
    assert [(r.id, r.counted, r.ref) for r in rows] == [
        (hand.decisions["dzcb_on_time"], True, "2027-05-27"),
        (hand.decisions["dzcb_late"], False, "2027-06-15"),
    ]
    assert rows[1].local == "2027-06-16 01:00"
    events = db.session.execute(
        metrics.records("events_held", "institution", hand.inst["ICBC"], p)
    ).all()
    assert [(r.kind, r.counted) for r in events] == [("event", True), ("event", False)]
