"""The SME-finance month's publicity events on the demo street (宣传月启动仪式和宣传点).

Everything goes through the outreach services, so the demo obeys the same rules as the API:
the launch on 14 April 09:00-12:00 at the street's central square, hosted by the regulator with
all 11 banks; then 7 sites on 15 April 09:00-12:00 in seven communities, each led by a
different bank with the others co-organising. Rosters for most institutions (some below the
minimum, so readiness has something to show), one site plan approved, one returned, one
waiting for review; the SMS campaign linked. People and numbers are invented.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from shapely.geometry import Point
from sqlalchemy import select

from gridserve.extensions import db
from gridserve.models import Area, Institution, OutreachProgramme, Place, SmsCampaign, SmsChannel
from gridserve.scope import OPERATOR
from gridserve.services.accounts import institutions as inst_service
from gridserve.services.geography import areas as area_service
from gridserve.services.geography import places as place_service
from gridserve.services.outreach import events as event_service
from gridserve.services.outreach import lifecycle, plans, teams
from gridserve.services.outreach import programmes as programme_service
from gridserve.spatial import to_shapely

if TYPE_CHECKING:
    from seeds.loader import SeedReport

REGULATOR = "DZ-REG"
SQUARE_ID = "SQ-CENTRAL"
# Venue types for the sites, in order of preference (markets first: 人流量较大).
SITE_TYPES = ("market", "square", "school", "compound", "courtyard")
SITES = 7
SURNAMES = "赵钱孙李周吴郑王冯陈褚卫蒋沈韩杨朱秦尤许何吕施张孔曹严华金魏陶姜"
GIVEN = "明华强芳军丽静磊洋艳勇敏杰娟涛霞超平刚桂英斌燕鹏"
DUTIES = ("组长", "政策讲解", "咨询接待", "资料发放")


def programme_code(year: int) -> str:
    return f"SME-PUB-{year}"


def _person(n: int) -> str:
    return SURNAMES[(n * 7) % len(SURNAMES)] + GIVEN[(n * 13) % len(GIVEN)]


def _members(event_no: int, bank_no: int, size: int) -> list[dict[str, str]]:
    """``size`` invented people with phones unique to (event, institution, member)."""
    return [
        {
            "name": _person(event_no * 1000 + bank_no * 40 + k),
            "duty": DUTIES[min(k, len(DUTIES) - 1)],
            "phone": f"+86137{event_no:02d}{bank_no:02d}{k:04d}",
        }
        for k in range(size)
    ]


def _central_square(street_id: int, today: dt.date) -> Place:
    """The street's central square (中心广场), added to the register once."""
    found = db.session.scalar(select(Place).where(Place.external_id == SQUARE_ID))
    if found is not None:
        return found
    street = db.session.get(Area, street_id)
    centre: Point = to_shapely(street.geom).representative_point()
    row = place_service.Row(
        1,
        {
            "external_id": SQUARE_ID,
            "type": "square",
            "name": "青石中心广场",
            "lon": round(centre.x, 7),
            "lat": round(centre.y, 7),
            "extra": {},
        },
    )
    place_service.import_places(OPERATOR, street_id, [row], today)
    return db.session.scalar(select(Place).where(Place.external_id == SQUARE_ID))


def _site_venues(street_id: int, exclude_area: int) -> list[Place]:
    """One venue in each of seven communities (other than the square's), by type preference."""
    chosen: dict[int, Place] = {}
    for kind in SITE_TYPES:
        for place in db.session.scalars(
            select(Place)
            .where(Place.type == kind, Place.area_id != exclude_area)
            .order_by(Place.area_id, Place.id)
        ):
            chosen.setdefault(place.area_id, place)
            if len(chosen) == SITES:
                return sorted(chosen.values(), key=lambda p: p.area_id)
    return sorted(chosen.values(), key=lambda p: p.area_id)


def file_channel(inst: Institution) -> None:
    """An institution's demo SMS channel, once: the ``file`` gateway (JSON lines under the
    outbox path). Banks send their campaign texts through theirs; the regulator, organiser of
    the publicity month, its change notices."""
    exists = db.session.scalar(select(SmsChannel.id).where(SmsChannel.institution_id == inst.id))
    if exists is None:
        db.session.add(
            SmsChannel(
                institution_id=inst.id,
                gateway="file",
                signature=inst.short_name[:12],
                settings={"path": f"sms-outbox/{inst.code}.jsonl"},
                rate_per_second=50,
            )
        )


