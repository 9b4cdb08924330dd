"""Upgrades: the previous release keeps serving sync while this release's migrations run.

Migrations are expand-then-contract (``migrations/README.md``; the static half of the rule is
``tests/test_migrations.py``). This test is the dynamic half, on PostgreSQL:

1. **The previous release** is the code of the newest commit, on this checkout's first-parent
   history, whose migration head is the ``down_revision`` of this tree's head: the code that
   served right before the newest migration arrived. It is computed from git (``git log`` on
   ``migrations/versions``), never hard-coded, so the test follows whatever the head is
   (0019, or a 0020 merged later). So there is always exactly one migration to run: this
   tree's newest. (A head with several down revisions, a merge point, is not supported and
   fails with that reason.) On a shallow clone without that commit the test is skipped, saying
   so; CI uses a full clone.
2. That commit's tree is taken out of git (``git archive``) and, **with that code**, a fresh
   database is upgraded to its head (its own ``gridserve db upgrade``) and seeded with its own
   test worlds (the small area tree and the ``field`` world: a street with an active grid and
   worker_a holding a cell), so the seed matches the schema it was written for.
3. That code serves under gunicorn with its own ``gridserve/gunicorn_conf.py`` and 2 workers.
   A terminal enrols through the API; two threads then sync without pause: incremental bundle
   reads (``GET /sync/bundle?since=<cursor>``) and uploads of patrol records
   (``POST /sync/visits``).
4. While they run, **this** tree's ``gridserve db upgrade`` runs against the same database;
   the threads go on for a few seconds after it ends.

It passes when no sync request answered >= 500 or failed to connect, every upload stored its
records, at least :data:`MIN_DURING` requests completed while the upgrade ran, and the database
ends at this tree's head.
"""

from __future__ import annotations

import ast
import datetime as dt
import io
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tarfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests
from cryptography.fernet import Fernet
from shapely.geometry import shape

from tests.test_migrations import _revisions

ROOT = Path(__file__).resolve().parents[2]
MIN_DURING = 3  # sync requests that must complete while the new code's upgrade runs
AFTER_S = 4.0  # seconds of sync after the upgrade ended
PASSWORD = "correct horse battery"  # the test worlds' users (tests/conftest.py)
CLI = "import sys; from gridserve.cli import main; sys.argv[0] = 'gridserve'; main()"

# Run with the previous release's code (PYTHONPATH and cwd its tree): its own test worlds.
SEED = """
import json, os
from gridserve.app import create_app
from gridserve.config import load_settings
from gridserve.extensions import db
from tests.conftest import WORLDS

app = create_app(load_settings(dict(os.environ)))
values = {}
with app.app_context():
    for name in ("world", "field"):
        values[name] = WORLDS[name].build(values)
        db.session.remove()
field = values["field"]
print(json.dumps({"street": field.world.street, "worker_id": field.worker_id, "cell": field.cell}))
"""


# --- which release came before ------------------------------------------------------------------


def _git(*args: str, binary: bool = False):
    out = subprocess.run(
        ["git", "-C", str(ROOT), *args], capture_output=True, check=True, timeout=60
    ).stdout
    return out if binary else out.decode()


_ASSIGNED = re.compile(r"^(?P<path>[^:]+\.py):(?P<name>revision|down_revision)\s*=\s*(?P<v>.+)$")


def heads_at(commit: str) -> set[str]:
    """The migration head(s) of ``commit``'s tree, read from git."""
    out = _git("grep", "-E", r"^(revision|down_revision)\s*=", commit, "--", "migrations/versions")
    by_file: dict[str, dict[str, object]] = {}
    for line in out.splitlines():
        m = _ASSIGNED.match(line.removeprefix(f"{commit}:"))
        if m:
            by_file.setdefault(m["path"], {})[m["name"]] = ast.literal_eval(m["v"].strip())
    downs: set[object] = set()
    for values in by_file.values():
        down = values.get("down_revision")
        downs.update(down if isinstance(down, tuple | list) else [down])
    return {str(v["revision"]) for v in by_file.values() if v.get("revision") not in downs}


def previous_release() -> tuple[str, str, str]:
    """``(commit, its head, this tree's head)``: the newest first-parent commit whose head is
    the down revision of this tree's head (see the module docstring)."""
    revisions = _revisions()
    downs = {r.down_revision for r in revisions.values()}
    (head,) = [r for r in revisions if r not in downs]
    down = revisions[head].down_revision
    if not isinstance(down, str):
        pytest.fail(f"{head} has down revisions {down!r}: a merge point, which this test cannot "
                    "pair with one previous release")  # fmt: skip
    newer = None  # the oldest commit seen so far that already has a newer head
    for commit in _git("rev-list", "--first-parent", "HEAD", "--", "migrations/versions").split():
        if heads_at(commit) == {down}:
            # Nothing touched the migrations between it and `newer`: the newest commit with
            # that head is the one just before `newer` (or HEAD, if the new head is uncommitted).
            found = _git("rev-parse", f"{newer}^1" if newer else "HEAD").strip()
            assert heads_at(found) == {down}, (found, heads_at(found), down)
            return found, down, head
        newer = commit
    if _git("rev-parse", "--is-shallow-repository").strip() == "true":
        pytest.skip(
            f"shallow clone: no commit with migration head {down} in the fetched history "
            "(fetch the full history, as CI does, to run the upgrade test)"
        )
    pytest.fail(f"no commit in this history has migration head {down}")


