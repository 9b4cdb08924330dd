"""Rosters (参与人员名单): each participant's team and display boards for an event.

A participant (host, lead or co-organiser) files its own roster — its institution's contact, or
the coordinator for it. A person is identified by the mobile number (E.164), stored encrypted
with the keyed hash the "one person on two overlapping rosters" conflict compares. Phones are
shown in clear to the coordinator and to the team's own institution, masked to everyone else.

The helpers at the top (the event in scope, acting for an institution, an open event) are
shared by plans and reports.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from gridserve import audit
from gridserve.db import utcnow
from gridserve.errors import Conflict, Forbidden, ValidationFailed
from gridserve.extensions import db
from gridserve.models import (
    DEFAULT_BOOTH,
    Institution,
    OutreachEvent,
    OutreachTeam,
    OutreachTeamMember,
)
from gridserve.privacy import mask_phone
from gridserve.scope import Principal, get_visible
from gridserve.services.outreach.basics import institution_by_code, participant_ids
from gridserve.services.sms import numbers
from gridserve.sms.phones import to_e164
from gridserve.versioning import check_version, refuse_stale, update_versioned

# Who files for an institution: its contact, or the coordinator (admin always may).
WRITERS = ("coordinator", "institution_contact")
# Who reads what participants filed: the above, and the area users over the venue.
READERS = (*WRITERS, "station", "street_centre", "district_centre")
COORDINATORS = ("coordinator",)
# A roster cannot change once the event has taken place or was called off.
CLOSED = ("held", "reported", "cancelled")
MAX_MEMBERS = 200


# --- shared by rosters, plans and reports ------------------------------------------------------


def event_in_scope(principal: Principal, event_id: int) -> OutreachEvent:
    """The event, or 404 when it does not exist or the caller does not see it."""
    return get_visible(OutreachEvent, event_id, principal)


def is_coordinator(principal: Principal) -> bool:
    return principal.role in ("admin", *COORDINATORS)


def require_acting_for(principal: Principal, inst: Institution) -> None:
    """A contact acts only for its own institution (403 ``not_your_institution``)."""
    if is_coordinator(principal):
        return
    if principal.institution_id != inst.id:
        raise Forbidden(
            f"You may file only for your own institution, not for {inst.code}.",
            code="not_your_institution",
            details={"institution": inst.code},
        )


def require_participant(event: OutreachEvent, inst: Institution) -> None:
    """422 ``not_a_participant`` unless ``inst`` hosts, leads or co-organises ``event``."""
    if inst.id not in participant_ids(event):
        raise ValidationFailed(
            f"{inst.code} is not a participant of this event (host, lead or co-organiser).",
            code="not_a_participant",
            details={"institution": inst.code, "event_id": event.id},
        )


def require_open(event: OutreachEvent, what: str) -> None:
    """409 ``event_closed`` once the event was held, reported or cancelled."""
    if event.status in CLOSED:
        raise Conflict(
            f"The event is {event.status}: its {what} can no longer change.",
            code="event_closed",
            details={"status": event.status},
        )


def expected_version(version: int | None) -> int | None:
    """The API's ``version``: omitted or 0 means "create"; None here."""
    return version or None


def booth_rule(event: OutreachEvent) -> tuple[int, int]:
    """(people required per team, boards required) for ``event``: a launch counts
    ``min_group``, any other event ``min_team``."""
    booth = {**DEFAULT_BOOTH, **(event.booth or {})}
    people = booth["min_group"] if event.kind == "launch" else booth["min_team"]
    return int(people or 0), int(booth["boards"] or 0)


# --- rosters -----------------------------------------------------------------------------------


