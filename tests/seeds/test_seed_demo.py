"""`gridserve seed demo`: the demo street, institutions and users; re-running changes nothing."""

from __future__ import annotations

import re
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from gridserve import audit
from gridserve.db import transaction
from gridserve.extensions import db
from gridserve.models import Area, AuditEntry, Institution, Place, User
from seeds.loader import BANK_ORDER, DEMO_USERS, load_demo
from tests.conftest import TEST_ACTOR, login

ZONE = ZoneInfo("Asia/Shanghai")  # the demo street's zone


def _counts() -> dict[str, int]:
    return {
        model.__name__: db.session.execute(select(func.count()).select_from(model)).scalar_one()
        for model in (Area, Institution, User, AuditEntry)
    }


def _seed(**kwargs):
    kwargs.setdefault("register", False)
    with audit.acting_as(TEST_ACTOR), transaction():
        return load_demo(**kwargs)


def test_seed_demo_creates_the_street_institutions_and_one_user_per_role(clean_app):
    with clean_app.app_context():
        report = _seed(password="demo-pass-123")
        counts = _counts()
        assert counts["Area"] == 20  # district, street, 18 communities
        assert counts["Institution"] == 13  # the regulator, the 11 banks, one department
        assert counts["User"] == len(DEMO_USERS)
        roles = set(db.session.execute(select(User.role)).scalars())
        assert roles == {
            "admin", "district_centre", "street_centre", "station", "worker",
            "coordinator", "institution_contact",
        }  # fmt: skip
        street = db.session.execute(select(Area).where(Area.level == "street")).scalar_one()
        assert len(street.children) == 18
        codes = [
            db.session.execute(
                select(Institution.code).join(User).where(User.username == f"bank{i}")
            ).scalar_one()
            for i in range(1, 12)
        ]
        assert codes == BANK_ORDER
        assert report.password is None  # given, so not printed


def test_re_running_changes_nothing(clean_app):
    with clean_app.app_context():
        _seed(password="demo-pass-123")
        before = _counts()
        report = _seed(password="another-password")
        assert _counts() == before
        assert report.created == {}
    client = clean_app.test_client()
    assert login(client, "worker1", "demo-pass-123")


def test_without_a_password_one_is_generated_printed_once_and_saved(clean_app, tmp_path):
    with clean_app.app_context():
        report = _seed(password=None)
        assert report.password and len(report.password) >= 12
        assert report.password_file.read_text().strip() == report.password
        assert oct(report.password_file.stat().st_mode & 0o777) == "0o600"
        assert any(report.password in line for line in report.lines())
        again = _seed(password=None)
        assert again.password is None
    assert login(clean_app.test_client(), "station1", report.password)


def test_reset_passwords_sets_the_new_one_and_signs_everyone_out(clean_app):
    client = clean_app.test_client()
    with clean_app.app_context():
        _seed(password="demo-pass-123")
    old = login(client, "centre", "demo-pass-123")
    with clean_app.app_context():
        _seed(password="fresh-pass-456", reset_passwords=True)
    assert client.get("/api/v1/me", headers=old).status_code == 401
    assert login(client, "centre", "fresh-pass-456")


def test_demo_station_sees_only_its_own_community(clean_app):
    with clean_app.app_context():
        _seed(password="demo-pass-123")
    client = clean_app.test_client()
    areas = client.get("/api/v1/areas", headers=login(client, "station1", "demo-pass-123"))
    assert [a["code"] for a in areas.get_json()] == ["QS01"]
    everything = client.get(
        "/api/v1/areas?page_size=100", headers=login(client, "district", "demo-pass-123")
    )
    assert len(everything.get_json()) == 20


