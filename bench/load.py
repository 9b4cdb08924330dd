"""Load on PostGIS through gunicorn: 200 terminals and 5 coordinators, open loop; then the sync's
throughput against a test-only endpoint doing the same token look-up, closed loop.

``python -m bench.load [--duration 300] [--terminals 200] [--workers 3] [--quick]``
(or ``python -m bench load``; about 7 minutes in full, 1 minute with ``--quick``).

Setup (not measured): a scratch database (``GRIDSERVE_BENCH_DATABASE_URL``, default
``gridserve_bench_load`` on the local server, dropped and created afresh) gets the demo
(``load_demo``: the street's 140 cells, one worker on each, the SMS campaign, the visits
programme); every worker gets an account, and ``--terminals`` terminals are enrolled through
the service (enrolment code, then device token) over the workers in turn (200 over 140: 60
workers carry a second terminal). Five coordinators sign in. gunicorn is started with the
repository's config (``gunicorn -c python:gridserve.gunicorn_conf wsgi:app``,
``GRIDSERVE_ENV=production``, ``GRIDSERVE_WORKERS`` workers × 2 threads, JSON logs to a file,
Prometheus multiprocess mode on, ``GRIDSERVE_BENCH_ENDPOINTS=1``) pinned to the last core; this
process, the client, pins itself to the first core (``os.sched_setaffinity``): one asyncio loop,
aiohttp. PostgreSQL is not pinned. Each terminal starts from the cursor its full bundle would
end with (the end of the change stream, computed in process) and makes one incremental sync
to warm the workers. ``--reuse`` keeps a database an earlier run seeded (new terminals are
enrolled each run).

(a) Open loop, ``--duration`` seconds: each terminal an incremental sync
(``GET /sync/bundle?since=<its cursor>``) every 30 s and an upload of 5 items
(``POST /sync/visits``: 4 patrols and 1 case, fresh UUIDs, locations inside its cell) every
60 s, each at a random phase; each coordinator every 10 s reads, in turn, the SMS campaign's
progress and the visits programme's progress. Requests are sent at their scheduled instants
whatever is still in flight, and each latency is measured from the scheduled instant (no
coordinated omission: a late client or a queue shows up in the figures). An upload's case is a
change in its worker's next syncs, so each sync is incremental with a few changes (checked:
at most 20). Targets: incremental sync p99 < 100 ms, 0 errors (any status but 200, any
transport error, any upload item not ``created``).

(b) Closed loop: ``--concurrency`` clients each send, one after the other for ``--closed``
seconds, incremental syncs of the terminals in turn (nothing new by then: an empty change set),
and as long again the same requests to ``GET /api/v1/_bench/sync-static`` (api/bench.py: the
same token look-up, role check and query schema; the bytes of a real incremental bundle from
memory), twice, interleaved. Target: ours ≥ 50 % of the static endpoint's requests/s.

The client's CPU time is printed for each phase: a client near 100 % of its core would be the
limit instead of the server. gunicorn's CPU per request (its processes' times in /proc) is
printed beside the requests/s, and the machine's load average: on a shared machine the
requests/s and latencies move with the other load, the CPU per request much less.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import datetime as dt
import hashlib
import os
import random
import resource
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/gridserve_bench_load"
PASSWORD = "bench-pass-123"
ROOT = Path(__file__).resolve().parents[1]
SYNC_EVERY, UPLOAD_EVERY, PROGRESS_EVERY = 30.0, 60.0, 10.0
COORDINATORS = 5
ITEMS = 5
MAX_CHANGES = 20
SYNC_P99_MS = 100.0
CHANGE_KEYS = ("places", "households", "tasks", "tombstones", "events", "sme_enterprises")


@dataclass
class Terminal:
    token: str
    worker_id: int
    points: list[tuple[float, float]]
    cursor: str = ""
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class World:
    terminals: list[Terminal]
    coordinators: list[dict[str, str]]
    campaign_id: int
    programme_id: int
    workers: int


# --- setup -----------------------------------------------------------------------------------


# The bench's own keys (the demo's data is invented): a database seeded by an earlier run
# (--reuse) stays readable.
BENCH_DATA_KEY = base64.urlsafe_b64encode(hashlib.sha256(b"gridserve bench.load").digest()).decode()


def _env(url: str, port: int, workers: int, tmp: Path) -> dict[str, str]:
    return {
        "GRIDSERVE_ENV": "production",
        "GRIDSERVE_DATABASE_URL": url,
        "GRIDSERVE_SECRET_KEY": secrets.token_urlsafe(48),
        "GRIDSERVE_DATA_KEYS": BENCH_DATA_KEY,
        "GRIDSERVE_INSTANCE_PATH": str(tmp / "instance"),
        "GRIDSERVE_BIND": f"127.0.0.1:{port}",
        "GRIDSERVE_WORKERS": str(workers),
        "GRIDSERVE_BENCH_ENDPOINTS": "1",
        "GRIDSERVE_JOBS_MODE": "workers",  # no job threads in the web processes
        "PROMETHEUS_MULTIPROC_DIR": str(tmp / "metrics"),
    }


def _seed(url: str, env: dict[str, str], n_terminals: int, reuse: bool) -> World:
    """The demo, an account for every worker, ``n_terminals`` enrolled terminals, each with the
    cursor its full bundle would end with (the end of the change stream)."""
    import shapely
    from sqlalchemy import select

    from bench.common import fresh_app
    from gridserve import audit
    from gridserve.app import create_app
    from gridserve.config import load_settings
    from gridserve.db import transaction
    from gridserve.extensions import db
    from gridserve.models import GridCell, OutreachProgramme, SmsCampaign, User, Worker
    from gridserve.scope import OPERATOR
    from gridserve.services.accounts import users as user_service
    from gridserve.services.accounts.auth import authenticate
    from gridserve.services.field import bundle
    from gridserve.services.field import devices as device_service
    from gridserve.services.field import workers as worker_service
    from gridserve.spatial import to_shapely
    from gridserve.timeutil import local_today
    from seeds.loader import load_demo

    # Seeding runs in process under testing settings (argon2's cheapest profile for the 140
    # accounts); the server reads the same database with the same keys.
    seed_env = env | {"GRIDSERVE_ENV": "testing"}
    app = None
    if reuse:
        app = create_app(load_settings(seed_env))
        try:
            with app.app_context():
                seeded = db.session.execute(
                    select(User.id).where(User.username.like("load-worker-%")).limit(1)
                ).first()
        except Exception:  # no such database or schema: seed afresh
            seeded = None
        if seeded is None:
            app = None
    if app is None:
        app = fresh_app(url, seed_env)
    rng = np.random.default_rng(16)
    with app.app_context(), audit.acting_as(audit.Actor(kind="cli", name="bench")):
        today = local_today()
        with transaction():
            load_demo(password=PASSWORD, today=today)  # a no-op on a seeded database
        with transaction():
            workers = list(db.session.execute(select(Worker).order_by(Worker.id)).scalars())
            for w in workers:
                if w.user_id is None:
                    user = user_service.create_user(
                        None,
                        {"username": f"load-worker-{w.id}", "password": PASSWORD,
                         "role": "worker", "full_name": w.full_name, "area_id": w.area_id},
                    )  # fmt: skip
                    worker_service.update_worker(OPERATOR, w.id, {"user_id": user.id}, today)
            shapes = {}
            for w in workers:
                (held,) = worker_service.open_assignments(w.id, today)
                cell = db.session.execute(
                    select(GridCell).where(
                        GridCell.code == held.cell_code, GridCell.in_force_on(today)
                    )
                ).scalar_one()
                shapes[w.id] = to_shapely(cell.geom)
            terminals = []
            for i in range(n_terminals):
                w = workers[i % len(workers)]
                code = device_service.issue_enrolment_code(OPERATOR, w.id)["code"]
                token = device_service.enrol(code, label=f"load-{i}", platform="bench",
                                             app_version=None)["device_token"]  # fmt: skip
                shape = shapes[w.id]
                minx, miny, maxx, maxy = shape.bounds
                xs = rng.uniform(minx, maxx, 400)
                ys = rng.uniform(miny, maxy, 400)
                inside = shapely.contains_xy(shape, xs, ys)
                points = list(zip(xs[inside].tolist(), ys[inside].tolist(), strict=True))[:40]
                terminals.append(Terminal(token, w.id, points))
            campaign_id = db.session.execute(select(SmsCampaign.id).limit(1)).scalar_one()
            programme_id = db.session.execute(
                select(OutreachProgramme.id).where(OutreachProgramme.kind == "visits").limit(1)
            ).scalar_one()
        # Where each terminal's full bundle ends (what build() gives out at the end of the
        # stream); taking 200 full bundles over HTTP first would only add minutes of setup.
        with app.test_request_context():
            for t in terminals:
                held = bundle.holdings(authenticate(t.token), today)
                end = (held.seq, len(bundle.KINDS) - 1, 0)
                t.cursor = bundle._encode(end, held.signature, held.fingerprint)
            db.session.rollback()
        db.session.remove()
        db.engine.dispose()
    for t in terminals:
        t.headers = {"Authorization": f"Bearer {t.token}", "X-App-Version": "2.0.0"}
    return World(terminals, [], campaign_id, programme_id, len(workers))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_gunicorn(env: dict[str, str], core: int, log: Path) -> subprocess.Popen:
    full = os.environ | env | {"PYTHONPATH": str(ROOT)}
    with open(log, "wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "python:gridserve.gunicorn_conf", "wsgi:app"],
            cwd=ROOT,
            env=full,
            stdout=out,
            stderr=subprocess.STDOUT,
            preexec_fn=lambda: os.sched_setaffinity(0, {core}),  # its workers inherit it
        )


async def _wait_ready(session, base: str, proc: subprocess.Popen) -> None:
    for _ in range(300):
        if proc.poll() is not None:
            raise SystemExit(f"gunicorn exited ({proc.returncode}); see its log")
        with contextlib.suppress(Exception):
            async with session.get(f"{base}/api/v1/health") as resp:
                if resp.status == 200:
                    return
        await asyncio.sleep(0.2)
    raise SystemExit("gunicorn did not answer /api/v1/health within 60 s")


# --- the client ------------------------------------------------------------------------------


def _server_cpu(pid: int) -> dict[int, float]:
    """CPU seconds of gunicorn by pid (from /proc): each live worker's, and the arbiter's own
    with that of the workers it has reaped (a worker recycled by ``max_requests`` leaves its
    time there), so the sum over a reading only grows."""
    tick = os.sysconf("SC_CLK_TCK")
    total: dict[int, float] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # fields[1]: the parent's pid; [11], [12]: user and system time; [13], [14]: those of
        # the children reaped.
        if int(entry) == pid:
            total[pid] = sum(int(v) for v in fields[11:15]) / tick
        elif int(fields[1]) == pid:
            total[int(entry)] = (int(fields[11]) + int(fields[12])) / tick
    return total


def _spent(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds gunicorn spent between two readings (a worker that exited in between and
    is not reaped yet is missing from the second: a few requests' worth at most)."""
    return sum(after.values()) - sum(before.values())


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class Tally:
    def __init__(self) -> None:
        self.latencies: dict[str, list[float]] = {}
        self.errors: dict[str, int] = {}
        self.error_samples: list[str] = []
        self.max_changes = 0
        self.more = 0

    def add(self, name: str, seconds: float, error: str | None = None) -> None:
        self.latencies.setdefault(name, []).append(seconds)
        self.errors.setdefault(name, 0)
        if error:
            self.errors[name] += 1
            if len(self.error_samples) < 10:
                self.error_samples.append(f"{name}: {error}")


