"""Build, through the API, a small campaign whose first slot is open now.

Tests must not depend on the hour they run at, so the send window is set around the current
local time and the deployment's quiet hours to the rest of the day.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from flask import Flask
from flask.testing import FlaskClient

from gridserve import audit
from gridserve.config import settings
from gridserve.db import transaction, utcnow
from gridserve.extensions import db
from jobs.registry import run_job
from seeds.loader import load_demo
from tests import clock
from tests.conftest import DEMO_PASSWORD, TEST_ACTOR, login

LAST_WINDOW_START = dt.time(23, 54)  # later, a window holding now would last under 5 minutes
MANDATED = "服务实体经济,助力小微企业,实现银企共赢发展。"
CUSTOM = "工行小微贷款,线上申请,快速到账。"


def window_around_now(timezone: str) -> tuple[str, str]:
    """A send window holding now and the next hour or so (clipped to the day).

    A window never spans midnight, so in the last minutes of the day (no room left for a window
    holding now) it is the first two hours of the next day: :func:`make_campaign` then creates
    the campaign before midnight for the next day and moves the clock to the window's start,
    as a deployment would wait for it.
    """
    now = utcnow().astimezone(ZoneInfo(timezone))
    if now.time() >= LAST_WINDOW_START:
        return "00:00", "02:00"
    start = max(now - dt.timedelta(hours=1), now.replace(hour=0, minute=0))
    end = min(now + dt.timedelta(hours=2), now.replace(hour=23, minute=59))
    return start.strftime("%H:%M"), end.strftime("%H:%M")


def window_start(app: Flask) -> dt.datetime:
    """When the test window next holds the clock: now if open, else its next start (UTC)."""
    zone = ZoneInfo(settings(app).timezone)
    start, end = (dt.time.fromisoformat(t) for t in quiet_hours_of(app).split("-")[::-1])
    now = utcnow().astimezone(zone)
    day = now.date() if now.time() < end else now.date() + dt.timedelta(days=1)
    return max(now, dt.datetime.combine(day, start, tzinfo=zone)).astimezone(dt.UTC)


def quiet_outside(window: tuple[str, str]) -> str:
    """Quiet hours for the rest of the day (the app's ``GRIDSERVE_QUIET_HOURS``)."""
    return f"{window[1]}-{window[0]}"


def quiet_hours_of(app: Flask) -> str:
    return settings(app).quiet_hours


def load(app: Flask) -> tuple[FlaskClient, dict[str, dict[str, str]]]:
    with app.app_context(), audit.acting_as(TEST_ACTOR), transaction():
        load_demo(password=DEMO_PASSWORD, register=False)
    client = app.test_client()
    headers = {u: login(client, u, DEMO_PASSWORD) for u in ("coordinator", "bank1", "bank2")}
    return client, headers


def numbers(count: int, start: int = 0) -> list[str]:
    return [f"+86139{n:08d}" for n in range(start, start + count)]


def make_campaign(
    app: Flask,
    client: FlaskClient,
    coordinator: dict[str, str],
    *,
    phones: list[str],
    channel: dict | None = None,
    code: str = "NOW-1",
    sender: str = "ICBC",
    customs: tuple[str, ...] = (CUSTOM,),
    unsubscribe_suffix: str | None = None,
    dates: tuple[dt.date, dt.date] | None = None,
    extra: dict | None = None,
) -> dict:
    """Channel, campaign, approved texts and recipients for one sender whose slot is open.

    ``dates`` (first and last day) and ``extra`` (more campaign fields) make other campaigns;
    then the clock is left where it is.
    """
    window = tuple(quiet_hours_of(app).split("-")[::-1])
    opens = window_start(app)
    today = opens.astimezone(ZoneInfo(settings(app).timezone)).date()
    put = client.put(
        f"/api/v1/sms/channels/{sender}",
        json=channel
        or {
            "gateway": "file",
            "settings": {"path": f"out/{code}.jsonl"},
            "signature": "工商银行",
            "rate_per_second": 0,
        },
        headers=coordinator,
    )
    assert put.status_code == 200, put.get_json()
    areas = client.get("/api/v1/areas", headers=coordinator).get_json()
    district = next(a for a in areas if a["code"] == "XQ")
    resp = client.post(
        "/api/v1/sms/campaigns",
        json={
            "code": code,
            "name": "测试活动",
            "area_id": district["id"],
            "start_date": (dates[0] if dates else today).isoformat(),
            "end_date": (dates[1] if dates else today).isoformat(),
            "senders": [sender],
            "window_start": window[0],
            "window_end": window[1],
            "leading_group": "宣传月领导小组",
            "mandated_text": MANDATED,
            "unsubscribe_suffix": unsubscribe_suffix,
            **(extra or {}),
        },
        headers=coordinator,
    )
    assert resp.status_code == 201, resp.get_json()
    campaign = resp.get_json()
    texts = client.get(f"/api/v1/sms/campaigns/{campaign['id']}/texts", headers=coordinator)
    mandated = next(t for t in texts.get_json() if t["kind"] == "mandated")
    ok = client.post(f"/api/v1/sms/texts/{mandated['id']}/approve", json={}, headers=coordinator)
    assert ok.status_code == 200, ok.get_json()
    for body in customs:
        made = client.post(
            f"/api/v1/sms/campaigns/{campaign['id']}/texts",
            json={"body": body, "kind": "custom", "sender": sender},
            headers=coordinator,
        ).get_json()
        client.post(f"/api/v1/sms/texts/{made['id']}/submit", headers=coordinator)
        done = client.post(f"/api/v1/sms/texts/{made['id']}/approve", json={}, headers=coordinator)
        assert done.status_code == 200, done.get_json()
    csv = "phone,name\n" + "".join(f"{p},客户{i}\n" for i, p in enumerate(phones))
    imported = client.post(
        f"/api/v1/sms/campaigns/{campaign['id']}/senders/{sender}/recipients",
        data=csv.encode(),
        content_type="text/csv",
        headers=coordinator,
    )
    assert imported.status_code == 200, imported.get_json()
    if (
        dates is None and utcnow() < opens
    ):  # made just before midnight for the next day: wait for the window
        clock.move_to(opens)
    return campaign


def dispatch(app: Flask) -> dict:
    """One pass of the SMS dispatcher, as the scheduler runs it (its own session)."""
    with app.app_context():
        try:
            return run_job("sms-dispatch")
        finally:
            db.session.remove()
