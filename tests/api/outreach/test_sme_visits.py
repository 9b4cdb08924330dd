"""SME visit records by bank staff: each outcome, its rules, the visit window, who records and
who reads (a bank its own enterprises' records only)."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from gridserve.extensions import db
from gridserve.models import AuditEntry, OutreachVisit
from tests.api.outreach.visits_helpers import (
    API,
    BODIES,
    DAY,
    body,
    enterprise_of,
    heads,
    local_time,
    post_visit,
    travel,
)


@pytest.fixture
def h(client, visits):
    travel()
    return heads(
        client,
        "bank",
        "icbc",
        "other_bank",
        "coordinator",
        "worker_a",
        "station_a",
        "centre",
        "admin",
    )


def _count(app) -> int:
    with app.app_context():
        return len(db.session.scalars(select(OutreachVisit.id)).all())


@pytest.mark.parametrize("outcome", sorted(BODIES))
def test_each_outcome_is_recorded_by_the_bank(client, visits, h, outcome):
    enterprise = enterprise_of(visits, "bank")
    resp = post_visit(client, h["bank"], body(enterprise, outcome))
    assert resp.status_code == 201, resp.get_json()
    got = resp.get_json()
    assert got["outcome"] == outcome
    assert got["source"] == "bank"
    assert got["visitor"] == "bank"
    assert got["institution"] == "DZCB"
    assert got["enterprise"]["credit_code"] == visits.codes["bank"][0]
    assert got["visited_at"] == local_time(DAY, dt.time(9, 30))
    assert got["visited_at"].endswith("+08:00")
    assert got["lenders"] == BODIES[outcome].get("lenders", [])
    assert got["next_step_due_on"] == "2027-06-29"
    assert got["decision"] is None and got["decision_overdue"] is False
    if outcome == "product_matched":
        assert got["decision_due_on"] == "2027-06-29"  # 10 working days, Monday to Friday
        assert got["need"] == {"amount": 500000, "term_months": 12, "purpose": "备货"}
    else:
        assert got["decision_due_on"] is None
    again = client.get(f"{API}/visits/{got['id']}", headers=h["bank"])
    assert again.status_code == 200 and again.get_json() == got


def test_the_first_visit_marks_the_enterprise_visited_and_is_audited(client, visits, h, clean_app):
    enterprise = enterprise_of(visits, "bank")
    listed = f"{API}/programmes/{visits.programme}/enterprises?status=visited"
    assert client.get(listed, headers=h["bank"]).get_json() == []
    for outcome in ("follow_up", "no_need"):
        assert post_visit(client, h["bank"], body(enterprise, outcome)).status_code == 201
    rows = client.get(listed, headers=h["bank"]).get_json()
    assert [(r["id"], r["version"]) for r in rows] == [(enterprise, 2)]  # once, not twice
    with clean_app.app_context():
        changes = db.session.scalars(
            select(AuditEntry).where(
                AuditEntry.entity == "outreach_enterprises",
                AuditEntry.entity_id == str(enterprise),
                AuditEntry.action == "update",
            )
        ).all()
        assert [c.details["status"] for c in changes] == [["listed", "visited"]]
        assert changes[0].actor_name == "bank"


RULES = [
    ("follow_up", {"lenders": []}, "lenders"),
    ("renewal", {"lenders": []}, "lenders"),
    ("product_matched", {"products": []}, "products"),
    ("product_matched", {"need": {"amount": 0, "term_months": 12}}, "need.amount"),
    ("product_matched", {"need": None}, "need.amount"),
    ("product_matched", {"eligible": None}, "eligible"),
    ("not_eligible_explained", {"eligible": True}, "eligible"),
    ("not_eligible_explained", {"explanation": "  "}, "explanation"),
    ("no_need", {"need": {"amount": 100000, "term_months": 12}}, "need.amount"),
]


@pytest.mark.parametrize(("outcome", "over", "field"), RULES)
def test_each_outcome_rule_is_a_422_naming_its_field(
    client, visits, h, clean_app, outcome, over, field
):
    resp = post_visit(client, h["bank"], body(enterprise_of(visits, "bank"), outcome, **over))
    assert resp.status_code == 422, resp.get_json()
    error = resp.get_json()["error"]
    assert error["code"] == "validation_error"
    assert field in error["details"]["fields"]
    assert _count(clean_app) == 0


def test_no_need_with_amount_zero_is_accepted(client, visits, h):
    payload = body(enterprise_of(visits, "bank"), "no_need", need={"amount": 0})
    resp = post_visit(client, h["bank"], payload)
    assert resp.status_code == 201, resp.get_json()
    assert resp.get_json()["need"]["amount"] == 0


@pytest.mark.parametrize(
    ("over", "field"),
    [
        ({"operating_status": "booming"}, "operating_status"),
        ({"outcome": "maybe"}, "outcome"),
        ({"need": {"amount": -1, "term_months": 12}}, "need"),
        ({"need": {"amount": 10, "term_months": 361}}, "need"),
        ({"visited_at": "2027-06-15T09:30:00"}, "visited_at"),
    ],
)
def test_bad_fields_are_422(client, visits, h, clean_app, over, field):
    resp = post_visit(client, h["bank"], body(enterprise_of(visits, "bank"), "no_need", **over))
    assert resp.status_code == 422
    assert resp.get_json()["error"]["code"] == "validation_error"
    assert field in str(resp.get_json()["error"]["details"])
    assert _count(clean_app) == 0


def test_an_unknown_lender_is_named(client, visits, h, clean_app):
    payload = body(enterprise_of(visits, "bank"), "follow_up", lenders=["DZCB", "NOPE"])
    resp = post_visit(client, h["bank"], payload)
    assert resp.status_code == 422
    assert resp.get_json()["error"]["code"] == "unknown_institution"
    assert resp.get_json()["error"]["details"]["codes"] == ["NOPE"]
    assert _count(clean_app) == 0


def test_a_visit_in_the_future_is_refused(client, visits, h):
    later = local_time(DAY, dt.time(11, 0))  # the clock says 10:00
    resp = post_visit(
        client, h["bank"], body(enterprise_of(visits, "bank"), "no_need", visited_at=later)
    )
    assert resp.status_code == 422
    assert "visited_at" in resp.get_json()["error"]["details"]["fields"]


def test_the_visit_window_is_checked_by_local_day(client, visits):
    travel(dt.date(2027, 12, 2))
    h = heads(client, "bank")
    enterprise = enterprise_of(visits, "bank")
    for day, clock, status in [
        (dt.date(2027, 5, 14), dt.time(23, 59), 422),
        (dt.date(2027, 5, 15), dt.time(0, 1), 201),
        (dt.date(2027, 11, 30), dt.time(23, 59), 201),
        (dt.date(2027, 12, 1), dt.time(0, 1), 422),
    ]:
        payload = body(enterprise, "no_need", visited_at=local_time(day, clock))
        resp = post_visit(client, h["bank"], payload)
        assert resp.status_code == status, (day, resp.get_json())
        if status == 422:
            error = resp.get_json()["error"]
            assert error["code"] == "outside_visit_window"
            assert error["details"]["visits_from"] == "2027-05-15"
            assert error["details"]["visits_to"] == "2027-11-30"


@pytest.mark.parametrize("who", ["worker_a", "station_a", "centre"])
def test_roles_that_may_not_record_get_403_before_any_input_check(client, visits, h, who):
    resp = client.post(f"{API}/visits", json={"nonsense": True}, headers=h[who])
    assert resp.status_code == 403
    assert resp.get_json()["error"]["code"] == "forbidden_role"


def test_a_bank_cannot_record_for_another_banks_enterprise(client, visits, h, clean_app):
    psbc = enterprise_of(visits, "psbc")
    resp = post_visit(client, h["bank"], body(psbc, "no_need"))
    assert resp.status_code == 404
    assert _count(clean_app) == 0
    assert post_visit(client, h["other_bank"], body(psbc, "no_need")).status_code == 201


def test_the_coordinator_and_admin_record_any_enterprise(client, visits, h):
    resp = post_visit(client, h["coordinator"], body(enterprise_of(visits, "icbc"), "no_need"))
    assert resp.status_code == 201, resp.get_json()
    assert resp.get_json()["visitor"] == "coordinator"
    assert resp.get_json()["institution"] == "ICBC"
    resp = post_visit(client, h["admin"], body(enterprise_of(visits, "psbc"), "no_need"))
    assert resp.status_code == 201


def test_a_bank_sees_only_its_own_enterprises_records(client, visits, h):
    mine = post_visit(client, h["bank"], body(enterprise_of(visits, "bank"), "no_need"))
    theirs = post_visit(
        client, h["icbc"], body(enterprise_of(visits, "icbc"), "follow_up", lenders=["ICBC"])
    )
    assert mine.status_code == 201 and theirs.status_code == 201
    mine, theirs = mine.get_json()["id"], theirs.get_json()["id"]

    def ids(who, query=""):
        resp = client.get(f"{API}/visits{query}", headers=h[who])
        assert resp.status_code == 200, resp.get_json()
        return [v["id"] for v in resp.get_json()]

    assert ids("bank") == [mine]
    assert ids("icbc") == [theirs]
    assert ids("other_bank") == []
    assert sorted(ids("coordinator")) == sorted([mine, theirs])
    assert sorted(ids("centre")) == sorted([mine, theirs])
    assert client.get(f"{API}/visits/{theirs}", headers=h["bank"]).status_code == 404
    assert client.get(f"{API}/visits", headers=h["worker_a"]).status_code == 403
    # filters
    assert ids("coordinator", "?institution=ICBC") == [theirs]
    assert ids("coordinator", "?outcome=no_need") == [mine]
    assert ids("coordinator", "?visitor=icbc") == [theirs]
    assert ids("coordinator", f"?enterprise={enterprise_of(visits, 'bank')}") == [mine]
    assert ids("coordinator", f"?programme={visits.programme}&from=2027-06-15&to=2027-06-15")
    assert ids("coordinator", "?from=2027-06-16") == []
    assert ids("coordinator", "?to=2027-06-14") == []
    bad = client.get(f"{API}/visits?institution=NOPE", headers=h["coordinator"])
    assert bad.status_code == 422 and bad.get_json()["error"]["code"] == "unknown_institution"