def _items(t: Terminal, n: int) -> list[dict]:
    now = dt.datetime.now(dt.UTC)
    out = []
    for k in range(n):
        lon, lat = random.choice(t.points)
        location = {"lon": lon, "lat": lat, "accuracy_m": 8.0}
        if k == 0:
            out.append({"uuid": str(uuid.uuid4()), "type": "case", "title": "垃圾堆放",
                        "details": "路口垃圾未清运", "category": "sanitation",
                        "location": location, "observed_at": now.isoformat()})  # fmt: skip
        else:
            out.append({"uuid": str(uuid.uuid4()), "type": "patrol",
                        "started_at": (now - dt.timedelta(minutes=5 + k)).isoformat(),
                        "location": location, "notes": "巡查正常",
                        "answers": {"hazards": 0}})  # fmt: skip
    return out


async def _sync(session, base: str, t: Terminal, tally: Tally | None, due: float) -> None:
    url = f"{base}/api/v1/sync/bundle?since={t.cursor}"
    error = None
    try:
        async with session.get(url, headers=t.headers) as resp:
            body = await resp.json() if resp.status == 200 else None
            if body is None:
                error = f"status {resp.status}: {(await resp.text())[:200]}"
    except Exception as exc:  # any transport failure is an error of the run
        error, body = f"{type(exc).__name__}: {exc}", None
    took = time.perf_counter() - due
    if body is not None:
        t.cursor = body["next_cursor"]
        if tally is not None:
            changes = sum(len(body.get(k) or []) for k in CHANGE_KEYS)
            tally.max_changes = max(tally.max_changes, changes)
            tally.more += bool(body["more"] or body["reset"])
    if tally is not None:
        tally.add("GET /sync/bundle?since= (incremental)", took, error)


