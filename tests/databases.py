"""Test databases: worlds built once per run, copied from templates, isolated per test.

A *world* is what a test's database holds before the test starts: the migrated schema, the
small area tree of ``tests/conftest.py`` (``world``), that tree with a partitioned street
(``field``), or the seeded demo (``demo``). Each world is built once per pytest run (and per
local date, as worlds hold today's date) into a template database: PostgreSQL's
``CREATE DATABASE … TEMPLATE``, a file copy on SQLite.

A test then runs either

- **in a transaction it never commits** (the default): one connection per test on a working
  copy of the template, an outer transaction begun on it, and the app's session joined to it
  with ``join_transaction_mode="create_savepoint"``, so every commit (the one per request in
  :func:`gridserve.db.init_app`, :func:`gridserve.db.transaction`, the dispatcher's own) is the
  release of a SAVEPOINT inside the outer transaction, which the test's end rolls back. On
  SQLite the engine already begins transactions itself (``BEGIN IMMEDIATE`` in
  :func:`gridserve.db.setup_sqlite`, pysqlite's own handling off), so SAVEPOINTs work as on
  PostgreSQL; or
- **on a fresh copy of the template** (``@pytest.mark.real_commits``): for tests whose work is
  seen by other connections: threads or processes with their own connections (parallel
  sign-ins and batches, the scheduler and its lock, the scheduler kill test) and a second app
  on the same database.
"""

from __future__ import annotations

import secrets
import shutil
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.fernet import Fernet
from flask import Flask
from flask_sqlalchemy.session import Session as FlaskSession
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from gridserve.app import create_app
from gridserve.config import load_settings
from gridserve.extensions import db

# One secret key and one data key for every app of a run: a world encrypted by the app that
# built it must be readable by the apps that test on its copies.
SECRET_KEY = secrets.token_hex(32)
DATA_KEY = Fernet.generate_key().decode()


def make_settings(url: str, instance: str, **overrides: object):
    env = {
        "GRIDSERVE_ENV": "testing",
        "GRIDSERVE_DATABASE_URL": url,
        "GRIDSERVE_INSTANCE_PATH": instance,
        "GRIDSERVE_SECRET_KEY": SECRET_KEY,
        "GRIDSERVE_DATA_KEYS": DATA_KEY,
    }
    return load_settings(env, **overrides)


class Databases:
    """Named databases next to the one the run was given: created, copied and dropped.

    PostgreSQL: ``<given name>_<name>`` on the same server, made from a template (the given
    database, which holds PostGIS, for an empty one). SQLite: ``<given stem>_<name>.db``
    files in the given file's directory.
    """

    def __init__(self, url: str) -> None:
        self.given = make_url(url)
        self.backend = "sqlite" if self.given.drivername.startswith("sqlite") else "postgresql"
        self._made: set[str] = set()
        self._admin = None
        if self.backend == "postgresql":
            admin_url = self.given.set(drivername="postgresql+psycopg", database="postgres")
            self._admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")

    def url(self, name: str) -> str:
        if self.backend == "sqlite":
            return f"sqlite:///{self._path(name)}"
        return self.given.set(database=self._pg_name(name)).render_as_string(hide_password=False)

    def create(self, name: str, template: str | None = None) -> str:
        """A new database ``name``: a copy of ``template``, else empty (with PostGIS)."""
        self.drop(name)
        self._made.add(name)
        if self.backend == "sqlite":
            if template is not None:
                shutil.copyfile(self._path(template), self._path(name))
                self._path(name).chmod(0o600)
            return self.url(name)
        source = self._pg_name(template) if template else self.given.database
        with self._admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{self._pg_name(name)}" TEMPLATE "{source}"'))
        return self.url(name)

    def drop(self, name: str) -> None:
        if self.backend == "sqlite":
            for suffix in ("", "-wal", "-shm", "-journal"):
                Path(f"{self._path(name)}{suffix}").unlink(missing_ok=True)
            return
        with self._admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{self._pg_name(name)}" WITH (FORCE)'))

    def drop_all(self) -> None:
        for name in sorted(self._made):
            self.drop(name)
        if self._admin is not None:
            self._admin.dispose()

    def _path(self, name: str) -> Path:
        given = Path(self.given.database)
        return given.with_name(f"{given.stem}_{name}.db")

    def _pg_name(self, name: str) -> str:
        return f"{self.given.database}_{name}"


