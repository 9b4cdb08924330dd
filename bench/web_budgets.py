"""The front ends' budgets in headless Chromium on the seeded demo, median of 5 runs.

``python -m bench.web_budgets [--runs 5] [--database URL]`` (or ``python -m bench web_budgets``)

1. Console sign-in: compressed JavaScript (``encodedBodySize`` of every script the page
   loaded) from navigation until the sign-in form is usable. Budget ≤ 500 KB.
2. Field app task list: the same, on a new terminal: from navigation through enrolment (the
   one-time code typed) until the task list is shown. Budget ≤ 200 KB; the scripts loaded when
   the map opens are counted apart, ≤ 300 KB.
3. Console map: from the end of the last ``/api/v1/places`` response to the map idle with
   every place and cell of the street (the street centre's map: 31,766 places, 140 cells;
   ``data-drawn="yes"`` on the map's status line, then two animation frames). Budget ≤ 1 s.
4. Field app offline: network off, from navigation to ``/field/#/places`` to the first cell's
   place list rendered from IndexedDB (the service worker serves the shell). Budget ≤ 1 s.

A screen that is not there yet (its selector never shows) is reported as "not measured yet".
Each run uses a new browser context: no HTTP cache, no storage, no service worker.

Works on a scratch database (``GRIDSERVE_BENCH_DATABASE_URL``, default ``gridserve_bench_web``
on the local server; a ``sqlite:///`` URL works too), dropped and created afresh, served by
werkzeug's threaded server on 127.0.0.1 (pages and API gzip-compressed as in production).
"""

from __future__ import annotations

import argparse
import gzip
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from cryptography.fernet import Fernet

from gridserve.app import create_app
from gridserve.config import load_settings
from tests.e2e.live import DEMO_PASSWORD, LiveServer, build_web, launch_chromium, seed_demo

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/gridserve_bench_web"
KB = 1000
WAIT_MS = 20_000

BUDGETS = {
    "console_signin_js": ("console: JS until sign-in is usable", 500 * KB, "bytes"),
    "field_tasks_js": ("field app: JS until the task list is usable", 200 * KB, "bytes"),
    "field_map_js": ("field app: JS of the map, loaded when it opens", 300 * KB, "bytes"),
    "console_map_idle": ("console map: last places response → idle", 1.0, "s"),
    "field_offline_places": ("field app offline: navigation → place list", 1.0, "s"),
}

# Scripts the page has loaded so far (performance entries), with their compressed size.
SCRIPTS_JS = """() => performance.getEntriesByType('resource')
    .filter(e => new URL(e.name).pathname.endsWith('.js'))
    .map(e => ({url: e.name, encoded: e.encodedBodySize, decoded: e.decodedBodySize,
                sw: e.workerStart > 0}))"""

# Marks (performance.now()) when the console map says it has drawn, and when a place list has
# items: set up before any script of the page runs.
MARKS_INIT = """
(() => {
  const seen = {};
  window.__marks = seen;
  const frames = (name) => requestAnimationFrame(() => requestAnimationFrame(() => {
    if (!(name in seen)) seen[name] = performance.now();
  }));
  new MutationObserver(() => {
    if (document.querySelector('[data-testid="map-status"][data-drawn="yes"]')) frames('mapIdle');
    if (document.querySelector('[data-testid="place-list"] li')) frames('placeList');
  }).observe(document, {subtree: true, childList: true, attributes: true,
                        attributeFilter: ['data-drawn']});
})();
"""


class NotYet(Exception):
    """The screen a budget needs is not there (yet)."""


def _fresh(url: str) -> None:
    if url.startswith("sqlite"):
        path = Path(url.split("///", 1)[1])
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        path.parent.mkdir(parents=True, exist_ok=True)
        return
    from bench.common import fresh_database

    fresh_database(url)


def _app(url: str):
    env = {
        "GRIDSERVE_ENV": "testing",
        "GRIDSERVE_DATABASE_URL": url,
        "GRIDSERVE_INSTANCE_PATH": "/tmp/gridserve-bench-web-instance",
        "GRIDSERVE_SECRET_KEY": Fernet.generate_key().decode(),
        "GRIDSERVE_DATA_KEYS": Fernet.generate_key().decode(),
    }
    return create_app(
        load_settings(env, login_max_failures=1000, login_max_failures_per_address=100000)
    )


