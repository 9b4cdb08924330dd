"""Role boundaries: SMS texts (the coordinator and the owning bank only, every edit audited),
the coordinator's worker lookup, a worker's own photos and devices.

A bank's own sender in a campaign's progress: tests/sms/test_progress_scope.py."""

from __future__ import annotations

import hashlib
import uuid

import pytest
from sqlalchemy import func, select

from gridserve.extensions import db
from gridserve.models import AuditEntry
from tests.api.test_attachments import PNG
from tests.conftest import PASSWORD


def _error(resp, status: int, code: str) -> None:
    assert resp.status_code == status, resp.get_json()
    assert resp.get_json()["error"]["code"] == code


# --- SMS texts ---------------------------------------------------------------------------------


def _last_audit_id(app) -> int:
    with app.app_context():
        return db.session.execute(select(func.max(AuditEntry.id))).scalar() or 0


def _text_audit(app, text_id: int, after: int) -> list[tuple[str, str | None, str]]:
    with app.app_context():
        rows = db.session.execute(
            select(AuditEntry)
            .where(
                AuditEntry.id > after,
                AuditEntry.entity == "sms_texts",
                AuditEntry.entity_id == str(text_id),
            )
            .order_by(AuditEntry.id)
        ).scalars()
        return [(r.action, r.actor_name, r.actor_type) for r in rows]


def test_the_district_centre_may_not_write_or_submit_a_banks_text(demo_campaign, clean_app):
    client, headers, campaign = demo_campaign
    path = f"/api/v1/sms/campaigns/{campaign['id']}/texts"
    for who in ("district", "centre"):
        _error(
            client.post(path, json={"body": "代写", "sender": "ADBC"}, headers=headers[who]),
            403,
            "forbidden_role",
        )
        # Refused before the body is checked: no list of fields for a role that may not act.
        _error(client.post(path, json={"body": 5}, headers=headers[who]), 403, "forbidden_role")
    text = client.post(path, json={"body": "农发行新口号。"}, headers=headers["bank1"]).get_json()
    for who in ("district", "centre"):
        _error(
            client.patch(
                f"/api/v1/sms/texts/{text['id']}",
                json={"body": "改写", "version": text["version"]},
                headers=headers[who],
            ),
            403,
            "forbidden_role",
        )
        _error(
            client.post(f"/api/v1/sms/texts/{text['id']}/submit", headers=headers[who]),
            403,
            "forbidden_role",
        )
    # Nothing changed: the bank's draft is as it wrote it.
    texts = client.get(path, headers=headers["bank1"]).get_json()
    mine = next(t for t in texts if t["id"] == text["id"])
    assert mine["body"] == "农发行新口号。" and mine["status"] == "draft" and mine["version"] == 1
    # Another bank cannot see it; the coordinator and its owner can submit it.
    _error(client.post(f"/api/v1/sms/texts/{text['id']}/submit", headers=headers["bank2"]),
           404, "not_found")  # fmt: skip
    ok = client.post(f"/api/v1/sms/texts/{text['id']}/submit", headers=headers["bank1"])
    assert ok.status_code == 200 and ok.get_json()["status"] == "submitted"


def test_a_bank_may_not_submit_the_mandated_text(demo_campaign):
    client, headers, campaign = demo_campaign
    path = f"/api/v1/sms/campaigns/{campaign['id']}/texts"
    made = client.post(path, json={"body": "新的统一内容。", "kind": "mandated"},
                       headers=headers["coordinator"]).get_json()  # fmt: skip
    _error(
        client.post(f"/api/v1/sms/texts/{made['id']}/submit", headers=headers["bank1"]),
        403,
        "forbidden_role",
    )


def test_every_text_edit_is_audited_with_its_actor(demo_campaign, clean_app):
    client, headers, campaign = demo_campaign
    path = f"/api/v1/sms/campaigns/{campaign['id']}/texts"
    before = _last_audit_id(clean_app)
    text = client.post(path, json={"body": "农发行新口号。"}, headers=headers["bank1"]).get_json()
    tid = text["id"]
    client.post(f"/api/v1/sms/texts/{tid}/submit", headers=headers["bank1"])
    client.post(f"/api/v1/sms/texts/{tid}/return", json={"note": "请署名"},
                headers=headers["coordinator"])  # fmt: skip
    edited = client.patch(f"/api/v1/sms/texts/{tid}", json={"body": "农发行。——农发行",
                          "version": 1}, headers=headers["bank1"])  # fmt: skip
    assert edited.status_code == 200, edited.get_json()
    client.post(f"/api/v1/sms/texts/{tid}/submit", headers=headers["bank1"])
    approved = client.post(f"/api/v1/sms/texts/{tid}/approve", json={},
                           headers=headers["coordinator"])  # fmt: skip
    assert approved.get_json()["status"] == "approved"
    assert _text_audit(clean_app, tid, before) == [
        ("create", "bank1", "user"),
        ("sms_text_submitted", "bank1", "user"),
        ("sms_text_returned", "coordinator", "user"),
        ("sms_text_edited", "bank1", "user"),
        ("sms_text_submitted", "bank1", "user"),
        ("sms_text_approved", "coordinator", "user"),
    ]
    with clean_app.app_context():
        edit = db.session.execute(
            select(AuditEntry).where(
                AuditEntry.id > before,
                AuditEntry.action == "sms_text_edited",
                AuditEntry.entity_id == str(tid),
            )
        ).scalar_one()
        assert edit.details["version"] == [1, 2] and edit.details["body"] == "农发行。——农发行"
    # A refused edit leaves no entry.
    after = _last_audit_id(clean_app)
    client.patch(f"/api/v1/sms/texts/{tid}", json={"body": "x", "version": 3},
                 headers=headers["district"])  # fmt: skip
    assert _text_audit(clean_app, tid, after) == []


