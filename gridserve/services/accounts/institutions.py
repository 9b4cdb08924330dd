"""Institutions (the regulator and the banks), their aliases and contacts."""

from __future__ import annotations

import unicodedata
from typing import Any

from sqlalchemy import Select, or_, select

from gridserve import crypto
from gridserve.errors import Conflict, NotFound
from gridserve.extensions import db
from gridserve.models import Institution, InstitutionAlias, InstitutionContact
from gridserve.pagination import apply_sort
from gridserve.privacy import mask_phone
from gridserve.scope import Principal, get_visible, visible

SORTABLE = {
    "code": Institution.code,
    "name": Institution.name,
    "short_name": Institution.short_name,
    "level": Institution.level,
    "id": Institution.id,
}
MANAGERS = ("coordinator",)
# Who edits contact persons: managers, and an institution's own contacts (theirs only).
CONTACT_EDITORS = (*MANAGERS, "institution_contact")


def normalize_name(name: str) -> str:
    """Fold width and case, drop spaces and punctuation: '邮 储' ~ '邮储', 'ICBC' ~ 'icbc'."""
    folded = unicodedata.normalize("NFKC", name).casefold()
    return "".join(ch for ch in folded if ch.isalnum())


def list_institutions(
    principal: Principal,
    *,
    q: str | None = None,
    level: str | None = None,
    kind: str | None = None,
    sort: str | None = None,
) -> Select:
    stmt = visible(Institution, principal)
    if q:
        key = normalize_name(q)
        alias_hit = select(InstitutionAlias.institution_id).where(
            InstitutionAlias.normalized.contains(key, autoescape=True)
        )
        stmt = stmt.where(
            or_(
                Institution.id.in_(alias_hit),
                Institution.code.ilike(f"%{q}%"),
                Institution.name_en.ilike(f"%{q}%"),
            )
        )
    if level:
        stmt = stmt.where(Institution.level == level)
    if kind:
        stmt = stmt.where(Institution.kind == kind)
    return apply_sort(stmt, sort, SORTABLE, "code", Institution.id)


def get_institution(principal: Principal, institution_id: int) -> Institution:
    return get_visible(Institution, institution_id, principal)


def resolve(name: str) -> Institution | None:
    """The institution called ``name`` by its full name, short name or any alias."""
    return db.session.execute(
        select(Institution)
        .join(InstitutionAlias)
        .where(InstitutionAlias.normalized == normalize_name(name))
    ).scalar_one_or_none()


def find_by_code(code: str) -> Institution | None:
    return db.session.execute(
        select(Institution).where(Institution.code == code)
    ).scalar_one_or_none()


def _names(full: str, short: str, aliases: list[str]) -> list[str]:
    seen: dict[str, str] = {}
    for name in [full, short, *aliases]:
        key = normalize_name(name)
        if key and key not in seen:
            seen[key] = name.strip()
    return list(seen.values())


def _set_aliases(inst: Institution, names: list[str]) -> None:
    wanted = {normalize_name(n): n for n in names}
    taken = db.session.execute(
        select(InstitutionAlias.normalized, Institution.short_name)
        .join(Institution)
        .where(
            InstitutionAlias.normalized.in_(list(wanted)),
            InstitutionAlias.institution_id != (inst.id or -1),
        )
    ).all()
    if taken:
        raise Conflict(
            "A name or alias already belongs to another institution.",
            code="alias_taken",
            details={"aliases": {wanted[k]: owner for k, owner in taken}},
        )
    current = {a.normalized: a for a in inst.aliases}
    for key, alias in current.items():
        if key not in wanted:
            inst.aliases.remove(alias)
    db.session.flush()  # free removed names before re-adding them
    for key, name in wanted.items():
        if key not in current:
            inst.aliases.append(InstitutionAlias(alias=name, normalized=key))


