"""The SME visit programme of the current year on the demo street (小微企业走访).

Dates are relative to the seeding day, so the demo looks the same whenever it is seeded: the
list was fixed two months ago, the visit window runs from that day to a month ahead, the
summary is due in three weeks. 300 enterprises of the place register get invented (valid)
unified social credit codes and join the list through the list import, spread over the 11
banks (their demo contacts ``bank1``..``bank11``) and the cells' workers (``visitor: cell``,
every enterprise in worker1's and worker2's cells among them). Then, all in the past: visits
with every outcome (bank staff for the banks' rows, the cell's worker for the others), the
decisions product-matched visits call for (most taken, some still open within their due
date, exactly three overdue) and five referrals between banks (two converted).

The visits and referrals are written as rows that obey the API's rules (outcome fields,
``basics.decision_due_on``, referral points on conversion); one seeded RNG keeps it all
deterministic for a given seeding day. People, enterprises and codes are invented.
"""

from __future__ import annotations

import datetime as dt
import random
from typing import TYPE_CHECKING

from sqlalchemy import select
from stdnum.cn import uscc

from gridserve.config import settings
from gridserve.extensions import db
from gridserve.models import (
    Area,
    Assignment,
    OutreachDeliverable,
    OutreachEnterprise,
    OutreachProgramme,
    OutreachReferral,
    OutreachVisit,
    Place,
    User,
    Worker,
)
from gridserve.scope import OPERATOR, in_area
from gridserve.services.accounts import institutions as inst_service
from gridserve.services.geography import areas as area_service
from gridserve.services.geography.areas import zone_of
from gridserve.services.geography.places import Row, current_cells
from gridserve.services.outreach import deliverables as deliverable_service
from gridserve.services.outreach import enterprises as enterprise_service
from gridserve.services.outreach import programmes as programme_service
from gridserve.services.outreach import referrals as referral_service
from gridserve.services.outreach.basics import decision_due_on, institution_codes
from gridserve.services.outreach.enterprises import place_external_id
from gridserve.sync import next_seq

if TYPE_CHECKING:
    from seeds.loader import SeedReport

ORGANISER = "DZ-REG"
ENTERPRISES = 300
CELL_ROWS = 60  # listed for the cell's worker; the rest for the banks' contacts
VISITED_SHARE = 0.55
OVERDUE = 3  # product-matched visits whose decision is overdue
REFERRALS = 5
CONVERTED = 2
SEED = 13
INDUSTRIES = {
    "catering": "住宿和餐饮业",
    "construction": "建筑业",
    "education": "教育",
    "health": "卫生和社会工作",
    "logistics": "交通运输、仓储和邮政业",
    "manufacturing": "制造业",
    "retail": "批发和零售业",
    "services": "居民服务、修理和其他服务业",
    "technology": "信息传输、软件和信息技术服务业",
}
PRODUCTS = ("经营快贷", "税易贷", "小微易贷", "惠农e贷", "创业担保贷款", "流动资金贷款")
PURPOSES = ("购进原材料", "店面装修", "设备更新", "支付货款", "扩大经营", "季节性备货")
OUTCOMES = ("follow_up", "renewal", "product_matched", "not_eligible_explained", "no_need")
OUTCOME_WEIGHTS = (22, 14, 26, 13, 25)


def programme_code(year: int) -> str:
    return f"SME-VISITS-{year}"


def credit_code(n: int) -> str:
    """An invented unified social credit code, valid by GB 32100-2015's check character: the
    region ``510199`` and the organisation part ``DM…`` belong to no real company."""
    body = f"91510199DM{n:07d}"
    return body + uscc.calc_check_digit(body)


def _months_ago(today: dt.date, months: int) -> dt.date:
    month = today.month - months
    year = today.year + (month - 1) // 12
    month = (month - 1) % 12 + 1
    for day in (today.day, 30, 29, 28):
        try:
            return dt.date(year, month, day)
        except ValueError:
            continue
    raise AssertionError("unreachable")


def dates(today: dt.date) -> dict[str, dt.date]:
    """The programme's dates for a seeding day."""
    list_due = _months_ago(today, 2)
    visits_to = today + dt.timedelta(days=30)
    summary = today + dt.timedelta(days=21)
    return {
        "start_date": list_due - dt.timedelta(days=14),
        "end_date": max(visits_to, summary) + dt.timedelta(days=10),
        "list_due_on": list_due,
        "visits_from": list_due,
        "visits_to": visits_to,
        "summary_due_on": summary,
    }


