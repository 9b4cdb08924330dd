"""The cases report (by level and category, hexbin, CSV / XLSX) and the task list's case
filters, on a small set of cases made here (the ladder's columns and events set directly)."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from openpyxl import load_workbook
from shapely.geometry import Point, shape
from sqlalchemy import select

from gridserve.db import transaction, utcnow
from gridserve.extensions import db
from gridserve.models import AuditEntry, TaskEvent
from gridserve.scope import OPERATOR
from gridserve.services.field import tasks as task_service
from gridserve.timeutil import local_today
from tests.api.cases.ladder_helpers import new_case, step
from tests.clock import at_local, move_to

REPORT = "/api/v1/reports/cases"
TASKS = "/api/v1/tasks"
A = (104.02, 30.45)  # community A
B = (104.07, 30.45)  # community B


def make_case(cases, where=A, *, category="sanitation", level="cell", status="open",
              created_h=48.0, closed_h=None, paused_h=0.0, closed_level=None, settle=None,
              escalate=(), rating=None, due_h=None, paused=False, supervised=False,
              department=None, source=None, kind="case") -> int:  # fmt: skip
    """A case made through the task service, then its ladder state set directly: created
    ``created_h`` hours ago, closed ``closed_h`` hours after that, ``escalate`` a list of
    (from, to) levels, ``settle`` the level of a settle event, ``due_h`` the level's due time
    in hours from now."""
    now = utcnow()
    with transaction():
        task = task_service.create_task(
            OPERATOR,
            {"kind": kind, "title": f"{category} {status}",
             "location": {"lon": where[0], "lat": where[1]}},
            local_today(),
        )  # fmt: skip
        if kind == "case":
            task.category_id = cases.categories[category]
            task.level = level
        task.status = status
        task.created_at = now - dt.timedelta(hours=created_h)
        if closed_h is not None:
            task.closed_at = task.created_at + dt.timedelta(hours=closed_h)
            task.closed_level = closed_level
        task.paused_seconds = int(paused_h * 3600)
        task.escalations = len(escalate)
        task.rating = rating
        if due_h is not None:
            task.level_due_at = now + dt.timedelta(hours=due_h)
        if paused:
            task.paused_at = now - dt.timedelta(hours=1)
            task.pause_reason = "等待居民"
        if supervised:
            task.supervised_at = now
            task.supervision_due_at = now + dt.timedelta(days=2)
        if department:
            task.department_id = cases.departments[department]
        if source:
            task.source = source
        events = [("escalate", f, t) for f, t in escalate]
        if settle:
            events.append(("settle", settle, settle))
        for action, from_level, to_level in events:
            db.session.add(
                TaskEvent(task_id=task.id, action=action, from_level=from_level,
                          to_level=to_level, change_seq=task.change_seq, note="")
            )  # fmt: skip
        return task.id


@pytest.fixture
def made(cases, ctx):
    move_to(at_local(local_today(), dt.time(12)))
    ids = {
        "c1": make_case(cases, status="closed", closed_h=10, closed_level="cell", settle="cell",
                        rating=1),
        "c2": make_case(cases, level="community", status="closed", closed_h=30, paused_h=10,
                        closed_level="community", escalate=[("cell", "community")], rating=3),
        "c3": make_case(cases, (104.021, 30.451), category="noise", status="settled",
                        settle="cell"),
        "c4": make_case(cases, (104.03, 30.46), category="noise", due_h=-1),
        "c5": make_case(cases, (104.03, 30.47), category="noise", level="community", due_h=-5,
                        paused=True, escalate=[("cell", "community")]),
        "c6": make_case(cases, (104.04, 30.48), category="safety_hazard", level="street",
                        status="accepted", due_h=20, supervised=True, department="CGJ",
                        source="phone"),
        "c7": make_case(cases, B, status="closed", closed_h=6, closed_level="cell", rating=2),
        "old": make_case(cases, created_h=24 * 60, status="closed", closed_h=1,
                         closed_level="cell"),
    }  # fmt: skip
    make_case(cases, kind="task")
    return ids


def test_the_street_report_counts_by_category_and_level(made, client, auth_as, cases) -> None:
    resp = client.get(f"{REPORT}?area={cases.field.world.street}", headers=auth_as("centre"))
    assert resp.status_code == 200, resp.get_json()
    rep = resp.get_json()
    t = rep["totals"]
    assert t["received"] == 7  # the task and the case received 60 days ago are not counted
    assert t["settled"] == {"cell": 3, "community": 1, "street": 0, "district": 0}
    assert t["settled_total"] == 4 and t["settled_in_cell_share"] == 0.75
    assert (t["escalated"], t["escalations"], t["overdue"]) == (2, 2, 1)
    # closed: 10 h, 30 − 10 paused = 20 h, 6 h
    assert t["closed"] == 3 and t["median_close_hours"] == 10
    assert t["ratings"] == {"satisfied": 1, "fairly": 1, "unsatisfied": 1}
    assert t["rated"] == 3 and t["satisfied_share"] == 0.6667

    levels = {r["level"]: r for r in rep["levels"]}
    assert [levels[lv]["received"] for lv in ("cell", "community", "street", "district")] == [
        4, 2, 1, 0]  # fmt: skip
    assert levels["cell"]["settled"]["cell"] == 3 and levels["cell"]["closed"] == 2
    assert levels["cell"]["median_close_hours"] == 8
    assert levels["cell"]["escalated"] == 2 and levels["cell"]["overdue"] == 1
    assert levels["community"]["median_close_hours"] == 20
    assert levels["community"]["ratings"]["unsatisfied"] == 1

    cats = [(r["category"], r["received"]) for r in rep["categories"]]
    assert cats == [("safety_hazard", 1), ("sanitation", 3), ("noise", 3)]
    noise = rep["categories"][2]
    assert noise["overdue"] == 1 and noise["settled"]["cell"] == 1 and noise["escalated"] == 1


def test_the_hexbin_holds_every_case_in_its_polygon(made, client, auth_as, cases) -> None:
    rep = client.get(
        f"{REPORT}?area={cases.field.world.street}&hex_m=500", headers=auth_as("centre")
    ).get_json()
    features = rep["hexbin"]["features"]
    assert rep["hex_m"] == 500
    assert sum(f["properties"]["count"] for f in features) == 7
    first = next(f for f in features if Point(*A).within(shape(f["geometry"])))
    assert first["properties"]["count"] == 3  # c1, c2 and c3 (about 140 m away)
    ring = first["geometry"]["coordinates"][0]
    assert len(ring) == 7 and ring[0] == ring[-1]
    # 500 m across: about 0.0052° of longitude at 30.45° N
    xs = [x for x, _y in ring]
    assert max(xs) - min(xs) == pytest.approx(500 / (111320 * 0.8621), rel=0.01)


def test_the_window_and_the_stations_scope(made, client, auth_as, cases) -> None:
    today = local_today()
    wide = client.get(
        f"{REPORT}?area={cases.field.world.street}&from={today - dt.timedelta(days=90)}&to={today}",
        headers=auth_as("centre"),
    ).get_json()
    assert wide["totals"]["received"] == 8 and wide["from"] == str(today - dt.timedelta(days=90))
    own = client.get(REPORT, headers=auth_as("station_b")).get_json()
    assert own["area"]["id"] == cases.field.world.community_b
    assert own["totals"]["received"] == 1 and own["totals"]["ratings"]["fairly"] == 1
    street = client.get(f"{REPORT}?area={cases.field.world.street}", headers=auth_as("station_b"))
    assert street.status_code == 404
    a = client.get(REPORT, headers=auth_as("station_a")).get_json()
    assert a["totals"]["received"] == 6
    bad = client.get(f"{REPORT}?from={today}&to={today - dt.timedelta(days=1)}",
                     headers=auth_as("station_a"))  # fmt: skip
    assert bad.status_code == 422
    assert client.get(f"{REPORT}?hex_m=10", headers=auth_as("station_a")).status_code == 422


@pytest.mark.parametrize("user", ["dept", "worker_a", "bank", "coordinator"])
def test_department_contacts_and_workers_may_not_read_it(cases, client, auth_as, user) -> None:
    resp = client.get(f"{REPORT}?format=nonsense", headers=auth_as(user))
    assert resp.status_code == 403 and resp.get_json()["error"]["code"] == "forbidden_role"


def test_csv_and_xlsx_read_back_and_are_audited(made, client, auth_as, cases) -> None:
    street = cases.field.world.street
    resp = client.get(f"{REPORT}?area={street}&format=csv", headers=auth_as("centre"))
    assert resp.status_code == 200 and resp.mimetype == "text/csv"
    assert "attachment" in resp.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(resp.data.decode("utf-8-sig"))))
    assert [r["table"] for r in rows] == ["total"] + ["level"] * 4 + ["category"] * 3
    assert rows[0]["received"] == "7" and rows[0]["settled_in_cell_share"] == "0.75"
    assert rows[1]["key"] == "cell" and rows[1]["settled_cell"] == "3"

    resp = client.get(f"{REPORT}?area={street}&format=xlsx", headers=auth_as("centre"))
    assert resp.status_code == 200
    book = load_workbook(io.BytesIO(resp.data))
    assert book.sheetnames == ["汇总", "按层级", "按类别", "热力格"]
    summary = {r[0]: r[1] for r in book["汇总"].iter_rows(values_only=True) if r and r[0]}
    assert summary["受理数"] == 7 and summary["小问题不出网格"] == 0.75
    assert summary["结案用时中位数(小时)"] == 10
    by_cat = list(book["按类别"].iter_rows(values_only=True))
    assert by_cat[1][:3] == ("safety_hazard", "安全隐患", 1)
    hexes = list(book["热力格"].iter_rows(values_only=True))[1:]
    assert sum(r[4] for r in hexes) == 7
    with client.application.app_context():
        entries = db.session.scalars(
            select(AuditEntry).where(AuditEntry.action == "case_report_export")
        ).all()
    assert [e.details["format"] for e in entries] == ["csv", "xlsx"]


def _listed(client, headers, query: str) -> set[int]:
    resp = client.get(f"{TASKS}?kind=case&page_size=100&{query}", headers=headers)
    assert resp.status_code == 200, resp.get_json()
    return {t["id"] for t in resp.get_json()}


def test_the_case_filters_of_the_list(made, client, auth_as) -> None:
    centre = auth_as("centre")
    ids = made
    assert _listed(client, centre, "category=noise") == {ids["c3"], ids["c4"], ids["c5"]}
    assert _listed(client, centre, "level=community") == {ids["c2"], ids["c5"]}
    assert _listed(client, centre, "overdue=true") == {ids["c4"]}
    assert ids["c4"] not in _listed(client, centre, "overdue=false")
    assert len(_listed(client, centre, "overdue=false")) == 7
    assert _listed(client, centre, "supervised=true") == {ids["c6"]}
    assert _listed(client, centre, "paused=true") == {ids["c5"]}
    assert _listed(client, centre, "department=CGJ") == {ids["c6"]}
    assert _listed(client, centre, "source=phone&level=street") == {ids["c6"]}
    assert _listed(client, auth_as("station_b"), "category=sanitation") == {ids["c7"]}
    assert _listed(client, auth_as("dept"), "") == {ids["c6"]}
    assert _listed(client, auth_as("dept"), "overdue=false&supervised=true") == {ids["c6"]}
    for query, code in [("category=nope", "unknown_category"),
                        ("department=ZZZ", "unknown_department"),
                        ("department=DZCB", "unknown_department")]:  # fmt: skip
        resp = client.get(f"{TASKS}?{query}", headers=centre)
        assert resp.status_code == 422 and resp.get_json()["error"]["code"] == code
    assert client.get(f"{TASKS}?level=moon", headers=centre).status_code == 422


def test_pages_of_the_case_list_keep_the_order(made, client, auth_as) -> None:
    centre = auth_as("centre")
    whole = client.get(f"{TASKS}?kind=case&page_size=100&sort=created_at", headers=centre)
    order = [t["id"] for t in whole.get_json()]
    assert order[0] == made["old"] and len(order) == 8
    paged = []
    for page in (1, 2, 3):
        resp = client.get(
            f"{TASKS}?kind=case&page_size=3&page={page}&sort=created_at", headers=centre
        )
        assert '"total": 8' in resp.headers["X-Pagination"]
        paged += [t["id"] for t in resp.get_json()]
    assert paged == order
    beyond = client.get(f"{TASKS}?kind=case&page_size=3&page=9", headers=centre)
    assert beyond.get_json() == [] and '"total": 8' in beyond.headers["X-Pagination"]
    none = client.get(f"{TASKS}?kind=case&level=district", headers=centre)
    assert none.get_json() == [] and '"total": 0' in none.headers["X-Pagination"]


def test_the_ladders_own_steps_are_read_by_the_report(client, auth_as, cases, clean_app) -> None:
    """A case escalated by the worker, settled and closed by the station through the steps:
    settled at the community, escalated once (from the cell)."""
    case = new_case(clean_app, cases, "noise")
    worker, station = auth_as("worker_a"), auth_as("station_a")
    resp = step(client, worker, case, "escalate", {"note": "需要社区协调"})
    assert resp.status_code == 200, resp.get_json()
    for name, body in [("accept", {}), ("settle", {"note": "已协调"}), ("close", {})]:
        resp = step(client, station, case, name, body)
        assert resp.status_code == 200, resp.get_json()
    rep = client.get(REPORT, headers=station).get_json()
    t = rep["totals"]
    assert t["received"] == 1 and t["settled"]["community"] == 1 and t["closed"] == 1
    assert (t["escalated"], t["escalations"]) == (1, 1)
    levels = {r["level"]: r for r in rep["levels"]}
    assert levels["cell"]["escalated"] == 1 and levels["community"]["settled"]["community"] == 1
