"""Who gets texts: senders' recipient lists, audiences from the area tree, the opt-out register.

Replies that opt a number out arrive through :mod:`gridserve.services.sms.inbound`.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, func, or_, select

from gridserve import audit, crypto
from gridserve.db import insert_for, utcnow
from gridserve.errors import Forbidden, NotFound, ValidationFailed
from gridserve.extensions import db
from gridserve.models import (
    Area,
    Household,
    Institution,
    Place,
    SmsCampaign,
    SmsOptOut,
    SmsRecipient,
    SmsSender,
    SmsSlotRun,
)
from gridserve.privacy import mask_phone
from gridserve.scope import Principal, area_contains, area_in_scope, within_area
from gridserve.services.sms import campaigns as sms_service
from gridserve.services.sms import numbers as sms_numbers
from gridserve.services.sms import outbox
from gridserve.sms import phones

COORDINATORS = sms_service.COORDINATORS


def _sender(principal: Principal, campaign_id: int, institution_code: str) -> SmsSender:
    """The sender row, for its own institution's contact or a coordinator."""
    campaign = sms_service.get_campaign(principal, campaign_id)
    inst = db.session.execute(
        select(Institution).where(Institution.code == institution_code)
    ).scalar_one_or_none()
    sender = next((s for s in campaign.senders if inst and s.institution_id == inst.id), None)
    if sender is None:
        raise NotFound(f"{institution_code} does not send in campaign {campaign_id}.")
    if principal.institution_id is not None and principal.institution_id != sender.institution_id:
        raise NotFound(f"{institution_code} does not send in campaign {campaign_id}.")
    if principal.institution_id is None:
        principal.require(*COORDINATORS)
    return sender


def _add(sender: SmsSender, recipients: list[tuple[str, str | None]], source: str) -> int:
    """Insert new numbers (existing ones stay as they are); returns how many were new."""
    added = 0
    now = utcnow()
    hasher = sms_numbers.hasher()
    for start in range(0, len(recipients), 1000):
        chunk = recipients[start : start + 1000]
        stmt = (
            insert_for(SmsRecipient.__table__)
            .values(
                [
                    {
                        "sender_id": sender.id,
                        **hasher.stored(phone),
                        "name": name,
                        "source": source,
                        "created_at": now,
                    }
                    for phone, name in chunk
                ]
            )
            .on_conflict_do_nothing()
            .returning(SmsRecipient.__table__.c.id)
        )
        added += len(db.session.execute(stmt).all())
    if added:
        _fill_open_slots(sender)
    return added


def _fill_open_slots(sender: SmsSender) -> None:
    """Numbers added while the sender's slot is open join it at once."""
    now = utcnow()
    runs = db.session.execute(
        select(SmsSlotRun).where(
            SmsSlotRun.sender_id == sender.id,
            SmsSlotRun.slot_start <= now,
            SmsSlotRun.slot_end > now,
            SmsSlotRun.closed_at.is_(None),
        )
    ).scalars()
    for run in runs:
        outbox.materialize(run, now)


def import_csv(
    principal: Principal, campaign_id: int, institution_code: str, text: str
) -> dict[str, Any]:
    """A sender's customer list from CSV: E.164, duplicates dropped, bad rows reported."""
    sender = _sender(principal, campaign_id, institution_code)
    try:
        parsed = phones.parse_csv(text)
    except phones.RecipientFileError as exc:
        raise ValidationFailed(exc.message, code="invalid_csv", details=exc.details) from exc
    added = _add(sender, parsed.recipients, "csv")
    report = {
        "received": parsed.received,
        "added": added,
        "already_listed": len(parsed.recipients) - added,
        "duplicates_in_file": parsed.duplicates,
        "rejected_count": len(parsed.rejected),
        "rejected": parsed.rejected,
    }
    audit.record(
        "sms_recipients_imported",
        "sms_senders",
        sender.id,
        {k: v for k, v in report.items() if k != "rejected"},
    )
    return report


def add_audience(
    principal: Principal,
    campaign_id: int,
    institution_code: str,
    area_ids: list[int],
    kind: str,
    cell_ids: list[int] | None = None,
) -> dict[str, Any]:
    """Households (their registered phone) or enterprises (``attributes.phone``) of the given
    communities or cells, inside the campaign's area, added to a sender's list."""
    principal.require(*COORDINATORS)
    sender = _sender(principal, campaign_id, institution_code)
    campaign = db.session.get(SmsCampaign, campaign_id)
    root = db.session.get(Area, campaign.area_id)
    areas = [db.session.get(Area, i) for i in area_ids]
    bad = [i for i, a in zip(area_ids, areas, strict=True) if a is None]
    outside = [
        a.id
        for a in areas
        if a is not None and (not area_contains(root, a) or not area_in_scope(a, principal))
    ]
    if bad or outside:
        raise ValidationFailed(
            "Audiences come from areas inside the campaign's area.",
            code="area_outside_campaign",
            details={"unknown": bad, "outside": outside},
        )
    in_areas = or_(*[within_area(a) for a in areas]) if areas else None
    places = select(Place.id).join(Area, Area.id == Place.area_id)
    if in_areas is not None:
        places = places.where(in_areas)
    if cell_ids:
        places = places.where(Place.cell_id.in_(cell_ids))
    if not areas and not cell_ids:
        raise ValidationFailed(
            "Name communities or cells.", details={"fields": {"area_ids": ["Required."]}}
        )
    found: list[tuple[str, str | None]] = []
    invalid = 0
    if kind == "households":
        rows = db.session.execute(
            select(Household.phone_enc, Household.door_number).where(
                Household.place_id.in_(places.scalar_subquery()),
                Household.phone_enc.is_not(None),
            )
        )
        for enc, door in rows:
            try:
                found.append((phones.to_e164(crypto.decrypt(enc) or ""), door or None))
            except ValueError:
                invalid += 1
    else:
        rows = db.session.execute(
            select(Place.attributes, Place.name).where(
                Place.id.in_(places.scalar_subquery()), Place.type == "enterprise"
            )
        )
        for attrs, name in rows:
            phone = (attrs or {}).get("phone")
            if not phone:
                continue
            try:
                found.append((phones.to_e164(str(phone)), name or None))
            except ValueError:
                invalid += 1
    unique = list(dict(found).items())
    added = _add(sender, unique, kind)
    report = {
        "kind": kind,
        "found": len(found),
        "added": added,
        "already_listed": len(unique) - added,
        "invalid_numbers": invalid,
    }
    # Registered phones were read in clear to build the list: that is audited.
    audit.record("sms_audience_added", "sms_senders", sender.id, {**report, "areas": area_ids})
    return report


