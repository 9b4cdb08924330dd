"""What gateways send back: delivery receipts, replies such as 退订, signed callbacks.

Receipts come two ways, from the dispatcher's ``poll()`` of an open gateway and from a gateway
account's signed HTTP callback (:func:`verify_callback`, then :func:`gateway_callback`); both
hand each event to :func:`apply_event`. A receipt moves an ``accepted`` row to ``delivered``
or ``failed``; a reply with an opt-out keyword puts the number in the opt-out register.
Repeats change nothing.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from sqlalchemy import select, update

from gridserve import audit
from gridserve.config import settings
from gridserve.db import utcnow
from gridserve.errors import NotFound, Unauthorized, ValidationFailed
from gridserve.extensions import db
from gridserve.models import Institution, SmsChannel, SmsMessage
from gridserve.services.sms.recipients import opt_out
from gridserve.sms import gateways, phones

SIGNATURE_HEADER = "X-Gridserve-Signature"
TIMESTAMP_HEADER = "X-Gridserve-Timestamp"
MAX_SKEW_SECONDS = 300


# --- receipts and replies ------------------------------------------------------------------


def apply_event(
    event: gateways.Receipt | gateways.Inbound, channel_ids: list[int] | None
) -> tuple[str, str]:
    """One receipt or reply from the gateways of ``channel_ids`` (None: any channel, for
    receipts): ``("receipt", outcome)`` or ``("reply", outcome)``. The one place that tells
    the two apart, for the dispatcher's polls and for signed callbacks alike."""
    if isinstance(event, gateways.Receipt):
        return "receipt", apply_receipt(event, channel_ids)
    return "reply", apply_reply(event, channel_ids or [])


def apply_receipt(receipt: gateways.Receipt, channel_ids: list[int] | None) -> str:
    """A delivery report: accepted → delivered or failed. Repeats change nothing."""
    cond = [SmsMessage.gateway_id == receipt.gateway_id]
    if channel_ids is not None:
        cond.append(SmsMessage.channel_id.in_(channel_ids))
    row = db.session.execute(select(SmsMessage).where(*cond).limit(1)).scalar_one_or_none()
    if row is None:
        return "unknown"
    if row.status != "accepted":
        return "duplicate"
    status = "delivered" if receipt.status == "delivered" else "failed"
    changed = db.session.execute(
        update(SmsMessage)
        .where(SmsMessage.id == row.id, SmsMessage.status == "accepted")
        .values(
            status=status,
            finished_at=receipt.at or utcnow(),
            error=None if status == "delivered" else f"{receipt.status}: {receipt.error or ''}",
        )
        .execution_options(synchronize_session=False)
    ).rowcount
    return status if changed else "duplicate"


def apply_reply(event: gateways.Inbound, channel_ids: list[int]) -> str:
    """A reply through a gateway: "1", "2" or "3" rates the case of the most recent case
    feedback sent to the number within ``case_rating_days`` (``"rated"``, or
    ``"already_rated"`` ignored; :mod:`gridserve.services.cases.feedback`); anything else
    goes to the opt-out check: an opt-out keyword puts the number in the register.

    It is an opt-out from the institution whose channel received it; from everyone when the
    gateway account is shared by several institutions (we cannot tell whom it answers).
    """
    channels = (
        list(db.session.execute(select(SmsChannel).where(SmsChannel.id.in_(channel_ids))).scalars())
        if channel_ids
        else []
    )
    rated = _case_rating(event)
    if rated is not None:
        return rated
    insts = {c.institution_id for c in channels}
    names = tuple(
        n
        for i in insts
        for n in (db.session.get(Institution, i).short_name, db.session.get(Institution, i).code)
    )
    if not phones.is_opt_out(event.text, names):
        return "ignored"
    try:
        phone = phones.to_e164(event.sender_phone)
    except ValueError:
        return "invalid_number"
    institution_id = next(iter(insts)) if len(insts) == 1 else None
    row = opt_out(phone, institution_id, "reply", f"reply: {event.text[:40]}")
    audit.record("sms_opt_out", "sms_opt_outs", row.id, {"source": "reply"})
    return "opted_out"


def _case_rating(event: gateways.Inbound) -> str | None:
    from gridserve.services.cases import feedback

    if feedback.reply_rating(event.text) is None:
        return None
    try:
        phone = phones.to_e164(event.sender_phone)
    except ValueError:
        return None
    return feedback.rate_by_reply(phone, event.text)


# --- gateway callbacks ---------------------------------------------------------------------


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The signature a gateway sends: hex HMAC-SHA256 of ``timestamp + "." + body``."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify_callback(name: str, headers: Any, body: bytes) -> None:
    """Refuse (401) a callback whose HMAC or timestamp is wrong; 404 for an unknown account."""
    account = settings().sms_accounts.get(name)
    secret = (account or {}).get("receipt_secret")
    if not secret:
        raise NotFound(f"No gateway account {name} takes callbacks.")
    stamp = headers.get(TIMESTAMP_HEADER, "")
    given = headers.get(SIGNATURE_HEADER, "")
    try:
        skew = abs(utcnow().timestamp() - int(stamp))
    except ValueError:
        skew = None
    if skew is None or skew > MAX_SKEW_SECONDS:
        raise Unauthorized(
            f"{TIMESTAMP_HEADER} must be the Unix time of sending, within 5 minutes.",
            code="bad_timestamp",
        )
    if not hmac.compare_digest(given, sign(secret, stamp, body)):
        raise Unauthorized("The callback signature does not match.", code="bad_signature")


def gateway_callback(name: str, payload: Any) -> dict[str, Any]:
    """Receipts and replies from an account's gateway (after :func:`verify_callback`);
    idempotent."""
    channels = list(
        db.session.execute(select(SmsChannel).where(SmsChannel.credentials_ref == name)).scalars()
    )
    if not channels:
        raise NotFound(f"No channel uses gateway account {name}.")
    try:
        events = gateways.parse_http_receipts(payload, dict(channels[0].settings or {}))
    except ValueError as exc:
        raise ValidationFailed(str(exc), code="invalid_receipt") from exc
    ids = [c.id for c in channels]
    results: dict[str, int] = {}
    for event in events:
        _, outcome = apply_event(event, ids)
        results[outcome] = results.get(outcome, 0) + 1
    return {"received": len(events), "results": results}
