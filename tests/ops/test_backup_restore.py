"""Backups: the seeded demo dumped with ``pg_dump -Fc`` and restored with ``pg_restore`` into a
fresh database by the service's own role, not a superuser, serves at once: every table is the
role's, migrations have nothing to do, readiness answers 200, and the places, households and
SMS outbox hold as many rows as the original.

PostGIS only (a SpatiaLite database is one file: its backup is a copy, taken with SQLite's
``.backup`` or while the service is stopped). The recipe the README gives operators, which the
test follows command for command (:data:`DUMP`, :data:`AS_POSTGRES`, :data:`AS_SERVICE`) with a
role of its own (``<test database>_svc``, made and dropped by the test)::

    pg_dump -Fc -f gridserve.dump "$GRIDSERVE_DATABASE_URL"
    # as postgres: a new database owned by the service's role, PostGIS in it
    createdb -O gridserve gridserve_restored
    psql -d gridserve_restored -c 'CREATE EXTENSION postgis'
    # as the service's role: all but the two entries only PostGIS's owner may restore
    pg_restore -l gridserve.dump | grep -v -e 'COMMENT - EXTENSION postgis' \
        -e 'TABLE DATA public spatial_ref_sys' > gridserve.list
    pg_restore --no-owner --exit-on-error -L gridserve.list \
        -d postgresql://gridserve@db/gridserve_restored gridserve.dump
    GRIDSERVE_DATABASE_URL=postgresql://gridserve@db/gridserve_restored gridserve db upgrade

Without the list, the service's role stops at ``COMMENT ON EXTENSION postgis`` ("must be owner
of extension postgis"), which the test checks too; as postgres, ``--no-owner`` would leave every
table postgres's.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from alembic.migration import MigrationContext
from flask_migrate import upgrade
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import URL, make_url

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
from tests.processes import child_env

ROOT = Path(__file__).resolve().parents[2]
# The README's commands, run by bash in the dump's directory. $SOURCE_URL and $RESTORED_URL
# connect as the service's role $ROLE; AS_POSTGRES connects as the test's superuser through
# PGHOST, PGPORT, PGUSER and PGPASSWORD (the README runs those two as postgres).
DUMP = 'pg_dump -Fc -f gridserve.dump "$SOURCE_URL"'
AS_POSTGRES = (
    'createdb -O "$ROLE" "$RESTORED"',
    "psql -d \"$RESTORED\" -c 'CREATE EXTENSION postgis'",
)
AS_SERVICE = (
    "pg_restore -l gridserve.dump | grep -v -e 'COMMENT - EXTENSION postgis'"
    " -e 'TABLE DATA public spatial_ref_sys' > gridserve.list",
    'pg_restore --no-owner --exit-on-error -L gridserve.list -d "$RESTORED_URL" gridserve.dump',
)
COUNTED = ("places", "households", "sms_messages")
TEXTS = 200  # outbox rows added to the demo (it seeds none), so the outbox's count means something


def _pg_path(server_major: int) -> str:
    """PATH with the client tools of the running server's major version first (if installed
    there; else the ones on PATH, which must exist)."""
    own = Path(f"/usr/lib/postgresql/{server_major}/bin")
    path = f"{own}{os.pathsep}{os.environ.get('PATH', '')}" if own.is_dir() else os.environ["PATH"]
    for tool in ("pg_dump", "pg_restore", "createdb", "psql"):
        if not shutil.which(tool, path=path):
            pytest.fail(f"{tool} is missing: install postgresql-client-{server_major}")
    return path


def _libpq_url(url: URL) -> str:
    """A URL libpq's tools take (no SQLAlchemy driver suffix)."""
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def _as_role(url: str, role: str, password: str) -> URL:
    """The database at ``url``, connected to as ``role``."""
    return make_url(url).set(username=role, password=password)


def _sh(command: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", "-o", "pipefail", "-c", command],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=180,
    )  # fmt: skip


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


def _not_mine() -> tuple[list[str], list[str]]:
    """The public schema's tables and sequences the connected role does not own."""
    tables = db.session.execute(
        text(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
            " AND tableowner <> current_user ORDER BY 1"
        )
    ).scalars()
    sequences = db.session.execute(
        text(
            "SELECT sequencename FROM pg_sequences WHERE schemaname = 'public'"
            " AND sequenceowner <> current_user ORDER BY 1"
        )
    ).scalars()
    return list(tables), list(sequences)


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


