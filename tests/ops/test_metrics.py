"""Prometheus metrics at /metrics: what a monitoring server scraping the loopback sees.

Requests by route template, sync uploads and their item results, the outbox by status and the
wait of its oldest due text (read at scrape time), texts sent per channel, job runs and
escalations; refused to other addresses; a scrape that answers when the database does not;
multiprocess mode adding up the workers; the scheduler's own port.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import http.client
import logging
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select

from gridserve import audit, metrics
from gridserve.db import transaction
from gridserve.extensions import db
from gridserve.models import SmsChannel
from jobs.registry import run_job
from jobs.scheduler import run_scheduler
from tests import clock
from tests.api.sms.campaign_now import dispatch, make_campaign, numbers
from tests.api.test_sync_visits import _item, _point_in, _upload
from tests.conftest import TEST_ACTOR
from tests.jobs.test_case_deadlines import _case
from tests.jobs.test_case_deadlines import channel as channel  # the fixture
from tests.sms.peers import HttpPeer

ROOT = Path(__file__).resolve().parents[2]


def scrape(client, address: str = "127.0.0.1") -> dict[tuple[str, frozenset], float]:
    """Every sample of a scrape, by (name, labels)."""
    resp = client.get("/metrics", environ_base={"REMOTE_ADDR": address})
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert resp.headers["Content-Type"].startswith("text/plain")
    return _samples(resp.get_data(as_text=True))


def _samples(text: str) -> dict[tuple[str, frozenset], float]:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def total(samples, name: str, **labels: str) -> float:
    """The sum over every series of ``name`` whose labels include ``labels``."""
    want = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and want <= ls)


def test_requests_and_a_sync_upload_are_counted_by_route_template(client, auth_as, field, terminal):
    lon, lat = _point_in(client, auth_as, field.world.street, field.cell)
    before = scrape(client)
    headers = auth_as("centre")
    for _ in range(3):
        assert client.get("/api/v1/areas", headers=headers).status_code == 200
    assert (
        client.get(f"/api/v1/areas/{field.world.street}/cells", headers=headers).status_code == 200
    )
    assert client.get("/api/v1/areas").status_code == 401
    assert client.get("/no/such/page/at/all.json").status_code == 404
    items = [_item(lon, lat), {"uuid": "x", "type": "patrol"}]
    results = _upload(client, terminal, items).get_json()["results"]
    assert [r["status"] for r in results] == ["created", "rejected"]
    after = scrape(client)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    requests = "gridserve_http_requests_total"
    assert delta(requests, method="GET", route="/api/v1/areas", status="200") == 3
    assert delta(requests, method="GET", route="/api/v1/areas", status="401") == 1
    # The route's template, never the raw path (one series for every area).
    cells = "/api/v1/areas/<int:area_id>/cells"
    assert delta(requests, method="GET", route=cells, status="200") == 1
    assert not any(f"/areas/{field.world.street}" in dict(ls).get("route", "") for _, ls in after)
    assert total(after, requests, route="unmatched", status="404") >= 1
    assert delta(requests, method="POST", route="/api/v1/sync/visits", status="200") == 1
    duration = "gridserve_http_request_duration_seconds"
    assert delta(f"{duration}_count", route="/api/v1/areas") == 4
    assert delta(f"{duration}_sum", route="/api/v1/areas") > 0
    assert delta(f"{duration}_bucket", route="/api/v1/areas", le="+Inf") == 4
    assert delta("gridserve_sync_uploads_total") == 1
    assert delta("gridserve_sync_upload_items_total", result="created") == 1
    assert delta("gridserve_sync_upload_items_total", result="rejected") == 1


def test_a_deadline_pass_and_a_dispatch_show_in_the_outbox_and_the_job_series(
    cases, channel, client, clean_app
):
    clock.move_to(clock.at_local(clock.local_now().date(), dt.time(10, 0)))  # not quiet hours
    before = scrape(client)
    with clean_app.app_context(), audit.acting_as(TEST_ACTOR), transaction():
        _case(cases, status="accepted")
    with clean_app.app_context():
        assert run_job("case-deadlines")["escalated"] == 1
    after_pass = scrape(client)

    def delta(samples, name: str, **labels: str) -> float:
        return total(samples, name, **labels) - total(before, name, **labels)

    assert delta(after_pass, "gridserve_case_escalations_total") == 1
    runs = "gridserve_job_runs_total"
    assert delta(after_pass, runs, job="case-deadlines", outcome="ok") == 1
    assert delta(after_pass, "gridserve_job_duration_seconds_count", job="case-deadlines") == 1
    # The duty text is queued and due now; ten minutes later it has waited ten minutes.
    assert value(after_pass, "gridserve_sms_outbox_read_ok") == 1
    queued = value(after_pass, "gridserve_sms_outbox_messages", status="queued")
    assert queued >= 1
    assert value(after_pass, "gridserve_sms_outbox_messages", status="delivered") == 0
    assert value(after_pass, "gridserve_sms_outbox_oldest_queued_seconds") < 60
    clock.shift(dt.timedelta(minutes=10))
    waited = scrape(client)
    assert 600 <= value(waited, "gridserve_sms_outbox_oldest_queued_seconds") < 700

    with clean_app.app_context():
        sent = run_job("sms-dispatch")
    assert sent.get("direct_accepted", 0) >= 1
    after = scrape(client)
    assert (
        delta(after, "gridserve_sms_messages_total", outcome="accepted") == sent["direct_accepted"]
    )
    assert all(
        dict(ls)["channel"].isdigit() for n, ls in after if n == "gridserve_sms_messages_total"
    )
    assert delta(after, runs, job="sms-dispatch", outcome="ok") == 1
    assert (
        value(after, "gridserve_sms_outbox_messages", status="queued")
        == queued - sent["direct_accepted"]
    )
    assert value(after, "gridserve_sms_outbox_messages", status="accepted") >= 1
    assert value(after, "gridserve_sms_outbox_oldest_queued_seconds") == 0


def test_a_failing_job_counts_as_an_error(ctx, monkeypatch):
    from jobs import registry

    def broken():
        raise RuntimeError("boom")

    job = registry.JOBS["sms-slot-close"]
    monkeypatch.setitem(registry.JOBS, job.name, registry.Job(job.name, broken, "x", "interval"))
    before = metrics.JOB_RUNS.labels(job=job.name, outcome="error")._value.get()
    with pytest.raises(RuntimeError):
        run_job(job.name)
    assert metrics.JOB_RUNS.labels(job=job.name, outcome="error")._value.get() == before + 1


def test_other_addresses_are_refused_and_the_allow_list_is_a_setting(
    client, world, override_settings
):
    refused = client.get("/metrics", environ_base={"REMOTE_ADDR": "10.0.0.5"})
    assert refused.status_code == 403
    assert refused.get_json()["error"]["code"] == "forbidden"
    assert "gridserve_" not in refused.get_data(as_text=True)
    # A forwarded header is not believed unless the app is told it sits behind a proxy.
    spoofed = client.get(
        "/metrics",
        environ_base={"REMOTE_ADDR": "10.0.0.5"},
        headers={"X-Forwarded-For": "127.0.0.1"},
    )
    assert spoofed.status_code == 403
    assert scrape(client, "::1")  # the IPv6 loopback is allowed by default
    override_settings(metrics_allow=("10.0.0.0/8",))
    assert scrape(client, "10.0.0.5")
    assert client.get("/metrics").status_code == 403  # the loopback is no longer listed
    # Not part of the API's document.
    assert "/metrics" not in client.get("/api/v1/openapi.json").get_json()["paths"]


def test_address_rules():
    allow = ("127.0.0.1/32", "::1/128", "192.168.10.0/24")
    assert metrics.address_allowed("127.0.0.1", allow)
    assert metrics.address_allowed("::ffff:127.0.0.1", allow)  # IPv4 mapped into IPv6
    assert metrics.address_allowed("192.168.10.77", allow)
    assert not metrics.address_allowed("192.168.11.1", allow)
    assert not metrics.address_allowed("127.0.0.2", allow)
    assert not metrics.address_allowed(None, allow)
    assert not metrics.address_allowed("/run/gunicorn.sock", allow)


def test_the_metrics_allow_setting_is_checked():
    from gridserve.config import ConfigError, load_settings

    env = {"GRIDSERVE_ENV": "testing", "GRIDSERVE_DATABASE_URL": "sqlite://"}
    assert load_settings(env).metrics_allow == ("127.0.0.1/32", "::1/128")
    assert load_settings(env).scheduler_metrics_port == 0
    mine = load_settings({**env, "GRIDSERVE_METRICS_ALLOW": "10.1.2.3, 192.168.0.0/16"})
    assert mine.metrics_allow == ("10.1.2.3/32", "192.168.0.0/16")
    with pytest.raises(ConfigError):
        load_settings({**env, "GRIDSERVE_METRICS_ALLOW": "localhost"})
    with pytest.raises(ConfigError):
        load_settings({**env, "GRIDSERVE_SCHEDULER_METRICS_PORT": "70000"})


def test_the_scrape_answers_when_the_database_does_not(client, world, monkeypatch):
    from gridserve.services.sms import outbox

    def down(*_args, **_kwargs):
        raise ConnectionError("database unreachable")

    monkeypatch.setattr(outbox, "queue_state", down)
    samples = scrape(client)
    assert value(samples, "gridserve_sms_outbox_read_ok") == 0
    assert total(samples, "gridserve_sms_outbox_messages") == 0
    assert total(samples, "gridserve_http_requests_total") > 0


_WORKER = """
from gridserve import metrics
metrics.record_sync_upload({"created": %d})
metrics.HTTP_REQUESTS.labels(method="GET", route="/x", status="200").inc()
"""


def test_multiprocess_mode_adds_up_every_worker(tmp_path, monkeypatch):
    """Two worker processes write to the directory; a scrape reads them both."""
    from gridserve import gunicorn_conf

    shared = tmp_path / "prom"
    shared.mkdir()
    (shared / "counter_999.db").write_bytes(b"stale")  # a previous run's file
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(shared))
    gunicorn_conf.on_starting(None)  # the server wipes the directory when it starts
    assert not list(shared.iterdir())
    env = {"PROMETHEUS_MULTIPROC_DIR": str(shared), "PYTHONPATH": str(ROOT), "PATH": "/usr/bin"}
    for created in (2, 5):
        subprocess.run([sys.executable, "-c", _WORKER % created], env=env, check=True, cwd=ROOT)
    samples = _samples(metrics.exposition(with_outbox=False).decode())
    assert value(samples, "gridserve_sync_uploads_total") == 2
    assert value(samples, "gridserve_sync_upload_items_total", result="created") == 7
    assert (
        value(samples, "gridserve_http_requests_total", method="GET", route="/x", status="200") == 2
    )

    class Worker:
        pid = 4242

    gunicorn_conf.child_exit(None, Worker())  # a dead worker's counters still count
    samples = _samples(metrics.exposition(with_outbox=False).decode())
    assert value(samples, "gridserve_sync_upload_items_total", result="created") == 7


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _scheduler_scrape(port: int) -> dict[tuple[str, frozenset], float] | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as resp:
            return _samples(resp.read().decode())
    except OSError:
        return None


def _get(host: str, port: int, source: str) -> tuple[int, str] | None:
    """GET /metrics from the local address ``source``: (status, body), or None (no answer)."""
    conn = http.client.HTTPConnection(host, port, timeout=2, source_address=(source, 0))
    try:
        conn.request("GET", "/metrics")
        resp = conn.getresponse()
        return resp.status, resp.read().decode()
    except OSError:
        return None
    finally:
        conn.close()


@contextlib.contextmanager
def _scheduler_running(app) -> Iterator[threading.Thread]:
    """:func:`run_scheduler` in a thread; stopped (and checked gone) on the way out."""
    stop = threading.Event()
    with app.app_context():
        worker = threading.Thread(target=run_scheduler, args=(app, stop))
        worker.start()
        try:
            yield worker
        finally:
            stop.set()
            worker.join(10)
    assert not worker.is_alive()


def _until(condition, what: str, seconds: float = 10):
    deadline = time.monotonic() + seconds
    while not (result := condition()):
        assert time.monotonic() < deadline, f"{what}: not within {seconds} s"
        time.sleep(0.1)
    return result


@pytest.mark.real_commits
def test_the_scheduler_serves_its_own_series_on_its_port(clean_app, override_settings):
    port = _free_port()
    override_settings(scheduler_metrics_port=port)
    stop = threading.Event()
    with clean_app.app_context():
        worker = threading.Thread(target=run_scheduler, args=(clean_app, stop))
        worker.start()
        try:
            deadline = time.monotonic() + 10
            samples = None
            while time.monotonic() < deadline:
                samples = _scheduler_scrape(port)
                if samples and value(samples, "gridserve_scheduler_leader") == 1:
                    break
                time.sleep(0.1)
            assert samples is not None
            assert value(samples, "gridserve_scheduler_leader") == 1  # it leads
            assert ("gridserve_case_escalations_total", frozenset()) in samples
        finally:
            stop.set()
            worker.join(10)
    assert not worker.is_alive()
    assert metrics.SCHEDULER_LEADER._value.get() == 0
    assert _scheduler_scrape(port) is None  # the port is closed with the scheduler


@pytest.mark.real_commits
def test_the_scheduler_port_listens_where_told_and_serves_only_the_allowed_addresses(
    clean_app, override_settings
):
    """GRIDSERVE_SCHEDULER_METRICS_BIND and the allow list of /metrics: here the port listens
    on 127.0.0.2 and only 127.0.0.2 may read it, so the loopback's usual 127.0.0.1 is refused."""
    port = _free_port()
    override_settings(
        scheduler_metrics_port=port,
        scheduler_metrics_bind="127.0.0.2",
        metrics_allow=("127.0.0.2/32",),
    )
    with _scheduler_running(clean_app):
        _until(
            lambda: (
                (got := _get("127.0.0.2", port, "127.0.0.2")) is not None
                and got[0] == 200
                and value(_samples(got[1]), "gridserve_scheduler_leader") == 1
            ),
            "the scheduler's port serving 127.0.0.2, leading",
        )
        refused = _get("127.0.0.2", port, "127.0.0.1")
        assert refused is not None
        status, body = refused
        assert status == 403
        assert "GRIDSERVE_METRICS_ALLOW" in body and "gridserve_scheduler_leader" not in body
        assert _get("127.0.0.1", port, "127.0.0.1") is None  # not bound to 127.0.0.1


