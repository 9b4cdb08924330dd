"""Dispatch through the outbox: once per recipient and text, mandated first, opt-outs honoured
at send time, nothing silently dropped."""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path

from sqlalchemy import select, update

from gridserve import crypto
from gridserve.config import settings
from gridserve.db import utcnow
from gridserve.extensions import db
from gridserve.models import SmsMessage, SmsOptOut, SmsSlotRun
from gridserve.services.sms import dispatch as sms_dispatch
from gridserve.services.sms import numbers as sms_numbers
from gridserve.services.sms import outbox as sms_outbox
from gridserve.services.sms.inbound import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign
from tests.api.sms.campaign_now import CUSTOM, MANDATED, dispatch, make_campaign, numbers
from tests.sms.peers import HttpPeer


def lines(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()]


def statuses(app, campaign_id: int) -> dict[str, int]:
    with app.app_context():
        rows = db.session.execute(
            select(SmsMessage.status).where(SmsMessage.campaign_id == campaign_id)
        ).scalars()
        out: dict[str, int] = {}
        for s in rows:
            out[s] = out.get(s, 0) + 1
        db.session.remove()
        return out


def test_each_recipient_gets_each_text_once_mandated_first(sms_demo, tmp_path):
    app, client, headers = sms_demo
    phones = numbers(120)
    campaign = make_campaign(app, client, headers["coordinator"], phones=phones)
    first = dispatch(app)
    again = dispatch(app)
    assert first["accepted"] == 240, first
    assert "accepted" not in again
    sent = lines(tmp_path / "out" / "NOW-1.jsonl")
    assert len(sent) == 240
    assert len({(m["to"], m["body"]) for m in sent}) == 240
    position: dict[str, list[str]] = {}
    for m in sent:
        position.setdefault(m["to"], []).append(m["body"])
    assert set(position) == set(phones)
    for bodies in position.values():
        assert bodies == [f"【宣传月领导小组】{MANDATED}", f"【工商银行】{CUSTOM}"]
    progress = client.get(
        f"/api/v1/sms/campaigns/{campaign['id']}/progress", headers=headers["coordinator"]
    ).get_json()
    icbc = progress["senders"][0]
    assert icbc["sender"] == "ICBC" and icbc["recipients"] == 120
    assert icbc["counts"]["accepted"] == 240 and icbc["counts"]["queued"] == 0
    assert icbc["current_slot"]["first_accepted_at"] is not None
    history = client.post(
        f"/api/v1/sms/campaigns/{campaign['id']}/messages/lookup",
        json={"phone": "13900000007"},
        headers=headers["coordinator"],
    ).get_json()
    assert [m["kind"] for m in history["messages"]] == ["mandated", "custom"]
    assert history["phone"] == "+86139****0007"
    assert history["messages"][0]["accepted_at"] <= history["messages"][1]["accepted_at"]


def test_a_second_import_and_a_rerun_add_nothing(sms_demo, tmp_path):
    app, client, headers = sms_demo
    phones = numbers(10)
    campaign = make_campaign(app, client, headers["coordinator"], phones=phones)
    dispatch(app)
    csv = "phone\n" + "\n".join(p.replace("+86", "") for p in phones) + "\n"
    report = client.post(
        f"/api/v1/sms/campaigns/{campaign['id']}/senders/ICBC/recipients",
        data=csv.encode(),
        content_type="text/csv",
        headers=headers["coordinator"],
    ).get_json()
    assert report["added"] == 0 and report["already_listed"] == 10
    dispatch(app)
    assert len(lines(tmp_path / "out" / "NOW-1.jsonl")) == 20


