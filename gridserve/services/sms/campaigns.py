"""SMS campaigns: the rotation schedule and the texts (mandated locked, custom reviewed).

Dispatch (outbox, gateways, the scheduler's jobs) builds on this; see the README.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from sqlalchemy import Select, select, update

from gridserve import audit
from gridserve.config import settings
from gridserve.db import utcnow
from gridserve.errors import Conflict, Forbidden, NotFound, ValidationFailed
from gridserve.extensions import db
from gridserve.models import Institution, SmsCampaign, SmsChannel, SmsSender, SmsText
from gridserve.models.sms.campaigns import TEXT_EDITABLE_STATUSES
from gridserve.pagination import apply_sort
from gridserve.scope import Principal, get_visible, visible
from gridserve.services.accounts import calendars
from gridserve.sms import rotation
from gridserve.sms import text as sms_text
from gridserve.versioning import refuse_stale, update_versioned
from gridserve.workdays import WorkingDays

COORDINATORS = ("coordinator",)
# The sending side: the coordinator, and a bank's contact for its own sender only (custom
# texts, recipients, channels, opt-outs). The district and street centres are not in it.
SENDER_STAFF = (*COORDINATORS, "institution_contact")
SORTABLE = {"id": SmsCampaign.id, "start_date": SmsCampaign.start_date, "code": SmsCampaign.code}


def _hhmm(value: str) -> dt.time:
    hour, minute = value.split(":")
    return dt.time(int(hour), int(minute))


def quiet_hours() -> tuple[dt.time, dt.time]:
    start, end = settings().quiet_hours.split("-")
    return _hhmm(start), _hhmm(end)


def _visible_campaigns(principal: Principal) -> Select:
    if principal.institution_id is not None:
        mine = select(SmsSender.campaign_id).where(
            SmsSender.institution_id == principal.institution_id
        )
        return select(SmsCampaign).where(SmsCampaign.id.in_(mine))
    return visible(SmsCampaign, principal)


def list_campaigns(principal: Principal, sort: str | None = None) -> Select:
    return apply_sort(_visible_campaigns(principal), sort, SORTABLE, "-start_date", SmsCampaign.id)


def get_campaign(principal: Principal, campaign_id: int) -> SmsCampaign:
    if principal.institution_id is None:
        return get_visible(SmsCampaign, campaign_id, principal)
    row = db.session.execute(
        _visible_campaigns(principal).where(SmsCampaign.id == campaign_id)
    ).scalar_one_or_none()
    if row is None:
        raise NotFound(f"No campaign {campaign_id}.")
    return row


def _institutions(campaign: SmsCampaign) -> dict[int, Institution]:
    ids = [s.institution_id for s in campaign.senders]
    rows = db.session.execute(select(Institution).where(Institution.id.in_(ids))).scalars()
    return {i.id: i for i in rows}


def unavailable_senders(campaign: SmsCampaign) -> dict[str, str]:
    """Senders that cannot use a slot now, with the reason (shown in the schedule)."""
    insts = _institutions(campaign)
    approved = set(
        db.session.execute(
            select(SmsText.sender_id).where(
                SmsText.campaign_id == campaign.id,
                SmsText.sender_id.is_not(None),
                SmsText.status == "approved",
            )
        ).scalars()
    )
    channels = {
        c.institution_id: c
        for c in db.session.execute(
            select(SmsChannel).where(SmsChannel.institution_id.in_(list(insts)))
        ).scalars()
    }
    out = {}
    for sender in campaign.senders:
        key = insts[sender.institution_id].code
        channel = channels.get(sender.institution_id)
        if channel is None:
            out[key] = "no channel configured"
        elif not channel.is_up:
            out[key] = "channel down"
        elif sender.id not in approved:
            out[key] = "custom content not approved"
    return out


def mandated_text(campaign_id: int) -> SmsText | None:
    """The campaign's approved (hence locked) mandated text, if there is one."""
    return db.session.execute(
        select(SmsText)
        .where(
            SmsText.campaign_id == campaign_id,
            SmsText.sender_id.is_(None),
            SmsText.status == "approved",
            SmsText.locked.is_(True),
        )
        .order_by(SmsText.id.desc())
        .limit(1)
    ).scalar_one_or_none()


