"""Sync up: each UUID stored once, per-item results, flags, edits against a base version."""

from __future__ import annotations

import datetime as dt
import threading
import uuid

import pytest
from shapely.geometry import shape
from sqlalchemy import func, select

from gridserve.db import utcnow
from gridserve.extensions import db
from gridserve.models import Visit
from tests import clock


def _point_in(client, auth_as, area_id, code):
    cells = client.get(f"/api/v1/areas/{area_id}/cells", headers=auth_as("centre")).get_json()
    feature = next(f for f in cells["features"] if f["properties"]["code"] == code)
    p = shape(feature["geometry"]).representative_point()
    return p.x, p.y


def _item(lon, lat, **over):
    # A patrol of the last half hour, but not before local midnight: the `field` layout is in
    # force from today, and a patrol started yesterday belongs to no cell of it.
    now = utcnow()
    midnight = dt.datetime.combine(now.astimezone(clock.zone()).date(), dt.time(), clock.zone())
    started = max(now - dt.timedelta(minutes=30), midnight)
    ended = started + min(dt.timedelta(minutes=25), now - started)
    item = {
        "uuid": str(uuid.uuid4()),
        "type": "patrol",
        "started_at": started.isoformat(),
        "ended_at": ended.isoformat(),
        "location": {"lon": lon, "lat": lat, "accuracy_m": 8},
        "notes": "巡查正常",
        "answers": {"hazards": 0},
    }
    item.update(over)
    return item


def _upload(client, headers, items, **extra):
    return client.post("/api/v1/sync/visits", json={"items": items, **extra}, headers=headers)


def _stored(app) -> int:
    with app.app_context():
        return db.session.execute(select(func.count()).select_from(Visit)).scalar_one()


def test_every_item_gets_its_own_result(client, auth_as, field, terminal, clean_app):
    lon, lat = _point_in(client, auth_as, field.world.street, field.cell)
    first = _item(lon, lat)
    resp = _upload(client, terminal, [first])
    assert resp.get_json()["results"][0]["status"] == "created"

    changed = dict(first, notes="另一条记录")
    bad = _item(lon, lat, type="picnic", started_at="yesterday")
    fresh = _item(lon, lat)
    unknown_place = _item(lon, lat, place_id=999999)
    resp = _upload(client, terminal, [first, bad, fresh, unknown_place, fresh])
    assert resp.status_code == 200
    results = resp.get_json()["results"]
    statuses = [r["status"] for r in results]
    assert statuses == ["duplicate", "rejected", "created", "rejected", "rejected"]
    assert {"type", "started_at"} <= set(results[1]["errors"])
    assert results[3]["code"] == "unknown_place"
    assert results[4]["code"] == "duplicate_in_batch"
    conflict = _upload(client, terminal, [changed]).get_json()["results"][0]
    assert conflict["status"] == "conflict" and conflict["code"] == "uuid_taken"
    assert _stored(clean_app) == 2
    with clean_app.app_context():
        kept = db.session.execute(select(Visit).where(Visit.uuid == first["uuid"])).scalar_one()
        assert kept.notes == "巡查正常"  # the conflicting upload did not overwrite it
        assert kept.cell_code == field.cell and kept.device_id is not None


