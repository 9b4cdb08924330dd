"""Reports over field work: daily patrol coverage (定时和错时巡逻)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select

from gridserve.extensions import db
from gridserve.models import Area, Visit
from gridserve.scope import Principal, get_visible, within_area
from gridserve.services.field.workers import MANAGERS, assigned_worker
from gridserve.services.geography.places import current_cells
from gridserve.timeutil import zone

# Local-time windows a patrol can cover; fixed and staggered patrols should hit all three.
WINDOWS = (("morning", 6, 12), ("afternoon", 12, 18), ("evening", 18, 24))
# Who reads the patrol report: the station and above (not workers, not outreach roles).
READERS = MANAGERS


def patrol_coverage(principal: Principal, area_id: int, day: dt.date) -> dict[str, Any]:
    """Per cell in force that day: patrolled or not, how often, when, which windows."""
    area = get_visible(Area, area_id, principal)
    communities = list(
        db.session.execute(
            select(Area.id).where(within_area(area), Area.level == "community")
        ).scalars()
    )
    cells = current_cells(communities, day)
    tz = zone()
    start = dt.datetime.combine(day, dt.time(), tzinfo=tz)
    rows = db.session.execute(
        select(Visit.cell_code, Visit.started_at).where(
            Visit.kind == "patrol",
            Visit.community_id.in_(communities),
            Visit.started_at >= start,
            Visit.started_at < start + dt.timedelta(days=1),
        )
    ).all()
    by_cell: dict[str, list[dt.datetime]] = {}
    for code, started in rows:
        if code is not None:
            by_cell.setdefault(code, []).append(started.astimezone(tz))
    report = []
    for cell in cells:
        times = sorted(by_cell.get(cell.code, []))
        worker = assigned_worker(cell.code, day)
        report.append(
            {
                "cell_id": cell.id,
                "code": cell.code,
                "worker": {"id": worker.id, "full_name": worker.full_name} if worker else None,
                "patrolled": bool(times),
                "patrols": len(times),
                "first": times[0] if times else None,
                "last": times[-1] if times else None,
                "windows": {
                    name: any(lo <= t.hour < hi for t in times) for name, lo, hi in WINDOWS
                },
            }
        )
    return {
        "date": day,
        "area": {"id": area.id, "code": area.code},
        "cells": report,
        "unpatrolled": [r["code"] for r in report if not r["patrolled"]],
        "patrolled_share": round(sum(r["patrolled"] for r in report) / len(report), 4)
        if report
        else None,
    }
