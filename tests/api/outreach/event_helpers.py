"""Helpers of the programme/event tests: bodies, direct rows for rosters and plans."""

from __future__ import annotations

import datetime as dt
from contextlib import contextmanager

from gridserve import audit
from gridserve.db import transaction
from gridserve.extensions import db
from gridserve.models import OutreachPlan, OutreachReport, OutreachTeam, OutreachTeamMember
from gridserve.services.sms.numbers import hasher
from tests.conftest import TEST_ACTOR

API = "/api/v1/outreach"
CST = dt.timezone(dt.timedelta(hours=8))


def at(day: int, hour: int, minute: int = 0, month: int = 4) -> str:
    """2027-<month>-<day> <hour>:<minute> +08:00 as ISO 8601."""
    return dt.datetime(2027, month, day, hour, minute, tzinfo=CST).isoformat()


@contextmanager
def rows(app):
    """Write rows directly (what other helpers' endpoints would write), committed."""
    with app.app_context(), audit.acting_as(TEST_ACTOR), transaction():
        yield db.session


def site_body(outreach, **over) -> dict:
    """A site on 16 April 09:00-12:00 at the school (S1C1), led by DZCB."""
    body = {
        "kind": "site",
        "title": "甲社区宣传点",
        "starts_at": at(16, 9),
        "ends_at": at(16, 12),
        "place_id": outreach.school,
        "lead": "DZCB",
    }
    body |= over
    if body["place_id"] is None:
        body.pop("place_id")
    return body


def create_event(client, headers, outreach, **over) -> dict:
    resp = client.post(
        f"{API}/programmes/{outreach.programme}/events",
        json=site_body(outreach, **over),
        headers=headers,
    )
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()


def get_event(client, headers, event_id: int) -> dict:
    resp = client.get(f"{API}/events/{event_id}", headers=headers)
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()


def step(client, headers, event_id: int, action: str, version: int, **extra):
    return client.post(
        f"{API}/events/{event_id}/{action}", json={"version": version, **extra}, headers=headers
    )


def roster(app, event_id: int, institution_id: int, phones: list[str], boards: int = 2) -> None:
    """A team for ``institution_id`` at ``event_id`` with one member per phone."""
    with rows(app) as session:
        team = OutreachTeam(event_id=event_id, institution_id=institution_id, boards=boards)
        for i, phone in enumerate(phones):
            stored = hasher().stored(phone)
            team.members.append(OutreachTeamMember(position=i, name=f"队员{i}", **stored))
        session.add(team)


def plan(app, event_id: int, institution_id: int, status: str = "approved") -> None:
    with rows(app) as session:
        session.add(
            OutreachPlan(
                event_id=event_id, institution_id=institution_id, text="方案", status=status
            )
        )


def report(app, event_id: int, institution_id: int) -> None:
    with rows(app) as session:
        session.add(OutreachReport(event_id=event_id, institution_id=institution_id))
