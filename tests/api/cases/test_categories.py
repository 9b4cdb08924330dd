"""Case categories as data: everyone signed in reads them, an admin makes and edits them
(versioned), deadlines are checked, and a deactivated category takes no new cases."""

from __future__ import annotations

import pytest
from flask.cli import ScriptInfo
from sqlalchemy import func, select

from gridserve.cli import main
from gridserve.db import transaction
from gridserve.extensions import db
from gridserve.models import AuditEntry, CaseCategory

CATS = "/api/v1/case-categories"
NEW = {
    "code": "stray_dogs",
    "name": "流浪犬只",
    "name_en": "Stray dogs",
    "report_class": "everyday",
    "start_level": "community",
    "deadlines": {"community": {"amount": 2, "unit": "working_days"},
                  "street": {"amount": 48, "unit": "hours"}},
}  # fmt: skip


def _error(resp, status: int, code: str) -> dict:
    assert resp.status_code == status, resp.get_json()
    error = resp.get_json()["error"]
    assert error["code"] == code, error
    return error


@pytest.mark.parametrize("user", ["station_a", "worker_a", "centre", "coordinator", "dept"])
def test_everyone_signed_in_reads_the_categories(cases, client, auth_as, user) -> None:
    listed = client.get(CATS, headers=auth_as(user))
    assert listed.status_code == 200
    codes = [c["code"] for c in listed.get_json()]
    assert codes[:2] == ["emergency", "accident"] and "noise" in codes
    one = client.get(f"{CATS}/{cases.categories['safety_hazard']}", headers=auth_as(user))
    body = one.get_json()
    assert body["to_street_at_once"] and body["start_level"] == "street"
    assert body["deadlines"]["street"] == {"amount": 12, "unit": "hours"}
    assert client.get(f"{CATS}/999999", headers=auth_as(user)).status_code == 404
    assert client.get(CATS).status_code == 401


def test_only_an_admin_makes_a_category_and_a_code_is_taken_once(cases, client, auth_as) -> None:
    for user in ("station_a", "centre", "district", "coordinator", "dept"):
        _error(client.post(CATS, json={}, headers=auth_as(user)), 403, "forbidden_role")
    made = client.post(CATS, json=NEW, headers=auth_as("admin"))
    assert made.status_code == 201, made.get_json()
    body = made.get_json()
    assert (body["version"], body["active"], body["start_level"]) == (1, True, "community")
    assert body["deadlines"]["community"] == {"amount": 2, "unit": "working_days"}
    _error(client.post(CATS, json=NEW, headers=auth_as("admin")), 409, "category_exists")
    taken = dict(NEW, code="noise")
    _error(client.post(CATS, json=taken, headers=auth_as("admin")), 409, "category_exists")
    again = client.get(f"{CATS}/{body['id']}", headers=auth_as("dept"))
    assert again.get_json()["name"] == "流浪犬只"


@pytest.mark.parametrize(
    ("deadlines", "field"),
    [
        ({"ward": {"amount": 1, "unit": "hours"}}, "deadlines.ward"),
        ({"cell": {"amount": 1, "unit": "minutes"}}, "deadlines.cell.unit"),
        ({"cell": {"amount": 0, "unit": "hours"}}, "deadlines.cell.amount"),
        ({"cell": {"amount": 1.5, "unit": "hours"}}, "deadlines.cell.amount"),
        ({"cell": {"amount": True, "unit": "hours"}}, "deadlines.cell.amount"),
        ({"cell": {"amount": 8761, "unit": "hours"}}, "deadlines.cell.amount"),
        ({"cell": {"amount": 366, "unit": "working_days"}}, "deadlines.cell.amount"),
        ({"cell": 5}, "deadlines.cell"),
    ],
)
def test_bad_deadlines_are_refused_by_field_and_nothing_is_stored(
    cases, client, auth_as, ctx, deadlines, field
) -> None:
    before = db.session.scalar(select(func.count()).select_from(CaseCategory))
    error = _error(
        client.post(CATS, json=dict(NEW, deadlines=deadlines), headers=auth_as("admin")),
        422, "validation_error",
    )  # fmt: skip
    assert field in error["details"]["fields"]
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(CaseCategory)) == before