@pytest.mark.real_commits
def test_a_scheduler_whose_metrics_port_is_taken_warns_once_and_still_runs(
    clean_app, override_settings, caplog
):
    """Two schedulers on one host with one GRIDSERVE_SCHEDULER_METRICS_PORT: the second does
    not exit (a service manager would restart it into the same error forever); it says why
    it has no metrics port and goes on (here: leads, since it is alone on the database)."""
    with socket.socket() as other:  # the other scheduler's metrics server holds the port
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        override_settings(scheduler_metrics_port=port)
        with caplog.at_level(logging.INFO), _scheduler_running(clean_app) as worker:
            _until(
                lambda: any("scheduler active" in r.getMessage() for r in caplog.records),
                "the scheduler leading",
            )
            assert worker.is_alive()
            assert metrics.SCHEDULER_LEADER._value.get() == 1
        warnings = [r for r in caplog.records if r.name == "gridserve.metrics"]
        assert [r.levelno for r in warnings] == [logging.WARNING]
        message = warnings[0].getMessage()
        assert f"127.0.0.1:{port}" in message and "in use" in message
        assert "GRIDSERVE_SCHEDULER_METRICS_PORT" in message


def test_the_scheduler_bind_setting_is_checked():
    from gridserve.config import ConfigError, load_settings

    env = {"GRIDSERVE_ENV": "testing", "GRIDSERVE_DATABASE_URL": "sqlite://"}
    assert load_settings(env).scheduler_metrics_bind == "127.0.0.1"
    for given, kept in (
        ("0.0.0.0", "0.0.0.0"),
        ("::", "::"),
        ("[::1]", "::1"),
        (" 10.0.0.7 ", "10.0.0.7"),
    ):
        bound = load_settings({**env, "GRIDSERVE_SCHEDULER_METRICS_BIND": given})
        assert bound.scheduler_metrics_bind == kept
    for wrong in ("localhost", "10.0.0.300", "127.0.0.1:9100"):
        with pytest.raises(ConfigError, match="GRIDSERVE_SCHEDULER_METRICS_BIND"):
            load_settings({**env, "GRIDSERVE_SCHEDULER_METRICS_BIND": wrong})