def _members(raw: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Members with their phone in E.164: 422 ``invalid_phone`` / ``duplicate_phone`` with the
    member's index."""
    if len(raw) > MAX_MEMBERS:
        raise ValidationFailed(
            f"A roster holds at most {MAX_MEMBERS} people.",
            code="validation_error",
            details={"fields": {"members": [f"At most {MAX_MEMBERS}."]}},
        )
    out: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    for index, member in enumerate(raw):
        try:
            phone = to_e164(member["phone"])
        except ValueError as exc:
            raise ValidationFailed(
                f"Member {index}: {exc}",
                code="invalid_phone",
                details={"index": index, "reason": str(exc)},
            ) from None
        if phone in seen:
            raise ValidationFailed(
                f"Member {index} has the same mobile number as member {seen[phone]}.",
                code="duplicate_phone",
                details={"index": index, "first_index": seen[phone]},
            )
        seen[phone] = index
        out.append({"name": member["name"].strip(), "duty": (member.get("duty") or "").strip(),
                    "phone": phone})  # fmt: skip
    return out


def set_roster(
    principal: Principal,
    event_id: int,
    code: str,
    members: list[dict[str, Any]],
    boards: int,
    version: int | None = None,
) -> OutreachTeam:
    """Create or replace ``code``'s roster for the event.

    ``members``: ``[{name, duty, phone}]``; ``version`` omitted or 0 creates, otherwise it must
    be the team's current version (409 ``stale_version``). 404 (event out of scope), 422
    ``unknown_institution``, 403 ``not_your_institution``, 422 ``not_a_participant``, 409
    ``event_closed``, 422 ``invalid_phone`` / ``duplicate_phone``.
    """
    event = event_in_scope(principal, event_id)
    inst = institution_by_code(code, "institution")
    require_acting_for(principal, inst)
    require_participant(event, inst)
    require_open(event, "rosters")
    people = _members(members)
    hasher = numbers.hasher()
    expected = expected_version(version)
    team = db.session.execute(
        select(OutreachTeam).where(
            OutreachTeam.event_id == event.id, OutreachTeam.institution_id == inst.id
        )
    ).scalar_one_or_none()
    if team is None:
        if expected is not None:
            refuse_stale("This roster does not exist yet: send no version.",
                         expected=version, current=None)  # fmt: skip
        team = OutreachTeam(event_id=event.id, institution_id=inst.id, boards=boards,
                            updated_by=principal.user_id or None)  # fmt: skip
        db.session.add(team)
    else:
        if expected is None:
            check_version("This roster exists: send its version.", expected=version,
                          current=team.version)  # fmt: skip
        new = update_versioned(
            OutreachTeam,
            expected,
            OutreachTeam.id == team.id,
            boards=boards,
            updated_by=principal.user_id or None,
            updated_at=utcnow(),
        )
        if new is None:
            db.session.refresh(team)
            refuse_stale("The roster changed since you read it.", expected=version,
                         current=team.version)  # fmt: skip
        db.session.refresh(team)
    team.members = [
        OutreachTeamMember(position=i, name=p["name"], duty=p["duty"], **hasher.stored(p["phone"]))
        for i, p in enumerate(people)
    ]
    db.session.flush()
    audit.record("outreach.roster.set", "outreach_team", team.id, {
        "event_id": event.id, "institution": inst.code, "members": len(people),
        "boards": boards, "version": team.version,
    })  # fmt: skip
    return team


@dataclass
class TeamView:
    """One participant's team as the roster list shows it (rows for the schema)."""

    institution: str
    institution_name: str
    participant: bool
    filed: bool
    boards: int
    members: list[dict[str, Any]]
    min_team: int
    boards_required: int
    version: int
    updated_at: dt.datetime | None
    size: int = 0
    meets_min_team: bool = False
    meets_boards: bool = False
    problems: list[str] = field(default_factory=list)


def _sees_phones(principal: Principal, institution_id: int) -> bool:
    return is_coordinator(principal) or principal.institution_id == institution_id


def list_teams(principal: Principal, event_id: int) -> list[TeamView]:
    """Every participant's team (an empty one for a participant who has filed none), then any
    team of an institution that no longer takes part. Phones clear for the coordinator and the
    team's own institution, masked for the others."""
    event = event_in_scope(principal, event_id)
    people, boards_required = booth_rule(event)
    teams = {
        t.institution_id: t
        for t in db.session.scalars(select(OutreachTeam).where(OutreachTeam.event_id == event.id))
    }
    order = participant_ids(event)
    order += [i for i in teams if i not in order]
    institutions = {
        i.id: i for i in db.session.scalars(select(Institution).where(Institution.id.in_(order)))
    }
    out = []
    for inst_id in order:
        team = teams.get(inst_id)
        clear = _sees_phones(principal, inst_id)
        members = []
        for m in team.members if team else []:
            phone = numbers.reveal(m.phone_enc)
            members.append({"name": m.name, "duty": m.duty,
                            "phone": phone if clear else mask_phone(phone)})  # fmt: skip
        view = TeamView(
            institution=institutions[inst_id].code,
            institution_name=institutions[inst_id].name,
            participant=inst_id in order[: len(participant_ids(event))],
            filed=team is not None,
            boards=team.boards if team else 0,
            members=members,
            min_team=people,
            boards_required=boards_required,
            version=team.version if team else 0,
            updated_at=team.updated_at if team else None,
        )
        view.size = len(members)
        view.meets_min_team = view.size >= people
        view.meets_boards = view.boards >= boards_required
        if not view.filed:
            view.problems.append("no_team")
        elif not view.meets_min_team:
            view.problems.append("team_below_minimum")
        if not view.meets_boards:
            view.problems.append("boards_missing")
        out.append(view)
    return out
