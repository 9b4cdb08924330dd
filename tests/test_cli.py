"""The operator's commands: areas import, users create, jobs list / run."""

from __future__ import annotations

import datetime as dt
import json

from flask.cli import ScriptInfo
from sqlalchemy import func, select

from gridserve.cli import main
from gridserve.extensions import db
from gridserve.models import ApiToken, Area, LoginThrottle, User
from tests.conftest import login


def _invoke(app, *args, env=None):
    runner = app.test_cli_runner()
    return runner.invoke(main, list(args), obj=ScriptInfo(create_app=lambda: app), env=env)


def test_users_create_binds_to_an_area_code(clean_app, world):
    result = _invoke(
        clean_app,
        "users", "create", "--username", "ops_worker", "--role", "worker", "--area", "S1C2",
        env={"GRIDSERVE_NEW_USER_PASSWORD": "cli password 1"},
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "created worker ops_worker" in result.output
    me = clean_app.test_client().get(
        "/api/v1/me", headers=login(clean_app.test_client(), "ops_worker", "cli password 1")
    )
    assert me.get_json()["scope"]["area_code"] == "S1C2"


def test_users_create_finds_institutions_by_alias(clean_app, world):
    result = _invoke(
        clean_app,
        "users", "create", "--username", "psbc_contact", "--role", "institution_contact",
        "--institution", "邮储", "--password", "cli password 2",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    with clean_app.app_context():
        user = db.session.execute(select(User).where(User.username == "psbc_contact")).scalar_one()
        assert user.institution.code == "PSBC"


def test_users_create_refuses_bad_input_without_storing_anything(clean_app, world):
    with clean_app.app_context():
        before = db.session.execute(select(func.count()).select_from(User)).scalar_one()
    unknown_area = _invoke(
        clean_app, "users", "create", "--username", "x1", "--role", "worker",
        "--area", "NOPE", "--password", "cli password 3",
    )  # fmt: skip
    assert unknown_area.exit_code != 0 and "no area" in unknown_area.output
    taken = _invoke(
        clean_app, "users", "create", "--username", "worker_a", "--role", "worker",
        "--area", "S1C1", "--password", "cli password 3",
    )  # fmt: skip
    assert taken.exit_code != 0 and "taken" in taken.output
    short = _invoke(
        clean_app, "users", "create", "--username", "x2", "--role", "worker",
        "--area", "S1C1", "--password", "short",
    )  # fmt: skip
    assert short.exit_code != 0
    with clean_app.app_context():
        assert db.session.execute(select(func.count()).select_from(User)).scalar_one() == before


def test_jobs_list_names_every_job_with_its_trigger(clean_app):
    result = _invoke(clean_app, "jobs", "list")
    assert result.exit_code == 0
    assert "auth-cleanup" in result.output and "cron" in result.output


def test_jobs_run_runs_one_job_now(clean_app, world):
    client = clean_app.test_client()
    login(client, "worker_a")
    client.post("/api/v1/auth/token", json={"username": "worker_a", "password": "nope"})
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=40)
    with clean_app.app_context():
        db.session.execute(ApiToken.__table__.update().values(expires_at=long_ago))
        db.session.execute(LoginThrottle.__table__.update().values(window_start=long_ago))
        db.session.commit()
    result = _invoke(clean_app, "jobs", "run", "auth-cleanup")
    assert result.exit_code == 0, result.output
    # one wrong password: the address's count and the account's count from that address
    assert "'tokens': 1" in result.output and "'login_throttles': 2" in result.output
    with clean_app.app_context():
        assert db.session.execute(select(func.count()).select_from(ApiToken)).scalar_one() == 0


def test_jobs_run_refuses_unknown_names(clean_app):
    result = _invoke(clean_app, "jobs", "run", "make-coffee")
    assert result.exit_code != 0
    assert "unknown job" in result.output


def test_grid_activation_job_is_listed_and_runs(clean_app):
    listed = _invoke(clean_app, "jobs", "list")
    assert "grid-activation" in listed.output
    result = _invoke(clean_app, "jobs", "run", "grid-activation")
    assert result.exit_code == 0, result.output
    assert "{'activated': []}" in result.output


def _district(code: str, name: str, west: float) -> dict:
    ring = [[west, 30.0], [west + 0.1, 30.0], [west + 0.1, 30.1], [west, 30.1], [west, 30.0]]
    return {
        "type": "Feature",
        "properties": {"code": code, "name": name, "level": "district"},
        "geometry": {"type": "Polygon", "coordinates": [ring]},
    }


def test_areas_import_gives_a_new_installation_its_first_district(clean_app, tmp_path):
    """A fresh database has no area and no account: the operator imports the district from a
    file, then creates the first account bound to it."""
    src = tmp_path / "district.geojson"
    src.write_text(
        json.dumps({"type": "FeatureCollection", "features": [_district("NEW1", "新区", 110.0)]})
    )
    result = _invoke(clean_app, "areas", "import", str(src))
    assert result.exit_code == 0, result.output
    assert "created district NEW1 新区" in result.output
    made = _invoke(
        clean_app, "users", "create", "--username", "first_admin", "--role", "admin",
        "--area", "NEW1", "--password", "cli password 4",
    )  # fmt: skip
    assert made.exit_code == 0, made.output
    me = clean_app.test_client().get(
        "/api/v1/me", headers=login(clean_app.test_client(), "first_admin", "cli password 4")
    )
    assert me.get_json()["scope"]["area_code"] == "NEW1"


def test_areas_import_refuses_bad_files_and_stores_nothing(clean_app, tmp_path):
    with clean_app.app_context():
        before = db.session.execute(select(func.count()).select_from(Area)).scalar_one()
    not_json = tmp_path / "broken.geojson"
    not_json.write_text("{not json")
    broken = _invoke(clean_app, "areas", "import", str(not_json))
    assert broken.exit_code != 0 and "not JSON" in broken.output
    twice = tmp_path / "twice.geojson"
    twice.write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "features": [_district("DUP1", "甲", 111.0), _district("DUP1", "乙", 112.0)],
            }
        )
    )
    duplicate = _invoke(clean_app, "areas", "import", str(twice))
    assert duplicate.exit_code != 0 and "DUP1" in duplicate.output
    with clean_app.app_context():
        assert db.session.execute(select(func.count()).select_from(Area)).scalar_one() == before
