"""Failover under load, measured: two gunicorn nodes and two schedulers on one PostGIS database.

The deployment as an operator starts it: two ``gunicorn -c python:gridserve.gunicorn_conf
wsgi:app`` nodes (two workers each) and two ``gridserve scheduler`` processes (one active, one
standing by on the PostgreSQL advisory lock), all on one database, with a platform rate
(``GRIDSERVE_SMS_PLATFORM_RATE``). A coordinator creates a campaign through node A and follows
it through node B; the active scheduler is SIGKILLed mid-slot, with a text in flight (the peer
holds it until the kill, then takes it: its answer goes nowhere) and, as a service manager
would, started again (it stands by). Then the same with a second campaign
through an SMPP channel: its active scheduler (the former standby) is killed in turn. From the
loopback peers' receive logs and the outbox:

- the standby's first text reaches the peer within 15 s of the kill (by design: it retries the
  lock every ``STANDBY_POLL_SECONDS`` = 5 s, and its dispatch job fires every second);
- HTTP (idempotent: the key ``gs-<id>``): every (recipient, text) reached the peer exactly once;
- SMPP (not idempotent): at most once, and every claim the dead scheduler left behind ends
  ``failed`` with an unknown outcome; sent + unknown + custom texts held back after an unknown
  mandated one = all: none lost;
- mandated before custom for every recipient; no 1 s and no 5 s of the peer's receive times
  hold more than that much of the platform rate plus one second of burst, across both
  schedulers (see :data:`BURSTS`: two schedulers sending at once would show there).

Time: the whole test takes at most two minutes (:data:`LIMIT`), counted from the start of its
setup (:func:`started`, set up before the fresh copy of the demo) to the end of its teardown:
both cases, the processes' start and stop. Every wait is bounded by :data:`BUDGET` from that
start (what is left is for stopping the processes), and a timeout names what it waited for
with the tail of every process's log. No process outlives the test. PostgreSQL only: SQLite's
file lock has one machine by definition.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import func, select, text

from gridserve import crypto
from gridserve.db import utcnow
from gridserve.extensions import db
from gridserve.models import SmsMessage
from jobs.scheduler import ADVISORY_KEY
from tests import clock
from tests.api.sms.campaign_now import CUSTOM, MANDATED, make_campaign, numbers, window_start
from tests.processes import child_env
from tests.sms.peers import HttpPeer, SmppPeer

ROOT = Path(__file__).resolve().parents[2]
RECIPIENTS = 100  # two texts each
RATE = 40  # GRIDSERVE_SMS_PLATFORM_RATE: texts (one segment each) per second, both schedulers
BATCH = 20  # GRIDSERVE_SMS_BATCH_SIZE
LEASE = 2  # GRIDSERVE_SMS_CLAIM_LEASE: a dead scheduler's claims are settled after this
KILL_AFTER = 40  # texts at the peer before the kill: in the middle of the mandated phase
TAKEOVER_LIMIT = 15.0  # seconds from the kill to the standby's first text at the peer
LIMIT = 120.0  # seconds for the whole test, setup and teardown included: two minutes
STOPPING = 10.0  # seconds of LIMIT kept for stopping the processes and the peers, and teardown
BUDGET = LIMIT - STOPPING  # seconds from the start of the setup by which every wait has ended
WORKERS = 2  # gunicorn workers per node
JITTER = 2  # texts: the peer stamps arrivals a few ms after the sender's bucket let them go
# Windows checked at the peer (seconds) and the seconds of burst allowed in each: one, the
# bucket's capacity. The platform's bucket is one row of sms_rate_buckets that every pass of
# both schedulers takes from (gridserve/services/sms/rates.py), so a new pass, the standby
# taking over or the restarted scheduler never starts a full bucket of its own: any window
# holds at most its width of the rate plus one second of it. Two schedulers sending at once,
# each on a bucket of its own, would show over 5 s (up to twice the rate).
BURSTS = {1: 1, 5: 1}
ACTIVE = "scheduler active:"
STANDING_BY = "another scheduler is active; standing by"
SMPP_PASSWORD = "secret"

pytestmark = [
    pytest.mark.real_commits,  # gunicorn and the schedulers see committed rows only
    pytest.mark.skipif(
        not os.environ.get("GRIDSERVE_TEST_DATABASE_URL", "").startswith("postgres"),
        reason="failover on the PostgreSQL advisory lock: PostGIS only",
    ),
]


@pytest.fixture(scope="module", autouse=True)
def started() -> Iterator[float]:
    """``time.monotonic()`` at the start of the test's setup, checked against :data:`LIMIT`
    after its teardown.

    Module scope: pytest sets it up before every function-scoped fixture (``sms_demo``'s fresh
    copy of the demo, building the demo's template if no test has yet) and tears it down after
    all of them. Only the session's fixtures can come before it: the run's
    :class:`~tests.databases.Databases` and ``Worlds`` objects (no database work).
    """
    began = time.monotonic()
    yield began
    took = time.monotonic() - began
    assert took <= LIMIT, f"the failover test took {took:.1f}s, setup and teardown included"


# --- processes ------------------------------------------------------------------------------------


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen
    log: Path
    killed: bool = False  # by the test: its exit is no failure

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def tail(self, chars: int = 1500) -> str:
        return (
            f"--- {self.name} (pid {self.popen.pid}, exit {self.popen.poll()}) ---\n"
            + (self.text()[-chars:])
        )


@dataclass
class Deployment:
    """The test's processes, its deadline, and bounded waits that show the logs."""

    app: Flask
    tmp: Path
    deadline: float
    procs: list[Proc] = field(default_factory=list)

    def env(self, **extra: str) -> dict[str, str]:
        env = child_env(
            self.app,
            GRIDSERVE_SMS_ACCOUNTS=json.dumps({"carrier": {"password": SMPP_PASSWORD}}),
            GRIDSERVE_SMS_PLATFORM_RATE=str(RATE),
            GRIDSERVE_SMS_BATCH_SIZE=str(BATCH),
            GRIDSERVE_SMS_CLAIM_LEASE=str(LEASE),
            GRIDSERVE_LOG_FORMAT="text",
            # the test's clock (time-machine does not reach a child process): it starts there
            GRIDSERVE_TEST_CLOCK=utcnow().isoformat(),
            **extra,
        )
        env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        env.pop("GRIDSERVE_SCHEDULER_METRICS_PORT", None)
        return env

    def spawn(self, name: str, args: list[str], **extra: str) -> Proc:
        log = self.tmp / f"{name}.log"
        popen = subprocess.Popen(
            args,
            cwd=ROOT,
            env=self.env(**extra),
            stdout=log.open("ab"),
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # its own process group: gunicorn's workers go with it
        )
        proc = Proc(name, popen, log)
        self.procs.append(proc)
        return proc

    def node(self, name: str) -> Proc:
        multiproc = self.tmp / f"{name}-metrics"
        multiproc.mkdir()
        return self.spawn(
            name,
            [sys.executable, "-m", "gunicorn", "-c", "python:gridserve.gunicorn_conf", "wsgi:app"],
            GRIDSERVE_BIND="127.0.0.1:0",  # gunicorn logs the port it got
            GRIDSERVE_WORKERS=str(WORKERS),
            PROMETHEUS_MULTIPROC_DIR=str(multiproc),
        )

    def scheduler(self, name: str) -> Proc:
        return self.spawn(name, [sys.executable, "-m", "gridserve.cli", "scheduler"])

    def logs(self) -> str:
        return "\n".join(p.tail() for p in self.procs)

    def wait(
        self, condition: Callable[[], object], timeout: float, what: str | Callable[[], str]
    ) -> float:
        """Poll ``condition`` until true; the seconds it took. Fails after ``timeout`` or at the
        test's deadline, naming ``what`` and showing every process's log."""
        started = time.monotonic()
        until = min(started + timeout, self.deadline)
        while not condition():
            label = what() if callable(what) else what
            dead = [p.name for p in self.procs if p.popen.poll() is not None and not p.killed]
            if dead:
                raise AssertionError(f"{', '.join(dead)} exited waiting for {label}\n{self.logs()}")
            if time.monotonic() > until:
                budget = "the test's budget ran out" if until == self.deadline else "timed out"
                raise AssertionError(
                    f"{budget} after {time.monotonic() - started:.1f}s waiting for {label}\n"
                    f"{self.logs()}"
                )
            time.sleep(0.05)
        return time.monotonic() - started

    def stop_all(self) -> dict[str, float]:
        """Stop every process: a quick shutdown, then SIGKILL to each one's group after 3 s
        (a gunicorn worker lingers seconds after it said it is exiting: the interpreter
        collecting the app's heap); the seconds each took to go, counted from the stop."""
        stopping = time.monotonic()
        for proc in self.procs:
            if proc.popen.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.popen.send_signal(signal.SIGINT)
        took = {}
        for proc in self.procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.popen.wait(max(0.1, stopping + 3 - time.monotonic()))
            took[proc.name] = round(time.monotonic() - stopping, 1)
            # the group: a gunicorn master's workers, even if the master went first
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.popen.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.popen.wait(5)
        return took


def _port(node: Proc) -> int | None:
    found = re.search(r"Listening at: http://127\.0\.0\.1:(\d+)", node.text())
    return int(found.group(1)) if found else None


_last_health: dict[str, str] = {}


@dataclass
class Answer:
    """An HTTP answer as :func:`make_campaign` reads a Flask test response."""

    status_code: int
    body: bytes

    def get_json(self):
        return json.loads(self.body)


def _request(method: str, url: str, headers: dict[str, str], body: bytes | None,
             timeout: float) -> Answer:  # fmt: skip
    req = urllib.request.Request(url, data=body, headers=headers, method=method)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return Answer(resp.status, resp.read())
    except urllib.error.HTTPError as exc:  # 4xx/5xx: an answer all the same
        return Answer(exc.code, exc.read())


def _healthy(url: str) -> bool:
    """Whether the node's readiness check answers 200 (the last answer kept for the failure)."""
    try:
        answer = _request("GET", f"{url}/api/v1/health", {}, None, 2)
    except OSError as exc:  # refused, reset, timed out: still booting
        _last_health[url] = repr(exc)
        return False
    _last_health[url] = f"{answer.status_code} {answer.body[:300]!r}"
    return answer.status_code == 200


def _encode(value: object) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode()


class NodeClient:
    """The calls :func:`make_campaign` makes on a Flask test client, over HTTP to a node."""

    def __init__(self, base: str) -> None:
        self.base = base

    def _call(self, method: str, path: str, *, headers=None, json=None, data=None,
              content_type=None) -> Answer:  # fmt: skip
        headers = dict(headers or {})
        if json is not None:
            data, content_type = _encode(json), "application/json"
        if content_type:
            headers["Content-Type"] = content_type
        return _request(method, self.base + path, headers, data, 30)

    def get(self, path: str, **kw) -> Answer:
        return self._call("GET", path, **kw)

    def post(self, path: str, **kw) -> Answer:
        return self._call("POST", path, **kw)

    def put(self, path: str, **kw) -> Answer:
        return self._call("PUT", path, **kw)


# --- the database ---------------------------------------------------------------------------------


def _query(app: Flask, stmt, params: dict | None = None) -> list:
    with app.app_context():
        try:
            return list(db.session.execute(stmt, params or {}).all())
        finally:
            db.session.remove()


def _count(app: Flask, campaign_id: int, statuses: tuple[str, ...]) -> int:
    return _query(
        app,
        select(func.count()).where(
            SmsMessage.campaign_id == campaign_id, SmsMessage.status.in_(statuses)
        ),
    )[0][0]


def _locks_held(app: Flask) -> int:
    """Granted holds of the schedulers' advisory lock in this database (pg_locks)."""
    return _query(
        app,
        text(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
            "AND classid = 0 AND objid = :key "
            "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        ),
        {"key": ADVISORY_KEY},
    )[0][0]


@dataclass
class Row:
    id: int
    to: str
    kind: str
    body: str
    status: str
    error: str | None


def _rows(app: Flask, campaign_id: int) -> list[Row]:
    with app.app_context():
        try:
            found = db.session.execute(
                select(
                    SmsMessage.id,
                    SmsMessage.phone_enc,
                    SmsMessage.kind,
                    SmsMessage.body,
                    SmsMessage.status,
                    SmsMessage.error,
                ).where(SmsMessage.campaign_id == campaign_id)
            ).all()
            return [Row(i, crypto.decrypt(p) or "", k, b, s, e) for i, p, k, b, s, e in found]
        finally:
            db.session.remove()


# --- the peer's receive log -----------------------------------------------------------------------


def _at(message: dict) -> dt.datetime:
    return dt.datetime.fromisoformat(message["at"])


def _pair(message: dict) -> tuple[str, str]:
    """(recipient in E.164, text) of a message the HTTP or the SMPP peer received."""
    to = message["to"]
    return (to if to.startswith("+") else "+" + to, message.get("body", message.get("text")))


def _busiest(times: list[float], width: float) -> int:
    """The most arrivals in any window of ``width`` seconds."""
    times = sorted(times)
    most, first = 0, 0
    for last, t in enumerate(times):
        while t - times[first] >= width:
            first += 1
        most = max(most, last - first + 1)
    return most


# --- one failover ------------------------------------------------------------------------------


@dataclass
class Failover:
    """What one campaign through a failover left: the peer's log, the outbox, the numbers."""

    gateway: str
    phones: list[str]
    received: list[tuple[str, str]]  # (recipient, text) in arrival order
    times: list[float]  # arrival times at the peer (epoch seconds)
    requests: int  # HTTP: requests, replays included
    rows: list[Row]
    left_behind: set[int]  # the dead scheduler's claims
    at_kill: int  # texts at the peer before the kill
    takeover: float  # seconds from the kill to the standby's first text at the peer
    views: list[dict]  # the progress through node A and node B at the end


def _failover(
    deploy: Deployment,
    coordinator: dict[str, str],
    nodes: tuple[str, str],
    schedulers: tuple[Proc, Proc],
    peer: HttpPeer | SmppPeer,
    channel: dict,
    *,
    gateway: str,
    code: str,
    sender: str,
    phones: list[str],
    restart: str | None,
) -> Failover:
    """A campaign created through node A; SIGKILL the active scheduler mid-slot; wait until the
    standby has sent everything (starting ``restart`` as a new standby once it is active)."""
    app = deploy.app
    url_a, url_b = nodes
    leader, standby = schedulers
    campaign = make_campaign(
        app, NodeClient(url_a), coordinator, phones=phones, channel=channel, code=code,
        sender=sender,
    )  # fmt: skip
    progress = f"/api/v1/sms/campaigns/{campaign['id']}/progress"

    deploy.wait(lambda: len(peer.messages) >= KILL_AFTER, 30, f"{code}: {KILL_AFTER} texts")
    peer.hold_next()  # the leader's next text waits at the peer: it dies with it in flight
    deploy.wait(peer.held.is_set, 10, f"{code}: the active scheduler's next text")
    kill_at = dt.datetime.now(dt.UTC)  # the peer's clock (time-machine moves both alike)
    leader.killed = True
    leader.popen.send_signal(signal.SIGKILL)
    leader.popen.wait(10)
    # Its claims (the standby cannot have claimed yet: it polls the lock, and its dispatch
    # job first fires a second after it starts), the held text among them.
    left_behind = {r.id for r in _rows(app, campaign["id"]) if r.status == "submitting"}
    before = len(peer.messages)
    peer.release()  # the text in flight reached the peer; its answer went nowhere
    deploy.wait(lambda: len(peer.messages) > before, 5, f"{code}: the text in flight to land")
    at_kill = len(peer.messages)
    assert 0 < at_kill < 2 * len(phones), "killed mid-slot"
    assert left_behind, "the kill left claims behind"
    during = NodeClient(url_b).get(progress, headers=coordinator)  # node B, while headless
    assert during.status_code == 200, during.get_json()
    assert sum(during.get_json()["totals"].values()) == 2 * len(phones)

    deploy.wait(
        lambda: len(peer.messages) > at_kill, TAKEOVER_LIMIT + 5, f"{code}: the standby's texts"
    )
    takeover = (_at(peer.messages[at_kill]) - kill_at).total_seconds()
    assert ACTIVE in standby.text(), standby.tail()
    if restart:  # the service manager starts the killed one again: the next standby
        deploy.scheduler(restart)

    def settled() -> bool:
        return not _count(app, campaign["id"], ("waiting", "queued", "submitting"))

    deploy.wait(settled, 45, f"{code}: every text settled")
    views = []
    for url in nodes:
        view = NodeClient(url).get(progress, headers=coordinator)
        assert view.status_code == 200, view.get_json()
        views.append(view.get_json())
    return Failover(
        gateway=gateway,
        phones=phones,
        received=[_pair(m) for m in peer.messages],
        times=[_at(m).timestamp() for m in peer.messages],
        requests=len(getattr(peer, "requests", peer.messages)),
        rows=_rows(app, campaign["id"]),
        left_behind=left_behind,
        at_kill=at_kill,
        takeover=takeover,
        views=views,
    )


def _since(mark: float) -> str:
    return f"{time.monotonic() - mark:.1f}s"


def _sent_merged(counts: dict[str, int]) -> dict[str, int]:
    """Counts by status, accepted and delivered together (a receipt moves one to the other)."""
    merged = {k: v for k, v in counts.items() if v and k not in ("accepted", "delivered")}
    return merged | {"sent": counts.get("accepted", 0) + counts.get("delivered", 0)}


def _check(run: Failover) -> str:
    """The checks both gateways share; a line of figures for the log."""
    assert run.takeover <= TAKEOVER_LIMIT, (
        f"{run.gateway}: the standby's first text came {run.takeover:.1f}s after the kill"
    )
    assert len(set(run.received)) == len(run.received), "no (recipient, text) twice at the peer"
    by_phone: dict[str, list[str]] = {}
    for to, body in run.received:
        by_phone.setdefault(to, []).append(body)
    assert set(by_phone) <= set(run.phones)
    for to, bodies in by_phone.items():
        kinds = ["mandated" if b.endswith(MANDATED) else "custom" for b in bodies]
        assert all(b.endswith((MANDATED, CUSTOM)) for b in bodies), bodies
        assert kinds == ["mandated", "custom"][: len(kinds)], f"{to}: mandated first: {bodies}"

    busiest = {width: _busiest(run.times, width) for width in BURSTS}
    for width, bursts in BURSTS.items():
        allowed = RATE * (width + bursts) + JITTER
        assert busiest[width] <= allowed, (
            f"{run.gateway}: {busiest[width]} texts in {width}s at the peer: over the platform "
            f"rate {RATE}/s ({allowed} allowed with {bursts}s of burst)"
        )
    states = Counter(r.status for r in run.rows)
    assert len(run.rows) == 2 * len(run.phones)
    assert not set(states) & {"waiting", "queued", "submitting", "expired"}, states
    for view in run.views:  # both nodes serve the same outbox (receipts may still arrive)
        assert _sent_merged(view["totals"]) == _sent_merged(states), view["totals"]
    return (
        f"failover[{run.gateway}]: standby's first text {run.takeover:.2f}s after the SIGKILL; "
        f"{run.at_kill} texts before the kill, {len(run.received)} received, "
        f"{len(run.left_behind)} claims left behind, outbox {dict(states)}; "
        f"busiest windows {busiest} (rate {RATE}/s)"
    )


# --- the test -----------------------------------------------------------------------------------


def test_two_nodes_two_schedulers_sigkill_the_active_one_mid_slot(started, sms_demo, tmp_path):
    app, _client, headers = sms_demo
    coordinator = headers["coordinator"]
    figures = [f"setup (a fresh copy of the demo): {_since(started)}"]
    # Every process starts on the test's clock: move it into the send window first (just
    # before midnight the window is the next day's first hours), so make_campaign need not.
    opens = window_start(app)
    if utcnow() < opens:
        clock.move_to(opens)
    http = HttpPeer(delay_ms=2, log_path=tmp_path / "http-peer.jsonl").start()
    smpp = SmppPeer("gridserve", SMPP_PASSWORD, log_path=tmp_path / "smpp-peer.jsonl").start()
    deploy = Deployment(app, tmp_path, started + BUDGET)
    figures.append(f"{WORKERS} gunicorn workers per node")
    try:
        node_a, node_b = deploy.node("node-a"), deploy.node("node-b")
        first, second = deploy.scheduler("scheduler-1"), deploy.scheduler("scheduler-2")
        deploy.wait(lambda: _port(node_a) and _port(node_b), 30, "both gunicorn nodes to listen")
        nodes = (f"http://127.0.0.1:{_port(node_a)}", f"http://127.0.0.1:{_port(node_b)}")
        deploy.wait(
            lambda: all(_healthy(url) for url in nodes),
            60,
            lambda: f"both nodes to answer 200 (last answers: {_last_health})",
        )
        for node in (node_a, node_b):
            assert node.text().count("Booting worker") == WORKERS, node.tail()

        def roles(*candidates: Proc) -> tuple[Proc, Proc] | None:
            """(active, standing by) once one is active and another stands by."""
            active = [s for s in candidates if not s.killed and ACTIVE in s.text()]
            standing = [s for s in candidates if STANDING_BY in s.text() and s not in active]
            return (active[0], standing[0]) if len(active) == 1 and standing else None

        deploy.wait(lambda: roles(first, second), 45, "one scheduler active, one standing by")
        leader, standby = roles(first, second)  # type: ignore[misc]
        assert _locks_held(app) == 1, "the active scheduler holds the advisory lock, alone"
        figures.append(f"deployment up (both nodes 200, roles settled) after {_since(started)}")
        mark = time.monotonic()

        # --- HTTP: idempotent, so exactly once ------------------------------------------------
        run = _failover(
            deploy, coordinator, nodes, (leader, standby), http,
            {"gateway": "http", "settings": {"url": http.url}, "signature": "工商银行",
             "rate_per_second": 0},
            gateway="http", code="NOW-1", sender="ICBC", phones=numbers(RECIPIENTS),
            restart=f"{leader.name}-restarted",
        )  # fmt: skip
        figures.append(_check(run) + f"; {_since(mark)}")
        assert Counter(r.status for r in run.rows) == {"accepted": len(run.rows)}
        assert sorted(run.received) == sorted((r.to, r.body) for r in run.rows), "exactly once"
        replays = run.requests - len(run.received)
        assert replays <= BATCH, "only the batch in flight at the kill is offered again"

        # --- SMPP: not idempotent, so at most once and unknown outcomes -----------------------
        restarted = deploy.procs[-1]
        deploy.wait(lambda: roles(standby, restarted), 45, "the restarted scheduler standing by")
        assert _locks_held(app) == 1
        figures.append(f"restarted scheduler standing by {_since(mark)} into the HTTP case")
        mark = time.monotonic()
        run = _failover(
            deploy, coordinator, nodes, (standby, restarted), smpp,
            {"gateway": "smpp", "credentials_ref": "carrier",  # password: GRIDSERVE_SMS_ACCOUNTS
             "settings": {"host": "127.0.0.1", "port": smpp.port, "system_id": "gridserve",
                          "source_addr": "106900", "timeout": 5},
             "signature": "农业银行", "rate_per_second": 0},
            gateway="smpp", code="NOW-2", sender="ABC",
            phones=numbers(RECIPIENTS, start=RECIPIENTS), restart=None,
        )  # fmt: skip
        figures.append(_check(run) + f"; {_since(mark)}")
        rows = run.rows
        unknown = {r.id for r in rows if (r.error or "").startswith("outcome_unknown")}
        assert unknown == run.left_behind, "every claim left behind, and only those, is unknown"
        assert all(r.status == "failed" for r in rows if r.id in unknown)
        unknown_to = {r.to for r in rows if r.id in unknown and r.kind == "mandated"}
        held = [r for r in rows if (r.error or "").startswith("mandated_not_accepted")]
        assert {r.to for r in held} == unknown_to, "no custom text after an unknown mandated one"
        sent = {(r.to, r.body) for r in rows if r.status in ("accepted", "delivered")}
        assert len(sent) + len(unknown) + len(held) == len(rows), "none lost"
        assert sent <= set(run.received), "what the outbox says was sent reached the peer"
        assert set(run.received) - sent <= {(r.to, r.body) for r in rows if r.id in unknown}, (
            "what reached the peer unrecorded is among the unknown outcomes"
        )
    finally:
        figures.append(f"stopped (seconds from the stop): {deploy.stop_all()}")
        http.stop()
        smpp.stop()
        elapsed = time.monotonic() - started
        print("\n" + "\n".join(figures) + f"\nfailover test: {elapsed:.1f}s")  # also on failure
    left = [p.name for p in deploy.procs if p.popen.poll() is None]
    assert not left, f"still running: {left}"
    # From the start of the setup to every process stopped (started() checks it again after
    # the fixtures' teardown).
    assert elapsed <= LIMIT, f"the test took {elapsed:.1f}s, its setup included"
