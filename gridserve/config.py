"""Configuration, read from the environment once, at app creation.

Every setting has a ``GRIDSERVE_`` environment variable. Defaults give the
embedded quick start (SQLite + SpatiaLite under ``instance/``); production sets
``GRIDSERVE_ENV=production``, a PostgreSQL URL and a secret key.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_INSTANCE = ROOT / "instance"

ENVIRONMENTS = ("development", "testing", "production")


class ConfigError(RuntimeError):
    """The environment does not describe a runnable service."""


def _int(env: dict[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from exc


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
    max_content_length: int = 10 * 1024 * 1024
    proxy_count: int = 0
    page_size_default: int = 50
    page_size_max: int = 500
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def flask_config(self) -> dict[str, object]:
        """The mapping handed to ``app.config``."""
        cfg: dict[str, object] = {
            "ENV_NAME": self.env,
            "TESTING": self.env == "testing",
            "SECRET_KEY": self.secret_key,
            "SQLALCHEMY_DATABASE_URI": self.database_url,
            "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": not self.is_sqlite},
            "MAX_CONTENT_LENGTH": self.max_content_length,
            "GRIDSERVE_TIMEZONE": self.timezone,
            "GRIDSERVE_TOKEN_TTL": self.token_ttl_seconds,
            "GRIDSERVE_LOGIN_MAX_FAILURES": self.login_max_failures,
            "GRIDSERVE_LOGIN_WINDOW": self.login_window_seconds,
            "GRIDSERVE_DEMO_PASSWORD": self.demo_password,
            "GRIDSERVE_PROXY_COUNT": self.proxy_count,
            # flask-smorest / OpenAPI
            "API_TITLE": "gridserve",
            "API_VERSION": "v1",
            "OPENAPI_VERSION": "3.0.3",
            "OPENAPI_URL_PREFIX": "/api/v1",
            "OPENAPI_JSON_PATH": "openapi.json",
            "OPENAPI_SWAGGER_UI_PATH": "docs",
            "OPENAPI_SWAGGER_UI_URL": "/api/v1/docs/assets/",
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
            "PAGE_SIZE_DEFAULT": self.page_size_default,
            "PAGE_SIZE_MAX": self.page_size_max,
            # gzip for terminals on slow links
            "COMPRESS_MIMETYPES": ["application/json", "application/geo+json", "text/html"],
            "COMPRESS_MIN_SIZE": 500,
            "COMPRESS_ALGORITHM": ["gzip"],
        }
        cfg.update(self.extra)
        return cfg


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
    settings = Settings(
        env=env_name,
        database_url=db_url,
        secret_key=_secret_key(env_name, env, instance),
        timezone=tz,
        instance_path=instance,
        demo_password=env.get("GRIDSERVE_DEMO_PASSWORD") or None,
        token_ttl_seconds=_int(env, "GRIDSERVE_TOKEN_TTL", 12 * 3600),
        login_max_failures=_int(env, "GRIDSERVE_LOGIN_MAX_FAILURES", 5),
        login_window_seconds=_int(env, "GRIDSERVE_LOGIN_WINDOW", 15 * 60),
        max_content_length=_int(env, "GRIDSERVE_MAX_CONTENT_LENGTH", 10 * 1024 * 1024),
        proxy_count=_int(env, "GRIDSERVE_PROXY_COUNT", 0),
    )
    if overrides:
        from dataclasses import replace

        extra = dict(settings.extra)
        fields = {f for f in Settings.__dataclass_fields__}
        direct = {k: v for k, v in overrides.items() if k in fields}
        extra.update({k: v for k, v in overrides.items() if k not in fields})
        settings = replace(settings, **direct, extra=extra)
    return settings
