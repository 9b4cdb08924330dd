"""Who may do what: each role against a representative set of operations.

A refused role gets 403 ``forbidden_role`` (or, with a terminal's token,
``device_token_not_allowed``) before anything it sent is read, so the writes
below send an empty or broken body: a role that may act gets the 422 of the
body check, a role that may not gets the 403.
"""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from gridserve.auth import DEVICE_ALLOWED
from gridserve.extensions import db
from gridserve.models import User
from tests.conftest import PASSWORD, login

ROLES = ("admin", "district", "centre", "coordinator", "station_a", "worker_a", "bank", "terminal")
STAFF = ("admin", "district", "centre", "station_a")  # the station and above
ALL = set(ROLES)
OUTREACH = {*STAFF, "coordinator", "bank"}  # who reads the outreach desk
ASSESSORS = {*STAFF, "coordinator"}  # who runs, enters, publishes (for their templates)
DECIDERS = {"admin", "district", "centre"}  # who decides dismissal recommendations


def expect(default: int, **others: int) -> dict[str, int]:
    """``expect(403, admin=200)``: every role gets ``default`` except those named."""
    return {role: others.get(role, default) for role in ROLES}


def allowed(ok: int, roles, refused: int = 403) -> dict[str, int]:
    return {role: ok if role in roles else refused for role in ROLES}


