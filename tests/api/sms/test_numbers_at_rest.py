"""SMS numbers at rest: encrypted beside a keyed hash; the unique keys and opt-outs compare the
hash, a rotation re-hashes everything and nothing is duplicated or sent to an opted-out number;
phone numbers never travel in a query string."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from flask.cli import ScriptInfo
from sqlalchemy import inspect, select, text

from gridserve import crypto
from gridserve.cli import main
from gridserve.config import settings
from gridserve.extensions import db
from gridserve.models import PhoneHashKey, SmsMessage
from gridserve.services.sms import numbers as sms_numbers
from gridserve.services.sms import outbox as sms_outbox
from tests.api.sms.campaign_now import dispatch, make_campaign, numbers

TABLES = ("sms_recipients", "sms_opt_outs", "sms_messages")


@pytest.fixture
def data_keys(override_settings):
    """``with data_keys(*keys):`` another key ring (newest first), the configured one after."""
    return lambda *keys: override_settings(data_keys=keys)


def rotate(app) -> str:
    result = app.test_cli_runner().invoke(
        main, ["keys", "rotate", "--batch-size", "7"], obj=ScriptInfo(create_app=lambda: app)
    )
    assert result.exit_code == 0, result.output
    return result.output


def raw(app, table: str) -> list[tuple]:
    with app.app_context():
        try:
            return [
                tuple(r)
                for r in db.session.execute(
                    text(f"SELECT id, phone_enc, phone_hash FROM {table} ORDER BY id")
                )
            ]
        finally:
            db.session.remove()


def sent_to(path: Path) -> list[str]:
    if not path.exists():
        return []
    return [json.loads(x)["to"] for x in path.read_text(encoding="utf-8").splitlines()]


def import_csv(client, headers, campaign_id: int, phones: list[str]):
    csv = "phone\n" + "".join(f"{p}\n" for p in phones)
    return client.post(
        f"/api/v1/sms/campaigns/{campaign_id}/senders/ICBC/recipients",
        data=csv.encode(),
        content_type="text/csv",
        headers=headers,
    )


def test_numbers_are_stored_encrypted_with_a_keyed_hash_and_shown_masked(sms_demo):
    app, client, headers = sms_demo
    phones = numbers(3)
    campaign = make_campaign(app, client, headers["coordinator"], phones=phones)
    opted = client.post(
        "/api/v1/sms/opt-outs", json={"phone": "13900000001"}, headers=headers["coordinator"]
    )
    assert opted.status_code == 201 and opted.get_json()["phone"] == "+86139****0001"
    with app.app_context():
        sms_outbox.open_slots()
        db.session.commit()
        columns = {
            t: {c["name"] for c in inspect(db.session.connection()).get_columns(t)} for t in TABLES
        }
        hasher = sms_numbers.hasher()
        db.session.remove()
    for table in TABLES:
        assert "phone" not in columns[table] and {"phone_enc", "phone_hash"} <= columns[table]
    with app.app_context():
        for table in TABLES:
            rows = raw(app, table)  # the demo's own campaign included
            clear = [crypto.decrypt(enc) for _id, enc, _digest in rows]
            assert (set(phones) if table != "sms_opt_outs" else {phones[1]}) <= set(clear)
            for (_id, enc, digest), number in zip(rows, clear, strict=True):
                assert number.startswith("+86") and number.encode() not in bytes(enc)
                assert digest == hasher(number) and len(digest) == 64
    listed = client.get(
        f"/api/v1/sms/campaigns/{campaign['id']}/senders/ICBC/recipients",
        headers=headers["coordinator"],
    ).get_json()
    assert sorted(r["phone"] for r in listed) == [
        "+86139****0000",
        "+86139****0001",
        "+86139****0002",
    ]


def test_phone_numbers_in_query_strings_are_refused_and_the_post_lookups_answer(sms_demo):
    app, client, headers = sms_demo
    campaign = make_campaign(app, client, headers["coordinator"], phones=numbers(2))
    coordinator = headers["coordinator"]
    client.post("/api/v1/sms/opt-outs", json={"phone": "13900000001"}, headers=coordinator)
    for url, use in (
        ("/api/v1/sms/opt-outs", "/api/v1/sms/opt-outs/lookup"),
        (
            f"/api/v1/sms/campaigns/{campaign['id']}/messages",
            f"/api/v1/sms/campaigns/{campaign['id']}/messages/lookup",
        ),
    ):
        resp = client.get(url, query_string={"phone": "13900000001"}, headers=coordinator)
        assert resp.status_code == 422, resp.get_json()
        error = resp.get_json()["error"]
        assert error["code"] == "phone_in_query" and error["details"]["use"] == f"POST {use}"
    # The register without a number is still listed (masked).
    listing = client.get("/api/v1/sms/opt-outs", headers=coordinator)
    assert listing.status_code == 200
    assert [o["phone"] for o in listing.get_json()] == ["+86139****0001"]

    found = client.post(
        "/api/v1/sms/opt-outs/lookup", json={"phone": "139 0000 0001"}, headers=coordinator
    )
    assert found.status_code == 200, found.get_json()
    assert [(o["phone"], o["institution_id"]) for o in found.get_json()] == [
        ("+86139****0001", None)
    ]
    none = client.post(
        "/api/v1/sms/opt-outs/lookup", json={"phone": "13900000000"}, headers=coordinator
    )
    assert none.status_code == 200 and none.get_json() == []
    dispatch(app)
    history = client.post(
        f"/api/v1/sms/campaigns/{campaign['id']}/messages/lookup",
        json={"phone": "+8613900000001"},
        headers=coordinator,
    )
    assert history.status_code == 200, history.get_json()
    body = history.get_json()
    assert body["phone"] == "+86139****0001"
    assert [m["status"] for m in body["messages"]] == ["opted_out", "opted_out"]
    assert len(body["opt_outs"]) == 1
    for url in (
        "/api/v1/sms/opt-outs/lookup",
        f"/api/v1/sms/campaigns/{campaign['id']}/messages/lookup",
    ):
        bad = client.post(url, json={"phone": "not a number"}, headers=coordinator)
        assert bad.status_code == 422 and "phone" in bad.get_json()["error"]["details"]["fields"]
        missing = client.post(url, json={}, headers=coordinator)
        assert missing.status_code == 422
        assert "phone" in missing.get_json()["error"]["details"]["fields"]


def test_rotation_re_hashes_everything_and_keeps_duplicates_and_opt_outs_working(
    sms_demo, tmp_path, data_keys
):
    app, client, headers = sms_demo
    coordinator = headers["coordinator"]
    configured = settings(app).data_keys[0]
    new = Fernet.generate_key().decode()
    phones = numbers(6)
    campaign = make_campaign(app, client, coordinator, phones=phones[:4])
    assert (
        client.post(
            "/api/v1/sms/opt-outs", json={"phone": phones[1]}, headers=coordinator
        ).status_code
        == 201
    )
    with app.app_context():
        sms_outbox.open_slots()  # the outbox is filled before the rotation
        db.session.commit()
        old_key_id = db.session.get(PhoneHashKey, 1).key_id
        db.session.remove()
    before = {t: raw(app, t) for t in TABLES}

    # The new key goes in front; until the rotation runs, hashes keep using the recorded key.
    with data_keys(new, configured):
        again = import_csv(client, coordinator, campaign["id"], phones[:2])
        assert again.get_json()["added"] == 0 and again.get_json()["already_listed"] == 2
        output = rotate(app)
    assert "in sms_recipients, 1 in sms_opt_outs, 8 in sms_messages" in output  # demo + ours
    after = {t: raw(app, t) for t in TABLES}
    for table in TABLES:
        assert [r[0] for r in after[table]] == [r[0] for r in before[table]]  # same rows
        assert all(a[2] != b[2] for a, b in zip(after[table], before[table], strict=True))
        assert all(a[1] != b[1] for a, b in zip(after[table], before[table], strict=True))

    # Only the new key from now on: the old one can be dropped.
    with data_keys(new), app.app_context():
        assert db.session.get(PhoneHashKey, 1).key_id != old_key_id
        assert db.session.get(PhoneHashKey, 1).key_id == sms_numbers.hasher().key_id
        db.session.rollback()
        db.session.remove()
    with data_keys(new):
        dup = import_csv(client, coordinator, campaign["id"], phones)
        assert dup.status_code == 200, dup.get_json()
        assert dup.get_json()["added"] == 2 and dup.get_json()["already_listed"] == 4
        repeat = client.post("/api/v1/sms/opt-outs", json={"phone": phones[1]}, headers=coordinator)
        assert repeat.status_code == 201
        found = client.post(
            "/api/v1/sms/opt-outs/lookup", json={"phone": phones[1]}, headers=coordinator
        )
        assert len(found.get_json()) == 1  # still one entry, found by its new hash
        report = dispatch(app)
        assert report["accepted"] == 10, report  # 5 numbers × 2 texts; the opted-out one skipped
        sent = sent_to(tmp_path / "out" / "NOW-1.jsonl")
        assert phones[1] not in sent
        assert sorted(set(sent)) == sorted(p for p in phones if p != phones[1])
        assert len(sent) == 10
        with app.app_context():
            statuses = db.session.execute(
                select(SmsMessage.status, SmsMessage.phone_hash).where(
                    SmsMessage.campaign_id == campaign["id"]
                )
            ).all()
            assert len(statuses) == 12 and len({h for _s, h in statuses}) == 6
            assert sorted(s for s, _h in statuses).count("opted_out") == 2
            db.session.remove()


def test_rotation_without_the_old_key_changes_nothing(sms_demo, data_keys):
    app, client, headers = sms_demo
    make_campaign(app, client, headers["coordinator"], phones=numbers(2))
    before = {t: raw(app, t) for t in TABLES}
    with data_keys(Fernet.generate_key().decode()):
        result = app.test_cli_runner().invoke(
            main, ["keys", "rotate"], obj=ScriptInfo(create_app=lambda: app)
        )
    assert result.exit_code != 0
    assert "cannot be decrypted" in result.output and "nothing was changed" in result.output
    assert {t: raw(app, t) for t in TABLES} == before


def test_look_ups_stop_with_a_clear_error_when_the_hash_key_left_the_ring(sms_demo, data_keys):
    app, client, headers = sms_demo
    make_campaign(app, client, headers["coordinator"], phones=numbers(1))
    with data_keys(Fernet.generate_key().decode()), app.app_context():
        with pytest.raises(sms_numbers.HashKeyUnavailable, match="keys rotate"):
            sms_numbers.hasher()
        db.session.rollback()
        db.session.remove()