async def _upload(session, base: str, t: Terminal, tally: Tally, due: float) -> None:
    error = None
    try:
        async with session.post(
            f"{base}/api/v1/sync/visits", json={"items": _items(t, ITEMS)}, headers=t.headers
        ) as resp:
            if resp.status != 200:
                error = f"status {resp.status}: {(await resp.text())[:200]}"
            else:
                results = (await resp.json())["results"]
                bad = [r for r in results if r["status"] != "created"]
                if bad:
                    error = f"items not created: {bad[:2]}"
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
    tally.add(f"POST /sync/visits ({ITEMS} items)", time.perf_counter() - due, error)


async def _get(session, url: str, headers: dict, name: str, tally: Tally, due: float) -> None:
    error = None
    try:
        async with session.get(url, headers=headers) as resp:
            await resp.read()
            if resp.status != 200:
                error = f"status {resp.status}"
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
    tally.add(name, time.perf_counter() - due, error)


async def _open_loop(session, base: str, world: World, duration: float) -> Tally:
    rng = random.Random(16)
    plan: list[tuple[float, str, int]] = []
    for i in range(len(world.terminals)):
        for every, kind in ((SYNC_EVERY, "sync"), (UPLOAD_EVERY, "upload")):
            at = rng.uniform(0, every)
            while at < duration:
                plan.append((at, kind, i))
                at += every
    for c in range(len(world.coordinators)):
        at, k = rng.uniform(0, PROGRESS_EVERY), c
        while at < duration:
            plan.append((at, "progress", k))
            at, k = at + PROGRESS_EVERY, k + 1
    plan.sort()
    tally = Tally()
    tasks = set()
    sms = f"{base}/api/v1/sms/campaigns/{world.campaign_id}/progress"
    visits = f"{base}/api/v1/outreach/programmes/{world.programme_id}/progress"
    start = time.perf_counter()
    for at, kind, i in plan:
        due = start + at
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        if kind == "sync":
            job = _sync(session, base, world.terminals[i], tally, due)
        elif kind == "upload":
            job = _upload(session, base, world.terminals[i], tally, due)
        else:
            headers = world.coordinators[i % len(world.coordinators)]
            url, name = (sms, "GET /sms/campaigns/{id}/progress") if i % 2 == 0 else (
                visits, "GET /outreach/programmes/{id}/progress")  # fmt: skip
            job = _get(session, url, headers, name, tally, due)
        task = asyncio.create_task(job)
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    await asyncio.gather(*tasks)
    return tally


