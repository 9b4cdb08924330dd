"""Bad input anywhere is a clear 4xx and stores nothing; never a 500."""

from __future__ import annotations

import datetime as dt
import json
import uuid

import pytest


def _status(resp):
    assert resp.status_code < 500, resp.get_data(as_text=True)
    return resp.status_code


def test_nan_and_infinity_are_not_json(client, auth_as, world):
    body = '{"username": "admin", "password": NaN}'
    resp = client.post(
        "/api/v1/auth/token", data=body, headers={"Content-Type": "application/json"}
    )
    assert resp.status_code == 400 and resp.get_json()["error"]["code"] == "malformed_json"


@pytest.mark.parametrize(
    "feature",
    [
        {
            "type": "Feature",
            "properties": "street",
            "geometry": {
                "type": "Polygon",
                "coordinates": [[[104.1, 30.4], [104.2, 30.4], [104.2, 30.5], [104.1, 30.4]]],
            },
        },
        {
            "type": "Feature",
            "properties": {"code": "S9", "name": "x", "level": "street", "parent_code": ["D1"]},
            "geometry": {
                "type": "Polygon",
                "coordinates": [[[104.1, 30.4], [104.2, 30.4], [104.2, 30.5], [104.1, 30.4]]],
            },
        },
        {
            "type": "Feature",
            "properties": {"code": "S9", "name": "x", "level": "street", "parent_code": "D1"},
            "geometry": {
                "type": "Polygon",
                "coordinates": [[[104.1, 30.4, 5], [104.2, 30.4], [104.2, 30.5], [104.1, 30.4]]],
            },
        },
        {
            "type": "Feature",
            "properties": {"code": "S9", "name": "x", "level": "street", "parent_code": "D1"},
            "geometry": {
                "type": "Polygon",
                "coordinates": [[[10**400, 30.4], [104.2, 30.4], [104.2, 30.5], [10**400, 30.4]]],
            },
        },
    ],
)
def test_malformed_boundaries_are_422(client, auth_as, world, feature):
    resp = client.post("/api/v1/areas", json=feature, headers=auth_as("district"))
    assert resp.status_code == 422, resp.get_json()


def test_malformed_place_rows_are_reported_not_fatal(client, auth_as, world):
    body = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": "ab",
                "geometry": {"type": "Point", "coordinates": [104.02, 30.45]},
            },
            {
                "type": "Feature",
                "properties": {"type": "household"},
                "geometry": {"type": "Point", "coordinates": 5},
            },
            {
                "type": "Feature",
                "properties": {"type": "household"},
                "geometry": {"type": "Point", "coordinates": [10**400, 30.4]},
            },
            {
                "type": "Feature",
                "properties": {"type": "household", "external_id": "OK-1"},
                "geometry": {"type": "Point", "coordinates": [104.02, 30.45]},
            },
        ],
    }
    resp = client.post(
        f"/api/v1/areas/{world.street}/places",
        data=json.dumps(body),
        headers=auth_as("centre") | {"Content-Type": "application/geo+json"},
    )
    report = resp.get_json()
    assert resp.status_code == 201 and report["created"] == 1
    assert [r["row"] for r in report["rejected"]] == [1, 2, 3]
    csv_body = "lon,lat,type,name\n104.02,30.45,household," + "x" * 200_000 + "\n"
    big = client.post(
        f"/api/v1/areas/{world.street}/places",
        data=csv_body.encode(),
        headers=auth_as("centre") | {"Content-Type": "text/csv"},
    )
    assert big.status_code == 200 and big.get_json()["rejected"][0]["errors"]["name"]


def test_out_of_range_numbers_and_dates_are_4xx(client, auth_as, field, terminal):
    headers = auth_as("centre")
    assert _status(client.get("/api/v1/areas/99999999999999999999", headers=headers)) in (404, 422)
    assert _status(client.get("/api/v1/areas?page=1000000000000000000", headers=headers)) == 422
    assert _status(client.get("/api/v1/visits?date=9999-12-31", headers=headers)) in (200, 422)
    cursor = "eyJwIjpbMWU0MDAsMCwwXSwicyI6IngifQ"  # {"p":[1e400,0,0],"s":"x"}
    bad = client.get(f"/api/v1/sync/bundle?since={cursor}", headers=terminal)
    assert bad.status_code == 422
    name = "İ" * 64
    login = client.post("/api/v1/auth/token", json={"username": name, "password": "x"})
    assert login.status_code == 401


def test_odd_visit_items_are_rejected_one_by_one(client, field, terminal):
    now = dt.datetime.now(dt.UTC).isoformat()
    items = [
        {"uuid": str(uuid.uuid4()), "type": "patrol", "started_at": "9999-12-31T23:59:59-10:00"},
        {
            "uuid": str(uuid.uuid4()),
            "type": "patrol",
            "started_at": now,
            "location": {"lon": 10**400, "lat": 30.45},
        },
        {"uuid": str(uuid.uuid4()), "type": "patrol", "started_at": now, "place_id": 2**63},
        {
            "uuid": str(uuid.uuid4()),
            "type": "patrol",
            "started_at": now,
            "location": {"lon": 104.02, "lat": 30.45, "accuracy_m": 5},
        },
        {
            "uuid": str(uuid.uuid4()),
            "type": "patrol",
            "started_at": now,
            "location": {"lon": 104.02, "lat": 30.45, "accuracy_m": 12.5},
        },
    ]
    resp = client.post("/api/v1/sync/visits", json={"items": items}, headers=terminal)
    assert resp.status_code == 200
    statuses = [r["status"] for r in resp.get_json()["results"]]
    assert statuses == ["rejected", "rejected", "rejected", "created", "created"]


def test_bad_lines_in_edits_and_roads_are_422(client, auth_as, field):
    plan = client.post(
        f"/api/v1/areas/{field.world.street}/grid-plans",
        json={"method": "balanced", "cells": 4},
        headers=auth_as("centre"),
    ).get_json()
    for line in (
        {"type": "LineString", "coordinates": [[104.01, 30.41]]},
        {"type": "Foo", "coordinates": []},
    ):
        resp = client.post(
            f"/api/v1/grid-plans/{plan['id']}/edits",
            json={"op": "split", "cell": plan["cells"][0]["code"], "line": line},
            headers=auth_as("centre"),
        )
        assert resp.status_code == 422, resp.get_json()
    roads = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {},
                "geometry": {"type": "LineString", "coordinates": [[104.01, 30.41]]},
            }
        ],
    }
    resp = client.post(
        f"/api/v1/areas/{field.world.street}/grid-plans",
        json={"method": "blocks", "cells": 4, "roads": roads},
        headers=auth_as("centre"),
    )
    assert resp.status_code == 422