def test_an_opt_out_recorded_after_the_list_was_built_is_honoured(sms_demo, tmp_path):
    app, client, headers = sms_demo
    phones = numbers(5)
    campaign = make_campaign(app, client, headers["coordinator"], phones=phones)
    with app.app_context():  # the slot opens and the outbox is filled before the opt-out
        sms_outbox.open_slots()
        db.session.commit()
        db.session.remove()
    resp = client.post(
        "/api/v1/sms/opt-outs",
        json={"phone": "139 0000 0002", "institution": "ICBC", "note": "called the branch"},
        headers=headers["coordinator"],
    )
    assert resp.status_code == 201, resp.get_json()
    dispatch(app)
    sent = {m["to"] for m in lines(tmp_path / "out" / "NOW-1.jsonl")}
    assert "+8613900000002" not in sent and len(sent) == 4
    assert statuses(app, campaign["id"]) == {"accepted": 8, "opted_out": 2}
    progress = client.get(
        f"/api/v1/sms/campaigns/{campaign['id']}/progress", headers=headers["coordinator"]
    ).get_json()
    assert progress["totals"]["opted_out"] == 2


def test_custom_text_waits_for_the_mandated_one_and_never_follows_a_failed_one(sms_demo, tmp_path):
    app, client, headers = sms_demo
    campaign = make_campaign(app, client, headers["coordinator"], phones=numbers(3))
    with app.app_context():
        sms_outbox.open_slots()
        # The mandated text to one number failed for good (e.g. the number does not exist).
        db.session.execute(
            update(SmsMessage)
            .where(
                SmsMessage.phone_hash == sms_numbers.hasher()("+8613900000001"),
                SmsMessage.kind == "mandated",
            )
            .values(status="failed", error="permanent: unknown subscriber")
        )
        waiting = db.session.execute(
            select(SmsMessage.status).where(SmsMessage.kind == "custom")
        ).scalars()
        assert set(waiting) == {"waiting"}
        db.session.commit()
        db.session.remove()
    dispatch(app)
    sent = lines(tmp_path / "out" / "NOW-1.jsonl")
    assert [m["to"] for m in sent].count("+8613900000001") == 0
    assert len(sent) == 4
    with app.app_context():
        row = db.session.execute(
            select(SmsMessage).where(
                SmsMessage.phone_hash == sms_numbers.hasher()("+8613900000001"),
                SmsMessage.kind == "custom",
            )
        ).scalar_one()
        assert row.status == "failed" and row.error.startswith("mandated_not_accepted")
        db.session.remove()
    assert campaign["id"]


def test_no_custom_message_is_released_while_a_mandated_one_is_still_queued(sms_demo):
    app, client, headers = sms_demo
    make_campaign(app, client, headers["coordinator"], phones=numbers(3))
    with app.app_context():
        (slot,) = sms_outbox.open_slots()
        rows = sms_outbox.claim(slot, 2)  # two mandated rows go out; one stays queued
        assert len(rows) == 2
        db.session.execute(
            update(SmsMessage)
            .where(SmsMessage.id.in_([r.id for r in rows]))
            .values(status="accepted")
        )
        assert sms_outbox.release_custom(slot) == 0
        customs = db.session.execute(
            select(SmsMessage.status).where(SmsMessage.kind == "custom")
        ).scalars()
        assert set(customs) == {"waiting"}
        db.session.rollback()
        db.session.remove()


