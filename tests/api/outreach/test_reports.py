"""Reports after an event (late after report_due_on) and the programme's summary of them."""

from __future__ import annotations

import datetime as dt

import pytest

from gridserve.extensions import db
from gridserve.models import Attachment, OutreachEvent
from tests.api.outreach.test_outreach_attachments import PNG, desk_file
from tests.api.outreach.test_plans import plan, review
from tests.api.outreach.test_teams import drop_abc_from_site, error, local, set_event
from tests.clock import move_to
from tests.conftest import login

BASE = "/api/v1/outreach/events"
NUMBERS = {"participants": 120, "materials": 300, "consultations": 15}


def report(client, headers, event_id, code, version=None, **fields):
    body = {**NUMBERS, "summary": "现场咨询踊跃。", **fields}
    if version is not None:
        body["version"] = version
    return client.put(f"{BASE}/{event_id}/reports/{code}", json=body, headers=headers)


def _summary(client, headers, programme) -> dict:
    resp = client.get(f"/api/v1/outreach/programmes/{programme}/summary", headers=headers)
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()


def test_a_participant_reports_once_the_event_is_held(client, auth_as, outreach, ctx):
    set_event(outreach.site, status="held")
    photo = desk_file(client, auth_as("icbc"), PNG, "image/png")
    resp = report(client, auth_as("icbc"), outreach.site, "ICBC", photos=[photo])
    assert resp.status_code == 200, resp.get_json()
    body = resp.get_json()
    assert body["institution"] == "ICBC" and body["version"] == 1 and body["late"] is False
    assert (body["participants"], body["materials"], body["consultations"]) == (120, 300, 15)
    assert body["photos"] == [photo] and body["summary"] == "现场咨询踊跃。"
    db.session.expire_all()
    assert db.session.get(Attachment, photo).event_id == outreach.site
    listed = client.get(f"{BASE}/{outreach.site}/reports", headers=auth_as("station_b"))
    assert listed.status_code == 200 and [r["institution"] for r in listed.get_json()] == ["ICBC"]
    # The photo is now readable by the event's participants and area.
    got = client.get(f"/api/v1/attachments/{photo}", headers=auth_as("bank"))
    assert got.status_code == 200 and got.data == PNG


@pytest.mark.parametrize("status", ["draft", "planned", "approved", "cancelled"])
def test_no_report_before_the_event_has_taken_place(client, auth_as, outreach, ctx, status):
    set_event(outreach.site, status=status)
    err = error(report(client, auth_as("icbc"), outreach.site, "ICBC"), 409, "event_not_held")
    assert err["details"]["status"] == status


def test_an_approved_event_that_has_ended_takes_reports_before_the_job_marks_it_held(
    client, auth_as, outreach, ctx
):
    set_event(outreach.site, status="approved")
    event = db.session.get(OutreachEvent, outreach.site)
    move_to(event.ends_at - dt.timedelta(seconds=5), tick=False)
    error(report(client, auth_as("icbc"), outreach.site, "ICBC"), 409, "event_not_held")
    move_to(event.ends_at + dt.timedelta(seconds=1), tick=False)
    assert report(client, auth_as("icbc"), outreach.site, "ICBC").status_code == 200
    # A cancelled event that has ended still takes none.
    set_event(outreach.site, status="cancelled")
    error(report(client, auth_as("icbc"), outreach.site, "ICBC", version=1), 409,
          "event_not_held")  # fmt: skip


def test_a_report_after_the_due_day_is_late_not_refused(client, auth_as, outreach, ctx):
    set_event(outreach.site, status="held")
    move_to(local(dt.date(2027, 4, 30), 23, 59, 50), tick=False)
    assert report(client, auth_as("icbc"), outreach.site, "ICBC").get_json()["late"] is False
    move_to(local(dt.date(2027, 5, 1), 0, 0, 1), tick=False)
    resp = report(client, auth_as("bank"), outreach.site, "DZCB")
    assert resp.status_code == 200 and resp.get_json()["late"] is True


