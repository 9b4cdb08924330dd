"""SMS campaigns: the demo rotation's schedule, locked mandated text, custom text review."""

from __future__ import annotations

import datetime as dt

from seeds.loader import BANK_ORDER


def test_the_demo_month_sends_one_bank_a_day_9_to_19_april(demo_campaign):
    client, headers, campaign = demo_campaign
    resp = client.get(
        f"/api/v1/sms/campaigns/{campaign['id']}/schedule", headers=headers["coordinator"]
    )
    assert resp.status_code == 200, resp.get_json()
    body = resp.get_json()
    slots = body["slots"]
    assert [s["sender"] for s in slots] == BANK_ORDER
    year = dt.date.fromisoformat(campaign["start_date"]).year
    assert [s["start"][:10] for s in slots] == [
        dt.date(year, 4, 9 + i).isoformat() for i in range(11)
    ]
    assert all(s["start"].endswith("T08:00:00+08:00") for s in slots)
    assert all(s["end"].endswith("T21:00:00+08:00") for s in slots)
    assert slots[0]["sender_name"] == "农发行" and body["policy"] == "shift"


def test_a_sender_without_approved_content_is_skipped_and_shown(demo_campaign, clean_app):
    client, headers, campaign = demo_campaign
    texts = client.get(
        f"/api/v1/sms/campaigns/{campaign['id']}/texts", headers=headers["bank2"]
    ).get_json()
    own = next(t for t in texts if t["kind"] == "custom")
    with clean_app.app_context():
        from gridserve.extensions import db
        from gridserve.models import SmsText

        db.session.get(SmsText, own["id"]).status = "returned"
        db.session.commit()
    body = client.get(
        f"/api/v1/sms/campaigns/{campaign['id']}/schedule", headers=headers["coordinator"]
    ).get_json()
    senders = [s["sender"] for s in body["slots"]]
    assert "ICBC" not in senders and len(senders) == 10
    skipped = [e for e in body["events"] if e.get("sender") == "ICBC"]
    assert skipped and skipped[0]["reason"] == "custom content not approved"


def test_the_mandated_text_is_locked(demo_campaign):
    client, headers, campaign = demo_campaign
    texts = client.get(
        f"/api/v1/sms/campaigns/{campaign['id']}/texts", headers=headers["coordinator"]
    ).get_json()
    mandated = next(t for t in texts if t["kind"] == "mandated")
    assert mandated["locked"] and mandated["measure"]["encoding"] == "UCS-2"
    assert mandated["measure"]["segments"] == 1
    resp = client.patch(
        f"/api/v1/sms/texts/{mandated['id']}",
        json={"body": "改过的内容", "version": mandated["version"]},
        headers=headers["coordinator"],
    )
    assert resp.status_code == 409 and resp.get_json()["error"]["code"] == "text_locked"
    again = client.get(
        f"/api/v1/sms/campaigns/{campaign['id']}/texts", headers=headers["coordinator"]
    ).get_json()
    assert next(t for t in again if t["kind"] == "mandated")["body"] == mandated["body"]


def test_custom_texts_go_through_review(demo_campaign):
    client, headers, campaign = demo_campaign
    path = f"/api/v1/sms/campaigns/{campaign['id']}/texts"
    created = client.post(path, json={"body": "农发行新口号,服务小微。"}, headers=headers["bank1"])
    assert created.status_code == 201, created.get_json()
    text = created.get_json()
    assert text["status"] == "draft" and text["measure"]["units"] == 12
    assert text["sender"] == "ADBC"  # the coordinator's queue names the sending bank
    listed = client.get(path, headers=headers["coordinator"]).get_json()
    assert {t["sender"] for t in listed} >= {None, "ADBC"}  # the mandated text has no sender
    assert (
        client.post(
            f"/api/v1/sms/texts/{text['id']}/approve", json={}, headers=headers["coordinator"]
        ).status_code
        == 409
    )
    assert (
        client.post(f"/api/v1/sms/texts/{text['id']}/submit", headers=headers["bank1"]).status_code
        == 200
    )
    returned = client.post(
        f"/api/v1/sms/texts/{text['id']}/return",
        json={"note": "请署名"},
        headers=headers["coordinator"],
    )
    assert returned.get_json()["status"] == "returned"
    edited = client.patch(
        f"/api/v1/sms/texts/{text['id']}",
        json={"body": "农发行新口号,服务小微。——农发行", "version": 1},
        headers=headers["bank1"],
    )
    assert edited.status_code == 200 and edited.get_json()["version"] == 2
    stale = client.patch(
        f"/api/v1/sms/texts/{text['id']}",
        json={"body": "x", "version": 1},
        headers=headers["bank1"],
    )
    assert stale.status_code == 409 and stale.get_json()["error"]["code"] == "stale_version"
    client.post(f"/api/v1/sms/texts/{text['id']}/submit", headers=headers["bank1"])
    approved = client.post(
        f"/api/v1/sms/texts/{text['id']}/approve", json={}, headers=headers["coordinator"]
    )
    assert approved.get_json()["status"] == "approved" and not approved.get_json()["locked"]
    # Another bank neither sees nor touches it; banks may not approve.
    other = client.get(path, headers=headers["bank2"]).get_json()
    assert text["id"] not in {t["id"] for t in other}
    assert (
        client.post(f"/api/v1/sms/texts/{text['id']}/submit", headers=headers["bank2"]).status_code
        == 404
    )
    mandated = client.post(path, json={"body": "x", "kind": "mandated"}, headers=headers["bank1"])
    assert mandated.status_code == 403


def test_campaigns_are_scoped(demo_campaign):
    client, headers, campaign = demo_campaign
    assert client.get("/api/v1/sms/campaigns", headers=headers["station1"]).get_json() == []
    assert (
        client.get(
            f"/api/v1/sms/campaigns/{campaign['id']}", headers=headers["station1"]
        ).status_code
        == 404
    )
    assert len(client.get("/api/v1/sms/campaigns", headers=headers["bank1"]).get_json()) == 1


def test_the_demo_campaign_has_its_recipients_and_shows_its_next_slot(demo_campaign):
    client, headers, campaign = demo_campaign
    resp = client.get(
        f"/api/v1/sms/campaigns/{campaign['id']}/progress", headers=headers["coordinator"]
    )
    assert resp.status_code == 200, resp.get_json()
    senders = resp.get_json()["senders"]
    assert [s["sender"] for s in senders] == BANK_ORDER
    assert all(s["recipients"] == 300 for s in senders)
    year = dt.date.fromisoformat(campaign["start_date"]).year
    assert senders[0]["next_slot"]["start"] == f"{year}-04-09T08:00:00+08:00"
    assert senders[0]["current_slot"] is None
    # A bank sees its own list (first page of 50), not another bank's.
    mine = client.get(
        f"/api/v1/sms/campaigns/{campaign['id']}/senders/ICBC/recipients",
        headers=headers["bank2"],
    )
    assert mine.status_code == 200 and len(mine.get_json()) == 50
    theirs = client.get(
        f"/api/v1/sms/campaigns/{campaign['id']}/senders/ADBC/recipients",
        headers=headers["bank2"],
    )
    assert theirs.status_code == 404
