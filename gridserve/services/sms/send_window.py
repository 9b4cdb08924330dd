"""When a slot may send: the campaign's daily window, clipped by the quiet hours.

A slot sends only inside the campaign's daily window (clipped by the quiet hours), on its days,
before its end. This is checked when a pass lists the open slots and again with ``utcnow()``
just before each gateway call: a batch claimed just before the window's end stops there, and its
unsent rows go back to ``queued`` (never submitted, so exactly-once holds) for the slot's next
day or, once the slot is over, for the close job to expire.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from gridserve.config import settings
from gridserve.models import (
    SmsCampaign,
)
from gridserve.services.sms import campaigns as sms_service
from gridserve.sms import rotation


def _tz() -> Any:
    from zoneinfo import ZoneInfo

    return ZoneInfo(settings().timezone)


@dataclass(frozen=True)
class SendWindow:
    """When a slot may send: inside the campaign's window (clipped by the quiet hours), on one
    of the slot's days, before the slot ends. Checked when the slot is listed and again just
    before each gateway call, so a batch claimed near the window's end stops at the end."""

    window: tuple[dt.time, dt.time]
    quiet: tuple[dt.time, dt.time]
    days: tuple[dt.date, ...]
    slot_end: dt.datetime
    zone: Any

    def open_at(self, now: dt.datetime) -> bool:
        local = now.astimezone(self.zone)
        if now >= self.slot_end or (self.days and local.date() not in self.days):
            return False
        start, end = self.window
        return start <= local.time() < end and not rotation.is_quiet(local.time(), self.quiet)


def send_window(
    campaign: SmsCampaign, slot_days: tuple[dt.date, ...], slot_end: dt.datetime
) -> SendWindow:
    quiet = sms_service.quiet_hours()
    window = rotation.effective_window(
        (sms_service._hhmm(campaign.window_start), sms_service._hhmm(campaign.window_end)), quiet
    )
    return SendWindow(window, quiet, tuple(slot_days), slot_end, _tz())


@dataclass(frozen=True)
class QuietWindow:
    """When a text outside a campaign may go out: any time outside the quiet hours (no slot,
    no campaign window). Checked like :class:`SendWindow`: when due texts are listed and again
    just before each gateway call."""

    quiet: tuple[dt.time, dt.time]
    zone: Any

    def open_at(self, now: dt.datetime) -> bool:
        return not rotation.is_quiet(now.astimezone(self.zone).time(), self.quiet)


def quiet_window() -> QuietWindow:
    return QuietWindow(sms_service.quiet_hours(), _tz())
