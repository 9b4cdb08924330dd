"""The cases of the last four months on the demo street (事件): the ladder at work.

300 cases received over the last 120 days at register places of the street (each case at its
place's community and cell, held by the worker holding that cell; worker1's and worker2's
cells get a share, so their terminals and the field app have cases), every category class and
start level, every way in (terminal, station desk, walk-in, phone, Open311; the reporters of
the desk and the public with invented mobiles in the 137 99 range, encrypted and hashed as
intake does). Their histories are complete :class:`TaskEvent` chains — created, accept,
escalate (by hand with a reason, or by the deadline job at the due time with its words),
dispatch to the city-management department (``CGJ-DEMO``, contact ``dept1``) and its accept,
settle and return, pause and resume, supervise, recategorise, verify (a station on site),
close, merge, rate, reopen — and every case's columns are what those steps leave (level and
its clock from :func:`gridserve.services.cases.basics.level_due_at`, paused time added on
resume, escalations, closed level, version).

Now: most are closed, several cancelled (three merged as duplicates); some open or accepted at
each level, within their deadline; :data:`OVERDUE` past their level's due time (the first
deadline-job pass escalates those below the district; one more is overdue at the district);
some paused with a reason, some under the street's supervision (two past its due date: the
job reminds), some settled or verified waiting to be closed, some held by the department.
Every closed case whose reporter agreed to be called back has its feedback text on record
(sent, so the feedback job texts nobody for the past), most rated, one not satisfied and
reopened.

Rows are written directly (a few inserts, not a service call per step: about half a second on
SQLite, one to two on PostgreSQL), following the ladder's rules: the due times come from
:func:`gridserve.services.cases.basics.level_due_at` (the working-day calendar), the escalation
reasons of the job from :func:`gridserve.services.cases.deadlines.reason_of`, the reporters'
phones are stored as intake stores them; ``tests/seeds/test_cases_demo.py`` replays every
history against its case. The historic cases are placed at today's cells and holders (the
demo's layout comes into force on the seeding day). One seeded RNG keeps it deterministic for
a seeding day and hour. People and numbers are invented; there are no photos.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from geoalchemy2.shape import from_shape
from shapely.geometry import Point
from sqlalchemy import select

from gridserve import crypto
from gridserve.db import insert_rows, utcnow
from gridserve.extensions import db
from gridserve.models import (
    CASE_LEVELS,
    Assignment,
    CaseCategory,
    CaseFeedback,
    Place,
    Task,
    TaskEvent,
    User,
    Worker,
)
from gridserve.scope import in_area
from gridserve.services.accounts import institutions as inst_service
from gridserve.services.cases import basics
from gridserve.services.cases.deadlines import reason_of
from gridserve.services.cases.feedback import ALPHABET, CODE_LENGTH, RATINGS, REOPEN_REASON
from gridserve.services.field.households import normalise_phone
from gridserve.services.geography import areas as area_service
from gridserve.services.geography.places import current_cells
from gridserve.services.sms import numbers as sms_numbers
from gridserve.sms import phones
from gridserve.spatial import to_shapely
from gridserve.sync import next_seq

if TYPE_CHECKING:
    from seeds.loader import SeedReport

DEPARTMENT = "CGJ-DEMO"  # seeds/reference/institutions.csv; its contact: dept1
CASES = 300
DAYS = 120
SEED = 14
OVERDUE = 12  # below the district (the first job pass escalates them); one more at the top
PHONE = "1379900{:04d}"  # invented reporters' mobiles

# What the cases are about: (category code, weight, titles).
TITLES: dict[str, tuple[int, tuple[str, ...]]] = {
    "emergency": (3, ("居民楼燃气泄漏", "小区停车场车辆自燃", "暴雨致地下车库进水")),
    "accident": (5, ("老人在小区摔倒受伤", "电动车相撞有人受伤", "施工围挡倒塌")),
    "neighbour_dispute": (18, ("楼上漏水邻里纠纷", "楼道占用引发争执", "宠物扰邻纠纷")),
    "instability": (4, ("业主聚集反映物业问题", "工资拖欠集体投诉")),
    "safety_hazard": (8, ("楼道电动车充电", "消防通道堵塞", "广告牌松动", "窨井盖缺失")),
    "outsider_inflow": (8, ("出租屋新入住人员未登记", "工地新进务工人员登记")),
    "public_facility_damage": (20, ("健身器材损坏", "路灯不亮", "小区护栏损坏", "垃圾桶破损")),
    "illegal_building": (8, ("楼顶违章搭建", "一楼住户私搭围墙", "侵占绿地搭棚")),
    "elderly_alone": (12, ("独居老人多日未出门", "空巢老人需要上门探访")),
    "left_behind_child": (6, ("留守儿童放学无人看护", "留守儿童学习困难需帮扶")),
    "hardship": (8, ("困难家庭申请临时救助", "低保户房屋漏雨")),
    "special_group": (4, ("社区矫正人员走访", "精神障碍患者家属求助")),
    "sanitation": (40, ("楼道堆放杂物", "垃圾清运不及时", "背街小巷卫生死角", "污水外溢")),
    "roads_lights": (24, ("人行道地砖破损", "路面坑洼积水", "路灯夜间不亮")),
    "noise": (16, ("夜间装修噪声扰民", "广场舞音响过大", "餐馆油烟噪声")),
    "parking": (22, ("消防通道乱停车", "共享单车占道", "僵尸车长期占用车位")),
    "other": (8, ("居民咨询政策", "流浪犬伤人隐患", "小区门禁故障")),
}
SOURCES = (("terminal", 40), ("station", 12), ("walk_in", 14), ("phone", 22), ("open311", 12))
SETTLED = (
    "已现场处置完毕，居民认可。",
    "已协调物业整改到位。",
    "已联系相关单位维修完成。",
    "已调解，双方达成一致。",
    "已上门走访，落实帮扶措施。",
)
ESCALATE = {
    "cell": "网格内无法解决，需社区协调。",
    "community": "涉及多方，需街道统筹。",
    "street": "需区级部门协同处置。",
}
PAUSES = ("等待居民提供材料", "等待物业答复", "等待第三方维修单位排期", "当事人外出，待返回后处理")
SURNAMES = "赵钱孙李周吴郑王冯陈褚卫蒋沈韩杨朱秦尤许何吕施张孔曹严华金魏陶姜"
GIVEN = ("女士", "先生", "阿姨", "大爷")

# The cases' fates now, with how many of each (the rest are closed).
FATES: dict[str, int] = {
    "open": 14,
    "accepted": 12,
    "settled": 7,
    "verified": 4,
    "overdue": OVERDUE,
    "overdue_top": 1,
    "paused": 7,
    "supervised": 5,
    "dispatched": 5,
    "cancelled": 3,
    "merged": 3,
    "unsatisfied": 1,
    "recategorised": 2,  # filed under "other", then re-routed; closed
}


# (working days, local day) → the due day, for one seeding run (see :meth:`Story.due`).
_DUE_DAYS: dict[tuple[int, dt.date], dt.date] = {}


def _local(at: dt.datetime, tz: ZoneInfo) -> str:
    return at.astimezone(tz).strftime("%Y-%m-%d %H:%M")


@dataclass
class Story:
    """One case being told: its columns and its events, step by step."""

    task: dict[str, Any]
    category: CaseCategory
    tz: ZoneInfo
    events: list[dict[str, Any]] = field(default_factory=list)
    at: dt.datetime | None = None

    def __getitem__(self, key: str) -> Any:
        return self.task[key]

    def step(
        self, action: str, at: dt.datetime, actor: int | None, remark: str = "", **values: Any
    ) -> None:
        """Record ``action`` at ``at``: the event (from/to status and level, ``remark`` its
        note), then ``values`` on the case; every step but ``created`` takes a new version
        (as the services do)."""
        event_extra = {k: values.pop(k) for k in ("lon", "lat", "department") if k in values}
        before = (self.task["status"], self.task["level"])
        self.task.update(values)
        if action != "created":
            self.task["version"] += 1
        self.task["updated_at"] = at
        dept = event_extra.get("department", self.task.get("department_id"))
        self.events.append(
            {"action": action, "from_status": None if action == "created" else before[0],
             "to_status": self.task["status"],
             "from_worker_id": None if action == "created" else self.task["assigned_worker_id"],
             "to_worker_id": self.task["assigned_worker_id"], "note": remark, "actor_id": actor,
             "at": at, "from_level": None if action == "created" else before[1],
             "to_level": self.task["level"], "department_id": dept,
             "lon": event_extra.get("lon"), "lat": event_extra.get("lat"), "attachments": None}
        )  # fmt: skip
        self.at = at

    def due(self, level: str, at: dt.datetime) -> dt.datetime | None:
        """:func:`basics.level_due_at`; a working-days deadline's day is read once per
        (amount, local day) — the calendar costs a query a call — and keeps ``at``'s local
        time, as that rule says."""
        rule = basics.deadline_of(self.category, level)
        if rule is None or rule.get("unit") != "working_days":
            return basics.level_due_at(self.category, level, at, self.task["area_id"], tz=self.tz)
        local = at.astimezone(self.tz)
        key = (int(rule["amount"]), local.date())
        if key not in _DUE_DAYS:
            due = basics.level_due_at(self.category, level, at, self.task["area_id"], tz=self.tz)
            _DUE_DAYS[key] = due.astimezone(self.tz).date()  # type: ignore[union-attr]
        return dt.datetime.combine(_DUE_DAYS[key], local.timetz()).astimezone(dt.UTC)

    def reach(self, level: str, at: dt.datetime) -> dict[str, Any]:
        """The values that put the case at ``level`` with its clock started ``at``."""
        return {"level": level, "level_started_at": at, "level_due_at": self.due(level, at)}


class Teller:
    """Writes the demo's stories: who acts at each level, when things happen."""

    def __init__(self, rng: random.Random, now: dt.datetime, users: dict[str, int]) -> None:
        self.rng = rng
        self.now = now
        self.users = users
        self.late_supervision = 2  # supervised cases whose supervision due time has passed
        self.returns = 1  # the first case dispatched in the past was sent back by the department

    # --- who and when ------------------------------------------------------------------

    def actor(self, story: Story, level: str | None = None) -> int | None:
        """The account acting for the case's ``level`` (the demo has named accounts for two
        communities' workers and stations; elsewhere the history names nobody)."""
        level = level or story["level"]
        if level == "cell":
            return story.task["_worker_user"] or story.task["_station_user"]
        if level == "community":
            return story.task["_station_user"]
        return self.users["centre" if level == "street" else "district"]

    def later(self, at: dt.datetime, lo: float, hi: float) -> dt.datetime:
        """``at`` plus ``lo``..``hi`` hours, whole minutes; never later than two minutes ago
        (nor before ``at``)."""
        minutes = self.rng.randint(int(lo * 60), int(hi * 60))
        end = at + dt.timedelta(minutes=max(1, minutes))
        return max(at, min(end, self.now - dt.timedelta(minutes=2)))

    def within(self, story: Story, at: dt.datetime, share: float = 0.6) -> dt.datetime:
        """A moment after ``at`` within ``share`` of the time left at the level."""
        due = story.task["level_due_at"]
        span = (due - at).total_seconds() / 3600 if due else 24.0
        return self.later(at, 0.1, max(0.2, span * share))

    # --- the steps ----------------------------------------------------------------------

    def escalate(self, story: Story, at: dt.datetime, by_job: bool) -> dt.datetime:
        """Up one level: by hand before the due time, or by the job just after it passed."""
        level = story["level"]
        up = basics.next_level(level)
        assert up is not None
        due = story["level_due_at"]
        if by_job and due is not None and due + dt.timedelta(minutes=10) < self.now:
            at = story["level_due_at"] + dt.timedelta(minutes=self.rng.randint(1, 3))
            note, actor = reason_of(level, _local(story["level_due_at"], story.tz)), None
        else:
            note, actor = ESCALATE[level], self.actor(story)
        story.step("escalate", at, actor, note, **story.reach(up, at), status="open",
                   escalations=story["escalations"] + 1, department_id=None,
                   dispatch_due_at=None)  # fmt: skip
        return at

    def pause(self, story: Story, at: dt.datetime, hours: float | None) -> dt.datetime:
        """Paused with a reason; resumed ``hours`` later (None: still paused)."""
        reason = self.rng.choice(PAUSES)
        story.step("pause", at, self.actor(story), reason, paused_at=at, pause_reason=reason)
        if hours is None:
            return at
        back = at + dt.timedelta(hours=hours)
        span = back - at
        due = story["level_due_at"]
        story.step("resume", back, self.actor(story), "条件具备，恢复办理", paused_at=None,
                   pause_reason="", paused_seconds=story["paused_seconds"]
                   + int(span.total_seconds()),
                   level_due_at=due + span if due else None)  # fmt: skip
        return back

    def supervise(self, story: Story, at: dt.datetime, due: dt.datetime) -> None:
        """Under the street's supervision (督办) from ``at``, due at ``due``."""
        centre = self.users["centre"]
        story.step("supervise", at, centre, "请按期办结", supervised_at=at, supervised_by=centre,
                   supervision_due_at=due)  # fmt: skip

    def dispatch(self, story: Story, at: dt.datetime, dept: int) -> dt.datetime:
        due = at + dt.timedelta(days=self.rng.randint(3, 7))
        story.step("dispatch", at, self.actor(story), "请城管局依职责处置", status="open",
                   department_id=dept, dispatch_due_at=due)  # fmt: skip
        return at

    def settle(self, story: Story, at: dt.datetime, actor: int | None = None) -> dt.datetime:
        result = self.rng.choice(SETTLED)
        story.step("settle", at, actor if actor is not None else self.actor(story), result,
                   status="settled", settled_at=at, note=result)  # fmt: skip
        return at

    def verify(self, story: Story, at: dt.datetime) -> dt.datetime:
        point = story.task["_point"]
        story.step("verify", at, story.task["_station_user"], "已到现场核实，处置到位。",
                   status="verified", verified_at=at, lon=round(point.x + 0.00003, 7),
                   lat=round(point.y - 0.00002, 7))  # fmt: skip
        return at

    def close(self, story: Story, at: dt.datetime) -> dt.datetime:
        level = story["level"]
        closer = self.actor(story, "community" if level == "cell" else level)
        story.step("close", at, closer, "办结", status="closed", closed_at=at,
                   closed_level=level, paused_at=None)  # fmt: skip
        return at

    def handle(self, story: Story, at: dt.datetime, *, until: str = "closed") -> dt.datetime:
        """Accept, settle, verify where needed, close — stopping after ``until``."""
        at = self.within(story, at, 0.2)
        story.step("accept", at, self.actor(story), "已受理", status="accepted")
        if until == "accepted":
            return at
        at = self.within(story, at, 0.5)
        at = self.settle(story, at)
        if until == "settled":
            return at
        if story["needs_verification"]:
            at = self.verify(story, self.later(at, 0.5, 6))
            if until == "verified":
                return at
        return self.close(story, self.later(at, 0.2, 4))


