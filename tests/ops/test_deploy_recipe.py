"""The README's "Deploying for real", followed step by step as an operator would (PostgreSQL).

1. A fresh database with PostGIS (``CREATE DATABASE``, ``CREATE EXTENSION postgis``).
2. The package from this checkout (the test's interpreter and its ``gridserve``/``gunicorn``
   scripts, run from the repository root).
3. The production environment (``GRIDSERVE_ENV=production``, the database URL, a secret key,
   data keys, ``GRIDSERVE_PROXY_COUNT=1`` behind nginx) and ``gridserve db upgrade``; a first
   district with ``gridserve areas import`` and the first account with ``gridserve users create``.
4. The API under gunicorn with the repository's config
   (``gunicorn -c python:gridserve.gunicorn_conf wsgi:app``) and ``GRIDSERVE_WORKERS=4``
   (:data:`WORKERS`, the worker count this recipe is tested with), ``PROMETHEUS_MULTIPROC_DIR``
   set; nginx in front for TLS with the README's site block (a self-signed certificate made
   here with openssl, a free port, nginx run as an unprivileged user with its own prefix).
5. (Job workers are optional and not started.)
6. Two ``gridserve scheduler`` processes: one active, one standing by on the advisory lock,
   each with its own ``GRIDSERVE_SCHEDULER_METRICS_PORT`` on the loopback.

Then, through https only: readiness and liveness 200, a sign-in and authenticated reads,
``X-Forwarded-Proto`` honoured (absolute URLs the app builds say https), ``/metrics`` served to
the loopback (and refused to another address), the console page served; each scheduler's
metrics port says which one leads (``gridserve_scheduler_leader`` 1 on the active one, 0 on the
standby). Needs nginx (installed
by ``.ci/os-deps.sh nginx``); skipped without it, except under CI (``CI`` set), where a
missing nginx fails.
"""

from __future__ import annotations

import json
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import requests
from cryptography.fernet import Fernet
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
WORKERS = 4
ADMIN = "ops-admin"
ADMIN_PASSWORD = "deploy-recipe-pass-1"
WAIT_S = 180  # for a process to come up (seconds on a loaded 2-core machine; a few when idle)
ADVISORY_KEY = 0x67726964  # jobs.scheduler.ADVISORY_KEY

FIRST_DISTRICT = {
    "type": "FeatureCollection",
    "features": [
        {
            "type": "Feature",
            "properties": {"code": "D1", "name": "部署测试区", "level": "district"},
            "geometry": {
                "type": "Polygon",
                "coordinates": [
                    [[104, 30.4], [104.2, 30.4], [104.2, 30.6], [104, 30.6], [104, 30.4]]
                ],
            },
        }
    ],
}

SITE = """\
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 128; }}
http {{
  access_log {prefix}/access.log;
  client_body_temp_path {prefix}/client_body;
  proxy_temp_path {prefix}/proxy;
  fastcgi_temp_path {prefix}/fastcgi;
  uwsgi_temp_path {prefix}/uwsgi;
  scgi_temp_path {prefix}/scgi;
  gzip on;
  gzip_types application/json text/css application/javascript;
  # The README's minimal site, on a free port of the loopback.
  server {{
    listen 127.0.0.1:{port} ssl http2;
    server_name localhost;
    ssl_certificate     {prefix}/fullchain.pem;
    ssl_certificate_key {prefix}/privkey.pem;
    client_max_body_size 12m;
    location / {{ proxy_pass http://127.0.0.1:{upstream}; proxy_set_header Host $host;
                 proxy_set_header X-Forwarded-For $remote_addr;
                 proxy_set_header X-Forwarded-Proto https; }}
  }}
}}
"""


