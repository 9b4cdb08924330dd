"""What every computed indicator shares: the contract's value types (:class:`Period`,
:class:`Target`, :class:`Figure`, :class:`MetricInfo`), local time in SQL, and who held which
cell on which day (the assignments of a period, clipped).

Local time in SQL, the same on PostgreSQL and SQLite: a timestamp's local seconds are its UTC
epoch seconds plus the zone's offset (one constant for a zone without daylight saving, else a
``CASE`` over the offset changes inside the period, found in Python); the local day number is
``local seconds // 86400`` and a patrol window ``local seconds // 21600`` (the three windows of
:data:`gridserve.services.field.reports.WINDOWS` are the quarters 1, 2, 3 of the local day).
Plain integer arithmetic over the rows, no per-row time-zone lookup: a quarter of 5,000,000
visits is one scan.

Holdings: the assignments (``starts_on`` inclusive, ``ends_on`` exclusive, as
:func:`gridserve.services.field.workers.assigned_worker` reads them) of the area's communities,
clipped to the period and, for a period not yet over, to today (local); spans of one holder
and cell are merged, so a day is never counted twice.
"""

from __future__ import annotations

import calendar
import datetime as dt
import itertools
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    BigInteger,
    Integer,
    case,
    cast,
    func,
    literal,
    or_,
    select,
    true,
    type_coerce,
)
from sqlalchemy.sql.elements import ColumnElement

from gridserve.db import utcnow
from gridserve.extensions import db
from gridserve.models import Area, Assignment
from gridserve.scope import in_area

DAY_S = 86_400
WINDOW_S = 21_600  # six hours: local quarter 1 = 06-12, 2 = 12-18, 3 = 18-24
EPOCH = dt.date(1970, 1, 1)


@dataclass(frozen=True)
class Period:
    """The assessed period: local dates, both inclusive, in the run area's zone."""

    start: dt.date
    end: dt.date
    zone: ZoneInfo

    @property
    def start_utc(self) -> dt.datetime:
        return dt.datetime.combine(self.start, dt.time(), tzinfo=self.zone).astimezone(dt.UTC)

    @property
    def end_utc(self) -> dt.datetime:
        """The first instant after the period (exclusive)."""
        nxt = self.end + dt.timedelta(days=1)
        return dt.datetime.combine(nxt, dt.time(), tzinfo=self.zone).astimezone(dt.UTC)

    def today(self) -> dt.date:
        return utcnow().astimezone(self.zone).date()

    @property
    def last_day(self) -> dt.date:
        """The period's end, or today while it runs (a provisional period)."""
        return min(self.end, self.today())

    @property
    def days(self) -> list[dt.date]:
        """The local days counted: the start to :attr:`last_day`."""
        last = self.last_day
        return [self.start + dt.timedelta(days=i) for i in range((last - self.start).days + 1)]

    @property
    def complete(self) -> bool:
        """The period has ended (its last day is counted whole)."""
        return self.last_day == self.end and self.today() > self.end


@dataclass(frozen=True)
class Target:
    id: int
    name: str
    area_id: int | None


@dataclass(frozen=True)
class Figure:
    numerator: float
    denominator: float
    count: int
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class MetricInfo:
    target_kinds: tuple[str, ...]
    name: str
    name_en: str
    formula: str


# --- local time in SQL ------------------------------------------------------------------------


def dialect() -> str:
    return db.session.get_bind().dialect.name


def offsets(period: Period) -> list[tuple[dt.datetime | None, int]]:
    """The zone's UTC offset (seconds) over the period, a day either side: ``[(from, offset)]``,
    the first ``from`` None. One entry for a zone without changes."""
    t = period.start_utc - dt.timedelta(days=1)
    stop = period.end_utc + dt.timedelta(days=1)
    pieces: list[tuple[dt.datetime | None, int]] = []
    while t <= stop:
        off = int(t.astimezone(period.zone).utcoffset().total_seconds())
        if not pieces:
            pieces.append((None, off))
        elif pieces[-1][1] != off:
            at = t - dt.timedelta(hours=1)  # the change's own minute, within the last hour
            while int(at.astimezone(period.zone).utcoffset().total_seconds()) != off:
                at += dt.timedelta(minutes=1)
            pieces.append((at, off))
        t += dt.timedelta(hours=1)
    return pieces


def offset_of(col: Any, period: Period) -> ColumnElement:
    pieces = offsets(period)
    if len(pieces) == 1:
        return literal(pieces[0][1], BigInteger)
    whens = [(col < start, off) for (_, off), (start, _) in itertools.pairwise(pieces)]
    return case(*whens, else_=pieces[-1][1])


def epoch(col: Any) -> ColumnElement:
    """UTC epoch seconds of a timestamp column (an integer)."""
    if dialect() == "postgresql":
        # date_part is double precision (EXTRACT is numeric since PostgreSQL 14: slower)
        return cast(func.date_part("epoch", col), BigInteger)
    return cast(func.strftime("%s", col), Integer)


