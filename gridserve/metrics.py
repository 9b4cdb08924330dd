"""Prometheus metrics: every series the service exports, defined here and nowhere else.

``GET /metrics`` (beside the API, not in its OpenAPI document, no token) answers in the
Prometheus text format to the addresses in ``GRIDSERVE_METRICS_ALLOW`` (CIDRs; default the
loopback, ``127.0.0.1/32`` and ``::1/128``), judged by the client address the app sees (after
``GRIDSERVE_PROXY_COUNT``); any other address gets 403 ``forbidden`` in the error envelope.

Rules:

- Labels are bounded: a request's route is its URL rule (``/api/v1/cases/<int:case_id>``,
  ``unmatched`` for no rule), never the raw path; a method outside the standard ones is
  ``other``; an SMS channel is its id.
- Nothing here queries the database on the request path: request series are two in-memory
  updates per request. The outbox series are read at scrape time by one grouped query
  (:class:`OutboxCollector`); if the database does not answer, the scrape still answers, with
  ``gridserve_sms_outbox_read_ok 0`` and without the outbox series.
- Under gunicorn set ``PROMETHEUS_MULTIPROC_DIR`` to an empty directory the workers may
  write: every worker then writes its values there and a scrape (answered by any worker)
  adds them all up. ``gridserve/gunicorn_conf.py`` wipes the directory when the server starts
  and marks a worker dead when it exits. Without the variable the values are this process's.
- The scheduler (``gridserve scheduler``) serves its own series (leadership, job runs and
  durations, escalations, SMS sent) on ``GRIDSERVE_SCHEDULER_METRICS_PORT`` (0, the default:
  not served) of ``GRIDSERVE_SCHEDULER_METRICS_BIND`` (default the loopback, ``127.0.0.1``), to
  the same ``GRIDSERVE_METRICS_ALLOW`` as ``/metrics`` (judged by the peer's address: no proxy
  there); others get 403. A port already taken (two schedulers on one host with one port) is
  a warning, and that scheduler runs without it. Run it without ``PROMETHEUS_MULTIPROC_DIR``.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import os
import socket
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from functools import lru_cache
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

from flask import Blueprint, Flask, Response, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
    make_wsgi_app,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import ThreadingWSGIServer

log = logging.getLogger("gridserve.metrics")
disable_created_metrics()  # no *_created series: they only add noise to every scrape

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "unmatched"

HTTP_REQUESTS = Counter(
    "gridserve_http_requests",
    "HTTP requests answered, by method, route template and status code",
    ["method", "route", "status"],
)
HTTP_DURATION = Histogram(
    "gridserve_http_request_duration_seconds",
    "Time to answer an HTTP request, by route template",
    ["route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
SYNC_UPLOADS = Counter(
    "gridserve_sync_uploads", "Sync upload batches processed (POST /sync/visits)"
)
SYNC_UPLOAD_ITEMS = Counter(
    "gridserve_sync_upload_items",
    "Items of sync uploads, by result (created, updated, duplicate, conflict, rejected)",
    ["result"],
)
SMS_MESSAGES = Counter(
    "gridserve_sms_messages",
    "Texts handed to a gateway, by channel id and outcome (accepted; retry: a transient error, "
    "tried again later; failed: given up)",
    ["channel", "outcome"],
)
SCHEDULER_LEADER = Gauge(
    "gridserve_scheduler_leader",
    "1 while this scheduler process is the active one (holds the leader lock), else 0",
    multiprocess_mode="livemax",
)
JOB_RUNS = Counter(
    "gridserve_job_runs", "Scheduled job runs, by job and outcome (ok, error)", ["job", "outcome"]
)
JOB_DURATION = Histogram(
    "gridserve_job_duration_seconds",
    "Time a job run took, by job and outcome",
    ["job", "outcome"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 900.0),
)
CASE_ESCALATIONS = Counter(
    "gridserve_case_escalations", "Overdue cases escalated by the case-deadlines job"
)


# --- recording (cheap, in memory) ------------------------------------------------------------


def record_sync_upload(counts: Mapping[str, int]) -> None:
    """One upload batch and its item results (``{result: count}``), counted in bulk."""
    SYNC_UPLOADS.inc()
    for result, n in counts.items():
        if n:
            SYNC_UPLOAD_ITEMS.labels(result=result).inc(n)


def record_sms(channel_id: int | None, accepted: int, retry: int, failed: int) -> None:
    """The outcomes of one batch a channel's gateway was given."""
    channel = str(channel_id) if channel_id is not None else "none"
    for outcome, n in (("accepted", accepted), ("retry", retry), ("failed", failed)):
        if n:
            SMS_MESSAGES.labels(channel=channel, outcome=outcome).inc(n)


