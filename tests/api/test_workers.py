"""Workers, assignments (one per cell, history kept), vacant cells, terminals."""

from __future__ import annotations

import datetime as dt

from tests.conftest import login


def _worker(client, headers, **body):
    return client.post("/api/v1/workers", json=body, headers=headers)


def test_station_registers_workers_in_its_community(client, auth_as, field):
    ok = _worker(client, auth_as("station_a"), area_id=field.world.community_a, full_name="乙",
                 employment="part_time", source_pool="社区招聘", phone="13800001111")  # fmt: skip
    assert ok.status_code == 201, ok.get_json()
    body = ok.get_json()
    # The station manages this worker: the number in clear (others see it masked).
    assert body["phone"] == "13800001111" and body["cells"] == [] and body["status"] == "active"
    other = _worker(client, auth_as("station_a"), area_id=field.world.community_b, full_name="丙")
    assert other.status_code == 404
    bad = _worker(client, auth_as("station_a"), area_id=field.world.community_a, full_name="",
                  employment="forever")  # fmt: skip
    assert bad.status_code == 422
    assert {"full_name", "employment"} <= set(bad.get_json()["error"]["details"]["fields"])
    assert _worker(client, auth_as("worker_a"), area_id=field.world.community_a,
                   full_name="x").status_code == 403  # fmt: skip


def test_locate_and_map_show_the_assigned_worker(client, auth_as, field):
    cells = client.get(f"/api/v1/areas/{field.world.street}/cells", headers=auth_as("centre"))
    by_code = {f["properties"]["code"]: f["properties"] for f in cells.get_json()["features"]}
    assert by_code[field.cell]["worker"]["id"] == field.worker_id
    assert by_code[field.other_cell]["worker"] is None
    from shapely.geometry import shape

    feature = next(f for f in cells.get_json()["features"] if f["properties"]["code"] == field.cell)
    p = shape(feature["geometry"]).representative_point()
    where = client.get(f"/api/v1/locate?lon={p.x}&lat={p.y}", headers=auth_as("centre")).get_json()
    assert where["cell"]["code"] == field.cell
    assert where["worker"] == {"id": field.worker_id, "full_name": "网格员甲"}


def _assign(client, headers, worker_id, cell, starts_on=None):
    body = {"cell": cell} | ({"starts_on": starts_on.isoformat()} if starts_on else {})
    return client.post(f"/api/v1/workers/{worker_id}/assignments", json=body, headers=headers)


def test_one_worker_per_cell_and_one_cell_per_full_time_worker(client, auth_as, field):
    headers = auth_as("station_a")
    second = _worker(client, headers, area_id=field.world.community_a, full_name="乙").get_json()
    # A full-time worker may not take a second cell.
    more = _assign(client, headers, field.worker_id, field.other_cell)
    assert more.status_code == 409
    assert more.get_json()["error"]["code"] == "too_many_cells_for_worker"
    # Reassigning the cell moves it atomically; the old holder's assignment ends, kept as history.
    tomorrow = field.today + dt.timedelta(days=1)
    moved = _assign(client, headers, second["id"], field.cell, tomorrow)
    assert moved.status_code == 201, moved.get_json()
    history = client.get(f"/api/v1/workers/{field.worker_id}/assignments", headers=headers)
    [old] = history.get_json()
    assert old["cell_code"] == field.cell and old["ends_on"] == tomorrow.isoformat()
    vacant = client.get(
        f"/api/v1/reports/vacant-cells?area={field.world.street}&date={tomorrow}",
        headers=auth_as("centre"),
    ).get_json()
    assert field.cell not in {v["code"] for v in vacant}
    today_vacant = client.get(
        f"/api/v1/reports/vacant-cells?area={field.world.street}", headers=auth_as("centre")
    ).get_json()
    assert field.cell not in {v["code"] for v in today_vacant}
    assert len(today_vacant) == 5


