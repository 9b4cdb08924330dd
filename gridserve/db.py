"""Database plumbing: engines on both backends, types, and the transaction boundary.

One transaction per request or job run. Services never commit; the boundary
here does: :func:`init_app` commits a request whose response is a success and
rolls back any other, and :func:`transaction` does the same for jobs and CLI.
"""

from __future__ import annotations

import datetime as dt
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from flask import Flask, Response, g
from sqlalchemy import event, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.types import DateTime, TypeDecorator

from gridserve.extensions import db

SPATIALITE_MODULE = os.environ.get("SPATIALITE_LIBRARY_PATH", "mod_spatialite")


# A test clock for processes a test starts (the scheduler kill test): the instant the clock
# showed when it was set, the monotonic reading then, and how fast it runs. Set only through
# ``GRIDSERVE_TEST_CLOCK`` with ``GRIDSERVE_ENV=testing`` (see :func:`set_test_clock`); tests in
# the pytest process itself travel with time-machine, which moves ``datetime.now`` below.
_test_clock: tuple[dt.datetime, float, float] | None = None


def utcnow() -> dt.datetime:
    """The current instant, aware UTC: the one clock every reading in gridserve goes through."""
    if _test_clock is not None:
        start, mono, rate = _test_clock
        return start + dt.timedelta(seconds=(time.monotonic() - mono) * rate)
    return dt.datetime.now(dt.UTC)


def set_test_clock(start: dt.datetime | None, rate: float = 1.0) -> None:
    """Make :func:`utcnow` start at ``start`` now and run at ``rate`` (None: the real clock).

    Only :func:`gridserve.app.create_app` calls this, with settings that
    :func:`gridserve.config.load_settings` accepts for ``GRIDSERVE_ENV=testing`` only.
    """
    global _test_clock
    _test_clock = None if start is None else (start.astimezone(dt.UTC), time.monotonic(), rate)