def test_versions_correct_a_report_and_refuse_stale_writes(client, auth_as, outreach, ctx):
    set_event(outreach.site, status="reported")
    icbc = auth_as("icbc")
    error(report(client, icbc, outreach.site, "ICBC", version=2), 409, "stale_version")
    assert report(client, icbc, outreach.site, "ICBC").status_code == 200
    error(report(client, icbc, outreach.site, "ICBC"), 409, "stale_version")
    fixed = report(client, icbc, outreach.site, "ICBC", version=1, participants=130)
    assert fixed.status_code == 200 and fixed.get_json()["participants"] == 130
    assert fixed.get_json()["version"] == 2
    error(report(client, icbc, outreach.site, "ICBC", version=1), 409, "stale_version")


def test_who_files_for_whom(client, auth_as, outreach, ctx):
    set_event(outreach.site, status="held")
    error(report(client, auth_as("bank"), outreach.site, "ICBC"), 403, "not_your_institution")
    error(report(client, auth_as("bank"), outreach.site, "NOPE"), 422, "unknown_institution")
    assert report(client, auth_as("coordinator"), outreach.site, "PSBC").status_code == 200
    drop_abc_from_site(outreach)
    err = error(report(client, auth_as("coordinator"), outreach.site, "ABC"), 422,
                "not_a_participant")  # fmt: skip
    assert err["details"]["institution"] == "ABC"
    error(report(client, auth_as("abc"), outreach.site, "ABC"), 404, "not_found")


@pytest.mark.parametrize("user", ["station_b", "centre", "district", "worker_a"])
def test_roles_that_may_not_report_get_403_before_the_body(client, auth_as, outreach, user):
    resp = client.put(f"{BASE}/{outreach.site}/reports/ICBC", json={"participants": -1},
                      headers=auth_as(user))  # fmt: skip
    error(resp, 403, "forbidden_role")


@pytest.mark.parametrize(
    "fields",
    [
        {"participants": -1},
        {"materials": -5},
        {"consultations": "3"},
        {"participants": 1.5},
        {"participants": True},
        {"participants": None},
        {"materials": 10**12},
        {"summary": "x" * 5001},
        {"photos": ["not-a-uuid"]},
        {"photos": ["00000000-0000-4000-8000-000000000001"] * 2},
        {"version": -1},
    ],
)
def test_bad_numbers_and_fields_are_422_validation_error(client, auth_as, outreach, ctx, fields):
    set_event(outreach.site, status="held")
    error(report(client, auth_as("icbc"), outreach.site, "ICBC", **fields), 422, "validation_error")


def test_missing_counts_are_422(client, auth_as, outreach, ctx):
    set_event(outreach.site, status="held")
    resp = client.put(f"{BASE}/{outreach.site}/reports/ICBC", json={"participants": 3},
                      headers=auth_as("icbc"))  # fmt: skip
    error(resp, 422, "validation_error")


def test_report_photos_must_be_pictures_the_filer_may_name(client, auth_as, outreach, ctx):
    set_event(outreach.site, status="held")
    pdf = desk_file(client, auth_as("icbc"))
    err = error(report(client, auth_as("icbc"), outreach.site, "ICBC", photos=[pdf]), 422,
                "invalid_attachment")  # fmt: skip
    assert err["details"]["field"] == "photos" and err["details"]["reason"] == "not_a_photo"
    theirs = desk_file(client, auth_as("bank"), PNG, "image/png")
    err = error(report(client, auth_as("icbc"), outreach.site, "ICBC", photos=[theirs]), 422,
                "invalid_attachment")  # fmt: skip
    assert err["details"]["reason"] == "not_yours"


