"""Deliverables: derived from the programmes (site plans, event reports, visit lists and
summaries), added by the coordinator, submitted by their owners; status moving with time."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.api.outreach.test_plans import plan
from tests.api.outreach.test_reports import report
from tests.api.outreach.test_teams import error, set_event
from tests.clock import at_local, move_to
from tests.conftest import login

API = "/api/v1/outreach"
USERS = ("coordinator", "bank", "other_bank", "icbc", "abc", "station_a", "worker_a", "reg")


@pytest.fixture
def heads(client, override_settings, outreach):
    """Everybody signed in with tokens that outlive the test's time travel."""
    override_settings(token_ttl_seconds=400 * 24 * 3600)
    move_to(at_local(dt.date(2027, 4, 1), dt.time(10, 0)))
    return {u: login(client, u) for u in USERS}


def at(day: dt.date, hour: int = 10) -> None:
    move_to(at_local(day, dt.time(hour, 0)))


def listing(client, headers, programme: int, **query) -> list[dict]:
    resp = client.get(
        f"{API}/programmes/{programme}/deliverables",
        query_string={"page_size": 500, **query},
        headers=headers,
    )
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()


def by_title(rows: list[dict]) -> dict[str, dict]:
    return {r["title"]: r for r in rows}


def owners(rows: list[dict], kind: str) -> list[tuple[int | None, str]]:
    return sorted((r["event_id"], r["owner"]["label"]) for r in rows if r["kind"] == kind)


def add(client, headers, programme: int, **body):
    payload = {"kind": "other", "title": "季度台账", "due_on": "2027-04-20", **body}
    return client.post(f"{API}/programmes/{programme}/deliverables", json=payload, headers=headers)


def submit(client, headers, deliverable: int, **body):
    return client.post(f"{API}/deliverables/{deliverable}/submit", json=body, headers=headers)


# --- derivation ------------------------------------------------------------------------------


def test_a_publicity_programme_asks_the_lead_for_a_plan_and_every_participant_for_reports(
    client, heads, outreach
):
    rows = listing(client, heads["coordinator"], outreach.programme)
    assert owners(rows, "site_plan") == [(outreach.site, "ICBC")]
    everyone = ["ABC", "DZ-REG", "DZCB", "ICBC", "PSBC"]
    assert owners(rows, "event_report") == sorted(
        [(outreach.launch, c) for c in everyone] + [(outreach.site, c) for c in everyone]
    )
    site_plan = next(r for r in rows if r["kind"] == "site_plan")
    assert site_plan["due_on"] == "2027-04-06"
    assert site_plan["due_at"] == "2027-04-06T23:59:59+08:00"
    assert site_plan["owner"]["kind"] == "institution"
    assert {r["status"] for r in rows} == {"pending"}
    assert {r["due_on"] for r in rows if r["kind"] == "event_report"} == {"2027-04-30"}
    # Derived again (every read): the same rows, nothing added.
    again = listing(client, heads["coordinator"], outreach.programme)
    assert sorted(r["id"] for r in again) == sorted(r["id"] for r in rows)
    # A contact sees its own institution's only.
    mine = listing(client, heads["icbc"], outreach.programme)
    assert {r["owner"]["label"] for r in mine} == {"ICBC"}
    assert len(mine) == 3


