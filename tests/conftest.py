"""Test fixtures: the worlds a test can ask for, built once per run, and a database per test.

The backend comes from ``GRIDSERVE_TEST_DATABASE_URL`` (``make test`` runs the
suite once against PostGIS and once against SpatiaLite); unset, a SpatiaLite
file in a temporary directory is used.

A test names the world it starts in by its fixtures (see :mod:`tests.databases`):
``clean_app`` alone is the migrated, empty schema; ``world`` (and ``auth_as``) the small
area tree with one user per role; ``field`` (and ``terminal``) that tree with households, an
active grid and worker_a holding a cell; ``demo`` the seeded demo (``seeds.loader``). Each
world is built once per run; a test's changes are rolled back at its end, or, for a test
marked ``real_commits``, made on a fresh copy of the world.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from flask import Flask
from flask.testing import FlaskClient

from gridserve import audit
from gridserve.config import SETTINGS_KEY, Settings, settings
from gridserve.extensions import db
from tests.databases import Databases, WorldRecipe, Worlds, rolled_back

pytest_plugins = ["tests.sms.fake_dns"]

PASSWORD = "correct horse battery"
DEMO_PASSWORD = "demo-pass-123"  # the seeded demo's users (the ``demo`` world)
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


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "real_commits: the test's work must be seen by other connections (threads, processes, "
        "a second app): it gets a fresh copy of its world's template instead of a rollback",
    )


@pytest.fixture(scope="session")
def databases(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Databases]:
    """The run's databases, next to ``GRIDSERVE_TEST_DATABASE_URL`` (else a SpatiaLite file)."""
    url = os.environ.get("GRIDSERVE_TEST_DATABASE_URL")
    made = Databases(url or f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}")
    yield made
    made.drop_all()


@pytest.fixture(scope="session")
def worlds(databases: Databases, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Worlds]:
    made = Worlds(databases, str(tmp_path_factory.mktemp("instance")), WORLDS)
    yield made
    made.close()


def _world_of(request: pytest.FixtureRequest) -> str:
    """The world a test asks for through its fixtures: the deepest one named."""
    asked = [
        name
        for name in ("visits", "cases", "outreach", "field", "world", "demo")
        if name in request.fixturenames
    ]
    if "demo" in asked and len(asked) > 1:
        raise pytest.UsageError(f"{request.node.nodeid}: the demo and {asked[0]} are two worlds")
    return asked[0] if asked else "schema"


def _today() -> str:
    from tests import clock

    return clock.local_now().date().strftime("%Y%m%d")


@pytest.fixture(scope="session")
def app(worlds: Worlds) -> Flask:
    """An app on the migrated, empty schema (for tests that do not touch the database)."""
    return worlds.working_app("schema", "")[0]


@pytest.fixture
def clean_app(request: pytest.FixtureRequest, worlds: Worlds) -> Iterator[Flask]:
    """The app for this test, its database holding the world the test asks for and nothing
    else: in a transaction rolled back at the end, or (``real_commits``) a fresh copy."""
    world = _world_of(request)
    day = "" if world == "schema" else _today()
    if request.node.get_closest_marker("real_commits"):
        application, made = worlds.scratch_app(world, day)
        request.node.stash[_WORLD_VALUES] = made.values
        yield application
        with application.app_context():
            db.session.remove()
        return
    application, made = worlds.working_app(world, day)
    request.node.stash[_WORLD_VALUES] = made.values
    with rolled_back(application):
        yield application


_WORLD_VALUES = pytest.StashKey[dict]()


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
def override_settings(clean_app: Flask) -> Iterator[SettingsOverride]:
    """Run a test with some settings of its app changed; they come back after it (apps are
    shared by the tests of a world)."""
    override = SettingsOverride(clean_app)
    try:
        yield override
    finally:
        override.restore()


@pytest.fixture
def database_url(clean_app: Flask) -> str:
    """The URL of the test's database. A second app or process on it sees committed work
    only: such a test is marked ``real_commits``."""
    return clean_app.config["SQLALCHEMY_DATABASE_URI"]


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