def _holders(today: dt.date) -> dict[str, Worker]:
    """Cell code → the worker holding it today."""
    rows = db.session.execute(
        select(Assignment.cell_code, Worker)
        .join(Worker, Worker.id == Assignment.worker_id)
        .where(Assignment.starts_on <= today)
        .where((Assignment.ends_on.is_(None)) | (Assignment.ends_on >= today))
    ).all()
    return {code: worker for code, worker in rows}


def _choose_places(rng: random.Random, street: Area, own_cells: set[int]) -> list[Place]:
    """300 register enterprises of the street: every one in the named workers' cells, the rest
    drawn at random; in register order. Seeded again in a later year, the same enterprises
    (already holding their codes) are listed again."""
    ids = [place_external_id(credit_code(n)) for n in range(1, ENTERPRISES + 1)]
    coded = list(
        db.session.scalars(
            select(Place).where(Place.external_id.in_(ids)).order_by(Place.external_id)
        )
    )
    if len(coded) == ENTERPRISES:
        return coded
    candidates = list(
        db.session.scalars(
            select(Place)
            .where(Place.type == "enterprise", in_area(Place.area_id, street))
            .order_by(Place.id)
        )
    )
    chosen = [p for p in candidates if p.cell_id in own_cells][:CELL_ROWS]
    rest = [p for p in candidates if p.cell_id not in own_cells]
    chosen += rng.sample(rest, ENTERPRISES - len(chosen))
    return sorted(chosen, key=lambda p: p.id)


def load_visits(report: SeedReport, today: dt.date, bank_order: list[str]) -> None:
    """The visits programme, its list, visits, decisions and referrals, once (needs the
    register, the layout and the workers)."""
    code = programme_code(today.year)
    if db.session.scalar(select(OutreachProgramme.id).where(OutreachProgramme.code == code)):
        return
    rng = random.Random(SEED)
    street = area_service.find_by_code("QS")
    days = dates(today)
    programme = programme_service.create_programme(
        OPERATOR,
        {
            "code": code,
            "name": f"{today.year}年小微企业走访",
            "kind": "visits",
            "area_id": street.id,
            "organiser": ORGANISER,
            "institutions": bank_order,
            "description": "各银行包靠走访名单内小微企业，网格员走访所在网格企业；"
            "应贷尽贷、应贷快贷，不符合条件的做好解释和持续培育。",
            **days,
        },
    )
    holders = _holders(today)
    cells = {c.id: c.code for c in current_cells([a.id for a in street.children], today)}
    named = set(
        db.session.scalars(select(User.id).where(User.username.in_(["worker1", "worker2"])))
    )
    own_cells = {cid for cid, cc in cells.items() if cc in holders and holders[cc].user_id in named}
    places = _choose_places(rng, street, own_cells)
    own = {p.id for p in places if p.cell_id in own_cells}
    others = [p.id for p in places if p.id not in own and p.cell_id is not None]
    cell_rows = own | set(rng.sample(others, CELL_ROWS - len(own)))

    # Give the chosen register enterprises their credit codes, then list them by import.
    seq = next_seq()
    rows: list[Row] = []
    communities = {a.id: a.name for a in street.children}
    for n, place in enumerate(places, start=1):
        uscc_code = credit_code(n)
        place.external_id = place_external_id(uscc_code)
        place.attributes = {**(place.attributes or {}), "credit_code": uscc_code}
        place.change_seq = seq
        bank = (n - 1) % len(bank_order)
        rows.append(
            Row(
                n,
                {
                    "credit_code": uscc_code,
                    "name": place.name or f"演示企业{n:03d}",
                    "address": f"青石街道{communities.get(place.area_id, '')}{n}号",
                    "industry": INDUSTRIES.get((place.attributes or {}).get("industry"), "其他"),
                    "institution": bank_order[bank],
                    "visitor": "cell" if place.id in cell_rows else f"bank{bank + 1}",
                },
            )
        )
    db.session.flush()
    result = enterprise_service.import_enterprises(OPERATOR, programme.id, rows, today)
    if result["rejected"]:
        report.notes.append(f"{len(result['rejected'])} demo list rows were rejected")
    report.count("listed enterprises", result["created"])
    _visit(rng, programme, today, holders, cells, bank_order)
    _hand_in_lists(programme, bank_order)
    report.count("outreach programmes")


