"""Configuration, read from the environment once, at app creation.

Every setting has a ``GRIDSERVE_`` environment variable. Defaults give the
embedded quick start (SQLite + SpatiaLite under ``instance/``); production sets
``GRIDSERVE_ENV=production``, a PostgreSQL URL and a secret key.

Logging (:mod:`gridserve.logs`): ``GRIDSERVE_LOG_FORMAT`` is ``json`` (one JSON object per
line, with request id, user, role and device) or ``text``; it defaults to ``json`` when
``GRIDSERVE_ENV=production`` (what the production recipe sets) and to ``text`` otherwise
(the quick start and the tests). ``GRIDSERVE_LOG_LEVEL``: DEBUG, INFO (default), WARNING or
ERROR.

Retention of personal data is off by default (kept forever); the operator turns it on with
``GRIDSERVE_RETAIN_SMS_DAYS`` (SMS bodies and numbers, N days after a message's last event)
and ``GRIDSERVE_RETAIN_CASE_REPORTER_DAYS`` (a closed case's reporter name and phone, N days
after closing): see :class:`Settings` and :mod:`gridserve.services.accounts.retention`.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

if TYPE_CHECKING:
    from flask import Flask

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_INSTANCE = ROOT / "instance"

ENVIRONMENTS = ("development", "testing", "production")
SETTINGS_KEY = "gridserve_settings"  # where create_app() keeps the Settings, in app.extensions


class ConfigError(RuntimeError):
    """The environment does not describe a runnable service."""


def _parsed(env: dict[str, str], name: str, default, kind: type, what: str):
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return kind(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be {what}, got {raw!r}") from exc


def _int(env: dict[str, str], name: str, default: int) -> int:
    return _parsed(env, name, default, int, "a whole number")


def _retain_days(env: dict[str, str], name: str) -> int:
    """A retention period in days: 0 (the default) keeps forever; negative is refused."""
    days = _int(env, name, 0)
    if days < 0:
        raise ConfigError(f"{name} must be 0 (keep forever) or a number of days, got {days}")
    return days


WEB_DIST = Path(__file__).resolve().parent.parent / "web" / "dist"


def _tile_url(env: dict[str, str]) -> str:
    """``GRIDSERVE_MAP_TILE_URL``: an https (or http) XYZ template with {z}, {x} and {y}."""
    value = env.get("GRIDSERVE_MAP_TILE_URL", "").strip()
    if not value:
        return ""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("GRIDSERVE_MAP_TILE_URL must be an http(s) URL")
    if not all(k in value for k in ("{z}", "{x}", "{y}")):
        raise ValueError("GRIDSERVE_MAP_TILE_URL must contain {z}, {x} and {y}")
    return value


def _public_url(env: dict[str, str]) -> str:
    """``GRIDSERVE_PUBLIC_URL``: where the public reaches this service (an http(s) origin,
    optionally with a path prefix), e.g. ``https://grid.example.gov.cn``; without the trailing
    slash. Empty: not known (texts then carry no links)."""
    value = env.get("GRIDSERVE_PUBLIC_URL", "").strip().rstrip("/")
    if not value:
        return ""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise ConfigError(
            f"GRIDSERVE_PUBLIC_URL must be an http(s) URL without query, got {value!r}"
        )
    return value


def _flag(env: dict[str, str], name: str, default: bool) -> bool:
    """A yes/no setting: 1/true/yes/on or 0/false/no/off (empty: the default)."""
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name} must be 1/true/yes/on or 0/false/no/off, got {raw!r}")


LOG_FORMATS = ("json", "text")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


def log_settings(env: dict[str, str]) -> tuple[str, str]:
    """``(format, level)`` from ``GRIDSERVE_LOG_FORMAT`` and ``GRIDSERVE_LOG_LEVEL``: json in
    production, text elsewhere, unless set; INFO unless set."""
    production = env.get("GRIDSERVE_ENV", "development").strip() == "production"
    fmt = (env.get("GRIDSERVE_LOG_FORMAT") or ("json" if production else "text")).strip().lower()
    level = (env.get("GRIDSERVE_LOG_LEVEL") or "INFO").strip().upper()
    if fmt not in LOG_FORMATS:
        raise ConfigError(f"GRIDSERVE_LOG_FORMAT must be json or text, got {fmt!r}")
    if level not in LOG_LEVELS:
        raise ConfigError(
            f"GRIDSERVE_LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}, got {level!r}"
        )
    return fmt, level


JOBS_MODES = ("pool", "workers")


def _jobs_mode(env: dict[str, str]) -> str:
    """``GRIDSERVE_JOBS_MODE``: ``pool`` (jobs run in the web process) or ``workers``."""
    mode = env.get("GRIDSERVE_JOBS_MODE", "").strip().lower() or "pool"
    if mode not in JOBS_MODES:
        raise ConfigError(f"GRIDSERVE_JOBS_MODE must be pool or workers, got {mode!r}")
    return mode


def _float(env: dict[str, str], name: str, default: float) -> float:
    return _parsed(env, name, default, float, "a number")


def _weights(env: dict[str, str]) -> dict[str, float]:
    """Workload weight per place type, e.g. ``{"household": 1, "enterprise": 2}``."""
    raw = env.get("GRIDSERVE_WORKLOAD_WEIGHTS")
    if not raw:
        return {"household": 1.0}
    try:
        data = json.loads(raw)
        weights = {str(k): float(v) for k, v in data.items()}
    except (ValueError, AttributeError, TypeError) as exc:
        raise ConfigError(
            'GRIDSERVE_WORKLOAD_WEIGHTS must be a JSON object like {"household": 1}'
        ) from exc
    if any(w < 0 for w in weights.values()):
        raise ConfigError("GRIDSERVE_WORKLOAD_WEIGHTS must not be negative")
    return weights


@dataclass(frozen=True)
class Settings:
    env: str
    database_url: str
    secret_key: str
    timezone: str
    instance_path: Path
    demo_password: str | None
    token_ttl_seconds: int = 12 * 3600
    login_max_failures: int = 5
    login_window_seconds: int = 15 * 60
    login_max_failures_per_address: int = 30
    cors_origins: tuple[str, ...] = ()
    max_content_length: int = 10 * 1024 * 1024
    proxy_count: int = 0
    max_vertices: int = 100_000
    max_area_km2: float = 10_000.0
    max_cells: int = 2_000
    parent_tolerance_m: float = 1.0
    workload_weights: dict[str, float] = field(default_factory=lambda: {"household": 1.0})
    data_keys: tuple[str, ...] = ()
    attachments_path: Path | None = None
    max_attachment_bytes: int = 10 * 1024 * 1024
    enrolment_ttl_seconds: int = 15 * 60
    part_time_max_cells: int = 3
    gps_tolerance_m: float = 30.0
    low_accuracy_m: float = 50.0
    clock_skew_seconds: int = 300
    sync_page_size: int = 2000
    quiet_hours: str = "21:00-08:00"
    sms_accounts: dict[str, dict[str, str]] = field(default_factory=dict)
    sms_platform_rate: float = 500.0
    sms_batch_size: int = 500
    sms_claim_lease_seconds: int = 60
    sms_max_attempts: int = 5
    sms_retry_base_seconds: int = 30
    sms_outbox_path: Path | None = None
    test_clock: dt.datetime | None = None
    test_clock_rate: float = 1.0
    sms_allowed_hosts: tuple[str, ...] = ()
    calendar_uid_domain: str = "gridserve.invalid"
    # Two outreach events whose venues are this close (metres) are at one venue.
    outreach_same_venue_m: float = 50.0
    # Hours a change notice may stay unacknowledged before it is reminded once; after as many
    # hours again it is overdue (shown so to the coordinator).
    notice_ack_hours: float = 24.0
    # SME visits: a product_matched visit's decision is due this many working days after the
    # visit's local date; a converted referral earns its referrer this many points.
    outreach_decision_working_days: int = 10
    outreach_referral_points: int = 10
    # Deliverable reminders: this many days before the due date, and on each overdue day, at
    # this local hour (never in the quiet hours).
    outreach_reminder_days: tuple[int, ...] = (3, 1)
    outreach_reminder_hour: int = 9
    # Cases: a new case of the same category this close (metres) and this recent (hours) to an
    # open one is offered as its duplicate; a verification must be made this close to the case;
    # a consenting reporter is texted within this many hours of closing, from the SMS channel of
    # the institution with this code, and may rate by reply for this many days.
    case_duplicate_m: float = 50.0
    case_duplicate_hours: int = 72
    case_verify_distance_m: float = 100.0
    case_feedback_hours: int = 24
    case_feedback_channel: str = ""
    case_rating_days: int = 7
    # Where the public reaches this service (GRIDSERVE_PUBLIC_URL, e.g.
    # https://grid.example.gov.cn): links in texts to residents (the rating page /r/<code>).
    public_url: str = ""
    # Open311 public intake: requests per minute per API key and per client address.
    open311_rate_per_minute: int = 30
    # The built front ends (web/dist: the console at /, the field app at /field/).
    web_dist: Path = WEB_DIST
    # The console map's base layer: an XYZ tile URL ({z}/{x}/{y}); empty: boundaries on a plain
    # background, which works with no network.
    map_tile_url: str = ""
    # Shown with the base map (the tile server's licence); empty: none.
    map_attribution: str = ""
    # The oldest field app the service still talks to (told to clients in /client-config).
    min_app_version: str = ""
    # How long a terminal's token lasts from its enrolment (0: until revoked); past it the
    # terminal gets 401 ``token_expired`` and is enrolled again (its data is kept).
    device_token_ttl_seconds: int = 0
    # Jobs: long operations answered 202 with a job to poll (gridserve.services.accounts.jobs).
    # Who runs them, ``GRIDSERVE_JOBS_MODE``: ``pool`` (default; the quick start) a pool of
    # ``GRIDSERVE_JOBS_THREADS`` threads in each web process, started when the request commits
    # (``GRIDSERVE_JOBS_INLINE``, the tests' default: at once, in the request's thread);
    # ``workers``: the web process only stores them and ``gridserve worker`` processes (any
    # number, on any machine) claim and run them. ``GRIDSERVE_JOBS_LEASE`` (seconds, ≥ 30,
    # default 900): how long a claim holds without being renewed; a worker renews it while it
    # works, and a job whose runner died is run again once it has run out (3 attempts at most).
    jobs_inline: bool = False
    jobs_threads: int = 2
    jobs_lease_seconds: int = 900
    log_format: str = "text"
    log_level: str = "INFO"
    # Who may read /metrics (GRIDSERVE_METRICS_ALLOW, CIDRs; the client address as the app
    # sees it, after GRIDSERVE_PROXY_COUNT), and the scheduler's own metrics port (0: none).
    metrics_allow: tuple[str, ...] = ("127.0.0.1/32", "::1/128")
    scheduler_metrics_port: int = 0
    # Retention (the daily ``retention`` job, gridserve.services.accounts.retention); 0 keeps
    # forever (the default). GRIDSERVE_RETAIN_SMS_DAYS: SMS messages in a final status (sent,
    # failed, expired, opted out) this many days after their last event lose their body and
    # number (encrypted number emptied, its hash replaced by an ``anon:<id>`` marker; status,
    # counts and times kept). GRIDSERVE_RETAIN_CASE_REPORTER_DAYS: cases closed or cancelled
    # this many days ago lose their reporter's name, phone and phone hash (and their feedback
    # rows' phone hash). Anonymised, never deleted; one audit entry (``retention``) per run.
    retain_sms_days: int = 0
    retain_case_reporter_days: int = 0
    jobs_mode: str = "pool"
    # Requests this big answer 202 with a job even without ``Prefer: respond-async``: a grid
    # plan of more cells (``GRIDSERVE_ASYNC_GRID_CELLS``, default 500; square/hex: estimated
    # from the area and the cell size) and a place import of more rows
    # (``GRIDSERVE_ASYNC_IMPORT_ROWS``, default 10,000). Smaller ones answer at once.
    async_grid_cells: int = 500
    async_import_rows: int = 10_000
    extra: dict[str, object] = field(default_factory=dict)
    # GRIDSERVE_BENCH_ENDPOINTS=1 mounts the test-only endpoints of bench/load (api/bench.py:
    # /api/v1/_bench/...). Off by default; never set it in production.
    bench_endpoints: bool = False
    # The address the scheduler's metrics port listens on (GRIDSERVE_SCHEDULER_METRICS_BIND, an
    # IP address; default the loopback). Who may read it: GRIDSERVE_METRICS_ALLOW, as /metrics.
    scheduler_metrics_bind: str = "127.0.0.1"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def attachments_root(self) -> Path:
        """Where photos are kept (``GRIDSERVE_ATTACHMENTS_PATH``, else under instance/)."""
        return self.attachments_path or self.instance_path / "attachments"

    @property
    def sms_outbox_root(self) -> Path:
        """Where the file gateway writes (``GRIDSERVE_SMS_OUTBOX_PATH``, else instance/)."""
        return self.sms_outbox_path or self.instance_path

    def flask_config(self) -> dict[str, object]:
        """The mapping handed to ``app.config``."""
        cfg: dict[str, object] = {
            "ENV_NAME": self.env,
            "TESTING": self.env == "testing",
            "SECRET_KEY": self.secret_key,
            "SQLALCHEMY_DATABASE_URI": self.database_url,
            # hide_parameters: a logged database error never quotes the row's values.
            "SQLALCHEMY_ENGINE_OPTIONS": {
                "pool_pre_ping": not self.is_sqlite,
                "hide_parameters": True,
            },
            "MAX_CONTENT_LENGTH": self.max_content_length,
            # flask-smorest / OpenAPI
            "API_TITLE": "gridserve",
            "API_VERSION": "v1",
            "OPENAPI_VERSION": "3.0.3",
            "OPENAPI_URL_PREFIX": "/api/v1",
            "OPENAPI_JSON_PATH": "openapi.json",
            "OPENAPI_SWAGGER_UI_PATH": "docs",
            "OPENAPI_SWAGGER_UI_URL": "/api/v1/docs/assets/",
            # No badge fetched from validator.swagger.io: the docs page loads nothing remote.
            "OPENAPI_SWAGGER_UI_CONFIG": {"validatorUrl": None},
            "API_SPEC_OPTIONS": {
                "info": {
                    "description": (
                        "Grid management and community outreach. All errors use one envelope: "
                        '`{"error": {"code", "message", "details"}}`. Lists are paginated with '
                        "`page` and `page_size` (pagination metadata in the `X-Pagination` "
                        "header), sorted with `sort` (a field name, `-` prefix for descending) "
                        "and filtered by the query parameters each list documents."
                    )
                }
            },
            # gzip for terminals on slow links: the API, the pages and the front ends' bundles
            "COMPRESS_MIMETYPES": [
                "application/json",
                "application/geo+json",
                "text/html",
                "text/javascript",
                "application/javascript",
                "text/css",
                "application/manifest+json",
            ],
            "COMPRESS_MIN_SIZE": 500,
            "COMPRESS_ALGORITHM": ["gzip"],
            # files (the bundles under /assets) are streamed: gzip them too
            "COMPRESS_ALGORITHM_STREAMING": ["gzip"],
        }
        cfg.update(self.extra)
        return cfg


def settings(app: Flask | None = None) -> Settings:
    """The running app's settings: the one way code reads a ``GRIDSERVE_*`` setting.

    ``app`` defaults to Flask's current app; tests swap the object with the
    ``override_settings`` fixture rather than writing ``app.config``.
    """
    if app is None:
        from flask import current_app

        app = current_app
    return app.extensions[SETTINGS_KEY]


def _secret_key(env_name: str, env: dict[str, str], instance: Path) -> str:
    key = env.get("GRIDSERVE_SECRET_KEY", "")
    if key:
        if env_name == "production" and len(key) < 32:
            raise ConfigError("GRIDSERVE_SECRET_KEY must be at least 32 characters in production")
        return key
    if env_name == "production":
        raise ConfigError("GRIDSERVE_SECRET_KEY is required when GRIDSERVE_ENV=production")
    if env_name == "testing":
        return secrets.token_hex(32)
    # Development: a random key kept in instance/ so it survives restarts.
    path = instance / "secret_key"
    if path.exists():
        return path.read_text().strip()
    instance.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32)
    path.write_text(key)
    path.chmod(0o600)
    return key


def _quiet(env: dict[str, str]) -> str:
    """Deployment-wide quiet hours, ``HH:MM-HH:MM`` local time (may wrap midnight)."""
    import re

    raw = env.get("GRIDSERVE_QUIET_HOURS", "21:00-08:00").strip()
    if not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-3]):[0-5]\d", raw):
        raise ConfigError("GRIDSERVE_QUIET_HOURS must look like 21:00-08:00")
    start, end = raw.split("-")
    if start == end:
        # Quiet from a time until the same time is the whole day: no campaign could ever send.
        raise ConfigError(
            f"GRIDSERVE_QUIET_HOURS {raw} leaves no time to send (quiet all day); "
            "give a start and an end that differ, e.g. 21:00-08:00"
        )
    return raw


def _test_clock(env_name: str, env: dict[str, str]) -> tuple[dt.datetime | None, float]:
    """``GRIDSERVE_TEST_CLOCK`` (an ISO instant with its offset) and ``GRIDSERVE_TEST_CLOCK_RATE``.

    For processes a test starts: their clock begins at that instant. Refused outside testing,
    so a production server can never run on a made-up time.
    """
    raw = env.get("GRIDSERVE_TEST_CLOCK", "").strip()
    rate = _float(env, "GRIDSERVE_TEST_CLOCK_RATE", 1.0)
    if not raw:
        return None, 1.0
    if env_name != "testing":
        raise ConfigError("GRIDSERVE_TEST_CLOCK is honoured only when GRIDSERVE_ENV=testing")
    try:
        start = dt.datetime.fromisoformat(raw)
    except ValueError as exc:
        raise ConfigError(f"GRIDSERVE_TEST_CLOCK must be an ISO instant, got {raw!r}") from exc
    if start.tzinfo is None:
        raise ConfigError("GRIDSERVE_TEST_CLOCK needs a UTC offset, e.g. 2027-01-01T00:00:00+08:00")
    if rate <= 0:
        raise ConfigError("GRIDSERVE_TEST_CLOCK_RATE must be positive")
    return start, rate


def _sms_accounts(env: dict[str, str]) -> dict[str, dict[str, str]]:
    """Gateway accounts' secrets by name (a channel's ``credentials_ref``), never in the database.

    ``GRIDSERVE_SMS_ACCOUNTS`` is a JSON object, or ``@/path/to/file.json`` holding one, e.g.
    ``{"cmcc": {"password": "...", "receipt_secret": "..."}}``.
    """
    raw = env.get("GRIDSERVE_SMS_ACCOUNTS", "").strip()
    if not raw:
        return {}
    try:
        if raw.startswith("@"):
            raw = Path(raw[1:]).read_text()
        data = json.loads(raw)
        accounts = {str(k): {str(a): str(b) for a, b in v.items()} for k, v in data.items()}
    except (OSError, ValueError, AttributeError, TypeError) as exc:
        raise ConfigError(
            'GRIDSERVE_SMS_ACCOUNTS must be a JSON object like {"cmcc": {"password": "..."}} '
            "or @ followed by the path of a file holding one"
        ) from exc
    return accounts


def _cors_origins(env: dict[str, str]) -> tuple[str, ...]:
    """Origins allowed to call the API from a browser (CORS); none by default.

    ``GRIDSERVE_CORS_ORIGINS`` is a comma-separated list such as
    ``https://console.example.org,http://localhost:5173``, or ``*`` for any origin
    (safe only because the API authenticates with bearer tokens, never cookies).
    """
    import re

    raw = env.get("GRIDSERVE_CORS_ORIGINS", "")
    origins = tuple(o.strip().rstrip("/").lower() for o in raw.split(",") if o.strip())
    for origin in origins:
        if origin != "*" and not re.fullmatch(r"https?://[a-z0-9.\-\[\]:]+", origin):
            raise ConfigError(
                "GRIDSERVE_CORS_ORIGINS must list origins like https://console.example.org "
                f"(scheme, host and optional port, no path), got {origin!r}"
            )
    return origins


def _allowed_hosts(env: dict[str, str]) -> tuple[str, ...]:
    """Host names (or addresses, or patterns like ``*.sms.example.com``) SMS gateways may
    connect to, comma-separated; unset or empty: any host that is not link-local, unspecified,
    multicast or broadcast (see :func:`gridserve.sms.gateways.resolve_checked`)."""
    raw = env.get("GRIDSERVE_SMS_ALLOWED_HOSTS", "")
    hosts = tuple(h.strip().lower() for h in raw.split(",") if h.strip())
    for host in hosts:
        if any(ch.isspace() or ch in "/@" for ch in host):
            raise ConfigError(
                "GRIDSERVE_SMS_ALLOWED_HOSTS is a comma-separated list of host names or "
                f"patterns (like sms.example.com, *.carrier.cn), got {host!r}"
            )
    return hosts


def _reminder_days(env: dict[str, str]) -> tuple[int, ...]:
    """``GRIDSERVE_OUTREACH_REMINDER_DAYS``: days before a due date to remind, e.g. ``3,1``."""
    raw = env.get("GRIDSERVE_OUTREACH_REMINDER_DAYS", "").strip()
    if not raw:
        return (3, 1)
    try:
        days = sorted({int(part) for part in raw.split(",") if part.strip()}, reverse=True)
    except ValueError as exc:
        raise ValueError(
            f"GRIDSERVE_OUTREACH_REMINDER_DAYS must be whole days separated by commas: {raw!r}"
        ) from exc
    if any(d < 1 or d > 60 for d in days):
        raise ValueError(f"GRIDSERVE_OUTREACH_REMINDER_DAYS: each day must be 1..60: {raw!r}")
    return tuple(days)


def _notice_ack_hours(env: dict[str, str]) -> float:
    """``GRIDSERVE_NOTICE_ACK_HOURS``: hours to acknowledge a change notice before it is
    reminded (and as many again before it is overdue); default 24."""
    hours = _float(env, "GRIDSERVE_NOTICE_ACK_HOURS", 24.0)
    if not 0 < hours <= 24 * 30:
        raise ConfigError("GRIDSERVE_NOTICE_ACK_HOURS must be more than 0 and at most 720")
    return hours


def _data_keys(env_name: str, env: dict[str, str], instance: Path) -> tuple[str, ...]:
    """The key ring for personal data (see :mod:`gridserve.crypto`), newest key first."""
    from cryptography.fernet import Fernet

    raw = env.get("GRIDSERVE_DATA_KEYS", "")
    keys = tuple(k.strip() for k in raw.split(",") if k.strip())
    for key in keys:
        try:
            Fernet(key.encode())
        except (ValueError, TypeError) as exc:
            raise ConfigError(
                "GRIDSERVE_DATA_KEYS holds a key that is not a Fernet key "
                "(make one with `gridserve keys generate`)"
            ) from exc
    if keys:
        return keys
    if env_name == "production":
        raise ConfigError("GRIDSERVE_DATA_KEYS is required when GRIDSERVE_ENV=production")
    if env_name == "testing":
        return (Fernet.generate_key().decode(),)
    path = instance / "data_key"
    if not path.exists():
        instance.mkdir(parents=True, exist_ok=True)
        path.write_text(Fernet.generate_key().decode())
        path.chmod(0o600)
    return (path.read_text().strip(),)


def _calendar_domain(env: dict[str, str]) -> str:
    """``GRIDSERVE_CALENDAR_DOMAIN``: the right-hand side of the outreach calendar's event UIDs
    (``outreach-event-{id}@domain``). Set it once and keep it: calendar apps match events by
    UID, so changing it duplicates every event in subscribed calendars."""
    raw = env.get("GRIDSERVE_CALENDAR_DOMAIN", "").strip().lower()
    if not raw:
        return "gridserve.invalid"
    if not re.fullmatch(r"[a-z0-9](?:[a-z0-9.-]{0,251}[a-z0-9])?", raw):
        raise ConfigError(f"GRIDSERVE_CALENDAR_DOMAIN {raw!r} is not a host name")
    return raw


def _metrics_allow(env: dict[str, str]) -> tuple[str, ...]:
    """``GRIDSERVE_METRICS_ALLOW``: comma-separated addresses or networks (CIDR) that may read
    ``/metrics``; default the loopback only (``127.0.0.1/32,::1/128``)."""
    import ipaddress

    raw = env.get("GRIDSERVE_METRICS_ALLOW", "").strip()
    if not raw:
        return ("127.0.0.1/32", "::1/128")
    nets = []
    for part in (p.strip() for p in raw.split(",")):
        if not part:
            continue
        try:
            nets.append(str(ipaddress.ip_network(part, strict=False)))
        except ValueError as exc:
            raise ConfigError(
                f"GRIDSERVE_METRICS_ALLOW: {part!r} is not an address or network (CIDR)"
            ) from exc
    return tuple(nets)


def _port(env: dict[str, str], name: str) -> int:
    """A TCP port, or 0 (the default) for none."""
    port = _int(env, name, 0)
    if not 0 <= port <= 65535:
        raise ConfigError(f"{name} must be a port number (1-65535) or 0 for none")
    return port


def _bind_address(env: dict[str, str], name: str) -> str:
    """An IP address to listen on (``0.0.0.0`` / ``::``: every one); default ``127.0.0.1``."""
    import ipaddress

    raw = env.get(name, "").strip()
    if not raw:
        return "127.0.0.1"
    try:
        return str(ipaddress.ip_address(raw.removeprefix("[").removesuffix("]")))
    except ValueError as exc:
        raise ConfigError(
            f"{name}: {raw!r} is not an IP address (e.g. 127.0.0.1, 0.0.0.0, ::1)"
        ) from exc


def load_settings(environ: dict[str, str] | None = None, **overrides: object) -> Settings:
    """Build the settings from the environment (``os.environ`` by default)."""
    env = dict(os.environ if environ is None else environ)
    env_name = env.get("GRIDSERVE_ENV", "development")
    if env_name not in ENVIRONMENTS:
        raise ConfigError(f"GRIDSERVE_ENV must be one of {', '.join(ENVIRONMENTS)}")
    instance = Path(env.get("GRIDSERVE_INSTANCE_PATH", str(DEFAULT_INSTANCE))).resolve()
    db_url = env.get("GRIDSERVE_DATABASE_URL") or f"sqlite:///{instance / 'gridserve.db'}"
    if db_url.startswith("postgresql://"):
        db_url = "postgresql+psycopg://" + db_url.removeprefix("postgresql://")
    if db_url.startswith("sqlite"):
        instance.mkdir(parents=True, exist_ok=True)
    tz = env.get("GRIDSERVE_TIMEZONE", "Asia/Shanghai")
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(f"GRIDSERVE_TIMEZONE {tz!r} is not a known time zone") from exc
    test_clock, test_clock_rate = _test_clock(env_name, env)
    log_format, log_level = log_settings(env)
    settings = Settings(
        env=env_name,
        test_clock=test_clock,
        test_clock_rate=test_clock_rate,
        database_url=db_url,
        secret_key=_secret_key(env_name, env, instance),
        timezone=tz,
        instance_path=instance,
        demo_password=env.get("GRIDSERVE_DEMO_PASSWORD") or None,
        token_ttl_seconds=_int(env, "GRIDSERVE_TOKEN_TTL", 12 * 3600),
        login_max_failures=_int(env, "GRIDSERVE_LOGIN_MAX_FAILURES", 5),
        login_window_seconds=_int(env, "GRIDSERVE_LOGIN_WINDOW", 15 * 60),
        login_max_failures_per_address=_int(env, "GRIDSERVE_LOGIN_MAX_FAILURES_PER_ADDRESS", 30),
        cors_origins=_cors_origins(env),
        max_content_length=_int(env, "GRIDSERVE_MAX_CONTENT_LENGTH", 10 * 1024 * 1024),
        proxy_count=_int(env, "GRIDSERVE_PROXY_COUNT", 0),
        max_vertices=_int(env, "GRIDSERVE_MAX_VERTICES", 100_000),
        max_area_km2=_float(env, "GRIDSERVE_MAX_AREA_KM2", 10_000.0),
        max_cells=_int(env, "GRIDSERVE_MAX_CELLS", 2_000),
        parent_tolerance_m=_float(env, "GRIDSERVE_PARENT_TOLERANCE_M", 1.0),
        workload_weights=_weights(env),
        data_keys=_data_keys(env_name, env, instance),
        attachments_path=Path(env["GRIDSERVE_ATTACHMENTS_PATH"])
        if env.get("GRIDSERVE_ATTACHMENTS_PATH")
        else None,
        max_attachment_bytes=_int(env, "GRIDSERVE_MAX_ATTACHMENT_BYTES", 10 * 1024 * 1024),
        enrolment_ttl_seconds=_int(env, "GRIDSERVE_ENROLMENT_TTL", 15 * 60),
        part_time_max_cells=_int(env, "GRIDSERVE_PART_TIME_MAX_CELLS", 3),
        gps_tolerance_m=_float(env, "GRIDSERVE_GPS_TOLERANCE_M", 30.0),
        low_accuracy_m=_float(env, "GRIDSERVE_LOW_ACCURACY_M", 50.0),
        clock_skew_seconds=_int(env, "GRIDSERVE_CLOCK_SKEW_SECONDS", 300),
        sync_page_size=_int(env, "GRIDSERVE_SYNC_PAGE_SIZE", 2000),
        quiet_hours=_quiet(env),
        sms_accounts=_sms_accounts(env),
        sms_platform_rate=_float(env, "GRIDSERVE_SMS_PLATFORM_RATE", 500.0),
        sms_batch_size=_int(env, "GRIDSERVE_SMS_BATCH_SIZE", 500),
        sms_claim_lease_seconds=_int(env, "GRIDSERVE_SMS_CLAIM_LEASE", 60),
        sms_max_attempts=_int(env, "GRIDSERVE_SMS_MAX_ATTEMPTS", 5),
        sms_retry_base_seconds=_int(env, "GRIDSERVE_SMS_RETRY_BASE", 30),
        sms_outbox_path=Path(env["GRIDSERVE_SMS_OUTBOX_PATH"])
        if env.get("GRIDSERVE_SMS_OUTBOX_PATH")
        else None,
        sms_allowed_hosts=_allowed_hosts(env),
        calendar_uid_domain=_calendar_domain(env),
        outreach_same_venue_m=_float(env, "GRIDSERVE_OUTREACH_SAME_VENUE_M", 50.0),
        notice_ack_hours=_notice_ack_hours(env),
        outreach_decision_working_days=max(1, _int(env, "GRIDSERVE_OUTREACH_DECISION_DAYS", 10)),
        outreach_referral_points=max(0, _int(env, "GRIDSERVE_OUTREACH_REFERRAL_POINTS", 10)),
        outreach_reminder_days=_reminder_days(env),
        outreach_reminder_hour=min(23, max(0, _int(env, "GRIDSERVE_OUTREACH_REMINDER_HOUR", 9))),
        case_duplicate_m=max(0.0, _float(env, "GRIDSERVE_CASE_DUPLICATE_M", 50.0)),
        case_duplicate_hours=max(0, _int(env, "GRIDSERVE_CASE_DUPLICATE_HOURS", 72)),
        case_verify_distance_m=max(1.0, _float(env, "GRIDSERVE_CASE_VERIFY_DISTANCE_M", 100.0)),
        case_feedback_hours=max(0, _int(env, "GRIDSERVE_CASE_FEEDBACK_HOURS", 24)),
        case_feedback_channel=env.get("GRIDSERVE_CASE_FEEDBACK_CHANNEL", "").strip()[:32],
        case_rating_days=max(1, _int(env, "GRIDSERVE_CASE_RATING_DAYS", 7)),
        public_url=_public_url(env),
        open311_rate_per_minute=max(1, _int(env, "GRIDSERVE_OPEN311_RATE", 30)),
        web_dist=Path(env["GRIDSERVE_WEB_DIST"]) if env.get("GRIDSERVE_WEB_DIST") else WEB_DIST,
        map_tile_url=_tile_url(env),
        map_attribution=env.get("GRIDSERVE_MAP_ATTRIBUTION", "").strip()[:300],
        min_app_version=env.get("GRIDSERVE_MIN_APP_VERSION", "").strip()[:40],
        device_token_ttl_seconds=max(0, _int(env, "GRIDSERVE_DEVICE_TOKEN_TTL", 0)),
        jobs_inline=_flag(env, "GRIDSERVE_JOBS_INLINE", env_name == "testing"),
        jobs_threads=max(1, _int(env, "GRIDSERVE_JOBS_THREADS", 2)),
        jobs_lease_seconds=max(30, _int(env, "GRIDSERVE_JOBS_LEASE", 900)),
        log_format=log_format,
        log_level=log_level,
        metrics_allow=_metrics_allow(env),
        scheduler_metrics_port=_port(env, "GRIDSERVE_SCHEDULER_METRICS_PORT"),
        retain_sms_days=_retain_days(env, "GRIDSERVE_RETAIN_SMS_DAYS"),
        retain_case_reporter_days=_retain_days(env, "GRIDSERVE_RETAIN_CASE_REPORTER_DAYS"),
        jobs_mode=_jobs_mode(env),
        async_grid_cells=max(1, _int(env, "GRIDSERVE_ASYNC_GRID_CELLS", 500)),
        async_import_rows=max(1, _int(env, "GRIDSERVE_ASYNC_IMPORT_ROWS", 10_000)),
        bench_endpoints=_flag(env, "GRIDSERVE_BENCH_ENDPOINTS", False),
        scheduler_metrics_bind=_bind_address(env, "GRIDSERVE_SCHEDULER_METRICS_BIND"),
    )
    if overrides:
        from dataclasses import replace

        extra = dict(settings.extra)
        fields = {f for f in Settings.__dataclass_fields__}
        direct = {k: v for k, v in overrides.items() if k in fields}
        extra.update({k: v for k, v in overrides.items() if k not in fields})
        settings = replace(settings, **direct, extra=extra)
    return settings
