"""Where to put the publicity sites: the maximal covering location problem on the register.

Candidates are the register places of an area whose type is one of ``candidate_types``;
demand is the area's household places (one each). The choice is :func:`geo.siting.solve`,
shown beside the plain "top-k by own catchment" baseline under the same separation rule so
the planner sees why. Only counts leave this module, never a household's id.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import shapely
from sqlalchemy import func, select

from geo import siting
from geo.errors import GeometryError
from geo.projection import crs_for, local_crs, to_metric
from gridserve.errors import ValidationFailed
from gridserve.extensions import db
from gridserve.models import PLACE_TYPES, Area, Place
from gridserve.scope import Principal, get_visible, in_area
from gridserve.spatial import refuse, to_shapely

# Who may ask: planners of the area. Institution contacts may not: they do not read the place
# register (the candidates are named register places), and the coordinator sets the venues.
ROLES = ("coordinator", "district_centre", "street_centre", "station")
DEFAULT_TYPES = ("market", "square", "school", "compound", "courtyard")
CANDIDATE_TYPES = tuple(t for t in PLACE_TYPES if t != "household")
MAX_RADIUS_M = 5000.0
MAX_SEPARATION_M = 20000.0
# Candidate-household pairs tested at most in one answer (memory ~16 bytes each): a street
# at the largest radius is below it (the demo street: 291 x 29,864 = 8.7 million).
MAX_PAIRS = 12_000_000


@dataclass(frozen=True)
class Site:
    place_id: int
    name: str
    type: str
    lon: float
    lat: float
    catchment: int  # households within the radius of this site alone
    adds: int  # households it adds to the sites listed before it
    covered: int  # households covered by it and the sites before it


@dataclass(frozen=True)
class Plan:
    sites: list[Site]
    covered: int
    share: float  # of the area's households


@dataclass(frozen=True)
class Suggestion:
    area_id: int
    count: int
    radius_m: float
    min_separation_m: float
    candidate_types: list[str]
    candidates: int
    households: int
    reachable: int  # households within the radius of at least one candidate
    sites: list[Site]
    covered: int
    share: float
    short_by: int  # sites fewer than asked (the separation rule left no room)
    baseline: Plan
    gain_over_baseline: int = field(default=0)


@dataclass(frozen=True)
class Ground:
    """An area's candidates (by place id) and households, projected to metres."""

    area: Area
    ids: np.ndarray
    names: list[str]
    types: list[str]
    lon: np.ndarray
    lat: np.ndarray
    candidates_xy: np.ndarray
    households_xy: np.ndarray


def _points(rows) -> tuple[np.ndarray, np.ndarray]:
    lon = np.array([r[-2] for r in rows], dtype=float)
    lat = np.array([r[-1] for r in rows], dtype=float)
    return lon, lat


def load_ground(
    principal: Principal,
    area_id: int,
    candidate_types: list[str] | tuple[str, ...] = DEFAULT_TYPES,
    exclude: list[int] | tuple[int, ...] = (),
) -> Ground:
    """The candidates and households of ``area_id`` (404 if out of ``principal``'s scope)."""
    area = get_visible(Area, area_id, principal)
    where = in_area(Place.area_id, area)
    x, y = func.ST_X(Place.geom), func.ST_Y(Place.geom)
    query = select(Place.id, Place.name, Place.type, x, y).where(
        where, Place.type.in_(sorted(set(candidate_types)))
    )
    if exclude:
        query = query.where(Place.id.not_in(sorted(set(exclude))))
    cand = db.session.execute(query.order_by(Place.id)).all()
    homes = db.session.execute(select(x, y).where(where, Place.type == "household")).all()
    c_lon, c_lat = _points(cand)
    h_lon, h_lat = _points(homes)
    try:
        if area.geom is not None:
            crs = crs_for(to_shapely(area.geom))
        elif homes or cand:
            lons = np.concatenate([c_lon, h_lon])
            lats = np.concatenate([c_lat, h_lat])
            crs = local_crs(float(lons.mean()), float(lats.mean()))
        else:
            crs = None
        cxy = _project(c_lon, c_lat, crs)
        hxy = _project(h_lon, h_lat, crs)
    except GeometryError as exc:
        raise refuse(exc) from exc
    return Ground(
        area=area,
        ids=np.array([r[0] for r in cand], dtype=np.int64),
        names=[r[1] or "" for r in cand],
        types=[r[2] for r in cand],
        lon=c_lon,
        lat=c_lat,
        candidates_xy=cxy,
        households_xy=hxy,
    )