def _build_world(_values: dict[str, object]) -> World:
    from geoalchemy2.shape import from_shape
    from shapely.geometry import MultiPolygon, box

    from gridserve.db import transaction
    from gridserve.scope import OPERATOR
    from gridserve.services.accounts import institutions, users
    from gridserve.services.geography import areas

    def square(x0: float, y0: float, x1: float, y1: float):
        return from_shape(MultiPolygon([box(x0, y0, x1, y1)]), srid=4326)

    with transaction():
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


def _build_field(values: dict[str, object]) -> Field:
    import numpy as np

    from gridserve.db import transaction
    from gridserve.scope import OPERATOR
    from gridserve.services.accounts import users
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
    world = values["world"]
    today = local_today()
    with transaction():
        places.import_places(OPERATOR, world.street, rows, today)
        plan = grid.create_plan(OPERATOR, world.street, {"method": "balanced", "cells": 6}, today)
        grid_workflow.propose(OPERATOR, plan.id)
        grid_workflow.approve(OPERATOR, plan.id)
        grid_workflow.activate(OPERATOR, plan.id, today, today)
        codes = sorted(c.code for c in plan.cells)
        west = [c for c in codes if c.startswith("S1C1-")]
        east = [c for c in codes if c.startswith("S1C2-")]
        user = users.find_by_username("worker_a")
        worker = workers.create_worker(
            OPERATOR, {"area_id": world.community_a, "full_name": "网格员甲",
                       "user_id": user.id, "phone": "13912345678"},
        )  # fmt: skip
        workers.assign(OPERATOR, worker.id, west[0], today, today)
    return Field(world, worker.id, west[0], west[1], east[0], today)


@dataclass
class Outreach:
    """The field world plus an outreach programme: the regulator and four banks, a square, a
    market and a school as venues, and two draft events (a launch and a site) made directly.

    Institutions (``inst`` by code): DZ-REG (organiser, contact user ``reg``, one contact with a
    mobile), DZCB (user ``bank``, contact with a mobile), PSBC (user ``other_bank``, a contact
    *without* a mobile), ICBC (user ``icbc``, two contacts with mobiles), ABC (user ``abc``).
    Programme ``PUB-T`` over the street, 2027-04-09..04-30, plans due 04-06, reports 04-30.
    The launch: 14 Apr 09:00-12:00 (+08:00) at the square (S1C1), host DZ-REG, every bank
    co-organising. The site: 15 Apr 09:00-12:00 at the market (S1C2), lead ICBC, host DZ-REG,
    co-organisers DZCB, PSBC, ABC.
    """

    field: Field
    inst: dict[str, int]
    programme: int
    launch: int
    site: int
    square: int
    market: int
    school: int