def test_the_last_participant_s_report_makes_the_event_reported(client, auth_as, outreach, ctx):
    set_event(outreach.site, status="held")
    users = {"DZ-REG": "reg", "ICBC": "icbc", "DZCB": "bank", "PSBC": "other_bank", "ABC": "abc"}
    codes = ["DZ-REG", "ICBC", "DZCB", "PSBC", "ABC"]
    for code in codes[:-1]:
        assert report(client, auth_as(users[code]), outreach.site, code).status_code == 200
        event = client.get(f"/api/v1/outreach/events/{outreach.site}",
                           headers=auth_as("coordinator")).get_json()  # fmt: skip
        assert event["status"] == "held"
    assert report(client, auth_as("abc"), outreach.site, "ABC").status_code == 200
    event = client.get(f"/api/v1/outreach/events/{outreach.site}",
                       headers=auth_as("coordinator")).get_json()  # fmt: skip
    assert event["status"] == "reported"


# --- the summary -------------------------------------------------------------------------------


def _held_with_reports(client, auth_as, outreach):
    """Both events held; at the site ICBC reports on time, DZCB late; at the launch only DZCB
    (on time). The site's plan approved."""
    plan(client, auth_as("icbc"), outreach.site)
    review(client, auth_as("coordinator"), outreach.site, "approve")
    set_event(outreach.site, status="held")
    set_event(outreach.launch, status="held")
    report(client, auth_as("icbc"), outreach.site, "ICBC")
    report(client, auth_as("bank"), outreach.launch, "DZCB", participants=1000, materials=2000,
           consultations=50)  # fmt: skip
    move_to(local(dt.date(2027, 5, 2), 10), tick=False)
    late = report(client, login(client, "bank"), outreach.site, "DZCB", participants=80,
                  materials=100, consultations=5)  # fmt: skip
    assert late.status_code == 200 and late.get_json()["late"], late.get_json()


def test_the_coordinator_sees_totals_late_and_missing_reports_and_plans(
    client, auth_as, outreach, ctx
):
    _held_with_reports(client, auth_as, outreach)
    got = _summary(client, login(client, "coordinator"), outreach.programme)
    assert got["code"] == "PUB-T" and got["report_due_on"] == "2027-04-30"
    assert got["totals"] == {"participants": 1200, "materials": 2400, "consultations": 70,
                             "reports": 3, "late_reports": 1}  # fmt: skip
    by_inst = {r["institution"]: r for r in got["by_institution"]}
    assert by_inst["DZCB"]["participants"] == 1080 and by_inst["DZCB"]["reports"] == 2
    assert by_inst["DZCB"]["late_reports"] == 1
    assert by_inst["ICBC"]["participants"] == 120 and by_inst["PSBC"]["reports"] == 0
    launch, site = got["by_site"]
    assert launch["event_id"] == outreach.launch and site["event_id"] == outreach.site
    assert (site["participants"], site["reports"], site["expected_reports"]) == (200, 2, 5)
    assert (site["plan_status"], site["plan_late"], site["lead"]) == ("approved", False, "ICBC")
    assert launch["plan_status"] is None and launch["participants"] == 1000
    assert [(r["event_id"], r["institution"]) for r in got["late_reports"]] == [
        (outreach.site, "DZCB")
    ]
    missing = {(r["event_id"], r["institution"]) for r in got["missing_reports"]}
    assert missing == {
        (outreach.launch, "DZ-REG"), (outreach.launch, "PSBC"), (outreach.launch, "ICBC"),
        (outreach.launch, "ABC"), (outreach.site, "DZ-REG"), (outreach.site, "PSBC"),
        (outreach.site, "ABC"),
    }  # fmt: skip


