"""Test fixtures: one app per session on the backend under test, clean tables per test.

The backend comes from ``GRIDSERVE_TEST_DATABASE_URL`` (``make test`` runs the
suite once against PostGIS and once against SpatiaLite); unset, a SpatiaLite
file in a temporary directory is used.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_migrate import upgrade
from sqlalchemy import text

from gridserve import audit
from gridserve.app import create_app
from gridserve.config import SETTINGS_KEY, Settings, load_settings, settings
from gridserve.extensions import db

PASSWORD = "correct horse battery"
TEST_ACTOR = audit.Actor(kind="test", name="pytest")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--local-time",
        default=os.environ.get("GRIDSERVE_TEST_LOCAL_TIME") or None,
        help="start every test at today's date at this local time (HH:MM[:SS]), e.g. 23:59:30; "
        "default: $GRIDSERVE_TEST_LOCAL_TIME, else the real clock",
    )


def pytest_report_header(config: pytest.Config) -> str | None:
    wanted = config.getoption("--local-time")
    return f"gridserve test clock: each test starts at {wanted} local time" if wanted else None


@pytest.fixture(autouse=True)
def _test_clock(request: pytest.FixtureRequest) -> Iterator[None]:
    """Every test on a clock it controls: at ``--local-time`` if given; travels end with it."""
    from tests import clock

    clock.start_of_test(request.config.getoption("--local-time"))
    try:
        yield
    finally:
        clock.reset()


def _database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = os.environ.get("GRIDSERVE_TEST_DATABASE_URL")
    if url:
        return url
    return f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"


def make_settings(url: str, instance: str, **overrides: object):
    env = {
        "GRIDSERVE_ENV": "testing",
        "GRIDSERVE_DATABASE_URL": url,
        "GRIDSERVE_INSTANCE_PATH": instance,
    }
    return load_settings(env, **overrides)


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return _database_url(tmp_path_factory)


@pytest.fixture(scope="session")
def app(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    instance = str(tmp_path_factory.mktemp("instance"))
    application = create_app(make_settings(database_url, instance))
    with application.app_context():
        upgrade()
        db.session.remove()
    yield application


class SettingsOverride:
    """Swaps the app's :class:`~gridserve.config.Settings` for a ``dataclasses.replace``d copy.

    ``override_settings(token_ttl_seconds=60)`` holds until the test ends;
    ``with override_settings(data_keys=(new, old)): ...`` holds inside the block only.
    """

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.original = settings(app)

    def __call__(self, **fields: object) -> _Restore:
        previous = settings(self.app)
        self._install(dataclasses.replace(previous, **fields))
        return _Restore(self, previous)

    def _install(self, new: Settings) -> None:
        self.app.extensions[SETTINGS_KEY] = new
        # Flask's own MAX_CONTENT_LENGTH follows the settings, as create_app() set it.
        self.app.config.update(MAX_CONTENT_LENGTH=new.max_content_length)

    def restore(self) -> None:
        self._install(self.original)


@dataclass
class _Restore:
    override: SettingsOverride
    previous: Settings

    def __enter__(self) -> Settings:
        return settings(self.override.app)

    def __exit__(self, *exc: object) -> None:
        self.override._install(self.previous)


@pytest.fixture
def override_settings(app: Flask) -> Iterator[SettingsOverride]:
    """Run a test with some settings changed; the app's own settings come back after it."""
    override = SettingsOverride(app)
    try:
        yield override
    finally:
        override.restore()


def _our_tables() -> list[str]:
    return [t.name for t in reversed(db.metadata.sorted_tables)]