def test_texts_a_gateway_refuses_count_as_failed_or_retry_on_their_channel(
    sms_demo, override_settings
):
    """An HTTP gateway answers 400 (permanent: the texts fail at once) to two texts and 503
    (transient: tried again later) to the third: /metrics shows failed 2 and retry 1 on that
    channel, nothing accepted, and nothing on any other channel."""
    app, client, headers = sms_demo
    override_settings(sms_retry_base_seconds=600)  # the retry is not due again in this pass
    with HttpPeer(fail_every=3).start() as peer:  # every third request: 503
        make_campaign(
            app,
            client,
            headers["coordinator"],
            phones=numbers(3),
            channel={
                "gateway": "http",
                "settings": {"url": peer.url, "timeout": 2},
                "signature": "工商银行",
                "rate_per_second": 0,
            },
            extra={"mandated_text": "REJECTME 测试文本"},  # the peer answers it 400
        )
        with app.app_context():
            (channel_id,) = db.session.execute(
                select(SmsChannel.id).where(SmsChannel.gateway == "http")
            ).scalars()
            db.session.remove()
        before = scrape(client)
        sent = dispatch(app)
        after = scrape(client)
        assert len(peer.requests) == 3 and peer.messages == []
    assert (sent.get("accepted", 0), sent.get("failed"), sent.get("retry")) == (0, 2, 1), sent

    def delta(**labels: str) -> float:
        name = "gridserve_sms_messages_total"
        return total(after, name, **labels) - total(before, name, **labels)

    mine = str(channel_id)
    assert delta(channel=mine, outcome="failed") == 2
    assert delta(channel=mine, outcome="retry") == 1
    assert delta(channel=mine, outcome="accepted") == 0
    assert delta() == 3  # no other channel, no other outcome