def _js_bytes(page) -> tuple[int, list[dict]]:
    """The scripts the page loaded and their compressed sizes. One served by the service worker
    (from its precache) reports its decoded size: it is sized as the server sends it (gzip, level
    6, from 500 bytes: flask-compress's settings)."""
    scripts = page.evaluate(SCRIPTS_JS)
    for s in scripts:
        if s["sw"] or not s["encoded"]:
            body = page.request.get(s["url"]).body()
            small = len(body) < 500
            s["encoded"] = len(body) if small else len(gzip.compress(body, compresslevel=6))
    return sum(s["encoded"] for s in scripts), scripts


def _visible(locator, what: str, timeout: int = WAIT_MS) -> None:
    try:
        locator.first.wait_for(state="visible", timeout=timeout)
    except Exception as exc:  # playwright's TimeoutError
        raise NotYet(what) from exc


class Bench:
    def __init__(self, app, browser, url: str) -> None:
        self.app = app
        self.browser = browser
        self.url = url

    def context(self, phone: bool = False):
        options: dict[str, object] = {"base_url": self.url, "locale": "zh-CN"}
        if phone:
            options.update(viewport={"width": 360, "height": 640}, is_mobile=True, has_touch=True)
        else:
            options.update(viewport={"width": 1280, "height": 800})
        context = self.browser.new_context(**options)
        context.add_init_script(MARKS_INIT)
        return context

    # -- 1. the console's sign-in
    def console_signin_js(self) -> float:
        context = self.context()
        try:
            page = context.new_page()
            page.goto("/")
            button = page.get_by_role("button", name="登录")
            _visible(button, "the console's sign-in")
            page.get_by_label("用户名", exact=True).wait_for()
            total, scripts = _js_bytes(page)
            self.scripts["console_signin_js"] = scripts
            return total
        finally:
            context.close()

    # -- 3. the console's map
    def console_map_idle(self) -> float:
        context = self.context()
        try:
            page = context.new_page()
            page.goto("/")
            page.get_by_label("用户名", exact=True).fill("centre")
            page.get_by_label("密码", exact=True).fill(DEMO_PASSWORD)
            page.get_by_role("button", name="登录").click()
            _visible(page.get_by_role("button", name="退出"), "the console's shell")
            page.goto("/#/map")
            status = page.locator('[data-testid="map-status"][data-drawn="yes"]')
            _visible(status, "the console map (data-testid=map-status, data-drawn=yes)", 60_000)
            page.wait_for_function("() => 'mapIdle' in window.__marks", timeout=10_000)
            last = page.evaluate(
                """() => Math.max(...performance.getEntriesByType('resource')
                    .filter(e => new URL(e.name).pathname === '/api/v1/places')
                    .map(e => e.responseEnd))"""
            )
            idle = page.evaluate("() => window.__marks.mapIdle")
            self.map_status = status.inner_text()
            if last <= 0:
                raise NotYet("the console map's GET /api/v1/places")
            return (idle - last) / 1000
        finally:
            context.close()

    # -- 2. and 4. the field app: a new terminal, its task list, its map, offline places
    def _enrolment_code(self) -> str:
        from gridserve.services.accounts.users import find_by_username
        from gridserve.services.field import workers

        with self.app.app_context():
            worker_id = workers.worker_for_user(find_by_username("worker1").id).id
        client = self.app.test_client()
        token = client.post(
            "/api/v1/auth/token", json={"username": "station1", "password": DEMO_PASSWORD}
        ).get_json()["access_token"]
        reply = client.post(
            f"/api/v1/workers/{worker_id}/enrolment-codes",
            headers={"Authorization": f"Bearer {token}"},
        )
        assert reply.status_code == 201, reply.get_json()
        return reply.get_json()["code"]

    def field(self) -> dict[str, float]:
        """One new terminal: JS until the task list, the map's JS, offline place list time."""
        out: dict[str, float] = {}
        context = self.context(phone=True)
        try:
            page = context.new_page()
            page.goto("/field/")
            code_box = page.get_by_label("登记码", exact=True)
            _visible(code_box, "the field app's enrolment (label 登记码)")
            code_box.fill(self._enrolment_code())
            page.get_by_role("button", name="登记", exact=True).click()
            _visible(page.get_by_role("heading", name="我的任务"), "the field app's task list")
            out["field_tasks_js"], before = _js_bytes(page)
            self.scripts["field_tasks_js"] = before
            seen = {s["url"] for s in before}
            page.goto("/field/#/map")
            try:
                _visible(page.locator(".leaflet-container"), "the field app's map")
                page.wait_for_load_state("networkidle")
                after = [s for s in _js_bytes(page)[1] if s["url"] not in seen]
                self.scripts["field_map_js"] = after
                out["field_map_js"] = sum(s["encoded"] for s in after)
            except NotYet as gap:
                self.gaps.add(str(gap))
            # The bundle in IndexedDB first, then the network off and a new navigation.
            page.goto("/field/#/places")
            _visible(page.locator('[data-testid="place-list"] li'), "the field app's place list")
            page.evaluate("async () => { await navigator.serviceWorker.ready; }")
            context.set_offline(True)
            page.reload()
            page.wait_for_function("() => 'placeList' in (window.__marks || {})", timeout=WAIT_MS)
            out["field_offline_places"] = page.evaluate("() => window.__marks.placeList") / 1000
        except NotYet as gap:
            self.gaps.add(str(gap))
        finally:
            context.close()
        return out

    def run(self, runs: int) -> dict[str, list[float]]:
        """Each measure ``runs`` times; one that finds its screen missing is not tried again."""
        self.gaps: set[str] = set()
        self.scripts: dict[str, list[dict]] = {}
        got: dict[str, list[float]] = {k: [] for k in BUDGETS}
        steps: dict[str, Callable[[], float]] = {
            "console_signin_js": self.console_signin_js,
            "console_map_idle": self.console_map_idle,
        }
        field_app = True
        for _ in range(runs):
            for key, measure in list(steps.items()):
                try:
                    got[key].append(measure())
                except NotYet as gap:
                    self.gaps.add(str(gap))
                    del steps[key]
            if field_app:
                measured = self.field()
                for key, value in measured.items():
                    got[key].append(value)
                field_app = "field_tasks_js" in measured
        return got


