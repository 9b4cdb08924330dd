"""The cases demo (seeds/cases.py): a few hundred cases with coherent histories over the last
four months, every state the ladder knows, one department seeing what was dispatched to it,
the report's figures, and the deadline job's first pass over the seeded street."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any

from sqlalchemy import func, select

from gridserve import audit
from gridserve.db import transaction, utcnow
from gridserve.extensions import db
from gridserve.models import (
    CaseCategory,
    CaseFeedback,
    Institution,
    SmsMessage,
    Task,
    TaskEvent,
    User,
)
from gridserve.services.cases import basics
from gridserve.timeutil import local_today
from seeds.cases import CASES, DEPARTMENT, FATES, OVERDUE
from seeds.loader import load_demo
from tests.conftest import TEST_ACTOR, login

PASSWORD = "demo-pass-123"
# Steps that (re)start a level's clock (a return: when it goes a level down).
RESTARTS = ("created", "escalate", "reopen", "recategorise", "return")


def check_history(task: Task, events: list[TaskEvent], category: CaseCategory,
                  categories: dict[int, CaseCategory], now: dt.datetime) -> None:  # fmt: skip
    """One case's columns are what its steps, replayed in order, leave."""
    assert events[0].action == "created" and events[0].from_status is None
    assert events[0].at == task.created_at and events[0].to_status == "open"
    status, level, dept, started, paused, paused_total = (
        "open",
        events[0].to_level,
        None,
        None,
        None,
        0,
    )
    due_shift = dt.timedelta(0)
    cat = categories[task.category_id]
    bumps = 0
    for prev, event in zip([None, *events], events, strict=False):
        assert event.at <= now, (task.id, event.action)
        if prev is not None:
            assert event.at >= prev.at, (task.id, prev.action, event.action)
            assert event.from_status == status and event.from_level == level, (
                task.id,
                event.action,
            )
        prev_level = level
        status, level = event.to_status, event.to_level
        if event.action == "recategorise":
            cat = category
        if event.action in RESTARTS and (event.action != "return" or prev_level != level):
            started, due_shift = event.at, dt.timedelta(0)
        if event.action == "dispatch":
            dept = event.department_id
        if event.action in ("escalate", "return", "reopen"):
            dept = None
        if event.action == "pause":
            paused = event.at
        if event.action == "resume":
            due_shift += event.at - paused
            paused_total += int((event.at - paused).total_seconds())
            paused = None
        if event.action in ("close", "cancel", "merge") and event.to_status == "cancelled":
            paused = None
        if event.action not in ("created",) and not (
            event.action == "merge" and event.to_status != "cancelled"
        ):
            bumps += 1
    assert (task.status, task.level) == (status, level), task.id
    assert task.department_id == dept, task.id
    assert task.version == 1 + bumps, task.id
    assert task.escalations == sum(e.action == "escalate" for e in events), task.id
    assert task.paused_at == (paused if task.status not in ("closed", "cancelled") else None)
    assert task.paused_seconds == paused_total and (task.paused_at is None) == (
        not task.pause_reason
    )
    assert task.level_started_at == started, task.id
    expected = basics.level_due_at(cat, task.level, started, task.area_id)
    assert task.level_due_at == (expected + due_shift if expected else None), task.id
    closes = [e for e in events if e.action == "close"]
    if task.status == "closed":
        assert task.closed_at == closes[-1].at and task.closed_level == closes[-1].from_level
        if task.needs_verification:
            assert any(e.action == "verify" and e.at <= closes[-1].at for e in events), task.id
    if task.status in ("open", "accepted", "settled", "verified"):
        assert task.closed_at is None
    if task.rating is not None:
        assert [e.action for e in events].count("rate") == 1


def _seed() -> Any:
    with audit.acting_as(TEST_ACTOR), transaction():
        return load_demo(password=PASSWORD, register=True)


def test_the_cases_demo(clean_app, override_settings) -> None:
    with clean_app.app_context():
        report = _seed()
        assert report.created["cases"] == CASES
        now, today = utcnow(), local_today()
        street_id, dept_id = _the_histories_are_coherent(now)
        _there_is_every_state(now, dept_id)
        _no_text_waits_for_the_past(override_settings)
    client = clean_app.test_client()
    _the_department_sees_what_was_dispatched_to_it(client, clean_app, dept_id)
    _workers_and_report(client, street_id, today)
    _a_station_reads_a_case(client, clean_app)
    with clean_app.app_context():
        _the_deadline_job_escalates_the_overdue()


