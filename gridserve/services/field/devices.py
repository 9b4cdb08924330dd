"""Handheld terminals: one-time enrolment codes, device tokens, revocation (lost terminal)."""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any

from sqlalchemy import select, update

from gridserve import audit
from gridserve.config import settings
from gridserve.db import utcnow
from gridserve.errors import Conflict, NotFound, Unauthorized
from gridserve.extensions import db
from gridserve.models import Area, Device, EnrolmentCode, Worker
from gridserve.scope import Principal, area_in_scope
from gridserve.services.accounts.auth import hash_token
from gridserve.services.field.workers import MANAGERS, get_worker

# Who lists a worker's terminals: their managers, and the worker (their own only).
READERS = ("worker", *MANAGERS)

# Crockford base32 without the letters that read alike (I, L, O, U).
_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
QR_PREFIX = "gridserve:enrol:"


def _normalise_code(code: str) -> str:
    raw = code.strip().upper()
    raw = raw.removeprefix(QR_PREFIX.upper())
    return raw.replace("-", "").replace(" ", "").replace("O", "0").replace("I", "1")


def issue_enrolment_code(principal: Principal, worker_id: int) -> dict[str, Any]:
    """A code a worker types (or scans) on a new terminal; valid once, for a few minutes."""
    principal.require(*MANAGERS)
    worker = get_worker(principal, worker_id)
    if worker.status != "active" or worker.user_id is None:
        raise Conflict(
            "Only an active worker with an account can enrol a terminal.",
            code="worker_cannot_enrol",
            details={"status": worker.status, "has_account": worker.user_id is not None},
        )
    raw = "".join(secrets.choice(_ALPHABET) for _ in range(12))  # 60 bits
    code = "-".join(raw[i : i + 4] for i in range(0, 12, 4))
    ttl = dt.timedelta(seconds=settings().enrolment_ttl_seconds)
    row = EnrolmentCode(
        worker_id=worker.id,
        code_hash=hash_token(raw),
        expires_at=utcnow() + ttl,
        created_by=principal.user_id or None,
    )
    db.session.add(row)
    db.session.flush()
    audit.record("enrolment_code_issued", "workers", worker.id, {"code_id": row.id})
    return {"code": code, "qr": f"{QR_PREFIX}{code}", "expires_at": row.expires_at}


def enrol(
    code: str, *, label: str, platform: str | None, app_version: str | None
) -> dict[str, Any]:
    """Exchange an enrolment code for a device token (the code is spent atomically)."""
    digest = hash_token(_normalise_code(code))
    now = utcnow()
    spent = db.session.execute(
        update(EnrolmentCode)
        .where(
            EnrolmentCode.code_hash == digest,
            EnrolmentCode.used_at.is_(None),
            EnrolmentCode.expires_at > now,
        )
        .values(used_at=now)
        .returning(EnrolmentCode.worker_id)
    ).first()
    if spent is None:
        raise Unauthorized(
            "The enrolment code is unknown, used or expired; ask your station for a new one.",
            code="enrolment_code_invalid",
        )
    worker = db.session.get(Worker, spent[0])
    if worker is None or worker.status != "active" or worker.user_id is None:
        raise Unauthorized("This worker cannot enrol a terminal.", code="enrolment_code_invalid")
    token = secrets.token_urlsafe(32)
    device = Device(
        worker_id=worker.id,
        user_id=worker.user_id,
        label=label[:100],
        token_hash=hash_token(token),
        enrolled_at=now,
        last_seen_at=now,
        platform=(platform or "")[:60] or None,
        app_version=(app_version or "")[:40] or None,
    )
    db.session.add(device)
    db.session.flush()
    audit.record(
        "device_enrolled",
        "devices",
        device.id,
        {"worker_id": worker.id, "label": device.label},
        actor=audit.Actor(
            kind="device",
            id=worker.user_id,
            name=f"worker:{worker.id}",
            device_id=device.id,
            remote_addr=audit.current_actor().remote_addr,
            request_id=audit.current_actor().request_id,
        ),
    )
    return {"device_token": token, "device_id": device.id, "worker_id": worker.id}


def _device_in_scope(principal: Principal, device_id: int) -> Device:
    device = db.session.get(Device, device_id)
    worker = db.session.get(Worker, device.worker_id) if device is not None else None
    area = db.session.get(Area, worker.area_id) if worker is not None else None
    own = device is not None and principal.device_id == device.id
    if device is None or not (own or (area is not None and area_in_scope(area, principal))):
        raise NotFound(f"No device {device_id}.")
    return device


def revoke(principal: Principal, device_id: int) -> Device:
    """Refuse the terminal's token from now on (lost or stolen terminal)."""
    principal.require(*MANAGERS)
    device = _device_in_scope(principal, device_id)
    result = db.session.execute(
        update(Device)
        .where(Device.id == device.id, Device.revoked_at.is_(None))
        .values(revoked_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    db.session.refresh(device)
    if result.rowcount:
        audit.record("device_revoked", "devices", device.id, {"worker_id": device.worker_id})
    return device


def list_devices(principal: Principal, worker_id: int) -> list[Device]:
    worker = get_worker(principal, worker_id)
    if principal.role == "worker" and worker.user_id != principal.user_id:
        raise NotFound(f"No worker {worker_id}.")  # a worker sees only their own terminals
    return list(
        db.session.execute(
            select(Device).where(Device.worker_id == worker.id).order_by(Device.id.desc())
        ).scalars()
    )


def revoke_all_of_user(user_id: int, *, reason: str) -> int:
    """Revoke every live terminal of an account at once (its password was changed or
    reset); returns how many were live. Each one is audited like a single revocation."""
    rows = db.session.execute(
        update(Device)
        .where(Device.user_id == user_id, Device.revoked_at.is_(None))
        .values(revoked_at=utcnow())
        .returning(Device.id, Device.worker_id)
    ).all()
    for device_id, worker_id in rows:
        audit.record(
            "device_revoked", "devices", device_id, {"worker_id": worker_id, "reason": reason}
        )
    return len(rows)
