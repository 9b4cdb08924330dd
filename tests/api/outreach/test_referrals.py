"""Referrals (转介): cards from a visit or a listed enterprise, their numbers, accepting and
the outcome, the referrer's points, the register, and who sees which card."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from gridserve.extensions import db
from gridserve.models import AuditEntry, OutreachEnterprise, OutreachReferral, OutreachVisit, User
from gridserve.services.accounts import users
from gridserve.services.outreach import referrals as referral_service
from tests.api.outreach.event_helpers import API, rows
from tests.clock import at_local, move_to
from tests.conftest import PASSWORD, login

REFERRALS = f"{API}/referrals"


@pytest.fixture(autouse=True)
def _in_the_visit_window(request) -> None:
    """Every test here runs on 1 June 2027, 10:00 local (in the visit window), at any hour."""
    move_to(at_local(dt.date(2027, 6, 1), dt.time(10, 0)))


def enterprise(visits, group: str, i: int = 0) -> int:
    return visits.enterprises[visits.codes[group][i]]


def user_id(app, username: str) -> int:
    with app.app_context():
        return db.session.execute(select(User.id).where(User.username == username)).scalar_one()


def make_visit(app, enterprise_id: int, outcome: str = "no_need") -> int:
    """An OutreachVisit row (what POST /outreach/visits writes), made directly."""
    with rows(app) as session:
        ent = session.get(OutreachEnterprise, enterprise_id)
        visit = OutreachVisit(
            programme_id=ent.programme_id, enterprise_id=ent.id,
            institution_id=ent.institution_id, area_id=ent.area_id,
            visited_at=dt.datetime(2027, 5, 20, 2, 0, tzinfo=dt.UTC),
            operating_status="normal", need_amount=500_000, need_term_months=12,
            need_purpose="周转", lender_ids=[], outcome=outcome, products=[], version=1,
        )  # fmt: skip
        session.add(visit)
        session.flush()
        return visit.id


def add_contact(app, username: str, institution_id: int, active: bool = True) -> int:
    with rows(app) as session:
        user = users.create_user(
            None,
            {"username": username, "password": PASSWORD, "role": "institution_contact",
             "institution_id": institution_id},
        )  # fmt: skip
        user.is_active = active
        session.flush()
        return user.id


def refer(client, headers, **body):
    return client.post(REFERRALS, json=body, headers=headers)


def created(client, headers, **body) -> dict:
    body = {"to_institution": "ICBC", "need": "流动资金贷款 50 万元"} | body
    resp = refer(client, headers, **body)
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()


def act(client, headers, card: int, action: str, **body):
    return client.post(f"{REFERRALS}/{card}/{action}", json=body, headers=headers)


def ok(resp, status: int = 200) -> dict:
    assert resp.status_code == status, resp.get_json()
    return resp.get_json()


def err(resp, status: int, code: str) -> dict:
    assert resp.status_code == status, resp.get_json()
    error = resp.get_json()["error"]
    assert error["code"] == code, error
    return error


def count(app) -> int:
    with app.app_context():
        return db.session.execute(select(func.count(OutreachReferral.id))).scalar_one()


def listed(client, headers, query: str = "") -> list[str]:
    got = client.get(f"{REFERRALS}?page_size=100{query}", headers=headers)
    return sorted(r["number"] for r in ok(got))


# --- creating --------------------------------------------------------------------------------


def test_a_bank_refers_a_listed_enterprise_and_gets_a_numbered_card(
    client, auth_as, visits, clean_app
) -> None:
    ent = enterprise(visits, "bank")
    card = created(
        client, auth_as("bank"), enterprise_id=ent, visit_id=None, note="客户希望尽快联系"
    )
    assert card["number"] == "ZJ-2027-000001"
    assert card["status"] == "sent"
    assert (card["from_institution"], card["from_user"]) == ("DZCB", "bank")
    assert (card["to_institution"], card["to_user"]) == ("ICBC", None)
    assert card["enterprise_id"] == ent and card["visit_id"] is None
    assert card["enterprise"]["credit_code"] == visits.codes["bank"][0]
    assert card["programme_id"] == visits.programme
    assert card["need"] == "流动资金贷款 50 万元" and card["note"] == "客户希望尽快联系"
    assert card["points"] == 0 and card["version"] == 1
    made = dt.datetime.fromisoformat(card["created_at"])  # the clock ticks: no exact minute
    assert made.utcoffset() == dt.timedelta(hours=8) and made.date() == dt.date(2027, 6, 1)
    with clean_app.app_context():
        assert card["area_id"] == db.session.get(OutreachEnterprise, ent).area_id
        audited = db.session.execute(
            select(AuditEntry).where(
                AuditEntry.entity == "outreach_referrals", AuditEntry.entity_id == str(card["id"])
            )
        ).scalars()
        assert [a.action for a in audited] == ["create"]
    again = ok(client.get(f"{REFERRALS}/{card['id']}", headers=auth_as("bank")))
    assert again == card


def test_a_referral_from_a_visit_names_the_visit_and_a_person_there(
    client, auth_as, visits, clean_app
) -> None:
    visit = make_visit(clean_app, enterprise(visits, "psbc", 1), outcome="not_eligible_explained")
    icbc = user_id(clean_app, "icbc")
    card = created(client, auth_as("other_bank"), visit_id=visit, to_user_id=icbc)
    assert card["visit_id"] == visit
    assert card["enterprise_id"] == enterprise(visits, "psbc", 1)
    assert (card["from_institution"], card["to_institution"], card["to_user"]) == (
        "PSBC", "ICBC", "icbc",
    )  # fmt: skip


def test_numbers_run_per_local_year_without_gaps_or_repeats(client, auth_as, visits) -> None:
    bank = auth_as("bank")
    ent = enterprise(visits, "bank")
    assert [created(client, bank, enterprise_id=ent)["number"] for _ in range(3)] == [
        "ZJ-2027-000001", "ZJ-2027-000002", "ZJ-2027-000003",
    ]  # fmt: skip
    # 31 December 23:30 local is still 2027; half past midnight is 2028 (still 31 Dec in UTC).
    move_to(at_local(dt.date(2027, 12, 31), dt.time(23, 30)))
    bank = login(client, "bank")  # a fresh token after the journey
    assert created(client, bank, enterprise_id=ent)["number"] == "ZJ-2027-000004"
    move_to(at_local(dt.date(2028, 1, 1), dt.time(0, 30)))
    assert created(client, bank, enterprise_id=ent)["number"] == "ZJ-2028-000001"
    assert created(client, bank, enterprise_id=ent)["number"] == "ZJ-2028-000002"


def test_a_number_taken_by_a_concurrent_request_is_read_again(
    client, auth_as, visits, clean_app, monkeypatch
) -> None:
    """Two requests that read the same highest number: the unique number settles it, the
    loser reads again and takes the next one (no duplicate, no 500)."""
    bank = auth_as("bank")
    first = created(client, bank, enterprise_id=enterprise(visits, "bank"))
    real = referral_service._last_number
    calls: list[int] = []

    def racing(year: int):
        calls.append(year)  # the first read was made before the first card was committed
        return None if len(calls) == 1 else real(year)

    monkeypatch.setattr(referral_service, "_last_number", racing)
    second = created(client, bank, enterprise_id=enterprise(visits, "bank", 1))
    assert (first["number"], second["number"]) == ("ZJ-2027-000001", "ZJ-2027-000002")
    assert calls == [2027, 2027]  # it lost the race for 000001 and read again
    assert count(clean_app) == 2


def test_bad_referrals_are_refused_and_store_nothing(client, auth_as, visits, clean_app) -> None:
    bank = auth_as("bank")
    ent = enterprise(visits, "bank")
    visit = make_visit(clean_app, ent)
    base = {"to_institution": "ICBC", "need": "贷款需求"}
    both = err(refer(client, bank, **base, enterprise_id=ent, visit_id=visit), 422,
               "validation_error")  # fmt: skip
    assert set(both["details"]["fields"]) == {"visit_id", "enterprise_id"}
    err(refer(client, bank, **base), 422, "validation_error")
    err(refer(client, bank, **base, visit_id=None, enterprise_id=None), 422, "validation_error")
    err(refer(client, bank, **base, enterprise_id="x"), 422, "validation_error")
    nul = refer(client, bank, enterprise_id=ent, to_institution="ICBC", need="贷款\u0000")
    assert err(nul, 422, "invalid_text")["details"]["field"] == "need"
    err(refer(client, bank, enterprise_id=ent, to_institution="ICBC", need="x" * 2001), 422,
        "validation_error")  # fmt: skip
    blank = err(refer(client, bank, enterprise_id=ent, to_institution="ICBC", need="   "), 422,
                "validation_error")  # fmt: skip
    assert "need" in blank["details"]["fields"]
    err(refer(client, bank, enterprise_id=ent, to_institution="ICBC"), 422, "validation_error")
    unknown = err(refer(client, bank, enterprise_id=ent, to_institution="NOPE", need="x"), 422,
                  "unknown_institution")  # fmt: skip
    assert unknown["details"]["codes"] == ["NOPE"]
    err(refer(client, bank, enterprise_id=ent, to_institution="DZCB", need="x"), 422,
        "same_institution")  # fmt: skip
    # to_user_id: a contact of another institution, not a contact, inactive, nobody.
    inactive = add_contact(clean_app, "icbc_left", visits.outreach.inst["ICBC"], active=False)
    for who in (user_id(clean_app, "other_bank"), user_id(clean_app, "coordinator"), inactive,
                999_999):  # fmt: skip
        err(refer(client, bank, **base, enterprise_id=ent, to_user_id=who), 422, "unknown_user")
    assert count(clean_app) == 0


def test_only_what_the_caller_sees_can_be_referred(client, auth_as, visits, clean_app) -> None:
    bank = auth_as("bank")
    base = {"to_institution": "PSBC", "need": "贷款需求"}
    err(refer(client, bank, **base, enterprise_id=enterprise(visits, "icbc")), 404, "not_found")
    err(refer(client, bank, **base, enterprise_id=999_999), 404, "not_found")
    other_visit = make_visit(clean_app, enterprise(visits, "icbc"))
    err(refer(client, bank, **base, visit_id=other_visit), 404, "not_found")
    assert count(clean_app) == 0


@pytest.mark.parametrize("role", ["worker_a", "coordinator", "station_a", "centre", "district"])
def test_only_contacts_and_admin_refer(client, auth_as, visits, clean_app, role) -> None:
    # an empty body: the role is refused before it is read
    err(client.post(REFERRALS, json={}, headers=auth_as(role)), 403, "forbidden_role")
    assert count(clean_app) == 0


def test_admin_refers_on_behalf_of_the_enterprises_institution(client, auth_as, visits) -> None:
    card = created(client, auth_as("admin"), enterprise_id=enterprise(visits, "icbc"),
                   to_institution="DZCB")  # fmt: skip
    assert (card["from_institution"], card["from_user"]) == ("ICBC", "admin")
    err(refer(client, auth_as("admin"), enterprise_id=enterprise(visits, "icbc"),
              to_institution="ICBC", need="x"), 422, "same_institution")  # fmt: skip


# --- accepting and the outcome ---------------------------------------------------------------


def test_the_receiver_accepts_then_converts_and_the_referrer_earns_the_points(
    client, auth_as, visits, clean_app, override_settings
) -> None:
    card = created(client, auth_as("bank"), enterprise_id=enterprise(visits, "bank"))
    icbc = auth_as("icbc")
    err(act(client, icbc, card["id"], "outcome", outcome="converted"), 409, "invalid_transition")
    accepted = ok(client.post(f"{REFERRALS}/{card['id']}/accept", headers=icbc))  # no body
    assert (accepted["status"], accepted["accepted_by"], accepted["version"]) == (
        "accepted", "icbc", 2,
    )  # fmt: skip
    at = dt.datetime.fromisoformat(accepted["accepted_at"])
    assert at.utcoffset() == dt.timedelta(hours=8) and at.date() == dt.date(2027, 6, 1)
    err(act(client, icbc, card["id"], "accept"), 409, "invalid_transition")
    with override_settings(outreach_referral_points=7):
        done = ok(act(client, icbc, card["id"], "outcome", outcome="converted", version=2))
    assert (done["status"], done["points"], done["outcome_by"]) == ("converted", 7, "icbc")
    assert done["outcome_at"].endswith("+08:00") and done["version"] == 3
    err(act(client, icbc, card["id"], "outcome", outcome="not_converted", care_note="x"), 409,
        "invalid_transition")  # fmt: skip
    # The sender sees the card's fate; the points stay what they were at conversion.
    seen = ok(client.get(f"{REFERRALS}/{card['id']}", headers=auth_as("bank")))
    assert (seen["status"], seen["points"]) == ("converted", 7)
    with clean_app.app_context():
        actions = db.session.execute(
            select(AuditEntry.action).where(
                AuditEntry.entity == "outreach_referrals", AuditEntry.entity_id == str(card["id"])
            ).order_by(AuditEntry.id)
        ).scalars().all()  # fmt: skip
    assert actions == ["create", "outreach_referral.accepted", "outreach_referral.converted"]


def test_the_default_points_are_ten(client, auth_as, visits) -> None:
    card = created(client, auth_as("bank"), enterprise_id=enterprise(visits, "bank"))
    ok(act(client, auth_as("icbc"), card["id"], "accept"))
    assert (
        ok(act(client, auth_as("icbc"), card["id"], "outcome", outcome="converted"))["points"] == 10
    )


def test_not_converted_needs_a_care_note_and_gives_no_points(client, auth_as, visits) -> None:
    card = created(client, auth_as("bank"), enterprise_id=enterprise(visits, "bank"))
    icbc = auth_as("icbc")
    ok(act(client, icbc, card["id"], "accept"))
    missing = err(act(client, icbc, card["id"], "outcome", outcome="not_converted"), 422,
                  "validation_error")  # fmt: skip
    assert "care_note" in missing["details"]["fields"]
    err(act(client, icbc, card["id"], "outcome", outcome="not_converted", care_note="  "), 422,
        "validation_error")  # fmt: skip
    err(act(client, icbc, card["id"], "outcome", outcome="lost"), 422, "validation_error")
    still = ok(client.get(f"{REFERRALS}/{card['id']}", headers=icbc))
    assert (still["status"], still["version"]) == ("accepted", 2)
    done = ok(act(client, icbc, card["id"], "outcome", outcome="not_converted",
                  care_note="已建立客户关怀卡，下月回访"))  # fmt: skip
    assert (done["status"], done["points"], done["care_note"]) == (
        "not_converted", 0, "已建立客户关怀卡，下月回访",
    )  # fmt: skip


def test_any_contact_of_the_receiver_may_accept_a_card_naming_a_colleague(
    client, auth_as, visits, clean_app
) -> None:
    add_contact(clean_app, "icbc_two", visits.outreach.inst["ICBC"])
    card = created(client, auth_as("bank"), enterprise_id=enterprise(visits, "bank"),
                   to_user_id=user_id(clean_app, "icbc"))  # fmt: skip
    colleague = login(client, "icbc_two")
    accepted = ok(act(client, colleague, card["id"], "accept"))
    assert (accepted["to_user"], accepted["accepted_by"]) == ("icbc", "icbc_two")


def test_the_sender_and_readers_may_not_act_for_the_receiver(
    client, auth_as, visits, clean_app
) -> None:
    card = created(client, auth_as("bank"), enterprise_id=enterprise(visits, "bank"))
    for action, body in (("accept", {}), ("outcome", {"outcome": "converted"})):
        err(act(client, auth_as("bank"), card["id"], action, **body), 403, "not_receiver")
        for role in ("coordinator", "station_a", "worker_a"):
            err(act(client, auth_as(role), card["id"], action, **body), 403, "forbidden_role")
        # A bank that is no party does not see the card at all.
        err(act(client, auth_as("other_bank"), card["id"], action, **body), 404, "not_found")
        err(act(client, auth_as("icbc"), 999_999, action, **body), 404, "not_found")
    assert ok(client.get(f"{REFERRALS}/{card['id']}", headers=auth_as("icbc")))["status"] == "sent"


def test_a_stale_version_is_refused(client, auth_as, visits) -> None:
    card = created(client, auth_as("bank"), enterprise_id=enterprise(visits, "bank"))
    icbc = auth_as("icbc")
    stale = err(act(client, icbc, card["id"], "accept", version=5), 409, "stale_version")
    assert stale["details"]["current_version"] == 1
    ok(act(client, icbc, card["id"], "accept", version=1))
    err(act(client, icbc, card["id"], "outcome", outcome="converted", version=1), 409,
        "stale_version")  # fmt: skip


def test_admin_may_accept_and_record_an_outcome(client, auth_as, visits) -> None:
    card = created(client, auth_as("bank"), enterprise_id=enterprise(visits, "bank"))
    admin = auth_as("admin")
    assert ok(act(client, admin, card["id"], "accept"))["accepted_by"] == "admin"
    assert ok(act(client, admin, card["id"], "outcome", outcome="converted"))["points"] == 10


# --- who sees which card ---------------------------------------------------------------------


@pytest.fixture
def cards(client, auth_as, visits) -> dict[str, str]:
    """Four cards by number (and `<name>_id`): DZCB→ICBC, ICBC→PSBC, PSBC→DZCB, DZCB→ABC."""
    made = {
        "dzcb_icbc": created(client, auth_as("bank"), enterprise_id=enterprise(visits, "bank")),
        "icbc_psbc": created(client, auth_as("icbc"), enterprise_id=enterprise(visits, "icbc"),
                             to_institution="PSBC"),
        "psbc_dzcb": created(client, auth_as("other_bank"),
                             enterprise_id=enterprise(visits, "psbc"), to_institution="DZCB"),
        "dzcb_abc": created(client, auth_as("bank"), enterprise_id=enterprise(visits, "cell"),
                            to_institution="ABC"),
    }  # fmt: skip
    return {k: v["number"] for k, v in made.items()} | {f"{k}_id": v["id"] for k, v in made.items()}  # type: ignore[return-value]


def test_a_bank_sees_the_cards_it_sent_or_received_and_no_other(
    client, auth_as, visits, cards
) -> None:
    c = cards
    assert listed(client, auth_as("bank")) == sorted(
        [c["dzcb_icbc"], c["psbc_dzcb"], c["dzcb_abc"]]
    )
    assert listed(client, auth_as("icbc")) == sorted([c["dzcb_icbc"], c["icbc_psbc"]])
    assert listed(client, auth_as("other_bank")) == sorted([c["icbc_psbc"], c["psbc_dzcb"]])
    assert listed(client, auth_as("abc")) == [c["dzcb_abc"]]
    assert listed(client, auth_as("coordinator")) == sorted(
        c[k] for k in ("dzcb_icbc", "icbc_psbc", "psbc_dzcb", "dzcb_abc")
    )
    # Direction relative to the caller's institution.
    assert listed(client, auth_as("bank"), "&direction=sent") == sorted(
        [c["dzcb_icbc"], c["dzcb_abc"]]
    )
    assert listed(client, auth_as("bank"), "&direction=received") == [c["psbc_dzcb"]]
    # Another bank's card is absent, whichever way it is asked for.
    err(client.get(f"{REFERRALS}/{c['icbc_psbc_id']}", headers=auth_as("bank")), 404, "not_found")
    err(client.get(f"{REFERRALS}/{c['dzcb_icbc_id']}", headers=auth_as("abc")), 404, "not_found")
    assert listed(client, auth_as("bank"), "&institution=ICBC&direction=sent") == []


def test_area_users_see_the_cards_of_their_area(client, auth_as, visits, clean_app, cards) -> None:
    with clean_app.app_context():
        areas = dict(
            db.session.execute(select(OutreachReferral.number, OutreachReferral.area_id)).all()
        )
    world = visits.outreach.field.world
    for user, area in (("station_a", world.community_a), ("station_b", world.community_b)):
        assert listed(client, auth_as(user)) == sorted(n for n, a in areas.items() if a == area)
    assert len(listed(client, auth_as("centre"))) == 4
    assert len(listed(client, auth_as("district"))) == 4
    err(client.get(REFERRALS, headers=auth_as("worker_a")), 403, "forbidden_role")
    err(client.get(f"{REFERRALS}/register", headers=auth_as("worker_a")), 403, "forbidden_role")
    err(client.get(f"{REFERRALS}/{cards['dzcb_icbc_id']}", headers=auth_as("worker_a")), 403,
        "forbidden_role")  # fmt: skip


def test_the_list_filters(client, auth_as, visits, cards) -> None:
    c = cards
    coordinator = auth_as("coordinator")
    assert listed(client, coordinator, "&institution=DZCB&direction=received") == [c["psbc_dzcb"]]
    assert listed(client, coordinator, "&institution=ICBC") == sorted(
        [c["dzcb_icbc"], c["icbc_psbc"]]
    )
    err(client.get(f"{REFERRALS}?direction=sent", headers=coordinator), 422, "validation_error")
    err(client.get(f"{REFERRALS}?institution=NOPE", headers=coordinator), 422,
        "unknown_institution")  # fmt: skip
    err(client.get(f"{REFERRALS}?direction=up", headers=coordinator), 422, "validation_error")
    ok(act(client, auth_as("icbc"), c["dzcb_icbc_id"], "accept"))
    assert listed(client, coordinator, "&status=accepted") == [c["dzcb_icbc"]]
    assert len(listed(client, coordinator, f"&programme={visits.programme}")) == 4
    assert listed(client, coordinator, f"&programme={visits.programme + 1000}") == []
    paged = client.get(f"{REFERRALS}?page_size=1", headers=coordinator)
    assert len(ok(paged)) == 1 and '"total":4' in paged.headers["X-Pagination"].replace(" ", "")


# --- the register ----------------------------------------------------------------------------


def test_the_register_counts_per_person_and_institution(
    client, auth_as, visits, clean_app, cards, override_settings
) -> None:
    c = cards
    icbc, bank = auth_as("icbc"), auth_as("bank")
    ok(act(client, icbc, c["dzcb_icbc_id"], "accept"))
    with override_settings(outreach_referral_points=7):
        ok(act(client, icbc, c["dzcb_icbc_id"], "outcome", outcome="converted"))
    ok(act(client, bank, c["psbc_dzcb_id"], "accept"))
    ok(act(client, bank, c["psbc_dzcb_id"], "outcome", outcome="not_converted", care_note="回访"))
    reg = ok(client.get(f"{REFERRALS}/register", headers=auth_as("coordinator")))
    people = {p["user"]: p for p in reg["people"]}
    zero = {"received": 0}
    assert people["bank"] == {"user": "bank", "institution": "DZCB", "sent": 2, "accepted": 1,
                              "converted": 1, "not_converted": 0, "points": 7} | zero  # fmt: skip
    assert people["other_bank"] == {"user": "other_bank", "institution": "PSBC", "sent": 1,
                                    "accepted": 1, "converted": 0, "not_converted": 1,
                                    "points": 0} | zero  # fmt: skip
    assert people["icbc"]["sent"] == 1 and people["icbc"]["points"] == 0
    assert reg["people"][0]["user"] == "bank"  # most points first
    insts = {i["institution"]: i for i in reg["institutions"]}
    assert insts["DZCB"] == {"institution": "DZCB", "name": "达州市商业银行", "sent": 2,
                             "received": 1, "accepted": 1, "converted": 1, "not_converted": 0,
                             "points": 7}  # fmt: skip
    assert (insts["ICBC"]["sent"], insts["ICBC"]["received"]) == (1, 1)
    assert (insts["ABC"]["sent"], insts["ABC"]["received"]) == (0, 1)
    assert (insts["PSBC"]["not_converted"], insts["PSBC"]["received"]) == (1, 1)
    # The register of a bank covers only its own cards.
    mine = ok(client.get(f"{REFERRALS}/register", headers=auth_as("abc")))
    assert [(i["institution"], i["sent"], i["received"]) for i in mine["institutions"]] == [
        ("DZCB", 1, 0), ("ABC", 0, 1),
    ]  # fmt: skip
    filtered = ok(client.get(f"{REFERRALS}/register?institution=PSBC",
                             headers=auth_as("coordinator")))  # fmt: skip
    assert {i["institution"] for i in filtered["institutions"]} == {"ICBC", "PSBC", "DZCB"}
    assert {p["user"] for p in filtered["people"]} == {"icbc", "other_bank"}


def test_the_register_names_the_person_a_card_is_addressed_to(
    client, auth_as, visits, clean_app
) -> None:
    created(client, auth_as("bank"), enterprise_id=enterprise(visits, "bank"),
            to_user_id=user_id(clean_app, "icbc"))  # fmt: skip
    reg = ok(client.get(f"{REFERRALS}/register?programme={visits.programme}",
                        headers=auth_as("icbc")))  # fmt: skip
    people = {p["user"]: p for p in reg["people"]}
    assert (people["icbc"]["received"], people["icbc"]["sent"]) == (1, 0)
    assert (people["bank"]["sent"], people["bank"]["received"]) == (1, 0)
    empty = ok(client.get(f"{REFERRALS}/register?programme={visits.programme + 1000}",
                          headers=auth_as("icbc")))  # fmt: skip
    assert empty == {"people": [], "institutions": []}