def test_events_not_yet_held_owe_nothing_and_cancelled_ones_count_for_nothing(
    client, auth_as, outreach, ctx
):
    set_event(outreach.site, status="held")
    report(client, auth_as("icbc"), outreach.site, "ICBC")
    got = _summary(client, auth_as("coordinator"), outreach.programme)
    assert {r["event_id"] for r in got["missing_reports"]} == {outreach.site}  # launch: draft
    assert got["totals"]["participants"] == 120
    set_event(outreach.site, status="cancelled")
    got = _summary(client, auth_as("coordinator"), outreach.programme)
    assert got["totals"]["reports"] == 0 and got["missing_reports"] == []
    assert [s["event_id"] for s in got["by_site"]] == [outreach.launch]


def test_an_approved_event_that_has_ended_owes_its_reports_before_the_job_marks_it_held(
    client, auth_as, outreach, ctx
):
    set_event(outreach.site, status="approved")
    move_to(local(dt.date(2027, 4, 15), 11), tick=False)  # under way: nothing owed yet
    got = _summary(client, login(client, "coordinator"), outreach.programme)
    assert got["missing_reports"] == []
    move_to(local(dt.date(2027, 4, 15), 13), tick=False)  # over, still approved
    got = _summary(client, login(client, "coordinator"), outreach.programme)
    assert {(r["event_id"], r["institution"]) for r in got["missing_reports"]} == {
        (outreach.site, code) for code in ("DZ-REG", "ICBC", "DZCB", "PSBC", "ABC")
    }


def test_a_contact_sees_the_totals_but_only_its_own_late_and_missing(
    client, auth_as, outreach, ctx
):
    _held_with_reports(client, auth_as, outreach)
    drop_abc_from_site(outreach)
    psbc = _summary(client, login(client, "other_bank"), outreach.programme)
    assert psbc["totals"]["participants"] == 1200
    assert psbc["late_reports"] == []
    assert {(r["event_id"], r["institution"]) for r in psbc["missing_reports"]} == {
        (outreach.launch, "PSBC"), (outreach.site, "PSBC"),
    }  # fmt: skip
    dzcb = _summary(client, login(client, "bank"), outreach.programme)
    assert [r["institution"] for r in dzcb["late_reports"]] == ["DZCB"]
    assert dzcb["missing_reports"] == []
    # ABC left the site: its totals still count there, but it is not shown the site.
    abc = _summary(client, login(client, "abc"), outreach.programme)
    assert [s["event_id"] for s in abc["by_site"]] == [outreach.launch]
    assert abc["totals"]["participants"] == 1200
    assert {r["event_id"] for r in abc["missing_reports"]} == {outreach.launch}


def test_a_station_sees_the_events_of_its_area(client, auth_as, outreach, ctx):
    _held_with_reports(client, auth_as, outreach)
    station_b = _summary(client, login(client, "station_b"), outreach.programme)
    assert [s["event_id"] for s in station_b["by_site"]] == [outreach.site]
    assert station_b["totals"]["participants"] == 200
    assert {r["event_id"] for r in station_b["missing_reports"]} == {outreach.site}
    centre = _summary(client, login(client, "centre"), outreach.programme)
    assert centre["totals"]["participants"] == 1200 and len(centre["by_site"]) == 2


def test_who_may_read_the_summary(client, auth_as, outreach, ctx):
    error(client.get(f"/api/v1/outreach/programmes/{outreach.programme}/summary",
                     headers=auth_as("worker_a")), 403, "forbidden_role")  # fmt: skip
    error(client.get("/api/v1/outreach/programmes/999999/summary",
                     headers=auth_as("coordinator")), 404, "not_found")  # fmt: skip
    # A contact of an institution outside the programme does not see it.
    from gridserve.models import OutreachProgramme

    programme = db.session.get(OutreachProgramme, outreach.programme)
    programme.institutions = [i for i in programme.institutions if i.code != "ABC"]
    db.session.commit()
    drop_abc_from_site(outreach)
    set_event(outreach.launch, co_organisers=["DZCB", "PSBC", "ICBC"])
    error(client.get(f"/api/v1/outreach/programmes/{outreach.programme}/summary",
                     headers=auth_as("abc")), 404, "not_found")  # fmt: skip
