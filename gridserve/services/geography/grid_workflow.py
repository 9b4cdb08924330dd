"""A grid plan's workflow: draft → proposed → approved → active, and putting a layout in force on
its day (now, or by the ``grid-activation`` job), with the cells' lineage and the workers'
assignments carried over."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
from sqlalchemy import bindparam, func, select, update

from geo.assign import assign_points
from geo.errors import GeometryError
from geo.lineage import trace
from geo.projection import to_metric
from gridserve import audit
from gridserve.db import utcnow
from gridserve.errors import AppError, Conflict, ValidationFailed
from gridserve.extensions import db
from gridserve.models import Area, GridCell, GridPlan, Place
from gridserve.scope import Principal
from gridserve.services.geography.grid import APPROVERS, PROPOSERS, _codes, get_plan, ground
from gridserve.services.geography.places import current_cells
from gridserve.spatial import to_shapely

# --- workflow ------------------------------------------------------------------------------


def _move(plan: GridPlan, source: str, target: str, **values: Any) -> GridPlan:
    """Change status with a conditional UPDATE: only one of two racing requests wins."""
    result = db.session.execute(
        update(GridPlan)
        .where(GridPlan.id == plan.id, GridPlan.status == source)
        .values(status=target, version=GridPlan.version + 1, updated_at=utcnow(), **values)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        db.session.refresh(plan)
        raise Conflict(
            f"Plan {plan.id} is {plan.status}, not {source}.",
            code="invalid_transition",
            details={"status": plan.status, "expected": source, "target": target},
        )
    db.session.refresh(plan)
    audit.record(f"grid_plan_{target}", "grid_plans", plan.id, {"from": source})
    return plan


def propose(principal: Principal, plan_id: int, note: str | None = None) -> GridPlan:
    principal.require(*PROPOSERS)
    plan = get_plan(principal, plan_id)
    return _move(
        plan, "draft", "proposed", proposed_by=principal.user_id or None,
        proposed_at=utcnow(), note=note,
    )  # fmt: skip


def send_back(principal: Principal, plan_id: int, note: str | None = None) -> GridPlan:
    principal.require(*APPROVERS)
    plan = get_plan(principal, plan_id)
    return _move(plan, "proposed", "draft", note=note)


def approve(principal: Principal, plan_id: int, note: str | None = None) -> GridPlan:
    principal.require(*APPROVERS)
    plan = get_plan(principal, plan_id)
    return _move(
        plan, "proposed", "approved", approved_by=principal.user_id or None,
        approved_at=utcnow(), note=note,
    )  # fmt: skip


def activate(
    principal: Principal, plan_id: int, effective_from: dt.date | None, today: dt.date
) -> GridPlan:
    """Put an approved plan in force from a date: today (now) or later (by the scheduler)."""
    principal.require(*APPROVERS)
    plan = get_plan(principal, plan_id)
    if plan.status != "approved":
        raise Conflict(
            f"Plan {plan.id} is {plan.status}; only an approved plan can be activated.",
            code="invalid_transition",
            details={"status": plan.status, "expected": "approved", "target": "active"},
        )
    day = effective_from or today
    if day < today:
        raise ValidationFailed(
            "A layout cannot take effect in the past: history would change.",
            details={"fields": {"effective_from": ["Today or later."]}},
        )
    plan.effective_from = day
    db.session.flush()
    if day <= today:
        _put_in_force(plan, day)
    return plan


def activate_due(today: dt.date) -> list[int]:
    """Scheduler job: put in force every approved plan whose day has come (idempotent).

    A plan whose day passed while the scheduler was down takes effect today, not
    on the missed day: history is never rewritten. Each plan has its own
    savepoint, so one that fails does not hold back the others.
    """
    due = db.session.execute(
        select(GridPlan)
        .where(GridPlan.status == "approved", GridPlan.effective_from <= today)
        .order_by(GridPlan.effective_from, GridPlan.id)
    ).scalars()
    done = []
    for plan in list(due):
        day = max(plan.effective_from or today, today)
        try:
            with db.session.begin_nested():
                plan.effective_from = day
                _put_in_force(plan, day)
        except (AppError, GeometryError) as exc:
            audit.record("grid_plan_activation_failed", "grid_plans", plan.id, {"error": str(exc)})
            continue
        done.append(plan.id)
    return done


def _put_in_force(plan: GridPlan, day: dt.date) -> None:
    area = db.session.get(Area, plan.area_id)
    g = ground(area, plan.params.get("weights"))
    community_ids = [c.id for c in g.communities]
    old = current_cells(community_ids, day)
    old_geoms = [to_metric(to_shapely(c.geom), g.crs) for c in old]
    old_codes = [c.code for c in old]
    index = {c.id: i for i, c in enumerate(g.communities)}
    new_cells = [(index[c.community_id], to_metric(to_shapely(c.geom), g.crs)) for c in plan.cells]

    # Codes against what is in force now (the layout may have changed since the draft).
    codes = _codes(g, new_cells, day)
    for cell, (_code, seq) in zip(plan.cells, codes, strict=True):
        cell.code, cell.seq = f"~{cell.id}", seq  # free the codes first (unique per plan)
    db.session.flush()
    for cell, (code, _seq) in zip(plan.cells, codes, strict=True):
        cell.code = code
        cell.valid_from = day

    # End what it replaces; retire plans with nothing left in force.
    if old:
        db.session.execute(
            update(GridCell)
            .where(GridCell.id.in_([c.id for c in old]), GridCell.valid_to.is_(None))
            .values(valid_to=day)
            .execution_options(synchronize_session=False)
        )
        for c in old:
            db.session.expire(c)
    replaced = {c.plan_id for c in old}
    for plan_id in replaced:
        open_cells = db.session.execute(
            select(func.count())
            .select_from(GridCell)
            .where(GridCell.plan_id == plan_id, GridCell.valid_to.is_(None))
        ).scalar_one()
        if open_cells == 0:
            db.session.execute(
                update(GridPlan)
                .where(GridPlan.id == plan_id, GridPlan.status == "active")
                .values(status="retired", retired_at=utcnow())
                .execution_options(synchronize_session=False)
            )
    previous = db.session.execute(
        select(GridPlan).where(GridPlan.area_id == plan.area_id, GridPlan.status == "active")
    ).scalar_one_or_none()
    if previous is not None and previous.id != plan.id:
        # Same area: its cells are all replaced by this one, so it is retired.
        db.session.execute(
            update(GridPlan)
            .where(GridPlan.id == previous.id)
            .values(status="retired", retired_at=utcnow())
            .execution_options(synchronize_session=False)
        )
    db.session.flush()
    _move(plan, "approved", "active", activated_at=utcnow())

    # Re-assign the places and report what changed.
    lineage = trace(old_geoms, [c for _, c in new_cells])
    geoms_wgs = [to_shapely(c.geom) for c in plan.cells]
    places = db.session.execute(
        select(Place.id, Place.external_id, Place.cell_id, func.ST_X(Place.geom),
               func.ST_Y(Place.geom)).where(Place.area_id.in_(community_ids))
    ).all()  # fmt: skip
    changed = []
    if places:
        lon = np.array([p[3] for p in places])
        lat = np.array([p[4] for p in places])
        idx = assign_points(lon, lat, geoms_wgs)
        ids = [c.id for c in plan.cells]
        code_of = {c.id: c.code for c in old} | {c.id: c.code for c in plan.cells}
        updates = []
        for p, k in zip(places, idx.tolist(), strict=True):
            target = ids[k] if k >= 0 else None
            if target != p[2]:
                updates.append({"pid": p[0], "cid": target})
            if code_of.get(target) != code_of.get(
                p[2]
            ):  # a new cell row keeping its code is no move
                changed.append(
                    {
                        "place_id": p[0],
                        "external_id": p[1],
                        "from": code_of.get(p[2]),
                        "to": code_of.get(target),
                    }
                )
        stmt = (
            update(Place.__table__)
            .where(Place.__table__.c.id == bindparam("pid"))
            .values(cell_id=bindparam("cid"))
        )
        for start in range(0, len(updates), 1000):
            db.session.execute(stmt, updates[start : start + 1000])
    new_codes = [c.code for c in plan.cells]
    plan.change_report = {
        "effective_from": day.isoformat(),
        "replaced_plans": sorted(replaced),
        "unchanged": sorted(new_codes[j] for j in lineage.unchanged),
        "moved": sorted(new_codes[j] for j in lineage.moved),
        "split": {old_codes[o]: [new_codes[j] for j in js] for o, js in lineage.split.items()},
        "merged": {new_codes[j]: [old_codes[o] for o in os] for j, os in lineage.merged.items()},
        "added": sorted(set(new_codes) - set(old_codes)),
        "removed": sorted(set(old_codes) - set(new_codes)),
        "places_changed": len(changed),
        "places": changed,
    }
    db.session.flush()
