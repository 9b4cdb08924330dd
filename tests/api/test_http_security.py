"""Security headers, caching, CORS and request ids on every response (gridserve.http_security)."""

from __future__ import annotations

import base64
import hashlib
import re
import shutil
import subprocess
import threading
import urllib.request
from contextlib import contextmanager

import pytest
from sqlalchemy import func, select
from werkzeug.serving import make_server

from gridserve.extensions import db
from gridserve.http_security import QuietRequestHandler, request_id_from
from gridserve.models import AuditEntry
from tests.conftest import PASSWORD

COMMON = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}


def _assert_hardened(resp, what: str) -> None:
    for name, value in COMMON.items():
        assert resp.headers.get(name) == value, (what, name)
    csp = resp.headers.get("Content-Security-Policy", "")
    assert "frame-ancestors 'none'" in csp, what
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp, what
    assert "Werkzeug" not in resp.headers.get("Server", ""), what


def test_every_kind_of_response_carries_the_security_headers(client, auth_as, world):
    headers = auth_as("admin")
    responses = {
        "ok": client.get("/api/v1/me", headers=headers),
        "401": client.get("/api/v1/me"),
        "404 route": client.get("/api/v1/no-such-thing"),
        "404 resource": client.get("/api/v1/users/999999", headers=headers),
        "405": client.put("/api/v1/me", headers=headers),
        "422": client.post("/api/v1/auth/token", json={}),
        "400": client.post(
            "/api/v1/users", data="{", content_type="application/json", headers=headers
        ),
        "413": client.post(
            "/api/v1/auth/token",
            data=b"x" * (11 * 1024 * 1024),
            content_type="application/json",
        ),
        "docs": client.get("/api/v1/docs"),
        "openapi": client.get("/api/v1/openapi.json"),
        "asset": client.get("/api/v1/docs/assets/swagger-ui.css"),
        "health": client.get("/api/v1/health"),
    }
    for what, resp in responses.items():
        _assert_hardened(resp, what)
    assert responses["413"].status_code == 413
    for what in ("ok", "401", "404 route", "422", "openapi"):
        assert responses[what].headers["Content-Security-Policy"].startswith("default-src 'none'")


def test_the_docs_page_allows_exactly_its_own_inline_script(client, world):
    page = client.get("/api/v1/docs")
    assert page.status_code == 200 and page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    inline = re.findall(r"<script>(.*?)</script>", html, re.DOTALL)
    assert len(inline) == 1 and "SwaggerUIBundle" in inline[0]
    digest = base64.b64encode(hashlib.sha256(inline[0].encode()).digest()).decode()
    csp = page.headers["Content-Security-Policy"]
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert directives["script-src"] == f"'self' 'sha256-{digest}'"
    assert directives["connect-src"] == "'self'"  # the OpenAPI document and "Try it out"
    assert directives["default-src"] == "'none'"
    assert "validator.swagger.io" not in html


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@contextmanager
def _serving(app):
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=QuietRequestHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(10)


def test_the_development_server_names_no_version(clean_app):
    with _serving(clean_app) as base, urllib.request.urlopen(f"{base}/api/v1/openapi.json") as r:
        servers = r.headers.get_all("Server")
    assert servers == ["gridserve"]


def test_gunicorn_names_no_version(tmp_path):
    pytest.importorskip("gunicorn")
    import gunicorn.http.wsgi

    import gridserve.gunicorn_conf  # noqa: F401  (renames gunicorn's Server header)

    assert gunicorn.http.wsgi.Response(None, None, None).version == "gridserve"