async def _closed_loop(session, base: str, world: World, path: str, seconds: float, n: int):
    """Requests done and errors in ``seconds`` by ``n`` clients, each one request at a time."""
    done = errors = 0
    stop = time.perf_counter() + seconds
    terminals = world.terminals

    async def client(k: int) -> None:
        nonlocal done, errors
        i = k
        while time.perf_counter() < stop:
            t = terminals[i % len(terminals)]
            i += n
            try:
                async with session.get(f"{base}{path}?since={t.cursor}", headers=t.headers) as r:
                    await r.read()
                    ok = r.status == 200
            except Exception:
                ok = False
            done += ok
            errors += not ok

    await asyncio.gather(*(client(k) for k in range(n)))
    return done, errors


async def _drain(pid: int, limit: float = 300.0) -> float:
    """Seconds until gunicorn used less than 5 % of a core over 2 s."""
    started = time.perf_counter()
    before = _server_cpu(pid)
    while time.perf_counter() - started < limit:
        await asyncio.sleep(2.0)
        now = _server_cpu(pid)
        if _spent(before, now) < 0.1:
            break
        before = now
    return time.perf_counter() - started


def _percentiles(values: list[float]) -> tuple[float, float, float, float]:
    a = np.array(values) * 1000
    p50, p95, p99 = np.percentile(a, [50, 95, 99])
    return float(p50), float(p95), float(p99), float(a.max())


