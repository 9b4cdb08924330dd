"""Grid layouts through the API: generate, measure, edit, approve, activate, locate, history."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from sqlalchemy import func, select

from gridserve import audit
from gridserve.db import transaction
from gridserve.extensions import db
from gridserve.models import GridCell, GridPlan, Place
from gridserve.scope import OPERATOR
from gridserve.services.geography import grid_workflow
from gridserve.services.geography import places as place_service
from tests.conftest import TEST_ACTOR


def local_today() -> dt.date:
    """The service's today (Asia/Shanghai), computed without an app context."""
    from zoneinfo import ZoneInfo

    return dt.datetime.now(ZoneInfo("Asia/Shanghai")).date()


HOUSEHOLDS = 900


@pytest.fixture
def populated(clean_app, world):
    """900 households (denser in the west) and 40 enterprises in street S1."""
    rng = np.random.default_rng(7)
    lon = np.concatenate([rng.uniform(104.0, 104.05, 600), rng.uniform(104.05, 104.1, 300)])
    lat = rng.uniform(30.4, 30.5, HOUSEHOLDS)
    rows = [
        place_service.Row(i + 1, {"external_id": f"HH-{i}", "type": "household", "name": "",
                                  "lon": x, "lat": y, "extra": {}})
        for i, (x, y) in enumerate(zip(lon, lat, strict=True))
    ] + [
        place_service.Row(HOUSEHOLDS + i + 1, {"external_id": f"EN-{i}", "type": "enterprise",
                                               "lon": 104.001 + i * 0.0024, "lat": 30.45,
                                               "extra": {}})
        for i in range(40)
    ]  # fmt: skip
    with clean_app.app_context(), audit.acting_as(TEST_ACTOR), transaction():
        report = place_service.import_places(OPERATOR, world.street, rows, local_today())
    assert report["created"] == HOUSEHOLDS + 40, report["rejected"][:3]
    return world


ROADS = {
    "type": "FeatureCollection",
    "features": [
        {"type": "Feature", "properties": {},
         "geometry": {"type": "LineString", "coordinates": [[x, 30.39], [x, 30.51]]}}
        for x in (104.0125, 104.025, 104.0375, 104.05, 104.0625, 104.075, 104.0875)
    ] + [
        {"type": "Feature", "properties": {},
         "geometry": {"type": "LineString", "coordinates": [[103.99, y], [104.11, y]]}}
        for y in (30.42, 30.44, 30.46, 30.48)
    ],
}  # fmt: skip


def _plan(client, headers, area_id, **body):
    return client.post(f"/api/v1/areas/{area_id}/grid-plans", json=body, headers=headers)


def _exact(metrics):
    assert metrics["gap_area_m2"] <= 1.0, metrics
    assert metrics["overlap_area_m2"] <= 1.0, metrics
    assert metrics["places_unassigned"] == 0, metrics


def test_balanced_layout_has_n_cells_comparable_workload_and_exact_coverage(
    client, auth_as, populated
):
    resp = _plan(client, auth_as("centre"), populated.street, method="balanced", cells=12)
    assert resp.status_code == 201, resp.get_json()
    plan = resp.get_json()
    m = plan["metrics"]
    assert plan["status"] == "draft" and m["cell_count"] == 12 == len(plan["cells"])
    _exact(m)
    assert m["balance_ratio"] <= 1.10
    assert m["workload"]["mean"] == pytest.approx(HOUSEHOLDS / 12)
    assert m["compactness"]["mean"] > 0.3
    # Nested in communities: 600 vs 300 households share 12 cells 8 : 4.
    codes = [c["code"] for c in plan["cells"]]
    assert sum(c.startswith("S1C1-") for c in codes) == 8
    assert sum(c.startswith("S1C2-") for c in codes) == 4


def test_weights_per_place_type_change_the_workload(client, auth_as, populated):
    resp = _plan(
        client, auth_as("centre"), populated.street, method="balanced", cells=6,
        weights={"household": 1, "enterprise": 5},
    )  # fmt: skip
    mean = resp.get_json()["metrics"]["workload"]["mean"]
    assert mean == pytest.approx((900 + 200) / 6, abs=0.001)


@pytest.mark.parametrize("method", ["square", "hex"])
def test_regular_grids_are_clipped_and_exact(client, auth_as, populated, method):
    resp = _plan(client, auth_as("centre"), populated.street, method=method, size_m=2500)
    assert resp.status_code == 201, resp.get_json()
    m = resp.get_json()["metrics"]
    _exact(m)
    assert 15 <= m["cell_count"] <= 40