def _the_histories_are_coherent(now: dt.datetime) -> tuple[int, int]:
    from gridserve.services.geography.areas import find_by_code

    tasks = db.session.scalars(select(Task).where(Task.kind == "case").order_by(Task.id)).all()
    assert len(tasks) == CASES
    events: dict[int, list[TaskEvent]] = {}
    # In the order the history shows them (by id): the order they happened in.
    for event in db.session.scalars(select(TaskEvent).order_by(TaskEvent.id)):
        events.setdefault(event.task_id, []).append(event)
    categories = {c.id: c for c in db.session.scalars(select(CaseCategory))}
    street = find_by_code("QS")
    communities = {a.id for a in street.children}
    for task in tasks:
        assert task.area_id in communities and task.cell_id and task.cell_code and task.place_id
        check_history(task, events[task.id], categories[task.category_id], categories, now)
    dept = db.session.scalar(select(Institution).where(Institution.code == DEPARTMENT))
    assert dept.kind == "department"
    return street.id, dept.id


def _there_is_every_state(now: dt.datetime, dept_id: int) -> None:
    tasks = db.session.scalars(select(Task).where(Task.kind == "case")).all()
    categories = {c.id: c for c in db.session.scalars(select(CaseCategory))}
    statuses = Counter(t.status for t in tasks)
    assert statuses["closed"] > CASES * 0.6
    assert statuses["cancelled"] >= FATES["cancelled"] + FATES["merged"]
    assert all(statuses[s] for s in ("open", "accepted", "settled", "verified"))
    pending = [t for t in tasks if t.status in ("open", "accepted")]
    assert {t.level for t in pending} == {"cell", "community", "street", "district"}
    assert {categories[t.category_id].report_class for t in tasks} == {
        "must_attend", "must_report", "must_visit", "everyday"
    }  # fmt: skip
    assert len({t.category_id for t in tasks}) >= 15
    assert {t.source for t in tasks} == {"terminal", "station", "walk_in", "phone", "open311"}
    assert {t.closed_level for t in tasks if t.status == "closed"} >= {
        "cell",
        "community",
        "street",
    }
    received = sorted(t.created_at for t in tasks)
    assert now - received[0] > dt.timedelta(days=90) and now - received[-1] < dt.timedelta(days=2)
    # Overdue now: pending past the level's due time, not paused.
    overdue = [t for t in pending if t.paused_at is None and t.level_due_at < now]
    assert len(overdue) == OVERDUE + 1 and sum(t.level == "district" for t in overdue) == 1
    # Within their deadline: the other live cases.
    live = [t for t in tasks if t.status in ("settled", "verified") and t.paused_at is None]
    assert all(t.level_due_at > now for t in live)
    paused = [t for t in tasks if t.paused_at is not None]
    assert len(paused) == FATES["paused"] and all(t.pause_reason for t in paused)
    assert any(t.paused_seconds for t in tasks if t.status == "closed")  # paused and resumed
    supervised = [t for t in tasks if t.supervised_at and t.status not in ("closed", "cancelled")]
    assert len(supervised) >= FATES["supervised"]
    assert sum(t.supervision_due_at < now for t in supervised) == 2
    assert sum(t.escalations > 0 for t in tasks) >= 40
    assert any(t.escalations >= 2 for t in tasks)
    by_job = db.session.scalar(
        select(func.count()).where(TaskEvent.action == "escalate", TaskEvent.actor_id.is_(None))
    )
    assert by_job > 0  # the deadline job's earlier passes, in the histories
    assert sum(t.verified_at is not None for t in tasks) > 50
    assert sum(t.status == "verified" for t in tasks) == FATES["verified"]
    merged = [t for t in tasks if t.duplicate_of_id]
    assert len(merged) == FATES["merged"] and all(t.status == "cancelled" for t in merged)
    dispatched = [t for t in tasks if t.department_id == dept_id]
    assert sum(t.status in ("open", "accepted") for t in dispatched) == FATES["dispatched"]
    assert sum(t.status == "closed" for t in dispatched) > 0
    returned = db.session.scalar(
        select(func.count()).where(TaskEvent.action == "return", TaskEvent.department_id == dept_id)
    )
    assert returned > 0
    for action in ("recategorise", "reopen", "merge", "verify", "supervise", "resume"):
        assert db.session.scalar(select(func.count()).where(TaskEvent.action == action)), action
    # Reporters: phones stored as intake stores them; ratings on record.
    reported = [t for t in tasks if t.reporter_phone_enc is not None]
    assert len(reported) > 60 and all(t.reporter_phone_hash and t.reporter_name for t in reported)
    ratings = Counter(t.rating for t in tasks if t.rating)
    assert ratings[1] > 10 and ratings[2] > 3 and ratings[3] == 1
    (unsatisfied,) = [t for t in tasks if t.rating == 3]
    assert unsatisfied.status == "open" and unsatisfied.level == unsatisfied.closed_level
    rows = db.session.scalars(select(CaseFeedback)).all()
    assert {r.task_id for r in rows if r.rating} == {t.id for t in tasks if t.rating}
    assert all(r.sent_at < now and (r.rated_at is None or r.sent_at < r.rated_at < now)
               for r in rows)  # fmt: skip