# --- the coordinator's lookup of workers ----------------------------------------------------------


def test_the_coordinator_looks_workers_up_by_name_and_area_only(client, auth_as, field):
    coordinator = auth_as("coordinator")
    _error(client.get("/api/v1/workers", headers=coordinator), 403, "forbidden_role")
    _error(client.get(f"/api/v1/workers/{field.worker_id}", headers=coordinator),
           403, "forbidden_role")  # fmt: skip
    found = client.get("/api/v1/workers/lookup?q=网格员", headers=coordinator)
    assert found.status_code == 200, found.get_json()
    assert found.get_json() == [
        {"id": field.worker_id, "full_name": "网格员甲", "area_id": field.world.community_a}
    ]
    assert "X-Pagination" in found.headers
    none = client.get("/api/v1/workers/lookup?q=nobody", headers=coordinator).get_json()
    assert none == []
    by_area = client.get(f"/api/v1/workers/lookup?area={field.world.community_b}",
                         headers=coordinator).get_json()  # fmt: skip
    assert by_area == []
    # Workers do not look colleagues up; the station does.
    _error(client.get("/api/v1/workers/lookup", headers=auth_as("worker_a")), 403, "forbidden_role")
    assert client.get("/api/v1/workers/lookup", headers=auth_as("station_a")).status_code == 200


# --- a worker's own photos and devices ------------------------------------------------------------


@pytest.fixture
def colleague(client, auth_as, field) -> dict:
    """A second worker of community A (worker_a2) with an enrolled terminal."""
    station = auth_as("station_a")
    user = client.post("/api/v1/users", headers=station, json={
        "username": "worker_a2", "password": PASSWORD, "role": "worker",
        "area_id": field.world.community_a})  # fmt: skip
    assert user.status_code == 201, user.get_json()
    worker = client.post("/api/v1/workers", headers=station, json={
        "area_id": field.world.community_a, "full_name": "网格员丙",
        "user_id": user.get_json()["id"]})  # fmt: skip
    assert worker.status_code == 201, worker.get_json()
    wid = worker.get_json()["id"]
    code = client.post(f"/api/v1/workers/{wid}/enrolment-codes", headers=station).get_json()
    token = client.post("/api/v1/devices/enrol", json={"code": code["code"], "label": "终端2"})
    headers = {"Authorization": f"Bearer {token.get_json()['device_token']}"}
    return {"worker_id": wid, "terminal": headers}


def _photo(client, headers) -> str:
    ident = str(uuid.uuid4())
    resp = client.put(
        f"/api/v1/attachments/{ident}",
        data=PNG,
        headers=headers
        | {"Content-Type": "image/png", "X-Content-SHA256": hashlib.sha256(PNG).hexdigest()},
    )
    assert resp.status_code == 201, resp.get_json()
    return ident


def test_a_worker_sees_only_their_own_photos(client, auth_as, field, terminal, colleague):
    mine = _photo(client, terminal)
    theirs = _photo(client, colleague["terminal"])
    assert client.get(f"/api/v1/attachments/{mine}", headers=terminal).status_code == 200
    assert client.get(f"/api/v1/attachments/{mine}", headers=auth_as("worker_a")).status_code == 200
    _error(client.get(f"/api/v1/attachments/{theirs}", headers=terminal), 404, "not_found")
    _error(client.get(f"/api/v1/attachments/{theirs}", headers=auth_as("worker_a")),
           404, "not_found")  # fmt: skip
    # Their station sees both; the coordinator none (it reads only the outreach desk's files,
    # so a terminal's photo is out of its scope: 404 like an absent one).
    station = auth_as("station_a")
    assert client.get(f"/api/v1/attachments/{theirs}", headers=station).status_code == 200
    _error(client.get(f"/api/v1/attachments/{mine}", headers=auth_as("coordinator")),
           404, "not_found")  # fmt: skip


def test_a_worker_sees_only_their_own_devices(client, auth_as, field, terminal, colleague):
    worker = auth_as("worker_a")
    own = client.get(f"/api/v1/workers/{field.worker_id}/devices", headers=worker)
    assert own.status_code == 200 and [d["label"] for d in own.get_json()] == ["终端1"]
    _error(client.get(f"/api/v1/workers/{colleague['worker_id']}/devices", headers=worker),
           404, "not_found")  # fmt: skip
    station = client.get(f"/api/v1/workers/{colleague['worker_id']}/devices",
                         headers=auth_as("station_a"))  # fmt: skip
    assert [d["label"] for d in station.get_json()] == ["终端2"]
    _error(client.get(f"/api/v1/workers/{field.worker_id}/devices",
                      headers=auth_as("coordinator")), 403, "forbidden_role")  # fmt: skip
