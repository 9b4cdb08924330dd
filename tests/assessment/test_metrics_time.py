"""Local time in the metrics' SQL: a zone's offset changes inside a period, the local day and
text of an instant on both backends, cell-months pro rata by the month's days."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from sqlalchemy import literal, select

from gridserve.db import UTCDateTime
from gridserve.extensions import db
from gridserve.services.assessment.metrics_base import (
    Period,
    Span,
    local_day,
    local_text,
    number_of,
    offsets,
)

BERLIN = ZoneInfo("Europe/Berlin")
SPRING = Period(dt.date(2025, 3, 1), dt.date(2025, 4, 30), BERLIN)


def test_a_zone_without_changes_has_one_offset() -> None:
    p = Period(dt.date(2025, 1, 1), dt.date(2025, 12, 31), ZoneInfo("Asia/Shanghai"))
    assert offsets(p) == [(None, 8 * 3600)]


def test_the_offset_changes_at_the_instant_summer_time_starts() -> None:
    # 30 March 2025, 02:00 CET = 01:00 UTC.
    assert offsets(SPRING) == [
        (None, 3600),
        (dt.datetime(2025, 3, 30, 1, 0, tzinfo=dt.UTC), 7200),
    ]


def test_local_day_and_text_follow_the_offset_in_sql(ctx) -> None:
    def local(instant: dt.datetime) -> tuple[int, str]:
        value = literal(instant, UTCDateTime)
        row = db.session.execute(select(local_day(value, SPRING), local_text(value, SPRING))).one()
        return row[0], row[1]

    # 22:30 UTC on 30 March is 00:30 on the 31st in summer time (23:30 in winter).
    assert local(dt.datetime(2025, 3, 30, 22, 30, tzinfo=dt.UTC)) == (
        number_of(dt.date(2025, 3, 31)), "2025-03-31 00:30"
    )  # fmt: skip
    assert local(dt.datetime(2025, 3, 29, 22, 30, tzinfo=dt.UTC)) == (
        number_of(dt.date(2025, 3, 29)), "2025-03-29 23:30"
    )  # fmt: skip


def test_cell_months_are_days_over_the_days_of_their_month() -> None:
    whole_feb = Span(1, 1, "X", dt.date(2025, 2, 1), dt.date(2025, 2, 28))
    assert whole_feb.cell_months() == 1
    # 17–31 January (15/31) and 1–14 February (14/28)
    across = Span(1, 1, "X", dt.date(2025, 1, 17), dt.date(2025, 2, 14))
    assert across.cell_months() == 15 / 31 + 14 / 28