# (label, method, path, body, expected status per role). Paths are formatted with the
# field fixture's ids: {street}, {community_a}, {worker}, {uuid}.
OPERATIONS = [
    ("areas read", "GET", "/areas", None, allowed(200, ALL - {"terminal"})),
    ("cells read", "GET", "/areas/{community_a}/cells", None, expect(200, bank=404)),
    ("places read", "GET", "/places", None, expect(200)),
    ("locate", "GET", "/locate?lon=104.01&lat=30.41", None, expect(200, bank=404)),
    (
        "import areas",
        "POST",
        "/areas",
        {},
        allowed(422, {"admin", "district", "centre"}),
    ),
    (
        "make a layout",
        "POST",
        "/areas/{street}/grid-plans",
        {},
        allowed(422, {"admin", "district", "centre", "coordinator"}),  # coordinator: drafts
    ),
    ("visits", "GET", "/visits", None, allowed(200, {*STAFF, "worker_a"})),
    ("upload visits", "POST", "/sync/visits", {}, allowed(422, {"admin", "worker_a", "terminal"})),
    (
        "edit a visit",
        "PATCH",
        "/visits/{uuid}",
        None,
        allowed(422, {"admin", "worker_a", "terminal"}),  # admin passes the gate; body checked
    ),
    ("bundle", "GET", "/sync/bundle", None, allowed(200, {"worker_a", "terminal"})),
    # The coordinator and contacts read the outreach desk's files: an unknown UUID is 404.
    ("photo", "GET", "/attachments/{uuid}", None, expect(404)),
    ("households", "GET", "/households", None, allowed(200, {*STAFF, "worker_a"})),
    (
        "register a household",
        "POST",
        "/households",
        {},
        allowed(422, {*STAFF, "worker_a", "terminal"}),
    ),
    ("household export", "GET", "/households/export", None, allowed(200, STAFF)),
    ("workers", "GET", "/workers", None, allowed(200, {*STAFF, "worker_a"})),
    (
        "workers lookup",
        "GET",
        "/workers/lookup?q=网格",
        None,
        allowed(200, {*STAFF, "coordinator"}),
    ),
    ("register a worker", "POST", "/workers", {}, allowed(422, STAFF)),
    ("devices", "GET", "/workers/{worker}/devices", None, allowed(200, {*STAFF, "worker_a"})),
    ("enrolment code", "POST", "/workers/{worker}/enrolment-codes", None, allowed(201, STAFF)),
    (
        "patrol report",
        "GET",
        "/reports/patrol-coverage?area={community_a}",
        None,
        allowed(200, STAFF),
    ),
    (
        "monthly report",
        "GET",
        "/reports/monthly?area={community_a}&month=2026-01",
        None,
        allowed(200, STAFF),
    ),
    (
        "monthly archive",
        "GET",
        "/reports/monthly/archive?area={community_a}",
        None,
        allowed(200, STAFF),
    ),
    ("a kept monthly report", "GET", "/reports/monthly/archive/1", None, allowed(404, STAFF)),
    (
        "daily summary",
        "GET",
        "/reports/daily?area={street}",
        None,
        allowed(200, {"admin", "district", "centre"}),
    ),
    (
        "daily archive",
        "GET",
        "/reports/daily/archive?area={street}",
        None,
        allowed(200, {"admin", "district", "centre"}),
    ),
    (
        "a kept daily summary",
        "GET",
        "/reports/daily/archive/1",
        None,
        allowed(404, {"admin", "district", "centre"}),
    ),
    ("tasks", "GET", "/tasks", None, allowed(200, {*STAFF, "worker_a", "terminal"})),
    ("case categories", "GET", "/case-categories", None, expect(200)),
    ("make a case category", "POST", "/case-categories", {}, allowed(422, {"admin"})),
    ("merge cases", "POST", "/tasks/1/merge", {}, allowed(422, STAFF)),
    ("users", "GET", "/users", None, allowed(200, {*STAFF, "coordinator"})),
    ("create a user", "POST", "/users", {}, allowed(422, {*STAFF, "coordinator"})),
    ("audit", "GET", "/audit", None, allowed(200, {"admin"})),
    ("institutions", "GET", "/institutions", None, allowed(200, ALL - {"terminal"})),
    ("new institution", "POST", "/institutions", {}, allowed(422, {"admin", "coordinator"})),
    ("campaigns", "GET", "/sms/campaigns", None, allowed(200, ALL - {"terminal"})),
    ("new campaign", "POST", "/sms/campaigns", {}, allowed(422, {"admin", "coordinator"})),
    ("channels", "GET", "/sms/channels", None, allowed(200, {"admin", "coordinator", "bank"})),
    ("set a channel", "PUT", "/sms/channels/DZCB", {}, allowed(422, {"admin", "coordinator"})),
    ("opt-outs", "GET", "/sms/opt-outs", None, allowed(200, {"admin", "coordinator", "bank"})),
    # SME visits, referrals and reminders (outreach readers: the coordinator, contacts, the
    # station and above; the programme-level routes are in tests/api/outreach).
    ("sme visits", "GET", "/outreach/visits", None, allowed(200, OUTREACH)),
    (
        "record an sme visit",
        "POST",
        "/outreach/visits",
        {},
        allowed(422, {"admin", "coordinator", "bank"}),
    ),
    ("decisions", "GET", "/outreach/decisions", None, allowed(200, OUTREACH)),
    ("decide", "POST", "/outreach/visits/1/decision", {}, allowed(422, {"admin", "bank"})),
    ("referrals", "GET", "/outreach/referrals", None, allowed(200, OUTREACH)),
    ("refer a need", "POST", "/outreach/referrals", {}, allowed(422, {"admin", "bank"})),
    ("referral register", "GET", "/outreach/referrals/register", None, allowed(200, OUTREACH)),
    (
        "accept a referral",
        "POST",
        "/outreach/referrals/1/accept",
        None,
        allowed(404, {"admin", "bank"}),
    ),
    ("reminders", "GET", "/outreach/reminders", None, allowed(200, OUTREACH | {"worker_a"})),
    ("duty mobile", "PUT", "/areas/{community_a}/duty-phone", {}, allowed(422, STAFF)),
    # Assessment: templates (admin writes, all read), runs and entries by the assessor roles
    # (the service narrows to the template's), cards by scope (the terminal: its worker's own),
    # dismissal recommendations for the street centre and above.
    (
        "assessment templates",
        "GET",
        "/assessments/templates",
        None,
        allowed(200, ALL - {"terminal"}),
    ),
    ("make a template", "POST", "/assessments/templates", {}, allowed(422, {"admin"})),
    ("assessment runs", "GET", "/assessments/runs", None, allowed(200, ALL - {"terminal"})),
    ("run an assessment", "POST", "/assessments/runs", {}, allowed(422, ASSESSORS)),
    ("publish a run", "POST", "/assessments/runs/999999/publish", None, allowed(404, ASSESSORS)),
    ("scorecards", "GET", "/assessments/scorecards?mine=1", None, expect(200)),
    (
        "enter an indicator",
        "PUT",
        "/assessments/scorecards/999999/indicators/spot_check",
        {},
        allowed(404, ASSESSORS),  # the card is looked up before the body is read
    ),
    ("deduct", "POST", "/assessments/scorecards/999999/deductions", {}, allowed(404, ASSESSORS)),
    ("recommendations", "GET", "/assessments/recommendations", None, allowed(200, DECIDERS)),
    (
        "confirm a dismissal",
        "POST",
        "/assessments/recommendations/1/confirm",
        {},
        allowed(422, DECIDERS),
    ),
    ("me", "GET", "/me", None, expect(200)),
    # The probes need no token; a token of any kind does not change that.
    ("readiness", "GET", "/health", None, expect(200)),
    ("liveness", "GET", "/health/live", None, expect(200)),
]


