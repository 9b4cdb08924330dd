"""Referrals (转介): a need one institution cannot serve, passed to another institution or a
named person there, on a numbered card (转介卡); points for the referrer on conversion.

Rules:

Who
    Institution contacts create, accept and record outcomes (admin always may); the
    coordinator and area users (station, street and district centre) read; workers are refused
    (403 before anything they sent is read). Every read goes through :mod:`gridserve.scope`
    (``"referral"``): a contact sees the cards its institution sent or received and no other;
    area users the cards of enterprises in their area; the coordinator those of its area.
Creating (:func:`create`)
    From exactly one of ``visit_id`` (an :class:`OutreachVisit`) or ``enterprise_id`` (an
    :class:`OutreachEnterprise`) the caller sees (both or neither: 422 ``validation_error``;
    one it does not see: 404). The sending institution is the caller's; for admin, who has
    none, it is the enterprise's responsible institution (the visit's institution). The
    sending user is the caller: the referrer, who earns the points. ``to_institution`` is a
    code (422 ``unknown_institution``) other than the sender's (422 ``same_institution``);
    ``to_user_id``, when given, must be an active institution_contact account of that
    institution (422 ``unknown_user``). ``need`` is required and not blank. Programme and
    area (the enterprise's community) come from the enterprise.
The number
    ``ZJ-<year>-<6 digits>``: the year is the local year (zone of the programme's area) of the
    creation, the sequence runs per year from 000001. It is the year's highest number plus one,
    read inside the transaction; the unique constraint on ``number`` settles a race (two
    requests reading the same highest number): the loser's insert is rolled back to its
    savepoint and it reads again (SQLite has one writer at a time; on PostgreSQL the second
    insert waits for the first to commit, then sees its number).
Accepting (:func:`accept`)
    ``sent`` → ``accepted`` (from any other status: 409 ``invalid_transition``). Any contact of
    the receiving institution accepts, also when the card names a person there
    (``to_user_id``): the card is addressed to that person, the institution answers for it
    (someone covers an absence). A contact of another institution (the sender): 403
    ``not_receiver``.
Outcome (:func:`record_outcome`)
    The receiving side again, only from ``accepted`` (else 409 ``invalid_transition``):
    ``converted`` gives the card ``settings().outreach_referral_points`` points (the value at
    conversion: a later change of the setting does not touch earlier cards); ``not_converted``
    requires a ``care_note`` (客户关怀卡: how the customer is followed up; 422
    ``validation_error``) and gives 0 points.
Versions
    Accept and outcome take an optional ``version``: given and not the card's, 409
    ``stale_version``. Each is one conditional UPDATE on status (and version), so two
    simultaneous accepts give one 200 and one 409. Every change is audited.
The register (:func:`register`)
    Over the visible cards (filters ``programme``, ``institution``): per person and per
    institution ``sent`` (cards it sent), ``received`` (cards addressed to it: for a person,
    those naming them as ``to_user``), and the fate of the cards it *sent*: ``accepted``
    (accepted at some point, whatever the outcome since), ``converted``, ``not_converted``,
    ``points`` (the referrer's points).

No Flask request in here and no commits: the request boundary commits.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Select, func, or_, select
from sqlalchemy.exc import IntegrityError

from gridserve import audit
from gridserve.config import settings
from gridserve.db import utcnow
from gridserve.errors import Conflict, Forbidden, ValidationFailed
from gridserve.extensions import db
from gridserve.models import (
    Institution,
    OutreachEnterprise,
    OutreachProgramme,
    OutreachReferral,
    OutreachVisit,
    User,
)
from gridserve.pagination import apply_sort
from gridserve.scope import Principal, get_visible, visible
from gridserve.services.geography.areas import zone_of
from gridserve.services.outreach.basics import (
    READERS,
    institution_by_code,
    institution_codes,
    programme_zones,
    user_id,
    usernames,
)
from gridserve.versioning import refuse_stale, update_versioned

# Who creates, accepts and records outcomes (admin always may).
ACTORS = ("institution_contact",)
# Who reads cards and the register (in their scope).
REFERRAL_READERS = READERS
PREFIX = "ZJ"
DIRECTIONS = ("sent", "received")
OUTCOMES = ("converted", "not_converted")
STALE = "The referral changed since you read it."
# How often a lost race for a number is retried before giving up with a 409.
NUMBER_ATTEMPTS = 5
SORTABLE = {
    "id": OutreachReferral.id,
    "number": OutreachReferral.number,
    "status": OutreachReferral.status,
    "created_at": OutreachReferral.created_at,
}


# --- creating --------------------------------------------------------------------------------


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def _source(
    principal: Principal, visit_id: int | None, enterprise_id: int | None
) -> tuple[OutreachEnterprise, OutreachVisit | None]:
    """The enterprise referred from (and the visit, if from one); 404 out of scope."""
    if (visit_id is None) == (enterprise_id is None):
        message = "Give exactly one of visit_id and enterprise_id."
        raise ValidationFailed(
            message,
            details={"fields": {"visit_id": [message], "enterprise_id": [message]}},
        )
    if visit_id is not None:
        visit = get_visible(OutreachVisit, visit_id, principal)
        return db.session.get(OutreachEnterprise, visit.enterprise_id), visit  # type: ignore[return-value]
    return get_visible(OutreachEnterprise, enterprise_id, principal), None


def _receiver(institution: Institution, to_user_id: int | None) -> User | None:
    """The named person at ``institution``: an active contact account of it (422
    ``unknown_user``)."""
    if to_user_id is None:
        return None
    user = db.session.get(User, to_user_id)
    if (
        user is None
        or not user.is_active
        or user.role != "institution_contact"
        or user.institution_id != institution.id
    ):
        raise ValidationFailed(
            f"No active contact account {to_user_id} of {institution.code}.",
            code="unknown_user",
            details={
                "to_user_id": to_user_id,
                "institution": institution.code,
                "fields": {"to_user_id": [f"Not an active contact account of {institution.code}."]},
            },
        )
    return user


def year_of(at: dt.datetime, area_id: int) -> int:
    """The local year (zone of ``area_id``) a card made at ``at`` is numbered in."""
    return at.astimezone(zone_of(area_id)).year


def _last_number(year: int) -> str | None:
    """The year's highest card number (6-digit sequences sort as text)."""
    return db.session.execute(
        select(func.max(OutreachReferral.number)).where(
            OutreachReferral.number.like(f"{PREFIX}-{year}-%")
        )
    ).scalar_one_or_none()