def _reporter(rng: random.Random, n: int, hasher: Any) -> dict[str, Any]:
    """An invented reporter, the phone stored as intake stores it (encrypted, hashed in E.164)."""
    phone = normalise_phone(PHONE.format(n))
    return {
        "reporter_name": SURNAMES[(n * 7) % len(SURNAMES)] + GIVEN[n % len(GIVEN)],
        "reporter_phone_enc": crypto.encrypt(phone),
        "reporter_phone_hash": hasher(phones.to_e164(phone)),
        "callback_consent": rng.random() < 0.85,
    }


def _received(rng: random.Random, today: dt.date, tz: ZoneInfo, lo: int, hi: int) -> dt.datetime:
    """A daytime moment ``lo``..``hi`` days before today (local)."""
    day = today - dt.timedelta(days=rng.randint(lo, hi))
    clock = dt.time(rng.randint(8, 19), rng.randrange(0, 60, 5))
    return dt.datetime.combine(day, clock, tzinfo=tz).astimezone(dt.UTC)


def _places(rng: random.Random, street: Any, own_cells: set[int]) -> list[Place]:
    """300 register places of the street with a cell: 40 in worker1's and worker2's cells,
    the rest at random."""
    ids = list(
        db.session.scalars(
            select(Place.id)
            .where(in_area(Place.area_id, street), Place.cell_id.is_not(None))
            .order_by(Place.id)
        )
    )
    own = list(
        db.session.scalars(
            select(Place.id).where(Place.cell_id.in_(own_cells)).order_by(Place.id).limit(400)
        )
    )
    chosen = rng.sample(own, min(40, len(own)))
    rest = sorted(set(ids) - set(chosen))
    chosen += rng.sample(rest, CASES - len(chosen))
    rng.shuffle(chosen)
    found = {p.id: p for p in db.session.scalars(select(Place).where(Place.id.in_(chosen)))}
    return [found[i] for i in chosen]


