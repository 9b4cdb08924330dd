"""SMS dispatch fixtures: a window open now, fast retries, a short claim lease."""

from __future__ import annotations

import pytest

from tests.sms.campaign_now import quiet_outside, window_around_now


@pytest.fixture
def sms_app(clean_app, monkeypatch, tmp_path):
    """The app with quiet hours outside a window around now, and outbox files in tmp_path."""
    window = window_around_now(clean_app.config["GRIDSERVE_TIMEZONE"])
    monkeypatch.setitem(clean_app.config, "GRIDSERVE_QUIET_HOURS", quiet_outside(window))
    monkeypatch.setitem(clean_app.config, "GRIDSERVE_SMS_OUTBOX_PATH", str(tmp_path))
    monkeypatch.setitem(clean_app.config, "GRIDSERVE_SMS_RETRY_BASE", 0)
    monkeypatch.setitem(clean_app.config, "GRIDSERVE_SMS_CLAIM_LEASE", 60)
    return clean_app