def test_the_full_demo_has_a_layout_workers_and_households(clean_app):
    from gridserve.models import Assignment, GridPlan, Household, Worker

    with clean_app.app_context():
        report = _seed(password="demo-pass-123", register=True)
        assert report.created["grid cells"] == 140
        count = lambda m: db.session.execute(select(func.count()).select_from(m)).scalar_one()  # noqa: E731
        assert count(Place) > 30_000 and count(Worker) == 140 and count(Assignment) == 140
        # 80 through the service in worker1's and worker2's cells; the rest seeds/assessment.py
        assert count(Household) > 15_000
        plan = db.session.execute(select(GridPlan)).scalar_one()
        assert plan.status == "active" and plan.metrics["balance_ratio"] <= 1.10
        assert plan.metrics["gap_area_m2"] <= 1 and plan.metrics["places_unassigned"] == 0
        again = _seed(password="demo-pass-123", register=True)
        assert again.created == {} and count(Worker) == 140
    client = clean_app.test_client()
    headers = login(client, "worker1", "demo-pass-123")
    bundle = client.get("/api/v1/sync/bundle", headers=headers).get_json()
    assert len(bundle["cells"]["features"]) == 1 and len(bundle["households"]) == 40
    _the_publicity_month_is_planned(client)
    with clean_app.app_context():
        _the_visits_programme_is_under_way()
        _seeded_again_next_year_it_lists_the_same_enterprises()


def _the_publicity_month_is_planned(client) -> None:
    """The outreach desk's demo: a launch and seven sites led by seven banks, rosters with
    gaps readiness names, one plan approved and one returned, the SMS campaign linked."""
    coordinator = login(client, "coordinator", "demo-pass-123")
    programmes = client.get("/api/v1/outreach/programmes", headers=coordinator).get_json()
    (programme,) = [p for p in programmes if p["kind"] == "publicity"]
    detail = client.get(f"/api/v1/outreach/programmes/{programme['id']}",
                        headers=coordinator).get_json()  # fmt: skip
    assert [c["code"][:10] for c in detail["sms_campaigns"]] == ["SME-MONTH-"]
    events = client.get("/api/v1/outreach/events", query_string={"page_size": 50},
                        headers=coordinator).get_json()  # fmt: skip
    launch = [e for e in events if e["kind"] == "launch"]
    sites = [e for e in events if e["kind"] == "site"]
    assert len(launch) == 1 and len(sites) == 7
    assert launch[0]["starts_at"].endswith("T09:00:00+08:00") and launch[0]["host"] == "DZ-REG"
    assert len(launch[0]["co_organisers"]) == 11
    assert len({e["lead"] for e in sites}) == 7 and len({e["area_id"] for e in sites}) == 7
    assert {e["status"] for e in events} == {"approved", "planned"}
    ready = client.get(f"/api/v1/outreach/events/{launch[0]['id']}/readiness",
                       headers=coordinator).get_json()  # fmt: skip
    rules = {item["rule"] for item in ready["items"]}
    assert not ready["ready"] and {"no_team", "team_below_minimum"} <= rules
    statuses = []
    for site in sorted(sites, key=lambda e: e["id"])[:3]:
        plan = client.get(f"/api/v1/outreach/events/{site['id']}/plan", headers=coordinator)
        statuses.append(plan.get_json()["status"])
    assert statuses == ["approved", "returned", "submitted"]
    # The square is in the register, the launch is there.
    square = client.get("/api/v1/places", query_string={"type": "square"},
                        headers=coordinator).get_json()  # fmt: skip
    assert [p["id"] for p in square] == [launch[0]["place_id"]]


