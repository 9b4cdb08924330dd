"""The README's "Deploying for real", followed step by step as an operator would (PostgreSQL).

The recipe's text is read from README.md (its "Deploying for real" section): the env file's
settings, step 3's shell commands, the gunicorn and scheduler units, the nginx site and the
several-nodes ``upstream`` block. A change there changes what this test runs.

1. A fresh database with PostGIS (``CREATE DATABASE``, ``CREATE EXTENSION postgis``; the test
   connects as the database superuser instead of ``sudo -u postgres``).
2. The release installed as the README says, with substitutions so that nothing is downloaded
   at test time: the repository's HEAD (plus uncommitted changes to tracked files, ``git stash
   create``; untracked files are not deployed) is cloned (``git clone``) into a directory
   standing for ``/opt/gridserve``; the already built ``web/dist`` is linked into it instead of
   running npm there; a fresh virtualenv ``.venv`` in it gets ``pip install --no-deps
   --no-build-isolation --no-index -e`` of the clone, its dependencies coming from the test's
   own virtualenv through a ``.pth`` file (instead of from PyPI), and a ``bin/gunicorn``
   script like the one pip writes for gunicorn. Everything below runs from that virtualenv
   with the clone as its working directory and without ``PYTHONPATH``.
3. The env file: the README's lines, with this test's database URL, keys and instance path
   (plus ``GRIDSERVE_BIND`` on a free port and ``GRIDSERVE_WORKERS=4``); then the README's
   step 3 commands in bash (the file loaded with ``set -a``; not as another user): ``db
   upgrade``, ``areas import``, ``users create`` with the password typed at its prompt.
4. gunicorn as the README's unit runs it: its ``ExecStart`` (``/opt/gridserve`` replaced by the
   clone), ``WorkingDirectory``, ``Environment`` (``/run/gridserve``: a directory made here, as
   ``RuntimeDirectory=`` makes it) and env file, with ``GRIDSERVE_WORKERS=4`` (:data:`WORKERS`);
   both units pass ``systemd-analyze verify`` where it is installed. nginx in front for TLS
   with the README's site block (a self-signed certificate made here with openssl, a free port,
   nginx run as an unprivileged user with its own prefix); the ``upstream`` block for several
   nodes passes ``nginx -t``.
5. (Job workers are optional and not started.)
6. Two schedulers from the README's scheduler unit (``UnsetEnvironment`` applied), each with
   its own ``GRIDSERVE_SCHEDULER_METRICS_PORT`` on the loopback.

Then, through https only: readiness and liveness 200, a sign-in and authenticated reads,
``X-Forwarded-Proto`` honoured (absolute URLs the app builds say https), ``/metrics`` served to
the loopback (and refused to another address) and counting exactly the :data:`BURST` requests
sent to one route, which more than one worker served (their counts per process, read from the
multiprocess directory); the console page served; one scheduler active and one standing by, as
each one's metrics port says (``gridserve_scheduler_leader`` 1 on the active one, 0 on the
standby); no metrics file of a scheduler in gunicorn's directory; the database unreachable for
a moment (connections refused and cut): a request answers 503 ``database_unavailable``, and the
service serves again by itself once it is back. Last, the processes' own output: every line
gunicorn wrote is JSON (production's default format) with the context keys, every access line
has a ``request_id`` (and ``user_id`` and ``device_id`` keys), the signed-in user's id on its
requests; the app's line about the outage carries that request's id; the scheduler's lines are
JSON with the same keys.
Needs nginx (installed by ``.ci/os-deps.sh nginx``); skipped without it, except under CI
(``CI`` set), where a missing nginx fails. Takes about 10 s more than with the checkout
itself (clone, virtualenv, editable install).
"""

from __future__ import annotations