def _hand_in_lists(programme: OutreachProgramme, bank_order: list[str]) -> None:
    """The programme's deliverables as the reminder job derives them, with the banks' visit
    lists handed in: all but the last two on time (one to five days early, 16:00 local),
    the last but one two days late, the last still missing; the summaries are pending."""
    deliverable_service.derive(programme)
    contacts = dict(
        db.session.execute(
            select(User.institution_id, User.id).where(
                User.username.in_([f"bank{n + 1}" for n in range(len(bank_order))])
            )
        ).all()
    )
    lists = db.session.scalars(
        select(OutreachDeliverable)
        .where(
            OutreachDeliverable.programme_id == programme.id,
            OutreachDeliverable.kind == "visit_list",
        )
        .order_by(OutreachDeliverable.id)
    ).all()
    order = {code: n for n, code in enumerate(bank_order)}
    codes = institution_codes(d.owner_institution_id for d in lists)
    zone = zone_of(programme.area_id)
    for d in lists:
        n = order[codes[d.owner_institution_id]]
        if n == len(bank_order) - 1:
            continue  # missing
        day = d.due_on + dt.timedelta(days=2 if n == len(bank_order) - 2 else -(1 + n % 5))
        d.submitted_at = dt.datetime.combine(day, dt.time(16, 0), tzinfo=zone).astimezone(dt.UTC)
        d.submitted_by = contacts.get(d.owner_institution_id)


def _visited_at(rng: random.Random, programme: OutreachProgramme, today: dt.date) -> dt.datetime:
    """A working-hours moment on a past day of the window (never today: always in the past,
    whatever the hour of seeding)."""
    zone = area_service.zone_of(programme.area_id)
    span = (today - programme.visits_from).days  # type: ignore[operator]
    day = today - dt.timedelta(days=rng.randint(1, span))
    return dt.datetime.combine(
        day, dt.time(rng.randint(9, 16), rng.choice((0, 15, 30, 45))), tzinfo=zone
    ).astimezone(dt.UTC)


def _visit(
    rng: random.Random,
    programme: OutreachProgramme,
    today: dt.date,
    holders: dict[str, Worker],
    cells: dict[int, str],
    bank_order: list[str],
) -> None:
    listed = list(
        db.session.scalars(
            select(OutreachEnterprise)
            .where(OutreachEnterprise.programme_id == programme.id)
            .order_by(OutreachEnterprise.id)
        )
    )
    banks = [inst_service.find_by_code(c).id for c in bank_order]  # type: ignore[union-attr]
    contacts = {
        u.institution_id: u
        for u in db.session.scalars(
            select(User).where(User.username.like("bank%")).order_by(User.id)
        )
    }
    places = {
        p.id: p
        for p in db.session.scalars(select(Place).where(Place.id.in_([e.place_id for e in listed])))
    }
    visited = rng.sample(listed, round(len(listed) * VISITED_SHARE))
    visits: list[OutreachVisit] = []
    for k, enterprise in enumerate(sorted(visited, key=lambda e: e.id)):
        outcome = OUTCOMES[k] if k < len(OUTCOMES) else rng.choices(OUTCOMES, OUTCOME_WEIGHTS)[0]
        at = _visited_at(rng, programme, today)
        worker = None
        visitor = contacts.get(enterprise.institution_id)
        if enterprise.visitor_is_cell:
            worker = holders.get(cells.get(places[enterprise.place_id].cell_id or 0, ""))
            visitor = db.session.get(User, worker.user_id) if worker and worker.user_id else None
        other = [i for i in banks if i != enterprise.institution_id]
        visit = OutreachVisit(
            programme_id=programme.id,
            enterprise_id=enterprise.id,
            institution_id=enterprise.institution_id,
            area_id=enterprise.area_id,
            visited_at=at,
            visitor_user_id=visitor.id if visitor else None,
            worker_id=worker.id if worker else None,
            recorded_by=visitor.id if visitor else None,
            operating_status=rng.choices(("normal", "difficult", "suspended"), (80, 17, 3))[0],
            outcome=outcome,
            version=1,
            created_at=at,
            **_fields(rng, outcome, enterprise.institution_id, other, at, programme),
        )
        db.session.add(visit)
        enterprise.status = "visited"
        enterprise.version += 1
        visits.append(visit)
    db.session.flush()
    _decide(rng, visits, today, contacts)
    _refer(rng, programme, visits, contacts)


