"""Photos: verified by checksum, stored once under the terminal's UUID, scoped."""

from __future__ import annotations

import hashlib
import uuid

from gridserve.config import settings

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
JPEG = b"\xff\xd8\xff\xe0" + b"\x01" * 64


def _put(client, headers, body, content_type="image/png", checksum=None, ident=None):
    ident = ident or str(uuid.uuid4())
    digest = hashlib.sha256(body).hexdigest() if checksum is None else checksum
    resp = client.put(
        f"/api/v1/attachments/{ident}",
        data=body,
        headers=headers | {"Content-Type": content_type, "X-Content-SHA256": digest},
    )
    return ident, resp


def test_upload_is_verified_stored_and_idempotent(client, auth_as, field, terminal, clean_app):
    ident, first = _put(client, terminal, PNG)
    assert first.status_code == 201, first.get_json()
    assert first.get_json()["sha256"] == hashlib.sha256(PNG).hexdigest()
    _, again = _put(client, terminal, PNG, ident=ident)
    assert again.status_code == 200
    _, other = _put(client, terminal, JPEG, "image/jpeg", ident=ident)
    assert other.status_code == 409 and other.get_json()["error"]["code"] == "attachment_conflict"
    got = client.get(f"/api/v1/attachments/{ident}", headers=auth_as("station_a"))
    assert got.status_code == 200 and got.data == PNG and got.mimetype == "image/png"
    assert (
        client.get(f"/api/v1/attachments/{ident}", headers=auth_as("station_b")).status_code == 404
    )
    root = settings(clean_app).attachments_root
    assert (root / ident[:2] / f"{ident}.png").read_bytes() == PNG


def test_bad_uploads_are_refused_with_their_code(client, field, terminal, override_settings):
    _, damaged = _put(client, terminal, PNG, checksum="0" * 64)
    assert damaged.status_code == 422 and damaged.get_json()["error"]["code"] == "checksum_mismatch"
    _, missing = _put(client, terminal, PNG, checksum="")
    assert missing.get_json()["error"]["code"] == "checksum_required"
    _, lying = _put(client, terminal, b"GIF89a....", "image/png")
    assert lying.get_json()["error"]["code"] == "content_mismatch"
    _, gif = _put(client, terminal, b"GIF89a....", "image/gif")
    assert gif.status_code == 415
    with override_settings(max_attachment_bytes=10):
        _, big = _put(client, terminal, PNG)
    assert big.status_code == 413
    bad_id = client.put("/api/v1/attachments/not-a-uuid", data=PNG,
                        headers=terminal | {"Content-Type": "image/png"})  # fmt: skip
    assert bad_id.status_code == 404