def _call(client, headers, method, path, body):
    kwargs = {"headers": headers}
    if method in {"POST", "PUT", "PATCH"}:
        kwargs["json"] = body if body is not None else {}
    return client.open(f"/api/v1{path}", method=method, **kwargs)


@pytest.mark.parametrize("role", ROLES)
def test_each_role_gets_what_the_matrix_says(client, auth_as, field, terminal, role):
    headers = terminal if role == "terminal" else auth_as(role)
    ids = {
        "street": field.world.street,
        "community_a": field.world.community_a,
        "worker": field.worker_id,
        "uuid": uuid.uuid4(),
    }
    got, want = {}, {}
    for label, method, path, body, expected in OPERATIONS:
        resp = _call(client, headers, method, path.format(**ids), body)
        got[label], want[label] = resp.status_code, expected[role]
        if resp.status_code == 403 and expected[role] == 403:
            code = resp.get_json()["error"]["code"]
            if role == "terminal" and (
                method not in DEVICE_ALLOWED.get(_endpoint(client, method, path, ids), ())
            ):
                got[label] = (403, code)
                want[label] = (403, "device_token_not_allowed")
            elif code != "not_a_worker":  # admin passes the gate; the bundle is a worker's
                got[label] = (403, code)
                want[label] = (403, "forbidden_role")
    assert got == want


def test_metrics_go_by_address_not_by_role(client, auth_as, field, terminal):
    """``/metrics`` (beside the API) needs no token; only the address counts
    (``GRIDSERVE_METRICS_ALLOW``, default the loopback): any role from elsewhere gets 403."""
    for role in ROLES:
        headers = terminal if role == "terminal" else auth_as(role)
        assert client.get("/metrics", headers=headers).status_code == 200, role
        away = client.get("/metrics", headers=headers, environ_base={"REMOTE_ADDR": "10.9.9.9"})
        assert away.status_code == 403 and away.get_json()["error"]["code"] == "forbidden", role
    assert client.get("/metrics").status_code == 200  # no token at all


def _endpoint(client, method, path, ids) -> str:
    adapter = client.application.url_map.bind("localhost")
    endpoint, _ = adapter.match(f"/api/v1{path.format(**ids).split('?')[0]}", method=method)
    return endpoint


def _user_id(app, username: str) -> int:
    with app.app_context():
        return db.session.execute(select(User.id).where(User.username == username)).scalar_one()


# --- refused before the body is read --------------------------------------------------------


