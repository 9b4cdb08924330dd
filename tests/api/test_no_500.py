"""Issue 9, "No 500 for any input": each class of hostile input is a 4xx envelope with its code."""

from __future__ import annotations

import datetime as dt
import io
import json
import uuid

import pytest
from sqlalchemy import select

from gridserve.extensions import db
from gridserve.models import Visit

JSON = {"Content-Type": "application/json"}


def _err(resp, status: int, code: str) -> dict:
    assert resp.status_code == status, resp.get_data(as_text=True)[:500]
    assert resp.headers["Content-Type"].startswith("application/json")
    error = resp.get_json()["error"]
    assert error["code"] == code, error
    return error


# --- deeply nested JSON -----------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        "[" * 100_000 + "]" * 100_000,
        '{"a":' * 5_000 + "1" + "}" * 5_000,
        '{"username": ' + "[" * 200 + "]" * 200 + "}",  # parses, but deeper than we keep
    ],
)
def test_deep_json_is_400_json_too_deep_with_or_without_token(client, auth_as, world, body):
    _err(client.post("/api/v1/auth/token", data=body, headers=JSON), 400, "json_too_deep")
    _err(client.post("/api/v1/areas", data=body, headers=auth_as("district") | JSON), 400,
         "json_too_deep")  # fmt: skip
    # Without a token on a protected endpoint: the 401 envelope comes first, never a 500.
    _err(client.post("/api/v1/areas", data=body, headers=JSON), 401, "token_missing")


def test_deep_json_in_a_visit_upload_is_400(client, terminal):
    body = '{"items": [' + "[" * 3_000 + "]" * 3_000 + "]}"
    _err(client.post("/api/v1/sync/visits", data=body, headers=terminal | JSON), 400,
         "json_too_deep")  # fmt: skip


# --- NUL and lone surrogates ------------------------------------------------------------


@pytest.mark.parametrize("bad", ["\\u0000", "\\ud800", "\\udfff"])
def test_bad_characters_in_any_text_field_are_422_invalid_text(client, auth_as, world, bad):
    login = client.post(
        "/api/v1/auth/token", data=f'{{"username": "ad{bad}min", "password": "x"}}', headers=JSON
    )
    assert _err(login, 422, "invalid_text")["details"]["field"] == "username"
    user = client.post(
        "/api/v1/users",
        data=f'{{"username": "new", "password": "long enough pw {bad}", "role": "admin"}}',
        headers=auth_as("admin") | JSON,
    )
    assert _err(user, 422, "invalid_text")["details"]["field"] == "password"
    nested = client.post(
        "/api/v1/institutions",
        data=f'{{"code": "X1", "name": "nn", "aliases": ["ok", "a{bad}"]}}',
        headers=auth_as("admin") | JSON,
    )
    assert _err(nested, 422, "invalid_text")["details"]["field"] == "aliases.1"
    key = client.post(
        "/api/v1/areas", data=f'{{"type": "Feature", "k{bad}": 1}}',
        headers=auth_as("district") | JSON,
    )  # fmt: skip
    _err(key, 422, "invalid_text")


def test_nul_in_query_parameters_and_path_segments_is_422(client, auth_as, field):
    headers = auth_as("admin")
    err = _err(client.get("/api/v1/visits?flag=a%00b", headers=headers), 422, "invalid_text")
    assert err["details"]["field"] == "query.flag"
    _err(client.get("/api/v1/places?external_id=%00", headers=headers), 422, "invalid_text")
    _err(client.get("/api/v1/areas?nosuchparam=%00", headers=headers), 422, "invalid_text")
    path = client.delete(
        f"/api/v1/workers/{field.worker_id}/assignments/S1%00C1", headers=auth_as("station_a")
    )
    assert _err(path, 422, "invalid_text")["details"]["field"] == "path.cell_code"