def _wipe() -> None:
    """Empty every table of ours between tests.

    On PostgreSQL the audit log is emptied too (its append-only triggers are
    bypassed for this session only). On SQLite the audit log is left alone:
    bypassing its triggers would need DDL, and DDL under open SpatiaLite
    connections leaves them with a stale schema. Tests read only the audit
    entries they made (by request id or id range).
    """
    db.session.remove()
    with db.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SET LOCAL session_replication_role = replica"))
            tables = ", ".join(_our_tables())
            conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
            if _has_jobs(conn):
                conn.execute(text("DELETE FROM scheduler_jobs"))
            return
        for table in _our_tables():
            if table != "audit_log":
                conn.execute(text(f"DELETE FROM {table}"))
        if _has_seq(conn):
            conn.execute(text("DELETE FROM sqlite_sequence WHERE name != 'audit_log'"))
        if _has_table(conn, "scheduler_jobs"):
            conn.execute(text("DELETE FROM scheduler_jobs"))


def _has_jobs(conn) -> bool:
    return bool(conn.execute(text("SELECT to_regclass('scheduler_jobs')")).scalar())


def _has_seq(conn) -> bool:
    return _has_table(conn, "sqlite_sequence")


def _has_table(conn, name: str) -> bool:
    found = conn.execute(text("SELECT 1 FROM sqlite_master WHERE name = :n"), {"n": name})
    return found.first() is not None


@pytest.fixture
def clean_app(app: Flask) -> Iterator[Flask]:
    with app.app_context():
        _wipe()
    yield app
    with app.app_context():
        db.session.remove()


@pytest.fixture
def ctx(clean_app: Flask) -> Iterator[Flask]:
    """An app context for service-level tests (no HTTP)."""
    with clean_app.app_context(), audit.acting_as(TEST_ACTOR):
        yield clean_app
        db.session.rollback()


@pytest.fixture
def client(clean_app: Flask) -> FlaskClient:
    return clean_app.test_client()


@dataclass
class World:
    """A small area tree with one user per role, made through the services."""

    district: int
    street: int
    community_a: int
    community_b: int
    bank: int
    other_bank: int


@pytest.fixture
def world(clean_app: Flask) -> World:
    from geoalchemy2.shape import from_shape
    from shapely.geometry import MultiPolygon, box

    from gridserve.db import transaction
    from gridserve.scope import OPERATOR
    from gridserve.services.accounts import institutions, users
    from gridserve.services.geography import areas

    def square(x0: float, y0: float, x1: float, y1: float):
        return from_shape(MultiPolygon([box(x0, y0, x1, y1)]), srid=4326)

    with clean_app.app_context(), audit.acting_as(TEST_ACTOR), transaction():
        district = areas.add_area(
            code="D1",
            name="演示新区",
            level="district",
            parent=None,
            geom=square(104, 30.4, 104.2, 30.6),
        )
        street = areas.add_area(
            code="S1",
            name="演示街道",
            level="street",
            parent=district,
            geom=square(104, 30.4, 104.1, 30.5),
        )
        comm_a = areas.add_area(
            code="S1C1",
            name="甲社区",
            level="community",
            parent=street,
            geom=square(104, 30.4, 104.05, 30.5),
        )
        comm_b = areas.add_area(
            code="S1C2",
            name="乙社区",
            level="community",
            parent=street,
            geom=square(104.05, 30.4, 104.1, 30.5),
        )
        bank = institutions.create_institution(
            OPERATOR,
            {
                "code": "DZCB",
                "name": "达州市商业银行",
                "short_name": "达商行",
                "level": "city",
                "kind": "commercial_bank",
                "aliases": ["达州商行"],
                "contacts": [{"name": "联系人甲", "phone": "13812345678"}],
            },
        )
        other = institutions.create_institution(
            OPERATOR,
            {
                "code": "PSBC",
                "name": "中国邮政储蓄银行达州市分行",
                "short_name": "邮蓄银行",
                "level": "city",
                "kind": "commercial_bank",
                "aliases": ["邮储", "邮政储蓄银行"],
            },
        )
        for username, role, area, inst in [
            ("admin", "admin", district, None),
            ("district", "district_centre", district, None),
            ("centre", "street_centre", street, None),
            ("coordinator", "coordinator", district, None),
            ("station_a", "station", comm_a, None),
            ("station_b", "station", comm_b, None),
            ("worker_a", "worker", comm_a, None),
            ("bank", "institution_contact", None, bank),
            ("other_bank", "institution_contact", None, other),
        ]:
            users.create_user(
                None,
                {
                    "username": username,
                    "password": PASSWORD,
                    "role": role,
                    "area_id": area.id if area else None,
                    "institution_id": inst.id if inst else None,
                },
            )
        ids = World(district.id, street.id, comm_a.id, comm_b.id, bank.id, other.id)
    return ids


