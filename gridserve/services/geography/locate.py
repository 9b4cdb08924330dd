"""Where is this point: the area chain and the cell in force on a day."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select

from gridserve.errors import NotFound
from gridserve.extensions import db
from gridserve.models import GridCell
from gridserve.scope import Principal
from gridserve.services.field.workers import assigned_worker
from gridserve.services.geography.areas import ancestors, community_at
from gridserve.spatial import intersects, point


def locate(principal: Principal, lon: float, lat: float, on: dt.date) -> dict[str, Any]:
    """The district, street, community and cell containing (lon, lat) on ``on``.

    Limited to the caller's scope: a point outside it is as unknown as a point
    outside every area (404 ``outside_coverage``).
    """
    here = point(lon, lat)
    community = community_at(lon, lat, principal)
    if community is None:
        raise NotFound(
            "The point is outside every area you can see.",
            code="outside_coverage",
            details={"lon": lon, "lat": lat},
        )
    chain = {a.level: {"id": a.id, "code": a.code, "name": a.name} for a in ancestors(community)}
    cell = db.session.execute(
        select(GridCell)
        .where(
            GridCell.community_id == community.id,
            GridCell.in_force_on(on),
            intersects(GridCell.geom, here),
        )
        .order_by(GridCell.id)
        .limit(1)
    ).scalar_one_or_none()
    worker = assigned_worker(cell.code, on) if cell is not None else None
    return {
        "lon": lon,
        "lat": lat,
        "date": on,
        "district": chain.get("district"),
        "street": chain.get("street"),
        "community": chain.get("community"),
        "cell": (
            {"id": cell.id, "code": cell.code, "plan_id": cell.plan_id}
            if cell is not None
            else None
        ),
        "worker": {"id": worker.id, "full_name": worker.full_name} if worker else None,
    }
