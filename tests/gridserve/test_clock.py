"""The one clock (``gridserve.db.utcnow``), the test clock setting, quiet hours leaving no time."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gridserve import db as db_module
from gridserve.config import ConfigError, load_settings
from tests import clock

ROOT = Path(__file__).resolve().parents[2]


def test_time_machine_moves_the_one_clock():
    clock.move_to(dt.datetime(2027, 2, 6, 23, 59, 30, tzinfo=clock.zone()), tick=False)
    assert db_module.utcnow() == dt.datetime(2027, 2, 6, 15, 59, 30, tzinfo=dt.UTC)
    clock.shift(dt.timedelta(seconds=45))
    assert db_module.utcnow().astimezone(clock.zone()).date() == dt.date(2027, 2, 7)


def test_the_test_clock_setting_is_refused_outside_testing(tmp_path):
    base = {
        "GRIDSERVE_INSTANCE_PATH": str(tmp_path),
        "GRIDSERVE_TEST_CLOCK": "2027-01-01T00:00:00+08:00",
    }
    for env in ("development", "production"):
        with pytest.raises(ConfigError, match="only when GRIDSERVE_ENV=testing"):
            load_settings(base | {"GRIDSERVE_ENV": env, "GRIDSERVE_SECRET_KEY": "k" * 40})
    testing = base | {"GRIDSERVE_ENV": "testing"}
    with pytest.raises(ConfigError, match="UTC offset"):
        load_settings(testing | {"GRIDSERVE_TEST_CLOCK": "2027-01-01T00:00:00"})
    with pytest.raises(ConfigError, match="ISO instant"):
        load_settings(testing | {"GRIDSERVE_TEST_CLOCK": "tomorrow"})
    with pytest.raises(ConfigError, match="positive"):
        load_settings(testing | {"GRIDSERVE_TEST_CLOCK_RATE": "0"})
    settings = load_settings(testing | {"GRIDSERVE_TEST_CLOCK_RATE": "60"})
    assert settings.test_clock == dt.datetime(2026, 12, 31, 16, tzinfo=dt.UTC)
    assert settings.test_clock_rate == 60


def test_a_started_process_runs_on_the_instant_it_is_given(tmp_path):
    code = (
        "from gridserve.app import create_app; from gridserve.db import utcnow; "
        "import time; app = create_app(); a = utcnow(); time.sleep(0.2); b = utcnow(); "
        "print(a.isoformat()); print((b - a).total_seconds())"
    )
    env = dict(
        os.environ,
        GRIDSERVE_ENV="testing",
        GRIDSERVE_INSTANCE_PATH=str(tmp_path),
        GRIDSERVE_DATABASE_URL=f"sqlite:///{tmp_path / 'x.db'}",
        GRIDSERVE_TEST_CLOCK="2027-02-06T23:59:30+08:00",
        GRIDSERVE_TEST_CLOCK_RATE="10",
    )
    began = time.monotonic()
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    ).stdout.split()
    real = time.monotonic() - began  # however slow the machine is, the process ran within this
    start = dt.datetime(2027, 2, 6, 15, 59, 30, tzinfo=dt.UTC)
    first = dt.datetime.fromisoformat(out[0])
    assert start <= first <= start + dt.timedelta(seconds=10 * real), "starts at the instant"
    assert 1.9 <= float(out[1]) <= 10 * real, "ten times as fast as the real clock"


def test_quiet_hours_that_leave_no_time_are_refused_at_start_up(tmp_path):
    base = {"GRIDSERVE_INSTANCE_PATH": str(tmp_path)}
    for value in ("08:00-08:00", "00:00-00:00", "21:30-21:30"):
        with pytest.raises(ConfigError, match=r"GRIDSERVE_QUIET_HOURS .* leaves no time"):
            load_settings(base | {"GRIDSERVE_QUIET_HOURS": value})
    ok = load_settings(base | {"GRIDSERVE_QUIET_HOURS": "23:00-07:00"})
    assert ok.quiet_hours == "23:00-07:00"
