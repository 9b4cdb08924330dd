"""Is an event ready? Every rule that does not hold yet, and who must act on it.

Rules, each item ``{rule, institution, who, message, ...}``:

- ``no_team``: a participant has filed no roster (that institution acts);
- ``team_below_minimum``: its roster is below ``booth.min_team`` (``booth.min_group`` at a
  launch);
- ``boards_missing``: it brings fewer display boards than ``booth.boards``;
- ``plan_not_approved``: a site or compound without an approved site plan (the lead acts);
- ``venue_unconfirmed``: the venue is not confirmed yet (the coordinator acts);
- every conflict of :func:`gridserve.services.outreach.conflicts.conflicts_for` (the
  coordinator acts), its ``code`` as the rule.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from gridserve.extensions import db
from gridserve.models import DEFAULT_BOOTH, OutreachEvent, OutreachPlan, OutreachTeam
from gridserve.scope import Principal
from gridserve.services.outreach.basics import LED_KINDS, participants
from gridserve.services.outreach.conflicts import conflicts_for
from gridserve.services.outreach.events import get_event

COORDINATOR = "coordinator"


def readiness_of(event: OutreachEvent) -> dict[str, Any]:
    """``{event_id, status, ready, items}`` for ``event``."""
    booth = {**DEFAULT_BOOTH, **(event.booth or {})}
    launch = event.kind == "launch"
    minimum = int(booth["min_group"] if launch else booth["min_team"])
    boards = int(booth["boards"])
    teams = {
        t.institution_id: t
        for t in db.session.scalars(select(OutreachTeam).where(OutreachTeam.event_id == event.id))
    }
    items: list[dict[str, Any]] = []
    for inst in participants(event):
        team = teams.get(inst.id)
        if team is None:
            items.append(
                {
                    "rule": "no_team",
                    "institution": inst.code,
                    "who": inst.code,
                    "message": f"{inst.code} has not named its team.",
                    "need": minimum,
                    "have": 0,
                }
            )
            continue
        size = len(team.members)
        if size < minimum:
            items.append(
                {
                    "rule": "team_below_minimum",
                    "institution": inst.code,
                    "who": inst.code,
                    "message": f"{inst.code} fields {size} of the {minimum} people "
                    + ("a launch group needs." if launch else "a team needs."),
                    "need": minimum,
                    "have": size,
                }
            )
        if team.boards < boards:
            items.append(
                {
                    "rule": "boards_missing",
                    "institution": inst.code,
                    "who": inst.code,
                    "message": f"{inst.code} brings {team.boards} of {boards} display boards.",
                    "need": boards,
                    "have": team.boards,
                }
            )
    if event.kind in LED_KINDS:
        plan = db.session.execute(
            select(OutreachPlan).where(OutreachPlan.event_id == event.id)
        ).scalar_one_or_none()
        if plan is None or plan.status != "approved":
            lead = event.lead.code if event.lead is not None else None
            items.append(
                {
                    "rule": "plan_not_approved",
                    "institution": lead,
                    "who": lead if plan is None or plan.status == "returned" else COORDINATOR,
                    "message": "The lead has not filed its site plan."
                    if plan is None
                    else f"The site plan is {plan.status}.",
                    "plan_status": None if plan is None else plan.status,
                }
            )
    if not event.venue_confirmed:
        items.append(
            {
                "rule": "venue_unconfirmed",
                "institution": None,
                "who": COORDINATOR,
                "message": "The venue is not confirmed yet.",
            }
        )
    for conflict in conflicts_for(event):
        items.append(
            {
                "rule": conflict["code"],
                "institution": conflict.get("institution"),
                "who": COORDINATOR,
                **{k: v for k, v in conflict.items() if k not in ("code", "institution")},
            }
        )
    return {"event_id": event.id, "status": event.status, "ready": not items, "items": items}


def readiness(principal: Principal, event_id: int) -> dict[str, Any]:
    """The readiness of an event the caller sees (404 otherwise)."""
    return readiness_of(get_event(principal, event_id))