import importlib.util
import json
import os
import pwd
import re
import secrets
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from cryptography.fernet import Fernet
from prometheus_client.mmap_dict import MmapedDict
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[2]
OPT = "/opt/gridserve"  # the README's install directory, replaced by the clone
ENV_FILE = "/etc/gridserve/env"
RUN_DIR = "/run/gridserve"
WORKERS = 4
ADMIN = "admin"  # the README's step 3
ADMIN_PASSWORD = "deploy-recipe-pass-1"
BURST = 40  # requests sent to one route to check /metrics counts them all
WAIT_S = 180  # for a process to come up (seconds on a loaded 2-core machine; a few when idle)
ADVISORY_KEY = 0x67726964  # jobs.scheduler.ADVISORY_KEY
LOG_KEYS = {"ts", "level", "logger", "message", "request_id", "user_id", "role", "device_id", "job"}

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

# Around the README's site: what an nginx run by an unprivileged user in its own prefix needs.
NGINX = """\
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
{site}
}}
"""


# --- the README's text ----------------------------------------------------------------------


def _deployment_blocks() -> list[str]:
    """The fenced code blocks of the README's "Deploying for real" section, dedented."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## Deploying for real\n", 1)[1].split("\n## ", 1)[0]
    fence = re.compile(r"^( *)```[a-z]*\n(.*?)^\1```$", re.S | re.M)
    return [textwrap.dedent(m.group(2)) for m in fence.finditer(section)]


def _block(blocks: list[str], marker: str) -> str:
    found = [b for b in blocks if marker in b]
    assert len(found) == 1, f"README's Deploying for real: {len(found)} blocks with {marker!r}"
    return found[0]


def _replace_once(text_: str, old: str, new: str) -> str:
    assert text_.count(old) == 1, f"the README's block changed: {old!r} not found once"
    return text_.replace(old, new)


def _unit(block: str) -> dict[str, list[str]]:
    """A systemd unit's ``[Service]`` settings, each with its values in order."""
    settings: dict[str, list[str]] = {}
    section = None
    for line in block.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line
            continue
        key, _, value = line.partition("=")
        if section == "[Service]":
            settings.setdefault(key.strip(), []).append(value.strip())
    return settings


def _env_lines(block: str) -> dict[str, str]:
    pairs = {}
    for line in block.splitlines():
        key, sep, value = line.partition("=")
        assert sep and re.fullmatch(r"[A-Z][A-Z0-9_]*", key), f"not KEY=value: {line!r}"
        pairs[key] = value
    return pairs


def _service_env(unit: dict[str, list[str]], env_file: dict[str, str], base: dict[str, str],
                 run_dir: Path) -> dict[str, str]:  # fmt: skip
    """The environment systemd gives the unit's process: ``Environment=``, then the env file
    (which wins), then ``UnsetEnvironment=`` taken away."""
    env = dict(base)
    for assignment in unit.get("Environment", []):
        key, _, value = assignment.partition("=")
        env[key] = value.replace(RUN_DIR, str(run_dir))
    assert unit["EnvironmentFile"] == [ENV_FILE]
    env |= env_file
    for names in unit.get("UnsetEnvironment", []):
        for name in names.split():
            env.pop(name, None)
    return env


def _argv(unit: dict[str, list[str]], opt: Path) -> list[str]:
    (command,) = unit["ExecStart"]
    return [arg.replace(OPT, str(opt)) for arg in shlex.split(command)]


# --- step 2: the release in /opt/gridserve ----------------------------------------------------

GUNICORN_SCRIPT = """\
#!{python}
import sys
from gunicorn.app.wsgiapp import run
if __name__ == '__main__':
    sys.exit(run())
"""


def _build_backend_missing() -> str | None:
    """What ``pip install --no-build-isolation -e`` would lack here (setuptools < 70.1 builds
    the editable wheel with the ``wheel`` package)."""
    try:
        import setuptools
    except ImportError:
        return "setuptools"
    version = tuple(int(p) for p in re.findall(r"\d+", setuptools.__version__)[:2])
    if version < (70, 1) and importlib.util.find_spec("wheel") is None:
        return "wheel"
    return None


