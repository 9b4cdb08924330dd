"""Sync down: a worker's terminal gets its own cells only, incrementally, with tombstones."""

from __future__ import annotations

import gzip
import json


def _places(client, auth_as, cell_code, area_id):
    cells = client.get(f"/api/v1/areas/{area_id}/cells", headers=auth_as("centre")).get_json()
    cell_id = next(f["id"] for f in cells["features"] if f["properties"]["code"] == cell_code)
    return client.get(f"/api/v1/places?cell={cell_id}&page_size=500",
                      headers=auth_as("centre")).get_json()  # fmt: skip


def _household(client, headers, place_id, phone="13812345678"):
    resp = client.post(
        "/api/v1/households",
        json={"place_id": place_id, "door_number": "1-101", "address": "演示路1号",
              "phone": phone, "id_number": "11010519491231002X",
              "members": [{"name": "王小明", "relation": "户主", "work_unit": "街道超市"}]},
        headers=headers,
    )  # fmt: skip
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()


def _bundle(client, headers, since=None, **params):
    query = "&".join(f"{k}={v}" for k, v in ({"since": since} | params).items() if v is not None)
    return client.get(f"/api/v1/sync/bundle?{query}", headers=headers)


def test_the_bundle_holds_the_workers_cells_places_and_households_only(
    client, auth_as, field, terminal
):
    mine = _places(client, auth_as, field.cell, field.world.street)
    theirs = _places(client, auth_as, field.other_cell, field.world.street)
    assert mine and theirs
    own = _household(client, auth_as("station_a"), mine[0]["id"])
    other = _household(client, auth_as("station_a"), theirs[0]["id"], phone="13911112222")

    resp = _bundle(client, terminal)
    assert resp.status_code == 200
    body = resp.get_json()
    assert body["reset"] is True and body["more"] is False
    assert [f["properties"]["code"] for f in body["cells"]["features"]] == [field.cell]
    assert {p["id"] for p in body["places"]} == {p["id"] for p in mine}
    assert [h["id"] for h in body["households"]] == [own["id"]]
    assert other["id"] not in {h["id"] for h in body["households"]}
    assert body["households"][0]["phone"] == "13812345678"  # the assigned worker sees it whole


def test_incremental_sync_gets_changes_and_tombstones_only(client, auth_as, field, terminal):
    mine = _places(client, auth_as, field.cell, field.world.street)
    first = _household(client, auth_as("station_a"), mine[0]["id"])
    second = _household(client, auth_as("station_a"), mine[1]["id"], phone="13700001111")
    cursor = _bundle(client, terminal).get_json()["next_cursor"]

    quiet = _bundle(client, terminal, cursor).get_json()
    assert quiet["reset"] is False
    assert quiet["places"] == [] and quiet["households"] == [] and quiet["tombstones"] == []

    changed = client.patch(f"/api/v1/households/{first['id']}",
                           json={"door_number": "1-102", "version": first["version"]},
                           headers=auth_as("station_a"))  # fmt: skip
    assert changed.status_code == 200, changed.get_json()
    assert client.delete(f"/api/v1/households/{second['id']}",
                         headers=auth_as("station_a")).status_code == 204  # fmt: skip
    delta = _bundle(client, terminal, quiet["next_cursor"]).get_json()
    assert [h["door_number"] for h in delta["households"]] == ["1-102"]
    assert delta["tombstones"] == [{"entity": "household", "id": second["id"]}]
    assert delta["places"] == []


def test_pages_add_up_to_the_whole_bundle(client, auth_as, field, terminal):
    whole = _bundle(client, terminal).get_json()
    seen, cursor, pages = [], None, 0
    while True:
        page = _bundle(client, terminal, cursor, page_size=7).get_json()
        seen += [p["id"] for p in page["places"]]
        cursor, pages = page["next_cursor"], pages + 1
        if not page["more"]:
            break
    assert sorted(seen) == sorted(p["id"] for p in whole["places"])
    assert len(seen) == len(set(seen)) and pages >= 2


def test_etag_and_304(client, terminal):
    first = _bundle(client, terminal)
    tag = first.headers["ETag"]
    again = client.get("/api/v1/sync/bundle", headers=terminal | {"If-None-Match": tag})
    assert again.status_code == 304 and again.data == b""


def test_a_new_cell_means_a_reset(client, auth_as, field, terminal):
    cursor = _bundle(client, terminal).get_json()["next_cursor"]
    client.patch(f"/api/v1/workers/{field.worker_id}", json={"employment": "part_time"},
                 headers=auth_as("station_a"))  # fmt: skip
    added = client.post(f"/api/v1/workers/{field.worker_id}/assignments",
                        json={"cell": field.other_cell}, headers=auth_as("station_a"))  # fmt: skip
    assert added.status_code == 201, added.get_json()
    after = _bundle(client, terminal, cursor).get_json()
    assert after["reset"] is True
    assert {f["properties"]["code"] for f in after["cells"]["features"]} == {
        field.cell, field.other_cell,
    }  # fmt: skip


def test_bundles_are_gzipped_and_cursors_checked(client, terminal):
    resp = client.get("/api/v1/sync/bundle", headers=terminal | {"Accept-Encoding": "gzip"})
    assert resp.headers["Content-Encoding"] == "gzip"
    assert "places" in json.loads(gzip.decompress(resp.data))
    bad = _bundle(client, terminal, "not-a-cursor")
    assert bad.status_code == 422 and bad.get_json()["error"]["code"] == "invalid_cursor"


def test_only_workers_get_bundles(client, auth_as, field):
    resp = client.get("/api/v1/sync/bundle", headers=auth_as("station_a"))
    assert resp.status_code == 403
