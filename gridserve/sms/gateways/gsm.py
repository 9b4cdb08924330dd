"""The GSM 03.38 default alphabet and its extension table: encoding and decoding septets."""

from __future__ import annotations

# --- GSM 03.38 ---------------------------------------------------------------------------------

GSM_DEFAULT_ALPHABET = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
"""The GSM 03.38 default alphabet, indexed by septet value (0x1B is the escape)."""
GSM_EXTENSION_TABLE = {
    "\f": 0x0A,
    "^": 0x14,
    "{": 0x28,
    "}": 0x29,
    "\\": 0x2F,
    "[": 0x3C,
    "~": 0x3D,
    "]": 0x3E,
    "|": 0x40,
    "€": 0x65,
}
"""Characters of the extension table: sent as 0x1B then this value."""
assert len(GSM_DEFAULT_ALPHABET) == 128
_GSM_INDEX = {ch: i for i, ch in enumerate(GSM_DEFAULT_ALPHABET) if ch != "\x1b"}
_GSM_EXT_REVERSE = {v: k for k, v in GSM_EXTENSION_TABLE.items()}


def gsm_encode(text: str) -> bytes:
    """Unpacked GSM 03.38 (one septet per octet, as SMPP data_coding 0 carries it).

    ValueError for a character outside the default alphabet and its extension table.
    """
    out = bytearray()
    for ch in text:
        index = _GSM_INDEX.get(ch)
        if index is not None:
            out.append(index)
        elif ch in GSM_EXTENSION_TABLE:
            out += bytes((0x1B, GSM_EXTENSION_TABLE[ch]))
        else:
            raise ValueError(f"{ch!r} is not in the GSM 03.38 alphabet")
    return bytes(out)


def gsm_decode(data: bytes) -> str:
    """The inverse of :func:`gsm_encode`; an unknown escape gives a space, as handsets do."""
    out: list[str] = []
    escape = False
    for byte in data:
        septet = byte & 0x7F
        if escape:
            out.append(_GSM_EXT_REVERSE.get(septet, " "))
            escape = False
        elif septet == 0x1B:
            escape = True
        else:
            out.append(GSM_DEFAULT_ALPHABET[septet])
    return "".join(out)
