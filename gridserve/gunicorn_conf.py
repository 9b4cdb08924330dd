"""gunicorn settings for production: ``gunicorn -c python:gridserve.gunicorn_conf wsgi:app``.

Every value can be overridden from the environment (``GRIDSERVE_BIND``,
``GRIDSERVE_WORKERS``, ``GRIDSERVE_THREADS``, ``GRIDSERVE_TIMEOUT``). The
scheduler is NOT started here: run ``gridserve scheduler`` as its own service.
Set ``PROMETHEUS_MULTIPROC_DIR`` (an empty directory only this server writes) so ``/metrics``
adds up every worker (:mod:`gridserve.metrics`); the hooks at the end keep it clean.
"""

import gc
import multiprocessing
import os

import gunicorn.http.wsgi

# The Server header names no software version (gunicorn's default is "gunicorn").
gunicorn.http.wsgi.SERVER = "gridserve"

bind = os.environ.get("GRIDSERVE_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("GRIDSERVE_WORKERS", multiprocessing.cpu_count() * 2 + 1))
threads = int(os.environ.get("GRIDSERVE_THREADS", "2"))
worker_class = "gthread"
timeout = int(os.environ.get("GRIDSERVE_TIMEOUT", "60"))
graceful_timeout = 30
keepalive = 5
max_requests = 2000  # recycle workers now and then
max_requests_jitter = 200
accesslog = "-"
errorlog = "-"
# Both logs in gridserve's format (GRIDSERVE_LOG_FORMAT: JSON in production), access lines
# with the request id, user, role and device (see gridserve/logs.py).
logger_class = "gridserve.logs.GunicornLogger"
# Behind nginx on the same host; set GRIDSERVE_PROXY_COUNT=1 so client addresses are logged.
forwarded_allow_ips = os.environ.get("GRIDSERVE_FORWARDED_ALLOW_IPS", "127.0.0.1")
limit_request_line = 8190
# Above the app's own limit (gridserve.request_checks.MAX_HEADER_BYTES, 8 KiB): a longer
# header then reaches the app, which answers with the JSON envelope (431
# header_too_large) instead of gunicorn's HTML 400 page. Only headers past this (and
# request lines past limit_request_line) still get gunicorn's own answer.
limit_request_field_size = 16384
# gunicorn's control socket (gunicornc) defaults to one path per user: two servers on one host
# would share it. Give each its own with GRIDSERVE_CONTROL_SOCKET, or leave it off (the default).
control_socket = os.environ.get("GRIDSERVE_CONTROL_SOCKET", "")
control_socket_disable = not control_socket


# Prometheus multiprocess mode (gridserve.metrics): with PROMETHEUS_MULTIPROC_DIR set, every
# worker writes its values to files there and /metrics adds them up. The directory is wiped
# when the server starts (values of a previous run must not count), and a worker's live gauges
# are dropped when it exits.
def on_starting(server) -> None:
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if path:
        os.makedirs(path, exist_ok=True)
        for name in os.listdir(path):
            if name.endswith(".db"):
                os.remove(os.path.join(path, name))


def worker_exit(server, worker) -> None:
    # Freeze what is left instead of collecting it: a worker holding the app's objects took
    # seconds of CPU to exit (restarts and max_requests recycling), a frozen one a fraction.
    gc.freeze()


def child_exit(server, worker) -> None:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