def test_the_site_plan_follows_the_filed_plan_and_statuses_move_with_time(
    client, heads, outreach, ctx
):
    resp = plan(client, heads["icbc"], outreach.site)
    assert resp.status_code == 200, resp.get_json()
    at(dt.date(2027, 4, 7))
    rows = listing(client, heads["coordinator"], outreach.programme)
    site_plan = next(r for r in rows if r["kind"] == "site_plan")
    assert site_plan["status"] == "submitted"
    assert site_plan["submitted_by"] == "icbc"
    # The plan is submitted through its own endpoint, not here.
    err = error(submit(client, heads["icbc"], site_plan["id"]), 409, "submitted_elsewhere")
    assert err["details"]["hint"] == f"/api/v1/outreach/events/{outreach.site}/plan"

    # Reports: pending until the end of 30 April, then missing; a report filed later is late.
    at(dt.date(2027, 4, 30), 23)
    reports = [r for r in listing(client, heads["coordinator"], outreach.programme)]
    assert {r["status"] for r in reports if r["kind"] == "event_report"} == {"pending"}
    at(dt.date(2027, 5, 1), 9)
    rows = listing(client, heads["coordinator"], outreach.programme)
    assert {r["status"] for r in rows if r["kind"] == "event_report"} == {"missing"}
    set_event(outreach.site, status="held")
    resp = report(client, heads["bank"], outreach.site, "DZCB")
    assert resp.status_code == 200, resp.get_json()
    rows = listing(client, heads["bank"], outreach.programme)
    dzcb = {r["event_id"]: r for r in rows if r["kind"] == "event_report"}
    assert dzcb[outreach.site]["status"] == "late"
    assert dzcb[outreach.site]["submitted_by"] == "bank"
    assert dzcb[outreach.launch]["status"] == "missing"
    err = error(submit(client, heads["bank"], dzcb[outreach.launch]["id"]), 409,
                "submitted_elsewhere")  # fmt: skip
    assert err["details"]["event_id"] == outreach.launch


def test_a_returned_plan_is_not_submitted_until_filed_again(client, heads, outreach, ctx):
    assert plan(client, heads["icbc"], outreach.site).status_code == 200
    resp = client.post(
        f"{API}/events/{outreach.site}/plan/return",
        json={"note": "请补充展板位置。", "version": 1},
        headers=heads["coordinator"],
    )
    assert resp.status_code == 200, resp.get_json()
    at(dt.date(2027, 4, 8))
    site_plan = next(
        r
        for r in listing(client, heads["coordinator"], outreach.programme)
        if r["kind"] == "site_plan"
    )
    assert site_plan["status"] == "missing"
    assert plan(client, heads["icbc"], outreach.site, version=2).status_code == 200
    site_plan = next(
        r
        for r in listing(client, heads["coordinator"], outreach.programme)
        if r["kind"] == "site_plan"
    )
    assert site_plan["status"] == "late"


def test_a_cancelled_events_deliverables_drop_out(client, heads, outreach, ctx):
    before = listing(client, heads["coordinator"], outreach.programme)
    assert any(r["event_id"] == outreach.site for r in before)
    set_event(outreach.site, status="cancelled", cancel_reason="场地冲突")
    after = listing(client, heads["coordinator"], outreach.programme)
    assert not [r for r in after if r["event_id"] == outreach.site]
    assert len(after) == len(before) - 6  # the plan and five reports
    gone = next(r for r in before if r["event_id"] == outreach.site)
    assert (
        client.get(f"{API}/deliverables/{gone['id']}", headers=heads["coordinator"]).status_code
        == 404
    )


def test_a_visits_programme_asks_each_institution_for_its_list_and_summary(client, heads, visits):
    rows = listing(client, heads["coordinator"], visits.programme)
    assert owners(rows, "visit_list") == [(None, c) for c in ("DZCB", "ICBC", "PSBC")]
    assert owners(rows, "visit_summary") == [(None, c) for c in ("DZCB", "ICBC", "PSBC")]
    assert {r["due_on"] for r in rows if r["kind"] == "visit_list"} == {"2027-05-15"}
    assert {r["due_on"] for r in rows if r["kind"] == "visit_summary"} == {"2027-12-15"}
    assert len(rows) == 6
    mine = by_title(listing(client, heads["bank"], visits.programme))
    assert len(mine) == 2 and all(r["owner"]["label"] == "DZCB" for r in mine.values())

    # DZCB hands its list in on time, ICBC a day late; PSBC never: missing.
    at(dt.date(2027, 5, 15), 22)
    dzcb = next(r for r in mine.values() if r["kind"] == "visit_list")
    resp = submit(client, heads["bank"], dzcb["id"], note="名单已报送")
    assert resp.status_code == 200, resp.get_json()
    got = resp.get_json()
    assert (got["status"], got["submitted_by"], got["note"]) == ("submitted", "bank", "名单已报送")
    assert got["version"] == dzcb["version"] + 1
    error(submit(client, heads["bank"], dzcb["id"]), 409, "already_submitted")
    at(dt.date(2027, 5, 16))
    icbc = next(
        r for r in listing(client, heads["icbc"], visits.programme) if r["kind"] == "visit_list"
    )
    assert icbc["status"] == "missing"
    assert submit(client, heads["icbc"], icbc["id"]).get_json()["status"] == "late"
    lists = {
        r["owner"]["label"]: r["status"]
        for r in listing(client, heads["coordinator"], visits.programme, kind="visit_list")
    }
    assert lists == {"DZCB": "submitted", "ICBC": "late", "PSBC": "missing"}
    summaries = listing(client, heads["coordinator"], visits.programme, kind="visit_summary")
    assert {r["status"] for r in summaries} == {"pending"}