def load_cases(report: SeedReport, today: dt.date) -> None:
    """The demo's cases, once (needs the register, the layout, the workers and the demo
    users; see the module docstring)."""
    if db.session.scalar(select(Task.id).where(Task.kind == "case").limit(1)) is not None:
        return
    dept = inst_service.find_by_code(DEPARTMENT)
    if dept is None:
        return
    rng = random.Random(SEED)
    now = utcnow()
    _DUE_DAYS.clear()
    street = area_service.find_by_code("QS")
    tz = area_service.zone_of(street.id)
    users = dict(db.session.execute(select(User.username, User.id)).all())
    stations = dict(
        db.session.execute(
            select(User.area_id, User.id).where(User.role == "station").order_by(User.id)
        ).all()
    )
    communities = [a.id for a in street.children]
    cells = {c.id: c.code for c in current_cells(communities, today)}
    holders = dict(
        db.session.execute(
            select(Assignment.cell_code, Worker)
            .join(Worker, Worker.id == Assignment.worker_id)
            .where(Assignment.starts_on <= today)
            .where((Assignment.ends_on.is_(None)) | (Assignment.ends_on >= today))
        ).all()
    )
    own_cells = {cid for cid, code in cells.items() if code in holders and holders[code].user_id}
    places = _places(rng, street, own_cells)
    categories = {
        c.code: c for c in db.session.scalars(select(CaseCategory).where(CaseCategory.active))
    }
    codes = [c for c in TITLES if c in categories]
    weights = [TITLES[c][0] for c in codes]
    hasher = sms_numbers.hasher()
    teller = Teller(rng, now, users)

    fates = [f for f, n in FATES.items() for _ in range(n)]
    fates += ["closed"] * (CASES - len(fates))
    rng.shuffle(fates)
    stories: list[Story] = []
    for n, (place, fate) in enumerate(zip(places, fates, strict=True)):
        code = rng.choices(codes, weights)[0]
        if fate == "dispatched" or fate == "supervised":
            code = rng.choice(("illegal_building", "parking", "sanitation", "roads_lights"))
        if fate in ("merged", "unsatisfied"):
            code = "sanitation"
        if fate == "recategorised":
            code = "other"
        if fate == "verified":
            code = rng.choice(("public_facility_damage", "roads_lights", "neighbour_dispute"))
        category = categories[code]
        source = rng.choices([s for s, _ in SOURCES], [w for _, w in SOURCES])[0]
        cell_code = cells.get(place.cell_id)
        worker = holders.get(cell_code)
        if source == "terminal" and worker is None:
            source = "phone"
        point = to_shapely(place.geom)
        start = "street" if category.to_street_at_once else category.start_level
        task: dict[str, Any] = {
            "kind": "case", "title": rng.choice(TITLES[code][1]),
            "details": f"{place.name or '现场'}：居民反映情况，请核实处理。",
            "place_id": place.id, "cell_id": place.cell_id, "cell_code": cell_code,
            "area_id": place.area_id, "assigned_worker_id": worker.id if worker else None,
            "status": "open", "priority": "urgent" if category.to_street_at_once else "normal",
            "source": source, "note": "", "version": 1, "category_id": category.id,
            "level": start, "department_id": None, "dispatch_due_at": None,
            "paused_at": None, "pause_reason": "", "paused_seconds": 0, "escalations": 0,
            "supervised_at": None, "supervised_by": None, "supervision_due_at": None,
            "reporter_name": "", "reporter_phone_enc": None, "reporter_phone_hash": None,
            "callback_consent": False, "needs_verification": category.needs_verification,
            "settled_at": None, "verified_at": None, "closed_at": None, "closed_level": None,
            "rating": None, "rated_at": None, "duplicate_of_id": None,
            "_point": point, "_worker_user": worker.user_id if worker else None,
            "_station_user": stations.get(place.area_id), "_fate": fate,
        }  # fmt: skip
        if source in ("walk_in", "phone", "open311") or (source == "station" and n % 2):
            task.update(_reporter(rng, n, hasher))
        if fate in ("unsatisfied", "merged"):
            task.update(_reporter(rng, n, hasher), callback_consent=True)
        task["created_by"] = {
            "terminal": task["_worker_user"], "open311": None,
        }.get(source, task["_station_user"])  # fmt: skip
        story = Story(task, category, tz)
        _tell(teller, story, fate, today, dept.id)
        stories.append(story)

    _merge(stories)
    _write(stories, rng, now)
    counts: dict[str, int] = {}
    for story in stories:
        counts[story["status"]] = counts.get(story["status"], 0) + 1
    report.count("cases", len(stories))
    report.notes.append(
        "cases: "
        + ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
        + f"; department {DEPARTMENT} (contact dept1)"
    )