def test_blocks_follow_the_roads(client, auth_as, populated, clean_app):
    resp = _plan(client, auth_as("centre"), populated.street, method="blocks", cells=8, roads=ROADS)
    assert resp.status_code == 201, resp.get_json()
    m = resp.get_json()["metrics"]
    assert m["cell_count"] == 8
    _exact(m)
    # Every cell border lies on a road or the boundary: no cell cuts a block.
    from shapely.geometry import LineString, box
    from shapely.ops import polygonize, unary_union

    lines = [LineString(f["geometry"]["coordinates"]) for f in ROADS["features"]]
    street = box(104.0, 30.4, 104.1, 30.5)
    blocks = [b for b in polygonize(unary_union([*lines, street.boundary])) if street.contains(b)]
    cells = client.get(
        f"/api/v1/grid-plans/{resp.get_json()['id']}/cells", headers=auth_as("centre")
    ).get_json()["features"]
    from shapely.geometry import shape

    geoms = [shape(f["geometry"]) for f in cells]
    for block in blocks:
        shares = sorted((g.intersection(block).area / block.area for g in geoms), reverse=True)
        assert shares[0] > 0.999, shares[:3]


def test_generation_refuses_what_it_cannot_do(client, auth_as, populated, clean_app):
    headers = auth_as("centre")
    too_many = _plan(client, headers, populated.street, method="balanced", cells=5000)
    assert too_many.status_code == 422
    assert too_many.get_json()["error"]["code"] == "too_many_cells"
    more_than_places = _plan(client, headers, populated.street, method="balanced", cells=1000)
    assert more_than_places.get_json()["error"]["code"] == "too_many_cells"
    no_size = _plan(client, headers, populated.street, method="square")
    assert (
        no_size.status_code == 422 and "size_m" in no_size.get_json()["error"]["details"]["fields"]
    )
    tiny = _plan(client, headers, populated.street, method="square", size_m=10)
    assert tiny.get_json()["error"]["code"] == "too_many_cells"
    no_roads = _plan(client, headers, populated.street, method="blocks", cells=4)
    assert "roads" in no_roads.get_json()["error"]["details"]["fields"]
    point = {"type": "Feature", "geometry": {"type": "Point", "coordinates": [104, 30.4]}}
    bad_roads = _plan(
        client, headers, populated.street, method="blocks", cells=4,
        roads={"type": "FeatureCollection", "features": [point]},
    )  # fmt: skip
    assert bad_roads.get_json()["error"]["code"] == "wrong_geometry_type"
    district = _plan(client, auth_as("admin"), populated.district, method="balanced", cells=2)
    assert district.get_json()["error"]["code"] == "invalid_plan_area"
    with clean_app.app_context():
        assert db.session.execute(select(func.count()).select_from(GridPlan)).scalar_one() == 0


def test_workers_and_stations_cannot_make_layouts(client, auth_as, populated):
    resp = _plan(client, auth_as("station_a"), populated.community_a, method="balanced", cells=2)
    assert resp.status_code == 403


def _draft(client, headers, area_id, cells=6):
    resp = _plan(client, headers, area_id, method="balanced", cells=cells)
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()


def _edit(client, headers, plan_id, **op):
    return client.post(f"/api/v1/grid-plans/{plan_id}/edits", json=op, headers=headers)


def _neighbours(client, headers, plan):
    from shapely.geometry import shape

    feats = client.get(f"/api/v1/grid-plans/{plan['id']}/cells", headers=headers).get_json()
    geoms = {f["properties"]["code"]: shape(f["geometry"]) for f in feats["features"]}
    codes = sorted(geoms)
    for a in codes:
        for b in codes:
            shared = geoms[a].boundary.intersection(geoms[b].boundary).length
            if a < b and a[:4] == b[:4] and shared > 0:
                return a, b, geoms
    raise AssertionError("no neighbours")


def test_merge_split_and_redraw_keep_the_coverage_exact(client, auth_as, populated):
    headers = auth_as("centre")
    plan = _draft(client, headers, populated.street)
    a, b, geoms = _neighbours(client, headers, plan)

    merged = _edit(client, headers, plan["id"], op="merge", cells=[a, b], version=plan["version"])
    assert merged.status_code == 200, merged.get_json()
    body = merged.get_json()
    assert body["metrics"]["cell_count"] == 5 and body["version"] == plan["version"] + 1
    _exact(body["metrics"])

    target = body["cells"][0]["code"]
    split = _edit(client, headers, plan["id"], op="split", cell=target, parts=2)
    assert split.status_code == 200, split.get_json()
    assert split.get_json()["metrics"]["cell_count"] == 6
    _exact(split.get_json()["metrics"])

    plan = split.get_json()
    a, b, geoms = _neighbours(client, headers, plan)
    line = {"type": "LineString", "coordinates": _moved_border(geoms[a], geoms[b])}
    redrawn = _edit(client, headers, plan["id"], op="redraw", cells=[a, b], line=line)
    assert redrawn.status_code == 200, redrawn.get_json()
    _exact(redrawn.get_json()["metrics"])
    assert redrawn.get_json()["metrics"]["cell_count"] == 6


