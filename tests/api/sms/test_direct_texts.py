"""Texts outside a campaign (kind ``direct``): once per purpose and number, on a named channel,
without a slot, ahead of the campaign traffic on that channel, invisible to campaign progress."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from gridserve import audit
from gridserve.db import transaction, utcnow
from gridserve.extensions import db
from gridserve.models import Institution, SmsChannel, SmsMessage
from gridserve.services.sms import direct
from gridserve.services.sms import outbox as sms_outbox
from tests import clock
from tests.api.sms.campaign_now import CUSTOM, MANDATED, dispatch, make_campaign, numbers
from tests.conftest import TEST_ACTOR

NOTICE = "活动变更通知：测试。"


def lines(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()]


def icbc_channel() -> SmsChannel:
    inst = db.session.execute(select(Institution).where(Institution.code == "ICBC")).scalar_one()
    return direct.channel_of(inst.id)


def queue_direct(app, purpose: str, phones: list[str]) -> int:
    with app.app_context(), audit.acting_as(TEST_ACTOR), transaction():
        channel = icbc_channel()
        added = sum(
            direct.queue(channel, purpose, p, direct.signed(channel, NOTICE)) for p in phones
        )
    with app.app_context():
        db.session.remove()
    return added


def rows(app, **where) -> list[SmsMessage]:
    with app.app_context():
        stmt = select(SmsMessage).order_by(SmsMessage.id)
        for name, value in where.items():
            stmt = stmt.where(getattr(SmsMessage, name) == value)
        out = list(db.session.execute(stmt).scalars())
        for row in out:
            db.session.expunge(row)
        db.session.remove()
        return out


def test_direct_texts_go_ahead_of_queued_campaign_texts_on_the_same_channel(
    sms_demo, tmp_path, override_settings
):
    app, client, headers = sms_demo
    override_settings(sms_batch_size=10)
    customers = numbers(40)
    campaign = make_campaign(app, client, headers["coordinator"], phones=customers)
    with app.app_context(), audit.acting_as(TEST_ACTOR), transaction():
        assert len(sms_outbox.open_slots()) == 1  # the slot opens: 40 mandated texts queued
    staff = numbers(3, start=5000)
    assert queue_direct(app, "notice:1", staff) == 3  # queued after the campaign's texts
    report = dispatch(app)
    assert report["direct_accepted"] == 3 and report["accepted"] == 80, report
    sent = lines(tmp_path / "out" / "NOW-1.jsonl")
    assert [m["to"] for m in sent[:3]] == staff
    assert all(m["body"] == f"【工商银行】{NOTICE}" for m in sent[:3])
    assert [m["body"] for m in sent[3:43]] == [f"【宣传月领导小组】{MANDATED}"] * 40
    assert [m["body"] for m in sent[43:]] == [f"【工商银行】{CUSTOM}"] * 40

    # Campaign progress counts only the campaign's own texts.
    progress = client.get(
        f"/api/v1/sms/campaigns/{campaign['id']}/progress", headers=headers["coordinator"]
    ).get_json()
    icbc = progress["senders"][0]
    assert icbc["recipients"] == 40 and icbc["counts"]["accepted"] == 80
    assert sum(icbc["counts"].values()) == 80

    # A direct text queued while the slot sends still goes first in the next pass.
    assert queue_direct(app, "notice:2", staff[:1]) == 1
    assert dispatch(app)["direct_accepted"] == 1
    assert lines(tmp_path / "out" / "NOW-1.jsonl")[-1]["to"] == staff[0]


def test_each_purpose_goes_once_to_a_number(sms_demo, tmp_path):
    app, client, headers = sms_demo
    make_campaign(app, client, headers["coordinator"], phones=numbers(2))
    staff = numbers(2, start=7000)
    assert queue_direct(app, "notice:7", staff) == 2
    assert queue_direct(app, "notice:7", staff) == 0  # again: nothing added
    assert queue_direct(app, "notice-reminder:7", staff[:1]) == 1  # another purpose
    assert dispatch(app)["direct_accepted"] == 3
    assert queue_direct(app, "notice:7", staff) == 0  # after sending too
    assert "direct_accepted" not in dispatch(app)
    sent = [m for m in lines(tmp_path / "out" / "NOW-1.jsonl") if m["body"].endswith(NOTICE)]
    assert sorted(m["to"] for m in sent) == sorted([*staff, staff[0]])
    stored = rows(app, kind="direct")
    assert {(r.campaign_id, r.sender_id, r.text_id, r.slot_end) for r in stored} == {
        (None, None, None, None)
    }
    assert {r.status for r in stored} == {"accepted"}


def test_a_direct_text_waits_for_a_channel_that_is_down_and_never_expires(sms_demo, tmp_path):
    app, client, headers = sms_demo
    make_campaign(app, client, headers["coordinator"], phones=numbers(1))
    with app.app_context(), audit.acting_as(TEST_ACTOR), transaction():
        icbc_channel().is_up = False
    queue_direct(app, "notice:9", numbers(1, start=9000))
    dispatch(app)
    clock.shift(dt.timedelta(days=3))  # the campaign's slot is long over
    with app.app_context(), audit.acting_as(TEST_ACTOR), transaction():
        sms_outbox.close_ended_slots()
    assert [r.status for r in rows(app, kind="direct")] == ["queued"]
    with app.app_context(), audit.acting_as(TEST_ACTOR), transaction():
        icbc_channel().is_up = True
    # Whatever the hour now, the text goes once the quiet hours are over.
    for _ in range(2):
        if dispatch(app).get("direct_accepted"):
            break
        clock.shift(dt.timedelta(hours=12))
    assert [r.status for r in rows(app, kind="direct")] == ["accepted"]


def test_an_interrupted_direct_text_is_resubmitted_under_its_key(sms_demo, tmp_path):
    app, client, headers = sms_demo
    make_campaign(app, client, headers["coordinator"], phones=numbers(1))
    queue_direct(app, "notice:11", numbers(1, start=9100))
    with app.app_context(), audit.acting_as(TEST_ACTOR), transaction():
        lane = next(x for x in direct.due_lanes() if x.channel_id == icbc_channel().id)
        assert len(direct.claim(lane, 10)) == 1  # claimed, then the dispatcher died
    clock.shift(dt.timedelta(minutes=5))
    with app.app_context(), audit.acting_as(TEST_ACTOR), transaction():
        assert sms_outbox.recover_stale_claims() == {"requeued": 1, "unknown": 0}
    assert dispatch(app)["direct_accepted"] == 1
    sent = [m for m in lines(tmp_path / "out" / "NOW-1.jsonl") if m["body"].endswith(NOTICE)]
    assert len(sent) == 1


def test_the_outbox_refuses_a_direct_row_without_purpose_or_channel(sms_demo):
    app, client, headers = sms_demo
    make_campaign(app, client, headers["coordinator"], phones=numbers(1))
    with app.app_context(), audit.acting_as(TEST_ACTOR):
        sms_outbox.open_slots()
        with pytest.raises(IntegrityError):  # a campaign text keeps its campaign
            db.session.execute(
                update(SmsMessage)
                .where(SmsMessage.kind == "mandated")
                .values(campaign_id=None, next_attempt_at=utcnow())
            )
        db.session.rollback()
        channel = icbc_channel()
        with pytest.raises(ValueError):
            direct.queue(channel, "", "+8613900009999", NOTICE)
        with pytest.raises(ValueError):
            direct.queue(channel, "x" * 121, "+8613900009999", NOTICE)
        direct.queue(channel, "notice:12", "+8613900009999", NOTICE)
        with pytest.raises(IntegrityError):
            db.session.execute(
                update(SmsMessage).where(SmsMessage.purpose == "notice:12").values(channel_id=None)
            )
        db.session.rollback()
        db.session.remove()