def load_outreach(report: SeedReport, today: dt.date, bank_order: list[str]) -> None:
    """The publicity month's programme and events, once (needs the place register)."""
    year = today.year + 1
    if db.session.scalar(
        select(OutreachProgramme.id).where(OutreachProgramme.code == programme_code(year))
    ):
        return
    street = area_service.find_by_code("QS")
    zone = area_service.zone_of(street.id)
    square = _central_square(street.id, today)
    file_channel(inst_service.find_by_code(REGULATOR))
    campaign = db.session.scalar(select(SmsCampaign).where(SmsCampaign.code.like("SME-MONTH-%")))
    programme = programme_service.create_programme(
        OPERATOR,
        {
            "code": programme_code(year),
            "name": f"{year}年小微企业金融服务宣传月",
            "kind": "publicity",
            "area_id": street.id,
            "start_date": dt.date(year, 4, 9),
            "end_date": dt.date(year, 4, 30),
            "organiser": REGULATOR,
            "institutions": bank_order,
            "plan_due_on": dt.date(year, 4, 6),
            "report_due_on": dt.date(year, 4, 30),
            "sms_campaign_ids": [campaign.id] if campaign is not None else [],
            "description": "启动仪式设在中心广场，各机构分设宣传点，牵头行负责现场方案。",
        },
    )

    def at(day: int, hour: int) -> dt.datetime:
        return dt.datetime(year, 4, day, hour, tzinfo=zone)

    launch = event_service.create_event(
        OPERATOR,
        programme.id,
        {
            "kind": "launch",
            "title": "小微企业金融服务宣传月启动仪式",
            "starts_at": at(14, 9),
            "ends_at": at(14, 12),
            "place_id": square.id,
            "venue_confirmed": True,
            "host": REGULATOR,
            "co_organisers": bank_order,
            "invited": "新区分管领导、街道办事处负责人；市电视台、达州日报记者（示例）",
        },
    )
    sites = []
    for n, (venue, lead) in enumerate(
        zip(_site_venues(street.id, square.area_id), bank_order, strict=False), start=1
    ):
        sites.append(
            event_service.create_event(
                OPERATOR,
                programme.id,
                {
                    "kind": "site",
                    "title": f"宣传点{n}：{venue.name or venue.type}",
                    "starts_at": at(15, 9),
                    "ends_at": at(15, 12),
                    "place_id": venue.id,
                    "venue_confirmed": n <= 4,
                    "lead": lead,
                    "invited": "社区负责人（示例）",
                },
            )
        )
    report.count("outreach events", 1 + len(sites))

    # Rosters: at the launch every bank fields a group (min 20); two fall short, one files none.
    codes = [REGULATOR, *bank_order]
    for b, code in enumerate(codes):
        if code == bank_order[-1]:
            continue  # no roster yet: readiness names it
        size = 12 if code in bank_order[7:9] else 20
        teams.set_roster(OPERATOR, launch.id, code, _members(0, b, size), boards=2)
    # Sites: the first three fully staffed (one team a member short at site 3), the rest only
    # their lead so far.
    for s, site in enumerate(sites, start=1):
        for b, code in enumerate(codes):
            if s > 3 and code != site.lead.code:
                continue
            size = 3 if (s == 3 and code == REGULATOR) else 4
            boards = 1 if (s == 2 and code == bank_order[-1]) else 2
            teams.set_roster(OPERATOR, site.id, code, _members(s, b, size), boards=boards)

    # Plans: site 1 approved, site 2 returned, site 3 waiting for review.
    for s, site in enumerate(sites[:3], start=1):
        plans.file_plan(
            OPERATOR,
            site.id,
            f"宣传点{s}现场方案：展板2块（1792mm×1172mm）、咨询台1张，"
            "9:00前完成布展，安排专人维持秩序并做好照片记录。",
        )
    plans.approve_plan(OPERATOR, sites[0].id, note="同意。")
    plans.return_plan(OPERATOR, sites[1].id, note="请补充安全保障和雨天备用方案。")

    # The life cycle: everything published; the launch and site 1 approved.
    published = [lifecycle.publish(OPERATOR, e.id, e.version) for e in [launch, *sites]]
    for event in published[:2]:
        lifecycle.approve(OPERATOR, event.id, event.version)
    report.count("outreach programmes")