def test_an_ended_slot_expires_what_it_could_not_send_until_someone_requeues_it(sms_demo, tmp_path):
    app, client, headers = sms_demo
    campaign = make_campaign(app, client, headers["coordinator"], phones=numbers(4))
    with app.app_context():
        sms_outbox.open_slots()
        # These rows belonged to an earlier slot that is over.
        db.session.execute(update(SmsMessage).values(slot_end=utcnow() - dt.timedelta(minutes=1)))
        assert sms_outbox.close_ended_slots() == 8
        db.session.commit()
        db.session.remove()
    dispatch(app)
    assert not (tmp_path / "out" / "NOW-1.jsonl").exists()
    assert statuses(app, campaign["id"]) == {"expired": 8}
    history = client.post(
        f"/api/v1/sms/campaigns/{campaign['id']}/messages/lookup",
        json={"phone": "+8613900000000"},
        headers=headers["coordinator"],
    ).get_json()
    assert {m["status"] for m in history["messages"]} == {"expired"}
    denied = client.post(
        f"/api/v1/sms/campaigns/{campaign['id']}/senders/ICBC/requeue-expired",
        headers=headers["bank2"],
    )
    assert denied.status_code in (403, 404)
    resp = client.post(
        f"/api/v1/sms/campaigns/{campaign['id']}/senders/ICBC/requeue-expired",
        headers=headers["coordinator"],
    )
    assert resp.status_code == 200, resp.get_json()
    assert resp.get_json()["requeued"] == {"mandated": 4, "custom": 4}
    dispatch(app)
    sent = lines(tmp_path / "out" / "NOW-1.jsonl")
    assert len(sent) == 8 and statuses(app, campaign["id"]) == {"accepted": 8}


def test_requeue_outside_an_open_slot_is_refused(sms_demo):
    app, client, headers = sms_demo
    campaign = make_campaign(app, client, headers["coordinator"], phones=numbers(1))
    resp = client.post(
        f"/api/v1/sms/campaigns/{campaign['id']}/senders/ICBC/requeue-expired",
        headers=headers["coordinator"],
    )
    assert resp.status_code == 409 and resp.get_json()["error"]["code"] == "no_open_slot"


def test_nothing_is_sent_before_the_mandated_text_is_approved(sms_demo, tmp_path):
    app, client, headers = sms_demo
    campaign = make_campaign(app, client, headers["coordinator"], phones=numbers(2))
    with app.app_context():
        from gridserve.models import SmsText

        db.session.execute(
            update(SmsText)
            .where(SmsText.campaign_id == campaign["id"], SmsText.sender_id.is_(None))
            .values(status="submitted", locked=False)
        )
        db.session.commit()
        db.session.remove()
    dispatch(app)
    assert not (tmp_path / "out" / "NOW-1.jsonl").exists()
    body = client.get(
        f"/api/v1/sms/campaigns/{campaign['id']}/progress", headers=headers["coordinator"]
    ).get_json()
    assert body["mandated_text_approved"] is False


def test_a_stale_claim_on_an_idempotent_gateway_is_resent_under_its_key_once(sms_demo, tmp_path):
    """A dispatcher died after the gateway took a message but before it recorded that."""
    app, client, headers = sms_demo
    make_campaign(app, client, headers["coordinator"], phones=numbers(3))
    with app.app_context():
        (slot,) = sms_outbox.open_slots()
        rows = sms_outbox.claim(slot, 3)
        db.session.commit()
        pool = sms_dispatch.GatewayPool()
        gateway = pool.get(slot.channel_id)
        from gridserve.sms.gateways import OutboundMessage

        gateway.submit(
            OutboundMessage(
                key=f"gs-{rows[0].id}",
                to=crypto.decrypt(rows[0].phone_enc),
                body=rows[0].body,
                sender="X",
            )
        )
        pool.close()
        db.session.execute(
            update(SmsMessage)
            .where(SmsMessage.status == "submitting")
            .values(claimed_at=utcnow() - dt.timedelta(minutes=5))
        )
        db.session.commit()
        db.session.remove()
    result = dispatch(app)
    assert result["requeued"] == 3
    sent = lines(tmp_path / "out" / "NOW-1.jsonl")
    assert len(sent) == 6 and len({m["key"] for m in sent}) == 6