def _start(story: Story, at: dt.datetime) -> None:
    """The ``created`` step: the case at its start level, the clock started."""
    story.step("created", at, story["created_by"], "", **story.reach(story["level"], at))
    story.task["created_at"] = at


def _live_at(teller: Teller, story: Story, level: str, overdue: bool) -> dt.datetime:
    """When the case reached ``level`` so that its due time there is past by an hour or more
    (``overdue``), else still an hour or more ahead."""
    rng, now = teller.rng, teller.now
    rule = basics.deadline_of(story.category, level) or {}
    hours = rule.get("amount", 1) * (1 if rule.get("unit") == "hours" else 24)
    if not overdue:
        at = now - dt.timedelta(minutes=rng.randint(20, max(21, int(hours * 60 * 0.3))))
        while (due := story.due(level, at)) is not None and due <= now + dt.timedelta(hours=1):
            at += dt.timedelta(minutes=10)
        return at
    back = dt.timedelta(hours=hours + rng.randint(2, 30))
    while (due := story.due(level, now - back)) is not None and due >= now - dt.timedelta(hours=1):
        back += dt.timedelta(hours=12)
    return now - back


def _climb_to(teller: Teller, story: Story, received: dt.datetime, reached: dt.datetime,
              to: str) -> None:  # fmt: skip
    """A live case: from its start level up to ``to`` by hand, the steps spread between
    ``received`` and ``reached`` (the last one)."""
    steps = CASE_LEVELS.index(to) - CASE_LEVELS.index(story["level"])
    for k in range(1, steps + 1):
        teller.escalate(story, received + (reached - received) * k / steps, by_job=False)


