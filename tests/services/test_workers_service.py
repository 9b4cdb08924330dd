"""Worker assignments as use cases, without HTTP: who holds a cell, and how many."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy.exc import IntegrityError

from gridserve.errors import Conflict, ValidationFailed
from gridserve.extensions import db
from gridserve.models import Assignment
from gridserve.services.accounts.auth import principal_for
from gridserve.services.accounts.users import find_by_username
from gridserve.services.field import workers


def _station():
    return principal_for(find_by_username("station_a"))


def _second_worker(field, **extra):
    body = {"area_id": field.world.community_a, "full_name": "网格员乙"} | extra
    return workers.create_worker(_station(), body)


def test_the_database_allows_one_open_assignment_per_cell(ctx, field):
    db.session.add(
        Assignment(
            worker_id=field.worker_id,
            community_id=field.world.community_a,
            cell_code=field.cell,
            slot=5,
            starts_on=field.today,
        )
    )
    with pytest.raises(IntegrityError):
        db.session.flush()
    db.session.rollback()


def test_giving_a_held_cell_to_another_worker_ends_the_first_holders_assignment(ctx, field):
    station = _station()
    other = _second_worker(field)
    tomorrow = field.today + dt.timedelta(days=1)
    workers.assign(station, other.id, field.cell, tomorrow, field.today)
    assert workers.assigned_worker(field.cell, field.today).id == field.worker_id
    assert workers.assigned_worker(field.cell, tomorrow).id == other.id
    assert workers.open_assignments(field.worker_id, tomorrow) == []
    kept = workers.assignment_history(station, field.worker_id)
    assert [(a.cell_code, a.ends_on) for a in kept] == [(field.cell, tomorrow)]


def test_a_full_time_worker_holds_one_cell_and_nobody_is_assigned_in_the_past(ctx, field):
    station = _station()
    with pytest.raises(Conflict) as second:
        workers.assign(station, field.worker_id, field.other_cell, field.today, field.today)
    assert second.value.code == "too_many_cells_for_worker"
    assert second.value.details["limit"] == 1
    with pytest.raises(ValidationFailed):
        yesterday = field.today - dt.timedelta(days=1)
        workers.assign(station, field.worker_id, field.other_cell, yesterday, field.today)
    assert [a.cell_code for a in workers.open_assignments(field.worker_id, field.today)] == [
        field.cell
    ]


def test_a_part_time_worker_takes_the_free_slots_up_to_the_setting(ctx, field, override_settings):
    override_settings(part_time_max_cells=2)
    station = _station()
    part = _second_worker(field, employment="part_time")
    first = workers.assign(station, part.id, field.other_cell, field.today, field.today)
    second = workers.assign(station, part.id, field.cell, field.today, field.today)
    assert {first.slot, second.slot} == {0, 1}
    assert workers.assigned_worker(field.cell, field.today).id == part.id
    assert workers.max_cells(part) == 2
