"""No message goes out in quiet hours: the window is checked before each gateway call, so a batch
claimed just before the window's end stops at the end; the rest is expired, never sent late."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from sqlalchemy import select

from gridserve.config import settings
from gridserve.db import utcnow
from gridserve.extensions import db
from gridserve.models import SmsMessage
from gridserve.services.sms import dispatch as sms_dispatch
from jobs.registry import run_job
from tests import clock
from tests.api.sms.campaign_now import make_campaign, numbers, window_start


class TickingGateway:
    """A real gateway whose every send takes one second of the test's clock."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.sent_at: list[dt.datetime] = []

    def submit(self, message):
        self.sent_at.append(utcnow())
        result = self.inner.submit(message)
        clock.shift(dt.timedelta(seconds=1))
        return result

    def __getattr__(self, name):
        return getattr(self.inner, name)


@pytest.fixture
def ticking(monkeypatch):
    made: list[TickingGateway] = []
    build = sms_dispatch.gateways.build_gateway

    def wrapped(*args, **kwargs):
        made.append(TickingGateway(build(*args, **kwargs)))
        return made[-1]

    monkeypatch.setattr(sms_dispatch.gateways, "build_gateway", wrapped)
    return made


def _states(app, campaign_id: int) -> dict[tuple[str, str], int]:
    with app.app_context():
        rows = db.session.execute(
            select(SmsMessage.kind, SmsMessage.status).where(SmsMessage.campaign_id == campaign_id)
        ).all()
        db.session.remove()
    out: dict[tuple[str, str], int] = {}
    for row in rows:
        out[tuple(row)] = out.get(tuple(row), 0) + 1
    return out


def _window_end(app, day: dt.date | None = None) -> dt.datetime:
    """The window's end on ``day`` (default today): the start of the quiet hours."""
    quiet_start = dt.time.fromisoformat(settings(app).quiet_hours.split("-")[0])
    return clock.at_local(day or clock.local_now().date(), quiet_start)


def test_a_batch_claimed_before_the_window_ends_stops_at_the_end(sms_demo, ticking, tmp_path):
    app, client, headers = sms_demo
    campaign = make_campaign(app, client, headers["coordinator"], phones=numbers(10))
    end = _window_end(app)
    clock.move_to(end - dt.timedelta(seconds=3), tick=False)
    with app.app_context():
        report = run_job("sms-dispatch")  # claims all 10 mandated rows in one batch
        db.session.remove()
    assert report.get("accepted") == 3, report
    sent_at = [t for g in ticking for t in g.sent_at]
    assert len(sent_at) == 3 and max(sent_at) < end, "nothing after the end"
    sent = [json.loads(x) for x in Path(tmp_path / "out" / "NOW-1.jsonl").read_text().splitlines()]
    assert len(sent) == 3
    # The seven left went back to the queue unsent; the slot is over, so the next pass
    # expires them (and the custom texts that were waiting), reported and kept.
    with app.app_context():
        again = run_job("sms-dispatch")
        db.session.remove()
    assert "accepted" not in again
    assert _states(app, campaign["id"]) == {
        ("mandated", "accepted"): 3,
        ("mandated", "expired"): 7,
        ("custom", "expired"): 10,
    }
    assert sum(len(g.sent_at) for g in ticking) == 3


def test_in_a_two_day_slot_the_rest_waits_for_the_next_days_window(sms_demo, ticking, tmp_path):
    app, client, headers = sms_demo
    opens = window_start(app)
    day = opens.astimezone(clock.zone()).date()
    campaign = make_campaign(
        app,
        client,
        headers["coordinator"],
        phones=numbers(10),
        dates=(day, day + dt.timedelta(days=1)),
        extra={"slot_days": 2},
    )
    end = _window_end(app, day)
    clock.move_to(end - dt.timedelta(seconds=3), tick=False)
    with app.app_context():
        assert run_job("sms-dispatch").get("accepted") == 3
        assert "accepted" not in run_job("sms-dispatch")  # quiet hours now: nothing goes out
        db.session.remove()
    assert _states(app, campaign["id"]) == {
        ("mandated", "accepted"): 3,
        ("mandated", "queued"): 7,  # kept for tomorrow, not expired: the slot goes on
        ("custom", "waiting"): 10,
    }
    window_opens = dt.time.fromisoformat(settings(app).quiet_hours.split("-")[1])
    clock.move_to(clock.at_local(day + dt.timedelta(days=1), window_opens), tick=False)
    with app.app_context():
        assert run_job("sms-dispatch").get("accepted") == 17
        db.session.remove()
    assert _states(app, campaign["id"]) == {
        ("mandated", "accepted"): 10,
        ("custom", "accepted"): 10,
    }
    reopened = clock.at_local(day + dt.timedelta(days=1), window_opens)
    assert all(t < end or t >= reopened for g in ticking for t in g.sent_at)