def list_recipients(principal: Principal, campaign_id: int, institution_code: str) -> Select:
    sender = _sender(principal, campaign_id, institution_code)
    return select(SmsRecipient).where(SmsRecipient.sender_id == sender.id).order_by(SmsRecipient.id)


def describe_recipient(row: SmsRecipient) -> dict[str, Any]:
    return {
        "id": row.id,
        "phone": mask_phone(sms_numbers.reveal(row.phone_enc)),
        "name": row.name,
        "source": row.source,
        "created_at": row.created_at,
    }


def recipient_count(sender_id: int) -> int:
    return db.session.execute(
        select(func.count()).where(SmsRecipient.sender_id == sender_id)
    ).scalar_one()


# --- the opt-out register ------------------------------------------------------------------


def _institution(code: str | None) -> Institution | None:
    if code is None:
        return None
    inst = db.session.execute(
        select(Institution).where(Institution.code == code)
    ).scalar_one_or_none()
    if inst is None:
        raise ValidationFailed(
            f"No institution {code}.", details={"fields": {"institution": ["Unknown code."]}}
        )
    return inst


def opt_out(
    phone: str, institution_id: int | None, source: str, note: str | None = None
) -> SmsOptOut:
    """Register an opt-out (idempotent: an existing entry is kept as it is)."""
    hasher = sms_numbers.hasher()
    db.session.execute(
        insert_for(SmsOptOut.__table__)
        .values(
            **hasher.stored(phone),
            institution_id=institution_id,
            source=source,
            note=note,
            created_at=utcnow(),
        )
        .on_conflict_do_nothing()
    )
    return db.session.execute(
        select(SmsOptOut).where(
            SmsOptOut.phone_hash == hasher(phone),
            SmsOptOut.institution_id.is_(None)
            if institution_id is None
            else SmsOptOut.institution_id == institution_id,
        )
    ).scalar_one()


def register_opt_out(
    principal: Principal, phone: str, institution_code: str | None, note: str | None
) -> dict[str, Any]:
    """Staff record an opt-out (global, or for one institution; a contact: its own only)."""
    try:
        e164 = phones.to_e164(phone)
    except ValueError as exc:
        raise ValidationFailed(str(exc), details={"fields": {"phone": [str(exc)]}}) from exc
    inst = _institution(institution_code)
    if principal.institution_id is not None:
        if inst is None or inst.id != principal.institution_id:
            raise Forbidden(
                "An institution records opt-outs from its own texts only.",
                code="not_your_institution",
            )
    else:
        principal.require(*COORDINATORS)
    row = opt_out(e164, inst.id if inst else None, "api", note)
    audit.record("sms_opt_out", "sms_opt_outs", row.id, {"scope": institution_code or "all"})
    return describe_opt_out(row)


def list_opt_outs(principal: Principal, phone: str | None = None) -> Select:
    stmt = select(SmsOptOut)
    if principal.institution_id is not None:
        stmt = stmt.where(
            or_(
                SmsOptOut.institution_id.is_(None),
                SmsOptOut.institution_id == principal.institution_id,
            )
        )
    else:
        principal.require(*COORDINATORS)
    if phone is not None:
        try:
            e164 = phones.to_e164(phone)
        except ValueError as exc:
            raise ValidationFailed(str(exc), details={"fields": {"phone": [str(exc)]}}) from exc
        stmt = stmt.where(SmsOptOut.phone_hash == sms_numbers.hasher()(e164))
    return stmt.order_by(SmsOptOut.id.desc())


def find_opt_outs(principal: Principal, phone: str) -> list[SmsOptOut]:
    """One number's entries in the register (those the caller may see), newest first."""
    return list(db.session.execute(list_opt_outs(principal, phone)).scalars())


def describe_opt_out(row: SmsOptOut) -> dict[str, Any]:
    code = None
    if row.institution_id is not None:
        code = db.session.get(Institution, row.institution_id).code
    return {
        "id": row.id,
        "phone": mask_phone(sms_numbers.reveal(row.phone_enc)),
        "institution": code,
        "source": row.source,
        "note": row.note,
        "created_at": row.created_at,
    }