def _no_text_waits_for_the_past(override_settings) -> None:
    """Nothing queued for the cases; with a case channel set up, the feedback job finds every
    closed case fed back already (texts nobody for the past)."""
    from gridserve.services.cases import feedback

    assert not db.session.scalar(select(func.count()).where(SmsMessage.purpose.like("case%")))
    override_settings(case_feedback_channel="DZ-REG")  # the regulator's demo channel
    sent = feedback.send_due()
    assert sent["texts"] == 0 and sent["no_channel"] == 0


def _pages(client, headers: dict[str, str], **query: Any) -> list[dict[str, Any]]:
    out, page = [], 1
    while True:
        resp = client.get("/api/v1/tasks", query_string={**query, "page": page,
                          "page_size": 100}, headers=headers)  # fmt: skip
        assert resp.status_code == 200, resp.get_json()
        out += resp.get_json()
        if len(resp.get_json()) < 100:
            return out
        page += 1


def _the_department_sees_what_was_dispatched_to_it(client, app, dept_id: int) -> None:
    headers = login(client, "dept1", PASSWORD)
    seen = {t["id"] for t in _pages(client, headers, kind="case")}
    with app.app_context():
        dispatched = set(db.session.scalars(select(Task.id).where(Task.department_id == dept_id)))
        user = db.session.scalar(select(User).where(User.username == "dept1"))
        assert user.institution_id == dept_id and user.role == "institution_contact"
    assert seen == dispatched and len(seen) >= 10


def _workers_and_report(client, street_id: int, today: dt.date) -> None:
    worker = login(client, "worker1", PASSWORD)
    mine = _pages(client, worker, kind="case")
    assert mine and len({t["assigned_worker_id"] for t in mine}) == 1
    centre = login(client, "centre", PASSWORD)
    resp = client.get("/api/v1/reports/cases", query_string={"area": street_id}, headers=centre)
    assert resp.status_code == 200, resp.get_json()
    month = resp.get_json()["totals"]  # the default window: the last 30 days
    assert 30 < month["received"] < CASES
    resp = client.get(
        "/api/v1/reports/cases",
        query_string={"area": street_id, "from": (today - dt.timedelta(days=130)).isoformat(),
                      "to": (today + dt.timedelta(days=1)).isoformat()},
        headers=centre,
    )  # fmt: skip
    body = resp.get_json()
    totals = body["totals"]
    assert totals["received"] == CASES
    assert totals["settled"]["cell"] > totals["settled"]["street"] > 0
    assert 0.3 < totals["settled_in_cell_share"] < 0.9
    assert totals["escalated"] >= 40 and totals["overdue"] == OVERDUE + 1
    assert totals["closed"] > CASES * 0.6 and totals["median_close_hours"] > 1
    assert totals["rated"] > 50 and 0.9 < totals["satisfied_share"] < 1
    assert len(body["categories"]) >= 15 and body["hexbin"]["features"]
    overdue = _pages(client, centre, kind="case", overdue="true")
    assert len(overdue) == OVERDUE + 1


def _a_station_reads_a_case(client, app) -> None:
    """station1 reads a phoned-in case of its community: the reporter's phone in clear (as
    intake stored it), the history in order."""
    headers = login(client, "station1", PASSWORD)
    with app.app_context():
        station = db.session.scalar(select(User).where(User.username == "station1"))
        task_id = db.session.scalar(
            select(Task.id)
            .where(Task.area_id == station.area_id, Task.reporter_phone_enc.is_not(None))
            .order_by(Task.escalations.desc(), Task.id)
            .limit(1)
        )
        steps = db.session.scalar(select(func.count()).where(TaskEvent.task_id == task_id))
    resp = client.get(f"/api/v1/tasks/{task_id}", headers=headers)
    assert resp.status_code == 200, resp.get_json()
    body = resp.get_json()
    assert body["reporter"]["phone"].startswith("1379900") and body["reporter"]["name"]
    assert len(body["history"]) == steps and body["history"][0]["action"] == "created"
    assert [h["at"] for h in body["history"]] == sorted(h["at"] for h in body["history"])


def _the_deadline_job_escalates_the_overdue() -> None:
    """Its first pass moves each case overdue below the district one level up, once; reminds
    the street of the two supervisions past due; a second pass does nothing."""
    from gridserve.services.cases import deadlines

    now = utcnow()
    before = {
        t.id: t.level
        for t in db.session.scalars(
            select(Task).where(Task.kind == "case", Task.status.in_(("open", "accepted")),
                               Task.paused_at.is_(None), Task.level_due_at < now)
        )
    }  # fmt: skip
    with audit.acting_as(TEST_ACTOR):
        result = deadlines.run_pass(now)
        again = deadlines.run_pass(now)
    assert result["escalated"] == OVERDUE and result["overdue_at_top"] == 1
    assert result["reminded"] == 2
    assert again["escalated"] == 0 and again["reminded"] == 0
    db.session.expire_all()
    for task_id, level in before.items():
        task = db.session.get(Task, task_id)
        assert task.level == (basics.next_level(level) or level)
        if level != "district":
            assert task.level_due_at > now
