"""A stand-in for the metrics module (the engine's tests score known figures), and helpers.

The real :mod:`gridserve.services.assessment.metrics` is written apart, to the contract in
the issue's notes; these tests put this stand-in in its place (``monkeypatch``) so what the
engine does with figures is checked on figures worked out by hand.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import literal, select

from gridserve.extensions import db
from gridserve.models import Area
from gridserve.scope import area_contains
from gridserve.services.assessment import metrics
from tests import clock

WORKER_METRICS = (
    "patrol_coverage",
    "visits",
    "register_completeness",
    "cases_on_time",
    "cases_escalated",
    "cases_verified",
    "satisfaction",
    "flagged_uploads",
)
INSTITUTION_METRICS = ("events_held", "reports_on_time", "enterprises_visited", "decisions_on_time")
METRICS = {
    **{
        code: metrics.MetricInfo(
            ("worker", "station"), code, code, f"{code}: numerator ÷ denominator"
        )
        for code in WORKER_METRICS
    },
    **{
        code: metrics.MetricInfo(("institution",), code, code, f"{code}: own ÷ listed")
        for code in INSTITUTION_METRICS
    },
}


@dataclass
class FakeMetrics:
    """Targets by kind and figures by metric and target id; every ``compute`` call kept."""

    targets: dict[str, list[metrics.Target]] = field(default_factory=dict)
    figures: dict[str, dict[int, metrics.Figure]] = field(default_factory=dict)
    calls: list[tuple[str, str, int]] = field(default_factory=list)

    def install(self, monkeypatch) -> FakeMetrics:
        monkeypatch.setattr(metrics, "METRICS", METRICS)
        monkeypatch.setattr(metrics, "targets", self._targets)
        monkeypatch.setattr(metrics, "compute", self._compute)
        monkeypatch.setattr(metrics, "records", self._records)
        return self

    def _targets(self, target_kind: str, area: Area, period: metrics.Period):
        found, inside = [], {}
        for target in self.targets.get(target_kind, []):
            if target.area_id is None:
                found.append(target)
                continue
            if target.area_id not in inside:
                where = db.session.get(Area, target.area_id)
                inside[target.area_id] = area_contains(area, where)
            if inside[target.area_id]:
                found.append(target)
        return found

    def _compute(self, metric, target_kind, targets, area, period, params):
        self.calls.append((metric, target_kind, len(targets)))
        known = self.figures.get(metric, {})
        return {t.id: known[t.id] for t in targets if t.id in known}

    def _records(self, metric, target_kind, target_id, period):
        return select(
            Area.id.label("id"), literal("area").label("kind"), Area.code.label("description")
        ).order_by(Area.id)


def fig(numerator: float, denominator: float, count: int | None = None, **details: Any):
    return metrics.Figure(
        float(numerator),
        float(denominator),
        int(denominator if count is None else count),
        details,
    )


def travel(day: dt.date, hour: int = 10) -> None:
    """Move the clock to ``day`` at ``hour`` local time."""
    clock.move_to(clock.at_local(day, dt.time(hour)))


WORKER_TEMPLATE = {
    "code": "t_worker",
    "name": "网格员考核(测试)",
    "target_kind": "worker",
    "assessor_role": "station",
    "deductions": [{"code": "complaint", "name": "群众有效投诉", "points": 1}],
    "disqualify_after": 3,
    "indicators": [
        {
            "code": "coverage",
            "name": "巡查覆盖",
            "weight": 40,
            "source": "computed",
            "metric": "patrol_coverage",
            "scoring": "share",
            "min_count": 10,
        },
        {
            "code": "visits",
            "name": "走访",
            "weight": 30,
            "source": "computed",
            "metric": "visits",
            "scoring": "target",
            "target": 10,
            "min_count": 1,
        },
        {"code": "spot_check", "name": "站点抽查", "weight": 30, "source": "entered", "scale": 100},
    ],
}

BANK_TEMPLATE = {
    "code": "t_bank",
    "name": "网点竞赛(测试)",
    "target_kind": "institution",
    "assessor_role": "coordinator",
    "deductions": [
        {"code": "serious_complaint", "name": "客户重大有责投诉", "points": 1},
        {"code": "negative_media", "name": "负面报道", "points": 1},
    ],
    "disqualify_after": 3,
    "indicators": [
        {
            "code": "events",
            "name": "宣传活动",
            "weight": 50,
            "source": "computed",
            "metric": "events_held",
            "scoring": "relative",
            "factor": 0.8,
            "cap": 1.2,
        },
        {
            "code": "mystery_shopper",
            "name": "神秘人检查",
            "weight": 50,
            "source": "entered",
            "scale": 100,
            "cap": 1.2,
        },
    ],
}


def start_run(client, headers, template: str, period: str, area_id: int, **extra) -> dict:
    """POST a run (202) and return the run as GET shows it once its job ran (inline)."""
    resp = client.post(
        "/api/v1/assessments/runs",
        json={"template": template, "period": period, "area_id": area_id, **extra},
        headers=headers,
    )
    assert resp.status_code == 202, resp.get_json()
    run_id = resp.get_json()["params"]["run_id"]
    got = client.get(f"/api/v1/assessments/runs/{run_id}", headers=headers)
    assert got.status_code == 200, got.get_json()
    return got.get_json()


def cards_by_name(client, headers, run_id: int) -> dict[str, dict]:
    resp = client.get(f"/api/v1/assessments/runs/{run_id}/scorecards", headers=headers)
    assert resp.status_code == 200, resp.get_json()
    return {c["target_name"]: c for c in resp.get_json()}


def card(client, headers, card_id: int) -> dict:
    resp = client.get(f"/api/v1/assessments/scorecards/{card_id}", headers=headers)
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()


def enter(client, headers, card_id: int, code: str, value: float, version: int, note="抽查记录"):
    return client.put(
        f"/api/v1/assessments/scorecards/{card_id}/indicators/{code}",
        json={"value": value, "evidence": {"note": note}, "version": version},
        headers=headers,
    )