def test_part_time_workers_may_hold_more_cells_up_to_the_limit(
    client, auth_as, field, override_settings
):
    headers = auth_as("station_a")
    pt = _worker(client, headers, area_id=field.world.community_a, full_name="兼职",
                 employment="part_time").get_json()  # fmt: skip
    with override_settings(part_time_max_cells=1):
        assert _assign(client, headers, pt["id"], field.other_cell).status_code == 201
        west = [f["properties"]["code"] for f in client.get(
            f"/api/v1/areas/{field.world.community_a}/cells", headers=headers
        ).get_json()["features"]]  # fmt: skip
        spare = next(c for c in west if c not in (field.cell, field.other_cell))
        assert _assign(client, headers, pt["id"], spare).status_code == 409
    with override_settings(part_time_max_cells=3):
        assert _assign(client, headers, pt["id"], spare).status_code == 201
    got = client.get(f"/api/v1/workers/{pt['id']}", headers=headers).get_json()
    assert sorted(got["cells"]) == sorted([field.other_cell, spare])


def test_assignment_refusals(client, auth_as, field):
    headers = auth_as("station_a")
    assert _assign(client, headers, field.worker_id, "S1C1-999").status_code == 404
    assert _assign(client, auth_as("station_a"), field.worker_id, field.cell_b).status_code == 404
    past = _assign(client, headers, field.worker_id, field.cell, field.today - dt.timedelta(days=1))
    assert past.status_code == 422
    again = _assign(client, headers, field.worker_id, field.cell)
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "already_assigned"


def test_dismissing_a_worker_frees_the_cell(client, auth_as, field):
    headers = auth_as("station_a")
    resp = client.patch(f"/api/v1/workers/{field.worker_id}", json={"status": "dismissed"},
                        headers=headers)  # fmt: skip
    assert resp.status_code == 200 and resp.get_json()["cells"] == []
    vacant = client.get(
        f"/api/v1/reports/vacant-cells?area={field.world.community_a}", headers=headers
    ).get_json()
    assert field.cell in {v["code"] for v in vacant}


def test_enrolment_codes_are_single_use(client, auth_as, field):
    code = client.post(f"/api/v1/workers/{field.worker_id}/enrolment-codes",
                       headers=auth_as("station_a")).get_json()  # fmt: skip
    assert code["qr"].endswith(code["code"])
    first = client.post("/api/v1/devices/enrol", json={"code": code["code"].lower()})
    assert first.status_code == 201
    again = client.post("/api/v1/devices/enrol", json={"code": code["code"]})
    assert again.status_code == 401
    assert again.get_json()["error"]["code"] == "enrolment_code_invalid"
    wrong = client.post("/api/v1/devices/enrol", json={"code": "AAAA-BBBB-CCCC"})
    assert wrong.status_code == 401
    other_station = client.post(f"/api/v1/workers/{field.worker_id}/enrolment-codes",
                                headers=auth_as("station_b"))  # fmt: skip
    assert other_station.status_code == 404


def test_expired_codes_are_refused(client, auth_as, field, override_settings):
    with override_settings(enrolment_ttl_seconds=-1):
        code = client.post(f"/api/v1/workers/{field.worker_id}/enrolment-codes",
                           headers=auth_as("station_a")).get_json()  # fmt: skip
    assert client.post("/api/v1/devices/enrol", json={"code": code["code"]}).status_code == 401


def test_a_device_token_acts_as_its_worker_and_records_last_seen(client, auth_as, field, terminal):
    me = client.get("/api/v1/me", headers=terminal)
    assert me.status_code == 200 and me.get_json()["user"]["username"] == "worker_a"
    devices = client.get(f"/api/v1/workers/{field.worker_id}/devices",
                         headers=auth_as("station_a")).get_json()  # fmt: skip
    assert devices[0]["app_version"] == "1.4.2" and devices[0]["last_seen_at"]
    assert devices[0]["platform"] == "android 14"


def test_revoked_device_is_refused_at_once(client, auth_as, field, terminal, clean_app):
    devices = client.get(f"/api/v1/workers/{field.worker_id}/devices",
                         headers=auth_as("station_a")).get_json()  # fmt: skip
    revoked = client.post(f"/api/v1/devices/{devices[0]['id']}/revoke",
                          headers=auth_as("station_a"))  # fmt: skip
    assert revoked.status_code == 200 and revoked.get_json()["revoked_at"]
    resp = client.get("/api/v1/sync/bundle", headers=terminal)
    assert resp.status_code == 401
    assert resp.get_json()["error"]["code"] == "device_revoked"
    # The worker's own sign-in still works: only the lost terminal is cut off.
    assert client.get("/api/v1/me", headers=login(client, "worker_a")).status_code == 200
