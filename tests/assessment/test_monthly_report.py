"""The monthly grid report and the daily summary: figures against a small hand-built world
(the cases world plus patrols, visits, households, cases and SMS made here), its formats
(JSON, XLSX read back, HTML, CSV per section), the 422s, scope, the scheduled builds and the
archive.

The report month ``M`` is the second month after the world's day (its cells and worker_a's
assignment are in force all through it and through the month before, ``P``).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import uuid
import zipfile

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from gridserve.db import transaction
from gridserve.exports import XLSX_TYPE, share_of
from gridserve.extensions import db
from gridserve.models import (
    AuditEntry,
    GridCell,
    Household,
    Place,
    ReportArchive,
    SmsCampaign,
    SmsMessage,
    SmsSender,
    SmsText,
    Task,
    TaskEvent,
    Visit,
)
from gridserve.services.assessment import daily, monthly
from tests.api.cases.test_case_report import make_case
from tests.clock import at_local, move_to

API = "/api/v1/reports"


def _first(day: dt.date, months: int) -> dt.date:
    first = day.replace(day=1)
    for _ in range(months):
        first = (first + dt.timedelta(days=32)).replace(day=1)
    return first


def _days(first: dt.date) -> int:
    return (_first(first, 1) - first).days


class Hand:
    """What the fixture made, and the months."""

    def __init__(self, cases) -> None:
        self.cases = cases
        self.world = cases.field.world
        self.P = _first(cases.field.today, 1)
        self.M = _first(cases.field.today, 2)
        self.N = _first(cases.field.today, 3)
        self.month = self.M.strftime("%Y-%m")

    def at(self, first: dt.date, day: int, hour: int, minute: int = 0) -> dt.datetime:
        return at_local(first + dt.timedelta(days=day - 1), dt.time(hour, minute))


def _visit(hand: Hand, kind: str, when: dt.datetime, cell: str | None = None) -> None:
    field = hand.cases.field
    db.session.add(
        Visit(
            uuid=str(uuid.uuid4()), worker_id=field.worker_id, kind=kind, started_at=when,
            community_id=hand.world.community_a, cell_code=cell or field.cell,
            content_hash="0" * 64,
        )
    )  # fmt: skip


@pytest.fixture
def hand(cases, ctx, override_settings):
    """Month M of the street (all in community A):

    - patrols: day 1 00:10 (night: patrolled, no window), day 3 08:00, 13:00, 19:00 (all three
      windows), day 4 09:00 and 10:00, day 5 03:00, and the other cell day 3 20:00: 8
      patrols, 5 (cell, day) pairs patrolled, 1 covered; windows morning 2, afternoon 1,
      evening 2. P: one patrol on its last day at 23:30.
    - visits: 2 household visits and 1 SME visit in M; none in P.
    - households: h1 registered in P (door, 2 members, work units: complete); in M h2 (no
      door), h3 (door, no member), h4 (door, 3 members, a work unit missing).
    - cases: c1 received M day 2, closed at the cell day 3 (sanitation, rated 1); c2
      received day 6, at the community after one escalation that day, due there day 6 18:00
      (noise); c3 received day 7, cancelled (noise); c4 received in P, closed at the cell.
    - SMS (campaign SMS-T over the street): accepted in M: day 3 09:00 and 10:00 (delivered),
      day 15 (failed); in P one; one still queued.
    """
    override_settings(token_ttl_seconds=400 * 24 * 3600)  # the clock travels within a test
    h = Hand(cases)
    move_to(at_local(h.M + dt.timedelta(days=20), dt.time(12)))
    field = cases.field
    with transaction():
        for when in (
            h.at(h.M, 1, 0, 10), h.at(h.M, 3, 8), h.at(h.M, 3, 13), h.at(h.M, 3, 19),
            h.at(h.M, 4, 9), h.at(h.M, 4, 10), h.at(h.M, 5, 3),
        ):  # fmt: skip
            _visit(h, "patrol", when)
        _visit(h, "patrol", h.at(h.M, 3, 20), field.other_cell)
        _visit(h, "patrol", h.at(h.P, _days(h.P), 23, 30))
        _visit(h, "household_visit", h.at(h.M, 8, 10))
        _visit(h, "household_visit", h.at(h.M, 9, 10))
        _visit(h, "sme_visit", h.at(h.M, 9, 15))
        _visit(h, "patrol", h.at(h.N, 1, 9))  # the month after: not counted

        places = db.session.scalars(
            select(Place)
            .where(Place.type == "household", Place.area_id == h.world.community_a)
            .order_by(Place.id)
            .limit(5)
        ).all()
        rows = [
            ("1-101", 2, True, h.at(h.P, 10, 9)),
            ("", 1, True, h.at(h.M, 2, 9)),
            ("2-201", 0, False, h.at(h.M, 3, 9)),
            ("3-301", 3, False, h.at(h.M, 4, 9)),
            ("4-401", 1, True, h.at(h.N, 2, 9)),  # the month after
        ]
        for place, (door, members, units, created) in zip(places, rows, strict=True):
            db.session.add(
                Household(place_id=place.id, area_id=place.area_id, door_number=door,
                          member_count=members, work_units_complete=units, created_at=created)
            )  # fmt: skip

        campaign = SmsCampaign(
            code="SMS-T",
            name="防诈宣传短信",
            area_id=h.world.street,
            start_date=h.P,
            end_date=h.N,
        )
        db.session.add(campaign)
        db.session.flush()
        sender = SmsSender(campaign_id=campaign.id, institution_id=h.world.bank, position=0)
        text = SmsText(campaign_id=campaign.id, body="请谨防电信诈骗", status="approved")
        db.session.add_all([sender, text])
        db.session.flush()
        for i, (status, accepted) in enumerate(
            [
                ("delivered", h.at(h.M, 3, 9)),
                ("delivered", h.at(h.M, 3, 10)),
                ("failed", h.at(h.M, 15, 9)),
                ("delivered", h.at(h.P, 20, 9)),
                ("queued", None),
            ]
        ):
            db.session.add(
                SmsMessage(
                    campaign_id=campaign.id, sender_id=sender.id, text_id=text.id,
                    kind="mandated", phone_enc=b"x", phone_hash=f"{i:064d}", body="短信",
                    status=status, next_attempt_at=h.at(h.P, 1, 8), slot_start=h.at(h.P, 1, 8),
                    slot_end=h.at(h.N, 1, 8), accepted_at=accepted,
                )
            )  # fmt: skip

    ids = {
        "c1": make_case(cases, status="closed", closed_h=24, closed_level="cell", settle="cell",
                        rating=1),
        "c2": make_case(cases, category="noise", level="community", due_h=-1,
                        escalate=[("cell", "community")]),
        "c3": make_case(cases, category="noise", status="cancelled", closed_h=1),
        "c4": make_case(cases, status="closed", closed_h=2, closed_level="cell"),
    }  # fmt: skip
    with transaction():
        for key, received in (
            ("c1", h.at(h.M, 2, 10)), ("c2", h.at(h.M, 6, 10)), ("c3", h.at(h.M, 7, 10)),
            ("c4", h.at(h.P, 10, 10)),
        ):  # fmt: skip
            task = db.session.get(Task, ids[key])
            if key == "c2":
                task.level_due_at = h.at(h.M, 6, 18)
            shift = received - task.created_at
            task.created_at = received
            if task.closed_at is not None:
                task.closed_at += shift
        db.session.execute(
            TaskEvent.__table__.update()
            .where(TaskEvent.task_id == ids["c2"], TaskEvent.action == "escalate")
            .values(at=h.at(h.M, 6, 12))
        )
    h.ids = ids
    h.cells = db.session.scalar(
        select(func.count()).select_from(GridCell).where(GridCell.valid_to.is_(None))
    )
    return h


def _get(client, auth_as, path: str, user: str = "centre"):
    return client.get(f"{API}{path}", headers=auth_as(user))


def _after_month(h: Hand) -> None:
    move_to(h.at(h.N, 3, 10))


# --- the figures ---------------------------------------------------------------------------


def test_the_street_report_has_each_sections_figures(hand, client, auth_as) -> None:
    h = hand
    _after_month(h)
    resp = _get(client, auth_as, f"/monthly?area={h.world.street}&month={h.month}")
    assert resp.status_code == 200, resp.get_json()
    rep = resp.get_json()
    assert rep["month"] == h.month and rep["complete"] is True
    assert (rep["from"], rep["to"]) == (h.M.isoformat(), (h.N - dt.timedelta(days=1)).isoformat())

    assert h.cells == 6
    pat = rep["patrols"]
    cell_days = 6 * _days(h.M)
    assert (pat["patrols"], pat["cell_days"], pat["patrolled"], pat["covered"]) == (
        8, cell_days, 5, 1)  # fmt: skip
    assert pat["patrolled_share"] == share_of(5, cell_days)
    assert pat["covered_share"] == share_of(1, cell_days)
    assert pat["windows"] == {"morning": 2, "afternoon": 1, "evening": 2}
    days = {d["day"]: d for d in pat["days"]}
    day3 = days[(h.M + dt.timedelta(days=2)).isoformat()]
    assert (day3["patrols"], day3["cells"], day3["patrolled"], day3["covered"]) == (4, 6, 2, 1)
    assert days[h.M.isoformat()]["patrols"] == 1  # 00:10 local is in M (16:10 UTC the day before)

    assert rep["visits"] == {
        "total": 11,
        "by_kind": {"patrol": 8, "household_visit": 2, "sme_visit": 1, "place_check": 0},
    }
    assert rep["households"] == {
        "household_places": 300, "registered": 4, "registered_in_month": 3,
        "with_door_number": 3, "with_members": 3, "with_work_units": 2, "complete": 1,
        "completeness_share": share_of(1, 300),
    }  # fmt: skip

    cases = rep["cases"]
    t = cases["totals"]
    assert (t["received"], t["settled_total"], t["escalated"], t["overdue"]) == (3, 1, 1, 1)
    assert t["settled"]["cell"] == 1 and t["ratings"]["satisfied"] == 1
    assert [(c["category"], c["received"]) for c in cases["categories"]] == [
        ("sanitation", 1), ("noise", 2)]  # fmt: skip
    assert cases["outcomes"] == {
        "closed": 1, "cancelled": 1, "verified": 0, "settled": 0, "pending": 1}  # fmt: skip

    assert rep["sms"] == {
        "sent": 3,
        "campaigns": [{"code": "SMS-T", "name": "防诈宣传短信", "sent": 3, "delivered": 2,
                       "failed": 1}],
    }  # fmt: skip
    assert rep["outreach"]["events"] == 0 and rep["outreach"]["list"] == []
    assert rep["vacant"]["count"] == 5  # six cells, worker_a holds one
    assert h.cases.field.cell not in {c["code"] for c in rep["vacant"]["cells"]}

    summary = {s["key"]: s for s in rep["summary"]}
    prev_days = 6 * _days(h.P)
    expected = {
        "patrols": (8, 1, 7),
        "visits": (11, 1, 10),
        "households": (4, 1, 3),
        "households_new": (3, 1, 2),
        "cases_received": (3, 1, 2),
        "cases_settled": (1, 1, 0),
        "cases_escalated": (1, 0, 1),
        "sms_sent": (3, 1, 2),
        "events_held": (0, 0, 0),
        "vacant_cells": (5, 5, 0),
        "completeness_share": (share_of(1, 300), share_of(1, 300), 0),
    }
    for key, (value, previous, change) in expected.items():
        got = summary[key]
        assert (got["value"], got["previous"], got["change"]) == (value, previous, change), key
    share = summary["patrolled_share"]
    assert share["previous"] == share_of(1, prev_days)
    assert share["change"] == round(share_of(5, cell_days) - share_of(1, prev_days), 4)


def test_a_station_reads_its_community_and_nothing_else(hand, client, auth_as) -> None:
    h = hand
    _after_month(h)
    resp = _get(client, auth_as, f"/monthly?area={h.world.community_a}&month={h.month}",
                "station_a")  # fmt: skip
    assert resp.status_code == 200, resp.get_json()
    rep = resp.get_json()
    assert rep["area"]["code"] == "S1C1" and rep["patrols"]["patrols"] == 8
    assert rep["sms"]["sent"] == 3  # the street's campaign reaches the community
    for area in (h.world.street, h.world.community_b):
        resp = _get(client, auth_as, f"/monthly?area={area}&month={h.month}", "station_a")
        assert resp.status_code == 404
    for user in ("coordinator", "worker_a", "bank"):
        resp = _get(client, auth_as, f"/monthly?area={h.world.street}&month={h.month}", user)
        assert resp.status_code == 403 and resp.get_json()["error"]["code"] == "forbidden_role"


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("area={district}&month={month}", "area"),
        ("area={street}", "month"),
        ("area={street}&month=2027-13", "month"),
        ("area={street}&month=27-01", "month"),
        ("area={street}&month={future}", "month"),
        ("area={street}&month={month}&format=csv", "section"),
        ("area={street}&month={month}&format=csv&section=nope", "section"),
        ("area={street}&month={month}&format=pdf", "format"),
    ],
)
def test_bad_input_is_422_by_field(hand, client, auth_as, query, field) -> None:
    h = hand
    _after_month(h)
    q = query.format(district=h.world.district, street=h.world.street, month=h.month,
                     future=_first(h.N, 1).strftime("%Y-%m"))  # fmt: skip
    resp = _get(client, auth_as, f"/monthly?{q}", "district")
    assert resp.status_code == 422, resp.get_json()
    fields = resp.get_json()["error"]["details"]["fields"]
    assert field in fields or f"query.{field}" in fields, fields


def test_the_current_month_is_reported_so_far(hand, client, auth_as) -> None:
    h = hand
    move_to(h.at(h.M, 4, 12))
    rep = _get(client, auth_as, f"/monthly?area={h.world.street}&month={h.month}").get_json()
    assert rep["complete"] is False
    assert len(rep["patrols"]["days"]) == 4 and rep["patrols"]["cell_days"] == 24
    assert rep["patrols"]["patrols"] == 7  # day 5's night patrol is still to come
    assert rep["vacant"]["on"] == (h.M + dt.timedelta(days=3)).isoformat()


# --- the formats ---------------------------------------------------------------------------


def test_the_workbook_has_a_sheet_per_section_charts_and_the_figures(hand, client, auth_as) -> None:
    h = hand
    _after_month(h)
    resp = _get(client, auth_as, f"/monthly?area={h.world.street}&month={h.month}&format=xlsx")
    assert resp.status_code == 200 and resp.mimetype == XLSX_TYPE
    assert "attachment" in resp.headers["Content-Disposition"]
    book = load_workbook(io.BytesIO(resp.data))
    assert book.sheetnames == [
        "汇总", "巡逻与覆盖", "走访", "住户登记", "事件", "事件办理结果", "短信", "宣传活动",
        "空缺网格",
    ]  # fmt: skip
    summary = book["汇总"]
    rows = {r[1]: r for r in summary.iter_rows(min_row=7, values_only=True) if r[1]}
    assert rows["patrols"][2:5] == (8, 1, 7)
    assert rows["sms_sent"][2:5] == (3, 1, 2)
    assert summary.cell(row=2, column=2).value == "S1"
    patrols = book["巡逻与覆盖"]
    total = next(r for r in patrols.iter_rows(values_only=True) if r[0] == "合计")
    assert total == ("合计", 8, 6 * _days(h.M), 5, 1)
    visits = {r[1]: r[2] for r in book["走访"].iter_rows(min_row=2, values_only=True)}
    assert visits == {"patrol": 8, "household_visit": 2, "sme_visit": 1, "place_check": 0,
                      "total": 11}  # fmt: skip
    outcomes = {r[1]: r[2] for r in book["事件办理结果"].iter_rows(min_row=2, values_only=True)}
    assert outcomes["closed"] == 1 and outcomes["pending"] == 1
    assert len(list(book["空缺网格"].iter_rows(min_row=2, values_only=True))) == 5
    for sheet in ("巡逻与覆盖", "走访", "事件", "事件办理结果", "短信"):
        assert book[sheet]._charts, sheet  # native charts, read back
    charts = [n for n in zipfile.ZipFile(io.BytesIO(resp.data)).namelist() if "charts/chart" in n]
    assert len(charts) == 5
    entries = db.session.scalars(
        select(AuditEntry).where(AuditEntry.action == "monthly_report_export")
    ).all()
    assert [(e.details["format"], e.details["month"]) for e in entries] == [("xlsx", h.month)]


def test_the_html_page_is_self_contained_and_passes_the_csp(hand, client, auth_as) -> None:
    h = hand
    _after_month(h)
    resp = _get(client, auth_as, f"/monthly?area={h.world.street}&month={h.month}&format=html")
    assert resp.status_code == 200 and resp.mimetype == "text/html"
    page = resp.get_data(as_text=True)
    assert '<html lang="zh-CN">' in page and "演示街道网格月报" in page
    for section in monthly.SECTIONS:
        assert f'<section id="{section}">' in page
    for title in ("巡逻与覆盖", "走访", "住户登记", "事件", "短信", "宣传活动", "空缺网格"):
        assert f"<h2>{title}</h2>" in page
    assert page.count("<svg") >= 5 and "防诈宣传短信" in page
    for external in ("http:", "https:", "src=", "href=", "@import", "url(", "<script", "<link",
                     "style=\""):  # fmt: skip
        assert external not in page, external
    csp = resp.headers["Content-Security-Policy"]
    assert "'unsafe-inline'" not in csp and "style-src 'self' 'sha256-" in csp


@pytest.mark.parametrize(
    ("section", "header", "row"),
    [
        ("summary", "指标", ["巡逻次数", "patrols", "8", "1", "7"]),
        ("visits", "类型", ["走访企业", "sme_visit", "1"]),
        ("households", "指标", ["信息完整户数", "complete", "1"]),
        ("case_outcomes", "结果", ["已撤销", "cancelled", "1"]),
        ("sms", "活动代码", ["SMS-T", "防诈宣传短信", "3", "2", "1"]),
    ],
)
def test_csv_is_one_section(hand, client, auth_as, section, header, row) -> None:
    h = hand
    _after_month(h)
    resp = _get(
        client, auth_as,
        f"/monthly?area={h.world.street}&month={h.month}&format=csv&section={section}",
    )  # fmt: skip
    assert resp.status_code == 200 and resp.mimetype == "text/csv"
    text = resp.data.decode("utf-8")
    assert text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    assert rows[0][0] == header and row in rows


# --- scheduled and kept --------------------------------------------------------------------


def _kept(kind: str) -> list[tuple[int, dt.date]]:
    return sorted(
        db.session.execute(
            select(ReportArchive.area_id, ReportArchive.period_start).where(
                ReportArchive.kind == kind
            )
        ).all()
    )


def _run(job: str):
    from jobs.registry import run_job

    return run_job(job)


@pytest.mark.parametrize(
    ("before", "first", "month"),
    [
        (dt.date(2026, 7, 31), dt.date(2026, 8, 3), dt.date(2026, 7, 1)),  # Sat 1 Aug
        (dt.date(2026, 10, 7), dt.date(2026, 10, 8), dt.date(2026, 9, 1)),  # National Day
    ],
)
def test_the_job_keeps_last_months_report_once_from_the_first_working_day(
    field, ctx, before, first, month
) -> None:
    world = field.world
    move_to(at_local(first - dt.timedelta(days=1), dt.time(9)))
    assert daily.first_working_day(first) == first
    if before.month == first.month:  # the days before it in the month build nothing
        assert _run("monthly-reports") == {"month": None, "built": 0}
        assert _kept("monthly") == []
    move_to(at_local(first, dt.time(5, 20)))
    assert _run("monthly-reports") == {"month": month.strftime("%Y-%m"), "built": 3}
    areas = sorted([world.street, world.community_a, world.community_b])
    assert _kept("monthly") == [(a, month) for a in areas]
    assert _run("monthly-reports")["built"] == 0  # a second run adds nothing
    move_to(at_local(first + dt.timedelta(days=1), dt.time(5, 20)))
    assert _run("monthly-reports")["built"] == 0
    assert len(_kept("monthly")) == 3


def test_an_operator_calendar_moves_the_first_working_day(field, ctx) -> None:
    from gridserve.scope import OPERATOR
    from gridserve.services.accounts import calendars

    calendars.put_year(
        OPERATOR, "CN", 2030,
        [{"name": "元旦", "date": dt.date(2030, 1, d)} for d in (1, 2, 3)], [],
    )  # fmt: skip
    db.session.flush()
    assert daily.first_working_day(dt.date(2030, 1, 1)) == dt.date(2030, 1, 4)
    move_to(at_local(dt.date(2030, 1, 3), dt.time(6)))
    assert _run("monthly-reports")["built"] == 0
    move_to(at_local(dt.date(2030, 1, 4), dt.time(6)))
    assert _run("monthly-reports") == {"month": "2029-12", "built": 3}


def test_keeping_is_insert_if_absent(field, ctx) -> None:
    street = field.world.street
    assert monthly.keep("monthly", street, dt.date(2026, 9, 1), {"a": 1}) is True
    assert monthly.keep("monthly", street, dt.date(2026, 9, 1), {"a": 2}) is False  # raced
    row = db.session.scalars(select(ReportArchive)).one()
    assert row.data == {"a": 1}


def test_the_archive_lists_and_serves_what_was_kept(hand, client, auth_as) -> None:
    h = hand
    first = daily.first_working_day(h.N)
    move_to(at_local(first, dt.time(5, 20)))
    with client.application.app_context():
        assert _run("monthly-reports")["built"] == 3
    move_to(at_local(first, dt.time(9)))
    listed = _get(client, auth_as, f"/monthly/archive?area={h.world.street}")
    assert listed.status_code == 200, listed.get_json()
    (entry,) = listed.get_json()
    assert entry["period"] == h.month and entry["area"]["code"] == "S1"
    kept = _get(client, auth_as, f"/monthly/archive/{entry['id']}").get_json()
    assert kept["archive"]["id"] == entry["id"]
    assert kept["patrols"]["patrols"] == 8 and kept["sms"]["sent"] == 3
    book = load_workbook(
        io.BytesIO(_get(client, auth_as, f"/monthly/archive/{entry['id']}?format=xlsx").data)
    )
    assert "汇总" in book.sheetnames and book["巡逻与覆盖"]._charts
    page = _get(client, auth_as, f"/monthly/archive/{entry['id']}?format=html")
    assert page.mimetype == "text/html" and "演示街道网格月报" in page.get_data(as_text=True)
    assert _get(client, auth_as, f"/monthly/archive/{entry['id']}?format=csv").status_code == 422
    # the station: its community's kept report, not the street's
    station = _get(client, auth_as, f"/monthly/archive?area={h.world.community_a}", "station_a")
    assert [e["period"] for e in station.get_json()] == [h.month]
    assert _get(client, auth_as, f"/monthly/archive/{entry['id']}", "station_a").status_code == 404
    assert _get(client, auth_as, f"/monthly/archive?area={h.world.street}",
                "station_a").status_code == 404  # fmt: skip


# --- the daily summary ---------------------------------------------------------------------


def test_the_daily_summary_of_a_day(hand, client, auth_as) -> None:
    h = hand
    move_to(h.at(h.M, 4, 8))
    resp = _get(client, auth_as, f"/daily?area={h.world.street}")  # yesterday: day 3
    assert resp.status_code == 200, resp.get_json()
    rep = resp.get_json()
    assert rep["day"] == (h.M + dt.timedelta(days=2)).isoformat()
    assert rep["patrols"] == {"patrols": 4, "cells": 6, "patrolled": 2, "covered": 1,
                              "patrolled_share": share_of(2, 6)}  # fmt: skip
    assert rep["cases"] == {"new": 0, "closed": 1, "escalations": 0, "overdue_now": 0}
    assert rep["sms"]["sent"] == 2
    day6 = (h.M + dt.timedelta(days=5)).isoformat()
    move_to(h.at(h.M, 9, 8))
    rep = _get(client, auth_as, f"/daily?area={h.world.street}&day={day6}").get_json()
    assert rep["cases"] == {"new": 1, "closed": 0, "escalations": 1, "overdue_now": 1}
    assert rep["visits"]["total"] == 0


def test_the_daily_summary_is_the_street_centres(hand, client, auth_as) -> None:
    h = hand
    move_to(h.at(h.M, 4, 8))
    assert _get(client, auth_as, f"/daily?area={h.world.street}", "district").status_code == 200
    for user in ("station_a", "coordinator", "worker_a"):
        assert _get(client, auth_as, f"/daily?area={h.world.street}", user).status_code == 403
    resp = _get(client, auth_as, f"/daily?area={h.world.community_a}")
    assert resp.status_code == 422 and "area" in resp.get_json()["error"]["details"]["fields"]
    today = (h.M + dt.timedelta(days=3)).isoformat()
    resp = _get(client, auth_as, f"/daily?area={h.world.street}&day={today}")
    assert resp.status_code == 422 and "day" in resp.get_json()["error"]["details"]["fields"]


def test_the_daily_job_keeps_yesterday_once(hand, client, auth_as) -> None:
    h = hand
    move_to(h.at(h.M, 4, 5, 40))
    with client.application.app_context():
        assert _run("daily-summary") == {"day": (h.M + dt.timedelta(days=2)).isoformat(),
                                         "built": 1}  # fmt: skip
        assert _run("daily-summary")["built"] == 0
    move_to(h.at(h.M, 4, 9))
    (entry,) = _get(client, auth_as, f"/daily/archive?area={h.world.street}").get_json()
    kept = _get(client, auth_as, f"/daily/archive/{entry['id']}").get_json()
    assert kept["patrols"]["patrols"] == 4 and kept["cases"]["closed"] == 1
    assert _get(client, auth_as, f"/monthly/archive/{entry['id']}").status_code == 404


# --- outreach --------------------------------------------------------------------------------


@pytest.fixture
def held(outreach, ctx, override_settings):
    """The outreach world's April 2027: the launch (S1C1, 14 Apr) held with two reports —
    DZCB (30 reached, 100 materials, 5 consultations) and ICBC, late (20, 50, 2); the site
    (S1C2, 15 Apr) cancelled; one more event drafted for 20 Apr (drafts are not reported)."""
    from gridserve.models import OutreachEvent, OutreachReport

    override_settings(token_ttl_seconds=400 * 24 * 3600)
    with transaction():
        launch = db.session.get(OutreachEvent, outreach.launch)
        launch.status = "reported"
        db.session.get(OutreachEvent, outreach.site).status = "cancelled"
        for code, counts, late in (("DZCB", (30, 100, 5), False), ("ICBC", (20, 50, 2), True)):
            db.session.add(
                OutreachReport(
                    event_id=launch.id, institution_id=outreach.inst[code],
                    participants=counts[0], materials=counts[1], consultations=counts[2],
                    late=late,
                )
            )  # fmt: skip
        draft = OutreachEvent(
            programme_id=launch.programme_id, kind="site", title="草稿活动",
            starts_at=launch.starts_at + dt.timedelta(days=6),
            ends_at=launch.ends_at + dt.timedelta(days=6), geom=launch.geom,
            area_id=launch.area_id, host_id=launch.host_id, booth={},
        )  # fmt: skip
        db.session.add(draft)
    return outreach


def test_the_outreach_section_counts_events_and_their_reports(held, client, auth_as) -> None:
    world = held.field.world
    move_to(at_local(dt.date(2027, 5, 6), dt.time(10)))
    rep = _get(client, auth_as, f"/monthly?area={world.street}&month=2027-04").get_json()
    out = rep["outreach"]
    assert (out["events"], out["held"], out["cancelled"]) == (2, 1, 1)
    assert out["by_status"] == {"reported": 1, "cancelled": 1}
    assert (out["reports"], out["late_reports"]) == (2, 1)
    assert (out["participants"], out["materials"], out["consultations"]) == (50, 150, 7)
    assert [(e["title"], e["area"], e["reports"]) for e in out["list"]] == [
        ("启动仪式", "S1C1", 2), ("乙社区宣传点", "S1C2", 0)]  # fmt: skip
    assert out["list"][0]["starts_at"].startswith("2027-04-14T09:00:00+08:00")
    summary = {s["key"]: s for s in rep["summary"]}
    assert (summary["events_held"]["value"], summary["events_held"]["previous"]) == (1, 0)
    assert summary["outreach_reports"]["change"] == 2
    rep = _get(
        client, auth_as, f"/monthly?area={world.community_b}&month=2027-04", "station_b"
    ).get_json()
    assert rep["outreach"]["events"] == 1 and rep["outreach"]["held"] == 0
    resp = _get(
        client, auth_as, f"/monthly?area={world.street}&month=2027-04&format=csv&section=outreach"
    )
    rows = list(csv.reader(io.StringIO(resp.data.decode("utf-8").lstrip("\ufeff"))))
    assert rows[1][:7] == ["启动仪式", "launch", "2027-04-14T09:00:00+08:00", "S1C1", "已总结",
                           "2", "1"]  # fmt: skip


@pytest.mark.real_commits
def test_two_schedulers_racing_keep_each_report_once(field, clean_app) -> None:
    import threading

    from jobs.registry import run_job

    with clean_app.app_context():
        if db.engine.dialect.name != "postgresql":
            pytest.skip("SQLite has one writer: two runs cannot overlap there")
    move_to(at_local(dt.date(2026, 10, 8), dt.time(5, 20)))
    barrier = threading.Barrier(2)
    results: list[dict] = []
    errors: list[BaseException] = []

    def one_run() -> None:
        try:
            with clean_app.app_context():
                try:
                    barrier.wait()
                    results.append(run_job("monthly-reports"))
                finally:
                    db.session.remove()
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=one_run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors and len(results) == 2
    assert sum(r["built"] for r in results) == 3
    with clean_app.app_context():
        assert len(_kept("monthly")) == 3
        db.session.remove()