def _live(teller: Teller, story: Story, fate: str, dept: int) -> None:
    """A case still being handled now (see :data:`FATES`)."""
    rng, now = teller.rng, teller.now
    start = story["level"]
    reachable = CASE_LEVELS[CASE_LEVELS.index(start) :]
    if fate == "overdue_top":
        target = "district"
    elif fate in ("supervised", "dispatched"):
        target = "street" if start != "district" else start
    elif fate == "overdue":
        target = rng.choice([lv for lv in reachable if lv != "district"])
    else:
        target = rng.choice(reachable[:2])
    late = fate == "supervised" and teller.late_supervision > 0
    reached = _live_at(teller, story, target, fate in ("overdue", "overdue_top"))
    if late:
        # Supervised two days ago with a due time now past: the job reminds the street.
        earlier = now - dt.timedelta(days=2, hours=3)
        if (story.due(target, earlier) or now) > now + dt.timedelta(hours=1):
            reached = earlier
            teller.late_supervision -= 1
        else:
            late = False
    received = reached - dt.timedelta(hours=rng.randint(2, 20) if target != start else 0)
    _start(story, received)
    _climb_to(teller, story, received, reached, target)
    at = reached
    if fate in ("open", "overdue_top"):
        return
    if fate == "overdue":
        if rng.random() < 0.5:
            story.step("accept", teller.later(at, 0.1, 1), teller.actor(story), "已受理",
                       status="accepted")  # fmt: skip
        return
    if fate == "paused":
        at = teller.handle(story, at, until="accepted")
        teller.pause(story, teller.within(story, at, 0.3), None)
        return
    if fate == "supervised":
        when = teller.later(at, 0.2, 1)
        due = now - dt.timedelta(hours=2) if late else now + dt.timedelta(days=rng.randint(1, 5))
        teller.supervise(story, when, due)
        if rng.random() < 0.6:
            story.step("accept", teller.within(story, story.at, 0.3), teller.actor(story),
                       "已受理", status="accepted")  # fmt: skip
        return
    if fate == "dispatched":
        at = teller.dispatch(story, teller.within(story, at, 0.2), dept)
        if rng.random() < 0.6:
            story.step("accept", teller.within(story, at, 0.3), teller.users["dept1"],
                       "城管局已受理", status="accepted")  # fmt: skip
        return
    teller.handle(story, at, until=fate)  # accepted, settled, verified