def local_seconds(col: Any, period: Period) -> ColumnElement:
    return type_coerce(epoch(col) + offset_of(col, period), BigInteger)


def local_day(col: Any, period: Period) -> ColumnElement:
    """The local day of a timestamp as days since 1970-01-01 (see :func:`day_number`)."""
    return local_seconds(col, period) // DAY_S


def day_number(col: Any) -> ColumnElement:
    """A date column as days since 1970-01-01."""
    if dialect() == "postgresql":
        return type_coerce(col - literal(EPOCH), Integer)
    return cast(func.julianday(col) - 2440587.5, Integer)


def number_of(day: dt.date) -> int:
    return (day - EPOCH).days


def local_text(col: Any, period: Period) -> ColumnElement:
    """A timestamp as local ``YYYY-MM-DD HH:MM`` text (for the records' lists)."""
    if dialect() == "postgresql":
        return func.to_char(func.timezone(period.zone.key, col), "YYYY-MM-DD HH24:MI")
    modifier = cast(offset_of(col, period), db.String) + literal(" seconds")
    return func.strftime("%Y-%m-%d %H:%M", col, modifier)


def in_period(col: Any, period: Period) -> ColumnElement:
    return (col >= period.start_utc) & (col < period.end_utc)


# --- holdings -----------------------------------------------------------------------------


@dataclass
class Span:
    worker_id: int
    community_id: int
    cell_code: str
    first: dt.date
    last: dt.date  # inclusive

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    def cell_months(self) -> float:
        """Days held in each calendar month ÷ that month's days, summed (a whole month = 1)."""
        total, day = 0.0, self.first
        while day <= self.last:
            month_days = calendar.monthrange(day.year, day.month)[1]
            month_end = day.replace(day=month_days)
            until = min(month_end, self.last)
            total += ((until - day).days + 1) / month_days
            day = until + dt.timedelta(days=1)
        return total


def assignments_in(area: Area | None, period: Period, *where: Any) -> Any:
    """The area's assignments that overlap the period (to its last day so far)."""
    first, last = period.start, period.last_day
    return select(Assignment).where(
        in_area(Assignment.community_id, area) if area is not None else true(),
        *where,
        Assignment.starts_on <= last,
        or_(Assignment.ends_on.is_(None), Assignment.ends_on > first),
        or_(Assignment.ends_on.is_(None), Assignment.ends_on > Assignment.starts_on),
    )


def holdings(area: Area | None, period: Period, *where: Any) -> list[Span]:
    """Who held which cell from when to when in the period, clipped and merged."""
    first, last = period.start, period.last_day
    if last < first:
        return []
    q = assignments_in(area, period, *where).with_only_columns(
        Assignment.worker_id, Assignment.community_id, Assignment.cell_code,
        Assignment.starts_on, Assignment.ends_on,
    )  # fmt: skip
    raw: dict[tuple[int, int, str], list[tuple[dt.date, dt.date]]] = defaultdict(list)
    for r in db.session.execute(q):
        lo = max(r.starts_on, first)
        hi = min(r.ends_on - dt.timedelta(days=1) if r.ends_on else last, last)
        if hi >= lo:
            raw[(r.worker_id, r.community_id, r.cell_code)].append((lo, hi))
    spans = []
    for (worker, community, code), parts in raw.items():
        parts.sort()
        cur_lo, cur_hi = parts[0]
        for lo, hi in parts[1:]:
            if lo <= cur_hi + dt.timedelta(days=1):
                cur_hi = max(cur_hi, hi)
            else:
                spans.append(Span(worker, community, code, cur_lo, cur_hi))
                cur_lo, cur_hi = lo, hi
        spans.append(Span(worker, community, code, cur_lo, cur_hi))
    return spans


def last_cells(spans: list[Span]) -> dict[int, list[str]]:
    """Per worker, the cells held on the last day they held any in the period."""
    last: dict[int, dt.date] = {}
    for s in spans:
        if s.worker_id not in last or s.last > last[s.worker_id]:
            last[s.worker_id] = s.last
    cells: dict[int, set[str]] = defaultdict(set)
    for s in spans:
        if s.first <= last[s.worker_id] <= s.last:
            cells[s.worker_id].add(s.cell_code)
    return {w: sorted(c) for w, c in cells.items()}


def community_of(spans: list[Span]) -> dict[int, int]:
    """Per worker, the community of the cell they held last."""
    best: dict[int, Span] = {}
    for s in spans:
        if s.worker_id not in best or (s.last, s.first) > (
            best[s.worker_id].last,
            best[s.worker_id].first,
        ):
            best[s.worker_id] = s
    return {w: s.community_id for w, s in best.items()}


def empty(targets: list[Any], details: dict[str, Any]) -> dict[int, Figure]:
    return {t.id: Figure(0, 0, 0, dict(details)) for t in targets}
