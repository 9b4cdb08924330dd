"""The embedded SQLite database and its WAL/SHM side files are readable by their owner only."""

from __future__ import annotations

import os
import stat

import pytest
from sqlalchemy import text

from gridserve.app import create_app
from gridserve.db import create_private_file
from gridserve.extensions import db
from tests.databases import make_settings


@pytest.fixture
def umask():
    """Set a umask for one test (process-wide, so restored right after)."""
    saved = os.umask(0o022)
    os.umask(saved)
    yield os.umask
    os.umask(saved)


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.mark.parametrize("mask", [0o000, 0o022, 0o002])
def test_a_new_database_and_its_side_files_are_0600(tmp_path, umask, mask):
    umask(mask)
    path = tmp_path / "instance" / "gridserve.db"
    path.parent.mkdir()
    app = create_app(make_settings(f"sqlite:///{path}", str(tmp_path / "instance")))
    try:
        with app.app_context():
            db.session.execute(text("CREATE TABLE probe (id INTEGER PRIMARY KEY)"))
            db.session.execute(text("INSERT INTO probe DEFAULT VALUES"))
            db.session.commit()
            # While a connection is open, SQLite keeps the WAL and the shared-memory file.
            wal, shm = path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")
            with db.engine.connect() as conn:
                conn.execute(text("SELECT count(*) FROM probe"))
                assert wal.exists() and shm.exists()
                modes = {p.name: _mode(p) for p in (path, wal, shm)}
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
    assert modes == {path.name: 0o600, wal.name: 0o600, shm.name: 0o600}


def test_an_existing_file_is_left_as_the_operator_made_it(tmp_path, umask):
    umask(0o022)
    path = tmp_path / "kept.db"
    path.write_bytes(b"")
    path.chmod(0o640)
    create_private_file(str(path))
    assert _mode(path) == 0o640


def test_nothing_is_created_for_memory_databases_or_missing_directories(tmp_path):
    create_private_file(":memory:")
    create_private_file(None)
    create_private_file(str(tmp_path / "missing" / "x.db"))
    assert not (tmp_path / "missing").exists()