def _tell(teller: Teller, story: Story, fate: str, today: dt.date, dept: int) -> None:
    """The case's history for its ``fate`` (see :data:`FATES`)."""
    if fate not in ("closed", "cancelled", "merged", "unsatisfied", "recategorised"):
        _live(teller, story, fate, dept)
        return
    rng, now = teller.rng, teller.now
    if fate == "unsatisfied":
        # Closed two or three days ago, rated 3 by SMS three hours ago: reopened.
        _start(story, now - dt.timedelta(days=rng.randint(2, 3), hours=rng.randint(1, 9)))
        teller.handle(story, story.at)
        rated = now - dt.timedelta(hours=3)
        story.step("rate", rated, None, f"{RATINGS[3]}（sms）", rating=3, rated_at=rated)
        level = story["closed_level"]
        story.step("reopen", rated, None, REOPEN_REASON, **story.reach(level, rated),
                   status="open", closed_at=None, settled_at=None, verified_at=None,
                   department_id=None, dispatch_due_at=None)  # fmt: skip
        return
    at = _received(rng, today, story.tz, 3, DAYS)
    old = at < now - dt.timedelta(days=30)  # long enough ago for any detour
    _start(story, at)
    if fate == "cancelled":
        at = teller.within(story, at, 0.3)
        story.step("cancel", at, story["_station_user"], "居民已自行解决，撤销事件",
                   status="cancelled", closed_at=at, closed_level=story["level"])  # fmt: skip
        return
    if fate == "merged":
        return  # cancelled by :func:`_merge` into a case of its kind
    start = story["level"]
    roll = rng.random()
    if fate == "recategorised" or (story.category.code == "other" and roll < 0.3):
        _recategorise(teller, story, at)
        at = story.at
    if old and roll < 0.3 and start != "district":
        # Went up once or twice before it was settled (by hand, or by the deadline job).
        top = "street" if start != "street" and roll < 0.08 else basics.next_level(start)
        while story["level"] != top:
            at = teller.escalate(story, teller.within(story, at, 0.5), rng.random() < 0.5)
    if old and story["level"] in ("street", "district") and rng.random() < 0.5:
        at = teller.dispatch(story, teller.within(story, at, 0.3), dept)
        at = teller.within(story, at, 0.3)
        story.step("accept", at, teller.users["dept1"], "城管局已受理", status="accepted")
        if teller.returns > 0 or rng.random() < 0.15:
            teller.returns -= 1
            at = teller.within(story, at, 0.3)
            story.step("return", at, teller.users["dept1"], "不属于本部门职责，退回",
                       status="open", department_id=None, dispatch_due_at=None,
                       department=dept)  # fmt: skip
        else:
            at = teller.settle(story, teller.within(story, at, 0.5), teller.users["dept1"])
            if story["needs_verification"]:
                at = teller.verify(story, teller.later(at, 0.5, 6))
            teller.close(story, teller.later(at, 0.2, 4))
            return
    if story["level"] == "street" and rng.random() < 0.15:
        teller.supervise(story, teller.within(story, at, 0.2), at + dt.timedelta(days=3))
        at = story.at
    if old and rng.random() < 0.08 and story["status"] == "open":
        at = teller.handle(story, at, until="accepted")
        at = teller.pause(story, teller.within(story, at, 0.3), rng.randint(4, 72))
        at = teller.settle(story, teller.within(story, at, 0.4))
        if story["needs_verification"]:
            at = teller.verify(story, teller.later(at, 0.5, 6))
        teller.close(story, teller.later(at, 0.2, 4))
        return
    teller.handle(story, at)
    if old and roll > 0.97:
        # Reopened by the office (the problem came back), handled again.
        at = teller.later(story.at, 12, 48)
        story.step("reopen", at, teller.actor(story, story["closed_level"]), "问题反复，重新处理",
                   **story.reach(story["closed_level"], at), status="open", closed_at=None,
                   settled_at=None, verified_at=None, department_id=None,
                   dispatch_due_at=None)  # fmt: skip
        teller.handle(story, at)