def login(client: FlaskClient, username: str, password: str = PASSWORD) -> dict[str, str]:
    """Sign in and return the Authorization header to send."""
    resp = client.post("/api/v1/auth/token", json={"username": username, "password": password})
    assert resp.status_code == 201, resp.get_json()
    return {"Authorization": f"Bearer {resp.get_json()['access_token']}"}


@pytest.fixture
def auth_as(client: FlaskClient, world: World):
    """``auth_as("station_a")`` → headers for that demo user (cached per test)."""
    cache: dict[str, dict[str, str]] = {}

    def _headers(username: str) -> dict[str, str]:
        if username not in cache:
            cache[username] = login(client, username)
        return cache[username]

    return _headers


@dataclass
class Field:
    """A street with households, an active 6-cell layout, worker_a holding one cell of S1C1."""

    world: World
    worker_id: int
    cell: str  # the cell worker_a holds
    other_cell: str  # another cell of S1C1, nobody's
    cell_b: str  # a cell of S1C2
    today: object


@pytest.fixture
def field(clean_app: Flask, world: World) -> Field:
    import numpy as np

    from gridserve.scope import OPERATOR
    from gridserve.services.field import workers
    from gridserve.services.geography import grid, grid_workflow, places
    from gridserve.timeutil import local_today

    rng = np.random.default_rng(11)
    lon = rng.uniform(104.0, 104.1, 300)
    lat = rng.uniform(30.4, 30.5, 300)
    rows = [
        places.Row(
            i + 1,
            {
                "external_id": f"HH-{i}",
                "type": "household",
                "name": f"{i}号",
                "lon": x,
                "lat": y,
                "extra": {},
            },
        )
        for i, (x, y) in enumerate(zip(lon, lat, strict=True))
    ]
    with clean_app.app_context(), audit.acting_as(TEST_ACTOR):
        from gridserve.db import transaction

        today = local_today()
        with transaction():
            places.import_places(OPERATOR, world.street, rows, today)
            plan = grid.create_plan(
                OPERATOR, world.street, {"method": "balanced", "cells": 6}, today
            )
            grid_workflow.propose(OPERATOR, plan.id)
            grid_workflow.approve(OPERATOR, plan.id)
            grid_workflow.activate(OPERATOR, plan.id, today, today)
            codes = sorted(c.code for c in plan.cells)
            west = [c for c in codes if c.startswith("S1C1-")]
            east = [c for c in codes if c.startswith("S1C2-")]
            from gridserve.services.accounts.users import find_by_username

            user = find_by_username("worker_a")
            worker = workers.create_worker(
                OPERATOR, {"area_id": world.community_a, "full_name": "网格员甲",
                           "user_id": user.id, "phone": "13912345678"},
            )  # fmt: skip
            workers.assign(OPERATOR, worker.id, west[0], today, today)
            ids = Field(world, worker.id, west[0], west[1], east[0], today)
    return ids


@pytest.fixture
def terminal(client: FlaskClient, auth_as, field: Field) -> dict[str, str]:
    """worker_a's enrolled terminal: headers carrying its device token."""
    code = client.post(
        f"/api/v1/workers/{field.worker_id}/enrolment-codes", headers=auth_as("station_a")
    )
    assert code.status_code == 201, code.get_json()
    resp = client.post(
        "/api/v1/devices/enrol",
        json={"code": code.get_json()["code"], "label": "终端1", "platform": "android 14"},
    )
    assert resp.status_code == 201, resp.get_json()
    return {"Authorization": f"Bearer {resp.get_json()['device_token']}", "X-App-Version": "1.4.2"}