def test_a_pg_dump_of_the_demo_restores_by_the_services_role_into_a_database_that_serves_at_once(
    databases, tmp_path
):
    if databases.backend != "postgresql":
        pytest.skip(
            "pg_dump/pg_restore backups are PostgreSQL's; a SpatiaLite database is one file "
            "(copied with SQLite's .backup)"
        )
    started = time.monotonic()
    given = databases.given
    role, password = f"{given.database}_svc", secrets.token_hex(16)
    admin = create_engine(
        given.set(drivername="postgresql+psycopg", database="postgres"),
        isolation_level="AUTOCOMMIT",
    )
    names = ("backup_source", "backup_restored", "backup_plain")
    for name in names:  # a run that died before its cleanup
        databases.drop(name)
    with admin.connect() as conn:
        conn.execute(text(f'DROP ROLE IF EXISTS "{role}"'))
        conn.execute(text(f"CREATE ROLE \"{role}\" LOGIN PASSWORD '{password}'"))  # NOSUPERUSER
    source = restored = None
    try:
        # The installation as README step 1 makes it: the database is the role's, PostGIS in it
        # (the test databases' template holds it), and the app (as the role) migrates and seeds.
        source_url = databases.create("backup_source")
        with admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{given.database}_backup_source" OWNER TO "{role}"'))
        source_as_role = _as_role(source_url, role, password)
        source = create_app(make_settings(source_as_role.render_as_string(False), str(tmp_path)))
        _seed(source)
        with source.app_context():
            assert not db.session.execute(
                text("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
            ).scalar_one()
            original = _counts()
            major = int(db.session.execute(text("SHOW server_version_num")).scalar_one()) // 10000
        _close(source)
        assert original["places"] > 0 and original["households"] > 0
        assert original["sms_messages"] == TEXTS

        restored_name = f"{given.database}_backup_restored"
        restored_as_role = _as_role(databases.url("backup_restored"), role, password)
        superuser = {"PGHOST": given.host, "PGPORT": given.port, "PGUSER": given.username,
                     "PGPASSWORD": given.password}  # fmt: skip
        env = {
            **os.environ,
            **{k: str(v) for k, v in superuser.items() if v},
            "PATH": _pg_path(major),
            "ROLE": role,
            "RESTORED": restored_name,
            "SOURCE_URL": _libpq_url(source_as_role),
            "RESTORED_URL": _libpq_url(restored_as_role),
        }
        ran = _sh(DUMP, tmp_path, env)
        assert ran.returncode == 0, ran.stderr

        # The trap the list avoids: the service's role may not restore PostGIS's comment.
        plain = {**env, "RESTORED": f"{given.database}_backup_plain",
                 "RESTORED_URL": _libpq_url(_as_role(databases.url("backup_plain"), role,
                                                     password))}  # fmt: skip
        for command in AS_POSTGRES:
            ran = _sh(command, tmp_path, plain)
            assert ran.returncode == 0, ran.stderr
        ran = _sh(
            'pg_restore --no-owner --exit-on-error -d "$RESTORED_URL" gridserve.dump',
            tmp_path,
            plain,
        )
        assert ran.returncode != 0 and "must be owner of extension postgis" in ran.stderr, ran
        databases.drop("backup_plain")

        # The README's recipe.
        for command in (*AS_POSTGRES, *AS_SERVICE):
            ran = _sh(command, tmp_path, env)
            assert ran.returncode == 0, f"{command}\n{ran.stderr}"

        restored = create_app(
            make_settings(restored_as_role.render_as_string(False), str(tmp_path))
        )
        with restored.app_context():
            # Every table and sequence is the role's (PostGIS's own table is the extension's).
            assert _not_mine() == (["spatial_ref_sys"], [])
            head = expected_revision(restored.extensions["migrate"].directory)
            with db.engine.connect() as conn:
                assert MigrationContext.configure(conn).get_current_revision() == head
            schema = _schema()
            db.session.remove()
        _close(restored)
        upgraded = subprocess.run(
            [sys.executable, "-m", "gridserve.cli", "db", "upgrade"],
            cwd=ROOT, env=child_env(restored), capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert upgraded.returncode == 0, upgraded.stderr
        assert "Running upgrade" not in upgraded.stderr + upgraded.stdout  # nothing to do
        with restored.app_context():
            assert _schema() == schema  # no migration ran: no column or index changed
            with db.engine.connect() as conn:
                assert MigrationContext.configure(conn).get_current_revision() == head
            assert _counts() == original
            db.session.remove()

        resp = restored.test_client().get("/api/v1/health")
        assert resp.status_code == 200, resp.get_json()
        assert resp.get_json()["schema"] == head
        assert resp.get_json()["database"] == "postgresql"
        # The restored demo serves (and the role writes to it): its users sign in.
        token = restored.test_client().post(
            "/api/v1/auth/token", json={"username": "admin", "password": DEMO_PASSWORD}
        )
        assert token.status_code == 201, token.get_json()
    finally:
        for app in (source, restored):
            if app is not None:
                _close(app)
        for name in names:
            databases.drop(name)
        with admin.connect() as conn:
            conn.execute(text(f'DROP ROLE IF EXISTS "{role}"'))
        admin.dispose()
    print(f"backup/restore round trip: {time.monotonic() - started:.1f} s")
