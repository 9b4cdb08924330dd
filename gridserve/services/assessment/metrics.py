"""STUB of the metrics contract (issue 15, /work/notes/COMMON15.md), so the engine imports.

The metrics helper owns this module; the lead takes their version at merge. Only the shapes
of the contract are here: every function raises NotImplementedError and ``METRICS`` is empty.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select

from gridserve.models import Area


@dataclass(frozen=True)
class Period:
    start: dt.date  # local, inclusive
    end: dt.date  # local, inclusive
    zone: ZoneInfo  # the run area's zone

    @property
    def start_utc(self) -> dt.datetime:
        return dt.datetime.combine(self.start, dt.time(), tzinfo=self.zone).astimezone(dt.UTC)

    @property
    def end_utc(self) -> dt.datetime:
        following = self.end + dt.timedelta(days=1)
        return dt.datetime.combine(following, dt.time(), tzinfo=self.zone).astimezone(dt.UTC)


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
    details: dict[str, Any]


@dataclass(frozen=True)
class MetricInfo:
    target_kinds: tuple[str, ...]
    name: str
    name_en: str
    formula: str


METRICS: dict[str, MetricInfo] = {}


def targets(target_kind: str, area: Area, period: Period) -> list[Target]:
    raise NotImplementedError


def compute(
    metric: str,
    target_kind: str,
    targets: list[Target],
    area: Area,
    period: Period,
    params: dict[str, Any],
) -> dict[int, Figure]:
    raise NotImplementedError


def records(metric: str, target_kind: str, target_id: int, period: Period) -> Select:
    raise NotImplementedError
