"""Kill the scheduler (SIGKILL) in the middle of a slot, start it again: at the loopback gateway
every recipient has each message exactly once, mandated first."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from gridserve.db import utcnow
from gridserve.extensions import db
from gridserve.models import SmsMessage
from tests.api.sms.campaign_now import MANDATED, make_campaign, numbers
from tests.processes import child_env
from tests.sms.peers import HttpPeer

ROOT = Path(__file__).resolve().parents[2]
RECIPIENTS = 600


def _scheduler(app, log: Path) -> subprocess.Popen:
    env = child_env(
        app,
        GRIDSERVE_SMS_CLAIM_LEASE="2",
        GRIDSERVE_SMS_BATCH_SIZE="50",
        # the test's clock (time-machine does not reach a child process): it starts there
        GRIDSERVE_TEST_CLOCK=utcnow().isoformat(),
    )
    return subprocess.Popen(
        [sys.executable, "-m", "gridserve.cli", "scheduler"],
        cwd=ROOT,
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )


def _open_rows(app, campaign_id: int) -> int:
    with app.app_context():
        try:
            return db.session.execute(
                select(func.count()).where(
                    SmsMessage.campaign_id == campaign_id,
                    SmsMessage.status.in_(("waiting", "queued", "submitting")),
                )
            ).scalar_one()
        finally:
            db.session.remove()


def _wait(condition, timeout: float, what: str, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}:\n{log.read_text()[-3000:]}")
        time.sleep(0.05)


@pytest.mark.real_commits
def test_sigkill_mid_slot_then_restart_sends_everything_exactly_once_in_order(sms_demo, tmp_path):
    app, client, headers = sms_demo
    peer = HttpPeer(delay_ms=3)
    peer.start()
    log = tmp_path / "scheduler.log"
    first = second = None
    try:
        phones = numbers(RECIPIENTS)
        campaign = make_campaign(
            app,
            client,
            headers["coordinator"],
            phones=phones,
            channel={
                "gateway": "http",
                "settings": {"url": f"http://127.0.0.1:{peer.port}/send"},
                "signature": "工商银行",
                "rate_per_second": 0,
            },
        )
        first = _scheduler(app, log)
        _wait(lambda: len(peer.messages) >= RECIPIENTS // 2, 60, "the first sends", log)
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        at_kill = len(peer.messages)
        assert 0 < at_kill < 2 * RECIPIENTS, "killed mid-slot"
        second = _scheduler(app, log)
        _wait(lambda: _open_rows(app, campaign["id"]) == 0, 120, "the slot to finish", log)
    finally:
        for proc in (first, second):
            if proc and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(15)
                except subprocess.TimeoutExpired:
                    proc.kill()
        peer.stop()

    got = [(m["to"], m["body"]) for m in peer.messages]
    assert len(got) == 2 * RECIPIENTS, "each recipient gets both texts"
    assert len(set(got)) == len(got), "nothing twice"
    by_phone: dict[str, list[str]] = {}
    for to, body in got:
        by_phone.setdefault(to, []).append(body)
    assert set(by_phone) == set(phones)
    assert all(bodies[0].endswith(MANDATED) and len(bodies) == 2 for bodies in by_phone.values())
    replays = len(peer.requests) - len(peer.messages)
    assert replays <= 50, "only the batch in flight at the kill is offered again"
    with app.app_context():
        states = db.session.execute(
            select(SmsMessage.status, func.count())
            .where(SmsMessage.campaign_id == campaign["id"])
            .group_by(SmsMessage.status)
        ).all()
        db.session.remove()
    assert dict(states) == {"accepted": 2 * RECIPIENTS}