def record_job(name: str, outcome: str, seconds: float) -> None:
    """One job run: ``outcome`` ok (committed) or error (raised)."""
    JOB_RUNS.labels(job=name, outcome=outcome).inc()
    JOB_DURATION.labels(job=name, outcome=outcome).observe(seconds)


def record_escalations(result: Any) -> None:
    """The case-deadlines job's committed result: its ``escalated`` count."""
    if isinstance(result, Mapping):
        CASE_ESCALATIONS.inc(int(result.get("escalated", 0) or 0))


# --- the outbox, read at scrape time ---------------------------------------------------------


class OutboxCollector:
    """The SMS outbox by status and the wait of its oldest due queued text, from the database.

    ``gridserve_sms_outbox_messages{status}``: rows per status (every status, 0 included);
    ``gridserve_sms_outbox_oldest_queued_seconds``: how long the longest-waiting queued text
    has been due (now minus its ``next_attempt_at``; 0 when none is due).
    Needs an app context; a database error gives ``gridserve_sms_outbox_read_ok 0`` only.
    """

    def collect(self) -> Iterator[Metric]:
        from gridserve.extensions import db
        from gridserve.services.sms.outbox import queue_state

        ok = GaugeMetricFamily(
            "gridserve_sms_outbox_read_ok", "1 if this scrape could read the SMS outbox, else 0"
        )
        try:
            counts, oldest = queue_state()
        except Exception:  # the database is down or slow: the scrape still answers
            log.warning("metrics: the SMS outbox could not be read", exc_info=True)
            with contextlib.suppress(Exception):
                db.session.rollback()
            ok.add_metric([], 0)
            yield ok
            return
        ok.add_metric([], 1)
        yield ok
        by_status = GaugeMetricFamily(
            "gridserve_sms_outbox_messages", "SMS outbox rows by status", labels=["status"]
        )
        for status, n in counts.items():
            by_status.add_metric([status], n)
        yield by_status
        yield GaugeMetricFamily(
            "gridserve_sms_outbox_oldest_queued_seconds",
            "Seconds the longest-waiting due queued text has waited (0: none due)",
            value=oldest,
        )


class _ThisProcess:
    """The values this process holds (the default registry), for a single-process scrape."""

    def collect(self) -> Iterable[Metric]:
        return REGISTRY.collect()


def multiprocess_dir() -> str | None:
    """The directory of multiprocess mode, or None (single process)."""
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def exposition(with_outbox: bool = True) -> bytes:
    """Every series, in the text format: all workers' (multiprocess mode) or this process's."""
    registry = CollectorRegistry(auto_describe=False)
    path = multiprocess_dir()
    if path:
        multiprocess.MultiProcessCollector(registry, path=path)
    else:
        registry.register(_ThisProcess())  # type: ignore[arg-type]
    if with_outbox:
        registry.register(OutboxCollector())  # type: ignore[arg-type]
    return generate_latest(registry)


# --- the HTTP side ---------------------------------------------------------------------------


@lru_cache(maxsize=8)
def _networks(allow: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(n, strict=False) for n in allow)


