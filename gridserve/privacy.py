"""Personal data shown to people who need less than all of it."""

from __future__ import annotations


def mask_phone(phone: str | None) -> str | None:
    """'13812345678' → '138****5678'; short numbers keep only their last two digits."""
    if not phone:
        return phone
    digits = phone.strip()
    if len(digits) >= 11:
        return f"{digits[:-8]}****{digits[-4:]}"
    if len(digits) > 4:
        return "*" * (len(digits) - 2) + digits[-2:]
    return "*" * len(digits)
