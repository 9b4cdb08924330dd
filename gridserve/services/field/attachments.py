"""Photos from terminals, and files of the outreach desk (site plans, report photos), stored on
disk under their UUID, verified by checksum, idempotent.

A terminal's photo belongs to its worker and community; a desk file (uploaded by an institution
contact or a coordinator: JPEG, PNG or PDF) belongs to its uploader until a plan or report names
it, which links it to that event (``event_id``). Who reads which: ``scope.attachment_clause``.
"""

from __future__ import annotations

import hashlib
import os
import uuid as uuid_module
from pathlib import Path
from typing import Any

from gridserve.config import settings
from gridserve.db import insert_for, utcnow
from gridserve.errors import AppError, Conflict, NotFound, ValidationFailed
from gridserve.extensions import db
from gridserve.models import Attachment
from gridserve.scope import Principal, visible
from gridserve.services.field.workers import worker_for_user

# Who uploads: workers' terminals (photos), and the outreach desk (institution contacts and
# coordinators: plans and report photos). Who reads: the worker who took a photo and the station
# and above in scope; a desk file its uploader and whoever sees its event (scope.py).
DESK = ("coordinator", "institution_contact")
# A station's account uploads the photos of a case's on-site verification (issue 14): they hang
# on its community like a terminal's photo and are read by the same area users.
OFFICE = ("station",)
UPLOADERS = ("worker", *OFFICE, *DESK)
READERS = ("worker", "station", "street_centre", "district_centre", *DESK)
TYPES = {"image/jpeg": (b"\xff\xd8\xff", "jpg"), "image/png": (b"\x89PNG\r\n\x1a\n", "png")}
DESK_TYPES = {**TYPES, "application/pdf": (b"%PDF-", "pdf")}
ACCEPTED = tuple(DESK_TYPES)
PHOTO_TYPES = tuple(TYPES)


def is_desk(principal: Principal) -> bool:
    """The caller uploads as the outreach desk (not from a worker's terminal)."""
    return principal.role in DESK or principal.role == "admin"


def _root() -> Path:
    return settings().attachments_root


def put(
    principal: Principal, uuid: str, content_type: str, data: bytes, checksum: str | None
) -> tuple[Attachment, bool]:
    """Store a photo (or a desk file) once under ``uuid``; returns (attachment, created)."""
    desk = is_desk(principal)
    types = DESK_TYPES if desk else TYPES
    if content_type not in types:
        raise AppError(
            "Files must be JPEG, PNG or PDF." if desk else "Photos must be JPEG or PNG.",
            code="unsupported_media_type",
            status=415,
            details={"expected": sorted(types)},
        )
    limit = settings().max_attachment_bytes
    if len(data) > limit:
        raise AppError(
            "The photo is larger than allowed.",
            code="payload_too_large",
            status=413,
            details={"limit_bytes": limit},
        )
    if not data.startswith(types[content_type][0]):
        raise ValidationFailed(
            f"The body is not a {content_type} file.",
            code="content_mismatch",
            details={"content_type": content_type},
        )
    digest = hashlib.sha256(data).hexdigest()
    if not checksum:
        raise ValidationFailed(
            "Send the SHA-256 of the body in the X-Content-SHA256 header.",
            code="checksum_required",
        )
    if checksum.lower() != digest:
        raise ValidationFailed(
            "The body does not match its checksum: it was damaged on the way.",
            code="checksum_mismatch",
            details={"expected": checksum.lower(), "received": digest},
        )
    existing = db.session.get(Attachment, uuid)
    if existing is not None:
        return _same_or_conflict(existing, digest), False
    owner: dict[str, Any]
    if desk:
        owner = {"user_id": principal.user_id or None}  # the CLI operator is no user
    elif principal.role in OFFICE:
        owner = {"user_id": principal.user_id or None, "community_id": principal.area_id}
    else:
        worker = worker_for_user(principal.user_id) if principal.role == "worker" else None
        if worker is None:
            raise AppError(
                "Only a worker's terminal uploads photos.", code="not_a_worker", status=403
            )
        owner = {"worker_id": worker.id, "community_id": worker.area_id}
    ext = types[content_type][1]
    path = _root() / uuid[:2] / f"{uuid}.{ext}"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{ext}.{uuid_module.uuid4().hex}.tmp")
    tmp.write_bytes(data)
    table = Attachment.__table__
    inserted = db.session.execute(
        insert_for(table)
        .values(
            uuid=uuid,
            content_type=content_type,
            size=len(data),
            sha256=digest,
            path=str(path.relative_to(_root())),
            **owner,
            created_at=utcnow(),
        )
        .on_conflict_do_nothing(index_elements=[table.c.uuid])
        .returning(table.c.uuid)
    ).first()
    # The database decided who owns this UUID; only the winner's bytes become the file.
    if inserted is None:
        tmp.unlink(missing_ok=True)
        return _same_or_conflict(db.session.get(Attachment, uuid), digest), False
    os.replace(tmp, path)  # atomic: the file is whole or absent
    return db.session.get(Attachment, uuid), True


def _same_or_conflict(row: Attachment, digest: str) -> Attachment:
    if row.sha256 != digest:
        raise Conflict(
            "Another photo is stored under this UUID; it is kept.",
            code="attachment_conflict",
            details={"stored_sha256": row.sha256},
        )
    return row


def get(principal: Principal, uuid: str) -> tuple[Attachment, Path]:
    """A photo or desk file in scope (scope.attachment_clause); a worker gets only the photos
    they took (others: 404)."""
    stmt = visible(Attachment, principal).where(Attachment.uuid == uuid)
    if principal.role == "worker":
        mine = worker_for_user(principal.user_id)
        stmt = stmt.where(Attachment.worker_id == (mine.id if mine else -1))
    row = db.session.execute(stmt).scalar_one_or_none()
    if row is None:
        raise NotFound(f"No attachment {uuid}.")
    return row, _root() / row.path


def describe(row: Attachment) -> dict[str, Any]:
    return {
        "uuid": row.uuid,
        "content_type": row.content_type,
        "size": row.size,
        "sha256": row.sha256,
        "created_at": row.created_at,
        "event_id": row.event_id,
    }