def compute_schedule(
    campaign: SmsCampaign,
    *,
    unknown_years: Literal["raise", "stop"] = "stop",
    working_days: WorkingDays | None = None,
) -> rotation.Schedule:
    """The rotation as it stands now (availability judged on current content and channels).

    Working days come from the campaign's frozen days (slots that opened), then the calendar;
    by default the schedule stops before a year no calendar knows (``Schedule.unknown_year``).
    """
    insts = _institutions(campaign)
    plan = rotation.RotationPlan(
        senders=tuple(insts[s.institution_id].code for s in campaign.senders),
        start=campaign.start_date,
        end=campaign.end_date,
        slot_days=campaign.slot_days,
        window=(_hhmm(campaign.window_start), _hhmm(campaign.window_end)),
        working_days_only=campaign.working_days_only,
        rounds=campaign.rounds,
        rotate_each_round=campaign.rotate_each_round,
        policy=campaign.policy,  # type: ignore[arg-type]
        timezone=settings().timezone,
    )
    return rotation.compute(
        plan,
        quiet=quiet_hours(),
        unavailable=unavailable_senders(campaign),
        working_days=working_days or calendars.campaign_working_days(campaign.id),
        unknown_years=unknown_years,
    )


def schedule(principal: Principal, campaign_id: int) -> dict[str, Any]:
    """The computed slots: sender, start, end, round, status; and what the policy did."""
    campaign = get_campaign(principal, campaign_id)
    insts = _institutions(campaign)
    try:
        result = compute_schedule(campaign)
    except rotation.ScheduleError as exc:
        raise ValidationFailed(exc.message, code=exc.code, details=exc.details) from exc
    body = result.as_dict()
    names = {i.code: i.short_name for i in insts.values()}
    for slot in body["slots"]:
        slot["sender_name"] = names.get(slot["sender"])
    body["campaign"] = {"id": campaign.id, "code": campaign.code, "name": campaign.name}
    body["mandated_text_approved"] = mandated_text(campaign.id) is not None
    return body


# --- texts ---------------------------------------------------------------------------------


def _sender(campaign: SmsCampaign, institution_id: int | None) -> SmsSender | None:
    return next((s for s in campaign.senders if s.institution_id == institution_id), None)


def list_texts(principal: Principal, campaign_id: int) -> list[SmsText]:
    """The campaign's texts the caller may see (the whole list, oldest first)."""
    campaign = get_campaign(principal, campaign_id)
    stmt = select(SmsText).where(SmsText.campaign_id == campaign.id).order_by(SmsText.id)
    if principal.institution_id is not None:
        own = _sender(campaign, principal.institution_id)
        stmt = stmt.where(
            (SmsText.sender_id.is_(None)) | (SmsText.sender_id == (own.id if own else -1))
        )
    return list(db.session.execute(stmt).scalars())


def _clean_body(body: str) -> str:
    body = body.strip()
    if not body:
        raise ValidationFailed("The text is empty.", details={"fields": {"body": ["Required."]}})
    if sms_text.measure(body)["segments"] > 10:
        raise ValidationFailed(
            "The text is longer than 10 SMS segments.",
            code="text_too_long",
            details={"measure": sms_text.measure(body)},
        )
    return body


def create_text(
    principal: Principal,
    campaign_id: int,
    body: str,
    kind: str,
    sender_code: str | None = None,
) -> SmsText:
    """A new draft: the mandated text (coordinator) or a custom one (the sender's contact, or
    a coordinator writing for the sender named by ``sender_code``)."""
    principal.require(*SENDER_STAFF)
    campaign = get_campaign(principal, campaign_id)
    if kind == "mandated":
        principal.require(*COORDINATORS)
        sender_id = None
    else:
        institution_id = principal.institution_id
        if institution_id is None and sender_code:
            principal.require(*COORDINATORS)
            (inst,) = _institutions_by_code([sender_code])
            institution_id = inst.id
        own = _sender(campaign, institution_id)
        if own is None:
            raise Forbidden(
                "Custom texts are written by the sending institution's contact.",
                code="not_a_sender",
            )
        sender_id = own.id
    row = SmsText(campaign_id=campaign.id, sender_id=sender_id, body=_clean_body(body))
    db.session.add(row)
    db.session.flush()
    return row


def _text(principal: Principal, text_id: int) -> tuple[SmsText, SmsCampaign]:
    row = db.session.get(SmsText, text_id)
    if row is None:
        raise NotFound(f"No text {text_id}.")
    campaign = get_campaign(principal, row.campaign_id)
    if principal.institution_id is not None:
        own = _sender(campaign, principal.institution_id)
        if row.sender_id is not None and (own is None or row.sender_id != own.id):
            raise NotFound(f"No text {text_id}.")
    return row, campaign


