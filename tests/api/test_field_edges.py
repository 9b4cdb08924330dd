"""Edge cases of assignments, activation and sync found in review."""

from __future__ import annotations

import datetime as dt

from gridserve import audit
from gridserve.db import transaction
from tests.conftest import TEST_ACTOR


def _assign(client, headers, worker_id, cell, starts_on=None):
    body = {"cell": cell} | ({"starts_on": starts_on.isoformat()} if starts_on else {})
    return client.post(f"/api/v1/workers/{worker_id}/assignments", json=body, headers=headers)


def test_dismissal_ends_an_assignment_with_a_planned_handover(client, auth_as, field):
    headers = auth_as("station_a")
    other = client.post(
        "/api/v1/workers",
        json={"area_id": field.world.community_a, "full_name": "接班人"},
        headers=headers,
    ).get_json()
    later = field.today + dt.timedelta(days=30)
    assert _assign(client, headers, other["id"], field.cell, later).status_code == 201
    client.patch(
        f"/api/v1/workers/{field.worker_id}", json={"status": "dismissed"}, headers=headers
    )
    history = client.get(f"/api/v1/workers/{field.worker_id}/assignments", headers=headers)
    assert history.get_json()[0]["ends_on"] == field.today.isoformat()


def test_an_earlier_handover_never_leaves_two_holders(client, auth_as, field):
    headers = auth_as("station_a")
    b = client.post(
        "/api/v1/workers",
        json={"area_id": field.world.community_a, "full_name": "乙"},
        headers=headers,
    ).get_json()
    c = client.post(
        "/api/v1/workers",
        json={"area_id": field.world.community_a, "full_name": "丙"},
        headers=headers,
    ).get_json()
    assert (
        _assign(
            client, headers, b["id"], field.cell, field.today + dt.timedelta(days=10)
        ).status_code
        == 201
    )
    assert _assign(client, headers, c["id"], field.cell).status_code == 201
    cells = client.get(f"/api/v1/areas/{field.world.community_a}/cells", headers=headers)
    assert cells.status_code == 200
    mine = next(f for f in cells.get_json()["features"] if f["properties"]["code"] == field.cell)
    assert mine["properties"]["worker"]["id"] == c["id"]
    old = client.get(f"/api/v1/workers/{field.worker_id}/assignments", headers=headers).get_json()
    assert old[0]["ends_on"] == field.today.isoformat()


def _approved_layout(client, auth_as, field) -> dict:
    """A new 6-cell layout of the street, proposed and approved (not yet in force)."""
    headers = auth_as("centre")
    plan = client.post(
        f"/api/v1/areas/{field.world.street}/grid-plans",
        json={"method": "balanced", "cells": 6},
        headers=headers,
    ).get_json()
    client.post(f"/api/v1/grid-plans/{plan['id']}/propose", json={}, headers=headers)
    client.post(f"/api/v1/grid-plans/{plan['id']}/approve", json={}, headers=auth_as("district"))
    return plan


def test_a_missed_activation_day_takes_effect_today(client, auth_as, field, clean_app):
    from gridserve.extensions import db
    from gridserve.models import GridPlan
    from gridserve.services.geography import grid_workflow

    plan = _approved_layout(client, auth_as, field)
    tomorrow = field.today + dt.timedelta(days=1)
    client.post(
        f"/api/v1/grid-plans/{plan['id']}/activate",
        json={"effective_from": tomorrow.isoformat()},
        headers=auth_as("district"),
    )
    day_after = field.today + dt.timedelta(days=2)  # the scheduler was down tomorrow
    with clean_app.app_context(), audit.acting_as(TEST_ACTOR), transaction():
        assert grid_workflow.activate_due(day_after) == [plan["id"]]
    with clean_app.app_context():
        stored = db.session.get(GridPlan, plan["id"])
        assert stored.status == "active" and stored.effective_from == day_after


def test_a_new_layout_changes_the_bundle_etag(client, auth_as, field, terminal):
    first = client.get("/api/v1/sync/bundle", headers=terminal)
    tag = first.headers["ETag"]
    plan = _approved_layout(client, auth_as, field)
    client.post(f"/api/v1/grid-plans/{plan['id']}/activate", json={}, headers=auth_as("district"))
    again = client.get("/api/v1/sync/bundle", headers=terminal | {"If-None-Match": tag})
    assert again.status_code == 200 and again.get_json()["reset"] is True


def test_a_household_follows_its_moved_place(client, auth_as, field):
    places = client.get("/api/v1/places?external_id=HH-0", headers=auth_as("centre")).get_json()
    place = places[0]
    owner = "station_a" if place["area_id"] == field.world.community_a else "station_b"
    created = client.post(
        "/api/v1/households",
        json={"place_id": place["id"], "door_number": "1"},
        headers=auth_as(owner),
    )
    assert created.status_code == 201, created.get_json()
    new_lon = 104.08 if owner == "station_a" else 104.02
    csv = f"external_id,type,lon,lat\nHH-0,household,{new_lon},30.45\n"
    client.post(
        f"/api/v1/areas/{field.world.street}/places",
        data=csv.encode(),
        headers=auth_as("centre") | {"Content-Type": "text/csv"},
    )
    new_owner = "station_b" if owner == "station_a" else "station_a"
    hid = created.get_json()["id"]
    assert client.get(f"/api/v1/households/{hid}", headers=auth_as(owner)).status_code == 404
    assert client.get(f"/api/v1/households/{hid}", headers=auth_as(new_owner)).status_code == 200
