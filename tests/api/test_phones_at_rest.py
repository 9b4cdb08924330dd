"""Worker and institution-contact phone numbers: encrypted at rest, in clear only for those who
manage the worker or the institution, masked for everyone else, never in the audit log."""

from __future__ import annotations

from sqlalchemy import inspect, select, text

from gridserve import crypto
from gridserve.extensions import db
from gridserve.models.accounts.audit import AuditEntry


def _stored(app, table: str) -> dict[int, bytes | None]:
    with app.app_context():
        try:
            rows = db.session.execute(text(f"SELECT id, phone_enc FROM {table} ORDER BY id"))
            return {i: (bytes(enc) if enc is not None else None) for i, enc in rows}
        finally:
            db.session.remove()


def test_a_worker_phone_is_encrypted_and_clear_only_for_the_workers_managers(
    client, auth_as, field, clean_app
):
    made = client.post(
        "/api/v1/workers",
        json={"area_id": field.world.community_a, "full_name": "乙", "phone": "13800001111"},
        headers=auth_as("station_a"),
    )
    assert made.status_code == 201, made.get_json()
    worker_id = made.get_json()["id"]
    with clean_app.app_context():
        columns = {c["name"] for c in inspect(db.session.connection()).get_columns("workers")}
        assert "phone" not in columns and "phone_enc" in columns
        stored = _stored(clean_app, "workers")[worker_id]
        assert b"13800001111" not in stored and crypto.decrypt(stored) == "13800001111"
    for manager in ("station_a", "centre", "district", "admin"):
        one = client.get(f"/api/v1/workers/{worker_id}", headers=auth_as(manager))
        assert one.status_code == 200 and one.get_json()["phone"] == "13800001111", manager
        listed = client.get("/api/v1/workers", headers=auth_as(manager)).get_json()
        assert {w["id"]: w["phone"] for w in listed}[worker_id] == "13800001111", manager
    seen = client.get(f"/api/v1/workers/{worker_id}", headers=auth_as("worker_a"))
    assert seen.status_code == 200  # a colleague in the community: the number masked
    assert seen.get_json()["phone"] == "138****1111"
    changed = client.patch(
        f"/api/v1/workers/{worker_id}", json={"phone": "13900002222"}, headers=auth_as("station_a")
    )
    assert changed.status_code == 200 and changed.get_json()["phone"] == "13900002222"
    with clean_app.app_context():
        assert crypto.decrypt(_stored(clean_app, "workers")[worker_id]) == "13900002222"
        logged = db.session.execute(
            select(AuditEntry.details).where(
                AuditEntry.entity == "workers", AuditEntry.entity_id == str(worker_id)
            )
        ).scalars()
        text_of_log = " ".join(str(d) for d in logged)
        db.session.remove()
    assert "13800001111" not in text_of_log and "13900002222" not in text_of_log
    assert "phone_enc" in text_of_log  # recorded as redacted / changed, never the value
    cleared = client.patch(
        f"/api/v1/workers/{worker_id}", json={"phone": None}, headers=auth_as("station_a")
    )
    assert cleared.status_code == 200 and cleared.get_json()["phone"] is None
    assert _stored(clean_app, "workers")[worker_id] is None


def test_a_workers_phone_is_masked_for_someone_who_does_not_manage_workers(
    client, auth_as, field, clean_app
):
    made = client.post(
        "/api/v1/workers",
        json={"area_id": field.world.community_a, "full_name": "丁", "phone": "13800003333"},
        headers=auth_as("station_a"),
    ).get_json()
    from gridserve.models import Worker
    from gridserve.scope import Principal
    from gridserve.services.field import workers as worker_service

    def principal(role: str) -> Principal:
        return Principal(0, role, role, field.world.community_a, None, None)

    with clean_app.app_context():
        row = db.session.get(Worker, made["id"])
        for role in ("coordinator", "worker", "institution_contact"):
            assert worker_service.phone_for(principal(role), row) == "138****3333", role
        for role in ("station", "street_centre", "district_centre", "admin"):
            assert worker_service.phone_for(principal(role), row) == "13800003333", role
        db.session.remove()


def test_contact_phones_are_encrypted_and_masked_outside_their_managers(
    client, auth_as, world, clean_app
):
    added = client.post(
        f"/api/v1/institutions/{world.bank}/contacts",
        json={"name": "新联系人", "phone": "13700000000", "email": "a@example.com"},
        headers=auth_as("bank"),
    )
    assert added.status_code == 201, added.get_json()
    assert added.get_json()["phone"] == "13700000000"  # its own institution: in clear
    contact_id = added.get_json()["id"]
    with clean_app.app_context():
        columns = {
            c["name"] for c in inspect(db.session.connection()).get_columns("institution_contacts")
        }
        assert "phone" not in columns and "phone_enc" in columns
    stored = _stored(clean_app, "institution_contacts")
    assert len(stored) == 2  # the world's first contact and this one, nothing duplicated
    with clean_app.app_context():
        assert crypto.decrypt(stored[contact_id]) == "13700000000"
        assert all(
            b"137000" not in (v or b"") and b"138123" not in (v or b"") for v in stored.values()
        )

    def phones(username: str) -> dict[int, str]:
        resp = client.get(f"/api/v1/institutions/{world.bank}", headers=auth_as(username))
        assert resp.status_code == 200, resp.get_json()
        return {c["id"]: c["phone"] for c in resp.get_json()["contacts"]}

    for manager in ("coordinator", "admin", "bank"):
        assert phones(manager)[contact_id] == "13700000000", manager
    assert phones("station_a")[contact_id] == "137****0000"
    assert set(phones("station_a").values()) == {"137****0000", "138****5678"}