async def _run_client(args, world: World, base: str, proc: subprocess.Popen) -> dict:
    import aiohttp

    connector = aiohttp.TCPConnector(limit=0, keepalive_timeout=2)  # below gunicorn's 5 s
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(base, connector=connector, timeout=timeout) as session:
        base = ""
        await _wait_ready(session, base, proc)
        for _ in range(COORDINATORS):
            async with session.post(
                "/api/v1/auth/token", json={"username": "coordinator", "password": PASSWORD}
            ) as resp:
                token = (await resp.json())["access_token"]
                world.coordinators.append({"Authorization": f"Bearer {token}"})
        # One incremental sync per terminal, not measured: every gunicorn worker warm.
        started = time.perf_counter()
        for k in range(0, len(world.terminals), 8):
            await asyncio.gather(*(_sync(session, base, t, None, 0.0)
                                   for t in world.terminals[k : k + 8]))  # fmt: skip
        print(f"warm-up, one incremental sync per terminal: "
              f"{time.perf_counter() - started:.1f} s (not measured)")  # fmt: skip

        load0 = os.getloadavg()[0]
        cpu0, wall0, server0 = _cpu(), time.perf_counter(), _server_cpu(proc.pid)
        tally = await _open_loop(session, base, world, args.duration)
        open_cpu, open_wall = _cpu() - cpu0, time.perf_counter() - wall0
        open_server = _spent(server0, _server_cpu(proc.pid))
        load1 = os.getloadavg()[0]

        # Requests the client gave up on (timeouts) may still be queued in gunicorn: wait until
        # its workers are idle (at most 5 minutes) before measuring anything else.
        drained = await _drain(proc.pid)
        print(f"gunicorn idle again {drained:.0f} s after the open loop")
        # Catch up (the last uploads' cases), then the closed loop on empty change sets.
        await asyncio.gather(*(_sync(session, base, t, None, 0.0) for t in world.terminals))
        half = args.closed / 2
        rates: dict[str, list[tuple[int, int, float, float]]] = {"ours": [], "static": []}
        cpu1 = _cpu()
        closed_wall = 0.0
        for _round in range(2):
            for name, path in (("ours", "/api/v1/sync/bundle"),
                               ("static", "/api/v1/_bench/sync-static")):  # fmt: skip
                w0, s0 = time.perf_counter(), _server_cpu(proc.pid)
                done, errors = await _closed_loop(
                    session, base, world, path, half, args.concurrency
                )
                took = time.perf_counter() - w0
                closed_wall += took
                rates[name].append((done, errors, took, _spent(s0, _server_cpu(proc.pid))))
        closed_cpu = _cpu() - cpu1
        load2 = os.getloadavg()[0]
    return {"tally": tally, "open": (open_cpu, open_wall, open_server), "rates": rates,
            "closed": (closed_cpu, closed_wall), "load": (load0, load1, load2)}  # fmt: skip