@pytest.mark.parametrize(
    ("username", "method", "path", "body"),
    [
        ("worker_a", "POST", "/api/v1/workers", {"area_id": "x", "phone": 5, "extra": True}),
        ("coordinator", "POST", "/api/v1/households", {"place_id": "no", "members": "x"}),
        ("district", "POST", "/api/v1/sms/campaigns", {"code": "?", "start_date": "never"}),
        ("station_a", "PUT", "/api/v1/sms/channels/DZCB", {"gateway": "carrier pigeon"}),
        ("bank", "POST", "/api/v1/institutions", {"level": 3}),
        ("centre", "GET", "/api/v1/audit?page_size=-4&sort=password", None),
    ],
)
def test_a_forbidden_role_gets_403_not_the_field_list(
    client, auth_as, world, username, method, path, body
):
    kwargs = {"json": body} if body is not None else {}
    resp = client.open(path, method=method, headers=auth_as(username), **kwargs)
    assert resp.status_code == 403, resp.get_json()
    error = resp.get_json()["error"]
    assert error["code"] == "forbidden_role" and "fields" not in error["details"]


def test_a_forbidden_role_gets_403_before_the_body_type_or_json_is_checked(client, auth_as, world):
    headers = auth_as("worker_a")
    broken = client.post(
        "/api/v1/workers", data=b"{not json", headers=headers, content_type="application/json"
    )
    assert broken.status_code == 403 and broken.get_json()["error"]["code"] == "forbidden_role"
    xml = client.post("/api/v1/workers", data=b"<w/>", headers=headers, content_type="text/xml")
    assert xml.status_code == 403 and xml.get_json()["error"]["code"] == "forbidden_role"
    # HEAD is a GET: the gate holds for it too.
    head = client.head("/api/v1/audit", headers=headers)
    assert head.status_code == 403


def test_the_openapi_document_lists_403_for_every_role_limited_operation(client, clean_app):
    spec = client.get("/api/v1/openapi.json").get_json()
    limited = []
    for rule in clean_app.url_map.iter_rules():
        view = clean_app.view_functions[rule.endpoint]
        cls = getattr(view, "view_class", None)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            roles = getattr(getattr(cls, method.lower(), None), "_gridserve_roles", None)
            if roles is None:
                continue
            path = _openapi_path(rule)
            operation = spec["paths"][path][method.lower()]
            assert "403" in operation["responses"], (method, path)
            described = operation["responses"]["403"]["description"]
            assert "forbidden_role" in described and all(r in described for r in roles)
            limited.append((method, path))
    assert ("POST", "/api/v1/workers") in limited
    assert ("GET", "/api/v1/workers/lookup") in limited
    assert ("POST", "/api/v1/sms/texts/{text_id}/submit") in limited
    assert len(limited) >= 50
    # An operation every role may call does not claim a role refusal (only the terminal's).
    areas_403 = spec["paths"]["/api/v1/areas"]["get"]["responses"]["403"]["description"]
    assert "forbidden_role" not in areas_403 and "device_token_not_allowed" in areas_403


def _openapi_path(rule) -> str:
    import re

    return re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule.rule)


# --- the terminal's token --------------------------------------------------------------------


def test_every_allow_listed_endpoint_exists(clean_app):
    methods = {}
    for rule in clean_app.url_map.iter_rules():
        methods.setdefault(rule.endpoint, set()).update(rule.methods)
    for endpoint, allowed_methods in DEVICE_ALLOWED.items():
        if endpoint.startswith("bench."):
            continue  # mounted only with GRIDSERVE_BENCH_ENDPOINTS (test_bench_endpoints.py)
        assert endpoint in methods, endpoint
        assert allowed_methods <= methods[endpoint], endpoint


def _refused(resp) -> None:
    assert resp.status_code == 403, resp.get_json()
    assert resp.get_json()["error"]["code"] == "device_token_not_allowed"


def test_a_stolen_terminal_cannot_become_its_worker(client, auth_as, field, terminal, clean_app):
    me = _user_id(clean_app, "worker_a")
    _refused(client.patch(f"/api/v1/users/{me}", json={"password": "stolen-pass-123"},
                          headers=terminal))  # fmt: skip
    _refused(client.patch(f"/api/v1/users/{me}", json={"full_name": "x"}, headers=terminal))
    _refused(client.get(f"/api/v1/users/{me}/tokens", headers=terminal))
    _refused(client.get("/api/v1/users", headers=terminal))
    _refused(client.post(f"/api/v1/workers/{field.worker_id}/enrolment-codes", headers=terminal))
    _refused(client.get(f"/api/v1/workers/{field.worker_id}/devices", headers=terminal))
    _refused(client.get("/api/v1/workers", headers=terminal))
    _refused(client.delete("/api/v1/auth/token", headers=terminal))
    _refused(client.get("/api/v1/households/export", headers=terminal))
    _refused(client.get("/api/v1/visits", headers=terminal))
    # Refused before the body is read, and nothing changed: the old password still works.
    _refused(client.patch(f"/api/v1/users/{me}", data=b"{", headers=terminal,
                          content_type="application/json"))  # fmt: skip
    assert login(client, "worker_a", PASSWORD)
    assert client.get("/api/v1/me", headers=terminal).status_code == 200


