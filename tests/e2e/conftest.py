"""Browser tests: the console and the field app in Debian's headless Chromium, driven by
Playwright's sync API, against the service on a real HTTP server over the full seeded demo.

Fixtures (see ``tests/e2e/test_console_shell.py`` for examples):

- ``live_url``: ``http://127.0.0.1:<port>`` of the live server (session-wide). Its database
  is its own (``<test db>_live``: PostGIS when ``GRIDSERVE_TEST_DATABASE_URL`` is PostgreSQL,
  else a SpatiaLite file), migrated and seeded once per run with the whole demo
  (``seeds.loader.load_demo(register=True)``; users' password :data:`DEMO_PASSWORD`). It uses
  the real clock, and it is shared by every browser test of the run: keep it read-mostly, and
  make what a test writes its own (a new name, a uuid) so no other test depends on it.
- ``e2e_app``: the Flask app behind it (for a test that must look at or prepare the database:
  ``with e2e_app.app_context(): ...``).
- ``browser``: the session's Chromium.
- ``page``: a desktop page (1280×800, Chinese locale, ``base_url`` = ``live_url``, so
  ``page.goto("/")``) in a context of its own; ``phone_page``: the same at 360×640, mobile,
  touch. ``new_context(phone=False, **options)`` opens further contexts (a second user, a
  terminal next to the console); all close at the test's end.
- ``sign_in(page, username, password=DEMO_PASSWORD)``: signs in on the console at ``/`` and
  waits for the shell.
- ``axe(page, exclude=())``: runs axe-core in the page; fails on any violation of impact
  serious or critical (``exclude``: CSS selectors to leave out, e.g. a map's canvas).
- ``screenshot(page, name)``: ``test-artifacts/screenshots/<name>.png`` (full page).

Pages opened through these fixtures fail their test on a Content-Security-Policy violation or
an uncaught script error (``@pytest.mark.allow_page_errors`` to accept them in one test).

Every test here is marked ``e2e``; ``GRIDSERVE_TEST_E2E=0`` skips them (``make test`` runs
them in one lane only).
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from flask import Flask

from gridserve.app import create_app
from tests.databases import Databases, make_settings
from tests.e2e.live import (
    ARTIFACTS,
    DEMO_PASSWORD,
    LiveServer,
    axe_source,
    build_web,
    launch_chromium,
    seed_demo,
)

E2E_DIR = Path(__file__).resolve().parent
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 360, "height": 640}
SCREENSHOTS = ARTIFACTS / "screenshots"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark the browser tests ``e2e`` and run them last: the live server and Chromium start with
    the first of them and stay till the session ends, so no other test runs beside them."""
    skip = os.environ.get("GRIDSERVE_TEST_E2E", "1") == "0"
    browser_tests = []
    for item in items:
        if E2E_DIR in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.e2e)
            if skip:
                reason = "browser tests run in the other lane (GRIDSERVE_TEST_E2E=0)"
                item.add_marker(pytest.mark.skip(reason=reason))
            browser_tests.append(item)
    if browser_tests:
        chosen = set(map(id, browser_tests))
        items[:] = [i for i in items if id(i) not in chosen] + browser_tests


# --------------------------------------------------------------------------- the live server