def next_number(year: int) -> str:
    """``ZJ-<year>-<sequence>``: one more than the year's highest number, from 000001."""
    last = _last_number(year)
    sequence = int(last.rsplit("-", 1)[1]) + 1 if last else 1
    return f"{PREFIX}-{year}-{sequence:06d}"


def _number_taken(number: str) -> bool:
    return (
        db.session.execute(
            select(OutreachReferral.id).where(OutreachReferral.number == number)
        ).first()
        is not None
    )


def create(principal: Principal, data: dict[str, Any]) -> OutreachReferral:
    """A new card (status ``sent``); ``data``: ``visit_id`` | ``enterprise_id``,
    ``to_institution`` (code), ``to_user_id``, ``need``, ``note``. See the module's rules."""
    principal.require(*ACTORS)
    need = _text(data.get("need"))
    if not need:
        raise ValidationFailed(
            "Say what the enterprise needs.",
            details={"fields": {"need": ["Required, not blank."]}},
        )
    enterprise, visit = _source(principal, data.get("visit_id"), data.get("enterprise_id"))
    to = institution_by_code(_text(data.get("to_institution")), "to_institution")
    from_id = principal.institution_id
    if from_id is None:  # admin: on behalf of the enterprise's responsible institution
        from_id = visit.institution_id if visit is not None else enterprise.institution_id
    if to.id == from_id:
        raise ValidationFailed(
            "Refer to another institution, not your own.",
            code="same_institution",
            details={"to_institution": to.code,
                     "fields": {"to_institution": ["Another institution than the sender."]}},
        )  # fmt: skip
    receiver = _receiver(to, data.get("to_user_id"))
    programme = db.session.get(OutreachProgramme, enterprise.programme_id)
    now = utcnow()
    year = year_of(now, programme.area_id)  # type: ignore[union-attr]
    db.session.flush()  # what is pending goes before the savepoint
    for _attempt in range(NUMBER_ATTEMPTS):
        number = next_number(year)
        referral = OutreachReferral(
            number=number,
            programme_id=enterprise.programme_id,
            enterprise_id=enterprise.id,
            visit_id=visit.id if visit is not None else None,
            area_id=enterprise.area_id,
            from_institution_id=from_id,
            from_user_id=user_id(principal),
            to_institution_id=to.id,
            to_user_id=receiver.id if receiver is not None else None,
            need=need,
            note=_text(data.get("note")),
            status="sent",
            points=0,
            version=1,
        )
        try:
            with db.session.begin_nested():  # only the new card: a lost race rolls back here
                db.session.add(referral)
        except IntegrityError:
            if not _number_taken(number):
                raise
            continue  # another request took this number first: read the highest again
        return referral
    raise Conflict(
        "Too many referrals are being numbered at once; try again.",
        code="number_conflict",
        details={"year": year},
    )