def edit_text(principal: Principal, text_id: int, body: str, version: int) -> SmsText:
    """Change a text not yet approved; a locked mandated text is a 409, always."""
    principal.require(*SENDER_STAFF)
    row, _campaign = _text(principal, text_id)
    if row.sender_id is None:
        principal.require(*COORDINATORS)
    before = row.version
    changed = update_versioned(
        SmsText,
        version,
        SmsText.id == row.id,
        SmsText.locked.is_(False),
        SmsText.status.in_(TEXT_EDITABLE_STATUSES),
        body=_clean_body(body),
        status="draft",
        note=None,
    )
    db.session.refresh(row)
    if changed is None:
        state = {"status": row.status, "locked": row.locked}
        if not row.locked and row.version != version:
            refuse_stale(
                "This text cannot be changed now.", expected=version, current=row.version, **state
            )
        raise Conflict(
            "This text cannot be changed now.",
            code="text_locked" if row.locked else "text_in_review",
            details={**state, "version": row.version},
        )
    # A core UPDATE bypasses the flush-time audit listener: record the edit here.
    audit.record(
        "sms_text_edited",
        "sms_texts",
        row.id,
        {"version": [before, row.version], "body": row.body},
    )
    return row


def _move(row: SmsText, source: tuple[str, ...], target: str, **values: Any) -> SmsText:
    changed = db.session.execute(
        update(SmsText)
        .where(SmsText.id == row.id, SmsText.status.in_(source), SmsText.locked.is_(False))
        .values(status=target, **values)
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.refresh(row)
    if not changed:
        raise Conflict(
            f"The text is {row.status}{' and locked' if row.locked else ''}.",
            code="invalid_transition",
            details={"status": row.status, "target": target},
        )
    audit.record(f"sms_text_{target}", "sms_texts", row.id, {"version": row.version})
    return row


def submit(principal: Principal, text_id: int) -> SmsText:
    """Send a text for review: a custom one by its bank's contact or the coordinator, the
    mandated one by the coordinator."""
    principal.require(*SENDER_STAFF)
    row, _campaign = _text(principal, text_id)
    if row.sender_id is None:
        principal.require(*COORDINATORS)
    return _move(row, TEXT_EDITABLE_STATUSES, "submitted")


def review(principal: Principal, text_id: int, approve: bool, note: str | None) -> SmsText:
    """Coordinator: approve (a mandated text is locked for good) or return with a note."""
    principal.require(*COORDINATORS)
    row, _campaign = _text(principal, text_id)
    reviewed = {"reviewed_by": principal.user_id or None, "reviewed_at": utcnow(), "note": note}
    if approve:
        return _move(row, ("submitted",), "approved", locked=row.sender_id is None, **reviewed)
    return _move(row, ("submitted",), "returned", **reviewed)


# --- campaigns and channels ----------------------------------------------------------------

CAMPAIGN_FIELDS = (
    "code",
    "name",
    "start_date",
    "end_date",
    "slot_days",
    "window_start",
    "window_end",
    "working_days_only",
    "rounds",
    "rotate_each_round",
    "policy",
    "unsubscribe_suffix",
    "leading_group",
)


def _institutions_by_code(codes: list[str]) -> list[Institution]:
    found = {
        i.code: i
        for i in db.session.execute(
            select(Institution).where(Institution.code.in_(codes))
        ).scalars()
    }
    unknown = [c for c in codes if c not in found]
    if unknown:
        raise ValidationFailed(
            "Unknown institutions.",
            code="unknown_institution",
            details={"fields": {"senders": [f"No institution {c}." for c in unknown]}},
        )
    if len(set(codes)) != len(codes):
        raise ValidationFailed(
            "An institution appears twice in the order.",
            details={"fields": {"senders": ["Each sender once."]}},
        )
    return [found[c] for c in codes]


def create_campaign(principal: Principal, data: dict[str, Any]) -> SmsCampaign:
    """A coordinator's new campaign: the senders in order; the mandated text, if given, is
    stored submitted for approval (nothing is sent before it is approved and locked)."""
    principal.require(*COORDINATORS)
    from gridserve.models import Area
    from gridserve.scope import area_in_scope

    area = db.session.get(Area, data["area_id"])
    if area is None or not area_in_scope(area, principal):
        raise ValidationFailed(
            "No such area.", details={"fields": {"area_id": ["Unknown or out of your scope."]}}
        )
    if data["end_date"] < data["start_date"]:
        raise ValidationFailed(
            "The campaign ends before it starts.",
            details={"fields": {"end_date": ["On or after start_date."]}},
        )
    for key in ("window_start", "window_end"):
        if key in data:
            _hhmm(data[key])
    if data.get("working_days_only"):  # every day from start to end, not just the ones walked
        calendars.require_known(data["start_date"], data["end_date"])
    campaign = SmsCampaign(area_id=area.id, **{k: data[k] for k in CAMPAIGN_FIELDS if k in data})
    for position, inst in enumerate(_institutions_by_code(data["senders"]), start=1):
        campaign.senders.append(SmsSender(institution_id=inst.id, position=position))
    db.session.add(campaign)
    db.session.flush()
    try:
        compute_schedule(campaign, unknown_years="raise")
    except rotation.ScheduleError as exc:
        raise ValidationFailed(exc.message, code=exc.code, details=exc.details) from exc
    if data.get("mandated_text"):
        db.session.add(
            SmsText(
                campaign_id=campaign.id,
                body=_clean_body(data["mandated_text"]),
                status="submitted",
            )
        )
        db.session.flush()
    return campaign


def list_channels(principal: Principal) -> list[SmsChannel]:
    """The channels (an institution: its own), whole, by institution code."""
    stmt = select(SmsChannel, Institution.code).join(
        Institution, Institution.id == SmsChannel.institution_id
    )
    if principal.institution_id is not None:
        stmt = stmt.where(SmsChannel.institution_id == principal.institution_id)
    else:
        principal.require(*COORDINATORS)
    return [_with_code(c, code) for c, code in db.session.execute(stmt.order_by(Institution.code))]


def _with_code(channel: SmsChannel, code: str) -> SmsChannel:
    """``channel`` ready for its schema: ``institution_code``, its institution's code."""
    channel.institution_code = code  # type: ignore[attr-defined]
    return channel


def _check_gateway(data: dict[str, Any]) -> None:
    from pathlib import PurePosixPath

    from gridserve.sms import gateways

    channel_settings = data.get("settings") or {}
    if data["gateway"] == "file":
        path = PurePosixPath(str(channel_settings.get("path", "")))
        if not channel_settings.get("path") or path.is_absolute() or ".." in path.parts:
            raise ValidationFailed(
                "A file channel writes under the outbox directory: give a relative path.",
                code="gateway_misconfigured",
                details={"fields": {"settings": ["path: relative, without '..'"]}},
            )
    ref = data.get("credentials_ref")
    accounts = settings().sms_accounts
    if ref and ref not in accounts:
        raise ValidationFailed(
            f"No gateway account {ref} in the configuration (GRIDSERVE_SMS_ACCOUNTS).",
            code="gateway_misconfigured",
            details={"fields": {"credentials_ref": ["Not configured."]}},
        )
    try:
        gateway = gateways.build_gateway(
            data["gateway"],
            channel_settings,
            accounts.get(ref or "", {}),
            settings().sms_outbox_root,
            allowed_hosts=tuple(settings().sms_allowed_hosts),
        )
    except gateways.GatewayError as exc:
        raise ValidationFailed(exc.message, code="gateway_misconfigured") from exc
    try:
        # Where it would connect, resolved now: never the cloud's metadata service, 0.0.0.0,
        # or a host outside GRIDSERVE_SMS_ALLOWED_HOSTS. Checked again at each connect.
        gateways.check_destination(gateway)
    except gateways.GatewayError as exc:
        raise ValidationFailed(
            exc.message,
            code="gateway_misconfigured",
            details={"fields": {"settings": [exc.message]}},
        ) from exc
    finally:
        gateway.close()


def put_channel(principal: Principal, institution_code: str, data: dict[str, Any]) -> SmsChannel:
    """Set an institution's channel (coordinator). Secrets stay in configuration: the channel
    names the account (``credentials_ref``)."""
    principal.require(*COORDINATORS)
    (inst,) = _institutions_by_code([institution_code])
    _check_gateway(data)
    channel = db.session.execute(
        select(SmsChannel).where(SmsChannel.institution_id == inst.id)
    ).scalar_one_or_none()
    if channel is None:
        channel = SmsChannel(institution_id=inst.id)
        db.session.add(channel)
    for key in ("gateway", "credentials_ref", "settings", "signature", "rate_per_second", "is_up"):
        if key in data:
            setattr(channel, key, data[key])
    db.session.flush()
    return _with_code(channel, inst.code)