def test_transient_errors_retry_with_backoff_then_fail_with_the_reason(sms_demo, override_settings):
    app, client, headers = sms_demo
    override_settings(sms_max_attempts=2, sms_retry_base_seconds=1)
    peer = HttpPeer(fail_every=1)  # every request answers 503
    peer.start()
    try:
        campaign = make_campaign(
            app,
            client,
            headers["coordinator"],
            phones=numbers(2),
            channel={
                "gateway": "http",
                "settings": {"url": f"http://127.0.0.1:{peer.port}/send", "timeout": 2},
                "signature": "工商银行",
                "rate_per_second": 0,
            },
        )
        dispatch(app)
        assert statuses(app, campaign["id"]) == {"queued": 2, "waiting": 2}
        dispatch(app)  # the retry is not due yet
        assert len(peer.requests) == 2
        time.sleep(1.1)
        dispatch(app)
        with app.app_context():
            failed = db.session.execute(
                select(SmsMessage).where(SmsMessage.kind == "mandated")
            ).scalars()
            for row in failed:
                assert row.status == "failed" and row.attempts == 2
                assert "retries exhausted" in row.error and "503" in row.error
            db.session.remove()
        # the custom texts follow the mandated ones into failure, unsent
        assert statuses(app, campaign["id"]) == {"failed": 4}
        assert peer.messages == []
    finally:
        peer.stop()


def _signed(secret: str, payload) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(payload).encode()
    stamp = str(int(time.time()))
    return body, {
        TIMESTAMP_HEADER: stamp,
        SIGNATURE_HEADER: sign(secret, stamp, body),
        "Content-Type": "application/json",
    }


def test_receipts_are_signed_idempotent_and_replies_opt_out(sms_demo, override_settings, tmp_path):
    app, client, headers = sms_demo
    override_settings(sms_accounts={"cloud": {"receipt_secret": "s3cret-s3cret"}})
    campaign = make_campaign(
        app,
        client,
        headers["coordinator"],
        phones=numbers(2),
        channel={
            "gateway": "file",
            "credentials_ref": "cloud",
            "settings": {"path": "out/NOW-1.jsonl"},
            "signature": "工商银行",
            "rate_per_second": 0,
        },
    )
    dispatch(app)
    sent = lines(tmp_path / "out" / "NOW-1.jsonl")
    with app.app_context():
        ids = {m.gateway_id: m.id for m in db.session.execute(select(SmsMessage)).scalars()}
        db.session.remove()
    first_id = next(iter(ids))
    assert len(sent) == 4
    url = "/api/v1/sms/gateways/cloud/receipts"
    payload = [{"id": first_id, "status": "DELIVRD"}, {"from": "+8613900000001", "text": "TD"}]
    body, signed = _signed("s3cret-s3cret", payload)
    resp = client.post(url, data=body, headers=signed)
    assert resp.status_code == 200, resp.get_json()
    assert resp.get_json()["results"] == {"delivered": 1, "opted_out": 1}
    again = client.post(url, data=body, headers=signed)
    assert again.get_json()["results"] == {"duplicate": 1, "opted_out": 1}
    with app.app_context():
        row = db.session.get(SmsMessage, ids[first_id])
        assert row.status == "delivered"
        opted = db.session.execute(select(SmsOptOut)).scalars().all()
        assert [(crypto.decrypt(o.phone_enc), o.source) for o in opted] == [
            ("+8613900000001", "reply")
        ]
        db.session.remove()
    _, wrong = _signed("not-the-secret", payload)
    bad = client.post(url, data=body, headers=wrong)
    assert bad.status_code == 401 and bad.get_json()["error"]["code"] == "bad_signature"
    old = dict(signed, **{TIMESTAMP_HEADER: str(int(time.time()) - 3600)})
    late = client.post(url, data=body, headers=old)
    assert late.status_code == 401 and late.get_json()["error"]["code"] == "bad_timestamp"
    nobody = client.post("/api/v1/sms/gateways/nobody/receipts", data=body, headers=signed)
    assert nobody.status_code == 404
    junk_body, junk = _signed("s3cret-s3cret", [{"status": "DELIVRD"}])
    junk_resp = client.post(url, data=junk_body, headers=junk)
    assert junk_resp.status_code == 422
    assert junk_resp.get_json()["error"]["code"] == "invalid_receipt"
    progress = client.get(
        f"/api/v1/sms/campaigns/{campaign['id']}/progress", headers=headers["coordinator"]
    ).get_json()
    assert progress["totals"]["delivered"] == 1