def test_a_bad_start_level_or_class_is_refused(cases, client, auth_as) -> None:
    error = _error(
        client.post(CATS, json=dict(NEW, start_level="ward", report_class="x"),
                    headers=auth_as("admin")),
        422, "validation_error",
    )  # fmt: skip
    assert {"start_level", "report_class"} <= set(error["details"]["fields"])


def test_an_admin_edits_on_a_version_and_deactivates_rather_than_deletes(
    cases, client, auth_as, ctx
) -> None:
    url = f"{CATS}/{cases.categories['noise']}"
    _error(client.patch(url, json={}, headers=auth_as("station_a")), 403, "forbidden_role")
    _error(client.patch(url, json={"name": "x"}, headers=auth_as("admin")), 422,
           "validation_error")  # fmt: skip
    changed = client.patch(
        url,
        json={
            "version": 1,
            "name": "噪声污染",
            "deadlines": {"cell": {"amount": 6, "unit": "hours"}},
        },
        headers=auth_as("admin"),
    )
    assert changed.status_code == 200, changed.get_json()
    body = changed.get_json()
    assert (body["version"], body["name"]) == (2, "噪声污染")
    assert body["deadlines"] == {"cell": {"amount": 6, "unit": "hours"}}
    _error(client.patch(url, json={"version": 1, "active": False}, headers=auth_as("admin")),
           409, "stale_version")  # fmt: skip
    bad = client.patch(
        url, json={"version": 2, "deadlines": {"cell": {"amount": -1, "unit": "hours"}}},
        headers=auth_as("admin"),
    )  # fmt: skip
    assert "deadlines.cell.amount" in _error(bad, 422, "validation_error")["details"]["fields"]
    off = client.patch(url, json={"version": 2, "active": False}, headers=auth_as("admin"))
    assert off.get_json()["active"] is False and off.get_json()["version"] == 3
    active = client.get(f"{CATS}?active=true", headers=auth_as("station_a")).get_json()
    assert "noise" not in [c["code"] for c in active]
    assert "noise" in [c["code"] for c in client.get(CATS, headers=auth_as("station_a")).get_json()]
    audited = db.session.scalar(
        select(func.count()).select_from(AuditEntry).where(
            AuditEntry.entity == "case_categories", AuditEntry.action == "update"
        )
    )  # fmt: skip
    assert audited == 2
    refused = client.post(
        "/api/v1/tasks",
        json={"kind": "case", "title": "夜间施工", "category": "noise",
              "area_id": cases.field.world.community_a},
        headers=auth_as("station_a"),
    )  # fmt: skip
    _error(refused, 422, "category_inactive")


def test_the_seed_command_adds_what_is_missing_and_keeps_edits(cases, clean_app) -> None:
    with clean_app.app_context(), transaction():
        db.session.get(CaseCategory, cases.categories["noise"]).name = "改过的名字"
        db.session.delete(db.session.get(CaseCategory, cases.categories["parking"]))
    runner = clean_app.test_cli_runner()
    info = ScriptInfo(create_app=lambda: clean_app)
    result = runner.invoke(main, ["seed", "categories"], obj=info)
    assert result.exit_code == 0, result.output
    assert "case categories: added 1" in result.output
    with clean_app.app_context():
        names = dict(db.session.execute(select(CaseCategory.code, CaseCategory.name)).all())
        assert names["noise"] == "改过的名字" and names["parking"] == "乱停乱放"


def test_me_tells_a_department_s_contact_from_a_bank_s(cases, client, auth_as) -> None:
    """The console shows the case board to a department's contacts and not to a bank's."""
    dept = client.get("/api/v1/me", headers=auth_as("dept")).get_json()["scope"]
    assert dept["institution_kind"] == "department"
    bank = client.get("/api/v1/me", headers=auth_as("bank")).get_json()["scope"]
    assert bank["institution_kind"] == "commercial_bank"