def create_institution(principal: Principal, data: dict[str, Any]) -> Institution:
    principal.require(*MANAGERS)
    if find_by_code(data["code"]) is not None:
        raise Conflict(f"Institution code {data['code']} exists.", code="institution_exists")
    aliases = data.pop("aliases", [])
    contacts = data.pop("contacts", [])
    inst = Institution(**data)
    db.session.add(inst)
    db.session.flush()
    _set_aliases(inst, _names(inst.name, inst.short_name, aliases))
    for contact in contacts:
        inst.contacts.append(_contact(contact))
    db.session.flush()
    return inst


def update_institution(
    principal: Principal, institution_id: int, data: dict[str, Any]
) -> Institution:
    principal.require(*MANAGERS)
    inst = get_institution(principal, institution_id)
    aliases = data.pop("aliases", None)
    for key, value in data.items():
        setattr(inst, key, value)
    if aliases is not None or {"name", "short_name"} & data.keys():
        keep = aliases if aliases is not None else [a.alias for a in inst.aliases]
        _set_aliases(inst, _names(inst.name, inst.short_name, keep))
    db.session.flush()
    return inst


def add_contact(principal: Principal, institution_id: int, data: dict[str, Any]) -> Any:
    inst = get_institution(principal, institution_id)
    if principal.institution_id != inst.id:
        principal.require(*MANAGERS)
    contact = _contact(data)
    inst.contacts.append(contact)
    db.session.flush()
    return contact


def remove_contact(principal: Principal, institution_id: int, contact_id: int) -> None:
    inst = get_institution(principal, institution_id)
    if principal.institution_id != inst.id:
        principal.require(*MANAGERS)
    contact = next((c for c in inst.contacts if c.id == contact_id), None)
    if contact is None:
        raise NotFound(f"No contact {contact_id} at this institution.")
    inst.contacts.remove(contact)
    db.session.flush()


def may_see_contact_details(principal: Principal, inst: Institution) -> bool:
    return principal.role in {"admin", *MANAGERS} or principal.institution_id == inst.id


def _contact(data: dict[str, Any]) -> InstitutionContact:
    """A contact as stored: the phone encrypted (personal data at rest)."""
    values = dict(data)
    phone = (values.pop("phone", None) or "").strip()
    return InstitutionContact(**values, phone_enc=crypto.encrypt(phone or None))


def describe_contact(principal: Principal, inst: Institution, contact: InstitutionContact) -> dict:
    """A contact as ``principal`` may see it: in clear for the institution's managers and its
    own contacts, phone masked and e-mail hidden for everyone else."""
    full = may_see_contact_details(principal, inst)
    phone = crypto.decrypt(contact.phone_enc)
    return {
        "id": contact.id,
        "name": contact.name,
        "title": contact.title,
        "phone": phone if full else mask_phone(phone),
        "email": contact.email if full else None,
    }


def present(principal: Principal, institutions: list[Institution]) -> list[Institution]:
    """``institutions`` ready for their schema: ``contacts_shown`` as ``principal`` may see
    them (:func:`describe_contact`)."""
    for inst in institutions:
        inst.contacts_shown = [  # type: ignore[attr-defined]
            describe_contact(principal, inst, c) for c in inst.contacts
        ]
    return institutions


def reencrypt_all() -> int:
    """Re-encrypt every contact's phone with the newest data key (``gridserve keys rotate``)."""
    return crypto.reencrypt_column(InstitutionContact.__table__, "phone_enc")


def mobile(enc: bytes | None) -> str | None:
    """A stored (encrypted) mobile number as E.164, or None (none stored, not a mobile, or
    unreadable)."""
    from gridserve.sms import phones

    try:
        return phones.to_e164(crypto.decrypt(enc) or "") if enc else None
    except (ValueError, crypto.DecryptionError):
        return None


def contact_mobiles(inst: Institution) -> tuple[list[str], list[str]]:
    """The E.164 mobiles of ``inst``'s contacts, in contact order, and the names of the
    contacts that cannot be texted."""
    mobiles: list[str] = []
    undeliverable: list[str] = []
    for contact in sorted(inst.contacts, key=lambda c: c.id):
        phone = mobile(contact.phone_enc)
        if phone is None:
            undeliverable.append(contact.name)
        else:
            mobiles.append(phone)
    return mobiles, undeliverable