def test_a_visit_with_bad_text_is_rejected_alone_and_the_others_are_stored(
    client, terminal, clean_app
):
    now = dt.datetime.now(dt.UTC).isoformat()

    def item(**extra):
        return {"uuid": str(uuid.uuid4()), "type": "patrol", "started_at": now, **extra}

    items = [
        item(notes="fine"),
        item(notes="a\x00b"),
        item(notes="a\ud800b"),
        item(answers={"k\x00": "v"}),
        item(answers={"q": ["ok", {"deep": "\udc00"}]}),
        item(notes="also fine"),
    ]
    body = json.dumps({"items": items})  # ASCII escapes: \u0000, \ud800 reach the server as such
    resp = client.post("/api/v1/sync/visits", data=body, headers=terminal | JSON)
    assert resp.status_code == 200, resp.get_json()
    results = resp.get_json()["results"]
    assert [r["status"] for r in results] == [
        "created", "rejected", "rejected", "rejected", "rejected", "created"
    ]  # fmt: skip
    assert [r.get("code") for r in results[1:5]] == ["invalid_text"] * 4
    assert "notes" in results[1]["errors"] and "answers.q.1.deep" in results[4]["errors"]
    assert results[1]["uuid"] == items[1]["uuid"]
    with clean_app.app_context():
        stored = set(db.session.execute(select(Visit.uuid)).scalars())
    assert stored == {items[0]["uuid"], items[5]["uuid"]}
    # The same bad record sent again is rejected again; the queue moves on.
    again = client.post("/api/v1/sync/visits", json={"items": [items[1], item()]}, headers=terminal)
    assert [r["status"] for r in again.get_json()["results"]] == ["rejected", "created"]


def test_a_place_row_with_bad_text_is_rejected_alone(client, auth_as, world):
    csv_body = "lon,lat,type,name\n104.02,30.45,household,ok\n104.03,30.45,household,a\x00b\n"
    resp = client.post(
        f"/api/v1/areas/{world.street}/places",
        data=csv_body.encode(),
        headers=auth_as("centre") | {"Content-Type": "text/csv"},
    )
    report = resp.get_json()
    assert resp.status_code == 201 and report["created"] == 1
    assert report["rejected"][0]["row"] == 2 and "name" in report["rejected"][0]["errors"]


# --- datetimes at the edges -------------------------------------------------------------

EDGES = [
    "0001-01-01T00:00:00+23:59",
    "0001-01-01T00:00:00-23:59",
    "9999-12-31T23:59:59-23:59",
    "9999-12-31T23:59:59+23:59",
    "1899-12-31T23:00:00+00:00",
]


@pytest.mark.parametrize("when", EDGES)
def test_edge_datetimes_are_422_everywhere(client, auth_as, field, terminal, when):
    ok = dt.datetime.now(dt.UTC).isoformat()
    item = {"uuid": str(uuid.uuid4()), "type": "patrol", "started_at": ok}
    upload = client.post(
        "/api/v1/sync/visits", json={"device_time": when, "items": [item]}, headers=terminal
    )
    assert "device_time" in _err(upload, 422, "validation_error")["details"]["fields"]
    started = client.post(
        "/api/v1/sync/visits", json={"items": [{**item, "started_at": when}]}, headers=terminal
    )
    result = started.get_json()["results"][0]
    assert result["status"] == "rejected" and "started_at" in result["errors"]
    ended = client.post(
        "/api/v1/sync/visits",
        json={"items": [{**item, "uuid": str(uuid.uuid4()), "ended_at": when}]},
        headers=terminal,
    )
    assert ended.get_json()["results"][0]["status"] == "rejected"
    audit = client.get("/api/v1/audit", query_string={"since": when}, headers=auth_as("admin"))
    _err(audit, 422, "validation_error")
    task = client.post(
        "/api/v1/tasks",
        json={"title": "t", "due_at": when},
        headers=auth_as("station_a"),
    )
    assert "due_at" in _err(task, 422, "validation_error")["details"]["fields"]