class UTCDateTime(TypeDecorator):
    """Timestamps stored in UTC, always returned timezone-aware.

    PostgreSQL keeps ``timestamptz``; SQLite has no time zones, so the value is
    stored as naive UTC and made aware again on the way out.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; gridserve stores aware UTC times only")
        value = value.astimezone(dt.UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


# SpatiaLite's per-connection setup is not safe to run in two threads at once.
_SPATIALITE_LOAD_LOCK = threading.Lock()


def sqlite_engine_options() -> dict[str, object]:
    """Engine options for SQLite: a sqlite3 build that can load SpatiaLite."""
    try:
        import pysqlite3.dbapi2 as sqlite_module  # built with extension loading
    except ImportError:  # pragma: no cover - non-Linux fallback
        import sqlite3 as sqlite_module
    return {"module": sqlite_module, "connect_args": {"timeout": 30}, "hide_parameters": True}


def create_private_file(path: str | None) -> None:
    """Create the SQLite database file readable by its owner only (0600), whatever the umask.

    SQLite gives the ``-wal`` and ``-shm`` files it creates later the mode of
    the database file, so they are private too. A file that exists is left as
    it is (the operator may have chosen its mode); in-memory databases have none.
    """
    if not path or path == ":memory:" or path.startswith("file:"):
        return
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except (FileExistsError, FileNotFoundError):
        return  # exists already; or no such directory, which SQLite reports on connect
    try:
        os.fchmod(fd, 0o600)  # the umask may have taken bits away; never more than 0600
    finally:
        os.close(fd)


def setup_sqlite(engine: Engine) -> None:
    """Load SpatiaLite on every connection and make transactions behave.

    - The database file is created 0600 (:func:`create_private_file`).
    - SpatiaLite is loaded and its metadata initialised (WGS84 SRIDs only).
    - WAL, so readers do not block the writer; foreign keys on.
    - pysqlite's own transaction handling is turned off and every transaction
      begins with ``BEGIN IMMEDIATE``: SQLite has one writer at a time, and
      taking the write lock up front makes a second writer wait (busy timeout)
      instead of failing half-way through.
    """
    from geoalchemy2.admin.dialects.sqlite import init_spatialite

    create_private_file(engine.url.database)

    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn, _record):
        dbapi_conn.isolation_level = None
        with _SPATIALITE_LOAD_LOCK:
            dbapi_conn.enable_load_extension(True)
            dbapi_conn.load_extension(SPATIALITE_MODULE)
            dbapi_conn.enable_load_extension(False)
        dbapi_conn.execute("PRAGMA busy_timeout = 30000")
        dbapi_conn.execute("PRAGMA foreign_keys = ON")
        if dbapi_conn.execute("PRAGMA journal_mode").fetchone()[0] != "memory":
            dbapi_conn.execute("PRAGMA journal_mode = WAL")
        init_spatialite(dbapi_conn, transaction=True, init_mode="WGS84")

    @event.listens_for(engine, "begin")
    def _begin(conn):
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def insert_for(table):
    """The dialect's INSERT for ``table``, with ``on_conflict_do_*`` and ``returning``.

    PostgreSQL and SQLite (3.35+) share the ``INSERT ... ON CONFLICT`` syntax;
    this picks the right SQLAlchemy construct for the engine in use.
    """
    if db.engine.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(table)


def insert_rows(
    table, rows: list[dict], returning: tuple[str, ...] = (), *, skip_conflicts: bool = False
) -> list:
    """Insert ``rows`` (dicts with the same keys) into ``table`` in one statement, whatever
    their number: on PostgreSQL ``INSERT ... SELECT FROM unnest(<one array per column>)``
    (one parameter per column, nothing to parse per row); elsewhere an executemany.
    ``skip_conflicts``: ``ON CONFLICT DO NOTHING``. Returns the ``returning`` columns of the
    new rows (on PostgreSQL in no promised order)."""
    import json

    from sqlalchemy import insert
    from sqlalchemy.types import JSON

    if not rows:
        return []
    if db.engine.dialect.name != "postgresql":
        stmt = insert_for(table).on_conflict_do_nothing() if skip_conflicts else insert(table)
        if returning:
            stmt = stmt.returning(*(table.c[n] for n in returning), sort_by_parameter_order=True)
            return db.session.execute(stmt, rows).all()
        db.session.execute(stmt, rows)
        return []
    dialect = db.engine.dialect
    names = list(rows[0])
    arrays, selected, params = [], [], {}
    for i, name in enumerate(names):
        column_type = table.c[name].type
        impl = column_type.dialect_impl(dialect)
        if isinstance(impl, TypeDecorator):
            impl = impl.impl_instance
        values = [row[name] for row in rows]
        if isinstance(impl, JSON):
            values = [None if v is None else json.dumps(v, ensure_ascii=False) for v in values]
            arrays.append(f"%(p{i})b::text[]")
            selected.append(f"c{i}::{impl.compile(dialect=dialect)}")
        else:
            arrays.append(f"%(p{i})b::{impl.compile(dialect=dialect)}[]")
            selected.append(f"c{i}")
        params[f"p{i}"] = values
    aliases = ", ".join(f"c{i}" for i in range(len(names)))
    sql = (
        f"INSERT INTO {table.name} ({', '.join(names)}) SELECT {', '.join(selected)} "
        f"FROM unnest({', '.join(arrays)}) AS u({aliases})"
    )
    if skip_conflicts:
        sql += " ON CONFLICT DO NOTHING"
    if returning:
        sql += f" RETURNING {', '.join(returning)}"
    # The driver's own cursor in the session's transaction, parameters sent in binary (text
    # arrays need no quoting: ``%b``).
    raw = db.session.connection().connection.driver_connection
    with raw.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall() if returning else []


def batches(table, *columns, size: int = 500, where=None) -> Iterator[list]:
    """``table``'s rows (``id`` and ``columns``; only those matching ``where``, if given) in
    batches by ascending id (keyset paging).

    For jobs that rewrite a whole table in one transaction (key rotation): each batch is read
    after the previous one was handled, so memory stays bounded whatever the table's size.
    """
    last = 0
    while True:
        stmt = select(table.c.id, *columns).where(table.c.id > last)
        if where is not None:
            stmt = stmt.where(where)
        rows = db.session.execute(stmt.order_by(table.c.id).limit(size)).all()
        if not rows:
            return
        last = rows[-1].id
        yield rows


def backend_name() -> str:
    return "sqlite" if db.engine.dialect.name == "sqlite" else "postgresql"


def spatial_version() -> str:
    if backend_name() == "sqlite":
        return "SpatiaLite " + db.session.execute(text("SELECT spatialite_version()")).scalar_one()
    return "PostGIS " + db.session.execute(text("SELECT postgis_lib_version()")).scalar_one()


def schema_revision() -> str | None:
    try:
        return db.session.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except Exception:
        db.session.rollback()
        return None


@contextmanager
def transaction() -> Iterator[None]:
    """The boundary for jobs and CLI commands: commit on success, roll back on error."""
    try:
        yield
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise


def init_app(app: Flask) -> None:
    """Commit each request that succeeded, roll back every other one.

    The commit happens in ``after_request``, before the response leaves, so a
    failed commit becomes an error response instead of a success the client
    was told about but the database never kept.
    """

    from gridserve.errors import handle_integrity_error

    @app.after_request
    def _commit_or_rollback(response: Response) -> Response:
        if response.status_code >= 400 and not g.get("persist_on_error"):
            db.session.rollback()
            return response
        try:
            db.session.commit()
        except IntegrityError as exc:  # a race another request won: a conflict, not a 500
            db.session.rollback()
            return handle_integrity_error(exc)
        return response

    @app.teardown_request
    def _cleanup(exc: BaseException | None) -> None:
        if exc is not None:
            db.session.rollback()