def _build_outreach(values: dict[str, object]) -> Outreach:
    import datetime as dt

    from geoalchemy2.shape import from_shape
    from shapely.geometry import Point

    from gridserve.db import transaction
    from gridserve.extensions import db
    from gridserve.models import (
        DEFAULT_BOOTH,
        Institution,
        OutreachEvent,
        OutreachProgramme,
        Place,
    )
    from gridserve.scope import OPERATOR
    from gridserve.services.accounts import institutions, users
    from gridserve.services.geography import places
    from gridserve.timeutil import local_today

    field: Field = values["field"]  # type: ignore[assignment]
    world = field.world
    new = [
        ("DZ-REG", "达州银保监分局", "银保监分局", "regulator",
         [{"name": "监管联系人", "phone": "13800000001"}], "reg"),
        ("ICBC", "中国工商银行达州分行", "工商银行", "commercial_bank",
         [{"name": "工行联系人一", "phone": "13800000002"},
          {"name": "工行联系人二", "phone": "13800000003"}], "icbc"),
        ("ABC", "中国农业银行达州分行", "农业银行", "commercial_bank", [], "abc"),
    ]  # fmt: skip
    with transaction():
        for code, name, short, kind, contacts, username in new:
            inst = institutions.create_institution(
                OPERATOR,
                {"code": code, "name": name, "short_name": short, "level": "city",
                 "kind": kind, "aliases": [], "contacts": contacts},
            )  # fmt: skip
            users.create_user(
                None,
                {"username": username, "password": PASSWORD, "role": "institution_contact",
                 "institution_id": inst.id},
            )  # fmt: skip
        psbc = db.session.get(Institution, world.other_bank)
        psbc.contacts.append(institutions._contact({"name": "邮储联系人（无手机）"}))
        rows = [
            places.Row(1, {"external_id": "SQ-1", "type": "square", "name": "中心广场",
                           "lon": 104.02, "lat": 30.45, "extra": {}}),
            places.Row(2, {"external_id": "MK-1", "type": "market", "name": "乙社区农贸市场",
                           "lon": 104.07, "lat": 30.45, "extra": {}}),
            places.Row(3, {"external_id": "SC-1", "type": "school", "name": "甲社区小学",
                           "lon": 104.03, "lat": 30.42, "extra": {}}),
        ]  # fmt: skip
        places.import_places(OPERATOR, world.street, rows, local_today())
        by_ext = {
            p.external_id: p
            for p in db.session.scalars(
                db.select(Place).where(Place.external_id.in_(["SQ-1", "MK-1", "SC-1"]))
            )
        }
        inst = {i.code: i.id for i in db.session.scalars(db.select(Institution))}
        banks = [db.session.get(Institution, inst[c]) for c in ("DZCB", "PSBC", "ICBC", "ABC")]
        programme = OutreachProgramme(
            code="PUB-T", name="小微企业金融服务宣传月（测试）", kind="publicity",
            area_id=world.street, organiser_id=inst["DZ-REG"],
            start_date=dt.date(2027, 4, 9), end_date=dt.date(2027, 4, 30),
            plan_due_on=dt.date(2027, 4, 6), report_due_on=dt.date(2027, 4, 30),
            institutions=banks,
        )  # fmt: skip
        db.session.add(programme)
        db.session.flush()
        cst = dt.timezone(dt.timedelta(hours=8))

        def event(kind, title, day, place, area, lead, co):
            row = OutreachEvent(
                programme_id=programme.id, kind=kind, title=title,
                starts_at=dt.datetime(2027, 4, day, 9, tzinfo=cst),
                ends_at=dt.datetime(2027, 4, day, 12, tzinfo=cst),
                place_id=place.id, geom=from_shape(Point(*_lonlat(place)), srid=4326),
                address=place.name, area_id=area, host_id=inst["DZ-REG"], lead_id=lead,
                booth=dict(DEFAULT_BOOTH), co_organisers=co,
            )  # fmt: skip
            db.session.add(row)
            db.session.flush()
            return row.id

        launch = event("launch", "启动仪式", 14, by_ext["SQ-1"], world.community_a, None, banks)
        site = event(
            "site", "乙社区宣传点", 15, by_ext["MK-1"], world.community_b, inst["ICBC"],
            [b for b in banks if b.code != "ICBC"],
        )  # fmt: skip
    return Outreach(
        field, inst, programme.id, launch, site,
        by_ext["SQ-1"].id, by_ext["MK-1"].id, by_ext["SC-1"].id,
    )  # fmt: skip


@dataclass
class Visits:
    """The outreach world plus a visits programme ``SME-V`` over the street (2027-05-01..12-31;
    list due 05-15, visits 05-15..11-30, summary due 12-15; institutions DZCB, ICBC, PSBC,
    organiser DZ-REG) and its list of 12 enterprises (``enterprises`` by credit code, ids of
    ``outreach_enterprises`` rows): ``bank`` (DZCB, visitor ``bank``) 4, ``icbc`` (ICBC,
    visitor ``icbc``) 4, ``psbc`` (PSBC, visitor ``other_bank``) 2, ``cell`` (DZCB, visitor
    ``cell``: inside worker_a's cell) 2. ``codes[group]`` lists each group's credit codes."""

    outreach: Outreach
    programme: int
    enterprises: dict[str, int]
    codes: dict[str, list[str]]


def visit_code(n: int) -> str:
    """An invented, valid unified social credit code (never a real company's)."""
    from stdnum.cn import uscc

    body = f"9251000099{n:07d}"
    return body + uscc.calc_check_digit(body)


