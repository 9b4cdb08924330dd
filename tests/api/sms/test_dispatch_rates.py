"""The dispatcher under its rate limits: a message costs its carrier segments, texts outside a
campaign still go ahead of a rate-limited channel's bulk, and a slot that starts while another
sender's long list goes out sends within seconds of its start, not after that list."""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from pathlib import Path

from sqlalchemy import func, select

from gridserve import audit
from gridserve.db import transaction, utcnow
from gridserve.extensions import db
from gridserve.models import Institution, SmsChannel, SmsMessage
from gridserve.services.sms import direct, rates
from gridserve.services.sms import dispatch as sms_dispatch
from gridserve.sms import gateways
from tests import clock
from tests.api.sms.campaign_now import dispatch, make_campaign, numbers
from tests.conftest import TEST_ACTOR

# 80 Chinese characters: UCS-2, two segments (67 + 13) once signed.
LONG = "工行小微贷款线上申请快速到账，" * 5 + "欢迎到网点咨询。"
NOTICE = "活动变更通知：测试。"


def lines(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()]


def channel_of(code: str) -> SmsChannel:
    inst = db.session.execute(select(Institution).where(Institution.code == code)).scalar_one()
    return direct.channel_of(inst.id)


def file_channel(code: str, signature: str, rate: float) -> dict:
    return {
        "gateway": "file",
        "settings": {"path": f"out/{code}.jsonl"},
        "signature": signature,
        "rate_per_second": rate,
    }


class CountingBuckets:
    """Buckets that always have tokens and count, per key, those taken and not given back."""

    def __init__(self) -> None:
        self.net: Counter[str] = Counter()

    def peek(self, limits) -> float:
        return 0.0

    def take(self, limits, want: int, least: int) -> rates.Grant:
        for lim in limits:
            self.net[lim.key] += want
        return rates.Grant(want)

    def give_back(self, limits, tokens: int) -> None:
        for lim in limits:
            self.net[lim.key] -= tokens

    def close(self) -> None:
        pass


def test_a_message_takes_its_segments_from_the_channel_and_the_platform(
    sms_demo, monkeypatch, override_settings
):
    app, client, headers = sms_demo
    override_settings(sms_platform_rate=1000.0)
    counted = CountingBuckets()
    monkeypatch.setattr(rates, "buckets", lambda: counted)
    make_campaign(
        app,
        client,
        headers["coordinator"],
        phones=numbers(10),
        channel=file_channel("NOW-1", "工商银行", 50),
        customs=(LONG,),
    )
    report = dispatch(app)
    assert report["accepted"] == 20, report
    with app.app_context():
        channel_id = channel_of("ICBC").id
        sent = db.session.execute(
            select(SmsMessage.body, SmsMessage.segments).where(SmsMessage.status == "accepted")
        ).all()
        db.session.remove()
    by_body = Counter(sms_dispatch.segments(body) for body, _ in sent)
    assert by_body == {1: 10, 2: 10}, "the mandated text is one segment, the custom one two"
    assert sum(n for _, n in sent) == 30, "as the gateway counted them"
    assert counted.net == {f"channel:{channel_id}": 30, "platform": 30}


def test_a_notice_queued_while_a_rate_limited_list_goes_out_goes_next(
    sms_demo, tmp_path, monkeypatch
):
    """Channel at 100 segments/s: a batch is half a second of it (50 texts); a notice queued
    while the 5th campaign text is being sent goes out before the rest of the list, through the
    deployment's buckets (shared rows on PostgreSQL)."""
    app, client, headers = sms_demo
    customers = numbers(150)
    make_campaign(
        app,
        client,
        headers["coordinator"],
        phones=customers,
        channel=file_channel("NOW-1", "工商银行", 100),
    )
    staff = numbers(1, start=5000)[0]
    real_build = gateways.build_gateway
    submitted: list[str] = []

    class QueueingNotice:
        """The channel's gateway; at the 5th campaign text a notice is queued."""

        def __init__(self, inner: gateways.Gateway) -> None:
            self.inner = inner

        def submit(self, message: gateways.OutboundMessage) -> gateways.Accepted:
            submitted.append(message.to)
            if len(submitted) == 5:
                channel = channel_of("ICBC")
                direct.queue(channel, "notice:1", staff, direct.signed(channel, NOTICE))
            return self.inner.submit(message)

        def __getattr__(self, name: str):
            return getattr(self.inner, name)

    monkeypatch.setattr(
        gateways, "build_gateway", lambda *a, **k: QueueingNotice(real_build(*a, **k))
    )
    report = dispatch(app)
    assert report["direct_accepted"] == 1 and report["accepted"] == 300, report
    sent = [m["to"] for m in lines(tmp_path / "out" / "NOW-1.jsonl")]
    at = sent.index(staff)
    assert 5 <= at <= 5 + sms_dispatch.ROUND_SECONDS * 100, "after the batch in flight at most"
    assert at < 150, "ahead of the rest of the mandated texts"


