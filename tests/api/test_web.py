"""The service serves the built front ends: pages revalidated with a CSP that lets their own
scripts run, hashed assets cached for a year, the field app's service worker scoped to /field/,
and a clear 404 when they are not built."""

from __future__ import annotations

import pytest


@pytest.fixture
def dist(tmp_path, override_settings):
    root = tmp_path / "dist"
    (root / "assets").mkdir(parents=True)
    (root / "field").mkdir()
    (root / "index.html").write_text(
        '<!doctype html><script type="module" src="/assets/console-1.js"></script>'
    )
    (root / "field" / "index.html").write_text("<!doctype html><title>field</title>")
    (root / "field" / "sw.js").write_text("self.addEventListener('fetch', () => {});")
    (root / "field" / "manifest.webmanifest").write_text('{"name": "field"}')
    (root / "assets" / "console-1.js").write_text("console.log(1)")
    override_settings(web_dist=root)
    return root


def test_pages_are_revalidated_and_may_run_their_own_scripts(client, dist):
    for path in ("/", "/field/"):
        resp = client.get(path)
        assert resp.status_code == 200 and resp.mimetype == "text/html"
        assert resp.headers["Cache-Control"] == "no-cache"
        csp = resp.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "connect-src 'self'" in csp
        assert "worker-src 'self'" in csp and "img-src 'self' data: blob:" in csp
        again = client.get(path, headers={"If-None-Match": resp.headers["ETag"]})
        assert again.status_code == 304


def test_assets_are_immutable_for_a_year(client, dist):
    resp = client.get("/assets/console-1.js")
    assert resp.status_code == 200
    assert resp.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert client.get("/assets/../index.html").status_code == 404
    assert client.get("/assets/missing.js").status_code == 404


def test_the_service_worker_is_scoped_to_the_field_app(client, dist):
    resp = client.get("/field/sw.js")
    assert resp.status_code == 200 and resp.headers["Service-Worker-Allowed"] == "/field/"
    assert resp.headers["Cache-Control"] == "no-cache"
    assert "connect-src 'self'" in resp.headers["Content-Security-Policy"]
    manifest = client.get("/field/manifest.webmanifest")
    assert manifest.mimetype == "application/manifest+json"


def test_a_configured_tile_server_may_serve_map_images(client, dist, override_settings):
    override_settings(map_tile_url="https://tiles.example.org/{z}/{x}/{y}.png")
    csp = client.get("/").headers["Content-Security-Policy"]
    assert "img-src 'self' data: blob: https://tiles.example.org;" in csp


def test_not_built_is_a_clear_404(client, tmp_path, override_settings):
    override_settings(web_dist=tmp_path / "nothing")
    resp = client.get("/")
    assert resp.status_code == 404
    assert "npm run build" in resp.get_json()["error"]["message"]


def test_the_tile_url_setting_is_checked():
    from gridserve.config import load_settings

    for bad in ("ftp://x/{z}/{x}/{y}", "https://tiles.example.org/tile.png", "not a url"):
        with pytest.raises(ValueError):
            load_settings({"GRIDSERVE_MAP_TILE_URL": bad, "GRIDSERVE_ENV": "testing"})
