"""``gridserve seed demo``: the invented demo street, the institutions, one user per role.

Idempotent: every row is looked up by its natural key (area code, institution
code, username) and only created when missing, so re-running changes nothing.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from flask import current_app
from geoalchemy2.shape import from_shape
from shapely.geometry import MultiPolygon, shape
from sqlalchemy import insert, select

from gridserve.db import utcnow
from gridserve.extensions import db
from gridserve.models import (
    Place,
    SmsCampaign,
    SmsRecipient,
    SmsSender,
    SmsText,
    Worker,
)
from gridserve.scope import OPERATOR
from gridserve.services.accounts import institutions as inst_service
from gridserve.services.accounts import users as user_service
from gridserve.services.field import households as household_service
from gridserve.services.field import workers as worker_service
from gridserve.services.geography import areas as area_service
from gridserve.services.geography import grid as grid_service
from gridserve.services.geography import grid_workflow
from gridserve.services.geography import places as place_service
from gridserve.services.geography.places import current_cells
from gridserve.services.sms import numbers as sms_numbers
from gridserve.timeutil import local_today
from seeds.assessment import load_assessment
from seeds.case_categories import load_categories
from seeds.cases import load_cases
from seeds.outreach import file_channel, load_outreach
from seeds.visits import load_visits

SEEDS = Path(__file__).resolve().parent
DEMO = SEEDS / "demo"
REFERENCE = SEEDS / "reference"


@dataclass
class SeedReport:
    created: dict[str, int] = field(default_factory=dict)
    password: str | None = None
    password_file: Path | None = None
    notes: list[str] = field(default_factory=list)

    def count(self, kind: str, n: int = 1) -> None:
        self.created[kind] = self.created.get(kind, 0) + n

    def lines(self) -> list[str]:
        made = ", ".join(f"{n} {kind}" for kind, n in self.created.items() if n) or "nothing"
        out = [f"demo data: created {made}"]
        out += self.notes
        if self.password:
            out.append(f"demo users' password: {self.password}")
            if self.password_file:
                out.append(f"(also saved to {self.password_file}, readable by you only)")
        return out


def _multipolygon(geometry: dict) -> MultiPolygon:
    geom = shape(geometry)
    return geom if isinstance(geom, MultiPolygon) else MultiPolygon([geom])


def load_areas(report: SeedReport, path: Path = DEMO / "areas.geojson") -> None:
    features = json.loads(path.read_text(encoding="utf-8"))["features"]
    order = {"district": 0, "street": 1, "community": 2}
    for feat in sorted(
        features, key=lambda f: (order[f["properties"]["level"]], f["properties"]["code"])
    ):
        props = feat["properties"]
        if area_service.find_by_code(props["code"]) is not None:
            continue
        parent = (
            area_service.find_by_code(props["parent_code"]) if props.get("parent_code") else None
        )
        area_service.add_area(
            code=props["code"],
            name=props["name"],
            name_en=props.get("name_en"),
            level=props["level"],
            parent=parent,
            geom=from_shape(_multipolygon(feat["geometry"]), srid=4326),
        )
        report.count("areas")


def load_institutions(report: SeedReport, path: Path = REFERENCE / "institutions.csv") -> None:
    with path.open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            if inst_service.find_by_code(row["code"]) is not None:
                continue
            inst_service.create_institution(
                OPERATOR,
                {
                    "code": row["code"],
                    "name": row["name"],
                    "short_name": row["short_name"],
                    "name_en": row["name_en"],
                    "level": row["level"],
                    "kind": row["kind"],
                    "aliases": [a for a in row["aliases"].split("|") if a],
                    "contacts": [
                        {
                            "name": row["contact_name"],
                            "title": row["contact_title"],
                            "phone": row["contact_phone"],
                        }
                    ],
                },
            )
            report.count("institutions")


# (username, role, area code or institution code, full name)
DEMO_USERS: list[tuple[str, str, str, str]] = [
    ("admin", "admin", "XQ", "系统管理员"),
    ("district", "district_centre", "XQ", "新区监管中心值班员"),
    ("centre", "street_centre", "QS", "街道网格中心值班员"),
    ("coordinator", "coordinator", "XQ", "统计信息处协调员"),
    ("station1", "station", "QS01", "一号社区工作站"),
    ("station2", "station", "QS02", "二号社区工作站"),
    ("worker1", "worker", "QS01", "网格员甲"),
    ("worker2", "worker", "QS02", "网格员乙"),
]
# bank1..bank11 follow the SMS order of the SME-finance month (农发行 first).
BANK_ORDER = ["ADBC", "ICBC", "ABC", "BOC", "CCB", "PSBC", "HFB", "DZCB", "DZRCU", "XHCM", "DZLY"]
DEMO_USERS += [
    (f"bank{i}", "institution_contact", code, f"{code} 联系人")
    for i, code in enumerate(BANK_ORDER, start=1)
]
DEMO_USERS.append(("regulator", "institution_contact", "DZ-REG", "分局联系人"))
# The department the street dispatches cases to (seeds/cases.py).
DEMO_USERS.append(("dept1", "institution_contact", "CGJ-DEMO", "城管局值班员"))


def _demo_password(report: SeedReport, given: str | None) -> str:
    if given:
        return given
    password = secrets.token_urlsafe(12)
    report.password = password
    path = Path(current_app.instance_path) / "demo-password"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(password + "\n")
    path.chmod(0o600)
    report.password_file = path
    return password


def load_users(report: SeedReport, password: str | None, reset_passwords: bool) -> None:
    missing = [u for u in DEMO_USERS if user_service.find_by_username(u[0]) is None]
    if not missing and not reset_passwords:
        report.notes.append("demo users exist; their password is unchanged (--reset-passwords)")
        return
    secret = _demo_password(report, password)
    for username, role, node, full_name in DEMO_USERS:
        user = user_service.find_by_username(username)
        if user is not None:
            if reset_passwords:
                user_service.set_password(user, secret)
                report.count("passwords reset")
            continue
        bound: dict[str, int | None] = {"area_id": None, "institution_id": None}
        if role == "institution_contact":
            bound["institution_id"] = inst_service.find_by_code(node).id  # type: ignore[union-attr]
        else:
            bound["area_id"] = area_service.find_by_code(node).id  # type: ignore[union-attr]
        user_service.create_user(
            None,
            {"username": username, "password": secret, "role": role, "full_name": full_name}
            | bound,
        )
        report.count("users")


STREET = "QS"
DEMO_CELLS = 140


def load_places(report: SeedReport, today: dt.date, path: Path = DEMO / "places.csv") -> None:
    """The demo register (about 30,000 households and 1,900 other places), once."""
    street = area_service.find_by_code(STREET)
    if place_service.count_places(street) > 0:
        return
    rows = place_service.rows_from_csv(path.read_text(encoding="utf-8"))
    result = place_service.import_places(OPERATOR, street.id, rows, today)
    report.count("places", result["created"])
    if result["rejected"]:
        report.notes.append(f"{len(result['rejected'])} demo places were rejected")


def load_layout(report: SeedReport, today: dt.date) -> None:
    """A balanced 140-cell layout of the demo street, approved and in force from today."""
    street = area_service.find_by_code(STREET)
    if grid_service.active_plan(street.id) is not None:
        return
    plan = grid_service.create_plan(
        OPERATOR, street.id, {"method": "balanced", "cells": DEMO_CELLS, "name": "演示网格"}, today
    )
    grid_workflow.propose(OPERATOR, plan.id, "demo layout")
    grid_workflow.approve(OPERATOR, plan.id, "demo layout")
    grid_workflow.activate(OPERATOR, plan.id, today, today)
    report.count("grid cells", len(plan.cells))
    report.notes.append(
        f"grid layout: {len(plan.cells)} cells, balance ratio {plan.metrics['balance_ratio']}"
    )


SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶"
    "程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾"
)
GIVEN = (
    "伟",
    "芳",
    "娜",
    "敏",
    "静",
    "丽",
    "强",
    "磊",
    "军",
    "洋",
    "勇",
    "艳",
    "杰",
    "娟",
    "涛",
    "明",
    "超",
    "秀英",
    "霞",
    "平",
    "刚",
    "桂英",
    "建华",
    "文",
    "玉兰",
    "晓东",
)


def _invented_name(i: int) -> str:
    return SURNAMES[(i * 7) % len(SURNAMES)] + GIVEN[(i * 11) % len(GIVEN)]


def _invented_id(i: int) -> str:
    first17 = f"510104{1970 + i % 30}{1 + i % 12:02d}{1 + i % 28:02d}{100 + i % 900:03d}"
    return first17 + household_service.id_check_digit(first17)


def load_field(report: SeedReport, today: dt.date) -> None:
    """One invented worker per cell in force, worker1/worker2 among them; a few households."""
    if db.session.execute(select(Worker.id).limit(1)).first() is not None:
        return
    street = area_service.find_by_code(STREET)
    communities = sorted(street.children, key=lambda c: c.code)
    accounts = {
        "QS01": user_service.find_by_username("worker1"),
        "QS02": user_service.find_by_username("worker2"),
    }
    n = 0
    for community in communities:
        for k, cell in enumerate(current_cells([community.id], today)):
            account = accounts.get(community.code) if k == 0 else None
            worker = worker_service.create_worker(
                OPERATOR,
                {
                    "area_id": community.id,
                    "full_name": account.full_name if account else _invented_name(n),
                    "user_id": account.id if account else None,
                    "employment": "full_time" if n % 5 else "part_time",
                    "source_pool": "社区公开招聘" if n % 3 else "公益性岗位",
                    "phone": f"1390000{n:04d}",
                    "hired_on": dt.date(2024, 1 + n % 12, 1 + n % 28),
                },
            )
            worker_service.assign(OPERATOR, worker.id, cell.code, today, today)
            n += 1
            if account is not None:
                _register_households(report, cell, today)
    report.count("workers", n)


def _register_households(report: SeedReport, cell, today: dt.date) -> None:
    places = db.session.execute(
        select(Place)
        .where(Place.cell_id == cell.id, Place.type == "household")
        .order_by(Place.id)
        .limit(40)
    ).scalars()
    for i, place in enumerate(places):
        household_service.create_household(
            OPERATOR,
            {
                "place_id": place.id,
                "door_number": place.name or f"{i + 1}号",
                "address": f"青石街道{place.name or ''}",
                "phone": f"1380000{place.id % 10000:04d}",
                "id_number": _invented_id(place.id),
                "members": [
                    {"name": _invented_name(place.id), "relation": "户主", "work_unit": "个体经营"},
                    {
                        "name": _invented_name(place.id + 1),
                        "relation": "配偶",
                        "work_unit": "街道超市",
                    },
                ],
            },
            today,
        )
        report.count("households")


MANDATED = (
    "服务实体经济,助力小微企业,实现银企共赢发展。——达州银行业小微企业金融服务宣传月活动领导小组宣"
)
SLOGANS = {
    "ADBC": "农发行支持乡村振兴,助力小微企业发展。",
    "ICBC": "工行小微贷款,线上申请,快速到账。",
    "ABC": "农行惠农e贷,服务三农和小微企业。",
    "BOC": "中行普惠金融,与小微企业共成长。",
    "CCB": "建行惠懂你,小微企业融资好帮手。",
    "PSBC": "邮储银行小微易贷,贷款更便捷。",
    "HFB": "恒丰银行,做小微企业的贴心伙伴。",
    "DZCB": "达商行扎根本土,服务地方小微企业。",
    "DZRCU": "农信社助力小微,金融服务进万家。",
    "XHCM": "诚民村镇银行,服务县域小微企业。",
    "DZLY": "隆源村镇银行,小微金融就在身边。",
}


DEMO_RECIPIENTS = 300
SHARED_RECIPIENTS = 50  # customers of every bank: they get one text from each, a day apart


def demo_recipients(position: int) -> list[str]:
    """Invented mobile numbers (the 139 00 range) for the sender at ``position``."""
    shared = [f"+8613900{n:06d}" for n in range(SHARED_RECIPIENTS)]
    own = [f"+86139{position:02d}{n:06d}" for n in range(DEMO_RECIPIENTS - SHARED_RECIPIENTS)]
    return shared + own


def load_campaign(report: SeedReport) -> None:
    """The SME-finance month's SMS rotation: 11 senders, one a day, 9-19 April next year."""
    if db.session.execute(select(SmsCampaign.id).limit(1)).first() is not None:
        return
    year = local_today().year + 1
    district = area_service.find_by_code("XQ")
    campaign = SmsCampaign(
        code=f"SME-MONTH-{year}",
        name="小微企业金融服务宣传月短信",
        area_id=district.id,
        start_date=dt.date(year, 4, 9),
        end_date=dt.date(year, 4, 30),
        rounds=1,
        policy="shift",
        leading_group="小微金融宣传月领导小组",  # the mandated text's 【signature】
    )
    db.session.add(campaign)
    for position, code in enumerate(BANK_ORDER, start=1):
        inst = inst_service.find_by_code(code)
        campaign.senders.append(SmsSender(institution_id=inst.id, position=position))
        file_channel(inst)
    db.session.flush()
    mandated = SmsText(campaign_id=campaign.id, body=MANDATED, status="approved", locked=True)
    db.session.add(mandated)
    for sender in campaign.senders:
        code = BANK_ORDER[sender.position - 1]
        db.session.add(
            SmsText(
                campaign_id=campaign.id, sender_id=sender.id, body=SLOGANS[code], status="approved"
            )
        )
    db.session.flush()
    hasher = sms_numbers.hasher()
    for sender in campaign.senders:
        db.session.execute(
            insert(SmsRecipient.__table__),
            [
                {
                    "sender_id": sender.id,
                    **hasher.stored(p),
                    "source": "csv",
                    "created_at": utcnow(),
                }
                for p in demo_recipients(sender.position)
            ],
        )
        report.count("sms recipients", DEMO_RECIPIENTS)
    report.count("sms campaigns")


def load_demo(
    password: str | None = None,
    reset_passwords: bool = False,
    today: dt.date | None = None,
    *,
    register: bool = True,
) -> SeedReport:
    """Load everything; the caller owns the transaction.

    ``register=False`` leaves out the place register and the grid layout (the
    slow part), for tests about the rest.
    """
    report = SeedReport()
    today = today or local_today()
    load_areas(report)
    load_institutions(report)
    load_users(report, password, reset_passwords)
    load_campaign(report)
    added = load_categories()  # the sources' case categories (again: nothing added)
    if added:
        report.count("case categories", added)
    if register:
        load_places(report, today)
        load_layout(report, today)
        load_field(report, today)
        load_outreach(report, today, BANK_ORDER)
        load_visits(report, today, BANK_ORDER)
        load_cases(report, today)
        load_assessment(report, today)
    return report