# --- reading ---------------------------------------------------------------------------------


def list_referrals(
    principal: Principal,
    *,
    programme: int | None = None,
    institution: str | None = None,
    direction: str | None = None,
    status: str | None = None,
    enterprise: int | None = None,
    sort: str | None = None,
) -> Select:
    """The visible cards, newest first by default.

    ``institution``: a code (422 ``unknown_institution``): cards it sent or received.
    ``direction`` (``sent``/``received``) is relative to ``institution`` when given, else to
    the caller's institution (neither: 422 ``validation_error``)."""
    principal.require(*REFERRAL_READERS)
    stmt = visible(OutreachReferral, principal)
    party: int | None = principal.institution_id
    if institution:
        party = institution_by_code(institution, "institution").id
        stmt = stmt.where(
            (OutreachReferral.from_institution_id == party)
            | (OutreachReferral.to_institution_id == party)
        )
    if direction:
        if party is None:
            message = "direction needs an institution: give institution=<code>."
            raise ValidationFailed(message, details={"fields": {"direction": [message]}})
        column = (
            OutreachReferral.from_institution_id
            if direction == "sent"
            else OutreachReferral.to_institution_id
        )
        stmt = stmt.where(column == party)
    if programme is not None:
        stmt = stmt.where(OutreachReferral.programme_id == programme)
    if status:
        stmt = stmt.where(OutreachReferral.status == status)
    if enterprise is not None:
        stmt = stmt.where(OutreachReferral.enterprise_id == enterprise)
    return apply_sort(stmt, sort, SORTABLE, "-created_at", OutreachReferral.id.desc())


def get(principal: Principal, referral_id: int) -> OutreachReferral:
    """One card in the caller's scope (404 otherwise)."""
    principal.require(*REFERRAL_READERS)
    return get_visible(OutreachReferral, referral_id, principal)