def _build_visits(values: dict[str, object]) -> Visits:
    import datetime as dt

    from geoalchemy2.shape import to_shape
    from sqlalchemy import select

    from gridserve.db import transaction
    from gridserve.extensions import db
    from gridserve.models import GridCell, OutreachEnterprise
    from gridserve.scope import OPERATOR
    from gridserve.services.geography.places import Row
    from gridserve.services.outreach import enterprises, programmes
    from gridserve.timeutil import local_today

    out: Outreach = values["outreach"]  # type: ignore[assignment]
    field = out.field
    groups = {
        "bank": ("DZCB", "bank", 4),
        "icbc": ("ICBC", "icbc", 4),
        "psbc": ("PSBC", "other_bank", 2),
        "cell": ("DZCB", "cell", 2),
    }
    with transaction():
        programme = programmes.create_programme(
            OPERATOR,
            {"code": "SME-V", "name": "小微企业走访（测试）", "kind": "visits",
             "area_id": field.world.street, "start_date": dt.date(2027, 5, 1),
             "end_date": dt.date(2027, 12, 31), "organiser": "DZ-REG",
             "institutions": ["DZCB", "ICBC", "PSBC"], "list_due_on": dt.date(2027, 5, 15),
             "visits_from": dt.date(2027, 5, 15), "visits_to": dt.date(2027, 11, 30),
             "summary_due_on": dt.date(2027, 12, 15)},
        )  # fmt: skip
        cell = (
            db.session.execute(
                select(GridCell).where(GridCell.code == field.cell).order_by(GridCell.id.desc())
            )
            .scalars()
            .first()
        )
        inside = to_shape(cell.geom).representative_point()
        rows, codes, n = [], {}, 0
        for group, (inst, visitor, count) in groups.items():
            codes[group] = []
            for i in range(count):
                n += 1
                code = visit_code(n)
                codes[group].append(code)
                lon, lat = (
                    (inside.x + 0.0001 * i, inside.y)
                    if group == "cell"
                    else (104.005 + 0.008 * n, 30.41 + 0.007 * n)
                )
                rows.append(Row(n, {"credit_code": code, "name": f"测试企业{n:02d}",
                                    "address": f"演示路{n}号", "lon": str(lon), "lat": str(lat),
                                    "industry": "零售", "institution": inst,
                                    "visitor": visitor}))  # fmt: skip
        report = enterprises.import_enterprises(OPERATOR, programme.id, rows, local_today())
        assert not report["rejected"], report["rejected"]
        ids = dict(
            db.session.execute(
                select(OutreachEnterprise.credit_code, OutreachEnterprise.id).where(
                    OutreachEnterprise.programme_id == programme.id
                )
            ).all()
        )
    return Visits(out, programme.id, ids, codes)


@dataclass
class Cases:
    """The field world plus the case ladder's data: the sources' categories
    (``categories`` id by code), two departments — 城市管理局 ``CGJ`` (contact user ``dept``)
    and 住房和城乡建设局 ``ZJJ`` (contact user ``dept2``) — and duty mobiles on community A
    (13700000001), community B (13700000002), the street (13700000003) and the district
    (13700000004)."""

    field: Field
    categories: dict[str, int]
    departments: dict[str, int]


def _build_cases(values: dict[str, object]) -> Cases:
    from sqlalchemy import select

    from gridserve import crypto
    from gridserve.db import transaction
    from gridserve.extensions import db
    from gridserve.models import Area, CaseCategory
    from gridserve.scope import OPERATOR
    from gridserve.services.accounts import institutions, users
    from seeds.case_categories import load_categories

    field: Field = values["field"]  # type: ignore[assignment]
    world = field.world
    with transaction():
        load_categories()
        departments = {}
        for code, name, short, username in [
            ("CGJ", "演示新区城市管理局", "城管局", "dept"),
            ("ZJJ", "演示新区住房和城乡建设局", "住建局", "dept2"),
        ]:
            inst = institutions.create_institution(
                OPERATOR,
                {"code": code, "name": name, "short_name": short, "level": "county",
                 "kind": "department", "aliases": [],
                 "contacts": [{"name": f"{short}值班", "phone": "13600000001"}]},
            )  # fmt: skip
            users.create_user(
                None,
                {"username": username, "password": PASSWORD, "role": "institution_contact",
                 "institution_id": inst.id},
            )  # fmt: skip
            departments[code] = inst.id
        for area_id, phone in [
            (world.community_a, "13700000001"),
            (world.community_b, "13700000002"),
            (world.street, "13700000003"),
            (world.district, "13700000004"),
        ]:
            db.session.get(Area, area_id).duty_phone_enc = crypto.encrypt(phone)
        categories = dict(db.session.execute(select(CaseCategory.code, CaseCategory.id)).all())
    return Cases(field, categories, departments)