def _recategorise(teller: Teller, story: Story, at: dt.datetime) -> None:
    """A case filed under ``other`` moved to sanitation (same start level: the clock
    restarts there)."""
    new = db.session.scalar(select(CaseCategory).where(CaseCategory.code == "sanitation"))
    if new is None:
        return
    at = teller.later(at, 0.2, 2)
    story.category = new
    story.step("recategorise", at, story["_station_user"], f"类别改为{new.name}",
               category_id=new.id, needs_verification=new.needs_verification,
               **story.reach(story["level"], at))  # fmt: skip


def _merge(stories: list[Story]) -> None:
    """Each ``merged`` case: reported again at the place of a closed sanitation case while
    that one was still being handled, and merged into it (cancelled, ``duplicate_of_id``),
    both histories noting it; the kept case's feedback goes to its reporter too."""
    kept = [s for s in stories if s["_fate"] == "closed" and s.category.code == "sanitation"]
    for k, story in enumerate(s for s in stories if s["_fate"] == "merged"):
        other = kept[k % len(kept)]
        received = other["created_at"]
        closed = next(e["at"] for e in other.events if e["action"] == "close")
        at = received + (closed - received) / 2
        then = [e for e in other.events if e["at"] <= at][-1]
        story.events.clear()
        story.task.update(
            version=1, area_id=other["area_id"], place_id=other["place_id"],
            cell_id=other["cell_id"], cell_code=other["cell_code"],
            assigned_worker_id=other["assigned_worker_id"], _point=other.task["_point"],
            _station_user=other.task["_station_user"], level=story.category.start_level,
            _into=other,
        )  # fmt: skip
        _start(story, received + (at - received) / 2)
        story.step("merge", at, story["_station_user"], "作为重复事件并入", status="cancelled",
                   closed_at=at, closed_level=story["level"])  # fmt: skip
        other.events.append(
            {**then, "action": "merge", "from_status": then["to_status"],
             "from_worker_id": then["to_worker_id"], "from_level": then["to_level"],
             "note": "事件{}作为重复事件并入", "at": at, "actor_id": story["_station_user"],
             "lon": None, "lat": None, "_merged": story}
        )  # fmt: skip
        other.events.sort(key=lambda e: e["at"])