@pytest.mark.parametrize("day", ["0001-01-01", "9999-12-31", "1899-12-31"])
def test_edge_dates_in_query_parameters_are_422(client, auth_as, field, day):
    headers = auth_as("admin")
    street = field.world.street
    for url, args in [
        ("/api/v1/visits", {"date": day}),
        (f"/api/v1/areas/{street}/cells", {"at": day}),
        ("/api/v1/locate", {"at": day, "lon": 104.02, "lat": 30.45}),
        ("/api/v1/reports/vacant-cells", {"date": day, "area": street}),
        ("/api/v1/reports/patrol-coverage", {"date": day, "area": street}),
    ]:
        resp = client.get(url, query_string=args, headers=headers)
        _err(resp, 422, "validation_error")


# --- geometry that breaks the projection ------------------------------------------------


@pytest.mark.parametrize(
    "coords",
    [[[179, 89], [-179, -89]], [[1e300, 30.4], [104.0, 1e300]], [[104.01, 30.41], [179.9, 0]]],
)
def test_roads_far_outside_the_area_are_422(client, auth_as, field, coords):
    roads = {
        "type": "FeatureCollection",
        "features": [
            {"type": "Feature", "properties": {},
             "geometry": {"type": "LineString", "coordinates": coords}}
        ],
    }  # fmt: skip
    resp = client.post(
        f"/api/v1/areas/{field.world.street}/grid-plans",
        json={"method": "blocks", "cells": 4, "roads": roads},
        headers=auth_as("centre"),
    )
    _err(resp, 422, "outside_projection")


def test_far_points_in_place_imports_and_visits_are_refused_or_flagged(
    client, auth_as, world, field, terminal
):
    feats = [
        {"type": "Feature", "properties": {"type": "household"},
         "geometry": {"type": "Point", "coordinates": xy}}
        for xy in ([179.9, 89.9], [1e300, 30.4], [104.02, 30.45])
    ]  # fmt: skip
    resp = client.post(
        f"/api/v1/areas/{world.street}/places",
        json={"type": "FeatureCollection", "features": feats},
        headers=auth_as("centre"),
    )
    report = resp.get_json()
    assert resp.status_code == 201 and report["created"] == 1 and report["rejected_count"] == 2
    now = dt.datetime.now(dt.UTC).isoformat()
    visit = {"uuid": str(uuid.uuid4()), "type": "patrol", "started_at": now,
             "location": {"lon": 179.9, "lat": -89.9}}  # fmt: skip
    up = client.post("/api/v1/sync/visits", json={"items": [visit]}, headers=terminal)
    result = up.get_json()["results"][0]
    assert result["status"] == "created" and "outside_assigned_cell" in result["flags"]


def test_an_area_spanning_the_globe_is_422(client, auth_as, world):
    feature = {
        "type": "Feature",
        "properties": {"code": "S9", "name": "x", "level": "street", "parent_code": "D1"},
        "geometry": {"type": "Polygon",
                     "coordinates": [[[179, 89], [-179, 89], [-179, -89], [179, 89]]]},
    }  # fmt: skip
    _err(client.post("/api/v1/areas", json=feature, headers=auth_as("district")), 422,
         "area_too_large")  # fmt: skip


# --- transport: headers, chunked bodies, bbox, ids --------------------------------------


def test_an_oversized_authorization_header_is_a_json_431(client, world):
    resp = client.get("/api/v1/me", headers={"Authorization": "Bearer " + "a" * 20_000})
    assert _err(resp, 431, "header_too_large")["details"]["header"] == "Authorization"
    public = client.post(
        "/api/v1/auth/token",
        json={"username": "admin", "password": "x"},
        headers={"Authorization": "x" * 20_000},
    )
    _err(public, 431, "header_too_large")


def test_gunicorn_passes_headers_the_app_answers_itself():
    from gridserve import gunicorn_conf
    from gridserve.request_checks import MAX_HEADER_BYTES

    # gunicorn answers an over-long header field with its own HTML 400 before the app
    # sees it: its limit sits above ours, so ours (a JSON 431) is the one clients meet.
    assert gunicorn_conf.limit_request_field_size > MAX_HEADER_BYTES + 100


