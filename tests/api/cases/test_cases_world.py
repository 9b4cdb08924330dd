"""The cases test world, and the one scoping rule for tasks: area users by community, a
department's contacts exactly the cases dispatched to their department."""

from __future__ import annotations

from sqlalchemy import select

from gridserve import crypto
from gridserve.extensions import db
from gridserve.models import Area, CaseCategory, Task
from gridserve.scope import OPERATOR, visible
from gridserve.services.accounts import users
from gridserve.services.accounts.auth import principal_for
from gridserve.services.field import tasks as task_service
from gridserve.timeutil import local_today


def _principal(username: str):
    return principal_for(users.find_by_username(username))


def test_the_world_holds_the_sources_categories_departments_and_duty_mobiles(cases, ctx) -> None:
    codes = set(db.session.scalars(select(CaseCategory.code)))
    assert {"emergency", "safety_hazard", "neighbour_dispute", "elderly_alone", "noise"} <= codes
    hazard = db.session.get(CaseCategory, cases.categories["safety_hazard"])
    assert hazard.to_street_at_once and hazard.start_level == "street"
    assert set(hazard.deadlines) == {"cell", "community", "street", "district"}
    assert set(cases.departments) == {"CGJ", "ZJJ"}
    street = db.session.get(Area, cases.field.world.street)
    assert crypto.decrypt(street.duty_phone_enc) == "13700000003"


def test_a_department_sees_exactly_the_cases_dispatched_to_it(cases, ctx) -> None:
    world = cases.field.world
    made = [
        task_service.create_task(
            OPERATOR,
            {"kind": "case", "title": f"路灯不亮 {n}", "area_id": world.community_a},
            local_today(),
        )
        for n in range(3)
    ]
    made[0].department_id = cases.departments["CGJ"]
    made[1].department_id = cases.departments["ZJJ"]
    db.session.flush()
    dept = _principal("dept")
    seen = set(db.session.scalars(visible(Task, dept).with_only_columns(Task.id)))
    assert seen == {made[0].id}
    station_b = _principal("station_b")
    assert not set(db.session.scalars(visible(Task, station_b).with_only_columns(Task.id))) & {
        t.id for t in made
    }
    station_a = _principal("station_a")
    assert {t.id for t in made} <= set(
        db.session.scalars(visible(Task, station_a).with_only_columns(Task.id))
    )


def test_a_levels_deadline_in_hours_or_working_days_and_its_office(cases, ctx) -> None:
    import datetime as dt

    from gridserve.services.cases.basics import level_due_at, next_level, office_area_id

    world = cases.field.world
    cat = db.session.get(CaseCategory, cases.categories["noise"])
    cat.deadlines = {"cell": {"amount": 24, "unit": "hours"},
                     "community": {"amount": 1, "unit": "working_days"}}  # fmt: skip
    friday = dt.datetime(2026, 11, 27, 2, 0, tzinfo=dt.UTC)  # 10:00 local
    assert level_due_at(cat, "cell", friday, world.community_a) == friday + dt.timedelta(hours=24)
    # One working day after a Friday is the Monday, at the same local time.
    assert level_due_at(cat, "community", friday, world.community_a) == dt.datetime(
        2026, 11, 30, 2, 0, tzinfo=dt.UTC
    )
    assert level_due_at(cat, "street", friday, world.community_a) is None
    assert [next_level(x) for x in ("cell", "community", "street", "district")] == [
        "community", "street", "district", None
    ]  # fmt: skip
    assert office_area_id(world.community_a, "cell") == world.community_a
    assert office_area_id(world.community_a, "street") == world.street
    assert office_area_id(world.community_a, "district") == world.district
