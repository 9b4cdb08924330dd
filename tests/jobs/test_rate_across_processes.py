"""Three dispatcher processes on one PostgreSQL, one campaign on one channel limited to 20
segments per second: at the loopback gateway, no second holds more than the rate plus its
one-second burst, so the rate does not multiply with the processes (PostgreSQL only: SQLite
runs one scheduler and keeps its buckets in the process)."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

from gridserve.db import utcnow
from gridserve.extensions import db
from gridserve.models import SmsMessage
from gridserve.services.sms.dispatch import segments
from tests.api.sms.campaign_now import make_campaign, numbers
from tests.processes import child_env
from tests.sms.peers import HttpPeer

ROOT = Path(__file__).resolve().parents[2]
RATE = 20  # segments per second, the channel's
PROCESSES = 3
RECIPIENTS = 50  # a one-segment mandated text and a two-segment custom one each: 150 segments
BUDGET = 30.0  # seconds a dispatcher may run; the campaign needs (150 - 20) / 20 = 6.5
# 80 Chinese characters: UCS-2, two segments once signed.
LONG = "工行小微贷款线上申请快速到账，" * 5 + "欢迎到网点咨询。"


def _dispatcher(app, log: Path) -> subprocess.Popen:
    env = child_env(app)
    return subprocess.Popen(
        [sys.executable, "-m", "tests.sms.dispatcher", str(BUDGET)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=log.open("ab"),
        stdin=subprocess.PIPE,
        text=True,
    )


@pytest.mark.real_commits
def test_three_dispatchers_share_one_channel_rate_in_segments(sms_demo, tmp_path):
    app, client, headers = sms_demo
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        pytest.skip("one scheduler on SQLite: its buckets live in the process")
    peer = HttpPeer()
    peer.start()
    procs: list[subprocess.Popen] = []
    channel = {
        "gateway": "http",
        "settings": {"url": f"http://127.0.0.1:{peer.port}/send"},
        "signature": "工商银行",
        "rate_per_second": RATE,
    }
    try:
        campaign = make_campaign(
            app, client, headers["coordinator"], phones=numbers(RECIPIENTS), channel=channel,
            customs=(LONG,),
        )  # fmt: skip
        log = tmp_path / "dispatchers.log"
        procs = [_dispatcher(app, log) for _ in range(PROCESSES)]
        for proc in procs:
            assert proc.stdout.readline().strip() == "READY"
        for proc in procs:  # all at once: each runs one pass, until nothing is left to send
            # the test's clock (time-machine does not reach a child process): it starts there
            proc.stdin.write(f"{utcnow().isoformat()}\n")
            proc.stdin.flush()
        reports = []
        for proc in procs:
            try:
                out, _ = proc.communicate(timeout=2 * BUDGET)
            except subprocess.TimeoutExpired:
                raise AssertionError(f"a dispatcher hangs:\n{log.read_text()[-3000:]}") from None
            assert out.strip(), f"a dispatcher failed:\n{log.read_text()[-3000:]}"
            reports.append(json.loads(out.strip().splitlines()[-1]))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
        peer.stop()

    with app.app_context():
        accepted = db.session.execute(
            select(func.count()).where(
                SmsMessage.campaign_id == campaign["id"], SmsMessage.status == "accepted"
            )
        ).scalar_one()
        db.session.remove()
    assert accepted == 2 * RECIPIENTS, reports
    assert sum(1 for r in reports if r.get("accepted")) >= 2, f"processes side by side: {reports}"

    sends = sorted((dt.datetime.fromisoformat(m["at"]), segments(m["body"])) for m in peer.messages)
    assert len(sends) == 2 * RECIPIENTS and sum(n for _, n in sends) == 3 * RECIPIENTS
    # Every window of one second (starting at each send): at most the rate plus the burst, and
    # one text (two segments) for the network: a send's time is when the peer got it.
    worst = 0
    for i, (start, _) in enumerate(sends):
        end = start + dt.timedelta(seconds=1)
        worst = max(worst, sum(n for at, n in sends[i:] if at < end))
    assert worst <= 2 * RATE + 2, f"{worst} segments in one second"
    # And over the whole run: the rate, plus the first burst, not three times the rate.
    span = (sends[-1][0] - sends[0][0]).total_seconds()
    assert 3 * RECIPIENTS <= RATE * span + RATE + 2, f"{3 * RECIPIENTS} segments in {span:.2f} s"
