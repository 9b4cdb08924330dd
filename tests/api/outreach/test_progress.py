"""The progress of a visits programme: figures per institution, per visitor and in total, what
each role sees of them, decisions turning overdue with time, and the CSV / XLSX exports."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from gridserve.extensions import db
from gridserve.models import (
    AuditEntry,
    Institution,
    OutreachEnterprise,
    OutreachReferral,
    OutreachVisit,
    User,
)
from gridserve.services.outreach.basics import decision_due_on
from tests.api.outreach.event_helpers import API, rows
from tests.clock import at_local, move_to
from tests.conftest import login

OUTCOMES = ("follow_up", "renewal", "product_matched", "not_eligible_explained", "no_need")
# Visits on Tue 2027-06-01: a product_matched decision is due ten working days later, 06-15.
VISIT_DAY = dt.date(2027, 6, 1)
DUE = dt.date(2027, 6, 15)


def _visit(session, enterprise_id: int, outcome: str, need: int | None, **over) -> None:
    """A visit record as ``POST /outreach/visits`` (or a terminal's upload) would store it."""
    ent = session.get(OutreachEnterprise, enterprise_id)
    visited_at = at_local(over.pop("day", VISIT_DAY), dt.time(10, 0))
    values = {
        "programme_id": ent.programme_id,
        "enterprise_id": ent.id,
        "institution_id": ent.institution_id,
        "area_id": ent.area_id,
        "visited_at": visited_at,
        "visitor_user_id": ent.visitor_user_id,
        "operating_status": "normal",
        "need_amount": need,
        "eligible": outcome == "product_matched" or None,
        "outcome": outcome,
        "products": ["惠企贷"] if outcome == "product_matched" else [],
        "decision_due_on": (
            decision_due_on(visited_at, ent.area_id) if outcome == "product_matched" else None
        ),
    }
    session.add(OutreachVisit(**(values | over)))


def _referral(session, number: int, enterprise_id: int, sender: str, to: str, status: str):
    ent = session.get(OutreachEnterprise, enterprise_id)
    user = session.scalars(select(User).where(User.username == sender)).one()
    to_inst = session.scalars(select(Institution).where(Institution.code == to)).one()
    session.add(
        OutreachReferral(
            number=f"ZJ-2027-{number:06d}",
            programme_id=ent.programme_id,
            enterprise_id=ent.id,
            area_id=ent.area_id,
            from_institution_id=user.institution_id,
            from_user_id=user.id,
            to_institution_id=to_inst.id,
            need="经营周转",
            status=status,
            points=10 if status == "converted" else 0,
        )
    )


@pytest.fixture
def recorded(clean_app, visits):
    """Visits and referrals on the visits world (dated 2027-06-01), clock at 06-10 10:00."""
    ids = {group: [visits.enterprises[c] for c in codes] for group, codes in visits.codes.items()}
    with rows(clean_app) as session:
        bank, icbc, cell = ids["bank"], ids["icbc"], ids["cell"]
        _visit(session, bank[0], "product_matched", 500_000)
        _visit(session, bank[0], "follow_up", None, day=dt.date(2027, 6, 3))
        _visit(session, bank[1], "product_matched", 300_000, decision="approved")
        _visit(session, bank[2], "no_need", 0)
        _visit(session, cell[0], "renewal", 100_000, visitor_user_id=None)
        _visit(session, icbc[0], "product_matched", 200_000)
        _visit(session, icbc[1], "not_eligible_explained", 50_000, eligible=False)
        _referral(session, 1, bank[0], "bank", "ICBC", "converted")
        _referral(session, 2, bank[1], "bank", "PSBC", "sent")
        _referral(session, 3, icbc[0], "icbc", "DZCB", "sent")
    move_to(at_local(dt.date(2027, 6, 10), dt.time(10, 0)))
    return ids


def _progress(client, headers, programme, query=""):
    return client.get(f"{API}/programmes/{programme}/progress{query}", headers=headers)


def _outcomes(**given) -> dict[str, int]:
    return {o: given.get(o, 0) for o in OUTCOMES}


def test_the_decision_of_a_matched_visit_is_due_ten_working_days_later(clean_app, visits):
    with clean_app.app_context():
        area = db.session.get(OutreachEnterprise, visits.enterprises[visits.codes["bank"][0]])
        assert decision_due_on(at_local(VISIT_DAY, dt.time(10, 0)), area.area_id) == DUE


def test_the_coordinator_sees_every_figure_per_institution_visitor_and_in_total(
    client, auth_as, visits, recorded
):
    resp = _progress(client, auth_as("coordinator"), visits.programme)
    assert resp.status_code == 200, resp.get_json()
    got = resp.get_json()
    assert got["programme"]["code"] == "SME-V"
    as_of = dt.datetime.fromisoformat(got["as_of"])  # the clock ticks: no exact minute
    assert as_of.utcoffset() == dt.timedelta(hours=8) and as_of.date() == dt.date(2027, 6, 10)
    assert got["totals"] == {
        "listed": 12,
        "visited": 6,
        "visited_share": 0.5,
        "outcomes": _outcomes(
            follow_up=1, renewal=1, product_matched=3, not_eligible_explained=1, no_need=1
        ),
        "need_amount": 1_150_000,
        "matched_amount": 1_000_000,
        "decisions_open": 2,
        "decisions_overdue": 0,
        "referrals_made": 3,
        "referrals_converted": 1,
    }
    institutions = {r["institution"]: r for r in got["institutions"]}
    assert [r["institution"] for r in got["institutions"]] == ["DZCB", "ICBC", "PSBC"]
    dzcb = institutions["DZCB"]
    assert dzcb["name"]
    assert (dzcb["listed"], dzcb["visited"], dzcb["visited_share"]) == (6, 4, 0.6667)
    assert dzcb["outcomes"] == _outcomes(follow_up=1, renewal=1, product_matched=2, no_need=1)
    assert (dzcb["need_amount"], dzcb["matched_amount"]) == (900_000, 800_000)
    assert (dzcb["decisions_open"], dzcb["decisions_overdue"]) == (1, 0)
    assert (dzcb["referrals_made"], dzcb["referrals_converted"]) == (2, 1)
    icbc = institutions["ICBC"]
    assert (icbc["listed"], icbc["visited"], icbc["visited_share"]) == (4, 2, 0.5)
    assert icbc["outcomes"] == _outcomes(product_matched=1, not_eligible_explained=1)
    assert (icbc["need_amount"], icbc["matched_amount"], icbc["decisions_open"]) == (
        250_000,
        200_000,
        1,
    )
    assert (icbc["referrals_made"], icbc["referrals_converted"]) == (1, 0)
    psbc = institutions["PSBC"]
    assert (psbc["listed"], psbc["visited"], psbc["visited_share"], psbc["need_amount"]) == (
        2,
        0,
        0,
        0,
    )

    visitors = {(r["institution"], r["visitor"]): r for r in got["visitors"]}
    assert list(visitors) == [("DZCB", "bank"), ("DZCB", "cell"), ("ICBC", "icbc"),
                              ("PSBC", "other_bank")]  # fmt: skip
    bank = visitors[("DZCB", "bank")]
    assert (bank["listed"], bank["visited"], bank["visited_share"]) == (4, 3, 0.75)
    assert bank["outcomes"] == _outcomes(follow_up=1, product_matched=2, no_need=1)
    assert (bank["referrals_made"], bank["referrals_converted"]) == (2, 1)
    cell = visitors[("DZCB", "cell")]
    assert (cell["listed"], cell["visited"], cell["visited_share"]) == (2, 1, 0.5)
    assert cell["outcomes"] == _outcomes(renewal=1)
    assert (cell["need_amount"], cell["matched_amount"], cell["referrals_made"]) == (
        100_000,
        0,
        0,
    )
    assert visitors[("ICBC", "icbc")]["referrals_made"] == 1
    # The totals are the sum of the institution rows.
    for key in ("listed", "visited", "need_amount", "matched_amount", "referrals_made"):
        assert got["totals"][key] == sum(r[key] for r in got["institutions"])


def test_a_matched_need_counts_whatever_its_decision(clean_app, client, auth_as, visits, recorded):
    with rows(clean_app) as session:
        visit = session.scalars(
            select(OutreachVisit).where(
                OutreachVisit.enterprise_id == recorded["icbc"][0],
                OutreachVisit.outcome == "product_matched",
            )
        ).one()
        visit.decision = "rejected"
        visit.decision_reason = "资料不全"
    got = _progress(client, auth_as("coordinator"), visits.programme).get_json()
    assert got["totals"]["matched_amount"] == 1_000_000
    assert (got["totals"]["decisions_open"], got["totals"]["decisions_overdue"]) == (1, 0)


def test_a_bank_sees_only_its_own_institution_and_totals_over_that(
    client, auth_as, visits, recorded
):
    got = _progress(client, auth_as("bank"), visits.programme).get_json()
    assert [r["institution"] for r in got["institutions"]] == ["DZCB"]
    assert [(r["institution"], r["visitor"]) for r in got["visitors"]] == [
        ("DZCB", "bank"),
        ("DZCB", "cell"),
    ]
    totals = got["totals"]
    assert (totals["listed"], totals["visited"], totals["need_amount"]) == (6, 4, 900_000)
    # ICBC's referral to DZCB is one the bank received, not one it made.
    assert (totals["referrals_made"], totals["referrals_converted"]) == (2, 1)
    dzcb = got["institutions"][0]
    assert totals == {k: v for k, v in dzcb.items() if k not in ("institution", "name")}


def test_a_station_sees_its_community_s_list_only(client, auth_as, visits, recorded):
    listed = client.get(
        f"{API}/programmes/{visits.programme}/enterprises?per_page=100",
        headers=auth_as("station_a"),
    ).get_json()
    got = _progress(client, auth_as("station_a"), visits.programme).get_json()
    assert got["totals"]["listed"] == len(listed) < 12
    assert ("DZCB", "cell") in {(r["institution"], r["visitor"]) for r in got["visitors"]}


@pytest.mark.parametrize("username", ["centre", "district"])
def test_area_centres_read_the_whole_street_s_progress(client, auth_as, visits, recorded, username):
    got = _progress(client, auth_as(username), visits.programme)
    assert got.status_code == 200
    assert got.get_json()["totals"]["listed"] == 12


def test_a_contact_of_an_institution_outside_the_programme_finds_nothing(
    client, auth_as, visits, recorded
):
    resp = _progress(client, auth_as("abc"), visits.programme)
    assert resp.status_code == 404


def test_a_worker_may_not_read_the_progress(client, auth_as, visits, recorded):
    for query in ("", "?format=csv", "?format=xlsx"):
        resp = _progress(client, auth_as("worker_a"), visits.programme, query)
        assert resp.status_code == 403
        assert resp.get_json()["error"]["code"] == "forbidden_role"


def test_an_unknown_programme_or_format_is_refused(client, auth_as, outreach, visits, recorded):
    assert _progress(client, auth_as("coordinator"), 99999).status_code == 404
    bad = _progress(client, auth_as("coordinator"), visits.programme, "?format=pdf")
    assert bad.status_code == 422
    assert "format" in str(bad.get_json()["error"]["details"])


def test_decisions_turn_overdue_after_their_local_due_day(client, auth_as, visits, recorded):
    move_to(at_local(DUE, dt.time(23, 50)))
    totals = _progress(client, login(client, "coordinator"), visits.programme).get_json()["totals"]
    assert (totals["decisions_open"], totals["decisions_overdue"]) == (2, 0)
    move_to(at_local(DUE + dt.timedelta(days=1), dt.time(0, 10)))
    got = _progress(client, login(client, "coordinator"), visits.programme).get_json()
    assert (got["totals"]["decisions_open"], got["totals"]["decisions_overdue"]) == (0, 2)
    by_inst = {r["institution"]: r["decisions_overdue"] for r in got["institutions"]}
    assert by_inst == {"DZCB": 1, "ICBC": 1, "PSBC": 0}


def _flat(report: dict) -> list[dict]:
    """The JSON as the export's rows (level, institution, visitor, figures)."""
    out = []
    for level, row in (
        [("total", report["totals"])]
        + [("institution", r) for r in report["institutions"]]
        + [("visitor", r) for r in report["visitors"]]
    ):
        flat = {k: v for k, v in row.items() if k not in ("outcomes", "name")}
        flat |= {f"outcome_{k}": v for k, v in row["outcomes"].items()}
        flat.setdefault("institution", None)
        flat.setdefault("visitor", None)
        out.append({"level": level} | flat)
    return out


def test_the_csv_export_is_one_table_equal_to_the_json_and_audited(
    clean_app, client, auth_as, visits, recorded
):
    headers = auth_as("coordinator")
    report = _progress(client, headers, visits.programme).get_json()
    resp = _progress(client, headers, visits.programme, "?format=csv")
    assert resp.status_code == 200
    assert resp.mimetype == "text/csv"
    assert resp.headers["Content-Disposition"] == (
        'attachment; filename="progress-SME-V-2027-06-10.csv"'
    )
    assert resp.data.startswith(b"\xef\xbb\xbf")
    table = list(csv.DictReader(io.StringIO(resp.data.decode("utf-8-sig"))))
    assert [r["level"] for r in table] == ["total"] + ["institution"] * 3 + ["visitor"] * 4
    assert table[1]["name"] == report["institutions"][0]["name"]
    numeric = {k for k in table[0] if k not in ("level", "institution", "name", "visitor")}
    back = [
        {k: (float(v) if k == "visited_share" else int(v)) if k in numeric else (v or None)
         for k, v in r.items() if k != "name"}
        for r in table
    ]  # fmt: skip
    assert back == _flat(report)
    with clean_app.app_context():
        entry = db.session.scalars(
            select(AuditEntry).where(AuditEntry.action == "progress_export")
        ).one()
        assert entry.details["programme"] == "SME-V"
        assert entry.details["format"] == "csv"
        assert entry.actor_name == "coordinator"


def test_the_xlsx_export_has_a_summary_and_a_sheet_per_level_equal_to_the_json(
    clean_app, client, auth_as, visits, recorded
):
    headers = auth_as("bank")
    report = _progress(client, headers, visits.programme).get_json()
    resp = _progress(client, headers, visits.programme, "?format=xlsx")
    assert resp.status_code == 200
    assert resp.mimetype.endswith("spreadsheetml.sheet")
    assert 'filename="progress-SME-V-2027-06-10.xlsx"' in resp.headers["Content-Disposition"]
    book = load_workbook(io.BytesIO(resp.data))
    assert book.sheetnames == ["汇总", "机构", "走访人"]
    summary = {r[0]: r[1] for r in book["汇总"].iter_rows(values_only=True) if r and r[0]}
    assert summary["项目"] == "SME-V"
    assert summary["名单企业数"] == report["totals"]["listed"] == 6
    assert summary["走访率"] == report["totals"]["visited_share"]
    assert summary["已匹配金额（元）"] == report["totals"]["matched_amount"]
    assert summary["转介数"] == 2

    institutions = list(book["机构"].iter_rows(values_only=True))
    assert institutions[0][:3] == ("机构代码", "机构名称", "名单企业数")
    assert [r[0] for r in institutions[1:]] == ["DZCB"]
    expected = _flat(report)
    as_dicts = []
    for sheet, level in (("机构", "institution"), ("走访人", "visitor")):
        header, *body = list(book[sheet].iter_rows(values_only=True))
        for values in body:
            row = dict(zip(header, values, strict=True))
            as_dicts.append(
                {
                    "level": level,
                    "institution": row["机构代码"],
                    "visitor": row.get("走访人"),
                    "listed": row["名单企业数"],
                    "visited": row["已走访企业数"],
                    "visited_share": row["走访率"],
                    "need_amount": row["融资需求金额（元）"],
                    "matched_amount": row["已匹配金额（元）"],
                    "decisions_open": row["待决定"],
                    "decisions_overdue": row["逾期未决定"],
                    "referrals_made": row["转介数"],
                    "referrals_converted": row["转介成功数"],
                    "outcome_follow_up": row["跟进服务（存量）"],
                    "outcome_renewal": row["续贷"],
                    "outcome_product_matched": row["匹配产品"],
                    "outcome_not_eligible_explained": row["不符合条件已解释"],
                    "outcome_no_need": row["无需求"],
                }
            )
    assert as_dicts == expected[1:]
    share = book["走访人"].cell(row=2, column=6)
    assert isinstance(share.value, float) and share.number_format == "0.00%"
    assert isinstance(book["机构"].cell(row=2, column=3).value, int)
    with clean_app.app_context():
        entry = db.session.scalars(
            select(AuditEntry).where(AuditEntry.action == "progress_export")
        ).one()
        assert (entry.details["format"], entry.actor_name) == ("xlsx", "bank")


def test_a_publicity_programme_has_no_visit_progress(client, auth_as, outreach):
    programme = client.get(f"{API}/programmes", headers=auth_as("coordinator")).get_json()
    publicity = [p for p in programme if p["kind"] != "visits"]
    assert publicity, "the outreach world has a publicity programme"
    resp = _progress(client, auth_as("coordinator"), publicity[0]["id"])
    assert resp.status_code == 422
    assert resp.get_json()["error"]["code"] == "not_visits_programme"