def test_recipient_import_reports_bad_rows_and_drops_duplicates(sms_demo):
    app, client, headers = sms_demo
    campaign = make_campaign(app, client, headers["coordinator"], phones=[])
    csv = "手机号,姓名\n13800138000,甲\n+86 138-0013-8000,甲again\n12345,乙\n02812345678,座机\n\n"
    url = f"/api/v1/sms/campaigns/{campaign['id']}/senders/ICBC/recipients"
    resp = client.post(url, data=csv.encode(), content_type="text/csv", headers=headers["bank2"])
    assert resp.status_code == 200, resp.get_json()
    report = resp.get_json()
    assert report["added"] == 1 and report["duplicates_in_file"] == 1
    assert [r["row"] for r in report["rejected"]] == [3, 4]
    assert "mobile" in report["rejected"][1]["error"]
    listed = client.get(url, headers=headers["bank2"]).get_json()
    assert len(listed) == 1 and listed[0]["phone"].endswith("8000")
    assert "0013" not in listed[0]["phone"]
    other = client.post(url, data=csv.encode(), content_type="text/csv", headers=headers["bank1"])
    assert other.status_code == 404
    no_column = client.post(
        url, data=b"name\nx\n", content_type="text/csv", headers=headers["coordinator"]
    )
    assert no_column.status_code == 422 and no_column.get_json()["error"]["code"] == "invalid_csv"
    as_json = client.post(url, json={"phone": "13800138000"}, headers=headers["coordinator"])
    assert as_json.status_code == 415


def test_campaign_and_channel_input_is_checked(sms_demo):
    app, client, headers = sms_demo
    coordinator = headers["coordinator"]
    bad_path = client.put(
        "/api/v1/sms/channels/ICBC",
        json={"gateway": "file", "settings": {"path": "/etc/passwd"}, "signature": "工商银行"},
        headers=coordinator,
    )
    assert bad_path.status_code == 422
    assert bad_path.get_json()["error"]["code"] == "gateway_misconfigured"
    no_account = client.put(
        "/api/v1/sms/channels/ICBC",
        json={
            "gateway": "http",
            "credentials_ref": "nope",
            "settings": {"url": "http://127.0.0.1:9/send"},
            "signature": "工商银行",
        },
        headers=coordinator,
    )
    assert no_account.status_code == 422
    as_bank = client.put(
        "/api/v1/sms/channels/ICBC",
        json={"gateway": "file", "settings": {"path": "x.jsonl"}, "signature": "工商银行"},
        headers=headers["bank2"],
    )
    assert as_bank.status_code == 403
    areas = client.get("/api/v1/areas", headers=coordinator).get_json()
    district = next(a for a in areas if a["code"] == "XQ")
    base = {
        "code": "BAD-1",
        "name": "x",
        "area_id": district["id"],
        "start_date": "2026-05-01",
        "end_date": "2026-05-02",
        "senders": ["ICBC"],
    }
    cases = [
        ({"senders": ["NOPE"]}, "unknown_institution"),
        ({"senders": ["ICBC", "ICBC"]}, "validation_error"),
        ({"end_date": "2026-04-01"}, "validation_error"),
        ({"window_start": "25:00"}, "validation_error"),
    ]
    quiet_start = settings(app).quiet_hours.split("-")[0]
    if quiet_start < "23:58":  # a window wholly inside the quiet hours
        minute = dt.datetime.strptime(quiet_start, "%H:%M") + dt.timedelta(minutes=1)
        window = {"window_start": quiet_start, "window_end": minute.strftime("%H:%M")}
        cases.append((window, "window_in_quiet_hours"))
    for change, code in cases:
        resp = client.post("/api/v1/sms/campaigns", json=base | change, headers=coordinator)
        assert resp.status_code == 422, (change, resp.get_json())
        assert resp.get_json()["error"]["code"] == code, (change, resp.get_json())
    listed = client.get("/api/v1/sms/campaigns", headers=coordinator).get_json()
    assert all(c["code"] != "BAD-1" for c in listed)