def _project(lon: np.ndarray, lat: np.ndarray, crs) -> np.ndarray:
    if lon.size == 0:
        return np.empty((0, 2))
    pts = to_metric(shapely.MultiPoint(np.column_stack([lon, lat])), crs)
    return shapely.get_coordinates(pts)


def _sites(ground: Ground, inst: siting.Instance, listed: list[tuple[int, int, int]]):
    return [
        Site(
            place_id=int(ground.ids[i]),
            name=ground.names[i],
            type=ground.types[i],
            lon=round(float(ground.lon[i]), 7),
            lat=round(float(ground.lat[i]), 7),
            catchment=int(inst.catchment[i]),
            adds=adds,
            covered=total,
        )
        for i, adds, total in listed
    ]


def _in_order(inst: siting.Instance, chosen: list[int]) -> list[tuple[int, int, int]]:
    """The baseline's sites in the order it took them, each with what it adds."""
    seen = np.zeros(inst.classes, dtype=bool)
    out, total = [], 0
    for i in chosen:
        members = inst.members(i)
        adds = int(inst.weight[members[~seen[members]]].sum())
        seen[members] = True
        total += adds
        out.append((i, adds, total))
    return out


def _share(covered: int, households: int) -> float:
    return round(covered / households, 4) if households else 0.0


def suggest(
    principal: Principal,
    area_id: int,
    count: int,
    radius_m: float,
    candidate_types: list[str] | None = None,
    min_separation_m: float = 0.0,
    exclude: list[int] | None = None,
) -> Suggestion:
    """``count`` sites among the area's candidates covering as many households as possible
    within ``radius_m``, no two closer than ``min_separation_m``; with the baseline beside.

    422 ``not_enough_candidates`` when ``count`` exceeds the candidates left (after
    ``exclude``), ``suggestion_too_large`` beyond :data:`MAX_PAIRS`; the field ranges are
    the API schema's.
    """
    principal.require(*ROLES)
    types = list(dict.fromkeys(candidate_types or DEFAULT_TYPES))
    unknown = [t for t in types if t not in CANDIDATE_TYPES]
    if unknown:
        raise ValidationFailed(
            f"Not a place type a site can be: {', '.join(unknown)}.",
            code="unknown_candidate_type",
            details={"unknown": unknown, "allowed": list(CANDIDATE_TYPES)},
        )
    if not (0 < radius_m <= MAX_RADIUS_M):
        raise ValidationFailed(
            f"radius_m must be above 0 and at most {MAX_RADIUS_M:g}.",
            details={"fields": {"radius_m": ["Out of range."]}},
        )
    ground = load_ground(principal, area_id, types, exclude or ())
    m = int(ground.ids.size)
    if count < 1 or count > m:
        raise ValidationFailed(
            f"Asked for {count} sites, but the area has {m} candidate places of the types "
            f"{', '.join(types)}" + (" (after the exclusions)." if exclude else "."),
            code="not_enough_candidates" if count >= 1 else "validation_error",
            details={"count": count, "candidates": m, "candidate_types": types},
        )
    try:
        inst = siting.build(
            ground.candidates_xy,
            ground.households_xy,
            radius_m,
            min_separation_m,
            max_pairs=MAX_PAIRS,
        )
    except siting.TooLarge as exc:
        raise ValidationFailed(
            f"{m} candidates and {ground.households_xy.shape[0]} households within "
            f"{radius_m:g} m make {exc.pairs:,} pairs to measure, more than the {exc.limit:,} "
            "one answer measures: ask about a smaller area or radius.",
            code="suggestion_too_large",
            details={"pairs": exc.pairs, "limit": exc.limit},
        ) from exc
    chosen = siting.solve(inst, count)
    ours = siting.ordered(inst, chosen)
    base = _in_order(inst, siting.baseline(inst, count))
    households = int(ground.households_xy.shape[0])
    covered = ours[-1][2] if ours else 0
    base_covered = base[-1][2] if base else 0
    return Suggestion(
        area_id=ground.area.id,
        count=count,
        radius_m=radius_m,
        min_separation_m=min_separation_m,
        candidate_types=types,
        candidates=m,
        households=households,
        reachable=inst.reachable,
        sites=_sites(ground, inst, ours),
        covered=covered,
        share=_share(covered, households),
        short_by=count - len(ours),
        baseline=Plan(_sites(ground, inst, base), base_covered, _share(base_covered, households)),
        gain_over_baseline=covered - base_covered,
    )
