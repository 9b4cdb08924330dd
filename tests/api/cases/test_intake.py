"""Case intake: from the station's desk (station, walk-in, phone), a worker's terminal (POST
/tasks and the upload item) — each case placed in its community and cell with the worker
holding the cell that day, at its category's start level with the level's deadline; urgent
categories at the street at once, the street centre told; the reporter's phone encrypted and
masked; duplicates offered and merged."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from sqlalchemy import func, select

from gridserve import crypto
from gridserve.extensions import db
from gridserve.models import AuditEntry, OutreachNotice, SmsMessage, Task, TaskEvent
from gridserve.services.accounts import users
from gridserve.services.accounts.auth import principal_for
from gridserve.services.cases import intake
from gridserve.services.sms import numbers as sms_numbers
from gridserve.timeutil import local_today
from tests.api.outreach.test_notices import put_channel
from tests.api.test_sync_visits import _point_in, _upload
from tests.conftest import login

TASKS = "/api/v1/tasks"


def _error(resp, status: int, code: str) -> dict:
    assert resp.status_code == status, resp.get_json()
    error = resp.get_json()["error"]
    assert error["code"] == code, error
    return error


def _tasks() -> int:
    return db.session.scalar(select(func.count()).select_from(Task))


def _at(client, auth_as, cases, cell: str) -> dict:
    lon, lat = _point_in(client, auth_as, cases.field.world.street, cell)
    return {"lon": lon, "lat": lat}


def _who(name: str, phone: str, consent: bool) -> dict:
    return {"name": name, "phone": phone, "consent": consent}


def _case(client, auth_as, cases, cell=None, *, user="station_a", **over):
    body = {"kind": "case", "title": "楼道堆放杂物", "category": "sanitation",
            "location": _at(client, auth_as, cases, cell or cases.field.cell)}  # fmt: skip
    body.update(over)
    return client.post(TASKS, json=body, headers=auth_as(user))


# --- placement and the ladder --------------------------------------------------------------


@pytest.mark.parametrize("source", ["station", "walk_in", "phone"])
def test_the_station_takes_a_case_in_the_cell_of_the_worker_holding_it(
    cases, client, auth_as, source
) -> None:
    resp = _case(client, auth_as, cases, source=source,
                 reporter={"name": "张三", "phone": "13812345678", "consent": True})  # fmt: skip
    assert resp.status_code == 201, resp.get_json()
    case = resp.get_json()
    assert case["source"] == source and case["kind"] == "case"
    assert (case["area_id"], case["cell_code"]) == (cases.field.world.community_a, cases.field.cell)
    assert case["assigned_worker_id"] == cases.field.worker_id
    assert (case["category"], case["level"], case["status"]) == ("sanitation", "cell", "open")
    assert case["level_due_at"] is not None and case["level_started_at"] is not None
    assert case["needs_verification"] is False and case["paused"] is False
    assert case["history"][0]["to_level"] == "cell"
    assert case["duplicates"] == []


def test_a_vacant_cell_leaves_the_case_with_nobody_and_the_category_sets_level_and_checks(
    cases, client, auth_as
) -> None:
    resp = _case(client, auth_as, cases, cases.field.other_cell, category="illegal_building")
    case = resp.get_json()
    assert case["cell_code"] == cases.field.other_cell and case["assigned_worker_id"] is None
    assert (case["level"], case["needs_verification"]) == ("community", True)
    started = dt.datetime.fromisoformat(case["level_started_at"])
    assert dt.datetime.fromisoformat(case["level_due_at"]) > started + dt.timedelta(days=1)


def test_a_case_at_a_place_takes_its_community_and_cell(cases, client, auth_as) -> None:
    cells = client.get(
        f"/api/v1/areas/{cases.field.world.street}/cells", headers=auth_as("centre")
    ).get_json()
    ids = {f["properties"]["code"]: f["id"] for f in cells["features"]}
    place = client.get(
        f"/api/v1/places?cell={ids[cases.field.cell]}", headers=auth_as("centre")
    ).get_json()[0]
    resp = client.post(
        TASKS, json={"kind": "case", "title": "噪声", "category": "noise", "place_id": place["id"]},
        headers=auth_as("centre"),
    )  # fmt: skip
    case = resp.get_json()
    assert resp.status_code == 201, case
    assert (case["place_id"], case["cell_code"]) == (place["id"], cases.field.cell)
    assert case["assigned_worker_id"] == cases.field.worker_id


def test_the_worker_is_the_one_holding_the_cell_that_day(cases, client, auth_as, ctx) -> None:
    tomorrow = local_today() + dt.timedelta(days=1)
    second = client.post(
        "/api/v1/workers",
        json={"area_id": cases.field.world.community_a, "full_name": "网格员乙"},
        headers=auth_as("station_a"),
    ).get_json()["id"]
    given = client.post(
        f"/api/v1/workers/{second}/assignments",
        json={"cell": cases.field.other_cell, "starts_on": tomorrow.isoformat()},
        headers=auth_as("station_a"),
    )
    assert given.status_code in (200, 201), given.get_json()
    station = principal_for(users.find_by_username("station_a"))
    data = {"title": "路面坑洼", "category": "roads_lights",
            "location": _at(client, auth_as, cases, cases.field.other_cell)}  # fmt: skip
    today_case, _ = intake.receive(station, data, local_today(), source="station")
    next_case, _ = intake.receive(station, data, tomorrow, source="station")
    assert today_case.assigned_worker_id is None
    assert next_case.assigned_worker_id == second


def test_the_station_may_name_another_worker(cases, client, auth_as) -> None:
    second = client.post(
        "/api/v1/workers",
        json={"area_id": cases.field.world.community_a, "full_name": "网格员乙"},
        headers=auth_as("station_a"),
    ).get_json()["id"]
    case = _case(client, auth_as, cases, assigned_worker_id=second).get_json()
    assert case["assigned_worker_id"] == second


def test_old_clients_without_a_category_file_the_case_under_other(cases, client, auth_as) -> None:
    body = {"kind": "case", "title": "其他问题", "area_id": cases.field.world.community_a}
    case = client.post(TASKS, json=body, headers=auth_as("station_a")).get_json()
    assert (case["category"], case["level"]) == ("other", "cell")
    worker = client.post(TASKS, json={"title": "发现问题"}, headers=auth_as("worker_a")).get_json()
    assert (worker["category"], worker["source"]) == ("other", "terminal")
    assert worker["assigned_worker_id"] == cases.field.worker_id
    task = client.post(TASKS, json={"title": "走访", "area_id": cases.field.world.community_a},
                       headers=auth_as("station_a")).get_json()  # fmt: skip
    assert (task["kind"], task["category"], task["level"]) == ("task", None, None)


def test_without_any_category_a_case_is_made_at_the_cell_without_deadlines(
    field, client, auth_as
) -> None:
    body = {"kind": "case", "title": "其他问题", "area_id": field.world.community_a}
    case = client.post(TASKS, json=body, headers=auth_as("station_a")).get_json()
    assert (case["category"], case["level"], case["level_due_at"]) == (None, "cell", None)


# --- urgent categories -----------------------------------------------------------------------


def test_a_hazard_starts_at_the_street_and_the_street_centre_is_told_at_once(
    cases, client, auth_as, ctx, override_settings, tmp_path
) -> None:
    override_settings(case_feedback_channel="CGJ", sms_outbox_path=tmp_path)
    put_channel(client, login(client, "coordinator"), code="CGJ")
    resp = _case(client, auth_as, cases, category="safety_hazard", title="燃气管道泄漏")
    case = resp.get_json()
    assert resp.status_code == 201, case
    assert (case["level"], case["needs_verification"]) == ("street", True)
    due = dt.datetime.fromisoformat(case["level_due_at"])
    assert due - dt.datetime.fromisoformat(case["level_started_at"]) == dt.timedelta(hours=12)
    mine = select(OutreachNotice).where(OutreachNotice.task_id == case["id"])
    [notice] = db.session.scalars(mine)
    assert (notice.reason, notice.area_id) == ("case_urgent", cases.field.world.street)
    assert notice.texted == 1 and "燃气管道泄漏" in notice.message
    key = sms_numbers.hasher()("+8613700000003")
    texts = select(func.count()).select_from(SmsMessage).where(SmsMessage.phone_hash == key)
    assert db.session.scalar(texts) == 1


def test_an_urgent_case_from_a_terminal_goes_to_the_street_too(cases, client, terminal, ctx):
    lon, lat = _point_in(client, lambda _u: login(client, "centre"), cases.field.world.street,
                         cases.field.cell)  # fmt: skip
    resp = client.post(TASKS, json={"title": "火情", "category": "emergency",
                                    "location": {"lon": lon, "lat": lat}},
                       headers=terminal)  # fmt: skip
    case = resp.get_json()
    assert resp.status_code == 201, case
    assert (case["level"], case["source"]) == ("street", "terminal")
    notices = select(func.count()).select_from(OutreachNotice).where(
        OutreachNotice.task_id == case["id"], OutreachNotice.reason == "case_urgent"
    )  # fmt: skip
    assert db.session.scalar(notices) == 1


# --- the reporter ----------------------------------------------------------------------------


def test_the_reporters_phone_is_encrypted_masked_and_clear_only_for_the_station_up(
    cases, client, auth_as, ctx
) -> None:
    case = _case(client, auth_as, cases, source="phone",
                 reporter=_who("张三", "138 1234 5678", True)).get_json()  # fmt: skip
    assert case["reporter"] == {"name": "张三", "phone": "13812345678", "consent": True,
                                "masked": False}  # fmt: skip
    row = db.session.get(Task, case["id"])
    assert b"13812345678" not in row.reporter_phone_enc
    assert crypto.decrypt(row.reporter_phone_enc) == "13812345678"
    assert row.reporter_phone_hash == sms_numbers.hasher()("+8613812345678")
    read = select(func.count()).select_from(AuditEntry).where(
        AuditEntry.action == "case_reporter_read", AuditEntry.entity_id == str(case["id"])
    )  # fmt: skip
    before = db.session.scalar(read)
    for user in ("station_a", "centre"):
        shown = client.get(f"{TASKS}/{case['id']}", headers=auth_as(user)).get_json()
        assert shown["reporter"]["phone"] == "13812345678"
    assert db.session.scalar(read) == before + 2
    mine = client.get(f"{TASKS}/{case['id']}", headers=auth_as("worker_a")).get_json()
    assert mine["reporter"] == {"name": "张*", "phone": "138****5678", "consent": True,
                                "masked": True}  # fmt: skip
    listed = client.get(TASKS, headers=auth_as("station_a")).get_json()
    assert listed[0]["reporter"]["phone"] == "138****5678"
    assert db.session.scalar(read) == before + 2
    assert client.get(f"{TASKS}/{case['id']}", headers=auth_as("station_b")).status_code == 404


# --- refusals --------------------------------------------------------------------------------


@pytest.mark.parametrize("user", ["coordinator", "dept", "bank"])
def test_roles_that_may_not_take_cases_are_refused_before_any_input_check(
    cases, client, auth_as, user, ctx
) -> None:
    _error(client.post(TASKS, json={"kind": "case"}, headers=auth_as(user)), 403, "forbidden_role")
    _error(client.post(f"{TASKS}/1/merge", json={}, headers=auth_as(user)), 403, "forbidden_role")
    assert _tasks() == 0


def test_a_worker_may_not_merge(cases, client, auth_as) -> None:
    _error(client.post(f"{TASKS}/1/merge", json={}, headers=auth_as("worker_a")), 403,
           "forbidden_role")  # fmt: skip


@pytest.mark.parametrize(
    ("over", "code", "field"),
    [
        ({"category": "no_such"}, "unknown_category", "category"),
        ({"category": None, "source": "walk_in"}, "validation_error", "category"),
        ({"location": {"lon": 120.0, "lat": 10.0}}, "outside_area", "location"),
        ({"source": "open311"}, "validation_error", "source"),
        ({"reporter": {"name": "李四", "phone": "12345"}}, "validation_error", "reporter.phone"),
        ({"reporter": {"name": "李四", "consent": True}}, "validation_error", "reporter.phone"),
    ],
)
def test_bad_intake_is_refused_and_nothing_is_stored(
    cases, client, auth_as, ctx, over, code, field
) -> None:
    body = {"kind": "case", "title": "楼道堆放杂物", "category": "sanitation",
            "location": {"lon": 104.01, "lat": 30.41}, **over}  # fmt: skip
    if body["category"] is None:
        del body["category"]
    error = _error(client.post(TASKS, json=body, headers=auth_as("station_a")), 422, code)
    assert field in error["details"]["fields"]
    assert _tasks() == 0


def test_a_location_in_another_community_is_outside_the_stations_coverage(
    cases, client, auth_as, ctx
) -> None:
    resp = _case(client, auth_as, cases, cases.field.cell_b)
    _error(resp, 422, "outside_coverage")
    assert _tasks() == 0


# --- the terminal's upload -----------------------------------------------------------------


def _item(lon, lat, **over):
    item = {"uuid": str(uuid.uuid4()), "type": "case", "title": "垃圾满溢",
            "location": {"lon": lon, "lat": lat}, "category": "sanitation"}  # fmt: skip
    item.update(over)
    return item


def test_upload_items_carry_a_category_good_and_bad_in_one_batch_and_a_retry_is_a_duplicate(
    cases, client, auth_as, terminal, ctx
) -> None:
    lon, lat = _point_in(client, auth_as, cases.field.world.street, cases.field.cell)
    good = _item(lon, lat)
    urgent = _item(lon, lat, category="safety_hazard", title="电线裸露")
    unknown = _item(lon, lat, category="no_such")
    old = _item(lon, lat)
    del old["category"]
    resp = _upload(client, terminal, [good, unknown, urgent, old])
    assert resp.status_code == 200, resp.get_json()
    results = resp.get_json()["results"]
    assert [r["status"] for r in results] == ["created", "rejected", "created", "created"]
    assert results[1]["code"] == "unknown_category" and "category" in results[1]["errors"]
    made = {r["uuid"]: db.session.get(Task, r["task_id"]) for r in results if r.get("task_id")}
    assert made[good["uuid"]].level == "cell"
    assert made[good["uuid"]].category_id == cases.categories["sanitation"]
    assert made[urgent["uuid"]].level == "street"
    assert made[old["uuid"]].category_id == cases.categories["other"]
    [again] = _upload(client, terminal, [good]).get_json()["results"]
    assert (again["status"], again["task_id"]) == ("duplicate", made[good["uuid"]].id)
    [other] = _upload(client, terminal, [dict(good, category="noise")]).get_json()["results"]
    assert (other["status"], other["code"]) == ("conflict", "uuid_taken")
    assert _tasks() == 3


# --- duplicates and merging ------------------------------------------------------------------


def test_a_case_close_to_an_open_one_of_its_category_is_offered_as_a_duplicate(
    cases, client, auth_as, ctx
) -> None:
    where = _at(client, auth_as, cases, cases.field.cell)
    first = _case(client, auth_as, cases, location=where).get_json()
    near = {"lon": where["lon"] + 0.0002, "lat": where["lat"]}  # about 19 m east
    far = {"lon": where["lon"] + 0.002, "lat": where["lat"]}  # about 190 m
    second = _case(client, auth_as, cases, location=near)
    assert second.status_code == 201
    [dup] = second.get_json()["duplicates"]
    assert (dup["id"], dup["title"]) == (first["id"], "楼道堆放杂物")
    assert 10 < dup["distance_m"] < 30 and dup["created_at"]
    assert _case(client, auth_as, cases, location=far).get_json()["duplicates"] == []
    other = _case(client, auth_as, cases, location=where, category="noise").get_json()
    assert other["duplicates"] == []
    assert _tasks() == 4
    db.session.get(Task, first["id"]).created_at -= dt.timedelta(hours=73)
    db.session.get(Task, second.get_json()["id"]).created_at -= dt.timedelta(hours=73)
    db.session.commit()
    assert _case(client, auth_as, cases, location=where).get_json()["duplicates"] == []


def test_merging_closes_the_duplicate_and_the_kept_case_remembers_every_reporter(
    cases, client, auth_as, ctx
) -> None:
    where = _at(client, auth_as, cases, cases.field.cell)
    kept = _case(client, auth_as, cases, location=where, source="walk_in",
                 reporter=_who("张三", "13812345678", True)).get_json()  # fmt: skip
    dup = _case(client, auth_as, cases, location=where, source="phone",
                reporter=_who("李四", "13912345670", True)).get_json()  # fmt: skip
    third = _case(client, auth_as, cases, location=where, source="phone",
                  reporter=_who("王五", "13712345670", False)).get_json()  # fmt: skip
    _error(client.post(f"{TASKS}/{dup['id']}/merge", json={"into": kept["id"], "version": 9},
                       headers=auth_as("station_a")), 409, "stale_version")  # fmt: skip
    merged = client.post(f"{TASKS}/{dup['id']}/merge", json={"into": kept["id"], "version": 1},
                         headers=auth_as("station_a"))  # fmt: skip
    assert merged.status_code == 200, merged.get_json()
    body = merged.get_json()
    assert (body["status"], body["duplicate_of"], body["version"]) == ("cancelled", kept["id"], 2)
    assert body["closed_at"] is not None and body["history"][-1]["action"] == "merge"
    kept_now = client.get(f"{TASKS}/{kept['id']}", headers=auth_as("station_a")).get_json()
    assert kept_now["history"][-1]["action"] == "merge" and kept_now["status"] == "open"
    client.post(f"{TASKS}/{third['id']}/merge", json={"into": kept["id"], "version": 1},
                headers=auth_as("centre"))  # fmt: skip
    row = db.session.get(Task, kept["id"])
    assert intake.reporters(row) == [("张三", "+8613812345678"), ("李四", "+8613912345670")]
    merges = select(func.count()).select_from(TaskEvent).where(TaskEvent.action == "merge")
    assert db.session.scalar(merges) == 4


def test_merging_gives_the_kept_case_a_new_version_its_terminal_sees(
    cases, client, auth_as, ctx, terminal
) -> None:
    where = _at(client, auth_as, cases, cases.field.cell)
    kept = _case(client, auth_as, cases, location=where, source="walk_in",
                 reporter=_who("张三", "13812345678", True)).get_json()  # fmt: skip
    dup = _case(client, auth_as, cases, location=where, source="phone",
                reporter=_who("李四", "13912345670", True)).get_json()  # fmt: skip
    assert kept["assigned_worker_id"] == cases.field.worker_id  # worker_a holds the cell
    bundle = client.get("/api/v1/sync/bundle", headers=terminal).get_json()
    assert kept["id"] in {t["id"] for t in bundle["tasks"]}
    cursor = bundle["next_cursor"]
    merged = client.post(f"{TASKS}/{dup['id']}/merge", json={"into": kept["id"], "version": 1},
                         headers=auth_as("station_a"))  # fmt: skip
    assert merged.status_code == 200, merged.get_json()
    now = client.get(f"{TASKS}/{kept['id']}", headers=auth_as("station_a")).get_json()
    assert now["version"] == kept["version"] + 1 and now["change_seq"] > kept["change_seq"]
    assert now["status"] == "open" and now["history"][-1]["action"] == "merge"
    assert now["history"][-1]["note"] == f"事件{dup['id']}作为重复事件并入"
    # Editing the kept case on the version read before the merge is stale now.
    stale = client.patch(f"{TASKS}/{kept['id']}", json={"version": kept["version"], "title": "x"},
                         headers=auth_as("station_a"))  # fmt: skip
    _error(stale, 409, "stale_version")
    delta = client.get(f"/api/v1/sync/bundle?since={cursor}", headers=terminal).get_json()
    assert [(t["id"], t["version"]) for t in delta["tasks"]] == [(kept["id"], now["version"])]
    audited = db.session.scalars(
        select(AuditEntry.details).where(AuditEntry.entity == "tasks",
                                         AuditEntry.entity_id == str(kept["id"]))
    ).all()  # fmt: skip
    assert any(d and d.get("merged") == dup["id"] for d in audited)


def test_merging_into_itself_a_closed_case_or_across_categories_is_refused(
    cases, client, auth_as, ctx
) -> None:
    where = _at(client, auth_as, cases, cases.field.cell)
    a = _case(client, auth_as, cases, location=where).get_json()
    b = _case(client, auth_as, cases, location=where).get_json()
    noise = _case(client, auth_as, cases, location=where, category="noise").get_json()
    task = client.post(TASKS, json={"title": "走访", "area_id": cases.field.world.community_a},
                       headers=auth_as("station_a")).get_json()  # fmt: skip

    def merge(one, into, version=1):
        return client.post(f"{TASKS}/{one['id']}/merge", json={"into": into["id"],
                           "version": version}, headers=auth_as("station_a"))  # fmt: skip

    _error(merge(a, a), 409, "merge_into_itself")
    _error(merge(a, noise), 409, "merge_across_categories")
    _error(merge(a, task), 422, "not_a_case")
    _error(client.post(f"{TASKS}/{a['id']}/merge", json={"version": 1},
                       headers=auth_as("station_a")), 422, "validation_error")  # fmt: skip
    assert merge(b, a).status_code == 200
    _error(merge(a, b, 2), 409, "merge_into_closed")  # a kept b: a new version
    _error(merge(b, a, 2), 409, "invalid_transition")
    assert client.post(f"{TASKS}/{a['id']}/merge", json={"into": 999999, "version": 2},
                       headers=auth_as("station_a")).status_code == 404  # fmt: skip
    assert merge(a, b).status_code != 200
    other = client.post(f"{TASKS}/{a['id']}/merge", json={"into": b["id"], "version": 2},
                        headers=auth_as("station_b"))  # fmt: skip
    assert other.status_code == 404


def test_open311_intake_through_the_same_call_places_the_case_and_keeps_the_reporter(
    cases, client, auth_as, ctx
) -> None:
    from gridserve.scope import OPERATOR

    data = {"title": "路灯不亮", "category": "roads_lights", "uuid": str(uuid.uuid4()),
            "location": _at(client, auth_as, cases, cases.field.cell),
            "reporter": _who("赵六", "13512345678", True)}  # fmt: skip
    task, created = intake.receive(OPERATOR, data, local_today(), source="open311")
    again, repeated = intake.receive(OPERATOR, data, local_today(), source="open311")
    assert created and not repeated and again.id == task.id
    assert (task.source, task.level, task.assigned_worker_id) == (
        "open311", "cell", cases.field.worker_id,
    )  # fmt: skip
    assert intake.reporters(task) == [("赵六", "+8613512345678")]
