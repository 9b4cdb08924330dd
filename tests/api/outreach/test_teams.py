"""Rosters: each participant files its team and boards; phones are E.164, masked for others."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from gridserve.extensions import db
from gridserve.models import AuditEntry, Institution, OutreachEvent, OutreachTeamMember
from gridserve.services.sms import numbers

BASE = "/api/v1/outreach/events"
# Four people: the site's min_team; a launch needs min_group (20).
CREW = [
    {"name": "张三", "duty": "讲解", "phone": "138 0013 8000"},
    {"name": "李四", "duty": "发放资料", "phone": "+86 139-0013-9000"},
    {"name": "王五", "duty": "咨询", "phone": "13700137000"},
    {"name": "赵六", "duty": "", "phone": "13600136000"},
]


# --- helpers the other participation tests share -----------------------------------------------


def error(resp, status: int, code: str) -> dict:
    assert resp.status_code == status, resp.get_json()
    body = resp.get_json()["error"]
    assert body["code"] == code, body
    return body


def set_event(event_id: int, *, co_organisers: list[str] | None = None, **values) -> None:
    """Change an event directly (status, times, co-organisers) and commit."""
    event = db.session.get(OutreachEvent, event_id)
    for key, value in values.items():
        setattr(event, key, value)
    if co_organisers is not None:
        event.co_organisers = [
            db.session.execute(select(Institution).where(Institution.code == c)).scalar_one()
            for c in co_organisers
        ]
    db.session.commit()


def drop_abc_from_site(outreach) -> None:
    """ABC no longer co-organises the site: its contact no longer sees it."""
    set_event(outreach.site, co_organisers=["DZCB", "PSBC"])


def local(day: dt.date, hh: int, mm: int = 0, ss: int = 0) -> dt.datetime:
    from tests.clock import at_local

    return at_local(day, dt.time(hh, mm, ss))


def put_roster(client, headers, event_id, code, members=None, boards=2, version=None):
    body = {"members": CREW if members is None else members, "boards": boards}
    if version is not None:
        body["version"] = version
    return client.put(f"{BASE}/{event_id}/teams/{code}", json=body, headers=headers)


def _teams(client, headers, event_id) -> dict[str, dict]:
    resp = client.get(f"{BASE}/{event_id}/teams", headers=headers)
    assert resp.status_code == 200, resp.get_json()
    return {t["institution"]: t for t in resp.get_json()}


# --- filing ------------------------------------------------------------------------------------


def test_a_contact_files_its_roster_with_phones_in_e164_stored_encrypted(
    client, auth_as, outreach, ctx
):
    resp = put_roster(client, auth_as("icbc"), outreach.site, "ICBC")
    assert resp.status_code == 200, resp.get_json()
    team = resp.get_json()
    assert team["institution"] == "ICBC" and team["version"] == 1 and team["filed"]
    assert [m["phone"] for m in team["members"]] == [
        "+8613800138000", "+8613900139000", "+8613700137000", "+8613600136000",
    ]  # fmt: skip
    assert team["members"][0] == {"name": "张三", "duty": "讲解", "phone": "+8613800138000"}
    rows = db.session.scalars(select(OutreachTeamMember).order_by(OutreachTeamMember.position))
    rows = list(rows)
    assert len(rows) == 4
    assert b"13800138000" not in rows[0].phone_enc
    assert rows[0].phone_hash == numbers.hasher()("+8613800138000")
    assert numbers.reveal(rows[0].phone_enc) == "+8613800138000"
    entry = db.session.scalars(
        select(AuditEntry).where(AuditEntry.action == "outreach.roster.set")
    ).one()
    assert entry.details["institution"] == "ICBC" and entry.details["members"] == 4
    assert "13800138000" not in str(entry.details)


def test_phones_are_clear_for_the_coordinator_and_the_team_masked_for_everyone_else(
    client, auth_as, outreach
):
    assert put_roster(client, auth_as("icbc"), outreach.site, "ICBC").status_code == 200
    clear = "+8613800138000"
    for user in ("icbc", "coordinator", "admin"):
        assert _teams(client, auth_as(user), outreach.site)["ICBC"]["members"][0]["phone"] == clear
    for user in ("bank", "other_bank", "station_b", "centre", "reg"):
        masked = _teams(client, auth_as(user), outreach.site)["ICBC"]["members"][0]["phone"]
        assert masked == "+86138****8000", user


def test_the_list_shows_every_participant_and_the_booth_rule(client, auth_as, outreach):
    three = CREW[:3]
    put_roster(client, auth_as("icbc"), outreach.site, "ICBC", three, boards=1)
    put_roster(client, auth_as("bank"), outreach.site, "DZCB", CREW, boards=2)
    teams = _teams(client, auth_as("coordinator"), outreach.site)
    assert list(teams) == ["DZ-REG", "ICBC", "DZCB", "PSBC", "ABC"]  # host, lead, co-organisers
    icbc, dzcb, psbc = teams["ICBC"], teams["DZCB"], teams["PSBC"]
    assert (icbc["size"], icbc["min_team"], icbc["meets_min_team"]) == (3, 4, False)
    assert (icbc["boards"], icbc["boards_required"], icbc["meets_boards"]) == (1, 2, False)
    assert icbc["problems"] == ["team_below_minimum", "boards_missing"]
    assert dzcb["meets_min_team"] and dzcb["meets_boards"] and dzcb["problems"] == []
    assert not psbc["filed"] and psbc["version"] == 0 and psbc["members"] == []
    assert psbc["problems"] == ["no_team", "boards_missing"]
    # At a launch each organisation fields a group of min_group (20).
    put_roster(client, auth_as("bank"), outreach.launch, "DZCB", CREW, boards=2)
    launch = _teams(client, auth_as("coordinator"), outreach.launch)["DZCB"]
    assert (launch["min_team"], launch["meets_min_team"]) == (20, False)


def test_a_team_of_an_institution_that_left_the_event_stays_listed(client, auth_as, outreach, ctx):
    put_roster(client, auth_as("abc"), outreach.site, "ABC")
    drop_abc_from_site(outreach)
    teams = _teams(client, auth_as("coordinator"), outreach.site)
    assert list(teams)[-1] == "ABC" and teams["ABC"]["participant"] is False
    assert teams["DZCB"]["participant"] is True


def test_the_coordinator_and_admin_file_for_any_participant(client, auth_as, outreach):
    resp = put_roster(client, auth_as("coordinator"), outreach.site, "PSBC")
    assert resp.status_code == 200 and resp.get_json()["institution"] == "PSBC"
    resp = put_roster(client, auth_as("admin"), outreach.launch, "DZ-REG")
    assert resp.status_code == 200 and resp.get_json()["institution"] == "DZ-REG"


def test_versions_create_then_replace_and_refuse_stale_writes(client, auth_as, outreach):
    icbc = auth_as("icbc")
    error(put_roster(client, icbc, outreach.site, "ICBC", version=3), 409, "stale_version")
    assert put_roster(client, icbc, outreach.site, "ICBC", version=0).status_code == 200
    again = error(put_roster(client, icbc, outreach.site, "ICBC"), 409, "stale_version")
    assert again["details"]["current_version"] == 1
    resp = put_roster(client, icbc, outreach.site, "ICBC", CREW[:2], boards=3, version=1)
    assert resp.status_code == 200, resp.get_json()
    team = resp.get_json()
    assert team["version"] == 2 and team["size"] == 2 and team["boards"] == 3
    stale = error(put_roster(client, icbc, outreach.site, "ICBC", version=1), 409, "stale_version")
    assert stale["details"] == {"version": 1, "current_version": 2}
    listed = _teams(client, icbc, outreach.site)["ICBC"]
    assert [m["name"] for m in listed["members"]] == ["张三", "李四"]


# --- who may file for whom ---------------------------------------------------------------------


def test_a_contact_files_only_for_its_own_institution(client, auth_as, outreach):
    err = error(put_roster(client, auth_as("bank"), outreach.site, "ICBC"), 403,
                "not_your_institution")  # fmt: skip
    assert err["details"]["institution"] == "ICBC"


def test_an_unknown_code_is_unknown_institution(client, auth_as, outreach):
    err = error(put_roster(client, auth_as("coordinator"), outreach.site, "NOPE"), 422,
                "unknown_institution")  # fmt: skip
    assert err["details"]["codes"] == ["NOPE"]
    error(put_roster(client, auth_as("bank"), outreach.site, "NOPE"), 422, "unknown_institution")


def test_an_institution_outside_the_event_is_not_a_participant(client, auth_as, outreach, ctx):
    drop_abc_from_site(outreach)
    err = error(put_roster(client, auth_as("coordinator"), outreach.site, "ABC"), 422,
                "not_a_participant")  # fmt: skip
    assert err["details"]["institution"] == "ABC"
    # ABC's contact no longer sees the site at all.
    error(put_roster(client, auth_as("abc"), outreach.site, "ABC"), 404, "not_found")
    error(client.get(f"{BASE}/{outreach.site}/teams", headers=auth_as("abc")), 404, "not_found")


@pytest.mark.parametrize("user", ["station_b", "centre", "district", "worker_a"])
def test_roles_that_may_not_file_get_403_before_the_body_is_read(client, auth_as, outreach, user):
    resp = client.put(f"{BASE}/{outreach.site}/teams/ICBC", json={"members": "x"},
                      headers=auth_as(user))  # fmt: skip
    error(resp, 403, "forbidden_role")


def test_workers_may_not_read_rosters_and_stations_see_only_their_area(client, auth_as, outreach):
    error(client.get(f"{BASE}/{outreach.site}/teams", headers=auth_as("worker_a")), 403,
          "forbidden_role")  # fmt: skip
    error(client.get(f"{BASE}/{outreach.site}/teams", headers=auth_as("station_a")), 404,
          "not_found")  # fmt: skip
    seen = client.get(f"{BASE}/{outreach.site}/teams", headers=auth_as("station_b"))
    assert seen.status_code == 200
    error(client.get(f"{BASE}/999999/teams", headers=auth_as("coordinator")), 404, "not_found")


# --- hostile input -----------------------------------------------------------------------------


def test_an_invalid_phone_names_the_member(client, auth_as, outreach):
    for bad in ("12345", "not a phone", "028-8123-4567"):  # short, text, a landline
        members = [CREW[0], {"name": "某人", "duty": "", "phone": bad}]
        err = error(put_roster(client, auth_as("icbc"), outreach.site, "ICBC", members), 422,
                    "invalid_phone")  # fmt: skip
        assert err["details"]["index"] == 1, bad


def test_the_same_phone_twice_in_one_roster_is_refused(client, auth_as, outreach):
    members = [CREW[0], CREW[1], {"name": "张三（重复）", "duty": "", "phone": "+8613800138000"}]
    err = error(put_roster(client, auth_as("icbc"), outreach.site, "ICBC", members), 422,
                "duplicate_phone")  # fmt: skip
    assert err["details"] == {"index": 2, "first_index": 0}


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"members": "张三"},
        {"members": [{"name": "张三"}]},
        {"members": [{"phone": "13800138000"}]},
        {"members": [{"name": "  ", "phone": "13800138000"}]},
        {"members": [{"name": "张" * 101, "phone": "13800138000"}]},
        {"members": [], "boards": -1},
        {"members": [], "boards": "2"},
        {"members": [], "boards": True},
        {"members": [], "boards": 1.5},
        {"members": [], "version": -1},
        {"members": [{"name": f"人{i}", "phone": f"1380013{i:04d}"} for i in range(201)]},
        [],
    ],
)
def test_malformed_rosters_are_422_validation_error(client, auth_as, outreach, body):
    resp = client.put(f"{BASE}/{outreach.site}/teams/ICBC", json=body, headers=auth_as("icbc"))
    error(resp, 422, "validation_error")


def test_control_characters_in_a_name_are_invalid_text(client, auth_as, outreach):
    members = [{"name": "张\x00三", "duty": "", "phone": "13800138000"}]
    resp = put_roster(client, auth_as("icbc"), outreach.site, "ICBC", members)
    error(resp, 422, "invalid_text")


# --- closed events -----------------------------------------------------------------------------


@pytest.mark.parametrize("status", ["held", "reported", "cancelled"])
def test_a_roster_cannot_change_once_the_event_is_over_or_cancelled(
    client, auth_as, outreach, ctx, status
):
    assert put_roster(client, auth_as("icbc"), outreach.site, "ICBC").status_code == 200
    set_event(outreach.site, status=status)
    err = error(put_roster(client, auth_as("icbc"), outreach.site, "ICBC", version=1), 409,
                "event_closed")  # fmt: skip
    assert err["details"]["status"] == status
    error(put_roster(client, auth_as("coordinator"), outreach.site, "DZCB"), 409, "event_closed")
    # Still readable.
    assert _teams(client, auth_as("icbc"), outreach.site)["ICBC"]["size"] == 4


def test_an_approved_event_still_takes_roster_changes(client, auth_as, outreach, ctx):
    set_event(outreach.site, status="approved")
    assert put_roster(client, auth_as("icbc"), outreach.site, "ICBC").status_code == 200


def test_a_key_rotation_re_hashes_roster_phones(client, auth_as, outreach, override_settings):
    from cryptography.fernet import Fernet

    from gridserve.config import settings
    from gridserve.crypto import derive_lookup_key, lookup_hash
    from tests.api.sms.test_numbers_at_rest import rotate

    assert put_roster(client, auth_as("icbc"), outreach.site, "ICBC").status_code == 200
    app = client.application
    configured = settings(app).data_keys[0]
    new = Fernet.generate_key().decode()
    with override_settings(data_keys=(new, configured)):
        output = rotate(app)
        assert "4 in outreach_team_members" in output
        with app.app_context():
            rows = db.session.scalars(select(OutreachTeamMember)).all()
            want = lookup_hash("+8613800138000", derive_lookup_key(new))
            assert want in {r.phone_hash for r in rows}
            assert numbers.reveal(rows[0].phone_enc).startswith("+86")
        # Still listed in clear for the team.
        teams = _teams(client, auth_as("icbc"), outreach.site)
        assert teams["ICBC"]["members"][0]["phone"] == "+8613800138000"


@pytest.mark.parametrize(
    "path",
    [
        "/outreach/events/99999999999999/teams",
        "/outreach/events/99999999999999/plan",
        "/outreach/events/99999999999999/reports",
        "/outreach/programmes/99999999999999/summary",
    ],
)
def test_ids_beyond_any_row_are_404(client, auth_as, outreach, path):
    error(client.get(f"/api/v1{path}", headers=auth_as("coordinator")), 404, "not_found")


def test_a_very_long_code_is_just_unknown(client, auth_as, outreach):
    err = error(put_roster(client, auth_as("coordinator"), outreach.site, "X" * 300), 422,
                "unknown_institution")  # fmt: skip
    assert err["details"]["codes"] == ["X" * 300]