def _lonlat(place) -> tuple[float, float]:
    from geoalchemy2.shape import to_shape

    point = to_shape(place.geom)
    return point.x, point.y


@pytest.fixture
def world(clean_app: Flask, request: pytest.FixtureRequest) -> World:
    """The small area tree: ids of its areas and banks (users: see :func:`_build_world`)."""
    return request.node.stash[_WORLD_VALUES]["world"]


@pytest.fixture
def field(clean_app: Flask, world: World, request: pytest.FixtureRequest) -> Field:
    return request.node.stash[_WORLD_VALUES]["field"]


@pytest.fixture
def outreach(
    clean_app: Flask, world: World, field: Field, request: pytest.FixtureRequest
) -> Outreach:
    return request.node.stash[_WORLD_VALUES]["outreach"]


@pytest.fixture
def visits(clean_app: Flask, outreach: Outreach, request: pytest.FixtureRequest) -> Visits:
    return request.node.stash[_WORLD_VALUES]["visits"]


@pytest.fixture
def cases(clean_app: Flask, field: Field, request: pytest.FixtureRequest) -> Cases:
    return request.node.stash[_WORLD_VALUES]["cases"]


@pytest.fixture
def demo(clean_app: Flask) -> None:
    """The seeded demo (``seeds.loader.load_demo``), its users' password :data:`DEMO_PASSWORD`."""


def _build_schema(_values: dict[str, object]) -> None:
    from flask_migrate import upgrade

    upgrade()


def _build_demo(_values: dict[str, object]) -> None:
    from gridserve.db import transaction
    from seeds.loader import load_demo

    with transaction():
        load_demo(password=DEMO_PASSWORD, register=False)


def _acting(build):
    def run(values: dict[str, object]) -> object:
        with audit.acting_as(TEST_ACTOR):
            return build(values)

    return run


WORLDS = {
    "schema": WorldRecipe(None, _build_schema),
    "world": WorldRecipe("schema", _acting(_build_world)),
    "field": WorldRecipe("world", _acting(_build_field)),
    "outreach": WorldRecipe("field", _acting(_build_outreach)),
    "visits": WorldRecipe("outreach", _acting(_build_visits)),
    "cases": WorldRecipe("field", _acting(_build_cases)),
    "demo": WorldRecipe("schema", _acting(_build_demo)),
}


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


@pytest.fixture
def sms_app(clean_app: Flask, override_settings: SettingsOverride, tmp_path) -> Flask:
    """The app with quiet hours outside a window around now, outbox files in tmp_path, fast
    retries and a short claim lease."""
    from tests.api.sms.campaign_now import quiet_outside, window_around_now

    window = window_around_now(settings(clean_app).timezone)
    override_settings(
        quiet_hours=quiet_outside(window),
        sms_outbox_path=tmp_path,
        sms_retry_base_seconds=0,
        sms_claim_lease_seconds=60,
    )
    return clean_app


@pytest.fixture
def sms_demo(sms_app: Flask, demo) -> tuple[Flask, FlaskClient, dict[str, dict[str, str]]]:
    """The seeded demo on :func:`sms_app`, signed in: ``(app, client, headers by username)``
    for the coordinator and two banks' contacts (bank1, bank2)."""
    client = sms_app.test_client()
    headers = {u: login(client, u, DEMO_PASSWORD) for u in ("coordinator", "bank1", "bank2")}
    return sms_app, client, headers