def _fields(
    rng: random.Random,
    outcome: str,
    own: int,
    others: list[int],
    at: dt.datetime,
    programme: OutreachProgramme,
) -> dict:
    """The outcome's fields, as ``POST /outreach/visits`` requires them."""
    amount = rng.randrange(5, 300) * 10_000
    need = {
        "need_amount": amount,
        "need_term_months": rng.choice((6, 12, 24, 36)),
        "need_purpose": rng.choice(PURPOSES),
    }
    day = at.astimezone(area_service.zone_of(programme.area_id)).date()
    follow = day + dt.timedelta(days=30)
    if outcome == "follow_up":
        return {
            **need,
            "lender_ids": [own],
            "eligible": True,
            "next_step": "按期跟进用款情况",
            "next_step_due_on": follow,
            "notes": "存量客户，经营正常，不抽贷不断贷。",
        }
    if outcome == "renewal":
        return {
            **need,
            "lender_ids": [own, *rng.sample(others, 1)],
            "eligible": True,
            "next_step": "办理无还本续贷",
            "next_step_due_on": follow,
        }
    if outcome == "product_matched":
        return {
            **need,
            "lender_ids": [],
            "eligible": True,
            "products": rng.sample(PRODUCTS, rng.randint(1, 2)),
            "next_step": "收集资料，提交审批",
            "next_step_due_on": day + dt.timedelta(days=7),
            "decision_due_on": decision_due_on(at, programme.area_id),
        }
    if outcome == "not_eligible_explained":
        return {
            **need,
            "lender_ids": [],
            "eligible": False,
            "explanation": "成立未满一年、流水不足，已解释准入条件，纳入培育名单。",
            "next_step": "三个月后回访",
            "next_step_due_on": day + dt.timedelta(days=90),
        }
    return {
        "need_amount": 0,
        "need_term_months": None,
        "need_purpose": "",
        "lender_ids": [],
        "eligible": None,
        "notes": "暂无融资需求，已留存联系方式。",
    }


def _decide(
    rng: random.Random, visits: list[OutreachVisit], today: dt.date, contacts: dict[int, User]
) -> None:
    """Past-due decisions are taken, except exactly :data:`OVERDUE` of them; decisions not
    yet due stay open."""
    matched = [v for v in visits if v.outcome == "product_matched"]
    past_due = [v for v in matched if v.decision_due_on < today]  # type: ignore[operator]
    overdue = set(map(id, rng.sample(past_due, min(OVERDUE, len(past_due)))))
    for visit in past_due:
        if id(visit) in overdue:
            continue
        decision = rng.choices(("approved", "rejected", "withdrawn"), (70, 20, 10))[0]
        visit.decision = decision
        visit.decision_reason = {
            "approved": "符合准入条件，已审批放款。",
            "rejected": "担保条件不足，建议补充抵押后重新申请。",
            "withdrawn": "企业资金需求已通过自有资金解决，主动撤回。",
        }[decision]
        days_ago = (today - visit.visited_at.date()).days
        after = rng.randint(1, max(1, min(10, days_ago - 1)))
        visit.decided_at = visit.visited_at + dt.timedelta(days=after)
        visit.decided_by = contacts[visit.institution_id].id
        visit.version += 1


def _refer(
    rng: random.Random,
    programme: OutreachProgramme,
    visits: list[OutreachVisit],
    contacts: dict[int, User],
) -> None:
    """Five referrals from visits whose need the visiting bank could not serve: two converted
    (the referrer's points), one accepted, two waiting."""
    points = settings().outreach_referral_points
    candidates = sorted(
        (v for v in visits if v.outcome == "not_eligible_explained" and v.visitor_user_id),
        key=lambda v: v.visited_at,
    )[:REFERRALS]
    statuses = ("converted", "converted", "accepted", "sent", "sent")
    banks = sorted(contacts)
    for n, (visit, status) in enumerate(zip(candidates, statuses, strict=False), start=1):
        to = banks[(banks.index(visit.institution_id) + 1 + n) % len(banks)]
        accepted = visit.visited_at + dt.timedelta(days=1)
        created = visit.visited_at + dt.timedelta(hours=2)
        referral = OutreachReferral(
            number=referral_service.next_number(referral_service.year_of(created, visit.area_id)),
            programme_id=programme.id,
            enterprise_id=visit.enterprise_id,
            visit_id=visit.id,
            area_id=visit.area_id,
            from_institution_id=visit.institution_id,
            from_user_id=visit.visitor_user_id,
            to_institution_id=to,
            to_user_id=contacts[to].id,
            need=f"{visit.need_purpose}，需资金{(visit.need_amount or 0) // 10_000}万元，"
            f"期限{visit.need_term_months}个月",
            note="本行暂无适配产品，转介贵行对接。",
            status=status,
            version=1,
            created_at=created,
        )
        if status != "sent":
            referral.accepted_at, referral.accepted_by = accepted, contacts[to].id
        if status == "converted":
            referral.outcome_at = accepted + dt.timedelta(days=rng.randint(1, 3))
            referral.outcome_by = contacts[to].id
            referral.care_note = "已对接授信，企业满意。"
            referral.points = points
        db.session.add(referral)
        db.session.flush()  # the next card's number counts this one
