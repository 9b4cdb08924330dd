"""Every write is audited with who and where; the log cannot be changed."""

from __future__ import annotations

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DatabaseError

from gridserve.extensions import db
from gridserve.models import AuditEntry


def test_api_writes_are_audited_with_actor_and_address(client, auth_as, world, clean_app):
    resp = client.patch(
        f"/api/v1/institutions/{world.bank}",
        json={"short_name": "达州商行新称"},
        headers=auth_as("coordinator") | {"X-Request-Id": "req-audit-1"},
    )
    assert resp.status_code == 200
    with clean_app.app_context():
        rows = (
            db.session.execute(select(AuditEntry).where(AuditEntry.request_id == "req-audit-1"))
            .scalars()
            .all()
        )
    update = next(r for r in rows if r.entity == "institutions" and r.action == "update")
    assert update.actor_name == "coordinator" and update.actor_type == "user"
    assert update.remote_addr == "127.0.0.1"
    assert update.entity_id == str(world.bank)
    assert update.details["short_name"] == ["达商行", "达州商行新称"]


def test_secrets_never_reach_the_audit_log(client, auth_as, world, clean_app):
    client.post(
        "/api/v1/users",
        json={
            "username": "audited",
            "password": "hunter2hunter2",
            "role": "worker",
            "area_id": world.community_a,
        },
        headers=auth_as("admin"),
    )
    with clean_app.app_context():
        rows = (
            db.session.execute(
                select(AuditEntry).where(
                    AuditEntry.entity == "users", AuditEntry.action == "create"
                )
            )
            .scalars()
            .all()
        )
    created = next(r for r in rows if r.details.get("username") == "audited")
    assert created.entity_id == str(created.details["id"])  # the new row's key, not ""
    assert created.details["password_hash"] == "(redacted)"
    assert "hunter2" not in str(created.details)


def test_failed_requests_leave_no_audit_trace_of_their_writes(client, auth_as, world, clean_app):
    with clean_app.app_context():
        before = db.session.execute(select(AuditEntry.id)).scalars().all()
    resp = client.patch(
        f"/api/v1/institutions/{world.other_bank}",
        json={"aliases": ["达商行"]},
        headers=auth_as("coordinator"),
    )
    assert resp.status_code == 409
    with clean_app.app_context():
        after = (
            db.session.execute(select(AuditEntry).where(AuditEntry.id.not_in(before)))
            .scalars()
            .all()
        )
    # Only the sign-in of the coordinator, nothing of the refused change.
    assert {r.action for r in after} <= {"login", "update"}
    assert not [r for r in after if r.entity == "institution_aliases"]


@pytest.mark.parametrize(
    "statement", ["UPDATE audit_log SET action = 'forged'", "DELETE FROM audit_log"]
)
def test_the_database_refuses_to_change_the_audit_log(ctx, world, statement):
    assert db.session.execute(select(AuditEntry.id)).first() is not None
    with pytest.raises(DatabaseError, match="append-only"):
        db.session.execute(text(statement))
    db.session.rollback()