@pytest.mark.skipif(_chromium() is None, reason="needs Debian's chromium")
def test_swagger_ui_renders_under_the_policy_in_a_real_browser(clean_app, tmp_path):
    """The docs page in headless chromium: every operation is listed, no CSP violation."""
    with _serving(clean_app) as base:
        run = subprocess.run(
            [
                _chromium(),
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                f"--user-data-dir={tmp_path / 'profile'}",
                "--enable-logging=stderr",
                "--v=0",
                "--virtual-time-budget=8000",
                "--dump-dom",
                f"{base}/api/v1/docs",
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert "Content Security Policy" not in run.stderr, run.stderr[-2000:]
    assert run.stdout.count("opblock-summary-path") > 50  # the operations were rendered


def test_everything_a_signed_in_caller_gets_is_no_store(client, auth_as, terminal):
    station = auth_as("station_a")
    for url in ("/api/v1/me", "/api/v1/users", "/api/v1/households", "/api/v1/workers"):
        resp = client.get(url, headers=station)
        assert resp.status_code == 200, url
        assert resp.headers["Cache-Control"] == "no-store", url
    bundle = client.get("/api/v1/sync/bundle", headers=terminal)
    assert bundle.status_code == 200
    assert bundle.headers["Cache-Control"] == "no-store"
    # The ETag still works: the terminal revalidates what it keeps itself.
    again = client.get(
        "/api/v1/sync/bundle", headers=terminal | {"If-None-Match": bundle.headers["ETag"]}
    )
    assert again.status_code == 304
    assert again.headers["Cache-Control"] == "no-store"


def test_the_token_answer_is_no_store_and_static_assets_stay_cacheable(client, world):
    token = client.post("/api/v1/auth/token", json={"username": "admin", "password": PASSWORD})
    assert token.status_code == 201 and token.headers["Cache-Control"] == "no-store"
    asset = client.get("/api/v1/docs/assets/swagger-ui-bundle.js")
    assert asset.status_code == 200
    assert "max-age=86400" in asset.headers["Cache-Control"]
    asset.close()


def test_cors_is_off_by_default(client, auth_as):
    origin = {"Origin": "https://evil.example"}
    resp = client.get("/api/v1/me", headers=auth_as("admin") | origin)
    assert resp.status_code == 200
    assert "Access-Control-Allow-Origin" not in resp.headers
    preflight = client.options(
        "/api/v1/me", headers=origin | {"Access-Control-Request-Method": "GET"}
    )
    assert "Access-Control-Allow-Origin" not in preflight.headers
    assert preflight.status_code == 401


@pytest.fixture
def cors(clean_app, override_settings):
    override_settings(cors_origins=("https://console.example.org",))


def test_a_listed_origin_gets_its_preflight_and_responses(client, auth_as, cors):
    origin = "https://console.example.org"
    preflight = client.options(
        "/api/v1/users",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )
    assert preflight.status_code == 204
    assert preflight.headers["Access-Control-Allow-Origin"] == origin
    allowed = {
        h.strip().lower() for h in preflight.headers["Access-Control-Allow-Headers"].split(",")
    }
    assert {"authorization", "content-type"} <= allowed
    assert "POST" in preflight.headers["Access-Control-Allow-Methods"]
    assert "Access-Control-Allow-Credentials" not in preflight.headers
    _assert_hardened(preflight, "preflight")

    resp = client.get("/api/v1/users", headers=auth_as("admin") | {"Origin": origin})
    assert resp.status_code == 200
    assert resp.headers["Access-Control-Allow-Origin"] == origin
    assert "X-Pagination" in resp.headers["Access-Control-Expose-Headers"]
    assert "Origin" in resp.headers.getlist("Vary") or "Origin" in resp.headers.get("Vary", "")


def test_an_unlisted_origin_gets_no_cors_headers(client, auth_as, cors):
    for origin in ("https://evil.example", "https://console.example.org.evil.example", "null"):
        preflight = client.options(
            "/api/v1/users",
            headers={"Origin": origin, "Access-Control-Request-Method": "GET"},
        )
        assert "Access-Control-Allow-Origin" not in preflight.headers, origin
        assert preflight.status_code == 401  # not answered: the token check applies
        resp = client.get("/api/v1/me", headers=auth_as("admin") | {"Origin": origin})
        assert "Access-Control-Allow-Origin" not in resp.headers, origin


@pytest.mark.parametrize(
    "value",
    [
        "abc\r\nX-Injected: 1",
        "line\nbreak",
        "a" * 500,
        "a" * 65,
        "réquête-ümlaut",
        "spaces are not ok",
        "<script>",
        "",
    ],
)
def test_a_bad_request_id_is_replaced_and_never_reaches_the_audit_log(
    client, world, clean_app, value
):
    with clean_app.app_context():
        first = (db.session.execute(select(func.max(AuditEntry.id))).scalar() or 0) + 1
    resp = client.post(
        "/api/v1/auth/token",
        json={"username": "admin", "password": PASSWORD},
        environ_overrides={"HTTP_X_REQUEST_ID": value.encode("utf-8").decode("latin-1")},
    )
    assert resp.status_code == 201  # replaced, not refused
    echoed = resp.headers["X-Request-Id"]
    assert re.fullmatch(r"[0-9a-f]{32}", echoed)
    with clean_app.app_context():
        ids = (
            db.session.execute(select(AuditEntry.request_id).where(AuditEntry.id >= first))
            .scalars()
            .all()
        )
    assert ids and set(ids) == {echoed}


def test_a_good_request_id_is_kept_and_audited(client, world, clean_app):
    with clean_app.app_context():
        first = (db.session.execute(select(func.max(AuditEntry.id))).scalar() or 0) + 1
    rid = "term-42.sync_7-" + "x" * 49
    assert len(rid) == 64
    resp = client.post(
        "/api/v1/auth/token",
        json={"username": "admin", "password": PASSWORD},
        headers={"X-Request-Id": rid},
    )
    assert resp.headers["X-Request-Id"] == rid
    with clean_app.app_context():
        ids = (
            db.session.execute(select(AuditEntry.request_id).where(AuditEntry.id >= first))
            .scalars()
            .all()
        )
    assert ids and set(ids) == {rid}


def test_request_id_rule():
    assert request_id_from("abc-DEF_1.2") == "abc-DEF_1.2"
    for bad in (None, "", "a b", "a\n", "x" * 65, "é", "a/b"):
        assert request_id_from(bad) != bad
        assert re.fullmatch(r"[0-9a-f]{32}", request_id_from(bad))