def _install_release(opt: Path, base: dict[str, str]) -> Path:
    """Step 2 with the substitutions of the module docstring; returns the virtualenv's python."""
    # (stash create makes a commit object: give it an identity, CI checkouts may have none)
    git = ["git", "-C", str(ROOT), "-c", "user.name=deploy-test", "-c", "user.email=t@localhost"]
    tree = subprocess.run([*git, "stash", "create"], capture_output=True, text=True, check=True)
    revision = tree.stdout.strip() or "HEAD"  # HEAD plus uncommitted changes to tracked files
    subprocess.run(["git", "clone", "--quiet", "--no-checkout", str(ROOT), str(opt)], check=True)
    subprocess.run(["git", "-C", str(opt), "-c", "advice.detachedHead=false", "checkout",
                    "--quiet", revision], check=True)  # fmt: skip
    (opt / "web" / "dist").symlink_to(ROOT / "web" / "dist")  # built already: no npm here

    venv = opt / ".venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        env=base, capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    # The test's own site-packages stand for PyPI: the new virtualenv sees them after its own.
    ours = [p for p in sys.path if Path(p).name in ("site-packages", "dist-packages")]
    assert ours, sys.path
    (Path(site) / "zz_dependencies_from_the_test_venv.pth").write_text("\n".join(ours) + "\n")
    pip = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
         "--no-cache-dir", "--no-index", "--no-deps", "--no-build-isolation", "-e", str(opt)],
        cwd=opt.parent, env=base, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert pip.returncode == 0, pip.stderr[-3000:]
    gunicorn = venv / "bin" / "gunicorn"  # what pip writes when it installs gunicorn
    gunicorn.write_text(GUNICORN_SCRIPT.format(python=python))
    gunicorn.chmod(0o755)
    # The installed gridserve is the clone's, not the checkout the tests run from.
    where = subprocess.run(
        [str(python), "-c", "import gridserve; print(gridserve.__file__)"],
        cwd=opt.parent, env=base, capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    assert Path(where).is_relative_to(opt), where
    return python


def _systemd_verify(units: dict[str, str], opt: Path, env_path: Path, where: Path) -> None:
    """``systemd-analyze verify`` on the README's units (paths made this test's)."""
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        return
    paths = []
    for name, unit in units.items():
        path = where / name
        path.write_text(unit.replace(OPT, str(opt)).replace(ENV_FILE, str(env_path)))
        paths.append(path)
    done = subprocess.run([analyze, "verify", "--man=no", *map(str, paths)],
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    complaints = [
        line for line in (done.stdout + done.stderr).splitlines() if any(n in line for n in units)
    ]
    assert done.returncode == 0 and not complaints, done.stdout + done.stderr


# --- helpers ----------------------------------------------------------------------------------


def _nginx() -> str | None:
    return shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.access(p, os.X_OK)), None
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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


def _start(argv: list[str], cwd: Path, env: dict[str, str], log: Path) -> subprocess.Popen:
    with log.open("a") as out:
        return subprocess.Popen(argv, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)


def _json_lines(log: Path) -> list[dict]:
    """Every line of a process's output, each of which must be one JSON object."""
    lines = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
    parsed = []
    for line in lines:
        try:
            parsed.append(json.loads(line))
        except ValueError:
            pytest.fail(f"{log.name}: not a JSON line: {line[:300]!r}")
    return parsed


def _route_count(exposition: str, route: str) -> float:
    """``gridserve_http_requests_total`` for one route template, every method and status."""
    return sum(
        sample.value
        for family in text_string_to_metric_families(exposition)
        for sample in family.samples
        if sample.name == "gridserve_http_requests_total" and sample.labels["route"] == route
    )


def _per_process(prometheus: Path, route: str) -> dict[int, float]:
    """The same counter per process, from the multiprocess directory's files."""
    counts: dict[int, float] = {}
    for path in prometheus.glob("counter_*.db"):
        pid = int(path.stem.rsplit("_", 1)[1])
        for key, value, _ts, _pos in MmapedDict.read_all_values_from_file(str(path)):
            _metric, name, labels, _help = json.loads(key)
            if name == "gridserve_http_requests_total" and labels.get("route") == route:
                counts[pid] = counts.get(pid, 0) + value
    return counts


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
    missing = _build_backend_missing()
    if missing:
        pytest.fail(f"{missing} is missing from the test's virtualenv (it is in the dev extras): "
                    "step 2's pip install -e of the clone builds without network")  # fmt: skip
    started = time.monotonic()
    blocks = _deployment_blocks()
    readme_env = _env_lines(_block(blocks, "GRIDSERVE_ENV=production"))
    shell = _block(blocks, ".venv/bin/gridserve db upgrade")
    gunicorn_unit = _block(blocks, f"ExecStart={OPT}/.venv/bin/gunicorn")
    scheduler_unit = _block(blocks, f"ExecStart={OPT}/.venv/bin/gridserve scheduler")
    site = _block(blocks, "listen 443 ssl")
    upstream_block = _block(blocks, "upstream gridserve {")
    served_unit, scheduling_unit = _unit(gunicorn_unit), _unit(scheduler_unit)
    for unit in (served_unit, scheduling_unit):
        assert unit["User"] == ["gridserve"] and unit["WorkingDirectory"] == [OPT]
        assert unit["EnvironmentFile"] == [ENV_FILE] and unit["Restart"] == ["always"]
    assert served_unit["ExecStart"] == [
        f"{OPT}/.venv/bin/gunicorn -c python:gridserve.gunicorn_conf wsgi:app"
    ]
    assert served_unit["RuntimeDirectory"] == ["gridserve"]  # /run/gridserve, the service's
    assert "PROMETHEUS_MULTIPROC_DIR" not in readme_env  # the gunicorn unit sets it ...
    assert "PROMETHEUS_MULTIPROC_DIR" in scheduling_unit["UnsetEnvironment"]  # ... never the rest

    # What the service manager passes on, without this test's settings or code path.
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("GRIDSERVE_", "PROMETHEUS"))
        and k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")
    }

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

        # 2. The release in its own directory, with its own virtualenv.
        opt = tmp_path / "opt-gridserve"
        _install_release(opt, base)
        installed = time.monotonic() - started

        # 3. The env file: the README's settings, this test's database, keys and paths.
        upstream = _free_port()
        env_file = readme_env | {
            "GRIDSERVE_DATABASE_URL": url,
            "GRIDSERVE_SECRET_KEY": secrets.token_hex(32),
            "GRIDSERVE_DATA_KEYS": Fernet.generate_key().decode(),
            "GRIDSERVE_INSTANCE_PATH": str(tmp_path / "var-lib-gridserve"),
            "GRIDSERVE_BIND": f"127.0.0.1:{upstream}",
            "GRIDSERVE_WORKERS": str(WORKERS),
        }
        assert env_file["GRIDSERVE_ENV"] == "production" and "GRIDSERVE_LOG_FORMAT" not in env_file
        assert not [v for v in env_file.values() if "<" in v or " " in v], env_file
        env_path = tmp_path / "etc-gridserve-env"
        env_path.write_text("".join(f"{k}={v}\n" for k, v in env_file.items()))
        env_path.chmod(0o640)
        district = tmp_path / "district.geojson"
        district.write_text(json.dumps(FIRST_DISTRICT))
        # The README's commands after `sudo -u gridserve bash`, in bash; the password is typed
        # at the prompt (no terminal here: getpass reads it from stdin).
        first, *commands = shell.splitlines()
        assert first.startswith("sudo -u gridserve bash"), first
        script = "\n".join(commands)
        script = _replace_once(script, ENV_FILE, str(env_path))
        script = _replace_once(script, f"cd {OPT}", f"cd {shlex.quote(str(opt))}")
        script = _replace_once(script, "/tmp/district.geojson", str(district))
        script = _replace_once(script, "--area CODE", "--area D1")
        assert f"--username {ADMIN} " in script
        done = subprocess.run(
            ["bash", "-euc", script], cwd=tmp_path, env=base, capture_output=True, text=True,
            input=f"{ADMIN_PASSWORD}\n{ADMIN_PASSWORD}\n", start_new_session=True, timeout=300,
        )  # fmt: skip
        assert done.returncode == 0, (done.stdout[-2000:], done.stderr[-3000:])

        # The units as systemd would read them.
        run_dir = tmp_path / "run-gridserve"  # RuntimeDirectory=gridserve
        run_dir.mkdir()
        _systemd_verify(
            {"gridserve.service": gunicorn_unit, "gridserve-scheduler.service": scheduler_unit},
            opt, env_path, tmp_path,
        )  # fmt: skip
        served = _service_env(served_unit, env_file, base, run_dir)
        scheduling = _service_env(scheduling_unit, env_file, base, run_dir)
        prometheus = Path(served["PROMETHEUS_MULTIPROC_DIR"])
        assert prometheus.is_relative_to(run_dir) and "PROMETHEUS_MULTIPROC_DIR" not in scheduling

        logs = {n: tmp_path / f"{n}.log" for n in ("gunicorn", "scheduler1", "scheduler2")}
        # 6. The scheduler as its own process (started first: it leads); the second one below.
        scheduler_ports = [_free_port()]
        scheduling_1 = {**scheduling, "GRIDSERVE_SCHEDULER_METRICS_PORT": str(scheduler_ports[0])}
        schedulers = [_start(_argv(scheduling_unit, opt), opt, scheduling_1, logs["scheduler1"])]
        procs.append(schedulers[0])

        # 4. gunicorn as the unit starts it, behind nginx with TLS.
        gunicorn = _start(_argv(served_unit, opt), opt, served, logs["gunicorn"])
        procs.append(gunicorn)
        port = _free_port()
        _self_signed(prefix)
        certificates = {
            "/etc/ssl/grid.example.org/fullchain.pem": str(prefix / "fullchain.pem"),
            "/etc/ssl/grid.example.org/privkey.pem": str(prefix / "privkey.pem"),
        }
        ours = _replace_once(site, "listen 443 ssl", f"listen 127.0.0.1:{port} ssl")
        for old, new in certificates.items():
            ours = _replace_once(ours, old, new)
        # Several nodes: the README's upstream block and the site sending to it parse.
        nodes = _replace_once(
            ours, "proxy_pass http://127.0.0.1:8000;", "proxy_pass http://gridserve;"
        )
        (prefix / "nodes.conf").write_text(
            NGINX.format(prefix=prefix, site=upstream_block + nodes).replace("nginx.pid", "t.pid")
        )
        ours = _replace_once(ours, "http://127.0.0.1:8000;", f"http://127.0.0.1:{upstream};")
        (prefix / "nginx.conf").write_text(NGINX.format(prefix=prefix, site=ours))
        checked = subprocess.run(
            [nginx, "-t", "-q", "-p", str(prefix), "-c", str(prefix / "nodes.conf"), "-e",
             str(prefix / "error.log")], capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert checked.returncode == 0, checked.stderr
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
        scheduling_2 = {**scheduling, "GRIDSERVE_SCHEDULER_METRICS_PORT": str(scheduler_ports[1])}
        schedulers.append(
            _start(_argv(scheduling_unit, opt), opt, scheduling_2, logs["scheduler2"])
        )
        procs.append(schedulers[1])

        https = f"https://127.0.0.1:{port}"
        cert = str(prefix / "fullchain.pem")

        def session() -> requests.Session:
            http = requests.Session()
            http.trust_env = False  # no proxy, and REQUESTS_CA_BUNDLE must not replace `verify`
            http.verify = cert  # the self-signed certificate is the trust anchor
            return http

        http = session()
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

        # A sign-in (the account step 3 made, with the password typed at its prompt) and reads.
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
        admin_id = me.json()["user"]["id"]
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

        # Every worker counts: BURST requests to one route, 8 at a time, each on its own
        # connection, rise its counter by exactly BURST, in more than one worker's file.
        route = "/api/v1/me"
        before = _route_count(http.get(f"{https}/metrics", timeout=10).text, route)
        by_worker_before = _per_process(prometheus, route)
        with ThreadPoolExecutor(8) as pool:
            statuses = list(pool.map(
                lambda _i: session().get(f"{https}{route}", headers=auth, timeout=30).status_code,
                range(BURST),
            ))  # fmt: skip
        assert statuses == [200] * BURST
        after = _route_count(http.get(f"{https}/metrics", timeout=10).text, route)
        assert after - before == BURST
        by_worker = _per_process(prometheus, route)
        served_by = {
            pid: by_worker[pid] - by_worker_before.get(pid, 0)
            for pid in by_worker
            if by_worker[pid] > by_worker_before.get(pid, 0)
        }
        assert sum(served_by.values()) == BURST and sum(by_worker.values()) == after
        assert len(served_by) > 1, served_by  # more than one worker process answered
        assert {str(pid) for pid in served_by} <= set(children), (served_by, children)

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
        # The schedulers (UnsetEnvironment) wrote nothing into gunicorn's metrics directory.
        writers = {int(p.stem.rsplit("_", 1)[1]) for p in prometheus.glob("*.db")}
        assert writers and not writers & {s.pid for s in schedulers}, writers
        engine.dispose()

        # The database goes away for a moment: a request answers 503 and the app logs a line
        # about it with that request's id; then the service recovers by itself.
        with admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{db_name}" ALLOW_CONNECTIONS false'))
            conn.execute(
                text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :d"),
                {"d": db_name},
            )
        try:
            down = http.get(f"{https}/api/v1/areas", headers=auth, timeout=30)
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'ALTER DATABASE "{db_name}" ALLOW_CONNECTIONS true'))
        assert down.status_code == 503, down.text
        assert down.json()["error"]["code"] == "database_unavailable"
        _wait(
            lambda: http.get(f"{https}/api/v1/areas", headers=auth, timeout=10).status_code == 200,
            "the service back after the database's outage",
            every_log,
        )

        # The processes' own lines (read once gunicorn has stopped: all are written).
        _stop(gunicorn)
        lines = _json_lines(logs["gunicorn"])
        assert all(LOG_KEYS <= line.keys() for line in lines), lines[:3]
        access = [line for line in lines if line["logger"] == "gunicorn.access"]
        assert len(access) >= BURST + 10
        assert all(line["request_id"] and line["path"] and line["status"] for line in access)
        mine = [line for line in access if line["path"] == route]
        assert len(mine) == BURST + 1 and {line["user_id"] for line in mine} == {admin_id}
        assert {(line["role"], line["device_id"]) for line in mine} == {("admin", None)}
        assert len({line["request_id"] for line in mine}) == BURST + 1
        (app_line,) = [line for line in lines if line["request_id"] == down.headers["X-Request-Id"]
                       and not line["logger"].startswith("gunicorn.")]  # fmt: skip
        assert (app_line["logger"], app_line["level"]) == ("gridserve.errors", "ERROR")
        assert (
            app_line["message"] == "database unavailable" and "OperationalError" in app_line["exc"]
        )
        assert any(line["logger"] == "gunicorn.error" for line in lines)  # its own log too
        scheduler_lines = _json_lines(logs["scheduler1"])
        assert all(LOG_KEYS <= line.keys() for line in scheduler_lines)
        assert any("scheduler active" in line["message"] for line in scheduler_lines)
    finally:
        for proc in procs:  # all at once: each ends its own work
            if proc.poll() is None:
                proc.terminate()
        for proc in procs:
            _stop(proc)
        admin.dispose()
        databases.drop(name)
        shutil.rmtree(prefix, ignore_errors=True)
    took = time.monotonic() - started
    print(f"deploy recipe ({WORKERS} gunicorn workers, nginx, 2 schedulers): {took:.0f} s, "
          f"of which the install (step 2) {installed:.0f} s")  # fmt: skip
