"""Local dates: the database keeps UTC; days are counted in the deployment's time zone."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from gridserve.config import settings
from gridserve.db import utcnow


def zone() -> ZoneInfo:
    return ZoneInfo(settings().timezone)


def local_today() -> dt.date:
    """Today's date where the areas are (Asia/Shanghai by default)."""
    return utcnow().astimezone(zone()).date()