def _report(args, world: World, out: dict) -> bool:
    tally: Tally = out["tally"]
    print(
        f"(a) open loop, {args.duration:.0f} s: {len(world.terminals)} terminals over "
        f"{world.workers} workers (sync every {SYNC_EVERY:.0f} s, {ITEMS}-item upload every "
        f"{UPLOAD_EVERY:.0f} s), {COORDINATORS} coordinators (progress every "
        f"{PROGRESS_EVERY:.0f} s); gunicorn {args.workers} workers × 2 threads"
    )
    print(f"{'endpoint':<42}{'requests':>9}{'errors':>8}{'p50 ms':>9}{'p95 ms':>9}"
          f"{'p99 ms':>9}{'max ms':>9}")  # fmt: skip
    sync_name = "GET /sync/bundle?since= (incremental)"
    for name in sorted(tally.latencies, key=lambda n: (n != sync_name, n)):
        p50, p95, p99, top = _percentiles(tally.latencies[name])
        print(f"{name:<42}{len(tally.latencies[name]):>9}{tally.errors[name]:>8}"
              f"{p50:>9.1f}{p95:>9.1f}{p99:>9.1f}{top:>9.1f}")  # fmt: skip
    for sample in tally.error_samples:
        print(f"  error: {sample}")
    cpu, wall, server = out["open"]
    load0, load1, load2 = out["load"]
    print(f"client CPU (one asyncio loop on core 0): {cpu:.1f} s in {wall:.1f} s "
          f"({cpu / wall:.0%} of its core); gunicorn CPU {server:.1f} s "
          f"({server / wall:.0%} of its core)")  # fmt: skip
    print(f"machine load average (1 min) at the start and the end: {load0:.1f}, {load1:.1f} "
          f"(2 cores; above 2 other processes take the cores' time)")  # fmt: skip
    errors = sum(tally.errors.values())
    sync_p99 = _percentiles(tally.latencies[sync_name])[2]
    changes_ok = tally.max_changes <= MAX_CHANGES and not tally.more
    print(f"changes per incremental sync: at most {tally.max_changes} "
          f"(target ≤ {MAX_CHANGES}; pages with more or a reset: {tally.more})")  # fmt: skip
    a_ok = sync_p99 < SYNC_P99_MS and errors == 0 and changes_ok
    print(f"incremental sync p99 {sync_p99:.1f} ms (target < {SYNC_P99_MS:.0f} ms), "
          f"errors {errors} (target 0): {'PASS' if a_ok else 'FAIL'}")  # fmt: skip

    rates = out["rates"]
    per = {k: sum(r[0] for r in v) / sum(r[2] for r in v) for k, v in rates.items()}
    errs = {k: sum(r[1] for r in v) for k, v in rates.items()}
    # gunicorn's CPU per request (PostgreSQL's not included): what the figures would be on a
    # core of its own, whatever else the machine runs.
    cost = {k: sum(r[3] for r in v) / max(1, sum(r[0] for r in v)) for k, v in rates.items()}
    print(f"(b) closed loop: {args.concurrency} clients, {args.closed:.0f} s per endpoint in two "
          f"interleaved halves, incremental syncs with nothing new")  # fmt: skip
    print(f"{'endpoint':<44}{'req/s':>8}{'errors':>8}{'gunicorn CPU ms/req':>21}")
    for key, label in (("ours", "GET /api/v1/sync/bundle?since= (ours)"),
                       ("static", "GET /api/v1/_bench/sync-static (anchor)")):  # fmt: skip
        print(f"{label:<44}{per[key]:>8.1f}{errs[key]:>8}{cost[key] * 1000:>21.1f}")
    ratio = per["ours"] / per["static"] if per["static"] else float("nan")
    cpu, wall = out["closed"]
    print(f"client CPU: {cpu:.1f} s in {wall:.1f} s ({cpu / wall:.0%} of its core); "
          f"machine load average at the end: {load2:.1f}")  # fmt: skip
    by_cpu = cost["static"] / cost["ours"] if cost["ours"] and cost["static"] else float("nan")
    b_ok = ratio >= 0.5 and not any(errs.values())
    print(f"ours / static: {ratio:.0%} by requests/s (target ≥ 50 %): "
          f"{'PASS' if b_ok else 'FAIL'}; {by_cpu:.0%} by gunicorn CPU per request")  # fmt: skip
    return a_ok and b_ok


