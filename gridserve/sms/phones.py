"""Recipient numbers and opt-out replies, without a database.

Numbers are validated and normalised to E.164 with ``phonenumbers`` (default region CN, so a
bare ``13812345678`` is ``+8613812345678``); only numbers that can receive a text (mobile, or
"fixed line or mobile" where a numbering plan cannot tell) are accepted.

A reply is an opt-out when, once trimmed of spaces and punctuation and upper-cased, it is one
of the keywords carriers require us to honour: ``T``, ``TD``, ``N``, ``0000``, ``STOP``,
``UNSUBSCRIBE``, ``退订``, ``取消``, or one of them followed by the sender's name (``TD工行``).
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from typing import Any

import phonenumbers
from phonenumbers import PhoneNumberType

DEFAULT_REGION = "CN"
PHONE_COLUMNS = ("phone", "mobile", "number", "手机", "手机号", "电话")
NAME_COLUMNS = ("name", "姓名", "名称")
MAX_ROWS = 200_000
OPT_OUT_WORDS = ("UNSUBSCRIBE", "STOP", "0000", "退订", "取消", "TD", "T", "N")
_SENDABLE = {PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE}
_STRIP = re.compile(r"[\s\W_]+", re.UNICODE)


def to_e164(value: str, region: str = DEFAULT_REGION) -> str:
    """The number in E.164 (``+8613812345678``); ``ValueError`` says why it is refused."""
    raw = (value or "").strip()
    if not raw:
        raise ValueError("No number.")
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException as exc:
        raise ValueError("Not a phone number.") from exc
    if not phonenumbers.is_valid_number(number):
        raise ValueError("Not a valid phone number.")
    if phonenumbers.number_type(number) not in _SENDABLE:
        raise ValueError("Not a mobile number: it cannot receive text messages.")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


@dataclass
class RecipientList:
    """What a CSV held: accepted numbers (first occurrence wins) and the rows refused."""

    recipients: list[tuple[str, str | None]] = field(default_factory=list)
    rejected: list[dict[str, Any]] = field(default_factory=list)
    duplicates: int = 0
    received: int = 0


class RecipientFileError(ValueError):
    """The file as a whole cannot be read (no phone column, bad CSV, too many rows)."""

    def __init__(self, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}


def _column(names: list[str], wanted: tuple[str, ...]) -> str | None:
    lowered = {n.strip().lower(): n for n in names if n}
    return next((lowered[w] for w in wanted if w in lowered), None)


def parse_csv(text: str, region: str = DEFAULT_REGION) -> RecipientList:
    """Read a customer list: a ``phone`` column (or 手机号, mobile, …), optionally ``name``.

    Every row is accounted for: accepted, counted as a duplicate of an earlier row, or
    rejected with its row number (1-based, header excluded) and reason.
    """
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    names = list(reader.fieldnames or [])
    phone_col = _column(names, PHONE_COLUMNS)
    if phone_col is None:
        raise RecipientFileError(
            "The CSV needs a phone column (phone, mobile or 手机号).", {"columns": names}
        )
    name_col = _column(names, NAME_COLUMNS)
    out = RecipientList()
    seen: dict[str, int] = {}
    try:
        for number, record in enumerate(reader, start=1):
            if number > MAX_ROWS:
                raise RecipientFileError(
                    f"The CSV has more than {MAX_ROWS} rows; split it.", {"max_rows": MAX_ROWS}
                )
            out.received += 1
            raw = (record.get(phone_col) or "").strip()
            try:
                phone = to_e164(raw, region)
            except ValueError as exc:
                out.rejected.append({"row": number, "value": raw[:40], "error": str(exc)})
                continue
            if phone in seen:
                out.duplicates += 1
                continue
            seen[phone] = number
            name = (record.get(name_col) or "").strip()[:100] if name_col else ""
            out.recipients.append((phone, name or None))
    except csv.Error as exc:
        raise RecipientFileError(
            f"The CSV cannot be read past row {out.received}: {exc}.",
            {"row": out.received + 1},
        ) from exc
    return out


def is_opt_out(reply: str, sender_names: tuple[str, ...] = ()) -> bool:
    """Whether a reply asks to stop texts (``T``, ``TD``, ``退订``, ``STOP``, …)."""
    word = _STRIP.sub("", reply or "").upper()
    if not word:
        return False
    if word in OPT_OUT_WORDS:
        return True
    for keyword in OPT_OUT_WORDS:
        rest = word.removeprefix(keyword)
        if rest != word and rest and any(rest == _STRIP.sub("", n).upper() for n in sender_names):
            return True
    return False