def _moved_border(a, b):
    """A new border: the old one's chord, pushed a little into ``b`` and run past both ends."""
    from shapely.ops import linemerge

    shared = linemerge(a.boundary.intersection(b.boundary))
    (x0, y0), (x1, y1) = shared.coords[0], shared.coords[-1]
    dx, dy = x1 - x0, y1 - y0
    bx, by = b.representative_point().coords[0]
    # Unit normal pointing towards b, 10% of the border's length.
    nx, ny = -dy, dx
    if (bx - x0) * nx + (by - y0) * ny < 0:
        nx, ny = -nx, -ny
    shift = 0.1
    ext = 0.5
    return [
        [x0 - ext * dx + shift * nx, y0 - ext * dy + shift * ny],
        [x1 + ext * dx + shift * nx, y1 + ext * dy + shift * ny],
    ]


def test_bad_edits_are_refused_and_change_nothing(client, auth_as, populated):
    headers = auth_as("centre")
    plan = _draft(client, headers, populated.street)
    codes = [c["code"] for c in plan["cells"]]
    west = [c for c in codes if c.startswith("S1C1")]
    east = [c for c in codes if c.startswith("S1C2")]

    across = _edit(client, headers, plan["id"], op="merge", cells=[west[0], east[0]])
    assert across.get_json()["error"]["code"] == "different_communities"
    unknown = _edit(client, headers, plan["id"], op="split", cell="NOPE-001", parts=2)
    assert unknown.get_json()["error"]["code"] == "unknown_cell"
    away = {"type": "LineString", "coordinates": [[100, 10], [100.1, 10.1]]}
    miss = _edit(client, headers, plan["id"], op="split", cell=west[0], line=away)
    assert miss.get_json()["error"]["code"] == "line_does_not_split"
    stale = _edit(client, headers, plan["id"], op="split", cell=west[0], parts=2, version=99)
    assert stale.status_code == 409 and stale.get_json()["error"]["code"] == "stale_version"
    invalid = _edit(client, headers, plan["id"], op="split", cell=west[0])
    assert invalid.status_code == 422
    after = client.get(f"/api/v1/grid-plans/{plan['id']}", headers=headers).get_json()
    assert [c["code"] for c in after["cells"]] == codes and after["version"] == plan["version"]


def test_an_edit_that_would_break_coverage_is_refused_with_where(
    client, auth_as, populated, monkeypatch
):
    from geo import partition

    headers = auth_as("centre")
    plan = _draft(client, headers, populated.street)
    real = partition.split

    def leaky(cell, xy, weights, n):
        parts = real(cell, xy, weights, n)
        return [parts[0].buffer(-50), *parts[1:]]  # leaves a 50 m moat

    monkeypatch.setattr(partition, "split", leaky)
    resp = _edit(client, headers, plan["id"], op="split", cell=plan["cells"][0]["code"], parts=2)
    assert resp.status_code == 422
    err = resp.get_json()["error"]
    assert err["code"] == "coverage_broken"
    assert err["details"]["gap_area_m2"] > 1000
    lon, lat = err["details"]["gap_location"]
    assert 104.0 <= lon <= 104.1 and 30.4 <= lat <= 30.5


def _flow(client, auth_as, plan_id, effective_from=None):
    assert client.post(f"/api/v1/grid-plans/{plan_id}/propose", json={},
                       headers=auth_as("centre")).status_code == 200  # fmt: skip
    assert client.post(f"/api/v1/grid-plans/{plan_id}/approve", json={"note": "同意"},
                       headers=auth_as("district")).status_code == 200  # fmt: skip
    body = {"effective_from": effective_from.isoformat()} if effective_from else {}
    resp = client.post(
        f"/api/v1/grid-plans/{plan_id}/activate", json=body, headers=auth_as("district")
    )
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()