def test_a_slot_starting_during_another_senders_long_list_sends_within_seconds(
    sms_demo, monkeypatch, override_settings
):
    """ICBC's slot sends 800 texts, each taking 50 ms of the test clock (so 40 s); ABC's slot,
    on its own channel, starts 10 s in. Its first text goes within one refresh (1 s) and one
    ICBC batch (20 texts, 1 s) of its start, not after ICBC's list."""
    app, client, headers = sms_demo
    override_settings(quiet_hours="12:00-09:00", sms_batch_size=20)
    today = clock.local_now().date()
    clock.move_to(clock.at_local(today, dt.time(10, 0, 50)), tick=False)
    step = dt.timedelta(milliseconds=50)
    real_build = gateways.build_gateway

    class Slow:
        """A gateway whose every call takes 50 ms of the test clock."""

        def __init__(self, inner: gateways.Gateway) -> None:
            self.inner = inner

        def submit(self, message: gateways.OutboundMessage) -> gateways.Accepted:
            clock.shift(step)
            return self.inner.submit(message)

        def __getattr__(self, name: str):
            return getattr(self.inner, name)

    monkeypatch.setattr(gateways, "build_gateway", lambda *a, **k: Slow(real_build(*a, **k)))
    long = make_campaign(
        app, client, headers["coordinator"], phones=numbers(400), code="LONG-1",
        channel=file_channel("LONG-1", "工商银行", 0),
    )  # fmt: skip
    starts = clock.at_local(today, dt.time(10, 1))
    nxt = make_campaign(
        app, client, headers["coordinator"], phones=numbers(5, start=9000), code="NEXT-1",
        sender="ABC", channel=file_channel("NEXT-1", "农业银行", 0),
        extra={"window_start": "10:01", "window_end": "12:00"},
    )  # fmt: skip
    assert utcnow() < starts
    report = dispatch(app)
    assert report["accepted"] == 810, report

    def span(campaign_id: int) -> tuple[dt.datetime, dt.datetime]:
        return db.session.execute(
            select(func.min(SmsMessage.accepted_at), func.max(SmsMessage.accepted_at)).where(
                SmsMessage.campaign_id == campaign_id
            )
        ).one()

    with app.app_context():
        long_first, long_last = span(long["id"])
        next_first, _ = span(nxt["id"])
        db.session.remove()
    assert long_first < starts and long_last > starts + dt.timedelta(seconds=20)
    assert starts <= next_first <= starts + dt.timedelta(seconds=2.5), next_first - starts


def test_direct_text_waits_for_tokens_without_letting_campaign_texts_pass(
    sms_demo, tmp_path, monkeypatch
):
    """A notice due on a channel whose tokens are spent: the channel's campaign batch is not
    claimed in that round either (it would take the tokens the notice is waiting for)."""
    app, client, headers = sms_demo
    make_campaign(
        app, client, headers["coordinator"], phones=numbers(3),
        channel=file_channel("NOW-1", "工商银行", 100),
    )  # fmt: skip
    with app.app_context(), audit.acting_as(TEST_ACTOR), transaction():
        channel = channel_of("ICBC")
        direct.queue(channel, "notice:1", numbers(1, start=5000)[0], NOTICE)

    class Empty(CountingBuckets):
        """No token now, one in a while; then plenty."""

        def __init__(self) -> None:
            super().__init__()
            self.refusals = 2

        def peek(self, limits) -> float:
            if self.refusals:
                self.refusals -= 1
                return 0.01
            return 0.0

    empty = Empty()
    monkeypatch.setattr(rates, "buckets", lambda: empty)
    report = dispatch(app)
    assert report["direct_accepted"] == 1 and report["accepted"] == 6, report
    sent = lines(tmp_path / "out" / "NOW-1.jsonl")
    assert sent[0]["body"] == NOTICE