def _nginx() -> str | None:
    return shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.access(p, os.X_OK)), None
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cli(env: dict[str, str], *args: str, timeout: float = 180) -> subprocess.CompletedProcess:
    done = subprocess.run(
        [str(BIN / "gridserve"), *args], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=timeout,
    )  # fmt: skip
    assert done.returncode == 0, (args, done.stdout[-2000:], done.stderr[-3000:])
    return done


def _wait(check, what: str, logs: list[Path], deadline_s: float = WAIT_S) -> None:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        try:
            if check():
                return
        except (requests.RequestException, OSError):
            pass
        time.sleep(0.3)
    tails = "\n".join(
        f"--- {p.name}\n{p.read_text(errors='replace')[-2000:]}" for p in logs if p.exists()
    )
    pytest.fail(f"{what} not within {deadline_s:.0f} s\n{tails}")


def _stop(proc: subprocess.Popen | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


def _scheduler(env: dict[str, str], log: Path, metrics_port: int) -> subprocess.Popen:
    env = {**env, "GRIDSERVE_SCHEDULER_METRICS_PORT": str(metrics_port)}
    with log.open("w") as out:
        return subprocess.Popen(
            [str(BIN / "gridserve"), "scheduler"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip


def _leader_gauge(http: requests.Session, port: int) -> float:
    """``gridserve_scheduler_leader`` as the scheduler's own metrics port reports it."""
    resp = http.get(f"http://127.0.0.1:{port}/metrics", timeout=10)
    assert resp.status_code == 200, resp.text
    (leader,) = (
        s.value
        for family in text_string_to_metric_families(resp.text)
        for s in family.samples
        if s.name == "gridserve_scheduler_leader"
    )
    return leader


def _self_signed(prefix: Path) -> None:
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-keyout", str(prefix / "privkey.pem"), "-out", str(prefix / "fullchain.pem"),
         "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip


def _unprivileged() -> tuple[int, int] | None:
    """nginx runs as the test's user; when that is root, as ``nobody`` instead."""
    if os.geteuid() != 0:
        return None
    nobody = pwd.getpwnam("nobody")
    return nobody.pw_uid, nobody.pw_gid


def test_the_readme_deployment_serves_through_nginx_with_tls(databases, tmp_path):
    if databases.backend != "postgresql":
        pytest.skip("the production recipe is PostgreSQL + PostGIS")
    nginx = _nginx()
    if nginx is None:
        if os.environ.get("CI"):
            pytest.fail("nginx is missing: .ci/os-deps.sh nginx installs it for the tests")
        pytest.skip("nginx is not installed (apt-get install nginx, or .ci/os-deps.sh nginx)")
    if not (ROOT / "web" / "dist" / "index.html").is_file():
        pytest.fail("the front ends are not built: run `make web` (the recipe serves web/dist)")
    started = time.monotonic()

    # 1. A fresh database, PostGIS created in it as the README says.
    name = "deploy"
    databases.drop(name)
    url = databases.url(name)
    db_name = make_url(url).database
    admin = create_engine(
        make_url(url).set(drivername="postgresql+psycopg", database="postgres"),
        isolation_level="AUTOCOMMIT",
    )
    procs: list[subprocess.Popen] = []
    prefix = Path(tempfile.mkdtemp(prefix="gridserve-nginx-"))
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{db_name}" TEMPLATE template0'))
        databases._made.add(name)  # dropped with the run's databases, whatever happens
        engine = create_engine(make_url(url).set(drivername="postgresql+psycopg"))
        with engine.begin() as conn:
            conn.execute(text("CREATE EXTENSION postgis"))

        # 3. The environment, the migrations, a first account.
        upstream = _free_port()
        env = {
            k: v for k, v in os.environ.items() if not k.startswith(("GRIDSERVE_", "PROMETHEUS"))
        }
        env |= {
            "PYTHONPATH": str(ROOT),  # this checkout's code, whatever the venv was installed from
            "GRIDSERVE_ENV": "production",
            "GRIDSERVE_DATABASE_URL": url,
            "GRIDSERVE_SECRET_KEY": secrets.token_hex(32),
            "GRIDSERVE_DATA_KEYS": Fernet.generate_key().decode(),
            "GRIDSERVE_INSTANCE_PATH": str(tmp_path / "instance"),
            "GRIDSERVE_PROXY_COUNT": "1",
            "GRIDSERVE_BIND": f"127.0.0.1:{upstream}",
            "GRIDSERVE_WORKERS": str(WORKERS),
        }
        _cli(env, "db", "upgrade")
        # The first district from a file, then the first account bound to it.
        district = tmp_path / "district.geojson"
        district.write_text(json.dumps(FIRST_DISTRICT))
        _cli(env, "areas", "import", str(district))
        _cli(env, "users", "create", "--username", ADMIN, "--role", "admin", "--area", "D1",
             "--password", ADMIN_PASSWORD)  # fmt: skip

        logs = {n: tmp_path / f"{n}.log" for n in ("gunicorn", "scheduler1", "scheduler2")}
        # 6. The scheduler as its own process (started first: it leads); the second one below.
        scheduler_ports = [_free_port()]
        procs.append(_scheduler(env, logs["scheduler1"], scheduler_ports[0]))

        # 4. gunicorn with the repository's config, behind nginx with TLS.
        served = {**env, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "prometheus")}  # gunicorn's
        with logs["gunicorn"].open("w") as out:
            gunicorn = subprocess.Popen(
                [str(BIN / "gunicorn"), "-c", "python:gridserve.gunicorn_conf", "wsgi:app"],
                cwd=ROOT, env=served, stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
        procs.append(gunicorn)
        port = _free_port()
        _self_signed(prefix)
        (prefix / "nginx.conf").write_text(SITE.format(prefix=prefix, port=port, upstream=upstream))
        user = _unprivileged()
        if user is not None:
            prefix.chmod(0o755)
            for path in [prefix, *prefix.iterdir()]:
                os.chown(path, *user)
        proxy = subprocess.Popen(
            [nginx, "-p", str(prefix), "-c", str(prefix / "nginx.conf"), "-e",
             str(prefix / "error.log"), "-g", "daemon off;"],
            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
            user=user[0] if user else None, group=user[1] if user else None,
            extra_groups=[] if user else None,
        )  # fmt: skip
        procs.append(proxy)
        # 6. The second scheduler, once the first one leads.
        _wait(lambda: "scheduler active" in logs["scheduler1"].read_text(),
              "the first scheduler active", list(logs.values()))  # fmt: skip
        scheduler_ports.append(next(p for p in iter(_free_port, 0) if p != scheduler_ports[0]))
        procs.append(_scheduler(env, logs["scheduler2"], scheduler_ports[1]))

        https = f"https://127.0.0.1:{port}"
        cert = str(prefix / "fullchain.pem")
        http = requests.Session()
        http.trust_env = False  # no proxy, and REQUESTS_CA_BUNDLE must not replace `verify`
        http.verify = cert  # the self-signed certificate is the trust anchor
        every_log = [*logs.values(), prefix / "error.log"]
        _wait(
            lambda: http.get(f"{https}/api/v1/health", timeout=10).status_code == 200,
            "readiness through nginx",
            every_log,
        )

        # gunicorn runs the configured number of workers.
        children = subprocess.run(
            ["ps", "-o", "pid=", "--ppid", str(gunicorn.pid)], capture_output=True, text=True
        ).stdout.split()
        assert len(children) == WORKERS, children

        # Readiness and liveness.
        health = http.get(f"{https}/api/v1/health", timeout=10)
        assert health.status_code == 200 and health.json()["database"] == "postgresql"
        assert health.json()["spatial"].startswith("PostGIS")
        assert http.get(f"{https}/api/v1/health/live", timeout=10).json() == {"status": "ok"}
        assert health.headers["Server"].startswith("nginx")  # answered through the proxy

        # A sign-in and authenticated reads.
        token = http.post(
            f"{https}/api/v1/auth/token",
            json={"username": ADMIN, "password": ADMIN_PASSWORD},
            timeout=30,
        )
        assert token.status_code == 201, token.text
        auth = {"Authorization": f"Bearer {token.json()['access_token']}"}
        me = http.get(f"{https}/api/v1/me", headers=auth, timeout=10)
        assert me.status_code == 200, me.text
        assert (me.json()["user"]["username"], me.json()["role"]) == (ADMIN, "admin")
        areas = http.get(f"{https}/api/v1/areas", headers=auth, timeout=10)
        assert areas.status_code == 200 and [a["code"] for a in areas.json()] == ["D1"]
        assert http.get(f"{https}/api/v1/areas", timeout=10).status_code == 401
        # Plain HTTP to the TLS port is refused by nginx.
        assert http.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=10).status_code == 400

        # X-Forwarded-Proto honoured: the absolute URLs the app builds are https ones. (The
        # README's `proxy_set_header Host $host` passes the host without the port: right on
        # 443, so the URLs name no port here either.)
        discovery = http.get(f"{https}/open311/discovery.json", timeout=10)
        assert discovery.status_code == 200, discovery.text
        (endpoint,) = discovery.json()["endpoints"]
        assert endpoint["url"] == "https://127.0.0.1/open311/v2/", endpoint

        # /metrics: the loopback (the real client, passed on by nginx) is served ...
        metrics = http.get(f"{https}/metrics", timeout=10)
        assert metrics.status_code == 200 and "gridserve_http_requests_total" in metrics.text
        # ... a forged X-Forwarded-For does not get through nginx (it sets the header itself) ...
        forged = http.get(f"{https}/metrics", headers={"X-Forwarded-For": "10.9.9.9"}, timeout=10)
        assert forged.status_code == 200
        # ... and another client address (what the one trusted proxy reports) is refused.
        other = http.get(
            f"http://127.0.0.1:{upstream}/metrics", headers={"X-Forwarded-For": "10.9.9.9"},
            timeout=10,
        )  # fmt: skip
        assert other.status_code == 403 and other.json()["error"]["code"] == "forbidden"

        # The console page.
        console = http.get(f"{https}/", timeout=10)
        assert console.status_code == 200 and console.headers["Content-Type"].startswith(
            "text/html"
        )
        assert "<html" in console.text.lower()

        # One scheduler active (the advisory lock held once), the other standing by.
        _wait(lambda: "standing by" in logs["scheduler2"].read_text(),
              "the second scheduler standing by", every_log)  # fmt: skip
        assert "scheduler active" not in logs["scheduler2"].read_text()
        assert "standing by" not in logs["scheduler1"].read_text()
        with engine.connect() as conn:
            holders = conn.execute(
                text(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
                    "AND objid::bigint = :k AND database = "
                    "(SELECT oid FROM pg_database WHERE datname = current_database())"
                ),
                {"k": ADVISORY_KEY},
            ).scalar_one()
        assert holders == 1
        # Each scheduler's own metrics port (the loopback): the active one leads, the other not.
        assert _leader_gauge(http, scheduler_ports[0]) == 1
        assert _leader_gauge(http, scheduler_ports[1]) == 0
        assert "metrics NOT served" not in logs["scheduler2"].read_text()
        assert all(p.poll() is None for p in procs), [p.returncode for p in procs]
        engine.dispose()
    finally:
        for proc in procs:  # all at once: each ends its own work
            if proc.poll() is None:
                proc.terminate()
        for proc in procs:
            _stop(proc)
        admin.dispose()
        databases.drop(name)
        shutil.rmtree(prefix, ignore_errors=True)
    print(f"deploy recipe ({WORKERS} gunicorn workers, nginx, 2 schedulers): "
          f"{time.monotonic() - started:.0f} s")  # fmt: skip
