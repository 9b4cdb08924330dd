"""SMS dispatch on PostGIS: throughput through the outbox, and how late a slot starts.

``python -m bench.sms_dispatch [--recipients 10000] [--rate 0] [--no-slot-start]``

1. Throughput: one sender, ``--recipients`` numbers, a mandated and a custom text each (so
   twice as many messages), rate limits off (or, with ``--rate N``, the channel's rate and the
   platform cap both N segments per second: set far above what is reached, this measures what
   the shared token bucket costs), sent by one dispatch pass through the outbox
   (slot opening, claims with ``FOR UPDATE SKIP LOCKED``, the order rule, opt-out checks,
   outcomes written back) to the HTTP gateway, against a loopback HTTP SMS server in its own
   process. Anchor: a bare loop calling the same gateway adapter for the same number of
   messages in the same run. Targets: ≥ 1,000 messages/s and ≥ 50 % of the bare loop.
2. Slot start: a second sender's slot starts at the next whole minute; the real
   ``gridserve scheduler`` process runs, and we read when the slot opened and when its first
   message was accepted, against the slot's start. Target: ≤ 2 s late.

Works on a scratch database (``GRIDSERVE_BENCH_DATABASE_URL``, default ``gridserve_bench_sms``
on the local server), dropped and created afresh.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from zoneinfo import ZoneInfo

from flask_migrate import upgrade
from sqlalchemy import select

from bench.common import fresh_database
from gridserve import audit
from gridserve.app import create_app
from gridserve.config import load_settings
from gridserve.crypto import generate_key
from gridserve.db import transaction
from gridserve.extensions import db
from gridserve.models import Area, SmsSlotRun, SmsText
from gridserve.scope import OPERATOR
from gridserve.services.sms import campaigns as sms_service
from gridserve.services.sms import dispatch as sms_dispatch
from gridserve.services.sms import recipients as sms_recipients
from gridserve.sms.gateways import OutboundMessage, build_gateway
from seeds.loader import load_demo

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/gridserve_bench_sms"
ROOT = Path(__file__).resolve().parent.parent
TZ = "Asia/Shanghai"


def _peer() -> tuple[subprocess.Popen, int]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.sms.peers", "http", "--port", "0"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    line = proc.stdout.readline().split()
    return proc, int(line[1])


def _window(start: dt.datetime, hours: int = 2) -> tuple[str, str, str]:
    """A window from ``start`` (local), and quiet hours covering the rest of the day."""
    end = min(start + dt.timedelta(hours=hours), start.replace(hour=23, minute=59))
    window = (start.strftime("%H:%M"), end.strftime("%H:%M"))
    return window[0], window[1], f"{window[1]}-{window[0]}"


def _campaign(
    code: str,
    sender: str,
    url: str,
    window: tuple[str, str],
    phones: list[str],
    rate: float = 0,
):
    """Channel, campaign, approved texts and recipients (through the services)."""
    today = dt.datetime.now(ZoneInfo(TZ)).date()
    sms_service.put_channel(
        OPERATOR,
        sender,
        {
            "gateway": "http",
            "settings": {"url": url, "timeout": 5},
            "signature": sender,
            "rate_per_second": rate,
        },
    )
    district = db.session.execute(select(Area).where(Area.code == "XQ")).scalar_one()
    campaign = sms_service.create_campaign(
        OPERATOR,
        {
            "code": code,
            "name": code,
            "area_id": district.id,
            "start_date": today,
            "end_date": today,
            "senders": [sender],
            "window_start": window[0],
            "window_end": window[1],
            "leading_group": "宣传月领导小组",
            "mandated_text": "服务实体经济,助力小微企业,实现银企共赢发展。",
        },
    )
    mandated = db.session.execute(
        select(SmsText.id).where(SmsText.campaign_id == campaign.id, SmsText.sender_id.is_(None))
    ).scalar_one()
    sms_service.review(OPERATOR, mandated, True, None)
    custom = sms_service.create_text(
        OPERATOR, campaign.id, "小微贷款,线上申请,快速到账。", "custom", sender
    )
    sms_service.submit(OPERATOR, custom.id)
    sms_service.review(OPERATOR, custom.id, True, None)
    csv = "phone\n" + "\n".join(phones) + "\n"
    sms_recipients.import_csv(OPERATOR, campaign.id, sender, csv)
    return campaign.id


def throughput(app, recipients: int, url: str, rate: float = 0) -> None:
    now = dt.datetime.now(ZoneInfo(TZ))
    start = max(now - dt.timedelta(minutes=30), now.replace(hour=0, minute=0))
    w0, w1, quiet = _window(start, hours=3)
    app.config["GRIDSERVE_QUIET_HOURS"] = quiet
    phones = [f"+86139{n:08d}" for n in range(recipients)]
    with app.app_context(), audit.acting_as(audit.Actor(kind="cli", name="bench")):
        with transaction():
            _campaign("BENCH-THROUGHPUT", "ICBC", url, (w0, w1), phones, rate)
        messages = 2 * recipients

        gateway = build_gateway("http", {"url": url}, {}, Path(tempfile.gettempdir()))
        t0 = time.perf_counter()
        for i in range(messages):
            gateway.submit(
                OutboundMessage(
                    key=f"bare-{i}",
                    to=phones[i % recipients],
                    body="【ICBC】小微贷款,线上申请,快速到账。",
                    sender="ICBC",
                )
            )
        bare = time.perf_counter() - t0
        gateway.close()

        t0 = time.perf_counter()
        report = sms_dispatch.dispatch_pass(budget_seconds=600)
        ours = time.perf_counter() - t0
        db.session.remove()
    sent = report.get("accepted", 0)
    rates = f"rates {rate:g} segments/s (channel and platform)" if rate else "rates off"
    print(f"messages: {messages} ({recipients} recipients × mandated + custom), {rates}")
    print(f"bare loop, same gateway:  {messages / bare:8.0f} msg/s  ({bare:.2f} s)")
    print(
        f"through the outbox:       {sent / ours:8.0f} msg/s  ({ours:.2f} s, "
        f"{sent} accepted) = {100 * (sent / ours) / (messages / bare):.0f} % of the bare loop"
    )
    if sent != messages:
        print(f"!! expected {messages} accepted, got {report}")


def slot_start(app, url: str, settings_env: dict[str, str]) -> None:
    now = dt.datetime.now(ZoneInfo(TZ))
    start = (now + dt.timedelta(minutes=1)).replace(second=0, microsecond=0)
    if now.second > 50:  # leave the scheduler time to start before the slot does
        start += dt.timedelta(minutes=1)
    w0, w1, quiet = _window(start)
    app.config["GRIDSERVE_QUIET_HOURS"] = quiet
    with app.app_context(), audit.acting_as(audit.Actor(kind="cli", name="bench")):
        with transaction():
            campaign_id = _campaign(
                "BENCH-SLOT", "ABC", url, (w0, w1), [f"+86138{n:08d}" for n in range(100)]
            )
        db.session.remove()
    env = dict(os.environ, **settings_env, GRIDSERVE_QUIET_HOURS=quiet)
    proc = subprocess.Popen(
        [sys.executable, "-m", "gridserve.cli", "scheduler"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 200
        run = None
        while time.monotonic() < deadline:
            with app.app_context():
                run = db.session.execute(
                    select(SmsSlotRun).where(SmsSlotRun.campaign_id == campaign_id)
                ).scalar_one_or_none()
                db.session.remove()
            if run is not None and run.first_accepted_at is not None:
                break
            time.sleep(0.2)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    if run is None or run.first_accepted_at is None:
        print("!! the slot did not open")
        return
    opened = (run.opened_at - run.slot_start).total_seconds()
    first = (run.first_accepted_at - run.slot_start).total_seconds()
    print(f"slot start {start.isoformat()}: opened {opened:+.2f} s, first accepted {first:+.2f} s")


def run(recipients: int = 10_000, with_slot_start: bool = True, rate: float = 0) -> None:
    url = os.environ.get("GRIDSERVE_BENCH_DATABASE_URL", DEFAULT_URL)
    fresh_database(url)
    env = {
        "GRIDSERVE_ENV": "testing",
        "GRIDSERVE_DATABASE_URL": url,
        "GRIDSERVE_INSTANCE_PATH": "/tmp/gridserve-bench-instance",
        "GRIDSERVE_SMS_PLATFORM_RATE": str(rate),
        # One key for this process and the scheduler it starts (numbers are stored encrypted).
        "GRIDSERVE_DATA_KEYS": generate_key(),
    }
    app = create_app(load_settings(env))
    with app.app_context():
        upgrade()
        with audit.acting_as(audit.Actor(kind="cli", name="bench")), transaction():
            load_demo(password="bench-pass-123", register=False)
        db.session.remove()
    peer, port = _peer()
    try:
        throughput(app, recipients, f"http://127.0.0.1:{port}/send", rate)
        if with_slot_start:
            slot_start(app, f"http://127.0.0.1:{port}/send", env)
    finally:
        peer.send_signal(signal.SIGTERM)
        peer.wait(10)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--recipients", type=int, default=10_000)
    parser.add_argument(
        "--rate",
        type=float,
        default=0,
        help="channel rate and platform cap, segments per second (0: off)",
    )
    parser.add_argument("--no-slot-start", action="store_true")
    args = parser.parse_args(argv)
    run(args.recipients, not args.no_slot_start, args.rate)


if __name__ == "__main__":
    main()