@dataclass
class Template:
    """A world built into a database nobody stays connected to (so it can be copied)."""

    name: str
    values: dict[str, object] = field(default_factory=dict)  # each world's fixture value


@dataclass(frozen=True)
class WorldRecipe:
    """How to build a world: on top of ``parent``, ``build(values)`` returns its value."""

    parent: str | None
    build: Callable[[dict[str, object]], object] | None


class JoinedSession(FlaskSession):
    """Flask-SQLAlchemy's session, bound to the test's connection instead of the engine.

    Flask-SQLAlchemy picks the app's engine for every statement (its ``get_bind``); this
    session uses its own bind (the connection holding the test's outer transaction).
    """

    def get_bind(self, mapper=None, clause=None, bind=None, **kwargs):
        return bind if bind is not None else self.bind


class Worlds:
    """The run's worlds: templates, one app on a working copy of each, scratch copies."""

    def __init__(self, databases: Databases, instance: str, worlds: dict[str, WorldRecipe]) -> None:
        self.databases = databases
        self.instance = instance
        self.worlds = worlds
        self._templates: dict[tuple[str, str], Template] = {}
        self._working: dict[tuple[str, str], Flask] = {}
        self._scratch: dict[str, Flask] = {}

    def template(self, world: str, day: str) -> Template:
        key = (world, day)
        if key in self._templates:
            return self._templates[key]
        spec = self.worlds[world]
        parent = self.template(spec.parent, day) if spec.parent else None
        name = f"{world}_{day}" if parent else world
        url = self.databases.create(name, parent.name if parent else None)
        values = dict(parent.values) if parent else {}
        app = self._app(url)
        with app.app_context():
            try:
                values[world] = spec.build(values) if spec.build else None
            finally:
                db.session.remove()
        _close(app)
        self._templates[key] = made = Template(name, values)
        return made

    def working_app(self, world: str, day: str) -> tuple[Flask, Template]:
        """The app on this world's working copy; tests on it roll back what they did."""
        made = self.template(world, day)
        if (world, day) not in self._working:
            url = self.databases.create(f"{made.name}_w", made.name)
            self._working[(world, day)] = self._app(url)
        return self._working[(world, day)], made

    def scratch_app(self, world: str, day: str) -> tuple[Flask, Template]:
        """An app on a fresh copy of this world, its own for the test (``real_commits``)."""
        made = self.template(world, day)
        app = self._scratch.get(world)
        if app is not None:
            _close(app)  # the last test's copy goes; the app connects again to the new one
        url = self.databases.create(f"scratch_{world}", made.name)
        if app is None:
            app = self._scratch[world] = self._app(url)
        return app, made

    def close(self) -> None:
        for app in [*self._working.values(), *self._scratch.values()]:
            _close(app)
        self.databases.drop_all()

    def _app(self, url: str) -> Flask:
        return create_app(make_settings(url, self.instance))


def _close(app: Flask) -> None:
    """Leave no connection open and everything in the main file: it is copied or dropped next."""
    with app.app_context():
        db.session.remove()
        engine = db.engine
    engine.dispose()
    if engine.dialect.name == "sqlite" and engine.url.database:
        with closing(sqlite3.connect(engine.url.database)) as conn:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


@contextmanager
def rolled_back(app: Flask) -> Iterator[None]:
    """Everything the app does in here (commits included) is undone at the end."""
    with app.app_context():
        conn = db.engine.connect()
    outer = conn.begin()
    saved = db.session
    db.session = db._make_scoped_session(
        {"class_": JoinedSession, "bind": conn, "join_transaction_mode": "create_savepoint"}
    )
    try:
        yield
    finally:
        with app.app_context():
            db.session.remove()
        db.session = saved
        outer.rollback()
        conn.close()