def _fmt(value: float, unit: str) -> str:
    return f"{value / KB:,.1f} KB" if unit == "bytes" else f"{value:.3f} s"


def run(url: str | None = None, runs: int = 5) -> dict[str, float]:
    from playwright.sync_api import sync_playwright

    url = url or os.environ.get("GRIDSERVE_BENCH_DATABASE_URL", DEFAULT_URL)
    build_web()
    _fresh(url)
    app = _app(url)
    started = time.perf_counter()
    seed_demo(app)
    print(f"demo loaded into {url.rsplit('/', 1)[1]} in {time.perf_counter() - started:.0f} s")
    medians: dict[str, float] = {}
    with LiveServer(app) as server, sync_playwright() as pw:
        browser = launch_chromium(pw)
        try:
            bench = Bench(app, browser, server.url)
            got = bench.run(runs)
        finally:
            browser.close()
    print(f"headless Chromium, {runs} runs each (median; min–max)")
    for key, (title, limit, unit) in BUDGETS.items():
        values = got[key]
        if not values:
            continue
        medians[key] = med = statistics.median(values)
        verdict = "ok" if med <= limit else "OVER BUDGET"
        print(
            f"  {title:<48} {_fmt(med, unit):>10}  ({_fmt(min(values), unit)}–"
            f"{_fmt(max(values), unit)}; budget {_fmt(limit, unit)}) {verdict}"
        )
    for key, scripts in bench.scripts.items():
        listed = ", ".join(
            f"{s['url'].rsplit('/', 1)[1]} {s['encoded'] / KB:.1f}"
            for s in sorted(scripts, key=lambda s: -s["encoded"])
        )
        print(f"  {key} scripts (KB): {listed}")
    if getattr(bench, "map_status", None):
        print(f"  console map status line: {bench.map_status}")
    missing = [title for key, (title, _, _) in BUDGETS.items() if not got[key]]
    for title in missing:
        print(f"  not measured yet: {title}")
    for gap in sorted(bench.gaps):
        print(f"    (missing: {gap})")
    return medians


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--database", default=None, help=f"default {DEFAULT_URL}")
    args = parser.parse_args(argv)
    run(args.database, args.runs)


if __name__ == "__main__":
    main()
