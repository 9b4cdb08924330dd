"""The case categories of the sources (党建网格 必到、必报、必访) and everyday ones.

Deadlines per level: ``{"amount": n, "unit": "hours" | "working_days"}``. Safety hazards and
emergencies go to the street at once; must-report and must-attend classes need a station's
on-site verification before closing. Operators edit them later through the API; loading again
adds what is missing and changes nothing already there.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from gridserve.extensions import db
from gridserve.models import CaseCategory


def _h(amount: int) -> dict[str, Any]:
    return {"amount": amount, "unit": "hours"}


def _wd(amount: int) -> dict[str, Any]:
    return {"amount": amount, "unit": "working_days"}


URGENT = {"cell": _h(2), "community": _h(4), "street": _h(12), "district": _h(24)}
REPORT = {"cell": _h(24), "community": _wd(2), "street": _wd(3), "district": _wd(5)}
VISIT = {"cell": _wd(2), "community": _wd(3), "street": _wd(5), "district": _wd(10)}
EVERYDAY = {"cell": _wd(1), "community": _wd(3), "street": _wd(5), "district": _wd(10)}

# (code, name, English name, class, start level, deadlines, to the street at once,
#  needs verification)
CATEGORIES: list[tuple[str, str, str, str, str, dict, bool, bool]] = [
    ("emergency", "突发事件", "Emergency", "must_attend", "street", URGENT, True, True),
    ("accident", "意外事件", "Accident", "must_attend", "community", URGENT, False, True),
    ("neighbour_dispute", "邻里矛盾纠纷", "Neighbour dispute", "must_attend", "cell", REPORT,
     False, True),
    ("instability", "不稳定因素", "Instability", "must_report", "community", REPORT, False, True),
    ("safety_hazard", "安全隐患", "Safety hazard", "must_report", "street", URGENT, True, True),
    ("outsider_inflow", "外来人员流入", "Inflow of outsiders", "must_report", "cell", REPORT,
     False, False),
    ("public_facility_damage", "公共设施损坏", "Damaged public facility", "must_report", "cell",
     REPORT, False, True),
    ("illegal_building", "乱搭乱建", "Illegal building", "must_report", "community", REPORT,
     False, True),
    ("elderly_alone", "孤寡空巢老人", "Elderly living alone", "must_visit", "cell", VISIT, False,
     False),
    ("left_behind_child", "留守儿童", "Left-behind child", "must_visit", "cell", VISIT, False,
     False),
    ("hardship", "困难家庭", "Household in hardship", "must_visit", "cell", VISIT, False, False),
    ("special_group", "特殊人群", "Special group", "must_visit", "community", VISIT, False, False),
    ("sanitation", "环境卫生", "Sanitation", "everyday", "cell", EVERYDAY, False, False),
    ("roads_lights", "道路与路灯", "Roads and street lights", "everyday", "cell", EVERYDAY, False,
     True),
    ("noise", "噪声扰民", "Noise", "everyday", "cell", EVERYDAY, False, False),
    ("parking", "乱停乱放", "Parking", "everyday", "cell", EVERYDAY, False, False),
    ("other", "其他", "Other", "everyday", "cell", EVERYDAY, False, False),
]  # fmt: skip


def load_categories() -> int:
    """Add the categories that are missing (by code); the number added."""
    have = set(db.session.scalars(select(CaseCategory.code)))
    added = 0
    for position, (code, name, name_en, klass, start, deadlines, at_once, verify) in enumerate(
        CATEGORIES
    ):
        if code in have:
            continue
        db.session.add(
            CaseCategory(
                code=code,
                name=name,
                name_en=name_en,
                report_class=klass,
                start_level=start,
                deadlines=deadlines,
                to_street_at_once=at_once,
                needs_verification=verify,
                position=position,
            )
        )
        added += 1
    db.session.flush()
    return added