def test_the_coordinator_drafts_layouts_to_compare_but_only_planners_move_them(
    client, auth_as, populated
):
    plan = _draft(client, auth_as("coordinator"), populated.street)
    path = f"/api/v1/grid-plans/{plan['id']}"
    assert client.get(path, headers=auth_as("coordinator")).status_code == 200
    for step in ("propose", "approve"):
        resp = client.post(f"{path}/{step}", json={}, headers=auth_as("coordinator"))
        assert resp.status_code == 403 and resp.get_json()["error"]["code"] == "forbidden_role"
    edit = _edit(client, auth_as("coordinator"), plan["id"], op="split",
                 cell=plan["cells"][0]["code"], parts=2)  # fmt: skip
    assert edit.status_code == 403
    # the street centre takes the coordinator's draft forward
    assert client.post(f"{path}/propose", json={}, headers=auth_as("centre")).status_code == 200


def test_only_the_right_roles_move_a_plan(client, auth_as, populated):
    plan = _draft(client, auth_as("centre"), populated.street)
    path = f"/api/v1/grid-plans/{plan['id']}"
    assert client.post(f"{path}/propose", json={}, headers=auth_as("station_a")).status_code in (
        403,
        404,
    )
    assert client.post(f"{path}/approve", json={}, headers=auth_as("district")).status_code == 409
    assert client.post(f"{path}/propose", json={}, headers=auth_as("centre")).status_code == 200
    assert client.post(f"{path}/approve", json={}, headers=auth_as("centre")).status_code == 403
    edit = _edit(client, auth_as("centre"), plan["id"], op="split", cell=plan["cells"][0]["code"],
                 parts=2)  # fmt: skip
    assert edit.status_code == 409 and edit.get_json()["error"]["code"] == "plan_not_editable"
    back = client.post(f"{path}/return", json={"note": "再平衡"}, headers=auth_as("district"))
    assert back.get_json()["status"] == "draft" and back.get_json()["note"] == "再平衡"
    past = client.post(f"{path}/propose", json={}, headers=auth_as("centre"))
    assert past.status_code == 200
    client.post(f"{path}/approve", json={}, headers=auth_as("district"))
    yesterday = (local_today() - dt.timedelta(days=1)).isoformat()
    old = client.post(f"{path}/activate", json={"effective_from": yesterday},
                      headers=auth_as("district"))  # fmt: skip
    assert old.status_code == 422


def test_activation_assigns_places_and_locate_finds_the_cell(client, auth_as, populated, clean_app):
    plan = _draft(client, auth_as("centre"), populated.street)
    active = _flow(client, auth_as, plan["id"])
    assert active["status"] == "active"
    report = active["change_report"]
    assert report["places_changed"] == HOUSEHOLDS + 40 and report["removed"] == []
    with clean_app.app_context():
        assert db.session.execute(
            select(func.count()).select_from(Place).where(Place.cell_id.is_(None))
        ).scalar_one() == 0  # fmt: skip

    where = client.get("/api/v1/locate?lon=104.02&lat=30.45", headers=auth_as("centre"))
    assert where.status_code == 200, where.get_json()
    body = where.get_json()
    assert body["district"]["code"] == "D1" and body["street"]["code"] == "S1"
    assert body["community"]["code"] == "S1C1"
    assert body["cell"]["code"].startswith("S1C1-")

    cells = client.get(f"/api/v1/areas/{populated.street}/cells", headers=auth_as("centre"))
    assert cells.mimetype == "application/geo+json"
    feats = cells.get_json()["features"]
    assert len(feats) == 6
    assert {"code", "workload", "worker", "community"} <= set(feats[0]["properties"])
    assert body["cell"]["code"] in {f["properties"]["code"] for f in feats}
    assert sum(f["properties"]["workload"] for f in feats) == pytest.approx(HOUSEHOLDS)

    mine = client.get(f"/api/v1/areas/{populated.community_a}/cells", headers=auth_as("station_a"))
    assert {f["properties"]["community"] for f in mine.get_json()["features"]} == {"S1C1"}
    box = client.get(f"/api/v1/areas/{populated.street}/cells?bbox=104.0,30.4,104.01,30.41",
                     headers=auth_as("centre")).get_json()["features"]  # fmt: skip
    assert 1 <= len(box) < 6
    simple = client.get(f"/api/v1/areas/{populated.street}/cells?tolerance=200",
                        headers=auth_as("centre")).get_json()["features"]  # fmt: skip
    assert len(simple) == 6


