"""What the service is running on."""

from __future__ import annotations

from functools import cache
from importlib.metadata import PackageNotFoundError, version

from alembic.config import Config
from alembic.script import ScriptDirectory

from gridserve.config import settings
from gridserve.db import backend_name, schema_revision, spatial_version
from gridserve.errors import AppError


@cache
def expected_revision(directory: str) -> str | None:
    """The newest migration this code ships (what ``gridserve db upgrade`` reaches)."""
    config = Config()
    config.set_main_option("script_location", directory)
    return ScriptDirectory.from_config(config).get_current_head()


@cache
def shipped_revisions(directory: str) -> frozenset[str]:
    """Every migration this code ships, its head and all before it."""
    config = Config()
    config.set_main_option("script_location", directory)
    return frozenset(r.revision for r in ScriptDirectory.from_config(config).walk_revisions())


def schema_is_behind(current: str | None, directory: str) -> bool:
    """True when the database needs ``gridserve db upgrade`` for this code: no schema, or an
    older revision this code ships. A revision this code does not know is a newer release's
    (its migrations ran while this release still serves): migrations are expand-then-contract
    (migrations/README.md), so this code runs on it and stays ready during a rolling upgrade."""
    if current is None:
        return True
    return current != expected_revision(directory) and current in shipped_revisions(directory)


API_VERSION = "v1"
LANGUAGES = ("zh", "en")  # the front ends' languages, the default first


def server_version() -> str:
    try:
        return version("gridserve")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "dev"


def client_config() -> dict[str, object]:
    """What the console and the field app need before anyone signs in (no secrets here)."""
    cfg = settings()
    return {
        "api_version": API_VERSION,
        "server_version": server_version(),
        "languages": list(LANGUAGES),
        "default_language": LANGUAGES[0],
        "map_tile_url": cfg.map_tile_url or None,
        "map_attribution": cfg.map_attribution or None,
        "min_app_version": cfg.min_app_version or None,
        "timezone": cfg.timezone,
    }


def liveness() -> dict[str, str]:
    """The process is up. Touches no database: liveness must not fail with the database."""
    return {"status": "ok"}


def health(migrations_dir: str) -> dict[str, object]:
    """Readiness: the database answers and its schema is the one this code ships.

    The spatial extension is read first, so an unreachable database raises SQLAlchemy's
    ``OperationalError`` (503 ``database_unavailable`` through :mod:`gridserve.errors`)
    instead of looking like a database without a schema. A schema behind this code
    (or none) is 503 ``migrations_pending``.
    """
    ours = server_version()
    spatial = spatial_version()
    current = schema_revision()
    expected = expected_revision(migrations_dir)
    if schema_is_behind(current, migrations_dir):
        raise AppError(
            "The database schema is not current: run `gridserve db upgrade`.",
            code="migrations_pending",
            status=503,
            details={"schema": current, "schema_expected": expected},
            headers={"Retry-After": "30"},
        )
    return {
        "status": "ok",
        "database": backend_name(),
        "spatial": spatial,
        "schema": current,
        "schema_expected": expected,
        "version": ours,
    }