def _the_visits_programme_is_under_way() -> None:
    """The SME visits demo: 300 listed register enterprises with valid invented codes over the
    11 banks and the cells' workers; past visits with every outcome; exactly three decisions
    overdue; five referrals, two converted (with the referrer's points)."""
    import datetime as dt

    from stdnum.cn import uscc

    from gridserve.config import settings
    from gridserve.models import (
        OutreachEnterprise,
        OutreachProgramme,
        OutreachReferral,
        OutreachVisit,
    )
    from gridserve.timeutil import local_today
    from seeds.visits import dates, programme_code

    today = local_today()
    programme = db.session.execute(
        select(OutreachProgramme).where(OutreachProgramme.code == programme_code(today.year))
    ).scalar_one()
    assert programme.kind == "visits"
    expected = dates(today)
    assert programme.list_due_on == expected["list_due_on"] < today - dt.timedelta(days=55)
    assert programme.visits_from <= today < programme.visits_to  # the window is open
    assert programme.summary_due_on == today + dt.timedelta(days=21)
    listed = db.session.execute(
        select(OutreachEnterprise).where(OutreachEnterprise.programme_id == programme.id)
    ).scalars().all()  # fmt: skip
    assert len(listed) == 300
    assert all(uscc.is_valid(e.credit_code) for e in listed)
    places = {p.id: p for p in db.session.execute(select(Place)).scalars()}
    for e in listed:
        place = places[e.place_id]
        assert place.type == "enterprise" and place.external_id == f"uscc:{e.credit_code}"
    assert len({e.institution_id for e in listed}) == 11
    banks = {e.visitor_user_id for e in listed if not e.visitor_is_cell}
    assert len(banks) == 11 and 0 < sum(e.visitor_is_cell for e in listed) < 300
    visits = db.session.execute(
        select(OutreachVisit).where(OutreachVisit.programme_id == programme.id)
    ).scalars().all()  # fmt: skip
    now = dt.datetime.now(dt.UTC)
    assert visits and all(v.visited_at < now for v in visits)
    assert {v.outcome for v in visits} == {
        "follow_up", "renewal", "product_matched", "not_eligible_explained", "no_need"
    }  # fmt: skip
    assert {e.id for e in listed if e.status == "visited"} == {v.enterprise_id for v in visits}
    assert any(v.worker_id for v in visits) and any(v.visitor_user_id for v in visits)
    # Each demo visit passes the rules POST /outreach/visits applies.
    from gridserve.services.outreach.basics import decision_due_on
    from gridserve.services.outreach.visits import outcome_errors

    for v in visits:
        body = {
            "outcome": v.outcome,
            "need": {"amount": v.need_amount},
            "eligible": v.eligible,
            "lenders": v.lender_ids,
            "products": v.products,
            "explanation": v.explanation,
        }
        assert outcome_errors(body) == {}, (v.id, v.outcome)
        assert programme.visits_from <= v.visited_at.astimezone(ZONE).date() < today
    matched = [v for v in visits if v.outcome == "product_matched"]
    assert all(v.decision_due_on == decision_due_on(v.visited_at, v.area_id) for v in matched)
    assert all(v.decision_due_on > v.visited_at.date() for v in matched)
    assert all(v.decision is None for v in visits if v.outcome != "product_matched")
    overdue = [v for v in matched if v.decision is None and v.decision_due_on < today]
    assert len(overdue) == 3
    assert any(v.decision for v in matched) and all(
        v.decided_at < now and v.decided_by for v in matched if v.decision
    )
    referrals = db.session.execute(
        select(OutreachReferral).where(OutreachReferral.programme_id == programme.id)
    ).scalars().all()  # fmt: skip
    assert len(referrals) == 5
    converted = [r for r in referrals if r.status == "converted"]
    assert len(converted) == 2
    assert all(r.points == settings().outreach_referral_points for r in converted)
    assert all(r.from_institution_id != r.to_institution_id for r in referrals)
    # The banks' visit lists: nine handed in on time, one late, one missing; the summaries
    # are still pending (their day is three weeks ahead).
    from gridserve.scope import OPERATOR
    from gridserve.services.outreach import deliverables

    shown = deliverables.present(
        db.session.execute(deliverables.list_deliverables(OPERATOR, programme.id)).scalars().all()
    )
    statuses: dict[str, list[str]] = {}
    for d in shown:
        statuses.setdefault(d["kind"], []).append(d["status"])
    assert sorted(statuses["visit_list"]) == ["late", "missing"] + ["submitted"] * 9
    assert statuses["visit_summary"] == ["pending"] * 11
    assert len({r.number for r in referrals}) == 5
    assert all(re.fullmatch(r"ZJ-\d{4}-\d{6}", r.number) for r in referrals)


def _seeded_again_next_year_it_lists_the_same_enterprises() -> None:
    import datetime as dt

    from gridserve.models import OutreachEnterprise, OutreachProgramme
    from gridserve.timeutil import local_today
    from seeds.loader import SeedReport
    from seeds.visits import load_visits, programme_code

    later = local_today() + dt.timedelta(days=366)
    with audit.acting_as(TEST_ACTOR), transaction():
        load_visits(SeedReport(), later, BANK_ORDER)
    codes = {}
    for year in (local_today().year, later.year):
        pid = db.session.execute(
            select(OutreachProgramme.id).where(OutreachProgramme.code == programme_code(year))
        ).scalar_one()
        codes[year] = set(
            db.session.execute(
                select(OutreachEnterprise.credit_code).where(OutreachEnterprise.programme_id == pid)
            ).scalars()
        )
    assert len(codes[later.year]) == 300 and codes[later.year] == codes[local_today().year]