@pytest.mark.real_commits
def test_identical_batches_at_the_same_moment_store_each_uuid_once(
    client, auth_as, field, terminal, clean_app
):
    lon, lat = _point_in(client, auth_as, field.world.street, field.cell)
    items = [_item(lon, lat) for _ in range(40)]
    outcomes: list[list[str]] = []
    barrier = threading.Barrier(4)

    def send():
        with clean_app.test_client() as c:
            barrier.wait()
            resp = _upload(c, terminal, items)
            outcomes.append([r["status"] for r in resp.get_json()["results"]])

    threads = [threading.Thread(target=send) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(outcomes) == 4
    assert _stored(clean_app) == 40
    for i in range(40):
        statuses = sorted(o[i] for o in outcomes)
        assert statuses == ["created", "duplicate", "duplicate", "duplicate"]


def test_records_are_flagged_not_refused(client, auth_as, field, terminal, clean_app):
    lon, lat = _point_in(client, auth_as, field.world.street, field.cell)
    far_lon, far_lat = _point_in(client, auth_as, field.world.street, field.cell_b)
    future = (utcnow() + dt.timedelta(hours=2)).isoformat()
    items = [
        _item(far_lon, far_lat),
        _item(lon, lat, location={"lon": lon, "lat": lat, "accuracy_m": 400}),
        _item(lon, lat, mock_location=True),
        _item(lon, lat, started_at=future, ended_at=None),
        _item(lon, lat),
    ]
    results = _upload(client, terminal, items).get_json()["results"]
    assert [r["status"] for r in results] == ["created"] * 5
    assert results[0]["flags"] == ["outside_assigned_cell"]
    assert results[1]["flags"] == ["low_accuracy"]
    assert results[2]["flags"] == ["mock_location"]
    assert results[3]["flags"] == ["clock_skew"]
    assert "flags" not in results[4]
    an_hour_ago = (utcnow() - dt.timedelta(hours=1)).isoformat()
    skewed = _upload(client, terminal, [_item(lon, lat)], device_time=an_hour_ago)
    assert skewed.get_json()["results"][0]["flags"] == ["clock_skew"]
    flagged = client.get("/api/v1/visits?flag=mock_location", headers=auth_as("station_a"))
    assert [v["uuid"] for v in flagged.get_json()] == [items[2]["uuid"]]


def test_edits_apply_to_their_base_version_only(client, auth_as, field, terminal, clean_app):
    lon, lat = _point_in(client, auth_as, field.world.street, field.cell)
    item = _item(lon, lat)
    _upload(client, terminal, [item])
    edit = dict(item, notes="补充说明", base_version=1)
    first = _upload(client, terminal, [edit]).get_json()["results"][0]
    assert first["status"] == "updated" and first["version"] == 2
    retry = _upload(client, terminal, [edit]).get_json()["results"][0]
    assert retry["status"] == "duplicate"
    stale = _upload(client, terminal, [dict(item, notes="旧版本上的修改", base_version=1)])
    result = stale.get_json()["results"][0]
    assert result["status"] == "conflict" and result["code"] == "stale_version"
    path = f"/api/v1/visits/{item['uuid']}"
    online = client.patch(path, json=dict(item, notes="在线修改", base_version=1), headers=terminal)
    assert online.status_code == 409
    assert online.get_json()["error"]["code"] == "stale_version"
    ok = client.patch(path, json=dict(item, notes="在线修改", base_version=2), headers=terminal)
    assert ok.status_code == 200 and ok.get_json()["version"] == 3
    with clean_app.app_context():
        assert db.session.execute(select(Visit.notes)).scalar_one() == "在线修改"


def test_batch_envelope_errors(client, auth_as, field, terminal):
    too_many = _upload(client, terminal, [{"uuid": str(uuid.uuid4())}] * 501)
    assert too_many.status_code == 422
    empty = _upload(client, terminal, [])
    assert empty.status_code == 422
    not_worker = _upload(client, auth_as("station_a"), [_item(104.01, 30.41)])
    assert not_worker.status_code == 403
    # Refused by the operation's declared roles, before the items are read.
    assert not_worker.get_json()["error"]["code"] == "forbidden_role"


def test_a_revoked_terminal_cannot_upload_mid_sync(client, auth_as, field, terminal, clean_app):
    lon, lat = _point_in(client, auth_as, field.world.street, field.cell)
    assert _upload(client, terminal, [_item(lon, lat)]).status_code == 200
    device = client.get(f"/api/v1/workers/{field.worker_id}/devices",
                        headers=auth_as("station_a")).get_json()[0]  # fmt: skip
    client.post(f"/api/v1/devices/{device['id']}/revoke", headers=auth_as("station_a"))
    refused = _upload(client, terminal, [_item(lon, lat)])
    assert refused.status_code == 401 and refused.get_json()["error"]["code"] == "device_revoked"
    assert _stored(clean_app) == 1


def test_patrol_coverage_report(client, auth_as, field, terminal):
    from zoneinfo import ZoneInfo

    tz = ZoneInfo("Asia/Shanghai")
    lon, lat = _point_in(client, auth_as, field.world.street, field.cell)
    day = field.today  # the layout is in force from today
    times = [dt.datetime.combine(day, dt.time(h, 15), tzinfo=tz) for h in (7, 9, 19)]
    items = [_item(lon, lat, started_at=t.isoformat(), ended_at=None) for t in times]
    visit = _item(lon, lat, type="household_visit", started_at=times[0].isoformat(), ended_at=None)
    results = _upload(client, terminal, [*items, visit]).get_json()["results"]
    assert all(r["status"] == "created" for r in results)
    report = client.get(
        f"/api/v1/reports/patrol-coverage?date={day}&area={field.world.street}",
        headers=auth_as("centre"),
    ).get_json()
    row = next(c for c in report["cells"] if c["code"] == field.cell)
    assert row["patrolled"] and row["patrols"] == 3
    assert row["windows"] == {"morning": True, "afternoon": False, "evening": True}
    assert row["first"].startswith(f"{day}T07:15")
    assert row["worker"]["id"] == field.worker_id
    assert field.cell not in report["unpatrolled"] and len(report["unpatrolled"]) == 5