def present(rows: list[OutreachReferral]) -> list[dict[str, Any]]:
    """Cards ready for their schema: codes, usernames, the enterprise, local times (zone of
    the programme's area)."""
    if not rows:
        return []
    inst_ids = {r.from_institution_id for r in rows} | {r.to_institution_id for r in rows}
    codes = institution_codes(inst_ids)
    names = usernames(
        u for r in rows for u in (r.from_user_id, r.to_user_id, r.accepted_by, r.outcome_by)
    )
    enterprises = {
        e.id: e
        for e in db.session.scalars(
            select(OutreachEnterprise).where(
                OutreachEnterprise.id.in_({r.enterprise_id for r in rows})
            )
        )
    }
    zones = programme_zones(r.programme_id for r in rows)

    def local(value: dt.datetime | None, programme_id: int) -> dt.datetime | None:
        return None if value is None else value.astimezone(zones[programme_id])

    out = []
    for r in rows:
        ent = enterprises[r.enterprise_id]
        out.append(
            {
                "id": r.id,
                "number": r.number,
                "programme_id": r.programme_id,
                "enterprise_id": r.enterprise_id,
                "enterprise": {"credit_code": ent.credit_code, "name": ent.name},
                "visit_id": r.visit_id,
                "area_id": r.area_id,
                "from_institution": codes.get(r.from_institution_id),
                "from_user": names.get(r.from_user_id),
                "to_institution": codes.get(r.to_institution_id),
                "to_user": names.get(r.to_user_id),
                "need": r.need,
                "note": r.note,
                "status": r.status,
                "accepted_at": local(r.accepted_at, r.programme_id),
                "accepted_by": names.get(r.accepted_by),
                "outcome_at": local(r.outcome_at, r.programme_id),
                "outcome_by": names.get(r.outcome_by),
                "care_note": r.care_note,
                "points": r.points,
                "version": r.version,
                "created_at": local(r.created_at, r.programme_id),
            }
        )
    return out


# --- the receiving side ----------------------------------------------------------------------


def _as_receiver(principal: Principal, referral_id: int) -> OutreachReferral:
    """The card, for a contact of its receiving institution (or admin): 404 out of scope,
    403 ``not_receiver`` for the sender's contacts."""
    principal.require(*ACTORS)
    referral = get_visible(OutreachReferral, referral_id, principal)
    if principal.role != "admin" and principal.institution_id != referral.to_institution_id:
        raise Forbidden(
            "Only the receiving institution acts on a referral.",
            code="not_receiver",
            details={"referral": referral.number},
        )
    return referral


def _refuse(referral: OutreachReferral, to: str) -> None:
    raise Conflict(
        f"A {referral.status} referral cannot become {to}.",
        code="invalid_transition",
        details={"status": referral.status, "to": to},
    )


def _step(
    referral: OutreachReferral, start: str, to: str, based_on: int | None, **values: Any
) -> OutreachReferral:
    """Move ``referral`` from ``start`` to ``to`` with one conditional UPDATE on status and
    version (409 ``stale_version`` / ``invalid_transition`` when it moved on)."""
    if based_on is not None and based_on != referral.version:
        refuse_stale(STALE, expected=based_on, current=referral.version)
    if referral.status != start:
        _refuse(referral, to)
    new_version = update_versioned(
        OutreachReferral,
        based_on,
        OutreachReferral.id == referral.id,
        OutreachReferral.status == start,
        status=to,
        updated_at=utcnow(),
        **values,
    )
    db.session.expire(referral)
    if new_version is None:  # someone else moved it first
        if based_on is not None and referral.version != based_on:
            refuse_stale(STALE, expected=based_on, current=referral.version)
        _refuse(referral, to)
    audit.record(
        f"outreach_referral.{to}",
        "outreach_referrals",
        referral.id,
        {"number": referral.number, "from": start, "to": to,
         "version": [new_version - 1, new_version], **values},  # type: ignore[operator]
    )  # fmt: skip
    return referral


def accept(principal: Principal, referral_id: int, version: int | None = None) -> OutreachReferral:
    """``sent`` → ``accepted`` by a contact of the receiving institution (any of them, also
    when the card names a person there)."""
    referral = _as_receiver(principal, referral_id)
    return _step(
        referral, "sent", "accepted", version,
        accepted_at=utcnow(), accepted_by=user_id(principal),
    )  # fmt: skip


