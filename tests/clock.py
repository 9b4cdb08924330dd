"""The test clock: time-machine moves ``gridserve.db.utcnow`` (and every ``datetime.now``).

``make test`` runs the time-sensitive modules again at fixed local times around midnight:
``GRIDSERVE_TEST_LOCAL_TIME=23:59:30`` (or ``pytest --local-time 23:59:30``) makes every test
start at today's date at that local time (``GRIDSERVE_TIMEZONE``, default Asia/Shanghai),
ticking on from there, so a test that takes a minute straddles midnight.

Tests move the clock with :func:`move_to` and :func:`shift`; the autouse fixture in
``tests/conftest.py`` undoes every travel at the end of the test.
"""

from __future__ import annotations

import datetime as dt
import os
from zoneinfo import ZoneInfo

import time_machine

_travels: list[time_machine.travel] = []
_travellers: list[time_machine.Traveller] = []


def zone() -> ZoneInfo:
    return ZoneInfo(os.environ.get("GRIDSERVE_TIMEZONE") or "Asia/Shanghai")


def local_now() -> dt.datetime:
    from gridserve.db import utcnow

    return utcnow().astimezone(zone())


def at_local(day: dt.date, clock: dt.time) -> dt.datetime:
    """``day`` at ``clock`` in the deployment's zone, as an aware UTC instant."""
    return dt.datetime.combine(day, clock, tzinfo=zone()).astimezone(dt.UTC)


def move_to(instant: dt.datetime, tick: bool = True) -> None:
    """Travel to ``instant`` (aware) for the rest of the test; the clock ticks on by default.

    The destination is given in UTC so time-machine leaves the process's ``TZ`` alone: code
    that wrongly relies on the machine's zone still shows up.
    """
    instant = instant.astimezone(dt.UTC)
    if _travellers:
        _travellers[-1].move_to(instant, tick=tick)
        return
    travel = time_machine.travel(instant, tick=tick)
    _travellers.append(travel.start())
    _travels.append(travel)


def shift(delta: dt.timedelta) -> None:
    """Move the clock by ``delta`` (starts travelling from now if not yet)."""
    from gridserve.db import utcnow

    if not _travellers:
        move_to(utcnow())
    _travellers[-1].shift(delta)


def reset() -> None:
    """Back to the real clock (the autouse fixture calls this after each test)."""
    while _travels:
        _travels.pop().stop()
    _travellers.clear()


def start_of_test(local_time: str | None) -> dt.datetime | None:
    """Where a test starts: today's date at ``local_time`` (HH:MM[:SS]) local, if one is set."""
    if not local_time:
        return None
    today = dt.datetime.now(zone()).date()
    instant = at_local(today, dt.time.fromisoformat(local_time))
    move_to(instant)
    return instant