def test_a_chunked_body_over_the_limit_is_413_not_malformed_json(client, auth_as, clean_app):
    limit = clean_app.config["MAX_CONTENT_LENGTH"]
    big = b'{"username": "' + b"x" * (limit + 10) + b'"}'
    chunked = {"Transfer-Encoding": "chunked"} | JSON
    # gunicorn sets wsgi.input_terminated for chunked bodies; werkzeug then caps the read
    for path, headers in [
        ("/api/v1/auth/token", chunked),
        ("/api/v1/users", auth_as("admin") | chunked),
    ]:
        resp = client.post(
            path,
            input_stream=io.BytesIO(big),
            headers=headers,
            environ_overrides={"wsgi.input_terminated": True},
        )
        _err(resp, 413, "payload_too_large")
    small = client.post(
        "/api/v1/auth/token",
        input_stream=io.BytesIO(b'{"username": "admin", "password": "wrong"}'),
        headers=chunked,
        environ_overrides={"wsgi.input_terminated": True},
    )
    _err(small, 401, "invalid_credentials")


def test_a_chunked_csv_over_the_limit_is_413(client, auth_as, world, clean_app):
    limit = clean_app.config["MAX_CONTENT_LENGTH"]
    resp = client.post(
        f"/api/v1/areas/{world.street}/places",
        input_stream=io.BytesIO(b"lon,lat,type,name" + b"x" * (limit + 10)),
        headers=auth_as("centre") | {"Content-Type": "text/csv", "Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input_terminated": True},
    )
    _err(resp, 413, "payload_too_large")


def test_a_csv_header_too_long_to_read_is_422(client, auth_as, world):
    resp = client.post(
        f"/api/v1/areas/{world.street}/places",
        data=b"lon,lat,type," + b'"' + b"x" * 2_000_000 + b'"\n',
        headers=auth_as("centre") | {"Content-Type": "text/csv"},
    )
    _err(resp, 422, "invalid_csv")


@pytest.mark.parametrize(
    "bbox",
    ["105,31,104,30", "104,31,105,30", "-500,-100,500,100", "0,-91,1,1", "1,2,3", "a,b,c,d",
     "nan,0,1,1", "1e400,0,1,1"],
)  # fmt: skip
def test_bad_bbox_is_422(client, auth_as, field, bbox):
    resp = client.get(
        f"/api/v1/areas/{field.world.street}/cells", query_string={"bbox": bbox},
        headers=auth_as("admin"),
    )  # fmt: skip
    assert "query.bbox" in _err(resp, 422, "validation_error")["details"]["fields"]


def test_non_integer_and_out_of_range_ids_are_404_or_422(client, auth_as, field):
    headers = auth_as("admin")
    for path in ("/api/v1/areas/952.5", "/api/v1/areas/0", "/api/v1/areas/-1",
                 "/api/v1/areas/2147483648", "/api/v1/areas/99999999999999999999",
                 "/api/v1/workers/1e3", "/api/v1/grid-plans/952.5/cells"):  # fmt: skip
        _err(client.get(path, headers=headers), 404, "not_found")
    for query in ("worker=952.5", "worker=0", "area=2147483648", "worker=99999999999999999999"):
        resp = client.get(f"/api/v1/visits?{query}", headers=headers)
        assert query.split("=")[0] in str(_err(resp, 422, "validation_error")["details"])
    for query in ("page=0", "page=2147483648", "page_size=0", "page_size=501", "page=1.5"):
        _err(client.get(f"/api/v1/areas?{query}", headers=headers), 422, "validation_error")
    body = client.post(
        "/api/v1/households", json={"place_id": 952.5, "door_number": "1"},
        headers=auth_as("station_a"),
    )  # fmt: skip
    assert "place_id" in _err(body, 422, "validation_error")["details"]["fields"]