def record_outcome(
    principal: Principal, referral_id: int, data: dict[str, Any]
) -> OutreachReferral:
    """``accepted`` → ``converted`` (the referrer's points: ``outreach_referral_points``) or
    ``not_converted`` (``care_note`` required, 0 points). ``data``: ``outcome``,
    ``care_note``, ``version``."""
    referral = _as_receiver(principal, referral_id)
    outcome = data.get("outcome")
    if outcome not in OUTCOMES:
        raise ValidationFailed(
            "outcome: converted or not_converted.",
            details={"fields": {"outcome": [f"One of: {', '.join(OUTCOMES)}."]}},
        )
    care_note = _text(data.get("care_note"))
    if outcome == "not_converted" and not care_note:
        raise ValidationFailed(
            "Say how the customer is followed up (客户关怀) when the need was not converted.",
            details={"fields": {"care_note": ["Required when not converted."]}},
        )
    points = settings().outreach_referral_points if outcome == "converted" else 0
    return _step(
        referral, "accepted", outcome, data.get("version"),
        outcome_at=utcnow(), outcome_by=user_id(principal), care_note=care_note, points=points,
    )  # fmt: skip


# --- the register ----------------------------------------------------------------------------

COUNTS = ("sent", "received", "accepted", "converted", "not_converted", "points")


def _blank() -> dict[str, int]:
    return dict.fromkeys(COUNTS, 0)


def _tally(row: dict[str, int], status: str, points: int) -> None:
    """Count one card sent by ``row``'s holder."""
    row["sent"] += 1
    row["accepted"] += status != "sent"
    row["converted"] += status == "converted"
    row["not_converted"] += status == "not_converted"
    row["points"] += points


def register(
    principal: Principal, *, programme: int | None = None, institution: str | None = None
) -> dict[str, list[dict[str, Any]]]:
    """Per person and per institution over the visible cards (see the module's rules):
    ``{people: [{user, institution, sent, received, accepted, converted, not_converted,
    points}], institutions: [{institution, name, ...}]}``, most points first."""
    principal.require(*REFERRAL_READERS)
    cards = visible(OutreachReferral, principal).with_only_columns(
        OutreachReferral.from_institution_id,
        OutreachReferral.from_user_id,
        OutreachReferral.to_institution_id,
        OutreachReferral.to_user_id,
        OutreachReferral.status,
        OutreachReferral.points,
    )
    if programme is not None:
        cards = cards.where(OutreachReferral.programme_id == programme)
    if institution:
        party = institution_by_code(institution, "institution").id
        cards = cards.where(
            or_(
                OutreachReferral.from_institution_id == party,
                OutreachReferral.to_institution_id == party,
            )
        )
    people: dict[int, dict[str, int]] = {}
    insts: dict[int, dict[str, int]] = {}
    for from_inst, from_user, to_inst, to_user, status, points in db.session.execute(cards):
        _tally(insts.setdefault(from_inst, _blank()), status, points)
        insts.setdefault(to_inst, _blank())["received"] += 1
        if from_user is not None:
            _tally(people.setdefault(from_user, _blank()), status, points)
        if to_user is not None:
            people.setdefault(to_user, _blank())["received"] += 1
    accounts = {
        uid: (username, code)
        for uid, username, code in db.session.execute(
            select(User.id, User.username, Institution.code)
            .outerjoin(Institution, Institution.id == User.institution_id)
            .where(User.id.in_(list(people) or [0]))
        )
    }
    named = {
        i.id: i
        for i in db.session.scalars(
            select(Institution).where(Institution.id.in_(list(insts) or [0]))
        )
    }

    def order(item: dict[str, Any]) -> tuple:
        return (-item["points"], -item["sent"], -item["received"], item["key"])

    person_rows = [
        {"key": accounts[uid][0], "user": accounts[uid][0], "institution": accounts[uid][1],
         **counts}
        for uid, counts in people.items()
        if uid in accounts
    ]  # fmt: skip
    inst_rows = [
        {"key": named[iid].code, "institution": named[iid].code, "name": named[iid].name, **counts}
        for iid, counts in insts.items()
    ]
    for rows in (person_rows, inst_rows):
        rows.sort(key=order)
        for item in rows:
            del item["key"]
    return {"people": person_rows, "institutions": inst_rows}


__all__ = [
    "ACTORS",
    "DIRECTIONS",
    "OUTCOMES",
    "REFERRAL_READERS",
    "accept",
    "create",
    "get",
    "list_referrals",
    "next_number",
    "present",
    "record_outcome",
    "register",
    "year_of",
]