def _write(stories: list[Story], rng: random.Random, now: dt.datetime) -> None:
    """The cases, their events and the feedback on record, in a few statements."""
    seq = next_seq()
    private = {"_point", "_worker_user", "_station_user", "_fate", "_into"}
    objects = []
    for story in stories:
        values = {k: v for k, v in story.task.items() if k not in private}
        values["geom"] = from_shape(Point(story.task["_point"].x, story.task["_point"].y), 4326)
        values["change_seq"] = seq
        objects.append(Task(**values))
    db.session.add_all(objects)
    db.session.flush()
    ids = {id(s): o.id for s, o in zip(stories, objects, strict=True)}
    for obj, story in zip(objects, stories, strict=True):
        if "_into" in story.task:
            obj.duplicate_of_id = ids[id(story.task["_into"])]
    events = []
    for obj, story in zip(objects, stories, strict=True):
        for event in story.events:
            merged = event.pop("_merged", None)
            if merged is not None:
                event["note"] = event["note"].format(ids[id(merged)])
            events.append({**event, "task_id": obj.id, "change_seq": seq})
    insert_rows(TaskEvent.__table__, events)
    _feedback(stories, objects, rng, now, seq)
    db.session.flush()


def _feedback(stories: list[Story], objects: list[Task], rng: random.Random,
              now: dt.datetime, seq: int) -> None:  # fmt: skip
    """Each closed case's consenting reporters (and those of the cases merged into it) were
    texted within the hour of its closing (the feedback job's text, on record as sent: the
    job finds nothing to send for the past); 70 % rated it by SMS within two days, satisfied
    mostly. The ``unsatisfied`` case's rating (3) and reopening are in its history."""
    merged: dict[int, list[Story]] = {}
    for story in stories:
        if "_into" in story.task:
            merged.setdefault(id(story.task["_into"]), []).append(story)
    rows: list[dict[str, Any]] = []
    codes: set[str] = set()
    events: list[dict[str, Any]] = []
    for obj, story in zip(objects, stories, strict=True):
        unsatisfied = story["_fate"] == "unsatisfied"
        if story["status"] != "closed" and not unsatisfied:
            continue
        hashes = [
            s["reporter_phone_hash"]
            for s in [story, *merged.get(id(story), [])]
            if s["callback_consent"] and s["reporter_phone_hash"]
        ]
        if not hashes:
            continue
        closed = [e["at"] for e in story.events if e["action"] == "close"][-1]
        sent = closed + min(dt.timedelta(minutes=rng.randint(5, 55)), (now - closed) / 2)
        if unsatisfied:
            rating, rated = 3, story["rated_at"]
        else:
            rating = rng.choices((None, 1, 2), (30, 50, 20))[0]
            rated = sent + min(dt.timedelta(hours=rng.randint(1, 40)), (now - sent) / 2)
        for k, phone_hash in enumerate(dict.fromkeys(hashes)):
            code = ""
            while not code or code in codes:
                code = "".join(rng.choice(ALPHABET) for _ in range(CODE_LENGTH))
            codes.add(code)
            first = k == 0 and rating is not None
            rows.append(
                {"task_id": obj.id, "code": code, "phone_hash": phone_hash, "message_id": None,
                 "sent_at": sent, "rating": rating if first else None,
                 "rated_at": rated if first else None, "rated_via": "sms" if first else None,
                 "comment": ""}
            )  # fmt: skip
        if rating is None or unsatisfied:
            continue
        obj.rating, obj.rated_at, obj.updated_at = rating, rated, rated
        obj.version += 1
        events.append(
            {"task_id": obj.id, "action": "rate", "from_status": "closed", "to_status": "closed",
             "from_worker_id": obj.assigned_worker_id, "to_worker_id": obj.assigned_worker_id,
             "note": f"{RATINGS[rating]}（sms）", "actor_id": None, "change_seq": seq,
             "at": rated, "from_level": obj.level, "to_level": obj.level,
             "department_id": obj.department_id, "lon": None, "lat": None, "attachments": None}
        )  # fmt: skip
    insert_rows(CaseFeedback.__table__, rows)
    insert_rows(TaskEvent.__table__, events)