@pytest.fixture(scope="session")
def e2e_app(databases: Databases, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    """The app on a database of its own holding the full demo (built once per run)."""
    build_web()
    url = databases.create("live")
    app = create_app(
        make_settings(
            url,
            str(tmp_path_factory.mktemp("e2e_instance")),
            # Every browser signs in from 127.0.0.1: no test may lock out the others.
            login_max_failures=1000,
            login_max_failures_per_address=100000,
        )
    )
    seed_demo(app)
    yield app
    from gridserve.extensions import db

    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture(scope="session")
def live_url(e2e_app: Flask) -> Iterator[str]:
    with LiveServer(e2e_app) as server:
        yield server.url


# --------------------------------------------------------------------------- the browser


@pytest.fixture(scope="session")
def _playwright() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        yield pw


@pytest.fixture(scope="session")
def browser(_playwright) -> Iterator[object]:
    made = launch_chromium(_playwright)
    yield made
    made.close()


class PageErrors:
    """What a page's scripts got wrong: CSP violations and uncaught errors."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def watch(self, page) -> None:
        page.on("pageerror", lambda exc: self.seen.append(f"uncaught: {exc}"))
        page.on("console", self._console)

    def _console(self, msg) -> None:
        if msg.type == "error" and "Content Security Policy" in msg.text:
            self.seen.append(f"CSP: {msg.text}")


@pytest.fixture
def new_context(
    browser, live_url: str, request: pytest.FixtureRequest
) -> Iterator[Callable[..., object]]:
    """``new_context(phone=False, **options)``: a fresh browser context (its own storage,
    cookies, service workers) on the live server; closed at the test's end."""
    opened: list[object] = []
    errors = PageErrors()

    def _open(phone: bool = False, **options: object):
        base: dict[str, object] = {
            "base_url": live_url,
            "locale": "zh-CN",
            "timezone_id": "Asia/Shanghai",
            "viewport": PHONE if phone else DESKTOP,
        }
        if phone:
            base.update(is_mobile=True, has_touch=True, device_scale_factor=2)
        context = browser.new_context(**(base | options))
        context.set_default_timeout(15_000)
        context.on("page", errors.watch)
        opened.append(context)
        return context

    yield _open
    for context in opened:
        with contextlib.suppress(Exception):  # a context the test closed, a browser gone
            context.close()
    if errors.seen and not request.node.get_closest_marker("allow_page_errors"):
        pytest.fail("the page reported errors:\n" + "\n".join(errors.seen), pytrace=False)


@pytest.fixture
def page(new_context):
    """A desktop page (1280×800) in a context of its own."""
    return new_context().new_page()


@pytest.fixture
def phone_page(new_context):
    """A phone page (360×640, mobile, touch) in a context of its own."""
    return new_context(phone=True).new_page()


# --------------------------------------------------------------------------- helpers


@pytest.fixture
def sign_in() -> Callable[..., None]:
    """``sign_in(page, username, password=DEMO_PASSWORD)``: the console's sign-in, by label
    and button name (Chinese UI), then waits for the shell's sign-out button."""

    def _sign_in(page, username: str, password: str = DEMO_PASSWORD) -> None:
        page.goto("/")
        page.get_by_label("用户名").fill(username)
        page.get_by_label("密码").fill(password)
        page.get_by_role("button", name="登录").click()
        page.get_by_role("button", name="退出").wait_for()

    return _sign_in


@pytest.fixture(scope="session")
def _axe_js() -> str:
    return axe_source()


@pytest.fixture
def axe(_axe_js: str) -> Callable[..., list[dict]]:
    """``axe(page, exclude=())``: axe-core on the page as it is now; fails the test on a
    serious or critical violation; returns all violations (minor/moderate ones included).

    axe is evaluated through the DevTools protocol (``page.evaluate``), which the page's CSP
    (``script-src 'self'``) does not apply to: no ``bypass_csp`` needed."""

    def _axe(page, exclude: tuple[str, ...] | list[str] = ()) -> list[dict]:
        if not page.evaluate("() => typeof window.axe === 'object'"):
            page.evaluate(_axe_js)
        context = {"exclude": [[s] for s in exclude]} if exclude else None
        result = page.evaluate(
            """async (context) => {
                const r = await axe.run(context ?? document, {resultTypes: ['violations']});
                return r.violations.map(v => ({
                    id: v.id, impact: v.impact, help: v.help,
                    nodes: v.nodes.map(n => n.target.join(' ') + ' — ' + n.failureSummary),
                }));
            }""",
            context,
        )
        bad = [v for v in result if v["impact"] in ("serious", "critical")]
        if bad:
            lines = [f"axe on {page.url}:"]
            for v in bad:
                lines.append(f"- {v['impact']} {v['id']}: {v['help']}")
                lines += [f"    {n}" for n in v["nodes"][:5]]
            pytest.fail("\n".join(lines), pytrace=False)
        return result

    return _axe


@pytest.fixture
def screenshot() -> Callable[..., Path]:
    """``screenshot(page, name)`` → ``test-artifacts/screenshots/<name>.png`` (full page)."""

    def _shot(page, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{re.sub(r'[^A-Za-z0-9._-]+', '-', name)}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return _shot
