"""The SME visits demo's invented credit codes and its dates relative to the seeding day (the
seeded programme itself is checked in ``test_seed_demo.py``, with the full demo)."""

from __future__ import annotations

import datetime as dt

import pytest
from stdnum.cn import uscc

from seeds.visits import credit_code, dates


def test_invented_credit_codes_are_valid_and_distinct() -> None:
    codes = [credit_code(n) for n in range(1, 301)]
    assert all(uscc.is_valid(c) for c in codes)
    assert len(set(codes)) == 300
    assert all(c[2:10] == "510199DM" for c in codes)  # the invented region and organisation part


@pytest.mark.parametrize(
    ("today", "list_due"),
    [
        (dt.date(2026, 11, 30), dt.date(2026, 9, 30)),
        (dt.date(2026, 4, 30), dt.date(2026, 2, 28)),  # no 30 February
        (dt.date(2028, 4, 30), dt.date(2028, 2, 29)),
        (dt.date(2027, 1, 15), dt.date(2026, 11, 15)),  # across the new year
        (dt.date(2027, 12, 31), dt.date(2027, 10, 31)),
    ],
)
def test_the_programme_dates_follow_the_seeding_day(today: dt.date, list_due: dt.date) -> None:
    d = dates(today)
    assert d["list_due_on"] == d["visits_from"] == list_due
    assert d["visits_to"] == today + dt.timedelta(days=30)
    assert d["summary_due_on"] == today + dt.timedelta(days=21)
    assert d["start_date"] <= d["list_due_on"] and d["end_date"] >= d["visits_to"]