def test_the_terminal_still_does_all_its_field_work(client, field, terminal):
    """Every operation on the allow-list, with the terminal's token."""
    import hashlib

    from tests.api.test_attachments import PNG
    from tests.api.test_sync_visits import _item

    assert client.get("/api/v1/me", headers=terminal).status_code == 200
    bundle = client.get("/api/v1/sync/bundle", headers=terminal)
    assert bundle.status_code == 200, bundle.get_json()
    mine = next(p for p in bundle.get_json()["places"] if p["type"] == "household")
    lon, lat = mine["lon"], mine["lat"]
    assert client.get(f"/api/v1/places?cell={mine['cell_id']}", headers=terminal).status_code == 200
    assert client.get(f"/api/v1/places/{mine['id']}", headers=terminal).status_code == 200
    cells = client.get(f"/api/v1/areas/{field.world.community_a}/cells", headers=terminal)
    assert cells.status_code == 200
    located = client.get(f"/api/v1/locate?lon={lon}&lat={lat}", headers=terminal)
    assert located.status_code == 200 and located.get_json()["cell"]["code"] == field.cell

    made = client.post("/api/v1/households", headers=terminal,
                       json={"place_id": mine["id"], "door_number": "1-1-101"})  # fmt: skip
    assert made.status_code == 201, made.get_json()
    household = made.get_json()
    assert client.get(f"/api/v1/households/{household['id']}", headers=terminal).status_code == 200
    edited = client.patch(f"/api/v1/households/{household['id']}", headers=terminal,
                          json={"address": "一楼", "version": household["version"]})  # fmt: skip
    assert edited.status_code == 200, edited.get_json()

    item = _item(lon, lat)
    up = client.post("/api/v1/sync/visits", json={"items": [item]}, headers=terminal)
    assert up.status_code == 200 and up.get_json()["results"][0]["status"] == "created"
    patched = client.patch(f"/api/v1/visits/{item['uuid']}", headers=terminal,
                           json={**item, "notes": "补记", "base_version": 1})  # fmt: skip
    assert patched.status_code == 200, patched.get_json()

    photo = str(uuid.uuid4())
    sha = hashlib.sha256(PNG).hexdigest()
    put = client.put(
        f"/api/v1/attachments/{photo}",
        data=PNG,
        headers=terminal | {"Content-Type": "image/png", "X-Content-SHA256": sha},
    )
    assert put.status_code == 201, put.get_json()
    assert client.get(f"/api/v1/attachments/{photo}", headers=terminal).status_code == 200

    case = client.post(
        "/api/v1/tasks",
        headers=terminal,
        json={"kind": "case", "title": "井盖缺失", "place_id": mine["id"]},
    )
    assert case.status_code == 201, case.get_json()
    task = case.get_json()
    assert client.get("/api/v1/tasks", headers=terminal).status_code == 200
    assert client.get(f"/api/v1/tasks/{task['id']}", headers=terminal).status_code == 200
    moved = client.post(f"/api/v1/tasks/{task['id']}/accept", headers=terminal,
                        json={"version": task["version"]})  # fmt: skip
    assert moved.status_code == 200, moved.get_json()
    noted = client.patch(f"/api/v1/tasks/{task['id']}", headers=terminal,
                         json={"version": moved.get_json()["version"], "note": "到场"})  # fmt: skip
    assert noted.status_code == 200, noted.get_json()
