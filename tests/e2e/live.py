"""The pieces of a browser run, shared by the e2e tests (``tests/e2e/conftest.py``) and the
web budgets bench (``bench/web_budgets.py``): the built front ends, a database holding the full
seeded demo, the service on a real HTTP server, and Debian's Chromium driven by Playwright.

Playwright's own browser download does not work here: the browser is ``/usr/bin/chromium``
(``.ci/os-deps.sh chromium``), given to ``chromium.launch(executable_path=...)``.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import threading
from pathlib import Path

from flask import Flask
from werkzeug.serving import BaseWSGIServer, make_server

from gridserve import audit
from gridserve.http_security import QuietRequestHandler

ROOT = Path(__file__).resolve().parents[2]
WEB = ROOT / "web"
AXE = WEB / "node_modules" / "axe-core" / "axe.min.js"
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = os.environ.get("GRIDSERVE_CHROMIUM") or "/usr/bin/chromium"
DEMO_PASSWORD = "demo-pass-123"  # the seeded demo's users (as in tests/conftest.py)
SEED_ACTOR = audit.Actor(kind="test", name="e2e")


def build_web() -> Path:
    """``web/dist``, built by ``.ci/web.sh`` (a no-op when nothing changed). One build at a time:
    two test runs started together must not both write ``dist/``."""
    if not shutil.which("npm"):
        raise RuntimeError("npm is needed to build the web front ends (Node.js 20+)")
    with open(WEB / ".build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        subprocess.run(["bash", str(ROOT / ".ci" / "web.sh")], check=True)
    return WEB / "dist"


def seed_demo(app: Flask) -> None:
    """Migrate the app's (empty) database and load the full demo: the 31,766 places, the
    140-cell layout, workers, the SMS campaign, the outreach programme (~20 s)."""
    from flask_migrate import upgrade

    from gridserve.db import transaction
    from gridserve.extensions import db
    from seeds.loader import load_demo

    with app.app_context(), audit.acting_as(SEED_ACTOR):
        upgrade()
        with transaction():
            load_demo(password=DEMO_PASSWORD, register=True)
        db.session.remove()


class _Handler(QuietRequestHandler):
    """Logs server errors only (a browser test makes hundreds of requests)."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        if str(code).startswith("5"):
            super().log_request(code, size)


class LiveServer:
    """The app on werkzeug's threaded server on 127.0.0.1 (a secure context for the browser, so
    service workers register over plain HTTP) and a free port, in a daemon thread."""

    def __init__(self, app: Flask, host: str = "127.0.0.1", port: int = 0) -> None:
        self.app = app
        self.server: BaseWSGIServer = make_server(
            host, port, app, threaded=True, request_handler=_Handler
        )
        self.url = f"http://{host}:{self.server.server_port}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> LiveServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self._thread.join(timeout=10)
        self.server.server_close()


def launch_chromium(playwright):  # -> playwright.sync_api.Browser
    """Headless Debian Chromium (never Playwright's own download)."""
    if not Path(CHROMIUM).exists():
        raise RuntimeError(f"{CHROMIUM} is missing: run `bash .ci/os-deps.sh chromium`")
    return playwright.chromium.launch(
        executable_path=CHROMIUM,
        headless=True,
        args=["--no-sandbox", "--disable-dev-shm-usage"],
    )


def axe_source() -> str:
    if not AXE.is_file():
        raise RuntimeError(f"{AXE} is missing: run `bash .ci/web.sh` (npm ci)")
    return AXE.read_text(encoding="utf-8")


def api_as(page, username: str, *, check: bool = True, password: str = DEMO_PASSWORD):
    """The API as ``username``, through ``page``'s request context (its base URL, no browser
    state): ``call(method, path, body=None, **query)``. With ``check`` the call asserts a 2xx
    answer and returns its JSON; without, it returns Playwright's response."""
    token = page.request.post(
        "/api/v1/auth/token", data={"username": username, "password": password}
    ).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}

    def call(method: str, path: str, body: object = None, **params: object):
        r = page.request.fetch(
            f"/api/v1{path}", method=method, headers=headers, data=body, params=params or None
        )
        if not check:
            return r
        assert r.ok, (path, r.status, r.text())
        return r.json()

    return call