def test_locate_outside_everything_or_scope_is_404(client, auth_as, populated):
    far = client.get("/api/v1/locate?lon=120.0&lat=30.0", headers=auth_as("centre"))
    assert far.status_code == 404 and far.get_json()["error"]["code"] == "outside_coverage"
    other = client.get("/api/v1/locate?lon=104.07&lat=30.45", headers=auth_as("station_a"))
    assert other.status_code == 404 and other.get_json()["error"]["code"] == "outside_coverage"
    bad = client.get("/api/v1/locate?lon=200&lat=30", headers=auth_as("centre"))
    assert bad.status_code == 422


def test_re_division_keeps_history_codes_and_reports_changes(client, auth_as, populated, clean_app):
    today = local_today()
    first = _draft(client, auth_as("centre"), populated.street, cells=6)
    _flow(client, auth_as, first["id"])
    old_cell = client.get("/api/v1/locate?lon=104.02&lat=30.45", headers=auth_as("centre"))
    old_code = old_cell.get_json()["cell"]["code"]

    # The next layout splits one western cell in two and takes effect tomorrow.
    second = _draft(client, auth_as("centre"), populated.street, cells=6)
    target = next(c["code"] for c in second["cells"] if c["code"].startswith("S1C1"))
    split = _edit(client, auth_as("centre"), second["id"], op="split", cell=target, parts=2)
    assert split.status_code == 200
    tomorrow = today + dt.timedelta(days=1)
    pending = _flow(client, auth_as, second["id"], effective_from=tomorrow)
    assert pending["status"] == "approved" and pending["effective_from"] == tomorrow.isoformat()

    with clean_app.app_context(), audit.acting_as(TEST_ACTOR), transaction():
        assert grid_workflow.activate_due(tomorrow) == [second["id"]]
    with clean_app.app_context(), audit.acting_as(TEST_ACTOR), transaction():
        assert grid_workflow.activate_due(tomorrow) == []  # idempotent

    now = client.get(f"/api/v1/grid-plans/{second['id']}", headers=auth_as("centre")).get_json()
    assert now["status"] == "active"
    report = now["change_report"]
    assert target in report["split"]
    assert len(report["split"][target]) == 2
    assert len(report["unchanged"]) == 5
    assert report["places_changed"] > 0
    # Only places of the split cell changed cell, and only to its new piece.
    assert all(p["from"] == target for p in report["places"])
    assert {p["to"] for p in report["places"]} == set(report["split"][target]) - {target}
    gone = client.get(f"/api/v1/grid-plans/{first['id']}", headers=auth_as("centre")).get_json()
    assert gone["status"] == "retired"

    then = client.get(f"/api/v1/locate?lon=104.02&lat=30.45&at={today.isoformat()}",
                      headers=auth_as("centre")).get_json()  # fmt: skip
    assert then["cell"]["code"] == old_code and then["cell"]["plan_id"] == first["id"]
    later = client.get(f"/api/v1/locate?lon=104.02&lat=30.45&at={tomorrow.isoformat()}",
                       headers=auth_as("centre")).get_json()  # fmt: skip
    assert later["cell"]["plan_id"] == second["id"]
    history = client.get(f"/api/v1/areas/{populated.street}/cells?at={today.isoformat()}",
                         headers=auth_as("centre")).get_json()["features"]  # fmt: skip
    assert {f["properties"]["plan_id"] for f in history} == {first["id"]}
    with clean_app.app_context():
        codes = db.session.execute(
            select(GridCell.code).where(GridCell.plan_id == second["id"])
        ).scalars().all()  # fmt: skip
        # The larger piece of the split cell keeps its code; the other gets a new one.
        assert len(set(codes)) == 7 and target in codes
        assert set(report["added"]) == set(report["split"][target]) - {target}


def test_drafts_can_be_discarded_but_not_active_plans(client, auth_as, populated):
    headers = auth_as("centre")
    draft = _draft(client, headers, populated.street)
    assert client.delete(f"/api/v1/grid-plans/{draft['id']}", headers=headers).status_code == 204
    assert client.get(f"/api/v1/grid-plans/{draft['id']}", headers=headers).status_code == 404
    live = _draft(client, headers, populated.street)
    _flow(client, auth_as, live["id"])
    assert client.delete(f"/api/v1/grid-plans/{live['id']}", headers=headers).status_code == 409


def test_plans_are_scoped(client, auth_as, populated):
    plan = _draft(client, auth_as("centre"), populated.street)
    assert (
        client.get(f"/api/v1/grid-plans/{plan['id']}", headers=auth_as("station_a")).status_code
        == 404
    )
    listed = client.get(f"/api/v1/areas/{populated.street}/grid-plans", headers=auth_as("centre"))
    assert [p["id"] for p in listed.get_json()] == [plan["id"]]