def test_only_the_owner_submits(client, heads, visits):
    rows = listing(client, heads["coordinator"], visits.programme, institution="DZCB")
    target = next(r for r in rows if r["kind"] == "visit_list")
    # Another bank does not see it; the coordinator and the station see it but do not own it.
    error(submit(client, heads["other_bank"], target["id"]), 404, "not_found")
    error(submit(client, heads["coordinator"], target["id"]), 403, "not_the_owner")
    error(submit(client, heads["station_a"], target["id"]), 403, "not_the_owner")
    error(submit(client, heads["bank"], 999999), 404, "not_found")
    after = listing(client, heads["coordinator"], visits.programme, institution="DZCB")
    assert next(r for r in after if r["id"] == target["id"])["status"] == "pending"


def test_the_list_filter_names_a_known_institution(client, heads, visits):
    resp = client.get(
        f"{API}/programmes/{visits.programme}/deliverables",
        query_string={"institution": "NOPE"},
        headers=heads["coordinator"],
    )
    error(resp, 422, "unknown_institution")
    error(
        client.get(f"{API}/programmes/999999/deliverables", headers=heads["coordinator"]),
        404,
        "not_found",
    )
    error(
        client.get(f"{API}/programmes/{visits.programme}/deliverables", headers=heads["worker_a"]),
        403,
        "forbidden_role",
    )


# --- added by the coordinator ----------------------------------------------------------------


def test_the_coordinator_adds_deliverables_for_each_kind_of_owner(client, heads, outreach, field):
    programme = outreach.programme
    made = {}
    for name, owner in {
        "inst": {"institution": "ABC"},
        "worker": {"worker_id": field.worker_id},
        "user": {"user": "bank"},
    }.items():
        resp = add(client, heads["coordinator"], programme, title=f"台账-{name}", owner=owner)
        assert resp.status_code == 201, resp.get_json()
        made[name] = resp.get_json()
    assert made["inst"]["owner"] == {
        "kind": "institution",
        "id": outreach.inst["ABC"],
        "label": "ABC",
    }
    assert made["worker"]["owner"]["kind"] == "worker"
    assert made["worker"]["owner"]["label"] == "网格员甲"
    assert made["user"]["owner"]["kind"] == "user"
    assert made["user"]["owner"]["label"] == "bank"
    assert made["inst"]["kind"] == "other" and made["inst"]["key"] is None
    assert made["inst"]["status"] == "pending"

    # Each owner submits its own: the institution's contact, the worker's account, the user.
    error(submit(client, heads["bank"], made["inst"]["id"]), 404, "not_found")
    assert submit(client, heads["abc"], made["inst"]["id"]).status_code == 200
    error(submit(client, heads["station_a"], made["worker"]["id"]), 403, "not_the_owner")
    url = f"{API}/deliverables/{{}}"
    assert (
        client.get(url.format(made["worker"]["id"]), headers=heads["worker_a"]).status_code == 200
    )
    error(client.get(url.format(made["inst"]["id"]), headers=heads["worker_a"]), 404, "not_found")
    assert submit(client, heads["worker_a"], made["worker"]["id"]).status_code == 200
    error(submit(client, heads["icbc"], made["user"]["id"]), 404, "not_found")
    resp = submit(client, heads["bank"], made["user"]["id"])
    assert resp.status_code == 200, resp.get_json()
    assert resp.get_json()["submitted_by"] == "bank"
    rows = by_title(listing(client, heads["coordinator"], programme, kind="other"))
    assert {rows[f"台账-{n}"]["status"] for n in made} == {"submitted"}


