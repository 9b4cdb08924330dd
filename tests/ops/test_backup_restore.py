"""Backups: the seeded demo dumped with ``pg_dump -Fc`` and restored with ``pg_restore`` into a
fresh database serves at once: migrations have nothing to do, readiness answers 200, and the
places, households and SMS outbox hold as many rows as the original.

PostGIS only (a SpatiaLite database is one file: its backup is a copy, taken with SQLite's
``.backup`` or while the service is stopped). The recipe the README gives operators::

    pg_dump -Fc -f gridserve.dump "$GRIDSERVE_DATABASE_URL"
    createdb gridserve_restored && psql -d gridserve_restored -c 'CREATE EXTENSION postgis'
    pg_restore --no-owner --exit-on-error -d gridserve_restored gridserve.dump
    GRIDSERVE_DATABASE_URL=…/gridserve_restored gridserve db upgrade   # a no-op
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import pytest
from alembic.migration import MigrationContext
from flask_migrate import upgrade
from sqlalchemy import select, text
from sqlalchemy.engine import make_url

from gridserve import audit
from gridserve.app import create_app
from gridserve.db import transaction
from gridserve.extensions import db
from gridserve.models import SmsChannel
from gridserve.services.accounts.system import expected_revision
from gridserve.services.sms import direct
from seeds.loader import load_demo
from tests.conftest import DEMO_PASSWORD
from tests.databases import make_settings

COUNTED = ("places", "households", "sms_messages")
TEXTS = 200  # outbox rows added to the demo (it seeds none), so the outbox's count means something


def _pg_bin(name: str, server_major: int) -> str:
    """The client binary of the running server's major version (else the one on PATH)."""
    own = Path(f"/usr/lib/postgresql/{server_major}/bin/{name}")
    found = str(own) if own.exists() else shutil.which(name)
    if not found:
        pytest.fail(f"{name} is missing: install postgresql-client-{server_major}")
    return found


def _libpq_url(url: str) -> str:
    """A URL libpq's tools take (no SQLAlchemy driver suffix)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _counts() -> dict[str, int]:
    return {t: db.session.execute(text(f"SELECT count(*) FROM {t}")).scalar_one() for t in COUNTED}


def _schema() -> list[tuple]:
    """The public schema's columns and indexes: what a migration would change."""
    columns = db.session.execute(
        text(
            "SELECT table_name, column_name, data_type, is_nullable FROM information_schema.columns"
            " WHERE table_schema = 'public' ORDER BY 1, 2"
        )
    ).all()
    indexes = db.session.execute(
        text("SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' ORDER BY 1")
    ).all()
    return [*map(tuple, columns), *map(tuple, indexes)]


def _close(app) -> None:
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def _seed(app) -> None:
    """The whole demo (places, layout, field, outreach, cases) plus texts in the outbox."""
    with app.app_context(), audit.acting_as(audit.Actor(kind="test", name="backup")):
        upgrade()
        with transaction():
            load_demo(password=DEMO_PASSWORD, register=True)
        with transaction():
            channel = db.session.scalars(select(SmsChannel).order_by(SmsChannel.id)).first()
            for i in range(TEXTS):
                assert direct.queue(channel, f"backup-test-{i}", f"+86139{i:08d}", f"测试 {i}")


def test_a_pg_dump_of_the_demo_restores_into_a_database_that_serves_at_once(databases, tmp_path):
    if databases.backend != "postgresql":
        pytest.skip(
            "pg_dump/pg_restore backups are PostgreSQL's; a SpatiaLite database is one file "
            "(copied with SQLite's .backup)"
        )
    started = time.monotonic()
    source_url = databases.create("backup_source")
    source = create_app(make_settings(source_url, str(tmp_path)))
    restored = None
    try:
        _seed(source)
        with source.app_context():
            original = _counts()
            major = int(db.session.execute(text("SHOW server_version_num")).scalar_one()) // 10000
        _close(source)
        assert original["places"] > 0 and original["households"] > 0
        assert original["sms_messages"] == TEXTS

        dump = tmp_path / "gridserve.dump"
        subprocess.run(
            [_pg_bin("pg_dump", major), "-Fc", "-f", str(dump), _libpq_url(source_url)],
            check=True,
            timeout=120,
        )
        # A fresh database with PostGIS in it first (the test databases' template holds it).
        restored_url = databases.create("backup_restored")
        restore = subprocess.run(
            [_pg_bin("pg_restore", major), "--no-owner", "--exit-on-error",
             "-d", _libpq_url(restored_url), str(dump)],
            timeout=120, capture_output=True, text=True,
        )  # fmt: skip
        assert restore.returncode == 0, restore.stderr

        restored = create_app(make_settings(restored_url, str(tmp_path)))
        with restored.app_context():
            head = expected_revision(restored.extensions["migrate"].directory)
            with db.engine.connect() as conn:
                assert MigrationContext.configure(conn).get_current_revision() == head
            schema = _schema()
            db.session.remove()
            upgrade()  # what `gridserve db upgrade` runs: nothing to do
            assert _schema() == schema  # no migration ran: no column or index changed
            with db.engine.connect() as conn:
                assert MigrationContext.configure(conn).get_current_revision() == head
            assert _counts() == original
            db.session.remove()

        resp = restored.test_client().get("/api/v1/health")
        assert resp.status_code == 200, resp.get_json()
        assert resp.get_json()["schema"] == head
        assert resp.get_json()["database"] == "postgresql"
        # The restored demo serves: its users sign in with their passwords.
        token = restored.test_client().post(
            "/api/v1/auth/token", json={"username": "admin", "password": DEMO_PASSWORD}
        )
        assert token.status_code == 201, token.get_json()
    finally:
        _close(source)
        if restored is not None:
            _close(restored)
        databases.drop("backup_source")
        databases.drop("backup_restored")
    print(f"backup/restore round trip: {time.monotonic() - started:.1f} s")
