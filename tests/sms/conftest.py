"""SMS dispatch fixtures: a window open now, fast retries, a short claim lease."""

from __future__ import annotations

import pytest

from gridserve.config import settings
from tests.sms.campaign_now import quiet_outside, window_around_now


@pytest.fixture
def sms_app(clean_app, override_settings, tmp_path):
    """The app with quiet hours outside a window around now, and outbox files in tmp_path."""
    window = window_around_now(settings(clean_app).timezone)
    override_settings(
        quiet_hours=quiet_outside(window),
        sms_outbox_path=tmp_path,
        sms_retry_base_seconds=0,
        sms_claim_lease_seconds=60,
    )
    return clean_app