@pytest.mark.parametrize(
    ("owner", "code"),
    [
        ({}, "validation_error"),
        ({"institution": "ABC", "user": "bank"}, "validation_error"),
        ({"institution": "NOPE"}, "unknown_institution"),
        ({"worker_id": 999999}, "unknown_worker"),
        ({"user": "nobody"}, "unknown_user"),
    ],
)
def test_an_added_deliverable_names_exactly_one_known_owner(client, heads, outreach, owner, code):
    before = listing(client, heads["coordinator"], outreach.programme)
    error(add(client, heads["coordinator"], outreach.programme, owner=owner), 422, code)
    assert len(listing(client, heads["coordinator"], outreach.programme)) == len(before)


@pytest.mark.parametrize(
    "body",
    [
        {"kind": "essay"},
        {"title": ""},
        {"due_on": "2027-02-30"},
        {"due_on": "0001-01-01"},
        {"title": "x" * 201},
    ],
)
def test_bad_fields_are_422(client, heads, outreach, body):
    resp = add(client, heads["coordinator"], outreach.programme, owner={"institution": "ABC"},
               **body)  # fmt: skip
    error(resp, 422, "validation_error")


def test_only_the_coordinator_adds_and_changes(client, heads, outreach):
    for user in ("bank", "station_a", "worker_a"):
        error(add(client, heads[user], outreach.programme, owner={"institution": "ABC"}), 403,
              "forbidden_role")  # fmt: skip
    made = add(client, heads["coordinator"], outreach.programme, owner={"institution": "ABC"})
    ident = made.get_json()["id"]
    resp = client.patch(f"{API}/deliverables/{ident}", json={}, headers=heads["abc"])
    error(resp, 403, "forbidden_role")


def test_the_coordinator_changes_an_added_deliverable_with_its_version(client, heads, outreach):
    made = add(client, heads["coordinator"], outreach.programme, owner={"institution": "ABC"})
    row = made.get_json()
    url = f"{API}/deliverables/{row['id']}"
    resp = client.patch(
        url,
        json={"due_on": "2027-04-25", "owner": {"user": "abc"}, "version": row["version"]},
        headers=heads["coordinator"],
    )
    assert resp.status_code == 200, resp.get_json()
    changed = resp.get_json()
    assert changed["due_on"] == "2027-04-25"
    assert changed["owner"]["label"] == "abc" and changed["owner"]["kind"] == "user"
    assert changed["version"] == row["version"] + 1
    err = error(
        client.patch(url, json={"note": "旧版本", "version": row["version"]},
                     headers=heads["coordinator"]),
        409, "stale_version",
    )  # fmt: skip
    assert err["details"]["current_version"] == changed["version"]
    error(client.patch(url, json={"owner": {"worker_id": 999999}, "version": changed["version"]},
                       headers=heads["coordinator"]), 422, "unknown_worker")  # fmt: skip
    error(client.patch(url, json={"note": "x"}, headers=heads["coordinator"]), 422,
          "validation_error")  # fmt: skip
    assert client.get(url, headers=heads["coordinator"]).get_json()["note"] == ""


def test_a_derived_deliverable_keeps_its_dates_but_takes_a_note(client, heads, visits):
    row = listing(client, heads["coordinator"], visits.programme, kind="visit_list")[0]
    url = f"{API}/deliverables/{row['id']}"
    err = error(
        client.patch(url, json={"due_on": "2027-06-01", "version": row["version"]},
                     headers=heads["coordinator"]),
        409, "derived_deliverable",
    )  # fmt: skip
    assert err["details"]["fields"] == ["due_on"]
    resp = client.patch(
        url, json={"note": "请附走访清单", "version": row["version"]}, headers=heads["coordinator"]
    )
    assert resp.status_code == 200, resp.get_json()
    assert resp.get_json()["note"] == "请附走访清单"
    assert resp.get_json()["due_on"] == "2027-05-15"
