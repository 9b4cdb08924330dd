"""The reference scorecard templates: grid workers, community stations, bank branches.

- ``grid_worker`` (网格员考核): the station's 查、访、问、看、听 plus residents' ratings —
  patrol coverage (查), household and SME visits against 20 a cell-month (访), the register's
  completeness (问: 三知道二清楚一掌握), cases settled on time (看), residents' satisfaction
  (听), uploads not flagged, and the station's spot check (entered by the station).
- ``community_station`` (网格服务站考核): the same figures over the community, cases verified,
  and the street centre's review (entered by the street centre).
- ``bank_branch`` (网点服务营销竞赛): the branch competition of
  ``reference/service-scorecards.zh.txt``: 100 points in three groups — service quality 40
  (the mystery-shopper average of four checks /100 × 20, entered; the customer satisfaction
  survey /100 × 20, entered), capability 20 and results 40 (own ratio ÷ all branches' ratio
  × weight × 80 %, at most 1.2 × the weight). The source counts nine items: the eight scored
  lines and its deduction item — 1 point off per serious complaint or negative media report,
  3 in a period disqualify from awards. The system holds the outreach figures (events held,
  reports on time, listed enterprises visited, decisions on time); the banking figures it does
  not hold (VIP customer and savings growth) are entered by the coordinator, as scores /100.
  Bands 93 / 85 / 75, as the sources' quarterly appraisal.

:func:`load_templates` adds the templates that are missing (by code) through the templates
service, so each is checked like one made through the API; loading again changes nothing.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from gridserve.extensions import db
from gridserve.models import AssessmentTemplate
from gridserve.scope import OPERATOR, Principal
from gridserve.services.assessment import templates as template_service

BANDS = {"excellent": 93, "good": 85, "pass": 75}


def _computed(code: str, name: str, group: str, weight: int, metric: str, **rule: Any) -> dict:
    return {"code": code, "name": name, "group": group, "weight": weight,
            "source": "computed", "metric": metric, "scoring": rule.pop("scoring", "share"),
            **rule}  # fmt: skip


def _entered(code: str, name: str, group: str, weight: int, **rule: Any) -> dict:
    return {"code": code, "name": name, "group": group, "weight": weight,
            "source": "entered", "scoring": "entered", "scale": 100, **rule}  # fmt: skip


GRID_WORKER = {
    "code": "grid_worker",
    "name": "网格员季度/年度考核",
    "target_kind": "worker",
    "assessor_role": "station",
    "bands": BANDS,
    "deductions": [
        {"code": "confidentiality_breach", "name": "泄露服务对象信息", "points": 5},
        {"code": "resident_complaint", "name": "群众有效投诉", "points": 1},
    ],
    "disqualify_after": 3,
    "description": "社区网格服务管理站采取查、访、问、看、听五种形式综合评价,结合群众测评意见;"
    "按季度、年度考核,年度考核不合格者予以解聘。",
    "indicators": [
        _computed("patrol_coverage", "巡查覆盖(查)", "查", 20, "patrol_coverage",
                  min_count=10),
        _computed("visits", "入户及企业走访(访)", "访", 20, "visits", scoring="target",
                  target=20, min_count=1),
        _computed("register_completeness", "三知道二清楚一掌握(问)", "问", 15,
                  "register_completeness", min_count=5),
        _computed("cases_on_time", "事件按时办结(看)", "看", 10, "cases_on_time", min_count=1),
        _computed("satisfaction", "群众满意度(听)", "听", 15, "satisfaction", min_count=3),
        _computed("flagged_uploads", "上报真实性(无异常定位)", "看", 5, "flagged_uploads",
                  invert=True, min_count=5),
        _entered("spot_check", "服务站抽查", "站点评议", 15,
                 description="社区网格服务站现场抽查网格的得分(满分100)"),
    ],
}  # fmt: skip

COMMUNITY_STATION = {
    "code": "community_station",
    "name": "社区网格服务站考核",
    "target_kind": "station",
    "assessor_role": "street_centre",
    "bands": BANDS,
    "deductions": [{"code": "serious_incident", "name": "重大事件未及时上报", "points": 2}],
    "disqualify_after": 3,
    "description": "街道网格化服务管理中心对社区网格服务站的考核。",
    "indicators": [
        _computed("patrol_coverage", "巡查覆盖", "网格管理", 20, "patrol_coverage",
                  min_count=10),
        _computed("visits", "入户及企业走访", "网格管理", 15, "visits", scoring="target",
                  target=20, min_count=1),
        _computed("register_completeness", "信息登记完整", "网格管理", 15,
                  "register_completeness", min_count=5),
        _computed("cases_on_time", "事件按时办结", "事件处置", 15, "cases_on_time",
                  min_count=1),
        _computed("cases_verified", "事件现场核实", "事件处置", 10, "cases_verified",
                  min_count=1),
        _computed("satisfaction", "群众满意度", "群众评价", 15, "satisfaction", min_count=3),
        _entered("centre_review", "街道中心评议", "街道评议", 10,
                 description="街道网格化服务管理中心的评议得分(满分100)"),
    ],
}  # fmt: skip

_RELATIVE = {"scoring": "relative", "factor": 0.8, "cap": 1.2, "min_count": 1}

BANK_BRANCH = {
    "code": "bank_branch",
    "name": "网点服务营销竞赛",
    "target_kind": "institution",
    "assessor_role": "coordinator",
    "bands": BANDS,
    "deductions": [
        {"code": "serious_complaint", "name": "客户重大有责投诉", "points": 1},
        {"code": "negative_media", "name": "市级以上媒体负面报道", "points": 1},
    ],
    "disqualify_after": 3,
    "description": "百分制,服务质量40分、服务能力20分、营销业绩40分;单项指标得分最高为权重分的"
    "1.2倍;相对指标按本行比率/全行比率×权重分×80%计分;重大有责投诉及负面报道每件扣1分,"
    "全年3件及以上取消评先资格。",
    "indicators": [
        _entered("mystery_shopper", "“神秘人”检查", "服务质量", 20, cap=1.2,
                 description="四次“神秘人”检查平均得分/100×权重分"),
        _entered("customer_satisfaction", "客户满意度调查", "服务质量", 20, cap=1.2,
                 description="客户满意度调查得分/100×权重分"),
        _computed("events_held", "宣传活动开展", "服务能力", 10, "events_held", **_RELATIVE),
        _computed("reports_on_time", "活动报告按时报送", "服务能力", 10, "reports_on_time",
                  **_RELATIVE),
        _computed("enterprises_visited", "名单企业走访", "营销业绩", 10,
                  "enterprises_visited", **_RELATIVE),
        _computed("decisions_on_time", "融资需求按时答复", "营销业绩", 10, "decisions_on_time",
                  **_RELATIVE),
        _entered("vip_growth", "点均个人贵宾客户增量", "营销业绩", 10, cap=1.2,
                 description="本行点均个人贵宾增量/全行点均增量×权重分×80%,按百分制录入"),
        _entered("deposit_growth", "点均本外币储蓄存款增量", "营销业绩", 10, cap=1.2,
                 description="本行点均储蓄存款增量/全行点均增量×权重分×80%,按百分制录入"),
    ],
}  # fmt: skip

TEMPLATES = (GRID_WORKER, COMMUNITY_STATION, BANK_BRANCH)


def load_templates(principal: Principal = OPERATOR) -> dict[str, int]:
    """Add the reference templates that are missing (by code); their ids by code."""
    have = dict(db.session.execute(select(AssessmentTemplate.code, AssessmentTemplate.id)).all())
    for data in TEMPLATES:
        if data["code"] not in have:
            made = template_service.create_template(principal, data)
            have[data["code"]] = made.id
    return {d["code"]: have[d["code"]] for d in TEMPLATES}