def address_allowed(address: str | None, allow: tuple[str, ...]) -> bool:
    """Whether ``address`` (an IPv4/IPv6 address; a mapped IPv4 counts as IPv4) is in ``allow``."""
    if not address:
        return False
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip in net for net in _networks(allow))


def _route() -> str:
    rule = request.url_rule
    return rule.rule if rule is not None else UNMATCHED


def init_app(app: Flask) -> None:
    """Time every request and serve ``/metrics``; call first, so the status seen is the final one.

    (Flask runs ``after_request`` functions in reverse order of registration.)
    """
    from gridserve.auth import public
    from gridserve.config import settings
    from gridserve.errors import Forbidden

    @app.before_request
    def _start_clock() -> None:
        g.metrics_started = time.perf_counter()

    @app.after_request
    def _count(response: Response) -> Response:
        started = g.get("metrics_started")
        route = _route()
        method = request.method if request.method in METHODS else "other"
        HTTP_REQUESTS.labels(method=method, route=route, status=str(response.status_code)).inc()
        if started is not None:
            HTTP_DURATION.labels(route=route).observe(time.perf_counter() - started)
        return response

    bp = Blueprint("metrics", __name__)

    @bp.route("/metrics")
    @public
    def scrape() -> Response:
        if not address_allowed(request.remote_addr, settings().metrics_allow):
            raise Forbidden(
                "Metrics are not served to this address (GRIDSERVE_METRICS_ALLOW).",
                code="forbidden",
            )
        return Response(exposition(), content_type=CONTENT_TYPE_LATEST)

    app.register_blueprint(bp)


# --- the scheduler's own port ----------------------------------------------------------------

REFUSED = b"403 forbidden: metrics are not served to this address (GRIDSERVE_METRICS_ALLOW)\n"


def _allowed_only(app: Any, allow: tuple[str, ...]) -> Any:
    """``app`` (a WSGI app) for the peers in ``allow``; any other address gets 403."""

    def guarded(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        if not address_allowed(environ.get("REMOTE_ADDR"), allow):
            headers = [("Content-Type", "text/plain; charset=utf-8")]
            start_response("403 Forbidden", [*headers, ("Content-Length", str(len(REFUSED)))])
            return [REFUSED]
        return app(environ, start_response)

    return guarded


class _QuietHandler(WSGIRequestHandler):
    """No access line on stderr per scrape."""

    def log_message(self, format: str, *args: Any) -> None:
        pass


def serve_scheduler(
    port: int,
    addr: str = "127.0.0.1",
    allow: tuple[str, ...] = ("127.0.0.1/32", "::1/128"),
) -> Any:
    """Serve this process's series on ``addr:port`` (the scheduler) to the peers in ``allow``
    (``GRIDSERVE_METRICS_ALLOW``: the check of the app's ``/metrics``); returns the server.

    When the port cannot be had (another scheduler on this host holds it, or the address is not
    this host's), logs one warning and returns None: the scheduler runs on without its metrics
    port rather than exit (a service manager would restart it into the same error, forever).
    """

    class Server(ThreadingWSGIServer):
        address_family = socket.AF_INET6 if ":" in addr else socket.AF_INET

    app = _allowed_only(make_wsgi_app(REGISTRY), allow)
    try:
        server = make_server(addr, port, app, Server, handler_class=_QuietHandler)
    except OSError as exc:
        log.warning(
            "scheduler metrics NOT served: cannot listen on %s:%s (%s); this scheduler runs on "
            "without its metrics port (is another scheduler on this host using the same "
            "GRIDSERVE_SCHEDULER_METRICS_PORT? give each its own)",
            addr,
            port,
            exc.strerror or exc,
        )
        return None
    threading.Thread(target=server.serve_forever, name="scheduler-metrics", daemon=True).start()
    log.info("scheduler metrics on http://%s:%s/metrics", addr, port)
    return server
