"""SMS text rules: encoding, length and segments the way carriers count, signature, opt-out.

- Encoding: GSM-7 if every character is in the GSM 03.38 default alphabet or its extension
  table, otherwise UCS-2 (any Chinese character makes the whole text UCS-2).
- Units: GSM-7 counts septets, and the extension characters ``^ { } \\ [ ~ ] | €`` and form
  feed cost two (an escape plus the character); UCS-2 counts UTF-16 code units, so a
  character outside the BMP (most emoji) costs two.
- Segments: a text that fits one message (160 septets / 70 units) is one segment; a longer
  one is sent as concatenated parts of at most 153 septets / 67 units (the rest of each part
  is the concatenation header). Parts never split an escape sequence or a surrogate pair, so
  the count comes from the real split, not from a division. Empty text: 0 segments.
- Chinese carriers require a signature 【签名】 at the start of the text, and marketing texts
  end with the unsubscribe instruction, by default 回T退订.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any, Literal

Encoding = Literal["GSM-7", "UCS-2"]

# GSM 03.38 default alphabet (the escape 0x1B itself is not a character a text may contain).
GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# Extension table: each costs two septets (escape + character).
GSM_EXTENSION = frozenset("\f^{}\\[~]|€")

LIMITS: dict[str, tuple[int, int]] = {"GSM-7": (160, 153), "UCS-2": (70, 67)}
"""Per encoding: (units in a single message, units per part of a concatenated message)."""

SIGNATURE_MAX = 12
DEFAULT_UNSUBSCRIBE = "回T退订"

_SIGNATURE_AT_START = re.compile(r"^【[^【】]+】")


def encoding(text: str) -> Encoding:
    """``"GSM-7"`` if every character is in the GSM default alphabet or its extension table."""
    if all(ch in GSM_BASIC or ch in GSM_EXTENSION for ch in text):
        return "GSM-7"
    return "UCS-2"


def _cost(ch: str, enc: Encoding) -> int:
    if enc == "GSM-7":
        return 2 if ch in GSM_EXTENSION else 1
    return 2 if ord(ch) > 0xFFFF else 1


def units(text: str) -> int:
    """Septets (GSM-7) or UTF-16 code units (UCS-2) the text takes."""
    enc = encoding(text)
    return sum(_cost(ch, enc) for ch in text)


def split(text: str) -> list[str]:
    """The parts a carrier would send: ``[text]`` if it fits one message, else parts of at most
    153 septets / 67 UTF-16 units, never splitting an escape sequence or a surrogate pair.
    """
    if not text:
        return []
    enc = encoding(text)
    single, per_part = LIMITS[enc]
    if sum(_cost(ch, enc) for ch in text) <= single:
        return [text]
    parts: list[str] = []
    current: list[str] = []
    used = 0
    for ch in text:
        cost = _cost(ch, enc)
        if used + cost > per_part:
            parts.append("".join(current))
            current, used = [], 0
        current.append(ch)
        used += cost
    if current:
        parts.append("".join(current))
    return parts


def measure(text: str) -> dict[str, Any]:
    """What the carrier will count, to show before approval.

    ``encoding``; ``characters`` (Unicode code points); ``units`` (septets or UTF-16 code
    units); ``segments`` (messages billed, from :func:`split`); ``per_segment`` (the limit that
    applies: 160/70 for a single message, 153/67 per part of a longer one).
    """
    enc = encoding(text)
    single, per_part = LIMITS[enc]
    segments = len(split(text))
    return {
        "encoding": enc,
        "characters": len(text),
        "units": sum(_cost(ch, enc) for ch in text),
        "segments": segments,
        "per_segment": per_part if segments > 1 else single,
    }


def with_signature(text: str, signature: str) -> str:
    """Prefix ``【signature】`` unless the text already starts with a 【…】 signature.

    The signature (surrounding blanks ignored) must be 1–12 characters without 【 or 】;
    otherwise ValueError.
    """
    name = signature.strip()
    if not name:
        raise ValueError("the signature is empty")
    if "【" in name or "】" in name:
        raise ValueError("the signature must not contain 【 or 】")
    if len(name) > SIGNATURE_MAX:
        raise ValueError(f"the signature is longer than {SIGNATURE_MAX} characters")
    if _SIGNATURE_AT_START.match(text):
        return text
    return f"【{name}】{text}"


def _is_wide(ch: str) -> bool:
    return unicodedata.east_asian_width(ch) in ("W", "F")


def with_unsubscribe(text: str, suffix: str = DEFAULT_UNSUBSCRIBE) -> str:
    """Append the unsubscribe instruction once (not if the text already ends with it).

    Nothing separates it from text ending in a Chinese (full-width) character or punctuation,
    e.g. ``…共赢发展。回T退订``; after other text one space is put in between, unless the
    text already ends in whitespace. ValueError for an empty suffix.
    """
    suffix = suffix.strip()
    if not suffix:
        raise ValueError("the unsubscribe suffix is empty")
    if text.rstrip().endswith(suffix):
        return text
    if not text or text[-1].isspace() or _is_wide(text[-1]):
        return f"{text}{suffix}"
    return f"{text} {suffix}"


__all__ = [
    "DEFAULT_UNSUBSCRIBE",
    "GSM_BASIC",
    "GSM_EXTENSION",
    "LIMITS",
    "Encoding",
    "encoding",
    "measure",
    "split",
    "units",
    "with_signature",
    "with_unsubscribe",
]