def test_the_previous_release_is_one_migration_behind():
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout: the previous release cannot be taken from git")
    commit, old_head, head = previous_release()
    revisions = _revisions()
    assert revisions[head].down_revision == old_head
    assert heads_at(commit) == {old_head}
    # Newest: the commit after it on the first-parent line (if any) has a newer head.
    children = _git("rev-list", "--first-parent", "--reverse", f"{commit}..HEAD").split()
    if children:
        assert heads_at(children[0]) != {old_head}


# --- the run ------------------------------------------------------------------------------------


@dataclass
class Sync:
    """What the sync threads saw: each request as (kind, started, ended, status or error)."""

    base: str
    headers: dict[str, str]
    lon: float
    lat: float
    stop: threading.Event = field(default_factory=threading.Event)
    seen: list[tuple[str, float, float, int | str]] = field(default_factory=list)
    not_stored: list[object] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def _note(self, kind: str, started: float, outcome: int | str) -> None:
        with self.lock:
            self.seen.append((kind, started, time.monotonic(), outcome))

    def bundles(self) -> None:
        with requests.Session() as http:
            http.trust_env = False  # straight to the loopback, whatever proxy is configured
            cursor = None
            while not self.stop.is_set():
                started = time.monotonic()
                try:
                    params = {"since": cursor} if cursor else {}
                    resp = http.get(
                        f"{self.base}/sync/bundle", params=params, headers=self.headers, timeout=30
                    )
                except requests.RequestException as exc:
                    self._note("bundle", started, f"{type(exc).__name__}: {exc}")
                    time.sleep(0.2)
                    continue
                self._note("bundle", started, resp.status_code)
                if resp.status_code == 200:
                    body = resp.json()
                    cursor = body["next_cursor"]  # incremental from the second read on
                time.sleep(0.05)

    def uploads(self) -> None:
        with requests.Session() as http:
            http.trust_env = False
            while not self.stop.is_set():
                now = dt.datetime.now(dt.UTC)
                items = [
                    {
                        "uuid": str(uuid.uuid4()),
                        "type": "patrol",
                        "started_at": (now - dt.timedelta(seconds=5)).isoformat(),
                        "ended_at": now.isoformat(),
                        "location": {"lon": self.lon, "lat": self.lat, "accuracy_m": 8},
                        "notes": "升级期间巡查",
                        "answers": {"hazards": 0},
                    }
                    for _ in range(3)
                ]
                started = time.monotonic()
                try:
                    resp = http.post(
                        f"{self.base}/sync/visits",
                        json={"items": items},
                        headers=self.headers,
                        timeout=30,
                    )
                except requests.RequestException as exc:
                    self._note("upload", started, f"{type(exc).__name__}: {exc}")
                    time.sleep(0.2)
                    continue
                self._note("upload", started, resp.status_code)
                if resp.status_code == 200:
                    statuses = [r["status"] for r in resp.json()["results"]]
                    if statuses != ["created"] * len(items):
                        self.not_stored.append(resp.json()["results"])
                time.sleep(0.05)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _extract(commit: str, into: Path) -> None:
    data = _git("archive", "--format=tar", commit, binary=True)
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        tar.extractall(into, filter="data")


def _run(code_dir: Path, env: dict[str, str], *args: str, timeout: float = 180):
    return subprocess.run(
        [sys.executable, *args],
        cwd=code_dir,
        env={**env, "PYTHONPATH": str(code_dir)},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _wait_ready(base: str, server: subprocess.Popen, log: Path, deadline_s: float = 60) -> None:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if server.poll() is not None:
            pytest.fail(f"the old release's gunicorn exited:\n{log.read_text()[-3000:]}")
        try:
            if requests.get(f"{base}/health", timeout=5).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.3)
    pytest.fail(f"the old release never became ready:\n{log.read_text()[-3000:]}")


def _terminal(base: str, worker_id: int) -> dict[str, str]:
    """worker_a's terminal, enrolled through the old release's API."""
    token = requests.post(
        f"{base}/auth/token", json={"username": "station_a", "password": PASSWORD}, timeout=30
    )
    assert token.status_code == 201, token.text
    station = {"Authorization": f"Bearer {token.json()['access_token']}"}
    code = requests.post(f"{base}/workers/{worker_id}/enrolment-codes", headers=station, timeout=30)
    assert code.status_code == 201, code.text
    enrolled = requests.post(
        f"{base}/devices/enrol",
        json={"code": code.json()["code"], "label": "升级终端", "platform": "android 14"},
        timeout=30,
    )
    assert enrolled.status_code == 201, enrolled.text
    return {
        "Authorization": f"Bearer {enrolled.json()['device_token']}",
        "X-App-Version": "1.4.2",
    }