def run(
    duration: float = 300.0,
    terminals: int = 200,
    workers: int = 3,
    concurrency: int = 16,
    closed: float = 40.0,
    url: str | None = None,
    keep_log: bool = False,
    reuse: bool = False,
) -> bool:
    args = argparse.Namespace(duration=duration, terminals=terminals, workers=workers,
                              concurrency=concurrency, closed=closed)  # fmt: skip
    url = url or os.environ.get("GRIDSERVE_BENCH_DATABASE_URL", DEFAULT_URL)
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) < 2:
        raise SystemExit("bench.load needs two cores: one for the client, one for gunicorn")
    client_core, server_core = cores[0], cores[-1]
    tmp = Path(tempfile.mkdtemp(prefix="gridserve-bench-load-"))
    port = _free_port()
    env = _env(url, port, workers, tmp)
    started = time.perf_counter()
    world = _seed(url, env, terminals, reuse)
    print(f"seeded the demo, {world.workers} worker accounts and {terminals} terminals: "
          f"{time.perf_counter() - started:.0f} s (not measured)")  # fmt: skip
    os.sched_setaffinity(0, {client_core})
    log = tmp / "gunicorn.log"
    proc = _start_gunicorn(env, server_core, log)
    print(f"client on core {client_core}, gunicorn on core {server_core} "
          f"(GRIDSERVE_WORKERS={workers}); PostgreSQL not pinned")  # fmt: skip
    try:
        out = asyncio.run(_run_client(args, world, f"http://127.0.0.1:{port}", proc))
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=40)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        os.sched_setaffinity(0, cores)
    ok = _report(args, world, out)
    if keep_log:
        print(f"gunicorn log: {log}")
    else:
        shutil.rmtree(tmp, ignore_errors=True)
    return ok


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=300.0, help="open loop, seconds")
    parser.add_argument("--terminals", type=int, default=200)
    parser.add_argument("--workers", type=int, default=3, help="GRIDSERVE_WORKERS for gunicorn")
    parser.add_argument("--concurrency", type=int, default=16, help="closed-loop clients")
    parser.add_argument("--closed", type=float, default=40.0, help="closed loop, s per endpoint")
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run: 30 s open loop, 10 s per endpoint closed")  # fmt: skip
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--keep-log", action="store_true", help="keep gunicorn's log")
    parser.add_argument("--reuse", action="store_true",
                        help="keep the database an earlier run seeded (saves minutes)")  # fmt: skip
    args = parser.parse_args(argv)
    if args.quick:
        args.duration, args.closed = 30.0, 10.0
    ok = run(args.duration, args.terminals, args.workers, args.concurrency, args.closed,
             args.database_url, args.keep_log, args.reuse)  # fmt: skip
    if not ok:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
