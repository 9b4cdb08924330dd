"""The outreach desk's files: uploaded by contacts and coordinators (PDF too), read by the
uploader, then, once filed for an event, by its participants, the coordinator and its area."""

from __future__ import annotations

import hashlib
import uuid

import pytest

from gridserve.extensions import db
from gridserve.models import Attachment
from tests.api.outreach.test_teams import drop_abc_from_site, error

PDF = b"%PDF-1.7\n" + b"\x00" * 64 + b"\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x01" * 64


def upload(client, headers, body=PDF, content_type="application/pdf", checksum=None, ident=None):
    ident = ident or str(uuid.uuid4())
    digest = hashlib.sha256(body).hexdigest() if checksum is None else checksum
    resp = client.put(
        f"/api/v1/attachments/{ident}",
        data=body,
        headers=headers | {"Content-Type": content_type, "X-Content-SHA256": digest},
    )
    return ident, resp


def desk_file(client, headers, body=PDF, content_type="application/pdf") -> str:
    ident, resp = upload(client, headers, body, content_type)
    assert resp.status_code == 201, resp.get_json()
    return ident


def file_plan(client, headers, event_id, attachments, version=None):
    body = {"text": "方案", "attachments": attachments}
    if version is not None:
        body["version"] = version
    return client.post(f"/api/v1/outreach/events/{event_id}/plan", json=body, headers=headers)


@pytest.mark.parametrize("user", ["icbc", "coordinator", "admin"])
def test_contacts_and_coordinators_upload_pdf_and_images(client, auth_as, outreach, ctx, user):
    for body, kind in ((PDF, "application/pdf"), (PNG, "image/png")):
        ident, resp = upload(client, auth_as(user), body, kind)
        assert resp.status_code == 201, resp.get_json()
        assert resp.get_json()["content_type"] == kind and resp.get_json()["event_id"] is None
        row = db.session.get(Attachment, ident)
        assert row.user_id is not None and row.worker_id is None and row.community_id is None
        _, again = upload(client, auth_as(user), body, kind, ident=ident)
        assert again.status_code == 200
    got = client.get(f"/api/v1/attachments/{ident}", headers=auth_as(user))
    assert got.status_code == 200 and got.data == PNG


def test_desk_uploads_keep_the_checksum_and_content_rules(client, auth_as, outreach):
    bank = auth_as("bank")
    error(upload(client, bank, checksum="0" * 64)[1], 422, "checksum_mismatch")
    error(upload(client, bank, checksum="")[1], 422, "checksum_required")
    error(upload(client, bank, b"GIF89a....")[1], 422, "content_mismatch")  # not a PDF
    error(upload(client, bank, PNG, "image/jpeg")[1], 422, "content_mismatch")
    error(upload(client, bank, b"GIF89a....", "image/gif")[1], 415, "unsupported_media_type")
    ident = desk_file(client, bank)
    error(upload(client, bank, PNG, "image/png", ident=ident)[1], 409, "attachment_conflict")


def test_a_terminal_still_uploads_only_photos(client, field, terminal):
    error(upload(client, terminal)[1], 415, "unsupported_media_type")


@pytest.mark.parametrize("user", ["centre", "district"])
def test_area_staff_do_not_upload(client, auth_as, outreach, user):
    error(upload(client, auth_as(user))[1], 403, "forbidden_role")


def test_a_station_uploads_only_photos(client, auth_as, outreach):
    # A station's photos are its on-site verifications of cases; desk files are not its own.
    error(upload(client, auth_as("station_a"))[1], 415, "unsupported_media_type")


def test_an_unfiled_desk_file_is_read_by_its_uploader_only(client, auth_as, outreach):
    ident = desk_file(client, auth_as("icbc"))
    assert client.get(f"/api/v1/attachments/{ident}", headers=auth_as("icbc")).status_code == 200
    for user in ("bank", "coordinator", "station_b", "centre", "worker_a"):
        resp = client.get(f"/api/v1/attachments/{ident}", headers=auth_as(user))
        error(resp, 404, "not_found")
    assert client.get(f"/api/v1/attachments/{ident}", headers=auth_as("admin")).status_code == 200


def test_a_filed_file_is_read_by_participants_coordinator_and_the_area(
    client, auth_as, outreach, ctx
):
    drop_abc_from_site(outreach)
    ident = desk_file(client, auth_as("icbc"))
    resp = file_plan(client, auth_as("icbc"), outreach.site, [ident])
    assert resp.status_code == 200, resp.get_json()
    db.session.expire_all()
    assert db.session.get(Attachment, ident).event_id == outreach.site
    for user in ("icbc", "bank", "other_bank", "reg", "coordinator", "station_b", "centre",
                 "district", "admin"):  # fmt: skip
        got = client.get(f"/api/v1/attachments/{ident}", headers=auth_as(user))
        assert got.status_code == 200 and got.data == PDF, user
        assert got.mimetype == "application/pdf"
    # Not a participant, another community's station, a worker: as if it did not exist.
    for user in ("abc", "station_a", "worker_a"):
        error(client.get(f"/api/v1/attachments/{ident}", headers=auth_as(user)), 404, "not_found")


def test_terminal_photos_stay_out_of_the_desk_s_reach(client, auth_as, outreach, terminal):
    from tests.api.test_attachments import PNG as PHOTO

    ident, resp = upload(client, terminal, PHOTO, "image/png")
    assert resp.status_code == 201
    assert (
        client.get(f"/api/v1/attachments/{ident}", headers=auth_as("station_a")).status_code == 200
    )
    for user in ("coordinator", "icbc", "bank"):
        error(client.get(f"/api/v1/attachments/{ident}", headers=auth_as(user)), 404, "not_found")