def test_unsubscribe_suffix_goes_on_custom_texts_only(sms_demo, tmp_path):
    app, client, headers = sms_demo
    make_campaign(
        app, client, headers["coordinator"], phones=numbers(1), unsubscribe_suffix="回T退订"
    )
    dispatch(app)
    bodies = [m["body"] for m in lines(tmp_path / "out" / "NOW-1.jsonl")]
    assert bodies == [f"【宣传月领导小组】{MANDATED}", f"【工商银行】{CUSTOM}回T退订"]


def test_the_slot_run_records_when_it_opened(sms_demo):
    app, client, headers = sms_demo
    make_campaign(app, client, headers["coordinator"], phones=numbers(1))
    dispatch(app)
    with app.app_context():
        run = db.session.execute(select(SmsSlotRun)).scalar_one()
        assert run.first_accepted_at >= run.opened_at and run.mandated_done_at is not None
        db.session.remove()


def test_audiences_come_from_the_area_tree_inside_the_campaign(sms_demo):
    app, client, headers = sms_demo
    campaign = make_campaign(app, client, headers["coordinator"], phones=[])
    with app.app_context():
        from geoalchemy2.shape import from_shape
        from shapely.geometry import Point

        from gridserve import crypto
        from gridserve.models import Area, Household, Place

        qs01 = db.session.execute(select(Area).where(Area.code == "QS01")).scalar_one()
        at = from_shape(Point(104.05, 30.50), srid=4326)
        firm = Place(type="enterprise", name="小店", attributes={"phone": "13800138000"},
                     geom=at, area_id=qs01.id)  # fmt: skip
        home = Place(type="household", name="1-101", attributes={}, geom=at, area_id=qs01.id)
        db.session.add_all([firm, home])
        db.session.flush()
        db.session.add(
            Household(place_id=home.id, area_id=qs01.id, phone_enc=crypto.encrypt("13900139000"))
        )
        db.session.commit()
        qs01_id = qs01.id
        db.session.remove()
    url = f"/api/v1/sms/campaigns/{campaign['id']}/senders/ICBC/audiences"
    for kind, phone in (("households", "9000"), ("enterprises", "8000")):
        resp = client.post(
            url, json={"kind": kind, "area_ids": [qs01_id]}, headers=headers["coordinator"]
        )
        assert resp.status_code == 200, resp.get_json()
        assert resp.get_json()["added"] == 1
        mine = client.get(
            f"/api/v1/sms/campaigns/{campaign['id']}/senders/ICBC/recipients",
            headers=headers["coordinator"],
        ).get_json()
        assert any(r["source"] == kind and r["phone"].endswith(phone) for r in mine)
    again = client.post(
        url, json={"kind": "households", "area_ids": [qs01_id]}, headers=headers["coordinator"]
    ).get_json()
    assert again["added"] == 0 and again["already_listed"] == 1
    listed = client.get(
        f"/api/v1/sms/campaigns/{campaign['id']}/senders/ICBC/recipients",
        headers=headers["coordinator"],
    ).get_json()
    assert sorted(r["source"] for r in listed) == ["enterprises", "households"]
    unknown = client.post(
        url, json={"kind": "households", "area_ids": [999999]}, headers=headers["coordinator"]
    )
    assert unknown.status_code == 422
    assert unknown.get_json()["error"]["code"] == "area_outside_campaign"
    empty = client.post(url, json={"kind": "households"}, headers=headers["coordinator"])
    assert empty.status_code == 422
    as_bank = client.post(
        url, json={"kind": "households", "area_ids": [qs01_id]}, headers=headers["bank2"]
    )
    assert as_bank.status_code == 403