def _point_in_cell(base: str, street: int, cell: str) -> tuple[float, float]:
    token = requests.post(
        f"{base}/auth/token", json={"username": "centre", "password": PASSWORD}, timeout=30
    ).json()["access_token"]
    cells = requests.get(
        f"{base}/areas/{street}/cells", headers={"Authorization": f"Bearer {token}"}, timeout=30
    ).json()
    feature = next(f for f in cells["features"] if f["properties"]["code"] == cell)
    p = shape(feature["geometry"]).representative_point()
    return p.x, p.y


def _stop(server: subprocess.Popen) -> None:
    if server.poll() is None:
        server.terminate()
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(10)


def test_the_previous_release_serves_sync_while_this_release_migrates(databases, tmp_path):
    if databases.backend != "postgresql":
        pytest.skip("the rolling upgrade is a PostgreSQL deployment's (SQLite serves one process)")
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout: the previous release cannot be taken from git")
    started = time.monotonic()
    commit, old_head, head = previous_release()
    old = tmp_path / "previous"
    _extract(commit, old)

    url = databases.create("upgrade")
    port = _free_port()
    base = f"http://127.0.0.1:{port}/api/v1"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GRIDSERVE_", "PROMETHEUS"))}
    env |= {
        "GRIDSERVE_ENV": "production",
        "GRIDSERVE_DATABASE_URL": url,
        "GRIDSERVE_SECRET_KEY": secrets.token_hex(32),
        "GRIDSERVE_DATA_KEYS": Fernet.generate_key().decode(),
        "GRIDSERVE_INSTANCE_PATH": str(tmp_path / "instance"),
        "GRIDSERVE_BIND": f"127.0.0.1:{port}",
        "GRIDSERVE_WORKERS": "2",
    }
    server = None
    log = tmp_path / "gunicorn.log"
    try:
        # The previous release builds its database: its migrations, its own test worlds.
        done = _run(old, env, "-c", CLI, "db", "upgrade")
        assert done.returncode == 0, done.stderr[-3000:]
        seeded = _run(old, env, "-c", SEED)
        assert seeded.returncode == 0, seeded.stderr[-3000:]
        world = json.loads(seeded.stdout.strip().splitlines()[-1])

        with log.open("w") as out:
            server = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "-c", "python:gridserve.gunicorn_conf",
                 "wsgi:app"],
                cwd=old, env={**env, "PYTHONPATH": str(old)}, stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
        _wait_ready(base, server, log)
        assert requests.get(f"{base}/health", timeout=10).json()["schema"] == old_head

        lon, lat = _point_in_cell(base, world["street"], world["cell"])
        sync = Sync(base=base, headers=_terminal(base, world["worker_id"]), lon=lon, lat=lat)
        threads = [
            threading.Thread(target=sync.bundles, daemon=True),
            threading.Thread(target=sync.uploads, daemon=True),
        ]
        for t in threads:
            t.start()
        time.sleep(2.0)  # syncing before the upgrade starts

        # This release's migrations, with this tree's code, on the database being served.
        upgrade_started = time.monotonic()
        upgraded = _run(ROOT, env, "-c", CLI, "db", "upgrade")
        upgrade_ended = time.monotonic()
        assert upgraded.returncode == 0, upgraded.stderr[-3000:]
        assert f"-> {head}" in upgraded.stderr + upgraded.stdout  # it ran the newest migration

        time.sleep(AFTER_S)
        sync.stop.set()
        for t in threads:
            t.join(40)
        assert not any(t.is_alive() for t in threads)
        assert server.poll() is None, log.read_text()[-3000:]
    finally:
        if server is not None:
            _stop(server)

    failed = [s for s in sync.seen if not isinstance(s[3], int) or s[3] >= 500]
    assert failed == [], (
        f"{len(failed)} failed requests, e.g. {failed[:5]}\n" + (log.read_text()[-3000:])
    )
    refused = [s for s in sync.seen if s[3] != 200]
    assert refused == [], refused[:5]  # nothing else either (no 4xx on a valid sync)
    assert sync.not_stored == [], sync.not_stored[:3]
    during = [s for s in sync.seen if upgrade_started <= s[2] <= upgrade_ended]
    kinds = {s[0] for s in during}
    assert len(during) >= MIN_DURING and kinds == {"bundle", "upload"}, (
        len(during),
        kinds,
        upgrade_ended - upgrade_started,
    )
    after = [s for s in sync.seen if s[1] > upgrade_ended]
    assert {s[0] for s in after} == {"bundle", "upload"}  # both still served on the new schema

    # The database is at this tree's head (the old code, serving, reads it as is).
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    engine = create_engine(make_url(url).set(drivername="postgresql+psycopg"))
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == head
    finally:
        engine.dispose()
        databases.drop("upgrade")
    print(
        f"upgrade {old_head} -> {head} (previous release {commit[:10]}) under sync: "
        f"{len(sync.seen)} requests, {len(during)} during the "
        f"{upgrade_ended - upgrade_started:.1f} s upgrade, 0 errors; "
        f"test {time.monotonic() - started:.0f} s"
    )
